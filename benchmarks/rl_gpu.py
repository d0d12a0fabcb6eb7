"""RL on one GPU: rollout engines side by side, reward verifications/s/core, and a real online-RL step's time split.

    PYTHONUNBUFFERED=1 python benchmarks/rl_gpu.py --out $OUT [--parts engines,agree,rewards,step]

engines  The same randomly initialised Qwen3-MoE in bf16 (recipes s1_ref: 1.47B total / 559M active, and demo),
         the same left-padded batch of random prompts (96-128 tokens), greedy, EOS disabled so every row makes
         exactly --new-tokens tokens, in these ways (--ways picks):
           builtin   s1model.rl.generate.generate (StaticKVEngine: preallocated KV cache, syncs every 32 steps;
                     on CUDA the decode step is one CUDA graph replay)
           builtin_eager  the same engine with decode="eager" (the step launched kernel by kernel)
           hf_cache  our previous engine: the HF forward with a DynamicCache, one host sync per step
           hf_generate  transformers `model.generate(..., do_sample=False)` (DynamicCache, its own loop)
           hf_generate_tuned  the same with SDPA's cuDNN backend off and MoE experts kept on grouped_mm (CUDA)
         tokens/s = rows x new tokens / wall time (device-synchronised), best of --repeat after a warm-up call.
         The first --check-tokens tokens of every row are compared between builtin and hf_generate.
         decode_step_ms = (time of --new-tokens - time of 8 tokens) / (--new-tokens - 8) for the built-in ways.
agree    Engine vs HF greedy tokens (see `agreement`) on --agree-rows held-out prompts of --task (S bucket,
         chain-of-thought "tail" style), a --agree-recipe policy with a tokenizer trained on the SFT texts: randomly
         initialised in fp32 and bf16, then after SFT on the task (bf16 autocast, at most --agree-sft-seconds) in
         bf16; agreement over --agree-tokens tokens and the top-2 logit margins at the first divergence.
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
ALL_WAYS = ("builtin", "builtin_eager", "hf_cache", "hf_generate", "hf_generate_tuned")


def _peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if DEV == "cuda" else 0.0


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench_engines(recipe: str, rows: list[int], new_tokens: int, repeat: int, check_tokens: int,
                  profile: bool = False, ways_wanted: tuple[str, ...] = ALL_WAYS, hf_max_rows: int = 10**9
                  ) -> list[dict]:
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

        stats: dict = {}

        def builtin(n=new_tokens):
            stats.clear()
            return generate(model, prompts, params.model_copy(update={"max_new_tokens": n}), eos_id=-1,
                            max_batch_size=B, engine="static", stats=stats)

        def builtin_eager(n=new_tokens):
            return generate(model, prompts, params.model_copy(update={"max_new_tokens": n}), eos_id=-1,
                            max_batch_size=B, engine="static", decode="eager")

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
        ways = [("builtin", builtin), ("builtin_eager", builtin_eager), ("hf_cache", hf_cache),
                ("hf_generate", hf_generate)]
        if DEV == "cuda":
            ways.append(("hf_generate_tuned", hf_generate_tuned))
        ways = [(n, f) for n, f in ways if n in ways_wanted and not (n.startswith("hf_generate") and B > hf_max_rows)]
        for name, fn in ways:
            try:
                fn(8)  # warm-up: kernels, cuBLAS handles, allocator
                _sync()
                t_short = None
                if name.startswith("builtin"):  # a short run: the per-step time is the difference
                    t0 = time.perf_counter()
                    fn(8)
                    _sync()
                    t_short = time.perf_counter() - t0
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
            if t_short is not None:
                row[name]["decode_step_ms"] = 1000 * (best - t_short) / (new_tokens - 8)
            if name == "builtin":
                row[name]["engine_stats"] = dict(stats)
            print(f"  {recipe} B={B} {name}: {B * new_tokens / best:,.0f} tok/s ({best:.2f}s) "
                  f"{row[name].get('decode_step_ms', 0):.2f} ms/step {stats if name == 'builtin' else ''}",
                  flush=True)
        if profile:
            from torch.profiler import ProfilerActivity, profile as prof

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEV == "cuda" else [])
            with prof(activities=acts) as pr:
                builtin(64)
                _sync()
            print(pr.key_averages().table(sort_by="cpu_time_total", row_limit=25), flush=True)
            profile = False
        ref = results.get("hf_generate", results.get("hf_generate_tuned"))
        if ref is not None and "builtin" in results:
            ours = [c.token_ids[:check_tokens] for c in results["builtin"]]
            theirs = ref[:, L:L + check_tokens].tolist()
            row["rows_identical_first_tokens"] = sum(a == b for a, b in zip(ours, theirs)) / B
        if "builtin" in results and "builtin_eager" in results:
            row["rows_identical_graph_vs_eager"] = sum(
                a.token_ids[:check_tokens] == b.token_ids[:check_tokens]
                for a, b in zip(results["builtin"], results["builtin_eager"])) / B
        for other in ("builtin_eager", "hf_generate", "hf_generate_tuned", "hf_cache"):
            if "tokens_per_s" in row.get(other, {}) and "tokens_per_s" in row.get("builtin", {}):
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


def _tail_compare_sft(work: str, task: str, style: str, n_per_config: int, held_rows: int, vocab: int):
    """(tokenizer, SFT (prompt ids, response ids + EOS) pairs, held-out prompts as ids, held-out table) of a
    bootcamp task's S bucket, with a byte-level BPE tokenizer trained on its SFT texts."""
    import numpy as np
    import pyarrow.compute as pc

    from s1data.bootcamp import export
    from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
    from s1model.tail_experiment import bucket_configs

    configs = bucket_configs(task, "S")
    sft, _, _ = export(configs, n_per_config=n_per_config, seed=0, style=style)
    _, fresh, _ = export(configs, n_per_config=max(8, held_rows // max(1, len(configs)) + 8), seed=1000, style=style)
    held = fresh.filter(pc.invert(pc.is_in(fresh["sample_id"], value_set=sft["sample_id"])))
    held = held.take(np.random.default_rng(0).permutation(held.num_rows)[:held_rows])
    texts = [p + "\n" + r for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
    tok_dir = os.path.join(work, "tok_agree")
    train_tokenizer(texts, tok_dir, TokenizerConfig(vocab_size=vocab, smiles_vocab_size=256, protein_vocab_size=256,
                                                    dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
    tok = load_tokenizer(tok_dir)
    pairs = [(tok.encode(p + "\n"), tok.encode(r) + [tok.eos_id])
             for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
    prompts = tok.encode_batch([p + "\n" for p in held["prompt"].to_pylist()])
    return tok, pairs, prompts, held


@torch.no_grad()
def agreement(model, prompts: list[list[int]], new_tokens: list[int], eos_id: int, pad_id: int,
              batch: int = 64, hf_generate: bool = False) -> dict:
    """Greedy tokens of the built-in engine against the HF forward of the same model.

    The HF side is teacher-forced: one HF forward (left-padded batch, attention mask, position ids) over prompt +
    the engine's tokens; the engine's row agrees over its first n tokens when HF's argmax equals the engine's token
    at each of them (then HF's own greedy decoding would have produced the same tokens, up to an EOS). At the first
    divergence: HF's top-1 minus top-2 logit, and HF's logit of its own choice minus that of the engine's token.
    hf_generate: also HF `generate` (greedy, tuned as in bench_engines) row by row equality over n tokens."""
    import contextlib

    from s1model.rl.generate import SamplingParams, decode_attention, generate

    n_max = max(new_tokens)
    stats: dict = {}
    t0 = time.perf_counter()
    comps = generate(model, prompts, SamplingParams(max_new_tokens=n_max, temperature=0.0), eos_id, pad_id,
                     max_batch_size=batch, stats=stats)
    _sync()
    engine_s = time.perf_counter() - t0
    first_div: list[int | None] = []
    div_margin, div_gap, all_margins, div_router, all_router, agree_router = [], [], [], [], [], []
    for s in range(0, len(prompts), batch):
        rows = list(range(s, min(s + batch, len(prompts))))
        seqs = [prompts[i] + comps[i].token_ids for i in rows]
        L = max(len(q) for q in seqs)
        ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), L, dtype=torch.long)
        for b, q in enumerate(seqs):
            ids[b, L - len(q):] = torch.tensor(q)
            mask[b, L - len(q):] = 1
        ids, mask = ids.to(DEV), mask.to(DEV)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        k_exp = getattr(model.config, "num_experts_per_tok", None)
        fwd = model(input_ids=ids, attention_mask=mask, position_ids=pos, **({"output_router_logits": True}
                                                                            if k_exp else {}))
        logits = fwd.logits.float()
        if k_exp:  # per token, the smallest gap over layers between the k-th and (k+1)-th router logit
            gaps = [lg.float().topk(k_exp + 1, dim=-1).values for lg in fwd.router_logits]
            router_gap = torch.stack([g[:, k_exp - 1] - g[:, k_exp] for g in gaps]).amin(0).view(len(rows), L)
        for b, i in enumerate(rows):
            toks = comps[i].token_ids
            if not toks:
                first_div.append(None)
                continue
            start = L - len(seqs[b]) + len(prompts[i]) - 1  # logits here predict the first generated token
            lg = logits[b, start:start + len(toks)]
            top2 = lg.topk(2, dim=-1)
            margins = (top2.values[:, 0] - top2.values[:, 1]).tolist()
            all_margins += margins
            if k_exp:  # the router gap of the token whose hidden state makes this prediction
                rg = router_gap[b, start:start + len(toks)].tolist()
                all_router += rg
            tt = torch.tensor(toks, device=DEV)
            bad = (top2.indices[:, 0] != tt).nonzero().flatten().tolist()
            if bad:
                j = bad[0]
                first_div.append(j)
                div_margin.append(margins[j])
                div_gap.append(float(lg[j, top2.indices[j, 0]] - lg[j, toks[j]]))
                if k_exp:  # the smallest router gap at or before the divergence (an earlier flip feeds later ones)
                    div_router.append(min(rg[:j + 1]))
            else:
                first_div.append(None)
                if k_exp:
                    agree_router.append(min(rg))
        del logits
    out = {"rows": len(prompts), "engine_decode": stats.get("decode"), "engine_s": engine_s,
           "mean_tokens": statistics.mean(len(c.token_ids) for c in comps),
           "rows_ending_eos": sum(c.finish_reason == "eos" for c in comps) / len(comps),
           "top2_margin_all_positions": {"median": statistics.median(all_margins),
                                         "p05": sorted(all_margins)[len(all_margins) // 20],
                                         "share_below_0.125": sum(m < 0.125 for m in all_margins) / len(all_margins)},
           "divergences": len(div_margin),
           "top2_margin_at_divergence": sorted(div_margin),
           "hf_choice_minus_engine_token_logit_at_divergence": sorted(div_gap)}
    if all_router:  # MoE: how close the expert choice is to a tie (router logits, k-th minus (k+1)-th, min over layers)
        out["router_gap_all_positions"] = {"median": statistics.median(all_router),
                                           "p05": sorted(all_router)[len(all_router) // 20],
                                           "share_zero": sum(g == 0 for g in all_router) / len(all_router)}
        out["router_gap_min_up_to_divergence"] = sorted(div_router)
        out["router_gap_min_of_agreeing_rows"] = sorted(agree_router)
    for n in new_tokens:
        out[f"agree_hf_forward_{n}"] = sum(d is None or d >= n for d in first_div) / len(first_div)
    if hf_generate:
        model.generation_config.eos_token_id = eos_id
        model.generation_config.pad_token_id = pad_id
        model._optimize_model_for_decode = contextlib.nullcontext
        same = {n: 0 for n in new_tokens}
        try:
            with decode_attention():
                for s in range(0, len(prompts), batch):
                    rows = list(range(s, min(s + batch, len(prompts))))
                    L = max(len(prompts[i]) for i in rows)
                    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
                    mask = torch.zeros(len(rows), L, dtype=torch.long)
                    for b, i in enumerate(rows):
                        ids[b, L - len(prompts[i]):] = torch.tensor(prompts[i])
                        mask[b, L - len(prompts[i]):] = 1
                    gen = model.generate(input_ids=ids.to(DEV), attention_mask=mask.to(DEV), max_new_tokens=n_max,
                                         do_sample=False, pad_token_id=pad_id, eos_token_id=eos_id)[:, L:].tolist()
                    for b, i in enumerate(rows):
                        theirs = gen[b]
                        theirs = theirs[:theirs.index(eos_id) + 1] if eos_id in theirs else theirs
                        for n in new_tokens:
                            same[n] += comps[i].token_ids[:n] == theirs[:n]
        finally:
            del model._optimize_model_for_decode
        for n in new_tokens:
            out[f"agree_hf_generate_{n}"] = same[n] / len(prompts)
    return out


def bench_agree(work: str, recipe: str, task: str, sft_steps: int, sft_seconds: float, rows: int,
                new_tokens: list[int], lr: float, hf_generate: bool, eval_bf16: bool = False) -> dict:
    """Engine vs HF greedy agreement on a randomly initialised and on a briefly trained policy (recipe's
    architecture, vocabulary of a tokenizer trained on the task's chain-of-thought SFT texts)."""
    import copy

    from s1data.bootcamp import verify
    from s1model.config import RECIPES
    from s1model.model import build_model
    from s1model.rl.config import OptimConfig
    from s1model.rl.generate import SamplingParams, generate
    from s1model.rl.offline import sft_train

    tok, pairs, prompts, held = _tail_compare_sft(work, task, "tail", 400, rows, 1024)
    cfg = RECIPES[recipe]()
    cfg.model.vocab_size = tok.vocab_size
    torch.manual_seed(0)
    model = build_model(cfg).to(DEV)
    n_params = sum(p.numel() for p in model.parameters())
    bf16 = torch.bfloat16 if DEV == "cuda" or eval_bf16 else torch.float32
    res = {"recipe": recipe, "params": n_params, "task": task, "style": "tail", "vocab": tok.vocab_size,
           "prompt_tokens_mean": statistics.mean(len(p) for p in prompts)}

    def evaluate(m, label):
        m.eval()
        r = agreement(m, prompts, new_tokens, tok.eos_id, tok.pad_id, hf_generate=hf_generate)
        print(f"  agree {label}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items() if k.startswith("agree"))
              + f"; divergences {r['divergences']}, median top-2 margin {r['top2_margin_all_positions']['median']:.3f}"
              f", at divergence {r['top2_margin_at_divergence'][:8]}; router gap all "
              f"{r.get('router_gap_all_positions')}, up to divergence {r.get('router_gap_min_up_to_divergence')}",
              flush=True)
        return r

    res["random_fp32"] = evaluate(model, "random fp32")
    res["random_bf16"] = evaluate(copy.deepcopy(model).to(bf16), "random bf16")
    _sync()

    class _Enough(Exception):
        pass

    losses: list[float] = []
    t0 = time.perf_counter()

    def on_step(row: dict) -> None:
        losses.append(row["sft_loss"])
        if time.perf_counter() - t0 > sft_seconds:
            raise _Enough

    if DEV == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if DEV == "cuda" else torch.autocast("cpu",
                                                                                                 enabled=False)
    model.train()
    try:
        with autocast:
            sft_train(model, pairs, OptimConfig(lr=lr, warmup_steps=20, micro_batch_size=64, max_seq_len=256),
                      steps=sft_steps, batch_size=64, pad_id=tok.pad_id, seed=0, on_step=on_step)
    except _Enough:
        pass
    _sync()
    torch.backends.cuda.matmul.allow_tf32 = False
    res["sft"] = {"steps": len(losses), "seconds": time.perf_counter() - t0, "loss_first": losses[:3],
                  "loss_last": losses[-3:], "lr": lr, "batch": 64, "autocast_bf16": DEV == "cuda"}
    print(f"  sft: {len(losses)} steps in {res['sft']['seconds']:.1f}s, loss {losses[:1]} -> {losses[-3:]}",
          flush=True)
    trained = model.to(bf16).eval()
    res["trained_bf16"] = evaluate(trained, "trained bf16")
    out = generate(trained, prompts, SamplingParams(max_new_tokens=192, temperature=0.0), tok.eos_id, tok.pad_id, 64)
    res["trained_accuracy"] = sum(
        c.finish_reason == "eos" and verify(t, i, tok.decode(c.token_ids[:-1])) >= 1.0
        for c, t, i in zip(out, held["task"].to_pylist(), held["identity_json"].to_pylist())) / len(out)
    print(f"  trained accuracy (greedy, 192 tokens): {res['trained_accuracy']:.3f}", flush=True)
    del model, trained
    if DEV == "cuda":
        torch.cuda.empty_cache()
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"))
    p.add_argument("--parts", default="engines,step", help="comma list of engines, agree, rewards, step")
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
    p.add_argument("--ways", default=",".join(ALL_WAYS), help="engines to time (builtin = CUDA-graph decode on CUDA)")
    p.add_argument("--hf-max-rows", type=int, default=10**9, help="time HF generate only up to this many rows")
    p.add_argument("--agree-recipe", default="s1_ref", help="comma list of recipes")
    p.add_argument("--agree-rows", type=int, default=256)
    p.add_argument("--agree-tokens", default="16,64")
    p.add_argument("--agree-sft-steps", type=int, default=400)
    p.add_argument("--agree-sft-seconds", default="120", help="stop SFT after this many seconds (one per recipe)")
    p.add_argument("--agree-lr", type=float, default=1e-3)
    p.add_argument("--agree-hf-generate", action="store_true", help="also compare with HF generate row by row")
    p.add_argument("--agree-bf16", action="store_true", help="evaluate the 'bf16' cases in bf16 on CPU too")
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
                                            args.repeat, args.check_tokens, args.profile,
                                            tuple(args.ways.split(",")), args.hf_max_rows)
            dump()
    if "agree" in parts:
        res["agree"] = []
        recipes = args.agree_recipe.split(",")
        seconds = [float(x) for x in args.agree_sft_seconds.split(",")]
        for recipe, sec in zip(recipes, seconds + seconds[-1:] * len(recipes)):
            with tempfile.TemporaryDirectory() as work:
                res["agree"].append(bench_agree(work, recipe, args.task, args.agree_sft_steps, sec, args.agree_rows,
                                                [int(x) for x in args.agree_tokens.split(",")], args.agree_lr,
                                                args.agree_hf_generate, args.agree_bf16))
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
                 for w in ALL_WAYS if w in r]
        print(f"{r['recipe']} B={r['rows']}: " + "; ".join(cells)
              + f"; identical rows {r.get('rows_identical_first_tokens')}")


if __name__ == "__main__":
    main()
