"""TAIL Backtracking task: permutations / combinations by depth-first choose-and-undo."""

from __future__ import annotations

import re
from itertools import combinations, permutations

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, tex
from s1data.bootcamp.tail.common import TailTask


class PermutationsCombinations(TailTask):
    """All k-permutations or k-combinations of a list of ``length`` distinct integers, by backtracking.

    Size choice (keeps L traces finite): permutations use k = min(n, 3); combinations use k = ceil(n / 2).
    The verifier compares sets of tuples (order of the list free; order inside a combination free).
    """

    name = "tail_permutations"
    algorithm_class = "backtracking"
    BUCKETS = {"S": (2, 4), "M": (5, 6), "L": (7, 8)}
    instruction = "List every arrangement as a tuple like (1, 2), comma separated."

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=8, description="number of list elements (S 2-4, M 5-6, L 7-8)")
        mode: str = Field("permutations", pattern="^(permutations|combinations)$", description="what to enumerate")

    GRID = {"length": list(range(2, 9)), "mode": ["permutations", "combinations"]}

    def generate(self, rng):
        n = self.params.length
        k = min(n, 3) if self.params.mode == "permutations" else (n + 1) // 2
        return {"items": rng.sample(range(1, 20), n), "k": k, "mode": self.params.mode}

    def statement(self, identity):
        items = ", ".join(str(x) for x in identity["items"])
        what = "ordered selections (permutations)" if identity["mode"] == "permutations" else "unordered selections (combinations)"
        return f"List all {what} of {tex(identity['k'])} elements from [{items}], step by step with backtracking."

    def solve(self, identity):
        items, k, perm = identity["items"], identity["k"], identity["mode"] == "permutations"
        states, out = [], []

        def dfs(path, start):
            if len(path) == k:
                out.append(tuple(path))
                states.append(State([("path", list(path))], f"emit ({', '.join(map(str, path))})",
                                    next=f"return to {list(path[:-1])}"))
                return
            pool = range(len(items)) if perm else range(start, len(items))
            for i in pool:
                if perm and items[i] in path:
                    continue
                states.append(State([("path", list(path)), (f"item[{i}]", items[i])], f"choose {items[i]} -> {list(path) + [items[i]]}"))
                dfs(path + [items[i]], i + 1)
            states.append(State([("path", list(path))], f"options of {list(path)} exhausted",
                                next=f"return to {list(path[:-1])}" if path else "HALT"))

        dfs([], 0)
        return Solution(", ".join("(" + ", ".join(map(str, t)) + ")" for t in out), states)

    def check(self, answer, identity):
        tuples = re.findall(r"\(([^()]*)\)", answer)
        if not tuples or re.sub(r"\([^()]*\)", "", answer).strip(" ,;[]") != "":
            return False, "bootcamp_unparseable_answer"
        try:
            got = [tuple(int(x) for x in t.split(",")) for t in tuples]
        except ValueError:
            return False, "bootcamp_unparseable_answer"
        items, k = identity["items"], identity["k"]
        if identity["mode"] == "permutations":
            exp = set(permutations(items, k))
            ok = len(got) == len(set(got)) and set(got) == exp
        else:
            norm = [frozenset(t) for t in got]
            exp = {frozenset(c) for c in combinations(items, k)}
            ok = all(len(t) == k for t in got) and len(norm) == len(set(norm)) and set(norm) == exp
        return (True, "bootcamp_correct") if ok else (False, "bootcamp_wrong_answer")
