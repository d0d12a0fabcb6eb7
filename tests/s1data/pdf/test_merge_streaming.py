"""The streaming PDF merge: the same tables as the one-frame merge, part files of bounded size, on disk and on S3."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s1data.pdf.merge import merge_partitions, merge_partitions_streaming
from s1data.pdf.parse import FIGURE_SCHEMA, PAGE_SCHEMA, dedup_key, page_doc_id
from storage import loc, read_dataset, write_parquet

TEXTS = {  # source -> page texts; "boiler" repeats across sources, "" is an empty page
    "a" * 64: ["Intro to catalysis " * 20, "Copyright boilerplate of the publisher " * 10, ""],
    "b" * 64: ["Copyright boilerplate of the publisher " * 10, "Results on zeolites " * 20],
    "c" * 64: ["Results on zeolites " * 20, "Copyright boilerplate of the publisher " * 10, "Methods " * 40],
}


def _partitions(base) -> list[str]:
    out = []
    for sha, texts in sorted(TEXTS.items()):
        rows = [{"doc_id": page_doc_id(sha, i + 1), "source_uri": f"/in/{sha[0]}.pdf", "source_sha256": sha,
                 "source_kind": "pdf", "page_no": i + 1, "text": t, "parser_route": "cheap" if i % 2 else "local",
                 "n_figures": 1 if i == 0 else 0, "dedup_key": dedup_key(t, 50)} for i, t in enumerate(texts)]
        figs = [{"figure_id": f"{sha[:4]}-1", "page_doc_id": rows[0]["doc_id"], "source_sha256": sha, "page_no": 1,
                 "file": "figures/p00001_00.png", "width": 10, "height": 10}]
        part = loc(base) / sha[:8]
        write_parquet(pa.Table.from_pylist(rows, schema=PAGE_SCHEMA), part / "pages.parquet")
        write_parquet(pa.Table.from_pylist(figs, schema=FIGURE_SCHEMA), part / "figures.parquet")
        out.append(str(part))
    return out


@pytest.fixture(params=["local", "s3"])
def base(request, tmp_path):
    return str(tmp_path / "parts") if request.param == "local" else request.getfixturevalue("s3_artifacts")


def test_streaming_merge_writes_the_one_frame_merge_in_part_files_with_global_page_dedup(base, tmp_path):
    parts = _partitions(base)
    want = merge_partitions(parts, tmp_path / "p1", tmp_path / "d1")
    out_pages, out_docs = loc(base) / "pdf_pages", loc(base) / "documents"
    got = merge_partitions_streaming(parts, out_pages, out_docs, rows_per_file=3, batch_pages=2)
    assert got == want
    assert (got["duplicate_pages"], got["excluded_pages"], got["documents"]) == (3, 4, 3)
    for prefix, folder, single in (("pages-", out_pages, tmp_path / "p1" / "pages.parquet"),
                                   ("exclusions-", out_pages, tmp_path / "p1" / "exclusions.parquet"),
                                   ("figures-", out_pages, tmp_path / "p1" / "figures.parquet"),
                                   ("documents-", out_docs, tmp_path / "d1" / "documents.parquet")):
        assert read_dataset(folder, prefix).equals(pq.read_table(single)), prefix
    pages = read_dataset(out_pages, "pages-").to_pylist()
    dups = {p["doc_id"]: p["duplicate_of"] for p in pages if p["duplicate_of"]}
    first_boiler = page_doc_id("a" * 64, 2)  # the first occurrence in (source_sha256, page_no) order is kept
    assert set(dups.values()) == {first_boiler, page_doc_id("b" * 64, 2)}
    assert len(read_dataset(out_pages, "pages-")) == 8 and len(
        [f for f in __import__("storage").list_files(out_pages, startswith="pages-")]) == 3  # 3 + 2 + 3 rows
    # a batch holds whole partitions: every source's pages in one batch, so its document is whole


def test_an_empty_merge_is_one_empty_file_per_table_with_the_schema(tmp_path):
    got = merge_partitions_streaming([], tmp_path / "p", tmp_path / "d")
    assert got["pages"] == 0 and got["documents"] == 0
    assert read_dataset(tmp_path / "p", "pages-").num_rows == 0
    assert "duplicate_of" in read_dataset(tmp_path / "p", "pages-").column_names
