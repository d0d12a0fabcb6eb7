"""TAIL Recursion tasks: all contiguous substrings (DFS with explicit returns) and the derangement count D(n)."""

from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, int_verdict, split_list, tex
from s1data.bootcamp.tail.common import TailTask

_ALPHABETS = {2: "ab", 4: "abcd", 26: "abcdefghijklmnopqrstuvwxyz"}


class Substrings(TailTask):
    """List every contiguous substring of a string of ``length`` letters (duplicates kept: n(n+1)/2 of them).

    The recursion is ``top(i)`` -> ``sub(i, i+1)`` -> ``sub(i, i+2)`` ... with explicit "return to" states. The verifier
    compares the answer with the expected list as a multiset (order-free).
    """

    name = "tail_substrings"
    algorithm_class = "recursion"
    BUCKETS = {"S": (3, 5), "M": (6, 9), "L": (10, 14)}
    instruction = "List all substrings (repeats included), separated by commas."

    class Params(BaseParams):
        length: int = Field(3, ge=3, le=14, description="string length (S 3-5, M 6-9, L 10-14)")
        alphabet: int = Field(26, description="alphabet size: 2, 4 or 26 letters")

    GRID = {"length": list(range(3, 15)), "alphabet": [2, 26]}

    def generate(self, rng):
        return {"s": "".join(rng.choice(_ALPHABETS[self.params.alphabet]) for _ in range(self.params.length))}

    def statement(self, identity):
        s = identity["s"]
        return f"List all contiguous substrings of the string \"{s}\" (length {tex(len(s))}), counting repeated ones separately."

    def solve(self, identity):
        s = identity["s"]
        n, out, states = len(s), [], []
        for i in range(n):
            states.append(State([("i", i)], f"call top({i})", next=f"sub({i},{i + 1})"))
            for j in range(i + 1, n + 1):
                prev = s[i:j - 1]
                states.append(State([("prefix", repr(prev)), (f"s[{j - 1}]", s[j - 1])], f"sub({i},{j}): emit {s[i:j]!r}",
                                    next=f"sub({i},{j + 1})" if j < n else f"return to sub({i},{j - 1})" if j > i + 1 else f"return to top({i})"))
                out.append(s[i:j])
            for j in range(n - 1, i, -1):
                states.append(State([], f"sub({i},{j}) done", next=f"return to sub({i},{j - 1})" if j > i + 1 else f"return to top({i})"))
            states.append(State([], f"top({i}) done", next=f"top({i + 1})" if i + 1 < n else "HALT"))
        return Solution(", ".join(out), states)

    def check(self, answer, identity):
        got = split_list(answer)
        if not all(re.fullmatch(r"[a-z]+", t) for t in got):
            return False, "bootcamp_unparseable_answer"
        s = identity["s"]
        exp = Counter(s[i:j] for i in range(len(s)) for j in range(i + 1, len(s) + 1))
        return (True, "bootcamp_correct") if Counter(got) == exp else (False, "bootcamp_wrong_answer")


def derangements(n: int) -> int:
    a, b = 1, 0  # D(0), D(1)
    if n == 0:
        return 1
    for k in range(2, n + 1):
        a, b = b, (k - 1) * (a + b)
    return b


class Derangement(TailTask):
    """The number of derangements D(n) via the recursion D(n) = (n-1)(D(n-1) + D(n-2)), D(1)=0, D(2)=1.

    The trace descends from D(n) to the base cases, then returns upward, fetching the two memoised values.
    """

    name = "tail_derangement"
    algorithm_class = "recursion"
    BUCKETS = {"S": (3, 30), "M": (31, 60), "L": (61, 100)}
    instruction = "Give the exact integer."

    class Params(BaseParams):
        length: int = Field(3, ge=3, le=100, description="n (S 3-30, M 31-60, L 61-100)")

    GRID = {"length": list(range(3, 101))}

    def generate(self, rng):
        return {"n": self.params.length}

    def statement(self, identity):
        return (f"How many permutations of {tex(identity['n'])} distinct objects leave no object in its original "
                f"position (the derangement number $D({identity['n']})$)?")

    def solve(self, identity):
        n = identity["n"]
        states = [State([("n", k)], f"call D({k}) needs D({k - 1}), D({k - 2})", next=f"D({k - 1})") for k in range(n, 2, -1)]
        states.append(State([], "base: D(1)=0, D(2)=1", next="return to D(3)"))
        d = {1: 0, 2: 1}
        for k in range(3, n + 1):
            d[k] = (k - 1) * (d[k - 1] + d[k - 2])
            states.append(State([(f"D({k - 1})", d[k - 1]), (f"D({k - 2})", d[k - 2])],
                                f"D({k})={k - 1}*({d[k - 1]}+{d[k - 2]})={d[k]}",
                                next=f"return to D({k + 1})" if k < n else "HALT"))
        return Solution(str(d[n]), states)

    def check(self, answer, identity):
        return int_verdict(answer, derangements(identity["n"]))
