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
