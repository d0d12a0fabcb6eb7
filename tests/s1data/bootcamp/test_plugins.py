"""InternBootCamp tasks plugged in unchanged: import paths, JSON task configs, export, scoring, time bounds."""

import json
import time

import pytest

from s1data.bootcamp import export, extract_boxed, list_configs
from s1data.bootcamp.bounded import BoundedVerifier
from s1data.bootcamp.plugins import is_import_path, resolve_task
from s1data.bootcamp.registry import TaskConfig, verdict

MOD = "tests.s1data.bootcamp.ibc_tasks"
WORDS, RAISES, SLOW = f"{MOD}:WordSetbootcamp", f"{MOD}:Raisingbootcamp", f"{MOD}:Slowbootcamp"
LONG = "<think>" + "reasoning " * 12 + "</think> "


def test_an_import_path_names_a_task_and_its_json_configs_are_constructor_kwargs(tmp_path):
    f = tmp_path / "WordSet_train.json"
    f.write_text(json.dumps([{"k": 2}, {"k": 3, "vocabulary": 5}]))
    configs = list_configs([WORDS], {WORDS: str(f)})
    assert [c.params for c in configs] == [{"k": 2}, {"k": 3, "vocabulary": 5}]
    task = configs[1].build(seed=7)
    assert task.inner.k == 3 and task.inner.vocabulary == 5  # keyword construction, not a positional dict
    identity = task.case_generator()
    assert identity == configs[1].build(seed=7).case_generator()  # seeded through the global random
    assert len(identity["words"]) == 3 and set(identity["words"]) <= {"alpha", "beta", "gamma", "delta", "epsilon"}
    assert list_configs([SLOW]) == [TaskConfig(task=SLOW, params={})]  # no JSON: one config with no kwargs


def test_external_tasks_export_to_rl_prompts_with_the_given_name_as_data_source():
    configs = list_configs([WORDS, RAISES, SLOW, "tail_compare"], {WORDS: [{"k": 2}, {"k": 4}]})
    sft, rl, excl = export(configs, n_per_config=3, seed=0, style="direct")
    rows = rl.to_pylist()
    by_task = {t: [r for r in rows if r["task"] == t] for t in (WORDS, RAISES, SLOW)}
    assert all(r["data_source"] == t for t, rs in by_task.items() for r in rs)
    assert all(len(rs) >= 2 for rs in by_task.values())
    assert any(r["data_source"].startswith("bootcamp/tail_compare") for r in rows)  # our own tasks still export
    # sft_data only where a reference exists and scores 1: WordSet has reference_solution, the others have none
    sft_tasks = {r["task"] for r in sft.to_pylist()}
    assert WORDS in sft_tasks and RAISES not in sft_tasks and SLOW not in sft_tasks
    assert {r["reason"] for r in excl.to_pylist()} <= {"bootcamp_duplicate_identity"}


def test_a_generator_that_raises_is_an_exclusion_row_not_a_failed_export():
    sft, rl, excl = export(list_configs([WORDS], {WORDS: [{"k": 99}]}), n_per_config=2, seed=0)
    assert rl.num_rows == 0
    assert [r["reason"] for r in excl.to_pylist()] == ["bootcamp_generator_error"] * 2
    assert "ValueError" in excl.to_pylist()[0]["detail"]


def test_their_own_verify_score_decides_with_partial_credit_kept_and_failures_as_reasons():
    identity = json.dumps({"words": ["alpha", "beta", "gamma", "delta"]})
    v = verdict(WORDS, identity, LONG + "\\boxed{alpha, beta}")
    assert v.reason == "bootcamp_partial_credit" and v.score == pytest.approx(0.5)
    assert verdict(WORDS, identity, LONG + "\\boxed{alpha, beta, gamma, delta}").score == 1.0
    # InternBootCamp's own penalties apply: a short output scores 0 even when right
    assert verdict(WORDS, identity, "\\boxed{alpha, beta, gamma, delta}").score == 0.0
    v = verdict(RAISES, json.dumps({"n": 1, "x": 1}), LONG + "\\boxed{1}")
    assert (v.score, v.reason) == (0.0, "bootcamp_verifier_error") and "broken" in v.detail


def test_a_task_name_that_is_neither_registered_nor_importable_says_what_to_do():
    assert is_import_path(WORDS) and not is_import_path("tail_addition") and not is_import_path("a:b:c")
    with pytest.raises(KeyError, match="not an import path"):
        resolve_task("no_such_task")
    with pytest.raises(ImportError, match="cannot import module"):
        resolve_task("no_such_pkg.mod:Cls")
    with pytest.raises(TypeError, match="neither an s1 BaseTask nor an InternBootCamp task"):
        resolve_task("json:JSONDecoder")


def test_a_verifier_that_spins_is_killed_at_its_time_limit_and_the_next_call_is_served():
    bv = BoundedVerifier(timeout_s=1.0)
    bv.start()
    t0 = time.monotonic()
    v = bv.verdict(SLOW, json.dumps({"spin_s": 600, "x": 3}), LONG + "\\boxed{3}")
    assert v.reason == "bootcamp_verifier_timeout" and v.score == 0.0
    assert time.monotonic() - t0 < 60  # killed, not waited out (it spins for 600 s)
    ok = bv.verdict(SLOW, json.dumps({"spin_s": 0.01, "x": 3}), LONG + "\\boxed{3}")
    assert (ok.score, ok.reason) == (1.0, "bootcamp_correct") and bv.restarts == 2
    bv.close()


def test_extract_boxed_finds_the_right_box_on_a_long_output_of_unbalanced_boxes():
    hostile = "\\boxed{" * 8000 + "x"  # 56 KB; the rescan-per-box loop took over a minute on this
    assert extract_boxed(hostile) is None  # (timings: benchmarks/bootcamp_fuzz.py --hostile)
    assert extract_boxed(hostile + "} \\boxed{ok}") == "ok"
    assert extract_boxed("a \\boxed{1} b \\boxed{2") == "1"  # an unbalanced last box: the earlier closed one
    assert extract_boxed("\\boxed{ \\boxed{inner} }") == "inner"
    assert extract_boxed("\\boxed{x}</think>no box") is None
