"""s1-ref continued pretraining on one GPU: correctness, then tokens/s, MFU and memory, side by side.

    PYTHONUNBUFFERED=1 python benchmarks/pretrain_gpu.py [--steps 20] [--warmup 5] [--out DIR/pretrain_gpu.json]

Ways (each in its own process, so memory, compile caches and DeepSpeed globals never leak between them; all on the
same synthetic packed shards, seq 2048, micro-batch 4, bf16, same seed so the same initial weights):
  hf_eager     transformers Qwen3MoeForCausalLM in bf16 + fused AdamW, plain PyTorch loop
  hf_compile   the same with the model under torch.compile; hf_eager_gaN / hf_compile_gaN: N micro-batches of 4
               rows per optimizer step (gradient accumulation), to compare with ds_s1_gaN
  ds_autoep    s1model.train.pretrain: DeepSpeed ZeRO-1 + AutoEP (preset qwen3_moe), document masking, aux + z loss;
               ds_autoep_gaN with gradient accumulation
  ds_native    s1model.train.pretrain with expert_parallel="none" (HF MoE blocks under DeepSpeed ZeRO-1)
  ds_s1        s1model.train.pretrain with model_impl="s1" (s1model/fast_moe.py: grouped-GEMM experts, FlexAttention
               document masking, fused linear + cross-entropy, compiled decoder blocks) under DeepSpeed ZeRO-1
  ds_s1_ga8    the same with gradient_accumulation_steps=8 (32 rows per optimizer step: the optimizer step is
               amortised over 8 micro-batches of 4); reported beside, never instead of, ds_s1
  ds_s1_*      variants by suffix (s1_variant): _gaN, _zN (ZeRO stage), _varlen / _flex (attention), _sync
               (DeepSpeed's own clip and overflow check); profile_s1_* the same
               under torch.profiler, cprofile_s1_* the host's Python under cProfile
The HF loops train on exactly the rows the trainer's step 0 sees, with the same document masking, so the first-step
LM losses of hf_eager, hf_compile, ds_autoep, ds_native and ds_s1 must agree within bf16 noise. `export` runs a
2-layer ds_autoep for 2 steps, reloads the checkpoint into a fresh engine and compares its logits with the HF
export's (from_pretrained); `export_s1` does the same for model_impl="s1" and also compares the s1 model in fp32
(document-masked rows, FlexAttention on CUDA) with transformers in fp32 on the same weights.
`profile_autoep`, `profile_native`, `profile_s1`, `profile_s1_ga8`: torch.profiler kernel tables of 3 steady steps
(and their timeline, `*.trace.json.gz`).

CPU smoke test of the whole script (tiny recipe, every way, a few steps):
    python benchmarks/pretrain_gpu.py --device cpu --recipe tiny --steps 3 --warmup 1

Timing: the wall time between the trainer's metric read-backs of consecutive optimizer steps (each waits for its
step on the device; the trainer reads a step back after queuing the next, so the last step is left out), median over
the steps after `--warmup`; the trainer's own figure (CUDA events around each step) is reported beside it as
`trainer_tokens_per_s`.
MFU = (6 x active params x tokens + 6 x layers x hidden x seq^2 x rows) / time / peak (989 TFLOP/s, H100 SXM dense
bf16; the same figure is used for H200, whose bf16 peak is the same).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from s1model import config as recipes  # noqa: E402
from s1model.model import build_model, lm_loss, packed_inputs, train_flops  # noqa: E402

WAYS = ("hf_eager", "hf_compile", "ds_autoep", "ds_native", "ds_s1")  # same rows per step: first losses agree
EXTRA_WAYS = ("ds_s1_ga8", "export", "export_s1")


def write_shards(folder: str, rows: int, seq_len: int, vocab: int) -> list[str]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, size=(rows, seq_len), dtype=np.int32)
    lo, hi = seq_len // 32, seq_len - seq_len // 32
    lens = [np.diff([0, *sorted(rng.choice(np.arange(lo, hi), 3, replace=False)), seq_len]).tolist()
            for _ in range(rows)]
    table = pa.table({"input_ids": pa.array(ids.tolist(), pa.list_(pa.int32())),
                      "doc_lens": pa.array(lens, pa.list_(pa.int32())),
                      "domains": pa.array([["bench"] * len(x) for x in lens], pa.list_(pa.string())),
                      "doc_ids": pa.array([[str(j) for j in range(len(x))] for x in lens], pa.list_(pa.string()))})
    table = table.replace_schema_metadata({"s1.tokenizer_fingerprint": "bench", "s1.seq_len": str(seq_len)})
    path = os.path.join(folder, "bench.parquet")
    pq.write_table(table, path)
    return [path]


def _mem() -> dict:
    if not torch.cuda.is_available():
        return {}
    return {"max_mem_alloc_gib": torch.cuda.max_memory_allocated() / 2**30,
            "max_mem_reserved_gib": torch.cuda.max_memory_reserved() / 2**30}


def _summary(step_ends: list[float], t_start: float, warmup: int, rows: int, seq: int, flops: float,
             peak: float) -> dict:
    dts = [b - a for a, b in zip([t_start, *step_ends[:-1]], step_ends)]
    dt = statistics.median(dts[warmup:])
    return {"step_time_s": dt, "tokens_per_s": rows * seq / dt, "mfu": flops / dt / peak,
            "step_times_s": [round(x, 4) for x in dts]}


def bench_hf(cfg, shards: list[str], steps: int, warmup: int, compile_: bool, peak: float,
             grad_accum: int = 1) -> dict:
    """Plain transformers training loop (the baseline the issue measured), on the trainer's step-0 rows;
    grad_accum micro-batches (the same rows again) per optimizer step."""
    from s1model.data import StepBatches, read_shards

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    rows = read_shards(shards, cfg.seq_len, cfg.model.vocab_size)
    (ids_np, doc_lens), = StepBatches(rows, cfg, 0, 1).micro_batches(0)
    model = build_model(cfg).to(dev).to(torch.bfloat16)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, fused=dev == "cuda")
    fwd = torch.compile(model) if compile_ else model
    B, S = ids_np.shape
    ids = torch.from_numpy(ids_np).long().to(dev)
    pos, mask = packed_inputs(doc_lens, S, cfg.document_masking)
    pos, mask = pos.to(dev), mask.to(dev)
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    losses, ends = [], []
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    sync()
    t_start = time.perf_counter()
    for _ in range(steps):
        for _ in range(grad_accum):
            out = fwd(input_ids=ids, position_ids=pos)
            loss = lm_loss(out.logits, ids, mask)
            (loss / grad_accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())  # syncs
        ends.append(time.perf_counter())
    res = _summary(ends, t_start, warmup, B * grad_accum, S, train_flops(model.config, B * grad_accum, S), peak)
    res.update(_mem(), first_loss=losses[0], loss=losses[-1], losses=losses)
    return res


def bench_ds(cfg, shards: list[str], out: str, steps: int, warmup: int, peak: float) -> dict:
    from s1model.train import pretrain

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    cfg = cfg.model_copy(update={"max_steps": steps, "checkpoint_every": 0, "export_hf": False, "peak_flops": peak})
    ends: list[float] = []
    t_start = [0.0]

    def on_step(m: dict) -> None:  # called after the step's metrics were read back, i.e. after a device sync
        ends.append(time.perf_counter())
        if m["step"] == 1:
            t_start[0] = ends[0] - m["step_time_s"]

    r = pretrain(cfg, shards, out, resume=False, on_step=on_step)
    ms = r["metrics"]
    rows = ms[-1]["rows"]
    # the trainer reads a step's metrics back one step late, so the last read follows the one before at once
    res = _summary(ends[:-1], t_start[0], warmup, rows, cfg.seq_len,
                   train_flops(build_hf_cfg(cfg), rows, cfg.seq_len), peak)
    res.update(_mem(), trainer_tokens_per_s=statistics.median(m["tokens_per_s"] for m in ms[warmup:]),
               trainer_mfu=statistics.median(m["mfu"] for m in ms[warmup:]),
               first_loss=ms[0]["loss"], loss=ms[-1]["loss"], losses=[m["loss"] for m in ms],
               aux_loss=ms[-1]["aux_loss"], z_loss=ms[-1]["z_loss"], grad_norm_first=ms[0]["grad_norm"])
    return res


def build_hf_cfg(cfg):
    from s1model.model import hf_config

    return hf_config(cfg.model, cfg.attn_implementation)


def check_export(cfg, shards: list[str], out: str) -> dict:
    """Logits of a 2-step, 2-layer run (checkpoint reloaded into a fresh engine) vs its HF export; for
    model_impl="s1" also the s1 model vs transformers, both fp32, on document-masked rows."""
    from transformers import AutoModelForCausalLM

    from s1model.engine import build_engine
    from s1model.train import pretrain

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = cfg.model_copy(update={"max_steps": 2, "checkpoint_every": 2, "warmup_steps": 1, "export_hf": True,
                                 "model": cfg.model.model_copy(update={"num_layers": 2})})
    r = pretrain(cfg, shards, out, resume=False)
    engine = build_engine(build_model(cfg), cfg, 1)
    engine.load_checkpoint(os.path.join(out, "checkpoints"))
    dtype = next(engine.module.parameters()).dtype
    hf = AutoModelForCausalLM.from_pretrained(r["hf_export"], dtype=dtype).to(dev).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg.model.vocab_size, (1, cfg.seq_len), generator=g).to(dev)
    with torch.no_grad():
        a = engine.module.eval()(input_ids=ids).logits.float()
        b = hf(input_ids=ids).logits.float()
        # fp32 reference: the same exported weights upcast, computed in true fp32 (no TF32), to tell bf16 noise
        # (both bf16 paths equally far from it) from a conversion error (the engine far, HF near).
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        ref = hf.float()(input_ids=ids).logits.float()

    def rel(x):
        return float((x - ref).norm() / ref.norm())

    extra = {}
    if cfg.model_impl == "s1":
        from s1model.fast_moe import FastQwen3Moe

        # hf is fp32 now; the s1 model takes over the same tensors. Uncompiled, so FlexAttention runs as its own
        # compiled kernel and the experts take the fp32 per-expert path.
        s1_32 = FastQwen3Moe.from_hf(hf, cfg.fast_moe.model_copy(update={"compile": "off"})).eval()
        S = cfg.seq_len
        pos, _ = packed_inputs([[S // 4, S // 2, S - S // 4 - S // 2]], S)
        pos = pos.to(dev)
        with torch.no_grad():
            x = s1_32(input_ids=ids, position_ids=pos, document_mask=True).logits.float()
            y = hf(input_ids=ids, position_ids=pos).logits.float()
        extra = {"s1_fp32_vs_hf_fp32_doc_masked_max_abs": float((x - y).abs().max()),
                 "s1_fp32_vs_hf_fp32_doc_masked_rel_l2": float((x - y).norm() / y.norm())}
    return {**extra, "export_max_abs_logit_diff": float((a - b).abs().max()),
            "export_rel_l2_logit_diff": float((a - b).norm() / b.norm()),
            "export_argmax_agree": float((a.argmax(-1) == b.argmax(-1)).float().mean()), "dtype": str(dtype),
            "engine_vs_fp32_rel_l2": rel(a), "hf_bf16_vs_fp32_rel_l2": rel(b),
            "engine_vs_fp32_argmax_agree": float((a.argmax(-1) == ref.argmax(-1)).float().mean()),
            "hf_bf16_vs_fp32_argmax_agree": float((b.argmax(-1) == ref.argmax(-1)).float().mean())}


def profile_ds(cfg, shards: list[str], out: str, table_path: str, steps: int = 7) -> dict:
    """CUDA kernel time of 3 steady ds steps (torch.profiler), top kernels written to table_path."""
    from s1model.train import pretrain
    from s1model.train_entry import step_profiler, write_profile_table

    cfg = cfg.model_copy(update={"max_steps": steps, "checkpoint_every": 0, "export_hf": False})
    with step_profiler() as prof:
        pretrain(cfg, shards, out, resume=False, on_step=lambda m: prof.step())
    table = write_profile_table(prof, table_path, sort_by="total", row_limit=60, max_name_column_width=90)
    print(table, flush=True)
    trace = os.path.join(out, "trace.json")  # timeline of the 3 profiled steps (chrome://tracing, Perfetto)
    prof.export_chrome_trace(trace)
    with open(trace, "rb") as src, gzip.open(table_path.replace(".txt", ".trace.json.gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    return {"table": os.path.basename(table_path)}


def s1_variant(s1, suffix: str):
    """ds_s1 variants by name suffix, e.g. ds_s1_ga8_z2_varlen: _gaN gradient accumulation, _zN ZeRO stage,
    _varlen / _flex attention kernel, _sync DeepSpeed's own clip + overflow check (a host sync per step)."""
    update, fast = {}, {}
    for tok in filter(None, suffix.split("_")):
        if tok.startswith("ga"):
            update["gradient_accumulation_steps"] = int(tok[2:])
        elif tok.startswith("z"):
            update["zero_stage"] = int(tok[1:])
        elif tok in ("varlen", "flex"):
            fast["attention"] = tok
        elif tok == "sync":
            fast["sync_free_step"] = False
        else:
            raise ValueError(f"unknown ds_s1 variant part {tok!r}")
    return s1.model_copy(update={**update, "fast_moe": s1.fast_moe.model_copy(update=fast)})


def cprofile_ds(cfg, shards: list[str], out: str, table_path: str, steps: int = 12, first: int = 6) -> dict:
    """Host-side Python profile (cProfile) of steps first+1..steps of a ds run: where the host's time per step goes
    (DeepSpeed, autograd, the compiled blocks' launch code), written to table_path."""
    import cProfile
    import io
    import pstats

    from s1model.train import pretrain

    cfg = cfg.model_copy(update={"max_steps": steps, "checkpoint_every": 0, "export_hf": False})
    prof = cProfile.Profile()

    def on_step(m: dict) -> None:  # metrics arrive one step late: step `first` read back means step first+1 runs
        if m["step"] == first:
            prof.enable()

    pretrain(cfg, shards, out, resume=False, on_step=on_step)
    prof.disable()
    buf = io.StringIO()
    for key in ("tottime", "cumulative"):
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(45)
    os.makedirs(os.path.dirname(table_path), exist_ok=True)
    with open(table_path, "w") as f:
        f.write(buf.getvalue())
    print(buf.getvalue()[:12000], flush=True)
    return {"table": os.path.basename(table_path)}


def run_one(args) -> dict:
    cfg = getattr(recipes, args.recipe)()
    s1 = cfg.model_copy(update={"model_impl": "s1"})
    t0 = time.time()
    if args.one.startswith(("hf_eager", "hf_compile")):  # optional _gaN suffix: gradient accumulation
        name, _, ga = args.one.partition("_ga")
        res = bench_hf(cfg, args.shards, args.steps, args.warmup, name == "hf_compile", args.peak, int(ga or 1))
    elif args.one.startswith("ds_autoep"):  # optional _gaN suffix
        ga = int(args.one.partition("_ga")[2] or 1)
        res = bench_ds(cfg.model_copy(update={"gradient_accumulation_steps": ga}), args.shards,
                       os.path.join(args.tmp, args.one), args.steps, args.warmup, args.peak)
    elif args.one == "ds_native":
        res = bench_ds(cfg.model_copy(update={"expert_parallel": "none"}), args.shards,
                       os.path.join(args.tmp, "ds_native"), args.steps, args.warmup, args.peak)
    elif args.one.startswith("ds_s1"):
        res = bench_ds(s1_variant(s1, args.one[len("ds_s1"):]), args.shards, os.path.join(args.tmp, args.one),
                       args.steps, args.warmup, args.peak)
    elif args.one.startswith("cprofile_s1"):
        res = cprofile_ds(s1_variant(s1, args.one[len("cprofile_s1"):]), args.shards, os.path.join(args.tmp, args.one),
                          os.path.join(os.path.dirname(os.path.abspath(args.out)), f"{args.one}.txt"))
    elif args.one in ("profile_autoep", "profile_native") or args.one.startswith("profile_s1"):
        c = {"profile_autoep": cfg, "profile_native": cfg.model_copy(update={"expert_parallel": "none"})}.get(
            args.one) or s1_variant(s1, args.one[len("profile_s1"):])
        res = profile_ds(c, args.shards, os.path.join(args.tmp, args.one),
                         os.path.join(os.path.dirname(os.path.abspath(args.out)), f"{args.one}.txt"))
    elif args.one in ("export", "export_s1"):
        res = check_export(cfg if args.one == "export" else s1, args.shards, os.path.join(args.tmp, args.one))
    else:
        raise ValueError(args.one)
    res["wall_s"] = time.time() - t0
    return res


def _write(path: str, results: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--peak", type=float, default=989e12)
    p.add_argument("--recipe", default="s1_ref", help="s1_ref (the issue's); tiny for a CPU smoke test")
    p.add_argument("--ways", default=",".join(WAYS + EXTRA_WAYS))
    p.add_argument("--device", choices=("auto", "cpu"), default="auto", help="cpu hides the GPUs (smoke test)")
    p.add_argument("--way-timeout", type=int, default=270, help="seconds before one way's process is killed")
    p.add_argument("--out", default=os.path.join(os.environ.get("OUT", "benchmarks/out"), "pretrain_gpu.json"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--shards", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("--tmp", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before CUDA is first touched; the way processes inherit it
    if args.one:
        res = run_one(args)
        with open(args.json, "w") as f:
            json.dump(res, f)
        return

    if args.recipe == "s1_ref":
        assert torch.cuda.is_available(), "this benchmark needs a GPU"
    cfg = getattr(recipes, args.recipe)()
    tmp = tempfile.mkdtemp()
    shards = write_shards(tmp, 256, cfg.seq_len, cfg.model.vocab_size)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
               "config": args.recipe, "steps": args.steps, "warmup": args.warmup, "peak_flops": args.peak,
               "torch": torch.__version__}
    for mod in ("transformers", "deepspeed", "pydantic"):
        try:
            results[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            results[mod] = f"missing: {e}"
    for way in args.ways.split(","):
        js = os.path.join(tmp, f"{way}.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--one", way, "--recipe", args.recipe, "--steps",
               str(args.steps), "--warmup", str(args.warmup), "--peak", str(args.peak), "--tmp", tmp, "--json", js,
               "--out", args.out, "--device", args.device, "--shards", *shards]
        t0 = time.time()
        print(f"=== {way}", flush=True)
        try:
            rc = subprocess.run(cmd, timeout=args.way_timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        if rc == 0 and os.path.exists(js):
            results[way] = json.load(open(js))
        else:
            results[way] = {"error": f"exit {rc}", "wall_s": time.time() - t0}
        print(way, json.dumps({k: v for k, v in results[way].items() if k not in ("losses", "step_times_s")}),
              flush=True)
        _write(args.out, results)  # after every way, so a killed run still leaves what it measured
    firsts = {w: results[w]["first_loss"] for w in WAYS if "first_loss" in results.get(w, {})}
    if len(firsts) > 1:
        results["first_loss_max_gap"] = max(firsts.values()) - min(firsts.values())
    _write(args.out, results)
    print(f"\n{'way':<22}{'tok/s':>10}{'MFU':>8}{'step s':>9}{'alloc GiB':>11}{'first loss':>12}")
    for w in [w for w in results if w in WAYS or w.startswith("ds_s1")]:
        r = results.get(w)
        if r is None:
            continue
        if "error" in r:
            print(f"{w:<22}  {r['error']}")
            continue
        print(f"{w:<22}{r['tokens_per_s']:>10.0f}{100 * r['mfu']:>7.1f}%{r['step_time_s']:>9.3f}"
              f"{r.get('max_mem_alloc_gib', float('nan')):>11.1f}{r['first_loss']:>12.4f}")
    print("first_loss_max_gap", results.get("first_loss_max_gap"))
    for w in ("export", "export_s1"):
        print(w, results.get(w))


if __name__ == "__main__":
    main()
