"""Where the curation blocks keep their committed partitions: the contract between `curate_corpus` and a store.

Every block of a curation partition (domain sample, filters, dedup signatures, science labels) is keyed by what it
depends on: the bytes of its input rows, the configuration it reads, and the global decisions that reach it (the
domain decisions of its own domains, the classifier, its rows' dedup assignment). A block whose key is already
committed is not computed again, so adding one WARC to a corpus redoes only what depends on it: its own partitions,
the partitions of the domains whose decision it changes, the dedup's global band step (over committed signatures),
and the science labels when the classifier's training sample changed.

`PartitionCache` is the protocol; the flow implements it with the DuckDB manifest (`flows/curate.py`: one
artifact per committed partition, lineage to the curation's input). `ScratchCache` is the no-manifest version for
notebooks and tests: nothing is ever a hit, and the partitions live under a scratch folder.
"""

from __future__ import annotations

from typing import Protocol

from s1data import parts


class PartitionCache(Protocol):
    def get(self, block: str, key: str) -> dict | None:
        """The committed partition {"uri": folder, "meta": dict} of `block` under `key`, or None."""

    def target(self, block: str, key: str) -> str:
        """Where a worker writes a new partition of `block` under `key` (a local folder or a store prefix)."""

    def put(self, block: str, key: str, written: dict, meta: dict, source: str | None = None) -> dict:
        """Commit what a worker wrote ({"out_dir", "files", "content_sha256"?}); returns {"uri", "meta"}."""


class ScratchCache:
    """No cache: every partition is computed, under `scratch/<block>/<key>`."""

    def __init__(self, scratch: str):
        self.scratch = str(scratch)

    def get(self, block: str, key: str) -> dict | None:
        return None

    def target(self, block: str, key: str) -> str:
        return parts.join(self.scratch, block, key)

    def put(self, block: str, key: str, written: dict, meta: dict, source: str | None = None) -> dict:
        return {"uri": written["out_dir"], "meta": meta}
