"""Fuzz every bootcamp task: N random cases per (task, length bucket); each reference must verify, each perturbed
answer must be rejected. Prints one JSON line per task and a summary with throughput.

    python benchmarks/bootcamp_fuzz.py --cases 2000 [--tasks tail_addition,chem_logp]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s1data.bootcamp import REGISTRY, list_configs  # noqa: E402
from tests.s1data.bootcamp.conftest import perturb  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000, help="cases per (task, length bucket)")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    names = args.tasks.split(",") if args.tasks else list(REGISTRY)
    total_fail, total, t0 = 0, 0, time.perf_counter()
    for name in names:
        by_bucket: dict[str, list] = {}
        for cfg in list_configs([name]):
            by_bucket.setdefault(cfg.build().length_bucket(), []).append(cfg)
        rng = random.Random(f"{args.seed}:{name}")
        fails, t1 = [], time.perf_counter()
        for bucket, cfgs in sorted(by_bucket.items()):
            for k in range(args.cases):
                task = rng.choice(cfgs).build(seed=rng.randrange(2**62))
                idt = task.case_generator()
                ans = task.solve(idt).answer
                ok = task.verify_score(task.reference_solution(idt, "tail"), idt, format_penalty=True) == 1.0
                rej = task.verify_score(f"\\boxed{{{perturb(ans)}}}", idt) == 0.0
                if not (ok and rej):
                    fails.append({"bucket": bucket, "ok": ok, "rejected": rej, "identity": idt})
        n = args.cases * len(by_bucket)
        total += n
        total_fail += len(fails)
        print(json.dumps({"task": name, "cases": n, "failures": len(fails), "first_failure": fails[:1],
                          "cases_per_s": round(n / (time.perf_counter() - t1), 1)}), flush=True)
    print(json.dumps({"tasks": len(names), "cases": total, "failures": total_fail,
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 1 if total_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
