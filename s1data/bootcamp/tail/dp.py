"""TAIL dynamic-programming tasks: 0-1 knapsack, longest common subsequence, Levenshtein distance.

Each DP cell is one atomic state that fetches the cells it depends on from earlier states.
"""

from __future__ import annotations

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, int_verdict, tex
from s1data.bootcamp.tail.common import TailTask
from s1data.bootcamp.tail.recursion import _ALPHABETS


def knapsack(weights, values, cap) -> int:
    dp = [0] * (cap + 1)
    for w, v in zip(weights, values):
        for c in range(cap, w - 1, -1):
            dp[c] = max(dp[c], dp[c - w] + v)
    return dp[cap]


class Knapsack(TailTask):
    """0-1 knapsack with ``length`` items (weights 1-10, values 1-30); capacity = ``capacity_ratio`` x total weight."""

    name = "tail_knapsack"
    algorithm_class = "dynamic_programming"
    BUCKETS = {"S": (2, 3), "M": (4, 5), "L": (6, 8)}
    instruction = "Give the maximum total value as an integer."

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=8, description="number of items (S 2-3, M 4-5, L 6-8)")
        capacity_ratio: float = Field(0.5, gt=0, lt=1, description="capacity as a fraction of the total weight")

    GRID = {"length": list(range(2, 9)), "capacity_ratio": [0.3, 0.5, 0.7]}

    def generate(self, rng):
        n = self.params.length
        w = [rng.randint(1, 10) for _ in range(n)]
        return {"weights": w, "values": [rng.randint(1, 30) for _ in range(n)],
                "capacity": max(1, round(self.params.capacity_ratio * sum(w)))}

    def statement(self, identity):
        items = "; ".join(f"item {i + 1}: weight {tex(w)}, value {tex(v)}"
                          for i, (w, v) in enumerate(zip(identity["weights"], identity["values"])))
        return f"A knapsack holds total weight at most {tex(identity['capacity'])}. {items}. Each item can be taken at most once. What is the maximum total value?"

    def solve(self, identity):
        W, V, C = identity["weights"], identity["values"], identity["capacity"]
        n = len(W)
        dp = [[0] * (C + 1) for _ in range(n + 1)]
        states = [State([("C", C)], "dp[0][c]=0 for all c")]
        for i in range(1, n + 1):
            w, v = W[i - 1], V[i - 1]
            for c in range(C + 1):
                skip = dp[i - 1][c]
                if c >= w:
                    take = dp[i - 1][c - w] + v
                    dp[i][c] = max(skip, take)
                    states.append(State([(f"dp[{i - 1}][{c}]", skip), (f"dp[{i - 1}][{c - w}]", dp[i - 1][c - w]), (f"v{i}", v)],
                                        f"dp[{i}][{c}]=max({skip},{dp[i - 1][c - w]}+{v})={dp[i][c]}"))
                else:
                    dp[i][c] = skip
                    states.append(State([(f"dp[{i - 1}][{c}]", skip), (f"w{i}", w)], f"{w}>{c}: dp[{i}][{c}]={skip}"))
        return Solution(str(dp[n][C]), states)

    def check(self, answer, identity):
        return int_verdict(answer, knapsack(identity["weights"], identity["values"], identity["capacity"]))


def lcs_len(a: str, b: str) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


class _TwoStrings(TailTask):
    algorithm_class = "dynamic_programming"
    instruction = "Give the answer as an integer."

    def generate(self, rng):
        abc = _ALPHABETS[self.params.alphabet]
        n = self.params.length
        return {"a": "".join(rng.choice(abc) for _ in range(n)), "b": "".join(rng.choice(abc) for _ in range(n))}


class LongestCommonSubsequence(_TwoStrings):
    """Length of the longest common subsequence of two strings of ``length`` letters (choice: the length, which
    is unique, rather than one of possibly many subsequences)."""

    name = "tail_lcs"
    BUCKETS = {"S": (2, 6), "M": (7, 9), "L": (10, 12)}

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=12, description="length of each string (S 2-6, M 7-9, L 10-12)")
        alphabet: int = Field(4, description="alphabet size: 2 or 4 letters")

    GRID = {"length": list(range(2, 13)), "alphabet": [2, 4]}

    def statement(self, identity):
        return f"What is the length of the longest common subsequence of \"{identity['a']}\" and \"{identity['b']}\"?"

    def solve(self, identity):
        a, b = identity["a"], identity["b"]
        L = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        states = [State([], "L[i][0]=L[0][j]=0")]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                if a[i - 1] == b[j - 1]:
                    L[i][j] = L[i - 1][j - 1] + 1
                    states.append(State([(f"a[{i - 1}]", a[i - 1]), (f"b[{j - 1}]", b[j - 1]), (f"L[{i - 1}][{j - 1}]", L[i - 1][j - 1])],
                                        f"equal -> L[{i}][{j}]={L[i][j]}"))
                else:
                    L[i][j] = max(L[i - 1][j], L[i][j - 1])
                    states.append(State([(f"a[{i - 1}]", a[i - 1]), (f"b[{j - 1}]", b[j - 1]), (f"L[{i - 1}][{j}]", L[i - 1][j]), (f"L[{i}][{j - 1}]", L[i][j - 1])],
                                        f"differ -> L[{i}][{j}]=max={L[i][j]}"))
        return Solution(str(L[-1][-1]), states)

    def check(self, answer, identity):
        return int_verdict(answer, lcs_len(identity["a"], identity["b"]))


class Levenshtein(_TwoStrings):
    """Levenshtein (insert / delete / substitute, unit costs) distance between two strings of ``length`` letters."""

    name = "tail_levenshtein"
    BUCKETS = {"S": (2, 4), "M": (5, 7), "L": (8, 9)}

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=9, description="length of each string (S 2-4, M 5-7, L 8-9)")
        alphabet: int = Field(4, description="alphabet size: 2, 4 or 26 letters")

    GRID = {"length": list(range(2, 10)), "alphabet": [2, 4, 26]}

    def statement(self, identity):
        return f"What is the Levenshtein edit distance between \"{identity['a']}\" and \"{identity['b']}\"?"

    def solve(self, identity):
        a, b = identity["a"], identity["b"]
        D = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
        states = [State([], "D[i][0]=i, D[0][j]=j")]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                cost = int(a[i - 1] != b[j - 1])
                D[i][j] = min(D[i - 1][j] + 1, D[i][j - 1] + 1, D[i - 1][j - 1] + cost)
                states.append(State([(f"a[{i - 1}]", a[i - 1]), (f"b[{j - 1}]", b[j - 1]), (f"D[{i - 1}][{j}]", D[i - 1][j]),
                                     (f"D[{i}][{j - 1}]", D[i][j - 1]), (f"D[{i - 1}][{j - 1}]", D[i - 1][j - 1])],
                                    f"D[{i}][{j}]=min({D[i - 1][j]}+1,{D[i][j - 1]}+1,{D[i - 1][j - 1]}+{cost})={D[i][j]}"))
        return Solution(str(D[-1][-1]), states)

    def check(self, answer, identity):
        return int_verdict(answer, levenshtein(identity["a"], identity["b"]))
