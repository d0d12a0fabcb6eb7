"""Issue 18: a lone surrogate code point in text makes every tokenizer entry point replace it by U+FFFD instead of
raising (the Rust tokenizer and tiktoken cannot encode a surrogate as UTF-8)."""

import pytest

from s1data.tokenizer import ScienceSpanDetector, train_plain_bpe, train_tokenizer
from s1data.tokenizer.clean import clean_text
from tests.s1data.tokenizer.conftest import TINY
from tests.s1data.tokenizer.corpus import mixed_corpus

LONE = ["\ud800", "\udfff", "\udc80", "\ud83d"]  # high, low, a surrogateescape byte, half of an emoji pair


@pytest.mark.parametrize("s", LONE)
def test_clean_text_replaces_each_lone_surrogate_by_the_replacement_character(s):
    assert clean_text(f"a {s} b{s}") == "a \ufffd b\ufffd"


def test_clean_text_returns_clean_text_unchanged_and_uncopied():
    for t in ["plain ascii", "Zürich 🧪 CC(=O)O", ""]:
        assert clean_text(t) is t


@pytest.mark.parametrize("s", LONE)
def test_encode_paths_accept_a_lone_surrogate_and_encode_it_as_the_replacement_character(tok, s):
    text = f"Aspirin {s} is CC(=O)Oc1ccccc1C(=O)O{s}."
    same = text.replace(s, "\ufffd")
    assert tok.encode(text) == tok.encode(same)
    assert tok.encode_batch([text, "ok"]) == tok.encode_batch([same, "ok"])
    ids, lengths = tok.encode_flat([text])
    ids2, lengths2 = tok.encode_flat([same])
    assert ids.tolist() == ids2.tolist() and lengths.tolist() == lengths2.tolist()
    assert tok.segments(text) == tok.segments(same)
    assert tok.segments_batch([text]) == tok.segments_batch([same])
    assert tok.encode_modality("text", [f"x{s}y"]) == tok.encode_modality("text", ["x\ufffdy"])
    assert tok.decode(tok.encode(text)) == same


def test_training_accepts_texts_with_lone_surrogates(tmp_path):
    texts = list(mixed_corpus()) + ["bad \ud800 text", "CCO\udfffCCN and DNA ACGTACGTACGTACGTAC\ud800"]
    summary = train_tokenizer(texts, tmp_path, TINY)
    assert summary["vocab_size"] > 0
    plain = train_plain_bpe(["a \ud800 b"] * 20, 300, ["<|endoftext|>"])
    # before the fix: UnicodeEncodeError; now U+FFFD's three UTF-8 bytes are frequent enough to be merged
    assert plain.token_to_id("ï¿½") is not None or plain.token_to_id("Ġï¿½") is not None
    assert ScienceSpanDetector(TINY).segments(clean_text("x \ud800")) == [("text", "x \ufffd")]
