"""Shared base for the 18 TAIL tasks: a length knob mapped to the paper's S / M / L buckets."""

from __future__ import annotations

from typing import ClassVar

from s1data.bootcamp.base import BASE_STYLES, BaseTask


class TailTask(BaseTask):
    """A TAIL task whose ``length`` parameter falls in one of the S / M / L ranges of ``BUCKETS``."""

    domain = "tail"
    BUCKETS: ClassVar[dict[str, tuple[int, int]]] = {}
    supported_styles: ClassVar[frozenset[str]] = BASE_STYLES | {"tail_no_linear", "tail_no_atomic"}

    def reference_solution(self, identity: dict, style: str = "tail") -> str:
        """Every base style, plus the Table 2 ablations ``tail_no_linear`` / ``tail_no_atomic`` (see ablations)."""
        from s1data.bootcamp.tail.ablations import ABLATION_STYLES, render

        if style in ABLATION_STYLES:
            return render(self, identity, style)
        return super().reference_solution(identity, style)

    def length_bucket(self) -> str:
        return bucket_of(self.BUCKETS, self.params.length)  # type: ignore[attr-defined]

    @classmethod
    def length_grid(cls) -> list[int]:
        lo = min(a for a, _ in cls.BUCKETS.values())
        hi = max(b for _, b in cls.BUCKETS.values())
        return list(range(lo, hi + 1))


def bucket_of(buckets: dict[str, tuple[int, int]], n: int) -> str:
    for name, (lo, hi) in buckets.items():
        if lo <= n <= hi:
            return name
    raise ValueError(f"length {n} is outside every bucket {buckets}; pick a length inside one of them")


def rand_digits(rng, n: int, lead_nonzero: bool = True) -> str:
    first = str(rng.randint(1, 9)) if lead_nonzero else str(rng.randint(0, 9))
    return first + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def fmt_list(xs) -> str:
    return ", ".join(str(x) for x in xs)
