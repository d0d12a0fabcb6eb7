"""Export task configs to Arrow tables: SFT data (prompt + reference trace) and RL prompts (prompt + identity).

A case whose own reference answer fails its verifier is not exported: it becomes an exclusion row with reason
``bootcamp_reference_rejected``; an external (InternBootCamp) task whose generator raises gives
``bootcamp_generator_error`` (its cases have no reference: they go to rl_prompts only); a repeated identity (same problem drawn twice) becomes ``bootcamp_duplicate_identity``;
a style the task cannot render becomes ``bootcamp_style_unsupported``.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from typing import Iterable

import pyarrow as pa

from s1data.bootcamp.base import STYLES, BaseTask, Verdict
from s1data.bootcamp.plugins import data_source_of, resolve_task, score_external
from s1data.bootcamp.registry import TaskConfig, canonical_json

logger = logging.getLogger(__name__)

_PRESENTATION_KEYS = ("template",)  # identity fields that change the prompt's wording, not the problem

RL_COLUMNS = ("sample_id", "task", "config_id", "data_source", "domain", "length_bucket", "prompt", "identity_json")
SFT_COLUMNS = RL_COLUMNS[:-1] + ("response", "style", "identity_json")
EXCLUSION_COLUMNS = ("sample_id", "task", "config_id", "reason", "detail")


def sample_seed(seed: int, config_id: str, index: int) -> int:
    """Per-sample seed: independent of the other configs in the mixture and of the export order."""
    return int(hashlib.sha256(f"{seed}:{config_id}:{index}".encode()).hexdigest()[:15], 16)


def sample_id(task: str, identity: dict) -> str:
    """Hash of the problem (presentation fields dropped), so one problem never lands in two splits."""
    core = {k: v for k, v in identity.items() if k not in _PRESENTATION_KEYS}
    return hashlib.sha256(f"{task}:{canonical_json(core)}".encode()).hexdigest()[:20]


def export(
    configs: Iterable[TaskConfig], n_per_config: int, seed: int, style: str = "tail"
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Generate ``n_per_config`` cases per config; return (sft_data, rl_prompts, exclusions). Deterministic in seed."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
    rl: list[dict] = []
    sft: list[dict] = []
    excl: list[dict] = []
    seen: set[str] = set()
    for cfg in configs:
        cls = resolve_task(cfg.task)
        external = not issubclass(cls, BaseTask)
        for i in range(n_per_config):
            base = {"sample_id": None, "task": cfg.task, "config_id": cfg.config_id}
            try:
                task = cfg.build(seed=sample_seed(seed, cfg.config_id, i))
                identity = task.case_generator()
                prompt = task.prompt_func(identity)
            except Exception as exc:  # an external task's generator bug is a row, not a failed export
                if not external:
                    raise
                excl.append({**base, "reason": "bootcamp_generator_error",
                             "detail": f"case {i}: {type(exc).__name__}: {exc}"[:300]})
                continue
            sid = sample_id(cfg.task, identity)
            base["sample_id"] = sid
            if sid in seen:
                excl.append({**base, "reason": "bootcamp_duplicate_identity", "detail": f"case {i}"})
                continue
            seen.add(sid)
            row = {**base, "data_source": data_source_of(cfg.task), "domain": getattr(cls, "domain", "external"),
                   "length_bucket": task.length_bucket(), "prompt": prompt,
                   "identity_json": canonical_json(identity)}
            if external:  # InternBootCamp tasks: RL prompts always; SFT only from a reference that scores 1
                rl.append(row)
                if task.has_reference():
                    try:
                        response = task.reference_solution(identity)
                        v = score_external(cls, response, identity)
                    except Exception as exc:  # noqa: BLE001
                        v = Verdict(0.0, "bootcamp_verifier_error", f"{type(exc).__name__}: {exc}")
                    if v.score == 1.0:
                        sft.append({**row, "response": response, "style": "external"})
                    else:
                        excl.append({**base, "reason": "bootcamp_reference_rejected",
                                     "detail": f"{v.reason} {v.detail}"[:300]})
                continue
            if style not in cls.supported_styles:
                excl.append({**base, "reason": "bootcamp_style_unsupported", "detail": style})
                continue
            try:
                response = task.reference_solution(identity, style)
                verdict = task.verify(response, identity)
            except Exception as exc:  # a solver crash on one case is a row, not a failed export
                excl.append({**base, "reason": "bootcamp_reference_rejected", "detail": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            if verdict.score != 1.0:
                excl.append({**base, "reason": "bootcamp_reference_rejected", "detail": f"{verdict.reason} {verdict.detail}"[:300]})
                continue
            rl.append(row)
            sft.append({**row, "response": response, "style": style})
    counts = Counter(e["reason"] for e in excl)
    logger.info("bootcamp export: %d samples, exclusions %s", len(rl), dict(counts))
    return (
        pa.Table.from_pylist(sft, schema=_schema(SFT_COLUMNS)),
        pa.Table.from_pylist(rl, schema=_schema(RL_COLUMNS)),
        pa.Table.from_pylist(excl, schema=_schema(EXCLUSION_COLUMNS)),
    )


def _schema(cols) -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in cols])


def split_by_length(
    table: pa.Table, train_buckets: tuple[str, ...] = ("S",), eval_fraction: float = 0.1, seed: int = 0
) -> tuple[pa.Table, pa.Table]:
    """(train, eval): rows outside ``train_buckets`` all go to eval; a hashed ``eval_fraction`` of the train-bucket
    rows is held out too. Rows are keyed by ``sample_id`` (a hash of the problem), so no eval problem is in train."""
    buckets = table.column("length_bucket").to_pylist()
    ids = table.column("sample_id").to_pylist()

    def held_out(sid: str) -> bool:
        h = int(hashlib.sha256(f"{seed}:{sid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return h < eval_fraction

    is_eval = [b not in train_buckets or held_out(s) for b, s in zip(buckets, ids)]
    mask = pa.array(is_eval)
    return table.filter(pa.array([not e for e in is_eval])), table.filter(mask)
