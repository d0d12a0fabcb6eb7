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
