"""plan_mixture: a deterministic, token-weighted order of documents over domains and sources.

Deficit round-robin on tokens: the next document comes from the domain furthest below its target share (ties broken
by a seeded random rank), and inside it from the source furthest below its share; each pool is a seeded shuffle.
Given the same inputs and seed the plan is identical; shares are met to within one document.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from s1data.shards.config import ShardConfig


def plan_mixture(domains: list[str], sources: list[str], n_tokens: np.ndarray, config: ShardConfig,
                 seed: int) -> tuple[list[int], list[tuple[int, str, str]]]:
    """Returns (order of document indices, exclusions as (index, reason, detail)). n_tokens counts EOS."""
    rng = np.random.default_rng(seed)
    n = len(domains)
    exclusions: list[tuple[int, str, str]] = []
    eligible = []
    for i in range(n):
        if config.mixture and config.mixture.get(domains[i], 0) <= 0:
            exclusions.append((i, "shards_domain_not_in_mixture", f"domain {domains[i]!r}"))
        elif config.source_mixture and config.source_mixture.get(sources[i], 0) <= 0:
            exclusions.append((i, "shards_source_not_in_mixture", f"source_kind {sources[i]!r}"))
        else:
            eligible.append(i)
    if not config.mixture and not config.source_mixture and config.on_exhausted != "repeat":
        order = [eligible[j] for j in rng.permutation(len(eligible))]
        return _budget(order, n_tokens, config, exclusions)

    # Pools: domain -> source -> shuffled indices (source "*" when sources are not weighted).
    members: dict[str, dict[str, list[int]]] = {}
    for i in eligible:
        members.setdefault(domains[i], {}).setdefault(sources[i] if config.source_mixture else "*", []).append(i)
    dom_w = {d: (config.mixture[d] if config.mixture else float(sum(n_tokens[i] for s in ss.values() for i in s)))
             for d, ss in sorted(members.items())}
    src_w = {d: {s: (config.source_mixture[s] if config.source_mixture else 1.0) for s in sorted(ss)}
             for d, ss in members.items()}
    rank = {d: r for r, d in zip(rng.permutation(len(dom_w)), dom_w)}
    pools = {d: {s: deque(_shuffled(members[d][s], rng)) for s in src_w[d]} for d in dom_w}
    dom_tokens = dict.fromkeys(dom_w, 0)
    src_tokens = {d: dict.fromkeys(src_w[d], 0) for d in dom_w}
    active = set(dom_w)
    order: list[int] = []
    total = 0
    while active and (config.max_tokens is None or total < config.max_tokens):
        d = min(active, key=lambda k: (dom_tokens[k] / dom_w[k], rank[k]))
        live = [s for s in src_w[d] if s in pools[d]]
        s = min(live, key=lambda k: (src_tokens[d][k] / src_w[d][k], k))
        if not pools[d][s]:
            if config.on_exhausted == "stop":
                break
            if config.on_exhausted == "repeat":
                pools[d][s].extend(_shuffled(members[d][s], rng))
            else:  # renormalize: drop the source, and the domain when it has none left
                del pools[d][s]
                if not pools[d]:
                    active.discard(d)
                continue
        i = pools[d][s].popleft()
        order.append(i)
        dom_tokens[d] += int(n_tokens[i])
        src_tokens[d][s] += int(n_tokens[i])
        total += int(n_tokens[i])
    used = set(order)
    exclusions += [(i, "shards_mixture_budget_reached", "not drawn before the mixture ended")
                   for i in eligible if i not in used]
    return order, exclusions


def _shuffled(items: list[int], rng: np.random.Generator) -> list[int]:
    return [items[j] for j in rng.permutation(len(items))]


def _budget(order: list[int], n_tokens: np.ndarray, config: ShardConfig,
            exclusions: list[tuple[int, str, str]]) -> tuple[list[int], list[tuple[int, str, str]]]:
    if config.max_tokens is None:
        return order, exclusions
    total, kept = 0, []
    for i in order:
        if total >= config.max_tokens:
            exclusions.append((i, "shards_mixture_budget_reached", f"max_tokens={config.max_tokens} reached"))
            continue
        kept.append(i)
        total += int(n_tokens[i])
    return kept, exclusions
