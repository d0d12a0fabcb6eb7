"""A small decoder for the TAIL length-generalization experiment, with position encodings built for extrapolation.

The model, in reading order: token embedding (+ Abacus digit-index embedding) → L x [RMSNorm → attention (q/k
RMSNorm, grouped-query, one of four position schemes) → RMSNorm → SwiGLU MLP] → RMSNorm → lm_head. Attention is
causal and stays inside a document of a packed row (documents are told apart by position ids restarting at 0).

Position schemes (`TailModelConfig.position`):
- ``rope``: rotary embedding of the token's index in its document (the HF Qwen3 baseline of the first attempt).
- ``nope``: no position signal at all; the causal mask alone lets a decoder infer order (Kazemnejad et al. 2023).
- ``rope_random``: rotary embedding of *randomised* indices during training: the gap between neighbouring tokens is
  drawn from 1..`random_gap_max`, so a document of n tokens covers indices up to ~n x `random_gap_max` and relative
  distances of any size in that range are seen (after Ruoss et al. 2023, "Randomized positional encodings").
  Evaluation uses the mean training gap, (1 + `random_gap_max`) / 2, so no test index is unseen.
- ``fire``: no rotary; a learned relative bias per head, b_h(i, j) = MLP(log(1 + c(i - j)) / log(1 + c max(i, L0)))
  (FIRE, Li et al. 2023): progressive interpolation keeps the MLP's input in [0, 1] at any length. The bias is
  shared by all layers (one MLP) to keep the cost small. Quadratic memory per forward (B x H x S x S): CPU toys
  and short sequences.

``abacus=True`` (any scheme) adds a learned embedding of each digit's index inside its number (1 for the first digit
of a run of digit tokens, 2 for the next, ...; 0 for a non-digit: no embedding). During training every document's
indices are shifted by one random offset in 0..`abacus_offset_max`, so embeddings up to offset + trained length get
trained (McLeish et al. 2024, "Transformers can do arithmetic with the right embeddings"). Evaluation uses offset 0.

Decoding: `generate()` is a greedy batched KV-cache engine for this model (same contract and `Completion`s as
`s1model.rl.generate.generate`): left padding, the position / Abacus state of every row carried per step.

Shape legend: B rows, S sequence, T new tokens, N keys, D model width, H query heads, K kv heads, E head width,
V vocab.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Position = Literal["rope", "nope", "rope_random", "fire"]
POSITIONS: tuple[str, ...] = ("rope", "nope", "rope_random", "fire")
ABACUS_DIRECTIONS: tuple[str, ...] = ("ltr", "rtl", "both")


@dataclass
class TailModelConfig:
    """Architecture and position scheme of `TailDecoder` (the experiment's own model; not s1model.config)."""

    vocab_size: int = 1024
    hidden_size: int = 256
    num_layers: int = 6
    num_heads: int = 8
    num_kv_heads: int = 4
    head_dim: int = 32
    intermediate_size: int = 1024
    position: str = "rope"  # one of POSITIONS
    rope_theta: float = 10_000.0
    random_gap_max: int = 4  # rope_random: training gaps drawn from 1..this
    abacus: bool = False  # add per-digit index embeddings (needs digit_token_ids)
    abacus_max: int = 256  # largest digit index + offset with an embedding (longer runs are clamped)
    abacus_offset_max: int = 100  # training offset drawn from 0..this per document
    # "ltr": index from a number's first digit (everywhere); "rtl": digit runs of the prompt (before the first
    # `abacus_sep_id` of the document) from the right, so index = significance + 1 and aligned digits of two operands
    # share an index (McLeish et al.); response runs from the left (they are written one token at a time); "both":
    # the ltr index plus a second embedding of the prompt's rtl index (0 in the response)
    abacus_direction: str = "ltr"
    abacus_sep_id: int = -1  # token that ends the prompt (rtl / both); every document must contain it
    input_injection: bool = False  # add the input embedding to every layer's input (McLeish et al.)
    digit_token_ids: list[int] = field(default_factory=list)  # token ids of the ten digits (for abacus)
    fire_hidden: int = 32  # width of FIRE's bias MLP
    fire_l0: float = 64.0  # FIRE's threshold L0 of the progressive interpolation
    rms_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.position not in POSITIONS:
            raise ValueError(f"position {self.position!r} unknown; choose one of {POSITIONS}")
        if self.abacus and not self.digit_token_ids:
            raise ValueError("abacus=True needs digit_token_ids (the token id of each digit 0-9)")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads {self.num_heads} must be a multiple of num_kv_heads {self.num_kv_heads}")
        if self.random_gap_max < 1:
            raise ValueError("random_gap_max must be >= 1")
        if self.abacus_direction not in ABACUS_DIRECTIONS:
            raise ValueError(f"abacus_direction {self.abacus_direction!r} unknown; choose one of {ABACUS_DIRECTIONS}")
        if self.abacus and self.abacus_direction != "ltr" and self.abacus_sep_id < 0:
            raise ValueError(f"abacus_direction={self.abacus_direction!r} needs abacus_sep_id (the token that ends "
                             "the prompt)")


# --- position helpers ----------------------------------------------------------------------------------------------

def segment_ids(pos_BS: torch.Tensor) -> torch.Tensor:
    """Document index of every token of a packed row (a document starts where its position is 0)."""
    return (pos_BS == 0).long().cumsum(-1)


def random_positions(pos_BS: torch.Tensor, gap_max: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training indices with random gaps in 1..gap_max, restarting at 0 at every document start."""
    gap_BS = torch.randint(1, gap_max + 1, pos_BS.shape, device=pos_BS.device, generator=generator)
    start_BS = pos_BS == 0
    gap_BS = gap_BS.masked_fill(start_BS, 0)
    c_BS = gap_BS.cumsum(-1)
    base_BS = torch.where(start_BS, c_BS, torch.zeros_like(c_BS)).cummax(-1).values  # c is non-decreasing
    return c_BS - base_BS


def digit_run_index(is_digit_BS: torch.Tensor, pos_BS: torch.Tensor) -> torch.Tensor:
    """1-based index of each digit inside its run of consecutive digit tokens (0 for a non-digit); a run never
    crosses a document start."""
    d = is_digit_BS.long()
    c = d.cumsum(-1)
    reset = (~is_digit_BS) | (pos_BS == 0)
    base = torch.where(reset, c - d, torch.zeros_like(c)).cummax(-1).values
    return (c - base) * d


def digit_run_index_from_right(is_digit_BS: torch.Tensor, pos_BS: torch.Tensor) -> torch.Tensor:
    """1-based index of each digit inside its run counted from the run's *last* digit (1 = least significant digit;
    0 for a non-digit); a run never crosses a document boundary. Looks ahead: use it on the prompt only."""
    start_BS = pos_BS == 0
    end_BS = torch.ones_like(start_BS)
    end_BS[:, :-1] = start_BS[:, 1:]  # a token is its document's last when the next one starts a document
    d_f = is_digit_BS.flip(-1)
    # on the flipped row a document "starts" at its last token: give it position 0, everything else 1
    pos_f = (~end_BS).flip(-1).long()
    return digit_run_index(d_f, pos_f).flip(-1)


def in_prompt(ids_BS: torch.Tensor, pos_BS: torch.Tensor, sep_id: int) -> torch.Tensor:
    """True for the tokens of a document before its first `sep_id` token (the separator itself included). A segment
    without the separator (a document cut across packed rows) has no prompt: its digits are never indexed from the
    right, which could leak the length of a response number into its own digits."""
    sep = (ids_BS == sep_id).long()
    c = sep.cumsum(-1)
    base = torch.where(pos_BS == 0, c - sep, torch.zeros_like(c)).cummax(-1).values
    seg = segment_ids(pos_BS)
    total = torch.zeros(seg.shape[0], int(seg.max()) + 1, dtype=torch.long, device=seg.device).scatter_add(1, seg, sep)
    return ((c - base - sep) == 0) & (total.gather(1, seg) > 0)


def rope_cos_sin(pos_BS: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (B x S x E) of rotary angles for (possibly fractional) positions, in fp32."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=pos_BS.device, dtype=torch.float32) / head_dim))
    ang_BSe = pos_BS.float()[..., None] * inv
    ang_BSE = torch.cat([ang_BSe, ang_BSe], dim=-1)
    return ang_BSE.cos(), ang_BSE.sin()


def apply_rope(x_BHSE: torch.Tensor, cos_BSE: torch.Tensor, sin_BSE: torch.Tensor) -> torch.Tensor:
    x1, x2 = x_BHSE.chunk(2, dim=-1)
    rot = torch.cat([-x2, x1], dim=-1)
    return (x_BHSE.float() * cos_BSE[:, None] + rot.float() * sin_BSE[:, None]).to(x_BHSE.dtype)


class FireBias(nn.Module):
    """FIRE: bias_h(i, j) = MLP(psi(i - j) / psi(max(i, L0))), psi(x) = log(1 + c x), c learned (> 0)."""

    def __init__(self, num_heads: int, hidden: int, l0: float):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, num_heads))
        self.log_c = nn.Parameter(torch.zeros(()))
        self.l0 = nn.Parameter(torch.tensor(float(l0)))

    def forward(self, qpos_BT: torch.Tensor, kpos_BN: torch.Tensor) -> torch.Tensor:
        """Additive bias B x H x T x N in fp32 (keys after the query get a finite value; the mask removes them)."""
        c = self.log_c.exp()
        rel_BTN = (qpos_BT[:, :, None] - kpos_BN[:, None, :]).float().clamp(min=0)
        den_BT = torch.log1p(c * torch.maximum(qpos_BT.float(), self.l0.abs() + 1.0))
        x_BTN = torch.log1p(c * rel_BTN) / den_BT[:, :, None]
        return self.mlp(x_BTN[..., None]).permute(0, 3, 1, 2)


# --- model ---------------------------------------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, cfg: TailModelConfig):
        super().__init__()
        H, K, E, D = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.hidden_size
        self.H, self.K, self.E = H, K, E
        self.q_proj = nn.Linear(D, H * E, bias=False)
        self.k_proj = nn.Linear(D, K * E, bias=False)
        self.v_proj = nn.Linear(D, K * E, bias=False)
        self.o_proj = nn.Linear(H * E, D, bias=False)
        self.q_norm = nn.RMSNorm(E, eps=cfg.rms_norm_eps)
        self.k_norm = nn.RMSNorm(E, eps=cfg.rms_norm_eps)

    def qkv(self, x_BTD: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None):
        B, T, _ = x_BTD.shape
        q = self.q_norm(self.q_proj(x_BTD).view(B, T, self.H, self.E)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x_BTD).view(B, T, self.K, self.E)).transpose(1, 2)
        v = self.v_proj(x_BTD).view(B, T, self.K, self.E).transpose(1, 2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        return q, k, v

    def attend(self, q, k, v, mask) -> torch.Tensor:
        """mask: bool B x 1 x T x N (True = attend) or an additive float B x H x T x N."""
        B, _, T, _ = q.shape
        dt = v.dtype  # bf16 under autocast (the norms may hand q / k back in fp32)
        q, k = q.to(dt), k.to(dt)
        if mask.dtype != torch.bool:
            mask = mask.to(dt)
        rep = self.H // self.K
        if T == 1 and rep > 1:  # decode: the query heads sharing a KV head become that head's queries (no copies)
            if mask.shape[1] > 1:  # a per-head bias B x H x 1 x N
                mask = mask.reshape(B, self.K, rep, -1)
            o = F.scaled_dot_product_attention(q.reshape(B, self.K, rep, self.E), k, v, attn_mask=mask)
            o = o.reshape(B, self.H, 1, self.E)
        else:  # K/V repeated per query head: the memory-efficient kernel takes a mask, but not grouped heads
            if rep > 1:
                k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, self.H * self.E))


class MLP(nn.Module):
    def __init__(self, cfg: TailModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: TailModelConfig):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(cfg.hidden_size, eps=cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = nn.RMSNorm(cfg.hidden_size, eps=cfg.rms_norm_eps)
        self.mlp = MLP(cfg)


@dataclass
class _Output:
    logits: torch.Tensor


class TailDecoder(nn.Module):
    """Decoder-only LM with a choice of position scheme (see module docstring). `forward(input_ids, position_ids)`
    returns an object with `.logits` (B x S x V), like an HF causal LM, so `tail_experiment.train_torch` trains it."""

    def __init__(self, cfg: TailModelConfig):
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.abacus_embed = nn.Embedding(cfg.abacus_max + 1, cfg.hidden_size) if cfg.abacus else None
        self.abacus_rtl_embed = (nn.Embedding(cfg.abacus_max + 1, cfg.hidden_size)
                                 if cfg.abacus and cfg.abacus_direction == "both" else None)
        self.fire = FireBias(cfg.num_heads, cfg.fire_hidden, cfg.fire_l0) if cfg.position == "fire" else None
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.RMSNorm(cfg.hidden_size, eps=cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        is_digit = torch.zeros(cfg.vocab_size, dtype=torch.bool)
        if cfg.digit_token_ids:
            is_digit[torch.tensor(cfg.digit_token_ids)] = True
        self.register_buffer("is_digit_V", is_digit, persistent=False)
        self.apply(self._init)
        for e in (self.abacus_embed, self.abacus_rtl_embed):
            if e is not None:
                e.weight.data[0].zero_()  # index 0 (non-digit) adds nothing
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def _init(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)) and not (self.fire is not None and any(
                m is x for x in self.fire.modules())):
            nn.init.normal_(m.weight, std=self.config.initializer_range)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    # -- inputs shared by training and decoding --------------------------------------------------------------------
    def _rope_positions(self, pos_BS: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.position != "rope_random":
            return pos_BS
        if self.training:
            return random_positions(pos_BS, cfg.random_gap_max)
        return pos_BS.float() * (1 + cfg.random_gap_max) / 2

    def abacus_indices(self, ids_BS: torch.Tensor, pos_BS: torch.Tensor,
                       ok_BS: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Digit indices of whole documents (training, or a prompt before decoding): (index for `abacus_embed`,
        index for `abacus_rtl_embed` or None). ok_BS: False for padding."""
        cfg = self.config
        dig_BS = self.is_digit_V[ids_BS] if ok_BS is None else self.is_digit_V[ids_BS] & ok_BS
        ltr = digit_run_index(dig_BS, pos_BS)
        if cfg.abacus_direction == "ltr":
            return ltr, None
        rtl = torch.where(in_prompt(ids_BS, pos_BS, cfg.abacus_sep_id), digit_run_index_from_right(dig_BS, pos_BS),
                          torch.zeros_like(ltr))
        if cfg.abacus_direction == "rtl":
            return torch.where(rtl > 0, rtl, ltr), None
        return ltr, rtl

    def _abacus(self, runs, pos_BS: torch.Tensor) -> torch.Tensor:
        """Embedding rows for digit-run indices; one random offset per document while training (shared by both
        tables, so aligned digits keep a shared index)."""
        cfg = self.config
        off_BS = None
        if self.training and cfg.abacus_offset_max:
            seg_BS = segment_ids(pos_BS)
            off_BG = torch.randint(0, cfg.abacus_offset_max + 1, (pos_BS.shape[0], int(seg_BS.max()) + 1),
                                   device=pos_BS.device)
            off_BS = off_BG.gather(1, seg_BS)
        out = 0
        for table, idx in zip((self.abacus_embed, self.abacus_rtl_embed), runs):
            if table is None or idx is None:
                continue
            if off_BS is not None:
                idx = torch.where(idx > 0, idx + off_BS, idx)
            out = out + table(idx.clamp(max=cfg.abacus_max))
        return out

    def embed(self, ids_BS: torch.Tensor, runs, pos_BS: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(ids_BS)
        if self.abacus_embed is not None:
            x = x + self._abacus(runs, pos_BS)
        return x

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None, **_) -> _Output:
        ids_BS = input_ids
        B, S = ids_BS.shape
        pos_BS = position_ids if position_ids is not None else torch.arange(S, device=ids_BS.device).expand(B, S)
        runs = self.abacus_indices(ids_BS, pos_BS) if self.abacus_embed is not None else None
        x = self.embed(ids_BS, runs, pos_BS)
        x0 = x
        seg_BS = segment_ids(pos_BS)
        causal_SS = torch.ones(S, S, dtype=torch.bool, device=ids_BS.device).tril()
        mask = ((seg_BS[:, :, None] == seg_BS[:, None, :]) & causal_SS)[:, None]  # B x 1 x S x S
        cfg = self.config
        rope = None
        if cfg.position in ("rope", "rope_random"):
            rope = rope_cos_sin(self._rope_positions(pos_BS), cfg.head_dim, cfg.rope_theta)
        if self.fire is not None:
            mask = self.fire(pos_BS, pos_BS).masked_fill(~mask, float("-inf"))
        for i, layer in enumerate(self.layers):
            if cfg.input_injection and i:
                x = x + x0
            q, k, v = layer.self_attn.qkv(layer.input_layernorm(x), rope)
            x = x + layer.self_attn.attend(q, k, v, mask)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return _Output(self.lm_head(self.norm(x)))

    # -- persistence ---------------------------------------------------------------------------------------------
    def save_pretrained(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "tail_model.json"), "w") as f:
            json.dump(asdict(self.config), f, indent=1)
        torch.save({k: v.detach().cpu() for k, v in self.state_dict().items()}, os.path.join(out_dir, "model.pt"))

    @classmethod
    def from_pretrained(cls, out_dir: str) -> "TailDecoder":
        with open(os.path.join(out_dir, "tail_model.json")) as f:
            m = cls(TailModelConfig(**json.load(f)))
        m.load_state_dict(torch.load(os.path.join(out_dir, "model.pt"), map_location="cpu"))
        return m


def is_tail_checkpoint(path: str) -> bool:
    return os.path.exists(os.path.join(path, "tail_model.json"))


def digit_token_ids(tokenizer) -> list[int]:
    """The token id of each digit 0-9 (raises when a digit is not one token)."""
    out = []
    for d in "0123456789":
        ids = tokenizer.encode(d)
        if len(ids) != 1:
            raise ValueError(f"digit {d!r} encodes to {ids}: the tokenizer must keep one digit per token")
        out.append(ids[0])
    return out


# --- decoding ------------------------------------------------------------------------------------------------------

@torch.no_grad()
def _run_chunk(model: TailDecoder, prompts: list[list[int]], max_new_tokens: int, eos_id: int, pad_id: int,
               check_every: int) -> list:
    from s1model.rl.generate import Completion, _left_pad

    cfg = model.config
    device = next(model.parameters()).device
    dtype = model.embed_tokens.weight.dtype
    ids_BL, ok_BL, pos_BL = _left_pad(prompts, pad_id, device)
    (B, L), new = ids_BL.shape, max_new_tokens
    N = L + new
    ok_BN = torch.cat([ok_BL, torch.ones(B, new, dtype=torch.bool, device=device)], dim=1)
    kpos_BN = torch.cat([pos_BL, pos_BL[:, -1:] + 1 + torch.arange(new, device=device)[None]], dim=1)
    cache = [(torch.empty(B, cfg.num_kv_heads, N, cfg.head_dim, dtype=dtype, device=device),
              torch.empty(B, cfg.num_kv_heads, N, cfg.head_dim, dtype=dtype, device=device)) for _ in model.layers]
    # the left padding is no digit, so a digit run starts inside the prompt (its first token has position 0)
    runs_BL = None
    if model.abacus_embed is not None:
        if cfg.abacus_direction != "ltr" and not bool(((ids_BL == cfg.abacus_sep_id) & ok_BL).any(-1).all()):
            raise ValueError(f"abacus_direction={cfg.abacus_direction!r}: every prompt must contain the separator "
                             f"token {cfg.abacus_sep_id} (the response's digits are indexed from the left)")
        runs_BL = model.abacus_indices(ids_BL, pos_BL, ok_BL)
    # generated digits count from the left, continuing a run the prompt ends with
    run_B = digit_run_index(model.is_digit_V[ids_BL] & ok_BL, pos_BL)[:, -1].clone()

    def step(ids_BT, pos_BT, runs, start):
        T = ids_BT.shape[1]
        n = start + T
        x = model.embed(ids_BT, runs, pos_BT)
        x0 = x
        ok_BTN = ok_BN[:, None, :n].expand(-1, T, n)
        if T > 1:
            causal_TN = torch.arange(n, device=device)[None, :] <= (start + torch.arange(T, device=device))[:, None]
            ok_BTN = ok_BTN & causal_TN[None]
        mask = ok_BTN[:, None]
        rope = None
        if cfg.position in ("rope", "rope_random"):
            rope = rope_cos_sin(model._rope_positions(pos_BT), cfg.head_dim, cfg.rope_theta)
        if model.fire is not None:
            mask = model.fire(pos_BT, kpos_BN[:, :n]).masked_fill(~mask, float("-inf"))
        for i, (layer, (kc, vc)) in enumerate(zip(model.layers, cache)):
            if cfg.input_injection and i:
                x = x + x0
            q, k, v = layer.self_attn.qkv(layer.input_layernorm(x), rope)
            kc[:, :, start:n] = k
            vc[:, :, start:n] = v
            x = x + layer.self_attn.attend(q, kc[:, :, :n], vc[:, :, :n], mask)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return model.lm_head(model.norm(x[:, -1])).float()

    logits_BV = step(ids_BL, pos_BL, runs_BL, 0)
    pos_B = pos_BL[:, -1] + 1
    tokens_BN = torch.full((B, new), pad_id, dtype=torch.long, device=device)
    rows_R = torch.arange(B, device=device)
    done_R = torch.zeros(B, dtype=torch.bool, device=device)
    steps = new
    for t in range(new):
        tok_R = logits_BV.argmax(-1)
        tokens_BN[rows_R, t] = torch.where(done_R, pad_id, tok_R)
        done_R = done_R | (tok_R == eos_id)
        if t == new - 1:
            break
        run_B = torch.where(model.is_digit_V[tok_R], run_B + 1, torch.zeros_like(run_B))
        if (t + 1) % check_every == 0:  # the only host sync: stop, or drop finished rows
            keep_R = (~done_R).nonzero().squeeze(-1)
            if keep_R.numel() == 0:
                steps = t + 1
                break
            if keep_R.numel() <= 0.75 * done_R.numel():
                rows_R, tok_R, pos_B, done_R, run_B = (rows_R[keep_R], tok_R[keep_R], pos_B[keep_R],
                                                       done_R[keep_R], run_B[keep_R])
                ok_BN, kpos_BN = ok_BN[keep_R], kpos_BN[keep_R]
                cache = [(k[keep_R], v[keep_R]) for k, v in cache]
        logits_BV = step(tok_R[:, None], pos_B[:, None], (run_B[:, None], None), L + t)
        pos_B = pos_B + 1
    tokens = tokens_BN[:, :steps].tolist()
    out = []
    for b, p in enumerate(prompts):
        toks = tokens[b]
        cut = toks.index(eos_id) + 1 if eos_id in toks else len(toks)
        out.append(Completion(list(p), toks[:cut], [], "eos" if eos_id in toks else "length"))
    return out


def generate(model: TailDecoder, prompts: list[list[int]], max_new_tokens: int, eos_id: int, pad_id: int = 0,
             max_batch_size: int = 256, check_every: int = 32) -> list:
    """Greedy completions (`s1model.rl.generate.Completion`, no log-probs) of every prompt, in prompt order."""
    from s1model.rl.generate import decode_attention

    was = model.training
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list = [None] * len(prompts)
    try:
        with decode_attention():
            for s in range(0, len(order), max_batch_size):
                chunk = order[s:s + max_batch_size]
                for i, c in zip(chunk, _run_chunk(model, [prompts[i] for i in chunk], max_new_tokens, eos_id,
                                                  pad_id, check_every)):
                    out[i] = c
    finally:
        model.train(was)
    return out


@torch.no_grad()
def greedy_reference(model: TailDecoder, prompt: list[int], max_new_tokens: int, eos_id: int) -> list[int]:
    """Greedy decoding by a full forward per token (no cache): the check for `generate`."""
    model.eval()
    ids = list(prompt)
    dev = next(model.parameters()).device
    out = []
    for _ in range(max_new_tokens):
        logits = model(torch.tensor([ids], device=dev)).logits[0, -1]
        t = int(logits.argmax())
        out.append(t)
        if t == eos_id:
            break
        ids.append(t)
    return out
