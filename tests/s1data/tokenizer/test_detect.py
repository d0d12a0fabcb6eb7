import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s1data.tokenizer import ScienceSpanDetector, TokenizerConfig

detector = ScienceSpanDetector(TokenizerConfig())


def kinds(text: str) -> list[tuple[str, str]]:
    return [(k, s) for k, s in detector.segments(text) if k != "text"]


@pytest.mark.parametrize("word", [
    "CO", "NO", "NaN", "I", "Cosmic", "FBI", "SOS", "BOP", "CCO", "H2O", "CO2", "pH", "I(C)", "C=O", "C-C-C",
    "CO-OP", "COVID-19", "C1CC", "c1cccc", "CC(C", "c1ccccc2", "(1)", "O(n)", "scorn", "Fig.", "1-2",
])
def test_classic_false_positives_stay_in_the_text_path(word):
    text = f"We saw {word} in the paper ({word}), and {word}."
    assert detector.segments(text) == [("text", text)]


def test_untagged_smiles_is_detected_with_surrounding_punctuation_trimmed():
    text = "Aspirin (CC(=O)Oc1ccccc1C(=O)O) and phenol c1ccccc1O. Also [Na+].[O-]C(=O)C salt."
    assert kinds(text) == [("smiles", "CC(=O)Oc1ccccc1C(=O)O"), ("smiles", "c1ccccc1O"), ("smiles", "[Na+].[O-]C(=O)C")]


def test_tagged_spans_are_trusted_even_when_short_or_invalid():
    text = "<SMILES>CO</SMILES> and <SMILES>C1CC</SMILES> and <DNA>ACG</DNA><PROTEIN>MK</PROTEIN>"
    assert kinds(text) == [
        ("special", "<SMILES>"), ("smiles", "CO"), ("special", "</SMILES>"),
        ("special", "<SMILES>"), ("smiles", "C1CC"), ("special", "</SMILES>"),
        ("special", "<DNA>"), ("dna", "ACG"), ("special", "</DNA>"),
        ("special", "<PROTEIN>"), ("protein", "MK"), ("special", "</PROTEIN>")]


def test_empty_tags_give_tag_tokens_only_and_unclosed_tags_are_text():
    assert kinds("<SMILES></SMILES>") == [("special", "<SMILES>"), ("special", "</SMILES>")]
    assert detector.segments("<SMILES>CCO and more") == [("text", "<SMILES>CCO and more")]


def test_protein_and_dna_runs_are_detected_and_low_variety_runs_are_not():
    prot = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEG"
    seq = "ACGTTGCAACGGTACCATGCAAGT"
    assert kinds(f">sp|P1|\n{prot}\nbinds {seq}.") == [("protein", prot), ("dna", seq)]
    for text in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "IMMUNOHISTOCHEMISTRY", "ACGT" * 3, "XACGTTGCAACGGTACCATGCAAGT"]:
        assert kinds(text) == [], text


def test_detection_can_be_switched_off():
    quiet = ScienceSpanDetector(TokenizerConfig(detect_smiles=False, detect_sequences=False))
    text = "c1ccccc1O and MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEG"
    assert quiet.segments(text) == [("text", text)]


fragments = st.sampled_from(["CC(=O)O", "c1ccccc1", "<SMILES>", "</SMILES>", "<DNA>ACGT</DNA>", " ", "\n", "(",
                             ").", "ACGTACGTACGTACGTACGTAA", "MQIFVKTLTGKTITLEVEPSDT", "CO", "é", "🧪", "\t"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(fragments, st.text(max_size=8)), max_size=12))
def test_segments_always_join_back_to_the_input(parts):
    text = "".join(parts)
    assert "".join(s for _, s in detector.segments(text)) == text


def test_rna_and_lower_case_dna_are_sequences_but_lower_case_words_are_not():
    rna = "AUGGCUACGUAGCUAGCUAGGCUAA"
    low = "acgttgcaacggtaccatgcaagt"
    assert kinds(f"mRNA {rna} and {low}.") == [("dna", rna), ("dna", low)]
    assert kinds("the mitochondrialmembranepotentialchanges") == []


batch_fragments = st.sampled_from([
    "CC(=O)O", "c1ccccc1", "<SMILES>", "</SMILES>", "<DNA>ACGT</DNA>", " ", "\n", "\t", "(", ")", ").", ",", ".", "[",
    "]", "'", '"', "{", "}", ":", ";", "[Na+]", "[O-]", "[nH]", "C[C@@H](O)", "Cl", "Br", "N", "c", "O", "1", "=", "#",
    "x", "U", "ACGTACGTACGTACGTACGTAA", "acgtacgtacgtacgtacgt", "MQIFVKTLTGKTITLEVEPSDT", "CO", "é", "🧪",
    "\u00a0", "\u2003", "\u3000", "\x1c"])
loose = TokenizerConfig(min_sequence_chars=5, min_smiles_atoms=1, min_letters_only_smiles_chars=2,
                        min_protein_distinct=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(batch_fragments, st.text(max_size=4)), max_size=20).map("".join), max_size=8),
       st.sampled_from([TokenizerConfig(), loose, TokenizerConfig(detect_smiles=False),
                        TokenizerConfig(detect_sequences=False)]))
def test_the_batch_prefilter_finds_exactly_the_segments_of_the_one_text_path(texts, config):
    det = ScienceSpanDetector(config)
    assert det.segments_batch(texts) == [det.segments(t) for t in texts]


def test_batch_segments_of_prose_and_science_match_the_one_text_path():
    from tests.s1data.tokenizer.corpus import mixed_corpus

    texts = mixed_corpus(200) + ["", " ", "plain words only", "Zürich\u00a0CC(=O)Oc1ccccc1C(=O)O\u2003ok"]
    assert detector.segments_batch(texts) == [detector.segments(t) for t in texts]
    assert ("smiles", "CC(=O)Oc1ccccc1C(=O)O") in detector.segments_batch(texts)[-1]
