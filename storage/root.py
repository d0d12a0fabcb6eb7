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
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class StorageRoot:
    home: Path

    @classmethod
    def open(cls, home: str | os.PathLike | None = None, create: bool = True) -> "StorageRoot":
        root = cls(resolve_home(home))
        if create:
            root.home.mkdir(parents=True, exist_ok=True)
        return root

    @property
    def manifest_path(self) -> Path:
        return self.home / "manifest.duckdb"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    def artifact_path(self, stage: str, fingerprint: str) -> Path:
        return self.home / "artifacts" / stage / fingerprint

    def work_path(self, stage: str, fingerprint: str) -> Path:
        """A resumable working folder for a long stage (training): kept across kills, never an artifact itself."""
        path = self.home / "work" / stage / fingerprint
        path.mkdir(parents=True, exist_ok=True)
        return path

    def staging(self) -> Path:
        """A fresh, empty folder on the same filesystem as artifacts/ (so commit is a rename)."""
        path = self.home / "tmp" / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    def commit(self, staging: Path, stage: str, fingerprint: str) -> Path:
        """Rename a filled staging folder to artifacts/<stage>/<fingerprint>/ and return the final path."""
        final = self.artifact_path(stage, fingerprint)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # garbage of a killed run (no manifest row points at it yet): replace it
            shutil.rmtree(final)
        os.replace(staging, final)
        return final

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


def dir_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
