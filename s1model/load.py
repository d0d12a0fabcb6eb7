"""Real-size loading under ZeRO-3: a Hugging Face Qwen3-MoE checkpoint streamed into each rank's partitions.

In reading order: where each parameter's values are in the checkpoint (`ParamSource`) → write this rank's flat slice
of every parameter (`write_partition`) → build the model under `deepspeed.zero.Init` and fill it
(`build_sharded_model`) → the DeepSpeed ZeRO-3 engine with optional CPU offload (`build_engine`).

Memory: `deepspeed.zero.Init` partitions each module's parameters as soon as the module is built, in the training
dtype, so a rank never holds more than one module's full parameters (an expert block, the embedding) and never an
fp32 copy of the model. The checkpoint's safetensors files are memory-mapped; each rank reads only the rows that
cover its flat slice of each parameter (1 / world size of the bytes), so nothing is broadcast. The tokenizer's new
rows of the embedding and lm_head (`vocab_size` > the checkpoint's) are computed from streamed statistics of the old
rows and written straight into the partitions: the V x D matrix is never materialised, let alone twice.

Checkpoint layouts read: the one published on the Hub and written by `save_pretrained` (per-expert
`mlp.experts.{e}.{gate,up,down}_proj.weight`), and transformers 5.x's fused in-memory names
(`mlp.experts.gate_up_proj` [E, 2F, D], `mlp.experts.down_proj` [E, D, F]). Shape legend: E experts, F expert width,
D hidden, V vocab, C the last dimension of a parameter (a parameter is read as rows of C values).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass

import torch

from s1model.config import PretrainConfig

log = logging.getLogger(__name__)

_FUSED_EXPERTS = re.compile(r"^(?P<prefix>.*\.mlp\.experts)\.(?P<w>gate_up_proj|down_proj)$")


# --- the checkpoint ------------------------------------------------------------------------------------------------

class Checkpoint:
    """A Hugging Face safetensors checkpoint folder (one file or an index), tensors opened lazily and memory-mapped."""

    def __init__(self, folder: str):
        from safetensors import safe_open

        self.folder = folder
        index = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                files = json.load(f)["weight_map"]
        elif os.path.exists(os.path.join(folder, "model.safetensors")):
            files = None
        else:
            raise FileNotFoundError(f"{folder}: no model.safetensors or model.safetensors.index.json")
        self._handles: dict[str, object] = {}
        self._open = safe_open
        if files is None:
            keys = self._handle("model.safetensors").keys()
            files = {k: "model.safetensors" for k in keys}
        self.files: dict[str, str] = files

    def _handle(self, name: str):
        if name not in self._handles:
            self._handles[name] = self._open(os.path.join(self.folder, name), framework="pt", device="cpu")
        return self._handles[name]

    def __contains__(self, key: str) -> bool:
        return key in self.files

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._handle(self.files[key]).get_slice(key).get_shape())

    def rows(self, key: str, i0: int, i1: int) -> torch.Tensor:
        """Entries [i0, i1) along the first dimension; a vector (or scalar) is one entry, read whole."""
        sl = self._handle(self.files[key]).get_slice(key)
        return sl[i0:i1] if len(sl.get_shape()) > 1 else sl[:]


# --- where a parameter's values come from ---------------------------------------------------------------------------

@dataclass
class Segment:
    """`rows` consecutive rows of C values: tensor `key` of the checkpoint (its leading entries [lead0, lead1),
    flattened to rows of C), or `values`, rows held in memory (new tokenizer rows)."""

    rows: int
    key: str | None = None
    lead0: int = 0
    lead1: int = 0
    values: torch.Tensor | None = None


class ParamSource:
    """A parameter of C columns as the concatenation of segments; `read(a, b)` returns its rows [a, b) as [b-a, C]."""

    def __init__(self, ckpt: Checkpoint, columns: int, segments: list[Segment]):
        self.ckpt, self.columns, self.segments = ckpt, columns, segments
        self.total_rows = sum(s.rows for s in segments)

    def read(self, a: int, b: int) -> torch.Tensor:
        out, base = [], 0
        for seg in self.segments:
            lo, hi = max(a, base), min(b, base + seg.rows)
            if lo < hi:
                r0, r1 = lo - base, hi - base
                if seg.values is not None:
                    out.append(seg.values[r0:r1])
                else:
                    per_lead = seg.rows // (seg.lead1 - seg.lead0)  # rows of C per leading entry
                    i0, i1 = r0 // per_lead, -(-r1 // per_lead)
                    t = self.ckpt.rows(seg.key, seg.lead0 + i0, seg.lead0 + i1).reshape(-1, self.columns)
                    out.append(t[r0 - i0 * per_lead:r1 - i0 * per_lead])
            base += seg.rows
            if base >= b:
                break
        return out[0] if len(out) == 1 else torch.cat(out)


def _whole(ckpt: Checkpoint, key: str, columns: int) -> Segment:
    shape = ckpt.shape(key)
    numel = 1
    for n in shape:
        numel *= n
    lead = shape[0] if len(shape) > 1 else 1  # a vector is one leading entry (Checkpoint.rows reads it whole)
    return Segment(rows=numel // columns, key=key, lead0=0, lead1=lead)


def _leading(ckpt: Checkpoint, key: str, i0: int, i1: int, columns: int) -> Segment:
    shape = ckpt.shape(key)
    per_entry = 1
    for n in shape[1:]:
        per_entry *= n
    return Segment(rows=(i1 - i0) * per_entry // columns, key=key, lead0=i0, lead1=i1)


def param_source(ckpt: Checkpoint, name: str, shape: tuple[int, ...], new_rows: dict[str, torch.Tensor]
                 ) -> ParamSource:
    """Where parameter `name` of `shape` (the model's layout) is in `ckpt`; raises KeyError when nowhere."""
    C = shape[-1]
    if name in ckpt:
        if name in new_rows:  # a grown vocabulary: the checkpoint's rows, then the new ones
            old = ckpt.shape(name)[0]
            n_keep = min(old, shape[0])
            segs = [_leading(ckpt, name, 0, n_keep, C)]
            if shape[0] > n_keep:
                segs.append(Segment(rows=shape[0] - n_keep, values=new_rows[name]))
            return ParamSource(ckpt, C, segs)
        if ckpt.shape(name) != tuple(shape):
            raise ValueError(f"{name}: checkpoint shape {ckpt.shape(name)} != model shape {tuple(shape)}")
        return ParamSource(ckpt, C, [_whole(ckpt, name, C)])
    m = _FUSED_EXPERTS.match(name)
    if m is None:
        raise KeyError(name)
    E, prefix = shape[0], m["prefix"]
    if m["w"] == "gate_up_proj":  # [E, 2F, D]: rows [0, F) gate, [F, 2F) up of each expert
        parts = ("gate_proj", "up_proj")
    else:  # [E, D, F]
        parts = ("down_proj",)
    segs = []
    for e in range(E):
        for p in parts:
            key = f"{prefix}.{e}.{p}.weight"
            if key not in ckpt:
                raise KeyError(key)
            segs.append(_whole(ckpt, key, C))
    src = ParamSource(ckpt, C, segs)
    if src.total_rows * C != _numel(shape):
        raise ValueError(f"{name}: the checkpoint's per-expert tensors hold {src.total_rows * C} values, the model "
                         f"{_numel(shape)} ({tuple(shape)})")
    return src


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# --- new tokenizer rows ----------------------------------------------------------------------------------------------

@torch.no_grad()
def row_stats(read_rows, n_rows: int, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and (unbiased) std of a matrix read `chunk` rows at a time, accumulated in fp64, returned in
    fp32: the statistics of the old embedding rows without the whole matrix in memory."""
    total = total_sq = None
    for a in range(0, n_rows, chunk):
        x = read_rows(a, min(n_rows, a + chunk)).double()
        s, sq = x.sum(0), x.square().sum(0)
        total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
    mean = total / n_rows
    var = (total_sq - n_rows * mean.square()) / max(n_rows - 1, 1)
    return mean.float(), var.clamp_min(0).sqrt().float()


def grown_rows(ckpt: Checkpoint, names: list[str], new_vocab: int, noise: float, seed: int
               ) -> dict[str, torch.Tensor]:
    """The new rows [new_vocab - V, D] of each matrix in `names` (in that order: the embedding, then the lm_head),
    mean of the old rows + N(0, (noise x their per-column std)^2), drawn from one generator seeded by `seed`:
    the very values s1model.model.resize_embeddings gives the same checkpoint."""
    from s1model.model import new_embedding_rows

    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in names:
        old_V, D = ckpt.shape(name)
        mean_D, std_D = row_stats(lambda a, b: ckpt.rows(name, a, b), old_V)
        out[name] = new_embedding_rows(mean_D, std_D, new_vocab - old_V, noise, gen)
    return out


# --- partitions ------------------------------------------------------------------------------------------------------

def partition_range(numel: int, partition_numel: int, rank: int) -> tuple[int, int]:
    """[start, end) of the flat parameter that rank `rank` holds under ZeRO-3 (DeepSpeed's `_partition_param`:
    equal partitions of the padded size, the last one padded)."""
    start = partition_numel * rank
    return start, min(start + partition_numel, numel)


@torch.no_grad()
def write_partition(dst_flat: torch.Tensor, src: ParamSource, numel: int, rank: int) -> int:
    """Copy this rank's flat slice of the parameter from `src` into `dst_flat` (its ZeRO-3 partition); the rows
    read are those that cover the slice. Returns the number of values written."""
    start, end = partition_range(numel, dst_flat.numel(), rank)
    if end <= start:
        return 0
    C = src.columns
    a, b = start // C, -(-end // C)
    flat = src.read(a, b).reshape(-1)[start - a * C:end - a * C]
    dst_flat[:end - start].copy_(flat)
    return end - start


# --- the model -------------------------------------------------------------------------------------------------------

def zero3_ds_config(config: PretrainConfig, world_size: int, norm_topk_prob: bool = True) -> dict:
    """s1model.engine.ds_config for ZeRO-3 plus the offload sections; the same dict goes to zero.Init and to
    deepspeed.initialize, so the partitions are made once, where the engine wants them."""
    from s1model import engine as ds_glue

    cfg = ds_glue.ds_config(config, world_size, norm_topk_prob=norm_topk_prob)
    zero = cfg["zero_optimization"]
    zero["stage"] = 3
    if config.offload_optimizer != "none":
        zero["offload_optimizer"] = {"device": config.offload_optimizer, "pin_memory": config.offload_pin_memory}
        cfg["zero_force_ds_cpu_optimizer"] = False  # torch's fused AdamW steps the host partitions (see _optimizer)
    if config.offload_param != "none":
        zero["offload_param"] = {"device": config.offload_param, "pin_memory": config.offload_pin_memory}
    return cfg


def _hf_config_of(config: PretrainConfig):
    """(transformers config of the model to build, checkpoint vocab or None)."""
    from transformers import Qwen3MoeConfig

    from s1model.model import hf_config

    if config.init_from is None:
        return hf_config(config.model, config.attn_implementation), None
    cfg = Qwen3MoeConfig.from_pretrained(config.init_from)
    cfg._attn_implementation = config.attn_implementation
    if cfg.num_experts % config.ep_size:
        raise ValueError(f"ep_size={config.ep_size} must divide the checkpoint's num_experts={cfg.num_experts}.")
    old_vocab = cfg.vocab_size
    if config.model.vocab_size > old_vocab:
        cfg.vocab_size = config.model.vocab_size
    elif config.model.vocab_size < old_vocab:
        log.info("tokenizer vocab %d < checkpoint vocab %d: keeping the checkpoint's rows", config.model.vocab_size,
                 old_vocab)
    cfg.use_cache = False
    return cfg, old_vocab


def build_sharded_model(config: PretrainConfig, load_weights: bool = True) -> torch.nn.Module:
    """The model under deepspeed.zero.Init (each rank holds its partitions only, in the training dtype), filled
    from `config.init_from` partition by partition, or initialised like transformers when it is None.

    load_weights=False leaves the partitions as built (a resume overwrites them from the DeepSpeed checkpoint).
    Collective over the data-parallel group: torch.distributed must be initialised.
    """
    import deepspeed
    from transformers import Qwen3MoeForCausalLM

    torch.manual_seed(config.seed)
    hf_cfg, old_vocab = _hf_config_of(config)
    world = torch.distributed.get_world_size()
    ds_cfg = zero3_ds_config(config, world, norm_topk_prob=hf_cfg.norm_topk_prob)
    # the partitions' dtype comes from ds_cfg's bf16 section (resolve_dtype): deepspeed 0.19.8's Init turns an
    # explicit dtype=torch.float32 into bf16 on accelerators without fp16 (an operator-precedence slip), so none is
    # passed
    with deepspeed.zero.Init(config_dict_or_path=ds_cfg):
        if config.model_impl == "s1":
            from s1model.fast_moe import FastQwen3Moe

            if config.fast_moe.compile == "on":
                raise ValueError("sharded_init builds the model under ZeRO-3, whose parameter hooks torch.compile "
                                 "cannot trace here; set fast_moe.compile='off' (or 'auto').")
            model = FastQwen3Moe(hf_cfg, config.fast_moe.model_copy(update={"compile": "off"}))
        else:
            model = Qwen3MoeForCausalLM(hf_cfg)
    model.config.use_cache = False
    if config.init_from is None:
        init_partitions(model, hf_cfg.initializer_range, config.seed)
    elif load_weights:
        load_partitions(model, config.init_from, hf_cfg.vocab_size, old_vocab, config.embedding_init_noise,
                        config.seed)
    return model


def _partitioned_params(model: torch.nn.Module):
    """(name, parameter) of every distinct parameter; each must be a ZeRO-3 partitioned one."""
    for name, p in model.named_parameters():
        if not hasattr(p, "ds_tensor"):
            raise ValueError(f"{name} is not a ZeRO-3 partitioned parameter; build the model under zero.Init")
        yield name, p


def load_partitions(model: torch.nn.Module, folder: str, vocab_size: int, old_vocab: int | None = None,
                    noise: float = 0.02, seed: int = 0) -> dict:
    """Fill every partition of `model` from the checkpoint in `folder`; strict: every parameter must be found and
    every checkpoint tensor used. Returns {"params", "values_written"} of this rank."""
    ckpt = Checkpoint(folder)
    grow = [n for n in ("model.embed_tokens.weight", "lm_head.weight")
            if n in ckpt and old_vocab is not None and vocab_size > old_vocab
            and n in dict(model.named_parameters())]
    new_rows = grown_rows(ckpt, grow, vocab_size, noise, seed) if grow else {}
    missing, mapped, written, n_params = [], set(grow), 0, 0
    for name, p in _partitioned_params(model):
        try:
            src = param_source(ckpt, name, tuple(p.ds_shape), new_rows)
        except KeyError as e:
            missing.append(f"{name} ({e.args[0]})")
            continue
        mapped.update(seg.key for seg in src.segments if seg.key is not None)
        rank = torch.distributed.get_rank(group=p.ds_process_group)
        written += write_partition(p.ds_tensor.data, src, p.ds_numel, rank)
        n_params += 1
    if missing:
        raise ValueError(f"{folder}: no values for {len(missing)} parameters, e.g. {missing[:3]}")
    unused = sorted(set(ckpt.files) - mapped - _ignorable(ckpt, model))  # a rank reads only its slices
    if unused:
        raise ValueError(f"{folder}: {len(unused)} checkpoint tensors match no parameter, e.g. {unused[:3]}; is it "
                         "a Qwen3-MoE checkpoint with this config's layer count?")
    return {"params": n_params, "values_written": written}


def _ignorable(ckpt: Checkpoint, model: torch.nn.Module) -> set[str]:
    """Checkpoint tensors with no parameter of their own: a tied lm_head, buffers such as rotary frequencies."""
    names = set(dict(model.named_parameters()))
    return {k for k in ckpt.files if k not in names and (k == "lm_head.weight" or k.endswith("inv_freq"))}


@torch.no_grad()
def init_partitions(model: torch.nn.Module, std: float, seed: int) -> None:
    """transformers' initialisation, partition by partition: N(0, std) matrices and embeddings, ones for norms,
    zero biases (each rank draws its own slice, so the values depend on the world size)."""
    rank = torch.distributed.get_rank()
    gen = torch.Generator().manual_seed(seed * 1_000_003 + rank)
    for name, p in _partitioned_params(model):
        part = p.ds_tensor.data
        if name.endswith("norm.weight"):
            part.fill_(1.0)
        elif name.endswith(".bias"):
            part.zero_()
        else:
            part.copy_(torch.randn(part.shape, generator=gen) * std)


# --- the engine ------------------------------------------------------------------------------------------------------

def _shape(p: torch.nn.Parameter) -> tuple[int, ...]:
    return tuple(getattr(p, "ds_shape", p.shape))


def _optimizer(model: torch.nn.Module, config: PretrainConfig, _params) -> torch.optim.Optimizer:
    """Fused AdamW; decay on matrices (by the full shape: a partitioned parameter's data is flat). With
    offload_optimizer the fp32 partitions live on the host and torch's CPU fused kernel steps them."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if len(_shape(p)) >= 2], "weight_decay": config.weight_decay,
               "name": "decay"},
              {"params": [p for p in params if len(_shape(p)) < 2], "weight_decay": 0.0, "name": "no_decay"}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=1e-8, fused=True)


def build_engine(model: torch.nn.Module, config: PretrainConfig, world_size: int):
    """deepspeed.initialize for a sharded model: ZeRO-3 (+ offload), fused AdamW, the WSD LambdaLR."""
    import deepspeed

    from s1model import engine as ds_glue

    if config.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ds_cfg = zero3_ds_config(config, world_size, norm_topk_prob=model.config.norm_topk_prob)
    engine, _, _, _ = deepspeed.initialize(
        model=model, model_parameters=[p for p in model.parameters() if p.requires_grad],
        optimizer=functools.partial(_optimizer, model, config),
        lr_scheduler=functools.partial(ds_glue._make_scheduler, config), config=ds_cfg)
    return engine
