import pyarrow as pa
import pytest

from s1data.filters import (C4QualityFilter, CurationConfig, FineWebQualityFilter, GopherQualityFilter,
                            GopherRepetitionFilter, LanguageFilter, curate, scrub_pii)

GOOD = ("The thermal conductivity of graphene is among the highest of any known material. "
        "It depends on the size of the sample and on the density of defects that scatter phonons. "
        "Measurements with Raman spectroscopy show values that exceed those of diamond at room temperature. "
        "These results have motivated the use of graphene in heat spreaders for electronic devices. "
        "However, the contact resistance with the substrate limits the benefit in practical applications.\n"
        "Further work is needed to understand how strain and isotopes change the transport of heat in the sheet.")


def table(texts, **extra):
    n = len(texts)
    cols = {"doc_id": [f"d{i}" for i in range(n)], "source_uri": [f"f#{i}" for i in range(n)],
            "source_sha256": ["0" * 64] * n, "source_kind": ["web"] * n, "text": texts}
    cols.update(extra)
    return pa.table(cols)


def reasons(block, texts):
    _, excluded = block.run(table(texts))
    return excluded.column("reason").to_pylist()


def test_a_clean_english_paragraph_passes_every_filter():
    kept, excluded = curate(table([GOOD]))
    assert kept.num_rows == 1 and excluded.num_rows == 0
    assert kept.column("lang")[0].as_py() == "en"


def test_a_short_document_is_dropped_as_gopher_short_doc():
    assert reasons(GopherQualityFilter(), ["Too short to keep."]) == ["gopher_short_doc"]


def test_a_document_without_stop_words_is_dropped_as_gopher_few_stop_words():
    text = " ".join(["graphene phonon raman spectroscopy substrate measurement device"] * 10)
    assert reasons(GopherQualityFilter(), [text]) == ["gopher_few_stop_words"]


def test_none_disables_a_gopher_threshold():
    assert reasons(GopherQualityFilter(min_words=None, min_stop_words=None, min_avg_word_length=None,
                                       min_alpha_words_ratio=None),
                   ["Short but allowed."]) == []


def test_repeated_lines_are_dropped_by_the_repetition_filter():
    text = "\n".join(["Buy cheap watches online now today."] * 10 + [GOOD])
    assert reasons(GopherRepetitionFilter(), [text])[0].startswith("gopher_rep_")


def test_lorem_ipsum_is_dropped_as_c4_lorem_ipsum():
    assert reasons(C4QualityFilter(), [GOOD + " Lorem ipsum dolor sit amet."]) == ["c4_lorem_ipsum"]


def test_a_page_of_menu_fragments_is_dropped_as_c4_too_few_sentences():
    assert reasons(C4QualityFilter(), ["Home\nAbout us\nContact\nShop now"]) == ["c4_too_few_sentences"]


def test_a_list_of_short_unpunctuated_lines_fails_fineweb():
    text = "\n".join(f"Item number {i}" for i in range(40))
    assert reasons(FineWebQualityFilter(), [text]) == ["fineweb_line_punct_ratio"]


def test_german_text_is_dropped_as_lang_not_wanted_when_only_english_is_kept():
    de = ("Die Wärmeleitfähigkeit von Graphen gehört zu den höchsten aller bekannten Materialien und hängt von der "
          "Größe der Probe ab.")
    assert reasons(LanguageFilter(["en"]), [de]) == ["lang_not_wanted"]
    assert reasons(LanguageFilter(None), [de]) == []


def test_excluded_rows_keep_their_columns_and_name_the_filter_and_reason():
    docs = table([GOOD, "tiny"], page_no=[1, 2])
    kept, excluded = curate(docs, CurationConfig(language=None))
    assert kept.column("page_no").to_pylist() == [1]
    row = excluded.to_pylist()[0]
    assert (row["doc_id"], row["filter"], row["reason"], row["page_no"]) == ("d1", "gopher", "gopher_short_doc", 2)


def test_the_funnel_counts_add_up():
    docs = table([GOOD, "tiny", GOOD + " Lorem ipsum dolor sit amet."])
    kept, excluded = curate(docs)
    assert kept.num_rows + excluded.num_rows == 3
    assert sorted(excluded.column("reason").to_pylist()) == ["c4_lorem_ipsum", "lang_too_short"]


@pytest.mark.parametrize("raw, token", [
    ("write to jane.doe@example.org today", "<EMAIL>"),
    ("call +49 30 1234 5678 now", "<PHONE>"),
    ("call (555) 123-4567 now", "<PHONE>"),
    ("server at 192.168.10.4 was down", "<IP>"),
    ("link fe80:0:0:0:200:f8ff:fe21:67cf up", "<IP>"),
])
def test_pii_is_replaced_by_a_placeholder(raw, token):
    out, counts = scrub_pii(raw)
    assert token in out and sum(counts.values()) == 1


@pytest.mark.parametrize("raw", ["in 1998 and 2004", "pH 7.4 at 310 K", "version 1.2.3", "localhost 127.0.0.1",
                                 "ISBN 9783504560967"])
def test_numbers_that_are_not_pii_are_left_alone(raw):
    assert scrub_pii(raw)[0] == raw


def test_curate_scrubs_pii_in_kept_documents_and_counts_it():
    kept, _ = curate(table([GOOD + " Contact the author at someone@lab.example.edu for data."]))
    assert "<EMAIL>" in kept.column("text")[0].as_py()
    assert kept.column("pii_count")[0].as_py() == 1
