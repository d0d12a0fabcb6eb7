"""The RL trainer's policy through the ZeRO-3 sharded load (s1model.load) on 2 gloo ranks on CPU: the partitions
hold the checkpoint's values (fp32 and bf16); one offline (SFT) step and one online RL update under ZeRO-3, with
and without the optimizer offloaded to the host, give ZeRO-1's losses and weights from the same start; a ZeRO-3
resume from the engine checkpoint (weights not read from the HF checkpoint) ends where the straight run ends; and a
rank's peak host memory (VmHWM) while the trainer starts is lower with the sharded load than with the whole fp32
model loaded on every rank."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from s1model.rl.config import tiny_online
from tests.s1model.conftest import REPO, free_port, spawn
from tests.s1model.rl.conftest import (base_model_dir, compare_data, sft_model_dir,  # noqa: F401 (fixtures)
                                       tokenizer_dir)

LR = 1e-3

# One process per rank. argv: mode, work dir, model dir; modes:
#   steps: the load checks, then ZeRO-1 / ZeRO-3 / ZeRO-3 resumed / ZeRO-3 + optimizer offload, each one offline
#          step + one online update + an HF export (work/<variant>); rank 0 writes work/result.json.
#   peak-sharded / peak-plain: start a ZeRO-3 trainer; each rank writes its VmHWM before and after (work/peak<r>.json)
_RANK = r"""
import gc, json, os, sys
import torch, deepspeed
from s1model.parallel import init_distributed
from s1model.rl.config import OnlineRLConfig
from s1model.rl.trainer import EngineTrainer


def vm_hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024


mode, work, model_dir = sys.argv[1:4]
init_distributed()
rank = torch.distributed.get_rank()
cfg = OnlineRLConfig.model_validate_json(open(os.path.join(work, "cfg.json")).read())

if mode.startswith("peak"):
    before = vm_hwm()
    optim = cfg.optim.model_copy(update={"zero_stage": 3, "sharded_init": "on" if mode == "peak-sharded" else "off"})
    trainer = EngineTrainer(model_dir, optim, None)
    after = vm_hwm()
    json.dump({"before": before, "after": after, "sharded": trainer.sharded},
              open(os.path.join(work, f"peak{rank}.json"), "w"))
    sys.exit(0)

from transformers import AutoModelForCausalLM
from s1model.rl.entry import _groups_from_json
from s1model.rl.offline import sft_train_on
from s1model.rl.online import train_groups

groups = _groups_from_json(os.path.join(work, "groups.json"))
pairs = [tuple(p) for p in json.load(open(os.path.join(work, "pairs.json")))]
pad_id = int(open(os.path.join(work, "pad_id")).read())
plain = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).state_dict()
result = {"load": {}}

for dtype in ("fp32", "bf16"):  # the partitions hold this rank's slice of the checkpoint, in the training dtype
    trainer = EngineTrainer(model_dir, cfg.optim.model_copy(update={"zero_stage": 3, "dtype": dtype}), None)
    want = torch.float32 if dtype == "fp32" else torch.bfloat16
    n_part = n_full = 0
    for name, p in trainer.engine.module.named_parameters():
        assert p.ds_tensor.dtype == want, (name, p.ds_tensor.dtype)
        assert p.numel() == 0, name  # nothing whole outside a gather
        n_part += p.ds_tensor.numel()
        n_full += p.ds_numel
        with deepspeed.zero.GatheredParameters([p]):
            assert torch.equal(p.data, plain[name].to(want)), name
    result["load"][dtype] = {"sharded": trainer.sharded, "partition_values": n_part, "model_values": n_full}
    del trainer
    gc.collect()


def run(variant, zero_stage, extra=None, resume_from=None, save_to=None):
    optim = cfg.optim.model_copy(update={"zero_stage": zero_stage, **(extra or {})})
    trainer = EngineTrainer(model_dir, optim, None, load_weights=resume_from is None)
    out = {"sharded": trainer.sharded, "offload": bool(trainer.engine.zero_cpu_offload())}
    if resume_from is None:
        out["offline"] = sft_train_on(trainer, pairs, optim, steps=1, batch_size=8, pad_id=pad_id, seed=0)
        if save_to:
            trainer.save(save_to, "offline1", {"step": 1})
    else:
        assert trainer.load(resume_from, "offline1")["step"] == 1
    out["online"] = train_groups(trainer, groups, cfg, pad_id)
    trainer.export_hf(os.path.join(work, variant))
    result[variant] = out
    del trainer
    gc.collect()


run("zero1", 1)
run("zero3", 3, save_to=os.path.join(work, "ds"))
run("zero3_resumed", 3, resume_from=os.path.join(work, "ds"))
run("zero3_offload", 3, {"offload_optimizer": "cpu", "offload_pin_memory": False})
if rank == 0:
    json.dump(result, open(os.path.join(work, "result.json"), "w"), default=str)
print("RANK_OK", rank, flush=True)
"""


def _config():
    cfg = tiny_online()
    return cfg.model_copy(update={"loss": "grpo", "train_minibatches": 2, "grad_norm_skip": None,
                                  "optim": cfg.optim.model_copy(update={"lr": LR, "micro_batch_size": 2})})


def _launch(work, mode: str, model_dir: str, timeout: int = 900) -> None:
    script = work / "rank.py"
    script.write_text(_RANK)
    port = free_port()
    argv = [sys.executable, str(script), mode, str(work), model_dir]
    ranks = [spawn(argv, rank=r, world=2, port=port, log=str(work / f"{mode}{r}.log")) for r in range(2)]
    for r, proc in enumerate(ranks):
        assert proc.wait(timeout=timeout) == 0, open(work / f"{mode}{r}.log").read()[-4000:]


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, sft_model_dir, tokenizer_dir, compare_data):
    """One launch of 2 gloo ranks running every variant (process start-up dominates on a small CPU box)."""
    from s1data.tokenizer import load_tokenizer

    sft, _ = compare_data
    tok = load_tokenizer(tokenizer_dir)
    work = tmp_path_factory.mktemp("rl_sharded")
    rows = list(zip(sft["prompt"].to_pylist(), sft["response"].to_pylist()))
    groups = []
    for p, r in rows[:4]:  # reward 1: the reference answer; 0: the other comparison
        wrong = r.replace("<", "#").replace(">", "<").replace("#", ">")
        groups.append({"completions": [{"prompt_ids": tok.encode(p + "\n"), "token_ids": tok.encode(x) + [tok.eos_id],
                                        "logprobs": []} for x in (r, wrong)], "rewards": [1.0, 0.0]})
    pairs = [(tok.encode(p + "\n"), tok.encode(r) + [tok.eos_id]) for p, r in rows[4:20]]
    (work / "groups.json").write_text(json.dumps(groups))
    (work / "pairs.json").write_text(json.dumps(pairs))
    (work / "pad_id").write_text(str(tok.pad_id))
    (work / "cfg.json").write_text(_config().model_dump_json())
    _launch(work, "steps", sft_model_dir)
    return work, json.load(open(work / "result.json"))


def _weights(folder) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).state_dict()


def test_each_rank_holds_half_of_the_checkpoint_in_the_training_dtype(two_rank_run):
    _, res = two_rank_run
    for dtype in ("fp32", "bf16"):
        load = res["load"][dtype]
        assert load["sharded"] is True
        # every parameter split over 2 ranks (DeepSpeed pads each to an even length)
        assert load["partition_values"] <= load["model_values"] // 2 + 200, load


def test_an_offline_and_an_online_step_under_zero3_equal_zero1_from_the_same_start(two_rank_run, sft_model_dir):
    work, res = two_rank_run
    z1 = res["zero1"]
    assert z1["sharded"] is False
    for variant in ("zero3", "zero3_offload"):
        z3 = res[variant]
        assert z3["sharded"] is True
        assert z3["offline"][0]["sft_loss"] == pytest.approx(z1["offline"][0]["sft_loss"], rel=1e-5)
        assert z3["offline"][0]["grad_norm"] == pytest.approx(z1["offline"][0]["grad_norm"], rel=1e-4)
        assert z3["online"]["updates"] == z1["online"]["updates"] == 2
        for k in ("loss", "entropy", "kl", "grad_norm", "train_tokens"):
            assert z3["online"][k] == pytest.approx(z1["online"][k], rel=1e-4, abs=1e-6), (variant, k)
    assert res["zero3_offload"]["offload"] is True and res["zero3"]["offload"] is False
    start = _weights(sft_model_dir)
    ref = _weights(work / "zero1")
    assert set(ref) == set(start)
    assert sum(not torch.equal(ref[k], start[k]) for k in ref) > len(ref) // 2  # three updates moved the weights
    for variant in ("zero3", "zero3_offload"):
        got = _weights(work / variant)
        assert set(got) == set(ref)
        for k, v in got.items():
            # Adam's first steps move weights by ~lr; ZeRO-3's reduce-scatter and ZeRO-1's all-reduce agree to a
            # small fraction of that
            assert float((v - ref[k]).abs().max()) < 0.05 * LR, (variant, k)


def test_a_zero3_resume_from_the_engine_checkpoint_ends_on_the_straight_runs_weights(two_rank_run):
    work, res = two_rank_run
    assert res["zero3_resumed"]["online"]["loss"] == pytest.approx(res["zero3"]["online"]["loss"], rel=1e-6)
    straight, resumed = _weights(work / "zero3"), _weights(work / "zero3_resumed")
    for k, v in resumed.items():
        torch.testing.assert_close(v, straight[k], rtol=0, atol=1e-7, msg=k)


def _bigger_checkpoint(folder) -> int:
    """A Qwen3-MoE of ~30M parameters saved in bf16 (as checkpoints are published); returns its parameter count."""
    from s1model.config import ModelConfig, tiny
    from s1model.model import build_model

    cfg = tiny().model_copy(update={"model": ModelConfig(
        vocab_size=32000, hidden_size=256, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=64, num_experts=16,
        top_k=2, moe_intermediate_size=256, max_position_embeddings=256)})
    model = build_model(cfg).to(torch.bfloat16)
    model.save_pretrained(str(folder))
    return sum(p.numel() for p in model.parameters())


def test_the_sharded_load_peaks_lower_in_host_memory_than_the_whole_fp32_model_on_every_rank(tmp_path):
    n_params = _bigger_checkpoint(tmp_path / "model")
    (tmp_path / "cfg.json").write_text(_config().model_dump_json())
    grown = {}
    for mode in ("peak-plain", "peak-sharded"):
        _launch(tmp_path, mode, str(tmp_path / "model"))
        peaks = [json.load(open(tmp_path / f"peak{r}.json")) for r in range(2)]
        assert all(p["sharded"] is (mode == "peak-sharded") for p in peaks)
        grown[mode] = max(p["after"] - p["before"] for p in peaks)
    fp32_model = 4 * n_params
    # the plain load holds the whole fp32 model on each rank before DeepSpeed partitions it; the sharded one never
    # does: each rank's peak grows by at least half the fp32 model less (measured: see benchmarks/results)
    assert grown["peak-plain"] - grown["peak-sharded"] > 0.5 * fp32_model, (grown, fp32_model)


@pytest.mark.timeout(1800)  # two launches of 2 ranks (DeepSpeed + Ray start-up each) on a shared 2-core box
def test_online_rl_under_zero3_loads_sharded_checkpoints_and_resumes_through_the_launcher_entry(
        sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    import pyarrow.parquet as pq

    _, rl = compare_data
    pq.write_table(rl.slice(0, 32), tmp_path / "prompts.parquet")
    cfg = tiny_online()
    cfg = cfg.model_copy(update={"steps": 1, "checkpoint_every": 1, "ray_num_cpus": 2,
                                 "optim": cfg.optim.model_copy(update={"zero_stage": 3})})
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
    assert first["trainer"] == "deepspeed" and [m["step"] for m in first["metrics"]] == [1]
    # ZeRO-3 engine checkpoint: one optimizer-state file per rank, and the step's HF export written streamed
    step1 = os.path.join(out, "checkpoints", "ds", "step1")
    optim_files = sorted(f for f in os.listdir(step1) if f.endswith("optim_states.pt"))
    assert len(optim_files) == 2 and "rank_0" in optim_files[0] and "rank_1" in optim_files[1], optim_files
    assert os.path.exists(os.path.join(out, "checkpoints", "step1", "model.safetensors.index.json"))
    second = run(cfg.model_copy(update={"steps": 2}), "second")
    assert second["resumed_from"] == 1 and [m["step"] for m in second["metrics"]] == [2]
    from transformers import AutoModelForCausalLM

    if first["metrics"][0]["updates"] + second["metrics"][0]["updates"] > 0:
        step2 = AutoModelForCausalLM.from_pretrained(os.path.join(out, "checkpoints", "step2"), dtype=torch.float32)
        start = AutoModelForCausalLM.from_pretrained(sft_model_dir, dtype=torch.float32).state_dict()
        assert any(not torch.equal(p, start[k]) for k, p in step2.state_dict().items())
