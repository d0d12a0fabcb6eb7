"""TAIL tasks: exact values on known cases, the paper's choices, and many random cases per bucket."""

import itertools
import os
import random
from decimal import Decimal, localcontext

import pytest

from s1data.bootcamp import REGISTRY
from s1data.bootcamp.tail.dp import lcs_len, levenshtein
from s1data.bootcamp.tail.greedy import dijkstra, max_benefit
from s1data.bootcamp.tail.iteration import population
from s1data.bootcamp.tail.recursion import derangements

from ..conftest import perturb

FUZZ = int(os.environ.get("S1_BOOTCAMP_FUZZ", "1000"))  # cases per (task, bucket): thousands per task


def test_derangement_numbers_match_the_known_sequence():
    assert [derangements(n) for n in range(1, 9)] == [0, 1, 2, 9, 44, 265, 1854, 14833]


def test_population_with_breeding_age_two_and_one_pair_per_unit_is_fibonacci():
    assert population(9, x=2, y=1, z=1) == [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]
    assert population(3, x=1, y=2, z=1) == [2, 4, 8, 16]


def test_lcs_and_levenshtein_on_textbook_pairs():
    assert lcs_len("abcbdab", "bdcaba") == 4
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3


def test_dijkstra_reference_distances_on_a_small_graph():
    assert dijkstra(4, [[0, 1, 5], [0, 2, 1], [1, 2, 2], [2, 3, 7]]) == [0, 3, 1, 8]


def _brute_force_benefit(tasks, machines):
    best = 0
    for r in range(len(tasks) + 1):
        for subset in itertools.combinations(tasks, r):
            if all(sum(1 for _, d in subset if d <= t) <= machines * t for t in range(1, len(tasks) + 1)):
                best = max(best, sum(p for p, _ in subset))
    return best


@pytest.mark.parametrize("machines", [1, 2, 3])
def test_greedy_scheduling_equals_brute_force_on_small_instances(machines):
    rng = random.Random(machines)
    for _ in range(25):
        n = rng.randint(1, 8)
        tasks = [[rng.randint(1, 20), rng.randint(1, 4)] for _ in range(n)]
        assert max_benefit(tasks, machines) == _brute_force_benefit(tasks, machines)


def test_addition_is_exact_for_fifty_digit_decimals():
    task = REGISTRY["tail_addition"]({"length": 50, "decimal": True}, seed=1)
    for _ in range(20):
        idt = task.case_generator()
        ans = task.solve(idt).answer
        with localcontext() as ctx:
            ctx.prec = 200
            assert Decimal(ans) == Decimal(idt["a"]) + Decimal(idt["b"])
        assert len(idt["a"].replace(".", "")) <= 50 and len(idt["b"].replace(".", "")) <= 50


def test_addition_baselines_render_reversed_digits_and_index_hints():
    task = REGISTRY["tail_addition"]({"length": 10}, seed=0)
    idt = {"a": "1234567891", "b": "1000000009", "template": 0}
    rev = task.reference_solution(idt, "reversed")
    hints = task.reference_solution(idt, "index_hints")
    assert "reverse a: 1987654321" in rev
    assert "sum, least significant digit first: 0097654322" in rev
    assert "p9:1 p8:2" in hints and "\\boxed{2234567900}" in hints


def test_binary_search_absent_target_answers_minus_one():
    task = REGISTRY["tail_binary_search"]({"length": 9, "present": False}, seed=4)
    idt = task.case_generator()
    assert idt["target"] not in idt["values"]
    assert task.solve(idt).answer == "-1"


def test_division_answer_is_quotient_and_remainder():
    task = REGISTRY["tail_division"]()
    idt = {"dividend": "1000", "divisor": 7, "template": 0}
    assert task.solve(idt).answer == "142, 6"
    assert task.verify_score("\\boxed{142, 6}", idt) == 1.0
    assert task.verify_score("\\boxed{142}", idt) == 0.0


def test_permutation_verifier_rejects_duplicates_and_missing_tuples():
    task = REGISTRY["tail_permutations"]()
    idt = {"items": [1, 2, 3], "k": 2, "mode": "permutations"}
    full = "(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)"
    assert task.verify_score(f"\\boxed{{{full}}}", idt) == 1.0
    assert task.verify_score("\\boxed{(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 1)}", idt) == 0.0
    assert task.verify_score("\\boxed{(1, 2), (1, 3)}", idt) == 0.0
    comb = {"items": [1, 2, 3], "k": 2, "mode": "combinations"}
    assert task.verify_score("\\boxed{(2, 1), (3, 1), (3, 2)}", comb) == 1.0


def test_substring_verifier_is_order_free_but_counts_repeats():
    task = REGISTRY["tail_substrings"]()
    idt = {"s": "aab"}
    assert task.verify_score("\\boxed{b, ab, aab, a, a, aa}", idt) == 1.0
    assert task.verify_score("\\boxed{a, aa, aab, ab, b}", idt) == 0.0


def test_compare_accepts_latex_relations():
    task = REGISTRY["tail_compare"]()
    idt = {"a": "12.5", "b": "12.49"}
    assert task.verify_score("\\boxed{>}", idt) == 1.0
    assert task.verify_score("\\boxed{\\gt}", idt) == 1.0
    assert task.verify_score("\\boxed{<}", idt) == 0.0


TAIL = [n for n, c in REGISTRY.items() if c.domain == "tail"]


@pytest.mark.parametrize("name", TAIL)
def test_random_cases_in_every_bucket_end_in_the_verified_answer_and_reject_perturbations(name, all_configs):
    by_bucket: dict[str, list] = {}
    for cfg in all_configs:
        if cfg.task == name:
            by_bucket.setdefault(cfg.build().length_bucket(), []).append(cfg)
    rng = random.Random(name)
    for bucket, cfgs in by_bucket.items():
        for k in range(FUZZ):
            task = rng.choice(cfgs).build(seed=k)
            idt = task.case_generator()
            sol = task.solve(idt)
            ref = task.reference_solution(idt, "tail")
            assert ref.rstrip().endswith(f"\\boxed{{{sol.answer}}}."), (bucket, idt)
            assert task.verify_score(ref, idt, format_penalty=True) == 1.0, (bucket, idt)
            assert task.verify_score(f"\\boxed{{{perturb(sol.answer)}}}", idt) == 0.0, (bucket, idt, sol.answer)
