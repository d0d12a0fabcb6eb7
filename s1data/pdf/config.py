"""PdfConfig: every knob of the PDF mining stage (doubles as the Prefect UI form)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

# Bump when the output of parsing a given file with given parameters changes: it invalidates cached partitions.
PDF_CODE_VERSION = "pdf-7"  # pdf-2: lines of a text block joined into one paragraph; pdf-3: display-math routing,
# TeX glyph mapping, display rows kept as lines, VLM route with retries; pdf-4: truncated files marked or quarantined
# (pdf_truncated), partition folders hold content only (timings beside them); pdf-5: short and flush-left displays
# routed (score chars/16 + 0.25 per display row), more maths fonts and extension glyphs; pdf-6: code cells, command
# tables and a result set under its code line are not displays; pdf-7: inline root signs sit on their text line,
# a candidate beside prose on its strip is inline, icon-font rows are code (display rows and routes change)


class PdfConfig(BaseModel):
    route_threshold: float = Field(
        0.5, ge=0.0, description="Pages whose formula/symbol score is at or above this go to the high-cost route. "
                                 "A page scores 0.5 from 8 characters of display maths (see detect.py).")
    high_cost_route: Literal["local", "vlm", "none"] = Field(
        "local", description="local = PyMuPDF4LLM layout mode with Tesseract OCR where a page has no text layer; "
                             "vlm = an OpenAI-compatible vision endpoint (vlm_url); none = cheap route for all pages.")
    vlm_url: str | None = Field(None, description="Base URL of an OpenAI-compatible API (…/v1) for the vlm route.")
    vlm_model: str = Field("vlm", description="Model name sent to the vision endpoint.")
    vlm_api_key: SecretStr | None = Field(None, description="Bearer token for the vision endpoint (a secret: masked "
                                          "in the UI and in stored run parameters; prefer vlm_api_key_env).")
    vlm_api_key_env: str | None = Field("S1_VLM_API_KEY", description="Name of the environment variable holding "
                                        "the vision endpoint's bearer token, read at call time.")
    vlm_timeout_s: float = Field(60.0, gt=0, description="Timeout of one vision request.")
    vlm_max_retries: int = Field(
        3, ge=0, description="Retries of a vision request that timed out, could not connect or got 429/5xx.")
    vlm_backoff_s: float = Field(1.0, ge=0, description="First retry waits this long, then doubles (or Retry-After).")
    vlm_concurrency: int = Field(4, ge=1, description="Vision requests in flight at once, per parser process.")
    vlm_max_tokens: int = Field(4096, ge=16, description="max_tokens of one vision request.")
    render_dpi: int = Field(110, ge=50, le=400, description="DPI of page images sent to OCR / the vision endpoint.")
    ocr_language: str = Field("eng", description="Tesseract language code(s) for OCR, e.g. 'eng+deu'.")
    extract_figures: bool = Field(True, description="Write embedded images with their captions as figure files.")
    min_figure_px: int = Field(96, ge=1, description="Images smaller than this (width or height, pixels) are skipped.")
    dedup_min_chars: int = Field(
        40, ge=1, description="Pages with fewer normalised characters are never treated as duplicates of each other.")
    per_file_timeout_s: float = Field(
        300.0, gt=0, description="A file still parsing after this long is killed and quarantined (pdf_timeout).")
    max_memory_mb: int = Field(
        2048, ge=32, description="Resident-memory limit of the parser process; a file over it is quarantined.")
    files_per_task: int = Field(
        8, ge=1, description="Files one parser process handles before it exits (PyMuPDF leaks; recycle often).")
    max_pages: int = Field(20000, ge=1, description="Files with more pages are quarantined (pdf_too_many_pages).")

    def cache_params(self) -> dict:
        """The parameters that change a partition's output (resource limits and batching do not)."""
        return self.model_dump(exclude={"per_file_timeout_s", "max_memory_mb", "files_per_task", "vlm_api_key", "vlm_api_key_env",
                                        "vlm_timeout_s", "vlm_max_retries", "vlm_backoff_s", "vlm_concurrency"})
