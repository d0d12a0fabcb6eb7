import random

import pytest

from s1data.bootcamp import REGISTRY
from s1data.bootcamp.science.molecules import mol_from, random_smiles
from s1data.bootcamp.science.reactions import balance, combustion_species, mapping_consistent
from collections import Counter

ETHANOL = {"smiles": "CCO", "template": 0}


@pytest.mark.parametrize("size", ["small", "medium", "large"])
@pytest.mark.parametrize("rings", [0, 1, 2, 3])
def test_random_molecules_are_valid_and_have_exactly_the_requested_rings(size, rings):
    rng = random.Random(f"{size}{rings}")
    for _ in range(10):
        mol = mol_from(random_smiles(rng, size, rings))
        assert mol is not None and mol.GetRingInfo().NumRings() == rings


def test_larger_size_knob_gives_larger_molecules_on_average():
    rng = random.Random(0)
    mean = {s: sum(mol_from(random_smiles(rng, s, 0)).GetNumHeavyAtoms() for _ in range(30)) / 30
            for s in ("small", "medium", "large")}
    assert mean["small"] < mean["medium"] < mean["large"]


def test_canonical_smiles_task_accepts_any_equivalent_smiles():
    task = REGISTRY["chem_canonical_smiles"]()
    idt = {"smiles": "OCC", "template": 0}
    for smi in ("CCO", "OCC", "C(O)C", "[CH3][CH2][OH]"):
        assert task.verify_score(f"\\boxed{{{smi}}}", idt) == 1.0, smi
    assert task.verify_score("\\boxed{CCN}", idt) == 0.0


@pytest.mark.parametrize("bad", ["C1CC", "C(C", "c1cccc1", "C(C)(C)(C)(C)C", "not a smiles", ""])
def test_invalid_smiles_answer_scores_zero_with_a_reason_not_an_exception(bad):
    task = REGISTRY["chem_canonical_smiles"]()
    verdict = task.verify(f"\\boxed{{{bad}}}", {"smiles": "CCO"})
    assert verdict.score == 0.0
    assert verdict.reason == "bootcamp_invalid_smiles"


def test_valid_smiles_task_answers_no_for_corrupted_strings():
    task = REGISTRY["chem_valid_smiles"]()
    assert task.solve({"smiles": "C1CC"}).answer == "no"
    assert task.solve({"smiles": "c1ccccc1"}).answer == "yes"
    assert task.verify_score("\\boxed{No}", {"smiles": "C(C"}) == 1.0


def test_formula_is_compared_by_element_counts_not_order():
    task = REGISTRY["chem_molecular_formula"]()
    for ans in ("C2H6O", "H6C2O", "C_{2}H_{6}O", "\\mathrm{C_2H_6O}"):
        assert task.verify_score(f"\\boxed{{{ans}}}", ETHANOL) == 1.0, ans
    assert task.verify_score("\\boxed{C2H5O}", ETHANOL) == 0.0
    assert task.verify("\\boxed{ethanol}", ETHANOL).reason == "bootcamp_unparseable_answer"


def test_descriptor_values_for_known_molecules():
    aspirin = {"smiles": "CC(=O)Oc1ccccc1C(=O)O"}
    assert REGISTRY["chem_molecular_weight"]().solve(aspirin).answer == "180.16"
    assert REGISTRY["chem_hbond_donors"]().solve(aspirin).answer == "1"
    assert REGISTRY["chem_aromatic_ring_count"]().solve(aspirin).answer == "1"
    assert REGISTRY["chem_unsaturation"]().solve(aspirin).answer == "6"
    assert REGISTRY["chem_tpsa"]().solve(aspirin).answer == "63.60"
    assert REGISTRY["chem_functional_groups"]().solve(aspirin).answer == "aromatic ring, carboxylic acid, ester, ether"


def test_float_descriptors_accept_answers_within_tolerance_only():
    task = REGISTRY["chem_molecular_weight"]()
    assert task.verify_score("\\boxed{46.07}", ETHANOL) == 1.0
    assert task.verify_score("\\boxed{46.1 g/mol}", ETHANOL) == 1.0
    assert task.verify_score("\\boxed{46.5}", ETHANOL) == 0.0


def test_same_molecule_task_recognises_rewritten_smiles():
    task = REGISTRY["chem_same_molecule"]()
    assert task.solve({"smiles": "OCC", "other": "C(C)O"}).answer == "yes"
    assert task.solve({"smiles": "OCC", "other": "COC"}).answer == "no"


def test_combustion_of_methane_and_glucose_balances_to_the_textbook_coefficients():
    assert balance(combustion_species(Counter({"C": 1, "H": 4})), 2) == [1, 2, 1, 2]
    assert balance(combustion_species(Counter({"C": 6, "H": 12, "O": 6})), 2) == [1, 6, 6, 6]
    task = REGISTRY["chem_combustion_balance"]()
    idt = {"smiles": "C", "formula": "CH4"}
    assert task.verify_score("\\boxed{1, 2, 1, 2}", idt) == 1.0
    assert task.verify_score("\\boxed{2, 4, 2, 4}", idt) == 0.0


def test_atom_mapping_check_detects_swapped_elements():
    ok = "[CH3:1][C:2](=[O:3])[OH:4].[OH:5][CH3:6]>>[CH3:1][C:2](=[O:3])[O:5][CH3:6].[OH2:4]"
    bad = "[CH3:1][C:2](=[O:3])[OH:4].[OH:5][CH3:6]>>[CH3:5][C:2](=[O:3])[O:1][CH3:6].[OH2:4]"
    assert mapping_consistent(ok) and not mapping_consistent(bad)


def test_reaction_balance_check_counts_hydrogens():
    task = REGISTRY["chem_reaction_balanced"]()
    assert task.solve({"rxn": "CC(=O)O.OC>>CC(=O)OC.O"}).answer == "yes"
    assert task.solve({"rxn": "CC(=O)O.OC>>CC(=O)OC"}).answer == "no"
    assert task.solve({"rxn": "C=C.[H][H]>>CC"}).answer == "yes"
