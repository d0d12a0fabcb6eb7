"""Tasks from outside s1: InternBootCamp classes named by import path, and the ``s1.tasks`` entry-point group.

A task name is one of
- a registry name (``tail_addition``, ``bio_reverse_complement``): an s1 task (``BaseTask`` subclass);
- an import path ``module:Class`` (``internbootcamp.bootcamp.game24.game24:Game24bootcamp``), anywhere a task name is
  accepted: a class following InternBootCamp's ``Basebootcamp`` interface (or an s1 ``BaseTask``);
- a name registered by an installed package in the entry-point group ``s1.tasks``
  (``[project.entry-points."s1.tasks"] game24 = "mypkg.game24:Game24bootcamp"``).

InternBootCamp's interface (what the adapter relies on, nothing more): keyword constructor ``Cls(**kwargs)``;
instance ``case_generator() -> identity`` (drawing from the global ``random`` module); static
``prompt_func(identity) -> str``; static ``extract_output(text)``; classmethod ``_verify_correction(solution,
identity) -> bool | float``; classmethod ``verify_score(model_output, identity, format_score=0, short_penalty=True,
short_threshold=100, format_penalty=True) -> float``. Task configs are JSON lists of constructor kwargs
(``<Name>_train.json``). Such a task has no reference solution: it exports to ``rl_prompts`` only (``sft_data`` only
when the class offers ``reference_solution(identity)`` and that answer scores 1).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

from s1data.bootcamp.base import BaseTask, Verdict

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "s1.tasks"
INTERNBOOTCAMP_METHODS = ("case_generator", "prompt_func", "verify_score")


def is_import_path(name: str) -> bool:
    """``module:Class`` (a dotted module, one colon, a dotted attribute)."""
    if not isinstance(name, str) or name.count(":") != 1:
        return False
    mod, attr = name.split(":")
    return bool(mod) and bool(attr) and all(p.isidentifier() for p in mod.split(".") + attr.split("."))


def load_class(path: str) -> type:
    """Import ``module:Class``; a clear error names what is missing."""
    if not is_import_path(path):
        raise ValueError(f"{path!r} is not an import path of the form 'package.module:Class'")
    mod_name, attr = path.split(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ImportError(f"task {path!r}: cannot import module {mod_name!r} ({exc}); is its package installed "
                          "in this environment?") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportError(f"task {path!r}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise TypeError(f"task {path!r} is not a class")
    return obj


@lru_cache(maxsize=1)
def entry_point_tasks() -> dict[str, str]:
    """Entry points of the ``s1.tasks`` group: name -> ``module:Class`` (loaded only when used)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def is_internbootcamp(cls: type) -> bool:
    """A class with InternBootCamp's methods that is not an s1 ``BaseTask``."""
    return isinstance(cls, type) and not issubclass(cls, BaseTask) and all(
        callable(getattr(cls, m, None)) for m in INTERNBOOTCAMP_METHODS)


def resolve_task(name: str) -> type:
    """The class a task name stands for (registry, import path or ``s1.tasks`` entry point); KeyError if none."""
    from s1data.bootcamp.registry import REGISTRY

    if name in REGISTRY:
        return REGISTRY[name]
    if is_import_path(name):
        cls = load_class(name)
    elif name in entry_point_tasks():
        cls = load_class(entry_point_tasks()[name])
    else:
        raise KeyError(f"unknown bootcamp task {name!r}: not a registry name (see `s1 bootcamp list`), not an "
                       f"import path 'module:Class', not an entry point of the {ENTRY_POINT_GROUP!r} group")
    if not (issubclass(cls, BaseTask) or is_internbootcamp(cls)):
        raise TypeError(f"task {name!r} ({cls.__module__}.{cls.__qualname__}) is neither an s1 BaseTask nor an "
                        f"InternBootCamp task (needs {', '.join(INTERNBOOTCAMP_METHODS)})")
    return cls


def data_source_of(name: str) -> str:
    """``bootcamp/<name>`` for registry and entry-point tasks; the import path itself for ``module:Class`` tasks."""
    return name if is_import_path(name) else f"bootcamp/{name}"


def task_of_data_source(data_source: str) -> str:
    """Inverse of ``data_source_of``."""
    return data_source.split("/", 1)[1] if data_source.startswith("bootcamp/") else data_source


def code_fingerprint(name: str) -> str:
    """sha256 of the source file defining an external task (part of the export's fingerprint); '' for s1 tasks."""
    from s1data.bootcamp.registry import REGISTRY

    if name in REGISTRY:
        return ""
    try:
        src = inspect.getsourcefile(resolve_task(name))
        return hashlib.sha256(Path(src).read_bytes()).hexdigest() if src else ""
    except (TypeError, OSError):
        return ""


def load_task_configs(spec: str | list) -> list[dict]:
    """A JSON list of constructor kwargs, from a path (``Name_train.json``; JSON lines accepted too) or inline."""
    if isinstance(spec, list):
        rows = spec
    else:
        text = Path(spec).read_text()
        try:
            rows = json.loads(text)
        except json.JSONDecodeError:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        if isinstance(rows, dict):
            rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"task configs {spec!r}: expected a JSON list of objects (constructor kwargs)")
    return rows


class ExternalTask:
    """An InternBootCamp task instance behind the s1 calls the exporter and the reward judge make.

    ``case_generator`` runs with the global ``random`` (and numpy's, when imported) seeded from the s1 sample seed,
    so export stays deterministic; both generators are restored afterwards.
    """

    domain = "external"
    supported_styles = frozenset()

    def __init__(self, cls: type, name: str, params: dict | None = None, seed: int = 0):
        self.cls, self.name, self.params, self.seed = cls, name, dict(params or {}), seed
        self.inner = cls(**self.params)

    def case_generator(self) -> dict:
        import sys

        state = random.getstate()
        np = sys.modules.get("numpy")
        np_state = np.random.get_state() if np is not None else None
        try:
            random.seed(self.seed)
            if np is not None:
                np.random.seed(self.seed % (2**32))
            identity = self.inner.case_generator()
        finally:
            random.setstate(state)
            if np is not None:
                np.random.set_state(np_state)
        json.dumps(identity)  # a non-JSON identity cannot be stored: the exporter turns this into an exclusion row
        return identity

    def prompt_func(self, identity: dict) -> str:
        return self.cls.prompt_func(identity)

    def length_bucket(self) -> str:
        return ""

    def has_reference(self) -> bool:
        return callable(getattr(self.cls, "reference_solution", None))

    def reference_solution(self, identity: dict, style: str = "direct") -> str:
        return self.cls.reference_solution(identity)


def score_external(cls: type, model_output: str, identity: dict, format_score: float = 0.0) -> Verdict:
    """Score through the class's own ``verify_score``: partial credit kept, clipped to [0, 1]; never raises.

    Reasons: ``bootcamp_correct`` (1), ``bootcamp_partial_credit`` (between), ``bootcamp_wrong_answer`` (0),
    ``bootcamp_verifier_error`` (it raised or returned a non-number).
    """
    import math

    try:
        raw = cls.verify_score(model_output, identity, format_score=format_score)
        score = float(raw)
    except Exception as exc:  # noqa: BLE001 -- a plugin's bug is a reason, never a crashed reward worker
        return Verdict(0.0, "bootcamp_verifier_error", f"{type(exc).__name__}: {exc}"[:200])
    if not math.isfinite(score):
        return Verdict(0.0, "bootcamp_verifier_error", f"verify_score returned {raw!r}")
    score = min(1.0, max(0.0, score))
    reason = ("bootcamp_correct" if score == 1.0 else "bootcamp_wrong_answer" if score == 0.0
              else "bootcamp_partial_credit")
    return Verdict(score, reason, f"verify_score={raw!r}"[:200])
