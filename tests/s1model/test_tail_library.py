"""TAIL experiment library pieces used by the GPU benchmark: fetch diagnostics and the task-free warm-up corpus."""

import json
import re

import pyarrow as pa
import pytest

from s1data.bootcamp import REGISTRY
from s1model import tail_experiment as te


def _reference_rows(prompts: pa.Table, corrupt_from: int | None = None) -> pa.Table:
    solver = REGISTRY["tail_addition"]()
    outs = []
    for ident in prompts.column("identity_json").to_pylist():
        text = solver.reference_solution(json.loads(ident), "tail")
        if corrupt_from is not None:  # a wrong digit in every fetch from index corrupt_from on
            text = re.sub(r"fetch a\[(\d+)\]=(\d)", lambda m: m.group(0) if int(m.group(1)) < corrupt_from else
                          f"fetch a[{m.group(1)}]={(int(m.group(2)) + 1) % 10}", text)
        outs.append(text)
    return pa.table({"sample_id": prompts.column("sample_id"), "length_bucket": prompts.column("length_bucket"),
                     "output": outs})


def test_fetch_diagnostics_count_steps_and_fetch_accuracy_inside_and_beyond_the_trained_range():
    prompts = te.build_eval_prompts("tail_addition", 4, 3, set())
    good = te.fetch_diagnostics(_reference_rows(prompts), prompts, train_max_len=30)
    assert {b: d["steps_exact"] for b, d in good.items()} == {"S": 4, "M": 4, "L": 4}
    assert all(d["fetch_in_accuracy"] == 1.0 for d in good.values())
    assert good["S"]["fetch_beyond_count"] == 0 and good["L"]["fetch_beyond_accuracy"] == 1.0
    bad = te.fetch_diagnostics(_reference_rows(prompts, corrupt_from=30), prompts, train_max_len=30)
    assert bad["S"]["fetch_in_accuracy"] == 1.0 and bad["L"]["fetch_beyond_accuracy"] == 0.0


def test_warm_up_corpus_is_task_free_and_its_copies_reversals_pads_and_digit_indices_are_right():
    docs = te.generic_documents(400, seed=5).column("text").to_pylist()
    assert len(docs) == 400 and not any("+" in d or "sum" in d or "fetch" in d for d in docs)
    lengths, kinds = set(), set()
    for d in docs:
        head, body = d.split("\n", 1)
        kind = head.split(" ")[0]
        kinds.add(kind)
        if kind == "walk":
            x, y = re.fullmatch(r"walk x=(\d+), y=(\d+)", head).groups()
            lines = body_lines = d.split("\n")[1:]
            assert len(body_lines) == max(len(x), len(y))
            for i, line in enumerate(lines):
                want_x = x[::-1][i] if i < len(x) else "0"
                want_y = y[::-1][i] if i < len(y) else "0"
                assert line.startswith(f"i={i}: x[{i}]={want_x}, y[{i}]={want_y} | z=")
                z1, z2 = re.search(r"z=(\d+) -> z=(\d+)$", line).groups()
                assert z1 == z2
        elif kind == "copy" and ", y=" in head:
            x, y = re.fullmatch(r"copy x=(\d+), y=(\d+)", head).groups()
            assert body == f"x={x}, y={y}"
        else:
            x = re.search(r"x=(\d+)", head).group(1)
            if kind == "copy":
                assert body == f"x={x}"
            elif kind == "reverse":
                assert body == x[::-1]
            elif kind == "pad":
                width = int(re.search(r"to (\d+) digits", head).group(1))
                assert body == x.zfill(width) and len(body) == width >= len(x)
            else:
                assert kind == "digits"
                for i, digit in re.findall(r"x\[(\d+)\]=(\d)", body):
                    assert x[::-1][int(i)] == digit
        lengths.add(len(x))
    assert kinds == {"copy", "reverse", "pad", "digits", "walk"}
    assert min(lengths) < 10 and max(lengths) > 50 and max(lengths) <= 60


def test_generic_mix_adds_the_asked_share_of_characters_the_same_for_every_arm():
    a = te.arm_documents(te.build_train_data("tail_addition", "tail", 300, 0)[0], "tail")
    b = te.arm_documents(te.build_train_data("tail_addition", "reversed", 300, 0)[0], "reversed")
    ma, mb = te.mix_generic(a, 0.2, seed=3), te.mix_generic(b, 0.2, seed=3)
    for docs, mixed in ((a, ma), (b, mb)):
        generic = [t for t, i in zip(mixed.column("text").to_pylist(), mixed.column("doc_id").to_pylist())
                   if i.startswith("generic:")]
        share = sum(map(len, generic)) / sum(map(len, mixed.column("text").to_pylist()))
        assert 0.15 < share < 0.25
        assert mixed.num_rows == docs.num_rows + len(generic)
        assert mixed.column("doc_id").to_pylist()[:docs.num_rows] != docs.column("doc_id").to_pylist()  # shuffled
    assert te.mix_generic(a, 0.0, seed=3) is a
    with pytest.raises(ValueError, match="fraction"):
        te.mix_generic(a, 1.0, seed=3)


def _acc(s, m, l):  # noqa: E741
    return {"S": {"accuracy": s}, "M": {"accuracy": m}, "L": {"accuracy": l}}


def test_goal_check_needs_baselines_the_margin_on_m_and_l_and_reports_the_ablation():
    paper_like = {"tail": _acc(97, 92.5, 86.5), "reversed": _acc(39.5, 35.5, 35),
                  "index_hints": _acc(57, 34.5, 24), "tail_no_fetch": _acc(90, 60, 50)}
    assert te.goal_check(paper_like) == {"met": True, "why": [], "ablation_between": True,
                                         "ablations": {"tail_no_fetch": True}}
    alone = te.goal_check({"tail": _acc(91.8, 0, 0)})
    assert not alone["met"] and "no baseline" in alone["why"][0]
    close = te.goal_check({"tail": _acc(98.6, 49.0, 13.4), "direct": _acc(58.8, 22.2, 13.6)})
    assert not close["met"] and close["why"] == ["L: tail 13.4 - direct 13.6 < 20.0"]
    low_s = te.goal_check({**paper_like, "tail": _acc(70, 92.5, 86.5)})
    assert low_s["why"] == ["tail S = 70.0 < 80.0"]
    assert te.goal_check({**paper_like, "tail_no_fetch": _acc(90, 95, 50)})["ablation_between"] is False
    assert te.goal_check({"direct": _acc(1, 1, 1)})["why"] == ["arm tail not run"]
    # the new ablations are no baselines: each is judged on its own, and one outside the band fails the conjunction
    three = te.goal_check({**paper_like, "tail_no_linear": _acc(80, 40, 36), "tail_no_atomic": _acc(90, 93, 80)})
    assert three["met"] and three["ablations"] == {"tail_no_fetch": True, "tail_no_linear": True,
                                                   "tail_no_atomic": False}
    assert three["ablation_between"] is False
    # all zeros (the NoPE + Abacus run): no band between baselines and TAIL-CoT, so no verdict on the ablations
    zeros = te.goal_check({"tail": _acc(0, 0, 0), "direct": _acc(0, 0, 0), "tail_no_linear": _acc(0, 0, 0)})
    assert zeros["ablations"] == {"tail_no_linear": None} and zeros["ablation_between"] is None
