"""Unit conversion and short physics / materials calculations, checked within a relative tolerance (0.5 %)."""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import Field

from s1data.bootcamp.base import BaseParams, BaseTask, Solution, State, close, parse_float, tex

R_GAS = 8.314462618  # J / (mol K)
N_A = 6.02214076e23  # 1 / mol
REL_TOL = 5e-3


def _sig(x: float, n: int = 5) -> str:
    return f"{x:.{n}g}" if abs(x) < 1e6 else f"{x:.{n}e}"


class CalcTask(BaseTask):
    """Base: ``compute(identity) -> (value, states)``; the answer is accepted within ``REL_TOL`` relative error."""

    domain = "physics"
    rel_tol: ClassVar[float] = REL_TOL

    def compute(self, identity) -> tuple[float, list[State]]:
        raise NotImplementedError

    def solve(self, identity):
        v, states = self.compute(identity)
        return Solution(_sig(v, 6), states)

    def check(self, answer, identity):
        try:
            got = parse_float(answer)
        except ValueError:
            return False, "bootcamp_unparseable_answer"
        v, _ = self.compute(identity)
        return (True, "bootcamp_correct") if close(got, v, self.rel_tol) else (False, "bootcamp_wrong_answer")


_UNITS = {  # quantity -> unit -> factor to SI
    "length": {"m": 1.0, "km": 1e3, "cm": 1e-2, "mm": 1e-3, "nm": 1e-9, "angstrom": 1e-10, "inch": 0.0254, "mile": 1609.344},
    "mass": {"kg": 1.0, "g": 1e-3, "mg": 1e-6, "lb": 0.45359237, "tonne": 1e3, "u": 1.66053906660e-27},
    "pressure": {"Pa": 1.0, "kPa": 1e3, "bar": 1e5, "atm": 101325.0, "mmHg": 133.322387415, "psi": 6894.757293168},
    "energy": {"J": 1.0, "kJ": 1e3, "cal": 4.184, "kcal": 4184.0, "eV": 1.602176634e-19, "kWh": 3.6e6},
    "temperature": {"K": None, "C": None, "F": None},
}


def _to_kelvin(v, u):
    return v if u == "K" else v + 273.15 if u == "C" else (v - 32) * 5 / 9 + 273.15


def _from_kelvin(k, u):
    return k if u == "K" else k - 273.15 if u == "C" else (k - 273.15) * 9 / 5 + 32


class UnitConversion(CalcTask):
    """Convert a value between two units of one quantity (exact SI factors; temperature is affine)."""

    name = "sci_unit_conversion"
    instruction = "Give the number only (in the target unit), to at least four significant figures."

    class Params(BaseParams):
        quantity: str = Field("length", pattern="^(length|mass|pressure|energy|temperature)$", description="physical quantity")
        magnitude: str = Field("plain", pattern="^(plain|scientific)$", description="value of order 1-1000 or a power of ten away")

    GRID = {"quantity": list(_UNITS), "magnitude": ["plain", "scientific"]}

    def generate(self, rng):
        units = list(_UNITS[self.params.quantity])
        a, b = rng.sample(units, 2)
        v = round(rng.uniform(1, 1000), 2)
        if self.params.magnitude == "scientific" and self.params.quantity != "temperature":
            v = float(f"{v:.3g}e{rng.choice([-6, -3, 3, 6])}")
        return {"value": v, "from": a, "to": b, "quantity": self.params.quantity}

    def statement(self, identity):
        return f"Convert {tex(identity['value'])} {identity['from']} to {identity['to']}."

    def compute(self, identity):
        v, a, b = identity["value"], identity["from"], identity["to"]
        if identity["quantity"] == "temperature":
            k = _to_kelvin(v, a)
            out = _from_kelvin(k, b)
            return out, [State([("v", v), ("unit", a)], f"to kelvin: {_sig(k, 8)} K"),
                         State([("T", _sig(k, 8))], f"to {b}: {_sig(out, 8)}")]
        f = _UNITS[identity["quantity"]]
        si = v * f[a]
        out = si / f[b]
        return out, [State([("v", v), (f"{a}->SI", f[a])], f"{v}*{f[a]}={_sig(si, 8)} SI"),
                     State([("SI", _sig(si, 8)), (f"{b}->SI", f[b])], f"{_sig(si, 8)}/{f[b]}={_sig(out, 8)} {b}")]


class IdealGas(CalcTask):
    """PV = nRT with P in kPa, V in L, T in K (kPa * L = J); one of the four is unknown."""

    name = "sci_ideal_gas"
    instruction = "Give the number only, in the unit asked for."

    class Params(BaseParams):
        unknown: str = Field("P", pattern="^(P|V|n|T)$", description="which variable to solve for")

    GRID = {"unknown": ["P", "V", "n", "T"]}
    _UNIT: ClassVar[dict] = {"P": "kPa", "V": "L", "n": "mol", "T": "K"}

    def generate(self, rng):
        vals = {"P": round(rng.uniform(50, 500), 1), "V": round(rng.uniform(0.5, 50), 2),
                "n": round(rng.uniform(0.05, 5), 3), "T": round(rng.uniform(200, 600), 1)}
        vals.pop(self.params.unknown)
        return {"known": vals, "unknown": self.params.unknown}

    def statement(self, identity):
        k = identity["known"]
        given = ", ".join(f"${x} = {v}$ {self._UNIT[x]}" for x, v in k.items())
        return f"An ideal gas has {given}. Using $R = 8.314$ J/(mol K), find ${identity['unknown']}$ in {self._UNIT[identity['unknown']]}."

    def compute(self, identity):
        k, u = identity["known"], identity["unknown"]
        if u == "P":
            v = k["n"] * R_GAS * k["T"] / k["V"]
            op = f"P=nRT/V={k['n']}*{R_GAS:.4f}*{k['T']}/{k['V']}"
        elif u == "V":
            v = k["n"] * R_GAS * k["T"] / k["P"]
            op = f"V=nRT/P={k['n']}*{R_GAS:.4f}*{k['T']}/{k['P']}"
        elif u == "n":
            v = k["P"] * k["V"] / (R_GAS * k["T"])
            op = f"n=PV/(RT)={k['P']}*{k['V']}/({R_GAS:.4f}*{k['T']})"
        else:
            v = k["P"] * k["V"] / (k["n"] * R_GAS)
            op = f"T=PV/(nR)={k['P']}*{k['V']}/({k['n']}*{R_GAS:.4f})"
        return v, [State(list(k.items()), f"{op}={_sig(v, 6)}")]


_LATTICES = ("cubic", "tetragonal", "orthorhombic", "hexagonal")
_COMPOUNDS = (("NaCl", 58.44, 4), ("Si", 28.086, 8), ("Cu", 63.546, 4), ("Fe", 55.845, 2), ("ZnO", 81.38, 2),
              ("TiO2", 79.866, 2), ("Mg", 24.305, 2), ("CsCl", 168.36, 1), ("Al2O3", 101.96, 6), ("GaAs", 144.645, 4))


class CrystalDensity(CalcTask):
    """Density rho = Z M / (N_A V) in g/cm^3 from lattice parameters in angstrom (hexagonal V = sqrt(3)/2 a^2 c)."""

    name = "sci_crystal_density"
    instruction = "Give the density in g/cm^3, number only."

    class Params(BaseParams):
        lattice: str = Field("cubic", pattern="^(cubic|tetragonal|orthorhombic|hexagonal)$", description="crystal system")

    GRID = {"lattice": list(_LATTICES)}

    def generate(self, rng):
        name, M, Z = rng.choice(_COMPOUNDS)
        a = round(rng.uniform(2.5, 7.0), 3)
        b = a if self.params.lattice in ("cubic", "tetragonal", "hexagonal") else round(rng.uniform(2.5, 7.0), 3)
        c = a if self.params.lattice == "cubic" else round(rng.uniform(2.5, 9.0), 3)
        return {"compound": name, "M": M, "Z": Z, "a": a, "b": b, "c": c, "lattice": self.params.lattice}

    def statement(self, identity):
        i = identity
        return (f"A {i['lattice']} crystal of {i['compound']} (molar mass {tex(i['M'])} g/mol, {tex(i['Z'])} formula "
                f"units per cell) has lattice parameters $a = {i['a']}$, $b = {i['b']}$, $c = {i['c']}$ angstrom. "
                f"Compute its density.")

    def compute(self, identity):
        i = identity
        if i["lattice"] == "hexagonal":
            V = math.sqrt(3) / 2 * i["a"] ** 2 * i["c"]
            op = f"V=sqrt(3)/2*{i['a']}^2*{i['c']}={V:.4f} A^3"
        else:
            V = i["a"] * i["b"] * i["c"]
            op = f"V={i['a']}*{i['b']}*{i['c']}={V:.4f} A^3"
        rho = i["Z"] * i["M"] / (N_A * V * 1e-24)
        return rho, [State([("a", i["a"]), ("b", i["b"]), ("c", i["c"])], op),
                     State([("Z", i["Z"]), ("M", i["M"]), ("V", f"{V:.4f}")], f"rho={i['Z']}*{i['M']}/(6.02214e23*{V:.4f}e-24)={rho:.5f}")]


_ATOMIC = {"H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "Na": 22.990, "Cl": 35.45, "Ca": 40.078,
           "Fe": 55.845, "S": 32.06, "Mg": 24.305, "Al": 26.982, "K": 39.098}
_STOICH = (  # reactant formula counts, coefficient; product, coefficient
    ("CH4 + 2 O2 -> CO2 + 2 H2O", {"C": 1, "H": 4}, 1, "CO2", {"C": 1, "O": 2}, 1),
    ("2 H2 + O2 -> 2 H2O", {"H": 2}, 2, "H2O", {"H": 2, "O": 1}, 2),
    ("CaCO3 -> CaO + CO2", {"Ca": 1, "C": 1, "O": 3}, 1, "CO2", {"C": 1, "O": 2}, 1),
    ("4 Fe + 3 O2 -> 2 Fe2O3", {"Fe": 1}, 4, "Fe2O3", {"Fe": 2, "O": 3}, 2),
    ("2 Na + Cl2 -> 2 NaCl", {"Na": 1}, 2, "NaCl", {"Na": 1, "Cl": 1}, 2),
    ("C3H8 + 5 O2 -> 3 CO2 + 4 H2O", {"C": 3, "H": 8}, 1, "H2O", {"H": 2, "O": 1}, 4),
    ("2 Al + 3 S -> Al2S3", {"Al": 1}, 2, "Al2S3", {"Al": 2, "S": 3}, 1),
    ("2 KClO3 -> 2 KCl + 3 O2", {"K": 1, "Cl": 1, "O": 3}, 2, "O2", {"O": 2}, 3),
    ("Mg + 2 HCl -> MgCl2 + H2", {"Mg": 1}, 1, "MgCl2", {"Mg": 1, "Cl": 2}, 1),
    ("C6H12O6 + 6 O2 -> 6 CO2 + 6 H2O", {"C": 6, "H": 12, "O": 6}, 1, "CO2", {"C": 1, "O": 2}, 6),
)


def _molar(c: dict) -> float:
    return sum(_ATOMIC[e] * n for e, n in c.items())


class Stoichiometry(CalcTask):
    """Mass of a product from a mass of the first reactant (excess of the others), atomic masses given in a table."""

    name = "sci_stoichiometry"
    instruction = "Give the mass in grams, number only."

    class Params(BaseParams):
        reaction: int = Field(0, ge=0, lt=len(_STOICH), description="index of the balanced reaction")

    GRID = {"reaction": list(range(len(_STOICH)))}

    def generate(self, rng):
        return {"reaction": self.params.reaction, "mass": round(rng.uniform(1, 500), 2)}

    def statement(self, identity):
        eq, rc, _, pname, pc, _ = _STOICH[identity["reaction"]]
        rname = eq.split(" ")[0] if not eq[0].isdigit() else eq.split(" ")[1]
        used = sorted(set(rc) | set(pc))
        masses = ", ".join(f"{e} = {_ATOMIC[e]}" for e in used)
        return (f"For the reaction {eq}, how many grams of {pname} form from {tex(identity['mass'])} g of {rname} "
                f"(other reactants in excess)? Atomic masses: {masses}.")

    def compute(self, identity):
        _, rc, ra, _, pc, pa = _STOICH[identity["reaction"]]
        mr, mp = _molar(rc), _molar(pc)
        mol = identity["mass"] / mr
        out = mol * pa / ra * mp
        return out, [State([("m", identity["mass"]), ("M_r", f"{mr:.3f}")], f"n={identity['mass']}/{mr:.3f}={mol:.6f} mol"),
                     State([("n", f"{mol:.6f}"), ("ratio", f"{pa}/{ra}")], f"n_p={mol * pa / ra:.6f} mol"),
                     State([("M_p", f"{mp:.3f}")], f"m_p={mol * pa / ra:.6f}*{mp:.3f}={out:.4f} g")]


class HalfLife(CalcTask):
    """Radioactive decay N = N0 * 2^(-t / T): the remaining amount, or the half-life from a measurement."""

    name = "sci_half_life"
    instruction = "Give the number only."

    class Params(BaseParams):
        unknown: str = Field("remaining", pattern="^(remaining|half_life)$", description="what to compute")

    GRID = {"unknown": ["remaining", "half_life"]}

    def generate(self, rng):
        N0, T = round(rng.uniform(10, 1000), 1), round(rng.uniform(1, 100), 2)
        t = round(T * rng.uniform(0.2, 8.0), 1)  # at most 8 half-lives, so N stays well above rounding
        return {"N0": N0, "T": T, "t": t, "N": round(N0 * 2 ** (-t / T), 6), "unknown": self.params.unknown}

    def statement(self, identity):
        i = identity
        if i["unknown"] == "remaining":
            return f"A sample of {tex(i['N0'])} g has a half-life of {tex(i['T'])} days. How many grams remain after {tex(i['t'])} days?"
        return f"A sample decays from {tex(i['N0'])} g to {tex(i['N'])} g in {tex(i['t'])} days. What is its half-life in days?"

    def compute(self, identity):
        i = identity
        if i["unknown"] == "remaining":
            v = i["N0"] * 2 ** (-i["t"] / i["T"])
            return v, [State([("t", i["t"]), ("T", i["T"])], f"halvings={i['t'] / i['T']:.6f}"),
                       State([("N0", i["N0"])], f"N={i['N0']}*2^-{i['t'] / i['T']:.6f}={v:.6f}")]
        v = i["t"] * math.log(2) / math.log(i["N0"] / i["N"])
        return v, [State([("N0", i["N0"]), ("N", i["N"])], f"ln(N0/N)={math.log(i['N0'] / i['N']):.6f}"),
                   State([("t", i["t"])], f"T=t*ln2/ln(N0/N)={v:.6f}")]


class Kinematics(CalcTask):
    """Uniformly accelerated motion from rest or with initial speed u: s = u t + a t^2 / 2, v = u + a t."""

    name = "sci_kinematics"
    instruction = "Give the number only, in SI units."

    class Params(BaseParams):
        unknown: str = Field("distance", pattern="^(distance|final_velocity|time)$", description="what to compute")

    GRID = {"unknown": ["distance", "final_velocity", "time"]}

    def generate(self, rng):
        return {"u": round(rng.uniform(0, 30), 1), "a": round(rng.uniform(0.5, 10), 2), "t": round(rng.uniform(1, 60), 1),
                "unknown": self.params.unknown}

    def statement(self, identity):
        i = identity
        if i["unknown"] == "time":
            v = i["u"] + i["a"] * i["t"]
            return f"A body moving at {tex(i['u'])} m/s accelerates uniformly at {tex(i['a'])} m/s$^2$. After how many seconds is its speed {tex(round(v, 4))} m/s?"
        what = "distance travelled (m)" if i["unknown"] == "distance" else "final speed (m/s)"
        return f"A body moving at {tex(i['u'])} m/s accelerates uniformly at {tex(i['a'])} m/s$^2$ for {tex(i['t'])} s. Find the {what}."

    def compute(self, identity):
        u, a, t = identity["u"], identity["a"], identity["t"]
        if identity["unknown"] == "distance":
            v = u * t + a * t * t / 2
            return v, [State([("u", u), ("a", a), ("t", t)], f"s={u}*{t}+{a}*{t}^2/2={v:.4f}")]
        if identity["unknown"] == "final_velocity":
            v = u + a * t
            return v, [State([("u", u), ("a", a), ("t", t)], f"v={u}+{a}*{t}={v:.4f}")]
        vf = round(u + a * t, 4)
        v = (vf - u) / a
        return v, [State([("u", u), ("v", vf), ("a", a)], f"t=(v-u)/a=({vf}-{u})/{a}={v:.4f}")]


class Dilution(CalcTask):
    """C1 V1 = C2 V2 dilution: the final concentration or the final volume."""

    name = "sci_dilution"
    instruction = "Give the number only."

    class Params(BaseParams):
        unknown: str = Field("C2", pattern="^(C2|V2)$", description="what to compute")

    GRID = {"unknown": ["C2", "V2"]}

    def generate(self, rng):
        c1, v1 = round(rng.uniform(0.1, 12), 3), round(rng.uniform(1, 100), 1)
        return {"C1": c1, "V1": v1, "other": round(v1 * rng.uniform(1.5, 20), 1) if self.params.unknown == "C2"
                else round(c1 / rng.uniform(1.5, 20), 4), "unknown": self.params.unknown}

    def statement(self, identity):
        i = identity
        if i["unknown"] == "C2":
            return f"{tex(i['V1'])} mL of a {tex(i['C1'])} M solution is diluted to {tex(i['other'])} mL. What is the new molarity (M)?"
        return f"To what total volume (mL) must {tex(i['V1'])} mL of a {tex(i['C1'])} M solution be diluted to reach {tex(i['other'])} M?"

    def compute(self, identity):
        i = identity
        v = i["C1"] * i["V1"] / i["other"]
        return v, [State([("C1", i["C1"]), ("V1", i["V1"]), ("given", i["other"])], f"{i['C1']}*{i['V1']}/{i['other']}={v:.6f}")]


PHYSICS_TASKS = (UnitConversion, IdealGas, CrystalDensity, Stoichiometry, HalfLife, Kinematics, Dilution)
