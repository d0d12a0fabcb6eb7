"""Engines chosen by the flows: a Dask cluster for data-parallel stages."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    import distributed


@contextmanager
def dask_client(address: str | None = None, n_workers: int | None = None) -> Iterator["distributed.Client"]:
    """A client to `address` (a running `dask scheduler`), or to a LocalCluster of worker processes.

    Workers are processes behind nannies: a worker killed mid-task is restarted and its task rescheduled.
    """
    from distributed import Client, LocalCluster

    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core",
                 "distributed.worker"):
        logging.getLogger(name).setLevel(logging.WARNING)

    if address:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    n = n_workers or max(1, min(os.cpu_count() or 1, 4))
    # one worker process per core already: each worker's Rust tokenizer pool gets one thread (no oversubscription)
    env = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR, env=env) as cluster, Client(cluster) as client:
        yield client


def as_completed_on(client: "distributed.Client", futures: Iterable) -> "distributed.as_completed":
    """`distributed.as_completed` on `client`'s own event loop.

    Without `loop=`, it tracks futures on `default_client().loop`; when the caller holds another client (a test, a
    notebook, a Prefect worker with its own), that is a different loop and `Future.result()` on a future still
    pending fails with "bound to a different event loop" (seen after a worker was killed mid-task).
    """
    from distributed import as_completed

    return as_completed(list(futures), loop=client.loop)


def driver_threads(address: str | None = None, n_workers: int | None = None) -> int:
    """Threads the flow process may give a serial step that runs while the cluster waits for it (tokenizer
    training): as many as the cluster's workers on this host would use (a local cluster: its workers; a running
    scheduler: the threads of its workers on this host), capped at this host's cores; this host's cores when no
    worker runs here. So `n_workers=1` trains on one core, as a one-worker cluster computes on one."""
    import socket

    cores = os.cpu_count() or 1
    if not address:
        return max(1, min(cores, n_workers or min(cores, 4)))  # dask_client's default cluster size
    from distributed import Client

    names = {"127.0.0.1", "localhost", "::1", socket.gethostname()}
    try:
        names.add(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    try:
        with Client(address, timeout=10) as client:
            workers = list(client.scheduler_info(n_workers=-1).get("workers", {}).values())
    except (OSError, TimeoutError) as e:  # the stage that needs the scheduler says so; training only loses speed
        logging.getLogger(__name__).warning("scheduler %s did not answer (%s): tokenizer training on one thread",
                                            address, e)
        return 1
    here = sum(w.get("nthreads", 1) for w in workers if w.get("host") in names)
    return max(1, min(cores, here)) if here else cores
