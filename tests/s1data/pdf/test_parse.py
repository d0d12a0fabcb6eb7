import pyarrow.parquet as pq
import pytest

from s1data.pdf import PdfConfig, parse_pdf
from s1data.pdf import parse as parse_mod
from storage import file_sha256
from tests.pdfzoo import make_zoo


def _parse(path, tmp_path, **cfg):
    out = tmp_path / "out"
    s = parse_pdf(path, file_sha256(path), out, PdfConfig(**cfg))
    return s, pq.read_table(out / "pages.parquet").to_pylist(), pq.read_table(out / "figures.parquet").to_pylist()


@pytest.mark.parametrize("name,reason", [
    ("encrypted", "pdf_encrypted"), ("empty", "pdf_empty"), ("zero_pages", "pdf_zero_pages"),
    ("not_a_pdf", "pdf_not_a_pdf"), ("truncated", "pdf_truncated"),
])
def test_bad_input_is_quarantined_with_its_reason(tmp_path, shared_pdfs, name, reason):
    zoo = make_zoo(tmp_path / "zoo", shared_pdfs[0])
    s, pages, _ = _parse(zoo[name], tmp_path)
    assert s["status"] == "quarantined"
    assert [q["reason"] for q in s["quarantine"]] == [reason]
    assert pages == []


def test_every_page_of_a_real_paper_is_one_row_keyed_by_sha_and_one_based_page_no(tmp_path, shared_data):
    path = shared_data / "pdf" / "1001._0908.0054.pdf"
    s, pages, _ = _parse(path, tmp_path, high_cost_route="none")
    assert s["status"] == "ok" and s["n_pages"] == 4
    assert [p["page_no"] for p in pages] == [1, 2, 3, 4]
    assert {p["source_sha256"] for p in pages} == {file_sha256(path)}
    assert all(p["source_kind"] == "pdf" and p["parser_route"] == "cheap" for p in pages)
    assert [p["route_reason"] for p in pages] == ["route_none"] * 4
    assert "CMB" in pages[1]["text"]


def test_the_display_equation_pages_of_a_real_paper_are_routed_and_the_prose_page_is_not(tmp_path, shared_data):
    # 1001._0908.0054.pdf (arXiv, Times + mathptmx: math letters in the text italic): pages 1-3 carry numbered
    # display equations (1)-(8), page 4 (conclusions, references) none; labels looked up on the rendered pages.
    from s1data.pdf.detect import PdfPageRouter

    import pymupdf

    router = PdfPageRouter(high_cost_route="vlm")
    with pymupdf.open(shared_data / "pdf" / "1001._0908.0054.pdf") as doc:
        feats = []
        for page in doc:
            c = parse_mod._cheap_text(page)
            k = c.counts
            feats.append(router.features_from_counts(k.n, k.math_font, k.math_symbols, k.bad, abs(page.rect), 0.0,
                                                     c.display_rows, c.display_chars, c.numbered_displays))
    assert [router.route(f) for f in feats] == ["vlm", "vlm", "vlm", "cheap"]
    assert [router.reason(f) for f in feats] == ["display_math"] * 3 + ["below_threshold"]
    assert all(f.numbered_displays >= 1 for f in feats[:3]) and feats[3].display_rows == 0


def test_ordinary_pages_of_real_papers_stay_cheap(tmp_path, shared_data):
    # Wang-paperAVE2008.pdf (5 pages, Word, no display maths) and submission_363.pdf (1 page, no display maths).
    for name in ("Wang-paperAVE2008.pdf", "submission_363.pdf"):
        s, pages, _ = _parse(shared_data / "pdf" / name, tmp_path / name, high_cost_route="vlm",
                             vlm_url="http://127.0.0.1:9/v1")
        assert {p["parser_route"] for p in pages} == {"cheap"}, name
        assert {p["route_reason"] for p in pages} == {"below_threshold"}, name
        assert s["quarantine"] == []


def test_the_scanned_page_takes_the_high_cost_route_and_gets_ocr_text(tmp_path, shared_data):
    s, pages, _ = _parse(shared_data / "pdf" / "two_pages.pdf", tmp_path)
    first = pages[0]
    assert first["scanned"] and first["route_score"] == 1.0 and first["parser_route"] == "local"
    assert len(first["text"].strip()) > 50  # OCR found text where the text layer had none
    assert pages[1]["parser_route"] == "cheap"


def test_figures_are_extracted_with_their_captions(tmp_path, shared_data):
    s, _, figures = _parse(shared_data / "pdf" / "1001._0908.0054.pdf", tmp_path)
    captions = [f["caption"] for f in figures if f["caption"]]
    assert any(c.startswith("Figure 1:") for c in captions)
    for f in figures:
        assert (tmp_path / "out" / f["file"]).stat().st_size > 0


def test_a_page_that_raises_is_quarantined_and_the_other_pages_are_kept(tmp_path, shared_data, monkeypatch):
    real = parse_mod._cheap_text

    def flaky(page, **kw):
        if page.number == 1:
            raise RuntimeError("corrupt content stream")
        return real(page, **kw)

    monkeypatch.setattr(parse_mod, "_cheap_text", flaky)
    s, pages, _ = _parse(shared_data / "pdf" / "1001._0908.0054.pdf", tmp_path)
    assert [p["page_no"] for p in pages] == [1, 3, 4]
    assert [(q["reason"], q["source_uri"].endswith("#page=2")) for q in s["quarantine"]] == [("pdf_page_error", True)]


def test_a_failing_high_cost_route_falls_back_to_cheap_text_with_a_reason(tmp_path, shared_data):
    s, pages, _ = _parse(shared_data / "pdf" / "two_pages.pdf", tmp_path, high_cost_route="vlm",
                         vlm_url="http://127.0.0.1:9/v1", vlm_timeout_s=2, vlm_max_retries=1, vlm_backoff_s=0)
    assert pages[0]["parser_route"] == "cheap_fallback" and pages[0]["route_attempts"] == 2
    assert s["quarantine"][0]["reason"] == "pdf_vlm_route_error"
    assert "ConnectError" in s["quarantine"][0]["detail"] and "after 2 attempts" in s["quarantine"][0]["detail"]


def test_figure_files_decode_to_the_same_pixels_as_mupdf(shared_pdfs):
    # Flate images are wrapped in a TIFF without decoding (1001: RGB; Wang: 8-bit palette; submission: 4-bit palette)
    import io

    import pymupdf
    from PIL import Image

    exts = set()
    for path in shared_pdfs:
        with pymupdf.open(path) as doc:
            for xref in sorted({im[0] for page in doc for im in page.get_images(full=True)}):
                data, ext, w, h = parse_mod.figure_file(doc, xref)
                exts.add(ext)
                pix = pymupdf.Pixmap(doc, xref)
                if pix.alpha:
                    pix = pymupdf.Pixmap(pix, 0)
                if pix.n != 3:
                    pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
                img = Image.open(io.BytesIO(data)).convert("RGB")
                assert (img.width, img.height) == (w, h) == (pix.width, pix.height)
                if ext != "jpg":  # lossless: the very same pixels
                    assert img.tobytes() == pix.samples, (path.name, xref)
    assert exts == {"tif", "jpg"}


def test_each_placed_image_is_matched_to_its_xobject_as_the_pixel_hash_would(shared_pdfs):
    # 1001._0908.0054.pdf draws 4-5 plots of one pixel size per page: size cannot tell them apart, draw order can
    import pymupdf

    for path in shared_pdfs:
        with pymupdf.open(path) as doc:
            for page in doc:
                infos, _ = parse_mod._image_infos(page, 96, True)
                ref = [i for i in page.get_image_info(xrefs=True) if i["width"] >= 96 and i["height"] >= 96]
                assert sorted((tuple(i["bbox"]), i["xref"]) for i in infos) == \
                    sorted((tuple(i["bbox"]), i["xref"]) for i in ref), (path.name, page.number)
