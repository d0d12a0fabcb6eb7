"""Measuring near-duplicate recall and precision: plant edited copies of real texts at controlled Jaccard levels.

Used by `benchmarks/web_dedup.py recall` and the real-text tests; the texts come from the caller (real pages), never
from here. Nothing in the dedup path imports this module.

- `shingle_set(text, k)`: the exact word k-shingles (tuples of normalised words) that `minhash_signatures` hashes;
- `jaccard(a, b, k)`: exact Jaccard similarity of two texts' shingle sets;
- `plant_variant(text, target, kind, rng, vocab, k)`: an edited copy whose exact Jaccard with `text` is as close to
  `target` as the edit granularity allows; edits are word substitutions, deletions, insertions (`substitute`,
  `delete`, `insert`, `mixed`) or a paragraph / sentence shuffle followed by word substitutions (`shuffle`);
- `cluster_pairs(cluster_ids)`: the unordered pairs of row indices that share a cluster.
"""

from __future__ import annotations

import random
import re
from itertools import combinations

from s1data.dedup.minhash import _normalised_words

EDIT_KINDS = ("substitute", "delete", "insert", "mixed", "shuffle")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def shingle_set(text: str, k: int = 5) -> set[tuple[bytes, ...]]:
    words = _normalised_words(text)
    if len(words) < k:  # as `_batch_shingles`: a short doc is one shingle of all of its words
        return {tuple(words)}
    return {tuple(words[i:i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: str, b: str, k: int = 5) -> float:
    sa, sb = shingle_set(a, k), shingle_set(b, k)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def _units(text: str) -> list[str]:
    """Paragraphs when there are at least 3, else sentences."""
    paras = [p for p in text.split("\n") if p.strip()]
    return paras if len(paras) >= 3 else [s for s in _SENTENCE_END.split(text) if s]


def _apply(words: list[str], ops: list[tuple[str, float, str]]) -> list[str]:
    out = list(words)
    for op, pos, word in ops:
        i = int(pos * len(out))
        if op == "substitute":
            out[i] = word
        elif op == "delete" and len(out) > 1:
            del out[i]
        elif op == "insert":
            out.insert(i, word)
    return out


def plant_variant(text: str, target: float, kind: str, rng: random.Random, vocab: list[str],
                  k: int = 5) -> tuple[str, float, int]:
    """(variant, exact Jaccard with `text`, number of word edits). At least one word edit, so never an exact copy.

    The edit sequence is drawn once; the number of edits applied is bisected so that the Jaccard (which falls,
    nearly monotonically, with each edit) lands nearest `target`.
    """
    if kind not in EDIT_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {EDIT_KINDS}")
    base = text
    if kind == "shuffle":
        units = _units(text)
        if len(units) >= 2:
            order = list(range(len(units)))
            while order == sorted(order):
                rng.shuffle(order)
            sep = "\n" if "\n" in text else " "
            base = sep.join(units[i] for i in order)
    words = base.split()
    n_ops = max(2 * len(words), 4)
    kinds = {"substitute": ["substitute"], "delete": ["delete"], "insert": ["insert"],
             "mixed": ["substitute", "delete", "insert"], "shuffle": ["substitute"]}[kind]
    ops = [(rng.choice(kinds), rng.random(), rng.choice(vocab)) for _ in range(n_ops)]

    def sim(m: int) -> float:
        return jaccard(text, " ".join(_apply(words, ops[:m])), k)

    lo, hi = 1, n_ops  # smallest m with sim(m) <= target, by bisection (sim falls with m)
    if sim(lo) <= target:
        hi = lo
    while lo < hi:
        mid = (lo + hi) // 2
        if sim(mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    best = min({max(1, hi - 1), hi}, key=lambda m: (abs(sim(m) - target), m))
    variant = " ".join(_apply(words, ops[:best]))
    if "\n" in base and kind == "shuffle":  # keep paragraph breaks where the word count allows
        variant = _rejoin_paragraphs(base, variant)
    return variant, jaccard(text, variant, k), best


def _rejoin_paragraphs(base: str, variant: str) -> str:
    """Put newlines back after the same word counts as the paragraphs of `base` (whitespace only: same shingles)."""
    out, words, i = [], variant.split(), 0
    for para in base.split("\n"):
        n = len(para.split())
        out.append(" ".join(words[i:i + n]))
        i += n
    if i < len(words):
        out[-1] = (out[-1] + " " + " ".join(words[i:])).strip()
    return "\n".join(p for p in out if p)


def cluster_pairs(cluster_ids: list) -> set[tuple[int, int]]:
    """Unordered (i, j), i < j, of rows whose cluster ids are equal."""
    groups: dict = {}
    for i, c in enumerate(cluster_ids):
        groups.setdefault(c, []).append(i)
    return {(a, b) for g in groups.values() if len(g) > 1 for a, b in combinations(g, 2)}


def plant_pairs(texts: list[str], base_rows: list[int], vocab: list[str], seed: int = 0, lo: float = 0.35,
                hi: float = 1.0, k: int = 5) -> tuple[list[str], list[dict]]:
    """One variant per base row, target Jaccard uniform in [lo, hi), edit kinds in turn (`EDIT_KINDS`).

    Returns (variant texts, one record per variant: base row, variant index, exact jaccard, kind, target, edits).
    """
    rng = random.Random(seed)
    variants, records = [], []
    for n, row in enumerate(base_rows):
        kind = EDIT_KINDS[n % len(EDIT_KINDS)]
        target = rng.uniform(lo, hi)
        text, sim, edits = plant_variant(texts[row], target, kind, rng, vocab, k)
        records.append({"base": row, "variant": len(variants), "jaccard": sim, "kind": kind, "target": target,
                        "edits": edits})
        variants.append(text)
    return variants, records
