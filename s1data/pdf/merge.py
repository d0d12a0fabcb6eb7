"""Merge committed partitions into the stage outputs, with global page dedup.

- pages.parquet: every page of every partition, ordered by (source_sha256, page_no), with `duplicate_of` (the
  doc_id of the first page with the same normalised text, or null). Order is independent of completion order, so a
  killed-and-rerun stage writes the same table as an uninterrupted one.
- documents.parquet: one row per source PDF, its non-duplicate, non-empty pages joined.
- exclusions.parquet: pages left out of documents, with the reason (`pdf_page_duplicate`, `pdf_page_empty`).
- figures.parquet: every extracted figure with the path of its image file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from s1data.pdf.parse import FIGURE_SCHEMA, PAGE_SCHEMA


def _is_url(p) -> bool:
    return "://" in str(p) and not str(p).startswith("file://")


def _read(partition, name: str) -> pl.DataFrame:
    """One table of a committed partition: a local folder or a prefix on an object store (s3://...)."""
    if _is_url(partition):
        from storage.io import loc, read_parquet

        return pl.from_arrow(read_parquet(loc(partition) / name))
    return pl.read_parquet(Path(partition) / name)


def _base(partition) -> str:
    """The prefix figure files are named under: the partition's resolved folder or its URL."""
    return str(partition).rstrip("/") + "/" if _is_url(partition) else str(Path(partition).resolve()) + "/"


def merge_partitions(partitions: list, out_pages: Path, out_documents: Path) -> dict:
    """partitions: committed partition folders or object-store prefixes (str / Path / UPath). Writes the four tables
    into the local folders `out_pages` / `out_documents`; returns counts."""
    pages = [_read(p, "pages.parquet") for p in partitions]
    pages_df = pl.concat(pages) if pages else pl.from_arrow(PAGE_SCHEMA.empty_table())
    pages_df = pages_df.sort(["source_sha256", "page_no"])
    first = (pages_df.filter(pl.col("dedup_key").is_not_null())
             .group_by("dedup_key", maintain_order=True).agg(pl.col("doc_id").first().alias("first_doc_id")))
    pages_df = pages_df.join(first, on="dedup_key", how="left", nulls_equal=False).with_columns(
        pl.when(pl.col("first_doc_id") != pl.col("doc_id")).then(pl.col("first_doc_id")).otherwise(None)
        .alias("duplicate_of")).drop("first_doc_id")
    pages_df = pages_df.sort(["source_sha256", "page_no"])

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
            lambda rs: ",".join(f"{r['parser_route']}:{r['count']}" for r in rs), return_dtype=pl.String))
        .select("doc_id", "source_uri", "source_sha256", "source_kind", "text", "n_pages", "routes", "n_figures"))

    figs = []
    for p in partitions:
        f = _read(p, "figures.parquet")
        figs.append(f.with_columns((pl.lit(_base(p)) + pl.col("file")).alias("file")))
    figs_df = pl.concat(figs) if figs else pl.from_arrow(FIGURE_SCHEMA.empty_table())

    out_pages.mkdir(parents=True, exist_ok=True)
    out_documents.mkdir(parents=True, exist_ok=True)
    _write(pages_df, out_pages / "pages.parquet")
    _write(excl, out_pages / "exclusions.parquet")
    _write(figs_df.sort(["source_sha256", "page_no", "figure_id"]), out_pages / "figures.parquet")
    _write(docs.sort("source_sha256"), out_documents / "documents.parquet")
    routes = pages_df["parser_route"].value_counts().to_dicts()
    return {"pages": pages_df.height, "documents": docs.height, "excluded_pages": excl.height,
            "duplicate_pages": int(pages_df["duplicate_of"].is_not_null().sum()), "figures": figs_df.height,
            "routes": {r["parser_route"]: r["count"] for r in routes}}


def _write(df: pl.DataFrame, path: Path) -> None:
    table: pa.Table = df.to_arrow()
    pq.write_table(table, path, compression="zstd")
