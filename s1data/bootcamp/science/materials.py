"""Materials families: crystal structures (lattice + fractional sites of real prototypes), analysed with spglib
(space group) and periodic-image geometry (coordination, nearest-neighbour distance, density, packing), X-ray
diffraction geometry, and thermodynamic stability against a convex hull of a generated formation-energy table."""

from __future__ import annotations

import math
import random

from s1data.bootcamp.science.exact import ExactTask, check_float, check_int, check_word, sig

N_A = 6.02214076e23
MASS = {"Na": 22.990, "Cl": 35.45, "Cs": 132.905, "Cu": 63.546, "Fe": 55.845, "Si": 28.086, "C": 12.011,
        "Zn": 65.38, "S": 32.06, "Ga": 69.723, "As": 74.922, "Mg": 24.305, "O": 15.999, "Ti": 47.867, "Sr": 87.62,
        "Ba": 137.327, "Al": 26.982, "Ni": 58.693, "W": 183.84, "K": 39.098, "Br": 79.904, "Ca": 40.078}

# prototype -> (lattice kind, fractional sites as (species slot, x, y, z)); slots are filled with elements
PROTOTYPES = {
    "rocksalt": ("cubic", [(0, 0, 0, 0), (0, .5, .5, 0), (0, .5, 0, .5), (0, 0, .5, .5),
                           (1, .5, .5, .5), (1, 0, 0, .5), (1, 0, .5, 0), (1, .5, 0, 0)], [("Na", "Cl"), ("Mg", "O"), ("K", "Br"), ("Ca", "O")]),
    "cesium_chloride": ("cubic", [(0, 0, 0, 0), (1, .5, .5, .5)], [("Cs", "Cl"), ("Cs", "Br")]),
    "fcc": ("cubic", [(0, 0, 0, 0), (0, .5, .5, 0), (0, .5, 0, .5), (0, 0, .5, .5)], [("Cu",), ("Al",), ("Ni",)]),
    "bcc": ("cubic", [(0, 0, 0, 0), (0, .5, .5, .5)], [("Fe",), ("W",)]),
    "simple_cubic": ("cubic", [(0, 0, 0, 0)], [("Cu",), ("Fe",)]),
    "diamond": ("cubic", [(0, 0, 0, 0), (0, .5, .5, 0), (0, .5, 0, .5), (0, 0, .5, .5),
                          (0, .25, .25, .25), (0, .75, .75, .25), (0, .75, .25, .75), (0, .25, .75, .75)], [("Si",), ("C",)]),
    "zincblende": ("cubic", [(0, 0, 0, 0), (0, .5, .5, 0), (0, .5, 0, .5), (0, 0, .5, .5),
                             (1, .25, .25, .25), (1, .75, .75, .25), (1, .75, .25, .75), (1, .25, .75, .75)], [("Zn", "S"), ("Ga", "As")]),
    "perovskite": ("cubic", [(0, 0, 0, 0), (1, .5, .5, .5), (2, .5, .5, 0), (2, .5, 0, .5), (2, 0, .5, .5)], [("Sr", "Ti", "O"), ("Ba", "Ti", "O")]),
    "hcp": ("hexagonal", [(0, 1 / 3, 2 / 3, .25), (0, 2 / 3, 1 / 3, .75)], [("Mg",), ("Zn",), ("Ti",)]),
}
SPACE_GROUPS = {"rocksalt": 225, "cesium_chloride": 221, "fcc": 225, "bcc": 229, "simple_cubic": 221,
                "diamond": 227, "zincblende": 216, "perovskite": 221, "hcp": 194}


def lattice_matrix(kind: str, a: float, c: float | None = None) -> list[list[float]]:
    if kind == "cubic":
        return [[a, 0, 0], [0, a, 0], [0, 0, a]]
    return [[a, 0, 0], [-a / 2, a * math.sqrt(3) / 2, 0], [0, 0, c]]


def make_structure(rng: random.Random, level: int) -> dict:
    """A prototype filled with elements, a lattice constant, and (from level 3) a supercell and shuffled sites."""
    proto = rng.choice(sorted(PROTOTYPES))
    kind, sites, fills = PROTOTYPES[proto]
    elems = rng.choice(fills)
    a = round(rng.uniform(2.5, 6.0), 3)
    c = round(a * rng.uniform(1.55, 1.65), 3) if kind == "hexagonal" else None
    reps = [1, 1, 1]
    if level >= 3:
        reps[rng.randrange(3)] = 2
    if level >= 5:
        reps[rng.randrange(3)] = 2
    lat = lattice_matrix(kind, a, c)
    lat = [[v * reps[i] for v in lat[i]] for i in range(3)]
    out = []
    for i in range(reps[0]):
        for j in range(reps[1]):
            for k in range(reps[2]):
                for slot, x, y, z in sites:
                    out.append([elems[slot], round((x + i) / reps[0], 6), round((y + j) / reps[1], 6),
                                round((z + k) / reps[2], 6)])
    if level >= 2:
        rng.shuffle(out)
    return {"prototype": proto, "lattice": [[round(v, 6) for v in row] for row in lat], "sites": out}


def structure_text(identity: dict) -> str:
    lat = "; ".join("(" + ", ".join(f"{v:g}" for v in row) + ")" for row in identity["lattice"])
    sites = "; ".join(f"{s} ({x:g}, {y:g}, {z:g})" for s, x, y, z in identity["sites"])
    return f"lattice vectors (angstrom): {lat}. Atoms at fractional coordinates: {sites}."


def cell_volume(lat) -> float:
    (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = lat
    return abs(a1 * (b2 * c3 - b3 * c2) - a2 * (b1 * c3 - b3 * c1) + a3 * (b1 * c2 - b2 * c1))


def neighbour_distances(identity: dict, index: int) -> list[float]:
    """Distances from site `index` to every other site in the 27 surrounding cells (sorted)."""
    lat = identity["lattice"]
    s0 = identity["sites"][index]
    out = []
    for s in identity["sites"]:
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                for k in (-1, 0, 1):
                    f = (s[1] + i - s0[1], s[2] + j - s0[2], s[3] + k - s0[3])
                    v = [f[0] * lat[0][d] + f[1] * lat[1][d] + f[2] * lat[2][d] for d in range(3)]
                    dist = math.sqrt(sum(x * x for x in v))
                    if dist > 1e-6:
                        out.append(dist)
    return sorted(out)


class MaterialsTask(ExactTask):
    domain = "materials"
    family = "materials"


class SpaceGroup(MaterialsTask):
    """International space-group number of a crystal given by lattice and sites (spglib, symprec 1e-3)."""

    name = "mat_space_group"
    instruction = "Give the space-group number (1-230)."

    def make(self, rng, level):
        return make_structure(rng, level)

    def question(self, identity):
        return "A crystal has " + structure_text(identity) + " What is its space-group number?"

    def expected(self, identity):
        import spglib

        species = sorted({s[0] for s in identity["sites"]})
        cell = (identity["lattice"], [s[1:] for s in identity["sites"]], [species.index(s[0]) + 1 for s in identity["sites"]])
        return int(spglib.get_symmetry_dataset(cell, symprec=1e-3).number)


class CrystalSystem(SpaceGroup):
    """Crystal system (cubic, hexagonal, ...) from the spglib space group of the structure."""

    name = "mat_crystal_system"
    instruction = "Answer with the crystal system name (e.g. cubic)."
    SYSTEMS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"), (167, "trigonal"),
               (194, "hexagonal"), (230, "cubic"))

    def question(self, identity):
        return "A crystal has " + structure_text(identity) + " To which crystal system does it belong?"

    def expected(self, identity):
        n = SpaceGroup.expected(self, identity)
        return next(name for top, name in self.SYSTEMS if n <= top)

    def judge(self, answer, identity):
        return check_word(answer, self.expected(identity), tuple(n for _, n in self.SYSTEMS))


class CoordinationNumber(MaterialsTask):
    """Number of nearest neighbours of a site (distances within 1 % of the shortest), over periodic images."""

    name = "mat_coordination_number"

    def make(self, rng, level):
        d = make_structure(rng, level)
        d["site"] = rng.randrange(len(d["sites"]))
        return d

    def question(self, identity):
        s = identity["sites"][identity["site"]]
        return ("A crystal has " + structure_text(identity) + f" What is the coordination number (nearest "
                f"neighbours of any species) of the {s[0]} atom at ({s[1]:g}, {s[2]:g}, {s[3]:g})?")

    def expected(self, identity):
        d = neighbour_distances(identity, identity["site"])
        return sum(x <= d[0] * 1.01 for x in d)


class NearestNeighbourDistance(CoordinationNumber):
    """Shortest interatomic distance from a site, in angstrom."""

    name = "mat_nearest_neighbour_distance"
    instruction = "Give the distance in angstrom, to three decimals."

    def question(self, identity):
        s = identity["sites"][identity["site"]]
        return ("A crystal has " + structure_text(identity) + f" How far is the {s[0]} atom at "
                f"({s[1]:g}, {s[2]:g}, {s[3]:g}) from its nearest neighbour?")

    def expected(self, identity):
        return neighbour_distances(identity, identity["site"])[0]

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=2e-3)


class StructureDensity(MaterialsTask):
    """Density rho = sum of atomic masses / (N_A V) in g/cm^3 from lattice and sites."""

    name = "mat_structure_density"
    instruction = "Give the density in g/cm^3."

    def make(self, rng, level):
        return make_structure(rng, level)

    def question(self, identity):
        masses = ", ".join(f"{e} {MASS[e]}" for e in sorted({s[0] for s in identity["sites"]}))
        return "A crystal has " + structure_text(identity) + f" Atomic masses (g/mol): {masses}. What is its density?"

    def expected(self, identity):
        m = sum(MASS[s[0]] for s in identity["sites"])
        return m / (N_A * cell_volume(identity["lattice"]) * 1e-24)

    def render(self, value):
        return sig(value, 6)

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=5e-3)


class PackingFraction(MaterialsTask):
    """Atomic packing fraction of a one-element structure with touching hard spheres (r = half the NN distance)."""

    name = "mat_packing_fraction"
    instruction = "Give the fraction to four decimals."

    def make(self, rng, level):
        while True:
            d = make_structure(rng, level)
            if PROTOTYPES[d["prototype"]][2][0].__len__() == 1:
                return d

    def question(self, identity):
        return ("A crystal has " + structure_text(identity) + " Treating atoms as touching hard spheres, what "
                "fraction of the volume do they fill?")

    def expected(self, identity):
        r = neighbour_distances(identity, 0)[0] / 2
        return len(identity["sites"]) * 4 / 3 * math.pi * r ** 3 / cell_volume(identity["lattice"])

    def render(self, value):
        return f"{value:.5f}"

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=2e-3)


class DSpacing(MaterialsTask):
    """Interplanar spacing d_hkl of an orthorhombic-family cell: 1/d^2 = h^2/a^2 + k^2/b^2 + l^2/c^2."""

    name = "mat_d_spacing"
    instruction = "Give d in angstrom."

    def make(self, rng, level):
        a = round(rng.uniform(2.5, 7), 3)
        b = a if level <= 2 else round(rng.uniform(2.5, 7), 3)
        c = a if level <= 1 else round(rng.uniform(2.5, 9), 3)
        hkl = [rng.randint(0, level + 1) for _ in range(3)]
        if not any(hkl):
            hkl[0] = 1
        return {"abc": [a, b, c], "hkl": hkl}

    def question(self, identity):
        a, b, c = identity["abc"]
        h, k, l = identity["hkl"]
        return f"A cell with right angles has $a = {a}$, $b = {b}$, $c = {c}$ angstrom. What is $d_{{{h}{k}{l}}}$?"

    def expected(self, identity):
        return 1 / math.sqrt(sum((m / x) ** 2 for m, x in zip(identity["hkl"], identity["abc"])))

    def render(self, value):
        return sig(value, 6)

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=2e-3)


class BraggAngle(DSpacing):
    """Diffraction angle 2 theta (degrees) of a reflection: lambda = 2 d sin(theta), first order."""

    name = "mat_bragg_two_theta"
    instruction = "Give 2 theta in degrees."

    def make(self, rng, level):
        while True:
            d = super().make(rng, level)
            d["lam"] = rng.choice([1.5406, 0.7093, 1.7890, 2.2897])
            if d["lam"] / (2 * DSpacing.expected(self, d)) < 0.99:
                return d

    def question(self, identity):
        return super().question(identity).replace("What is", f"With X-rays of wavelength {identity['lam']} angstrom, "
                                                  "what is the first-order $2\\theta$ of") + ""

    def expected(self, identity):
        d = DSpacing.expected(self, identity)
        return 2 * math.degrees(math.asin(identity["lam"] / (2 * d)))


# ---- convex hull stability ---------------------------------------------------------------------------------------
def lower_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Lower convex hull of (x, E) points (Andrew's monotone chain), x ascending."""
    pts = sorted(set(points))
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2 and (hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1]) - \
                (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0]) <= 0:
            hull.pop()
        hull.append(p)
    return hull


def hull_energy(hull, x: float) -> float:
    for (x0, e0), (x1, e1) in zip(hull, hull[1:]):
        if x0 <= x <= x1:
            return e0 + (e1 - e0) * (x - x0) / (x1 - x0)
    raise ValueError("x outside the hull")


class HullTask(MaterialsTask):
    """A binary A-B system: formation energies (eV/atom) of several compounds; the elements are at 0."""

    def make(self, rng, level):
        a, b = rng.sample(["Li", "Na", "Mg", "Al", "Si", "Ti", "Fe", "Ni", "Cu", "Zn"], 2)
        comps = set()
        while len(comps) < 2 + level:
            na, nb = rng.randint(1, 4), rng.randint(1, 4)
            g = math.gcd(na, nb)
            comps.add((na // g, nb // g))
        table = [[na, nb, round(rng.uniform(-0.8, 0.05), 3)] for na, nb in sorted(comps)]
        return {"A": a, "B": b, "table": table, "query": rng.randrange(len(table))}

    def _formula(self, identity, row):
        na, nb, _ = row
        return f"{identity['A']}{na if na > 1 else ''}{identity['B']}{nb if nb > 1 else ''}"

    def table_text(self, identity):
        return "; ".join(f"{self._formula(identity, r)}: {r[2]} eV/atom" for r in identity["table"])

    def e_above_hull(self, identity) -> float:
        pts = [(0.0, 0.0), (1.0, 0.0)] + [(nb / (na + nb), e) for na, nb, e in identity["table"]]
        hull = lower_hull(pts)
        na, nb, e = identity["table"][identity["query"]]
        return max(0.0, e - hull_energy(hull, nb / (na + nb)))


class HullStability(HullTask):
    """Is a compound on the convex hull of formation energy (thermodynamically stable)? yes / no."""

    name = "mat_hull_stability"
    instruction = "Answer yes or no."

    def question(self, identity):
        q = self._formula(identity, identity["table"][identity["query"]])
        return (f"Formation energies in the {identity['A']}-{identity['B']} system (pure elements at 0): "
                f"{self.table_text(identity)}. Is {q} thermodynamically stable (on the convex hull)?")

    def expected(self, identity):
        return "yes" if self.e_above_hull(identity) < 1e-9 else "no"

    def judge(self, answer, identity):
        return check_word(answer, self.expected(identity), ("yes", "no"))


class EnergyAboveHull(HullTask):
    """Energy above the convex hull (eV/atom) of a compound; 0 when it is on the hull."""

    name = "mat_energy_above_hull"
    instruction = "Give the energy above hull in eV/atom, to three decimals."

    def question(self, identity):
        q = self._formula(identity, identity["table"][identity["query"]])
        return (f"Formation energies in the {identity['A']}-{identity['B']} system (pure elements at 0): "
                f"{self.table_text(identity)}. What is the energy above the convex hull of {q}?")

    def expected(self, identity):
        return self.e_above_hull(identity)

    def render(self, value):
        return f"{value:.4f}"

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=0.0, abs_=0.0015)


MATERIALS_TASKS = [SpaceGroup, CrystalSystem, CoordinationNumber, NearestNeighbourDistance, StructureDensity,
                   PackingFraction, DSpacing, BraggAngle, HullStability, EnergyAboveHull]
