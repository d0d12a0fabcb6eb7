"""One rule at a time: each Gopher / C4 / FineWeb rule drops a text made to break it, with its own reason."""

from __future__ import annotations

import pyarrow as pa
import pytest

pytest.importorskip("spacy", reason="the quality filters split words with spaCy's English rules")

from s1data.filters import (C4Config, C4QualityFilter, FineWebConfig, FineWebQualityFilter, GopherConfig,  # noqa: E402
                            GopherQualityFilter, GopherRepetitionFilter, build_filters, CurationConfig)

SENT = ("The thermal conductivity of graphene depends on the size of the sample and on the density of defects "
        "that scatter phonons in the lattice.")
PROSE = " ".join([SENT.replace("size", f"size {w}") for w in
                  "first second third fourth fifth sixth seventh eighth".split()])  # 8 sentences, 170 words


def table(texts, **extra):
    cols = {"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts}
    cols.update(extra)
    return pa.table(cols)


def reasons(block, texts, **extra):
    _, excluded = block.run(table(texts, **extra))
    return excluded.column("reason").to_pylist()


# ---- Gopher quality ------------------------------------------------------------------------------------------------

def test_ordinary_english_prose_passes_every_gopher_quality_rule():
    assert reasons(GopherQualityFilter(), [PROSE]) == []


def test_more_words_than_max_words_is_gopher_long_doc():
    assert reasons(GopherQualityFilter(max_words=100), [PROSE]) == ["gopher_long_doc"]


def test_punctuation_tokens_are_not_words_for_the_length_rule():
    text = " ".join(["word"] * 49 + [", . ; : !"] * 20)
    assert reasons(GopherQualityFilter(min_words=50, min_stop_words=None, min_alpha_words_ratio=None,
                                       min_avg_word_length=None), [text]) == ["gopher_short_doc"]


def test_short_words_are_gopher_below_avg_word_length():
    text = " ".join(["to be or not to go on it is up to me and we do so"] * 4)
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_below_avg_word_length"]


def test_long_words_are_gopher_above_avg_word_length():
    text = " ".join(["the internationalization of electroencephalography with counterrevolutionaries"] * 10)
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_above_avg_word_length"]


def test_hash_symbols_above_a_tenth_of_tokens_are_gopher_too_many_hashes():
    assert reasons(GopherQualityFilter(), [PROSE + " #science" * 40]) == ["gopher_too_many_hashes"]


def test_ellipses_above_a_tenth_of_tokens_are_gopher_too_many_ellipsis():
    assert reasons(GopherQualityFilter(), [PROSE + " and so on…" * 50 + " The end."]) == ["gopher_too_many_ellipsis"]


def test_a_list_of_bullet_lines_is_gopher_too_many_bullets():
    text = "\n".join(f"- {SENT}" for _ in range(10))
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_too_many_bullets"]


def test_lines_ending_in_an_ellipsis_are_gopher_too_many_ellipsis_lines():
    text = "\n".join([SENT, SENT[:-1] + "...", SENT, SENT[:-1] + "..."])
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_too_many_ellipsis_lines"]


def test_fewer_than_80_percent_alphabetic_tokens_is_gopher_too_many_non_alpha_words():
    text = PROSE + " " + " ".join(f"{i}.{i}" for i in range(100, 160))  # 60 numbers among ~190 tokens
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_too_many_non_alpha_words"]


def test_alphabetic_prose_is_not_dropped_by_the_alpha_rule_which_was_inverted_before():
    f = GopherQualityFilter(min_words=None, min_avg_word_length=None, max_avg_word_length=None,
                            min_stop_words=None)
    assert reasons(f, [PROSE, "1 2 3 4 5 6 7 8 9 and"]) == ["gopher_too_many_non_alpha_words"]


def test_capitalised_stop_words_do_not_count_as_in_datatrove():
    text = " ".join(["The graphene sample With phonon defects measured carefully"] * 10)
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_few_stop_words"]


def test_the_english_word_rules_are_skipped_for_a_known_other_language():
    text = " ".join(["Die Wärmeleitfähigkeit von Graphen hängt von der Größe der Probe ab."] * 6)
    assert reasons(GopherQualityFilter(), [text, text], lang=["en", "de"]) == ["gopher_few_stop_words"]


def test_text_without_words_is_gopher_empty_when_the_length_rule_is_off():
    assert reasons(GopherQualityFilter(min_words=None), ["... !!! ,,,"]) == ["gopher_empty"]


# ---- Gopher repetition ---------------------------------------------------------------------------------------------

OFF = {k: None for k in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
                         "top_2gram_frac", "top_3gram_frac", "top_4gram_frac", *(f"dup_{n}gram_frac"
                                                                                 for n in range(5, 11)))}


def only(**on):
    return GopherRepetitionFilter(**{**OFF, **on})


VOCAB = ("graphene phonon lattice defect sample thermal measure raman diamond contact strain isotope sheet carbon "
         "bond energy crystal heat flow substrate device layer surface electron spin field wave model theory value "
         "result method study paper table figure error signal noise source target region period ratio gain "
         "loss mass").split()
assert len(VOCAB) == len(set(VOCAB)) == 47  # prime: sentence i's word pairs (x, x + 2k + 1) never recur


def uniq(i):
    """A sentence of nine distinct words that shares no word pair with the sentences around it."""
    words = [VOCAB[(i * 5 + k * k) % len(VOCAB)] for k in range(9)]
    return " ".join(words).capitalize() + "."


def test_ordinary_prose_passes_every_repetition_rule():
    assert reasons(GopherRepetitionFilter(), ["\n\n".join(uniq(i) for i in range(20))]) == []


def test_repeated_paragraphs_are_gopher_rep_dup_para_frac():
    text = "\n\n".join([uniq(i) for i in range(6)] + ["Buy now."] * 5)
    assert reasons(GopherRepetitionFilter(), [text]) == ["gopher_rep_dup_para_frac"]


def test_one_long_repeated_paragraph_is_gopher_rep_dup_para_char_frac():
    text = "\n\n".join([PROSE, PROSE] + [uniq(i) for i in range(6)])
    assert reasons(GopherRepetitionFilter(), [text]) == ["gopher_rep_dup_para_char_frac"]


def test_repeated_short_lines_are_gopher_rep_dup_line_frac():
    text = "\n".join([uniq(i) for i in range(10)] + ["Share"] * 7)
    assert reasons(GopherRepetitionFilter(), [text]) == ["gopher_rep_dup_line_frac"]


def test_one_long_repeated_line_is_gopher_rep_dup_line_char_frac():
    text = "\n".join([PROSE, PROSE] + [uniq(i) for i in range(6)])
    assert reasons(GopherRepetitionFilter(), [text]) == ["gopher_rep_dup_line_char_frac"]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_a_frequent_n_gram_is_gopher_rep_top_n_gram(n):
    phrase = " ".join(["graphene", "phonon", "lattice", "defects"][:n])
    text = " ".join(f"{phrase} w{i}" for i in range(30))
    assert reasons(only(**{f"top_{n}gram_frac": 0.2}), [text]) == [f"gopher_rep_top_{n}gram"]


@pytest.mark.parametrize("n", range(5, 11))
def test_repeated_n_grams_are_gopher_rep_dup_n_gram(n):
    text = " ".join(uniq(i) for i in range(4)) + (" " + SENT) * 3
    assert reasons(only(**{f"dup_{n}gram_frac": 0.1}), [text]) == [f"gopher_rep_dup_{n}gram"]


def test_the_duplicated_n_gram_thresholds_are_gophers():
    f = GopherRepetitionFilter()
    assert f.dup == [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]
    assert f.top == [(2, 0.2), (3, 0.18), (4, 0.16)]


def test_overlapping_repeats_count_once():
    from s1data.filters.quality import duplicated_ngram_chars

    # "a a a a a a a" (7 words): 5-grams at 0,1,2 are equal; 1 repeats 0 (counted, jump to 6): 5 chars, not 10
    assert duplicated_ngram_chars(["a"] * 7, 5) == 5


def test_empty_text_is_gopher_rep_empty():
    assert reasons(GopherRepetitionFilter(), [""]) == ["gopher_rep_empty"]


# ---- C4 ------------------------------------------------------------------------------------------------------------

def c4_text(n_sentences):
    return "\n".join(uniq(i) for i in range(n_sentences))


def test_c4_needs_five_sentences_in_its_kept_lines():
    assert reasons(C4QualityFilter(), [c4_text(4), c4_text(5)]) == ["c4_too_few_sentences"]


def test_c4_counts_sentences_not_lines():
    assert reasons(C4QualityFilter(), [" ".join(uniq(i) for i in range(5))]) == []


def test_lines_without_terminal_punctuation_or_ending_in_an_ellipsis_are_removed():
    kept, _ = C4QualityFilter().run(table([c4_text(5) + "\nMenu Home About\nRead more of this story...\nOK."]))
    assert kept.column("text")[0].as_py() == c4_text(5)


def test_javascript_cookie_and_short_lines_are_removed_and_citations_deleted():
    text = "\n".join([c4_text(5), "Please enable JavaScript to view the comments.",
                      "This site uses cookies to improve it.", "Thanks so.", "A cited claim is here.[1]"])
    kept, _ = C4QualityFilter().run(table([text]))
    assert kept.column("text")[0].as_py() == c4_text(5) + "\nA cited claim is here."


def test_a_line_with_a_word_over_1000_characters_is_removed():
    text = c4_text(4) + "\nThe key is " + "x" * 1001 + " here."
    assert reasons(C4QualityFilter(), [text]) == ["c4_too_few_sentences"]


def test_lorem_ipsum_in_a_kept_line_is_c4_lorem_ipsum():
    assert reasons(C4QualityFilter(), [c4_text(5) + "\nLorem ipsum dolor sit amet."]) == ["c4_lorem_ipsum"]


def test_a_curly_bracket_in_a_kept_line_is_c4_curly_bracket_unless_turned_off():
    text = c4_text(5) + "\nThe set {1, 2} has two elements."
    assert reasons(C4QualityFilter(), [text]) == ["c4_curly_bracket"]
    assert reasons(C4QualityFilter(filter_curly_bracket=False), [text]) == []


def test_without_remove_lines_the_text_is_kept_as_it_was():
    text = c4_text(5) + "\nMenu Home About"
    kept, _ = C4QualityFilter(remove_lines=False).run(table([text]))
    assert kept.column("text")[0].as_py() == text


# ---- FineWeb -------------------------------------------------------------------------------------------------------

def test_fineweb_keeps_prose_lines():
    assert reasons(FineWebQualityFilter(), [c4_text(10)]) == []


def test_blank_text_is_fineweb_empty():
    assert reasons(FineWebQualityFilter(), ["  \n \n"]) == ["fineweb_empty"]


def test_a_line_with_trailing_spaces_does_not_end_in_punctuation():
    text = "\n".join(uniq(i) + " " for i in range(10))
    assert reasons(FineWebQualityFilter(), [text]) == ["fineweb_line_punct_ratio"]


def test_mostly_short_lines_are_fineweb_short_line_ratio():
    text = "\n".join([uniq(i) for i in range(3)] + [f"Short {i}." for i in range(7)])
    assert reasons(FineWebQualityFilter(), [text]) == ["fineweb_short_line_ratio"]


def test_one_percent_of_characters_in_duplicated_lines_is_fineweb_char_dup_ratio():
    text = "\n".join([uniq(i) for i in range(30)] + [uniq(3)])
    assert reasons(FineWebQualityFilter(), [text]) == ["fineweb_char_dup_ratio"]
    assert reasons(FineWebQualityFilter(max_dup_line_char_ratio=0.1), [text]) == []


def test_many_newlines_per_word_is_fineweb_list_ratio():
    text = "\n\n\n\n\n".join(uniq(i) for i in range(10))
    assert reasons(FineWebQualityFilter(), [text]) == ["fineweb_list_ratio"]


# ---- configs -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", [GopherConfig, C4Config, FineWebConfig])
def test_every_threshold_names_its_source(model):
    for name, field in model.model_fields.items():
        if name != "enabled":
            assert "datatrove" in field.description or "et al." in field.description or "TFDS" in field.description, name


def test_config_thresholds_reach_the_filters_and_null_turns_a_rule_off():
    cfg = CurationConfig(language=None, gopher=GopherConfig(dup_7gram_frac=None, min_words=20),
                         c4=C4Config(min_sentences=None), fineweb=FineWebConfig(max_newline_per_word=None))
    gq, rep, c4, fw = build_filters(cfg)
    assert gq.min_words == 20 and (7, 0.13) not in rep.dup and (8, 0.12) in rep.dup
    assert c4.min_sentences is None and fw.max_nl is None
    assert reasons(c4, [c4_text(1)]) == []


def test_the_old_alpha_field_name_still_means_the_minimum_alpha_share():
    assert GopherConfig(max_non_alpha_words_ratio=0.6).min_alpha_words_ratio == 0.6
    assert GopherQualityFilter(max_non_alpha_words_ratio=0.6).min_alpha == 0.6


def test_published_defaults():
    assert C4Config().min_sentences == 5 and FineWebConfig().max_dup_line_char_ratio == 0.01
    assert GopherConfig().min_alpha_words_ratio == 0.8


# ---- words -----------------------------------------------------------------------------------------------------------

def test_words_follow_spacy_english_rules_like_datatrove():
    from s1data.filters import text as T

    assert T.words("We cannot go to the U.S. today, can't we?") == \
        ["We", "can", "not", "go", "to", "the", "U.S.", "today", ",", "ca", "n't", "we", "?"]
    assert T.sentence_count("It works. Does it? Yes!") == 3 and T.sentence_count("Dr. Smith came.") == 1


def test_words_are_the_same_when_the_word_cache_overflows(monkeypatch):
    from s1data.filters import text as T

    texts = [PROSE, c4_text(12), "\n".join(uniq(i) for i in range(30, 40)), PROSE.upper()]
    expected = [T.words(t) for t in texts]
    monkeypatch.setattr(T, "CACHE_MAX_CHUNKS", 5)
    T._CACHE.clear()
    T._SPACED.clear()
    assert [T.words(t) for t in texts] == expected
    assert [sum(i.n_tokens for i in T.chunk_infos(t)) for t in texts] == [len(w) for w in expected]
    T._CACHE.clear()
    T._SPACED.clear()
