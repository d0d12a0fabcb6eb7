"""Every flow as a Prefect deployment, so the UI shows a form generated from its typed parameters.

Two ways to run them (docs/operations.md gives the commands):
- `s1 serve`: `prefect.serve(...)` of `deployments(home)` in one long-lived process that polls the server for
  scheduled runs of deployments `<flow>/s1-<flow>` and runs each in a child process (simplest; one machine);
- process work pools, one per machine class (`MACHINE_CLASS`: data flows on `cpu`, training flows on `gpu`):
  `deploy_to_pools(home)` registers `<flow>/s1-<flow>-<class>` on pool `s1-<class>`, and
  `prefect worker start --pool s1-<class>` on every machine of that class runs them. The deployments name the flow
  by module path (`flows.pdf.pdf_flow`), so a worker needs only this package installed, no code storage.

Retry in the UI reschedules the same Prefect flow run; `flows.context.open_run` maps its id to the same manifest run,
so committed stages and partitions are served from cache (the same mechanism as `s1 rerun`).
"""

from __future__ import annotations

from flows.registry import FLOWS

# machine class of each flow: a Prefect process work pool `s1-<class>` per class
# (a flow missing here goes to `cpu`)
MACHINE_CLASS = {"pdf": "cpu", "web": "cpu", "curate": "cpu", "bootcamp": "cpu", "tokenize": "cpu", "export-hf": "cpu",
                 "pretrain": "gpu", "rl": "gpu", "offline-rl": "gpu", "online-rl": "gpu", "tail-experiment": "gpu",
                 "eval": "gpu", "pipeline": "gpu"}


def _description(fn) -> str:
    return ((fn.__doc__ or "").strip().splitlines() or [fn.name])[0]


def deployments(home: str, names: list[str] | None = None, artifacts: str | None = None):
    """One served deployment `s1-<flow>` per flow; the form's default `home` is this storage root.

    Entrypoints are module paths (`flows.pdf.pdf_flow`): a file-path entrypoint (`flows/pdf.py:pdf_flow`) makes
    Prefect put `flows/` itself on sys.path, where a module named like the standard library's (we had
    `flows/tokenize.py`, now `flows/tokens.py`) shadows it and every spawned child of the flow run dies on import.
    """
    from prefect.deployments.runner import EntrypointType

    out = []
    for name, (fn, model) in sorted(FLOWS.items()):
        if names and name not in names:
            continue
        out.append(fn.to_deployment(name=f"s1-{name}", parameters={"params": _defaults(home, artifacts)},
                                    description=_description(fn), entrypoint_type=EntrypointType.MODULE_PATH))
    return out


def _defaults(home: str, artifacts: str | None) -> dict:
    """The form's defaults: the storage root, and the artifacts URL when one was given (workers on other machines
    read and write partitions there, so a shared store is what lets a pool span hosts)."""
    return {"home": home, **({"artifacts": artifacts} if artifacts else {})}


def serve_all(home: str, names: list[str] | None = None, artifacts: str | None = None) -> None:
    from prefect import serve

    serve(*deployments(home, names, artifacts))


def pool_name(machine_class: str) -> str:
    return f"s1-{machine_class}"


def ensure_pool(name: str) -> None:
    """Create process work pool `name` unless it exists (same as `prefect work-pool create NAME --type process`)."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def deploy_to_pools(home: str, names: list[str] | None = None,
                    classes: dict[str, str] | None = None, artifacts: str | None = None) -> dict[str, list[str]]:
    """Register `<flow>/s1-<flow>-<class>` on process work pool `s1-<class>` for each flow (all by default).

    classes overrides MACHINE_CLASS ({flow: class}). Returns {pool: [deployment names]}. Workers started with
    `prefect worker start --pool s1-<class>` (package installed, same $S1_HOME path) run them.
    """
    from prefect import deploy
    from prefect.deployments.runner import EntrypointType

    by_pool: dict[str, list] = {}
    for name, (fn, model) in sorted(FLOWS.items()):
        if names and name not in names:
            continue
        cls = (classes or {}).get(name) or MACHINE_CLASS.get(name, "cpu")
        by_pool.setdefault(pool_name(cls), []).append(fn.to_deployment(
            name=f"s1-{name}-{cls}", parameters={"params": _defaults(home, artifacts)}, description=_description(fn),
            work_pool_name=pool_name(cls), entrypoint_type=EntrypointType.MODULE_PATH))
    out: dict[str, list[str]] = {}
    for pool, deps in by_pool.items():
        ensure_pool(pool)
        deploy(*deps, work_pool_name=pool, build=False, push=False, print_next_steps_message=False,
               ignore_warnings=True)
        out[pool] = [f"{d.flow_name}/{d.name}" for d in deps]
    return out
