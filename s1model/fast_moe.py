"""Qwen3-MoE in plain PyTorch (`model_impl="s1"`): transformers' Qwen3MoeForCausalLM with the speed levers in view.

Same state_dict as transformers 5.18's Qwen3MoeForCausalLM (keys, shapes, the fused 3-D expert tensors
`mlp.experts.gate_up_proj` [E, 2F, D] = [gate; up] and `mlp.experts.down_proj` [E, D, F]) and the same function, so
DeepSpeed checkpoints, `export_hf` and `from_pretrained` of the export see no difference; the model is built from the
HF one (`FastQwen3Moe.from_hf`), so init, `init_from` and embedding resize stay in model.py.

Reading order: kernels (one seam each) -> RMSNorm -> attention -> router + experts -> decoder block -> lm_head with
fused cross-entropy -> model. Speed levers (FastMoeConfig; "auto" = on for CUDA):
  experts    grouped GEMM over the routed slots sorted by expert: a counting sort, a gather in, a gather back out and
             a K-way weighted sum (deterministic, no atomics); per-expert loop on CPU / fp32
  attention  causal SDPA (flash) without document masking; with it, FlexAttention on a block mask built from
             document ids (fully masked tiles skipped), FlashAttention-2 varlen over the documents ("varlen", CUDA;
             the trainer passes the document boundaries), or SDPA with a dense mask on CPU
  fused_ce   lm_head + cross-entropy chunked over tokens in one autograd Function; the T x V logits never exist
  compile    torch.compile per decoder block: RMSNorm, RoPE, SwiGLU, router and combine math become few kernels
  EP         with ep_size > 1 DeepSpeed AutoEP's layers hold each rank's experts; tokens move by AutoEP's forward
             (compiled with the layer around it) or by ep_experts_padded (fixed-size all-to-alls, no host sync)
Numerics: matmuls in the parameter dtype (bf16 under DeepSpeed) with fp32 accumulation; RMSNorm statistics, RoPE
angles, router softmax / top-k / losses, the K-way combine and log-softmax in fp32. RoPE inverse frequencies are
computed once in fp32 and kept off the module, so DeepSpeed's bf16 cast does not round them (it does round HF's
inv_freq buffer).

Shape legend: B batch rows, S sequence, D hidden, H query heads, G key/value heads, Dh head dim, E experts,
K experts per token, F expert hidden, V vocab, T = B*S tokens, N = T*K routed slots, C tokens of one loss chunk.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
from torch.utils.checkpoint import checkpoint

from s1model.config import FastMoeConfig

IGNORE_INDEX = -100  # targets equal to this carry no loss


class MoeOutput(NamedTuple):
    logits: torch.Tensor | None  # B x S x V, only when no targets are given
    loss: torch.Tensor | None  # mean next-token cross-entropy over targets != IGNORE_INDEX, fp32
    aux_loss: torch.Tensor  # Switch load-balance loss, mean over layers (1 when balanced)
    z_loss: torch.Tensor  # ST-MoE router z-loss, mean over layers
    expert_load: torch.Tensor  # L x E share of routed slots per expert (rows sum to 1), detached


# --- kernels -------------------------------------------------------------------------------------------------------

def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' Qwen3 RMSNorm: mean square and rsqrt in fp32, cast back, then scale in x's dtype."""
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope_cos_sin(position_ids_BS: torch.Tensor, inv_freq: torch.Tensor, dtype: torch.dtype):
    """RoPE tables cos, sin [B, S, Dh] from fp32 angles (position x inverse frequency), cast to dtype."""
    angles = position_ids_BS[..., None].float() * inv_freq
    angles_BSDh = torch.cat([angles, angles], dim=-1)
    return angles_BSDh.cos().to(dtype), angles_BSDh.sin().to(dtype)


def apply_rope(x_BSHDh: torch.Tensor, cos_BS1Dh: torch.Tensor, sin_BS1Dh: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE, Qwen layout: dimension i pairs with i + Dh/2. Token-major x [B, S, heads, Dh]; the tables
    [B, S, 1, Dh] broadcast over heads."""
    x1, x2 = x_BSHDh.chunk(2, dim=-1)
    return x_BSHDh * cos_BS1Dh + torch.cat([-x2, x1], dim=-1) * sin_BS1Dh


def document_ids(position_ids_BS: torch.Tensor) -> torch.Tensor:
    """Document index of each token of a packed row: a document starts wherever the position does not follow the
    previous one (transformers' `find_packed_sequence_indices` rule), so positions restarting at 0 split rows."""
    first = position_ids_BS[:, :1] - 1
    return (torch.diff(position_ids_BS, prepend=first, dim=-1) != 1).cumsum(-1)


def document_causal_mask(doc_ids_BS: torch.Tensor, kind: str) -> BlockMask | torch.Tensor:
    """Causal attention inside each document: a FlexAttention BlockMask ("flex") or a dense bool mask [B, 1, S, S]."""
    B, S = doc_ids_BS.shape
    if kind == "flex":
        def doc_causal(b, h, q_idx, kv_idx):
            return (q_idx >= kv_idx) & (doc_ids_BS[b, q_idx] == doc_ids_BS[b, kv_idx])
        if S % FLEX_BLOCK == 0:
            return document_block_mask(doc_ids_BS, doc_causal)
        return create_block_mask(doc_causal, B, None, S, S, device=doc_ids_BS.device)
    causal_SS = torch.ones(S, S, dtype=torch.bool, device=doc_ids_BS.device).tril()
    return (causal_SS & (doc_ids_BS[:, :, None] == doc_ids_BS[:, None, :]))[:, None]


FLEX_BLOCK = 128  # FlexAttention's default tile (query and key/value)


def document_block_mask(doc_ids_BS: torch.Tensor, mask_mod) -> BlockMask:
    """The BlockMask `create_block_mask(mask_mod, B, None, S, S)` builds, from per-tile document ranges instead of
    evaluating mask_mod on all B x S x S pairs (~15 small ops, no host sync). Document ids never decrease along a
    row, so a tile's ids span [first, last]. Tile (q, kv) has some allowed pair iff kv == q (the diagonal) or kv < q
    and last_kv >= first_q (a document crosses between them); all pairs iff kv < q and first_kv == last_q (both tiles
    inside one document). Partial tiles run mask_mod, full tiles skip it."""
    B, S = doc_ids_BS.shape
    n = S // FLEX_BLOCK
    tiles_BNb = doc_ids_BS.view(B, n, FLEX_BLOCK)
    first_BN, last_BN = tiles_BNb[..., 0], tiles_BNb[..., -1]
    q_N1, kv_1N = torch.arange(n, device=doc_ids_BS.device)[:, None], torch.arange(n, device=doc_ids_BS.device)
    below_NN = kv_1N < q_N1
    some_BNN = (kv_1N == q_N1) | (below_NN & (last_BN[:, None, :] >= first_BN[:, :, None]))
    full_BNN = below_NN & (first_BN[:, None, :] == last_BN[:, :, None])

    def ordered(tiles_BNN):  # (tiles per query row, their kv indices first), as create_block_mask orders them
        tiles_B1NN = tiles_BNN[:, None].to(torch.int32)
        return (tiles_B1NN.sum(-1).to(torch.int32),
                torch.argsort(tiles_B1NN, dim=-1, descending=True, stable=True).to(torch.int32))

    partial, full = ordered(some_BNN & ~full_BNN), ordered(full_BNN)
    return BlockMask.from_kv_blocks(*partial, *full, BLOCK_SIZE=(FLEX_BLOCK, FLEX_BLOCK), mask_mod=mask_mod,
                                    seq_lengths=(S, S))


_compiled_flex = None


def _flex(q, k, v, block_mask):
    """FlexAttention, compiled on CUDA when not already inside a compiled region (eager flex is a slow reference)."""
    global _compiled_flex
    fn = flex_attention
    if q.is_cuda and not torch.compiler.is_compiling():
        _compiled_flex = _compiled_flex or torch.compile(flex_attention)
        fn = _compiled_flex
    return fn(q, k, v, block_mask=block_mask, enable_gqa=True)


class Varlen(NamedTuple):
    """Document boundaries for varlen attention over the flattened T = B*S tokens: cu_seqlens int32 [n_docs + 1]
    (0, end of document 1, ..., T) and an upper bound on a document's length (S: no host sync needed)."""
    cu_seqlens: torch.Tensor
    max_len: int


def cu_seqlens_of(doc_lens: list[list[int]], seq_len: int) -> torch.Tensor:
    """Varlen.cu_seqlens of packed rows from their document lengths (host side; rows are seq_len long)."""
    ends, offset = [0], 0
    for lens in doc_lens:
        for n in lens:
            ends.append(ends[-1] + n)
        offset += seq_len
        if ends[-1] != offset:  # lengths short of the row: the rest is one more document (padding)
            ends.append(offset)
    return torch.tensor(ends, dtype=torch.int32)


class _FlashVarlen(torch.autograd.Function):
    """Causal attention inside each document with PyTorch's FlashAttention-2 varlen kernels (aten
    _flash_attention_forward/backward, CUDA, fp16/bf16): work only on the documents' causal triangles, no mask."""

    @staticmethod
    def forward(ctx, q_THDh, k_TGDh, v_TGDh, cu_N, max_len: int, scale: float):
        out_THDh, lse, rng, unused, _ = torch.ops.aten._flash_attention_forward(
            q_THDh, k_TGDh, v_TGDh, cu_N, cu_N, max_len, max_len, 0.0, True, False, scale=scale)
        ctx.save_for_backward(q_THDh, k_TGDh, v_TGDh, out_THDh, lse, cu_N, rng, unused)
        ctx.max_len, ctx.scale = max_len, scale
        return out_THDh

    @staticmethod
    def backward(ctx, grad_THDh):
        q, k, v, out, lse, cu_N, rng, unused = ctx.saved_tensors
        dq, dk, dv = torch.ops.aten._flash_attention_backward(
            grad_THDh.contiguous(), q, k, v, out, lse, cu_N, cu_N, ctx.max_len, ctx.max_len, 0.0, True, rng,
            unused, scale=ctx.scale)
        return dq, dk, dv, None, None, None


def varlen_attention(q_THDh, k_TGDh, v_TGDh, varlen: Varlen) -> torch.Tensor:
    """Document-causal GQA over flattened tokens [T, heads, Dh] (FlashAttention-2 handles H / G query heads per
    key/value head)."""
    return _FlashVarlen.apply(q_THDh, k_TGDh, v_TGDh, varlen.cu_seqlens, varlen.max_len, q_THDh.shape[-1] ** -0.5)


def attention(q_BHSDh, k_BGSDh, v_BGSDh, mask: BlockMask | torch.Tensor | None) -> torch.Tensor:
    """Grouped-query attention (query head h reads key/value head h // (H/G)) with scale Dh^-0.5.

    mask None: causal SDPA (the flash kernel on CUDA). BlockMask: FlexAttention. Tensor: SDPA with a dense mask
    (keys and values repeated per query head, which every SDPA backend accepts)."""
    if mask is None:
        return F.scaled_dot_product_attention(q_BHSDh, k_BGSDh, v_BGSDh, is_causal=True, enable_gqa=True)
    if isinstance(mask, BlockMask):
        return _flex(q_BHSDh, k_BGSDh, v_BGSDh, mask)
    rep = q_BHSDh.shape[1] // k_BGSDh.shape[1]
    k_BHSDh, v_BHSDh = k_BGSDh.repeat_interleave(rep, dim=1), v_BGSDh.repeat_interleave(rep, dim=1)
    return F.scaled_dot_product_attention(q_BHSDh, k_BHSDh, v_BHSDh, attn_mask=mask)


def grouped_mm(x_ND: torch.Tensor, w_EXY: torch.Tensor, offs_E: torch.Tensor) -> torch.Tensor:
    """Rows offs[e-1]:offs[e] of x times w[e]. torch.nn.functional.grouped_mm (torch >= 2.10) or torch._grouped_mm."""
    fn = getattr(F, "grouped_mm", None) or torch._grouped_mm
    return fn(x_ND, w_EXY, offs=offs_E)


def sort_slots_by_expert(expert_N: torch.Tensor, E: int):
    """(order_N, inverse_N, counts_E) of a stable sort of routed slots by expert, as a counting sort: E is small, so
    one N x E cumulative count gives each slot its rank among its expert's slots (a few fused kernels under
    torch.compile, where argsort costs ~9 radix-sort launches). order_N lists slots in expert order; inverse_N is
    each slot's position in it."""
    onehot_NE = (expert_N[:, None] == torch.arange(E, device=expert_N.device)).to(torch.int32)
    counts_E = onehot_NE.sum(0)
    rank_N = (onehot_NE.cumsum(0) * onehot_NE).sum(1) - 1  # earlier slots of the same expert
    inverse_N = (counts_E.cumsum(0) - counts_E)[expert_N] + rank_N
    order_N = torch.empty_like(inverse_N).scatter_(0, inverse_N, torch.arange(len(expert_N), device=expert_N.device))
    return order_N, inverse_N, counts_E.long()


class _GatherRows(torch.autograd.Function):
    """out = x[src]; every row of x is copied to the rows `back[t]` of out (back: [rows of x, copies]), so the
    gradient is a gather and a sum over the copies (in fp32), not an index_put with atomic accumulation."""

    @staticmethod
    def forward(ctx, x_TD, src_N, back_TK):
        ctx.save_for_backward(back_TK)
        return x_TD[src_N]

    @staticmethod
    def backward(ctx, grad_ND):
        back_TK, = ctx.saved_tensors
        T, K = back_TK.shape
        grad_TKD = grad_ND[back_TK.flatten()].view(T, K, -1)
        grad_TD = grad_TKD[:, 0] if K == 1 else grad_TKD.float().sum(1).to(grad_ND.dtype)
        return grad_TD, None, None


def gather_rows(x_TD: torch.Tensor, src_N: torch.Tensor, back_TK: torch.Tensor) -> torch.Tensor:
    """x_TD[src_N], where back_TK[t] lists the output rows that copy row t (src_N[back_TK[t, k]] == t)."""
    return _GatherRows.apply(x_TD, src_N, back_TK)


def experts_grouped(x_ND, gate_up_E2FD, down_EDF, counts_E) -> torch.Tensor:
    """SwiGLU experts over slots sorted by expert: two grouped GEMMs, no host sync, no per-expert Python loop."""
    offs_E = counts_E.cumsum(0).to(torch.int32)
    gate_NF, up_NF = grouped_mm(x_ND, gate_up_E2FD.transpose(1, 2), offs_E).chunk(2, dim=-1)
    return grouped_mm(F.silu(gate_NF) * up_NF, down_EDF.transpose(1, 2), offs_E)


def experts_loop(x_ND, gate_up_E2FD, down_EDF, counts_E) -> torch.Tensor:
    """The same with one matmul pair per expert (reads counts on the host): the CPU / fp32 reference path."""
    outs = []
    for e, x_nD in enumerate(x_ND.split(counts_E.tolist())):
        gate_nF, up_nF = F.linear(x_nD, gate_up_E2FD[e]).chunk(2, dim=-1)
        outs.append(F.linear(F.silu(gate_nF) * up_nF, down_EDF[e]))
    return torch.cat(outs)


class _PartialPermute(torch.autograd.Function):
    """out[m] = x[src[m]] where valid[m], else 0: a partial permutation of rows (each row of x lands at most once,
    padding rows of x at none). Its gradient is the inverse partial permutation, given as back / back_valid (row i
    of x went to out[back[i]] when back_valid[i]), so forward and backward are each one gather, no atomics."""

    @staticmethod
    def forward(ctx, x_XD, src_M, valid_M, back_X, back_valid_X):
        # torch.where, not a multiply by the mask: grouped_mm leaves rows past its last group uninitialised (they can
        # hold NaN), and 0 * NaN would carry them into real rows
        ctx.save_for_backward(back_X, back_valid_X)
        return torch.where(valid_M[:, None], x_XD[src_M], 0)

    @staticmethod
    def backward(ctx, grad_MD):
        back_X, back_valid_X = ctx.saved_tensors
        return torch.where(back_valid_X[:, None], grad_MD[back_X], 0), None, None, None, None


def partial_permute(x_XD, src_M, valid_M, back_X, back_valid_X) -> torch.Tensor:
    return _PartialPermute.apply(x_XD, src_M, valid_M, back_X, back_valid_X)


def _block_rows(counts_RC: torch.Tensor, width: int, dest_starts_RC: torch.Tensor):
    """R buffers of `width` rows; buffer r holds C consecutive blocks of counts_RC[r] rows from row 0, then padding.
    For each of the R * width rows: (valid, its row in another layout where block (r, c) starts at
    dest_starts_RC[r, c]; 0 for padding). A few fused kernels, no host sync."""
    R, C = counts_RC.shape
    ends_RC = counts_RC.cumsum(1)
    j_RW = torch.arange(width, device=counts_RC.device).expand(R, width).contiguous()
    c_RW = torch.searchsorted(ends_RC.contiguous(), j_RW, right=True)  # the block holding row j (C: padding)
    valid_RW = c_RW < C
    c_RW = c_RW.clamp(max=C - 1)
    dest_RW = dest_starts_RC.gather(1, c_RW) + j_RW - (ends_RC - counts_RC).gather(1, c_RW)
    return valid_RW.flatten(), torch.where(valid_RW, dest_RW, 0).flatten()


def ep_experts_padded(x_TD, idx_TK, weight_TK, w_gate_LFD, w_up_LFD, w_down_LDF, group, ep_size: int,
                      grouped: bool) -> torch.Tensor:
    """Expert-parallel SwiGLU experts without a host sync: sum_k weight[t, k] * expert_{idx[t, k]}(x[t]), where rank
    r of the P = ep_size ranks of `group` holds global experts [r*L, (r+1)*L) (L = E/P; AutoEP's placement).

    AutoEP sizes its all-to-all exactly, which needs the split sizes on the host: one device sync per layer, after
    which the device idles while the host launches the next kernels. Here every rank sends every rank a chunk of
    N = T*K rows (the most it could route there): its rows for that rank first, zero padding after. One all-to-all
    with equal splits moves the rows, a small one the P x L counts; every shape is static, so the whole decoder
    layer compiles and the host runs ahead of the device. The price is P x N rows per all-to-all instead of ~N,
    which suits small EP groups on NVLink (FastMoeConfig.ep_dispatch="padded"; AutoEP's exact splits are the
    default: with the whole layer compiled around them they measured level with this on 2 H200s). Every rank of the
    group must pass the same number of tokens T (the chunks are equal splits); the trainer's rows per rank are equal.

    Layouts: slots sorted by global expert x_ND (so by destination rank) -> send, P chunks of N rows (chunk p: the
    rows for rank p, then padding) -> all-to-all -> recv, P chunks (chunk s: rank s's rows, by local expert) ->
    expert-major, blocks (e, s) for e < L, s < P, then padding: the grouped GEMM's groups. Back the same way."""
    from torch.distributed._functional_collectives import all_to_all_single, all_to_all_single_autograd

    T, K = idx_TK.shape
    P, L, N = ep_size, w_gate_LFD.shape[0], T * K
    dev = x_TD.device
    order_N, inverse_N, counts_E = sort_slots_by_expert(idx_TK.flatten(), P * L)
    x_ND = gather_rows(x_TD, order_N // K, inverse_N.view(T, K))
    counts_PL = counts_E.view(P, L)

    # sorted slots <-> send chunks
    send_P = counts_PL.sum(1)
    send_valid, send_src = _block_rows(send_P[:, None], N, (send_P.cumsum(0) - send_P)[:, None])
    slot_valid, slot_to_send = _block_rows(send_P[None], N, (torch.arange(P, device=dev) * N)[None])
    send_MD = partial_permute(x_ND, send_src, send_valid, slot_to_send, slot_valid)

    recv_MD = all_to_all_single_autograd(send_MD, None, None, group)
    recv_PL = all_to_all_single(counts_PL.contiguous(), None, None, group)  # row s: rank s's rows per local expert
    recv_PL = recv_PL.wait() if hasattr(recv_PL, "wait") else recv_PL

    # recv chunks <-> expert-major blocks
    blocks_LP = recv_PL.t().contiguous()
    em_starts_LP = (blocks_LP.flatten().cumsum(0) - blocks_LP.flatten()).view(L, P)
    recv_valid, recv_to_em = _block_rows(recv_PL, N, em_starts_LP.t())
    recv_starts_PL = (torch.arange(P, device=dev) * N)[:, None] + recv_PL.cumsum(1) - recv_PL
    em_valid, em_src = _block_rows(blocks_LP.flatten()[None], P * N, recv_starts_PL.t().flatten()[None])
    x_MD = partial_permute(recv_MD, em_src, em_valid, recv_to_em, recv_valid)

    counts_L = blocks_LP.sum(1)
    gate_up_L2FD = torch.cat([w_gate_LFD, w_up_LFD], dim=1)
    if grouped:  # rows past the last group are ignored by grouped_mm; their outputs are never read
        y_MD = experts_grouped(x_MD, gate_up_L2FD, w_down_LDF, counts_L)
    else:  # CPU / fp32: the per-expert loop over the valid rows (it reads the counts on the host)
        n = int(counts_L.sum())
        y_nD = experts_loop(x_MD[:n], gate_up_L2FD, w_down_LDF, counts_L)
        y_MD = torch.cat([y_nD, y_nD.new_zeros(len(x_MD) - n, y_nD.shape[1])])

    y_recv_MD = partial_permute(y_MD, recv_to_em, recv_valid, em_src, em_valid)
    y_send_MD = all_to_all_single_autograd(y_recv_MD, None, None, group)
    y_ND = partial_permute(y_send_MD, slot_to_send, slot_valid, send_src, send_valid)
    y_TKD = gather_rows(y_ND, inverse_N, order_N[:, None]).view(T, K, -1)
    return (y_TKD.float() * weight_TK[..., None]).sum(1).to(x_TD.dtype)


def _ce_chunk(logits_CV: torch.Tensor, targets_C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed token losses of a chunk and d(sum)/d(logits) = softmax - onehot (zero on ignored rows), from an fp32
    log-softmax; the gradient is returned in the logits' dtype."""
    logits32_CV = logits_CV.float()
    valid_C = targets_C != IGNORE_INDEX
    tgt_C = targets_C.clamp(min=0)
    lse_C = torch.logsumexp(logits32_CV, dim=-1)
    loss = ((lse_C - logits32_CV.gather(1, tgt_C[:, None]).squeeze(1)) * valid_C).sum()
    onehot_CV = torch.arange(logits_CV.shape[1], device=logits_CV.device) == tgt_C[:, None]
    grad_CV = (torch.exp(logits32_CV - lse_C[:, None]) - onehot_CV.float()) * valid_C[:, None]
    return loss, grad_CV.to(logits_CV.dtype)


_compiled_ce_chunk = None


class FusedLinearCrossEntropy(torch.autograd.Function):
    """mean_t CE(h_t W^T, target_t) over non-ignored t, chunked over tokens.

    Forward computes, chunk by chunk, the logits (C x V, in h's dtype with fp32 accumulation), the fp32 log-softmax,
    the loss and the gradients of h and W; backward only scales them by the incoming gradient. Peak extra memory is
    one chunk's logits plus an fp32 accumulator for dW, instead of T x V logits, their fp32 copy and gradient.
    """

    @staticmethod
    def forward(ctx, h_TD, w_VD, targets_T, chunk_size: int, compile_chunk: bool):
        global _compiled_ce_chunk
        chunk_fn = _ce_chunk
        if compile_chunk:
            _compiled_ce_chunk = _compiled_ce_chunk or torch.compile(_ce_chunk, dynamic=False)
            chunk_fn = _compiled_ce_chunk
        n_valid = (targets_T != IGNORE_INDEX).sum().clamp(min=1)
        dh_TD = torch.empty_like(h_TD) if h_TD.requires_grad else None
        dw_VD = torch.zeros(w_VD.shape, dtype=torch.float32, device=w_VD.device) if w_VD.requires_grad else None
        loss = torch.zeros((), dtype=torch.float32, device=h_TD.device)
        for s in range(0, h_TD.shape[0], chunk_size):
            h_CD = h_TD[s:s + chunk_size]
            loss_c, dlogits_CV = chunk_fn(h_CD @ w_VD.t(), targets_T[s:s + chunk_size])
            loss += loss_c
            if dh_TD is not None:
                torch.mm(dlogits_CV, w_VD, out=dh_TD[s:s + chunk_size])
            if dw_VD is not None:
                dw_VD += dlogits_CV.t() @ h_CD
        ctx.save_for_backward(dh_TD, dw_VD, n_valid)
        ctx.w_dtype = w_VD.dtype
        return loss / n_valid

    @staticmethod
    def backward(ctx, grad_loss):
        dh_TD, dw_VD, n_valid = ctx.saved_tensors
        scale = grad_loss / n_valid
        dh = None if dh_TD is None else (dh_TD * scale).to(dh_TD.dtype)
        dw = None if dw_VD is None else (dw_VD * scale).to(ctx.w_dtype)
        return dh, dw, None, None, None


def fused_linear_cross_entropy(h_TD, w_VD, targets_T, chunk_size: int = 4096, compile_chunk: bool = False):
    """F.cross_entropy(h_TD @ w_VD.T (in fp32), targets_T, ignore_index=-100) without the T x V logits."""
    return FusedLinearCrossEntropy.apply(h_TD, w_VD, targets_T, chunk_size, compile_chunk)


# --- modules -------------------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class Attention(nn.Module):
    """Grouped-query attention with per-head RMSNorm on queries and keys (Qwen3), then RoPE."""

    def __init__(self, cfg):
        super().__init__()
        D, H, G, self.Dh = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.q_proj = nn.Linear(D, H * self.Dh, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(D, G * self.Dh, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(D, G * self.Dh, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(H * self.Dh, D, bias=cfg.attention_bias)
        self.q_norm = RMSNorm(self.Dh, cfg.rms_norm_eps)
        self.k_norm = RMSNorm(self.Dh, cfg.rms_norm_eps)

    def forward(self, x_BSD, cos_BSDh, sin_BSDh, mask) -> torch.Tensor:
        B, S, _ = x_BSD.shape
        cos_BS1Dh, sin_BS1Dh = cos_BSDh[:, :, None], sin_BSDh[:, :, None]
        q_BSHDh = apply_rope(self.q_norm(self.q_proj(x_BSD).view(B, S, -1, self.Dh)), cos_BS1Dh, sin_BS1Dh)
        k_BSGDh = apply_rope(self.k_norm(self.k_proj(x_BSD).view(B, S, -1, self.Dh)), cos_BS1Dh, sin_BS1Dh)
        v_BSGDh = self.v_proj(x_BSD).view(B, S, -1, self.Dh)
        if isinstance(mask, Varlen):  # token-major [T, heads, Dh] all the way: no transposes
            o_THDh = varlen_attention(q_BSHDh.flatten(0, 1), k_BSGDh.flatten(0, 1), v_BSGDh.flatten(0, 1), mask)
            return self.o_proj(o_THDh.view(B, S, -1))
        o_BHSDh = attention(q_BSHDh.transpose(1, 2), k_BSGDh.transpose(1, 2), v_BSGDh.transpose(1, 2), mask)
        return self.o_proj(o_BHSDh.transpose(1, 2).reshape(B, S, -1))


class Router(nn.Module):
    """Linear router; its logits are used in fp32 from here on (softmax, top-k, losses)."""

    def __init__(self, cfg):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cfg.num_experts, cfg.hidden_size))

    def forward(self, x_TD: torch.Tensor) -> torch.Tensor:
        return F.linear(x_TD, self.weight).float()


def uses_grouped_mm(kind: str, x: torch.Tensor) -> bool:
    """FastMoeConfig.experts resolved for activations x: grouped GEMM for "grouped_mm", and for "auto" on CUDA bf16."""
    return kind == "grouped_mm" or (kind == "auto" and x.is_cuda and x.dtype == torch.bfloat16)


class Experts(nn.Module):
    """E SwiGLU MLPs in transformers 5.x's fused layout; `kind` picks the grouped-GEMM or the per-expert path."""

    def __init__(self, cfg, kind: str):
        super().__init__()
        E, D, F_ = cfg.num_experts, cfg.hidden_size, cfg.moe_intermediate_size
        self.gate_up_proj = nn.Parameter(torch.empty(E, 2 * F_, D))  # rows [0, F) gate, [F, 2F) up
        self.down_proj = nn.Parameter(torch.empty(E, D, F_))
        self.kind = kind

    def forward(self, x_TD, idx_TK, weight_TK) -> torch.Tensor:
        T, K = idx_TK.shape
        E = self.gate_up_proj.shape[0]
        order_N, inverse_N, counts_E = sort_slots_by_expert(idx_TK.flatten(), E)  # slot n = t * K + k
        run = experts_grouped if uses_grouped_mm(self.kind, x_TD) else experts_loop
        # token rows in expert order; token t's K copies sit at inverse_N[t*K:(t+1)*K]
        y_ND = run(gather_rows(x_TD, order_N // K, inverse_N.view(T, K)), self.gate_up_proj, self.down_proj,
                   counts_E)
        y_TKD = gather_rows(y_ND, inverse_N, order_N[:, None]).view(T, K, -1)  # back to slot order
        return (y_TKD.float() * weight_TK[..., None]).sum(1).to(x_TD.dtype)


class SparseMoeBlock(nn.Module):
    """Softmax top-K routing (renormalised when norm_topk_prob) and the router losses from the same tensors:
    load balance E * sum_e f_e P_e and z-loss mean(logsumexp(logits)^2), as s1model.model.router_losses."""

    def __init__(self, cfg, experts_kind: str):
        super().__init__()
        self.experts = Experts(cfg, experts_kind)
        self.gate = Router(cfg)
        self.top_k, self.norm_topk_prob = cfg.num_experts_per_tok, cfg.norm_topk_prob

    def forward(self, x_BSD):
        x_TD = x_BSD.flatten(0, 1)
        logits_TE = self.gate(x_TD)
        probs_TE, weight_TK, idx_TK = route(logits_TE, self.top_k, self.norm_topk_prob)
        y_BSD = self.experts(x_TD, idx_TK, weight_TK).view_as(x_BSD)
        return (y_BSD,) + router_stats(logits_TE, probs_TE, idx_TK)


def route(logits_TE: torch.Tensor, top_k: int, norm_topk_prob: bool):
    """(probabilities, top-k weights, top-k experts) of softmax routing, the weights renormalised when asked."""
    probs_TE = logits_TE.softmax(-1)
    weight_TK, idx_TK = probs_TE.topk(top_k, dim=-1)
    if norm_topk_prob:
        weight_TK = weight_TK / weight_TK.sum(-1, keepdim=True)
    return probs_TE, weight_TK, idx_TK


def router_stats(logits_TE, probs_TE, idx_TK) -> tuple[torch.Tensor, torch.Tensor]:
    """(stack([load-balance loss, z-loss]), expert load E) of one layer's routing, in fp32 (the one implementation:
    s1model.model.router_losses calls it per layer too). Counts by scatter_add, so no host sync (bincount has one)."""
    E = logits_TE.shape[-1]
    load_E = torch.zeros(E, device=logits_TE.device).scatter_add_(
        0, idx_TK.flatten(), torch.ones(idx_TK.numel(), device=logits_TE.device)) / idx_TK.numel()
    aux = E * (load_E * probs_TE.mean(0)).sum()
    z = torch.logsumexp(logits_TE, dim=-1).square().mean()
    return torch.stack([aux, z]), load_E


def router_stats_from_logits(logits_TE: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """router_stats of softmax top-k routing given only the router logits (HF / AutoEP layers)."""
    logits_TE = logits_TE.float()
    probs_TE = logits_TE.softmax(-1)
    return router_stats(logits_TE, probs_TE, probs_TE.topk(top_k, dim=-1).indices)


class DecoderLayer(nn.Module):
    def __init__(self, cfg, experts_kind: str, ep_dispatch: str = "autoep"):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = SparseMoeBlock(cfg, experts_kind)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.experts_kind, self.ep_dispatch = experts_kind, ep_dispatch
        self.top_k, self.norm_topk_prob = cfg.num_experts_per_tok, cfg.norm_topk_prob

    def forward(self, x_BSD, cos_BSDh, sin_BSDh, mask):
        h_BSD = x_BSD + self.self_attn(self.input_layernorm(x_BSD), cos_BSDh, sin_BSDh, mask)
        n_BSD = self.post_attention_layernorm(h_BSD)
        if isinstance(self.mlp, SparseMoeBlock):
            y_BSD, losses_2, load_E = self.mlp(n_BSD)
        elif self.ep_dispatch == "padded":
            y_BSD, losses_2, load_E = self._expert_parallel_padded(n_BSD)
        else:  # DeepSpeed AutoEP's layer (expert parallel, ep_size > 1): it returns the hidden states only
            y_BSD = self.mlp(n_BSD)
            logits_TE = self.mlp.router.gate(n_BSD.flatten(0, 1))  # the same gate weight AutoEP routed with
            losses_2, load_E = router_stats_from_logits(logits_TE, self.mlp.top_k)
        return h_BSD + y_BSD, losses_2, load_E

    def _expert_parallel_padded(self, n_BSD):
        """AutoEP's layer keeps this rank's experts (w1 gate, w3 up, w2 down) and the router weight, so its
        checkpoints, HF export and expert-data-parallel gradient groups stay DeepSpeed's; the routing (the same as
        SparseMoeBlock's) and the dispatch are ep_experts_padded's."""
        ep = self.mlp
        x_TD = n_BSD.flatten(0, 1)
        logits_TE = ep.router.gate(x_TD).float()
        probs_TE, weight_TK, idx_TK = route(logits_TE, self.top_k, self.norm_topk_prob)
        y_TD = ep_experts_padded(x_TD, idx_TK, weight_TK, ep.experts.w1, ep.experts.w3, ep.experts.w2,
                                 ep.ep_group, ep.ep_size, uses_grouped_mm(self.experts_kind, x_TD))
        return (y_TD.view_as(n_BSD),) + router_stats(logits_TE, probs_TE, idx_TK)


class LMHead(nn.Module):
    """The output projection; given targets it returns only the (fused or plain) cross-entropy, never logits."""

    def __init__(self, cfg, opts: FastMoeConfig, compile_ce: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cfg.vocab_size, cfg.hidden_size))
        self.fused, self.chunk_size, self.compile_ce = opts.fused_ce, opts.ce_chunk_size, compile_ce

    def forward(self, h_BSD, targets_BS=None):
        if targets_BS is None:
            return F.linear(h_BSD, self.weight), None
        h_TD, targets_T = h_BSD.flatten(0, 1), targets_BS.flatten()
        if self.fused:
            return None, fused_linear_cross_entropy(h_TD, self.weight, targets_T, self.chunk_size,
                                                    self.compile_ce and h_TD.is_cuda)
        logits_TV = F.linear(h_TD, self.weight).float()
        return None, F.cross_entropy(logits_TV, targets_T, ignore_index=IGNORE_INDEX)


class Decoder(nn.Module):
    """The `model.` prefix of the state_dict: embeddings, decoder layers, final norm."""

    def __init__(self, cfg, experts_kind: str, ep_dispatch: str = "autoep"):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, cfg.pad_token_id)
        self.layers = nn.ModuleList(DecoderLayer(cfg, experts_kind, ep_dispatch)
                                    for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


def check_supported(cfg) -> None:
    """Raise for Qwen3-MoE variants this file does not implement (transformers handles them: model_impl='hf')."""
    rope_type = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type", "default")
    problems = [msg for bad, msg in [
        (cfg.hidden_act != "silu", f"hidden_act={cfg.hidden_act}"),
        (bool(cfg.mlp_only_layers) or cfg.decoder_sparse_step != 1, "dense (mlp_only) layers"),
        (getattr(cfg, "sliding_window", None) is not None, "sliding-window attention"),
        (rope_type != "default", f"rope_type={rope_type}"),
        (cfg.attention_dropout > 0, "attention dropout"),
    ] if bad]
    if problems:
        raise ValueError(f"model_impl='s1' does not support {', '.join(problems)}; use model_impl='hf'.")


def _resolve(setting: str, on_cuda: bool) -> bool:
    return setting == "on" or (setting == "auto" and on_cuda)


class FastQwen3Moe(nn.Module):
    """Qwen3MoeForCausalLM's state_dict and function; forward returns MoeOutput (logits or loss, router stats)."""

    def __init__(self, config, opts: FastMoeConfig | None = None, expert_parallel: bool = False):
        """expert_parallel: DeepSpeed AutoEP will replace every `mlp` (ep_size > 1) and hold the experts;
        opts.ep_dispatch picks whose forward moves the tokens (see ep_experts_padded). The whole decoder layer is
        compiled, except with AutoEP's dispatch and opts.compile_with_autoep="attention"."""
        super().__init__()
        check_supported(config)
        self.config, self.opts = config, opts or FastMoeConfig()
        compile_ = _resolve(self.opts.compile, torch.cuda.is_available())
        self.model = Decoder(config, self.opts.experts, self.opts.ep_dispatch)
        self.lm_head = LMHead(config, self.opts, compile_ce=compile_)
        self.tie_weights()
        # fp32 RoPE inverse frequencies, off the module so no dtype cast reaches them; one copy per device.
        Dh, theta = config.head_dim, config.rope_parameters["rope_theta"]
        exponent = torch.arange(0, Dh, 2, dtype=torch.float, device="cpu") / Dh
        self._inv_freq = {"cpu": 1.0 / (theta ** exponent)}
        self.gradient_checkpointing = False
        if not self.lm_head.weight.is_meta:
            self.init_weights(config.initializer_range)
        if compile_:
            only_attention = (expert_parallel and self.opts.ep_dispatch == "autoep"
                              and self.opts.compile_with_autoep == "attention")
            for layer in self.model.layers:
                (layer.self_attn if only_attention else layer).compile()

    @classmethod
    def from_hf(cls, hf_model: nn.Module, opts: FastMoeConfig | None = None,
                expert_parallel: bool = False) -> "FastQwen3Moe":
        """Take over a transformers Qwen3MoeForCausalLM's tensors (no copy); strict: every key and shape must match."""
        with torch.device("meta"):
            model = cls(hf_model.config, opts, expert_parallel)
        model.load_state_dict(hf_model.state_dict(), strict=True, assign=True)
        model.tie_weights()
        return model

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @torch.no_grad()
    def init_weights(self, std: float) -> None:
        """transformers' init: N(0, std) matrices and embeddings, ones for norms, zero biases and padding row."""
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                p.normal_(0.0, std)
        if self.config.pad_token_id is not None:
            self.model.embed_tokens.weight[self.config.pad_token_id].zero_()

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute each decoder layer in backward (non-reentrant); the HF method's name, for engine.py."""
        self.gradient_checkpointing = True

    def _inv_freq_on(self, device: torch.device) -> torch.Tensor:
        key = str(device)
        if key not in self._inv_freq:
            self._inv_freq[key] = self._inv_freq["cpu"].to(device)
        return self._inv_freq[key]

    def _attention_mask(self, position_ids_BS, document_mask: bool | None, on_cuda: bool,
                        cu_seqlens: torch.Tensor | None = None):
        if document_mask is False:
            return None
        doc_ids_BS = document_ids(position_ids_BS)
        if document_mask is None and bool((doc_ids_BS[:, -1] == 0).all()):  # inferred (host sync): one document
            return None
        kind = self.opts.attention
        if kind == "auto":
            kind = "flex" if on_cuda else "sdpa"
        if kind == "varlen":
            if not on_cuda:
                kind = "sdpa"  # FlashAttention kernels are CUDA-only; the dense mask computes the same function
            else:
                B, S = position_ids_BS.shape
                if cu_seqlens is None:  # from the positions: a host sync (the trainer passes them instead)
                    starts = (doc_ids_BS != F.pad(doc_ids_BS, (1, -1), value=-1)).flatten()
                    cu_seqlens = torch.cat([starts.nonzero().flatten(),
                                            torch.tensor([B * S], device=starts.device)])
                return Varlen(cu_seqlens.to(position_ids_BS.device, torch.int32), S)
        return document_causal_mask(doc_ids_BS, kind)

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor | None = None,
                targets: torch.Tensor | None = None, document_mask: bool | None = None,
                cu_seqlens: torch.Tensor | None = None) -> MoeOutput:
        """input_ids, position_ids, targets: B x S. targets[b, s] is the token to predict at s (IGNORE_INDEX: none);
        with targets the loss is returned and no logits. document_mask: True attends within documents (positions
        restart per document), False is plain causal, None infers it from position_ids like transformers does.
        cu_seqlens: the same documents as Varlen.cu_seqlens (cu_seqlens_of), used by attention="varlen" to spare
        a host sync; they must agree with position_ids."""
        B, S = input_ids.shape
        x_BSD = self.model.embed_tokens(input_ids)
        if position_ids is None:
            position_ids, document_mask = torch.arange(S, device=x_BSD.device).expand(B, S), False
        mask = self._attention_mask(position_ids, document_mask, x_BSD.is_cuda, cu_seqlens)
        cos_BSDh, sin_BSDh = rope_cos_sin(position_ids, self._inv_freq_on(x_BSD.device), x_BSD.dtype)
        losses, loads = [], []
        for layer in self.model.layers:
            if self.gradient_checkpointing and self.training:
                x_BSD, losses_2, load_E = checkpoint(layer, x_BSD, cos_BSDh, sin_BSDh, mask, use_reentrant=False)
            else:
                x_BSD, losses_2, load_E = layer(x_BSD, cos_BSDh, sin_BSDh, mask)
            losses.append(losses_2)
            loads.append(load_E)
        logits, loss = self.lm_head(self.model.norm(x_BSD), targets)
        aux, z = torch.stack(losses).mean(0)
        return MoeOutput(logits, loss, aux, z, torch.stack(loads).detach())
