"""The task registry, task configs (task + params) and the enumeration of every config in the library."""

from __future__ import annotations

import hashlib
import itertools
import json
from functools import lru_cache

from pydantic import BaseModel, Field, computed_field

from s1data.bootcamp.base import BaseTask
from s1data.bootcamp.science import SCIENCE_TASKS
from s1data.bootcamp.tail import TAIL_TASKS

REGISTRY: dict[str, type[BaseTask]] = {cls.name: cls for cls in TAIL_TASKS + SCIENCE_TASKS}


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

    def build(self, seed: int = 0) -> BaseTask:
        """Instantiate the task class with these params and a seed."""
        if self.task not in REGISTRY:
            raise KeyError(f"unknown bootcamp task {self.task!r}; see describe_registry() for the names")
        return REGISTRY[self.task](self.params, seed=seed)


def list_configs(tasks: list[str] | None = None) -> list[TaskConfig]:
    """Every valid combination of every task's knob GRID (optionally only for ``tasks``), in registry order."""
    out = []
    for name, cls in REGISTRY.items():
        if tasks is not None and name not in tasks:
            continue
        keys = list(cls.GRID)
        for combo in itertools.product(*(cls.GRID[k] for k in keys)):
            params = cls.Params(**dict(zip(keys, combo))).model_dump()
            if cls.valid_params(params):
                out.append(TaskConfig(task=name, params=params))
    return out


def describe_registry() -> list[dict]:
    """One JSON-ready row per task: name, domain, algorithm class, styles, and each knob's description and values."""
    rows = []
    for name, cls in REGISTRY.items():
        fields = cls.Params.model_fields
        knobs = {k: {"description": fields[k].description, "default": fields[k].default, "values": list(v)}
                 for k, v in cls.GRID.items()}
        rows.append({"name": name, "domain": cls.domain, "algorithm_class": cls.algorithm_class,
                     "class": f"{cls.__module__}.{cls.__qualname__}", "styles": sorted(cls.supported_styles),
                     "knobs": knobs, "doc": (cls.__doc__ or "").strip().split("\n")[0]})
    return rows


@lru_cache(maxsize=None)
def _verifier(task: str) -> BaseTask:
    return REGISTRY[task]()


def verify(task: str, identity_json: str, output: str, format_score: float = 0.0, format_penalty: bool = False) -> float:
    """Score a model output against a stored identity (the reward router's entry point); 0.0 on any error."""
    try:
        return _verifier(task).verify_score(output, json.loads(identity_json), format_score=format_score,
                                            format_penalty=format_penalty)
    except Exception:
        return 0.0
