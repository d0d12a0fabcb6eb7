"""Checkpoint conversion: AutoEP / DeepSpeed weights → Hugging Face Qwen3-MoE layout.

AutoEP names, per MoE layer (F = moe_intermediate_size, D = hidden):
  mlp.router.gate.weight [E, D]       → mlp.gate.weight [E, D]          (mlp.gate.gate.weight is an alias: dropped)
  mlp.experts.w1 [E_local, F, D] (gate) ┐
  mlp.experts.w3 [E_local, F, D] (up)   ┘→ mlp.experts.gate_up_proj [E, 2F, D] = cat(w1, w3) along F
  mlp.experts.w2 [E_local, D, F]      → mlp.experts.down_proj [E, D, F]
A DeepSpeed checkpoint (ZeRO 0-2) keeps dense weights in mp_rank_00_model_states.pt and expert e of layer l in
layer_{l}_expert_{e}_mp_rank_00_model_states.pt under `...experts.w{1,2,3}.{e}`. A ZeRO-3 checkpoint keeps only
partitions (the fp32 masters in zero_pp_rank_*_optim_states.pt, AutoEP experts split over EP and expert-DP ranks):
DeepSpeed's own `ds_to_universal` reassembles every parameter (experts included; its `zero_to_fp32` refuses AutoEP
ZeRO-3) into `zero/<name>/fp32.pt`, which the export then reads.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import io
import json
import os
import re
import tempfile
from argparse import Namespace

import torch
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

HF_CONFIG_NAME = "hf_config.json"  # written by the trainer next to its DeepSpeed checkpoints
_EXPERT_PARAM = re.compile(r"^(?P<prefix>.*\.mlp\.experts)\.(?P<w>w[123])$")  # AutoEP's stacked local experts
_EXPERT_KEY = re.compile(r"^(?P<prefix>.*\.mlp\.experts)\.(?P<w>w[123])\.(?P<e>\d+)$")


def _to_hf(dense: dict[str, torch.Tensor], experts: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """dense: non-expert tensors by AutoEP name; experts: {"<layer>.mlp.experts": {"w1"|"w2"|"w3": [E, ...]}}."""
    out = {}
    for name, t in dense.items():
        if name.endswith(".mlp.gate.gate.weight") or re.search(r"\.mlp\.experts\.w[123](\.\d+)?$", name):
            continue
        out[name.replace(".mlp.router.gate.weight", ".mlp.gate.weight")] = t
    for prefix, w in experts.items():
        out[f"{prefix}.gate_up_proj"] = torch.cat([w["w1"], w["w3"]], dim=1).contiguous()
        out[f"{prefix}.down_proj"] = w["w2"].contiguous()
    return out


def _save(state: dict[str, torch.Tensor], hf_cfg: Qwen3MoeConfig, out_dir: str, dtype: torch.dtype) -> str:
    """Materialise a Qwen3MoeForCausalLM around `state` (meta-device init, no second copy) and save_pretrained."""
    with torch.device("meta"):
        model = Qwen3MoeForCausalLM(hf_cfg)
    expected = set(model.state_dict())
    state = {k: v.detach().to("cpu", dtype) for k, v in state.items() if k in expected}
    if hf_cfg.tie_word_embeddings:
        state.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    missing = expected - set(state)
    if missing:
        raise ValueError(f"export is missing {sorted(missing)[:5]}; was the checkpoint written by s1model.train?")
    model.load_state_dict(state, assign=True, strict=True)
    model.model.rotary_emb = type(model.model.rotary_emb)(hf_cfg)  # rebuild non-persistent RoPE buffers off meta
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    return out_dir


def _from_engine(engine) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """Full weights of a live engine; a collective: every rank must call it (ZeRO-3 gather, EP all-gather)."""
    import deepspeed
    from deepspeed.utils import groups

    module = engine.module
    params = list(module.parameters())
    ctx = deepspeed.zero.GatheredParameters(params) if engine.zero_optimization_stage() == 3 else _nullcontext()
    dense, experts = {}, {}
    with ctx:
        for name, t in module.state_dict().items():
            m = _EXPERT_PARAM.match(name)
            if m is None:
                dense[name] = t.detach().clone()
                continue
            local_EXY = t.detach().contiguous()
            ep_size = getattr(engine, "_autoep_folding_spec", None)
            ep_size = ep_size.ep_size if ep_size is not None else 1
            if ep_size > 1:  # experts of EP rank r are the r-th contiguous block of E / ep_size
                group = groups._get_expert_parallel_group(f"ep_size_{ep_size}")
                parts = [torch.empty_like(local_EXY) for _ in range(ep_size)]
                torch.distributed.all_gather(parts, local_EXY, group=group)
                local_EXY = torch.cat(parts)
            experts.setdefault(m["prefix"], {})[m["w"]] = local_EXY.clone()
    return dense, experts


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _load(path: str):
    """torch.load with weights_only=True (tensors, containers, primitives; no arbitrary pickled objects): DeepSpeed's
    model-state files and the universal converter's fp32.pt need nothing more. A file that does is refused with the
    globals it names, never loaded with pickle's full power (issue #18)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError with torch's explanation
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        raise ValueError(f"{path}: refusing to unpickle {names or 'non-tensor objects'} (weights_only=True); "
                         "was it written by DeepSpeed's save_checkpoint?") from e


def _from_dir(ckpt_dir: str, tag: str | None) -> tuple[dict, dict]:
    """Weights of a DeepSpeed checkpoint directory (root with `latest`, or a tag folder) of any ZeRO stage."""
    if tag is None and os.path.exists(os.path.join(ckpt_dir, "latest")):
        tag = open(os.path.join(ckpt_dir, "latest")).read().strip()
    folder = os.path.join(ckpt_dir, tag) if tag else ckpt_dir
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no DeepSpeed checkpoint folder {folder}")
    zero3_model_files = glob.glob(os.path.join(folder, "zero_pp_rank_*_mp_rank_*_model_states.pt"))
    if zero3_model_files:
        return _from_zero3_dir(folder)
    states = _load(os.path.join(folder, "mp_rank_00_model_states.pt"))
    dense = states["module"]
    per_expert: dict[str, dict[str, dict[int, torch.Tensor]]] = {}
    for path in glob.glob(os.path.join(folder, "layer_*_expert_*_mp_rank_00_model_states.pt")):
        for key, t in _load(path).items():
            m = _EXPERT_KEY.match(key)
            if m:
                per_expert.setdefault(m["prefix"], {}).setdefault(m["w"], {})[int(m["e"])] = t
    experts = {p: {w: torch.stack([byid[e] for e in sorted(byid)]) for w, byid in ws.items()}
               for p, ws in per_expert.items()}
    return dense, experts


def _from_zero3_dir(folder: str) -> tuple[dict, dict]:
    """Full fp32 weights of a ZeRO-3 checkpoint folder, through DeepSpeed's universal-checkpoint converter.

    The converter writes every parameter's fp32 value and both Adam moments under $TMPDIR (about 12 bytes per
    parameter, removed afterwards); point TMPDIR at a large disk for a big model."""
    from deepspeed.checkpoint.ds_to_universal import main as ds_to_universal

    states = _load(glob.glob(os.path.join(folder, "zero_pp_rank_0_mp_rank_*_model_states.pt"))[0])
    dtypes = {n: t.dtype for n, t in states["module"].items()}  # every tensor, stored empty, in its training dtype
    shapes = {n: tuple(shape) for group in states.get("param_shapes") or [] for n, shape in group.items()}
    with tempfile.TemporaryDirectory(prefix="s1-zero3-export-") as tmp:
        out = os.path.join(tmp, "universal", "step")  # the converter writes `latest_universal` beside it
        args = Namespace(input_folder=folder, output_folder=out, num_extract_workers=1, num_merge_workers=1,
                         keep_temp_folder=False, strict=True, inject_missing_state=False)
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):
                ds_to_universal(args)
        except Exception as e:
            raise ValueError(f"{folder}: DeepSpeed could not reassemble this ZeRO-3 checkpoint ({e}); export it from "
                             "the live engine instead: export_hf(engine, out_dir)") from e
        full = {}
        for path in glob.glob(os.path.join(out, "zero", "*", "fp32.pt")):
            saved = _load(path)  # {"param": t, ...}, or t (ZeRO-3 merge)
            full[os.path.basename(os.path.dirname(path))] = saved["param"] if isinstance(saved, dict) else saved
    missing = [n for n in dtypes if n not in full and not n.endswith(".mlp.gate.gate.weight")]
    if missing:
        raise ValueError(f"{folder}: the ZeRO-3 checkpoint has no fp32 value for {missing[:3]} "
                         f"({len(missing)} tensors)")
    dense, experts = {}, {}
    for name, t in full.items():
        t = t.to(dtypes.get(name, t.dtype))  # the dtype it was trained in, as the ZeRO 0-2 files hold it
        if name in shapes and t.dim() == 1 and len(shapes[name]) != 1:
            t = t.view(shapes[name])  # ZeRO-3's merge saves dense parameters flat
        m = _EXPERT_PARAM.match(name)
        if m:
            experts.setdefault(m["prefix"], {})[m["w"]] = t
        else:
            dense[name] = t
    return dense, experts


def export_hf(source, out_dir: str, hf_config: Qwen3MoeConfig | None = None, tag: str | None = None,
              dtype: torch.dtype | None = None) -> str:
    """Write `out_dir` (config.json + safetensors) loadable by `AutoModelForCausalLM.from_pretrained`.

    source: a live DeepSpeed engine (collective: call on every rank; rank 0 writes) or a DeepSpeed checkpoint
    directory of any ZeRO stage (its `hf_config.json` gives the architecture unless hf_config is passed).
    Weights are saved in `dtype` (default: the dtype they were trained in). Returns out_dir.
    """
    if not isinstance(source, (str, os.PathLike)) and _is_plain_zero3(source):
        return export_hf_streaming(source, out_dir, hf_config or source.module.config, dtype)
    if isinstance(source, (str, os.PathLike)):
        dense, experts = _from_dir(str(source), tag)
        if hf_config is None:
            hf_config = Qwen3MoeConfig.from_json_file(os.path.join(source, HF_CONFIG_NAME))
        rank = 0
    else:
        dense, experts = _from_engine(source)
        hf_config = hf_config or source.module.config
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if rank != 0:
        return out_dir
    dtype = dtype or next(iter(dense.values())).dtype
    return _save(_to_hf(dense, experts), hf_config, out_dir, dtype)


# --- ZeRO-3, streamed -------------------------------------------------------------------------------------------------

def hf_original_items(name: str, t: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """A parameter of transformers 5.x's in-memory Qwen3-MoE as the tensors of the layout published on the Hub
    (what `save_pretrained` writes): fused experts split per expert, gate_up_proj [E, 2F, D] into
    `experts.{e}.gate_proj.weight` [F, D] and `up_proj.weight`, down_proj [E, D, F] into `down_proj.weight`."""
    m = re.match(r"^(?P<prefix>.*\.mlp\.experts)\.(?P<w>gate_up_proj|down_proj)$", name)
    if m is None:
        return [(name, t)]
    p = m["prefix"]
    if m["w"] == "down_proj":
        return [(f"{p}.{e}.down_proj.weight", t[e]) for e in range(t.shape[0])]
    F_ = t.shape[1] // 2
    return [item for e in range(t.shape[0])
            for item in ((f"{p}.{e}.gate_proj.weight", t[e, :F_]), (f"{p}.{e}.up_proj.weight", t[e, F_:]))]


def _is_plain_zero3(engine) -> bool:
    """A ZeRO-3 engine whose parameters are the model's own (no AutoEP expert layers): export it streamed."""
    return (engine.zero_optimization_stage() == 3 and getattr(engine, "_autoep_folding_spec", None) is None
            and not any(_EXPERT_PARAM.match(n) for n, _ in engine.module.named_parameters()))


def shard_plan(params: list[tuple[str, tuple[int, ...]]], bytes_per_value: int, shard_bytes: int
               ) -> list[list[str]]:
    """Parameter names grouped into consecutive safetensors files of at most `shard_bytes` (a larger parameter
    gets a file of its own); a parameter's per-expert pieces stay in one file."""
    plan, cur, cur_bytes = [], [], 0
    for name, shape in params:
        n = bytes_per_value
        for d in shape:
            n *= d
        if cur and cur_bytes + n > shard_bytes:
            plan.append(cur)
            cur, cur_bytes = [], 0
        cur.append(name)
        cur_bytes += n
    if cur:
        plan.append(cur)
    return plan


def export_hf_streaming(engine, out_dir: str, hf_config: Qwen3MoeConfig, dtype: torch.dtype | None = None,
                        shard_bytes: int = 5 * 2**30) -> str:
    """HF export of a ZeRO-3 engine one parameter at a time (collective: every rank gathers each parameter in
    turn; rank 0 copies it to the host and writes a safetensors file whenever `shard_bytes` are collected). No rank
    ever holds more than one full parameter on the GPU and one file's worth on the host. Writes the Hub layout
    (`hf_original_items`), `model.safetensors.index.json` and config.json. Returns out_dir."""
    import deepspeed
    from safetensors.torch import save_file

    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    named = list(engine.module.named_parameters())  # distinct parameters: a tied lm_head appears once
    by_name = dict(named)
    dtype = dtype or named[0][1].dtype
    plan = shard_plan([(n, tuple(getattr(p, "ds_shape", p.shape))) for n, p in named],
                      torch.empty((), dtype=dtype).element_size(), shard_bytes)
    files = [f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors" for i in range(len(plan))]
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
    weight_map, total = {}, 0
    for names, fname in zip(plan, files):
        tensors = {}
        for name in names:
            p = by_name[name]
            with deepspeed.zero.GatheredParameters([p], modifier_rank=None):
                if rank == 0:
                    full = p.data.detach().to("cpu", dtype).reshape(getattr(p, "ds_shape", p.shape))
                    for key, t in hf_original_items(name, full):
                        tensors[key] = t.contiguous().clone()
        if rank == 0:
            save_file(tensors, os.path.join(out_dir, fname), metadata={"format": "pt"})
            for key, t in tensors.items():
                weight_map[key] = fname
                total += t.numel() * t.element_size()
    if rank == 0:
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        cfg = copy.deepcopy(hf_config)
        cfg.dtype = dtype
        cfg.save_pretrained(out_dir)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return out_dir
