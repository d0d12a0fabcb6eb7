"""Partitioned parquet datasets on any fsspec filesystem: list, plan, read a row range, write, remove.

A dataset is a folder (local path or URL) of parquet files, or one file. A partition is `{"index", "path", "start", "stop", "source"}`: rows [start, stop) of the parquet file at
`path` (a local path or an fsspec URL such as `s3://bucket/key.parquet`), from the input `source` (curation:
`documents` or `web_pages`). A task reads only the row groups that overlap its range, so memory is bounded by the
partition, never by the dataset. Workers open the files themselves: nothing is shipped through the driver.
"""

from __future__ import annotations

import os
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq


def filesystem(path: str):
    """(fsspec filesystem, path inside it) for a local path or a URL (S3 is configured by the AWS variables)."""
    import fsspec

    return fsspec.core.url_to_fs(str(path))


def join(base: str, *names: str) -> str:
    """`base/name`, for local paths and URLs alike."""
    return posixpath.join(str(base), *names) if "://" in str(base) else os.path.join(str(base), *names)


def list_parquet(folder: str, prefixes: tuple[str, ...] = ()) -> list[str]:
    """Sorted parquet files under `folder` (recursive) whose file name starts with one of `prefixes` (any if
    empty), as paths or URLs in the folder's own form."""
    fs, root = filesystem(folder)
    if not fs.exists(root):
        return []
    found = [p for p in fs.find(root) if p.endswith(".parquet")
             and (not prefixes or posixpath.basename(p).startswith(prefixes))]
    proto = str(folder).split("://", 1)[0] + "://" if "://" in str(folder) else ""
    return sorted(proto + p if proto and not p.startswith(proto) else p for p in found)


def num_rows(path: str) -> int:
    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return pq.ParquetFile(f).metadata.num_rows


def dataset_files(path: str) -> list[str]:
    """The parquet files of a dataset: the file itself, or every `*.parquet` under the folder (sorted)."""
    fs, p = filesystem(path)
    return [str(path)] if fs.isfile(p) else list_parquet(path)


def plan(files: dict[str, list[str]], partition_docs: int) -> list[dict]:
    """Partitions of at most `partition_docs` rows over {source: [files]}, numbered in (source, file, row) order."""
    parts = []
    for source in sorted(files):
        for path in files[source]:
            n = num_rows(path)
            for start in range(0, n, partition_docs):
                parts.append({"index": len(parts), "path": path, "start": start,
                              "stop": min(n, start + partition_docs), "source": source})
    return parts


def read(part: dict, columns: list[str] | None = None) -> pa.Table:
    """Rows [start, stop) of the partition's file; only the row groups overlapping the range are read."""
    fs, p = filesystem(part["path"])
    with fs.open(p, "rb") as fh:
        f = pq.ParquetFile(fh)
        have = f.schema_arrow.names
        cols = [c for c in columns if c in have] if columns else None
        groups, first, row = [], None, 0
        start, stop = part["start"], part["stop"]
        for g in range(f.metadata.num_row_groups):
            n = f.metadata.row_group(g).num_rows
            if row < stop and row + n > start:
                groups.append(g)
                first = row if first is None else first
            row += n
        table = f.read_row_groups(groups, columns=cols) if groups else f.schema_arrow.empty_table()
    if cols is not None and not groups:
        table = table.select(cols)
    return table.slice(start - (first or 0), stop - start)


def write(table: pa.Table, path: str, **kwargs) -> str:
    """Write one parquet file (zstd) to a local path or URL, creating its folder; returns the path."""
    fs, p = filesystem(path)
    fs.makedirs(posixpath.dirname(p) if "://" in str(path) else os.path.dirname(p), exist_ok=True)
    with fs.open(p, "wb") as f:
        pq.write_table(table, f, compression="zstd", **kwargs)
    return path


def remove(folder: str) -> None:
    """Delete a scratch folder (local or on a store); missing is fine."""
    fs, p = filesystem(folder)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def file_sha256(path: str, chunk: int = 8 << 20) -> str:
    """sha256 of a file's bytes (local path or URL): the content key of the partitions read from it."""
    import hashlib

    fs, p = filesystem(path)
    h = hashlib.sha256()
    with fs.open(p, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def attempt_folder(target: str) -> str:
    """Where a worker writes one committed partition: on an object store a fresh unique prefix under `target`
    (no rename there: the commit verifies it); locally `target` itself (a fresh staging folder, renamed on commit)."""
    if "://" in str(target) and not str(target).startswith("file://"):
        import uuid

        return join(target, uuid.uuid4().hex)
    os.makedirs(target, exist_ok=True)
    return str(target)


def write_folder(folder: str, tables: dict[str, pa.Table], **kwargs) -> dict:
    """Write {file name: table} as zstd parquet under `folder`; returns what a commit verifies without reading the
    files back: {"out_dir", "files": {name: bytes}, "content_sha256"} (the tree hash of `storage.io`)."""
    import hashlib

    from storage.io import tree_sha256_of

    fs, root = filesystem(folder)
    if "://" not in str(folder):
        fs.makedirs(root, exist_ok=True)
    sizes, shas = {}, {}
    for name, table in tables.items():
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf, compression="zstd", **kwargs)
        body = buf.getvalue().to_pybytes()
        with fs.open(join(root, name) if "://" not in str(folder) else posixpath.join(root, name), "wb") as f:
            f.write(body)
        sizes[name], shas[name] = len(body), hashlib.sha256(body).hexdigest()
    return {"out_dir": str(folder), "files": sizes, "content_sha256": tree_sha256_of(shas)}


def link_or_copy(src: str, dst: str) -> None:
    """Put an immutable file at `dst` without rewriting it (hard link locally, server-side copy on one store)."""
    from storage.io import link_or_copy as _link

    _link(src, dst)


def read_file(path: str, columns: list[str] | None = None) -> pa.Table:
    """One whole parquet file (local path or URL): for small files (samples, assignments)."""
    fs, p = filesystem(path)
    with fs.open(p, "rb") as f:
        return pq.read_table(f, columns=columns)
