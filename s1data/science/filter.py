"""ScienceFilter: keep documents whose `science_score` >= threshold; drop reason `science_low_score`."""

from __future__ import annotations

import pyarrow as pa

from s1data.filters.base import BaseFilter
from s1data.science.classifier import ScienceClassifier
from s1data.science.label import ScienceConfig, label_science


class ScienceFilter(BaseFilter):
    """Scores a table in batches with `model` (unless it already has `science_score`), then keeps or drops per row.

    Kept and excluded rows carry `domain`, `subdomain`, `science_score`; `threshold=None` keeps every document.
    """

    name = "science"

    def __init__(self, model: ScienceClassifier | None, threshold: float | None = 0.5, batch_size: int = 256):
        super().__init__()
        self.model, self.threshold, self.batch_size = model, threshold, batch_size

    def run(self, table: pa.Table) -> tuple[pa.Table, pa.Table]:
        if "science_score" not in table.column_names:
            if self.model is None:
                raise ValueError("ScienceFilter needs a model, or a table that already has a science_score column")
            cfg = ScienceConfig(threshold=self.threshold if self.threshold is not None else 0.0,
                                batch_size=self.batch_size)
            table = label_science(table, self.model, cfg)
        return super().run(table)

    def filter(self, text, row):
        if self.threshold is not None and (row.get("science_score") or 0.0) < self.threshold:
            return False, "science_low_score"
        return True
