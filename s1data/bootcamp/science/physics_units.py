"""Physics and earth-science families with units: givens in mixed units, answers checked by pint.

The expected value is computed with pint quantities from the givens (so a unit slip in the task is impossible), and
an answer is accepted in any unit of the right dimension (``12 km/s`` or ``12000 m/s``), within 0.5 %; a number with
the wrong dimension is ``bootcamp_wrong_unit``. Conservation laws, orbital mechanics and geophysical formulas are
written out in each family.
"""

from __future__ import annotations

import math
import random

from s1data.bootcamp.science.exact import ExactTask, check_float, check_quantity, sig, ureg

G_CONST = "6.67430e-11 m^3/(kg s^2)"


def Q(value, unit):
    return value * ureg()(unit)


def _pick(rng: random.Random, level: int, options: list[str]) -> str:
    """SI unit at level 1, an alternative unit later (the solver must convert)."""
    return options[0] if level == 1 else rng.choice(options)


def _given(v: float, unit: str) -> str:
    return f"${sig(v, 4)}$ {unit}"


class UnitTask(ExactTask):
    domain = "physics"
    family = "physics"
    answer_unit = "m"
    instruction = "Give the value with its unit."

    def quantity(self, identity):
        """The answer as a pint Quantity."""
        raise NotImplementedError

    def expected(self, identity):
        return float(self.quantity(identity).to(self.answer_unit).magnitude)

    def render(self, value):
        return f"{sig(value, 6)} {self.answer_unit}"

    def judge(self, answer, identity):
        return check_quantity(answer, self.expected(identity), self.answer_unit)

    def g(self, identity):
        return Q(identity[0], identity[1])


def _q(identity, key):
    v, u = identity[key]
    return Q(v, u)


def _make(rng, level, spec: dict[str, tuple[float, float, list[str]]]) -> dict:
    """Givens: name -> [value, unit], the value drawn in SI range then shown in a (level-dependent) unit."""
    out = {}
    for name, (lo, hi, units) in spec.items():
        si = rng.uniform(lo, hi)
        unit = _pick(rng, level, units)
        val = float(f"{Q(si, units[0]).to(unit).magnitude:.4g}")
        out[name] = [val, unit]
    return out


def _fmt(identity, key):
    v, u = identity[key]
    return _given(v, u)


class KineticEnergy(UnitTask):
    """E = m v^2 / 2."""

    name = "phys_kinetic_energy"
    answer_unit = "J"

    def make(self, rng, level):
        return _make(rng, level, {"m": (0.1, 10 ** level, ["kg", "g", "lb", "tonne"]),
                                  "v": (1, 30 * level, ["m/s", "km/h", "mile/hour", "ft/s"])})

    def question(self, identity):
        return f"A body of mass {_fmt(identity, 'm')} moves at {_fmt(identity, 'v')}. What is its kinetic energy?"

    def quantity(self, identity):
        return 0.5 * _q(identity, "m") * _q(identity, "v") ** 2


class InelasticCollision(UnitTask):
    """Momentum conservation, perfectly inelastic: v = (m1 v1 + m2 v2) / (m1 + m2)."""

    name = "phys_inelastic_collision"
    answer_unit = "m/s"

    def make(self, rng, level):
        d = _make(rng, level, {"m1": (1, 50 * level, ["kg", "g", "lb"]), "m2": (1, 50 * level, ["kg", "g", "lb"]),
                               "v1": (1, 20, ["m/s", "km/h"]), "v2": (0.5, 20, ["m/s", "km/h"])})
        d["v2"][0] = -d["v2"][0] if rng.random() < 0.5 else d["v2"][0]
        return d

    def question(self, identity):
        return (f"Body A ({_fmt(identity, 'm1')}) moving at {_fmt(identity, 'v1')} collides head-on with body B "
                f"({_fmt(identity, 'm2')}) moving at {_fmt(identity, 'v2')} along the same line (negative: "
                "opposite direction). They stick together. What is their common velocity (sign included)?")

    def quantity(self, identity):
        m1, m2, v1, v2 = (_q(identity, k) for k in ("m1", "m2", "v1", "v2"))
        return (m1 * v1 + m2 * v2) / (m1 + m2)

    def judge(self, answer, identity):
        want = self.expected(identity)
        return check_quantity(answer, want, self.answer_unit, rel=5e-3 if abs(want) > 1e-3 else 1.0)


class ElasticCollision(InelasticCollision):
    """Elastic 1-D collision (momentum and kinetic energy conserved): final velocity of body A."""

    name = "phys_elastic_collision"

    def question(self, identity):
        return super().question(identity).replace("They stick together. What is their common velocity",
                                                  "The collision is perfectly elastic. What is A's velocity after it")

    def quantity(self, identity):
        m1, m2, v1, v2 = (_q(identity, k) for k in ("m1", "m2", "v1", "v2"))
        return ((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2)


class FreeFallSpeed(UnitTask):
    """Energy conservation: v = sqrt(v0^2 + 2 g h), no drag, g = 9.81 m/s^2."""

    name = "phys_free_fall_speed"
    answer_unit = "m/s"

    def make(self, rng, level):
        return _make(rng, level, {"h": (1, 100 * level, ["m", "ft", "km", "cm"]), "v0": (0, 10, ["m/s", "km/h"])})

    def question(self, identity):
        return (f"An object is thrown straight down at {_fmt(identity, 'v0')} from a height of {_fmt(identity, 'h')}. "
                "Ignoring air resistance ($g = 9.81$ m/s$^2$), how fast is it moving when it reaches the ground?")

    def quantity(self, identity):
        v0, h = _q(identity, "v0"), _q(identity, "h")
        return ((v0 ** 2 + 2 * Q(9.81, "m/s^2") * h) ** 0.5)


class ProjectileRange(UnitTask):
    """Range on level ground R = v^2 sin(2 theta) / g."""

    name = "phys_projectile_range"
    answer_unit = "m"

    def make(self, rng, level):
        d = _make(rng, level, {"v": (5, 20 * level + 10, ["m/s", "km/h", "ft/s"])})
        d["angle"] = rng.randint(10, 80)
        return d

    def question(self, identity):
        return (f"A projectile is launched at {_fmt(identity, 'v')} at ${identity['angle']}^\\circ$ above level "
                "ground. Ignoring drag ($g = 9.81$ m/s$^2$), what is its range?")

    def quantity(self, identity):
        return _q(identity, "v") ** 2 * math.sin(math.radians(2 * identity["angle"])) / Q(9.81, "m/s^2")


_BODIES = {"Earth": (5.972e24, 6.371e6), "Mars": (6.417e23, 3.3895e6), "Moon": (7.342e22, 1.7374e6),
           "Jupiter": (1.898e27, 6.9911e7), "Venus": (4.867e24, 6.0518e6)}


class OrbitalPeriod(UnitTask):
    """Kepler's third law for a circular orbit: T = 2 pi sqrt(r^3 / (G M)), r = R + altitude."""

    name = "phys_orbital_period"
    answer_unit = "s"

    def make(self, rng, level):
        body = rng.choice(sorted(_BODIES)) if level > 1 else "Earth"
        d = _make(rng, level, {"alt": (2e5, 4e6 * level, ["m", "km", "mile"])})
        d["body"] = body
        return d

    def question(self, identity):
        m, r = _BODIES[identity["body"]]
        return (f"A satellite orbits {identity['body']} (mass ${m:.4g}$ kg, radius ${r / 1e3:.5g}$ km) on a circular "
                f"orbit at altitude {_fmt(identity, 'alt')}. With $G = 6.6743 \\times 10^{{-11}}$ SI, what is the "
                "orbital period?")

    def quantity(self, identity):
        m, r = _BODIES[identity["body"]]
        rr = Q(r, "m") + _q(identity, "alt")
        return 2 * math.pi * (rr ** 3 / (ureg()(G_CONST) * Q(m, "kg"))) ** 0.5


class EscapeVelocity(UnitTask):
    """v_esc = sqrt(2 G M / R)."""

    name = "phys_escape_velocity"
    answer_unit = "m/s"

    def make(self, rng, level):
        return _make(rng, level, {"M": (1e22, 1e25 * level, ["kg"]), "R": (1e6, 1e7 * level, ["m", "km"])})

    def question(self, identity):
        return (f"A planet has mass {_fmt(identity, 'M')} and radius {_fmt(identity, 'R')}. With "
                "$G = 6.6743 \\times 10^{-11}$ SI, what is its escape velocity?")

    def quantity(self, identity):
        return (2 * ureg()(G_CONST) * _q(identity, "M") / _q(identity, "R")) ** 0.5


class CircularOrbitSpeed(EscapeVelocity):
    """v = sqrt(G M / r) for a circular orbit of radius r."""

    name = "phys_circular_orbit_speed"

    def question(self, identity):
        return (f"A moon circles a planet of mass {_fmt(identity, 'M')} at orbital radius {_fmt(identity, 'R')}. "
                "With $G = 6.6743 \\times 10^{-11}$ SI, what is its orbital speed?")

    def quantity(self, identity):
        return (ureg()(G_CONST) * _q(identity, "M") / _q(identity, "R")) ** 0.5


class GravityAtAltitude(UnitTask):
    """g(h) = g0 (R / (R + h))^2 above Earth (g0 = 9.81 m/s^2, R = 6371 km)."""

    name = "earth_gravity_at_altitude"
    domain = "earth"
    family = "earth"
    answer_unit = "m/s^2"

    def make(self, rng, level):
        return _make(rng, level, {"h": (1e3, 1e6 * level, ["m", "km", "mile", "ft"])})

    def question(self, identity):
        return (f"Taking $g_0 = 9.81$ m/s$^2$ at the surface and Earth's radius 6371 km, what is the gravitational "
                f"acceleration at an altitude of {_fmt(identity, 'h')}?")

    def quantity(self, identity):
        R = Q(6371, "km")
        return Q(9.81, "m/s^2") * (R / (R + _q(identity, "h"))) ** 2


class HydrostaticPressure(UnitTask):
    """Gauge pressure at depth: p = rho g h."""

    name = "earth_hydrostatic_pressure"
    domain = "earth"
    family = "earth"
    answer_unit = "Pa"

    def make(self, rng, level):
        d = _make(rng, level, {"h": (1, 200 * level, ["m", "ft", "km"])})
        d["rho"] = rng.choice([1000, 1025, 1030, 13534, 800])
        return d

    def question(self, identity):
        return (f"What is the gauge pressure at a depth of {_fmt(identity, 'h')} in a liquid of density "
                f"${identity['rho']}$ kg/m$^3$ ($g = 9.81$ m/s$^2$)?")

    def quantity(self, identity):
        return Q(identity["rho"], "kg/m^3") * Q(9.81, "m/s^2") * _q(identity, "h")


class EpicenterDistance(UnitTask):
    """Distance from the S-P lag: d = lag / (1/vs - 1/vp)."""

    name = "earth_epicenter_distance"
    domain = "earth"
    family = "earth"
    answer_unit = "km"

    def make(self, rng, level):
        d = _make(rng, level, {"lag": (2, 20 * level, ["s", "minute"])})
        vp = round(rng.uniform(5.5, 8.0), 2)
        d["vp"], d["vs"] = vp, round(vp / rng.uniform(1.65, 1.8), 2)
        return d

    def question(self, identity):
        return (f"P waves travel at ${identity['vp']}$ km/s and S waves at ${identity['vs']}$ km/s. A station "
                f"records the S wave {_fmt(identity, 'lag')} after the P wave. How far away is the epicenter?")

    def quantity(self, identity):
        return _q(identity, "lag") / (1 / Q(identity["vs"], "km/s") - 1 / Q(identity["vp"], "km/s"))


class RichterEnergyRatio(UnitTask):
    """Energy ratio of two earthquakes: 10^(1.5 (M1 - M2))."""

    name = "earth_richter_energy_ratio"
    domain = "earth"
    family = "earth"
    answer_unit = "dimensionless"
    instruction = "Give the ratio as a number."

    def make(self, rng, level):
        m2 = round(rng.uniform(2, 6), 1)
        return {"m1": round(m2 + rng.uniform(0.1, 0.6 * level), 1), "m2": m2}

    def question(self, identity):
        return (f"How many times more energy does a magnitude {identity['m1']} earthquake release than a magnitude "
                f"{identity['m2']} one ($\\log_{{10}} E = 1.5 M + c$)?")

    def expected(self, identity):
        return 10 ** (1.5 * (identity["m1"] - identity["m2"]))

    def render(self, value):
        return sig(value, 6)

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=5e-3)


class RadiometricAge(UnitTask):
    """t = t_half / ln 2 * ln(1 + D/P) for a parent-daughter pair with no initial daughter."""

    name = "earth_radiometric_age"
    domain = "earth"
    family = "earth"
    answer_unit = "year"

    def make(self, rng, level):
        iso = rng.choice([("U-238", 4.468e9), ("K-40", 1.248e9), ("Rb-87", 4.97e10), ("C-14", 5730.0),
                          ("U-235", 7.04e8)])
        return {"isotope": iso[0], "t_half": iso[1], "ratio": round(rng.uniform(0.01, 0.5 * level), 4)}

    def question(self, identity):
        return (f"A mineral holds {identity['ratio']} atoms of radiogenic daughter per atom of parent "
                f"{identity['isotope']} (half-life ${identity['t_half']:.4g}$ years, no initial daughter). How old is it?")

    def quantity(self, identity):
        return Q(identity["t_half"] / math.log(2) * math.log(1 + identity["ratio"]), "year")


class BarometricPressure(UnitTask):
    """Isothermal atmosphere: p = p0 exp(-M g h / (R T))."""

    name = "earth_barometric_pressure"
    domain = "earth"
    family = "earth"
    answer_unit = "kPa"

    def make(self, rng, level):
        d = _make(rng, level, {"h": (100, 3000 * level, ["m", "km", "ft"])})
        d["T"] = rng.choice([250, 270, 288, 300])
        return d

    def question(self, identity):
        return (f"In an isothermal atmosphere at {identity['T']} K (molar mass 0.02896 kg/mol, $g = 9.81$ m/s$^2$, "
                f"$R = 8.314$ J/(mol K), sea-level pressure 101.325 kPa), what is the pressure at {_fmt(identity, 'h')}?")

    def quantity(self, identity):
        h = _q(identity, "h").to("m").magnitude
        return Q(101.325 * math.exp(-0.02896 * 9.81 * h / (8.314 * identity["T"])), "kPa")


class PhotonEnergy(UnitTask):
    """E = h c / lambda."""

    name = "phys_photon_energy"
    answer_unit = "eV"

    def make(self, rng, level):
        return _make(rng, level, {"lam": (1e-7 / level, 1e-6 * level, ["nm", "um", "angstrom", "m"])})

    def question(self, identity):
        return f"What is the energy of a photon of wavelength {_fmt(identity, 'lam')}?"

    def quantity(self, identity):
        return ureg()("planck_constant") * ureg()("speed_of_light") / _q(identity, "lam")


class DeBroglieWavelength(UnitTask):
    """lambda = h / (m v) for an electron (non-relativistic)."""

    name = "phys_de_broglie_wavelength"
    answer_unit = "nm"

    def make(self, rng, level):
        return _make(rng, level, {"v": (1e4, 1e6 * level, ["m/s", "km/s"])})

    def question(self, identity):
        return f"What is the de Broglie wavelength of an electron moving at {_fmt(identity, 'v')}?"

    def quantity(self, identity):
        return ureg()("planck_constant") / (ureg()("electron_mass") * _q(identity, "v"))


class ResistorNetwork(UnitTask):
    """Equivalent resistance of series groups of parallel resistors."""

    name = "phys_resistor_network"
    answer_unit = "ohm"

    def make(self, rng, level):
        groups = [[rng.choice([10, 22, 47, 100, 220, 470, 1000, 2200]) * rng.choice([1, 1000] if level > 2 else [1])
                   for _ in range(rng.randint(1, 3))] for _ in range(level)]
        return {"groups": groups}

    def question(self, identity):
        parts = ["(" + " || ".join(f"{r} Ω" for r in g) + ")" for g in identity["groups"]]
        return "Resistor groups in series, each group in parallel (||): " + " + ".join(parts) + ". Equivalent resistance?"

    def quantity(self, identity):
        return Q(sum(1 / sum(1 / r for r in g) for g in identity["groups"]), "ohm")


class HeatCapacity(UnitTask):
    """q = m c dT."""

    name = "phys_heat"
    answer_unit = "J"

    def make(self, rng, level):
        d = _make(rng, level, {"m": (0.01, 5 * level, ["kg", "g"])})
        mat = rng.choice([("water", 4184), ("aluminium", 897), ("copper", 385), ("iron", 449), ("ethanol", 2440)])
        d["material"], d["c"], d["dT"] = mat[0], mat[1], rng.randint(1, 20 * level)
        return d

    def question(self, identity):
        return (f"How much heat raises {_fmt(identity, 'm')} of {identity['material']} (specific heat "
                f"{identity['c']} J/(kg K)) by {identity['dT']} K?")

    def quantity(self, identity):
        return _q(identity, "m") * Q(identity["c"], "J/(kg K)") * Q(identity["dT"], "K")


class ThinLens(UnitTask):
    """Image distance from 1/f = 1/d_o + 1/d_i (real-is-positive)."""

    name = "phys_thin_lens"
    answer_unit = "cm"

    def make(self, rng, level):
        f = rng.randint(5, 10 * level + 10)
        do = rng.choice([d for d in range(2, 10 * level + 40) if d != f])
        return {"f": f, "do": do}

    def question(self, identity):
        return (f"An object stands {identity['do']} cm from a thin converging lens of focal length {identity['f']} cm. "
                "Where is the image (image distance, negative if virtual)?")

    def quantity(self, identity):
        return Q(1 / (1 / identity["f"] - 1 / identity["do"]), "cm")


class SnellAngle(UnitTask):
    """Refraction angle from n1 sin(theta1) = n2 sin(theta2), in degrees (total internal reflection excluded)."""

    name = "phys_snell_refraction"
    answer_unit = "degree"

    def make(self, rng, level):
        while True:
            n1, n2 = rng.choice([1.0, 1.33, 1.5, 1.65, 2.42]), rng.choice([1.0, 1.33, 1.5, 1.65, 2.42])
            a = rng.randint(5, 20 * level if level < 4 else 80)
            if n1 * math.sin(math.radians(a)) / n2 < 0.99 and n1 != n2:
                return {"n1": n1, "n2": n2, "a": a}

    def question(self, identity):
        return (f"Light passes from a medium with $n = {identity['n1']}$ into one with $n = {identity['n2']}$ at "
                f"${identity['a']}^\\circ$ incidence. What is the refraction angle (degrees)?")

    def quantity(self, identity):
        return Q(math.degrees(math.asin(identity["n1"] * math.sin(math.radians(identity["a"])) / identity["n2"])),
                 "degree")


class PendulumPeriod(UnitTask):
    """Small-angle period T = 2 pi sqrt(L / g)."""

    name = "phys_pendulum_period"
    answer_unit = "s"

    def make(self, rng, level):
        d = _make(rng, level, {"L": (0.05, 2 * level, ["m", "cm", "ft", "inch"])})
        d["g"] = 9.81 if level < 3 else rng.choice([9.81, 1.62, 3.71])
        return d

    def question(self, identity):
        return (f"What is the small-angle period of a pendulum of length {_fmt(identity, 'L')} where "
                f"$g = {identity['g']}$ m/s$^2$?")

    def quantity(self, identity):
        return 2 * math.pi * (_q(identity, "L") / Q(identity["g"], "m/s^2")) ** 0.5


class CoulombForce(UnitTask):
    """F = k q1 q2 / r^2 (magnitude)."""

    name = "phys_coulomb_force"
    answer_unit = "N"

    def make(self, rng, level):
        return _make(rng, level, {"q1": (1e-9, 1e-6 * level, ["C", "uC", "nC"]),
                                  "q2": (1e-9, 1e-6 * level, ["C", "uC", "nC"]),
                                  "r": (0.01, 1 * level, ["m", "cm", "mm"])})

    def question(self, identity):
        return (f"Two point charges of {_fmt(identity, 'q1')} and {_fmt(identity, 'q2')} are {_fmt(identity, 'r')} "
                "apart in vacuum. What is the magnitude of the force between them?")

    def quantity(self, identity):
        k = 1 / (4 * math.pi * ureg()("vacuum_permittivity"))
        return k * _q(identity, "q1") * _q(identity, "q2") / _q(identity, "r") ** 2


class WienPeak(UnitTask):
    """Wien's displacement law lambda_max = b / T, b = 2.897771955e-3 m K."""

    name = "earth_wien_peak"
    domain = "earth"
    family = "earth"
    answer_unit = "nm"

    def make(self, rng, level):
        return {"T": rng.randint(200, 2000 * level + 1000)}

    def question(self, identity):
        return f"At what wavelength does a black body at {identity['T']} K emit most strongly?"

    def quantity(self, identity):
        return Q(2.897771955e-3, "m K") / Q(identity["T"], "K")


class BlackbodyFlux(UnitTask):
    """Stefan-Boltzmann: emitted flux = emissivity * sigma T^4."""

    name = "earth_blackbody_flux"
    domain = "earth"
    family = "earth"
    answer_unit = "W/m^2"

    def make(self, rng, level):
        return {"T": rng.randint(150, 1000 * level), "eps": round(rng.uniform(0.5, 1.0), 2)}

    def question(self, identity):
        return (f"A surface at {identity['T']} K with emissivity {identity['eps']} radiates how much power per unit "
                "area?")

    def quantity(self, identity):
        return identity["eps"] * ureg()("stefan_boltzmann_constant") * Q(identity["T"], "K") ** 4


class SpeedUnitConversion(UnitTask):
    """Compound-unit conversion done by pint (speed, density, energy density, power)."""

    name = "phys_compound_unit_conversion"
    answer_unit = "m/s"

    _KINDS = {"speed": ["m/s", "km/h", "mile/hour", "knot", "ft/s"],
              "density": ["kg/m^3", "g/cm^3", "lb/ft^3", "g/L"],
              "power": ["W", "kW", "horsepower", "BTU/hour", "erg/s"],
              "pressure": ["Pa", "atm", "psi", "bar", "mmHg", "torr"],
              "energy": ["J", "kWh", "cal", "BTU", "eV", "erg"]}

    def make(self, rng, level):
        kind = rng.choice(sorted(self._KINDS)[: 1 + level])
        a, b = rng.sample(self._KINDS[kind], 2)
        return {"value": round(rng.uniform(1, 10 ** level), 3), "from": a, "to": b}

    def question(self, identity):
        return f"Convert ${identity['value']}$ {identity['from']} to {identity['to']}."

    def expected(self, identity):
        return float(Q(identity["value"], identity["from"]).to(identity["to"]).magnitude)

    def render(self, value):
        return sig(value, 6)

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=5e-3)


PHYSICS_UNIT_TASKS = [KineticEnergy, InelasticCollision, ElasticCollision, FreeFallSpeed, ProjectileRange,
                      OrbitalPeriod, EscapeVelocity, CircularOrbitSpeed, GravityAtAltitude, HydrostaticPressure,
                      EpicenterDistance, RichterEnergyRatio, RadiometricAge, BarometricPressure, PhotonEnergy,
                      DeBroglieWavelength, ResistorNetwork, HeatCapacity, ThinLens, SnellAngle, PendulumPeriod,
                      CoulombForce, WienPeak, BlackbodyFlux, SpeedUnitConversion]
