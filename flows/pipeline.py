"""The end-to-end pipeline flow (the DAG of ARCHITECTURE.md); `s1 demo` runs it on small real inputs.

    PDFs -> pdf_pages -> documents
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import Field

from flows.context import RunParams, open_run
from flows.pdf import pdf_stage
from s1data.pdf import PdfConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


class PipelineParams(RunParams):
    pdf_input: list[str] = Field(default_factory=list, description="PDF files, folders or globs.")
    pdf: PdfConfig = Field(default_factory=PdfConfig, description="PDF parser, router and resource settings.")
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler; "
                                                       "default: a local cluster.")
    n_workers: int | None = Field(None, ge=1, description="Workers of the local Dask cluster.")


def demo_inputs(home: str) -> dict[str, list[str]]:
    """../shared/data when present, else sample PDFs generated into the storage root."""
    if (SHARED_DATA / "pdf").is_dir():
        return {"pdf": [str(SHARED_DATA / "pdf")]}
    from s1data.samples import write_sample_pdfs

    out = Path(home) / "samples" / "pdf"
    write_sample_pdfs(out)
    return {"pdf": [str(out)]}


def demo_params(home: str) -> dict:
    inputs = demo_inputs(home)
    return {"home": home, "pdf_input": inputs["pdf"], "n_workers": 2}


@flow(name="pipeline", log_prints=True)
def pipeline_flow(params: PipelineParams) -> dict:
    """PDFs and WARCs to an RL-tuned MoE checkpoint; each stage is cached by fingerprint."""
    with open_run("pipeline", params) as ctx:
        out: dict = {"run_id": ctx.run_id}
        if params.pdf_input:
            out["pdf"] = pdf_stage(ctx, params.pdf_input, params.pdf, params.dask_address, params.n_workers)
        return out
