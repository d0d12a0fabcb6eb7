"""Expert parallelism under DeepSpeed AutoEP: weak scaling and loss agreement, one GPU against N.

    PYTHONUNBUFFERED=1 python benchmarks/pretrain_ep.py --gpus 2 [--steps 20] [--warmup 5] [--out DIR/pretrain_ep.json]

Runs (each a `torchrun` of `s1model.train_entry`, the same entry point the `deepspeed` launcher starts per GPU;
s1-ref, model_impl="hf" + AutoEP preset qwen3_moe, ZeRO-1, micro-batch 4 per GPU, bf16, seq 2048, same seed and
shards):
  one          1 GPU, ep_size 1, grad-accum 1            -> the per-GPU throughput weak scaling is measured against
  one_ga{N}    1 GPU, ep_size 1, grad-accum N            -> the same global batch (and rows) as the N-GPU runs
  ep{N}        N GPUs, ep_size N: each GPU holds E/N experts of every layer, tokens dispatched all-to-all
  dp{N}        N GPUs, ep_size 1 (experts replicated, plain data parallel), for comparison

Weak-scaling efficiency = tokens/s of ep{N} (or dp{N}) / (N x tokens/s of one): per-GPU work is fixed (4 rows of 2048).
Loss agreement: the first steps of ep{N} against one_ga{N}, which sees exactly the same rows per step (the step's
global batch in stream order; rank r of N takes rows r, r+N, ...; one GPU takes them as N micro-batches) and starts
from the same weights, so any gap beyond bf16 noise is an error in expert dispatch or gradient averaging.
Timing: wall-clock time between consecutive steps' metric lines (each written after the step's metrics were read
back; the trainer reads a step one step late, so the last line, which follows the one before at once, is left out),
median after --warmup. Memory: the trainer's peak per GPU is not reported by train_entry, so `nvidia-smi` is sampled
during each run (max MiB over the GPUs).

--impl s1 runs the fast path (`model_impl="s1"`): one, one_ga and dp{N} keep its own grouped-GEMM experts; ep{N}
swaps AutoEP's layers into it (ep_size > 1).
--variant NAME:KEY=VALUE[,KEY=VALUE...] adds a run NAME: ep{N} with PretrainConfig fields overridden (dotted keys
reach nested models, values are JSON or plain strings), e.g. --variant ep2_async:autoep.async_split_plan=true and then
--runs one,ep,ep2_async. --profile DIR writes a torch.profiler table of rank 0 per run (s1model.train_entry --profile).
CPU smoke test (tiny recipe, gloo, 2 processes):  python benchmarks/pretrain_ep.py --device cpu --recipe tiny
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pretrain_gpu import _summary, write_shards  # noqa: E402

from s1model import config as recipes  # noqa: E402
from s1model.model import hf_config, train_flops  # noqa: E402


def _gpu_mem_sampler(stop: threading.Event, peak: list[int]) -> None:
    while not stop.wait(1.0):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
            peak[0] = max([peak[0], *(int(x) for x in out.split())])
        except Exception:  # noqa: BLE001  (no nvidia-smi on CPU)
            return


def with_overrides(cfg, pairs: str):
    """cfg with "a.b=1,c=x" applied: dotted keys reach nested models; values are JSON, else plain strings. (The
    CLI's `--set` parsing lives in flows/, which needs Prefect; the GPU machines this runs on do not have it.)"""
    data = cfg.model_dump()
    for pair in filter(None, pairs.split(",")):
        key, _, raw = pair.partition("=")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *path, last = key.split(".")
        node = data
        for part in path:
            node = node[part]
        if last not in node:
            raise SystemExit(f"--variant: unknown field {key!r}")
        node[last] = value
    return type(cfg).model_validate(data)


def run(name: str, cfg, nproc: int, shards: list[str], tmp: str, warmup: int, peak_flops: float,
        timeout: int, profile_dir: str | None = None) -> dict:
    out_dir = os.path.join(tmp, name)
    metrics = os.path.join(tmp, f"{name}.jsonl")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "s1model.train_entry", "--config", cfg.model_dump_json(), "--shards", *shards, "--out", out_dir,
           "--metrics", metrics, "--no-resume"]
    if profile_dir:
        cmd += ["--profile", os.path.join(profile_dir, f"pretrain_ep.profile_{name}.txt")]
    stop, mem = threading.Event(), [0]
    sampler = threading.Thread(target=_gpu_mem_sampler, args=(stop, mem), daemon=True)
    sampler.start()
    t0 = time.time()
    log = os.path.join(tmp, f"{name}.log")
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # torchrun's ranks run in their own sessions: kill the whole tree
            import psutil

            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()
            rc = "timeout"
    stop.set()
    if rc != 0 or not os.path.exists(metrics):
        return {"error": f"exit {rc}", "log_tail": open(log).read()[-2500:], "wall_s": time.time() - t0}
    ms = [json.loads(line) for line in open(metrics)]
    walls = [m["wall_time"] for m in ms]
    rows = ms[-1]["rows"]
    flops = train_flops(hf_config(cfg.model, cfg.attn_implementation), rows, cfg.seq_len)
    # MFU per GPU; the trainer reads a step back after queuing the next, so the last line follows at once: left out
    res = _summary(walls[1:-1], walls[0], warmup, rows, cfg.seq_len, flops, peak_flops * nproc)
    return {"gpus": nproc, "ep_size": cfg.ep_size, "grad_accum": cfg.gradient_accumulation_steps, "rows": rows,
            **res, "tokens_per_s_per_gpu": res["tokens_per_s"] / nproc,
            "losses": [m["loss"] for m in ms], "aux_losses": [m["aux_loss"] for m in ms],
            "grad_norms": [m["grad_norm"] for m in ms], "max_gpu_mem_mib": mem[0] or None,
            "wall_s": time.time() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gpus", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--compare-steps", type=int, default=5, help="first steps whose losses must agree")
    p.add_argument("--recipe", default="s1_ref")
    p.add_argument("--runs", default="one,one_ga,ep,dp")
    p.add_argument("--impl", choices=("hf", "s1"), default="hf",
                   help="hf: HF Qwen3-MoE + AutoEP; s1: model_impl='s1' (AutoEP only in the ep run)")
    p.add_argument("--peak", type=float, default=989e12)
    p.add_argument("--device", choices=("auto", "cpu"), default="auto")
    p.add_argument("--run-timeout", type=int, default=240)
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                   help="an extra run: ep{N} with these PretrainConfig overrides")
    p.add_argument("--set", default="", metavar="KEY=VALUE,...", help="overrides for every run")
    p.add_argument("--profile", metavar="DIR", help="write a torch.profiler table of rank 0 per run here")
    p.add_argument("--out", default=os.path.join(os.environ.get("OUT", "benchmarks/out"), "pretrain_ep.json"))
    args = p.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    n = args.gpus
    base = getattr(recipes, args.recipe)().model_copy(update={
        "max_steps": args.steps, "checkpoint_every": 0, "export_hf": False, "model_impl": args.impl,
        "expert_parallel": "autoep", "zero_stage": 1, "peak_flops": args.peak})  # s1: AutoEP only when ep_size > 1
    base = with_overrides(base, args.set)
    tmp = tempfile.mkdtemp(prefix="ep-")
    shards = write_shards(tmp, 64 * n, base.seq_len, base.model.vocab_size)
    plan = {"one": (base, 1), f"one_ga{n}": (base.model_copy(update={"gradient_accumulation_steps": n}), 1),
            f"ep{n}": (base.model_copy(update={"ep_size": n}), n), f"dp{n}": (base, n)}
    wanted = {"one": "one", "one_ga": f"one_ga{n}", "ep": f"ep{n}", "dp": f"dp{n}"}
    for spec in args.variant:
        vname, _, pairs = spec.partition(":")
        plan[vname] = (with_overrides(plan[f"ep{n}"][0], pairs), n)
        wanted[vname] = vname
    results = {"recipe": args.recipe, "gpus": n, "steps": args.steps, "warmup": args.warmup}
    try:
        import torch

        results.update(device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                       torch=torch.__version__)
        for mod in ("transformers", "deepspeed"):
            results[mod] = __import__(mod).__version__
    except Exception as e:  # noqa: BLE001
        results["versions_error"] = str(e)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for key in args.runs.split(","):
        name = wanted[key]
        cfg, nproc = plan[name]
        print(f"=== {name}", flush=True)
        results[name] = run(name, cfg, nproc, shards, tmp, args.warmup, args.peak, args.run_timeout, args.profile)
        print(name, json.dumps({k: v for k, v in results[name].items() if k not in ("step_times_s",)}), flush=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    results["impl"] = args.impl
    one, ref = results.get("one", {}), results.get(f"one_ga{n}", {})
    for key in (f"ep{n}", f"dp{n}", *(v.partition(":")[0] for v in args.variant)):  # each N-GPU run that ran
        multi = results.get(key, {})
        if "tokens_per_s" in one and "tokens_per_s" in multi:
            results[f"weak_scaling_efficiency_{key}"] = multi["tokens_per_s"] / (n * one["tokens_per_s"])
        if "losses" in ref and "losses" in multi:
            k = args.compare_steps
            gaps = [abs(a - b) / abs(b) for a, b in zip(multi["losses"][:k], ref["losses"][:k])]
            results[f"loss_rel_gap_first_steps_{key}"] = gaps
            results[f"loss_max_rel_gap_{key}"] = max(gaps)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}, indent=1))


if __name__ == "__main__":
    main()
