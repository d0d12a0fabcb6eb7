"""Online RL on CPU across seeds: held-out verified accuracy of the SFT checkpoint and after online RL.

    python benchmarks/rl_cpu_seeds.py --seeds 0,1,2,3,4 [--rl-lr 3e-3] [--rl-steps 30] [--neg-weight 1.0]

The recipe of tests/s1model/rl/test_rl_improves.py (chem_ring_count, direct style, tiny Qwen3-MoE, 40 SFT steps,
8 groups x 8 rollouts per RL step, 128 held-out prompts), with the RL knobs as options, one line per seed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(seed: int, sft_steps: int, rl_steps: int, rl_lr: float, neg_weight: float, kl_cov: bool) -> dict:
    import numpy as np
    import pyarrow.compute as pc
    import torch

    from s1data.bootcamp import export, list_configs
    from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
    from s1model.config import tiny
    from s1model.model import build_model
    from s1model.rl.config import OptimConfig, tiny_online
    from s1model.rl.offline import sft_train
    from s1model.rl.online import online_rl
    from s1model.rl.policy import load_policy
    from tests.s1model.rl.test_rl_improves import EVAL_N, TASK, _accuracy

    with tempfile.TemporaryDirectory() as tmp:
        configs = [c for c in list_configs() if c.task == TASK and c.params["size"] == "small"]
        sft, rl, _ = export(configs, n_per_config=150, seed=seed, style="direct")
        _, fresh, _ = export(configs, n_per_config=150, seed=seed + 1000, style="direct")
        fresh = fresh.filter(pc.invert(pc.is_in(fresh["sample_id"], value_set=sft["sample_id"])))
        held_out = fresh.take(np.random.default_rng(seed).permutation(fresh.num_rows)[:EVAL_N])
        texts = [p + "\n" + r for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())] * 4
        train_tokenizer(texts, f"{tmp}/tok", TokenizerConfig(vocab_size=512, smiles_vocab_size=256,
                        protein_vocab_size=256, dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
        tok = load_tokenizer(f"{tmp}/tok")
        cfg = tiny()
        cfg.model.vocab_size = tok.vocab_size
        torch.manual_seed(seed)
        build_model(cfg).save_pretrained(f"{tmp}/base")
        pairs = [(tok.encode(p + "\n"), tok.encode(r) + [tok.eos_id])
                 for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
        model = load_policy(f"{tmp}/base", "cpu")
        torch.manual_seed(seed)
        sft_train(model, pairs, OptimConfig(lr=3e-3, warmup_steps=3, micro_batch_size=16, max_seq_len=256),
                  steps=sft_steps, batch_size=16, pad_id=tok.pad_id, seed=seed)
        model.save_pretrained(f"{tmp}/sft")
        before = _accuracy(model, tok, held_out)
        before_s = _accuracy(model, tok, held_out, samples=8, seed=seed)
        base = tiny_online()
        rl_cfg = base.model_copy(update={
            "steps": rl_steps, "seed": seed, "train_minibatches": 1, "checkpoint_every": 1000, "average_last": 1,
            "neg_weight": neg_weight, "kl_cov": kl_cov,
            "rollout": base.rollout.model_copy(update={"group_size": 8, "prompts_per_step": 8,
                                                       "sampling": base.rollout.sampling.model_copy(
                                                           update={"seed": seed})}),
            "optim": base.optim.model_copy(update={"lr": rl_lr, "micro_batch_size": 64})})
        res = online_rl(rl_cfg, f"{tmp}/sft", f"{tmp}/tok", rl, f"{tmp}/online")
        final = load_policy(res["hf_checkpoint"], "cpu")
        after = _accuracy(final, tok, held_out)
        after_s = _accuracy(final, tok, held_out, samples=8, seed=seed)
    ms = res["metrics"]
    pick = lambda k: [round(m.get(k, float("nan")), 3) for m in ms]  # noqa: E731
    return {"seed": seed, "sft": before, "after_rl": after, "delta": after - before, "sft_avg8": before_s,
            "after_rl_avg8": after_s, "delta_avg8": after_s - before_s,
            "reward_mean": pick("reward_mean"), "groups_kept": pick("groups_kept"), "updates": sum(pick("updates")),
            "entropy": pick("entropy")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--sft-steps", type=int, default=40)
    p.add_argument("--rl-steps", type=int, default=30)
    p.add_argument("--rl-lr", type=float, default=3e-3)
    p.add_argument("--neg-weight", type=float, default=1.0)
    p.add_argument("--no-kl-cov", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    for s in [int(x) for x in args.seeds.split(",")]:
        t0 = time.perf_counter()
        r = run(s, args.sft_steps, args.rl_steps, args.rl_lr, args.neg_weight, not args.no_kl_cov)
        r["seconds"] = time.perf_counter() - t0
        rows.append(r)
        print(json.dumps(r), flush=True)
    ray.shutdown()
    mean = sum(r["delta"] for r in rows) / len(rows)
    mean_s = sum(r["delta_avg8"] for r in rows) / len(rows)
    print(f"rl_lr={args.rl_lr} steps={args.rl_steps} neg_weight={args.neg_weight}: greedy mean delta {mean:+.3f}, "
          f"improved {sum(r['delta'] > 0 for r in rows)}/{len(rows)}; avg@8 mean delta {mean_s:+.3f}, improved "
          f"{sum(r['delta_avg8'] > 0 for r in rows)}/{len(rows)}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "mean_delta": mean}, f, indent=1)


if __name__ == "__main__":
    os.environ.pop("RAY_ADDRESS", None)
    main()
