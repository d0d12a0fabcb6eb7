"""Chaos, kills: kill -9 the `s1` process at random points of every stage of the pipeline flow, `s1 rerun`, compare.

    .venv/bin/python benchmarks/chaos_kills.py kills [--kills 6] [--seed 0] [--rl] [--out DIR] [--json FILE]
    .venv/bin/python benchmarks/chaos_kills.py rl [--kills 4] [--seed 0] [--out DIR] [--json FILE]

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

`rl`: kills during offline and online RL of `s1 run rl` (the tiny recipe, the demo's 40 SFT steps). A base home is
made once by `s1 run pipeline` (RL off); each trial (and the reference) is a fresh home holding a copy of the base's
manifest (its artifacts are read where the base keeps them), so only RL runs per trial. The stages are taken in
turn; the kill comes after a random number of steps the stage reported (its work folder's metrics.jsonl: SFT
steps, online RL steps), 0 meaning a random moment 1-15 s after the stage started (Ray, best-of-N rollouts, the
engine starting). Processes left: those tagged with the killed owner and, independently, every process whose
environment names the trial's home (S1_HOME), 5 s after the kill. Artifacts compared: offline_rl, online_rl,
rl_checkpoint (content_sha256 by name and fingerprint); weights: offline_rl and rl_checkpoint, tensor by tensor.
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


def _home_procs(home: Path, within_s: float = 0.0) -> list[str]:
    """Processes whose environment has S1_HOME=home, tagged or not (Ray's raylet and workers, trainer ranks, the
    reaper itself), polled until none is left or `within_s` has passed."""
    needle = f"S1_HOME={home}".encode()
    deadline = time.monotonic() + within_s
    while True:
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                env = open(f"/proc/{d}/environ", "rb").read().split(b"\0")
            except OSError:
                continue
            if needle in env:
                out.append(f"{d}: {_cmd(int(d))[:120]}")
        if not out or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


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


RL_ARTIFACTS = ("offline_rl", "online_rl", "rl_checkpoint")
RL_STAGES = ("offline_rl", "online_rl")


def _rl_home(base: Path, home: Path) -> None:
    """A fresh home holding a copy of the base's manifest (artifacts stay where the base keeps them)."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for f in base.glob("manifest.duckdb*"):
        shutil.copy2(f, home / f.name)


def _history_lines(home: Path, stage: str) -> int:
    n = 0
    for f in (home / "work" / stage).glob("*/metrics.jsonl"):
        n += sum(1 for line in open(f) if line.strip())
    return n


def rl_kills(args) -> dict:
    from s1model.procs import sweep_orphans, tag_of

    out = Path(args.out or tempfile.mkdtemp(prefix="s1-chaos-rl-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    load0 = os.getloadavg()
    base = out / "base"
    if not (out / "base.json").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir()
        (out / "pipeline.json").write_text(json.dumps(_params(base, False)))
        rc, base_s = _run(S1 + ["run", "pipeline", "--config", str(out / "pipeline.json")], _env(base), args.timeout,
                          out / "base.log")
        if rc != 0:
            raise SystemExit(f"the base pipeline run failed (rc {rc}); see {out / 'base.log'}")
        (out / "base.json").write_text(json.dumps({"seconds": base_s}))
    sft_steps, online_steps = args.sft_steps, 3  # tiny recipe: 3 online steps
    cmd = S1 + ["run", "rl", "--set", f"offline={json.dumps({'sft_steps': sft_steps})}"]
    ref = out / "ref"
    if not (out / "ref.json").exists():
        _rl_home(base, ref)
        rc, ref_s = _run(cmd, _env(ref), args.timeout, out / "ref.log")
        if rc != 0:
            raise SystemExit(f"the reference RL run failed (rc {rc}); see {out / 'ref.log'}")
        (out / "ref.json").write_text(json.dumps({"seconds": ref_s}))
    ref_s = json.loads((out / "ref.json").read_text())["seconds"]
    ref_arts = {k: v for k, v in _artifacts(ref).items() if k[0] in RL_ARTIFACTS}
    names = ["offline_rl", "rl_checkpoint"]
    ref_w = {n: _weights(ref, n) for n in names}
    print(f"reference RL run: {ref_s:.0f} s, {len(ref_arts)} RL artifacts", flush=True)

    trials = []
    for i in range(args.kills):
        stages = args.stages.split(",") if args.stages else list(RL_STAGES)
        stage = stages[i % len(stages)]
        total = sft_steps if stage == "offline_rl" else online_steps
        steps = rng.randrange(0, total)
        delay = rng.uniform(1.0, 15.0)
        home = out / f"kill{i}"
        _rl_home(base, home)
        env = _env(home)
        log = out / f"kill{i}.log"
        with open(log, "ab") as f:
            proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
        owner = tag_of(proc.pid)
        t0, began = time.time(), None
        while proc.poll() is None and time.time() - t0 < args.timeout:
            if began is None and any((home / "work" / stage).glob("*")):
                began = time.time()
            if began is not None:
                lines = _history_lines(home, stage)
                if (steps and lines >= steps) or (not steps and (lines or time.time() - began >= delay)):
                    break
            time.sleep(0.05)
        finished_first = proc.poll() is not None
        reported = _history_lines(home, stage)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_after = time.time() - t0
        survivors = _survivors(owner, within_s=5.0)
        untagged = _home_procs(home, within_s=5.0)  # 5 s more: the reaper exits after its last /proc scan
        sweep_orphans(str(home))
        runs = _manifest(home).query("SELECT run_id FROM runs WHERE flow = 'rl' ORDER BY started_at DESC LIMIT 1")
        hit = [r["stage"] for r in _manifest(home).query(
            "SELECT stage FROM stage_runs WHERE run_id = ? AND status = 'running' AND parent_stage_run_id IS NULL",
            [runs[0]["run_id"]])] if runs else ["(before the run row)"]
        again = S1 + ["rerun", runs[0]["run_id"]] if runs else cmd
        rc, rerun_s = _run(again, env, args.timeout, log)
        arts = _artifacts(home)
        same = [k for k, v in ref_arts.items() if arts.get(k) == v]
        differ = sorted({k[0] for k, v in ref_arts.items() if k in arts and arts[k] != v})
        missing = sorted({k[0] for k in ref_arts if k not in arts})
        w = {n: _max_diff(ref_w[n], _weights(home, n)) for n in names}
        dup = _manifest(home).query(
            "SELECT m.name, m.step, count(*) AS n FROM metrics m JOIN stage_runs r USING (stage_run_id) "
            "WHERE r.stage IN ('offline_rl', 'online_rl') GROUP BY m.name, m.step HAVING count(*) > 1")
        steps_seen = {st: sorted({r["step"] for r in _manifest(home).query(
            "SELECT DISTINCT m.step FROM metrics m JOIN stage_runs r USING (stage_run_id) WHERE r.stage = ? "
            "AND m.name = ?", [st, probe])}) for st, probe in (("offline_rl", "offline.sft_loss"),
                                                               ("online_rl", "rl.reward_mean"))}
        t = {"kill": i, "stage": stage, "running_at_kill": hit, "after_steps": steps, "steps_reported": reported,
             "at_s": round(killed_after, 1), "ended_before_kill": finished_first, "survivors": survivors,
             "home_processes": untagged, "rerun": " ".join(again[3:]), "rerun_rc": rc, "rerun_s": round(rerun_s, 1),
             "artifacts_identical": len(same), "artifacts": len(ref_arts), "artifacts_differ": differ,
             "artifacts_missing": missing, "weights_max_abs_diff": w, "metrics_recorded_twice": len(dup),
             "metric_steps": {k: [v[0], v[-1], len(v)] if v else [] for k, v in steps_seen.items()}}
        trials.append(t)
        print(json.dumps(t), flush=True)

    trials_all, trials = trials, [t for t in trials if not t["ended_before_kill"]]
    ok = [t for t in trials if t["rerun_rc"] == 0]
    summary = {
        "kills": len(trials), "not_killed_ended_first": len(trials_all) - len(trials),
        "stages_killed": sorted({s for t in trials for s in t["running_at_kill"]}),
        "left_processes_after_5s": sum(bool(t["survivors"] or t["home_processes"]) for t in trials),
        "reruns_finished_unaided": len(ok),
        "all_artifacts_identical": sum(t["artifacts_identical"] == t["artifacts"] for t in ok),
        "weights_bit_identical": sum(all(v == 0.0 for v in t["weights_max_abs_diff"].values()) for t in ok),
        "metrics_recorded_once": sum(t["metrics_recorded_twice"] == 0 for t in ok),
        "reference_s": round(ref_s, 1), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
        "seed": args.seed, "out": str(out), "trials": trials_all,
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
    r = sub.add_parser("rl", help="kill -9 during offline and online RL of `s1 run rl`, then s1 rerun; compare")
    r.add_argument("--kills", type=int, default=4, help="number of kills (offline and online RL in turn)")
    r.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    r.add_argument("--stages", help=f"comma-separated stages to kill in, in turn (default: {','.join(RL_STAGES)})")
    r.add_argument("--sft-steps", type=int, default=40, help="offline SFT steps (the demo's 40; a checkpoint every 10)")
    r.add_argument("--timeout", type=float, default=1800, help="limit for each run and rerun, seconds")
    r.add_argument("--out", help="working folder (default: a new temporary one); a finished base and reference "
                                 "there are reused")
    r.add_argument("--json", help="write the summary and every trial here")
    args = p.parse_args(argv)
    if args.cmd == "kills":
        kills(args)
    elif args.cmd == "rl":
        rl_kills(args)


if __name__ == "__main__":
    main()
