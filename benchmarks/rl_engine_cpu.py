"""RL on CPU, side by side in one run: one online-RL update on the DeepSpeed engine (s1model.rl.trainer, ZeRO-1, the
fast model) against the plain torch AdamW loop (HF model), and `s1 serve-model` (a weight reload and greedy
completions over HTTP) against the in-process engine on the same checkpoint.

    taskset -c 1 .venv/bin/python benchmarks/rl_engine_cpu.py [--size tiny|demo] [--updates 5]

Rates are per core of process time (time.process_time of this process; the server's own process time is read
from /proc), so other jobs on the machine change them less than wall time; the load average is printed.
Model: the pretraining recipe's architecture (`tiny` or `demo`) with random weights and a 512-token vocabulary;
groups: 8 prompts x 4 completions of 32 + 32 tokens with rewards 1/0.

    nice -n 5 .venv/bin/python benchmarks/rl_engine_cpu.py --part sharded-load [--load-size 120m] [--repeats 2]

--part sharded-load: the RL trainer's start (EngineTrainer: model build + load + deepspeed.initialize) on 2 gloo
ranks under ZeRO-3, the whole fp32 model loaded on every rank (sharded_init off) against the ZeRO-3 sharded load
(s1model.load), in fp32 and bf16, alternating, each in fresh processes: per rank the peak host memory (VmHWM from
/proc, growth over the imports) and the wall seconds of the start. The checkpoint is random, saved in bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _proc_cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the sharded load beside the whole-model load (--part sharded-load) ----------------------------------------------

LOAD_SIZES = {  # Qwen3-MoE shapes: (hidden, layers, experts, expert width, vocab)
    "30m": (256, 4, 16, 256, 32000),
    "120m": (512, 6, 16, 512, 32000),
    "250m": (768, 8, 16, 640, 32000),
}


def _vm(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _load_rank(mode: str, dtype: str, model_dir: str, out: str) -> None:
    """One rank: start the RL trainer under ZeRO-3, sharded or whole; write VmHWM before/after and seconds."""
    from s1model.parallel import init_distributed
    from s1model.rl.config import OptimConfig
    from s1model.rl.trainer import EngineTrainer

    init_distributed()
    rank = torch.distributed.get_rank()
    torch.distributed.barrier()
    before, c0, w0 = _vm("VmHWM"), time.process_time(), time.perf_counter()
    optim = OptimConfig(zero_stage=3, dtype=dtype).model_copy(update={"sharded_init": mode})
    trainer = EngineTrainer(model_dir, optim, None)
    torch.distributed.barrier()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    with open(f"{out}.rank{rank}.json", "w") as f:
        json.dump({"mode": mode, "dtype": dtype, "sharded": trainer.sharded, "vmhwm_before": before,
                   "vmhwm_after": _vm("VmHWM"), "vmrss_after": _vm("VmRSS"), "start_wall_s": wall,
                   "start_cpu_s": cpu}, f)


def sharded_load(size: str, repeats: int) -> dict:
    from s1model.config import ModelConfig, tiny
    from s1model.model import build_model

    sys.path.insert(0, REPO)
    from tests.s1model.conftest import free_port, rank_env

    D, layers, E, F, V = LOAD_SIZES[size]
    work = tempfile.mkdtemp(prefix="s1-rl-load-")
    cfg = tiny().model_copy(update={"model": ModelConfig(
        vocab_size=V, hidden_size=D, num_layers=layers, num_heads=8, num_kv_heads=2, head_dim=D // 8, num_experts=E,
        top_k=2, moe_intermediate_size=F, max_position_embeddings=256)})
    model = build_model(cfg).to(torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    model_dir = os.path.join(work, "model")
    model.save_pretrained(model_dir)
    del model
    out = {"size": size, "params": n_params, "checkpoint_bytes": sum(
        os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir) if f.endswith(".safetensors")),
        "world_size": 2, "load_avg_start": os.getloadavg(), "runs": []}
    for rep in range(repeats):
        order = [("off", "on"), ("on", "off")][rep % 2]
        for dtype in ("fp32", "bf16"):
            for mode in order:
                res = os.path.join(work, f"{mode}-{dtype}-{rep}")
                port = free_port()
                procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--load-rank", mode, dtype,
                                           model_dir, res], env=rank_env(r, 2, port), cwd=REPO)
                         for r in range(2)]
                if any(p.wait() != 0 for p in procs):
                    raise RuntimeError(f"a rank of {mode}/{dtype} failed")
                ranks = [json.load(open(f"{res}.rank{r}.json")) for r in range(2)]
                out["runs"].append({"mode": "sharded" if mode == "on" else "whole_fp32_per_rank", "dtype": dtype,
                                    "repeat": rep, "ranks": ranks,
                                    "peak_growth_bytes_max_rank": max(r["vmhwm_after"] - r["vmhwm_before"]
                                                                      for r in ranks),
                                    "start_wall_s": max(r["start_wall_s"] for r in ranks)})
                print(json.dumps(out["runs"][-1]["ranks"]), file=sys.stderr, flush=True)
    out["load_avg_end"] = os.getloadavg()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="update-serve", choices=["update-serve", "sharded-load"])
    ap.add_argument("--size", default="demo", choices=["tiny", "demo"])
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--load-size", default="120m", choices=sorted(LOAD_SIZES))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--load-rank", nargs=4, metavar=("SHARDED_INIT", "DTYPE", "MODEL", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.load_rank:
        torch.set_num_threads(1)
        return _load_rank(*args.load_rank)
    if args.part == "sharded-load":
        torch.set_num_threads(1)
        print(json.dumps(sharded_load(args.load_size, args.repeats), indent=2))
        return
    torch.set_num_threads(1)
    from s1data.tokenizer import TokenizerConfig, train_tokenizer
    from s1model import config as recipes
    from s1model.model import build_model
    from s1model.rl.config import tiny_online
    from s1model.rl.online import train_groups
    from s1model.rl.rewards import RewardResult
    from s1model.rl.trainer import EngineTrainer, TorchTrainer

    work = tempfile.mkdtemp(prefix="s1-rl-bench-")
    texts = [f"compare {i} and {i * 7 % 13}: the answer is \\boxed{{<}} because {i} < {i + 1}" for i in range(400)]
    tok_dir = os.path.join(work, "tok")
    train_tokenizer(texts, tok_dir, TokenizerConfig(vocab_size=512, smiles_vocab_size=256, protein_vocab_size=256,
                                                    dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
    pcfg = getattr(recipes, args.size)()
    pcfg.model.vocab_size = 512
    model_dir = os.path.join(work, "model")
    build_model(pcfg).save_pretrained(model_dir)
    import shutil

    for f in os.listdir(tok_dir):
        shutil.copy(os.path.join(tok_dir, f), model_dir)

    g = torch.Generator().manual_seed(0)
    groups = []
    for p in range(8):
        prompt = torch.randint(3, 512, (32,), generator=g).tolist()
        comps = [{"prompt_ids": prompt, "token_ids": torch.randint(3, 512, (32,), generator=g).tolist(),
                  "logprobs": []} for _ in range(4)]
        groups.append({"row": {}, "completions": comps,
                       "rewards": [RewardResult(float(j % 2), "b", "b", "", "b") for j in range(4)]})
    cfg = tiny_online()
    cfg = cfg.model_copy(update={"grad_norm_skip": None, "train_minibatches": 1,
                                 "optim": cfg.optim.model_copy(update={"micro_batch_size": 8, "lr": 1e-4})})
    tokens = sum(len(c["token_ids"]) for gr in groups for c in gr["completions"])
    out = {"size": args.size, "updates": args.updates, "train_tokens_per_update": tokens,
           "load_avg_start": os.getloadavg()}
    for name, make in [("torch_adamw_hf", lambda: TorchTrainer(model_dir, cfg.optim.model_copy(
                            update={"trainer": "torch"}))),
                       ("deepspeed_zero1_fast", lambda: EngineTrainer(model_dir, cfg.optim))]:
        trainer = make()
        train_groups(trainer, groups, cfg, 0)  # warm-up
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(args.updates):
            train_groups(trainer, groups, cfg, 0)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        out[name] = {"train_tokens_per_cpu_s": tokens * args.updates / cpu, "cpu_s_per_update": cpu / args.updates,
                     "wall_s_per_update": wall / args.updates}
        del trainer

    # s1 serve-model against the in-process engine on the same checkpoint
    from transformers import AutoModelForCausalLM

    from s1data.tokenizer import load_tokenizer
    from s1model.rl.generate import GenerationConfig, OpenAICompletionsClient, SamplingParams, generate
    from s1model.serve import weights_sha256

    ready = os.path.join(work, "ready.json")
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve-model", "--model", model_dir, "--port", "0",
                             "--ready-file", ready], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        while not os.path.exists(ready):
            assert proc.poll() is None, "serve-model died"
            time.sleep(0.2)
        base = json.load(open(ready))["base_url"]
        client = OpenAICompletionsClient(GenerationConfig(backend="openai", openai_base_url=base))
        client.require_weight_sync()
        tok = load_tokenizer(model_dir)
        prompts = texts[:32]
        params = SamplingParams(max_new_tokens=32, temperature=0.0)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        generate(model, tok.encode_batch(prompts[:2]), params, tok.eos_id, tok.pad_id)
        c0 = time.process_time()
        local = generate(model, tok.encode_batch(prompts), params, tok.eos_id, tok.pad_id)
        local_cpu = time.process_time() - c0
        n_local = sum(len(c.token_ids) for c in local)
        sha = weights_sha256(model_dir)
        s0, w0 = _proc_cpu_s(proc.pid), time.perf_counter()
        client.update_weights_from_disk(model_dir, "1", sha)
        reload_wall, reload_cpu = time.perf_counter() - w0, _proc_cpu_s(proc.pid) - s0
        client.complete_with_meta(prompts[:2], 1, params)
        s0, w0 = _proc_cpu_s(proc.pid), time.perf_counter()
        served, meta = client.complete_with_meta(prompts, 1, params)
        served_cpu, served_wall = _proc_cpu_s(proc.pid) - s0, time.perf_counter() - w0
        n_served = sum(len(g[0][2]) for g in served)
        out["serve"] = {"in_process_tokens_per_cpu_s": n_local / local_cpu,
                        "served_tokens_per_server_cpu_s": n_served / served_cpu,
                        "served_wall_s": served_wall, "reload_wall_s": reload_wall, "reload_server_cpu_s": reload_cpu,
                        "greedy_tokens_equal": [g[0][2] for g in served] == [c.token_ids for c in local],
                        "fingerprint_matches": meta["system_fingerprint"] == sha}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
