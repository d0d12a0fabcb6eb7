"""Artifact I/O on a local folder or any fsspec URL (s3://, gs://, memory://, ...): the one module the flows, the
dashboard and the workers use to read and write artifact files.

A location (`Loc`) is a `universal_pathlib.UPath`: for a local path it *is* a `pathlib.Path` (a `PosixUPath`), so
`dir / "pages.parquet"`, `.exists()`, `.mkdir()` and `open()` keep working; for a URL the same operators work over
the URL's fsspec filesystem (`loc.fs`, `loc.path`). S3 is configured by the standard AWS environment variables
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`), read by botocore.

Object stores have no rename and list lazily: every read of a listing here drops fsspec's listing cache first, so a
file another process (a Dask worker) just wrote is seen.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

Loc = UPath
_CHUNK = 1 << 20

__all__ = ["Loc", "loc", "is_remote", "write_parquet", "read_parquet", "parquet_file", "list_files", "write_json",
           "read_json", "open_file", "local_copy", "file_infos", "tree_sha256", "tree_bytes", "remove_tree",
           "copy_tree", "uri_of", "fresh", "tree_sha256_of", "link_or_copy", "read_dataset", "file_digests",
           "verify_digests"]


def loc(uri_or_path: str | os.PathLike | UPath) -> UPath:
    """A path-like location for a local path (a `pathlib.Path` subclass) or a URL (`s3://bucket/prefix`).

    `file://` URLs become plain local paths."""
    if isinstance(uri_or_path, UPath):
        return uri_or_path
    s = os.fspath(uri_or_path) if not isinstance(uri_or_path, str) else uri_or_path
    if s.startswith("file://"):
        s = s.removeprefix("file://")
    if "://" in s:
        return UPath(s)
    return UPath(Path(s).expanduser())


def is_remote(x: str | os.PathLike | UPath) -> bool:
    """True for a URL on a non-local filesystem (s3://, gs://, memory://, ...)."""
    p = loc(x)
    return not isinstance(p, Path)


def uri_of(x: str | os.PathLike | UPath) -> str:
    """The string to store in the manifest or hand a worker: a resolved local path or the full URL."""
    p = loc(x)
    return str(Path(p).resolve()) if not is_remote(p) else str(p).rstrip("/")


def fresh(x: str | os.PathLike | UPath) -> UPath:
    """`x` as a Loc with its filesystem's listing cache dropped (another process may have written under it)."""
    p = loc(x)
    if is_remote(p):
        try:
            p.fs.invalidate_cache(p.path)
        except Exception:  # filesystems without a listing cache
            pass
    return p


def open_file(location: str | os.PathLike | UPath, mode: str = "rb", **kwargs):
    """Open a file for reading or writing; writing creates the parent folders of a local path."""
    p = loc(location)
    if not is_remote(p) and any(c in mode for c in "wax"):
        p.parent.mkdir(parents=True, exist_ok=True)
    return p.open(mode, **kwargs)


def write_parquet(table: pa.Table, dest: str | os.PathLike | UPath, **pq_kwargs) -> UPath:
    """Write one parquet file (local or remote); returns its Loc."""
    p = loc(dest)
    if not is_remote(p):
        p.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, str(p), **pq_kwargs)
    else:
        with p.open("wb") as f:
            pq.write_table(table, f, **pq_kwargs)
    return p


def read_parquet(src: str | os.PathLike | UPath, columns: list[str] | None = None) -> pa.Table:
    """Read a parquet file, or every parquet file under a folder / prefix (a partitioned dataset), as one table."""
    p = fresh(src)
    if not is_remote(p):
        if p.is_dir():
            files = list_files(p)
            return pa.concat_tables([pq.read_table(str(f), columns=columns) for f in files]) if files else pa.table({})
        return pq.read_table(str(p), columns=columns)
    if p.is_dir():
        files = list_files(p)
        tables = [read_parquet(f, columns) for f in files]
        return pa.concat_tables(tables) if tables else pa.table({})
    with p.open("rb") as f:
        return pq.read_table(f, columns=columns)


def parquet_file(src: str | os.PathLike | UPath) -> pq.ParquetFile:
    """A `ParquetFile` for row-group / batch reads (`iter_batches`), local or remote (the file stays open)."""
    p = loc(src)
    if not is_remote(p):
        return pq.ParquetFile(str(p))
    return pq.ParquetFile(p.open("rb"))


def list_files(prefix: str | os.PathLike | UPath, suffix: str = ".parquet", startswith: str = "") -> list[UPath]:
    """Every file under `prefix` (recursive) whose name ends with `suffix` ("" for all) and starts with
    `startswith`, sorted by path."""
    p = fresh(prefix)

    def keep(name: str) -> bool:
        return name.endswith(suffix) and name.startswith(startswith)

    if not is_remote(p):
        if p.is_file():
            return [p] if keep(p.name) else []
        if not p.exists():
            return []
        return sorted((f for f in p.rglob("*") if f.is_file() and keep(f.name)), key=str)
    fs, root = p.fs, p.path.rstrip("/")
    if not fs.exists(root):
        return []
    found = fs.find(root, detail=False)
    out = [UPath(fs.unstrip_protocol(f), **p.storage_options) for f in found if keep(f.rsplit("/", 1)[-1])]
    return sorted(out, key=str)


def read_dataset(prefix: str | os.PathLike | UPath, startswith: str = "", columns: list[str] | None = None
                 ) -> pa.Table:
    """The parquet files under `prefix` whose names start with `startswith` (e.g. "pages-"), concatenated in name
    order: a partitioned artifact read whole (for tests and small artifacts; stream with `list_files` otherwise)."""
    files = list_files(prefix, ".parquet", startswith)
    if not files:
        raise FileNotFoundError(f"no {startswith}*.parquet under {prefix}")
    return pa.concat_tables([read_parquet(f, columns) for f in files])


def write_json(obj: Any, dest: str | os.PathLike | UPath, **json_kwargs) -> UPath:
    """Write `obj` as JSON (sorted keys by default)."""
    json_kwargs.setdefault("sort_keys", True)
    json_kwargs.setdefault("default", str)
    with open_file(dest, "w") as f:
        f.write(json.dumps(obj, **json_kwargs))
    return loc(dest)


def read_json(src: str | os.PathLike | UPath) -> Any:
    with open_file(src, "r") as f:
        return json.loads(f.read())


# -- trees: listing, hashing, copying -------------------------------------------------------------------------------

def file_infos(prefix: str | os.PathLike | UPath) -> dict[str, int]:
    """{relative path: size in bytes} of every file under `prefix` (a single file maps its own name)."""
    p = fresh(prefix)
    if not is_remote(p):
        if p.is_file():
            return {p.name: p.stat().st_size}
        return {f.relative_to(p).as_posix(): f.stat().st_size for f in p.rglob("*") if f.is_file()}
    fs, root = p.fs, p.path.rstrip("/")
    if fs.isfile(root):
        return {root.rsplit("/", 1)[-1]: int(fs.size(root))}
    if not fs.exists(root):
        return {}
    return {k[len(root) + 1:]: int(v.get("size") or 0) for k, v in fs.find(root, detail=True).items()
            if v.get("type", "file") == "file"}


def tree_bytes(prefix: str | os.PathLike | UPath) -> int:
    return sum(file_infos(prefix).values())


def _file_sha256(p: UPath) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _path_order(rel: str) -> list[str]:
    """Sort key of a relative path as `pathlib` orders paths (by parts: `a/b` before `a.txt`), so a tree hashes the
    same on a store as `storage.fingerprint.tree_sha256` hashes it on local disk."""
    return rel.split("/")


def tree_sha256_of(file_sha256s: dict[str, str]) -> str:
    """The tree hash of `tree_sha256` from {relative path: hex sha256 of its bytes}, for a writer that hashed its
    files while writing them (no read-back)."""
    h = hashlib.sha256()
    for rel in sorted(file_sha256s, key=_path_order):
        h.update(rel.encode())
        h.update(b"\x00")
        h.update(file_sha256s[rel].encode())
    return h.hexdigest()


def tree_sha256(prefix: str | os.PathLike | UPath) -> str:
    """sha256 over a file or a folder / prefix: relative paths and bytes of every file, sorted. Equal to
    `storage.fingerprint.tree_sha256` of the same tree on local disk, so a store and a local run compare."""
    p = fresh(prefix)
    if not is_remote(p):
        from storage.fingerprint import tree_sha256 as local_tree_sha256

        return local_tree_sha256(p)
    if p.fs.isfile(p.path):
        return _file_sha256(p)
    h = hashlib.sha256()
    for rel in sorted(file_infos(p), key=_path_order):
        h.update(rel.encode())
        h.update(b"\x00")
        h.update(_file_sha256(p / rel).encode())
    return h.hexdigest()


def file_digests(prefix: str | os.PathLike | UPath) -> dict[str, list]:
    """{relative path: [bytes, sha256]} of every file under `prefix`: what a commit records and a cache hit checks.
    `tree_sha256_of({rel: sha})` of it equals `tree_sha256(prefix)`."""
    p = fresh(prefix)
    if not is_remote(p):
        from storage.fingerprint import file_sha256

        p = Path(str(p))
        if p.is_file():
            return {p.name: [p.stat().st_size, file_sha256(p)]}
        return {f.relative_to(p).as_posix(): [f.stat().st_size, file_sha256(f)] for f in p.rglob("*") if f.is_file()}
    if p.fs.isfile(p.path):
        return {p.name: [int(p.fs.size(p.path)), _file_sha256(p)]}
    return {rel: [size, _file_sha256(p / rel)] for rel, size in file_infos(p).items()}


def verify_digests(prefix: str | os.PathLike | UPath, recorded: dict[str, list],
                   hash_budget_bytes: int | None = None) -> str | None:
    """None when the files under `prefix` are those recorded at commit, else what differs (one line).

    Every file's presence and size is checked (a listing); sha256 is re-computed for the files that fit in
    `hash_budget_bytes` (default $S1_VERIFY_HASH_BYTES, 256 MiB), smallest first, so a multi-GB artifact costs a
    listing plus a bounded read. A file recorded without a hash (a writer's upload that was not read back) is
    checked by size."""
    if hash_budget_bytes is None:
        hash_budget_bytes = int(os.environ.get("S1_VERIFY_HASH_BYTES", 256 << 20))
    found = file_infos(prefix)
    missing = sorted(set(recorded) - set(found))
    if missing:
        return f"{len(missing)} file(s) missing, e.g. {missing[0]}"
    extra = sorted(set(found) - set(recorded))
    if extra:
        return f"{len(extra)} file(s) not in the commit, e.g. {extra[0]}"
    for rel, (size, _) in sorted(recorded.items()):
        if found[rel] != size:
            return f"{rel} has {found[rel]} bytes, {size} at commit"
    budget = hash_budget_bytes
    base = fresh(prefix)
    single = Path(str(base)).is_file() if not is_remote(base) else base.fs.isfile(base.path)
    for rel, (size, sha) in sorted(recorded.items(), key=lambda kv: (kv[1][0], kv[0])):
        if sha is None or size > budget:
            continue
        budget -= size
        f = base if single else base / rel
        if _file_sha256(f) != sha:
            return f"{rel} has other bytes than at commit (sha256 differs)"
    return None


def remove_tree(prefix: str | os.PathLike | UPath) -> None:
    """Delete a folder / prefix and everything under it (missing is fine)."""
    p = fresh(prefix)
    if not is_remote(p):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
        return
    if p.fs.exists(p.path):
        p.fs.rm(p.path, recursive=True)
    fresh(p)


def copy_tree(src: str | os.PathLike | UPath, dest: str | os.PathLike | UPath) -> UPath:
    """Copy every file under `src` to the same relative path under `dest` (server-side where both are on one
    object store; streamed otherwise)."""
    s, d = loc(src), loc(dest)
    for rel in sorted(file_infos(s)):
        sf, df = s / rel, d / rel
        if is_remote(s) and is_remote(d) and s.protocol == d.protocol:
            s.fs.copy(sf.path, df.path)
            continue
        if not is_remote(d):
            df.parent.mkdir(parents=True, exist_ok=True)
        with sf.open("rb") as fi, df.open("wb") as fo:
            shutil.copyfileobj(fi, fo, _CHUNK)
    return d


def link_or_copy(src: str | os.PathLike | UPath, dst: str | os.PathLike | UPath) -> None:
    """Put an immutable artifact file at `dst` without rewriting it: a hard link on one local filesystem (a copy
    across filesystems), a server-side copy on one object store, a streamed copy between the two."""
    s, d = loc(src), loc(dst)
    if not is_remote(s) and not is_remote(d):
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
        return
    if is_remote(s) and is_remote(d) and s.protocol == d.protocol:
        s.fs.copy(s.path, d.path)
        return
    with open_file(s, "rb") as fi, open_file(d, "wb") as fo:
        shutil.copyfileobj(fi, fo, _CHUNK)


def _listing_key(p: UPath) -> str:
    """sha256 over the relative path, size and store checksum (S3 ETag, else mtime) of every file under `p`: the
    content key of a remote tree without downloading it."""
    fs, root = p.fs, p.path.rstrip("/")
    infos = {root: fs.info(root)} if fs.isfile(root) else fs.find(root, detail=True)
    h = hashlib.sha256(str(p).encode())
    for k in sorted(infos):
        v = infos[k]
        if v.get("type", "file") != "file":
            continue
        tag = v.get("ETag") or v.get("etag") or v.get("md5") or v.get("LastModified") or v.get("mtime") or ""
        h.update(f"\x00{k[len(root):]}\x00{v.get('size')}\x00{tag}".encode())
    return h.hexdigest()


def default_cache_dir() -> Path:
    import tempfile

    if os.environ.get("S1_CACHE"):
        return Path(os.environ["S1_CACHE"])
    if os.environ.get("S1_HOME"):
        return Path(os.environ["S1_HOME"]) / "cache" / "store"
    return Path(tempfile.gettempdir()) / f"s1-store-cache-{os.getuid()}"


def local_copy(location: str | os.PathLike | UPath, cache_dir: str | os.PathLike | None = None) -> Path:
    """A local folder (or file) with the content of `location`, for libraries that need a real path (tokenizers,
    transformers). Local locations are returned as they are; remote ones are downloaded once into
    `<cache_dir>/<content key>/` and reused while the content is the same. Default cache: `$S1_CACHE`, else
    `$S1_HOME/cache/store` when S1_HOME is set (the flow process), else `<tmp>/s1-store-cache-<uid>` (a worker)."""
    p = loc(location)
    if not is_remote(p):
        return Path(p)
    if cache_dir is None:
        cache_dir = default_cache_dir()
    cache = Path(cache_dir)
    is_file = p.fs.isfile(p.path)
    key = _listing_key(fresh(p))
    target = cache / key
    final = target / p.name if is_file else target
    if (target / ".complete").exists():
        return final
    tmp = cache / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if is_file:
        with p.open("rb") as fi, open(tmp / p.name, "wb") as fo:
            shutil.copyfileobj(fi, fo, _CHUNK)
    else:
        copy_tree(p, tmp)
    (tmp / ".complete").write_text(str(p))
    try:
        os.replace(tmp, target)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def join(base: str | os.PathLike | UPath, *parts: str) -> UPath:
    """`base / part / ...` as a Loc."""
    p = loc(base)
    for part in parts:
        p = p / part
    return p


def iter_files(prefixes: Iterable[str | os.PathLike | UPath], suffix: str = ".parquet") -> list[UPath]:
    """`list_files` over several prefixes, in the order given."""
    return [f for pre in prefixes for f in list_files(pre, suffix)]
