"""Exact and MinHash-LSH near-duplicate removal over Arrow tables.

Pieces the flow can shard (signatures per partition, then buckets per band, then components):
- `normalise_text`, `exact_key`: the normalised-text sha1 for exact duplicates;
- `minhash_signatures(texts, config) -> uint32[n, num_perm]` (numpy, deterministic across processes);
- `band_keys(signatures, config)`: one bytes key per (doc, band);
- `near_duplicate_clusters(doc_ids, signatures, config) -> cluster ids`: LSH buckets + union-find, with each
  candidate pair verified by the estimated Jaccard similarity >= `threshold`.
`deduplicate(docs, config)` runs it all on one table and keeps the smallest doc_id of each cluster.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

_NON_WORD = re.compile(r"[^\w\s]+", re.U)


class DedupConfig(BaseModel):
    """Exact + near-duplicate settings. bands × rows = num_perm; the LSH threshold is about (1/bands)^(1/rows)."""

    exact: bool = Field(True, description="Drop exact duplicates of the normalised text (`dedup_exact`).")
    near: bool = Field(True, description="Drop MinHash-LSH near duplicates (`dedup_near_duplicate`).")
    shingle_words: int = Field(5, description="Word n-gram size of a shingle.")
    num_perm: int = Field(128, description="MinHash permutations (signature length).")
    bands: int = Field(16, description="LSH bands; rows per band = num_perm / bands.")
    threshold: float = Field(0.7, description="Estimated Jaccard similarity a candidate pair needs to be merged.")
    seed: int = Field(1, description="Seed of the permutation coefficients (fixed → reproducible clusters).")


def normalise_text(text: str) -> str:
    """NFKC, lower case, punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return " ".join(_NON_WORD.sub(" ", text).split())


def exact_key(text: str) -> str:
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


def _coefficients(config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(config.seed)
    a = rng.integers(0, 1 << 63, size=config.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)  # odd
    b = rng.integers(0, 1 << 63, size=config.num_perm, dtype=np.uint64)
    return a, b


def _shingle_hashes(text: str, k: int) -> np.ndarray:
    words = normalise_text(text).split()
    if not words:
        return np.zeros(1, dtype=np.uint64)
    tok = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    if len(tok) < k:
        k = len(tok)
    h = np.zeros(len(tok) - k + 1, dtype=np.uint64)
    for i in range(k):  # polynomial combination, wrapping in uint64, folded to 32 bits
        h = h * np.uint64(1_000_003) + tok[i:len(tok) - k + 1 + i]
    return np.unique((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF))


# ASCII fast path of `normalise_text(t).split()`: for ASCII, NFKC is the identity and every byte that is not
# [a-z0-9_] ends a word (a `[^\w\s]` byte becomes a space, a whitespace byte already is one), so one
# bytes.translate (upper → lower, separators → space) and bytes.split give the same words, already encoded.
_ASCII_WORDS = bytes(c + 32 if 65 <= c <= 90 else c if (chr(c).isalnum() or c == 95) else 32 for c in range(256))
_POLY = np.uint64(1_000_003)
_LOW32 = np.uint64(0xFFFFFFFF)


def _normalised_words(text: str | None) -> list[bytes]:
    """The utf-8 words of `normalise_text(text)`: `b" ".join(words) == normalise_text(text).encode()`."""
    text = text or ""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).split()
    words = normalise_text(text)
    return words.encode("utf-8").split(b" ") if words else []


def _batch_shingles(words: list[list[bytes]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(x_S, offsets): the folded shingle hashes of all docs concatenated (duplicates kept: they do not change a
    min), doc d owning x_S[offsets[d]:offsets[d+1]]. Same values as `_shingle_hashes` per doc."""
    crcs = [list(map(zlib.crc32, w)) for w in words]
    n_W = np.fromiter(map(len, crcs), dtype=np.int64, count=len(crcs))  # words per doc
    tok_W = np.fromiter((c for doc in crcs for c in doc), dtype=np.uint64, count=int(n_W.sum()))
    # rolling polynomial over the whole concatenation; windows that cross a doc boundary are never gathered
    h = np.zeros(max(len(tok_W) - k + 1, 0), dtype=np.uint64)
    for i in range(k):  # wraps in uint64 like `_shingle_hashes`
        h *= _POLY
        h += tok_W[i:i + len(h)]
    h = (h ^ (h >> np.uint64(32))) & _LOW32
    n_S = np.maximum(n_W - k + 1, 1)  # a doc shorter than k words has one shingle (all of its words)
    offsets = np.zeros(len(crcs) + 1, dtype=np.int64)
    np.cumsum(n_S, out=offsets[1:])
    word_start = np.cumsum(n_W) - n_W
    long_S = np.repeat(n_W >= k, n_S)
    src = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1] - word_start, n_S)
    x_S = np.empty(offsets[-1], dtype=np.uint64)
    x_S[long_S] = h[src[long_S]]
    for d in np.flatnonzero(n_W < k):  # rare: short or empty docs, in Python ints masked to 64 bits
        v = 0
        for c in crcs[d]:
            v = (v * 1_000_003 + c) & 0xFFFFFFFFFFFFFFFF
        x_S[offsets[d]] = (v ^ (v >> 32)) & 0xFFFFFFFF
    return x_S, offsets


def _signatures_from_words(words: list[list[bytes]], config: DedupConfig,
                           chunk_shingles: int = 1 << 13) -> np.ndarray:
    """`minhash_signatures` on already normalised words (lets a caller reuse them for `exact_key`)."""
    a_P, b_P = _coefficients(config)
    n = len(words)
    out = np.empty((n, config.num_perm), dtype=np.uint32)
    if not n:
        return out
    x_S, offsets = _batch_shingles(words, config.shingle_words)
    d0 = 0
    while d0 < n:  # docs [d0, d1) hold about chunk_shingles shingles (at least one doc); 8k × 128 × 8 B fits L2
        d1 = int(np.searchsorted(offsets, offsets[d0] + chunk_shingles, side="right")) - 1
        d1 = min(max(d1, d0 + 1), n)
        x_C = x_S[offsets[d0]:offsets[d1]]
        v_PC = np.multiply(a_P[:, None], x_C[None, :])  # wraps mod 2^64 by design
        v_PC += b_P[:, None]
        min_PD = np.minimum.reduceat(v_PC, offsets[d0:d1] - offsets[d0], axis=1)
        out[d0:d1] = (min_PD >> np.uint64(32)).T
        d0 = d1
    return out


def minhash_signatures(texts: list[str], config: DedupConfig | None = None) -> np.ndarray:
    """uint32 signatures, shape [n_docs, num_perm]; multiply-shift hashing ((a*x + b) mod 2^64) >> 32 per
    permutation (a odd, a and b random 64-bit: universal for 32-bit keys), min over shingles.

    Batched: shingles of all docs in one array, hashed a chunk at a time as [P, S] (P permutations, S shingles)
    and reduced per doc with `minimum.reduceat` along the contiguous axis. The >> 32 is taken after the min (it is
    monotone, so min(v >> 32) == min(v) >> 32), saving a pass.
    """
    return _signatures_from_words([_normalised_words(t) for t in texts], config or DedupConfig())


def band_keys(signatures: np.ndarray, config: DedupConfig) -> list[list[bytes]]:
    rows = config.num_perm // config.bands
    return [[sig[j * rows:(j + 1) * rows].tobytes() for j in range(config.bands)] for sig in signatures]


def near_duplicate_clusters(doc_ids: list[str], signatures: np.ndarray, config: DedupConfig) -> list[int]:
    """Cluster index per doc (the index of the cluster's smallest doc_id)."""
    n = len(doc_ids)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows = config.num_perm // config.bands
    for j in range(config.bands):
        buckets: dict[bytes, int] = {}
        block = np.ascontiguousarray(signatures[:, j * rows:(j + 1) * rows])
        for i in range(n):
            key = block[i].tobytes()
            first = buckets.setdefault(key, i)
            if first == i:
                continue
            ri, rf = find(i), find(first)
            if ri == rf:
                continue
            if np.mean(signatures[i] == signatures[first]) >= config.threshold:
                parent[max(ri, rf)] = min(ri, rf)
    roots = [find(i) for i in range(n)]
    best: dict[int, int] = {}
    for i, r in enumerate(roots):
        if r not in best or doc_ids[i] < doc_ids[best[r]]:
            best[r] = i
    return [best[r] for r in roots]


def deduplicate(docs: pa.Table, config: DedupConfig | None = None) -> tuple[pa.Table, pa.Table]:
    """(kept, excluded); excluded carries `filter`='dedup', `reason`, `kept_doc_id`, `cluster_id`.

    Kept rows gain `cluster_id` (the kept doc's id). The representative of a cluster is its smallest doc_id.
    """
    config = config or DedupConfig()
    ids = docs.column("doc_id").to_pylist()
    texts = docs.column("text").to_pylist()
    n = len(ids)
    rep = list(range(n))
    reason = [None] * n
    if config.exact:
        first: dict[str, int] = {}
        for i in sorted(range(n), key=lambda i: ids[i]):
            k = exact_key(texts[i])
            if k in first:
                rep[i], reason[i] = first[k], "dedup_exact"
            else:
                first[k] = i
    if config.near:
        alive = [i for i in range(n) if reason[i] is None]
        sig = minhash_signatures([texts[i] for i in alive], config)
        clusters = near_duplicate_clusters([ids[i] for i in alive], sig, config)
        for local, c in enumerate(clusters):
            if c != local:
                i = alive[local]
                rep[i], reason[i] = alive[c], "dedup_near_duplicate"
    # exact duplicates point at their kept representative's final representative
    final = [rep[rep[i]] if reason[i] == "dedup_exact" and reason[rep[i]] else rep[i] for i in range(n)]
    cluster = pa.array([ids[j] for j in final], pa.string())
    table = docs.append_column("cluster_id", cluster)
    keep = pa.array([r is None for r in reason], pa.bool_())
    kept = table.filter(keep)
    import pyarrow.compute as pc

    dropped = table.filter(pc.invert(keep))
    reasons = [r for r in reason if r is not None]
    excluded = dropped.append_column("filter", pa.array(["dedup"] * len(reasons), pa.string())) \
        .append_column("reason", pa.array(reasons, pa.string())) \
        .append_column("kept_doc_id", dropped.column("cluster_id"))
    return kept, excluded
