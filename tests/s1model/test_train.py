"""The real DeepSpeed path on CPU with gloo: training, export, kill -9 + resume, and two ranks with AutoEP."""

import glob
import json
import os
import signal
import time

import pytest
import torch
from transformers import AutoModelForCausalLM

from s1model.config import tiny
from s1model.engine import build_engine
from s1model.export import export_hf
from s1model.model import build_model, packed_inputs
from s1model.train import pretrain
from tests.s1model.conftest import entry_argv, free_port, spawn

METRIC_KEYS = {"step", "loss", "aux_loss", "z_loss", "grad_norm", "lr", "tokens_per_s", "mfu", "expert_load"}


def _losses(path):
    return {m["step"]: m["loss"] for m in map(json.loads, open(path))}


def test_tiny_model_trains_under_deepspeed_and_exports_identical_logits(tiny_shards, tmp_path):
    cfg = tiny().model_copy(update={"max_steps": 12, "micro_batch_size": 4, "checkpoint_every": 6})
    seen = []
    result = pretrain(cfg, tiny_shards, str(tmp_path / "run"), on_step=seen.append)

    losses = [m["loss"] for m in result["metrics"]]
    assert len(seen) == 12 and METRIC_KEYS <= set(seen[0])
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    assert [c["step"] for c in result["checkpoints"]] == [6, 12]
    assert len(seen[0]["expert_load"]) == 2 and abs(sum(seen[0]["expert_load"][0]) - 1) < 1e-5
    assert seen[0]["lr"] < seen[2]["lr"] and seen[-1]["lr"] < seen[5]["lr"]  # WSD warm-up and decay

    # The trained AutoEP model, reloaded from its DeepSpeed checkpoint, against the HF export.
    engine = build_engine(build_model(cfg), cfg, 1)
    engine.load_checkpoint(str(tmp_path / "run" / "checkpoints"))
    hf = AutoModelForCausalLM.from_pretrained(result["hf_export"], dtype=torch.float32).eval()
    ids_BS = torch.randint(1, 256, (2, 64), generator=torch.Generator().manual_seed(0))
    position_ids_BS, _ = packed_inputs([[30, 34], [64]], 64)
    with torch.no_grad():
        ours = engine.module.eval()(input_ids=ids_BS, position_ids=position_ids_BS).logits
        theirs = hf(input_ids=ids_BS, position_ids=position_ids_BS).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)

    offline = export_hf(str(tmp_path / "run" / "checkpoints"), str(tmp_path / "hf-offline"))  # from files alone
    with torch.no_grad():
        again = AutoModelForCausalLM.from_pretrained(offline)(input_ids=ids_BS, position_ids=position_ids_BS).logits
    torch.testing.assert_close(again, theirs, rtol=0, atol=0)


def test_kill_9_then_resume_reproduces_the_uninterrupted_loss_curve(tiny_shards, tmp_path):
    cfg = tiny().model_copy(update={"max_steps": 10, "checkpoint_every": 3, "export_hf": False}).model_dump_json()
    ref_m, run_m = str(tmp_path / "ref.jsonl"), str(tmp_path / "run.jsonl")
    ref = spawn(entry_argv(cfg, tiny_shards, str(tmp_path / "ref"), "--metrics", ref_m))
    victim = spawn(entry_argv(cfg, tiny_shards, str(tmp_path / "run"), "--metrics", run_m))
    deadline = time.time() + 240
    while time.time() < deadline and (not os.path.exists(run_m) or len(open(run_m).readlines()) < 4):
        assert victim.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = max(_losses(run_m))
    assert killed_at < 10

    result_path = str(tmp_path / "result.json")
    resumed = spawn(entry_argv(cfg, tiny_shards, str(tmp_path / "run"), "--metrics", run_m, "--result", result_path))
    assert resumed.wait(timeout=300) == 0 and ref.wait(timeout=300) == 0
    result = json.load(open(result_path))
    assert result["resumed_from"] in (3, 6, 9) and result["resumed_from"] <= killed_at
    reference = _losses(ref_m)
    after = {m["step"]: m["loss"] for m in result["metrics"]}
    assert sorted(after) == list(range(result["resumed_from"] + 1, 11))
    assert after == {s: reference[s] for s in after}  # bit-identical on CPU fp32


def test_two_cpu_ranks_train_with_data_and_expert_parallel_groups(tiny_shards, tmp_path):
    cfg = tiny().model_copy(update={"ep_size": 2, "zero_stage": 2, "max_steps": 6, "checkpoint_every": 6})
    out, result_path, port = str(tmp_path / "run"), str(tmp_path / "result.json"), free_port()
    argv = entry_argv(cfg.model_dump_json(), tiny_shards, out, "--result", result_path)
    ranks = [spawn(argv, rank=r, world=2, port=port, log=str(tmp_path / f"rank{r}.log")) for r in range(2)]
    codes = [p.wait(timeout=300) for p in ranks]
    assert codes == [0, 0], open(tmp_path / "rank0.log").read()[-3000:]

    result = json.load(open(result_path))
    assert result["world_size"] == 2 and result["metrics"][0]["rows"] == 2 * cfg.micro_batch_size

    # One rank with grad-accum 2 sees the same rows per step (rank r takes rows r, r+2, ...; one rank takes them as
    # two micro-batches) from the same weights: expert dispatch and gradient averaging must not change the losses or
    # the gradient norms. The first two steps agree to fp32 summation order; later, Adam's sign-like early updates
    # (lr 3e-3) amplify that order noise to ~4e-4, so those are held to 1e-3 (doubled expert gradients move the
    # first grad norm by far more).
    one = cfg.model_copy(update={"ep_size": 1, "gradient_accumulation_steps": 2, "checkpoint_every": 0,
                                 "export_hf": False})
    ref = pretrain(one, tiny_shards, str(tmp_path / "one_rank"))["metrics"]
    ep = result["metrics"]
    assert [m["loss"] for m in ep[:2]] == pytest.approx([m["loss"] for m in ref[:2]], rel=1e-5)
    assert [m["grad_norm"] for m in ep[:2]] == pytest.approx([m["grad_norm"] for m in ref[:2]], rel=1e-4)
    assert [m["loss"] for m in ep] == pytest.approx([m["loss"] for m in ref], rel=1e-3)
    assert result["metrics"][-1]["loss"] < result["metrics"][0]["loss"]
    ckpt = result["checkpoints"][-1]["path"]
    experts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ckpt, "layer_0_expert_*_model_states.pt")))
    assert len(experts) == 4  # each EP rank saved its 2 of layer 0's 4 experts
    assert len(glob.glob(os.path.join(ckpt, "zero_pp_rank_*_optim_states.pt"))) == 2  # ZeRO-2 over 2 DP ranks
    hf = AutoModelForCausalLM.from_pretrained(result["hf_export"])
    assert hf.model.layers[0].mlp.experts.gate_up_proj.shape == (4, 64, 64)


def test_a_zero3_expert_parallel_checkpoint_exports_offline_like_the_live_engine(tiny_shards, tmp_path):
    # ZeRO-3 files hold only partitions (experts split over EP ranks too); the offline export must reassemble the
    # same model the live engine exported at the end of training.
    from safetensors.torch import load_file

    cfg = tiny().model_copy(update={"ep_size": 2, "zero_stage": 3, "max_steps": 3, "checkpoint_every": 3})
    result_path, port = str(tmp_path / "result.json"), free_port()
    argv = entry_argv(cfg.model_dump_json(), tiny_shards, str(tmp_path / "run"), "--result", result_path)
    ranks = [spawn(argv, rank=r, world=2, port=port, log=str(tmp_path / f"rank{r}.log")) for r in range(2)]
    assert [p.wait(timeout=300) for p in ranks] == [0, 0], open(tmp_path / "rank0.log").read()[-3000:]
    result = json.load(open(result_path))
    ckpt = result["checkpoints"][-1]["path"]
    assert glob.glob(os.path.join(ckpt, "zero_pp_rank_1_mp_rank_00_optim_states.pt"))  # really partitioned

    offline = export_hf(str(tmp_path / "run" / "checkpoints"), str(tmp_path / "offline"))
    live = load_file(os.path.join(result["hf_export"], "model.safetensors"))
    files = load_file(os.path.join(offline, "model.safetensors"))
    assert set(files) == set(live) and "model.layers.0.mlp.experts.3.gate_proj.weight" in live  # both EP ranks
    for name in live:
        torch.testing.assert_close(files[name], live[name], rtol=0, atol=0, msg=name)


def test_a_missing_checkpoint_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no DeepSpeed checkpoint folder"):
        export_hf(str(tmp_path / "nowhere"), str(tmp_path / "out"))


def test_steady_training_steps_never_make_deepspeed_wait_for_the_device(tiny_shards, tmp_path, monkeypatch):
    """DeepSpeed's throughput timer synchronises the device at every forward and step by default; the trainer turns
    it off (it times steps with CUDA events), so the host can queue the next micro-batches while the device works."""
    from deepspeed.accelerator import get_accelerator

    accelerator, waits, counting = get_accelerator(), [], [False]
    real = accelerator.synchronize

    def synchronize(*args, **kwargs):
        if counting[0]:
            waits.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(accelerator, "synchronize", synchronize)
    cfg = tiny().model_copy(update={"model_impl": "s1", "gradient_accumulation_steps": 2, "max_steps": 6,
                                    "checkpoint_every": 0, "export_hf": False})
    seen = []

    def on_step(m):
        seen.append(m["step"])
        counting[0] = m["step"] >= 2  # from step 3 on (metrics arrive a step late)

    pretrain(cfg, tiny_shards, str(tmp_path / "run"), on_step=on_step)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert waits == []
