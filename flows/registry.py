"""Flow name -> (flow function, parameter model), for `s1 run` and the Prefect deployments."""

from flows.bootcamp import BootcampFlowParams, bootcamp_flow
from flows.curate import CurateFlowParams, curate_flow
from flows.eval import EvalFlowParams, eval_flow
from flows.pdf import PdfFlowParams, pdf_flow
from flows.pipeline import PipelineParams, pipeline_flow
from flows.pretrain import ExportFlowParams, PretrainFlowParams, export_flow, pretrain_flow
from flows.rl import (OfflineRLFlowParams, OnlineRLFlowParams, RLFlowParams, offline_rl_flow, online_rl_flow,
                      rl_flow)
from flows.tail_experiment import TailExperimentParams, tail_experiment_flow
from flows.tokens import TokenizeFlowParams, tokenize_flow
from flows.web import WebFlowParams, web_flow

FLOWS = {
    "pdf": (pdf_flow, PdfFlowParams),
    "web": (web_flow, WebFlowParams),
    "curate": (curate_flow, CurateFlowParams),
    "bootcamp": (bootcamp_flow, BootcampFlowParams),
    "tokenize": (tokenize_flow, TokenizeFlowParams),
    "pretrain": (pretrain_flow, PretrainFlowParams),
    "export-hf": (export_flow, ExportFlowParams),
    "rl": (rl_flow, RLFlowParams),
    "offline-rl": (offline_rl_flow, OfflineRLFlowParams),
    "online-rl": (online_rl_flow, OnlineRLFlowParams),
    "eval": (eval_flow, EvalFlowParams),
    "tail-experiment": (tail_experiment_flow, TailExperimentParams),
    "pipeline": (pipeline_flow, PipelineParams),
}
