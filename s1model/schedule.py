"""Warmup-Stable-Decay learning rate, as a multiplier of the peak LR (for torch's LambdaLR)."""

from __future__ import annotations

import math


def wsd_multiplier(step: int, max_steps: int, warmup_steps: int, decay_fraction: float, min_lr_ratio: float,
                   decay_shape: str = "1-sqrt") -> float:
    """Linear warm-up to 1 over warmup_steps, 1 until the last decay_fraction of max_steps, then decay to
    min_lr_ratio with shape linear, cosine or 1-sqrt (Hägele et al. 2024: 1 - sqrt(progress))."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = int(round(decay_fraction * max_steps))
    decay_start = max_steps - decay_steps
    if decay_steps <= 0 or step < decay_start:
        return 1.0
    progress = min(1.0, (step - decay_start + 1) / decay_steps)
    if decay_shape == "linear":
        shape = 1.0 - progress
    elif decay_shape == "cosine":
        shape = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif decay_shape == "1-sqrt":
        shape = 1.0 - math.sqrt(progress)
    else:
        raise ValueError(f"decay_shape {decay_shape!r} is not one of linear, cosine, 1-sqrt")
    return min_lr_ratio + (1.0 - min_lr_ratio) * shape
