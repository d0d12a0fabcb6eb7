"""One budget for the per-process caches of the data stages: `$S1_CACHE_MB` (docs/operations.md, "Memory per
worker"). A module of its own so that a stage imports it without the filters' libraries."""

from __future__ import annotations

import os

CACHE_MB_DEFAULT = 256  # what the per-process caches of curation hold together at their default bounds, roughly


def cache_bound(default: int) -> int:
    """A per-process cache bound: `default` (sized for a production worker, where the caches of curation together
    hold ~CACHE_MB_DEFAULT MB: spaCy chunk infos, filter verdicts, silver-rule answers, SMILES candidates), scaled
    by `$S1_CACHE_MB` / CACHE_MB_DEFAULT when that variable is set (read at import; at least 1). The caches are
    exact: a smaller budget recomputes more, it never changes an output."""
    mb = os.environ.get("S1_CACHE_MB")
    if not mb:
        return default
    try:
        scale = float(mb) / CACHE_MB_DEFAULT
    except ValueError:
        raise ValueError(f"S1_CACHE_MB must be a number of megabytes, got {mb!r}") from None
    if scale <= 0:
        raise ValueError(f"S1_CACHE_MB must be > 0, got {mb!r}")
    return max(1, int(default * scale))
