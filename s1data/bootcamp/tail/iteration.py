"""TAIL Iteration task: population growth."""

from __future__ import annotations

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, int_verdict, tex
from s1data.bootcamp.tail.common import TailTask


def population(n: int, x: int, y: int, z: int) -> list[int]:
    """N(t) = y for t < x, else N(t-1) + z*N(t-x): every pair alive at t-x is mature at t and adds z pairs."""
    N: list[int] = []
    for t in range(n + 1):
        N.append(y if t < x else N[t - 1] + z * N[t - x])
    return N


class PopulationGrowth(TailTask):
    """Pairs after ``length`` time units. Recurrence choice: y newborn pairs at t=0; a pair starts breeding ``x``
    units after its birth and then adds ``z`` new pairs every unit, so N(t) = y for t < x and
    N(t) = N(t-1) + z*N(t-x). No pair dies. (x=2, y=1, z=1 is Fibonacci's rabbits.)
    """

    name = "tail_population_growth"
    algorithm_class = "iteration"
    BUCKETS = {"S": (1, 10), "M": (11, 25), "L": (26, 50)}
    instruction = "Give the exact number of pairs."

    class Params(BaseParams):
        length: int = Field(1, ge=1, le=50, description="number of time units n (S 1-10, M 11-25, L 26-50)")
        breed_age: int = Field(2, ge=1, le=3, description="x: units after birth when a pair starts breeding")

    GRID = {"length": list(range(1, 51)), "breed_age": [1, 2, 3]}

    def generate(self, rng):
        return {"n": self.params.length, "x": self.params.breed_age, "y": rng.randint(1, 5), "z": rng.randint(1, 3)}

    def statement(self, identity):
        n, x, y, z = identity["n"], identity["x"], identity["y"], identity["z"]
        return (f"A colony starts with {tex(y)} newborn pairs at time $0$. A pair begins to breed {tex(x)} time units "
                f"after its birth and from then on produces {tex(z)} new pairs every unit; no pair dies. "
                f"How many pairs are there at time {tex(n)}?")

    def solve(self, identity):
        n, x, y, z = identity["n"], identity["x"], identity["y"], identity["z"]
        N = population(n, x, y, z)
        states = []
        for t in range(n + 1):
            if t < x:
                states.append(State([("y", y)], f"N({t})={y} (no pair mature yet)"))
            else:
                states.append(State([(f"N({t - 1})", N[t - 1]), (f"N({t - x})", N[t - x]), ("z", z)],
                                    f"N({t})={N[t - 1]}+{z}*{N[t - x]}={N[t]}"))
        return Solution(str(N[n]), states)

    def check(self, answer, identity):
        return int_verdict(answer, population(identity["n"], identity["x"], identity["y"], identity["z"])[-1])
