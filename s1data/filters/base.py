"""Filter base class: the loop, the counters and the exclusion rows; subclasses decide keep or drop, and why."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute.invert)


class BaseFilter:
    """`filter(text, row) -> True | (False, reason)`; `run(table) -> (kept, excluded)`.

    A filter may set `row["_text"]` to rewrite the kept text (C4 line removal) or fill the columns named in `adds_columns`.
    excluded rows carry the input columns plus `filter` (the block's name) and `reason` (snake_case, prefixed by the
    block, e.g. `gopher_short_doc`).
    """

    name = "base"
    adds_columns: tuple[str, ...] = ()

    def __init__(self):
        self.stats: Counter = Counter()

    def filter(self, text: str, row: dict) -> bool | tuple[bool, str]:
        raise NotImplementedError

    def run(self, table: pa.Table) -> tuple[pa.Table, pa.Table]:
        keep_mask = []
        reasons = []
        rows = table.to_pylist()
        for row in rows:
            row.pop("_text", None)
            out = self.filter(row.get("text") or "", row)
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

