"""The model side of continued pretraining, in reading order:
build the HF Qwen3-MoE → resize embeddings → packed-row inputs → losses (LM, load balance, z) → FLOPs per step.

The network itself is `transformers.Qwen3MoeForCausalLM` (transformers 5.18.0); DeepSpeed AutoEP swaps its MoE blocks
(see engine.py). With `model_impl="s1"` the HF model is built the same way, then its tensors move into
s1model.fast_moe.FastQwen3Moe (same state_dict), which computes the LM loss and router losses itself
(`forward_losses`). Shape legend: B batch rows, S sequence, V vocab, D hidden, E experts, K experts per token,
T = B*S tokens, L layers.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

from s1model.config import ModelConfig, PretrainConfig

log = logging.getLogger(__name__)


# --- build ---------------------------------------------------------------------------------------------------------

def hf_config(m: ModelConfig, attn_implementation: str = "sdpa") -> Qwen3MoeConfig:
    """The transformers config of a recipe; every layer is sparse (decoder_sparse_step=1, no mlp_only_layers)."""
    cfg = Qwen3MoeConfig(
        vocab_size=m.vocab_size, hidden_size=m.hidden_size, num_hidden_layers=m.num_layers,
        num_attention_heads=m.num_heads, num_key_value_heads=m.num_kv_heads, head_dim=m.head_dim,
        num_experts=m.num_experts, num_experts_per_tok=m.top_k, moe_intermediate_size=m.moe_intermediate_size,
        intermediate_size=m.moe_intermediate_size * m.top_k, norm_topk_prob=m.norm_topk_prob,
        rope_parameters={"rope_type": "default", "rope_theta": m.rope_theta},
        max_position_embeddings=m.max_position_embeddings, rms_norm_eps=m.rms_norm_eps,
        initializer_range=m.initializer_range, tie_word_embeddings=m.tie_word_embeddings,
        decoder_sparse_step=1, mlp_only_layers=[], use_cache=False)
    cfg._attn_implementation = attn_implementation
    return cfg


def build_model(config: PretrainConfig, load_weights: bool = True) -> torch.nn.Module:
    """Qwen3-MoE in fp32 from `config.init_from` (HF dir) or from `config.model`; seeded by `config.seed`.

    Weights stay fp32 here: DeepSpeed casts to bf16 when `dtype` resolves to bf16 and keeps fp32 master weights.
    model_impl="s1" returns a FastQwen3Moe holding the very tensors of the HF model built here (same init).
    With `config.uses_sharded_init()` (ZeRO-3) the model is built partitioned, in the training dtype, and loaded
    partition by partition instead (s1model.load.build_sharded_model; load_weights=False skips the read, for a
    resume that overwrites the weights).
    """
    if config.uses_sharded_init():
        from s1model.load import build_sharded_model

        return build_sharded_model(config, load_weights=load_weights)
    torch.manual_seed(config.seed)
    if config.init_from is None:
        model = Qwen3MoeForCausalLM(hf_config(config.model, config.attn_implementation))
    else:
        model = Qwen3MoeForCausalLM.from_pretrained(config.init_from, dtype=torch.float32,
                                                    attn_implementation=config.attn_implementation)
        if model.config.num_experts % config.ep_size:
            raise ValueError(f"ep_size={config.ep_size} must divide the checkpoint's num_experts="
                             f"{model.config.num_experts}.")
        old_vocab = model.config.vocab_size
        if config.model.vocab_size > old_vocab:
            resize_embeddings(model, config.model.vocab_size, noise=config.embedding_init_noise, seed=config.seed)
        elif config.model.vocab_size < old_vocab:
            log.info("tokenizer vocab %d < checkpoint vocab %d: keeping the checkpoint's rows",
                     config.model.vocab_size, old_vocab)
    model.config.use_cache = False
    if config.model_impl == "s1":
        from s1model.fast_moe import FastQwen3Moe

        return FastQwen3Moe.from_hf(model, config.fast_moe, expert_parallel=config.uses_autoep())
    return model


# --- embedding resize ----------------------------------------------------------------------------------------------

def new_embedding_rows(mean_D: torch.Tensor, std_D: torch.Tensor, n_new: int, noise: float,
                       gen: torch.Generator) -> torch.Tensor:
    """n_new rows of mean_D + N(0, (noise * std_D)^2) (fp32), drawn from `gen`."""
    eps_ND = torch.randn(n_new, mean_D.shape[0], generator=gen) * (noise * std_D)
    return mean_D + eps_ND


@torch.no_grad()
def _grow_rows(weight_VD: torch.Tensor, new_vocab: int, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Old rows unchanged; new rows = mean of old rows + N(0, (noise * per-dimension std of old rows)^2).

    The mean row keeps a new token's input close to the average token and, for the lm_head, its logit close to the
    average logit, so the model's initial distribution barely moves (Hewitt 2021); the noise breaks the symmetry
    between new tokens. Statistics are accumulated in fp64 over chunks of rows (s1model.load.row_stats, which the
    sharded ZeRO-3 load uses on the checkpoint file, so both give the same rows); the result is written into one new
    matrix, with no concatenated copy.
    """
    from s1model.load import row_stats

    old_V, D = weight_VD.shape
    mean_D, std_D = row_stats(lambda a, b: weight_VD[a:b], old_V)
    out_VD = torch.empty(new_vocab, D, dtype=weight_VD.dtype)
    out_VD[:old_V] = weight_VD
    out_VD[old_V:] = new_embedding_rows(mean_D, std_D, new_vocab - old_V, noise, gen).to(weight_VD.dtype)
    return out_VD


def resize_embeddings(model: Qwen3MoeForCausalLM, new_vocab: int, noise: float = 0.02, seed: int = 0) -> None:
    """Grow input embeddings and lm_head to `new_vocab` rows in place (see `_grow_rows` for the init)."""
    gen = torch.Generator().manual_seed(seed)
    emb = model.get_input_embeddings()
    new_emb = torch.nn.Embedding(new_vocab, emb.embedding_dim, padding_idx=emb.padding_idx)
    new_emb.weight.data = _grow_rows(emb.weight.data, new_vocab, noise, gen)
    model.set_input_embeddings(new_emb)
    if not model.config.tie_word_embeddings:
        head = model.get_output_embeddings()
        new_head = torch.nn.Linear(head.in_features, new_vocab, bias=False)
        new_head.weight.data = _grow_rows(head.weight.data, new_vocab, noise, gen)
        model.set_output_embeddings(new_head)
    else:
        model.tie_weights()
    model.config.vocab_size = new_vocab
    model.vocab_size = new_vocab


# --- packed rows ---------------------------------------------------------------------------------------------------

def packed_inputs(doc_lens: list[list[int]], seq_len: int, document_masking: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Position ids and loss mask of packed rows.

    position_ids_BS restart at 0 at each document. transformers detects the restarts (masking_utils
    `find_packed_sequence_indices`) and builds a block-diagonal causal mask for sdpa/eager/flex, or varlen for
    flash-attention, so a token attends only within its document. loss_mask_BS[b, s] is False where token s+1 starts
    a new document: the last token of a document is not trained to predict the next document's first token.
    """
    B = len(doc_lens)
    position_ids_BS = torch.empty(B, seq_len, dtype=torch.long)
    loss_mask_BS = torch.ones(B, seq_len, dtype=torch.bool)
    loss_mask_BS[:, -1] = False  # nothing to predict after the last token
    for b, lens in enumerate(doc_lens):
        if not document_masking:
            position_ids_BS[b] = torch.arange(seq_len)
            continue
        start = 0
        for n in lens:
            position_ids_BS[b, start:start + n] = torch.arange(n)
            start += n
            if start < seq_len:
                loss_mask_BS[b, start - 1] = False
    return position_ids_BS, loss_mask_BS


# --- losses --------------------------------------------------------------------------------------------------------

def next_token_targets(input_ids_BS: torch.Tensor, loss_mask_BS: torch.Tensor) -> torch.Tensor:
    """targets_BS[b, s] = input_ids_BS[b, s+1] where the loss mask is on, else -100 (ignored)."""
    return input_ids_BS.roll(-1, dims=1).masked_fill(~loss_mask_BS, -100)


def lm_loss(logits_BSV: torch.Tensor, input_ids_BS: torch.Tensor, loss_mask_BS: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over unmasked positions, computed in fp32."""
    targets_BS = next_token_targets(input_ids_BS, loss_mask_BS)
    return F.cross_entropy(logits_BSV.float().flatten(0, 1), targets_BS.flatten(), ignore_index=-100)


def router_losses(router_logits: tuple[torch.Tensor, ...], top_k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(load-balance loss, z-loss, expert load L x E), each averaged over layers; router math in fp32.

    Load balance (Switch, eq. 4-6, top-k form): E * sum_e f_e * P_e with f_e the fraction of the T*K routed slots
    that went to expert e and P_e the mean router probability of e; it is 1 for a perfectly balanced router.
    z-loss (ST-MoE): mean over tokens of logsumexp(router logits)^2. expert load is f (rows sum to 1), detached.
    """
    from s1model.fast_moe import router_stats_from_logits

    losses_L2, loads_LE = map(torch.stack, zip(*(router_stats_from_logits(t, top_k) for t in router_logits)))
    return losses_L2[:, 0].mean(), losses_L2[:, 1].mean(), loads_LE.detach()


def forward_losses(module: torch.nn.Module, input_ids_BS: torch.Tensor, position_ids_BS: torch.Tensor,
                   loss_mask_BS: torch.Tensor, config: PretrainConfig, top_k: int,
                   cu_seqlens: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(LM loss, load-balance loss, z-loss, expert load L x E) of one micro-batch through `module` (a DeepSpeed
    engine or the bare model). hf: logits, then `lm_loss` and `router_losses`; s1: the model's fused loss and its
    router statistics, the same quantities without logits (cu_seqlens: the documents, for varlen attention)."""
    if config.model_impl == "s1":
        out = module(input_ids=input_ids_BS, position_ids=position_ids_BS,
                     targets=next_token_targets(input_ids_BS, loss_mask_BS), document_mask=config.document_masking,
                     cu_seqlens=cu_seqlens)
        return out.loss, out.aux_loss, out.z_loss, out.expert_load
    out = module(input_ids=input_ids_BS, position_ids=position_ids_BS, output_router_logits=True)
    aux, z, load_LE = router_losses(out.router_logits, top_k)
    return lm_loss(out.logits, input_ids_BS, loss_mask_BS), aux, z, load_LE


# --- FLOPs ---------------------------------------------------------------------------------------------------------

def active_params(model_cfg: Qwen3MoeConfig) -> int:
    """Parameters one token touches: embeddings, lm_head, attention, norms, router and K of E experts per layer."""
    D, L, E, K = model_cfg.hidden_size, model_cfg.num_hidden_layers, model_cfg.num_experts, model_cfg.num_experts_per_tok
    Hq, Hkv, hd, F_ = (model_cfg.num_attention_heads, model_cfg.num_key_value_heads, model_cfg.head_dim,
                       model_cfg.moe_intermediate_size)
    attn = D * Hq * hd * 2 + D * Hkv * hd * 2 + 2 * hd  # q, o, k, v projections + q/k norms
    per_layer = attn + E * D + K * 3 * D * F_ + 2 * D  # router, K experts (gate, up, down), two norms
    heads = model_cfg.vocab_size * D * (1 if model_cfg.tie_word_embeddings else 2)
    return L * per_layer + heads + D


def train_flops(model_cfg: Qwen3MoeConfig, rows: int, seq_len: int) -> float:
    """FLOPs of one optimizer step: 6 x active params x tokens + 6 x layers x hidden x seq^2 x rows.

    The second term is causal attention's QK^T and AV (2 matmuls x 2 FLOPs x S^2/2 x D, times 3 for forward +
    backward), counted for the full causal square as the issue's MFU figures do, even where document masking skips
    work.
    """
    tokens = rows * seq_len
    return 6.0 * active_params(model_cfg) * tokens + 6.0 * model_cfg.num_hidden_layers * model_cfg.hidden_size \
        * seq_len ** 2 * rows
