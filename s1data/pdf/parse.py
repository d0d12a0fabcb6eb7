"""Parse one PDF into page rows, figure files and quarantine rows (runs inside a recycled parser process).

One file -> one partition folder:
    pages.parquet     one row per page (contract columns + route, score and detector features)
    figures.parquet   one row per extracted figure (file name, caption, bbox), figures/ the image files
    result.json       written last: the partition's summary, quarantine rows, peak memory
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import time
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from s1data.pdf.config import PdfConfig
from s1data.pdf.detect import PdfPageRouter

log = logging.getLogger(__name__)

PAGE_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("source_uri", pa.string()), ("source_sha256", pa.string()),
    ("source_kind", pa.string()), ("page_no", pa.int32()), ("text", pa.string()), ("parser_route", pa.string()),
    ("route_score", pa.float32()), ("math_font_frac", pa.float32()), ("math_symbol_frac", pa.float32()),
    ("bad_glyph_frac", pa.float32()), ("text_density", pa.float32()), ("scanned", pa.bool_()),
    ("n_chars", pa.int32()), ("n_figures", pa.int16()), ("dedup_key", pa.string()), ("route_error", pa.string()),
])
FIGURE_SCHEMA = pa.schema([
    ("figure_id", pa.string()), ("page_doc_id", pa.string()), ("source_sha256", pa.string()), ("page_no", pa.int32()),
    ("file", pa.string()), ("width", pa.int32()), ("height", pa.int32()), ("caption", pa.string()),
    ("bbox", pa.list_(pa.float32())),
])
_CAPTION = re.compile(r"^\s*(fig\.?|figure|abb\.?|abbildung|scheme|plate)\s*[0-9IVX]+", re.IGNORECASE)
_WS = re.compile(r"\s+")


def page_doc_id(source_sha256: str, page_no: int) -> str:
    return hashlib.sha256(f"{source_sha256}:{page_no}".encode()).hexdigest()[:24]


def dedup_key(text: str, min_chars: int) -> str | None:
    """Hash of the NFKC-lowercased, whitespace-collapsed text; None for pages too short to dedup."""
    norm = _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    if len(norm) < min_chars:
        return None
    return hashlib.sha256(norm.encode()).hexdigest()[:32]


class QuarantineError(Exception):
    """A file that cannot be used; `reason` is the stable snake_case code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def open_pdf(path: str | Path, max_pages: int):
    """Open a PDF or raise QuarantineError with the reason it cannot be used."""
    import pymupdf

    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise QuarantineError("pdf_empty", "file has 0 bytes")
    with open(path, "rb") as f:
        head = f.read(1024)
    if b"%PDF" not in head:
        raise QuarantineError("pdf_not_a_pdf", f"no %PDF header in the first 1 KiB (starts {head[:16]!r})")
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as e:  # pymupdf raises FileDataError and friends
        raise QuarantineError("pdf_corrupt", f"{type(e).__name__}: {e}") from None
    if doc.needs_pass or doc.is_encrypted:
        doc.close()
        raise QuarantineError("pdf_encrypted", "document needs a password")
    if doc.page_count == 0:
        repaired = bool(getattr(doc, "is_repaired", False))
        doc.close()
        with open(path, "rb") as f:
            f.seek(max(0, size - 2048))
            has_eof = b"%%EOF" in f.read()
        if repaired or not has_eof:
            raise QuarantineError("pdf_truncated", f"no pages recoverable; %%EOF marker {'present' if has_eof else 'missing'}"
                                                   f", xref {'repaired' if repaired else 'intact'}")
        raise QuarantineError("pdf_zero_pages", "document has an empty page tree")
    if doc.page_count > max_pages:
        n = doc.page_count
        doc.close()
        raise QuarantineError("pdf_too_many_pages", f"{n} pages > max_pages={max_pages}")
    return doc


def _cheap_text(page) -> tuple[str, list[tuple[str, str]], list[dict]]:
    """Text in reading order of blocks, (font, text) spans for the detector, and text blocks for captions."""
    import pymupdf

    d = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT)
    spans: list[tuple[str, str]] = []
    blocks_out: list[str] = []
    blocks: list[dict] = []
    for b in d["blocks"]:
        lines = []
        for line in b.get("lines", ()):
            parts = []
            for s in line["spans"]:
                spans.append((s["font"], s["text"]))
                parts.append(s["text"])
            lines.append("".join(parts))
        text = _join_lines(lines)
        if text.strip():
            blocks_out.append(text)
            blocks.append({"bbox": b["bbox"], "text": text})
    return "\n\n".join(blocks_out), spans, blocks


def _join_lines(lines: list[str]) -> str:
    """A text block is a paragraph: undo the layout's line wrapping (and hyphenation of a wrapped word)."""
    out = ""
    for line in (x.strip() for x in lines):
        if not line:
            continue
        if out.endswith("-") and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def _image_infos(page, min_px: int, want_figures: bool) -> tuple[list[dict], float]:
    """Images large enough to be figures, and the share of the page that images cover.

    `get_image_info(xrefs=True)` decodes and hashes every image, so it is only asked for when a figure is wanted.
    """
    area = abs(page.rect) or 1.0
    covered, big = 0.0, False
    for info in page.get_image_info():
        bbox = info["bbox"]
        covered += max(0.0, (bbox[2] - bbox[0]) * (bbox[3] - bbox[1]))
        big = big or (info["width"] >= min_px and info["height"] >= min_px)
    infos = []
    if want_figures and big:
        infos = [i for i in page.get_image_info(xrefs=True)
                 if i.get("xref") and i["width"] >= min_px and i["height"] >= min_px]
    return infos, min(1.0, covered / area)


def _caption_for(bbox, blocks: list[dict]) -> str | None:
    """The nearest 'Figure N' text block below (preferred) or above the image."""
    best, best_d = None, 1e9
    for b in blocks:
        if not _CAPTION.match(b["text"]):
            continue
        bx = b["bbox"]
        if bx[1] >= bbox[3] - 2:
            d = bx[1] - bbox[3]
        elif bx[3] <= bbox[1] + 2:
            d = (bbox[1] - bx[3]) * 1.5
        else:
            continue
        if d < best_d:
            best, best_d = b["text"], d
    return _WS.sub(" ", best).strip() if best is not None and best_d < 120 else None


def _high_cost_local(doc, page_index: int, config: PdfConfig) -> str:
    """PyMuPDF4LLM layout mode; OCR (Tesseract) on pages without a usable text layer."""
    import pymupdf4llm

    return pymupdf4llm.to_markdown(doc, pages=[page_index], show_progress=False, ocr_language=config.ocr_language,
                                   ocr_dpi=config.render_dpi)


def _high_cost_vlm(page, config: PdfConfig) -> str:
    """An OpenAI-compatible chat completion with the rendered page as an image."""
    import httpx

    if not config.vlm_url:
        raise RuntimeError("high_cost_route='vlm' needs vlm_url")
    png = page.get_pixmap(dpi=config.render_dpi).tobytes("png")
    body = {
        "model": config.vlm_model,
        "temperature": 0,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Transcribe this scientific page to Markdown. Write formulas in LaTeX."},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
        ]}],
    }
    key = config.vlm_api_key or os.environ.get("S1_VLM_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    r = httpx.post(config.vlm_url.rstrip("/") + "/chat/completions", json=body, headers=headers,
                   timeout=config.vlm_timeout_s)
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"]


def parse_pdf(path: str | Path, source_sha256: str, out_dir: str | Path, config: PdfConfig,
              source_uri: str | None = None) -> dict:
    """Parse one PDF into `out_dir` (pages.parquet, figures.parquet, figures/) and return its summary.

    Never raises for bad input: a file that cannot be used returns status 'quarantined' with its reason; a page that
    raises becomes a quarantine row (`pdf_page_error`) and the other pages go on.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source_uri = source_uri or str(Path(path).resolve())
    summary = {"source_uri": source_uri, "source_sha256": source_sha256, "status": "ok", "n_pages": 0,
               "routes": {}, "quarantine": [], "n_figures": 0}
    try:
        doc = open_pdf(path, config.max_pages)
    except QuarantineError as q:
        summary.update(status="quarantined", quarantine=[{"source_uri": source_uri, "reason": q.reason,
                                                          "detail": q.detail}])
        _write_tables(out, [], [])
        summary["seconds"] = time.perf_counter() - t0
        return summary

    router = PdfPageRouter(config.route_threshold, config.high_cost_route)
    rows, figures = [], []
    fig_dir = out / "figures"
    for i in range(doc.page_count):
        page_no = i + 1
        doc_id = page_doc_id(source_sha256, page_no)
        try:
            page = doc.load_page(i)
            text, spans, blocks = _cheap_text(page)
            infos, cover = _image_infos(page, config.min_figure_px, config.extract_figures)
            f = router.features(spans, abs(page.rect), cover)
            route, error = router.route(f), None
            if route != "cheap":
                try:
                    text = _high_cost_local(doc, i, config) if route == "local" else _high_cost_vlm(page, config)
                except Exception as e:  # the page keeps its cheap text; the failure is recorded
                    error = f"{type(e).__name__}: {e}"[:500]
                    summary["quarantine"].append({"source_uri": f"{source_uri}#page={page_no}",
                                                  "reason": f"pdf_{route}_route_error", "detail": error})
                    route = "cheap_fallback"
            n_fig = 0
            if config.extract_figures:
                for info in infos:
                    b = info["bbox"]
                    if f.scanned and (b[2] - b[0]) * (b[3] - b[1]) > 0.5 * abs(page.rect):
                        continue  # the scan itself, not a figure
                    img = doc.extract_image(info["xref"])
                    if not img or not img.get("image"):
                        continue
                    fig_dir.mkdir(exist_ok=True)
                    name = f"p{page_no:05d}_{n_fig:02d}.{img.get('ext', 'png')}"
                    (fig_dir / name).write_bytes(img["image"])
                    figures.append({"figure_id": f"{doc_id}-{n_fig}", "page_doc_id": doc_id,
                                    "source_sha256": source_sha256, "page_no": page_no, "file": f"figures/{name}",
                                    "width": img.get("width", 0), "height": img.get("height", 0),
                                    "caption": _caption_for(info["bbox"], blocks),
                                    "bbox": [float(x) for x in info["bbox"]]})
                    n_fig += 1
            rows.append({"doc_id": doc_id, "source_uri": source_uri, "source_sha256": source_sha256,
                         "source_kind": "pdf", "page_no": page_no, "text": text, "parser_route": route,
                         "route_score": f.score, "math_font_frac": f.math_font_frac,
                         "math_symbol_frac": f.math_symbol_frac, "bad_glyph_frac": f.bad_glyph_frac,
                         "text_density": f.text_density, "scanned": f.scanned, "n_chars": len(text),
                         "n_figures": n_fig, "dedup_key": dedup_key(text, config.dedup_min_chars),
                         "route_error": error})
            summary["routes"][route] = summary["routes"].get(route, 0) + 1
        except Exception as e:
            summary["quarantine"].append({"source_uri": f"{source_uri}#page={page_no}", "reason": "pdf_page_error",
                                          "detail": f"{type(e).__name__}: {e}"[:500]})
    doc.close()
    _write_tables(out, rows, figures)
    summary.update(n_pages=len(rows), n_figures=len(figures), seconds=time.perf_counter() - t0)
    return summary


def _write_tables(out: Path, rows: list[dict], figures: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=PAGE_SCHEMA), out / "pages.parquet")
    pq.write_table(pa.Table.from_pylist(figures, schema=FIGURE_SCHEMA), out / "figures.parquet")


def write_result(out: Path, summary: dict) -> None:
    """result.json last, via rename: its presence means the partition folder is complete."""
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(summary, sort_keys=True))
    os.replace(tmp, out / "result.json")
