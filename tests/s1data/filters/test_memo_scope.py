"""The filter memo's scopes (pass 1 records the domain sample's verdicts, pass 2 consumes them and keeps none of its
own) and the one budget of the per-process caches (`S1_CACHE_MB`): same tables, bounded memory."""

import pytest

from s1data.filters import C4QualityFilter, CurationConfig, curate
from s1data.filters import base
from s1data.filters.base import cache_bound, memo_scope
from tests.s1data.filters.test_curate import GOOD, table
from tests.s1data.filters.test_memo import C4_TRIMMED, FRENCH, SHORT


def _fresh_memo():
    base._MEMO.clear()
    base._MEMO_CHARS.clear()


def _rows() -> int:
    return sum(len(m) for m in base._MEMO.values())


def test_pass_two_consumes_the_sampled_verdicts_keeps_none_of_its_own_and_writes_the_same_tables():
    _fresh_memo()
    sampled = table([GOOD, C4_TRIMMED, SHORT])
    partition = table([GOOD, C4_TRIMMED, SHORT, FRENCH, "", GOOD + " Another sentence of the same article here."])
    reference = curate(partition, CurationConfig())  # no memo hits: every rule runs
    _fresh_memo()
    curate(sampled, CurationConfig())  # pass 1 (default scope: record)
    recorded = _rows()
    assert recorded > 0
    with memo_scope(record=False, consume=True):
        got = curate(partition, CurationConfig())
    assert got[0].equals(reference[0]) and got[1].equals(reference[1])
    assert _rows() == 0, "pass 2 must forget the sampled pages it answered and record none of its own"


def test_a_text_kept_whole_is_not_stored_twice_and_is_replayed_identically():
    _fresh_memo()
    kept1, _ = C4QualityFilter(remove_lines=True).run(table([GOOD]))
    assert base._MEMO_CHARS and all(v == 0 for v in base._MEMO_CHARS.values())  # every line kept: no copy
    kept2, _ = C4QualityFilter(remove_lines=True).run(table([GOOD]))
    assert kept1.equals(kept2) and kept2.column("text").to_pylist() == [GOOD]
    C4QualityFilter(remove_lines=True).run(table([C4_TRIMMED]))
    assert sum(base._MEMO_CHARS.values()) == len(GOOD)  # a trimmed text is stored


def test_the_scope_is_restored_after_the_block_even_on_error():
    with pytest.raises(RuntimeError):
        with memo_scope(record=False, consume=True):
            raise RuntimeError("boom")
    assert base._MODE == {"record": True, "consume": False}


def test_s1_cache_mb_scales_every_bound_from_its_default(monkeypatch):
    monkeypatch.delenv("S1_CACHE_MB", raising=False)
    assert cache_bound(100_000) == 100_000
    monkeypatch.setenv("S1_CACHE_MB", str(base.CACHE_MB_DEFAULT // 32))
    assert cache_bound(100_000) == 3_125 and cache_bound(10) == 1  # at least one entry
    monkeypatch.setenv("S1_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="S1_CACHE_MB"):
        cache_bound(10)
    monkeypatch.setenv("S1_CACHE_MB", "0")
    with pytest.raises(ValueError, match="S1_CACHE_MB"):
        cache_bound(10)
