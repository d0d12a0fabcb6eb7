"""Reaction tasks on reaction SMILES: mass-balance check, atom-mapping consistency, combustion balancing."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from math import gcd
from typing import ClassVar

from pydantic import Field

from s1data.bootcamp.base import BaseParams, BaseTask, Solution, State, split_list, yes_no
from s1data.bootcamp.science.molecules import SIZE_BUCKET, mol_from, random_smiles

_R = {"small": ("C", "CC", "CCC"), "medium": ("CC(C)C", "CCCCC", "C1CCCCC1", "c1ccccc1"),
      "large": ("CCCCCCCC", "c1ccc(cc1)CC", "C1CCC(CC1)CCC", "CC(C)c1ccccc1")}

# (name, template SMARTS for atom mapping, builder of (reactants, products) SMILES from two R groups)
_REACTIONS = {
    "esterification": ("[C:1](=[O:2])[OH:3].[OH1:4][#6:5]>>[C:1](=[O:2])[O:4][#6:5].[O:3]",
                       lambda r, s: ([r + "C(=O)O", "O" + s], [r + "C(=O)O" + s, "O"])),
    "amidation": ("[C:1](=[O:2])[OH:3].[NH2:4][#6:5]>>[C:1](=[O:2])[N:4][#6:5].[O:3]",
                  lambda r, s: ([r + "C(=O)O", "N" + s], [r + "C(=O)N" + s, "O"])),
    "hydrogenation": ("[C:1]=[C:2].[H][H]>>[C:1][C:2]",
                      lambda r, s: ([r + "C=C" + s, "[H][H]"], [r + "CC" + s])),
}


def _formula_with_h(smiles: str) -> Counter:
    mol = mol_from(smiles)
    c: Counter = Counter()
    for a in mol.GetAtoms():
        c[a.GetSymbol()] += 1
        c["H"] += a.GetTotalNumHs()
    return c


def side_counts(side: str) -> Counter:
    total: Counter = Counter()
    for smi in side.split("."):
        total += _formula_with_h(smi)
    return total


class RxnParams(BaseParams):
    size: str = Field("small", pattern="^(small|medium|large)$", description="size of the R groups")
    reaction: str = Field("esterification", pattern="^(esterification|amidation|hydrogenation)$",
                          description="reaction type")


class _ReactionTask(BaseTask):
    domain = "chemistry"
    Params = RxnParams
    GRID: ClassVar[dict] = {"size": ["small", "medium", "large"], "reaction": list(_REACTIONS)}
    instruction = "Answer yes or no."

    def length_bucket(self):
        return SIZE_BUCKET[self.params.size]

    def _groups(self, rng):
        return rng.choice(_R[self.params.size]), rng.choice(_R[self.params.size])


class ReactionBalanced(_ReactionTask):
    """Is a reaction SMILES balanced atom by atom (hydrogens included)? Unbalanced cases drop or add a species."""

    name = "chem_reaction_balanced"

    def generate(self, rng):
        r, s = self._groups(rng)
        reac, prod = _REACTIONS[self.params.reaction][1](r, s)
        u = rng.random()
        if u < 0.25:
            prod = prod[:1] if len(prod) > 1 else prod + ["O"]
        elif u < 0.5:
            reac = reac + [reac[-1]]
        return {"rxn": ".".join(reac) + ">>" + ".".join(prod)}

    def statement(self, identity):
        return f"Is the reaction {identity['rxn']} balanced (same number of atoms of every element, hydrogens included, on both sides)?"

    def solve(self, identity):
        left, right = identity["rxn"].split(">>")
        L, R = side_counts(left), side_counts(right)
        states = [State([("reactants", left)], f"count atoms: {dict(sorted(L.items()))}"),
                  State([("products", right)], f"count atoms: {dict(sorted(R.items()))}")]
        for el in sorted(set(L) | set(R)):
            states.append(State([(f"left {el}", L[el]), (f"right {el}", R[el])], "equal" if L[el] == R[el] else "differ"))
        return Solution("yes" if L == R else "no", states)

    def check(self, answer, identity):
        got = yes_no(answer)
        if got is None:
            return False, "bootcamp_unparseable_answer"
        left, right = identity["rxn"].split(">>")
        return (True, "bootcamp_correct") if got == (side_counts(left) == side_counts(right)) else (False, "bootcamp_wrong_answer")


def _maps(side: str) -> list[tuple[int, str]] | None:
    out = []
    for smi in side.split("."):
        mol = mol_from(smi)
        if mol is None:
            return None
        out += [(a.GetAtomMapNum(), a.GetSymbol()) for a in mol.GetAtoms() if a.GetAtomMapNum()]
    return out


def mapping_consistent(rxn: str) -> bool:
    """Every product map number occurs exactly once among the reactants on an atom of the same element."""
    left, right = rxn.split(">>")
    L, R = _maps(left), _maps(right)
    if L is None or R is None:
        return False
    lmap = dict(L)
    return len(lmap) == len(L) and len({m for m, _ in R}) == len(R) and all(lmap.get(m) == el for m, el in R)


class AtomMappingCheck(_ReactionTask):
    """Is the atom mapping of a mapped reaction SMILES consistent? Corrupted cases swap two product map numbers on
    atoms of different elements or point one at a map number absent from the reactants."""

    name = "chem_atom_mapping_check"

    def generate(self, rng):
        from rdkit import Chem
        from rdkit.Chem import AllChem

        r, s = self._groups(rng)
        smarts, build = _REACTIONS[self.params.reaction]
        reac, _ = build(r, s)
        mols = [Chem.AddHs(mol_from(x)) if x == "[H][H]" else mol_from(x) for x in reac]
        rxn = AllChem.ReactionFromSmarts(smarts)
        prods = rxn.RunReactants(tuple(mols))[0]
        n = 0
        for m in mols:
            for a in m.GetAtoms():
                n += 1
                a.SetAtomMapNum(n)
        pm = []
        for p in prods:
            p = Chem.RWMol(p)
            for a in p.GetAtoms():
                pd = a.GetPropsAsDict()
                a.SetAtomMapNum(mols[pd["react_idx"]].GetAtomWithIdx(pd["react_atom_idx"]).GetAtomMapNum())
            Chem.SanitizeMol(p)
            pm.append(p)
        if rng.random() < 0.5:
            atoms = [a for p in pm for a in p.GetAtoms()]
            pairs = [(a, b) for a in atoms for b in atoms if a.GetSymbol() < b.GetSymbol()]
            if pairs and rng.random() < 0.7:
                a, b = rng.choice(pairs)
                ma, mb = a.GetAtomMapNum(), b.GetAtomMapNum()
                a.SetAtomMapNum(mb)
                b.SetAtomMapNum(ma)
            else:
                rng.choice(atoms).SetAtomMapNum(n + 1)
        text = ".".join(Chem.MolToSmiles(m) for m in mols) + ">>" + ".".join(Chem.MolToSmiles(p) for p in pm)
        return {"rxn": text}

    def statement(self, identity):
        return (f"Check the atom mapping of the reaction {identity['rxn']}: is every mapped product atom mapped to a "
                f"reactant atom of the same element, with no map number used twice on a side?")

    def solve(self, identity):
        left, right = identity["rxn"].split(">>")
        L, R = _maps(left), _maps(right)
        lmap = dict(L)
        states = [State([("reactants", left)], f"reactant maps: {len(L)} atoms, unique={len(lmap) == len(L)}"),
                  State([("products", right)], f"product maps: {len(R)} atoms, unique={len({m for m, _ in R}) == len(R)}")]
        for m, el in R:
            states.append(State([(f"product :{m}", el), (f"reactant :{m}", lmap.get(m, "absent"))],
                                "match" if lmap.get(m) == el else "mismatch"))
        return Solution("yes" if mapping_consistent(identity["rxn"]) else "no", states)

    def check(self, answer, identity):
        got = yes_no(answer)
        if got is None:
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if got == mapping_consistent(identity["rxn"]) else (False, "bootcamp_wrong_answer")


_PRODUCTS = {"C": ("CO2", {"C": 1, "O": 2}), "H": ("H2O", {"H": 2, "O": 1}), "N": ("N2", {"N": 2}),
             "S": ("SO2", {"S": 1, "O": 2}), "F": ("HF", {"H": 1, "F": 1}), "Cl": ("HCl", {"H": 1, "Cl": 1}),
             "Br": ("HBr", {"H": 1, "Br": 1})}


def combustion_species(formula: Counter) -> list[tuple[str, dict]]:
    species = [("fuel", dict(formula)), ("O2", {"O": 2})]
    for el in ("C", "H", "N", "S", "F", "Cl", "Br"):
        if formula.get(el):
            species.append(_PRODUCTS[el])
    return species


def balance(species: list[tuple[str, dict]], n_reactants: int) -> list[int] | None:
    """Smallest positive integer coefficients balancing every element, or None (exact Gaussian elimination)."""
    els = sorted({e for _, c in species for e in c})
    M = [[Fraction(c.get(e, 0) * (1 if k < n_reactants else -1)) for k, (_, c) in enumerate(species)] for e in els]
    ncol = len(species)
    # nullspace with the last coefficient fixed to 1
    rows, piv = [r[:] for r in M], []
    r = 0
    for col in range(ncol):
        p = next((i for i in range(r, len(rows)) if rows[i][col] != 0), None)
        if p is None:
            continue
        rows[r], rows[p] = rows[p], rows[r]
        rows[r] = [x / rows[r][col] for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][col] != 0:
                rows[i] = [a - rows[i][col] * b for a, b in zip(rows[i], rows[r])]
        piv.append(col)
        r += 1
    free = [c for c in range(ncol) if c not in piv]
    if len(free) != 1:
        return None
    x = [Fraction(0)] * ncol
    x[free[0]] = Fraction(1)
    for i, col in enumerate(piv):
        x[col] = -rows[i][free[0]]
    if any(v <= 0 for v in x):
        return None
    den = 1
    for v in x:
        den = den * v.denominator // gcd(den, v.denominator)
    ints = [int(v * den) for v in x]
    g = 0
    for v in ints:
        g = gcd(g, v)
    return [v // g for v in ints]


class CombustionBalance(BaseTask):
    """Balance the complete combustion of a random molecule (products CO2, H2O, N2, SO2, HX), smallest integers."""

    name = "chem_combustion_balance"
    domain = "chemistry"

    class Params(BaseParams):
        size: str = Field("small", pattern="^(small|medium|large)$", description="chain length of the fuel")
        rings: int = Field(0, ge=0, le=3, description="exact number of rings in the fuel")

    GRID = {"size": ["small", "medium", "large"], "rings": [0, 1, 2, 3]}
    instruction = "Give the coefficients in the order written, comma separated (smallest whole numbers)."

    def length_bucket(self):
        return SIZE_BUCKET[self.params.size]

    def generate(self, rng):
        from rdkit.Chem import rdMolDescriptors

        for _ in range(200):
            smi = random_smiles(rng, self.params.size, self.params.rings)
            f = rdMolDescriptors.CalcMolFormula(mol_from(smi))
            if balance(combustion_species(_formula_with_h(smi)), 2):
                return {"smiles": smi, "formula": f}
        raise RuntimeError("no combustible molecule drawn")

    def _species(self, identity):
        return combustion_species(_formula_with_h(identity["smiles"]))

    def statement(self, identity):
        sp = self._species(identity)
        names = [identity["formula"]] + [n for n, _ in sp[1:]]
        return (f"Balance the complete combustion of {identity['formula']} (SMILES {identity['smiles']}): "
                f"a {names[0]} + b O2 -> " + " + ".join(f"{chr(99 + i)} {n}" for i, n in enumerate(names[2:])) + ".")

    def solve(self, identity):
        sp = self._species(identity)
        coef = balance(sp, 2)
        states = [State([("formula", identity["formula"])], f"species: {[n for n, _ in sp]}")]
        for el in sorted({e for _, c in sp for e in c}):
            lhs = " + ".join(f"{c.get(el, 0)}*x{k}" for k, (_, c) in enumerate(sp[:2]) if c.get(el))
            rhs = " + ".join(f"{c.get(el, 0)}*x{k}" for k, (_, c) in enumerate(sp) if k >= 2 and c.get(el))
            states.append(State([("element", el)], f"{lhs} = {rhs}"))
        states.append(State([], f"solve, scale to smallest integers: {coef}"))
        return Solution(", ".join(map(str, coef)), states)

    def check(self, answer, identity):
        try:
            got = [int(t) for t in split_list(answer)]
        except ValueError:
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if got == balance(self._species(identity), 2) else (False, "bootcamp_wrong_answer")


REACTION_TASKS = (ReactionBalanced, AtomMappingCheck, CombustionBalance)
