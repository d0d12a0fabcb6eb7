"""Exact and MinHash-LSH near-duplicate removal over Arrow tables.

Pieces the flow can shard (signatures per partition, then buckets per band, then components):
- `normalise_text`, `exact_key`: the normalised-text sha1 for exact duplicates;
- `minhash_signatures(texts, config) -> uint32[n, num_perm]` (numpy, deterministic across processes);
- `optimal_bands_rows(threshold, num_perm, ...)`: the LSH bands × rows chosen from the threshold (below);
- `band_keys(signatures, config)`: one bytes key per (doc, band);
- `near_duplicate_clusters(doc_ids, signatures, config) -> cluster ids`: LSH buckets + union-find, with each
  candidate pair verified by the estimated Jaccard similarity >= `threshold`.
`deduplicate(docs, config)` runs it all on one table and keeps the smallest doc_id of each cluster.

Bands and rows. As datasketch's `MinHashLSH` (`_optimal_param`), (b, r) with b·r <= num_perm minimise
    w_fp · ∫_0^t P(s) ds  +  w_fn · ∫_t^1 (1 − P(s)) ds
over the Jaccard similarity s, t = `threshold`. datasketch's P(s) is the chance that a pair becomes a candidate,
1 − (1 − s^r)^b. s1 verifies every candidate (estimated similarity over all num_perm values >= t), so what it
merges is P(s) = (1 − (1 − s^r)^b) · Pr[Binomial(num_perm, s) >= ⌈t·num_perm⌉]; `lsh_objective="verified"` (the
default) minimises the errors of that, `"candidates"` those of datasketch's curve (then s1's recall is at most
datasketch's: the verification only removes pairs). With the verified curve the bands come out more permissive
(t=0.5: 29 × 3 instead of 25 × 5; t=0.9: 9 × 14 instead of 5 × 25): a false candidate costs one comparison of two
signatures, not a false merge. Explicit `bands` / `rows` override the choice.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
import zlib
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field, computed_field, model_validator

_NON_WORD = re.compile(r"[^\w\s]+", re.U)


class DedupConfig(BaseModel):
    """Exact + near-duplicate settings. LSH bands × rows are chosen from `threshold` and `num_perm` (see the module
    docstring) unless given; the resolved pair is `lsh_bands_rows` (part of the dump, hence of the fingerprint)."""

    exact: bool = Field(True, description="Drop exact duplicates of the normalised text (`dedup_exact`).")
    near: bool = Field(True, description="Drop MinHash-LSH near duplicates (`dedup_near_duplicate`).")
    shingle_words: int = Field(5, ge=1, description="Word n-gram size of a shingle.")
    num_perm: int = Field(128, ge=2, description="MinHash permutations (signature length).")
    threshold: float = Field(0.7, gt=0.0, lt=1.0, description="Estimated Jaccard similarity (share of equal "
                             "signature values) a candidate pair needs to be merged; also what the bands are "
                             "tuned for.")
    bands: int | None = Field(None, ge=1, description="LSH bands; None: chosen from threshold and num_perm "
                              "(override only to reproduce an old run).")
    rows: int | None = Field(None, ge=1, description="Signature values per band; None: num_perm // bands when bands "
                             "is given, else chosen with the bands.")
    false_positive_weight: float = Field(0.5, ge=0.0, description="Weight of the false-positive probability when "
                                         "choosing bands × rows (datasketch's default 0.5).")
    false_negative_weight: float = Field(0.5, ge=0.0, description="Weight of the false-negative probability when "
                                         "choosing bands × rows (datasketch's default 0.5).")
    lsh_objective: Literal["verified", "candidates"] = Field(
        "verified", description="Which curve's errors the bands minimise: `verified` what s1 merges (LSH candidate "
                                "and verified estimate >= threshold), `candidates` LSH candidates alone "
                                "(datasketch's choice).")
    seed: int = Field(1, description="Seed of the permutation coefficients (fixed → reproducible clusters).")

    @model_validator(mode="after")
    def _check_bands(self):
        if self.bands is not None and self.bands * (self.rows or 1) > self.num_perm:
            raise ValueError(f"bands={self.bands} × rows={self.rows or 1} needs more than num_perm={self.num_perm} "
                             "signature values: lower bands or rows, raise num_perm, or leave both None to choose "
                             "them from the threshold")
        if self.rows is not None and self.rows > self.num_perm:
            raise ValueError(f"rows={self.rows} > num_perm={self.num_perm}: lower rows or leave it None")
        if self.false_positive_weight + self.false_negative_weight <= 0:
            raise ValueError("false_positive_weight + false_negative_weight must be > 0 (e.g. 0.5 and 0.5)")
        return self

    @computed_field(description="(bands, rows) the LSH uses: the explicit values, else the optimum for threshold.")
    @property
    def lsh_bands_rows(self) -> tuple[int, int]:
        if self.bands is not None:
            return self.bands, self.rows or self.num_perm // self.bands
        if self.rows is not None:
            return self.num_perm // self.rows, self.rows
        return optimal_bands_rows(self.threshold, self.num_perm, self.false_positive_weight,
                                  self.false_negative_weight, self.lsh_objective == "verified")


@functools.lru_cache(maxsize=256)
def optimal_bands_rows(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                       false_negative_weight: float = 0.5, verified: bool = True) -> tuple[int, int]:
    """(bands, rows), bands·rows <= num_perm, minimising w_fp·∫_0^t P + w_fn·∫_t^1 (1 − P) (module docstring).

    `verified=False` is datasketch's `_optimal_param` (P = candidate probability); True multiplies P by the chance
    that the verification (equal values / num_perm >= t) passes. The integrals are Simpson's rule on 801 points
    per side (datasketch uses scipy's quad; the chosen pair agrees, tests compare). Ties: the first (b, r) in
    (b, r) order, as datasketch.
    """
    from scipy.integrate import simpson
    from scipy.stats import binom

    b_C, r_C = map(np.array, zip(*[(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]))
    s_lo, s_hi = np.linspace(0.0, threshold, 801), np.linspace(threshold, 1.0, 801)

    def merge_CS(s_S: np.ndarray) -> np.ndarray:  # [combinations, points]
        p_CS = 1.0 - (1.0 - s_S[None, :] ** r_C[:, None]) ** b_C[:, None]
        if verified:  # smallest count k with k / num_perm >= threshold, in the float test the code uses
            k = int(np.ceil(threshold * num_perm))
            k = k - 1 if k > 0 and (k - 1) / num_perm >= threshold else k
            p_CS = p_CS * binom.sf(k - 1, num_perm, s_S)[None, :]
        return p_CS

    fp_C = simpson(merge_CS(s_lo), x=s_lo, axis=1)
    fn_C = simpson(1.0 - merge_CS(s_hi), x=s_hi, axis=1)
    err_C = false_positive_weight * fp_C + false_negative_weight * fn_C
    best = int(np.argmin(err_C))  # first minimum in (b, r) order
    return int(b_C[best]), int(r_C[best])


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
                           chunk_shingles: int = 1 << 11) -> np.ndarray:
    """`minhash_signatures` on already normalised words (lets a caller reuse them for `exact_key`)."""
    a_P, b_P = _coefficients(config)
    n = len(words)
    out = np.empty((n, config.num_perm), dtype=np.uint32)
    if not n:
        return out
    x_S, offsets = _batch_shingles(words, config.shingle_words)
    d0 = 0
    # docs [d0, d1) hold about chunk_shingles shingles (at least one doc): 2k x 128 x 8 B = 2 MiB at a time (8k was
    # no faster, and 8 MiB more for every partition a memory-limited worker signs)
    while d0 < n:
        d1 = int(np.searchsorted(offsets, offsets[d0] + chunk_shingles, side="right")) - 1
        d1 = min(max(d1, d0 + 1), n)
        if offsets[d1] - offsets[d0] > chunk_shingles:  # one long document: the min over chunks of its shingles,
            m_P = None                                   # so memory stays P × chunk_shingles, not P × its length
            for s0 in range(int(offsets[d0]), int(offsets[d1]), chunk_shingles):
                v_PC = np.multiply(a_P[:, None], x_S[s0:min(s0 + chunk_shingles, int(offsets[d1]))][None, :])
                v_PC += b_P[:, None]
                m_P = v_PC.min(axis=1) if m_P is None else np.minimum(m_P, v_PC.min(axis=1))
            out[d0] = m_P >> np.uint64(32)
            d0 = d1
            continue
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
    bands, rows = config.lsh_bands_rows
    return [[sig[j * rows:(j + 1) * rows].tobytes() for j in range(bands)] for sig in signatures]


def near_duplicate_clusters(doc_ids: list[str], signatures: np.ndarray, config: DedupConfig) -> list[int]:
    """Cluster index per doc (the index of the cluster's smallest doc_id)."""
    n = len(doc_ids)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    bands, rows = config.lsh_bands_rows
    for j in range(bands):
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
