"""Tokenizer training on several threads (s1data.tokenizer.train.rust_threads): the same tokenizer as on one thread,
on real text, and the process environment is left as it was."""

import gzip
import json
import os
from pathlib import Path

import pytest

from s1data.tokenizer import TokenizerConfig, train_tokenizer
from s1data.tokenizer.train import rust_threads

from .corpus import mixed_corpus


@pytest.fixture(scope="module")
def texts(shared_data) -> list[str]:
    path = shared_data / "science-dev" / "docs.jsonl.gz"
    if not path.exists():
        pytest.skip("science-dev is not in ../shared/data")
    out = []
    with gzip.open(path, "rt") as f:
        for i, line in enumerate(f):
            if i % 7 == 0:  # every 7th of the 21k real texts: all domains and sources
                out.append(json.loads(line)["text"])
    return out + mixed_corpus(200)


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_two_trainer_threads_train_the_same_tokenizer_as_one(texts, tmp_path):
    cfg = TokenizerConfig(vocab_size=4000, smiles_vocab_size=400, protein_vocab_size=300, dna_vocab_size=280)
    one = train_tokenizer(texts, tmp_path / "one", cfg, threads=1)
    two = train_tokenizer(texts, tmp_path / "two", cfg, threads=2)
    assert one["vocab_size"] == two["vocab_size"] > 3000
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert a.keys() == b.keys() and "tokenizer.json" in a
    assert [n for n in a if a[n] != b[n]] == []


def test_the_thread_setting_is_restored_after_training(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    with rust_threads(2):
        assert os.environ["TOKENIZERS_PARALLELISM"] == "true" and os.environ["RAYON_NUM_THREADS"] == "2"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false" and "RAYON_NUM_THREADS" not in os.environ
    with rust_threads(1):  # one thread: nothing changes
        assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
