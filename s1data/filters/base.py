"""Filter base class: the loop, the counters and the exclusion rows; subclasses decide keep or drop, and why."""

from __future__ import annotations

import hashlib
from collections import Counter
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute.invert)

from s1data.cache import CACHE_MB_DEFAULT, cache_bound  # noqa: F401  (re-exported: the caches of curation)

MEMO_MAX_ROWS = cache_bound(200_000)  # verdicts kept per filter configuration and process (~100 bytes each)
MEMO_MAX_CHARS = cache_bound(64 << 20)  # characters of rewritten text (C4 line removal) per filter configuration
_MEMO: dict[tuple, dict] = {}
_MEMO_CHARS: dict[tuple, int] = {}
_SAME = object()  # memo: the filter set `_text` to the text itself (kept whole): not stored twice
_MODE = {"record": True, "consume": False}


@contextmanager
def memo_scope(record: bool = True, consume: bool = False):
    """How `BaseFilter.run` uses the per-process verdict memo inside this block: `record` new verdicts (pass 1, the
    domain sample, whose pages come back in pass 2) or not (pass 2: its verdicts are never asked again); `consume`
    a verdict when it answers (pass 2 asks each sampled page once), so the memo holds only pages still to come.
    Outside any scope: record, keep (a page seen twice in one process is answered twice)."""
    saved = dict(_MODE)
    _MODE.update(record=record, consume=consume)
    try:
        yield
    finally:
        _MODE.update(saved)


class BaseFilter:
    """`filter(text, row) -> True | (False, reason)`; `run(table) -> (kept, excluded)`.

    A filter may set `row["_text"]` to rewrite the kept text (C4 line removal) or fill the columns named in `adds_columns`.
    excluded rows carry the input columns plus `filter` (the block's name) and `reason` (snake_case, prefixed by the
    block, e.g. `gopher_short_doc`).
    """

    name = "base"
    adds_columns: tuple[str, ...] = ()
    # The row fields besides the text that `filter` reads. A filter that sets it (to a tuple, maybe empty) declares
    # its verdict a function of its parameters, the text and those fields alone, so `run` answers a text it has
    # seen in this process (the domain sample's pages come back in the partition's filter pass) from a bounded
    # per-process memo: the same verdict, reason, rewritten text and added columns, without the rules.
    memo_row_fields: tuple[str, ...] | None = None

    def __init__(self):
        self.stats: Counter = Counter()

    def filter(self, text: str, row: dict) -> bool | tuple[bool, str]:
        raise NotImplementedError

    def _memo(self) -> dict | None:
        if self.memo_row_fields is None:
            return None
        sig = (type(self).__module__, type(self).__qualname__,
               repr(sorted((k, v) for k, v in vars(self).items() if k not in ("stats", "_sig"))))
        memo = _MEMO.get(sig)
        if memo is None or _MEMO_CHARS[sig] > MEMO_MAX_CHARS or len(memo) > MEMO_MAX_ROWS:
            memo = _MEMO[sig] = {}
            _MEMO_CHARS[sig] = 0
        self._sig = sig
        return memo

    def run(self, table: pa.Table) -> tuple[pa.Table, pa.Table]:
        keep_mask = []
        reasons = []
        rows = table.to_pylist()
        memo = self._memo()
        fields = self.memo_row_fields or ()
        record, consume = _MODE["record"], _MODE["consume"]
        for row in rows:
            row.pop("_text", None)
            text = row.get("text") or ""
            if memo is not None:
                key = (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(),
                       *(row.get(f) for f in fields))
                hit = memo.pop(key, None) if consume else memo.get(key)
                if hit is None:
                    out = self.filter(text, row)
                    if record:
                        new_text = row.get("_text")
                        if new_text is not None and new_text == text:
                            new_text = _SAME
                        memo[key] = (out, new_text, tuple(row.get(k) for k in self.adds_columns))
                        _MEMO_CHARS[self._sig] += len(new_text) if isinstance(new_text, str) else 0
                else:
                    out, new_text, added = hit
                    if new_text is not None:
                        row["_text"] = text if new_text is _SAME else new_text
                    for k, v in zip(self.adds_columns, added):
                        row[k] = v
            else:
                out = self.filter(text, row)
            ok, reason = (out, None) if isinstance(out, bool) else out
            keep_mask.append(ok)
            if ok:
                self.stats["kept"] += 1
            else:
                self.stats[reason] += 1
                reasons.append(reason)
        mask = pa.array(keep_mask, type=pa.bool_())
        for k in self.adds_columns:  # columns a filter fills in (e.g. `lang`) travel with the rows
            col = pa.array([r.get(k) for r in rows])
            if k in table.column_names:
                table = table.set_column(table.column_names.index(k), k, col.cast(table.schema.field(k).type))
            else:
                table = table.append_column(k, col)
        if rows and "text" in table.column_names and any("_text" in r for r in rows):
            idx = table.column_names.index("text")
            table = table.set_column(idx, "text", pa.array([r.get("_text", r.get("text")) for r in rows], pa.string()))
        kept = table.filter(mask)
        dropped = table.filter(pa.compute.invert(mask))
        excluded = dropped.append_column("filter", pa.array([self.name] * dropped.num_rows, pa.string()))
        excluded = excluded.append_column("reason", pa.array(reasons, pa.string()))
        return kept, excluded

