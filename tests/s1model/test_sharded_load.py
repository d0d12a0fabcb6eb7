"""The ZeRO-3 sharded load (s1model/load.py) on a tiny Qwen3-MoE, through the code path a real-size model takes:
zero.Init partitions filled from the HF safetensors, training with the optimizer offloaded to the host, checkpoint +
resume, and the streamed export back to the Hub's layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from s1model.config import tiny
from s1model.export import hf_original_items, shard_plan
from s1model.load import Checkpoint, ParamSource, Segment, param_source, partition_range, write_partition
from s1model.model import build_model
from s1model.parallel import init_distributed
from tests.s1model.conftest import REPO, free_port, rank_env

VOCAB_GROWN = 262  # the tiny checkpoint has 256 rows: 6 new tokenizer ids


def _sharded_config(init: str, **update):
    base = tiny()
    return base.model_copy(update={"init_from": init, "zero_stage": 3, "expert_parallel": "none",
                                   "model": base.model.model_copy(update={"vocab_size": VOCAB_GROWN}), **update})


@pytest.fixture
def hf_checkpoint(tmp_path) -> str:
    """A tiny Qwen3-MoE saved by transformers itself (the Hub's per-expert layout), in two safetensors files."""
    model = build_model(tiny())
    model.save_pretrained(tmp_path / "init", max_shard_size="40KB")
    return str(tmp_path / "init")


def _gathered(model) -> dict[str, torch.Tensor]:
    import deepspeed

    out = {}
    for name, p in model.named_parameters():
        with deepspeed.zero.GatheredParameters([p]):
            out[name] = p.data.detach().clone()
    return out


def test_the_checkpoint_is_in_the_hubs_per_expert_layout_across_files(hf_checkpoint):
    ckpt = Checkpoint(hf_checkpoint)
    assert len(set(ckpt.files.values())) >= 2
    assert "model.layers.0.mlp.experts.3.gate_proj.weight" in ckpt
    assert "model.layers.0.mlp.experts.gate_up_proj" not in ckpt


@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_partitions_of_every_rank_tile_the_parameter_exactly(hf_checkpoint, world):
    """DeepSpeed's partition arithmetic (equal padded slices) over the per-expert tensors, for uneven splits too:
    concatenating every rank's slice gives transformers' own fused parameter, value for value."""
    plain = dict(build_model(tiny()).named_parameters())
    ckpt = Checkpoint(hf_checkpoint)
    for name in ("model.layers.1.mlp.experts.gate_up_proj", "model.layers.0.mlp.experts.down_proj",
                 "model.layers.0.input_layernorm.weight", "lm_head.weight"):
        full = plain[name].detach()
        src = param_source(ckpt, name, tuple(full.shape), {})
        part = -(-full.numel() // world)
        slices = []
        for rank in range(world):
            dst = torch.full((part,), float("nan"))
            n = write_partition(dst, src, full.numel(), rank)
            assert n == max(0, min(part, full.numel() - rank * part))
            slices.append(dst[:n])
        torch.testing.assert_close(torch.cat(slices), full.flatten(), rtol=0, atol=0)


def test_a_param_source_reads_any_row_range_across_segments():
    values = torch.arange(40.0).view(10, 4)
    src = ParamSource(None, 4, [Segment(rows=3, values=values[:3]), Segment(rows=7, values=values[3:])])
    for a, b in [(0, 10), (2, 5), (3, 4), (9, 10)]:
        torch.testing.assert_close(src.read(a, b), values[a:b], rtol=0, atol=0)
    assert partition_range(10, 4, 2) == (8, 10) and partition_range(10, 4, 3) == (12, 10)


@pytest.mark.parametrize("impl", ["hf", "s1"])
def test_sharded_load_equals_the_plain_load_grown_rows_included(hf_checkpoint, impl):
    init_distributed()
    cfg = _sharded_config(hf_checkpoint, model_impl=impl)
    assert cfg.uses_sharded_init()
    sharded = build_model(cfg)
    plain = dict(build_model(cfg.model_copy(update={"sharded_init": "off"})).named_parameters())
    got = _gathered(sharded)
    assert set(got) == set(plain)
    for name, t in got.items():
        assert t.dtype == torch.float32
        torch.testing.assert_close(t, plain[name].detach(), rtol=0, atol=0, msg=name)
    assert got["model.embed_tokens.weight"].shape == (VOCAB_GROWN, 64)
    assert not torch.equal(got["lm_head.weight"][256:], got["lm_head.weight"][255].expand(6, -1))


def test_bf16_partitions_hold_the_checkpoint_cast_once(hf_checkpoint):
    init_distributed()
    cfg = _sharded_config(hf_checkpoint, dtype="bf16")
    sharded = build_model(cfg)
    plain = dict(build_model(cfg.model_copy(update={"sharded_init": "off"})).named_parameters())
    for name, p in sharded.named_parameters():
        assert p.ds_tensor.dtype == torch.bfloat16, name
    for name, t in _gathered(sharded).items():
        torch.testing.assert_close(t, plain[name].detach().to(torch.bfloat16), rtol=0, atol=0, msg=name)


def test_a_checkpoint_missing_a_tensor_is_refused_with_its_name(hf_checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    init_distributed()
    folder = tmp_path / "broken"
    folder.mkdir()
    state = {}
    for f in sorted(os.listdir(hf_checkpoint)):
        if f.endswith(".safetensors"):
            state.update(load_file(os.path.join(hf_checkpoint, f)))
    del state["model.layers.1.mlp.experts.2.up_proj.weight"]
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(open(os.path.join(hf_checkpoint, "config.json")).read())
    with pytest.raises(ValueError, match="experts.2.up_proj"):
        build_model(_sharded_config(str(folder)))


def test_the_zero3_export_writes_what_save_pretrained_writes(hf_checkpoint):
    """hf_original_items splits the fused experts exactly as transformers' own save_pretrained does."""
    model = build_model(tiny())
    ours = {k: v for n, p in model.named_parameters() for k, v in hf_original_items(n, p.detach())}
    ckpt = Checkpoint(hf_checkpoint)
    assert set(ours) == set(ckpt.files)
    for key, t in ours.items():
        torch.testing.assert_close(t, ckpt.rows(key, 0, t.shape[0]) if t.dim() > 1 else ckpt.rows(key, 0, 1),
                                   rtol=0, atol=0, msg=key)
    assert shard_plan([("a", (4,)), ("b", (4,)), ("c", (10,))], 4, 32) == [["a", "b"], ["c"]]


def _export_state(folder: str) -> dict[str, torch.Tensor]:
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        files = set(json.load(f)["weight_map"].values())
    out = {}
    for name in files:
        with safe_open(os.path.join(folder, name), "pt") as f:
            out.update({k: f.get_tensor(k) for k in f.keys()})
    return out


def test_offloaded_zero3_trains_resumes_to_the_same_losses_and_exports_loadable_weights(hf_checkpoint, tiny_shards,
                                                                                       tmp_path):
    from transformers import AutoModelForCausalLM

    from s1model.train import pretrain

    cfg = _sharded_config(hf_checkpoint, offload_optimizer="cpu", max_steps=4, checkpoint_every=2,
                          model=tiny().model)
    straight = pretrain(cfg, tiny_shards, str(tmp_path / "straight"))
    first = pretrain(cfg.model_copy(update={"max_steps": 2, "export_hf": False}), tiny_shards,
                     str(tmp_path / "resumed"))
    second = pretrain(cfg, tiny_shards, str(tmp_path / "resumed"))
    assert second["resumed_from"] == 2 and "resume_s" in second["timings"]
    losses = [m["loss"] for m in straight["metrics"]]
    assert losses[-1] < losses[0]
    resumed = [m["loss"] for m in first["metrics"] + second["metrics"]]
    assert resumed == pytest.approx(losses, rel=1e-5)
    assert os.path.exists(os.path.join(str(tmp_path / "straight"), "checkpoints", "step2",
                                       "zero_pp_rank_0_mp_rank_00_optim_states.pt"))

    exported = _export_state(straight["hf_export"])
    assert "model.layers.0.mlp.experts.0.gate_proj.weight" in exported
    for key, t in _export_state(second["hf_export"]).items():  # resumed run ends on the same weights
        torch.testing.assert_close(t, exported[key], rtol=1e-5, atol=1e-6, msg=key)
    reloaded = AutoModelForCausalLM.from_pretrained(straight["hf_export"], dtype=torch.float32)
    initial = dict(build_model(tiny()).named_parameters())
    for name, p in reloaded.named_parameters():  # transformers reads our export; training moved the weights
        fused = {k: v for k, v in hf_original_items(name, p.detach())}
        assert all(torch.equal(v, exported[k]) for k, v in fused.items()), name
        if name.endswith("proj.weight"):
            assert not torch.equal(p.detach(), initial[name].detach()), name


_TWO_RANKS = r"""
import sys, torch, deepspeed
from s1model.config import tiny
from s1model.model import build_model
from s1model.parallel import init_distributed
init_distributed()
init = sys.argv[1]
base = tiny()
cfg = base.model_copy(update={"init_from": init, "zero_stage": 3, "expert_parallel": "none",
                              "model": base.model.model_copy(update={"vocab_size": 262})})
sharded = build_model(cfg)
plain = dict(build_model(cfg.model_copy(update={"sharded_init": "off"})).named_parameters())
rank = torch.distributed.get_rank()
for name, p in sharded.named_parameters():
    n = p.ds_tensor.numel()
    full = plain[name].detach().flatten()
    mine = full[rank * n:(rank + 1) * n]
    assert p.ds_tensor.numel() < full.numel() or full.numel() == 1, name
    assert torch.equal(p.ds_tensor[:mine.numel()], mine), name
for name, p in sharded.named_parameters():
    with deepspeed.zero.GatheredParameters([p]):
        assert torch.equal(p.data, plain[name].detach()), name
print("RANK_OK", rank, flush=True)
"""


def test_two_gloo_ranks_each_hold_their_half_of_every_parameter(hf_checkpoint, tmp_path):
    script = tmp_path / "two_ranks.py"
    script.write_text(_TWO_RANKS)
    port = free_port()
    procs = [subprocess.Popen([sys.executable, str(script), hf_checkpoint], env=rank_env(r, 2, port), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for r, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0 and f"RANK_OK {r}" in out, out[-3000:]


def test_from_scratch_partitions_train_the_same_with_and_without_offloading_everything(tiny_shards, tmp_path):
    """init_from None: transformers' init drawn per partition (norms 1, matrices N(0, 0.02)); offloading the
    optimizer and the parameters to the host changes where the numbers live, not the losses."""
    from s1model.train import pretrain

    base = tiny().model_copy(update={"zero_stage": 3, "expert_parallel": "none", "max_steps": 3,
                                     "checkpoint_every": 0, "export_hf": False})
    init_distributed()
    weights = _gathered(build_model(base))
    assert torch.equal(weights["model.norm.weight"], torch.ones(64))
    assert abs(float(weights["model.layers.0.mlp.experts.gate_up_proj"].std()) - 0.02) < 0.002
    plain = pretrain(base, tiny_shards, str(tmp_path / "gpu_states"))["metrics"]
    offloaded = pretrain(base.model_copy(update={"offload_optimizer": "cpu", "offload_param": "cpu"}), tiny_shards,
                         str(tmp_path / "host_states"))["metrics"]
    assert [m["loss"] for m in offloaded] == pytest.approx([m["loss"] for m in plain], rel=1e-6)


def test_offload_without_the_sharded_path_is_refused_with_the_fix():
    from s1model.config import PretrainConfig

    with pytest.raises(ValueError, match="zero_stage=3"):
        PretrainConfig(**{**tiny().model_dump(), "offload_optimizer": "cpu"})  # ZeRO-1
    with pytest.raises(ValueError, match="sharded_init='off'"):
        PretrainConfig(**{**tiny().model_dump(), "zero_stage": 3, "sharded_init": "on"})  # AutoEP (model_impl hf)
