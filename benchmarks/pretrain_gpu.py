"""s1-ref continued pretraining on one GPU: correctness, then tokens/s, MFU and memory, side by side.

    python benchmarks/pretrain_gpu.py [--steps 20] [--warmup 5] [--out benchmarks/out/pretrain_gpu.json]

Ways (each on the same synthetic packed shards, seq 2048, micro-batch 4, bf16):
  hf_eager     transformers Qwen3MoeForCausalLM + fused AdamW, plain PyTorch loop
  hf_compile   the same under torch.compile
  ds_autoep    s1model.train.pretrain: DeepSpeed ZeRO-1 + AutoEP (preset qwen3_moe), document masking, aux + z loss
  ds_native    s1model.train.pretrain with expert_parallel="none" (HF MoE blocks under DeepSpeed ZeRO-1)
Correctness: the first-step loss of ds_autoep and ds_native agree within bf16 noise, and an HF export of a short
ds_autoep run reproduces its logits. MFU = (6 x active params x tokens + 6 x layers x hidden x seq^2 x rows) /
time / peak (989 TFLOP/s for H100 SXM; pass --peak for others, e.g. 989e12 also for H200).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from s1model.config import s1_ref  # noqa: E402
from s1model.model import build_model, lm_loss, packed_inputs, train_flops  # noqa: E402
from s1model.train import pretrain  # noqa: E402


def write_shards(folder: str, rows: int, seq_len: int, vocab: int) -> list[str]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, size=(rows, seq_len), dtype=np.int32)
    lens = [np.diff([0, *sorted(rng.choice(np.arange(64, seq_len - 64), 3, replace=False)), seq_len]).tolist()
            for _ in range(rows)]
    table = pa.table({"input_ids": pa.array(ids.tolist(), pa.list_(pa.int32())),
                      "doc_lens": pa.array(lens, pa.list_(pa.int32())),
                      "domains": pa.array([["bench"] * len(x) for x in lens], pa.list_(pa.string())),
                      "doc_ids": pa.array([[str(j) for j in range(len(x))] for x in lens], pa.list_(pa.string()))})
    table = table.replace_schema_metadata({"s1.tokenizer_fingerprint": "bench", "s1.seq_len": str(seq_len)})
    path = os.path.join(folder, "bench.parquet")
    pq.write_table(table, path)
    return [path]


def bench_hf(cfg, steps: int, warmup: int, compile_: bool) -> dict:
    """Plain transformers training loop (the baseline the issue measured)."""
    model = build_model(cfg).cuda().to(torch.bfloat16)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, fused=True)
    fwd = torch.compile(model) if compile_ else model
    B, S = cfg.micro_batch_size, cfg.seq_len
    ids = torch.randint(0, cfg.model.vocab_size, (B, S), device="cuda")
    pos, mask = packed_inputs([[S // 4, S // 4, S // 2]] * B, S)
    pos, mask = pos.cuda(), mask.cuda()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fwd(input_ids=ids, position_ids=pos)
        loss = lm_loss(out.logits, ids, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    dt = statistics.median(times)
    res = {"tokens_per_s": B * S / dt, "mfu": train_flops(model.config, B, S) / dt / PEAK,
           "max_mem_gib": torch.cuda.max_memory_allocated() / 2**30, "loss": float(loss)}
    del model, opt, fwd
    torch.cuda.empty_cache()
    return res


def bench_ds(cfg, shards: list[str], out: str, steps: int, warmup: int) -> dict:
    torch.cuda.reset_peak_memory_stats()
    cfg = cfg.model_copy(update={"max_steps": steps, "checkpoint_every": 0, "export_hf": False, "warmup_steps": 2,
                                 "peak_flops": PEAK})
    r = pretrain(cfg, shards, out, resume=False)
    ms = r["metrics"][warmup:]
    res = {"tokens_per_s": statistics.median(m["tokens_per_s"] for m in ms),
           "mfu": statistics.median(m["mfu"] for m in ms), "max_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
           "first_loss": r["metrics"][0]["loss"], "loss": r["metrics"][-1]["loss"]}
    torch.cuda.empty_cache()
    return res


def check_export(shards: list[str], out: str) -> float:
    """Max |logit difference| between a 2-step ds_autoep run (reloaded engine) and its HF export, small shape."""
    from transformers import AutoModelForCausalLM

    from s1model.engine import build_engine

    cfg = s1_ref().model_copy(update={"max_steps": 2, "checkpoint_every": 2, "warmup_steps": 1})
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"num_layers": 2})})
    r = pretrain(cfg, shards, out, resume=False)
    engine = build_engine(build_model(cfg), cfg, 1)
    engine.load_checkpoint(os.path.join(out, "checkpoints"))
    hf = AutoModelForCausalLM.from_pretrained(r["hf_export"], dtype=torch.bfloat16).cuda().eval()
    ids = torch.randint(0, 32000, (1, 2048), device="cuda")
    with torch.no_grad():
        a = engine.module.eval()(input_ids=ids).logits.float()
        b = hf(input_ids=ids).logits.float()
    return float((a - b).abs().max())


PEAK = 989e12


def main() -> None:
    global PEAK
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--peak", type=float, default=989e12)
    p.add_argument("--ways", default="ds_autoep,ds_native,hf_eager,hf_compile")
    p.add_argument("--out", default=os.path.join(os.environ.get("OUT", "benchmarks/out"), "pretrain_gpu.json"))
    args = p.parse_args()
    PEAK = args.peak
    assert torch.cuda.is_available(), "this benchmark needs a GPU"
    cfg = s1_ref()
    tmp = tempfile.mkdtemp()
    shards = write_shards(tmp, 256, cfg.seq_len, cfg.model.vocab_size)
    results = {"device": torch.cuda.get_device_name(), "config": "s1_ref", "steps": args.steps,
               "torch": torch.__version__}
    for way in args.ways.split(","):
        t0 = time.time()
        if way == "hf_eager":
            results[way] = bench_hf(cfg, args.steps, args.warmup, compile_=False)
        elif way == "hf_compile":
            results[way] = bench_hf(cfg, args.steps, args.warmup, compile_=True)
        elif way == "ds_autoep":
            results[way] = bench_ds(cfg, shards, os.path.join(tmp, way), args.steps, args.warmup)
        elif way == "ds_native":
            results[way] = bench_ds(cfg.model_copy(update={"expert_parallel": "none"}), shards,
                                    os.path.join(tmp, way), args.steps, args.warmup)
        results[way]["wall_s"] = time.time() - t0
        print(way, json.dumps(results[way]), flush=True)
    if "ds_autoep" in results and "ds_native" in results:
        results["first_loss_gap_autoep_vs_native"] = abs(results["ds_autoep"]["first_loss"]
                                                         - results["ds_native"]["first_loss"])
    results["export_max_abs_logit_diff_bf16"] = check_export(shards, os.path.join(tmp, "export"))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
