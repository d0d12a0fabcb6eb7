"""Rollout generation: a built-in batched engine with a KV cache for the HF model, and an OpenAI-compatible client.

Built-in engine, in reading order: sort prompts by length → left-pad a chunk → one prefill forward into a
`DynamicCache` → decode one token per forward for every unfinished row → drop finished rows from the cache
(`batch_select_indices`), so a row that hit EOS costs nothing afterwards (HF `generate` keeps computing it).
Shape legend: B rows in flight, L prompt length after padding, V vocab.

Numerics: logits are taken in fp32; `logprobs` are the *policy* log-probabilities of the sampled tokens (log-softmax
of the raw logits, temperature 1, no top-p), which is what the RL losses need as behaviour log-probs.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


class SamplingParams(BaseModel):
    """How to draw one completion."""

    max_new_tokens: int = Field(64, ge=1, description="Stop a completion after this many new tokens.")
    temperature: float = Field(1.0, ge=0.0, description="Softmax temperature; 0 is greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling: keep the smallest set of tokens whose "
                         "probability reaches top_p (1.0 keeps all).")
    seed: int | None = Field(None, description="Seed of the sampling generator; None draws from torch's global RNG.")


class GenerationConfig(BaseModel):
    """Which engine produces rollouts."""

    backend: Literal["builtin", "openai"] = Field("builtin", description="builtin: batched KV-cache engine over the "
                                                  "HF model in-process (weights pushed every step); openai: an "
                                                  "OpenAI-compatible /v1/completions server (vLLM, LMDeploy, SGLang).")
    max_batch_size: int = Field(64, ge=1, description="Rows per forward of the built-in engine.")
    openai_base_url: str = Field("http://127.0.0.1:8000/v1", description="Base URL of the OpenAI-compatible server.")
    openai_model: str = Field("policy", description="Model name sent to the server.")
    openai_api_key: str | None = Field(None, description="Bearer token for the server, if it needs one.")
    openai_timeout_s: float = Field(300.0, description="HTTP timeout of one completions request.")


@dataclass
class Completion:
    """One sampled continuation. `logprobs` is empty when the backend does not return token log-probs."""

    prompt_ids: list[int]
    token_ids: list[int]
    logprobs: list[float] = field(default_factory=list)
    finish_reason: Literal["eos", "length"] = "length"
    text: str | None = None


def _sample(logits_BV: torch.Tensor, params: SamplingParams, gen: torch.Generator | None) -> torch.Tensor:
    """Next token ids B from fp32 logits: argmax at temperature 0, else temperature + top-p sampling."""
    if params.temperature == 0.0:
        return logits_BV.argmax(-1)
    probs_BV = torch.softmax(logits_BV / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_BV, idx_BV = probs_BV.sort(dim=-1, descending=True)
        drop_BV = sorted_BV.cumsum(-1) - sorted_BV > params.top_p  # tokens entirely beyond the nucleus
        sorted_BV = sorted_BV.masked_fill(drop_BV, 0.0)
        probs_BV = torch.zeros_like(probs_BV).scatter(-1, idx_BV, sorted_BV)
    return torch.multinomial(probs_BV, 1, generator=gen).squeeze(-1)


@torch.no_grad()
def _generate_chunk(model, prompts: list[list[int]], params: SamplingParams, eos_id: int, pad_id: int,
                    gen: torch.Generator | None) -> list[Completion]:
    from transformers import DynamicCache

    device = next(model.parameters()).device
    B, L = len(prompts), max(len(p) for p in prompts)
    ids_BL = torch.full((B, L), pad_id, dtype=torch.long)
    mask_BL = torch.zeros(B, L, dtype=torch.long)
    for b, p in enumerate(prompts):  # left padding: every row's next token lands in the last column
        ids_BL[b, L - len(p):] = torch.tensor(p, dtype=torch.long)
        mask_BL[b, L - len(p):] = 1
    ids_BL, mask_BL = ids_BL.to(device), mask_BL.to(device)
    pos_BL = (mask_BL.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids_BL, attention_mask=mask_BL, position_ids=pos_BL, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    logits_BV = out.logits[:, -1].float()

    rows = torch.arange(B, device=device)  # original row of each row in flight
    next_pos_B = pos_BL[:, -1] + 1
    tokens: list[list[int]] = [[] for _ in range(B)]
    logps: list[list[float]] = [[] for _ in range(B)]
    finish = ["length"] * B
    for t in range(params.max_new_tokens):
        tok_B = _sample(logits_BV, params, gen)
        logp_B = torch.log_softmax(logits_BV, -1).gather(-1, tok_B[:, None]).squeeze(-1)
        tok_l, logp_l, rows_l = tok_B.tolist(), logp_B.tolist(), rows.tolist()
        keep = []
        for i, (r, tk, lp) in enumerate(zip(rows_l, tok_l, logp_l)):
            tokens[r].append(tk)
            logps[r].append(lp)
            if tk == eos_id:
                finish[r] = "eos"
            else:
                keep.append(i)
        if not keep or t == params.max_new_tokens - 1:
            break
        if len(keep) < len(rows_l):  # compact: finished rows leave the cache and the batch
            keep_t = torch.tensor(keep, device=device)
            cache.batch_select_indices(keep_t)
            rows, tok_B, next_pos_B, mask_BL = rows[keep_t], tok_B[keep_t], next_pos_B[keep_t], mask_BL[keep_t]
        mask_BL = torch.cat([mask_BL, torch.ones_like(mask_BL[:, :1])], dim=1)
        out = model(input_ids=tok_B[:, None], attention_mask=mask_BL, position_ids=next_pos_B[:, None],
                    past_key_values=cache, use_cache=True)
        logits_BV = out.logits[:, -1].float()
        next_pos_B = next_pos_B + 1
    return [Completion(list(p), tokens[b], logps[b], finish[b]) for b, p in enumerate(prompts)]


def generate(model, prompts: list[list[int]], params: SamplingParams, eos_id: int, pad_id: int = 0,
             max_batch_size: int = 64) -> list[Completion]:
    """Complete every prompt (token ids) once with the built-in engine; results in prompt order.

    Prompts are sorted by length and cut into chunks of max_batch_size rows, so padding stays small.
    """
    gen = torch.Generator().manual_seed(params.seed) if params.seed is not None else None
    was_training = model.training
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Completion | None] = [None] * len(prompts)
    try:
        for s in range(0, len(order), max_batch_size):
            chunk = order[s:s + max_batch_size]
            for i, c in zip(chunk, _generate_chunk(model, [prompts[i] for i in chunk], params, eos_id, pad_id, gen)):
                results[i] = c
    finally:
        model.train(was_training)
    return results  # type: ignore[return-value]


@torch.no_grad()
def greedy_reference(model, prompt: list[int], max_new_tokens: int, eos_id: int) -> list[int]:
    """Greedy decoding without a cache: a full forward over the growing sequence per token (for tests/benchmarks)."""
    model.eval()
    ids = list(prompt)
    out = []
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([ids], device=next(model.parameters()).device)).logits[0, -1]
        tok = int(logits.float().argmax())
        out.append(tok)
        ids.append(tok)
        if tok == eos_id:
            break
    return out


class OpenAICompletionsClient:
    """Client of an OpenAI-compatible `/v1/completions` endpoint (vLLM, LMDeploy, SGLang serve one).

    The server owns the weights; the returned texts are re-encoded with our tokenizer for training, and log-probs
    are left empty (the trainer recomputes them).
    """

    def __init__(self, config: GenerationConfig):
        self.config = config

    def complete(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[tuple[str, str]]]:
        """[(text, finish_reason)] * n per prompt; finish_reason is 'eos' (server said 'stop') or 'length'."""
        body = {"model": self.config.openai_model, "prompt": prompts, "n": n, "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p}
        if params.seed is not None:
            body["seed"] = params.seed
        headers = {"Content-Type": "application/json"}
        if self.config.openai_api_key:
            headers["Authorization"] = f"Bearer {self.config.openai_api_key}"
        req = urllib.request.Request(self.config.openai_base_url.rstrip("/") + "/completions",
                                     data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.config.openai_timeout_s) as resp:
            payload = json.loads(resp.read())
        out: list[list[tuple[str, str]]] = [[] for _ in prompts]
        for k, choice in enumerate(sorted(payload["choices"], key=lambda c: c.get("index", 0))):
            reason = "eos" if choice.get("finish_reason") == "stop" else "length"
            out[k // n].append((choice["text"], reason))
        return out
