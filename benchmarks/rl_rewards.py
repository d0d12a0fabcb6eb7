"""Reward verifications per second per core: the Mixture-of-Rewards router over bootcamp samples, one process.

    python benchmarks/rl_rewards.py [--per-config 2] [--out benchmarks/results/rl_rewards.json]

Samples: every bootcamp task config (or --tasks a,b), `--per-config` prompts each, exported in the direct style; half
get the reference answer as the response (`\\boxed{answer}`), half a corrupted one (last character of the answer
changed), so the verifiers run both their accepting and rejecting paths. Scored by `RewardRouter.score_batch` (what
one Ray reward task runs) in this process, single-threaded torch / BLAS. Reported per task family (tail / chem / sci)
and overall, with the judge's per-call timeout on (default, a helper thread per call) and off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_BOXED = re.compile(r"\\boxed\{(.*)\}", re.S)


def make_samples(per_config: int, tasks: list[str] | None, seed: int = 0) -> list[dict]:
    from s1data.bootcamp import export, list_configs

    configs = [c for c in list_configs() if tasks is None or c.task in tasks]
    sft, _, _ = export(configs, n_per_config=per_config, seed=seed, style="direct")
    out = []
    for i, row in enumerate(sft.to_pylist()):
        response = row["response"]
        if i % 2:
            m = _BOXED.search(response)
            if m and m.group(1):
                ans = m.group(1)
                bad = ans[:-1] + ("0" if ans[-1] != "0" else "1")
                response = response[:m.start(1)] + bad + response[m.end(1):]
        out.append({"data_source": row["data_source"], "task": row["task"], "identity_json": row["identity_json"],
                    "prompt": row["prompt"], "response": response, "expect_pass": i % 2 == 0})
    return out


def measure(samples: list[dict], timeout_s: float | None, repeat: int = 2) -> dict:
    from s1model.rl.rewards import RewardConfig, RewardRouter

    router = RewardRouter(RewardConfig(timeout_s=timeout_s))
    router.score_batch(samples[:50])  # build judges, import RDKit
    best, results = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        results = router.score_batch(samples)
        best = min(best, time.perf_counter() - t0)
    fam: dict[str, list[int]] = {}
    per_fam_time: dict[str, float] = {}
    for s in samples:
        fam.setdefault(s["task"].split("_")[0], []).append(0)
    for f in fam:
        sub = [s for s in samples if s["task"].split("_")[0] == f]
        t0 = time.perf_counter()
        router.score_batch(sub)
        per_fam_time[f] = time.perf_counter() - t0
    ok = sum((r.score >= 1.0) == s["expect_pass"] for r, s in zip(results, samples))
    return {"timeout_s": timeout_s, "samples": len(samples), "seconds": best,
            "verifications_per_s_per_core": len(samples) / best,
            "per_family": {f: {"samples": len(fam[f]), "verifications_per_s": len(fam[f]) / per_fam_time[f]}
                           for f in fam},
            "agreement_with_expected": ok / len(samples),
            "reasons": sorted({r.reason for r in results})[:20]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-config", type=int, default=2)
    p.add_argument("--tasks", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    samples = make_samples(args.per_config, args.tasks.split(",") if args.tasks else None)
    print(f"{len(samples)} samples made in {time.perf_counter() - t0:.1f}s", flush=True)
    res = {"machine": f"{platform.processor() or platform.machine()} ({os.cpu_count()} cpus)",
           "with_timeout": measure(samples, 10.0), "no_timeout": measure(samples, None)}
    for k in ("with_timeout", "no_timeout"):
        r = res[k]
        print(f"{k}: {r['verifications_per_s_per_core']:.0f} verifications/s/core over {r['samples']} samples "
              f"(agreement {r['agreement_with_expected']:.3f}); per family: "
              + ", ".join(f"{f} {v['verifications_per_s']:.0f}/s" for f, v in r["per_family"].items()), flush=True)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
