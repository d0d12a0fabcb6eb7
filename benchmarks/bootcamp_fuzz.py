"""Fuzz every bootcamp task family: N random cases per family (a random config of its knobs, a random seed).

For each case: the reference solution (TAIL trace, think block required) must verify; a wrong answer (the family's
own ``wrong_answer`` hook, else a generic perturbation of the reference: bump a digit, swap a verdict, change a
letter) must be rejected; and ``GARBAGE`` random hostile outputs must never raise inside the verifier (a
``bootcamp_verifier_error`` verdict counts as raised) and never take long (the slowest call is reported).
TAIL families are fuzzed per length bucket as before (``--cases`` per bucket).

    python benchmarks/bootcamp_fuzz.py --cases 1000                     # every family, one process
    python benchmarks/bootcamp_fuzz.py --cases 1000 --procs 16          # families spread over 16 processes
    python benchmarks/bootcamp_fuzz.py --cases 200 --tasks math_derivative,bio_translation
    python benchmarks/bootcamp_fuzz.py --boxed                          # extract_boxed: linear vs the former scan

Prints one JSON line per family and a summary line; exit status 1 when any case failed. Per-family rates are
cases per CPU second of that family's process (time.process_time), so they hold on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GARBAGE_PER_CASE = 3
_HOSTILE = ["", "\\boxed{}", "\\boxed{9^9^9^9^9}", "\\boxed{x**99999999}", "\\boxed{__import__('os').system('x')}",
            "\\boxed{" + "(" * 500 + "}", "\\boxed{nan}", "\\boxed{inf m/s}", "\\boxed{1e999 J}", "\\boxed{-}",
            "\\boxed{" * 3000, "\\boxed{" + "C" * 5000 + "}", "\\boxed{c1ccccc1" * 50 + "}", "\\boxed{\u0000\u202e}",
            "\\boxed{10^{10^{10}} kg}", "\\boxed{[[[[[[]]]]]]}", "\\boxed{yes no}", "\\boxed{A, B, C}",
            "\\boxed{factorial(factorial(99))}", "\\boxed{(x+1)^64^64}", "</think>", "\\boxed{\\frac{1}{0}}",
            "\\boxed{1/0}", "\\boxed{0/0}", "\\boxed{" + "9" * 400 + "}", "\\boxed{ATG" * 100 + "}"]


def garbage(rng: random.Random) -> str:
    """A hostile model output: a fixed nasty one, random characters, or a boxed random token soup."""
    k = rng.random()
    if k < 0.4:
        return rng.choice(_HOSTILE)
    if k < 0.6:
        return "".join(rng.choice(string.printable + "αβ∫√⁻¹\u00a0") for _ in range(rng.randint(0, 300)))
    toks = ["x", "^", "*", "(", ")", "{", "}", "1", "-", ".", "e", "m/s", "kg", "C", "c1", "=", "O", "N", ",",
            "sin", "exp", "yes", "ATG", "10", "\\times", " ", "/", "pi", "oo", "[", "]"]
    return "<think>t</think>\\boxed{" + "".join(rng.choice(toks) for _ in range(rng.randint(1, 60))) + "}"


def fuzz_family(args: tuple[str, int, int]) -> dict:
    """Fuzz one family; returns its record."""
    name, cases, seed = args
    from s1data.bootcamp import REGISTRY, list_configs
    from s1data.bootcamp.registry import family_of
    from tests.s1data.bootcamp.conftest import perturb

    configs = list_configs([name])
    by_bucket: dict[str, list] = {}
    tail = ".tail." in REGISTRY[name].__module__
    for cfg in configs:
        by_bucket.setdefault(cfg.build().length_bucket() if tail else "-", []).append(cfg)
    rng = random.Random(f"{seed}:{name}")
    fails: list[dict] = []
    n = ref_fail = wrong_accepted = raised = 0
    g_calls, g_max, g_time = 0, 0.0, 0.0
    cpu0 = time.process_time()
    for bucket, cfgs in sorted(by_bucket.items()):
        for _ in range(cases):
            n += 1
            cfg = rng.choice(cfgs)
            task = cfg.build(seed=rng.randrange(2**62))
            identity = task.case_generator()
            ans = task.solve(identity).answer
            ok = task.verify_score(task.reference_solution(identity, "tail"), identity, format_penalty=True) == 1.0
            hook = getattr(task, "wrong_answer", None)
            wrong = (hook(identity, rng) if hook else None) or perturb(ans)
            rejected = task.verify_score(f"<think>x</think>\\boxed{{{wrong}}}", identity) == 0.0
            bad = []
            for _ in range(GARBAGE_PER_CASE):
                g = garbage(rng)
                t0 = time.process_time()
                v = task.verify(g, identity)
                dt = time.process_time() - t0
                g_calls, g_time, g_max = g_calls + 1, g_time + dt, max(g_max, dt)
                if v.reason == "bootcamp_verifier_error":
                    bad.append((g[:80], v.detail))
            ref_fail += not ok
            wrong_accepted += not rejected
            raised += len(bad)
            if (not ok or not rejected or bad) and len(fails) < 3:
                fails.append({"config": cfg.params, "reference_ok": ok, "wrong": wrong, "wrong_rejected": rejected,
                              "garbage_raised": bad[:2], "identity": identity})
    cpu = time.process_time() - cpu0
    return {"task": name, "family": family_of(REGISTRY[name]),
            "configs": len(configs), "cases": n, "reference_failed": ref_fail, "wrong_accepted": wrong_accepted,
            "garbage_calls": g_calls, "garbage_raised": raised, "garbage_max_ms": round(1000 * g_max, 2),
            "garbage_mean_ms": round(1000 * g_time / max(g_calls, 1), 3), "cpu_s": round(cpu, 2),
            "cases_per_cpu_s": round(n / max(cpu, 1e-9), 1), "first_failures": fails}


def _former_extract_boxed(text: str):
    """The rescan-per-box implementation replaced in issue #18 (kept here as the side-by-side reference)."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    start = text.rfind("\\boxed{")
    while start != -1:
        i = start + len("\\boxed{")
        depth, j = 1, i
        while j < len(text):
            ch = text[j]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[i:j]
            j += 1
        start = text.rfind("\\boxed{", 0, start)
    return None


def boxed_benchmark() -> None:
    from s1data.bootcamp import extract_boxed

    for n_boxes in (500, 1000, 2000, 8000):
        text = "\\boxed{" * n_boxes  # 7 bytes each: 8000 -> 56 KB
        rec = {"bytes": len(text)}
        for label, fn in (("linear", extract_boxed), ("former", _former_extract_boxed)):
            if label == "former" and n_boxes > 2000:
                rec["former_s"] = "skipped (quadratic: ~16x the 2000-box time)"
                continue
            t0 = time.process_time()
            assert fn(text) is None
            rec[f"{label}_s"] = round(time.process_time() - t0, 4)
        print(json.dumps(rec), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000, help="cases per family (per length bucket for TAIL)")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    ap.add_argument("--skip-tail", action="store_true", help="only the science / breadth families")
    ap.add_argument("--procs", type=int, default=1, help="worker processes (families are spread over them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boxed", action="store_true", help="only time extract_boxed on hostile outputs")
    args = ap.parse_args()
    if args.boxed:
        boxed_benchmark()
        return 0
    from s1data.bootcamp import REGISTRY

    names = args.tasks.split(",") if args.tasks else list(REGISTRY)
    if args.skip_tail:
        names = [n for n in names if ".tail." not in REGISTRY[n].__module__]
    jobs = [(n, args.cases, args.seed) for n in names]
    t0 = time.perf_counter()
    recs = []
    if args.procs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.procs) as pool:
            for rec in pool.imap_unordered(fuzz_family, jobs):
                recs.append(rec)
                print(json.dumps(rec), flush=True)
    else:
        for job in jobs:
            rec = fuzz_family(job)
            recs.append(rec)
            print(json.dumps(rec), flush=True)
    bad = [r["task"] for r in recs if r["reference_failed"] or r["wrong_accepted"] or r["garbage_raised"]]
    print(json.dumps({"families": len(recs), "cases": sum(r["cases"] for r in recs),
                      "garbage_calls": sum(r["garbage_calls"] for r in recs),
                      "reference_failed": sum(r["reference_failed"] for r in recs),
                      "wrong_accepted": sum(r["wrong_accepted"] for r in recs),
                      "garbage_raised": sum(r["garbage_raised"] for r in recs),
                      "garbage_max_ms": max((r["garbage_max_ms"] for r in recs), default=0),
                      "families_with_failures": bad, "wall_s": round(time.perf_counter() - t0, 1),
                      "procs": args.procs, "loadavg": os.getloadavg()}))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
