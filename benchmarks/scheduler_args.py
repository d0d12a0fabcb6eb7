"""What a task argument costs the Dask scheduler: 32 tasks given the science classifier's weights (2^18 x 30 float32,
~31 MB) as a plain argument against the same weights scattered once (`s1data.curate.run.shared`).

    .venv/bin/python benchmarks/scheduler_args.py

Found at 256x (BENCHMARKS.md, "Corpus scale after the two changes"): the kept scheduler peaked at 1,130 MiB during
curate, when a classifier was trained and passed to each of the 32 label tasks. A kept scheduler and one worker are
started here as separate processes (as `dask scheduler` / `dask worker`); the scheduler's RSS is sampled every 50 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def task(i, w):
    return float(w[0, 0]) + i


def measure(mode: str, port: int, tasks: int = 32) -> dict:
    from distributed import Client

    from s1data.curate.run import shared

    sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                              str(port), "--dashboard-address", ":0"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    worker = None
    try:
        time.sleep(3)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}",
                                   "--nthreads", "1", "--no-nanny"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        p, peak, stop = psutil.Process(sched.pid), [0], [False]

        def sample():
            while not stop[0]:
                peak[0] = max(peak[0], p.memory_info().rss >> 20)
                time.sleep(0.05)

        with Client(f"tcp://127.0.0.1:{port}", timeout=30) as c:
            c.wait_for_workers(1)
            base = p.memory_info().rss >> 20
            th = threading.Thread(target=sample)
            th.start()
            W = np.ones((1 << 18, 30), np.float32)
            arg = W if mode == "plain" else shared(c, W)
            total = sum(f.result() for f in [c.submit(task, i, arg, pure=False) for i in range(tasks)])
            stop[0] = True
            th.join()
        assert total == tasks + tasks * (tasks - 1) / 2
        return {"mode": mode, "tasks": tasks, "arg_mib": W.nbytes / 2**20, "scheduler_base_mib": base,
                "scheduler_peak_mib": peak[0]}
    finally:
        for proc in (worker, sched):
            if proc is not None:
                proc.kill()  # a worker told to terminate waits for its (gone) scheduler
                proc.wait()


if __name__ == "__main__":
    for mode, port in (("plain", 8797), ("shared", 8796)):
        print(measure(mode, port), flush=True)
