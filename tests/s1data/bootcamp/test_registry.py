import json
from collections import Counter

import pytest
from pydantic import ValidationError

from s1data.bootcamp import REGISTRY, TaskConfig, describe_registry, list_configs

# The TAIL table of issue 5: task -> (algorithm class, S, M, L)
TAIL_TABLE = {
    "tail_addition": ("simulation", (10, 30), (31, 40), (41, 50)),
    "tail_division": ("simulation", (2, 5), (6, 10), (11, 20)),
    "tail_bubble_sort": ("simulation", (2, 4), (5, 6), (7, 8)),
    "tail_word_flip": ("simulation", (10, 20), (21, 50), (51, 100)),
    "tail_compare": ("simulation", (5, 10), (11, 20), (21, 50)),
    "tail_substrings": ("recursion", (3, 5), (6, 9), (10, 14)),
    "tail_derangement": ("recursion", (3, 30), (31, 60), (61, 100)),
    "tail_population_growth": ("iteration", (1, 10), (11, 25), (26, 50)),
    "tail_dijkstra": ("greedy", (3, 5), (6, 10), (11, 20)),
    "tail_scheduling": ("greedy", (5, 10), (11, 20), (21, 50)),
    "tail_count_letters": ("enumeration", (2, 6), (7, 10), (11, 20)),
    "tail_linear_solutions": ("enumeration", (10, 50), (51, 100), (101, 200)),
    "tail_primes": ("enumeration", (5, 100), (101, 200), (201, 300)),
    "tail_knapsack": ("dynamic_programming", (2, 3), (4, 5), (6, 8)),
    "tail_lcs": ("dynamic_programming", (2, 6), (7, 9), (10, 12)),
    "tail_levenshtein": ("dynamic_programming", (2, 4), (5, 7), (8, 9)),
    "tail_binary_search": ("divide_and_conquer", (5, 20), (21, 40), (41, 70)),
    "tail_permutations": ("backtracking", (2, 4), (5, 6), (7, 8)),
}


def test_the_library_has_over_a_thousand_distinct_configs(all_configs):
    ids = [c.config_id for c in all_configs]
    assert len(ids) >= 1000
    assert len(set(ids)) == len(ids)


def test_the_eighteen_tail_tasks_sit_in_eight_algorithm_classes_with_the_issue_buckets():
    tail = {n: c for n, c in REGISTRY.items() if c.domain == "tail"}
    assert set(tail) == set(TAIL_TABLE)
    assert len({c.algorithm_class for c in tail.values()}) == 8
    for name, (klass, s, m, l) in TAIL_TABLE.items():
        assert tail[name].algorithm_class == klass
        assert tail[name].BUCKETS == {"S": s, "M": m, "L": l}


def test_every_tail_config_is_labelled_with_the_bucket_its_length_falls_in(all_configs):
    for cfg in all_configs:
        if cfg.task not in TAIL_TABLE:
            continue
        task = cfg.build()
        bucket = task.length_bucket()
        n = cfg.params.get("length")
        if n is not None:
            lo, hi = task.BUCKETS[bucket]
            assert lo <= n <= hi, cfg
    lengths = {c.params["length"] for c in all_configs if c.task == "tail_addition"}
    assert lengths == set(range(10, 51))


def test_every_tail_bucket_is_present_for_every_tail_task(all_configs):
    buckets = Counter((c.task, c.build().length_bucket()) for c in all_configs if c.task in TAIL_TABLE)
    assert {(t, b) for t in TAIL_TABLE for b in "SML"} <= set(buckets)


def test_there_are_at_least_twenty_science_tasks_and_each_has_knobs():
    science = [c for c in REGISTRY.values() if c.domain != "tail"]
    assert len(science) >= 20
    assert all(c.GRID for c in science)


def test_describe_registry_is_json_and_names_every_knob_with_a_description():
    rows = describe_registry()
    json.dumps(rows)
    assert {r["name"] for r in rows} == set(REGISTRY)
    add = next(r for r in rows if r["name"] == "tail_addition")
    assert add["algorithm_class"] == "simulation"
    assert add["knobs"]["decimal"]["values"] == [False, True]
    assert all(k["description"] for r in rows for k in r["knobs"].values())


def test_config_id_is_stable_and_depends_on_params():
    a = TaskConfig(task="tail_addition", params={"length": 12, "decimal": False})
    b = TaskConfig(task="tail_addition", params={"decimal": False, "length": 12})
    c = TaskConfig(task="tail_addition", params={"length": 13, "decimal": False})
    assert a.config_id == b.config_id != c.config_id
    assert a.config_id.startswith("tail_addition-")


def test_params_outside_the_table_are_refused_with_a_validation_error():
    with pytest.raises(ValidationError):
        REGISTRY["tail_addition"]({"length": 51})
    with pytest.raises(ValidationError):
        REGISTRY["tail_addition"]({"length": 12, "colour": "red"})


def test_list_configs_can_be_restricted_to_some_tasks():
    cfgs = list_configs(["tail_division"])
    assert {c.task for c in cfgs} == {"tail_division"}
    assert all(c.params["divisor_digits"] <= c.params["length"] for c in cfgs)
