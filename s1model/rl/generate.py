"""Rollout generation: a built-in batched engine with a KV cache for the HF model, and an OpenAI-compatible client.

Built-in engine, in reading order: sort prompts by length → left-pad a chunk → one prefill forward into a
`DynamicCache` → decode one token per forward for every unfinished row → drop finished rows from the cache
(`batch_select_indices`), so a row that hit EOS costs nothing afterwards (HF `generate` keeps computing it).
On CUDA the decode step of `StaticKVEngine` runs as one captured CUDA graph (fixed shapes; see `_StaticDecode`).
Shape legend: B rows in flight, L prompt length after padding, N = L + new tokens (cache columns), V vocab.

Numerics: logits are taken in fp32; `logprobs` are the *policy* log-probabilities of the sampled tokens (log-softmax
of the raw logits, temperature 1, no top-p), which is what the RL losses need as behaviour log-probs.
"""

from __future__ import annotations

import json
import os
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import BaseModel, Field, SecretStr

log = logging.getLogger(__name__)

DecodeMode = Literal["auto", "graph", "static", "eager"]


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
    openai_api_key: SecretStr | None = Field(None, description="Bearer token for the server, if it needs one (a "
                                             "secret: masked in the UI and stored parameters; prefer the _env one).")
    openai_api_key_env: str | None = Field(None, description="Name of the environment variable holding the "
                                           "server's bearer token (read at call time).")
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


def _left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids B x L, valid mask B x L bool, positions B x L) with left padding, so every row's next token lands in the
    same column; on `device`."""
    B, L = len(prompts), max(len(p) for p in prompts)
    ids_BL = torch.full((B, L), pad_id, dtype=torch.long)
    ok_BL = torch.zeros(B, L, dtype=torch.bool)
    for b, p in enumerate(prompts):
        ids_BL[b, L - len(p):] = torch.tensor(p, dtype=torch.long)
        ok_BL[b, L - len(p):] = True
    ids_BL, ok_BL = ids_BL.to(device), ok_BL.to(device)
    return ids_BL, ok_BL, (ok_BL.long().cumsum(-1) - 1).clamp(min=0)


def _token_logprob(logits_BV: torch.Tensor, tok_B: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[tok] per row, without writing the B x V log-softmax."""
    return logits_BV.gather(-1, tok_B[:, None]).squeeze(-1) - logits_BV.logsumexp(-1)


def decode_attention():
    """SDPA without cuDNN attention, for decoding: cuDNN builds a new execution plan for every new key length (~8 ms
    of host time per call on an H100, measured: most of a decode step of a small model). Flash / memory-efficient /
    math need no plan."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


class StaticKVEngine:
    """Greedy/sampled decoding for the project's decoders (transformers Qwen3 / Qwen3-MoE) with a preallocated cache.

    Why not the HF forward with a `DynamicCache`: at rollout sizes (hundreds of rows, thousands of steps, small
    models) a decode step is launch-bound, and the HF path adds per step a mask rebuild, cache `torch.cat`s, a
    device->host sync (`.tolist()`). This engine reuses the model's own modules and parameters (so weights pushed into the model are used at once),
    writes K/V into one `[B, Hkv, N, Dh]` buffer per layer, attends with SDPA over the filled prefix (GQA native),
    computes MoE layers for a handful of decode tokens densely over all experts (one einsum instead of HF's sort +
    grouped GEMMs; the routing weights are zero outside the top-k, so the result equals the sparse block), keeps tokens and log-probs on the device, and syncs
    only every `check_every` steps to stop early and to drop finished rows from the batch and the cache.

    decode: how a decode step runs. "eager": the forward above over the filled prefix. "static": the fixed-shape step
    that a CUDA graph replays (`_StaticDecode`: attention over all N cache columns under a mask, K/V written at a
    device-side column index, MoE dense over the experts), run eagerly, so CPU tests check what the graph computes.
    "graph": that step captured once per batch-size bucket and replayed (CUDA only; raises elsewhere). "auto": graph
    on CUDA, eager otherwise; a capture that fails falls back to eager with the reason logged and in `stats`.
    Finished rows leave a static batch when the rows in flight fit a smaller power-of-two bucket (a new capture).
    """

    def __init__(self, model, check_every: int = 32, decode: DecodeMode = "auto"):
        from transformers.models.qwen3.modeling_qwen3 import apply_rotary_pos_emb

        self._rope = apply_rotary_pos_emb
        base = model.model
        self.model, self.base, self.check_every = model, base, check_every
        cfg = model.config
        self.moe = hasattr(base.layers[0].mlp, "experts")
        self.n_kv, self.head_dim = cfg.num_key_value_heads, cfg.head_dim
        self.eps = cfg.rms_norm_eps
        self.decode = decode
        self.stats: dict = {}

    @staticmethod
    def supports(model) -> bool:
        return type(model).__name__ in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM")

    def _moe(self, mlp, h_TD: torch.Tensor) -> torch.Tensor:
        """Qwen3-MoE block. Few tokens (decode): every expert on every token, weighted by the (sparse) routing
        weights. Many tokens (prefill, large decode batches): HF's own block (its experts implementation)."""
        if h_TD.shape[0] > 4 * mlp.experts.num_experts:
            return mlp(h_TD[None])[0]
        return self._moe_dense(mlp, h_TD)

    @staticmethod
    def _moe_dense(mlp, h_TD: torch.Tensor) -> torch.Tensor:
        """Every expert on every token, weighted by the routing weights (zero outside the top-k): fixed shapes and no
        host sync, so it can be captured in a CUDA graph. Costs E / top_k times the active FLOPs, which a decode
        batch (memory-bound: every expert's weights are read either way once B x top_k >= E) does not notice."""
        _, w_TK, idx_TK = mlp.gate(h_TD)
        w_TE = torch.zeros(h_TD.shape[0], mlp.experts.num_experts, dtype=h_TD.dtype, device=h_TD.device)
        w_TE.scatter_(1, idx_TK, w_TK.to(h_TD.dtype))
        gate_TEF, up_TEF = torch.einsum("td,efd->tef", h_TD, mlp.experts.gate_up_proj).chunk(2, dim=-1)
        y_TED = torch.einsum("tef,edf->ted", mlp.experts.act_fn(gate_TEF) * up_TEF, mlp.experts.down_proj)
        return (y_TED * w_TE[..., None]).sum(1)

    def _qkv(self, a, h_BTD: torch.Tensor, cos, sin) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values B x H x T x Dh of one attention block, normed and rotated as the HF layer does."""
        B, T, _ = h_BTD.shape
        q = a.q_norm(a.q_proj(h_BTD).view(B, T, -1, self.head_dim)).transpose(1, 2)
        k = a.k_norm(a.k_proj(h_BTD).view(B, T, -1, self.head_dim)).transpose(1, 2)
        v = a.v_proj(h_BTD).view(B, T, -1, self.head_dim).transpose(1, 2)
        q, k = self._rope(q, k, cos, sin)
        return q, k, v

    def _forward(self, ids_BT: torch.Tensor, pos_BT: torch.Tensor, start: int, keys_ok_BN: torch.Tensor,
                 cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Run T new tokens per row whose K/V go to cache columns start..start+T-1; fp32 logits of the last one."""
        B, T = ids_BT.shape
        x_BTD = self.base.embed_tokens(ids_BT)
        cos, sin = self.base.rotary_emb(x_BTD, pos_BT)
        n = start + T
        ok_BQN = keys_ok_BN[:, None, :n].expand(B, T, n)
        if T > 1:  # causal inside the new block
            causal_TN = torch.arange(n, device=ids_BT.device)[None, :] <= (start + torch.arange(
                T, device=ids_BT.device))[:, None]
            ok_BQN = ok_BQN & causal_TN[None]
        mask_B1QN = ok_BQN[:, None]
        for layer, (k_cache, v_cache) in zip(self.base.layers, cache):
            a = layer.self_attn
            q, k, v = self._qkv(a, layer.input_layernorm(x_BTD), cos, sin)
            k_cache[:, :, start:n] = k
            v_cache[:, :, start:n] = v
            if T == 1:  # decode: the query heads sharing a KV head become that head's queries (no K/V copies)
                o = torch.nn.functional.scaled_dot_product_attention(
                    q.reshape(B, self.n_kv, -1, self.head_dim), k_cache[:, :, :n], v_cache[:, :, :n],
                    attn_mask=mask_B1QN, scale=a.scaling).reshape(B, -1, 1, self.head_dim)
            else:
                o = torch.nn.functional.scaled_dot_product_attention(
                    q, k_cache[:, :, :n], v_cache[:, :, :n], attn_mask=mask_B1QN, scale=a.scaling, enable_gqa=True)
            x_BTD = x_BTD + a.o_proj(o.transpose(1, 2).reshape(B, T, -1))
            h_BTD = layer.post_attention_layernorm(x_BTD)
            if self.moe:
                x_BTD = x_BTD + self._moe(layer.mlp, h_BTD.reshape(B * T, -1)).view(B, T, -1)
            else:
                x_BTD = x_BTD + layer.mlp(h_BTD)
        return self.model.lm_head(self.base.norm(x_BTD[:, -1])).float()

    def _decode_static(self, st: "_StaticDecode") -> torch.Tensor:
        """One decode step over fixed shapes, reading and writing only st's buffers (what a CUDA graph captures):
        token st.tok_B at position st.pos_B; its K/V go to cache column st.start_1 (a device index); attention over
        all N columns, masked to the valid prompt columns and those <= start; fp32 logits B x V."""
        B = st.tok_B.shape[0]
        x_B1D = self.base.embed_tokens(st.tok_B[:, None])
        cos, sin = self.base.rotary_emb(x_B1D, st.pos_B[:, None])
        mask_B11N = (st.ok_BN & (st.cols_N <= st.start_1))[:, None, None, :]
        for layer, (k_cache, v_cache) in zip(self.base.layers, st.cache):
            a = layer.self_attn
            q, k, v = self._qkv(a, layer.input_layernorm(x_B1D), cos, sin)
            k_cache.index_copy_(2, st.start_1, k)
            v_cache.index_copy_(2, st.start_1, v)
            o = torch.nn.functional.scaled_dot_product_attention(
                q.reshape(B, self.n_kv, -1, self.head_dim), k_cache, v_cache, attn_mask=mask_B11N,
                scale=a.scaling).reshape(B, -1, 1, self.head_dim)
            x_B1D = x_B1D + a.o_proj(o.transpose(1, 2).reshape(B, 1, -1))
            h_B1D = layer.post_attention_layernorm(x_B1D)
            if self.moe:
                x_B1D = x_B1D + self._moe_dense(layer.mlp, h_B1D.reshape(B, -1)).view(B, 1, -1)
            else:
                x_B1D = x_B1D + layer.mlp(h_B1D)
        return self.model.lm_head(self.base.norm(x_B1D[:, -1])).float()

    def _mode(self, device: torch.device) -> str:
        if self.decode == "graph" and device.type != "cuda":
            raise ValueError(f"decode='graph' needs a CUDA device; the model is on {device}")
        if self.decode == "auto":
            if device.type != "cuda":
                self.stats["graph_fallback"] = f"CUDA graphs need a CUDA device (model on {device}): eager decode"
                log.debug(self.stats["graph_fallback"])
                return "eager"
            return "graph"
        return self.decode

    @torch.no_grad()
    def run(self, prompts: list[list[int]], params: SamplingParams, eos_id: int, pad_id: int,
            gen: torch.Generator | None) -> list[Completion]:
        device = next(self.model.parameters()).device
        dtype = self.base.embed_tokens.weight.dtype
        mode = self._mode(device)
        self.stats.update(decode=mode, captures=0, capture_s=0.0, shrinks=[])
        ids_BL, ok_BL, pos_BL = _left_pad(prompts, pad_id, device)
        (B, L), new = ids_BL.shape, params.max_new_tokens
        # generated columns are always valid keys; attention reads only the filled prefix [:L + t + 1]
        ok_BN = torch.cat([ok_BL, torch.ones(B, new, dtype=torch.bool, device=device)], dim=1)
        st = None
        if mode == "eager":
            cache = [(torch.empty(B, self.n_kv, L + new, self.head_dim, dtype=dtype, device=device),
                      torch.empty(B, self.n_kv, L + new, self.head_dim, dtype=dtype, device=device))
                     for _ in self.base.layers]
        else:
            st = _StaticDecode(self, B, L + new, dtype, device)
            st.ok_BN.copy_(ok_BN)
            cache = st.cache
        logits_BV = self._forward(ids_BL, pos_BL, 0, ok_BN, cache)
        pos_B = pos_BL[:, -1] + 1
        if st is not None:
            st.pos_B.copy_(pos_B)

        tokens_BN = torch.full((B, new), pad_id, dtype=torch.long, device=device)  # every row's outputs
        logp_BN = torch.zeros(B, new, dtype=torch.float32, device=device)
        rows_R = torch.arange(B, device=device)  # original row of each row still in flight
        done_R = torch.zeros(B, dtype=torch.bool, device=device)
        live = B  # rows in flight; a static batch may hold more (padding rows, whose outputs are ignored)
        steps = new
        for t in range(new):
            tok_S = _sample(logits_BV, params, gen)  # S = rows of the batch as computed (live, or a static bucket)
            tok_R, logp_R = tok_S[:live], _token_logprob(logits_BV[:live], tok_S[:live])
            tokens_BN[rows_R, t] = torch.where(done_R, pad_id, tok_R)
            logp_BN[rows_R, t] = logp_R
            done_R = done_R | (tok_R == eos_id)
            if t == new - 1:
                break
            if (t + 1) % self.check_every == 0:  # the only host sync: stop, or drop finished rows
                keep_R = (~done_R).nonzero().squeeze(-1)
                if keep_R.numel() == 0:
                    steps = t + 1
                    break
                if st is None and keep_R.numel() <= 0.75 * live:
                    rows_R, tok_S, pos_B, done_R = rows_R[keep_R], tok_S[keep_R], pos_B[keep_R], done_R[keep_R]
                    ok_BN = ok_BN[keep_R]
                    cache = [(k[keep_R], v[keep_R]) for k, v in cache]
                    live = keep_R.numel()
                elif st is not None and _bucket(keep_R.numel(), B) < st.size:
                    live = keep_R.numel()
                    pick_S = torch.cat([keep_R, keep_R[:1].expand(_bucket(live, B) - live)])
                    st = st.select(pick_S)
                    self.stats["shrinks"].append((live, st.size))
                    rows_R, tok_S, done_R = rows_R[keep_R], tok_S[pick_S], done_R[keep_R]
            if st is None:
                logits_BV = self._forward(tok_S[:, None], pos_B[:, None], L + t, ok_BN, cache)
                pos_B = pos_B + 1
            else:
                st.tok_B.copy_(tok_S)
                st.start_1.fill_(L + t)
                logits_BV = st.step(mode == "graph")
                if st.graph is None and mode == "graph" and self.decode == "auto":  # capture failed: eager from now
                    mode = self.stats["decode"] = "static"
                st.pos_B += 1

        tokens, logps = tokens_BN[:, :steps].tolist(), logp_BN[:, :steps].tolist()
        out = []
        for b, p in enumerate(prompts):
            toks = tokens[b]
            cut = toks.index(eos_id) + 1 if eos_id in toks else len(toks)
            out.append(Completion(list(p), toks[:cut], logps[b][:cut], "eos" if eos_id in toks else "length"))
        return out


def _bucket(rows: int, cap: int) -> int:
    """Static batch size for `rows` rows in flight: the next power of two, at most cap."""
    return min(cap, 1 << max(0, rows - 1).bit_length())


class _StaticDecode:
    """The buffers of a fixed-shape decode step of S rows over N cache columns, and its CUDA graph once captured.

    Inputs are written in place before each step (tok_B, pos_B, start_1); the graph reads the same memory, so a
    replay is one launch instead of ~1,000. The K/V cache is zero-filled: masked columns must hold finite numbers
    (a masked NaN still poisons the attention output)."""

    def __init__(self, engine: StaticKVEngine, S: int, N: int, dtype: torch.dtype, device: torch.device):
        self.engine, self.size = engine, S
        self.tok_B = torch.zeros(S, dtype=torch.long, device=device)
        self.pos_B = torch.zeros(S, dtype=torch.long, device=device)
        self.start_1 = torch.zeros(1, dtype=torch.long, device=device)
        self.ok_BN = torch.zeros(S, N, dtype=torch.bool, device=device)
        self.cols_N = torch.arange(N, device=device)
        self.cache = [(torch.zeros(S, engine.n_kv, N, engine.head_dim, dtype=dtype, device=device),
                       torch.zeros(S, engine.n_kv, N, engine.head_dim, dtype=dtype, device=device))
                      for _ in engine.base.layers]
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits_BV: torch.Tensor | None = None
        self.failed = False

    def select(self, pick_S: torch.Tensor) -> "_StaticDecode":
        """A new static batch holding rows pick_S of this one (cache, mask, positions); this one is released."""
        S, N = pick_S.numel(), self.cols_N.numel()
        out = _StaticDecode(self.engine, S, N, self.cache[0][0].dtype, self.cols_N.device)
        out.ok_BN.copy_(self.ok_BN[pick_S])
        out.pos_B.copy_(self.pos_B[pick_S])
        out.start_1.copy_(self.start_1)
        for (k2, v2), (k, v) in zip(out.cache, self.cache):
            k2.copy_(k[pick_S])
            v2.copy_(v[pick_S])
        self.cache, self.graph = [], None
        return out

    def _capture(self) -> None:
        import time

        t0 = time.perf_counter()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm-up off the capture: lazy inits, cuBLAS workspaces, autotuning
            self.engine._decode_static(self)  # writes this step's K/V column, which the replay writes again
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.logits_BV = self.engine._decode_static(self)
        self.graph = graph
        torch.cuda.synchronize()
        self.engine.stats["captures"] += 1
        self.engine.stats["capture_s"] += time.perf_counter() - t0

    def step(self, use_graph: bool) -> torch.Tensor:
        """fp32 logits S x V of this step: a replay of the captured graph, or the same step run eagerly."""
        if use_graph and self.graph is None and not self.failed:
            try:
                self._capture()
            except Exception as exc:  # noqa: BLE001 -- any capture error: decode eagerly, say why
                if self.engine.decode == "graph":
                    raise
                self.failed = True
                self.graph = None
                reason = f"CUDA graph capture failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                self.engine.stats["graph_fallback"] = reason + ": static decode run eagerly"
                log.warning("%s; decoding eagerly", reason)
        if self.graph is not None:
            self.graph.replay()
            return self.logits_BV
        return self.engine._decode_static(self)


@torch.no_grad()
def _generate_chunk(model, prompts: list[list[int]], params: SamplingParams, eos_id: int, pad_id: int,
                    gen: torch.Generator | None, engine: str = "auto", check_every: int = 32,
                    decode: DecodeMode = "auto", stats: dict | None = None) -> list[Completion]:
    if engine == "static" or (engine == "auto" and StaticKVEngine.supports(model)):
        eng = StaticKVEngine(model, check_every, decode)
        out = eng.run(prompts, params, eos_id, pad_id, gen)
        if stats is not None:
            stats["decode"] = eng.stats["decode"]
            stats["captures"] = stats.get("captures", 0) + eng.stats["captures"]
            stats["capture_s"] = stats.get("capture_s", 0.0) + eng.stats["capture_s"]
            stats.setdefault("shrinks", []).extend(eng.stats["shrinks"])  # (rows in flight, static batch size)
            if "graph_fallback" in eng.stats:
                stats["graph_fallback"] = eng.stats["graph_fallback"]
        return out
    if stats is not None:
        stats["decode"] = "hf_cache"
    return _generate_chunk_hf(model, prompts, params, eos_id, pad_id, gen)


@torch.no_grad()
def _generate_chunk_hf(model, prompts: list[list[int]], params: SamplingParams, eos_id: int, pad_id: int,
                       gen: torch.Generator | None) -> list[Completion]:
    """Any HF causal LM: the HF forward with a `DynamicCache`, finished rows dropped every step."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    ids_BL, ok_BL, pos_BL = _left_pad(prompts, pad_id, device)
    B, mask_BL = len(prompts), ok_BL.long()
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
        logp_B = _token_logprob(logits_BV, tok_B)
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
             max_batch_size: int = 64, engine: Literal["auto", "static", "hf_cache"] = "auto",
             check_every: int = 32, decode: DecodeMode = "auto", stats: dict | None = None) -> list[Completion]:
    """Complete every prompt (token ids) once with the built-in engine; results in prompt order.

    Prompts are sorted by length and cut into chunks of max_batch_size rows, so padding stays small.
    engine: "auto" takes `StaticKVEngine` for Qwen3 / Qwen3-MoE and the HF-forward + DynamicCache path otherwise;
    check_every: decode steps between the static engine's host syncs (early stop, dropping finished rows);
    decode: the static engine's decode step (see `StaticKVEngine`: "auto" is a CUDA graph on CUDA, eager elsewhere);
    stats: when given, filled with the decode mode used, CUDA-graph captures and their seconds, and the reason of a
    fallback to eager decoding.
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device).manual_seed(params.seed) if params.seed is not None else None
    was_training = model.training
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Completion | None] = [None] * len(prompts)
    with decode_attention():
        try:
            for s in range(0, len(order), max_batch_size):
                chunk = order[s:s + max_batch_size]
                for i, c in zip(chunk, _generate_chunk(model, [prompts[i] for i in chunk], params, eos_id, pad_id,
                                                          gen, engine, check_every, decode, stats)):
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


class WeightSyncError(RuntimeError):
    """The rollout server cannot take new weights, did not take them, or answered with a stale policy."""


class OpenAICompletionsClient:
    """Client of an OpenAI-compatible `/v1/completions` endpoint (vLLM, LMDeploy, SGLang, `s1 serve-model`).

    The server owns the weights; texts come back with the server's token ids when it returns them (`return_token_ids`,
    vLLM's and `s1 serve-model`'s extension), else they are re-encoded with our tokenizer; log-probs are left empty
    (the trainer recomputes them). Weight sync uses SGLang's API shape: `POST /update_weights_from_disk
    {"model_path", "weight_version"}` and `GET /get_model_info` (s1 serve-model adds `weights_sha256`); every
    completion response of `s1 serve-model` names the weights that produced it (`system_fingerprint`,
    `weight_version`).
    """

    def __init__(self, config: GenerationConfig):
        self.config = config
        self.synced = False  # set by require_weight_sync: then token ids are asked for too

    @property
    def server_root(self) -> str:
        """The base URL without its trailing /v1 (SGLang's admin routes live at the root)."""
        url = self.config.openai_base_url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    def _request(self, url: str, body: dict | None = None, timeout: float | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        key = self.config.openai_api_key.get_secret_value() if self.config.openai_api_key else None
        if not key and self.config.openai_api_key_env:
            key = os.environ.get(self.config.openai_api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), headers=headers,
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=timeout or self.config.openai_timeout_s) as resp:
            return json.loads(resp.read())

    def require_weight_sync(self) -> dict:
        """Check at start that the server can take new weights: `GET /get_model_info` answers and `POST
        /update_weights_from_disk` exists (probed with an empty body, which loads nothing). Returns the model info;
        raises WeightSyncError with a one-line reason otherwise."""
        import urllib.error

        root = self.server_root
        try:
            info = self._request(root + "/get_model_info", timeout=30)
        except urllib.error.HTTPError as e:
            raise WeightSyncError(f"rollout server {root} has no GET /get_model_info (HTTP {e.code}): it cannot report "
                                  "which weights it serves; serve the policy with `s1 serve-model` or SGLang") from None
        except (urllib.error.URLError, OSError) as e:
            raise WeightSyncError(f"rollout server {root} is not reachable: {e}") from None
        try:
            self._request(root + "/update_weights_from_disk", {}, timeout=30)
        except urllib.error.HTTPError as e:
            if e.code in (404, 405, 501):
                raise WeightSyncError(f"rollout server {root} has no POST /update_weights_from_disk (HTTP {e.code}): "
                                      "online RL would train on samples of a stale policy; serve the policy with "
                                      "`s1 serve-model` or SGLang") from None
        self.synced = True
        return info

    def update_weights_from_disk(self, model_path: str, weight_version: str, weights_sha256: str | None = None
                                 ) -> dict:
        """Ask the server to load the HF checkpoint in model_path as `weight_version`; verify it took (success, the
        version it reports and, when it reports one, the weights hash). Returns the server's answer."""
        import urllib.error

        root = self.server_root
        try:
            out = self._request(root + "/update_weights_from_disk", {"model_path": model_path,
                                                                      "weight_version": weight_version})
        except urllib.error.HTTPError as e:
            raise WeightSyncError(f"{root}/update_weights_from_disk failed: HTTP {e.code} "
                                  f"{e.read()[:300].decode(errors='replace')}") from None
        if not out.get("success", False):
            raise WeightSyncError(f"{root} did not load {model_path}: {out.get('message')}")
        info = out if "weight_version" in out else self._request(root + "/get_model_info", timeout=30)
        if str(info.get("weight_version")) != str(weight_version):
            raise WeightSyncError(f"{root} serves weight_version {info.get('weight_version')!r} after loading "
                                  f"{weight_version!r}")
        served = info.get("weights_sha256")
        if weights_sha256 and served and served != weights_sha256:
            raise WeightSyncError(f"{root} serves weights {served[:12]} after loading {model_path}, whose hash is "
                                  f"{weights_sha256[:12]}")
        return info

    def complete_with_meta(self, prompts: list[str], n: int, params: SamplingParams
                           ) -> tuple[list[list[tuple[str, str, list[int] | None]]], dict]:
        """([(text, finish_reason, token_ids or None)] * n per prompt, {"system_fingerprint", "weight_version"} of
        the response (None where the server does not say))."""
        body = {"model": self.config.openai_model, "prompt": prompts, "n": n, "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p}
        if self.synced:
            body["return_token_ids"] = True
        if params.seed is not None:
            body["seed"] = params.seed
        payload = self._request(self.config.openai_base_url.rstrip("/") + "/completions", body)
        out: list[list[tuple[str, str, list[int] | None]]] = [[] for _ in prompts]
        for k, choice in enumerate(sorted(payload["choices"], key=lambda c: c.get("index", 0))):
            reason = "eos" if choice.get("finish_reason") == "stop" else "length"
            out[k // n].append((choice["text"], reason, choice.get("token_ids")))
        return out, {"system_fingerprint": payload.get("system_fingerprint"),
                     "weight_version": payload.get("weight_version")}

    def complete(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[tuple[str, str]]]:
        """[(text, finish_reason)] * n per prompt; finish_reason is 'eos' (server said 'stop') or 'length'."""
        out, _ = self.complete_with_meta(prompts, n, params)
        return [[(t, r) for t, r, _ in group] for group in out]
