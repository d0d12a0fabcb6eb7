"""Flow name -> (flow function, parameter model), for `s1 run` and the Prefect deployments."""

from flows.pdf import PdfFlowParams, pdf_flow
from flows.pipeline import PipelineParams, pipeline_flow

FLOWS = {
    "pdf": (pdf_flow, PdfFlowParams),
    "pipeline": (pipeline_flow, PipelineParams),
}
