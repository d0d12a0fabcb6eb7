"""TAIL Simulation tasks: large-number addition, large-number division, bubble sort, word flip, number comparison."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

from pydantic import Field

from s1data.bootcamp.base import BaseParams, Solution, State, split_list, tex
from s1data.bootcamp.tail.common import TailTask, fmt_list, rand_digits


def _with_point(rng, digits: str) -> str:
    """Insert a decimal point so that at least one digit stays on each side."""
    k = rng.randint(1, len(digits) - 1)
    return digits[:k] + "." + digits[k:]


class Addition(TailTask):
    """Add two large numbers; each operand has ``length`` digits or fewer (down to the bucket's lower bound).

    With ``decimal=True`` each operand carries a decimal point. The verifier compares exact decimal values, so
    ``4.50`` and ``4.5`` are both accepted. The TAIL trace adds column by column from the right, fetching the two
    digits and the carry in every state.
    """

    name = "tail_addition"
    algorithm_class = "simulation"
    BUCKETS = {"S": (10, 30), "M": (31, 40), "L": (41, 50)}
    supported_styles = frozenset({"tail", "tail_nl", "tail_no_fetch", "direct", "reversed", "index_hints",
                                  "tail_no_linear", "tail_no_atomic"})
    instruction = "Give the exact sum."

    class Params(BaseParams):
        length: int = Field(10, ge=10, le=50, description="digits of the longer operand (S 10-30, M 31-40, L 41-50)")
        decimal: bool = Field(False, description="operands carry a decimal point")

    GRID = {"length": list(range(10, 51)), "decimal": [False, True]}

    def generate(self, rng):
        n = self.params.length
        lo = self.BUCKETS[self.length_bucket()][0]
        a, b = rand_digits(rng, n), rand_digits(rng, rng.randint(lo, n))
        if rng.random() < 0.5:
            a, b = b, a
        if self.params.decimal:
            a, b = _with_point(rng, a), _with_point(rng, b)
        return {"a": a, "b": b}

    def statement(self, identity):
        return f"Compute {tex(identity['a'])} + {tex(identity['b'])}."

    @staticmethod
    def _align(a: str, b: str) -> tuple[str, str, int]:
        ai, _, af = a.partition(".")
        bi, _, bf = b.partition(".")
        f = max(len(af), len(bf))
        i = max(len(ai), len(bi))
        return ai.zfill(i) + af.ljust(f, "0"), bi.zfill(i) + bf.ljust(f, "0"), f

    def solve(self, identity):
        A, B, f = self._align(identity["a"], identity["b"])
        L = len(A)
        states = [State([("a", identity["a"]), ("b", identity["b"])],
                        f"align: a={A}, b={B}, fraction digits={f}",
                        nl=f"Align the operands to {L} columns with {f} digits after the point")]
        carry, out = 0, []
        for p in range(L):
            da, db = int(A[L - 1 - p]), int(B[L - 1 - p])
            t = da + db + carry
            states.append(State([(f"a[{p}]", da), (f"b[{p}]", db), ("c", carry)],
                                f"{da}+{db}+{carry}={t}; s[{p}]={t % 10}, c={t // 10}",
                                nl=f"Add column {p}: {da} + {db} + {carry} = {t}, write {t % 10} and carry {t // 10}"))
            out.append(t % 10)
            carry = t // 10
        if carry:
            out.append(carry)
            states.append(State([("c", carry)], f"s[{L}]={carry}", nl=f"Write the final carry {carry}"))
        digits = "".join(str(d) for d in reversed(out))
        ans = (digits[: len(digits) - f] + "." + digits[len(digits) - f:]) if f else digits
        ans = ans.lstrip("0") or "0"
        if ans.startswith("."):
            ans = "0" + ans
        states.append(State([("s", "".join(str(d) for d in reversed(out)))],
                            f"read result = {ans}", nl=f"Read the sum off the written digits: {ans}"))
        # Baselines from the paper: reversed digits (least significant first) and index hints.
        rev = [f"reverse a: {A[::-1]}", f"reverse b: {B[::-1]}",
               "sum, least significant digit first: " + "".join(str(d) for d in out),
               f"read back (point before the last {f} digits): {ans}"]
        hint = lambda s: " ".join(f"p{len(s) - 1 - i}:{ch}" for i, ch in enumerate(s))  # noqa: E731
        idx = [f"a = {hint(A)}", f"b = {hint(B)}",
               "s = " + hint("".join(str(d) for d in reversed(out))),
               f"read back (point before the last {f} digits): {ans}"]
        return Solution(ans, states, extra={"reversed": "\n".join(rev), "index_hints": "\n".join(idx),
                                            "tail_no_atomic": self._chunked_trace(identity, A, B, f, out, ans)})

    @staticmethod
    def _chunked_trace(identity: dict, A: str, B: str, f: int, out: list[int], ans: str) -> str:
        """TAIL without atomic states: each state adds ATOMIC_GROUP digit columns at once as multi-digit numbers."""
        from s1data.bootcamp.tail.ablations import ATOMIC_GROUP

        L, k = len(A), ATOMIC_GROUP
        lines = [f"[S1] fetch a={identity['a']}, b={identity['b']} | align: a={A}, b={B}, fraction digits={f} | -> S2"]
        carry, label = 0, 2
        for lo in range(0, L, k):
            hi = min(L, lo + k) - 1
            ca, cb = A[L - 1 - hi:L - lo], B[L - 1 - hi:L - lo]
            t = int(ca) + int(cb) + carry
            w = hi - lo + 1
            s_chunk, c = str(t % 10 ** w).zfill(w), t // 10 ** w
            lines.append(f"[S{label}] fetch a[{hi}:{lo}]={ca}, b[{hi}:{lo}]={cb}, c={carry} | "
                         f"{ca}+{cb}+{carry}={t}; s[{hi}:{lo}]={s_chunk}, c={c} | -> S{label + 1}")
            carry, label = c, label + 1
        if carry:
            lines.append(f"[S{label}] fetch c={carry} | s[{L}]={carry} | -> S{label + 1}")
            label += 1
        lines.append(f"[S{label}] fetch s={''.join(str(d) for d in reversed(out))} | read result = {ans} | -> HALT")
        return "\n".join(lines)

    def check(self, answer, identity):
        try:
            got = Decimal(answer.replace("{,}", "").replace(" ", ""))
        except InvalidOperation:
            return False, "bootcamp_unparseable_answer"
        with localcontext() as ctx:
            ctx.prec = 400  # exact for every length in the grid (the default 28 digits would round)
            exp = Decimal(identity["a"]) + Decimal(identity["b"])
        return (True, "bootcamp_correct") if got == exp else (False, "bootcamp_wrong_answer")


class Division(TailTask):
    """Integer long division of a ``length``-digit dividend by a ``divisor_digits``-digit divisor.

    Precision choice: the answer is the integer quotient and the remainder, ``\\boxed{q, r}``; both exact.
    """

    name = "tail_division"
    algorithm_class = "simulation"
    BUCKETS = {"S": (2, 5), "M": (6, 10), "L": (11, 20)}
    instruction = "Give the integer quotient and the remainder separated by a comma, as \\boxed{q, r}."

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=20, description="dividend digits (S 2-5, M 6-10, L 11-20)")
        divisor_digits: int = Field(1, ge=1, le=3, description="digits of the divisor")

    GRID = {"length": list(range(2, 21)), "divisor_digits": [1, 2, 3]}

    @classmethod
    def valid_params(cls, params):
        return params["divisor_digits"] <= params["length"]

    def generate(self, rng):
        d = int(rand_digits(rng, self.params.divisor_digits))
        if d == 1:
            d = rng.randint(2, 9)
        return {"dividend": rand_digits(rng, self.params.length), "divisor": d}

    def statement(self, identity):
        return f"Divide {tex(identity['dividend'])} by {tex(identity['divisor'])} using long division."

    def solve(self, identity):
        N, D = identity["dividend"], identity["divisor"]
        r, q, states = 0, [], []
        for i, ch in enumerate(N):
            t = r * 10 + int(ch)
            k = t // D
            states.append(State([("r", r), (f"n[{i}]", ch), ("D", D)],
                                f"t={r}*10+{ch}={t}; q[{i}]={k}; r={t}-{k}*{D}={t - k * D}",
                                nl=f"Bring down {ch}: {t}; {D} goes {k} times, remainder {t - k * D}"))
            q.append(str(k))
            r = t - k * D
        quotient = "".join(q).lstrip("0") or "0"
        states.append(State([("q", "".join(q)), ("r", r)], f"quotient={quotient}, remainder={r}"))
        return Solution(f"{quotient}, {r}", states)

    def check(self, answer, identity):
        parts = split_list(answer)
        if len(parts) != 2:
            return False, "bootcamp_unparseable_answer"
        try:
            q, r = int(parts[0]), int(parts[1])
        except ValueError:
            return False, "bootcamp_unparseable_answer"
        exp = divmod(int(identity["dividend"]), identity["divisor"])
        return (True, "bootcamp_correct") if (q, r) == exp else (False, "bootcamp_wrong_answer")


class BubbleSort(TailTask):
    """Bubble sort of ``length`` distinct integers; each comparison is one state that writes the whole array."""

    name = "tail_bubble_sort"
    algorithm_class = "simulation"
    BUCKETS = {"S": (2, 4), "M": (5, 6), "L": (7, 8)}

    class Params(BaseParams):
        length: int = Field(2, ge=2, le=8, description="number of values (S 2-4, M 5-6, L 7-8)")
        value_digits: int = Field(2, ge=1, le=3, description="digits of each value")
        order: str = Field("ascending", pattern="^(ascending|descending)$", description="target order")

    GRID = {"length": list(range(2, 9)), "value_digits": [2, 3], "order": ["ascending", "descending"]}

    def answer_instruction(self, identity):
        return f"Give the sorted list, comma separated, in {identity['order']} order."

    def generate(self, rng):
        lo, hi = 10 ** (self.params.value_digits - 1), 10 ** self.params.value_digits - 1
        return {"values": rng.sample(range(lo, hi + 1), self.params.length), "order": self.params.order}

    def statement(self, identity):
        vals = ", ".join(tex(v) for v in identity["values"])
        return f"Sort the numbers {vals} in {identity['order']} order with bubble sort."

    def solve(self, identity):
        x = list(identity["values"])
        desc = identity["order"] == "descending"
        states = []
        n = len(x)
        for p in range(n - 1):
            swapped = False
            for j in range(n - 1 - p):
                u, v = x[j], x[j + 1]
                bad = u < v if desc else u > v
                if bad:
                    x[j], x[j + 1] = v, u
                    swapped = True
                rel = ("<" if u < v else ">")
                states.append(State([(f"x[{j}]", u), (f"x[{j + 1}]", v)],
                                    f"pass {p + 1}: {u}{rel}{v} -> {'swap' if bad else 'keep'}; x=[{fmt_list(x)}]"))
            if not swapped:
                states.append(State([], f"pass {p + 1} made no swap: sorted"))
                break
        return Solution(fmt_list(x), states)

    def check(self, answer, identity):
        try:
            got = [int(t) for t in split_list(answer)]
        except ValueError:
            return False, "bootcamp_unparseable_answer"
        exp = sorted(identity["values"], reverse=identity["order"] == "descending")
        return (True, "bootcamp_correct") if got == exp else (False, "bootcamp_wrong_answer")


_WORDS = ("the", "cat", "sat", "on", "a", "warm", "mat", "blue", "river", "runs", "past", "old", "stone", "bridge",
          "quiet", "fox", "jumps", "over", "lazy", "dog", "light", "moves", "fast", "atom", "cell", "wave", "field",
          "energy", "gas", "acid", "base", "salt", "ion", "bond", "ring", "metal", "glass", "star", "moon", "sun")


def sentence_of_length(rng, n: int) -> str:
    """Random lowercase words joined by single spaces, exactly ``n`` characters (the last word may be cut)."""
    s = ""
    while len(s) < n:
        s = (s + " " + rng.choice(_WORDS)) if s else rng.choice(_WORDS)
    s = s[:n]
    if s.endswith(" "):
        s = s[:-1] + rng.choice("abcdefghijklmnopqrstuvwxyz")
    return s


class WordFlip(TailTask):
    """Reverse a sentence of ``length`` characters character by character ("hello world" -> "dlrow olleh").

    Choice: the flip is character-level (the length knob counts characters); the verifier compares exactly after
    stripping outer whitespace.
    """

    name = "tail_word_flip"
    algorithm_class = "simulation"
    BUCKETS = {"S": (10, 20), "M": (21, 50), "L": (51, 100)}
    instruction = "Give the reversed sentence, spaces included."

    class Params(BaseParams):
        length: int = Field(10, ge=10, le=100, description="characters in the sentence (S 10-20, M 21-50, L 51-100)")

    GRID = {"length": list(range(10, 101))}

    def generate(self, rng):
        return {"sentence": sentence_of_length(rng, self.params.length)}

    def statement(self, identity):
        return f"Reverse the following sentence character by character: \"{identity['sentence']}\" (it has {tex(len(identity['sentence']))} characters)."

    def solve(self, identity):
        s = identity["sentence"]
        out, states = "", []
        for i in range(len(s) - 1, -1, -1):
            out += s[i]
            states.append(State([(f"s[{i}]", repr(s[i])), ("out", repr(out[:-1]))], f"out={out!r}"))
        return Solution(out, states)

    def check(self, answer, identity):
        return (True, "bootcamp_correct") if answer == identity["sentence"][::-1] else (False, "bootcamp_wrong_answer")


class Compare(TailTask):
    """Compare two numbers of up to ``length`` digits; answer ``>``, ``<`` or ``=`` for "a ? b".

    Cases are built hard: half share the integer-part length and a long common prefix, a few are equal.
    """

    name = "tail_compare"
    algorithm_class = "simulation"
    BUCKETS = {"S": (5, 10), "M": (11, 20), "L": (21, 50)}
    instruction = "Answer with one symbol: >, < or =."

    class Params(BaseParams):
        length: int = Field(5, ge=5, le=50, description="digits of a (S 5-10, M 11-20, L 21-50)")
        decimal: bool = Field(False, description="numbers carry a decimal point")

    GRID = {"length": list(range(5, 51)), "decimal": [False, True]}

    def generate(self, rng):
        n = self.params.length
        a = rand_digits(rng, n)
        u = rng.random()
        if u < 0.1:
            b = a
        elif u < 0.6:
            k = rng.randint(0, n - 1)
            b = a[:k] + rand_digits(rng, n - k, lead_nonzero=k > 0)
        else:
            lo = self.BUCKETS[self.length_bucket()][0]
            b = rand_digits(rng, rng.randint(lo, n))
        if self.params.decimal:
            k = rng.randint(1, n - 1)
            a = a[:k] + "." + a[k:]
            kb = k if (u < 0.6) else rng.randint(1, len(b) - 1)
            kb = min(kb, len(b) - 1)
            b = b[:kb] + "." + b[kb:]
        if rng.random() < 0.5:
            a, b = b, a
        return {"a": a, "b": b}

    def statement(self, identity):
        return f"Compare $a = {identity['a']}$ and $b = {identity['b']}$. Is $a$ greater than, less than, or equal to $b$?"

    def solve(self, identity):
        a, b = identity["a"], identity["b"]
        ai, _, af = a.partition(".")
        bi, _, bf = b.partition(".")
        states = [State([("len(int a)", len(ai)), ("len(int b)", len(bi))], f"{len(ai)} vs {len(bi)}")]
        if len(ai) != len(bi):
            sym = ">" if len(ai) > len(bi) else "<"
            states[-1].op += f" -> a {sym} b"
            return Solution(sym, states)
        f = max(len(af), len(bf))
        A, B = ai + af.ljust(f, "0"), bi + bf.ljust(f, "0")
        states[-1].op += f" equal; pad fractions: a={A}, b={B}"
        for i, (x, y) in enumerate(zip(A, B)):
            if x != y:
                sym = ">" if x > y else "<"
                states.append(State([(f"a[{i}]", x), (f"b[{i}]", y)], f"{x}{sym}{y} -> a {sym} b"))
                return Solution(sym, states)
            states.append(State([(f"a[{i}]", x), (f"b[{i}]", y)], f"{x}={y} -> next digit"))
        states.append(State([], "all digits equal -> a = b"))
        return Solution("=", states)

    def check(self, answer, identity):
        sym = {">": ">", "\\gt": ">", "<": "<", "\\lt": "<", "=": "="}.get(answer.replace("a", "").replace("b", "").strip())
        if sym is None:
            return False, "bootcamp_unparseable_answer"
        x, y = Decimal(identity["a"]), Decimal(identity["b"])
        exp = ">" if x > y else "<" if x < y else "="
        return (True, "bootcamp_correct") if sym == exp else (False, "bootcamp_wrong_answer")
