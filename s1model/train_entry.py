"""Entry point one rank runs: `python -m s1model.train_entry --config JSON --shards A.parquet ... --out DIR`.

The `deepspeed` launcher (s1model.launch.deepspeed_command) starts one per GPU; tests start it directly. --config is
a PretrainConfig as a JSON file path or inline JSON; --recipe NAME uses a named recipe instead. Per-step metrics go
to stdout and, from rank 0, to --metrics (JSON lines, flushed per step); the returned record to --result.
--profile FILE runs torch.profiler on rank 0 over three steps and writes its operator table there, sorted by device
time (host time on CPU). The window advances as metrics are reported (3 reports skipped, 1 warm-up, 3 recorded), and a
step is reported one step late, so it covers about steps 6-8.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from s1model.config import RECIPES, PretrainConfig
from s1model.procs import break_stale_build_locks, die_with_parent
from s1model.train import pretrain


def _load_config(args) -> PretrainConfig:
    if args.config is None:
        return RECIPES[args.recipe]()
    text = open(args.config).read() if os.path.exists(args.config) else args.config
    return PretrainConfig.model_validate_json(text)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="PretrainConfig JSON (file path or inline)")
    p.add_argument("--recipe", default="tiny", choices=sorted(RECIPES), help="named recipe when --config is absent")
    p.add_argument("--shards", nargs="+", required=True, help="token shard parquet files")
    p.add_argument("--out", required=True, help="output directory (checkpoints/, hf/)")
    p.add_argument("--no-resume", action="store_true", help="start fresh even if checkpoints exist")
    p.add_argument("--metrics", help="append per-step metrics here as JSON lines (rank 0)")
    p.add_argument("--result", help="write the returned record here as JSON (rank 0)")
    p.add_argument("--local_rank", type=int, help="set by the deepspeed launcher (LOCAL_RANK env is used)")
    p.add_argument("--profile", metavar="FILE", help="torch.profiler table of rank 0 (a few steps) to this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # a rank dies with its starter (the flow, the `deepspeed` launcher, a test): nobody would read its output, and
    # a rerun's trainer would write the same checkpoints beside it
    die_with_parent()
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        break_stale_build_locks()  # DeepSpeed's op build lock of a killed trainer: else this one waits forever

    metrics_file = open(args.metrics, "a") if args.metrics else None
    prof = step_profiler() if args.profile and int(os.environ.get("RANK", "0")) == 0 else None

    def on_step(m: dict) -> None:  # called after the step's metrics were read back from the device
        if prof is not None:
            prof.step()
        line = json.dumps({**m, "wall_time": time.time()})
        print(line, flush=True)
        if metrics_file:
            metrics_file.write(line + "\n")
            metrics_file.flush()

    if prof is not None:
        prof.start()
    try:
        result = pretrain(_load_config(args), args.shards, args.out, resume=not args.no_resume, on_step=on_step)
    finally:
        if prof is not None:
            prof.stop()
            write_profile_table(prof, args.profile)
    if args.result and int(os.environ.get("RANK", "0")) == 0:
        with open(args.result, "w") as f:
            json.dump(result, f)
    return result


def step_profiler():
    """torch.profiler over three training steps, advanced by `prof.step()` once per reported step: 3 skipped, 1
    warm-up, 3 recorded, once (CPU, and CUDA when there is one)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    return profile(activities=activities, schedule=schedule(skip_first=3, wait=0, warmup=1, active=3, repeat=1))


def write_profile_table(prof, path: str, sort_by: str = "self", **table_kwargs) -> str:
    """The profiler's operator table, sorted by device time ("self": self time, or "total"; host time without
    CUDA), written to path and returned."""
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    key = f"self_{dev}_time_total" if sort_by == "self" else f"{dev}_time_total"
    try:
        table = prof.key_averages().table(sort_by=key, **{"row_limit": 80, **table_kwargs})
    except Exception as e:  # noqa: BLE001  (too few steps ran for the schedule to record any)
        table = f"no profile: {e}"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(table)
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
