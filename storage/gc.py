"""Orphaned artifact folders / prefixes: written by a run that was killed or failed before its manifest row was
recorded (the row is the completion marker, so nothing reads them). `s1 gc` lists them and, when told, deletes them.

What counts as an orphan (relative to the artifacts root, local folder or URL):
- ``<name>/<fingerprint>/<uuid>/`` (object store layout) or ``<name>/<fingerprint>/`` (local layout) that no
  manifest row's `uri` is, or is inside;
- ``_staging/<uuid>/`` (remote staging without a name, local staging beside a non-default artifacts folder) and
  ``$S1_HOME/tmp/<uuid>/`` (local staging).
Only orphans whose newest file is older than `older_than_s` are returned: a run in progress writes its partitions
with no manifest row yet, so a young prefix may be live. One manifest owns one artifacts root: two homes sharing a
bucket prefix would see each other's artifacts as orphans.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from storage.io import fresh, is_remote, loc, remove_tree, uri_of
from storage.manifest import Manifest
from storage.root import StorageRoot


@dataclass(frozen=True)
class Orphan:
    uri: str
    files: int
    bytes: int
    age_s: float
    kind: str  # "artifact" (under <name>/<fingerprint>) or "staging"


def _mtime(info: dict) -> float:
    v = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
    if isinstance(v, datetime):
        return v.timestamp()
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _group(root_uri: str) -> dict[tuple[str, ...], list[tuple[int, float]]]:
    """{relative path parts of a candidate prefix: [(bytes, mtime) of each file]} under the artifacts root."""
    groups: dict[tuple[str, ...], list[tuple[int, float]]] = {}
    r = fresh(root_uri)
    if not is_remote(r):
        base = Path(r)
        if not base.exists():
            return groups
        for f in base.rglob("*"):
            if not f.is_file():
                continue
            parts = f.relative_to(base).parts
            key = parts[:2]
            st = f.stat()
            groups.setdefault(tuple(key), []).append((st.st_size, st.st_mtime))
        return groups
    fs, rp = r.fs, r.path.rstrip("/")
    if not fs.exists(rp):
        return groups
    for path, info in fs.find(rp, detail=True).items():
        if info.get("type", "file") != "file":
            continue
        parts = tuple(path[len(rp) + 1:].split("/"))
        key = parts[:2] if parts[0] == "_staging" else parts[:3]
        groups.setdefault(key, []).append((int(info.get("size") or 0), _mtime(info)))
    return groups


def orphans(root: StorageRoot, manifest: Manifest, older_than_s: float = 3600.0) -> list[Orphan]:
    """Folders / prefixes under the artifacts root (and local tmp/) that no manifest row points at, oldest first."""
    keep = {u.rstrip("/") for u in manifest.artifact_uris()}
    base = uri_of(root.artifacts_url)
    now = time.time()
    out: list[Orphan] = []

    def referenced(uri: str) -> bool:
        return uri in keep or any(k.startswith(uri + "/") or uri.startswith(k + "/") for k in keep)

    for key, files in _group(base).items():
        if len(key) < 2 or (key[0] != "_staging" and len(key) < (3 if root.remote else 2)):
            continue  # a file directly under <name>/<fp>/ on a store: not a layout we write
        uri = base + "/" + "/".join(key)
        if key[0] != "_staging" and referenced(uri):
            continue
        age = now - max(m for _, m in files)
        if age >= older_than_s:
            out.append(Orphan(uri, len(files), sum(b for b, _ in files), age,
                              "staging" if key[0] == "_staging" else "artifact"))
    tmp = root.home / "tmp"
    if tmp.exists():
        for d in tmp.iterdir():
            files = [f.stat() for f in d.rglob("*") if f.is_file()] if d.is_dir() else [d.stat()]
            newest = max([s.st_mtime for s in files] + [d.stat().st_mtime])
            if now - newest >= older_than_s:
                out.append(Orphan(str(d), len(files), sum(s.st_size for s in files), now - newest, "staging"))
    return sorted(out, key=lambda o: -o.age_s)


def delete(found: list[Orphan]) -> int:
    """Delete the given orphans; returns how many were removed."""
    for o in found:
        remove_tree(loc(o.uri))
    return len(found)
