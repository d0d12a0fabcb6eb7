"""RL resumes bit for bit on CPU: a run stopped after step 1 of 2 (an exception at step 2, before its checkpoint: what
a kill leaves) and called again ends with the weights, optimizer state and per-step metrics of an uninterrupted
2-step run. Offline RL (best-of-N selection read back, SFT on the DeepSpeed engine) and online RL (builtin engine
rollouts on Ray, DeepSpeed engine trainer)."""

import glob
import json
import os

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from s1model.rl.config import tiny_offline, tiny_online
from s1model.rl.offline import offline_rl
from s1model.rl.online import online_rl
from tests.s1model.rl.conftest import (base_model_dir, compare_data, local_ray, sft_model_dir,  # noqa: F401
                                       tokenizer_dir)

TIMING = ("tokens_per_s", "time_")


class Killed(RuntimeError):
    pass


def _kill_at(step: int):
    def on_step(m: dict) -> None:
        if m["step"] == step:
            raise Killed(f"killed at step {step}")
    return on_step


def _weights(d: str) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        out.update(load_file(f))
    assert out, f"no weights in {d}"
    return out


def _assert_same_weights(a: str, b: str) -> None:
    wa, wb = _weights(a), _weights(b)
    assert set(wa) == set(wb)
    diff = {k: float((wa[k] - wb[k]).abs().max()) for k in wa if not torch.equal(wa[k], wb[k])}
    assert diff == {}, f"weights differ (max abs diff per tensor): {dict(list(diff.items())[:5])}"


def _ds_tensors(path: str) -> dict[str, torch.Tensor]:
    """Every tensor of a DeepSpeed checkpoint folder (model, optimizer moments, scheduler), by file and key."""
    out = {}
    for f in sorted(glob.glob(os.path.join(path, "*.pt"))):
        def walk(x, key):
            if isinstance(x, torch.Tensor):
                out[key] = x
            elif isinstance(x, dict):
                for k in sorted(x, key=str):
                    walk(x[k], f"{key}.{k}")
            elif isinstance(x, (list, tuple)):
                for i, v in enumerate(x):
                    walk(v, f"{key}.{i}")
        walk(torch.load(f, weights_only=False, map_location="cpu"), os.path.basename(f))
    assert out, f"no DeepSpeed checkpoint in {path}"
    return out


def _without_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not (k.startswith(TIMING[1]) or k.endswith(TIMING[0]))} for r in rows]


def test_online_rl_killed_after_step_1_of_2_and_resumed_equals_2_uninterrupted_steps(
        local_ray, sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    _, rl = compare_data
    cfg = tiny_online().model_copy(update={"steps": 2, "checkpoint_every": 1, "average_last": 2})
    assert cfg.optim.trainer == "deepspeed" and cfg.rollout.generation.backend == "builtin"
    ref = online_rl(cfg, sft_model_dir, tokenizer_dir, rl, str(tmp_path / "ref"))

    run = str(tmp_path / "run")
    with pytest.raises(Killed):
        online_rl(cfg, sft_model_dir, tokenizer_dir, rl, run, on_step=_kill_at(2))
    assert open(os.path.join(run, "checkpoints", "latest")).read() == "step1"
    seen = []
    res = online_rl(cfg, sft_model_dir, tokenizer_dir, rl, run, on_step=seen.append)
    assert res["resumed_from"] == 1 and [m["step"] for m in seen] == [2]

    for name in ("step1", "step2"):
        _assert_same_weights(os.path.join(tmp_path / "ref", "checkpoints", name),
                             os.path.join(run, "checkpoints", name))
        a = _ds_tensors(os.path.join(tmp_path / "ref", "checkpoints", "ds", name))
        b = _ds_tensors(os.path.join(run, "checkpoints", "ds", name))
        assert set(a) == set(b)
        assert [k for k in a if not torch.equal(a[k], b[k])] == []  # optimizer moments, steps, scheduler
    _assert_same_weights(ref["hf_checkpoint"], res["hf_checkpoint"])  # the average of the last two
    assert open(os.path.join(ref["hf_checkpoint"], "averaged_from.json")).read() == \
        open(os.path.join(res["hf_checkpoint"], "averaged_from.json")).read()
    # metrics: the history holds each step once (step 2 of the killed attempt replaced), equal but for timings
    assert [m["step"] for m in res["history"]] == [1, 2]
    assert _without_timings(res["history"]) == _without_timings(ref["history"])
    assert [m["weight_version"] for m in res["history"]] == [0.0, 1.0]


def test_offline_rl_killed_after_sft_step_1_of_2_and_resumed_equals_2_uninterrupted_steps(
        local_ray, sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    sft, rl = compare_data
    cfg = tiny_offline().model_copy(update={"sft_steps": 2, "checkpoint_every": 1, "sft_batch_size": 8})
    assert cfg.optim.trainer == "deepspeed"
    prompts, traces = rl.slice(0, 8), sft.slice(0, 4)
    ref = offline_rl(cfg, sft_model_dir, tokenizer_dir, prompts, traces, str(tmp_path / "ref_out"),
                     work_dir=str(tmp_path / "ref_work"))

    work = str(tmp_path / "work")
    with pytest.raises(Killed):
        offline_rl(cfg, sft_model_dir, tokenizer_dir, prompts, traces, str(tmp_path / "out1"), on_step=_kill_at(2),
                   work_dir=work)
    selection = os.path.join(work, "selection", "selection.json")
    before = os.stat(selection).st_mtime_ns
    seen = []
    res = offline_rl(cfg, sft_model_dir, tokenizer_dir, prompts, traces, str(tmp_path / "out2"), on_step=seen.append,
                     work_dir=work)
    assert os.stat(selection).st_mtime_ns == before  # the selection was read back, not sampled again
    assert res["resumed_from"] == 1 and [m["step"] for m in seen] == [2]

    _assert_same_weights(ref["hf_checkpoint"], res["hf_checkpoint"])
    for name in ("best_of_n", "rl_prompts_kept", "exclusions"):
        assert pq.read_table(ref[name]).equals(pq.read_table(res[name])), name
    assert res["counts"] == ref["counts"] and res["mixture"] == ref["mixture"]
    assert [m["step"] for m in res["history"]] == [1, 2]
    assert _without_timings(res["history"]) == _without_timings(ref["history"])
    assert json.load(open(os.path.join(str(tmp_path / "out2"), "offline_rl_config.json")))["sft_steps"] == 2
