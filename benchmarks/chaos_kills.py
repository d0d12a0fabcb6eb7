"""Chaos, kills: kill -9 the `s1` process at random points of every stage of the pipeline flow, `s1 rerun`, compare.

    .venv/bin/python benchmarks/chaos_kills.py kills [--kills 6] [--seed 0] [--rl] [--out DIR] [--json FILE]

1. A reference: `s1 run pipeline` uninterrupted on the demo inputs (../shared/data; `s1 demo`'s parameters, RL off
   unless --rl), in its own home. Its manifest gives each top-level stage's start and end, relative to the command's
   start.
2. Per kill: a fresh home; `s1 run pipeline` with the same parameters; kill -9 of the `s1` process alone (not its
   group: what a crash, the OOM killer or `kill -9 PID` does) at a uniformly random moment inside a stage, the stages
   taken in turn. Then: the processes the run had started (tagged with its owner id, s1model.procs) still alive 5 s
   later; `s1 rerun RUN_ID` (or `s1 run` again when the kill came before the run row) with a time limit; whether it
   finished unaided (exit 0, no manual step); each artifact of the reference, matched by (name, fingerprint), with
   an equal content_sha256 in the killed home; and the final weights (cpt_checkpoint in HF layout, rl_checkpoint with
   --rl) compared tensor by tensor against the reference.
Reports kills / survivors / reruns finished unaided / identical artifacts and weights, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

S1 = [sys.executable, "-m", "flows.cli"]


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("S1_OWNER", "PREFECT_API_URL", "S1_ARTIFACTS")}
    env.update(S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"), PYTHONPATH=str(REPO))
    return env


def _params(home: Path, rl: bool) -> dict:
    from flows.pipeline import demo_params

    p = demo_params(str(home))
    p.pop("home")
    p["rl"] = rl
    return p


def _epoch(ts) -> float:
    from datetime import timezone

    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.timestamp()


def _manifest(home: Path):
    from storage import Manifest

    return Manifest(home / "manifest.duckdb", read_only=True, lock_timeout_s=30)


def _timeline(home: Path, t_cmd: float) -> list[dict]:
    """Top-level stages of the home's first pipeline run: name, start and end in seconds after the command started."""
    m = _manifest(home)
    run = m.query("SELECT run_id FROM runs WHERE flow = 'pipeline' ORDER BY started_at LIMIT 1")[0]["run_id"]
    rows = m.query("SELECT stage, status, started_at, finished_at FROM stage_runs WHERE run_id = ? AND "
                   "parent_stage_run_id IS NULL ORDER BY started_at", [run])
    return [{"stage": r["stage"], "start": _epoch(r["started_at"]) - t_cmd,
             "end": _epoch(r["finished_at"]) - t_cmd if r["finished_at"] else None} for r in rows
            if r["status"] != "cached"]


def _artifacts(home: Path) -> dict[tuple[str, str], str]:
    rows = _manifest(home).query("SELECT name, fingerprint, content_sha256 FROM artifacts")
    return {(r["name"], r["fingerprint"]): r["content_sha256"] for r in rows}


def _weights(home: Path, name: str) -> dict:
    from safetensors.torch import load_file

    rows = _manifest(home).query("SELECT uri FROM artifacts WHERE name = ? AND kind = 'hf' ORDER BY artifact_id DESC "
                                 "LIMIT 1", [name])
    if not rows:
        return {}
    d = Path(rows[0]["uri"])
    d = d / "hf" if (d / "hf" / "config.json").exists() else d
    out = {}
    for f in sorted(d.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def _max_diff(a: dict, b: dict) -> float | None:
    if not a or set(a) != set(b):
        return None
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _owned(owner: str) -> list[int]:
    from s1model.procs import tagged

    return list(tagged(owner=owner))


def _cmd(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _survivors(owner: str, within_s: float) -> list[str]:
    from s1model.procs import tagged

    deadline = time.monotonic() + within_s
    while True:
        left = tagged(owner=owner)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out = []
    for pid in left:
        try:
            out.append(f"{pid}: " + open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()[:120])
        except OSError:
            pass
    return out


def _run(cmd: list[str], env: dict, timeout: float, log: Path) -> tuple[int, float]:
    t0 = time.time()
    with open(log, "ab") as f:
        try:
            rc = subprocess.run(cmd, env=env, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.time() - t0


def kills(args) -> dict:
    from s1model.procs import sweep_orphans, tag_of

    out = Path(args.out or tempfile.mkdtemp(prefix="s1-chaos-kills-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    ref = out / "ref"
    cfg = out / "pipeline.json"
    cmd = S1 + ["run", "pipeline", "--config", str(cfg)]
    load0 = os.getloadavg()

    saved = out / "ref.json"  # a finished reference in --out is reused (same parameters)
    if saved.exists() and (ref / "manifest.duckdb").exists():
        r = json.loads(saved.read_text())
        timeline, ref_s = r["timeline"], r["seconds"]
    else:
        shutil.rmtree(ref, ignore_errors=True)
        ref.mkdir()
        cfg.write_text(json.dumps(_params(ref, args.rl)))
        t_cmd = time.time()
        rc, ref_s = _run(cmd, _env(ref), args.timeout, out / "ref.log")
        if rc != 0:
            raise SystemExit(f"the reference run failed (rc {rc}); see {out / 'ref.log'}")
        timeline = [s for s in _timeline(ref, t_cmd) if s["end"] is not None and s["end"] - s["start"] > 0.5]
        saved.write_text(json.dumps({"timeline": timeline, "seconds": ref_s}))
    if args.stages:
        by_name = {s["stage"]: s for s in timeline}
        unknown = [n for n in args.stages.split(",") if n not in by_name]
        if unknown:
            raise SystemExit(f"--stages {unknown}: the reference's stages are {sorted(by_name)}")
        timeline = [by_name[n] for n in args.stages.split(",")]
    ref_arts = _artifacts(ref)
    names = ["cpt_checkpoint"] + (["rl_checkpoint"] if args.rl else [])
    ref_w = {n: _weights(ref, n) for n in names}
    print(f"reference: {ref_s:.0f} s, {len(ref_arts)} artifacts; stages: "
          + ", ".join(f"{s['stage']} {s['start']:.0f}-{s['end']:.0f}s" for s in timeline), flush=True)

    trials = []
    for i in range(args.kills):
        stage = timeline[i % len(timeline)]
        at = rng.uniform(stage["start"], stage["end"])
        home = out / f"kill{i}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        env = _env(home)
        log = out / f"kill{i}.log"
        with open(log, "ab") as f:
            proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
        owner = tag_of(proc.pid)
        t0 = time.time()
        # pretraining: kill after a random number of reported steps (0: while the trainer starts); data stages: at a
        # random moment of the reference's stage window (the stage actually running is read back afterwards)
        steps = rng.randrange(0, 12) if stage["stage"] == "pretrain" else None
        while proc.poll() is None and time.time() - t0 < args.timeout:
            if steps is None and time.time() - t0 >= at:
                break
            if steps is not None:
                trainer = [p for p in _owned(owner) if "s1model.train_entry" in _cmd(p)]
                lines = sum(len(open(f).readlines()) for f in (home / "work" / "pretrain").glob("*/metrics.jsonl"))
                if trainer and lines >= steps:
                    break
            time.sleep(0.05)
        finished_first = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_after = time.time() - t0
        survivors = _survivors(owner, within_s=5.0)
        sweep_orphans(str(home))  # do not let a survivor skew the next trial (counted above)
        runs = _manifest(home).query("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1") \
            if (home / "manifest.duckdb").exists() else []
        hit = [r["stage"] for r in _manifest(home).query(
            "SELECT stage FROM stage_runs WHERE run_id = ? AND status = 'running' AND parent_stage_run_id IS NULL",
            [runs[0]["run_id"]])] if runs else ["(before the run row)"]
        again = S1 + ["rerun", runs[0]["run_id"]] if runs else cmd
        rc, rerun_s = _run(again, env, args.timeout, log)
        arts = _artifacts(home) if (home / "manifest.duckdb").exists() else {}
        same = [k for k, v in ref_arts.items() if arts.get(k) == v]
        differ = sorted({k[0] for k, v in ref_arts.items() if k in arts and arts[k] != v})
        missing = sorted({k[0] for k in ref_arts if k not in arts})
        w = {n: _max_diff(ref_w[n], _weights(home, n)) for n in names}
        t = {"kill": i, "stage": stage["stage"], "running_at_kill": hit, "at_step": steps,
             "at_s": round(killed_after, 1), "ended_before_kill": finished_first,
             "survivors": survivors, "rerun": " ".join(again[3:]), "rerun_rc": rc, "rerun_s": round(rerun_s, 1),
             "artifacts_identical": len(same), "artifacts": len(ref_arts), "artifacts_differ": differ,
             "artifacts_missing": missing, "weights_max_abs_diff": w}
        trials.append(t)
        print(json.dumps(t), flush=True)

    trials_all, trials = trials, [t for t in trials if not t["ended_before_kill"]]
    ok = [t for t in trials if t["rerun_rc"] == 0]
    summary = {
        "kills": len(trials), "not_killed_ended_first": len(trials_all) - len(trials),
        "stages_killed": sorted({s for t in trials for s in t["running_at_kill"]}),
        "left_processes_after_5s": sum(bool(t["survivors"]) for t in trials),
        "reruns_finished_unaided": len(ok),
        "all_artifacts_identical": sum(t["artifacts_identical"] == t["artifacts"] for t in ok),
        "weights_bit_identical": sum(all(v == 0.0 for v in t["weights_max_abs_diff"].values()) for t in ok),
        "reference_s": round(ref_s, 1), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
        "rl": args.rl, "seed": args.seed, "out": str(out), "trials": trials_all,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "trials"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("kills", help="kill -9 at random points of every pipeline stage, then s1 rerun; compare")
    k.add_argument("--kills", type=int, default=6, help="number of kills (stages taken in turn)")
    k.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    k.add_argument("--rl", action="store_true", help="include offline and online RL (slower)")
    k.add_argument("--timeout", type=float, default=1200, help="limit for each run and rerun, seconds")
    k.add_argument("--stages", help="comma-separated stages to kill in, in turn (default: every stage of the "
                                    "reference longer than 0.5 s)")
    k.add_argument("--out", help="working folder (default: a new temporary one); a finished reference there is reused")
    k.add_argument("--json", help="write the summary and every trial here")
    args = p.parse_args(argv)
    if args.cmd == "kills":
        kills(args)


if __name__ == "__main__":
    main()
