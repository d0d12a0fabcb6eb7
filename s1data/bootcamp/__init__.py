"""Bootcamp: verifiable task library (TAIL algorithmic tasks, RDKit chemistry, physics) with reference traces.

Public API::

    REGISTRY                     # task name -> task class
    list_configs() -> list[TaskConfig]
    describe_registry() -> list[dict]
    export(configs, n_per_config, seed, style="tail") -> (sft_data, rl_prompts, exclusions)
    verify(task, identity_json, output) -> float
"""

from s1data.bootcamp.base import STYLES, BaseTask, Verdict, extract_boxed
from s1data.bootcamp.export import export, split_by_length
from s1data.bootcamp.registry import REGISTRY, TaskConfig, describe_registry, list_configs, verify

__all__ = [
    "REGISTRY", "STYLES", "BaseTask", "TaskConfig", "Verdict", "describe_registry", "export", "extract_boxed",
    "list_configs", "split_by_length", "verify",
]
