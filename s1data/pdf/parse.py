"""Parse one PDF into page rows, figure files and quarantine rows (runs inside a recycled parser process).

One file -> one partition folder:
    pages.parquet     one row per page (contract columns + route, score and detector features)
    figures.parquet   one row per extracted figure (file name, caption, bbox), figures/ the image files
    result.json       written last: the partition's summary, quarantine rows, peak memory
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import time
import unicodedata
import zlib
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from s1data.pdf.config import PdfConfig
from s1data.pdf.detect import PdfPageRouter
from s1data.pdf.glyphs import fix_text, is_extension_font
from s1data.pdf.layout import _NEEDS_FIX, PageCounts, display_groups, display_rows

log = logging.getLogger(__name__)

PAGE_SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("source_uri", pa.string()), ("source_sha256", pa.string()),
    ("source_kind", pa.string()), ("page_no", pa.int32()), ("text", pa.string()), ("parser_route", pa.string()),
    ("route_reason", pa.string()), ("route_score", pa.float32()), ("math_font_frac", pa.float32()), ("math_symbol_frac", pa.float32()),
    ("bad_glyph_frac", pa.float32()), ("text_density", pa.float32()), ("scanned", pa.bool_()),
    ("display_rows", pa.int16()), ("display_chars", pa.int32()), ("numbered_displays", pa.int16()),
    ("n_chars", pa.int32()), ("n_figures", pa.int16()), ("dedup_key", pa.string()), ("route_error", pa.string()),
    ("route_attempts", pa.int16()),
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
        raise QuarantineError("pdf_not_a_pdf", "no %PDF header in the first 1 KiB")  # never quote the bytes
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


class CheapPage(NamedTuple):
    text: str
    counts: "PageCounts"  # character counts for the detector's density score
    blocks: list[dict]  # text blocks ({bbox, text}) for figure captions
    display_rows: int
    display_chars: int
    numbered_displays: int


def _cheap_text(page, textpage=None) -> CheapPage:
    """Text in reading order of blocks, with TeX glyphs mapped to Unicode and display maths kept as lines.

    Prose blocks become one paragraph each (line wrapping and hyphenation undone). A display formula becomes one
    line per row (layout.display_rows: the pieces of a row, sub/superscripts and big operators included, left to
    right), and consecutive rows of one display are separated by a newline, not a paragraph break, so an aligned
    system or a matrix keeps its rows.
    """
    import pymupdf

    d = page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT, textpage=textpage)
    counts = PageCounts()
    rows, _ = display_rows(d, page.rect.width, counts)
    groups = display_groups(rows)
    row_of: dict[tuple[int, int], int] = {}  # line -> the display group it belongs to
    for k, g in enumerate(groups):
        for r in g:
            for x in r.lines:
                row_of[(x.block, x.index)] = k
    line_text: dict[tuple[int, int], str] = {}
    if counts.needs_fix:  # map TeX glyphs (math extension, Adobe private use, Type 3 bitmap fonts), drop the rest
        type3 = {f[3].split("+")[-1] for f in page.get_fonts() if f[2] == "Type3"}
        for bi, b in enumerate(d["blocks"]):
            for li, line in enumerate(b.get("lines", ())):
                line_text[(bi, li)] = "".join(
                    fix_text(s["font"], s["text"], s["font"] in type3) if _NEEDS_FIX.search(s["text"])
                    or is_extension_font(s["font"]) else s["text"] for s in line["spans"])
    else:
        for bi, b in enumerate(d["blocks"]):
            for li, line in enumerate(b.get("lines", ())):
                line_text[(bi, li)] = "".join([s["text"] for s in line["spans"]])
    out: list[tuple[str, bool]] = []  # (text, is a display row)
    blocks: list[dict] = []
    done: set[int] = set()
    for bi, b in enumerate(d["blocks"]):
        prose: list[str] = []
        for li in range(len(b.get("lines", ()))):
            k = row_of.get((bi, li))
            if k is None:
                prose.append(line_text[(bi, li)])
                continue
            if k in done:
                continue
            done.add(k)
            if prose:
                _flush(prose, b, out, blocks)
                prose = []
            for r in groups[k]:  # one line per row, rows top to bottom, pieces of a row left to right
                pieces = sorted(r.lines, key=lambda x: x.x0)
                t = " ".join(t for t in (line_text[(x.block, x.index)].strip() for x in pieces) if t)
                out.append((t, True))
            out.append(("", False))  # the end of this display
        if prose:
            _flush(prose, b, out, blocks)
    text = ""
    prev_display = False
    for t, is_display in out:
        if not t.strip():
            prev_display = False
            continue
        sep = "\n" if (is_display and prev_display) else "\n\n"
        text = f"{text}{sep}{t}" if text else t
        prev_display = is_display
    disp = [r for r in rows if r.display]
    return CheapPage(text, counts, blocks, len(disp), sum(r.n for r in disp), sum(r.numbered for r in disp))


def _flush(prose: list[str], block: dict, out: list, blocks: list[dict]) -> None:
    text = _join_lines(prose)
    out.append((text, False))
    if text.strip():
        blocks.append({"bbox": block["bbox"], "text": text})


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


def _image_infos(page, min_px: int, want_figures: bool, textpage=None,
                 images: list | None = None) -> tuple[list[dict], float]:
    """Images large enough to be figures, and the share of the page that images cover.

    A page whose resources list no image costs nothing here (most pages of a typeset paper: its plots are vector
    graphics). The text page of `_cheap_text` is not reused: a "dict" from a text page that keeps images encodes
    every image (measured slower than a second, image-only text page). Which image XObject a placement shows is
    only known for sure by hashing the decoded pixels (`get_image_info(xrefs=True)`); the pixel size of the placed
    image names its XObject whenever the page has one XObject of that size, so hashing is left for the rest.
    """
    images = page.get_images(full=True) if images is None else images
    if not images:
        return [], 0.0
    area = abs(page.rect) or 1.0
    placed = textpage.extractIMGINFO() if textpage is not None else page.get_image_info()
    covered = sum(max(0.0, (i["bbox"][2] - i["bbox"][0]) * (i["bbox"][3] - i["bbox"][1])) for i in placed)
    big = [i for i in placed if i["width"] >= min_px and i["height"] >= min_px]
    infos: list[dict] = []
    if want_figures and big:
        by_size: dict[tuple[int, int], set[int]] = {}
        for im in images:  # (xref, smask, width, height, ...)
            by_size.setdefault((im[2], im[3]), set()).add(im[0])
        if all(len(by_size.get((i["width"], i["height"]), ())) == 1 for i in big):
            infos = [dict(i, xref=next(iter(by_size[(i["width"], i["height"])]))) for i in big]
        else:  # two image XObjects of one size: the order of the `Do`s in the content stream, or the pixel hash
            drawn = _drawn_xrefs(page, images, len(placed))
            if drawn is not None:
                infos = [dict(i, xref=x) for i, x in zip(placed, drawn)
                         if i["width"] >= min_px and i["height"] >= min_px]
            else:
                infos = [i for i in page.get_image_info(xrefs=True)
                         if i.get("xref") and i["width"] >= min_px and i["height"] >= min_px]
    return infos, min(1.0, covered / area)


def figure_file(doc, xref: int) -> tuple[bytes, str, int, int] | None:
    """An image XObject as a file: (bytes, extension, width, height); None if it cannot be decoded.

    JPEG and JPEG 2000 streams are written as they are (no decoding). A plain Flate image (gray, RGB or an RGB
    palette; 1-8 bits; no predictor, no Decode array) is written as it is too, wrapped in a TIFF header (TIFF's
    Adobe Deflate compression is the PDF's zlib stream of unfiltered rows). Anything else is decoded once and
    written as a PNG with zlib level 1 (3x faster than MuPDF's own PNG writer, `extract_image`). A soft mask (alpha)
    is dropped, as `extract_image` drops it.
    """
    import pymupdf

    filt = doc.xref_get_key(xref, "Filter")
    w, h = (int(doc.xref_get_key(xref, k)[1] or 0) if doc.xref_get_key(xref, k)[0] == "int" else 0
            for k in ("Width", "Height"))
    if filt == ("name", "/DCTDecode"):
        return doc.xref_stream_raw(xref), "jpg", w, h
    if filt == ("name", "/JPXDecode"):
        return doc.xref_stream_raw(xref), "jp2", w, h
    if filt == ("name", "/FlateDecode"):
        tif = _flate_as_tiff(doc, xref, w, h)
        if tif is not None:
            return tif, "tif", w, h
    try:
        pix = pymupdf.Pixmap(doc, xref)
    except Exception:  # an image MuPDF cannot decode: leave it out, like extract_image
        return None
    if pix.alpha:
        pix = pymupdf.Pixmap(pix, 0)
    if pix.n not in (1, 3):
        pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
    return _png(pix.samples, pix.width, pix.height, pix.stride, pix.n), "png", pix.width, pix.height


_INDEXED = re.compile(r"^\[\s*/Indexed\s*(/DeviceRGB|\d+\s+0\s+R)\s*(\d+)\s*(?:(\d+)\s+0\s+R|<([0-9A-Fa-f\s]*)>)\s*\]$")
_ICC = re.compile(r"^\[\s*/ICCBased\s+(\d+)\s+0\s+R\s*\]$")


def _is_rgb(doc, base: str) -> bool:
    """The base colour space of an Indexed space is DeviceRGB or a 3-component ICC profile."""
    if base == "/DeviceRGB":
        return True
    obj = doc.xref_object(int(base.split()[0]), compressed=True).strip()
    if obj == "/DeviceRGB":
        return True
    m = _ICC.match(obj)
    return bool(m) and doc.xref_get_key(int(m.group(1)), "N") == ("int", "3")


def _flate_as_tiff(doc, xref: int, width: int, height: int) -> bytes | None:
    """The image's Flate stream in a TIFF container, without decoding it; None where that is not exact."""
    key = doc.xref_get_key
    bpc = key(xref, "BitsPerComponent")
    if (bpc[0] != "int" or int(bpc[1]) not in (1, 2, 4, 8) or width <= 0 or height <= 0
            or key(xref, "DecodeParms")[0] != "null" or key(xref, "Decode")[0] != "null"
            or key(xref, "ImageMask")[0] == "bool"):
        return None
    bits = int(bpc[1])
    kind, cs = key(xref, "ColorSpace")
    if kind == "xref":
        cs = doc.xref_object(int(cs.split()[0]), compressed=True)
    cs = cs.strip()
    palette = None
    if cs == "/DeviceGray":
        spp, photometric = 1, 1
    elif cs == "/DeviceRGB":
        spp, photometric = 3, 2
    elif m := _ICC.match(cs):
        n = key(int(m.group(1)), "N")
        if n not in (("int", "1"), ("int", "3")):
            return None
        spp = int(n[1])
        photometric = 1 if spp == 1 else 2
    elif (m := _INDEXED.match(cs)) and bits <= 8 and _is_rgb(doc, m.group(1)):
        hival = int(m.group(2))
        lut = doc.xref_stream(int(m.group(3))) if m.group(3) else bytes.fromhex(re.sub(r"\s", "", m.group(4)))
        if len(lut) < 3 * (hival + 1):
            return None
        lut = lut[:3 * (hival + 1)] + bytes(3 * (2 ** bits) - 3 * (hival + 1))
        n_col = 2 ** bits
        palette = [lut[3 * i + c] * 257 for c in range(3) for i in range(n_col)]  # R..., G..., B... (16-bit)
        spp, photometric = 1, 3
    else:
        return None
    if spp > 1 and bits != 8:
        return None
    data = doc.xref_stream_raw(xref)
    # little-endian TIFF: header, pixel data, then BitsPerSample / ColorMap values, then the IFD
    extra = b""
    bps_off = cmap_off = 0
    out = bytearray(b"II*\x00" + b"\x00\x00\x00\x00") + data
    if len(out) % 2:
        out += b"\x00"
    if spp == 3:
        bps_off = len(out)
        out += struct.pack("<3H", bits, bits, bits)
    if palette is not None:
        cmap_off = len(out)
        out += struct.pack(f"<{len(palette)}H", *palette)
    entries = [(256, 4, 1, width), (257, 4, 1, height),
               (258, 3, spp, bps_off if spp == 3 else bits), (259, 3, 1, 8), (262, 3, 1, photometric),
               (273, 4, 1, 8), (277, 3, 1, spp), (278, 4, 1, height), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    if palette is not None:
        entries.append((320, 3, len(palette), cmap_off))
    ifd_off = len(out)
    out += struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3 and count == 1:
            out += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value)
    out += struct.pack("<I", 0)
    out[4:8] = struct.pack("<I", ifd_off)
    return bytes(out)


def _png(samples: bytes, width: int, height: int, stride: int, n: int) -> bytes:
    """8-bit gray (n=1) or RGB (n=3) samples as a PNG (filter 0 on every row, zlib level 1)."""
    rows = b"".join(b"\x00" + samples[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0 if n == 1 else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


_DO = re.compile(rb"/([^\s/\[\]()<>{}%]+)\s+Do\b")


def _drawn_xrefs(page, images: list, n_placed: int) -> list[int] | None:
    """Image XObjects in the order the page's content stream draws them (MuPDF reports placements in that order);
    None unless every placement is accounted for (images inside forms, inline images: the caller hashes)."""
    by_name = {im[7]: im[0] for im in images if im[9] == 0}  # drawn by the page itself, not by a form
    if len(by_name) != len({im[0] for im in images}):
        return None
    drawn = [by_name[m.decode("latin-1")] for m in _DO.findall(page.read_contents())
             if m.decode("latin-1") in by_name]
    return drawn if len(drawn) == n_placed else None


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
    """One page through the vision endpoint (vlm.VlmClient: timeout and retries); raises if it fails."""
    res = _vlm_client(config).transcribe_many([page.get_pixmap(dpi=config.render_dpi).tobytes("png")])[0]
    if res.error is not None:
        raise RuntimeError(f"{res.error} (after {res.attempts} attempts)")
    return res.text


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

    truncated = _truncation(path, doc)
    router = PdfPageRouter(config.route_threshold, config.high_cost_route)
    rows, figures = [], []
    vlm_pending: list[tuple[dict, bytes]] = []  # (page row, PNG) waiting for the vision endpoint
    vlm_client = None
    written: dict[int, tuple[str, int, int]] = {}  # image xref -> (file, width, height), this document
    fig_dir = out / "figures"
    for i in range(doc.page_count):
        page_no = i + 1
        doc_id = page_doc_id(source_sha256, page_no)
        try:
            page = doc.load_page(i)
            cheap = _cheap_text(page)
            text, blocks = cheap.text, cheap.blocks
            infos, cover = _image_infos(page, config.min_figure_px, config.extract_figures)
            c = cheap.counts
            f = router.features_from_counts(c.n, c.math_font, c.math_symbols, c.bad, abs(page.rect), cover,
                                            cheap.display_rows, cheap.display_chars, cheap.numbered_displays)
            route, error, png = router.route(f), None, None
            try:
                if route == "local":
                    text = _high_cost_local(doc, i, config)
                elif route == "vlm":
                    vlm_client = vlm_client or _vlm_client(config)
                    png = page.get_pixmap(dpi=config.render_dpi).tobytes("png")  # MuPDF stays on this thread
            except Exception as e:  # the page keeps its cheap text; the failure is recorded
                error = f"{type(e).__name__}: {e}"[:500]
                summary["quarantine"].append({"source_uri": f"{source_uri}#page={page_no}",
                                              "reason": f"pdf_{route}_route_error", "detail": error})
                route = "cheap_fallback"
            n_fig = 0
            if config.extract_figures:
                for info in infos:
                    bb = info["bbox"]
                    if f.scanned and (bb[2] - bb[0]) * (bb[3] - bb[1]) > 0.5 * abs(page.rect):
                        continue  # the scan itself, not a figure
                    saved = written.get(info["xref"])
                    if saved is None:  # an image placed again (a logo on every page) is written once
                        img = figure_file(doc, info["xref"])
                        if img is None:
                            continue
                        data, ext, width, height = img
                        fig_dir.mkdir(exist_ok=True)
                        name = f"p{page_no:05d}_{n_fig:02d}.{ext}"
                        (fig_dir / name).write_bytes(data)
                        saved = written[info["xref"]] = (name, width, height)
                    name, width, height = saved
                    figures.append({"figure_id": f"{doc_id}-{n_fig}", "page_doc_id": doc_id,
                                    "source_sha256": source_sha256, "page_no": page_no, "file": f"figures/{name}",
                                    "width": width, "height": height,
                                    "caption": _caption_for(info["bbox"], blocks),
                                    "bbox": [float(x) for x in info["bbox"]]})
                    n_fig += 1
            row = {"doc_id": doc_id, "source_uri": source_uri, "source_sha256": source_sha256,
                   "source_kind": "pdf", "page_no": page_no, "text": text, "parser_route": route,
                   "route_reason": router.reason(f), "route_score": f.score, "math_font_frac": f.math_font_frac,
                   "math_symbol_frac": f.math_symbol_frac, "bad_glyph_frac": f.bad_glyph_frac,
                   "text_density": f.text_density, "scanned": f.scanned, "display_rows": f.display_rows,
                   "display_chars": f.display_chars, "numbered_displays": f.numbered_displays, "n_chars": len(text), "n_figures": n_fig,
                   "dedup_key": None, "route_error": error, "route_attempts": 0}
            rows.append(row)
            if png is not None:
                vlm_pending.append((row, png))
                if len(vlm_pending) >= 4 * config.vlm_concurrency:  # bounded: PNGs of a few batches at most
                    _flush_vlm(vlm_client, vlm_pending, summary)
        except Exception as e:
            summary["quarantine"].append({"source_uri": f"{source_uri}#page={page_no}", "reason": "pdf_page_error",
                                          "detail": f"{type(e).__name__}: {e}"[:500]})
    doc.close()
    if vlm_pending:
        _flush_vlm(vlm_client, vlm_pending, summary)
    for row in rows:
        row["n_chars"] = len(row["text"])
        row["dedup_key"] = dedup_key(row["text"], config.dedup_min_chars)
        summary["routes"][row["parser_route"]] = summary["routes"].get(row["parser_route"], 0) + 1
    if truncated:
        if not any(row["text"].strip() for row in rows):  # what MuPDF's repair recovered holds nothing
            summary.update(status="quarantined", routes={}, quarantine=[{
                "source_uri": source_uri, "reason": "pdf_truncated",
                "detail": f"{truncated}; the {len(rows)} recovered page(s) hold no text"}])
            rows, figures = [], []
        else:  # kept, and marked: the pages after the cut are missing
            summary["quarantine"].append({"source_uri": source_uri, "reason": "pdf_truncated",
                                          "detail": f"{truncated}; {len(rows)} page(s) recovered and kept"})
    _write_tables(out, rows, figures)
    summary.update(n_pages=len(rows), n_figures=len(figures), seconds=time.perf_counter() - t0)
    return summary


def _truncation(path: str | Path, doc) -> str | None:
    """Why a PDF that opened looks cut short (no %%EOF in its last 2 KiB, an xref MuPDF had to rebuild), or None."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 2048))
        has_eof = b"%%EOF" in f.read()
    repaired = bool(getattr(doc, "is_repaired", False))
    if has_eof and not repaired:
        return None
    return ", ".join(x for x in ("no %%EOF marker at the end" if not has_eof else "",
                                 "xref rebuilt by MuPDF's repair" if repaired else "") if x)


def _vlm_client(config: PdfConfig):
    from s1data.pdf.vlm import VlmClient

    key = config.vlm_api_key.get_secret_value() if config.vlm_api_key else None
    if not key and config.vlm_api_key_env:
        key = os.environ.get(config.vlm_api_key_env)
    return VlmClient(config.vlm_url, config.vlm_model, key, config.vlm_timeout_s,
                     config.vlm_max_retries, config.vlm_concurrency, config.vlm_backoff_s,
                     max_tokens=config.vlm_max_tokens)


def _flush_vlm(client, pending: list[tuple[dict, bytes]], summary: dict) -> None:
    """Send the pending page images (bounded concurrency, retries); each row gets the model's Markdown, or keeps
    its cheap text with route `cheap_fallback` and a `pdf_vlm_route_error` quarantine row saying why."""
    results = client.transcribe_many([png for _, png in pending])
    for (row, _), res in zip(pending, results):
        row["route_attempts"] = res.attempts
        if res.error is None:
            row["text"] = res.text
        else:
            row["parser_route"], row["route_error"] = "cheap_fallback", res.error[:500]
            summary["quarantine"].append({"source_uri": f"{row['source_uri']}#page={row['page_no']}",
                                          "reason": "pdf_vlm_route_error",
                                          "detail": f"{res.error} (after {res.attempts} attempts)"[:500]})
    pending.clear()


def _write_tables(out: Path, rows: list[dict], figures: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=PAGE_SCHEMA), out / "pages.parquet")
    pq.write_table(pa.Table.from_pylist(figures, schema=FIGURE_SCHEMA), out / "figures.parquet")


def write_result(out: Path, summary: dict) -> None:
    """result.json last, via rename: its presence means the partition folder is complete."""
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(summary, sort_keys=True))
    os.replace(tmp, out / "result.json")
