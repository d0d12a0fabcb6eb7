"""TAIL Greedy tasks: Dijkstra shortest-path values and multi-machine scheduling with deadlines."""

from __future__ import annotations

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, int_verdict, split_list, tex
from s1data.bootcamp.tail.common import TailTask, fmt_list


def dijkstra(n: int, edges: list[list[int]]) -> list[int]:
    adj: dict[int, list[tuple[int, int]]] = {v: [] for v in range(n)}
    for u, v, w in edges:
        adj[u].append((v, w))
        adj[v].append((u, w))
    INF = float("inf")
    d = [INF] * n
    d[0] = 0
    done = [False] * n
    for _ in range(n):
        u = min((v for v in range(n) if not done[v]), key=lambda v: (d[v], v))
        done[u] = True
        for v, w in adj[u]:
            d[v] = min(d[v], d[u] + w)
    return [int(x) for x in d]


class Dijkstra(TailTask):
    """Shortest-path distances from vertex 0 in a connected undirected graph on ``length`` vertices.

    Choices: source is vertex 0; integer weights 1-20; the graph is a random spanning tree plus extra edges
    (``density`` sparse: about n/2 extra, dense: about a quarter of all pairs). Answer: d(0), ..., d(n-1). Ties in
    the selection go to the smaller vertex id.
    """

    name = "tail_dijkstra"
    algorithm_class = "greedy"
    BUCKETS = {"S": (3, 5), "M": (6, 10), "L": (11, 20)}
    instruction = "Give the distances d(0), d(1), ..., d(n-1) in order, comma separated."

    class Params(BaseParams):
        length: int = Field(3, ge=3, le=20, description="number of vertices (S 3-5, M 6-10, L 11-20)")
        density: str = Field("sparse", pattern="^(sparse|dense)$", description="how many edges beyond a spanning tree")

    GRID = {"length": list(range(3, 21)), "density": ["sparse", "dense"]}

    def generate(self, rng):
        n = self.params.length
        es: dict[tuple[int, int], int] = {}
        order = list(range(n))
        rng.shuffle(order)
        for k in range(1, n):
            u, v = order[k], order[rng.randrange(k)]
            es[(min(u, v), max(u, v))] = rng.randint(1, 20)
        extra = n // 2 if self.params.density == "sparse" else n * (n - 1) // 4
        for _ in range(extra):
            u, v = rng.sample(range(n), 2)
            es.setdefault((min(u, v), max(u, v)), rng.randint(1, 20))
        return {"n": n, "edges": sorted([u, v, w] for (u, v), w in es.items())}

    def statement(self, identity):
        es = "; ".join(f"${u}-{v}$ (weight {tex(w)})" for u, v, w in identity["edges"])
        return (f"An undirected graph has vertices $0$ to ${identity['n'] - 1}$ and edges: {es}. "
                f"Find the shortest-path distance from vertex $0$ to every vertex.")

    def solve(self, identity):
        n, edges = identity["n"], identity["edges"]
        adj: dict[int, list[tuple[int, int]]] = {v: [] for v in range(n)}
        for u, v, w in edges:
            adj[u].append((v, w))
            adj[v].append((u, w))
        INF = float("inf")
        d, done = [INF] * n, [False] * n
        d[0] = 0
        show = lambda: "[" + ", ".join("inf" if x == INF else str(int(x)) for x in d) + "]"  # noqa: E731
        states = [State([("n", n)], f"init d={show()}")]
        for _ in range(n):
            cand = [v for v in range(n) if not done[v]]
            u = min(cand, key=lambda v: (d[v], v))
            done[u] = True
            states.append(State([(f"d[{v}]", "inf" if d[v] == INF else int(d[v])) for v in cand],
                                f"select u={u} (smallest unvisited), mark visited"))
            for v, w in sorted(adj[u]):
                if done[v]:
                    continue
                new = d[u] + w
                if new < d[v]:
                    old = "inf" if d[v] == INF else int(d[v])
                    d[v] = new
                    states.append(State([(f"d[{u}]", int(d[u])), (f"w({u},{v})", w), (f"d[{v}]", old)],
                                        f"{int(d[u])}+{w}={int(new)}<{old} -> d[{v}]={int(new)}"))
                else:
                    states.append(State([(f"d[{u}]", int(d[u])), (f"w({u},{v})", w), (f"d[{v}]", int(d[v]))],
                                        f"{int(d[u])}+{w}={int(new)}>={int(d[v])} -> keep"))
        states.append(State([("d", show())], "all vertices visited"))
        return Solution(fmt_list(int(x) for x in d), states)

    def check(self, answer, identity):
        try:
            got = [int(t) for t in split_list(answer)]
        except ValueError:
            return False, "bootcamp_unparseable_answer"
        ok = got == dijkstra(identity["n"], identity["edges"])
        return (True, "bootcamp_correct") if ok else (False, "bootcamp_wrong_answer")


def max_benefit(tasks: list[list[int]], machines: int) -> int:
    """Greedy by profit, each task into the latest slot <= its deadline with a free machine (optimal: the feasible
    sets of unit jobs with deadlines form a matroid)."""
    used: dict[int, int] = {}
    total = 0
    for i in sorted(range(len(tasks)), key=lambda i: (-tasks[i][0], i)):
        p, dl = tasks[i]
        for t in range(dl, 0, -1):
            if used.get(t, 0) < machines:
                used[t] = used.get(t, 0) + 1
                total += p
                break
    return total


class Scheduling(TailTask):
    """Maximum total benefit of ``length`` unit-time tasks, each with a benefit and a deadline, on ``machines``
    identical queues (each queue runs one task per time unit; a task counts only if it finishes by its deadline).
    """

    name = "tail_scheduling"
    algorithm_class = "greedy"
    BUCKETS = {"S": (5, 10), "M": (11, 20), "L": (21, 50)}
    instruction = "Give the maximum total benefit as an integer."

    class Params(BaseParams):
        length: int = Field(5, ge=5, le=50, description="number of tasks (S 5-10, M 11-20, L 21-50)")
        machines: int = Field(1, ge=1, le=3, description="number of queues x")

    GRID = {"length": list(range(5, 51)), "machines": [1, 2, 3]}

    def generate(self, rng):
        n, x = self.params.length, self.params.machines
        horizon = max(1, (n + x - 1) // x - 1)  # a little tighter than needed so some tasks must be dropped
        return {"machines": x, "tasks": [[rng.randint(1, 99), rng.randint(1, horizon)] for _ in range(n)]}

    def statement(self, identity):
        ts = "; ".join(f"task {i + 1}: benefit {tex(p)}, deadline {tex(d)}" for i, (p, d) in enumerate(identity["tasks"]))
        return (f"There are {tex(identity['machines'])} identical machines; each runs one task per time unit, and "
                f"every task takes one unit. A task earns its benefit only if it finishes by its deadline. {ts}. "
                f"What is the maximum total benefit?")

    def solve(self, identity):
        tasks, x = identity["tasks"], identity["machines"]
        order = sorted(range(len(tasks)), key=lambda i: (-tasks[i][0], i))
        states = [State([("tasks", len(tasks))], "sort by benefit: " + ", ".join(f"t{i + 1}" for i in order))]
        used: dict[int, int] = {}
        total = 0
        for i in order:
            p, dl = tasks[i]
            placed = False
            for t in range(dl, 0, -1):
                u = used.get(t, 0)
                if u < x:
                    used[t] = u + 1
                    total += p
                    states.append(State([(f"t{i + 1}", f"({p},{dl})"), (f"used[{t}]", u), ("total", total - p)],
                                        f"slot {t} free ({u}<{x}): place; total={total}"))
                    placed = True
                    break
                states.append(State([(f"used[{t}]", u)], f"slot {t} full"))
            if not placed:
                states.append(State([(f"t{i + 1}", f"({p},{dl})")], "no slot: drop"))
        return Solution(str(total), states)

    def check(self, answer, identity):
        return int_verdict(answer, max_benefit(identity["tasks"], identity["machines"]))
