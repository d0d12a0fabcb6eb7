"""The shape of the breadth families: one problem family per class, one exact checker each, two knobs.

An ``ExactTask`` subclass implements ``make(rng, level) -> problem data``, ``question(identity) -> str``,
``expected(identity)`` (computed by the library that owns the science: RDKit, SymPy, pint, spglib, or plain
arithmetic where the formula is the whole story) and usually ``judge(answer, identity) -> (ok, reason)`` through one
of the checkers below. Knobs (every family): ``level`` 1-5 (size of numbers, sequences, expressions, molecules) and
``distractors`` 0/1 (the statement also carries irrelevant data the solver must ignore), so each family has 10
configurations; none of them is a length sweep.

Checkers never raise on garbage (the caller turns an exception into ``bootcamp_verifier_error`` anyway) and refuse
inputs that could make a parser or simplifier run away (``safe_expr``: a whitelist of names and characters, no
huge powers), so a hostile answer costs microseconds, not minutes.
"""

from __future__ import annotations

import math
import random
import re
from typing import Any, ClassVar

from pydantic import Field

from s1data.bootcamp.base import BaseParams, BaseTask, Solution, State, parse_float, parse_int

MAX_ANSWER_CHARS = 400


class ExactParams(BaseParams):
    level: int = Field(1, ge=1, le=5, description="difficulty 1-5: size of numbers, sequences, expressions")
    distractors: int = Field(0, ge=0, le=1, description="1: the statement also gives data irrelevant to the answer")


_DISTRACTORS = (
    "The measurement was taken on a Tuesday at {n} degrees Celsius room temperature.",
    "A previous, unrelated sample had a mass of {n} g.",
    "The laboratory notebook for this run is number {n}.",
    "An earlier draft of this problem used {n} as a parameter, but that value is not needed here.",
    "The instrument was last calibrated {n} days ago.",
)


class ExactTask(BaseTask):
    """Base of the breadth families (see the module docstring)."""

    family: ClassVar[str] = ""
    Params = ExactParams
    GRID: ClassVar[dict[str, list[Any]]] = {"level": [1, 2, 3, 4, 5], "distractors": [0, 1]}
    supported_styles = frozenset({"tail", "tail_nl", "tail_no_fetch", "direct"})

    # ---- hooks --------------------------------------------------------------------------------------------------
    def make(self, rng: random.Random, level: int) -> dict:
        raise NotImplementedError

    def question(self, identity: dict) -> str:
        raise NotImplementedError

    def expected(self, identity: dict) -> Any:
        raise NotImplementedError

    def render(self, value: Any) -> str:
        """The reference answer as the model should write it."""
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)

    def judge(self, answer: str, identity: dict) -> tuple[bool, str]:
        """Default: exact integer."""
        return check_int(answer, self.expected(identity))

    def wrong_answer(self, identity: dict, rng: random.Random) -> str | None:
        """A surely wrong answer for the fuzzer, where a generic perturbation (bump a digit, change a letter) could
        land on another right one; None: use the generic one."""
        return None

    def working(self, identity: dict) -> str:
        """One line of the computation for the trace (defaults to the family's docstring head)."""
        return (type(self).__doc__ or self.name).strip().split("\n")[0].rstrip(".")

    # ---- BaseTask hooks -----------------------------------------------------------------------------------------
    def generate(self, rng):
        identity = self.make(rng, self.params.level)
        if self.params.distractors:
            identity["distractor"] = rng.choice(_DISTRACTORS).format(n=rng.randint(2, 97))
        return identity

    def statement(self, identity):
        q = self.question(identity)
        return f"{identity['distractor']} {q}" if identity.get("distractor") else q

    def solve(self, identity):
        ans = self.render(self.expected(identity))
        fetch = [(k, v) for k, v in identity.items() if k not in ("task", "params", "template", "distractor")][:4]
        return Solution(ans, [State(fetch, f"{self.working(identity)} = {ans}")])

    def check(self, answer, identity):
        if len(answer) > MAX_ANSWER_CHARS:
            return False, "bootcamp_unparseable_answer"
        return self.judge(answer, identity)


# ---- checkers ---------------------------------------------------------------------------------------------------
def check_int(answer: str, expected: int) -> tuple[bool, str]:
    try:
        got = parse_int(answer)
    except ValueError:
        return False, "bootcamp_unparseable_answer"
    return (True, "bootcamp_correct") if got == int(expected) else (False, "bootcamp_wrong_answer")


def check_float(answer: str, expected: float, rel: float = 5e-3, abs_: float = 0.0) -> tuple[bool, str]:
    try:
        got = parse_float(answer)
    except ValueError:
        return False, "bootcamp_unparseable_answer"
    if not math.isfinite(got):
        return False, "bootcamp_unparseable_answer"
    return ((True, "bootcamp_correct") if abs(got - expected) <= max(rel * abs(expected), abs_)
            else (False, "bootcamp_wrong_answer"))


def check_word(answer: str, expected: str, allowed: tuple[str, ...] | None = None) -> tuple[bool, str]:
    a = re.sub(r"[\s_\-]+", " ", answer.strip().lower().rstrip("."))
    if allowed is not None and a not in {x.lower() for x in allowed}:
        return False, "bootcamp_unparseable_answer"
    return (True, "bootcamp_correct") if a == expected.lower() else (False, "bootcamp_wrong_answer")


def check_seq(answer: str, expected: str, alphabet: str) -> tuple[bool, str]:
    s = re.sub(r"[\s\-]", "", answer).upper()
    if not s or any(c not in alphabet for c in s):
        return False, "bootcamp_unparseable_answer"
    return (True, "bootcamp_correct") if s == expected else (False, "bootcamp_wrong_answer")


def check_int_list(answer: str, expected: list[int], ordered: bool = True) -> tuple[bool, str]:
    from s1data.bootcamp.base import split_list

    try:
        got = [parse_int(t) for t in split_list(answer)]
    except ValueError:
        return False, "bootcamp_unparseable_answer"
    if not ordered:
        got, expected = sorted(got), sorted(expected)
    return (True, "bootcamp_correct") if got == list(expected) else (False, "bootcamp_wrong_answer")


# ---- SymPy: a parser that cannot run away -------------------------------------------------------------------------
_EXPR_CHARS = re.compile(r"^[0-9a-zA-Z+\-*/^().,\s]*$")
_ALLOWED_NAMES = {"x", "y", "t", "sin", "cos", "tan", "exp", "log", "sqrt", "pi", "E", "I", "oo", "asin", "acos",
                  "atan", "sinh", "cosh", "tanh", "C1", "C2", "Abs"}


class UnsafeExpression(ValueError):
    pass


def safe_expr(text: str):
    """A SymPy expression from an answer, or ``UnsafeExpression``: whitelisted characters and names only, at most
    200 characters, integers below 10^40 and powers with a numeric exponent at most 64 (checked before evaluation,
    so ``9^9^9^9`` is refused, not computed)."""
    import sympy as sp
    from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                            standard_transformations)

    s = text.strip().replace("\\cdot", "*").replace("\\left", "").replace("\\right", "")
    s = re.sub(r"\\(sin|cos|tan|exp|log|ln|sqrt|pi)", r"\1", s).replace("ln(", "log(")
    s = re.sub(r"^\s*[a-zA-Z]\s*(\(\s*[a-z]\s*\))?\s*=\s*", "", s)  # "y(x) = ..." / "f = ..."
    s = re.sub(r"\s*\+\s*C\s*$", "", s)  # "+ C" of an antiderivative
    if not s or len(s) > 200 or not _EXPR_CHARS.match(s):
        raise UnsafeExpression("characters")
    names = set(re.findall(r"[A-Za-z][A-Za-z0-9]*", s))
    if not names <= _ALLOWED_NAMES:
        raise UnsafeExpression(f"names {sorted(names - _ALLOWED_NAMES)}")
    if any(len(d) > 40 for d in re.findall(r"\d+", s)):
        raise UnsafeExpression("number too large")
    local = {n: getattr(sp, n) for n in _ALLOWED_NAMES if hasattr(sp, n)}
    local.update({"x": sp.Symbol("x"), "y": sp.Symbol("y"), "t": sp.Symbol("t"), "C1": sp.Symbol("C1"),
                  "C2": sp.Symbol("C2"), "E": sp.E, "I": sp.I})
    tr = standard_transformations + (implicit_multiplication_application, convert_xor)
    raw = parse_expr(s, local_dict=local, transformations=tr, evaluate=False)
    for node in sp.preorder_traversal(raw):
        if isinstance(node, sp.Number) and abs(float(node)) > 1e40:
            raise UnsafeExpression("number too large")
        if isinstance(node, sp.Pow):
            exp_atoms = node.exp.atoms(sp.Number)
            if any(abs(float(a)) > 64 for a in exp_atoms):
                raise UnsafeExpression("power too large")
            # a power inside an exponent (9^9^9, x^(x^2)) is never an answer here; only reciprocals (x^(1/2))
            if any(isinstance(p, sp.Pow) and p.exp not in (-1, sp.Integer(-1)) for p in sp.preorder_traversal(node.exp)):
                raise UnsafeExpression("power tower")
            if isinstance(node.exp, sp.Mul) and len(node.exp.atoms(sp.Number)) > 3:
                raise UnsafeExpression("exponent too complex")
    out = parse_expr(s, local_dict=local, transformations=tr)
    if not isinstance(out, sp.Expr) or out.has(sp.nan, sp.zoo):
        raise UnsafeExpression("not a finite expression")
    return out


def sym_equal(a, b, var_names=("x",)) -> bool:
    """Numeric screen at 4 points, then an exact symbolic check ``simplify(a - b) == 0``."""
    import sympy as sp

    a, b = sp.sympify(a), sp.sympify(b)
    diff = a - b
    if diff == 0:
        return True
    syms = sorted(a.free_symbols | b.free_symbols, key=str)
    rng = random.Random(12345)
    for _ in range(4):
        pt = {s: sp.Rational(rng.randint(11, 29), 10) for s in syms}
        try:  # exact substitution first: a removable singularity gives nan (skipped), not a noisy float
            dv, bv = diff.subs(pt), b.subs(pt)
            if dv.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or bv.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
                continue
            val, ref = complex(dv.evalf(30)), complex(bv.evalf(30))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if not all(math.isfinite(v) for v in (val.real, val.imag, ref.real, ref.imag)):
            continue
        if abs(val) > 1e-8 * (1 + abs(ref)):
            return False
    return sp.simplify(diff) == 0


def check_expr(answer: str, expected, transform=None) -> tuple[bool, str]:
    """``transform(parsed_answer)`` (e.g. differentiate an antiderivative) is compared with ``expected``."""
    try:
        got = safe_expr(answer)
    except Exception:  # noqa: BLE001 -- SymPy raises many kinds on garbage
        return False, "bootcamp_unparseable_answer"
    try:
        if transform is not None:
            got = transform(got)
        same = sym_equal(got, expected)
    except (TypeError, ValueError, AttributeError):  # e.g. a bare function name parsed as a class
        return False, "bootcamp_unparseable_answer"
    return (True, "bootcamp_correct") if same else (False, "bootcamp_wrong_answer")


# ---- pint: quantities with units ----------------------------------------------------------------------------------
_UREG = None


def ureg():
    """The shared pint registry (built once per process: it parses pint's definition file)."""
    global _UREG
    if _UREG is None:
        import pint

        _UREG = pint.UnitRegistry()
    return _UREG


_QTY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:\\times|\*|x)?\s*(?:10\^\{?([+-]?\d+)\}?)?"
                  r"\s*(.*)$")


def parse_quantity(answer: str):
    """'12.5 km/s', '3.2e5 Pa', '4.1 \\times 10^{3} J' -> pint Quantity; a bare number is dimensionless."""
    s = answer.replace("{,}", "").replace("\\,", " ").replace("\\text", "").replace("\\mathrm", "")
    s = s.replace("{", "").replace("}", "").replace("\\", "").replace("·", "*").strip()
    m = _QTY.match(s)
    if not m:
        raise ValueError("not a quantity")
    value = float(m.group(1)) * (10 ** int(m.group(2)) if m.group(2) else 1)
    unit = m.group(3).strip() or "dimensionless"
    if len(unit) > 40 or not re.fullmatch(r"[A-Za-z0-9_ */^().\-°]*", unit):
        raise ValueError("not a unit")
    return value * ureg()(unit.replace("^", "**"))


def check_quantity(answer: str, expected_value: float, expected_unit: str, rel: float = 5e-3) -> tuple[bool, str]:
    """Any unit of the right dimension is accepted (converted by pint); the wrong dimension is wrong."""
    try:
        got = parse_quantity(answer)
        want = expected_value * ureg()(expected_unit)
        if got.dimensionality != want.dimensionality:
            return False, "bootcamp_wrong_unit"
        v = float(got.to(want.units).magnitude)
    except Exception:  # noqa: BLE001 -- pint raises its own errors on unknown units
        return False, "bootcamp_unparseable_answer"
    ok = math.isfinite(v) and abs(v - expected_value) <= rel * abs(expected_value)
    return (True, "bootcamp_correct") if ok else (False, "bootcamp_wrong_answer")


def sig(x: float, n: int = 5) -> str:
    return f"{x:.{n}g}"
