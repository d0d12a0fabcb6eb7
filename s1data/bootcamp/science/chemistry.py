"""RDKit molecule tasks: formula, masses, descriptors, counts, SMILES equivalence and validity, functional groups.

Every answer is checked by computation with RDKit on the identity's SMILES. An invalid SMILES in a model's
answer scores 0 with reason ``bootcamp_invalid_smiles``. Float descriptors are checked within a stated tolerance.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import ClassVar

from pydantic import Field

from s1data.bootcamp.base import BaseParams, BaseTask, Solution, State, close, int_verdict, parse_float, split_list, yes_no
from s1data.bootcamp.science.molecules import SIZE_BUCKET, canonical, mol_from, random_smiles, shuffled_smiles


class MolParams(BaseParams):
    size: str = Field("small", pattern="^(small|medium|large)$", description="chain length: small, medium or large")
    rings: int = Field(0, ge=0, le=3, description="exact number of (non-fused) rings in the molecule")


class MoleculeTask(BaseTask):
    """Base for one-molecule questions: ``value(mol, identity)`` is the truth, ``steps`` the TAIL trace."""

    domain = "chemistry"
    Params = MolParams
    GRID: ClassVar[dict] = {"size": ["small", "medium", "large"], "rings": [0, 1, 2, 3]}
    question: ClassVar[str] = ""
    kind: ClassVar[str] = "int"  # int | float | text
    tol: ClassVar[float] = 0.0  # absolute tolerance for floats
    decimals: ClassVar[int] = 2

    def length_bucket(self):
        return SIZE_BUCKET[self.params.size]

    def generate(self, rng):
        return {"smiles": random_smiles(rng, self.params.size, self.params.rings)}

    def statement(self, identity):
        return f"For the molecule with SMILES {identity['smiles']}: {self.question}"

    def value(self, mol, identity):
        raise NotImplementedError

    def steps(self, mol, identity) -> list[State]:
        """Default trace: one state per heavy atom reading symbol and hydrogens, then the computed value."""
        return [State([(f"atom {a.GetIdx()}", f"{a.GetSymbol()}H{a.GetTotalNumHs()}")], f"read atom {a.GetIdx()}")
                for a in mol.GetAtoms()]

    def fmt(self, v) -> str:
        return f"{v:.{self.decimals}f}" if self.kind == "float" else str(v)

    def solve(self, identity):
        mol = mol_from(identity["smiles"])
        v = self.value(mol, identity)
        states = [State([("smiles", identity["smiles"])], f"parse: {mol.GetNumAtoms()} heavy atoms")]
        states += self.steps(mol, identity)
        states.append(State([], f"result = {self.fmt(v)}"))
        return Solution(self.fmt(v), states)

    def check(self, answer, identity):
        mol = mol_from(identity["smiles"])
        exp = self.value(mol, identity)
        if self.kind == "int":
            return int_verdict(answer, exp)
        if self.kind == "float":
            try:
                got = parse_float(answer)
            except ValueError:
                return False, "bootcamp_unparseable_answer"
            return (True, "bootcamp_correct") if close(got, exp, 0.0, self.tol) else (False, "bootcamp_wrong_answer")
        return self.check_text(answer, exp, identity)

    def check_text(self, answer, exp, identity):
        raise NotImplementedError


def _atom_counts(mol) -> Counter:
    c: Counter = Counter()
    for a in mol.GetAtoms():
        c[a.GetSymbol()] += 1
        c["H"] += a.GetTotalNumHs()
    return c


def parse_formula(s: str) -> Counter | None:
    s = s.replace("_", "").replace("{", "").replace("}", "").replace(" ", "").replace("\\mathrm", "")
    if not re.fullmatch(r"(?:[A-Z][a-z]?\d*)+", s):
        return None
    c: Counter = Counter()
    for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", s):
        c[el] += int(n) if n else 1
    return c


def _count_steps(mol):
    states, c = [], Counter()
    for a in mol.GetAtoms():
        h = a.GetTotalNumHs()
        before = dict(c)
        c[a.GetSymbol()] += 1
        c["H"] += h
        states.append(State([(f"atom {a.GetIdx()}", f"{a.GetSymbol()} with {h} H"), ("counts", before or "{}")],
                            f"{a.GetSymbol()}+1, H+{h}"))
    return states


class MolecularFormula(MoleculeTask):
    """Molecular formula (Hill order not required: element counts are compared)."""

    name = "chem_molecular_formula"
    question = "what is its molecular formula?"
    instruction = "Write the formula like C6H12O6."
    kind = "text"

    def value(self, mol, identity):
        from rdkit.Chem import rdMolDescriptors

        return rdMolDescriptors.CalcMolFormula(mol)

    steps = staticmethod(lambda mol, identity: _count_steps(mol))  # type: ignore[assignment]

    def check_text(self, answer, exp, identity):
        got = parse_formula(answer)
        if got is None:
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if got == parse_formula(exp) else (False, "bootcamp_wrong_answer")


def _mass_steps(mol, exact: bool):
    from rdkit import Chem

    pt = Chem.GetPeriodicTable()
    c = _atom_counts(mol)
    states = _count_steps(mol)
    total = 0.0
    for el in sorted(c):
        m = pt.GetMostCommonIsotopeMass(el) if exact else pt.GetAtomicWeight(el)
        total += c[el] * m
        states.append(State([(f"n({el})", c[el]), (f"m({el})", f"{m:.5f}")], f"{c[el]}*{m:.5f}; sum={total:.5f}"))
    return states


class MolecularWeight(MoleculeTask):
    """Average molecular weight in g/mol (RDKit ``MolWt``), accepted within 0.1 g/mol."""

    name = "chem_molecular_weight"
    question = "what is its average molecular weight in g/mol?"
    instruction = "Give the value with two decimals."
    kind = "float"
    tol = 0.1

    def value(self, mol, identity):
        from rdkit.Chem import Descriptors

        return Descriptors.MolWt(mol)

    steps = staticmethod(lambda mol, identity: _mass_steps(mol, exact=False))  # type: ignore[assignment]


class ExactMass(MoleculeTask):
    """Monoisotopic mass (RDKit ``ExactMolWt``) within 0.005 Da."""

    name = "chem_exact_mass"
    question = "what is its monoisotopic (exact) mass in Da?"
    instruction = "Give the value with four decimals."
    kind = "float"
    tol = 0.005
    decimals = 4

    def value(self, mol, identity):
        from rdkit.Chem import Descriptors

        return Descriptors.ExactMolWt(mol)

    steps = staticmethod(lambda mol, identity: _mass_steps(mol, exact=True))  # type: ignore[assignment]


class LogP(MoleculeTask):
    """Crippen logP (Wildman-Crippen atom contributions) within 0.01."""

    name = "chem_logp"
    question = "what is its Wildman-Crippen logP?"
    instruction = "Give the value with three decimals."
    kind = "float"
    tol = 0.01
    decimals = 3

    def value(self, mol, identity):
        from rdkit.Chem import Crippen

        return Crippen.MolLogP(mol)

    def steps(self, mol, identity):
        from rdkit.Chem import rdMolDescriptors

        total, states = 0.0, []
        for a, (lp, _) in zip(mol.GetAtoms(), rdMolDescriptors._CalcCrippenContribs(mol)):
            states.append(State([(f"atom {a.GetIdx()}", a.GetSymbol()), ("sum", f"{total:.4f}")],
                                f"contribution {lp:+.4f} (with its H); sum={total + lp:.4f}"))
            total += lp
        return states


class Tpsa(MoleculeTask):
    """Topological polar surface area (Ertl, N and O only) within 0.1 A^2."""

    name = "chem_tpsa"
    question = "what is its topological polar surface area (TPSA, N and O contributions) in square angstroms?"
    instruction = "Give the value with two decimals."
    kind = "float"
    tol = 0.1

    def value(self, mol, identity):
        from rdkit.Chem import rdMolDescriptors

        return rdMolDescriptors.CalcTPSA(mol)

    def steps(self, mol, identity):
        from rdkit.Chem import rdMolDescriptors

        total, states = 0.0, []
        for a, t in zip(mol.GetAtoms(), rdMolDescriptors._CalcTPSAContribs(mol)):
            if t:
                states.append(State([(f"atom {a.GetIdx()}", f"{a.GetSymbol()}H{a.GetTotalNumHs()}"), ("sum", f"{total:.2f}")],
                                    f"polar contribution {t:.2f}; sum={total + t:.2f}"))
                total += t
        return states


def _pattern_steps(mol, patt, label):
    hits = sorted({m[0] for m in mol.GetSubstructMatches(patt)})
    return [State([(f"atom {a.GetIdx()}", f"{a.GetSymbol()}H{a.GetTotalNumHs()}")],
                  f"{label}: {'yes' if a.GetIdx() in hits else 'no'}") for a in mol.GetAtoms() if a.GetSymbol() not in ("C",)] + [
        State([("matches", hits)], f"count = {len(hits)}")]


class HBondDonors(MoleculeTask):
    """Lipinski H-bond donors (RDKit ``NumHDonors``)."""

    name = "chem_hbond_donors"
    question = "how many hydrogen-bond donors does it have (Lipinski definition)?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        from rdkit.Chem import Lipinski

        return Lipinski.NumHDonors(mol)

    def steps(self, mol, identity):
        from rdkit.Chem import Lipinski

        return _pattern_steps(mol, Lipinski.HDonorSmarts, "donor")


class HBondAcceptors(MoleculeTask):
    """Lipinski H-bond acceptors (RDKit ``NumHAcceptors``)."""

    name = "chem_hbond_acceptors"
    question = "how many hydrogen-bond acceptors does it have (Lipinski definition)?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        from rdkit.Chem import Lipinski

        return Lipinski.NumHAcceptors(mol)

    def steps(self, mol, identity):
        from rdkit.Chem import Lipinski

        return _pattern_steps(mol, Lipinski.HAcceptorSmarts, "acceptor")


def _ring_steps(mol):
    ri = mol.GetRingInfo()
    out = []
    for k, ring in enumerate(ri.AtomRings()):
        arom = all(mol.GetAtomWithIdx(i).GetIsAromatic() for i in ring)
        out.append(State([(f"ring {k}", list(ring))], f"{len(ring)}-membered, {'aromatic' if arom else 'not aromatic'}"))
    return out


class RingCount(MoleculeTask):
    name = "chem_ring_count"
    question = "how many rings does it contain (smallest set of smallest rings)?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        return mol.GetRingInfo().NumRings()

    steps = staticmethod(lambda mol, identity: _ring_steps(mol))  # type: ignore[assignment]


class AromaticRingCount(MoleculeTask):
    name = "chem_aromatic_ring_count"
    question = "how many aromatic rings does it contain?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        from rdkit.Chem import rdMolDescriptors

        return rdMolDescriptors.CalcNumAromaticRings(mol)

    steps = staticmethod(lambda mol, identity: _ring_steps(mol))  # type: ignore[assignment]


class HeavyAtomCount(MoleculeTask):
    name = "chem_heavy_atom_count"
    question = "how many heavy (non-hydrogen) atoms does it have?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        return mol.GetNumHeavyAtoms()


class RotatableBonds(MoleculeTask):
    """RDKit ``CalcNumRotatableBonds`` (default, non-strict definition as in RDKit's Lipinski module)."""

    name = "chem_rotatable_bonds"
    question = "how many rotatable bonds does it have (single, non-ring bonds between two non-terminal heavy atoms)?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        from rdkit.Chem import Lipinski

        return Lipinski.NumRotatableBonds(mol)

    def steps(self, mol, identity):
        from rdkit.Chem import Lipinski

        hits = {tuple(sorted(m)) for m in mol.GetSubstructMatches(Lipinski.RotatableBondSmarts)}
        return [State([(f"bond {b.GetBeginAtomIdx()}-{b.GetEndAtomIdx()}", str(b.GetBondType()).lower())],
                      "rotatable" if tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) in hits else "not rotatable")
                for b in mol.GetBonds()]


class ElementCount(MoleculeTask):
    """Number of atoms of one element (hydrogens included when the element is H)."""

    name = "chem_element_count"
    question = ""
    instruction = "Give an integer."

    def generate(self, rng):
        smi = random_smiles(rng, self.params.size, self.params.rings)
        els = sorted(_atom_counts(mol_from(smi)))
        return {"smiles": smi, "element": rng.choice(els)}

    def statement(self, identity):
        return f"How many {identity['element']} atoms are in the molecule with SMILES {identity['smiles']} (count implicit hydrogens too)?"

    def value(self, mol, identity):
        return _atom_counts(mol)[identity["element"]]

    steps = staticmethod(lambda mol, identity: _count_steps(mol))  # type: ignore[assignment]


class Unsaturation(MoleculeTask):
    """Degree of unsaturation C - H/2 - X/2 + N/2 + 1 (halogens count as H)."""

    name = "chem_unsaturation"
    question = "what is its degree of unsaturation (rings plus pi bonds), computed from the formula?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        c = _atom_counts(mol)
        x = c["F"] + c["Cl"] + c["Br"] + c["I"]
        return (2 * c["C"] + 2 + c["N"] - c["H"] - x) // 2

    def steps(self, mol, identity):
        c = _atom_counts(mol)
        x = c["F"] + c["Cl"] + c["Br"] + c["I"]
        return _count_steps(mol) + [State([("C", c["C"]), ("H", c["H"]), ("N", c["N"]), ("X", x)],
                                          f"(2*{c['C']}+2+{c['N']}-{c['H']}-{x})/2")]


class FractionCsp3(MoleculeTask):
    name = "chem_fraction_csp3"
    question = "what fraction of its carbon atoms are sp3-hybridised?"
    instruction = "Give the value with three decimals."
    kind = "float"
    tol = 0.01
    decimals = 3

    def value(self, mol, identity):
        from rdkit.Chem import rdMolDescriptors

        return rdMolDescriptors.CalcFractionCSP3(mol)

    def steps(self, mol, identity):
        return [State([(f"atom {a.GetIdx()}", "C")], f"hybridisation {str(a.GetHybridization())}")
                for a in mol.GetAtoms() if a.GetSymbol() == "C"]


class Stereocenters(MoleculeTask):
    name = "chem_stereocenters"
    question = "how many tetrahedral stereocentres (assigned or not) does it have?"
    instruction = "Give an integer."

    def value(self, mol, identity):
        from rdkit import Chem

        return len(Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False))


FUNCTIONAL_GROUPS = {
    "carboxylic acid": "[CX3](=O)[OX2H1]",
    "ester": "[#6][CX3](=O)[OX2H0][#6]",
    "amide": "[NX3][CX3](=[OX1])",
    "amine": "[NX3;!$(N-C=[O,S]);!$(N-a);!$(N#*);!$([N]=*)]",
    "alcohol": "[OX2H][CX4]",
    "nitrile": "[NX1]#[CX2]",
    "halide": "[#6][F,Cl,Br,I]",
    "ketone": "[#6][CX3](=O)[#6]",
    "ether": "[OD2]([#6])[#6]",
    "aromatic ring": "a",
}


class FunctionalGroups(MoleculeTask):
    """Which of a fixed list of functional groups (SMARTS in ``FUNCTIONAL_GROUPS``) the molecule contains."""

    name = "chem_functional_groups"
    kind = "text"
    instruction = "List the present groups by name, comma separated, or write none."

    def statement(self, identity):
        return (f"Which of these functional groups occur in the molecule with SMILES {identity['smiles']}: "
                f"{', '.join(FUNCTIONAL_GROUPS)}? (An ester's C-O-C also counts as an ether.)")

    def value(self, mol, identity):
        from rdkit import Chem

        return sorted(g for g, s in FUNCTIONAL_GROUPS.items() if mol.HasSubstructMatch(Chem.MolFromSmarts(s)))

    def fmt(self, v):
        return ", ".join(v) if v else "none"

    def steps(self, mol, identity):
        present = set(self.value(mol, identity))
        return [State([("group", g)], f"match {'found' if g in present else 'not found'}") for g in FUNCTIONAL_GROUPS]

    def check_text(self, answer, exp, identity):
        got = [] if answer.strip().lower() == "none" else [t.lower() for t in split_list(answer)]
        if any(g not in FUNCTIONAL_GROUPS for g in got):
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if sorted(set(got)) == exp and len(got) == len(set(got)) else (False, "bootcamp_wrong_answer")


class CanonicalSmiles(MoleculeTask):
    """Rewrite a shuffled SMILES; any SMILES of the same molecule is accepted (canonical forms compared)."""

    name = "chem_canonical_smiles"
    kind = "text"
    instruction = "Write one SMILES string (any valid SMILES of the same molecule is accepted; the canonical one is preferred)."

    def generate(self, rng):
        smi = random_smiles(rng, self.params.size, self.params.rings)
        return {"smiles": shuffled_smiles(smi, rng.randrange(2**31))}

    def statement(self, identity):
        return f"Give the canonical SMILES of the molecule written as {identity['smiles']}."

    def value(self, mol, identity):
        from rdkit import Chem

        return Chem.MolToSmiles(mol)

    def steps(self, mol, identity):
        from rdkit import Chem

        Chem.MolToSmiles(mol)
        order = list(mol.GetPropsAsDict(True, True).get("_smilesAtomOutputOrder", []))
        return [State([(f"atom {i}", mol.GetAtomWithIdx(i).GetSymbol())], f"emit in canonical rank {k}") for k, i in enumerate(order)]

    def check_text(self, answer, exp, identity):
        got = canonical(answer)
        if got is None:
            return False, "bootcamp_invalid_smiles"
        return (True, "bootcamp_correct") if got == exp else (False, "bootcamp_wrong_answer")


class SameMolecule(MoleculeTask):
    """Do two SMILES strings denote the same molecule? Half the cases are the same molecule written differently."""

    name = "chem_same_molecule"
    kind = "text"
    instruction = "Answer yes or no."

    def generate(self, rng):
        a = random_smiles(rng, self.params.size, self.params.rings)
        b = shuffled_smiles(a, rng.randrange(2**31)) if rng.random() < 0.5 else random_smiles(rng, self.params.size, self.params.rings)
        return {"smiles": a, "other": b}

    def statement(self, identity):
        return f"Do the SMILES {identity['smiles']} and {identity['other']} represent the same molecule?"

    def value(self, mol, identity):
        return canonical(identity["smiles"]) == canonical(identity["other"])

    def fmt(self, v):
        return "yes" if v else "no"

    def steps(self, mol, identity):
        return [State([("A", identity["smiles"])], f"canonical A = {canonical(identity['smiles'])}"),
                State([("B", identity["other"])], f"canonical B = {canonical(identity['other'])}"),
                State([], "compare canonical strings")]

    def check_text(self, answer, exp, identity):
        got = yes_no(answer)
        if got is None:
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if got == exp else (False, "bootcamp_wrong_answer")


def _corrupt(rng, smi: str) -> str:
    kind = rng.randrange(4)
    if kind == 0 and "1" in smi:
        i = smi.rfind("1")
        return smi[:i] + smi[i + 1:]  # unclosed ring
    if kind == 1:
        return smi + ")"  # unbalanced branch
    if kind == 2:
        return "C(C)(C)(C)(C)" + smi  # pentavalent carbon
    return smi.replace("C", "c", 1) if "C" in smi else smi + "("  # lowercase aliphatic atom or dangling branch


class ValidSmiles(MoleculeTask):
    """Is a string a valid SMILES (parses and sanitises in RDKit)? Invalid ones are corrupted valid molecules."""

    name = "chem_valid_smiles"
    kind = "text"
    instruction = "Answer yes or no."

    def generate(self, rng):
        smi = random_smiles(rng, self.params.size, self.params.rings)
        if rng.random() < 0.5:
            for _ in range(20):
                bad = _corrupt(rng, smi)
                if mol_from(bad) is None:
                    return {"smiles": bad}
        return {"smiles": smi}

    def statement(self, identity):
        return f"Is {identity['smiles']} a valid SMILES string (does it describe a chemically valid molecule)?"

    def solve(self, identity):
        ok = mol_from(identity["smiles"]) is not None
        states = [State([("s", identity["smiles"])], "parse and sanitise: " + ("success" if ok else "failure"))]
        return Solution("yes" if ok else "no", states)

    def check(self, answer, identity):
        got = yes_no(answer)
        if got is None:
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if got == (mol_from(identity["smiles"]) is not None) else (False, "bootcamp_wrong_answer")


MOLECULE_TASKS = (
    MolecularFormula, MolecularWeight, ExactMass, LogP, Tpsa, HBondDonors, HBondAcceptors, RingCount,
    AromaticRingCount, HeavyAtomCount, RotatableBonds, ElementCount, Unsaturation, FractionCsp3, Stereocenters,
    FunctionalGroups, CanonicalSmiles, SameMolecule, ValidSmiles,
)
