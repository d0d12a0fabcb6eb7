"""TokenShardWriter: tokenize documents, mix them, pack them into fixed-length rows, write parquet shards.

Shard contract (one row = one training sequence):
- `input_ids: list<int32>`  exactly seq_len ids.
- `doc_lens: list<int32>`   lengths of the document segments of the row, in order, summing to seq_len; a document's
                            EOS is counted in the segment it ends; a document longer than the rest of a row goes on in
                            the next row as a new segment with the same doc_id.
- `domains: list<string>`   domain of each segment; `doc_ids: list<string>` doc_id of each segment. Padding (only in
                            the last row of the last shard, remainder='pad') is a segment with doc_id '' and domain ''.
- file key-value metadata: s1.format, s1.tokenizer_fingerprint, s1.seq_len, s1.tokens (document tokens, EOS
  included, padding excluded), s1.rows, s1.padding_tokens, s1.eos_id, s1.pad_id, s1.seed, s1.domains and
  s1.sources (JSON token counts).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from s1data.shards.config import SHARD_FORMAT, ShardConfig
from s1data.shards.mixture import plan_mixture

log = logging.getLogger(__name__)

PAD_SEGMENT = ""


class TokenShardWriter:
    """Writes one partition of documents as token shards; `exclusions` holds the documents left out, with reasons."""

    def __init__(self, tokenizer_dir: str | Path, out_dir: str | Path, config: ShardConfig, seed: int,
                 file_prefix: str = "shard"):
        from s1data.tokenizer import tokenizer_fingerprint

        self.fingerprint = tokenizer_fingerprint(tokenizer_dir)
        from s1data.tokenizer.fast_bpe import BACKEND_ENV

        self.tokenizer = _loaded_tokenizer(str(Path(tokenizer_dir).resolve()), self.fingerprint,
                                           os.environ.get(BACKEND_ENV, "auto").lower())
        self.out_dir = Path(out_dir)
        self.config = config
        self.seed = seed
        self.file_prefix = file_prefix
        self.exclusions: list[dict] = []

    def write(self, docs) -> list[dict]:
        cfg = self.config
        doc_ids = [str(x) for x in docs.column("doc_id").to_pylist()]
        texts = docs.column("text").to_pylist()
        domains = [d or "general" for d in docs.column("domain").to_pylist()]
        sources = ([s or "unknown" for s in docs.column("source_kind").to_pylist()]
                   if "source_kind" in docs.column_names else ["unknown"] * len(texts))
        keep = []
        for i, t in enumerate(texts):
            if not t or t.isspace():
                self._exclude(doc_ids[i], "shards_empty_text", "null or whitespace-only text")
            else:
                keep.append(i)

        # Tokenize (EOS appended later) into one flat int32 array + lengths: ~4 bytes per token, no per-token objects.
        flat, lengths = [], []
        for b in range(0, len(keep), cfg.encode_batch_size):
            ids, n = self.tokenizer.encode_flat([texts[i] for i in keep[b:b + cfg.encode_batch_size]])
            flat.append(ids)
            lengths.append(n)
        del texts
        ids = np.concatenate(flat) if flat else np.zeros(0, dtype=np.int32)
        del flat
        lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        n_tokens = lengths + 1
        order, excluded = plan_mixture([domains[i] for i in keep], [sources[i] for i in keep], n_tokens, cfg,
                                       self.seed)
        for j, reason, detail in excluded:
            self._exclude(doc_ids[keep[j]], reason, detail)
        if not order:
            return []

        eos = np.array([self.tokenizer.eos_id], dtype=np.int32)
        stream = np.concatenate([a for j in order for a in (ids[starts[j]:starts[j] + lengths[j]], eos)])
        del ids
        seg_doc = [doc_ids[keep[j]] for j in order]
        seg_dom = [domains[keep[j]] for j in order]
        seg_src = [sources[keep[j]] for j in order]
        doc_ends = np.cumsum(n_tokens[order])
        L = cfg.seq_len
        rest = len(stream) % L
        if rest and cfg.remainder == "pad":
            stream = np.concatenate([stream, np.full(L - rest, self.tokenizer.pad_id, dtype=np.int32)])
            doc_ends = np.append(doc_ends, len(stream))
            seg_doc.append(PAD_SEGMENT)
            seg_dom.append(PAD_SEGMENT)
            seg_src.append(PAD_SEGMENT)
        elif rest:
            cut = len(stream) - rest
            for k in np.flatnonzero(doc_ends > cut):
                start = doc_ends[k - 1] if k else 0
                lost = int(doc_ends[k] - max(start, cut))
                self._exclude(seg_doc[k], "shards_remainder_dropped",
                              f"{lost} of {int(doc_ends[k] - start)} tokens fell in the last partial row")
            stream = stream[:cut]
            n_full = int(np.searchsorted(doc_ends, cut, side="left")) + 1
            doc_ends = np.minimum(doc_ends[:n_full], cut)
            if not cut:
                return []
        rows = len(stream) // L
        # Segments: cut the stream at every document end and every row end.
        cuts = np.union1d(doc_ends, np.arange(L, rows * L + 1, L))
        starts = np.concatenate([[0], cuts[:-1]])
        seg_len = (cuts - starts).astype(np.int32)
        seg_row = starts // L
        seg_of = np.searchsorted(doc_ends, starts, side="right")
        row_off = np.searchsorted(seg_row, np.arange(rows + 1), side="left")

        names = {"doc": np.array(seg_doc, dtype=object), "dom": np.array(seg_dom, dtype=object),
                 "src": np.array(seg_src, dtype=object)}
        rows_per_shard = max(1, cfg.max_shard_tokens // L)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for k, r0 in enumerate(range(0, rows, rows_per_shard)):
            r1 = min(rows, r0 + rows_per_shard)
            s0, s1 = row_off[r0], row_off[r1]
            written.append(self._write_shard(k, stream[r0 * L:r1 * L], seg_len[s0:s1], row_off[r0:r1 + 1] - s0,
                                             seg_of[s0:s1], names))
        log.info("wrote %d shards, %d rows, %d excluded documents", len(written), rows, len(self.exclusions))
        return written

    def _write_shard(self, k: int, ids: np.ndarray, seg_len: np.ndarray, seg_off: np.ndarray, seg_of: np.ndarray,
                     names: dict) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        L = self.config.seq_len
        n_rows = len(ids) // L
        seg_doc, seg_dom, seg_src = names["doc"][seg_of], names["dom"][seg_of], names["src"][seg_of]
        offsets = pa.array(seg_off.astype(np.int32))
        table = pa.table({
            "input_ids": pa.ListArray.from_arrays(pa.array(np.arange(0, n_rows * L + 1, L, dtype=np.int32)),
                                                  pa.array(ids, type=pa.int32())),
            "doc_lens": pa.ListArray.from_arrays(offsets, pa.array(seg_len, type=pa.int32())),
            "domains": pa.ListArray.from_arrays(offsets, pa.array(seg_dom.tolist(), type=pa.string())),
            "doc_ids": pa.ListArray.from_arrays(offsets, pa.array(seg_doc.tolist(), type=pa.string())),
        })
        real = seg_doc != PAD_SEGMENT
        tokens = int(seg_len[real].sum())
        dom_counts = _counts(seg_dom[real], seg_len[real])
        src_counts = _counts(seg_src[real], seg_len[real])
        meta = {"s1.format": SHARD_FORMAT, "s1.tokenizer_fingerprint": self.fingerprint, "s1.seq_len": str(L),
                "s1.tokens": str(tokens), "s1.rows": str(n_rows), "s1.padding_tokens": str(n_rows * L - tokens),
                "s1.eos_id": str(self.tokenizer.eos_id), "s1.pad_id": str(self.tokenizer.pad_id),
                "s1.seed": str(self.seed), "s1.domains": json.dumps(dom_counts), "s1.sources": json.dumps(src_counts)}
        table = table.replace_schema_metadata(meta)
        path = self.out_dir / f"{self.file_prefix}-{k:05d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, compression=None if self.config.compression == "none" else self.config.compression,
                       row_group_size=self.config.row_group_rows)
        os.replace(tmp, path)
        return {"path": str(path), "rows": n_rows, "tokens": tokens, "padding_tokens": n_rows * L - tokens,
                "bytes": path.stat().st_size, "domains": dom_counts, "sources": src_counts,
                "doc_ids_count": len(set(seg_doc[real].tolist())), "tokenizer_fingerprint": self.fingerprint}

    def _exclude(self, doc_id: str, reason: str, detail: str) -> None:
        self.exclusions.append({"doc_id": doc_id, "reason": reason, "detail": detail})


_LOADED: dict = {}  # {(content fingerprint, backend mode): tokenizer}: one entry at most


def _loaded_tokenizer(path: str, fingerprint: str, backend: str):
    """The last tokenizer (content, S1_TEXT_BPE mode) this process used: a Dask worker writing many partitions
    loads it once and keeps its BPE word cache warm; the same content at another path (a store's local copy, a
    rerun's folder) is the same tokenizer; a changed backend mode loads it again. One, not several: each holds its
    own word cache, bounded by S1_CACHE_MB (`BPE_WORD_CACHE`, s1data/tokenizer/dynamic.py)."""
    key = (fingerprint, backend)
    if key not in _LOADED:
        from s1data.tokenizer import load_tokenizer

        _LOADED.clear()  # the previous tokenizer and its cache go before the next one is loaded
        _LOADED[key] = load_tokenizer(path)
    return _LOADED[key]


def _counts(keys: np.ndarray, weights: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, w in zip(keys.tolist(), weights.tolist()):
        out[key] = out.get(key, 0) + int(w)
    return dict(sorted(out.items()))


def write_shards(docs, tokenizer_dir: str | Path, out_dir: str | Path, config: ShardConfig, seed: int,
                 file_prefix: str = "shard") -> list[dict]:
    """Tokenize, mix (deterministic given seed), pack and write parquet token shards; one dict per shard.

    Use a distinct file_prefix per partition when several partitions write into one directory.
    """
    return TokenShardWriter(tokenizer_dir, out_dir, config, seed, file_prefix).write(docs)


def read_shard(path: str | Path):
    """The shard as a pyarrow Table (file metadata on table.schema.metadata)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = {"input_ids", "doc_lens", "domains", "doc_ids"} - set(table.column_names)
    if missing:
        raise ValueError(f"{path} is not an s1 token shard: missing columns {sorted(missing)}")
    return table


def shard_metadata(path: str | Path) -> dict:
    """The s1.* key-value metadata of a shard, numbers as int and counts as dicts."""
    import pyarrow.parquet as pq

    raw = {k.decode(): v.decode() for k, v in (pq.read_metadata(path).metadata or {}).items()
           if k.startswith(b"s1.")}
    out: dict = {}
    for k, v in raw.items():
        out[k] = json.loads(v) if k in ("s1.domains", "s1.sources") else int(v) if v.lstrip("-").isdigit() else v
    return out


def _is_url(location) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


def write_partition_at(docs_uri: str, part: dict, tokenizer_uri: str, out_uri: str, config: ShardConfig,
                       seed: int) -> dict:
    """`s1data.shards.write_partition` where any of the curated file, the tokenizer folder or the output is an
    object-store URL (s3://...): the worker reads the documents' row groups from the store (s1data.parts), keeps a
    local copy of the tokenizer (cached by content), writes the shards into a local scratch folder and uploads them
    to a fresh attempt prefix under `out_uri`. The summary then also carries `files` ({name: bytes}) and `content_sha256`, for
    the flow to verify the upload without reading it back. All local: exactly `write_partition`."""
    from s1data.shards.partition import write_partition

    if not any(_is_url(x) for x in (docs_uri, tokenizer_uri, out_uri)):
        return write_partition(docs_uri, part, tokenizer_uri, out_uri, config, seed)
    import shutil
    import tempfile
    import uuid

    from storage.fingerprint import tree_sha256
    from storage.io import copy_tree, file_infos, loc, local_copy

    tok = local_copy(tokenizer_uri)
    scratch = Path(tempfile.mkdtemp(prefix="s1-shards-"))
    try:
        work = scratch / "out"
        res = write_partition(docs_uri, part, tok, work, config, seed)  # s1data.parts reads URLs itself
        files, sha = file_infos(work), tree_sha256(work)
        dest = loc(out_uri) / uuid.uuid4().hex if _is_url(out_uri) else loc(out_uri)
        copy_tree(work, dest)
        return {**res, "out_dir": str(dest), "files": files, "content_sha256": sha}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
