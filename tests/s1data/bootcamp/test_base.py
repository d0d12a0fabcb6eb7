import pytest

from s1data.bootcamp import REGISTRY, verify
from s1data.bootcamp.base import BaseTask, clean_answer, extract_boxed, has_think_block


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{42}", "42"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{{a}, {b}}", "{a}, {b}"),
        ("no answer here", None),
        ("\\boxed{unclosed", None),
        ("\\boxed{5} and later \\boxed{broken", "5"),
        ("<think>\\boxed{1}</think> the answer is \\boxed{2}", "2"),
        ("<think>\\boxed{1}</think> I am not sure", None),
        ("\\boxed{}", ""),
    ],
)
def test_extract_output_takes_the_last_balanced_boxed_after_the_thinking(text, expected):
    assert extract_boxed(text) == expected
    assert BaseTask.extract_output(text) == expected


def test_extract_output_returns_none_for_non_text():
    assert extract_boxed(None) is None  # type: ignore[arg-type]


def test_clean_answer_strips_latex_dressing():
    assert clean_answer(" $\\text{yes}$ ") == "yes"
    assert clean_answer("\\mathrm{C_6H_6}") == "C_6H_6"
    assert clean_answer("1\\,000") == "1000"


def test_think_block_must_precede_a_non_empty_answer():
    assert has_think_block("<think>work</think>\\boxed{1}")
    assert not has_think_block("\\boxed{1}")
    assert not has_think_block("<think>work</think>   ")
    assert not has_think_block("<think>a<think>b</think>c")


def _case(name="tail_derangement", **params):
    task = REGISTRY[name](params or None, seed=0)
    return task, task.case_generator()


def test_right_answer_scores_one_and_wrong_answer_scores_the_format_score():
    task, identity = _case("tail_derangement", length=4)
    assert task.verify_score("\\boxed{9}", identity) == 1.0
    assert task.verify_score("\\boxed{10}", identity) == 0.0
    assert task.verify_score("\\boxed{10}", identity, format_score=0.1) == 0.1
    assert task.verify("\\boxed{10}", identity).reason == "bootcamp_wrong_answer"
    assert task.verify("\\boxed{nine}", identity).reason == "bootcamp_unparseable_answer"


def test_missing_answer_scores_zero_even_with_a_format_score():
    task, identity = _case("tail_derangement", length=4)
    assert task.verify_score("D(4) is 9", identity, format_score=0.1) == 0.0
    assert task.verify("D(4) is 9", identity).reason == "bootcamp_no_answer"


def test_format_penalty_zeroes_a_right_answer_without_a_think_block():
    task, identity = _case("tail_derangement", length=4)
    assert task.verify_score("\\boxed{9}", identity, format_penalty=True) == 0.0
    assert task.verify("\\boxed{9}", identity, format_penalty=True).reason == "bootcamp_missing_think"
    assert task.verify_score("<think>D(4)=3*(2+1)</think>\\boxed{9}", identity, format_penalty=True) == 1.0


def test_a_broken_identity_scores_zero_with_a_reason_instead_of_raising():
    task, _ = _case("tail_addition")
    verdict = task.verify("\\boxed{3}", {"a": "1"})
    assert verdict.score == 0.0 and verdict.reason == "bootcamp_verifier_error"
    assert task.verify_score("\\boxed{3}", None) == 0.0  # type: ignore[arg-type]


def test_module_level_verify_routes_by_task_name_and_never_raises():
    import json

    task, identity = _case("tail_derangement", length=5)
    assert verify("tail_derangement", json.dumps(identity), "\\boxed{44}") == 1.0
    assert verify("tail_derangement", json.dumps(identity), "\\boxed{45}") == 0.0
    assert verify("tail_derangement", "{not json", "\\boxed{44}") == 0.0
    assert verify("no_such_task", json.dumps(identity), "\\boxed{44}") == 0.0


def test_unsupported_style_is_refused_with_the_supported_ones_named():
    task, identity = _case("tail_derangement", length=4)
    with pytest.raises(ValueError, match="tail_no_fetch"):
        task.reference_solution(identity, "reversed")


def test_the_same_seed_gives_the_same_cases_and_another_seed_different_ones():
    a = [REGISTRY["tail_addition"]({"length": 20}, seed=5).case_generator() for _ in range(1)]
    b = [REGISTRY["tail_addition"]({"length": 20}, seed=5).case_generator() for _ in range(1)]
    c = [REGISTRY["tail_addition"]({"length": 20}, seed=6).case_generator() for _ in range(1)]
    assert a == b != c
