"""The storage root: the only code that builds paths under $S1_HOME.

Layout::

    $S1_HOME/
      manifest.duckdb                      the manifest (storage.manifest)
      artifacts/<stage>/<fingerprint>/     immutable artifacts (files inside a folder)
      tmp/<uuid>/                          writes in progress; renamed into artifacts/ on commit
      prefect/                             PREFECT_HOME for the embedded (ephemeral) Prefect API

Commit protocol: a writer gets a staging folder from :meth:`StorageRoot.staging`, fills it, and calls
:meth:`StorageRoot.commit`, which renames it into place. Only after that does the flow record the manifest row, so a
manifest row always points at a complete artifact; a folder under artifacts/ with no manifest row is garbage from a
killed run, and the next commit to the same fingerprint replaces it.

Artifacts on an object store (`--artifacts s3://bucket/prefix`, env `S1_ARTIFACTS`; the manifest stays in the local
home): there is no rename, so a writer writes straight into a unique prefix
``<artifacts>/<name>/<fingerprint>/<uuid>/`` (:meth:`StorageRoot.staging` with the name and fingerprint; without
them ``<artifacts>/_staging/<uuid>/``, copied server-side on commit). :meth:`StorageRoot.commit` verifies it (lists
the files: at least one, sizes as the writer reported when it did) and returns it unchanged; the manifest row,
recorded after, is the completion marker and its `uri` is that prefix. A prefix no manifest row points at is an
orphan of a killed or failed run: `s1 gc` lists them (:func:`storage.gc.orphans`) and deletes them with `--yes`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from storage.io import Loc, file_infos, is_remote, loc, uri_of

DEFAULT_HOME = "./s1-home"


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """--home beats $S1_HOME beats ./s1-home."""
    value = home or os.environ.get("S1_HOME") or DEFAULT_HOME
    if "://" in str(value) and not str(value).startswith("file://"):
        raise ValueError(
            f"S1_HOME={value!r}: the storage root (manifest) must be a local folder; "
            "put remote artifacts under a local home instead"
        )
    return Path(str(value).removeprefix("file://")).expanduser().resolve()


def resolve_artifacts(home: Path, artifacts: str | os.PathLike | None = None) -> str:
    """--artifacts beats $S1_ARTIFACTS beats <home>/artifacts: a local folder (resolved) or a URL."""
    value = artifacts or os.environ.get("S1_ARTIFACTS") or str(home / "artifacts")
    return uri_of(value)


class CommitError(RuntimeError):
    """A staged artifact failed verification on commit (missing or short files on the store)."""


@dataclass(frozen=True)
class StorageRoot:
    home: Path
    artifacts_url: str = ""

    @classmethod
    def open(cls, home: str | os.PathLike | None = None, create: bool = True,
             artifacts: str | os.PathLike | None = None) -> "StorageRoot":
        h = resolve_home(home)
        root = cls(h, resolve_artifacts(h, artifacts))
        if create:
            root.home.mkdir(parents=True, exist_ok=True)
        return root

    def __post_init__(self):
        if not self.artifacts_url:
            object.__setattr__(self, "artifacts_url", str(self.home / "artifacts"))

    @property
    def remote(self) -> bool:
        """True when artifacts live on an object store (no rename: unique prefixes, verify, then record)."""
        return is_remote(self.artifacts_url)

    @property
    def artifacts(self) -> Loc:
        return loc(self.artifacts_url)

    @property
    def manifest_path(self) -> Path:
        return self.home / "manifest.duckdb"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    def artifact_path(self, stage: str, fingerprint: str) -> Loc:
        """Local: the artifact's folder. Remote: the prefix under which its unique prefixes live."""
        return self.artifacts / stage / fingerprint

    def work_path(self, stage: str, fingerprint: str) -> Path:
        """A resumable working folder for a long stage (training): kept across kills, never an artifact itself."""
        path = self.home / "work" / stage / fingerprint
        path.mkdir(parents=True, exist_ok=True)
        return path

    def staging(self, name: str | None = None, fingerprint: str | None = None) -> Loc:
        """Where a writer puts a new artifact's files.

        Local artifacts: a fresh, empty folder under tmp/ (same filesystem, so commit is a rename); a `Path`.
        Remote: a unique prefix, ``<artifacts>/<name>/<fingerprint>/<uuid>`` when the name and fingerprint are
        given (commit then only verifies), else ``<artifacts>/_staging/<uuid>``. Nothing is created on the store.
        """
        if not self.remote:
            local_tmp = self.artifacts_url
            base = self.home / "tmp" if Path(local_tmp) == self.home / "artifacts" else Path(local_tmp) / "_staging"
            path = loc(base / uuid.uuid4().hex)
            path.mkdir(parents=True)
            return path
        if name and fingerprint:
            return self.artifact_path(name, fingerprint) / uuid.uuid4().hex
        return self.artifacts / "_staging" / uuid.uuid4().hex

    def partition_staging(self, name: str, fingerprint: str) -> Loc:
        """What a worker is given to write one partition: local, a fresh staging folder (it adds its own attempt
        subfolder, renamed into place on commit); remote, ``<artifacts>/<name>/<fingerprint>`` (it adds a unique
        attempt prefix, and commit only verifies)."""
        return self.artifact_path(name, fingerprint) if self.remote else self.staging()

    def local_staging(self) -> Path:
        """A fresh, empty local folder under tmp/ for writers that need a real path (torch, transformers,
        tokenizers): commit renames it into place locally, or uploads it to a unique prefix on an object store."""
        path = self.home / "tmp" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def commit(self, staging: str | os.PathLike | Loc, stage: str, fingerprint: str,
               expect: dict[str, int] | None = None) -> Loc:
        """Put a filled staging folder in place and return its final location.

        Local: rename to artifacts/<stage>/<fingerprint>/. Remote: verify the unique prefix (at least one file;
        every file of `expect` ({relative path: bytes}, the writer's own account) present with its size), copying
        it server-side under <stage>/<fingerprint>/ first when it was staged without a name. Raises CommitError.
        """
        if not self.remote:
            final = self.artifact_path(stage, fingerprint)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():  # garbage of a killed run (no manifest row points at it yet): replace it
                shutil.rmtree(final)
            try:
                os.replace(staging, final)
            except OSError:  # --artifacts on another local filesystem than tmp/: copy, then drop the staging
                shutil.copytree(staging, final)
                shutil.rmtree(staging, ignore_errors=True)
            return final
        from storage.io import copy_tree, remove_tree

        src = loc(staging)
        if not is_remote(src):  # staged on local disk (a library that needs a real path): upload
            expect = file_infos(src) if expect is None else expect
            final = self.artifact_path(stage, fingerprint) / uuid.uuid4().hex
            copy_tree(src, final)
            self.verify(final, expect)
            shutil.rmtree(Path(src), ignore_errors=True)
            return final
        if not str(src).startswith(str(self.artifact_path(stage, fingerprint)) + "/"):
            final = self.artifact_path(stage, fingerprint) / src.name
            copy_tree(src, final)
            remove_tree(src)
        else:
            final = src
        self.verify(final, expect)
        return final

    def verify(self, location: str | os.PathLike | Loc, expect: dict[str, int] | None = None) -> dict[str, int]:
        """{relative path: bytes} of the files at `location`; CommitError when there are none or `expect` differs."""
        found = file_infos(location)
        if not found:
            raise CommitError(f"commit of {location}: no file was written there")
        for rel, size in (expect or {}).items():
            if rel not in found:
                raise CommitError(f"commit of {location}: {rel} is missing on the store")
            if found[rel] != size:
                raise CommitError(f"commit of {location}: {rel} has {found[rel]} bytes on the store, "
                                  f"the writer wrote {size}")
        return found

    def present(self, uri: str) -> bool:
        """A cache hit's check: the artifact's files are still there."""
        try:
            return bool(file_infos(uri))
        except Exception:
            return False

    def check(self, artifact: dict) -> str | None:
        """A cache hit's check of a manifest row: None when its files are those recorded at commit (every file's
        size; sha256 within $S1_VERIFY_HASH_BYTES), else what is wrong, in one line. Rows recorded before per-file
        hashes existed are checked for presence only."""
        import json

        from storage.io import verify_digests

        uri = artifact["uri"]
        files = artifact.get("files_json")
        try:
            if not files:
                return None if self.present(uri) else "its files are gone"
            return verify_digests(uri, json.loads(files))
        except Exception as e:  # an unreachable store or a vanished prefix: not a valid hit
            return f"cannot be checked ({type(e).__name__}: {' '.join(str(e).split())[:200]})"

    def clean_tmp(self, older_than_s: float = 3600.0) -> int:
        """Delete abandoned staging folders; returns how many were removed."""
        import time

        tmp = self.home / "tmp"
        removed = 0
        if tmp.exists():
            for p in tmp.iterdir():
                if time.time() - p.stat().st_mtime > older_than_s:
                    shutil.rmtree(p, ignore_errors=True)
                    removed += 1
        return removed


def dir_bytes(path: str | os.PathLike | Loc) -> int:
    """Bytes of a file or of every file under a folder / prefix (local or remote)."""
    p = loc(path)
    if is_remote(p):
        return sum(file_infos(p).values())
    p = Path(p)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
