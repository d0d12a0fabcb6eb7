"""TAIL Enumeration tasks: counting a letter, non-negative solutions of a*x1 + b*x2 = n, primes in an interval."""

from __future__ import annotations

import re

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, int_verdict, split_list, tex
from s1data.bootcamp.tail.common import TailTask, fmt_list
from s1data.bootcamp.tail.simulation import _WORDS


class CountLetters(TailTask):
    """Count the occurrences of a target letter in a sentence of ``length`` words, one character per state."""

    name = "tail_count_letters"
    algorithm_class = "enumeration"
    BUCKETS = {"S": (2, 6), "M": (7, 10), "L": (11, 20)}
    instruction = "Give the count as an integer."

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=20, description="words in the sentence (S 2-6, M 7-10, L 11-20)")

    GRID = {"length": list(range(2, 21))}

    def generate(self, rng):
        words = [rng.choice(_WORDS) for _ in range(self.params.length)]
        letters = sorted(set("".join(words)))
        return {"sentence": " ".join(words), "letter": rng.choice(letters)}

    def statement(self, identity):
        return f"How many times does the letter \"{identity['letter']}\" occur in the sentence \"{identity['sentence']}\"?"

    def solve(self, identity):
        c, s = identity["letter"], identity["sentence"]
        k, states = 0, []
        for i, ch in enumerate(s):
            if ch == " ":
                continue
            hit = ch == c
            states.append(State([(f"s[{i}]", ch), ("count", k)], f"{ch}{'=' if hit else '!='}{c} -> count={k + hit}"))
            k += hit
        return Solution(str(k), states)

    def check(self, answer, identity):
        return int_verdict(answer, identity["sentence"].count(identity["letter"]))


def _pairs(answer: str) -> list[tuple[int, int]] | None:
    if answer.strip().lower() in ("none", "\\emptyset", "empty", "no solution"):
        return []
    pairs = re.findall(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)", answer)
    rest = re.sub(r"\(\s*\d+\s*,\s*\d+\s*\)", "", answer)
    if not pairs or rest.strip(" ,;[]{}\\") != "":
        return None
    return [(int(a), int(b)) for a, b in pairs]


class LinearSolutions(TailTask):
    """All non-negative integer solutions (x1, x2) of a*x1 + b*x2 = n, enumerating x1 = 0, 1, ..., n // a."""

    name = "tail_linear_solutions"
    algorithm_class = "enumeration"
    BUCKETS = {"S": (10, 50), "M": (51, 100), "L": (101, 200)}
    instruction = "List every solution as a pair (x1, x2), comma separated; write none if there is none."

    class Params(BaseParams):
        length: int = Field(10, ge=10, le=200, description="right-hand side n (S 10-50, M 51-100, L 101-200)")
        coefficients: str = Field("small", pattern="^(small|large)$", description="a, b in 2-9 (small) or 10-30 (large)")

    GRID = {"length": list(range(10, 201, 2)), "coefficients": ["small", "large"]}

    def generate(self, rng):
        lo, hi = (2, 9) if self.params.coefficients == "small" else (10, 30)
        return {"a": rng.randint(lo, hi), "b": rng.randint(lo, hi), "n": self.params.length}

    def statement(self, identity):
        a, b, n = identity["a"], identity["b"], identity["n"]
        return f"Find all non-negative integer solutions of ${a}x_1 + {b}x_2 = {n}$."

    @staticmethod
    def solutions(a, b, n):
        return [(x1, (n - a * x1) // b) for x1 in range(n // a + 1) if (n - a * x1) % b == 0]

    def solve(self, identity):
        a, b, n = identity["a"], identity["b"], identity["n"]
        states = []
        for x1 in range(n // a + 1):
            r = n - a * x1
            ok = r % b == 0
            states.append(State([("n", n), ("a", a), ("x1", x1), ("b", b)],
                                f"r={n}-{a}*{x1}={r}; r mod {b}={r % b} -> {f'x2={r // b}, record' if ok else 'skip'}"))
        sols = self.solutions(a, b, n)
        return Solution(", ".join(f"({x}, {y})" for x, y in sols) if sols else "none", states)

    def check(self, answer, identity):
        got = _pairs(answer)
        if got is None:
            return False, "bootcamp_unparseable_answer"
        exp = self.solutions(identity["a"], identity["b"], identity["n"])
        return (True, "bootcamp_correct") if sorted(got) == exp else (False, "bootcamp_wrong_answer")


def is_prime(k: int) -> bool:
    return k >= 2 and all(k % d for d in range(2, int(k ** 0.5) + 1))


class PrimesInRange(TailTask):
    """All primes in [n, m], by trial division (one state per division). The interval of ``width`` numbers lies
    inside the bucket's range (S 5-100, M 101-200, L 201-300)."""

    name = "tail_primes"
    algorithm_class = "enumeration"
    BUCKETS = {"S": (5, 100), "M": (101, 200), "L": (201, 300)}
    instruction = "List the primes in increasing order, comma separated; write none if there is none."

    class Params(BaseParams):
        bucket: str = Field("S", pattern="^(S|M|L)$", description="range of the numbers: S 5-100, M 101-200, L 201-300")
        width: int = Field(10, ge=2, le=60, description="number of integers in [n, m]")

    GRID = {"bucket": ["S", "M", "L"], "width": [5, 10, 15, 20, 30, 40, 50]}

    def length_bucket(self):
        return self.params.bucket

    def generate(self, rng):
        lo, hi = self.BUCKETS[self.params.bucket]
        n = rng.randint(lo, hi - self.params.width + 1)
        return {"n": n, "m": n + self.params.width - 1}

    def statement(self, identity):
        return f"List all prime numbers $p$ with {tex(identity['n'])} $\\le p \\le$ {tex(identity['m'])}."

    def solve(self, identity):
        states, primes = [], []
        for k in range(identity["n"], identity["m"] + 1):
            prime = True
            for d in range(2, int(k ** 0.5) + 1):
                r = k % d
                states.append(State([("k", k), ("d", d)], f"{k} mod {d}={r}" + (" -> composite" if r == 0 else "")))
                if r == 0:
                    prime = False
                    break
            if prime:
                primes.append(k)
                states.append(State([("k", k)], f"no divisor up to sqrt({k}) -> prime; record {k}"))
        return Solution(fmt_list(primes) if primes else "none", states)

    def check(self, answer, identity):
        exp = [k for k in range(identity["n"], identity["m"] + 1) if is_prime(k)]
        if answer.strip().lower() == "none":
            got = []
        else:
            try:
                got = [int(t) for t in split_list(answer)]
            except ValueError:
                return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if got == exp else (False, "bootcamp_wrong_answer")
