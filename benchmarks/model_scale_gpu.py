"""Qwen3-30B-A3B at full width on one GPU through the sharded ZeRO-3 path (issue #19 item 1).

    PYTHONUNBUFFERED=1 python3 benchmarks/model_scale_gpu.py --layers 8 --cycle-layers 2 --out $OUT/model_scale.json

Random weights are written in the Hugging Face layout published for Qwen3-30B-A3B (per-expert safetensors, an
index, config.json) at its full width: 128 experts top-8, hidden 2048, expert width 768, 32 query / 4 KV heads of
128, vocabulary 151936, untied lm_head, with `--layers` of its 48 layers. Then `s1model.train.pretrain` runs on them
unchanged (what `s1 run pretrain --set init=...` runs): ZeRO-3 with `sharded_init` (zero.Init partitions filled from
the safetensors), bf16, the optimizer offloaded to the host (`offload_optimizer="cpu"`), `--new-ids` tokenizer ids
beyond the checkpoint's vocabulary (the embedding and lm_head grown in the partitions). Phases, each in fresh
processes, results appended to --out as they finish:
  scale    write the checkpoint of --layers layers; train --steps optimizer steps (GA --ga, micro-batch 4 x 2048);
           export back to HF layout (timed; its index counted). No DeepSpeed checkpoint: at 12 bytes
           per parameter of fp32 master + Adam state it would not fit the 64 GiB disk beside the weights.
  cycle    the same at --cycle-layers: 2 steps + checkpoint; a fresh process resumes and trains step 3 + exports; a
           third trains 3 steps straight; the resumed step-3 loss must equal the straight one, transformers'
           from_pretrained must load the export and hold its values.
  load     (--phases load) build_model alone at --layers, plain (from_pretrained in fp32 on the rank, then ZeRO-3
           partitions it) against sharded, each in a fresh process: load time, peak host memory.
  scale_s1 (with --s1) the scale run's steps with model_impl="s1" (grouped-GEMM experts, fused CE; uncompiled
           under ZeRO-3), no export.
Measured per run: checkpoint write time, load time (build_model: zero.Init + streamed partitions), engine set-up,
step time and tokens/s (the trainer's per-step CUDA-event time, median of the steps after the first; and the whole
loop's average, warm-up step included), peak host RSS (sampled every 0.2 s, and ru_maxrss), peak GPU memory
(allocator), checkpoint save / resume / export times.

`--plan` prints the capacity tables of docs/capacity.md (arithmetic, no GPU).

CPU smoke test of the whole script (tiny widths, every phase):
    python benchmarks/model_scale_gpu.py --tiny --layers 2 --cycle-layers 1 --steps 2 --ga 1 --s1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

QWEN3_30B_A3B = dict(vocab_size=151936, hidden_size=2048, num_attention_heads=32, num_key_value_heads=4, head_dim=128,
                     num_experts=128, num_experts_per_tok=8, moe_intermediate_size=768, intermediate_size=6144,
                     norm_topk_prob=True, rms_norm_eps=1e-6, max_position_embeddings=40960,
                     rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, tie_word_embeddings=False,
                     decoder_sparse_step=1, mlp_only_layers=[], initializer_range=0.02)
TINY = dict(QWEN3_30B_A3B, vocab_size=512, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
            num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, intermediate_size=64)


# --- measuring -----------------------------------------------------------------------------------------------------

class HostPeak:
    """Peak resident memory of this process, sampled every 0.2 s (pinned host buffers count: they are resident)."""

    def __init__(self):
        import psutil

        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.2)

    def read(self) -> dict:
        self.peak = max(self.peak, self.proc.memory_info().rss)
        return {"host_rss_peak_gib": self.peak / 2**30,
                "host_ru_maxrss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def gpu_peak() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu_alloc_peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            "gpu_reserved_peak_gib": torch.cuda.max_memory_reserved() / 2**30}


# --- the checkpoint --------------------------------------------------------------------------------------------------

def write_checkpoint(folder: str, layers: int, tiny: bool, seed: int = 0) -> dict:
    """Random bf16 weights (N(0, 0.02), norms 1) of Qwen3-30B-A3B's widths with `layers` layers, in the Hub's
    layout: one safetensors file per decoder layer plus one for embeddings / final norm / lm_head, an index and
    config.json. Drawn on the GPU when there is one; one layer in host memory at a time."""
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    from s1model.export import hf_original_items

    t0 = time.perf_counter()
    cfg = Qwen3MoeConfig(**(TINY if tiny else QWEN3_30B_A3B), num_hidden_layers=layers)
    with torch.device("meta"):
        shapes = {n: tuple(p.shape) for n, p in Qwen3MoeForCausalLM(cfg).named_parameters()}
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(dev).manual_seed(seed)
    groups: dict[str, list[str]] = {}
    for name in shapes:
        part = name.split(".")[2] if name.startswith("model.layers.") else "rest"
        groups.setdefault(part, []).append(name)
    os.makedirs(folder, exist_ok=True)
    files = [f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors" for i in range(len(groups))]
    weight_map, total = {}, 0
    for (part, names), fname in zip(groups.items(), files):
        tensors = {}
        for name in names:
            if name.endswith("norm.weight"):
                t = torch.ones(shapes[name], dtype=torch.bfloat16)
            else:
                t = (torch.randn(shapes[name], generator=gen, device=dev, dtype=torch.float32) * 0.02).to(
                    torch.bfloat16).cpu()
            for key, piece in hf_original_items(name, t):
                tensors[key] = piece.contiguous()
        save_file(tensors, os.path.join(folder, fname), metadata={"format": "pt"})
        for key, t in tensors.items():
            weight_map[key] = fname
            total += t.numel() * t.element_size()
        del tensors
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    cfg.dtype = torch.bfloat16
    cfg.save_pretrained(folder)
    n_params = sum(_numel(s) for s in shapes.values())
    return {"write_s": time.perf_counter() - t0, "bytes": total, "params": n_params, "tensors": len(weight_map),
            "files": len(files)}


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def write_shards(folder: str, rows: int, seq_len: int, vocab: int) -> list[str]:
    """Random token rows of 3-4 documents each, in the s1 shard contract."""
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
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "bench.parquet")
    pq.write_table(table, path)
    return [path]


# --- loading alone, plain against sharded ---

def load_child(a) -> dict:
    """build_model alone: the plain path (from_pretrained in fp32 on every rank; what ZeRO-3 got before) or the
    sharded one (zero.Init partitions in bf16 filled from the safetensors); time and peak host memory."""
    import torch

    from s1model.config import ModelConfig, PretrainConfig
    from s1model.model import build_model
    from s1model.parallel import init_distributed

    peak = HostPeak()
    init_distributed()
    vocab = (TINY if a.tiny else QWEN3_30B_A3B)["vocab_size"] + a.new_ids
    cfg = PretrainConfig(model=ModelConfig(vocab_size=vocab), init_from=a.ckpt, expert_parallel="none", zero_stage=3,
                         sharded_init="on" if a.impl == "sharded" else "off", dtype="bf16")
    t0 = time.perf_counter()
    model = build_model(cfg)
    dt = time.perf_counter() - t0
    n = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
    dtypes = sorted({str(getattr(p, "ds_tensor", p).dtype) for p in model.parameters()})
    return {"way": a.impl, "load_s": dt, "params": n, "dtypes": dtypes, **peak.read(), **gpu_peak()}


# --- one training process --------------------------------------------------------------------------------------------

def train_child(a) -> dict:
    """pretrain() on the written checkpoint; the run's figures and checks."""
    import torch

    from s1model.config import ModelConfig, PretrainConfig
    from s1model.train import pretrain

    peak = HostPeak()
    vocab = (TINY if a.tiny else QWEN3_30B_A3B)["vocab_size"] + a.new_ids
    cfg = PretrainConfig(
        model=ModelConfig(vocab_size=vocab), init_from=a.ckpt, model_impl=a.impl, expert_parallel="none",
        zero_stage=3, sharded_init="on", offload_optimizer="cpu", dtype="bf16" if torch.cuda.is_available() else "fp32",
        seq_len=a.seq_len, micro_batch_size=a.micro_batch, gradient_accumulation_steps=a.ga, max_steps=a.max_steps,
        lr=1e-4, warmup_steps=1, decay_fraction=0.0, checkpoint_every=a.checkpoint_every, export_hf=a.export,
        peak_flops=989e12, fast_moe={"compile": "off", "attention": "varlen" if torch.cuda.is_available() else "sdpa"},
        activation_checkpointing=a.activation_checkpointing)
    t0 = time.perf_counter()
    res = pretrain(cfg, a.shards, a.run_dir, resume=True)
    wall = time.perf_counter() - t0
    metrics, tm = res["metrics"], res["timings"]
    tokens_per_step = a.micro_batch * a.seq_len * a.ga
    # the loop: the run's wall time less load, engine set-up, resume, checkpoint saves and export
    loop_s = wall - sum(v for k, v in tm.items() if k != "checkpoint_s") - sum(tm["checkpoint_s"])
    out = {"impl": a.impl, "layers": a.layers, "vocab": vocab, "max_steps": a.max_steps, "ga": a.ga,
           "tokens_per_step": tokens_per_step, "resumed_from": res["resumed_from"], "wall_s": wall,
           "timings": tm, "losses": [m["loss"] for m in metrics],
           "step_time_s": [m["step_time_s"] for m in metrics], "mfu": [m["mfu"] for m in metrics],
           "loop_s": loop_s, "loop_tokens_per_s": tokens_per_step * len(metrics) / loop_s,
           **peak.read(), **gpu_peak()}
    # steady state: the trainer's per-step device time (CUDA events; the host's CPU optimizer step is inside it,
    # the device waits for it), median of the steps after the first (allocator and first gathers)
    steady = [m["step_time_s"] for m in metrics[1:]] or [m["step_time_s"] for m in metrics]
    out["step_time_median_s"] = statistics.median(steady)
    out["tokens_per_s"] = tokens_per_step / out["step_time_median_s"]
    out["mfu_median"] = statistics.median([m["mfu"] for m in metrics[1:]] or [m["mfu"] for m in metrics])
    if res["hf_export"]:
        out["export"] = check_export(res["hf_export"], a)
    return out


def check_export(folder: str, a) -> dict:
    """The export's index, size, and (cycle) transformers' from_pretrained of it holding the same values."""
    import torch
    from safetensors import safe_open

    from s1model.export import hf_original_items

    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    out = {"tensors": len(index["weight_map"]), "bytes": index["metadata"]["total_size"],
           "files": len(set(index["weight_map"].values()))}
    if a.reload:
        from transformers import AutoModelForCausalLM

        t0 = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="auto")  # the dtype config.json names
        out["from_pretrained_s"] = time.perf_counter() - t0
        handles = {}
        mismatched = 0
        for name, p in model.named_parameters():
            for key, t in hf_original_items(name, p.detach()):
                fname = index["weight_map"][key]
                if fname not in handles:
                    handles[fname] = safe_open(os.path.join(folder, fname), "pt")
                mismatched += int(not torch.equal(handles[fname].get_tensor(key), t))
        out["from_pretrained_mismatched_tensors"] = mismatched
    return out


# --- capacity on paper -----------------------------------------------------------------------------------------------

QWEN3_235B_A22B = dict(QWEN3_30B_A3B, hidden_size=4096, num_attention_heads=64, num_key_value_heads=4,
                       moe_intermediate_size=1536, intermediate_size=12288, num_hidden_layers=94)
# measured on nvidia-h100-x1 (benchmarks/results/model_scale_h100.json), HF Qwen3-MoE forward, micro-batch 4 x 2048,
# no activation checkpointing: GPU peak less bf16 params and grads = 15.0 GiB at 2 layers, 17.8 GiB at 8 layers
ACT_FIXED_GIB, ACT_PER_LAYER_GIB = 14.0, 0.47
# host under ZeRO-Offload, same runs: 46.0 GiB at 1.87B and 120.8 GiB at 5.61B parameters, ~20 bytes per parameter
# (fp32 master + 2 moments + fp32 gradients = 16, the rest DeepSpeed's buffers) plus the mapped checkpoint pages
HOST_BYTES_PER_PARAM = 20


def plan_tables(mfus=(0.20, 0.30, 0.40), seq_len: int = 4096) -> str:
    """Markdown: memory per GPU of Qwen3-30B-A3B (48 layers) under ZeRO-3 on 1-16 GPUs, and the 235B-A22B plan on
    N nodes of 8 GPUs (memory per GPU under ZeRO-3 + EP, tokens/s at a given MFU, days per trillion tokens)."""
    from transformers import Qwen3MoeConfig

    from s1model.model import active_params, train_flops

    lines = []
    cfg30 = Qwen3MoeConfig(**QWEN3_30B_A3B, num_hidden_layers=48)
    P30 = _total_params(cfg30)
    act30 = ACT_FIXED_GIB + 48 * ACT_PER_LAYER_GIB
    lines += [f"Qwen3-30B-A3B, 48 layers: {P30 / 1e9:.2f}B parameters, {active_params(cfg30) / 1e9:.2f}B active; "
              f"activations at micro-batch 4 x 2048 without checkpointing ~{act30:.0f} GiB (measured fit).", "",
              "| GPUs | ZeRO-3 states / GPU (16 B/param) | + activations | optimizer offloaded: GPU states / GPU | "
              f"host per machine of min(GPUs, 8) ({HOST_BYTES_PER_PARAM} B/param / GPU, measured) |", "|---:|---:|---:|---:|---:|"]
    for n in (1, 2, 4, 8, 16, 32):
        st = P30 * 16 / n / 2**30
        off_gpu = P30 * 4 / n / 2**30
        host_node = P30 * HOST_BYTES_PER_PARAM / n * min(n, 8) / 2**30
        lines.append(f"| {n} | {st:.1f} GiB | {st + act30:.1f} GiB | {off_gpu:.1f} GiB (+ {act30:.0f}) | "
                     f"{host_node:.0f} GiB |")
    cfg235 = Qwen3MoeConfig(**QWEN3_235B_A22B)
    P235, A235 = _total_params(cfg235), active_params(cfg235)
    E, L, D = cfg235.num_experts, cfg235.num_hidden_layers, cfg235.hidden_size
    expert_params = L * E * 3 * D * cfg235.moe_intermediate_size
    flops_tok = train_flops(cfg235, 1, seq_len) / seq_len
    lines += ["", f"Qwen3-235B-A22B (Intern-S1's base): {P235 / 1e9:.1f}B parameters ({expert_params / 1e9:.1f}B in "
              f"experts), {A235 / 1e9:.1f}B active, {flops_tok / 1e9:.0f} GFLOP per token at seq {seq_len} "
              "(s1model.model.train_flops).", "",
              "| nodes x 8 GPUs | EP | ZeRO-3 states / GPU | one layer's local experts, bf16 (EP working set) | "
              + " | ".join(f"tokens/s at {m:.0%} MFU" for m in mfus) + " | "
              + " | ".join(f"days / 1T tokens at {m:.0%}" for m in mfus) + " |",
              "|---:|---:|---:|---:|" + "---:|" * (2 * len(mfus))]
    for nodes in (4, 8, 16, 32, 64, 128):
        n = nodes * 8
        st = P235 * 16 / n / 2**30
        ep = 8
        local_experts = (E // ep) * 3 * D * cfg235.moe_intermediate_size * 2 / 2**30
        tps = [m * 989e12 * n / flops_tok for m in mfus]
        lines.append(f"| {nodes} x 8 = {n} | {ep} | {st:.1f} GiB | {local_experts:.2f} GiB | "
                     + " | ".join(f"{t:,.0f}" for t in tps) + " | "
                     + " | ".join(f"{1e12 / t / 86400:.1f}" for t in tps) + " |")
    return "\n".join(lines)


def _total_params(cfg) -> int:
    import torch
    from transformers import Qwen3MoeForCausalLM

    with torch.device("meta"):
        return sum(p.numel() for p in Qwen3MoeForCausalLM(cfg).parameters())


# --- orchestration ---------------------------------------------------------------------------------------------------

def run_child(args: list[str], log_path: str, timeout: float) -> dict:
    out_json = log_path + ".json"
    cmd = [sys.executable, os.path.abspath(__file__), *args, "--child-out", out_json]
    t0 = time.perf_counter()
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        try:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT).returncode
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s", "process_s": time.perf_counter() - t0}
    if rc != 0 or not os.path.exists(out_json):
        with open(log_path) as f:
            tail = f.read()[-1500:]
        return {"error": f"exit {rc}", "log_tail": tail, "process_s": time.perf_counter() - t0}
    with open(out_json) as f:
        res = json.load(f)
    os.unlink(out_json)
    res["process_s"] = time.perf_counter() - t0
    return res


def environment() -> dict:
    import torch

    env = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "torch": torch.__version__,
           "cpus": os.cpu_count()}
    for mod in ("transformers", "deepspeed"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception as e:  # recorded, not fatal: the child will fail loudly
            env[mod] = f"missing: {e}"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, gpu_mem_gib=p.total_memory / 2**30)
    with open("/proc/meminfo") as f:
        env["host_memtotal_gib"] = int(f.readline().split()[1]) / 2**20
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--cycle-layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--ga", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--new-ids", type=int, default=2048, help="tokenizer ids beyond the checkpoint's vocabulary")
    ap.add_argument("--phases", default="scale,cycle")
    ap.add_argument("--s1", action="store_true", help="add the scale_s1 phase")
    ap.add_argument("--activation-checkpointing", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test widths")
    ap.add_argument("--plan", action="store_true", help="print the capacity tables (docs/capacity.md) and exit")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--phase-timeout", type=float, default=420)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "model_scale.json"))
    # child-only
    ap.add_argument("--child", choices=["write", "train", "load"])
    ap.add_argument("--child-out")
    ap.add_argument("--ckpt")
    ap.add_argument("--run-dir")
    ap.add_argument("--shards", nargs="*")
    ap.add_argument("--impl", default="hf")
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--checkpoint-every", type=int, default=0)
    ap.add_argument("--export", action="store_true")
    ap.add_argument("--reload", action="store_true")
    a = ap.parse_args()
    if a.tiny:
        a.seq_len, a.micro_batch = min(a.seq_len, 64), min(a.micro_batch, 2)

    if a.plan:
        print(plan_tables())
        return
    if a.child:
        res = (write_checkpoint(a.ckpt, a.layers, a.tiny) if a.child == "write"
               else load_child(a) if a.child == "load" else train_child(a))
        with open(a.child_out, "w") as f:
            json.dump(res, f)
        return

    import tempfile

    work = a.work or tempfile.mkdtemp(prefix="s1-model-scale-")
    os.makedirs(work, exist_ok=True)
    log = os.path.splitext(a.out)[0] + ".log"
    report = {"environment": environment(), "args": vars(a), "disk_free_gib": shutil.disk_usage(work).free / 2**30,
              "phases": {}}

    def save():
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(report, f, indent=2)

    save()
    common = ["--seq-len", str(a.seq_len), "--micro-batch", str(a.micro_batch), "--ga", str(a.ga),
              "--new-ids", str(a.new_ids)] + (["--tiny"] if a.tiny else []) + \
        (["--activation-checkpointing"] if a.activation_checkpointing else [])
    vocab = (TINY if a.tiny else QWEN3_30B_A3B)["vocab_size"] + a.new_ids
    rows = max(64, a.micro_batch * a.ga * (a.steps + 1))
    shards = write_shards(os.path.join(work, "shards"), rows, a.seq_len, vocab)
    phases = a.phases.split(",") + (["scale_s1"] if a.s1 else [])
    for phase in phases:
        layers = a.cycle_layers if phase == "cycle" else a.layers
        ckpt = os.path.join(work, f"hf_{layers}l")
        res: dict = {"layers": layers}
        report["phases"][phase] = res
        if not os.path.exists(os.path.join(ckpt, "config.json")):
            res["write"] = run_child(["--child", "write", "--ckpt", ckpt, "--layers", str(layers)] + common, log,
                                     a.phase_timeout)
            save()
            if "error" in res["write"]:
                continue
        base = ["--child", "train", "--ckpt", ckpt, "--layers", str(layers), "--shards", *shards] + common
        if phase == "load":  # build_model alone, plain then sharded, each in a fresh process
            for way in ("plain", "sharded"):
                res[way] = run_child(base[:1] + ["load"] + base[2:] + ["--impl", way], log, a.phase_timeout)
                save()
        elif phase in ("scale", "scale_s1"):
            impl = "s1" if phase == "scale_s1" else "hf"
            run_dir = os.path.join(work, f"run_{phase}")
            res["train"] = run_child(base + ["--run-dir", run_dir, "--impl", impl, "--max-steps", str(a.steps)]
                                     + (["--export"] if phase == "scale" else []), log, a.phase_timeout)
            shutil.rmtree(run_dir, ignore_errors=True)
        else:  # cycle: 2 steps + checkpoint, resume for step 3 + export, 3 steps straight
            resumed_dir, straight_dir = os.path.join(work, "run_cycle"), os.path.join(work, "run_cycle_straight")
            res["first"] = run_child(base + ["--run-dir", resumed_dir, "--max-steps", "2", "--checkpoint-every", "2"],
                                     log, a.phase_timeout)
            save()
            ck = os.path.join(resumed_dir, "checkpoints", "step2")
            if os.path.isdir(ck):
                res["checkpoint_bytes"] = sum(os.path.getsize(os.path.join(ck, f)) for f in os.listdir(ck))
            res["resumed"] = run_child(base + ["--run-dir", resumed_dir, "--max-steps", "3", "--export", "--reload"],
                                       log, a.phase_timeout)
            save()
            res["straight"] = run_child(base + ["--run-dir", straight_dir, "--max-steps", "3"], log, a.phase_timeout)
            if all("losses" in res.get(k, {}) for k in ("resumed", "straight")):
                res["resumed_step3_loss"] = res["resumed"]["losses"][-1]
                res["straight_step3_loss"] = res["straight"]["losses"][-1]
            shutil.rmtree(resumed_dir, ignore_errors=True)
            shutil.rmtree(straight_dir, ignore_errors=True)
        if phase != "scale" or "scale_s1" not in phases:
            shutil.rmtree(ckpt, ignore_errors=True)
        save()
        print(json.dumps({phase: res}, indent=1)[:4000], flush=True)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
