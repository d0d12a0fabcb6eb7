"""The tiktoken probe's verdict is kept across processes (a file keyed by the tokenizer and everything the probe
depends on): a later load skips the probe and gets the same backend; a changed input is probed again."""

import pytest

from s1data.tokenizer import fast_bpe, load_tokenizer
from s1data.tokenizer.fast_bpe import GPT2_PATTERN
from tests.s1data.tokenizer.test_fast_bpe import varied_corpus


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("S1_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("S1_TEXT_BPE", raising=False)
    monkeypatch.setattr(fast_bpe, "_BUILT", {})  # a new process: nothing memoised in it
    return tmp_path / "cache" / "tiktoken-verdicts"


def _probes(monkeypatch) -> list:
    calls = []
    real = fast_bpe._probe_mismatch
    monkeypatch.setattr(fast_bpe, "_probe_mismatch", lambda *a: calls.append(1) or real(*a))
    return calls


def test_a_second_process_reads_the_verdict_and_gets_the_same_ids(trained, fresh, monkeypatch):
    calls = _probes(monkeypatch)
    first = load_tokenizer(trained[0])
    assert first.bpe_backend["text"] == "tiktoken" and len(calls) == 4  # text, smiles, protein, dna
    assert len(list(fresh.glob("*.json"))) == 4
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    second = load_tokenizer(trained[0])
    assert len(calls) == 4 and second.bpe_backend == first.bpe_backend  # no probe the second time
    texts = varied_corpus()
    assert second.encode_batch(texts) == first.encode_batch(texts)
    monkeypatch.setenv("S1_TEXT_BPE", "hf")
    assert second.encode_batch(texts) == load_tokenizer(trained[0]).encode_batch(texts)


def test_a_changed_regex_is_probed_again_and_its_mismatch_kept(trained, fresh, monkeypatch):
    calls = _probes(monkeypatch)
    load_tokenizer(trained[0])
    n = len(calls)
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    monkeypatch.setattr(fast_bpe, "GPT2_PATTERN", GPT2_PATTERN.replace(r"|\s+(?!\S)", ""))
    broken = load_tokenizer(trained[0])
    assert len(calls) > n and broken.bpe_backend["text"].startswith("tokenizers (")
    assert "regex pieces differ" in broken.bpe_backend["text"]
    m = len(calls)
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    again = load_tokenizer(trained[0])  # the mismatch verdict is read, not probed
    assert len(calls) == m and again.bpe_backend["text"] == broken.bpe_backend["text"]
