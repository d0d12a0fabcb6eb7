"""Fingerprints: the cache key of every stage, partition and source file.

fingerprint = sha256(stage name, stage code version, canonical JSON of parameters, sorted input fingerprints).
Source files are fingerprinted by the sha256 of their bytes, never by path or mtime.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

_CHUNK = 1 << 20


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; pydantic models are dumped first."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(stage: str, code_version: str, params: Any, inputs: Iterable[str] = ()) -> str:
    """The fingerprint of a stage or partition run (hex sha256)."""
    h = hashlib.sha256()
    for part in (stage, code_version, canonical_json(params), *sorted(inputs)):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_sha256(path: str | Path) -> str:
    """sha256 over a file or a folder (relative paths and bytes of every file, sorted); a URL (s3://...) is hashed
    on its store by `storage.io.tree_sha256`, with the same result as for the same tree on local disk."""
    if "://" in str(path) and not str(path).startswith("file://"):
        from storage.io import tree_sha256 as remote_tree_sha256

        return remote_tree_sha256(path)
    p = Path(str(path).removeprefix("file://"))
    if p.is_file():
        return file_sha256(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(str(f.relative_to(p)).encode())
        h.update(b"\x00")
        h.update(file_sha256(f).encode())
    return h.hexdigest()
