"""The per-process verdict memo of BaseFilter.run: a text seen again gets the same verdict, reason, rewritten text and
added columns as when the rules ran, and a field the rule reads (lang) is part of the key."""

import pyarrow as pa

from s1data.filters import C4QualityFilter, CurationConfig, GopherQualityFilter, curate
from s1data.filters import base
from s1data.filters.base import BaseFilter
from tests.s1data.filters.test_curate import GOOD, table

C4_TRIMMED = GOOD + "\nClick here\nAccept the cookie policy of this site now."
SHORT = "Too short to keep."
FRENCH = ("Le chat est sur la table et il regarde la fenêtre depuis ce matin sans bouger, "
          "pendant que les enfants jouent dans le jardin avec le chien de la voisine.")


def _fresh_memo():
    base._MEMO.clear()
    base._MEMO_CHARS.clear()


def test_a_second_curation_of_the_same_texts_answers_from_the_memo_with_identical_tables():
    _fresh_memo()
    docs = table([GOOD, C4_TRIMMED, SHORT, FRENCH, ""])
    kept1, excl1 = curate(docs, CurationConfig())
    assert sum(len(m) for m in base._MEMO.values()) > 0
    kept2, excl2 = curate(docs, CurationConfig())
    assert kept1.equals(kept2) and excl1.equals(excl2)
    assert kept2.column("lang").to_pylist() == ["en", "en"]
    assert sorted(excl2.column("reason").to_pylist()) == ["lang_not_wanted", "lang_too_short", "lang_too_short"]


def test_the_c4_line_removal_is_replayed_from_the_memo():
    _fresh_memo()
    first = C4QualityFilter(remove_lines=True).run(table([C4_TRIMMED]))[0]
    again = C4QualityFilter(remove_lines=True).run(table([C4_TRIMMED]))[0]
    assert "cookie policy" not in first.column("text")[0].as_py() and first.equals(again)
    assert sum(len(m) for m in base._MEMO.values()) == 1


def test_the_memo_answers_without_running_the_rules():
    _fresh_memo()
    calls = []

    class Counting(GopherQualityFilter):
        def filter(self, text, row):
            calls.append(text)
            return super().filter(text, row)

    f = Counting()
    f.run(table([GOOD, SHORT]))
    f.run(table([GOOD, SHORT]))
    assert len(calls) == 2
    _, excl = Counting().run(table([SHORT]))
    assert excl.column("reason").to_pylist() == ["gopher_short_doc"] and len(calls) == 2


def test_lang_is_part_of_the_key_of_a_rule_that_reads_it():
    _fresh_memo()
    text = " ".join(["xy zz qq the and of"] * 12)  # mean word length below 3: an English-only rule
    en = GopherQualityFilter().run(table([text], lang=["en"]))[1].column("reason").to_pylist()
    fr = GopherQualityFilter().run(table([text], lang=["fr"]))[1].column("reason").to_pylist()
    assert en == ["gopher_below_avg_word_length"] and fr == []


def test_a_filter_without_memo_row_fields_is_never_memoised():
    _fresh_memo()
    seen = []

    class ReadsDomain(BaseFilter):
        name = "dom"

        def filter(self, text, row):
            seen.append(row["domain"])
            return (True if row["domain"] == "a" else (False, "dom_b"))

    out1 = ReadsDomain().run(table([GOOD], domain=["a"]))
    out2 = ReadsDomain().run(table([GOOD], domain=["b"]))
    assert seen == ["a", "b"] and out1[1].num_rows == 0 and out2[1].column("reason").to_pylist() == ["dom_b"]
    assert not base._MEMO
