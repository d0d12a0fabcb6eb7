"""Flow name -> (flow function, parameter model), for `s1 run` and the Prefect deployments.

Loaded on first use, one flow module at a time: `s1 run pdf` imports flows.pdf only, not the training and eval
flows (torch, DeepSpeed, transformers: seconds of start-up a PDF run has no use for). Iterating FLOWS imports all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

# name -> (module, flow function, parameter model)
SPECS: dict[str, tuple[str, str, str]] = {
    "pdf": ("flows.pdf", "pdf_flow", "PdfFlowParams"),
    "web": ("flows.web", "web_flow", "WebFlowParams"),
    "curate": ("flows.curate", "curate_flow", "CurateFlowParams"),
    "bootcamp": ("flows.bootcamp", "bootcamp_flow", "BootcampFlowParams"),
    "tokenize": ("flows.tokens", "tokenize_flow", "TokenizeFlowParams"),
    "pretrain": ("flows.pretrain", "pretrain_flow", "PretrainFlowParams"),
    "export-hf": ("flows.pretrain", "export_flow", "ExportFlowParams"),
    "rl": ("flows.rl", "rl_flow", "RLFlowParams"),
    "offline-rl": ("flows.rl", "offline_rl_flow", "OfflineRLFlowParams"),
    "online-rl": ("flows.rl", "online_rl_flow", "OnlineRLFlowParams"),
    "eval": ("flows.eval", "eval_flow", "EvalFlowParams"),
    "tail-experiment": ("flows.tail_experiment", "tail_experiment_flow", "TailExperimentParams"),
    "pipeline": ("flows.pipeline", "pipeline_flow", "PipelineParams"),
}


class _LazyFlows(Mapping):
    """A read-only mapping that imports a flow's module when the flow is first looked up."""

    def __init__(self, specs: dict[str, tuple[str, str, str]]):
        self._specs, self._loaded = specs, {}

    def __getitem__(self, name: str) -> tuple[Any, type]:
        if name not in self._loaded:
            module, fn, model = self._specs[name]  # KeyError for an unknown flow, as a dict
            m = import_module(module)
            self._loaded[name] = (getattr(m, fn), getattr(m, model))
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


FLOWS: Mapping[str, tuple[Any, type]] = _LazyFlows(SPECS)
