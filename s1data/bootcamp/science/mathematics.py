"""Mathematics families checked by SymPy: calculus, algebra, ODEs, linear algebra, number theory, probability.

Answers that are expressions are parsed by ``safe_expr`` and compared symbolically (``simplify(a - b) == 0`` after a
numeric screen); an antiderivative is checked by differentiating it; an ODE answer by the exact solution of the
initial-value problem; a factorisation must be equal *and* a product.
"""

from __future__ import annotations

import random

from s1data.bootcamp.science.exact import ExactTask, check_expr, check_int, check_int_list, safe_expr, sym_equal


def _sp():
    import sympy as sp

    return sp


def _x():
    return _sp().Symbol("x")


def _rand_poly(rng: random.Random, degree: int, coef: int = 5) -> str:
    terms = []
    for d in range(degree, -1, -1):
        c = rng.randint(-coef, coef)
        if d == degree and c == 0:
            c = 1
        if c:
            terms.append(f"{c}*x**{d}" if d > 1 else f"{c}*x" if d == 1 else f"{c}")
    return " + ".join(terms) or "1"


_ATOMS = ("sin(x)", "cos(x)", "exp(x)", "log(x)", "sqrt(x)", "exp(2*x)", "sin(3*x)", "x**3", "cos(x)**2")


def _rand_function(rng: random.Random, level: int) -> str:
    """A sum/product of elementary pieces whose size grows with level."""
    parts = [_rand_poly(rng, min(level + 1, 4), 4)]
    for _ in range(level - 1):
        a = rng.choice(_ATOMS)
        parts.append(rng.choice([f"{rng.randint(1, 5)}*{a}", f"({_rand_poly(rng, 1, 3)})*{a}"]))
    return " + ".join(f"({p})" for p in parts)


def _tex(expr_text: str) -> str:
    sp = _sp()
    return "$" + sp.latex(sp.sympify(expr_text)) + "$"


class MathTask(ExactTask):
    domain = "math"
    family = "mathematics"
    instruction = "Give the exact answer as an expression in x (e.g. 3*x**2 + sin(x))."

    def render(self, value):
        return str(value).replace("**", "^")

    def judge(self, answer, identity):
        return check_expr(answer, self.expected(identity))


class Derivative(MathTask):
    """d/dx of an elementary function (sums and products of polynomials, sin, cos, exp, log, sqrt)."""

    name = "math_derivative"

    def make(self, rng, level):
        return {"f": _rand_function(rng, level)}

    def question(self, identity):
        return f"Differentiate $f(x) = {_sp().latex(_sp().sympify(identity['f']))}$ with respect to $x$."

    def expected(self, identity):
        return _sp().diff(_sp().sympify(identity["f"]), _x())


class Antiderivative(MathTask):
    """An antiderivative; any one is accepted: the answer is checked by differentiating it (constant ignored)."""

    name = "math_antiderivative"
    instruction = "Give one antiderivative as an expression in x (the constant of integration may be omitted)."

    def make(self, rng, level):
        return {"F": _rand_function(rng, level)}

    def question(self, identity):
        g = _sp().diff(_sp().sympify(identity["F"]), _x())
        return f"Find $\\int {_sp().latex(g)} \\, dx$."

    def expected(self, identity):
        return _sp().sympify(identity["F"])

    def wrong_answer(self, identity, rng):
        # a changed constant term is still an antiderivative: the wrong answer adds a non-constant term instead
        return self.render(self.expected(identity) + _x())

    def judge(self, answer, identity):
        g = _sp().diff(_sp().sympify(identity["F"]), _x())
        return check_expr(answer, g, transform=lambda e: _sp().diff(e, _x()))


class DefiniteIntegral(MathTask):
    """Exact value of a polynomial's definite integral over integer bounds."""

    name = "math_definite_integral"
    instruction = "Give the exact value (a fraction such as 7/3 if needed)."

    def make(self, rng, level):
        a = rng.randint(-3, 2)
        return {"f": _rand_poly(rng, level + 1, 6), "a": a, "b": a + rng.randint(1, 3)}

    def question(self, identity):
        return (f"Compute $\\int_{{{identity['a']}}}^{{{identity['b']}}} "
                f"{_sp().latex(_sp().sympify(identity['f']))} \\, dx$.")

    def expected(self, identity):
        sp = _sp()
        return sp.integrate(sp.sympify(identity["f"]), (_x(), identity["a"], identity["b"]))


class Limit(MathTask):
    """Limit of a rational function with a removable singularity at x = a (or at infinity)."""

    name = "math_limit"
    instruction = "Give the exact value (a fraction if needed, oo for infinity)."

    def make(self, rng, level):
        sp = _sp()
        a = rng.randint(-4, 4)
        at = "oo" if level >= 4 and rng.random() < 0.5 else str(a)
        while True:  # the reduced denominator must not vanish at x = a: the limit exists (two-sided, finite)
            d = _rand_poly(rng, min(level, 3), 5)
            if at == "oo" or sp.sympify(d).subs(_x(), a) != 0:
                break
        num = f"(x - {a})*({_rand_poly(rng, min(level, 3), 5)})"
        return {"num": num, "den": f"(x - {a})*({d})", "at": at}

    def question(self, identity):
        sp = _sp()
        f = sp.sympify(identity["num"]) / sp.sympify(identity["den"])
        at = "\\infty" if identity["at"] == "oo" else identity["at"]
        return f"Evaluate $\\lim_{{x \\to {at}}} {sp.latex(sp.expand(sp.sympify(identity['num'])))} / " \
               f"({sp.latex(sp.expand(sp.sympify(identity['den'])))})$." if f is not None else ""

    def expected(self, identity):
        sp = _sp()
        f = sp.sympify(identity["num"]) / sp.sympify(identity["den"])
        return sp.limit(f, _x(), sp.oo if identity["at"] == "oo" else int(identity["at"]))

    def judge(self, answer, identity):
        sp = _sp()
        want = self.expected(identity)
        try:
            got = safe_expr(answer)
        except Exception:  # noqa: BLE001
            return False, "bootcamp_unparseable_answer"
        if want.is_infinite or got.is_infinite:
            return (True, "bootcamp_correct") if got == want else (False, "bootcamp_wrong_answer")
        if got.free_symbols:
            return False, "bootcamp_wrong_answer"
        return (True, "bootcamp_correct") if sp.simplify(got - want) == 0 else (False, "bootcamp_wrong_answer")


class PolynomialRoots(MathTask):
    """All integer roots (with multiplicity) of an expanded polynomial with integer roots."""

    name = "math_polynomial_roots"
    instruction = "List every root with multiplicity, separated by commas."

    def make(self, rng, level):
        return {"roots": [rng.randint(-6 - level, 6 + level) for _ in range(level + 1)]}

    def question(self, identity):
        sp = _sp()
        p = sp.expand(sp.prod([(_x() - r) for r in identity["roots"]]))
        return f"Find all roots of ${sp.latex(p)} = 0$."

    def expected(self, identity):
        sp = _sp()
        p = sp.Poly(sp.prod([(_x() - r) for r in identity["roots"]]), _x())
        return sorted(int(r) for r, m in sp.roots(p).items() for _ in range(m))

    def render(self, value):
        return ", ".join(map(str, value))

    def judge(self, answer, identity):
        return check_int_list(answer, self.expected(identity), ordered=False)


class LinearSystem(MathTask):
    """The unique integer solution of an n x n linear system (solved by SymPy)."""

    name = "math_linear_system"
    instruction = "Give the values of the unknowns in order, separated by commas."

    def make(self, rng, level):
        n = 2 if level <= 2 else 3 if level <= 4 else 4
        sp = _sp()
        while True:
            A = [[rng.randint(-5, 5) for _ in range(n)] for _ in range(n)]
            if sp.Matrix(A).det() != 0:
                break
        sol = [rng.randint(-9, 9) for _ in range(n)]
        b = [sum(a * s for a, s in zip(row, sol)) for row in A]
        return {"A": A, "b": b}

    def question(self, identity):
        names = "xyzw"
        eqs = []
        for row, bi in zip(identity["A"], identity["b"]):
            eqs.append(" + ".join(f"{a}{names[j]}" for j, a in enumerate(row)) + f" = {bi}")
        return "Solve the system: " + "; ".join(f"${e}$" for e in eqs) + f" for {', '.join(names[:len(eqs)])}."

    def expected(self, identity):
        sp = _sp()
        return [int(v) for v in sp.Matrix(identity["A"]).LUsolve(sp.Matrix(identity["b"]))]

    def render(self, value):
        return ", ".join(map(str, value))

    def judge(self, answer, identity):
        return check_int_list(answer, self.expected(identity))


class FirstOrderODE(MathTask):
    """y' + a y = b with y(0) = c, solved exactly by SymPy's dsolve; the answer is y(x)."""

    name = "math_ode_first_order"
    instruction = "Give y(x) as an explicit expression in x."

    def make(self, rng, level):
        a = rng.choice([k for k in range(-level - 1, level + 2) if k])
        return {"a": a, "b": rng.randint(-5, 5) * (level > 1), "c": rng.randint(-5, 5)}

    def question(self, identity):
        return (f"Solve $y'(x) + {identity['a']} y(x) = {identity['b']}$ with $y(0) = {identity['c']}$.")

    def expected(self, identity):
        # the closed form SymPy's dsolve returns (tests/s1data/bootcamp/science/test_breadth.py checks that)
        sp = _sp()
        a, b, c = (sp.Integer(identity[k]) for k in ("a", "b", "c"))
        return b / a + (c - b / a) * sp.exp(-a * _x())


class SecondOrderODE(MathTask):
    """y'' - (r1 + r2) y' + r1 r2 y = 0 with y(0), y'(0) given (distinct integer characteristic roots)."""

    name = "math_ode_second_order"
    instruction = "Give y(x) as an explicit expression in x."

    def make(self, rng, level):
        r1 = rng.randint(-level - 1, level + 1)
        r2 = rng.choice([r for r in range(-level - 2, level + 3) if r != r1])
        return {"r1": r1, "r2": r2, "y0": rng.randint(-4, 4), "dy0": rng.randint(-4, 4)}

    def question(self, identity):
        p, q = -(identity["r1"] + identity["r2"]), identity["r1"] * identity["r2"]
        return (f"Solve $y'' + ({p}) y' + ({q}) y = 0$ with $y(0) = {identity['y0']}$ and "
                f"$y'(0) = {identity['dy0']}$.")

    def expected(self, identity):
        # y = A e^(r1 x) + B e^(r2 x) with A + B = y0 and r1 A + r2 B = y'(0) (equal to dsolve's; see the tests)
        sp = _sp()
        r1, r2, y0, dy0 = (sp.Integer(identity[k]) for k in ("r1", "r2", "y0", "dy0"))
        B = (dy0 - r1 * y0) / (r2 - r1)
        return (y0 - B) * sp.exp(r1 * _x()) + B * sp.exp(r2 * _x())


class Factor(MathTask):
    """Factor a polynomial over the integers: equal to it and written as a product."""

    name = "math_factor"
    instruction = "Give the factored form (a product of factors)."

    def make(self, rng, level):
        return {"roots": [rng.randint(-7, 7) for _ in range(level + 1)], "lead": rng.choice([1, 1, 2, 3])}

    def _poly(self, identity):
        sp = _sp()
        return identity["lead"] * sp.prod([(_x() - r) for r in identity["roots"]])

    def question(self, identity):
        return f"Factor ${_sp().latex(_sp().expand(self._poly(identity)))}$ completely over the integers."

    def expected(self, identity):
        return _sp().factor(self._poly(identity))

    def judge(self, answer, identity):
        sp = _sp()
        try:
            got = safe_expr(answer)
        except Exception:  # noqa: BLE001
            return False, "bootcamp_unparseable_answer"
        if not sym_equal(got, self._poly(identity)):
            return False, "bootcamp_wrong_answer"
        if not isinstance(got, (sp.Mul, sp.Pow)) and sp.degree(got, _x()) > 1:
            return False, "bootcamp_not_factored"
        return True, "bootcamp_correct"


class Expand(MathTask):
    """Expand a product of polynomials: equal and written as a sum of monomials."""

    name = "math_expand"
    instruction = "Give the expanded polynomial."

    def make(self, rng, level):
        return {"factors": [_rand_poly(rng, rng.randint(1, 2), 4) for _ in range(level + 1)]}

    def _product(self, identity):
        return _sp().prod([_sp().sympify(f) for f in identity["factors"]])

    def question(self, identity):
        return "Expand $" + " ".join(f"({_sp().latex(_sp().sympify(f))})" for f in identity["factors"]) + "$."

    def expected(self, identity):
        return _sp().expand(self._product(identity))

    def judge(self, answer, identity):
        sp = _sp()
        try:
            got = safe_expr(answer)
        except Exception:  # noqa: BLE001
            return False, "bootcamp_unparseable_answer"
        if sp.expand(got) != self.expected(identity):
            return False, "bootcamp_wrong_answer"
        if sp.expand(got) != got:
            return False, "bootcamp_not_expanded"
        return True, "bootcamp_correct"


class PartialFractions(MathTask):
    """Partial-fraction decomposition of a rational function with distinct linear factors in the denominator."""

    name = "math_partial_fractions"
    instruction = "Give the decomposition as a sum of terms A/(x - r)."

    def make(self, rng, level):
        roots = rng.sample(range(-6, 7), level + 1)
        return {"roots": roots, "num": _rand_poly(rng, level, 6)}

    def _f(self, identity):
        sp = _sp()
        return sp.sympify(identity["num"]) / sp.prod([(_x() - r) for r in identity["roots"]])

    def question(self, identity):
        sp = _sp()
        return f"Decompose ${sp.latex(sp.sympify(identity['num']))} / ({sp.latex(sp.expand(sp.prod([(_x() - r) for r in identity['roots']])))})$ into partial fractions."

    def expected(self, identity):
        return _sp().apart(self._f(identity), _x())

    def judge(self, answer, identity):
        sp = _sp()
        try:
            got = safe_expr(answer)
        except Exception:  # noqa: BLE001
            return False, "bootcamp_unparseable_answer"
        if not sym_equal(got, self._f(identity)):
            return False, "bootcamp_wrong_answer"
        terms = sp.Add.make_args(got)
        if any(sp.degree(sp.denom(t), _x()) > 1 for t in terms):
            return False, "bootcamp_not_decomposed"
        return True, "bootcamp_correct"


class TaylorCoefficient(MathTask):
    """The coefficient of x^n in the Maclaurin series of an elementary function."""

    name = "math_taylor_coefficient"
    instruction = "Give the exact coefficient (a fraction if needed)."

    def make(self, rng, level):
        f = rng.choice(["exp(x)", "sin(x)", "cos(x)", "log(1 + x)", "1/(1 - x)", "exp(2*x)", "sqrt(1 + x)",
                        "atan(x)", "exp(x)*sin(x)", "cos(x)/(1 - x)"])
        return {"f": f, "n": rng.randint(1, 2 + 2 * level)}

    def question(self, identity):
        return (f"What is the coefficient of $x^{{{identity['n']}}}$ in the Maclaurin series of "
                f"${_sp().latex(_sp().sympify(identity['f']))}$?")

    def expected(self, identity):
        sp = _sp()
        s = sp.series(sp.sympify(identity["f"]), _x(), 0, identity["n"] + 1).removeO()
        return sp.expand(s).coeff(_x(), identity["n"])


class Determinant(MathTask):
    """Determinant of an integer matrix."""

    name = "math_determinant"
    instruction = "Give the integer value."

    def make(self, rng, level):
        n = 2 + (level + 1) // 2
        return {"M": [[rng.randint(-4 - level, 4 + level) for _ in range(n)] for _ in range(n)]}

    def question(self, identity):
        return f"Compute the determinant of ${_sp().latex(_sp().Matrix(identity['M']))}$."

    def expected(self, identity):
        return int(_sp().Matrix(identity["M"]).det())

    def render(self, value):
        return str(value)

    def judge(self, answer, identity):
        return check_int(answer, self.expected(identity))


class Eigenvalues(MathTask):
    """Eigenvalues (with multiplicity) of an integer matrix built to have integer eigenvalues."""

    name = "math_eigenvalues"
    instruction = "List the eigenvalues with multiplicity, separated by commas."

    def make(self, rng, level):
        sp = _sp()
        n = 2 if level <= 3 else 3
        lam = [rng.randint(-5, 5) for _ in range(n)]
        while True:  # P D P^-1 with a unimodular P keeps the entries integers
            P = sp.eye(n)
            for _ in range(level + 1):
                i, j = rng.sample(range(n), 2)
                P = P * (sp.eye(n) + rng.choice([-1, 1]) * sp.Matrix(n, n, lambda a, b: int(a == i and b == j)))
            if abs(P.det()) == 1:
                break
        M = P * sp.diag(*lam) * P.inv()
        return {"M": [[int(v) for v in M.row(r)] for r in range(n)]}

    def question(self, identity):
        return f"Find the eigenvalues of ${_sp().latex(_sp().Matrix(identity['M']))}$."

    def expected(self, identity):
        ev = _sp().Matrix(identity["M"]).eigenvals()
        return sorted(int(k) for k, m in ev.items() for _ in range(m))

    def render(self, value):
        return ", ".join(map(str, value))

    def judge(self, answer, identity):
        return check_int_list(answer, self.expected(identity), ordered=False)


class PolynomialGCD(MathTask):
    """Monic greatest common divisor of two integer polynomials that share factors."""

    name = "math_polynomial_gcd"
    instruction = "Give the monic gcd as a polynomial in x."

    def make(self, rng, level):
        common = [rng.randint(-5, 5) for _ in range(1 + level // 2)]
        a = common + [rng.randint(-5, 5) for _ in range(level)]
        b = common + [rng.randint(6, 9) for _ in range(1 + level // 3)]
        return {"a": a, "b": b}

    def _p(self, roots):
        return _sp().expand(_sp().prod([(_x() - r) for r in roots]))

    def question(self, identity):
        sp = _sp()
        return (f"Find $\\gcd({sp.latex(self._p(identity['a']))},\\ {sp.latex(self._p(identity['b']))})$.")

    def expected(self, identity):
        return _sp().gcd(self._p(identity["a"]), self._p(identity["b"]))


class PowerSum(MathTask):
    """sum_{k=1}^{n} k^p, by SymPy's closed form (Faulhaber)."""

    name = "math_power_sum"
    instruction = "Give the integer value."

    def make(self, rng, level):
        return {"n": rng.randint(5, 20 * level), "p": rng.randint(1, level + 1)}

    def question(self, identity):
        return f"Compute $\\sum_{{k=1}}^{{{identity['n']}}} k^{{{identity['p']}}}$."

    def expected(self, identity):
        sp = _sp()
        k = sp.Symbol("k", integer=True, positive=True)
        return int(sp.summation(k ** identity["p"], (k, 1, identity["n"])))

    def judge(self, answer, identity):
        return check_int(answer, self.expected(identity))


class ModularInverse(MathTask):
    """a^{-1} mod m (a coprime to m)."""

    name = "math_modular_inverse"
    instruction = "Give the integer in [0, m)."

    def make(self, rng, level):
        import math

        m = rng.randint(7, 10 ** (level + 1))
        while True:
            a = rng.randint(2, m - 1)
            if math.gcd(a, m) == 1:
                return {"a": a, "m": m}

    def question(self, identity):
        return f"Find the inverse of ${identity['a']}$ modulo ${identity['m']}$."

    def expected(self, identity):
        return int(_sp().mod_inverse(identity["a"], identity["m"]))

    def judge(self, answer, identity):
        return check_int(answer, self.expected(identity))


class ChineseRemainder(MathTask):
    """Smallest non-negative x with x = r_i (mod m_i), pairwise coprime moduli (SymPy's crt)."""

    name = "math_chinese_remainder"
    instruction = "Give the smallest non-negative solution."

    def make(self, rng, level):
        from sympy import primerange

        ps = rng.sample(list(primerange(3, 20 + 15 * level)), 1 + (level + 1) // 2 + 1)
        return {"m": ps, "r": [rng.randrange(p) for p in ps]}

    def question(self, identity):
        eqs = ", ".join(f"$x \\equiv {r} \\pmod{{{m}}}$" for r, m in zip(identity["r"], identity["m"]))
        return f"Find the smallest non-negative integer $x$ with {eqs}."

    def expected(self, identity):
        from sympy.ntheory.modular import crt

        return int(crt(identity["m"], identity["r"])[0])

    def judge(self, answer, identity):
        return check_int(answer, self.expected(identity))


class Totient(MathTask):
    """Euler's totient phi(n)."""

    name = "math_totient"
    instruction = "Give the integer value."

    def make(self, rng, level):
        return {"n": rng.randint(10, 10 ** (level + 2))}

    def question(self, identity):
        return f"Compute Euler's totient $\\varphi({identity['n']})$."

    def expected(self, identity):
        return int(_sp().totient(identity["n"]))

    def judge(self, answer, identity):
        return check_int(answer, self.expected(identity))


class BinomialProbability(MathTask):
    """P(exactly k successes in n independent trials with success probability a/b), exact."""

    name = "math_binomial_probability"
    instruction = "Give the exact probability as a fraction."

    def make(self, rng, level):
        n = rng.randint(3, 4 + 3 * level)
        b = rng.randint(2, 6)
        return {"n": n, "k": rng.randint(0, n), "a": rng.randint(1, b - 1), "b": b}

    def question(self, identity):
        return (f"A trial succeeds with probability $\\frac{{{identity['a']}}}{{{identity['b']}}}$. What is the "
                f"probability of exactly ${identity['k']}$ successes in ${identity['n']}$ independent trials?")

    def expected(self, identity):
        sp = _sp()
        p = sp.Rational(identity["a"], identity["b"])
        return sp.binomial(identity["n"], identity["k"]) * p ** identity["k"] * (1 - p) ** (identity["n"] - identity["k"])


class TangentLine(MathTask):
    """The tangent line to y = f(x) at x = a, as an expression m*x + c."""

    name = "math_tangent_line"
    instruction = "Give the tangent line as y = m*x + c (exact)."

    def make(self, rng, level):
        return {"f": _rand_poly(rng, level + 1, 5), "a": rng.randint(-3, 3)}

    def question(self, identity):
        return (f"Find the tangent line to $y = {_sp().latex(_sp().sympify(identity['f']))}$ at "
                f"$x = {identity['a']}$.")

    def expected(self, identity):
        sp = _sp()
        f, a = sp.sympify(identity["f"]), identity["a"]
        return sp.expand(f.subs(_x(), a) + sp.diff(f, _x()).subs(_x(), a) * (_x() - a))


class CriticalPoints(MathTask):
    """x-coordinates of the critical points of a polynomial whose derivative has integer roots."""

    name = "math_critical_points"
    instruction = "List the x-coordinates separated by commas."

    def make(self, rng, level):
        return {"roots": sorted(rng.sample(range(-8, 9), level + 1)), "c": rng.randint(-9, 9)}

    def _f(self, identity):
        sp = _sp()
        return sp.integrate(sp.prod([(_x() - r) for r in identity["roots"]]), _x()) + identity["c"]

    def question(self, identity):
        return f"Find all critical points of $f(x) = {_sp().latex(sp_expand(self._f(identity)))}$."

    def expected(self, identity):
        sp = _sp()
        return sorted(int(r) for r in sp.solve(sp.diff(self._f(identity), _x()), _x()))

    def render(self, value):
        return ", ".join(map(str, value))

    def judge(self, answer, identity):
        return check_int_list(answer, self.expected(identity), ordered=False)


def sp_expand(e):
    return _sp().expand(e)


MATH_TASKS = [Derivative, Antiderivative, DefiniteIntegral, Limit, PolynomialRoots, LinearSystem, FirstOrderODE,
              SecondOrderODE, Factor, Expand, PartialFractions, TaylorCoefficient, Determinant, Eigenvalues,
              PolynomialGCD, PowerSum, ModularInverse, ChineseRemainder, Totient, BinomialProbability, TangentLine,
              CriticalPoints]
