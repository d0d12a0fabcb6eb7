"""The Table 2 ablation styles of TAIL: tail_no_linear (jumps over the unrolled middle) and tail_no_atomic (several
operations per state), rendered for every TAIL task and checked by the task's exact verifier."""

import json
import re

import pytest

from s1data.bootcamp import REGISTRY, export
from s1data.bootcamp.tail import TAIL_TASKS
from s1data.bootcamp.tail.ablations import ABLATION_STYLES, ATOMIC_GROUP, export_ablation, merge_states, skip_middle
from s1data.bootcamp.base import State
from s1model.tail_experiment import bucket_configs


@pytest.mark.parametrize("cls", TAIL_TASKS, ids=lambda c: c.name)
def test_every_tail_task_renders_both_ablations_and_its_verifier_accepts_them_and_rejects_a_wrong_answer(cls):
    task = cls(seed=5)
    for _ in range(3):
        identity = task.case_generator()
        full = task.reference_solution(identity, "tail")
        for style in ABLATION_STYLES:
            ref = task.reference_solution(identity, style)
            assert task.verify(ref, identity).score == 1.0, (style, ref[:300])
            assert ref.count("\\boxed{") == 1 and ref.startswith("<think>\n")
            answer = re.search(r"\\boxed\{(.*)\}", ref).group(1)
            wrong = ref.replace(f"\\boxed{{{answer}}}", "\\boxed{-123456789}")
            assert task.verify(wrong, identity).score == 0.0
            n_full = full.count("\n[S") + 1
            n_abl = ref.count("\n[S") + 1
            assert n_abl <= n_full  # an ablation never adds states


def test_no_linear_keeps_the_first_two_and_last_two_states_and_jumps_over_the_middle():
    states = [State([("x", i)], f"op{i}") for i in range(7)]
    kept = skip_middle(states)
    assert [label for label, _ in kept] == [1, 2, 6, 7]
    assert kept[1][1].next == "S6" and kept[0][1].next is None
    short = [State([], "a"), State([], "b"), State([], "c")]
    assert [label for label, _ in skip_middle(short)] == [1, 2, 3]
    add = REGISTRY["tail_addition"](length=20, seed=1)
    identity = add.case_generator()
    ref = add.reference_solution(identity, "tail_no_linear")
    labels = re.findall(r"^\[S(\d+)\]", ref, re.M)
    n = len(add.solve(identity).states)
    assert labels == ["1", "2", str(n - 1), str(n)] and f"-> S{n - 1}" in ref


def test_no_atomic_addition_adds_chunks_of_digit_columns_whose_arithmetic_and_concatenation_are_right():
    add = REGISTRY["tail_addition"](length=17, seed=2)
    for _ in range(20):
        identity = add.case_generator()
        ref = add.reference_solution(identity, "tail_no_atomic")
        chunks = re.findall(r"fetch a\[(\d+):(\d+)\]=(\d+), b\[\d+:\d+\]=(\d+), c=(\d) \| \d+\+\d+\+\d=(\d+); "
                            r"s\[\d+:\d+\]=(\d+), c=(\d)", ref)
        a, b = identity["a"], identity["b"]
        width = max(len(a), len(b))
        assert len(chunks) == -(-width // ATOMIC_GROUP)
        digits, carry = "", 0
        for hi, lo, ca, cb, c, t, s_chunk, c_out in chunks:
            w = int(hi) - int(lo) + 1
            assert len(ca) == len(cb) == len(s_chunk) == w and int(c) == carry
            assert int(ca) + int(cb) + carry == int(t) and int(t) == int(c_out) * 10 ** w + int(s_chunk)
            carry, digits = int(c_out), s_chunk + digits
        assert int((str(carry) if carry else "") + digits) == int(a) + int(b)


def test_merge_states_joins_operations_and_drops_repeated_fetches():
    st = [State([("l", 0), ("t", 5)], "op1"), State([("l", 1), ("t", 5)], "op2"), State([("r", 2)], "op3"),
          State([("x", 1)], "op4", next="HALT")]
    m = merge_states(st, group=3)
    assert [s.op for s in m] == ["op1; op2; op3", "op4"]
    assert m[0].fetch == [("l", 0), ("t", 5), ("l", 1), ("r", 2)] and m[1].next == "HALT"


def test_export_ablation_keeps_the_tail_exports_problems_and_prompts_and_marks_the_style():
    configs = bucket_configs("tail_addition", "S")[:4]
    tail, rl_t, _ = export(configs, 3, 7, "tail")
    for style in ABLATION_STYLES:
        sft, rl, excl = export_ablation(configs, 3, 7, style)
        assert sft.column("sample_id").to_pylist() == tail.column("sample_id").to_pylist()
        assert sft.column("prompt").to_pylist() == tail.column("prompt").to_pylist()
        assert set(sft.column("style").to_pylist()) == {style} and excl.num_rows == 0
        assert rl.num_rows == rl_t.num_rows
        for r in sft.to_pylist():
            assert REGISTRY[r["task"]]().verify(r["response"], json.loads(r["identity_json"])).score == 1.0
    with pytest.raises(ValueError, match="ablation style"):
        export_ablation(configs, 1, 0, "tail")


def test_export_takes_the_ablation_styles_for_tail_tasks_and_refuses_them_elsewhere_with_a_reason():
    from s1data.bootcamp import export
    from s1data.bootcamp.registry import TaskConfig

    for style in ABLATION_STYLES:
        sft, rl, excl = export([TaskConfig(task="tail_addition", params={"length": 12})], 3, 0, style)
        assert sft.num_rows == rl.num_rows == 3 and excl.num_rows == 0
        assert all("\\boxed{" in r and "</think>" in r for r in sft.column("response").to_pylist())
        assert set(sft.column("style").to_pylist()) == {style}
        _, _, excl = export([TaskConfig(task="chem_ring_count", params={})], 1, 0, style)
        assert excl.column("reason").to_pylist() == ["bootcamp_style_unsupported"]
