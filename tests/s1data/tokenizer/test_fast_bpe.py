"""The tiktoken text-BPE backend gives exactly HF's ids, or is not used (and says why)."""

import json
import logging
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s1data.tokenizer import fast_bpe, load_tokenizer, train_tokenizer
from s1data.tokenizer.fast_bpe import GPT2_PATTERN, pieces_mismatch, probe_texts
from tests.s1data.tokenizer.conftest import TINY
from tests.s1data.tokenizer.corpus import PROSE, PROTEINS, mixed_corpus, nci_smiles

QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                r"|\s+(?!\S)|\s+")


def _docstrings() -> list[str]:
    import collections
    import email
    import http
    import json as json_mod
    import re
    import textwrap
    import unittest

    mods = [collections, email, http, json_mod, re, textwrap, unittest, logging]
    return [d for m in mods for obj in [m, *vars(m).values()] if (d := getattr(obj, "__doc__", None))
            and isinstance(d, str)][:400]


def varied_corpus() -> list[str]:
    smiles = nci_smiles(80)
    return [
        *mixed_corpus(120), *PROSE, *_docstrings(), *probe_texts(),
        "", " ", "\n", "  \t\n\r\n   ", "x" * 5000, " " * 4000, "9" * 300, "🧪" * 200, "a\u0301" * 50,
        "Ünïcödé ſtraße İstanbul ΑΒΓ Ωmega Ǆemal — “quoted” ‘single’ « guillemets » 漢字かなカナ 한국어",
        "emoji: 👩🏽‍🔬 🇯🇵 🏳️‍⚧️ 1️⃣ ❤️‍🔥", "zero\u200bwidth\u200djoiner\u2060word \ufeffbom",
        "tabs\tand\t\ttabs\n\n\nnewlines  \n  mixed \r\n windows\rmac",
        "I'm, you're, we've, they'll, he'd, it's; I'M, YOU'RE, WE'VE, THEY'LL, HE'D, IT'S; ’s",
        "numbers 0 00 007 3.14159265358979 6.022e23 1,234,567.89 -0.5 +1 ½ ¾ ² ³ ١٢٣ ४५६ ７８９ Ⅻ",
        "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; } // C\nx = [i**2 for i in range(10)]  # py\n",
        *(f"Compound <SMILES>{s}</SMILES> and untagged {s} in a sentence." for s in smiles),
        *(f">sp|P{i:05d}|\n{p}\n" for i, p in enumerate(PROTEINS)),
        "<DNA>ACGTACGTTTGACCA</DNA> ACGTTGCAACGGTACCATGCAAGTACGT <PROTEIN>MKV</PROTEIN> <|endoftext|> <|pad|>",
    ]


@pytest.fixture(scope="module")
def hf_tok(trained, monkeypatch_module):
    monkeypatch_module.setenv("S1_TEXT_BPE", "hf")
    tok = load_tokenizer(trained[0])
    monkeypatch_module.delenv("S1_TEXT_BPE")
    return tok


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_every_vocabulary_of_a_trained_tokenizer_runs_on_tiktoken(tok, hf_tok):
    assert tok.bpe_backend == {k: "tiktoken" for k in ("text", "smiles", "protein", "dna")}
    assert all(v.startswith("tokenizers (S1_TEXT_BPE=hf") for v in hf_tok.bpe_backend.values())


def test_ids_equal_hf_on_a_varied_corpus_and_decode_round_trips(tok, hf_tok):
    texts = varied_corpus()
    ids, lengths = tok.encode_flat(texts)
    ref_ids, ref_lengths = hf_tok.encode_flat(texts)
    assert ids.tolist() == ref_ids.tolist() and lengths.tolist() == ref_lengths.tolist()
    assert {tok.modality_of(i) for i in ids.tolist()} == {"text", "smiles", "protein", "dna"}
    for t, one in zip(texts, tok.encode_batch(texts)):
        assert tok.decode(one) == t
    for kind in ("text", "smiles", "protein", "dna"):  # each vocabulary alone, on every string
        assert tok.encode_modality(kind, texts) == hf_tok.encode_modality(kind, texts)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_ids_equal_hf_on_arbitrary_unicode(tok, hf_tok, text):
    assert tok.encode(text) == hf_tok.encode(text)
    assert tok._fast["text"].encode_batch([text]) == [hf_tok._text.encode(text, add_special_tokens=False).ids]


def test_a_failing_self_check_logs_and_falls_back_to_hf_ids(trained, hf_tok, monkeypatch, caplog):
    # A pattern one alternative short of HF's regex (no `\s+(?!\S)`): the probe must catch it.
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    monkeypatch.setattr(fast_bpe, "GPT2_PATTERN", GPT2_PATTERN.replace(r"|\s+(?!\S)", ""))
    with caplog.at_level(logging.WARNING, logger="s1data.tokenizer.dynamic"):
        tok = load_tokenizer(trained[0])
    assert tok.bpe_backend["text"].startswith("tokenizers (regex pieces differ")
    assert "text BPE stays on HF tokenizers" in caplog.text
    texts = varied_corpus()
    assert tok.encode_batch(texts) == hf_tok.encode_batch(texts)


def test_wrong_ids_are_caught_by_the_probe(trained, hf_tok, monkeypatch):
    real = fast_bpe._mergeable_ranks

    def swapped(model, hf):  # two merged tokens exchange ids: same pieces, different ids
        ranks, dropped, why = real(model, hf)
        a, b = sorted(ranks, key=ranks.get)[256:258]  # the first two merges
        ranks[a], ranks[b] = ranks[b], ranks[a]
        return ranks, dropped, why
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    monkeypatch.setattr(fast_bpe, "_mergeable_ranks", swapped)
    tok = load_tokenizer(trained[0])
    assert tok.bpe_backend["text"].startswith("tokenizers (ids differ on probe")
    assert tok.encode_batch(PROSE) == hf_tok.encode_batch(PROSE)
    monkeypatch.setenv("S1_TEXT_BPE", "tiktoken")
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    with pytest.raises(RuntimeError, match="not exact"):
        load_tokenizer(trained[0])


def test_without_tiktoken_installed_hf_is_used(trained, hf_tok, monkeypatch):
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    tok = load_tokenizer(trained[0])
    assert tok.bpe_backend["text"] == "tokenizers (tiktoken is not installed)"
    assert tok.encode_batch(PROSE) == hf_tok.encode_batch(PROSE)


def test_a_tiktoken_error_on_a_batch_gives_hf_ids(tok, hf_tok, monkeypatch):
    fast = tok._fast["text"]

    class Broken:
        def encode_ordinary(self, text):
            raise ValueError("boom")
    monkeypatch.setattr(fast, "_core", Broken())
    assert tok.encode_batch(PROSE) == hf_tok.encode_batch(PROSE)


# --- user tokenizers ----------------------------------------------------------------------------------------------

def _qwen_style(tmp_path, ignore_merges=False, added=True):
    """A Qwen2.5-shaped tokenizer.json: NFC, Split(Qwen regex) + ByteLevel(use_regex=False), special and
    non-special added tokens (raw and normalised)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=900, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(PROSE * 10 + mixed_corpus(60) + _docstrings()[:100], trainer)
    tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    if added:
        tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False),
                        AddedToken("</tool_call>", special=False, normalized=False),
                        AddedToken("<think>", special=False, normalized=True),
                        AddedToken("<|im_start|>user", special=False, normalized=False)])  # shadowed by a special
    spec = json.loads(tok.to_str())
    spec["model"]["ignore_merges"] = ignore_merges
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec))
    return path


QWEN_TEXTS = ["<tool_call>{\"name\": \"f\"}</tool_call>", "a<think>b</think>c", "<|im_start|>user\nhi<|im_end|>",
              "<tool_call>\u0338 <think>\u0338", "cafe\u0301 Å ﬁ Ǆ", "x<tool_call>y<tool_call>z", "<tool_call",
              "I'M DON'T it's 12345 6789  \n\n  x", *varied_corpus(),
              # combining marks newer than Python's Unicode database: HF's NFC may reorder them, so HF encodes these
              "a\u0301\U00011F42 e\u0301\U00011F41x \u0915\u093c\U0001E08F\u0301"]


def _hf_ids(path, texts):
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(path))
    hf.encode_special_tokens = True
    return [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]


@pytest.mark.parametrize("ignore_merges", [False, True])
def test_a_qwen_style_user_tokenizer_runs_on_tiktoken_with_hf_ids(tmp_path, ignore_merges):
    path = _qwen_style(tmp_path, ignore_merges)
    tok = load_tokenizer(path)
    assert tok.bpe_backend == {"text": "tiktoken"}
    assert tok.encode_batch(QWEN_TEXTS) == _hf_ids(path, QWEN_TEXTS)
    ids = tok.encode("<tool_call>x</tool_call><|im_start|>")
    assert ids[0] == tok._text.token_to_id("<tool_call>") and tok._text.token_to_id("<|im_start|>") not in ids


def test_a_dynamic_tokenizer_extending_a_qwen_style_base_runs_on_tiktoken(tmp_path):
    base = _qwen_style(tmp_path)
    out = tmp_path / "ext"
    train_tokenizer(mixed_corpus(60), out, TINY, base_tokenizer=base)
    tok = load_tokenizer(out)
    assert set(tok.bpe_backend.values()) == {"tiktoken"}
    hf = _hf_ids(out / "tokenizer.json", PROSE)
    assert tok.encode_batch(PROSE) == hf
    text = "<tool_call>aspirin CC(=O)Oc1ccccc1C(=O)O</tool_call> café"
    assert tok.decode(tok.encode(text)) == text


def _tiny_bpe(tmp_path, merges, ignore_merges=False):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path


def test_a_token_hf_merges_never_reach_is_left_out_of_tiktoken(tmp_path):
    # "b c" before "a b": "abc" is [a][bc] for HF although "abc" is a token; tiktoken must not join [a][bc].
    path = _tiny_bpe(tmp_path, [("b", "c"), ("a", "b"), ("ab", "c"), ("x", "y")])
    tok = load_tokenizer(path)
    assert tok.bpe_backend == {"text": "tiktoken"} and tok._fast["text"].unreachable_tokens == 1
    texts = ["abc", "xabcx", "ab abc abcabc", "xy"]
    assert tok.encode_batch(texts) == _hf_ids(path, texts)
    assert len(tok.encode("abc")) == 2


def test_ignore_merges_with_an_unreachable_token_falls_back(tmp_path, caplog):
    path = _tiny_bpe(tmp_path, [("b", "c"), ("a", "b"), ("ab", "c")], ignore_merges=True)
    with caplog.at_level(logging.WARNING, logger="s1data.tokenizer.dynamic"):
        tok = load_tokenizer(path)
    assert "ignore_merges" in tok.bpe_backend["text"] and "stays on HF" in caplog.text
    assert tok.encode_batch(["abc", "xabc"]) == _hf_ids(path, ["abc", "xabc"])


def test_ids_out_of_merge_order_fall_back(tmp_path):
    path = _tiny_bpe(tmp_path, [("a", "b"), ("c", "d")])
    spec = json.loads(path.read_text())
    v = spec["model"]["vocab"]
    v["ab"], v["cd"] = v["cd"], v["ab"]
    path.write_text(json.dumps(spec))
    tok = load_tokenizer(path)
    assert "not in merge order" in tok.bpe_backend["text"]
    assert tok.encode("abcd") == _hf_ids(path, ["abcd"])[0]


@pytest.mark.parametrize("change, reason", [
    (lambda s: s["pre_tokenizer"].update(add_prefix_space=True), "add_prefix_space"),
    (lambda s: s.update(pre_tokenizer={"type": "Whitespace"}), "no tiktoken pattern"),
    (lambda s: s.update(normalizer={"type": "Lowercase"}), "normaliser Lowercase"),
    (lambda s: s["model"].update(dropout=0.1), "dropout"),
])
def test_configurations_without_a_tiktoken_equivalent_fall_back(tmp_path, change, reason):
    path = _tiny_bpe(tmp_path, [("a", "b")])
    spec = json.loads(path.read_text())
    change(spec)
    path.write_text(json.dumps(spec))
    assert reason in load_tokenizer(path).bpe_backend["text"]


@pytest.mark.parametrize("pre, pattern", [
    ({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}, GPT2_PATTERN),
    ({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}, QWEN_PATTERN),
])
def test_regex_pieces_agree_on_every_assigned_code_point(pre, pattern):
    """HF (Oniguruma) and tiktoken (fancy-regex) classify every code point of planes 0-3 and 14 alike (\\p{L},
    \\p{N}, \\s, case folding), in letter, digit, space, apostrophe and newline contexts (planes 4-13 are
    unassigned, 15-16 private use)."""
    cps = [chr(c) for c in [*range(0xD800), *range(0xE000, 0x40000), *range(0xE0000, 0xE1000)]]
    texts = ["".join(f"a{c}1 {c}{c}'{c}\n" for c in cps[i:i + 4096]) for i in range(0, len(cps), 4096)]
    assert pieces_mismatch(pre, pattern, texts) == ""


@pytest.mark.parametrize("break_it", ["normaliser", "added tokens"])
def test_the_probe_catches_a_missing_normaliser_or_added_token_split(tmp_path, monkeypatch, break_it):
    path = _qwen_style(tmp_path)
    monkeypatch.setattr(fast_bpe, "_BUILT", {})
    if break_it == "normaliser":
        monkeypatch.setattr(fast_bpe, "_normalizer", lambda spec: (None, ""))
    else:  # forget the normalised (normalized=True) added tokens
        monkeypatch.setattr(fast_bpe._AddedSplitter, "_regex", staticmethod(
            lambda contents, real=fast_bpe._AddedSplitter._regex: real([c for c in contents if c != "<think>"])))
    tok = load_tokenizer(path)
    assert tok.bpe_backend["text"].startswith("tokenizers (")
    assert tok.encode_batch(QWEN_TEXTS) == _hf_ids(path, QWEN_TEXTS)
