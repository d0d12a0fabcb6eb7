"""The breadth families: how many, how configurable, and the decisions of their verifiers on chosen answers."""

import json

import pytest

from s1data.bootcamp import REGISTRY, list_configs
from s1data.bootcamp.registry import family_of
from s1data.bootcamp.science import BREADTH_TASKS
from s1data.bootcamp.science.biology import ReverseTranslation
from s1data.bootcamp.science.exact import UnsafeExpression, check_quantity, safe_expr
from s1data.bootcamp.science.materials import EnergyAboveHull, HullStability, SpaceGroup
from s1data.bootcamp.science.mathematics import Antiderivative, Factor, FirstOrderODE, SecondOrderODE
from s1data.bootcamp.science.professional import ForwardReaction, ReactionConditions, Retrosynthesis


def test_over_a_hundred_families_beyond_tail_each_its_own_verifier_with_over_a_thousand_configs():
    science = {n: c for n, c in REGISTRY.items() if family_of(c) != "tail"}
    assert len(science) >= 100
    assert {family_of(c) for c in science.values()} >= {"chemistry", "biology", "mathematics", "physics", "earth",
                                                         "materials"}
    # a family is a class with its own checking code, not a parameter value of another one
    hooks = ("check", "judge", "expected", "compute", "quantity", "value", "check_text")
    own_code = {c for c in science.values() if any(k in vars(c) for k in hooks)}
    assert own_code == set(science.values())
    configs = [c for c in list_configs() if family_of(REGISTRY[c.task]) != "tail"]
    assert len(configs) >= 1000 and len({c.config_id for c in configs}) == len(configs)
    assert all(len(list_configs([cls.name])) == 10 for cls in BREADTH_TASKS)  # level 1-5 x distractors 0/1


def _case(cls, seed=0, **params):
    task = cls({"level": 3, "distractors": 0, **params}, seed=seed)
    return task, task.case_generator()


def test_an_antiderivative_is_right_with_any_constant_and_a_factorisation_must_be_a_product():
    task = Antiderivative({"level": 1})
    identity = {"F": "x**3 + 2*x"}
    assert task.check("x^3 + 2x + 7", identity) == (True, "bootcamp_correct")
    assert task.check("x^3 + 2x + C", identity) == (True, "bootcamp_correct")
    assert task.check("3x^2 + 2", identity) == (False, "bootcamp_wrong_answer")
    f = Factor({"level": 1})
    identity = {"roots": [2, -3], "lead": 1}
    assert f.check("(x - 2)(x + 3)", identity) == (True, "bootcamp_correct")
    assert f.check("x^2 + x - 6", identity) == (False, "bootcamp_not_factored")


def test_the_ode_closed_forms_are_the_ones_sympy_dsolve_finds():
    import sympy as sp

    x, y = sp.Symbol("x"), sp.Function("y")
    task, idt = _case(FirstOrderODE, seed=3)
    ref = sp.dsolve(sp.Eq(y(x).diff(x) + idt["a"] * y(x), idt["b"]), y(x), ics={y(0): idt["c"]}).rhs
    assert sp.simplify(task.expected(idt) - ref) == 0
    task, idt = _case(SecondOrderODE, seed=5)
    p, q = -(idt["r1"] + idt["r2"]), idt["r1"] * idt["r2"]
    ref = sp.dsolve(y(x).diff(x, 2) + p * y(x).diff(x) + q * y(x), y(x),
                    ics={y(0): idt["y0"], y(x).diff(x).subs(x, 0): idt["dy0"]}).rhs
    assert sp.simplify(task.expected(idt) - ref) == 0


def test_a_hostile_expression_is_refused_before_sympy_evaluates_it():
    for bomb in ("9^9^9^9^9", "x**99999999", "__import__('os')", "(" * 300, "2^(2^(2^64))"):
        with pytest.raises(UnsafeExpression):
            safe_expr(bomb)


def test_a_quantity_is_accepted_in_any_unit_of_its_dimension_and_a_wrong_dimension_says_so():
    assert check_quantity("12 km/s", 12000.0, "m/s") == (True, "bootcamp_correct")
    assert check_quantity("43200 km/h", 12000.0, "m/s") == (True, "bootcamp_correct")
    assert check_quantity("12 km", 12000.0, "m/s") == (False, "bootcamp_wrong_unit")
    assert check_quantity("13 km/s", 12000.0, "m/s") == (False, "bootcamp_wrong_answer")
    assert check_quantity("12 parsnips", 12000.0, "m/s") == (False, "bootcamp_unparseable_answer")


def test_any_coding_sequence_of_the_protein_passes_and_one_without_a_stop_does_not():
    task = ReverseTranslation({"level": 1})
    identity = {"protein": "MKW"}
    assert task.check("ATGAAATGGTAA", identity) == (True, "bootcamp_correct")
    assert task.check("ATGAAGTGGTGA", identity) == (True, "bootcamp_correct")  # other codons, other stop
    assert task.check("ATGAAGTGG", identity) == (False, "bootcamp_missing_stop")
    assert task.check("ATGAAGTTTTAA", identity) == (False, "bootcamp_wrong_answer")


def test_space_groups_of_known_prototypes_come_from_spglib():
    sg = SpaceGroup({"level": 1})
    rocksalt = {"lattice": [[5.64, 0, 0], [0, 5.64, 0], [0, 0, 5.64]],
                "sites": [["Na", 0, 0, 0], ["Na", .5, .5, 0], ["Na", .5, 0, .5], ["Na", 0, .5, .5],
                          ["Cl", .5, .5, .5], ["Cl", 0, 0, .5], ["Cl", 0, .5, 0], ["Cl", .5, 0, 0]]}
    assert sg.expected(rocksalt) == 225
    cscl = {"lattice": [[4.1, 0, 0], [0, 4.1, 0], [0, 0, 4.1]], "sites": [["Cs", 0, 0, 0], ["Cl", .5, .5, .5]]}
    assert sg.expected(cscl) == 221
    for seed in range(5):  # the reference of any generated structure is the spglib number of its prototype
        from s1data.bootcamp.science.materials import SPACE_GROUPS

        task, idt = _case(SpaceGroup, seed=seed, level=5)
        assert task.expected(idt) == SPACE_GROUPS[idt["prototype"]]


def test_stability_is_decided_against_the_convex_hull_of_the_generated_table():
    identity = {"A": "Li", "B": "Si", "query": 1,
                "table": [[1, 1, -0.40], [2, 1, -0.10], [1, 2, -0.30]]}  # Li2Si at x=1/3 lies above the LiSi-Li line
    # hull at x = 1/3 between (0, 0) and (0.5, -0.40): -0.2667; Li2Si at -0.10 is 0.1667 above it
    assert HullStability({"level": 1}).check("no", identity) == (True, "bootcamp_correct")
    assert EnergyAboveHull({"level": 1}).check("0.167", identity) == (True, "bootcamp_correct")
    assert HullStability({"level": 1}).check("yes", {**identity, "query": 0}) == (True, "bootcamp_correct")


def test_forward_and_retro_steps_are_checked_by_applying_the_reaction_template():
    task = ForwardReaction({"level": 1})
    identity = {"reaction_class": "amide_coupling", "reactants": ["CC(=O)O", "NCc1ccccc1"],
                "product": "CC(=O)NCc1ccccc1"}
    assert task.check("O=C(C)NCc1ccccc1", identity) == (True, "bootcamp_correct")  # another SMILES, same molecule
    assert task.check("CC(=O)OCc1ccccc1", identity) == (False, "bootcamp_wrong_answer")
    assert task.check("C1CC", identity) == (False, "bootcamp_invalid_smiles")
    retro = Retrosynthesis({"level": 1})
    assert retro.check("NCc1ccccc1.CC(=O)O", identity) == (True, "bootcamp_correct")  # either order
    assert retro.check("CC(=O)Cl.NCc1ccccc1", identity) == (False, "bootcamp_wrong_answer")  # not this template
    cond = ReactionConditions({"level": 2})
    idt = cond.case_generator()
    right = cond.expected(idt)
    assert cond.check(right, idt) == (True, "bootcamp_correct")
    assert cond.check(cond.wrong_answer(idt, __import__("random").Random(0)), idt)[0] is False


def test_every_breadth_family_exports_with_no_rejected_reference():
    from s1data.bootcamp import export

    configs = [c for c in list_configs([cls.name for cls in BREADTH_TASKS]) if c.params["level"] in (1, 5)]
    sft, rl, excl = export(configs, n_per_config=1, seed=0, style="tail")
    reasons = {r["reason"] for r in excl.to_pylist()}
    assert "bootcamp_reference_rejected" not in reasons
    assert len({r["task"] for r in rl.to_pylist()}) == len(BREADTH_TASKS)
    assert all(json.loads(r["identity_json"])["params"]["level"] in (1, 5) for r in rl.to_pylist())
