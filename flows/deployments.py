"""Every flow as a Prefect deployment, so the UI shows a form generated from its typed parameters.

Two ways to run them (README, operator guide):
- `s1 serve`: `prefect.serve(...)` in one long-lived process that polls for scheduled runs (simplest);
- a process work pool: `prefect work-pool create s1 --type process`, `prefect deploy` of the same flows with
  `work_pool_name="s1"`, and `prefect worker start --pool s1` on each machine (one pool per machine class).
"""

from __future__ import annotations

from flows.registry import FLOWS


def deployments(home: str):
    out = []
    for name, (fn, model) in sorted(FLOWS.items()):
        defaults = {"home": home}
        out.append(fn.to_deployment(name=f"s1-{name}", parameters={"params": defaults},
                                    description=(fn.__doc__ or "").strip().splitlines()[0]))
    return out


def serve_all(home: str) -> None:
    from prefect import serve

    serve(*deployments(home))
