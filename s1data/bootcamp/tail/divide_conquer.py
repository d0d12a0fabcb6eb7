"""TAIL Divide & conquer task: binary search."""

from __future__ import annotations

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, int_verdict, tex
from s1data.bootcamp.tail.common import TailTask


class BinarySearch(TailTask):
    """Index (0-based) of a target in ``length`` increasing integers, or -1 if absent; mid = floor((l + r) / 2)."""

    name = "tail_binary_search"
    algorithm_class = "divide_and_conquer"
    BUCKETS = {"S": (5, 20), "M": (21, 40), "L": (41, 70)}
    instruction = "Give the 0-based index, or -1 if the target is absent."

    class Params(BaseParams):
        length: int = Field(5, ge=5, le=70, description="number of values (S 5-20, M 21-40, L 41-70)")
        present: bool = Field(True, description="whether the target occurs in the list")

    GRID = {"length": list(range(5, 71)), "present": [True, False]}

    def generate(self, rng):
        n = self.params.length
        vals = sorted(rng.sample(range(1, 10 * n), n))
        if self.params.present:
            t = rng.choice(vals)
        else:
            t = rng.choice([v for v in range(0, 10 * n + 1) if v not in set(vals)])
        return {"values": vals, "target": t}

    def statement(self, identity):
        return (f"Binary-search for {tex(identity['target'])} in the increasing list "
                f"[{', '.join(str(v) for v in identity['values'])}] using mid = floor((l + r) / 2).")

    def solve(self, identity):
        a, t = identity["values"], identity["target"]
        l, r, states = 0, len(a) - 1, []
        ans = -1
        while l <= r:
            m = (l + r) // 2
            if a[m] == t:
                states.append(State([("l", l), ("r", r), (f"a[{m}]", a[m]), ("t", t)], f"mid={m}; {a[m]}={t} -> found at {m}"))
                ans = m
                break
            if a[m] < t:
                states.append(State([("l", l), ("r", r), (f"a[{m}]", a[m]), ("t", t)], f"mid={m}; {a[m]}<{t} -> l={m + 1}"))
                l = m + 1
            else:
                states.append(State([("l", l), ("r", r), (f"a[{m}]", a[m]), ("t", t)], f"mid={m}; {a[m]}>{t} -> r={m - 1}"))
                r = m - 1
        if ans == -1:
            states.append(State([("l", l), ("r", r)], "l>r -> not found, -1"))
        return Solution(str(ans), states)

    def check(self, answer, identity):
        a, t = identity["values"], identity["target"]
        return int_verdict(answer, a.index(t) if t in a else -1)
