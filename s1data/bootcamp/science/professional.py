"""Intern-S1's professional chemistry tasks with computable checks, and more RDKit / solution-chemistry families.

- Forward reaction prediction: reactants + reaction class -> product; the reference is the product of the class's
  RDKit reaction template, and an answer is right when it is the same molecule (canonical SMILES).
- Single-step retrosynthesis: product + reaction class -> reactants; an answer is right when applying the forward
  template to the answered reactants gives the product (so any valid disconnection the template allows passes).
- Reaction-condition classification: a reaction -> which conditions, from the template's conditions table.
"""

from __future__ import annotations

import math
import random

from s1data.bootcamp.science.exact import ExactTask, check_float, check_int, check_word, sig
from s1data.bootcamp.science.molecules import canonical, mol_from, random_smiles

# class -> (forward template, reactant pools by level (short to long), conditions)
_ACIDS = ["CC(=O)O", "OC(=O)c1ccccc1", "CCCC(=O)O", "OC(=O)c1ccc(Cl)cc1", "OC(=O)C1CCCCC1", "OC(=O)c1ccc(OC)cc1"]
_AMINES = ["NC", "NCC", "NCc1ccccc1", "NC1CCCCC1", "Nc1ccccc1", "NCCc1ccc(F)cc1"]
_ALCOHOLS = ["OC", "OCC", "OCCC", "OCc1ccccc1", "OC1CCCC1", "OCCOC"]
_ARBR = ["Brc1ccccc1", "Brc1ccc(C)cc1", "Brc1ccncc1", "Brc1ccc(C(F)(F)F)cc1", "Brc1cccc2ccccc12", "Brc1ccc(OC)cc1"]
_BORONIC = ["OB(O)c1ccccc1", "OB(O)c1ccc(F)cc1", "OB(O)c1cccs1", "OB(O)c1ccc(C)cc1", "OB(O)c1cccnc1", "OB(O)c1ccoc1"]
_ALDEHYDES = ["O=CC", "O=Cc1ccccc1", "O=CCC", "O=Cc1ccc(Cl)cc1", "O=CC1CCCCC1", "O=Cc1ccco1"]
_PHENOLS = ["Oc1ccccc1", "Oc1ccc(C)cc1", "Oc1ccc(Cl)cc1", "Oc1ccc(OC)cc1", "Oc1cccc(F)c1", "Oc1ccc2ccccc2c1"]
_ALKYL_BR = ["BrCC", "BrCc1ccccc1", "BrCCC", "BrCC(=O)OC", "BrCCOC", "BrCc1ccc(F)cc1"]
_BOC = ["CC(C)(C)OC(=O)NCc1ccccc1", "CC(C)(C)OC(=O)NC1CCCCC1", "CC(C)(C)OC(=O)NCCO", "CC(C)(C)OC(=O)Nc1ccccc1",
        "CC(C)(C)OC(=O)NCC(=O)OC", "CC(C)(C)OC(=O)NCCc1ccccc1"]
_NITRO = ["O=[N+]([O-])c1ccccc1", "Cc1ccc([N+](=O)[O-])cc1", "O=[N+]([O-])c1ccc(Cl)cc1", "COc1ccc([N+](=O)[O-])cc1",
          "O=[N+]([O-])c1cccnc1", "O=C(O)c1ccc([N+](=O)[O-])cc1"]
_ESTERS = ["COC(=O)c1ccccc1", "COC(=O)CC", "COC(=O)c1ccc(Cl)cc1", "COC(=O)C1CCCCC1", "COC(=O)c1ccncc1",
           "COC(=O)CCc1ccccc1"]

REACTION_CLASSES = {
    "amide_coupling": ("[C:1](=[O:2])[OH].[N;H2;!$(NC=O):3]>>[C:1](=[O:2])[N:3]", (_ACIDS, _AMINES),
                       "EDC, HOBt, DIPEA in DMF"),
    "fischer_esterification": ("[C:1](=[O:2])[OH].[OH][CX4:3]>>[C:1](=[O:2])O[C:3]", (_ACIDS, _ALCOHOLS),
                               "catalytic H2SO4, alcohol, reflux"),
    "suzuki_coupling": ("[c:1]Br.[c:2]B(O)O>>[c:1][c:2]", (_ARBR, _BORONIC),
                        "Pd(PPh3)4, K2CO3, dioxane/water, 90 C"),
    "reductive_amination": ("[CX3H1:1]=O.[N;H2;!$(NC=O):2]>>[C:1][N:2]", (_ALDEHYDES, _AMINES),
                            "NaBH(OAc)3, AcOH, 1,2-dichloroethane"),
    "williamson_ether": ("[c:1][OH].[CH2:2]Br>>[c:1]O[C:2]", (_PHENOLS, _ALKYL_BR),
                         "K2CO3, acetone, reflux"),
    "boc_deprotection": ("[N:1]C(=O)OC(C)(C)C>>[N:1]", (_BOC,), "TFA in dichloromethane, room temperature"),
    "nitro_reduction": ("[c:1][N+](=O)[O-]>>[c:1]N", (_NITRO,), "H2 (1 atm), Pd/C, methanol"),
    "ester_hydrolysis": ("[C:1](=[O:2])O[CH3]>>[C:1](=[O:2])O", (_ESTERS,), "LiOH, THF/water, then HCl workup"),
}


def _rxn(cls_name: str):
    from rdkit.Chem import AllChem

    return AllChem.ReactionFromSmarts(REACTION_CLASSES[cls_name][0])


def run_template(cls_name: str, reactants: list[str]) -> set[str]:
    """Canonical SMILES of every sanitizable product of the class's template on these reactants (in order)."""
    from rdkit import Chem

    mols = [mol_from(s) for s in reactants]
    if any(m is None for m in mols):
        return set()
    rxn = _rxn(cls_name)
    if rxn.GetNumReactantTemplates() != len(mols):
        return set()
    out = set()
    for prods in rxn.RunReactants(tuple(mols), maxProducts=50):
        for p in prods:
            try:
                Chem.SanitizeMol(p)
                out.add(Chem.MolToSmiles(p))
            except Exception:  # noqa: BLE001 -- an unsanitizable product is not an answer
                continue
    return out


def _reactants(rng: random.Random, cls_name: str, level: int) -> list[str]:
    pools = REACTION_CLASSES[cls_name][1]
    k = min(len(pools[0]), 2 + level)  # longer lists of building blocks at higher levels
    return [rng.choice(pool[:k]) for pool in pools]


class ReactionTask(ExactTask):
    domain = "chemistry"
    family = "chemistry"

    def make(self, rng, level):
        classes = sorted(REACTION_CLASSES)
        for _ in range(50):
            c = rng.choice(classes)
            reac = _reactants(rng, c, level)
            prods = run_template(c, reac)
            if len(prods) == 1:
                return {"reaction_class": c, "reactants": reac, "product": next(iter(prods))}
        raise RuntimeError("no single-product reaction drawn")  # a bug in the tables, not bad luck


class ForwardReaction(ReactionTask):
    """Forward reaction prediction checked against the RDKit template's product (same canonical molecule)."""

    name = "chem_forward_reaction"
    instruction = "Give the main product as a SMILES string."

    def question(self, identity):
        return (f"Predict the product of a {identity['reaction_class'].replace('_', ' ')} between "
                + " and ".join(identity["reactants"]) + ".")

    def expected(self, identity):
        return identity["product"]

    def judge(self, answer, identity):
        got = canonical(answer.strip())
        if got is None:
            return False, "bootcamp_invalid_smiles"
        return (True, "bootcamp_correct") if got == canonical(identity["product"]) else (False, "bootcamp_wrong_answer")


class Retrosynthesis(ReactionTask):
    """Single-step retrosynthesis: the answered reactants must give the product under the class's template."""

    name = "chem_retrosynthesis"
    instruction = "Give the reactants as SMILES separated by a dot."

    def question(self, identity):
        n = len(REACTION_CLASSES[identity["reaction_class"]][1])
        return (f"Propose {'the reactant' if n == 1 else f'{n} reactants'} that give {identity['product']} in one "
                f"{identity['reaction_class'].replace('_', ' ')} step.")

    def expected(self, identity):
        return ".".join(identity["reactants"])

    def judge(self, answer, identity):
        import itertools

        parts = [p for p in answer.strip().split(".") if p]
        if not parts or len(parts) > 4 or any(mol_from(p) is None for p in parts):
            return False, "bootcamp_invalid_smiles"
        target = canonical(identity["product"])
        for order in itertools.permutations(parts):
            if target in run_template(identity["reaction_class"], list(order)):
                return True, "bootcamp_correct"
        return False, "bootcamp_wrong_answer"


class ReactionConditions(ReactionTask):
    """Which conditions run this reaction? One letter from the options (the template's conditions table)."""

    name = "chem_reaction_conditions"
    instruction = "Answer with the letter of the option."

    def make(self, rng, level):
        d = super().make(rng, level)
        others = [c for c in sorted(REACTION_CLASSES) if c != d["reaction_class"]]
        opts = rng.sample(others, min(len(others), 1 + level)) + [d["reaction_class"]]
        rng.shuffle(opts)
        d["options"] = opts
        return d

    def question(self, identity):
        rxn = ".".join(identity["reactants"]) + ">>" + identity["product"]
        opts = " ".join(f"({'ABCDEFGH'[i]}) {REACTION_CLASSES[c][2]}" for i, c in enumerate(identity["options"]))
        return f"Which conditions carry out the reaction {rxn}? {opts}"

    def expected(self, identity):
        return "ABCDEFGH"[identity["options"].index(identity["reaction_class"])]

    def wrong_answer(self, identity, rng):
        right = self.expected(identity)
        return rng.choice([c for c in "ABCDEFGH"[:len(identity["options"])] if c != right])

    def judge(self, answer, identity):
        letters = tuple("ABCDEFGH"[:len(identity["options"])])
        a = answer.strip().strip("()").upper()
        if a not in letters:
            return False, "bootcamp_unparseable_answer"
        return (True, "bootcamp_correct") if a == self.expected(identity) else (False, "bootcamp_wrong_answer")


# ---- more RDKit families ------------------------------------------------------------------------------------------
def _mol_identity(rng, level) -> dict:
    size = "small" if level <= 2 else "medium" if level <= 4 else "large"
    return {"smiles": random_smiles(rng, size, min(level - 1, 3))}


_SMARTS = {"carboxylic acid": "C(=O)[OX2H1]", "primary amine": "[NX3;H2][CX4,c]", "hydroxyl": "[OX2H]",
           "halogen": "[F,Cl,Br,I]", "carbonyl": "[CX3]=[OX1]", "aromatic ring": "a1aaaaa1", "nitrile": "C#N",
           "ether": "[OD2]([#6])[#6]", "amide": "C(=O)N", "thioether": "[SX2]([#6])[#6]"}


class MoleculeTask(ExactTask):
    domain = "chemistry"
    family = "chemistry"

    def make(self, rng, level):
        return _mol_identity(rng, level)

    def mol(self, identity):
        return mol_from(identity["smiles"])


class SubstructurePresent(MoleculeTask):
    """Does the molecule contain a functional group (RDKit SMARTS match)? yes / no."""

    name = "chem_substructure_present"
    instruction = "Answer yes or no."

    def make(self, rng, level):
        d = _mol_identity(rng, level)
        d["group"] = rng.choice(sorted(_SMARTS))
        return d

    def question(self, identity):
        return f"Does {identity['smiles']} contain a {identity['group']} group?"

    def expected(self, identity):
        from rdkit import Chem

        return "yes" if self.mol(identity).HasSubstructMatch(Chem.MolFromSmarts(_SMARTS[identity["group"]])) else "no"

    def judge(self, answer, identity):
        return check_word(answer, self.expected(identity), ("yes", "no"))


class TanimotoSimilarity(MoleculeTask):
    """Tanimoto similarity of Morgan fingerprints (radius 2, 2048 bits) of two molecules (+-0.01)."""

    name = "chem_tanimoto_similarity"
    instruction = "Give the similarity to two decimals."

    def make(self, rng, level):
        return {"a": _mol_identity(rng, level)["smiles"], "b": _mol_identity(rng, level)["smiles"]}

    def question(self, identity):
        return (f"What is the Tanimoto similarity of the Morgan fingerprints (radius 2, 2048 bits) of "
                f"{identity['a']} and {identity['b']}?")

    def expected(self, identity):
        from rdkit import DataStructs
        from rdkit.Chem import rdFingerprintGenerator

        gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
        fa, fb = (gen.GetFingerprint(mol_from(identity[k])) for k in ("a", "b"))
        return DataStructs.TanimotoSimilarity(fa, fb)

    def render(self, value):
        return f"{value:.3f}"

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=0.0, abs_=0.01)


class LargestRing(MoleculeTask):
    """Size of the largest ring (0 if acyclic)."""

    name = "chem_largest_ring_size"

    def question(self, identity):
        return f"How many atoms are in the largest ring of {identity['smiles']} (0 if none)?"

    def expected(self, identity):
        from rdkit import Chem

        return max((len(r) for r in Chem.GetSymmSSSR(self.mol(identity))), default=0)


class MurckoScaffold(MoleculeTask):
    """Bemis-Murcko scaffold (rings and linkers), any equivalent SMILES accepted."""

    name = "chem_murcko_scaffold"
    instruction = "Give the scaffold as SMILES (an empty string is not accepted; acyclic molecules are excluded)."

    def make(self, rng, level):
        size = "small" if level <= 2 else "medium" if level <= 4 else "large"
        return {"smiles": random_smiles(rng, size, max(1, min(level, 3)))}

    def question(self, identity):
        return f"What is the Bemis-Murcko scaffold of {identity['smiles']}?"

    def expected(self, identity):
        from rdkit import Chem
        from rdkit.Chem.Scaffolds import MurckoScaffold as MS

        return Chem.MolToSmiles(MS.GetScaffoldForMol(self.mol(identity)))

    def judge(self, answer, identity):
        got = canonical(answer.strip())
        if got is None:
            return False, "bootcamp_invalid_smiles"
        return (True, "bootcamp_correct") if got == canonical(self.expected(identity)) else (False, "bootcamp_wrong_answer")


class AromaticAtoms(MoleculeTask):
    """Number of aromatic atoms."""

    name = "chem_aromatic_atom_count"

    def question(self, identity):
        return f"How many aromatic atoms does {identity['smiles']} have?"

    def expected(self, identity):
        return sum(a.GetIsAromatic() for a in self.mol(identity).GetAtoms())


class LipinskiViolations(MoleculeTask):
    """Violations of Lipinski's rule of five (MW > 500, logP > 5, HBD > 5, HBA > 10), RDKit descriptors."""

    name = "chem_lipinski_violations"

    def question(self, identity):
        return (f"How many of Lipinski's rules (MW <= 500, Crippen logP <= 5, H-bond donors <= 5, acceptors <= 10) "
                f"does {identity['smiles']} violate?")

    def expected(self, identity):
        from rdkit.Chem import Crippen, Descriptors, Lipinski

        m = self.mol(identity)
        return int(Descriptors.MolWt(m) > 500) + int(Crippen.MolLogP(m) > 5) + \
            int(Lipinski.NumHDonors(m) > 5) + int(Lipinski.NumHAcceptors(m) > 10)


class StrongAcidPH(ExactTask):
    """pH of a strong monoprotic acid solution, water autoionisation included: [H+] = (c + sqrt(c^2 + 4 Kw)) / 2."""

    name = "chem_strong_acid_ph"
    domain = "chemistry"
    family = "chemistry"
    instruction = "Give the pH to two decimals."

    def make(self, rng, level):
        return {"c": float(f"{rng.uniform(1, 9.9):.2g}e-{rng.randint(1, 1 + 2 * level)}"),
                "acid": rng.choice(["HCl", "HNO3", "HBr", "HClO4"])}

    def question(self, identity):
        return f"What is the pH of {identity['c']:g} M {identity['acid']} at 25 C ($K_w = 10^{{-14}}$)?"

    def expected(self, identity):
        c = identity["c"]
        return -math.log10((c + math.sqrt(c * c + 4e-14)) / 2)

    def render(self, value):
        return f"{value:.3f}"

    def judge(self, answer, identity):
        return check_float(answer, self.expected(identity), rel=0.0, abs_=0.01)


class BufferPH(StrongAcidPH):
    """Henderson-Hasselbalch: pH = pKa + log10([A-]/[HA])."""

    name = "chem_buffer_ph"

    def make(self, rng, level):
        acid = rng.choice([("acetic acid", 4.76), ("formic acid", 3.75), ("ammonium", 9.25), ("dihydrogen phosphate", 7.21)])
        return {"acid": acid[0], "pka": acid[1], "base": round(rng.uniform(0.01, 0.2 * level), 3),
                "ha": round(rng.uniform(0.01, 0.2 * level), 3)}

    def question(self, identity):
        return (f"A buffer holds {identity['ha']} M {identity['acid']} (pKa {identity['pka']}) and {identity['base']} "
                "M of its conjugate base. What is its pH (Henderson-Hasselbalch)?")

    def expected(self, identity):
        return identity["pka"] + math.log10(identity["base"] / identity["ha"])


class Molarity(ExactTask):
    """Molar concentration from a dissolved mass and a solution volume (units converted with pint)."""

    name = "chem_molarity"
    domain = "chemistry"
    family = "chemistry"
    instruction = "Give the concentration with its unit (e.g. 0.25 mol/L)."

    _SOLUTES = [("NaCl", 58.44), ("glucose", 180.156), ("KMnO4", 158.034), ("CuSO4", 159.609), ("urea", 60.056)]

    def make(self, rng, level):
        s = rng.choice(self._SOLUTES)
        return {"solute": s[0], "M": s[1], "mass_g": round(rng.uniform(0.1, 10 * level), 3),
                "volume": [round(rng.uniform(50, 2000), 1), "mL"] if level > 1 else [round(rng.uniform(0.1, 2), 3), "L"]}

    def question(self, identity):
        v, u = identity["volume"]
        return (f"{identity['mass_g']} g of {identity['solute']} (molar mass {identity['M']} g/mol) is dissolved to "
                f"make {v} {u} of solution. What is the molarity?")

    def expected(self, identity):
        from s1data.bootcamp.science.exact import ureg

        v, u = identity["volume"]
        return float((identity["mass_g"] / identity["M"] * ureg()("mol") / (v * ureg()(u))).to("mol/L").magnitude)

    def render(self, value):
        return f"{sig(value, 6)} mol/L"

    def judge(self, answer, identity):
        from s1data.bootcamp.science.exact import check_quantity

        return check_quantity(answer, self.expected(identity), "mol/L")


PROFESSIONAL_TASKS = [ForwardReaction, Retrosynthesis, ReactionConditions, SubstructurePresent, TanimotoSimilarity,
                      LargestRing, MurckoScaffold, AromaticAtoms, LipinskiViolations, StrongAcidPH, BufferPH, Molarity]
