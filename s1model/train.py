"""Continued pretraining of a Qwen3-MoE under DeepSpeed: `pretrain(config, shard_paths, out_dir)`.

One optimizer step = gradient_accumulation_steps micro-batches per rank; each micro-batch is a forward with
per-document position ids (document masking), LM loss + aux_loss_coef x load-balance + z_loss_coef x z-loss (from
logits and router logits for model_impl="hf", from the model itself for "s1": model.forward_losses), and
`engine.backward` / `engine.step` (DeepSpeed clips, steps AdamW and the WSD LambdaLR at the boundary). Values stay
on the device during the step; one all-reduce of the logged scalars per step, read back one step late (after the
next step is queued), so the host stays ahead of the device.

Layout of out_dir:  checkpoints/step{N}/ (DeepSpeed), checkpoints/latest, checkpoints/hf_config.json,
                    checkpoints/pretrain_config.json, hf/ (Hugging Face export of the final weights).
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Callable

import torch

from s1model import engine as ds_glue
from s1model.config import PretrainConfig
from s1model.data import ShardStream, StepBatches, read_shards
from s1model.export import HF_CONFIG_NAME, export_hf
from s1model.fast_moe import cu_seqlens_of
from s1model.model import build_model, forward_losses, packed_inputs, train_flops
from s1model.parallel import ParallelLayout, all_reduce_mean, init_distributed

log = logging.getLogger(__name__)


def _tag(step: int) -> str:
    return f"step{step}"


def list_checkpoints(ckpt_dir: str) -> list[dict]:
    """Complete checkpoints under ckpt_dir as [{"path", "step"}], oldest first. A tag newer than `latest` is a
    save that was interrupted and is left out."""
    latest_file = os.path.join(ckpt_dir, "latest")
    if not os.path.exists(latest_file):
        return []
    latest = int(re.fullmatch(r"step(\d+)", open(latest_file).read().strip())[1])
    found = []
    for name in os.listdir(ckpt_dir):
        m = re.fullmatch(r"step(\d+)", name)
        if m and int(m[1]) <= latest and os.path.isdir(os.path.join(ckpt_dir, name)):
            found.append({"path": os.path.join(ckpt_dir, name), "step": int(m[1])})
    return sorted(found, key=lambda c: c["step"])


def _seed_host_rngs(seed: int, rank: int) -> None:
    """Python's and numpy's global RNGs from (seed, rank), so that any draw from them (a library's dropout mask, a
    sampler) is the same in every run; they start from OS entropy otherwise."""
    import random

    import numpy as np

    random.seed(seed * 1_000_003 + rank)
    np.random.seed((seed * 1_000_003 + rank) % 2**32)


def _rng_path(ckpt_dir: str, tag: str, rank: int) -> str:
    return os.path.join(ckpt_dir, tag, f"rng_rank{rank}.pt")


def save_rng_state(path: str) -> None:
    """This rank's RNG states (python, numpy, torch CPU, every CUDA device) to `path`, written whole (tmp + rename)
    before the DeepSpeed checkpoint whose folder holds it, so a checkpoint `latest` points at always has it. Plain
    tensors, ints and tuples: loadable with weights_only=True."""
    import random

    import numpy as np

    kind, key, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss,
                                                    gauss),
             "torch": torch.get_rng_state(),
             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_rng_state(path: str) -> bool:
    """Restore what save_rng_state wrote; False (states left alone) when the file is missing (an older checkpoint)."""
    import random

    import numpy as np

    if not os.path.exists(path):
        return False
    state = torch.load(path, weights_only=True)
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    return True


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host tensor to the device without a host sync: a copy from pageable memory waits for the whole GPU queue,
    one from pinned memory with non_blocking does not (the caching host allocator keeps the staging buffer alive)."""
    if torch.device(device).type != "cuda":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def _micro_inputs(input_ids, doc_lens, config: PretrainConfig, device, varlen: bool):
    """(input ids, position ids, loss mask, cu_seqlens or None) of one micro-batch, on the device."""
    position_ids_BS, loss_mask_BS = packed_inputs(doc_lens, config.seq_len, config.document_masking)
    cu = _to_device(cu_seqlens_of(doc_lens, config.seq_len), device) if varlen else None
    return (*(_to_device(t, device) for t in (torch.from_numpy(input_ids).long(), position_ids_BS, loss_mask_BS)),
            cu)


def _snapshot(sums: torch.Tensor, grad_norm) -> dict:
    """A step's logged values copied to host memory behind the step's work, without waiting for it: {"values":
    [*sums, grad_norm] (pinned, filled once "ready" has happened), "ready": a CUDA event, or None on CPU}. Reading
    them back with `.tolist()` later would wait for everything queued by then, the next step included."""
    norm = torch.as_tensor(float("nan") if grad_norm is None else grad_norm, dtype=sums.dtype, device=sums.device)
    values = torch.cat([sums, norm.reshape(1)])
    if values.device.type != "cuda":
        return {"values": values, "ready": None}
    host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
    host.copy_(values, non_blocking=True)
    return {"values": host, "ready": _event(values.device)}


def _event(device) -> "torch.cuda.Event | None":
    """A timing CUDA event queued on the current stream now (None off CUDA)."""
    if torch.device(device).type != "cuda":
        return None
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


def _local_grad_norm(module: torch.nn.Module) -> torch.Tensor:
    """L2 norm of this rank's gradients, before clipping (in fp32)."""
    norms = [p.grad.float().norm() for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


def pretrain(config: PretrainConfig, shard_paths: list[str], out_dir: str, resume: bool = True,
             on_step: Callable[[dict], None] | None = None) -> dict:
    """Train `config.max_steps` optimizer steps on the shards; resume from out_dir/checkpoints when asked.

    Run on every rank (the `deepspeed` launcher, see s1model.launch) or alone. `on_step(metrics)` is called on rank
    0 after each optimizer step. Returns {"final_step", "resumed_from", "checkpoints": [{"path", "step"}],
    "hf_export": path | None, "metrics": [per-step dicts of this run], "world_size", "timings": {"build_model_s",
    "engine_s", "resume_s" (when resumed), "checkpoint_s": [per save], "export_s" (when exported)}}.
    """
    init_distributed()
    layout = ParallelLayout.current(config.ep_size)
    ckpt_dir = os.path.join(out_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)

    resuming = resume and os.path.exists(os.path.join(ckpt_dir, "latest"))
    timings: dict = {"checkpoint_s": []}
    t_build = time.perf_counter()
    # seeds torch with config.seed; a sharded (ZeRO-3) resume skips reading init_from: the checkpoint overwrites it
    model = build_model(config, load_weights=not resuming)
    timings["build_model_s"] = time.perf_counter() - t_build
    _seed_host_rngs(config.seed, layout.rank)
    hf_cfg = model.config
    if config.stream_window_row_groups:
        rows = ShardStream(shard_paths, config.seq_len, hf_cfg.vocab_size, config.seed, config.stream_window_row_groups)
    else:
        rows = read_shards(shard_paths, config.seq_len, hf_cfg.vocab_size)
    if layout.rank == 0:
        hf_cfg.to_json_file(os.path.join(ckpt_dir, HF_CONFIG_NAME))
        with open(os.path.join(ckpt_dir, "pretrain_config.json"), "w") as f:
            f.write(config.model_dump_json(indent=2))
    t_engine = time.perf_counter()
    if config.uses_sharded_init():
        from s1model import load

        engine = load.build_engine(model, config, layout.world_size)
    else:
        engine = ds_glue.build_engine(model, config, layout.world_size)
    timings["engine_s"] = time.perf_counter() - t_engine
    device = engine.device

    start = 0
    if resuming:
        t_resume = time.perf_counter()
        _, client = engine.load_checkpoint(ckpt_dir)
        timings["resume_s"] = time.perf_counter() - t_resume
        start = int(client["step"])
        if not load_rng_state(_rng_path(ckpt_dir, _tag(start), layout.rank)):
            log.warning("checkpoint %s has no RNG state for rank %d: random draws after it may differ",
                        _tag(start), layout.rank)
        log.info("resumed from %s at step %d", ckpt_dir, start)

    batches = StepBatches(rows, config, layout.dp_rank, layout.dp_size)
    top_k, n_layers = hf_cfg.num_experts_per_tok, hf_cfg.num_hidden_layers
    metrics_log: list[dict] = []
    engine.train()
    pending: dict | None = None  # the last step's metrics, still on the device
    n_exp = hf_cfg.num_experts

    def emit(p: dict) -> None:
        """Read a step's metrics back (waits for that step on the device) and report them. Called one step late,
        after the next step's work is queued, so the host never waits for the device inside the loop and the device
        never waits for the host between steps. step_time_s on CUDA is the device's time between two events, one
        queued at the step's start (it fires when the device reaches it: when the previous step is done, or when the
        host queued it if the device was idle) and one after the step's work; on CPU, wall time."""
        if p["ready"] is not None:
            p["ready"].synchronize()  # this step's work only: later queued steps keep running
            dt = p["started"].elapsed_time(p["ready"]) / 1000
        else:
            dt = time.perf_counter() - p["t0"]
        vals = p["values"].tolist()
        m = {"step": p["step"], "loss": vals[0], "aux_loss": vals[1], "z_loss": vals[2], "grad_norm": vals[-1],
             "lr": p["lr"]}
        rows = p["rows"]
        m.update(rows=rows, tokens=rows * config.seq_len, tokens_per_s=rows * config.seq_len / dt,
                 mfu=train_flops(hf_cfg, rows, config.seq_len) / dt / (config.peak_flops * layout.world_size),
                 step_time_s=dt, expert_load=[vals[3 + i * n_exp:3 + (i + 1) * n_exp] for i in range(n_layers)])
        metrics_log.append(m)
        if on_step is not None and layout.rank == 0:
            on_step(m)

    # the documents' boundaries for varlen attention, computed on the host (on the device they would need a sync)
    varlen = (config.model_impl == "s1" and config.document_masking and torch.device(device).type == "cuda"
              and config.fast_moe.attention == "varlen")
    for step in range(start, config.max_steps):
        t0 = time.perf_counter()
        started = _event(device)
        lr = engine.get_lr()[0]
        sums = torch.zeros(3 + n_layers * n_exp, device=device)  # lm, aux, z, expert load L*E
        micro = batches.micro_batches(step)
        # every micro-batch of the step on its way to the device before the first forward: the host prepares them
        # while the device still runs the previous step, instead of between a backward and the next forward
        inputs = [_micro_inputs(input_ids, doc_lens, config, device, varlen) for input_ids, doc_lens in micro]
        grad_norm = None
        for i, (ids_BS, position_ids_BS, loss_mask_BS, cu) in enumerate(inputs):
            lm, aux, z, load_LE = forward_losses(engine, ids_BS, position_ids_BS, loss_mask_BS, config, top_k, cu)
            engine.backward(lm + config.aux_loss_coef * aux + config.z_loss_coef * z)
            if config.zero_stage == 0 and i == len(micro) - 1:
                grad_norm = _local_grad_norm(engine.module)  # ZeRO-0 engines do not report the norm
            engine.step()
            sums += torch.cat([torch.stack([lm, aux, z]).detach(), load_LE.flatten()])
        sums = all_reduce_mean(sums / len(micro))
        if grad_norm is None:
            grad_norm = engine.get_global_grad_norm()  # pre-clipping global norm (ZeRO 1-3), a device tensor
        if pending is not None:
            emit(pending)
        done = step + 1
        pending = {"step": done, "t0": t0, "started": started, "lr": float(lr), "rows": batches.rows_per_step(step),
                   **_snapshot(sums, grad_norm)}
        if config.checkpoint_every and (done % config.checkpoint_every == 0 or done == config.max_steps):
            emit(pending)  # a checkpoint's step is reported before it is saved
            pending = None
            t_save = time.perf_counter()
            save_rng_state(_rng_path(ckpt_dir, _tag(done), layout.rank))  # before `latest` names the tag
            engine.save_checkpoint(ckpt_dir, tag=_tag(done), client_state={"step": done})
            timings["checkpoint_s"].append(time.perf_counter() - t_save)
            log.info("step %d: loss %.4f, checkpoint %s", done, metrics_log[-1]["loss"], _tag(done))
    if pending is not None:
        emit(pending)

    hf_export = None
    if config.export_hf:
        t_export = time.perf_counter()
        hf_export = export_hf(engine, os.path.join(out_dir, "hf"), hf_config=hf_cfg)
        timings["export_s"] = time.perf_counter() - t_export
    torch.distributed.barrier()
    return {"final_step": max(start, config.max_steps), "resumed_from": start,
            "checkpoints": list_checkpoints(ckpt_dir), "hf_export": hf_export, "metrics": metrics_log,
            "world_size": layout.world_size, "timings": timings}
