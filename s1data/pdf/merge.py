"""Merge committed partitions into the stage outputs, with global page dedup.

- pages.parquet: every page of every partition, ordered by (source_sha256, page_no), with `duplicate_of` (the
  doc_id of the first page with the same normalised text, or null). Order is independent of completion order, so a
  killed-and-rerun stage writes the same table as an uninterrupted one.
- documents.parquet: one row per source PDF, its non-duplicate, non-empty pages joined.
- exclusions.parquet: pages left out of documents, with the reason (`pdf_page_duplicate`, `pdf_page_empty`).
- figures.parquet: every extracted figure with the path of its image file (relative to the artifacts root when the
  flow passes `figures_root`: no absolute path in any merged table, so identical runs write identical bytes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from s1data.pdf.parse import FIGURE_SCHEMA, PAGE_SCHEMA

if TYPE_CHECKING:
    import polars as pl


def _routes_text(rs) -> str:
    """`local:3,cheap:1` by route name (value_counts' order is not deterministic)."""
    return ",".join(f"{r['parser_route']}:{r['count']}" for r in sorted(rs, key=lambda r: r["parser_route"]))


def _is_url(p) -> bool:
    return "://" in str(p) and not str(p).startswith("file://")


def _read(partition, name: str) -> pl.DataFrame:
    """One table of a committed partition: a local folder or a prefix on an object store (s3://...)."""
    import polars as pl  # here, not at import: Dask workers import s1data.pdf (parse_batch) and never merge

    if _is_url(partition):
        from storage.io import loc, read_parquet

        return pl.from_arrow(read_parquet(loc(partition) / name))
    return pl.read_parquet(Path(partition) / name)


def _base(partition, figures_root=None) -> str:
    """The prefix figure files are named under: the partition's resolved folder or its URL, or, with
    `figures_root` (the artifacts root), its path relative to that root, so that the merged tables hold no absolute
    path and two runs in two homes write the same bytes."""
    base = str(partition).rstrip("/") if _is_url(partition) else str(Path(partition).resolve())
    if figures_root is not None:
        root = str(figures_root).rstrip("/") if _is_url(figures_root) else str(Path(figures_root).resolve())
        if base.startswith(root + "/"):
            base = base[len(root) + 1:]
    return base + "/"


def merge_partitions(partitions: list, out_pages: Path, out_documents: Path, figures_root=None) -> dict:
    """partitions: committed partition folders or object-store prefixes (str / Path / UPath). Writes the four tables
    into the local folders `out_pages` / `out_documents`; returns counts."""
    import polars as pl  # here, not at import: Dask workers import s1data.pdf (parse_batch) and never merge

    pages = [_read(p, "pages.parquet") for p in partitions]
    pages_df = pl.concat(pages) if pages else pl.from_arrow(PAGE_SCHEMA.empty_table())
    pages_df = pages_df.sort(["source_sha256", "page_no"])
    firsts = (pages_df.filter(pl.col("dedup_key").is_not_null())
              .group_by("dedup_key", maintain_order=True).agg(pl.col("doc_id").first()))
    first = dict(zip(firsts["dedup_key"].to_list(), firsts["doc_id"].to_list()))
    figs = []
    for p in partitions:
        f = _read(p, "figures.parquet")
        figs.append(f.with_columns((pl.lit(_base(p, figures_root)) + pl.col("file")).alias("file")))
    figs_df = pl.concat(figs) if figs else pl.from_arrow(FIGURE_SCHEMA.empty_table())
    pages_df, excl, figs_df, docs = _merge_one(pages_df, figs_df, first)

    out_pages.mkdir(parents=True, exist_ok=True)
    out_documents.mkdir(parents=True, exist_ok=True)
    _write(pages_df, out_pages / "pages.parquet")
    _write(excl, out_pages / "exclusions.parquet")
    _write(figs_df, out_pages / "figures.parquet")
    _write(docs, out_documents / "documents.parquet")
    routes = pages_df["parser_route"].value_counts().to_dicts()
    return {"pages": pages_df.height, "documents": docs.height, "excluded_pages": excl.height,
            "duplicate_pages": int(pages_df["duplicate_of"].is_not_null().sum()), "figures": figs_df.height,
            "routes": {r["parser_route"]: r["count"] for r in routes}}


def _write(df: pl.DataFrame, path: Path) -> None:
    table: pa.Table = df.to_arrow()
    pq.write_table(table, path, compression="zstd")


# -- streaming merge ------------------------------------------------------------------------------------------------
# The same four tables without holding more than one partition: pass 1 reads only (doc_id, page_no, dedup_key) of
# every partition, in (source_sha256, page_no) order, and keeps the first doc_id of each dedup key (the dedup key is
# already a fixed-size hash of the normalised text); pass 2 reads one partition at a time, marks its duplicates from
# that map, and appends its pages / exclusions / figures / document to part files of at most `rows_per_file` rows.
# Part files: `pages-<k>.parquet`, `exclusions-<k>.parquet`, `figures-<k>.parquet` under out_pages and
# `documents-<k>.parquet` under out_documents (local folders or object-store prefixes); concatenated in name order
# they equal merge_partitions' single files.

MERGED_PREFIXES = {"pages": "pages", "exclusions": "exclusions", "figures": "figures", "documents": "documents"}


class _PartWriter:
    """Appends tables to `<folder>/<prefix>-<k:05d>.parquet`, a new file every `rows_per_file` rows."""

    def __init__(self, folder, prefix: str, rows_per_file: int):
        self.folder, self.prefix, self.rows_per_file = folder, prefix, rows_per_file
        self.k, self.rows, self.writer, self.fh, self.schema = 0, 0, None, None, None

    def _path(self):
        name = f"{self.prefix}-{self.k:05d}.parquet"
        if _is_url(self.folder):
            from storage.io import loc

            return loc(self.folder) / name
        return Path(self.folder) / name

    def write(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
        table = table.cast(self.schema)
        if self.writer is not None and self.rows and self.rows + table.num_rows > self.rows_per_file:
            self.close()
            self.k += 1
        if self.writer is None:
            path = self._path()
            if _is_url(self.folder):
                from storage.io import open_file

                self.fh = open_file(path, "wb")
                self.writer = pq.ParquetWriter(self.fh, self.schema, compression="zstd")
            else:
                Path(self.folder).mkdir(parents=True, exist_ok=True)
                self.writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
            self.rows = 0
        if table.num_rows:
            self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self, empty: pa.Table | None = None) -> None:
        if self.writer is None and empty is not None and self.k == 0:
            self.write(empty)  # an empty dataset is one empty file with the schema
        if self.writer is not None:
            self.writer.close()
            if self.fh is not None:
                self.fh.close()
            self.writer = self.fh = None


def _merge_one(pages_df: pl.DataFrame, figs: pl.DataFrame, first: dict[str, str]):
    """A batch of whole partitions' (pages, exclusions, figures, documents) given the global first doc_id of each
    dedup key; figure `file`s already carry their partition's prefix."""
    import polars as pl  # here, not at import: Dask workers import s1data.pdf (parse_batch) and never merge

    pages_df = pages_df.sort(["source_sha256", "page_no"])
    keys = [k for k in pages_df["dedup_key"].unique().to_list() if k is not None]
    first_df = pl.DataFrame({"dedup_key": keys, "first_doc_id": [first[k] for k in keys]},
                            schema={"dedup_key": pages_df.schema["dedup_key"], "first_doc_id": pl.String})
    pages_df = pages_df.join(first_df, on="dedup_key", how="left", nulls_equal=False).with_columns(
        pl.when(pl.col("first_doc_id") != pl.col("doc_id")).then(pl.col("first_doc_id")).otherwise(None)
        .alias("duplicate_of")).drop("first_doc_id").sort(["source_sha256", "page_no"])
    empty = pages_df["text"].str.strip_chars().str.len_chars() == 0
    excl = pages_df.with_columns(
        pl.when(pl.col("duplicate_of").is_not_null()).then(pl.lit("pdf_page_duplicate"))
        .when(empty).then(pl.lit("pdf_page_empty")).otherwise(None).alias("reason"),
        pl.when(pl.col("duplicate_of").is_not_null()).then(pl.format("same text as {}", pl.col("duplicate_of")))
        .otherwise(pl.lit("no text after parsing")).alias("detail"),
    ).filter(pl.col("reason").is_not_null()).select(
        "doc_id", "source_uri", "source_sha256", "page_no", "reason", "detail")
    kept = pages_df.join(excl.select("doc_id"), on="doc_id", how="anti")
    docs = (kept.group_by("source_sha256", maintain_order=True).agg(
        pl.col("source_uri").first(), pl.col("source_kind").first(),
        pl.col("text").str.join("\n\n"), pl.len().alias("n_pages"),
        pl.col("parser_route").value_counts().alias("routes"), pl.col("n_figures").sum().alias("n_figures"))
        .with_columns(pl.col("source_sha256").map_elements(
            lambda s: hashlib.sha256(f"pdf:{s}".encode()).hexdigest()[:24], return_dtype=pl.String).alias("doc_id"))
        .with_columns(pl.col("routes").map_elements(
            _routes_text, return_dtype=pl.String))
        .select("doc_id", "source_uri", "source_sha256", "source_kind", "text", "n_pages", "routes", "n_figures")
        .sort("source_sha256"))
    figs = figs.sort(["source_sha256", "page_no", "figure_id"])
    return pages_df, excl, figs, docs


def merge_partitions_streaming(partitions: list, out_pages, out_documents, rows_per_file: int = 1_000_000,
                               batch_pages: int = 20_000, figures_root=None) -> dict:
    """merge_partitions with memory bounded by `batch_pages` pages (whole partitions are batched until they reach
    it; one partition larger than that is its own batch) plus one (dedup key, doc_id) pair per distinct page text.
    `partitions` are committed partition folders or object-store prefixes, **in source_sha256 order** (one source
    file each, as the PDF stage commits them); out_pages / out_documents are local folders or prefixes. Each batch
    is one row group of the part files. Returns the same counts as merge_partitions."""
    import polars as pl  # here, not at import: Dask workers import s1data.pdf (parse_batch) and never merge

    first: dict[str, str] = {}  # dedup key (a hash of the normalised text) -> doc_id of its first page
    for p in partitions:
        keys = _read(p, "pages.parquet").select("doc_id", "source_sha256", "page_no", "dedup_key").sort(
            ["source_sha256", "page_no"])
        for doc_id, key in zip(keys["doc_id"].to_list(), keys["dedup_key"].to_list()):
            if key is not None:
                first.setdefault(key, doc_id)
    writers = {name: _PartWriter(out_documents if name == "documents" else out_pages, prefix, rows_per_file)
               for name, prefix in MERGED_PREFIXES.items()}
    counts = {"pages": 0, "documents": 0, "excluded_pages": 0, "duplicate_pages": 0, "figures": 0}
    routes: dict[str, int] = {}
    empty = _merge_one(pl.from_arrow(PAGE_SCHEMA.empty_table()), pl.from_arrow(FIGURE_SCHEMA.empty_table()), {})

    def flush(pages: list[pl.DataFrame], figs: list[pl.DataFrame]) -> None:
        pages_df, excl, figs_df, docs = _merge_one(pl.concat(pages, how="vertical_relaxed"),
                                                   pl.concat(figs, how="vertical_relaxed"), first)
        for name, df in zip(("pages", "exclusions", "figures", "documents"), (pages_df, excl, figs_df, docs)):
            writers[name].write(df.to_arrow())
        counts["pages"] += pages_df.height
        counts["documents"] += docs.height
        counts["excluded_pages"] += excl.height
        counts["duplicate_pages"] += int(pages_df["duplicate_of"].is_not_null().sum())
        counts["figures"] += figs_df.height
        for r in pages_df["parser_route"].value_counts().to_dicts():
            routes[r["parser_route"]] = routes.get(r["parser_route"], 0) + r["count"]

    batch_p: list[pl.DataFrame] = []
    batch_f: list[pl.DataFrame] = []
    rows = 0
    for p in partitions:
        pages = _read(p, "pages.parquet")
        if batch_p and rows + pages.height > batch_pages:
            flush(batch_p, batch_f)
            batch_p, batch_f, rows = [], [], 0
        batch_p.append(pages)
        batch_f.append(_read(p, "figures.parquet").with_columns(
            (pl.lit(_base(p, figures_root)) + pl.col("file")).alias("file")))
        rows += pages.height
    if batch_p:
        flush(batch_p, batch_f)
    for (name, w), e in zip(writers.items(), empty):
        w.close(e.to_arrow())
    return {**counts, "routes": routes}
