"""RL on the DeepSpeed engine on CPU with gloo: one update over 2 ranks (ZeRO-2, the fast model) equals the
single-process torch update of the HF model; online RL over 2 ranks checkpoints and resumes; the grad-norm skip
works inside the engine's step."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from s1model.rl.config import tiny_online
from s1model.rl.online import train_groups
from s1model.rl.rewards import RewardResult
from s1model.rl.trainer import EngineTrainer, TorchTrainer
from tests.s1model.conftest import REPO, free_port, spawn
from tests.s1model.rl.conftest import (base_model_dir, compare_data, sft_model_dir,  # noqa: F401 (fixtures)
                                       tokenizer_dir)


def _groups(tokenizer_dir, compare_data, n_groups=4):
    """Real prompts of the task; per group the reference answer (reward 1) and the other answer (reward 0)."""
    from s1data.tokenizer import load_tokenizer

    sft, _ = compare_data
    tok = load_tokenizer(tokenizer_dir)
    groups = []
    for p, r in list(zip(sft["prompt"].to_pylist(), sft["response"].to_pylist()))[:n_groups]:
        wrong = r.replace("<", "#").replace(">", "<").replace("#", ">")
        comps = [{"prompt_ids": tok.encode(p + "\n"), "token_ids": tok.encode(x) + [tok.eos_id], "logprobs": []}
                 for x in (r, wrong)]
        groups.append({"row": {}, "completions": comps, "rewards": [1.0, 0.0]})
    return groups, tok.pad_id


def _config(zero_stage: int):
    cfg = tiny_online()
    return cfg.model_copy(update={"loss": "grpo", "train_minibatches": 2, "grad_norm_skip": None,
                                  "optim": cfg.optim.model_copy(update={"lr": 1e-3, "micro_batch_size": 1,
                                                                        "zero_stage": zero_stage})})


def _with_rewards(groups):
    return [{**g, "rewards": [RewardResult(s, "t", "t", "", "t") for s in g["rewards"]]} for g in groups]


def test_one_rl_update_over_two_gloo_ranks_on_zero2_equals_the_single_process_torch_update(
        sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    groups, pad_id = _groups(tokenizer_dir, compare_data)
    cfg = _config(zero_stage=2)
    ref = TorchTrainer(sft_model_dir, cfg.optim.model_copy(update={"trainer": "torch"}), None)
    ref_stats = train_groups(ref, _with_rewards(groups), cfg, pad_id)
    ref_state = {k: v.detach().clone() for k, v in ref.model.state_dict().items()}
    assert ref_stats["updates"] == 2

    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    (tmp_path / "groups.json").write_text(json.dumps(groups))
    port = free_port()
    argv = [sys.executable, "-m", "s1model.rl.entry", "update", "--config", str(tmp_path / "cfg.json"),
            "--model", sft_model_dir, "--groups", str(tmp_path / "groups.json"), "--pad-id", str(pad_id),
            "--out", str(tmp_path / "run"), "--result", str(tmp_path / "result.json")]
    ranks = [spawn(argv, rank=r, world=2, port=port, log=str(tmp_path / f"rank{r}.log")) for r in range(2)]
    for r, proc in enumerate(ranks):
        assert proc.wait(timeout=600) == 0, open(tmp_path / f"rank{r}.log").read()[-3000:]
    res = json.load(open(tmp_path / "result.json"))
    assert res["world_size"] == 2 and res["trainer"] == "deepspeed" and res["stats"]["updates"] == 2
    # the same losses and gradient norms: each rank trained its half of every minibatch, normalised globally
    for k in ("loss", "entropy", "train_tokens"):
        assert res["stats"][k] == pytest.approx(ref_stats[k], rel=1e-4, abs=1e-6), k
    assert res["stats"]["grad_norm"] == pytest.approx(ref_stats["grad_norm"], rel=1e-3)
    from transformers import AutoModelForCausalLM

    got = AutoModelForCausalLM.from_pretrained(res["hf"], dtype=torch.float32).state_dict()
    start = AutoModelForCausalLM.from_pretrained(sft_model_dir, dtype=torch.float32).state_dict()
    moved = 0
    for k, v in got.items():
        assert k in ref_state, k
        diff = (v - ref_state[k]).abs()
        # Adam's first steps move weights by ~lr; the two updates agree to a small fraction of that
        assert float(diff.max()) < 0.05 * cfg.optim.lr, (k, float(diff.max()))
        moved += int(not torch.equal(v, start[k]))
    assert moved > len(got) // 2


def test_the_grad_norm_skip_happens_inside_the_deepspeed_step(sft_model_dir, tokenizer_dir, compare_data):
    groups, pad_id = _groups(tokenizer_dir, compare_data, n_groups=2)
    cfg = _config(zero_stage=1).model_copy(update={"grad_norm_skip": 1e-9, "train_minibatches": 1})
    trainer = EngineTrainer(sft_model_dir, cfg.optim, cfg.grad_norm_skip)
    before = trainer.hf_state_dict()
    stats = train_groups(trainer, _with_rewards(groups), cfg, pad_id)
    assert stats["skipped_updates"] == 1 and stats["updates"] == 0 and stats["grad_norm"] > 1e-9
    after = trainer.hf_state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    trainer.inner.skip_norm = None
    stats = train_groups(trainer, _with_rewards(groups), cfg, pad_id)
    assert stats["updates"] == 1
    after = trainer.hf_state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.timeout(1800)  # two launches of 2 ranks (DeepSpeed + Ray start-up each) on a shared 2-core box
def test_online_rl_on_two_gloo_ranks_checkpoints_and_resumes_from_the_engine_state(
        sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    import pyarrow.parquet as pq

    _, rl = compare_data
    pq.write_table(rl.slice(0, 32), tmp_path / "prompts.parquet")
    cfg = tiny_online()
    cfg = cfg.model_copy(update={"steps": 1, "checkpoint_every": 1, "ray_num_cpus": 2,
                                 "optim": cfg.optim.model_copy(update={"zero_stage": 2})})
    out = str(tmp_path / "run")

    def run(config, tag):
        (tmp_path / f"{tag}.json").write_text(config.model_dump_json())
        argv = [sys.executable, "-m", "s1model.rl.entry", "online", "--config", str(tmp_path / f"{tag}.json"),
                "--model", sft_model_dir, "--tokenizer", tokenizer_dir, "--prompts", str(tmp_path / "prompts.parquet"),
                "--out", out, "--result", str(tmp_path / f"{tag}.result.json")]
        port = free_port()
        ranks = [spawn(argv, rank=r, world=2, port=port, log=str(tmp_path / f"{tag}{r}.log")) for r in range(2)]
        for r, proc in enumerate(ranks):
            assert proc.wait(timeout=900) == 0, open(tmp_path / f"{tag}{r}.log").read()[-3000:]
        return json.load(open(tmp_path / f"{tag}.result.json"))

    first = run(cfg, "first")
    assert first["trainer"] == "deepspeed" and first["resumed_from"] == 0
    assert [m["step"] for m in first["metrics"]] == [1]
    assert "step1" in os.listdir(os.path.join(out, "checkpoints", "ds"))
    assert open(os.path.join(out, "checkpoints", "latest")).read() == "step1"
    second = run(cfg.model_copy(update={"steps": 2}), "second")
    assert second["resumed_from"] == 1 and [m["step"] for m in second["metrics"]] == [2]
    state = json.load(open(os.path.join(out, "checkpoints", "step2", "trainer_state.json")))
    assert state["step"] == 2 and state["consumed"] > json.load(open(os.path.join(
        out, "checkpoints", "step1", "trainer_state.json")))["consumed"]
    assert os.path.exists(os.path.join(second["hf_checkpoint"], "model.safetensors"))


def test_a_zero3_policy_is_exported_one_parameter_at_a_time_with_the_same_weights(sft_model_dir, tmp_path):
    """Under ZeRO-3 the RL trainer's export streams (export_hf_streaming: sharded files + index) instead of gathering
    every parameter at once; the written checkpoint loads back with the weights the trainer holds."""
    from transformers import AutoModelForCausalLM

    cfg = _config(zero_stage=3)
    trainer = EngineTrainer(sft_model_dir, cfg.optim, None)
    assert trainer.engine.zero_optimization_stage() == 3
    out = trainer.export_hf(str(tmp_path / "policy"))
    assert (tmp_path / "policy" / "model.safetensors.index.json").is_file()  # the streamed writer's layout
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).state_dict()
    held = trainer.hf_state_dict()
    assert set(held) <= set(loaded)
    assert all(torch.equal(held[k], loaded[k]) for k in held)
