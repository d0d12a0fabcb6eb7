"""Start-up of a fully cached small run (issue #23): `s1 run pdf` on 2 small PDFs, the second time, wall clock of the
whole command, before and after, in the same run.

    nice -n 5 .venv/bin/python benchmarks/startup.py --before-ref 1335515 --reps 5 --out benchmarks/results/startup_run.json

Variants, each with its own home (primed by one uncached run that is not timed), timed in turn (A B C A B C ...) so
the machine's load falls on all of them alike:
  before  the CLI at --before-ref, from a `git worktree` checkout (every flow module imported by the registry,
          Prefect's temporary API started at the first client call);
  after   this checkout, no API running (the temporary API started before the flow's imports);
  kept    this checkout after `s1 api start` for the home (every run attaches to the kept API).
Also reported: the run's own wall time (`wall_seconds` of --json: the flow call), the load average around the
measurement, and what `s1 api start` itself took.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from before_after import checkout

REPO = Path(__file__).resolve().parent.parent
PDFS = ["two_pages.pdf", "submission_363.pdf"]


CPU: list[float] = [0.0]  # CPU seconds (user + sys) of the last command and the children it waited for


def s1(code: Path, home: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    import resource

    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "S1_OWNER")}
    env.update(S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"), PYTHONPATH=str(code), COLUMNS="80")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=code, env=env, capture_output=True,
                         text=True, timeout=900)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if out.returncode != 0:
        sys.exit(f"s1 {' '.join(args)} failed in {code}:\n{out.stderr[-3000:]}")
    return wall, out


def which_code(code: Path) -> str:
    out = subprocess.run([sys.executable, "-c", "import flows.cli; print(flows.cli.__file__)"], cwd=code,
                         env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True)
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before-ref", required=True, help="Commit of the 'before' CLI.")
    ap.add_argument("--before-dir", default="/tmp/before", help="Where its worktree is (created if missing).")
    ap.add_argument("--pdfs", default=str(REPO.parent / "shared" / "data" / "pdf"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", default="/tmp/s1-startup-bench")
    ap.add_argument("--out", default=None, help="Write the measurements here (JSON).")
    args = ap.parse_args()

    before = checkout(args.before_ref, Path(args.before_dir))
    codes = {"before": before, "after": REPO, "kept": REPO}
    for name, code in codes.items():  # the CLI each variant runs is that checkout's
        assert which_code(code).startswith(str(code)), (name, which_code(code))
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    inputs = [x for p in PDFS for x in ("--input", str(Path(args.pdfs) / p))]
    homes = {name: work / name for name in codes}

    prime = {}
    for name, code in codes.items():
        if name == "kept":
            t, out = s1(code, homes[name], "api", "start", "--idle-minutes", "15", "--json")
            prime["api_start_s"] = round(t, 2)
        t, out = s1(code, homes[name], "run", "pdf", *inputs, "--set", "n_workers=1", "--json")
        prime[name] = round(t, 2)
        assert not json.loads(out.stdout)["cached"], name

    load_before = os.getloadavg()
    times: dict[str, list[float]] = {n: [] for n in codes}
    inner: dict[str, list[float]] = {n: [] for n in codes}
    cpu: dict[str, list[float]] = {n: [] for n in codes}
    for _ in range(args.reps):
        for name, code in codes.items():
            t, out = s1(code, homes[name], "run", "pdf", *inputs, "--set", "n_workers=1", "--json")
            res = json.loads(out.stdout)
            assert res["cached"], f"{name}: the timed run was not a cache hit"
            times[name].append(round(t, 3))
            cpu[name].append(round(CPU[0], 3))
            inner[name].append(res.get("wall_seconds"))
    load_after = os.getloadavg()
    s1(REPO, homes["kept"], "api", "stop")

    rows = {n: {"median_s": round(statistics.median(v), 2), "min_s": round(min(v), 2), "max_s": round(max(v), 2),
                "flow_call_median_s": round(statistics.median(inner[n]), 2),
                "cpu_median_s": round(statistics.median(cpu[n]), 2), "all_s": v, "cpu_s": cpu[n]}
            for n, v in times.items()}
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": {
        "cpus": os.cpu_count(), "cpu": _cpu(), "python": platform.python_version(),
        "load_avg_1_5_15_before": load_before, "load_avg_1_5_15_after": load_after},
        "before_ref": args.before_ref, "after_ref": _head(), "reps": args.reps, "inputs": PDFS,
        "uncached_first_run_s": prime, "cached": rows}
    print(json.dumps(result, indent=2))
    print("\n| variant | cached `s1 run pdf` wall, median (min-max) | CPU s (user+sys), median | flow call, median |")
    print("|---|---:|---:|---:|")
    for n, r in rows.items():
        print(f"| {n} | {r['median_s']} s ({r['min_s']}-{r['max_s']}) | {r['cpu_median_s']} s | "
              f"{r['flow_call_median_s']} s |")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _head() -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() + (" (+ uncommitted)" if subprocess.run(
                              ["git", "-C", str(REPO), "diff", "--quiet", "--", "flows/cli.py", "flows/registry.py",
                               "flows/prefect_api.py"]).returncode else "")


if __name__ == "__main__":
    main()
