"""The VLM route against the local stand-in (s1data/pdf/vlm_standin.py, a named stand-in for a hosted VLM)."""

import pyarrow.parquet as pq
import pytest

from s1data.pdf import PdfConfig, parse_pdf, vlm_standin
from s1data.pdf.vlm import VLM_PROMPT, VlmClient
from storage import file_sha256


@pytest.fixture
def standin():
    server, url = vlm_standin.start(mode="echo")
    yield server.state, url
    server.shutdown()


def _png() -> bytes:
    import pymupdf

    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 8, 8), 0)
    pix.clear_with(255)
    return pix.tobytes("png")


def test_the_request_carries_the_page_image_and_a_markdown_latex_prompt(standin):
    state, url = standin
    [res] = VlmClient(url, model="intern-s1", api_key="k3y").transcribe_many([_png()])
    assert res.error is None and res.text.startswith("[vlm-standin]") and res.attempts == 1
    [seen] = state.requests_seen
    assert seen["model"] == "intern-s1" and seen["image_bytes"] > 0 and seen["authorization"] == "Bearer k3y"
    assert seen["prompt"] == VLM_PROMPT and "Markdown" in seen["prompt"] and "LaTeX" in seen["prompt"]


def test_a_server_error_and_a_rate_limit_are_retried_until_the_page_comes_back(standin):
    state, url = standin
    state.faults = [503, 429]
    [res] = VlmClient(url, backoff_s=0.01, max_retries=3).transcribe_many([_png()])
    assert res.error is None and res.attempts == 3
    assert [r["fault"] for r in state.requests_seen] == [503, 429, None]


def test_a_client_error_is_not_retried(standin):
    state, url = standin
    state.faults = [400]
    [res] = VlmClient(url, backoff_s=0.01, max_retries=3).transcribe_many([_png()])
    assert res.text is None and res.error.startswith("HTTP 400") and res.attempts == 1


def test_a_slow_model_times_out_and_gives_up_after_the_retries(standin):
    state, url = standin
    state.faults = [1.5, 1.5]
    [res] = VlmClient(url, timeout_s=0.3, backoff_s=0.01, max_retries=1).transcribe_many([_png()])
    assert res.text is None and res.error.startswith("timeout after 0.3s") and res.attempts == 2
    assert res.seconds < 1.4  # two timeouts of 0.3 s, not two answers of 1.5 s


def test_no_more_than_concurrency_requests_are_in_flight(standin):
    state, url = standin
    state.faults = [0.25] * 9
    results = VlmClient(url, concurrency=3).transcribe_many([_png() for _ in range(9)])
    assert all(r.error is None for r in results)
    assert state.max_in_flight == 3


def test_parse_pdf_records_the_models_output_per_routed_page(tmp_path, shared_data, standin):
    state, url = standin
    state.faults = [503]  # the first request fails once, then goes through on its retry
    path = shared_data / "pdf" / "1001._0908.0054.pdf"
    s = parse_pdf(path, file_sha256(path), tmp_path, PdfConfig(high_cost_route="vlm", vlm_url=url,
                                                               vlm_backoff_s=0.01, vlm_concurrency=2))
    pages = pq.read_table(tmp_path / "pages.parquet").to_pylist()
    assert [p["parser_route"] for p in pages] == ["vlm", "vlm", "vlm", "cheap"]
    assert all(p["text"].startswith("[vlm-standin]") for p in pages[:3])
    assert not pages[3]["text"].startswith("[vlm-standin]") and "CONCLUSIONS" in pages[3]["text"]
    assert sorted(p["route_attempts"] for p in pages[:3]) == [1, 1, 2] and pages[3]["route_attempts"] == 0
    assert s["routes"] == {"vlm": 3, "cheap": 1} and s["quarantine"] == []
    assert len(state.requests_seen) == 4


def test_a_page_whose_requests_all_fail_keeps_its_cheap_text_with_the_reason(tmp_path, shared_data, standin):
    state, url = standin
    state.faults = [500] * 10
    path = shared_data / "pdf" / "1001._0908.0054.pdf"
    s = parse_pdf(path, file_sha256(path), tmp_path, PdfConfig(high_cost_route="vlm", vlm_url=url,
                                                               vlm_backoff_s=0.0, vlm_max_retries=2,
                                                               vlm_concurrency=1))
    pages = pq.read_table(tmp_path / "pages.parquet").to_pylist()
    assert pages[0]["parser_route"] == "cheap_fallback" and pages[0]["route_attempts"] == 3
    assert "Ultra light bosonic dark matter" in pages[0]["text"]  # the cheap text is kept
    assert s["quarantine"][0]["reason"] == "pdf_vlm_route_error"
    assert s["quarantine"][0]["detail"].startswith("HTTP 500") and "after 3 attempts" in s["quarantine"][0]["detail"]
