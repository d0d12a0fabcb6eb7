"""The task registry, task configs (task + params) and the enumeration of every config in the library."""

from __future__ import annotations

import hashlib
import itertools
import json
from functools import lru_cache

from pydantic import BaseModel, Field, computed_field

from s1data.bootcamp.base import BaseTask, Verdict
from s1data.bootcamp.science import SCIENCE_TASKS
from s1data.bootcamp.tail import TAIL_TASKS

REGISTRY: dict[str, type[BaseTask]] = {cls.name: cls for cls in tuple(TAIL_TASKS) + tuple(SCIENCE_TASKS)}


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class TaskConfig(BaseModel):
    """One task with one setting of its difficulty knobs."""

    task: str = Field(description="registry name of the task, e.g. tail_addition")
    params: dict = Field(default_factory=dict, description="difficulty parameters, validated by the task's Params")

    @computed_field  # type: ignore[misc]
    @property
    def config_id(self) -> str:
        """Stable id: the task name and a hash of the canonical parameters."""
        h = hashlib.sha256(canonical_json({"task": self.task, "params": self.params}).encode()).hexdigest()[:12]
        return f"{self.task}-{h}"

    def build(self, seed: int = 0):
        """Instantiate the task with these params and a seed: an s1 ``BaseTask``, or an ``ExternalTask`` wrapping an
        InternBootCamp class built with ``Cls(**params)`` (task = ``module:Class`` or an ``s1.tasks`` entry point)."""
        from s1data.bootcamp.plugins import ExternalTask, resolve_task

        cls = resolve_task(self.task)
        if issubclass(cls, BaseTask):
            return cls(self.params, seed=seed)
        return ExternalTask(cls, self.task, self.params, seed=seed)


def _grid_configs(name: str, cls: type[BaseTask]) -> list[TaskConfig]:
    out = []
    keys = list(cls.GRID)
    for combo in itertools.product(*(cls.GRID[k] for k in keys)):
        params = cls.Params(**dict(zip(keys, combo))).model_dump()
        if cls.valid_params(params):
            out.append(TaskConfig(task=name, params=params))
    return out


def list_configs(tasks: list[str] | None = None, task_configs: dict[str, str | list] | None = None
                 ) -> list[TaskConfig]:
    """Every valid combination of every task's knob GRID (optionally only for ``tasks``), in registry order.

    ``tasks`` may name external tasks (``module:Class`` or ``s1.tasks`` entry points); their configs are the
    constructor-kwargs lists of ``task_configs[name]`` (a path to ``<Name>_train.json`` or an inline list), else one
    config with no kwargs (an s1 task with an entry in ``task_configs`` takes those params instead of its GRID).
    """
    from s1data.bootcamp.plugins import load_task_configs, resolve_task

    task_configs = dict(task_configs or {})
    out: list[TaskConfig] = []
    names = list(REGISTRY) if tasks is None else list(tasks)
    for name in task_configs:
        if name not in names:
            names.append(name)
    for name in names:
        cls = resolve_task(name)
        if name in task_configs:
            out.extend(TaskConfig(task=name, params=p) for p in load_task_configs(task_configs[name]))
        elif issubclass(cls, BaseTask):
            out.extend(_grid_configs(name, cls))
        else:
            out.append(TaskConfig(task=name, params={}))
    if tasks is None:  # keep registry order for the whole library
        order = {n: i for i, n in enumerate(names)}
        out.sort(key=lambda c: order[c.task])
    return out


def describe_registry() -> list[dict]:
    """One JSON-ready row per task: name, domain, algorithm class, styles, and each knob's description and values."""
    from s1data.bootcamp.plugins import entry_point_tasks

    rows = []
    for name, cls in REGISTRY.items():
        fields = cls.Params.model_fields
        knobs = {k: {"description": fields[k].description, "default": fields[k].default, "values": list(v)}
                 for k, v in cls.GRID.items()}
        rows.append({"name": name, "domain": cls.domain, "algorithm_class": cls.algorithm_class,
                     "family": family_of(cls), "configs": len(_grid_configs(name, cls)),
                     "class": f"{cls.__module__}.{cls.__qualname__}", "styles": sorted(cls.supported_styles),
                     "knobs": knobs, "doc": (cls.__doc__ or "").strip().split("\n")[0]})
    for name, path in entry_point_tasks().items():  # plugins: listed by name, loaded only when used
        if name not in REGISTRY:
            rows.append({"name": name, "domain": "external", "algorithm_class": None, "family": "plugin",
                         "configs": 1, "class": path, "styles": [], "knobs": {},
                         "doc": "s1.tasks entry point (configs from bootcamp.task_configs)"})
    return rows


def family_of(cls: type[BaseTask]) -> str:
    """The task's group in `s1 bootcamp list`: tail (length sweeps) or its science area."""
    mod = cls.__module__
    if ".tail." in mod:
        return "tail"
    return getattr(cls, "family", None) or cls.domain or "other"


@lru_cache(maxsize=None)
def _verifier(task: str):
    from s1data.bootcamp.plugins import resolve_task

    cls = resolve_task(task)
    return cls() if issubclass(cls, BaseTask) else cls


def verdict(task: str, identity_json: str, output: str, format_score: float = 0.0,
            format_penalty: bool = False) -> Verdict:
    """Score a model output against a stored identity with a reason; never raises (unknown task, bad identity and
    verifier exceptions are ``bootcamp_verifier_error``). External (InternBootCamp) tasks score through their own
    ``verify_score``, partial credit kept and clipped to [0, 1]."""
    from s1data.bootcamp.plugins import score_external

    try:
        v = _verifier(task)
        identity = json.loads(identity_json) if isinstance(identity_json, str) else identity_json
        if isinstance(v, BaseTask):
            out = v.verify(output, identity, format_penalty=format_penalty)
            if out.score < 1.0 and out.reason not in ("bootcamp_no_answer", "bootcamp_missing_think",
                                                      "bootcamp_verifier_error"):
                out.score = max(out.score, float(format_score))
            return out
        return score_external(v, output, identity, format_score=format_score)
    except Exception as exc:  # noqa: BLE001
        return Verdict(0.0, "bootcamp_verifier_error", f"{type(exc).__name__}: {exc}"[:200])


def verify(task: str, identity_json: str, output: str, format_score: float = 0.0, format_penalty: bool = False) -> float:
    """Score a model output against a stored identity (the reward router's entry point); 0.0 on any error."""
    return verdict(task, identity_json, output, format_score=format_score, format_penalty=format_penalty).score
