"""Policy-side plumbing shared by offline SFT and online RL: load, freeze the router, optimizer, padded
(prompt, response) batches, response-token log-probs, HF checkpoints with trainer state, checkpoint averaging.

Shape legend: B sequences, L padded length, V vocab. Sequences are right-padded; position t's logits predict
token t+1, so `targets_BL` is the input shifted left and `resp_mask_BL[b, t]` marks targets that are response tokens.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import shutil

import torch

from s1model.rl.losses import token_logprobs
from s1model.schedule import wsd_multiplier

TRAINER_STATE = "trainer_state.pt"


def load_policy(model_dir: str, device: str | None = None) -> torch.nn.Module:
    """An HF causal LM in fp32 (AdamW master weights), training mode, no KV cache."""
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device)
    model.config.use_cache = False
    return model.train()


def freeze_router(model: torch.nn.Module) -> int:
    """requires_grad=False on every MoE router weight (`...mlp.gate.weight`); returns how many were frozen."""
    n = 0
    for name, p in model.named_parameters():
        if name.endswith("mlp.gate.weight"):
            p.requires_grad_(False)
            n += 1
    return n


def make_optimizer(model: torch.nn.Module, optim) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (decay on matrices only) and a warm-up-then-constant LambdaLR."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": optim.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, eps=1e-8, fused=torch.cuda.is_available())
    lam = functools.partial(wsd_multiplier, max_steps=10**9, warmup_steps=optim.warmup_steps, decay_fraction=0.0,
                            min_lr_ratio=1.0)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lam)


def pad_batch(pairs: list[tuple[list[int], list[int]]], pad_id: int, max_len: int, device
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids_BL, attention_mask_BL, targets_BL, resp_mask_BL) of right-padded prompt+response sequences.

    A sequence longer than max_len loses prompt tokens from the left (the response is kept whole if it fits).
    """
    seqs, starts = [], []
    for prompt, resp in pairs:
        seq = list(prompt) + list(resp)
        cut = max(0, len(seq) - max_len)
        seqs.append(seq[cut:])
        starts.append(max(0, len(prompt) - cut))
    B, L = len(seqs), max(len(s) for s in seqs)
    ids_BL = torch.full((B, L), pad_id, dtype=torch.long)
    attn_BL = torch.zeros(B, L, dtype=torch.long)
    resp_BL = torch.zeros(B, L, dtype=torch.bool)
    for b, (s, st) in enumerate(zip(seqs, starts)):
        ids_BL[b, :len(s)] = torch.tensor(s)
        attn_BL[b, :len(s)] = 1
        resp_BL[b, max(st - 1, 0):len(s) - 1] = True  # position t predicts token t+1
    targets_BL = ids_BL.roll(-1, dims=1)
    return ids_BL.to(device), attn_BL.to(device), targets_BL.to(device), resp_BL.to(device)


def response_logprobs(model, ids_BL, attn_BL, targets_BL) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π(target) B x L, entropy B x L) of a padded batch, fp32."""
    logits = model(input_ids=ids_BL, attention_mask=attn_BL).logits
    return token_logprobs(logits, targets_BL)


def align_behaviour_logprobs(pairs_logprobs: list[list[float]], resp_BL: torch.Tensor) -> torch.Tensor:
    """Scatter per-response behaviour log-probs into the B x L layout of `resp_BL` (zeros elsewhere)."""
    out = torch.zeros(resp_BL.shape, dtype=torch.float32)
    for b, lps in enumerate(pairs_logprobs):
        idx = resp_BL[b].nonzero().flatten().cpu()
        n = min(len(idx), len(lps))
        out[b, idx[len(idx) - n:]] = torch.tensor(lps[len(lps) - n:], dtype=torch.float32)
    return out.to(resp_BL.device)


def save_checkpoint(model, optimizer, scheduler, out_dir: str, state: dict) -> str:
    """HF layout (config.json + safetensors) plus trainer_state.pt {optimizer, scheduler, **state}; written under
    a temporary name and renamed, so a directory that exists is complete."""
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if optimizer is not None:
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **state},
                   os.path.join(tmp, TRAINER_STATE))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir


def average_checkpoints(dirs: list[str], out_dir: str) -> str:
    """Element-wise mean (fp32 accumulation, saved in the stored dtype) of the HF checkpoints in dirs, written as
    an HF checkpoint in out_dir. Works on the files as stored (transformers 5 keeps per-expert names on disk and
    fuses them at load), shard by shard; config and other small files come from the last directory."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    # trainer state (optimizer, absolute paths) stays behind: the average is an HF checkpoint whose bytes depend on
    # the weights only, wherever the run's home is
    shutil.copytree(dirs[-1], tmp, ignore=shutil.ignore_patterns("*.safetensors", TRAINER_STATE, "trainer_state.json"))
    for path in sorted(glob.glob(os.path.join(dirs[-1], "*.safetensors"))):
        name = os.path.basename(path)
        with safe_open(path, "pt") as f:
            metadata = f.metadata()
            keys = list(f.keys())
        total = {}
        for d in dirs:
            with safe_open(os.path.join(d, name), "pt") as f:
                if sorted(f.keys()) != sorted(keys):
                    raise ValueError(f"{d}/{name} holds other tensors than {dirs[-1]}/{name}; average checkpoints "
                                     "of one run only.")
                for k in keys:
                    t = f.get_tensor(k)
                    total[k] = total[k] + t.float() if k in total else t.float().clone()
        with safe_open(path, "pt") as f:
            dtypes = {k: f.get_slice(k).get_dtype() for k in keys}
        _DT = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
        save_file({k: (v / len(dirs)).to(_DT.get(dtypes[k], torch.float32)).contiguous() for k, v in total.items()},
                  os.path.join(tmp, name), metadata=metadata)
    with open(os.path.join(tmp, "averaged_from.json"), "w") as f:
        json.dump([os.path.basename(os.path.normpath(d)) for d in dirs], f)  # names (step{N}), not paths
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return out_dir
