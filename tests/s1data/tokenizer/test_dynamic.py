import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s1data.tokenizer import (TokenizerConfig, load_tokenizer, tokenizer_fingerprint, train_plain_bpe,
                              train_tokenizer)
from tests.s1data.tokenizer.conftest import TINY
from tests.s1data.tokenizer.corpus import PROSE, mixed_corpus

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_encode_decode_round_trips_arbitrary_unicode(tok, text):
    assert tok.decode(tok.encode(text)) == text


pieces = st.sampled_from([ASPIRIN, "c1ccccc1O", "<SMILES>CCO</SMILES>", "<SMILES></SMILES>", "<PROTEIN>MKV</PROTEIN>",
                          "MQIFVKTLTGKTITLEVEPSDTIENVKAK", "ACGTTGCAACGGTACCATGCAAGT", "<|endoftext|>", "<|pad|>",
                          " ", "  ", "\n", "\t", "(", ").", "CO", "NaN", "Zürich", "🧪", "\u200b", "\r\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(pieces, st.text(max_size=6)), max_size=15))
def test_round_trip_is_exact_with_scientific_spans_in_any_context(tok, parts):
    text = "".join(parts)
    assert tok.decode(tok.encode(text)) == text


def test_smiles_ids_live_in_their_own_range(tok):
    a, b = tok.ranges["smiles"]
    ids = tok.encode(f"aspirin {ASPIRIN} tablets")
    smiles_ids = [i for i in ids if a <= i < b]
    assert smiles_ids and tok.decode(smiles_ids) == ASPIRIN
    assert all(tok.modality_of(i) == "text" for i in tok.encode("aspirin ") + tok.encode(" tablets"))


def test_tagged_smiles_is_tag_token_then_smiles_ids_then_closing_tag(tok, trained):
    special = trained[1]["special_token_ids"]
    ids = tok.encode("<SMILES>CCO</SMILES>")
    assert ids[0] == special["<SMILES>"] and ids[-1] == special["</SMILES>"]
    assert {tok.modality_of(i) for i in ids[1:-1]} == {"smiles"}


def test_protein_and_dna_spans_use_their_own_ranges(tok):
    ids = tok.encode("MQIFVKTLTGKTITLEVEPSDTIENVKAK ACGTTGCAACGGTACCATGCAAGT")
    assert [tok.modality_of(i) for i in ids][0] == "protein"
    assert [tok.modality_of(i) for i in ids][-1] == "dna"
    assert {tok.modality_of(i) for i in ids} == {"protein", "text", "dna"}


@pytest.mark.parametrize("text", ["CO", "NaN", "I", "Cosmic", "C1CC", "FBI", "CO2 and H2O"])
def test_false_positive_words_are_encoded_with_text_ids_only(tok, text):
    assert {tok.modality_of(i) for i in tok.encode(text)} == {"text"}


def test_a_literal_eos_string_in_a_document_is_text_not_eos(tok):
    ids = tok.encode("end <|endoftext|> here")
    assert tok.eos_id not in ids
    assert tok.decode(ids) == "end <|endoftext|> here"


def test_summary_reports_contiguous_ranges_and_special_ids(trained, tok):
    summary = trained[1]
    r = summary["ranges"]
    assert r["text"][0] == 0 and r["text"][1] == r["smiles"][0]
    assert r["smiles"][1] == r["protein"][0] and r["protein"][1] == r["dna"][0] and r["dna"][1] == summary["vocab_size"]
    assert summary["vocab_sizes"]["smiles"] == TINY.smiles_vocab_size
    assert summary["vocab_sizes"]["text"] == TINY.vocab_size
    assert summary["eos_id"] == tok.eos_id == summary["special_token_ids"]["<|endoftext|>"]
    assert summary["training_spans"]["smiles"] >= 250 and summary["training_spans"]["protein"] == 20
    assert set(summary["files"]) == {"tokenizer.json", "smiles.tokenizer.json", "protein.tokenizer.json",
                                     "dna.tokenizer.json", "tokenizer_config.json", "dynamic_tokenizer.json"}
    assert tok.vocab_size == summary["vocab_size"]


def test_transformers_loads_tokenizer_json_unchanged_and_decodes_dynamic_ids(trained, tok):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out = trained[0]
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    text = f"Aspirin {ASPIRIN} and MQIFVKTLTGKTITLEVEPSDTIENVKAK in café 🧪."
    assert len(hf) == tok.vocab_size
    assert hf.decode(tok.encode(text)) == text
    for plain in PROSE:  # no scientific span: identical ids
        assert hf.encode(plain, add_special_tokens=False) == tok.encode(plain)
    auto = AutoTokenizer.from_pretrained(str(out))
    assert auto.eos_token_id == tok.eos_id and auto.pad_token_id == tok.pad_id


def test_extending_a_base_tokenizer_keeps_its_ids_and_appends_science_ranges(tmp_path):
    base = train_plain_bpe(PROSE * 5, 400, ["<|endoftext|>", "<|im_start|>"])
    base.save(str(tmp_path / "base.json"))
    out = tmp_path / "ext"
    summary = train_tokenizer(mixed_corpus(60), out, TINY, base_tokenizer=tmp_path / "base.json")
    tok = load_tokenizer(out)
    base_n = base.get_vocab_size()
    assert summary["ranges"]["text"] == [0, base_n + 7]  # pad + 6 tags were added, eos existed
    assert summary["eos_id"] == base.token_to_id("<|endoftext|>")
    for plain in PROSE:
        assert tok.encode(plain) == base.encode(plain).ids
    text = f"x {ASPIRIN} y <DNA>ACGT</DNA>"
    assert tok.decode(tok.encode(text)) == text
    assert any(tok.modality_of(i) == "smiles" for i in tok.encode(text))


def test_a_non_byte_level_base_tokenizer_is_refused_with_a_fix(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    wl = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    wl.pre_tokenizer = pre_tokenizers.Whitespace()
    wl.save(str(tmp_path / "wl.json"))
    with pytest.raises(ValueError, match="byte-level BPE"):
        train_tokenizer(["a a"], tmp_path / "out", TINY, base_tokenizer=tmp_path / "wl.json")


def test_fingerprint_covers_the_sub_vocabularies(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained[0], copy)
    assert tokenizer_fingerprint(copy) == tokenizer_fingerprint(trained[0]) == trained[1]["fingerprint"]
    spec = json.loads((copy / "dna.tokenizer.json").read_text())
    spec["decoder"] = None
    (copy / "dna.tokenizer.json").write_text(json.dumps(spec))
    assert tokenizer_fingerprint(copy) != trained[1]["fingerprint"]


def test_a_plain_tokenizer_json_loads_as_text_only(tmp_path):
    base = train_plain_bpe(PROSE * 5, 400, ["<|endoftext|>"])
    base.save(str(tmp_path / "tokenizer.json"))
    tok = load_tokenizer(tmp_path)
    assert tok.ranges == {"text": (0, base.get_vocab_size())}
    assert tok.encode(ASPIRIN) == base.encode(ASPIRIN).ids and tok.eos_id == 0


def test_config_rejects_eos_equal_to_a_tag():
    with pytest.raises(ValueError, match="eos_token and pad_token"):
        TokenizerConfig(eos_token="<SMILES>")


def test_empty_inputs_encode_and_decode_to_empty(tok):
    assert tok.encode("") == [] and tok.decode([]) == "" and tok.encode_batch([]) == []


def test_flat_batch_encoding_equals_encoding_each_text_alone(tok):
    texts = mixed_corpus(60) + ["", f"a {ASPIRIN} b", "<SMILES>CCO</SMILES>", "<|endoftext|>", "Zürich 🧪"]
    ids, lengths = tok.encode_flat(texts)
    assert ids.dtype.name == "int32" and lengths.tolist() == [len(tok.encode(t)) for t in texts]
    assert ids.tolist() == [i for t in texts for i in tok.encode(t)]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    # the slow reference: segment alone, one plain `encode` call per piece
    for t in texts:
        ref = []
        for kind, s in tok.segments(t):
            if kind == "special":
                ref.append(tok._special_ids[s])
            elif kind == "text":
                ref += tok._text.encode(s, add_special_tokens=False).ids
            else:
                sub, start = tok._subs[kind]
                ref += [i + start for i in sub.encode(s, add_special_tokens=False).ids]
        assert tok.encode(t) == ref


def test_the_larger_bpe_word_cache_keeps_the_ids_of_the_file_tokenizer(tok, trained):
    from tokenizers import Tokenizer

    plain = Tokenizer.from_file(str(trained[0] / "tokenizer.json"))
    assert json.loads(tok._text.to_str())["model"] == json.loads(plain.to_str())["model"]
    for text in PROSE:
        assert tok.encode_modality("text", [text])[0] == plain.encode(text, add_special_tokens=False).ids
