"""Domain-centric rewriting against the local LLM stand-in (s1data/web/llm_standin.py, named as such)."""

import json

import pyarrow as pa
import pytest

from s1data.web import llm_standin
from s1data.web.domains import DECISIONS_SCHEMA
from s1data.web.rewrite import ORIGINALS_SCHEMA, RewriteConfig, rewrite_documents


@pytest.fixture
def standin():
    server, url = llm_standin.start()
    yield server, url
    server.shutdown()
    server.server_close()


def pages(texts, domains=None):
    n = len(texts)
    return pa.table({"doc_id": [f"p{i:02d}" for i in range(n)], "domain": domains or ["notes.edu"] * n,
                     "text": texts, "source_kind": ["web"] * n})


def fast(url, **kw):
    """Short timeouts and backoff so failures take milliseconds."""
    return RewriteConfig(url=url, **{"timeout_s": 2.0, "retries": 2, "backoff_s": 0.01, **kw})


def test_pages_are_rewritten_and_their_originals_kept_for_lineage(standin):
    server, url = standin
    table = pages(["Graphene   conducts heat.\n\n  Very   well. ", "Phonons  scatter\tat defects."])
    out, originals, stats = rewrite_documents(table, fast(url))
    assert out.column("text").to_pylist() == ["Graphene conducts heat.\nVery well.", "Phonons scatter at defects."]
    assert out.column("rewritten").to_pylist() == [True, True]
    assert out.column("rewrite_reason").to_pylist() == [None, None]
    assert out.column_names == table.column_names + ["rewritten", "rewrite_reason"]  # other columns ride along
    assert originals.schema == ORIGINALS_SCHEMA
    assert originals.to_pylist() == [{"doc_id": "p00", "text": table.column("text")[0].as_py()},
                                     {"doc_id": "p01", "text": table.column("text")[1].as_py()}]
    assert (stats["targets"], stats["rewritten"], stats["calls"], stats["retries"]) == (2, 2, 2, 0)
    assert stats["endpoint_configured"] is True and server.state.requests == 2


def test_a_call_that_times_out_keeps_the_page_unchanged_with_reason_rewrite_timeout(standin):
    server, url = standin
    slow = "Slow page [[standin:delay=1.5]]"
    out, originals, stats = rewrite_documents(pages([slow, "Fast  page"]),
                                              fast(url, timeout_s=0.3, retries=1))
    rows = out.to_pylist()
    assert (rows[0]["text"], rows[0]["rewritten"], rows[0]["rewrite_reason"]) == (slow, False, "rewrite_timeout")
    assert (rows[1]["text"], rows[1]["rewritten"], rows[1]["rewrite_reason"]) == ("Fast page", True, None)
    assert originals.column("doc_id").to_pylist() == ["p01"]
    assert stats["reasons"] == {"rewrite_timeout": 1}
    assert server.state.seen[slow] == 2  # the timeout was retried once


def test_a_server_error_is_retried_then_recorded_as_rewrite_http_500(standin):
    server, url = standin
    broken, flaky = "Broken [[standin:status=500]]", "Flaky  once [[standin:status=503x1]]"
    out, _, stats = rewrite_documents(pages([broken, flaky]), fast(url, retries=2))
    rows = out.to_pylist()
    assert (rows[0]["text"], rows[0]["rewritten"], rows[0]["rewrite_reason"]) == (broken, False, "rewrite_http_500")
    assert (rows[1]["text"], rows[1]["rewritten"], rows[1]["rewrite_reason"]) == ("Flaky once", True, None)
    assert server.state.seen[broken] == 3 and server.state.seen[flaky] == 2  # 1 + retries, then 1 + 1
    assert (stats["calls"], stats["retries"]) == (5, 3)


def test_a_client_error_is_not_retried_and_bad_answers_have_their_own_reasons(standin):
    server, url = standin
    texts = ["Gone [[standin:status=404]]", "Nothing [[standin:empty]]", "Cut off [[standin:length]]", "x" * 50]
    out, originals, stats = rewrite_documents(pages(texts), fast(url, max_input_chars=40))
    assert out.column("rewrite_reason").to_pylist() == ["rewrite_http_404", "rewrite_empty", "rewrite_truncated",
                                                        "rewrite_too_long"]
    assert out.column("text").to_pylist() == texts and originals.num_rows == 0
    assert server.state.seen[texts[0]] == 1 and texts[3] not in server.state.seen  # too long: never sent


def test_without_an_endpoint_pages_are_kept_unchanged_with_reason_no_endpoint():
    table = pages(["Graphene   conducts heat.", "Phonons"])
    out, originals, stats = rewrite_documents(table, RewriteConfig())
    assert out.column("text").to_pylist() == table.column("text").to_pylist()
    assert out.column("rewritten").to_pylist() == [False, False]
    assert out.column("rewrite_reason").to_pylist() == ["no_endpoint", "no_endpoint"]
    assert originals.num_rows == 0
    assert (stats["endpoint_configured"], stats["targets"], stats["calls"]) == (False, 2, 0)
    assert stats["reasons"] == {"no_endpoint": 2}


@pytest.mark.parametrize("limit", [1, 3])
def test_no_more_calls_than_max_concurrency_are_in_flight(standin, limit):
    server, url = standin
    texts = [f"Page {i}  [[standin:delay=0.15]]" for i in range(12)]
    out, _, stats = rewrite_documents(pages(texts), fast(url, max_concurrency=limit))
    assert all(out.column("rewritten").to_pylist())
    assert server.state.peak_in_flight == limit  # reached (the calls overlap) and never passed
    assert stats["peak_in_flight"] == limit


def test_only_pages_of_domains_decided_for_rewriting_are_sent(standin):
    server, url = standin
    decisions = pa.Table.from_pylist([
        {"domain": "notes.edu", "n_pages": 2, "n_sampled": 2, "keep_rate": 0.3, "mean_science_score": None,
         "decision": "rewrite_candidate", "evidence_json": json.dumps({"rule": "borderline_quality"})},
        {"domain": "sci.org", "n_pages": 1, "n_sampled": 1, "keep_rate": 1.0, "mean_science_score": None,
         "decision": "keep", "evidence_json": "{}"}], schema=DECISIONS_SCHEMA)
    table = pages(["A  b", "C  d", "E  f"], domains=["notes.edu", "sci.org", "notes.edu"])
    out, originals, stats = rewrite_documents(table, fast(url), decisions=decisions)
    assert out.column("text").to_pylist() == ["A b", "C  d", "E f"]
    assert out.column("rewritten").to_pylist() == [True, False, True]
    assert out.column("rewrite_reason").to_pylist() == [None, None, None]
    assert originals.column("doc_id").to_pylist() == ["p00", "p02"]
    assert stats["targets"] == 2 and server.state.requests == 2


def test_the_api_key_comes_from_the_named_environment_variable_not_the_config(standin, monkeypatch):
    server, url = standin
    monkeypatch.setenv("MY_REWRITE_KEY", "sk-test-123")
    cfg = fast(url, api_key_env="MY_REWRITE_KEY")
    assert "sk-test-123" not in cfg.model_dump_json()
    rewrite_documents(pages(["A  b"]), cfg)
    monkeypatch.delenv("MY_REWRITE_KEY")
    rewrite_documents(pages(["C  d"]), cfg)
    assert server.state.authorization == ["Bearer sk-test-123", None]


def test_a_prompt_template_without_the_text_placeholder_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"must contain \{text\}"):
        RewriteConfig(prompt_template="Rewrite this page.")
