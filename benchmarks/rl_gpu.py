"""RL on one GPU: rollout engines side by side, reward verifications/s/core, and a real online-RL step's time split.

    PYTHONUNBUFFERED=1 python benchmarks/rl_gpu.py --out $OUT [--parts engines,rewards,step]

engines  The same randomly initialised Qwen3-MoE in bf16 (recipes s1_ref: 1.47B total / 559M active, and demo),
         the same left-padded batch of random prompts (96-128 tokens), greedy, EOS disabled so every row makes
         exactly --new-tokens tokens, in three ways:
           builtin   s1model.rl.generate.generate (StaticKVEngine: preallocated KV cache, syncs every 32 steps)
           hf_cache  our previous engine: the HF forward with a DynamicCache, one host sync per step
           hf_generate  transformers `model.generate(..., do_sample=False)` (DynamicCache, its own loop)
           hf_generate_tuned  the same with SDPA's cuDNN backend off and MoE experts kept on grouped_mm (CUDA)
         tokens/s = rows x new tokens / wall time (device-synchronised), best of --repeat after a warm-up call.
         The first --check-tokens tokens of every row are compared between builtin and hf_generate.
rewards  benchmarks/rl_rewards.py on this machine's CPU, one process.
step     --task (default tail_compare, bucket S; direct style): a byte-level tokenizer trained on the SFT texts, the demo-recipe policy,
         --sft-steps of SFT, then --rl-steps online-RL steps with the library's own pieces (collect_batch on an
         in-process RolloutWorker, the RewardRouter, train_on_groups with OREAL + KL-Cov): rollout / reward / train
         seconds per step, tokens/s, and held-out greedy accuracy before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402


DEV = "cuda" if torch.cuda.is_available() else "cpu"


def _peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if DEV == "cuda" else 0.0


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench_engines(recipe: str, rows: list[int], new_tokens: int, repeat: int, check_tokens: int,
                  profile: bool = False) -> list[dict]:
    from s1model.config import RECIPES
    from s1model.model import build_model
    from s1model.rl.generate import SamplingParams, decode_attention, generate

    if recipe == "tail":  # the TAIL experiment's dense decoder (benchmarks/tail_gpu.py defaults)
        from s1model.config import ModelConfig
        from s1model.tail_experiment import build_decoder

        cfg = RECIPES["tiny"]()
        cfg.model = ModelConfig(vocab_size=1258, hidden_size=256, num_layers=6, num_heads=8, num_kv_heads=4,
                                head_dim=32, num_experts=1, top_k=2, moe_intermediate_size=512, rope_theta=10000.0,
                                max_position_embeddings=8192)
        model = build_decoder(cfg.model, seed=0, dense=True)
    else:
        cfg = RECIPES[recipe]()
        model = build_model(cfg)
    model = model.to(torch.bfloat16 if DEV == "cuda" else torch.float32).to(DEV).eval()
    model.config.use_cache = True
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    vocab = cfg.model.vocab_size
    out = []
    for B in rows:
        g = torch.Generator().manual_seed(B)
        lens = torch.randint(96, 129, (B,), generator=g).tolist()
        prompts = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lens]
        L = max(lens)
        ids = torch.zeros(B, L, dtype=torch.long)
        mask = torch.zeros(B, L, dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, L - len(p):] = torch.tensor(p)
            mask[i, L - len(p):] = 1
        ids, mask = ids.to(DEV), mask.to(DEV)
        params = SamplingParams(max_new_tokens=new_tokens, temperature=0.0)

        def builtin(n=new_tokens):
            return generate(model, prompts, params.model_copy(update={"max_new_tokens": n}), eos_id=-1,
                            max_batch_size=B, engine="static")

        def hf_cache(n=new_tokens):
            return generate(model, prompts, params.model_copy(update={"max_new_tokens": n}), eos_id=-1,
                            max_batch_size=B, engine="hf_cache")

        def hf_generate(n=new_tokens):
            with torch.no_grad():
                return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                      do_sample=False, pad_token_id=0)

        def hf_generate_tuned(n=new_tokens):
            """generate with SDPA's cuDNN backend off and, for MoE, the experts kept on grouped_mm (stock generate
            switches them to batched_mm, which copies the chosen experts' weights per token)."""
            import contextlib

            model._optimize_model_for_decode = contextlib.nullcontext
            try:
                with decode_attention():
                    return hf_generate(n)
            finally:
                del model._optimize_model_for_decode

        row = {"recipe": recipe, "rows": B, "new_tokens": new_tokens, "prompt_len_max": L}
        results = {}
        ways = [("builtin", builtin), ("hf_cache", hf_cache), ("hf_generate", hf_generate)]
        if DEV == "cuda":
            ways.append(("hf_generate_tuned", hf_generate_tuned))
        for name, fn in ways:
            try:
                fn(8)  # warm-up: kernels, cuBLAS handles, allocator
                _sync()
                times = []
                for _ in range(repeat):
                    if DEV == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    t0 = time.perf_counter()
                    res = fn()
                    _sync()
                    times.append(time.perf_counter() - t0)
            except torch.OutOfMemoryError as exc:
                row[name] = {"error": f"OutOfMemoryError: {str(exc).splitlines()[0][:160]}"}
                print(f"  {recipe} B={B} {name}: {row[name]['error']}", flush=True)
                torch.cuda.empty_cache()
                continue
            results[name] = res
            best = min(times)
            row[name] = {"seconds": best, "tokens_per_s": B * new_tokens / best,
                         "peak_gib": _peak_gib()}
            print(f"  {recipe} B={B} {name}: {B * new_tokens / best:,.0f} tok/s ({best:.2f}s)", flush=True)
        if profile:
            from torch.profiler import ProfilerActivity, profile as prof

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEV == "cuda" else [])
            with prof(activities=acts) as pr:
                builtin(64)
                _sync()
            print(pr.key_averages().table(sort_by="cpu_time_total", row_limit=25), flush=True)
            profile = False
        ours = [c.token_ids[:check_tokens] for c in results["builtin"]]
        ref = results.get("hf_generate", results.get("hf_generate_tuned"))
        if ref is not None:
            theirs = ref[:, L:L + check_tokens].tolist()
            row["rows_identical_first_tokens"] = sum(a == b for a, b in zip(ours, theirs)) / B
        for other in ("hf_generate", "hf_generate_tuned", "hf_cache"):
            if "tokens_per_s" in row.get(other, {}):
                row[f"speedup_vs_{other}"] = row["builtin"]["tokens_per_s"] / row[other]["tokens_per_s"]
        out.append(row)
    del model
    if DEV == "cuda":
        torch.cuda.empty_cache()
    return out


def bench_step(work: str, task: str, sft_steps: int, rl_steps: int, groups: int, group_size: int) -> dict:
    import numpy as np
    import pyarrow.compute as pc

    from s1data.bootcamp import export, verify
    from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
    from s1model.config import demo
    from s1model.model import build_model
    from s1model.rl.config import OptimConfig, OnlineRLConfig
    from s1model.rl.generate import SamplingParams, generate
    from s1model.rl.offline import sft_train
    from s1model.rl.online import PromptStream, train_on_groups
    from s1model.rl.policy import load_policy, make_optimizer
    from s1model.rl.rewards import RewardConfig, RewardRouter
    from s1model.rl.rollout import RolloutConfig, RolloutWorker, collect_batch

    from s1model.tail_experiment import bucket_configs

    configs = bucket_configs(task, "S")
    sft, rl, _ = export(configs, n_per_config=400, seed=0, style="direct")
    _, fresh, _ = export(configs, n_per_config=150, seed=1000, style="direct")
    held = fresh.filter(pc.invert(pc.is_in(fresh["sample_id"], value_set=sft["sample_id"])))
    held = held.take(np.random.default_rng(0).permutation(held.num_rows)[:256])
    texts = [p + "\n" + r for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
    tok_dir = os.path.join(work, "tok")
    train_tokenizer(texts, tok_dir, TokenizerConfig(vocab_size=1024, smiles_vocab_size=256, protein_vocab_size=256,
                                                    dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
    tok = load_tokenizer(tok_dir)
    cfg = demo()
    cfg.model.vocab_size = tok.vocab_size
    torch.manual_seed(0)
    build_model(cfg).save_pretrained(os.path.join(work, "base"))
    model = load_policy(os.path.join(work, "base"), DEV)
    pairs = [(tok.encode(p + "\n"), tok.encode(r) + [tok.eos_id])
             for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
    t0 = time.perf_counter()
    sft_train(model, pairs, OptimConfig(lr=2e-3, warmup_steps=10, micro_batch_size=64, max_seq_len=256),
              steps=sft_steps, batch_size=64, pad_id=tok.pad_id, seed=0)
    sft_s = time.perf_counter() - t0
    model.save_pretrained(os.path.join(work, "sft"))

    def accuracy(m) -> float:
        ids = tok.encode_batch([p + "\n" for p in held["prompt"].to_pylist()])
        out = generate(m, ids, SamplingParams(temperature=0.0, max_new_tokens=12), tok.eos_id, tok.pad_id, 256)
        return sum(c.finish_reason == "eos" and verify(t, i, tok.decode(c.token_ids[:-1])) >= 1.0
                   for c, t, i in zip(out, held["task"].to_pylist(), held["identity_json"].to_pylist())) / len(out)

    before = accuracy(model)
    rcfg = RolloutConfig(group_size=group_size, prompts_per_step=groups, actor_gpus=1,
                         sampling=SamplingParams(max_new_tokens=12, temperature=1.0, seed=0))
    rcfg.generation.max_batch_size = 512
    config = OnlineRLConfig(steps=rl_steps, rollout=rcfg, optim=OptimConfig(lr=5e-4, micro_batch_size=256,
                                                                               max_seq_len=256))
    worker = RolloutWorker(os.path.join(work, "sft"), tok_dir, rcfg)
    router = RewardRouter(RewardConfig())
    optimizer, scheduler = make_optimizer(model, config.optim)
    stream = PromptStream(rl.to_pylist(), 0)
    steps = []
    for step in range(rl_steps):
        t0 = time.perf_counter()
        worker.update_weights(model.state_dict())
        _sync()
        t_push = time.perf_counter() - t0
        batch = collect_batch([worker], stream, router.score_batch, rcfg, seed=step)
        t1 = time.perf_counter()
        train = {"train_tokens": 0.0}
        if batch.groups:
            model.train()
            train = train_on_groups(model, optimizer, scheduler, batch.groups, config, tok.pad_id)
        _sync()
        t2 = time.perf_counter()
        steps.append({"step": step + 1, "push_s": t_push, "rollout_s": batch.rollout_s, "reward_s": batch.reward_s,
                      "train_s": t2 - t1, "step_s": t2 - t0, "groups_sampled": batch.groups_sampled,
                      "groups_kept": len(batch.groups), "generated_tokens": batch.generated_tokens,
                      "train_tokens": train["train_tokens"], "samples": len(batch.samples),
                      "mean_reward": sum(s["reward"] for s in batch.samples) / max(1, len(batch.samples))})
        s = steps[-1]
        print(f"  rl step {step + 1}: rollout {s['rollout_s']:.2f}s reward {s['reward_s']:.3f}s train "
              f"{s['train_s']:.2f}s push {s['push_s']:.3f}s kept {s['groups_kept']}/{s['groups_sampled']} "
              f"reward {s['mean_reward']:.2f}", flush=True)
    after = accuracy(model)
    steady = steps[1:] or steps
    med = {k: statistics.median(s[k] for s in steady) for k in ("push_s", "rollout_s", "reward_s", "train_s",
                                                                "step_s")}
    return {"task": task, "policy": "demo recipe (Qwen3-MoE D=128, 4 layers, 8 experts top-2)",
            "vocab": tok.vocab_size, "sft_steps": sft_steps, "sft_s": sft_s, "groups": groups,
            "group_size": group_size, "accuracy_sft": before, "accuracy_after_rl": after, "steps": steps,
            "median_step": med,
            "rollout_tokens_per_s": statistics.median(s["generated_tokens"] / s["rollout_s"] for s in steady),
            "verifications_per_s": statistics.median(s["samples"] / max(s["reward_s"], 1e-9) for s in steady)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"))
    p.add_argument("--parts", default="engines,step")
    p.add_argument("--recipes", default="s1_ref,demo")
    p.add_argument("--rows", default="64,256")
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--profile", action="store_true", help="print a torch.profiler table of 64 builtin steps")
    p.add_argument("--check-tokens", type=int, default=16)
    p.add_argument("--task", default="tail_compare", help="bootcamp task of the step part (its S bucket)")
    p.add_argument("--sft-steps", type=int, default=150)
    p.add_argument("--rl-steps", type=int, default=6)
    p.add_argument("--groups", type=int, default=32)
    p.add_argument("--group-size", type=int, default=8)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    parts = args.parts.split(",")
    res = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
           "torch": torch.__version__}
    path = os.path.join(args.out, "rl_gpu.json")

    def dump():
        with open(path, "w") as f:
            json.dump(res, f, indent=1)

    if "engines" in parts:
        res["engines"] = []
        for recipe in args.recipes.split(","):
            res["engines"] += bench_engines(recipe, [int(x) for x in args.rows.split(",")], args.new_tokens,
                                            args.repeat, args.check_tokens, args.profile)
            dump()
    if "rewards" in parts:
        from benchmarks.rl_rewards import make_samples, measure

        samples = make_samples(2, None)
        res["rewards"] = {"with_timeout": measure(samples, 10.0), "no_timeout": measure(samples, None),
                          "cpu_count": os.cpu_count()}
        print(f"  rewards: {res['rewards']['with_timeout']['verifications_per_s_per_core']:,.0f} /s/core", flush=True)
        dump()
    if "step" in parts:
        with tempfile.TemporaryDirectory() as work:
            res["step"] = bench_step(work, args.task, args.sft_steps, args.rl_steps, args.groups, args.group_size)
        m = res["step"]["median_step"]
        print(f"  step: {m} acc {res['step']['accuracy_sft']:.3f} -> {res['step']['accuracy_after_rl']:.3f}",
              flush=True)
        dump()
    for r in res.get("engines", []):
        cells = [f"{w} " + (f"{r[w]['tokens_per_s']:,.0f} tok/s" if "tokens_per_s" in r[w] else r[w]["error"][:40])
                 for w in ("builtin", "hf_cache", "hf_generate", "hf_generate_tuned") if w in r]
        print(f"{r['recipe']} B={r['rows']}: " + "; ".join(cells)
              + f"; identical rows {r.get('rows_identical_first_tokens')}")


if __name__ == "__main__":
    main()
