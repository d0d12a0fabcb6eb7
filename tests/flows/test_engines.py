"""flows.engines: the Dask client the data flows use."""

import time

from flows.engines import as_completed_on, dask_client


def _slow(x):
    time.sleep(1.0)
    return x


def test_completion_is_tracked_on_the_flows_own_client_when_another_client_is_the_default():
    # distributed.as_completed tracks futures on default_client().loop. When the caller holds a second client
    # (a test, a notebook), that is another event loop, and Future.result() on a future it tracks fails with
    # "bound to a different event loop": the failure CI saw after a Dask worker was killed.
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as outer, dask_client(cluster.scheduler_address) as client:
        assert outer.loop is not client.loop
        futures = [client.submit(_slow, i, pure=False) for i in range(2)]
        done = as_completed_on(client, futures)
        time.sleep(0.2)  # let as_completed start waiting on the futures' events (where the bug binds the loop)
        assert [f.result() for f in futures] == [0, 1]  # waits while as_completed tracks the same futures
        assert sorted(f.result() for f in done) == [0, 1]


def test_local_dask_workers_die_within_seconds_of_a_kill_9_of_the_process_that_started_them(tmp_path):
    """distributed's worker processes watch their parent themselves (no owner tag or reaper needed): guarded here."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from s1model.procs import start_time

    code = ("import os, sys, time\n"
            "from flows.engines import dask_client\n"
            "with dask_client(n_workers=2) as c:\n"
            "    print(' '.join(map(str, c.run(os.getpid).values())), flush=True)\n"
            "    time.sleep(300)\n")
    env = {k: v for k, v in os.environ.items() if k != "S1_OWNER"}  # no owner, no reaper: the kernel alone
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(start_time(p) is not None for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(start_time(p) is not None for p in workers):
        time.sleep(0.05)
    assert [p for p in workers if start_time(p) is not None] == []


def test_tokenizer_training_gets_the_threads_of_the_clusters_workers_on_this_host():
    import os

    from distributed import LocalCluster

    from flows.engines import driver_threads

    cores = os.cpu_count() or 1
    assert driver_threads(None, 1) == 1  # a one-worker local cluster computes on one core, so does training
    assert driver_threads(None, 10_000) == cores
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert driver_threads(cluster.scheduler_address) == 1  # a running scheduler: its workers on this host


def test_a_scheduler_that_does_not_answer_costs_tokenizer_training_its_threads_not_the_run(caplog):
    from flows.engines import driver_threads

    assert driver_threads("tcp://127.0.0.1:1") == 1  # nothing listens on port 1
    assert "did not answer" in caplog.text and "one thread" in caplog.text
