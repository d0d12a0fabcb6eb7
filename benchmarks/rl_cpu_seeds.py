"""Online RL on CPU across seeds: held-out verified accuracy of the SFT checkpoint and after online RL.

    python benchmarks/rl_cpu_seeds.py --seeds 0,1,2,3,4 [--rl-lr 5e-4] [--rl-steps 30] [--neg-weight 1.0]

`sft_then_online_rl` of tests/s1model/rl/test_rl_improves.py (chem_ring_count, direct style, tiny Qwen3-MoE, 40 SFT
steps, 8 groups x 8 rollouts per RL step, 128 held-out prompts), with the RL knobs as options, one line per seed.
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
    from pathlib import Path

    import tests.s1model.rl.test_rl_improves as recipe

    with tempfile.TemporaryDirectory() as tmp:
        r = recipe.sft_then_online_rl(Path(tmp), seed, rl_lr, rl_steps, neg_weight, kl_cov, sft_steps)
    ms = r["metrics"]
    pick = lambda k: [round(m.get(k, float("nan")), 3) for m in ms]  # noqa: E731
    return {"seed": seed, "sft": r["sft"], "after_rl": r["after_rl"], "delta": r["after_rl"] - r["sft"],
            "sft_avg8": r["sft_avg8"], "after_rl_avg8": r["after_rl_avg8"],
            "delta_avg8": r["after_rl_avg8"] - r["sft_avg8"],
            "reward_mean": pick("reward_mean"), "groups_kept": pick("groups_kept"), "updates": sum(pick("updates")),
            "entropy": pick("entropy")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--sft-steps", type=int, default=40)
    p.add_argument("--rl-steps", type=int, default=30)
    p.add_argument("--rl-lr", type=float, default=5e-4)
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
