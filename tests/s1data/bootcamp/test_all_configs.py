"""Every config in the library generates, prompts, and verifies its own reference in every style it supports."""

import json
import random

from s1data.bootcamp import REGISTRY
from s1data.bootcamp.base import TEMPLATES

from .conftest import perturb


def test_every_config_generates_prompts_and_its_reference_verifies_in_every_style(all_configs):
    failures = []
    for cfg in all_configs:
        cls = REGISTRY[cfg.task]
        for seed in (0, 1):
            task = cfg.build(seed=seed)
            identity = task.case_generator()
            json.loads(json.dumps(identity))
            prompt = task.prompt_func(identity)
            if "\\boxed" not in prompt or len(prompt) < 30:
                failures.append((cfg.config_id, "prompt", prompt[:80]))
            for style in sorted(cls.supported_styles):
                ref = task.reference_solution(identity, style)
                score = task.verify_score(ref, identity, format_penalty=style != "direct")
                if score != 1.0:
                    failures.append((cfg.config_id, style, task.verify(ref, identity)))
    assert failures == []


def test_every_config_rejects_a_perturbed_reference_answer(all_configs):
    accepted = []
    for cfg in all_configs:
        task = cfg.build(seed=7)
        identity = task.case_generator()
        answer = task.solve(identity).answer
        # a family whose answers a generic perturbation could map onto another right one names a wrong one itself
        hook = getattr(task, "wrong_answer", None)
        wrong_answer = (hook(identity, random.Random(7)) if hook else None) or perturb(answer)
        wrong = f"<think>x</think>\\boxed{{{wrong_answer}}}"
        if task.verify_score(wrong, identity) != 0.0:
            accepted.append((cfg.config_id, answer, wrong_answer))
    assert accepted == []


def test_tail_traces_have_one_fetch_per_state_and_the_ablation_has_none(all_configs):
    for cfg in all_configs[::25]:
        task = cfg.build(seed=3)
        identity = task.case_generator()
        tail = task.reference_solution(identity, "tail")
        ablation = task.reference_solution(identity, "tail_no_fetch")
        states = [line for line in tail.splitlines() if line.startswith("[S")]
        assert states and all(" fetch " in line for line in states), cfg.config_id
        assert " fetch " not in ablation
        assert states[-1].endswith("-> HALT")


def test_prompts_cover_at_least_twenty_templates_and_the_template_is_part_of_the_identity():
    assert len(TEMPLATES) >= 20
    task = REGISTRY["tail_addition"](seed=0)
    seen = {task.case_generator()["template"] for _ in range(400)}
    assert len(seen) == len(TEMPLATES)
