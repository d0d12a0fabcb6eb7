"""Configs for Qwen3-MoE continued pretraining, and the named recipes (tiny, demo, s1_ref).

The same pydantic models are the flows' parameters: every field has a description and a default, so the Prefect UI
form is the documentation. A recipe is a function returning a config; override fields with `model_copy(update=...)`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class ModelConfig(BaseModel):
    """Architecture of a Qwen3-MoE decoder built from scratch (ignored except `vocab_size` when `init_from` is set)."""

    vocab_size: int = Field(32000, description="Vocabulary size of the tokenizer the shards were made with. With "
                            "init_from, a larger value resizes the checkpoint's embeddings (mean + noise rows).")
    hidden_size: int = Field(2048, description="Model width D.")
    num_layers: int = Field(12, description="Decoder layers; every layer is a MoE layer.")
    num_heads: int = Field(16, description="Query heads.")
    num_kv_heads: int = Field(4, description="Key/value heads (grouped-query attention).")
    head_dim: int = Field(128, description="Width of one attention head.")
    num_experts: int = Field(8, description="Routed experts per MoE layer E.")
    top_k: int = Field(2, description="Experts each token is routed to K.")
    moe_intermediate_size: int = Field(2048, description="Hidden width F of one expert's SwiGLU MLP.")
    norm_topk_prob: bool = Field(True, description="Renormalise the top-k router probabilities to sum to 1 "
                                 "(Qwen3-30B-A3B does; AutoEP is told to match).")
    rope_theta: float = Field(1_000_000.0, description="RoPE base.")
    max_position_embeddings: int = Field(32768, description="Longest position the RoPE tables are sized for.")
    rms_norm_eps: float = Field(1e-6, description="RMSNorm epsilon.")
    initializer_range: float = Field(0.02, description="Std of the normal init of fresh weights.")
    tie_word_embeddings: bool = Field(False, description="Share input embedding and lm_head weights.")


class FastMoeConfig(BaseModel):
    """Speed levers of the plain-PyTorch Qwen3-MoE (`model_impl="s1"`, s1model/fast_moe.py); "auto" = on for CUDA.

    Every lever keeps the function: logits equal transformers' Qwen3MoeForCausalLM on the same weights (fp32)."""

    experts: Literal["auto", "grouped_mm", "loop"] = Field(
        "auto", description="Expert MLPs. grouped_mm: one grouped GEMM per projection over tokens sorted by expert "
        "(torch grouped_mm; CUDA bf16). loop: one matmul per expert (CPU/fp32 reference). auto: grouped_mm for CUDA "
        "bf16 activations, else loop.")
    attention: Literal["auto", "flex", "varlen", "sdpa"] = Field(
        "auto", description="Document-masked attention over packed rows. flex: FlexAttention with a block mask built "
        "from document ids (skips fully masked tiles). varlen: PyTorch's FlashAttention-2 varlen kernels over the "
        "documents (CUDA; sdpa on CPU). sdpa: SDPA with a dense B x S x S boolean mask. auto: flex on CUDA, sdpa on "
        "CPU. Rows without document masking always use causal SDPA (flash).")
    fused_ce: bool = Field(True, description="lm_head + cross-entropy chunked over tokens in one autograd Function: "
                           "fp32 log-softmax per chunk, gradients of hidden and weight in the same pass; the "
                           "tokens x vocab logits are never materialised.")
    ce_chunk_size: int = Field(4096, ge=1, description="Tokens per chunk of the fused cross-entropy (memory: "
                               "chunk x vocab fp32).")
    foreach_grad_checks: bool = Field(
        True, description="DeepSpeed ZeRO 1/2 computes the gradient norm (clipping, log) by copying every gradient to "
        "fp64, and the bf16 overflow check with amax/amin/isfinite per parameter; compute both with foreach norms "
        "accumulated in fp32 instead (s1model.engine._lean_zero_checks; same values, overflow = non-finite norm).")
    sync_free_step: bool = Field(
        True, description="bf16 with fused AdamW under ZeRO 1/2: the clip factor and a skip flag for non-finite "
        "gradients go to fused AdamW as device tensors (grad_scale, found_inf), so the optimizer step never waits "
        "for the GPU and the fp32 gradients are not rescaled in a separate pass (s1model.engine._clip_in_adamw). "
        "Same update; a step with inf/NaN gradients is still skipped.")
    compile: Literal["auto", "on", "off"] = Field(
        "auto", description="torch.compile each decoder block (fuses RMSNorm, RoPE, SwiGLU, router and combine "
        "math) and the cross-entropy chunk math. auto: on for CUDA.")
    ep_dispatch: Literal["autoep", "padded"] = Field(
        "autoep", description="Token dispatch when experts are spread over ranks (ep_size > 1; AutoEP's layers hold the "
        "experts, their checkpoints and gradient groups either way). autoep: AutoEP's forward, all-to-alls sized "
        "exactly after one host read of the split sizes per layer. padded: s1model's routing and all-to-alls, every "
        "rank sending every rank tokens x top_k rows (the rows for that rank first, zero padding after), so nothing "
        "goes to the host and the layer compiles into one graph; ep_size x the all-to-all traffic and more memory. On "
        "2 H200s the two are level (median weak scaling of three runs 87.6% and 87.3%); padded is for hosts too slow "
        "to keep ahead of the device.")
    compile_with_autoep: Literal["attention", "layer"] = Field(
        "layer", description="With ep_dispatch autoep: what torch.compile covers. layer: the whole decoder layer, "
        "dynamo splitting the graph around AutoEP's host-side split sizes. attention: the attention block only "
        "(needed with autoep.async_split_plan, whose pinned host copy dynamo cannot trace).")


class AutoEPOptions(BaseModel):
    """Tuning switches of DeepSpeed AutoEP's MoE layer (the `expert_parallel` section of the DeepSpeed config);
    every choice computes the same function."""

    async_split_plan: bool = Field(False, description="Copy the all-to-all split sizes to the host on a side stream "
                                   "while the tokens are packed, instead of a blocking read right after routing.")
    gate_up_impl: Literal["separate", "fused"] = Field("separate", description="fused: the experts' gate and up "
                                                       "projections as one grouped GEMM (CUDA grouped_mm).")
    combine_impl: Literal["auto", "weighted_sum", "fused_weighted_sum"] = Field(
        "auto", description="How the K expert outputs of a token are weighted and summed; fused_weighted_sum is "
        "DeepSpeed's Triton kernel (CUDA).")


class PretrainConfig(BaseModel):
    """Everything `s1model.train.pretrain` needs besides the shard paths and the output directory."""

    model: ModelConfig = Field(default_factory=ModelConfig, description="Architecture (used when init_from is None).")
    init_from: str | None = Field(None, description="Hugging Face checkpoint directory (config.json + safetensors) "
                                  "of a Qwen3-MoE model to continue from; None builds model from its config.")
    embedding_init_noise: float = Field(0.02, description="New embedding rows = mean of old rows + N(0, (this x "
                                        "per-dimension std of old rows)^2).")
    model_impl: Literal["hf", "s1"] = Field(
        "hf", description="hf: transformers Qwen3MoeForCausalLM (AutoEP can swap its MoE blocks). s1: s1model's own "
        "Qwen3-MoE (fast_moe.py: grouped-GEMM experts, FlexAttention, fused linear + cross-entropy, compiled blocks) "
        "with the same state_dict, checkpoints and HF export; experts are replicated (data parallel), no EP.")
    fast_moe: FastMoeConfig = Field(default_factory=FastMoeConfig, description="Kernel switches of model_impl='s1'.")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="Attention kernel. All honour document masking through per-document position ids.")
    document_masking: bool = Field(True, description="Tokens attend only within their own document of a packed "
                                   "row, RoPE positions restart per document, and no loss across a boundary.")

    seq_len: int = Field(2048, description="Tokens per row; must equal the shards' s1.seq_len metadata.")
    micro_batch_size: int = Field(4, description="Rows per data-parallel rank per forward (after warm-up).")
    gradient_accumulation_steps: int = Field(1, description="Micro-batches per optimizer step.")
    batch_warmup_start: int | None = Field(None, description="Rows per rank per micro-batch at step 0; ramps "
                                           "linearly to micro_batch_size over batch_warmup_steps. None: no warm-up.")
    batch_warmup_steps: int = Field(0, description="Optimizer steps of the batch-size warm-up.")
    length_balanced: bool = Field(True, description="Deal each global batch's rows to data-parallel ranks so that "
                                  "attention work (sum of squared document lengths) is balanced.")
    max_steps: int = Field(1000, description="Optimizer steps to train for.")
    seed: int = Field(0, description="Seeds model init and the data order (a permutation per epoch).")
    stream_window_row_groups: int | None = Field(None, ge=1, description="None: read all shards into memory. N: "
                                                 "stream them (s1model.data.ShardStream), shuffling blocks of N "
                                                 "parquet row groups; memory is bounded by one block.")

    lr: float = Field(3e-4, description="Peak learning rate.")
    warmup_steps: int = Field(100, description="Linear LR warm-up steps (WSD 'W').")
    decay_fraction: float = Field(0.2, ge=0.0, le=1.0, description="Fraction of max_steps at the end spent "
                                  "decaying (WSD 'D'); the rest is stable at the peak ('S').")
    decay_shape: Literal["linear", "cosine", "1-sqrt"] = Field("1-sqrt", description="Shape of the WSD decay.")
    min_lr_ratio: float = Field(0.1, description="LR at the end of the decay, as a fraction of the peak.")
    weight_decay: float = Field(0.1, description="AdamW decoupled weight decay on matrices (not norms/biases).")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas.")
    grad_clip: float = Field(1.0, description="Clip the global gradient norm to this (0 disables).")
    aux_loss_coef: float = Field(1e-3, description="Weight of the Switch load-balancing loss.")
    z_loss_coef: float = Field(1e-3, description="Weight of the ST-MoE router z-loss.")

    zero_stage: Literal[0, 1, 2, 3] = Field(1, description="DeepSpeed ZeRO stage.")
    dtype: Literal["auto", "bf16", "fp32"] = Field("auto", description="Training precision; auto is bf16 on CUDA "
                                                   "and fp32 on CPU.")
    activation_checkpointing: bool = Field(False, description="Recompute each decoder layer in the backward pass.")
    expert_parallel: Literal["autoep", "none"] = Field("autoep", description="autoep: DeepSpeed AutoEP replaces "
                                                       "the MoE blocks (preset qwen3_moe); none: plain HF blocks. "
                                                       "model_impl='s1' uses AutoEP only when ep_size > 1.")
    ep_size: int = Field(1, description="Ranks one layer's experts are spread over (divides world size and E).")
    autoep: AutoEPOptions = Field(default_factory=AutoEPOptions, description="DeepSpeed AutoEP's layer switches.")
    sharded_init: Literal["auto", "on", "off"] = Field(
        "auto", description="ZeRO-3 loading (s1model/load.py). on: build the model under deepspeed.zero.Init, so "
        "each rank allocates only its partition of every parameter, in the training dtype, and stream init_from's "
        "safetensors straight into those partitions (each rank reads only its slice; new tokenizer rows are written "
        "into the partitions too); no rank ever holds the whole model or an fp32 copy of it. off: every rank builds "
        "the whole model in fp32, DeepSpeed partitions it afterwards. auto: on for ZeRO-3 without AutoEP (AutoEP "
        "swaps modules after the build, which partitioned parameters do not allow).")
    offload_optimizer: Literal["none", "cpu"] = Field(
        "none", description="ZeRO-3 with sharded_init: keep this rank's fp32 master weights, Adam moments and fp32 "
        "gradients (16 bytes per parameter / world size) in host memory and step AdamW there (DeepSpeed "
        "ZeRO-Offload); the GPU keeps the bf16 partitions and activations.")
    offload_param: Literal["none", "cpu"] = Field(
        "none", description="ZeRO-3 with sharded_init: keep the bf16 parameter partitions in host memory too, "
        "fetched to the GPU layer by layer (ZeRO-Infinity); for models whose bf16 weights / world size do not fit.")
    offload_pin_memory: bool = Field(True, description="Page-locked host buffers for the offloaded states (faster "
                                     "copies; pinned memory cannot be swapped).")

    checkpoint_every: int = Field(100, ge=0, description="Save a DeepSpeed checkpoint every N optimizer steps "
                                  "and at the last step; 0 saves none (benchmarks).")
    export_hf: bool = Field(True, description="Write a Hugging Face export of the final weights to out_dir/hf.")
    peak_flops: float = Field(989e12, description="Peak FLOP/s of one device for MFU (H100 SXM dense bf16).")

    def uses_autoep(self) -> bool:
        """DeepSpeed AutoEP replaces the MoE blocks: always for model_impl="hf" with expert_parallel="autoep"; for "s1"
        only when ep_size > 1 (on one rank its own grouped-GEMM experts are faster and need no dispatch)."""
        return self.expert_parallel == "autoep" and (self.model_impl == "hf" or self.ep_size > 1)

    def uses_sharded_init(self) -> bool:
        """The model is built under deepspeed.zero.Init and loaded partition by partition (s1model.load)."""
        if self.sharded_init == "auto":
            return self.zero_stage == 3 and not self.uses_autoep()
        return self.sharded_init == "on"

    @model_validator(mode="after")
    def _check(self) -> "PretrainConfig":
        m = self.model
        if m.num_experts % self.ep_size:
            raise ValueError(f"ep_size={self.ep_size} must divide num_experts={m.num_experts}; pick a divisor.")
        if self.batch_warmup_start is not None and not 1 <= self.batch_warmup_start <= self.micro_batch_size:
            raise ValueError("batch_warmup_start must be in [1, micro_batch_size]; set it lower or None.")
        if self.seq_len > m.max_position_embeddings:
            raise ValueError(f"seq_len={self.seq_len} exceeds max_position_embeddings="
                             f"{m.max_position_embeddings}; raise the latter.")
        if self.sharded_init == "on" and (self.zero_stage != 3 or self.uses_autoep()):
            raise ValueError("sharded_init='on' needs zero_stage=3 and no AutoEP (expert_parallel='none', or "
                             "model_impl='s1' with ep_size=1); set sharded_init='off' or change those.")
        if (self.offload_optimizer != "none" or self.offload_param != "none") and not self.uses_sharded_init():
            raise ValueError("offload_optimizer / offload_param need the sharded ZeRO-3 path: zero_stage=3, no AutoEP "
                             "and sharded_init 'auto' or 'on'.")
        if self.expert_parallel == "none" and self.ep_size != 1:
            raise ValueError("ep_size > 1 needs expert_parallel='autoep'.")
        if self.fast_moe.ep_dispatch == "padded" and self.ep_size > 1 and self.model_impl != "s1":
            raise ValueError("fast_moe.ep_dispatch='padded' is model_impl='s1''s dispatch; set model_impl='s1'.")
        if (self.autoep.async_split_plan and self.model_impl == "s1" and self.uses_autoep()
                and self.fast_moe.compile != "off"
                and (self.fast_moe.ep_dispatch == "padded" or self.fast_moe.compile_with_autoep == "layer")):
            raise ValueError("autoep.async_split_plan needs fast_moe.ep_dispatch='autoep' and "
                             "fast_moe.compile_with_autoep='attention' (dynamo cannot trace its pinned host copy).")
        return self


def tiny() -> PretrainConfig:
    """CPU test size: D=64, 2 layers, 4 experts top-2, seq 64; a step takes well under a second."""
    return PretrainConfig(
        model=ModelConfig(vocab_size=256, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
                          num_experts=4, top_k=2, moe_intermediate_size=32, max_position_embeddings=256),
        seq_len=64, micro_batch_size=2, max_steps=8, lr=3e-3, warmup_steps=2, decay_fraction=0.25,
        checkpoint_every=4, zero_stage=1, dtype="fp32", peak_flops=1e12)


def demo() -> PretrainConfig:
    """`s1 demo` size on CPU: D=128, 4 layers, 8 experts top-2, seq 256, a few minutes of training."""
    return PretrainConfig(
        model=ModelConfig(vocab_size=32000, hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, head_dim=32,
                          num_experts=8, top_k=2, moe_intermediate_size=128, max_position_embeddings=1024),
        seq_len=256, micro_batch_size=4, batch_warmup_start=1, batch_warmup_steps=10, max_steps=50, lr=2e-3,
        warmup_steps=5, checkpoint_every=25, zero_stage=1, dtype="auto", peak_flops=1e12)


def s1_ref() -> PretrainConfig:
    """The issue's reference: vocab 32000, D=2048, 12 layers, 16x128 heads, 4 KV, 8 experts top-2, F=2048,
    seq 2048, micro-batch 4, bf16 -- 1.47B total, 559M active parameters."""
    return PretrainConfig(model=ModelConfig(), seq_len=2048, micro_batch_size=4, dtype="bf16", zero_stage=1)


RECIPES = {"tiny": tiny, "demo": demo, "s1_ref": s1_ref}
