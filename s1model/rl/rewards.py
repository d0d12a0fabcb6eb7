"""Mixture-of-Rewards: one router maps each sample's `data_source` to its judge; every reward is in [0, 1] with its
source and a reason.

Judges (the `judge` of a `JudgeRoute`):
  bootcamp      s1data.bootcamp verifiers (rule-based, RDKit, SymPy, pint, spglib); task = data_source after
                "bootcamp/", an InternBootCamp import path `module:Class` (its own verify_score, partial credit
                kept), or sample["task"]; each call in a child process with a time limit (bounded off the main thread)
  format        <think>...</think> present and a \\boxed{} answer after it, each worth a configurable share
  reward_model  POLAR-like scalar reward of (prompt, reference, output) from a local HF sequence-classification
                checkpoint, squashed by a sigmoid
  openai_judge  an OpenAI-compatible /v1/chat/completions judge asked for a score 0-10 in \\boxed{}
  reward_model_standin, llm_judge_standin
                named STAND-INS for the two routes that need a model this machine cannot host: same inputs
                (prompt, reference, output), lexical scoring; the open-ended prompts (open/rm/*, open/judge/*) use
                them by default so every route of the mixture fires
A judge that raises, times out, returns a non-finite value or has no route gives 0 with a reason
(`reward_judge_error`, `reward_judge_timeout`, `reward_not_finite`, `reward_no_route`); it never stops the step.
Reward workers are Ray CPU tasks (`score_with_ray`); each worker process builds its router once.
"""

from __future__ import annotations

import concurrent.futures as cf
import fnmatch
import json
import os
import logging
import math
import re
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


@dataclass
class RewardResult:
    """A judge's verdict on one sample: score in [0, 1], the judge that gave it, a stable snake_case reason."""

    score: float
    source: str
    reason: str
    detail: str = ""
    data_source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class JudgeRoute(BaseModel):
    """data_source pattern → judge. The first route whose pattern matches wins."""

    pattern: str = Field(description="fnmatch pattern over data_source, e.g. 'bootcamp/*' or 'open/*'.")
    judge: Literal["bootcamp", "format", "reward_model", "openai_judge", "reward_model_standin",
                   "llm_judge_standin"] = Field(description="Judge kind.")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the judge (see its class).")


class RewardConfig(BaseModel):
    """The Mixture-of-Rewards router."""

    routes: list[JudgeRoute] = Field(
        default_factory=lambda: [JudgeRoute(pattern="bootcamp/*", judge="bootcamp"),
                                 JudgeRoute(pattern="*:*", judge="bootcamp"),
                                 JudgeRoute(pattern="open/rm/*", judge="reward_model_standin"),
                                 JudgeRoute(pattern="open/judge/*", judge="llm_judge_standin"),
                                 JudgeRoute(pattern="*", judge="format")],
        description="Routes tried in order; default: bootcamp verifiers for bootcamp/* and InternBootCamp tasks "
                    "named by import path (module:Class), the reward-model stand-in for open/rm/*, the LLM-judge "
                    "stand-in for open/judge/*, format rules for the rest. Point open/rm/* at `reward_model` and "
                    "open/judge/* at `openai_judge` where a real RM checkpoint / judge endpoint exists.")
    timeout_s: float | None = Field(10.0, description="A judge that takes longer on one sample gives 0 with reason "
                                    "reward_judge_timeout; None waits forever (and skips the timeout thread).")
    reward_cpus: float = Field(1.0, description="CPUs each Ray reward task asks for.")
    chunk_size: int = Field(256, ge=1, description="Samples per Ray reward task.")


# --- judges --------------------------------------------------------------------------------------------------------

class BootcampJudge:
    """The verifier of the sample's task: an s1 task (data_source ``bootcamp/<name>``) or an InternBootCamp task
    (data_source = its import path ``module:Class`` or ``bootcamp/<entry point>``), scored through the task's own
    ``verify_score`` with partial credit kept and clipped to [0, 1].

    format_score: score of an extracted but wrong answer. timeout_s: each call runs in a child process killed past
    this limit (``bootcamp_verifier_timeout``; works off the main thread, in Ray workers); None verifies in-process.
    """

    source = "bootcamp"

    def __init__(self, format_penalty: bool = False, format_score: float = 0.0, timeout_s: float | None = 5.0):
        self.format_penalty, self.format_score, self.timeout_s = format_penalty, format_score, timeout_s
        self._bounded = None
        if timeout_s is not None:  # started here, outside the router's per-sample timeout (imports take seconds)
            from s1data.bootcamp.bounded import BoundedVerifier

            self._bounded = BoundedVerifier(timeout_s)
            self._bounded.start()

    def __call__(self, sample: dict) -> tuple[float, str, str]:
        from s1data.bootcamp.plugins import task_of_data_source
        from s1data.bootcamp.registry import verdict

        task = sample.get("task") or task_of_data_source(sample["data_source"])
        args = (task, sample["identity_json"], sample["response"])
        kw = {"format_score": self.format_score, "format_penalty": self.format_penalty}
        if self.timeout_s is None:
            v = verdict(*args, **kw)
        else:
            v = self._bounded.verdict(*args, **kw)
        return v.score, v.reason, v.detail


class FormatJudge:
    """think_weight for a closed <think>...</think> block, boxed_weight for a \\boxed{} answer after it."""

    source = "format"

    def __init__(self, think_weight: float = 0.5, boxed_weight: float = 0.5):
        self.think_weight, self.boxed_weight = think_weight, boxed_weight

    def __call__(self, sample: dict) -> tuple[float, str, str]:
        from s1data.bootcamp import extract_boxed

        text = sample["response"]
        has_think = re.search(r"<think>.*?</think>", text, flags=re.S) is not None
        has_boxed = extract_boxed(text) is not None
        score = self.think_weight * has_think + self.boxed_weight * has_boxed
        missing = [n for n, ok in (("think", has_think), ("boxed", has_boxed)) if not ok]
        return score, "format_ok" if not missing else "format_missing_" + "_".join(missing), ""


POLAR_TEMPLATE = "{prompt}\n<|reference|>\n{reference}\n<|output|>\n{output}"


class RewardModelJudge:
    """POLAR-like reward model from a local HF sequence-classification checkpoint (num_labels=1): the text
    POLAR_TEMPLATE(prompt, reference, output) → scalar logit → sigmoid(logit / temperature)."""

    source = "reward_model"

    def __init__(self, checkpoint: str, tokenizer_dir: str, max_tokens: int = 2048, temperature: float = 1.0,
                 template: str = POLAR_TEMPLATE):
        import torch
        from transformers import AutoModelForSequenceClassification

        from s1data.tokenizer import load_tokenizer

        self.model = AutoModelForSequenceClassification.from_pretrained(checkpoint, dtype=torch.float32).eval()
        self.tokenizer = load_tokenizer(tokenizer_dir)
        self.max_tokens, self.temperature, self.template = max_tokens, temperature, template

    def __call__(self, sample: dict) -> tuple[float, str, str]:
        import torch

        text = self.template.format(prompt=sample.get("prompt", ""), reference=sample.get("reference") or "",
                                    output=sample["response"])
        ids = self.tokenizer.encode(text)[-self.max_tokens:]
        with torch.no_grad():
            logit = float(self.model(input_ids=torch.tensor([ids])).logits.float()[0, 0])
        return 1.0 / (1.0 + math.exp(-logit / self.temperature)), "reward_model_scored", f"logit={logit:.4f}"


JUDGE_PROMPT = ("Rate the response to the question against the reference answer, from 0 (wrong or useless) to 10 "
                "(fully correct). Reply with the score only, as \\boxed{{score}}.\n\nQuestion:\n{prompt}\n\n"
                "Reference:\n{reference}\n\nResponse:\n{output}")


class OpenAIJudge:
    """LLM judge (or reward model) behind an OpenAI-compatible /v1/chat/completions endpoint: the last number of its
    reply (a \\boxed{} one first) / max_score."""

    source = "openai_judge"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, max_score: float = 10.0,
                 http_timeout_s: float = 60.0, template: str = JUDGE_PROMPT, api_key_env: str | None = None):
        # api_key_env (the name of an environment variable) keeps the key out of the run's stored parameters
        key = api_key or (os.environ.get(api_key_env) if api_key_env else None)
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, key
        self.max_score, self.http_timeout_s, self.template = max_score, http_timeout_s, template

    def __call__(self, sample: dict) -> tuple[float, str, str]:
        content = self.template.format(prompt=sample.get("prompt", ""), reference=sample.get("reference") or "",
                                       output=sample["response"])
        body = {"model": self.model, "messages": [{"role": "user", "content": content}], "temperature": 0.0}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.http_timeout_s) as resp:
            reply = json.loads(resp.read())["choices"][0]["message"]["content"]
        boxed = re.findall(r"\\boxed\{\s*([-+]?\d+(?:\.\d+)?)\s*\}", reply)
        nums = boxed or re.findall(r"[-+]?\d+(?:\.\d+)?", reply)
        if not nums:
            return 0.0, "openai_judge_unparseable", reply[:200]
        return float(nums[-1]) / self.max_score, "openai_judge_scored", reply[:200]


def _content_tokens(text: str) -> list[str]:
    from s1data.bootcamp import extract_boxed

    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    boxed = extract_boxed(text)
    body = boxed if boxed is not None else text
    return re.findall(r"[a-z0-9]+", body.lower())


def _overlap_f1(reference: str, output: str) -> tuple[float, float, float]:
    from collections import Counter

    ref, out = Counter(_content_tokens(reference)), Counter(_content_tokens(output))
    common = sum((ref & out).values())
    if not ref or not out or not common:
        return 0.0, 0.0, 0.0
    p, r = common / sum(out.values()), common / sum(ref.values())
    return 2 * p * r / (p + r), p, r


class RewardModelStandIn:
    """STAND-IN for a POLAR reward model (a hosted/trained RM cannot exist on this machine): the same inputs
    (prompt, reference, output) → token-overlap F1 of the output's answer (its \\boxed{} part, else the text after
    </think>) against the reference. Replace it with `reward_model` (a local HF checkpoint) in production."""

    source = "reward_model"

    def __call__(self, sample: dict) -> tuple[float, str, str]:
        ref = sample.get("reference") or ""
        if not ref:
            return 0.0, "reward_model_no_reference", ""
        f1, p, r = _overlap_f1(ref, sample["response"])
        return f1, "reward_model_standin_scored", f"overlap p={p:.3f} r={r:.3f}"


class LLMJudgeStandIn:
    """STAND-IN for an LLM judge (no hosted LLM here): renders the same JUDGE_PROMPT an `openai_judge` would send,
    then grades like a strict judge: 10 if the reference's content words are all in the answer, 0 if the answer
    is empty or has none of them, else round(10 x recall); returns score/10. Swap in `openai_judge` with a real
    endpoint."""

    source = "llm_judge"

    def __init__(self, template: str = JUDGE_PROMPT):
        self.template = template

    def __call__(self, sample: dict) -> tuple[float, str, str]:
        ref = sample.get("reference") or ""
        self.template.format(prompt=sample.get("prompt", ""), reference=ref, output=sample["response"])
        if not ref:
            return 0.0, "llm_judge_no_reference", ""
        _, _, recall = _overlap_f1(ref, sample["response"])
        grade = round(10 * recall)
        return grade / 10.0, "llm_judge_standin_scored", f"grade={grade}/10"


JUDGES: dict[str, Callable[..., Callable[[dict], tuple[float, str, str]]]] = {
    "bootcamp": BootcampJudge, "format": FormatJudge, "reward_model": RewardModelJudge, "openai_judge": OpenAIJudge,
    "reward_model_standin": RewardModelStandIn, "llm_judge_standin": LLMJudgeStandIn}


# --- router --------------------------------------------------------------------------------------------------------

class RewardRouter:
    """Routes samples {data_source, response, prompt?, identity_json?, reference?, task?} to judges.

    `judges` overrides/extends the judge kinds by name (a callable sample -> (score, reason, detail)); routes name
    them. Judges are built on first use, so a route that never matches costs nothing.
    """

    def __init__(self, config: RewardConfig | None = None, judges: dict[str, Callable] | None = None):
        self.config = config or RewardConfig()
        self._custom = dict(judges or {})
        self._built: dict[int, Callable] = {}
        self._pool: cf.ThreadPoolExecutor | None = None

    def _judge(self, data_source: str) -> tuple[str, Callable] | None:
        for i, route in enumerate(self.config.routes):
            if fnmatch.fnmatchcase(data_source, route.pattern):
                if i not in self._built:
                    kind = route.judge
                    self._built[i] = self._custom[kind] if kind in self._custom else JUDGES[kind](**route.params)
                return route.judge, self._built[i]
        return None

    def _call(self, judge: Callable, sample: dict):
        timeout = self.config.timeout_s
        if timeout is None:
            return judge(sample)
        if self._pool is None:
            self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward-judge")
        fut = self._pool.submit(judge, sample)
        try:
            return fut.result(timeout=timeout)
        except cf.TimeoutError:
            # The hung judge keeps its thread; a fresh pool serves the next samples.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            raise

    def score(self, sample: dict) -> RewardResult:
        """One sample's reward; never raises for a judge's failure."""
        ds = sample.get("data_source", "")
        found = self._judge(ds)
        if found is None:
            return RewardResult(0.0, "none", "reward_no_route", f"no route matches {ds!r}", ds)
        source, judge = found
        try:
            score, reason, detail = self._call(judge, sample)
        except cf.TimeoutError:
            return RewardResult(0.0, source, "reward_judge_timeout", f"over {self.config.timeout_s}s", ds)
        except Exception as exc:  # noqa: BLE001 -- a judge's bug must not stop the RL step
            return RewardResult(0.0, source, "reward_judge_error", f"{type(exc).__name__}: {exc}"[:300], ds)
        score = float(score)
        if not math.isfinite(score):
            return RewardResult(0.0, source, "reward_not_finite", repr(score), ds)
        return RewardResult(min(1.0, max(0.0, score)), source, reason, detail, ds)

    def score_batch(self, samples: list[dict]) -> list[RewardResult]:
        return [self.score(s) for s in samples]


# --- Ray reward workers --------------------------------------------------------------------------------------------

_WORKER_ROUTERS: dict[str, RewardRouter] = {}


def _score_chunk(config_json: str, samples: list[dict]) -> list[dict]:
    """Body of a Ray reward task: the worker process keeps one router per config."""
    router = _WORKER_ROUTERS.get(config_json)
    if router is None:
        router = _WORKER_ROUTERS[config_json] = RewardRouter(RewardConfig.model_validate_json(config_json))
    return [r.to_dict() for r in router.score_batch(samples)]


_REMOTE = None


def score_with_ray(config: RewardConfig, samples: list[dict]) -> list[RewardResult]:
    """Score samples on Ray CPU tasks of config.chunk_size samples each (Ray must be initialised); input order."""
    import ray

    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(_score_chunk)
    cfg = config.model_dump_json()
    n = config.chunk_size
    refs = [_REMOTE.options(num_cpus=config.reward_cpus).remote(cfg, samples[i:i + n])
            for i in range(0, len(samples), n)]
    return [RewardResult(**d) for chunk in ray.get(refs) for d in chunk]
