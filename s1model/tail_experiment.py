"""TAIL length-generalization experiment (arXiv 2507.13332, Table 1) at small scale, from our own pieces.

In reading order: pick a task's configs per length bucket → build an arm's training data on S (bootcamp `export`
in the arm's style) and fresh evaluation prompts on S / M / L (sample_id disjoint from every arm's training data)
→ documents for the tokenizer and the shard writer → train a small decoder from scratch (plain torch loop here;
the flow can use the DeepSpeed trainer instead) → greedy decoding with the KV-cache engine → score every output
with the bootcamp's exact verifier → accuracy table and a markdown report next to the paper's numbers.

No Prefect, no manifest: every function takes and returns tables, paths and dicts. Shape legend: B rows, S sequence,
V vocab.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from typing import Callable

import pyarrow as pa

log = logging.getLogger(__name__)

# Arm name -> bootcamp style. TAIL-CoT and the paper's two addition baselines (reversed digits, index hints), the
# answer-only format, and TAIL without one of its three modules (Table 2's ablations: memory fetch, linear
# transition, atomic states; s1data.bootcamp.tail.ablations).
ARM_STYLES = {"tail": "tail", "direct": "direct", "reversed": "reversed", "index_hints": "index_hints",
              "tail_no_fetch": "tail_no_fetch", "tail_no_linear": "tail_no_linear",
              "tail_no_atomic": "tail_no_atomic"}
ARM_LABELS = {"tail": "TAIL-CoT", "direct": "direct answer", "reversed": "reversed digits",
              "index_hints": "index hints", "tail_no_fetch": "TAIL w/o memory fetch",
              "tail_no_linear": "TAIL w/o linear transition", "tail_no_atomic": "TAIL w/o atomic states"}
ABLATION_ARMS = ("tail_no_fetch", "tail_no_linear", "tail_no_atomic")
# Table 1 of the paper (Qwen2.5-7B, large-number addition, exact match %, S / M / L).
PAPER_ADDITION = {"tail": (97.0, 92.5, 86.5), "reversed": (39.5, 35.5, 35.0), "index_hints": (57.0, 34.5, 24.0)}
BUCKETS = ("S", "M", "L")
# Separates the prompt from the response in a training document; a generation prompt ends with it.
RESPONSE_SEP = "\n### Response:\n"
_DIGIT_RUN = re.compile(r"\d+")


# --- data ----------------------------------------------------------------------------------------------------------

def bucket_configs(task: str, bucket: str) -> list:
    """The task's configs whose length falls in `bucket` (addition: integer operands only, as in Table 1)."""
    from s1data.bootcamp import list_configs

    out = []
    for cfg in list_configs([task]):
        if cfg.params.get("decimal"):
            continue
        if cfg.build().length_bucket() == bucket:
            out.append(cfg)
    if not out:
        raise ValueError(f"task {task!r} has no config in bucket {bucket!r}; use a length-bucketed TAIL task")
    return out


def _export_n(task: str, bucket: str, n: int, seed: int, style: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Export about `n` samples spread evenly over the bucket's configs, cut to exactly n (fewer if duplicates)."""
    from s1data.bootcamp import export
    from s1data.bootcamp.tail.ablations import ABLATION_STYLES, export_ablation

    configs = bucket_configs(task, bucket)
    per = max(1, math.ceil(n * 1.02 / len(configs)))
    sft, rl, excl = (export_ablation if style in ABLATION_STYLES else export)(configs, per, seed, style)
    return sft.slice(0, n), rl.slice(0, n), excl


def build_train_data(task: str, style: str, n_examples: int, seed: int,
                     train_buckets: tuple[str, ...] = ("S",)) -> tuple[pa.Table, pa.Table]:
    """(sft rows, exclusions) for one arm: `n_examples` problems of the train buckets rendered in `style`."""
    parts, excls = [], []
    for b in train_buckets:
        sft, _, excl = _export_n(task, b, math.ceil(n_examples / len(train_buckets)), seed, style)
        parts.append(sft)
        excls.append(excl)
    return pa.concat_tables(parts).slice(0, n_examples), pa.concat_tables(excls)


def build_eval_prompts(task: str, n_per_bucket: int, seed: int, exclude_ids: set[str]) -> pa.Table:
    """`n_per_bucket` fresh prompts per bucket S / M / L (rl_prompts columns), none whose sample_id is excluded."""
    parts = []
    for b in BUCKETS:
        # a small problem space (short LCS strings) is mostly covered by the training data: draw more, up to 32x
        for factor in (1.1, 4, 32):
            _, rl, _ = _export_n(task, b, int(n_per_bucket * factor) + 8, seed, "direct")
            keep = [i for i, s in enumerate(rl.column("sample_id").to_pylist()) if s not in exclude_ids]
            keep = keep[:n_per_bucket]
            if len(keep) == n_per_bucket:
                break
        else:
            raise ValueError(f"only {len(keep)} fresh {b} prompts for {task} in {rl.num_rows} drawn; "
                             "lower n_per_bucket, train on fewer examples or change seed")
        parts.append(rl.take(pa.array(keep)))
    return pa.concat_tables(parts)


def document_text(prompt: str, response: str | None = None) -> str:
    """One training document (prompt, separator, response); without a response, the generation prompt."""
    return prompt + RESPONSE_SEP + (response or "")


def arm_documents(sft: pa.Table, arm: str) -> pa.Table:
    """Shard-writer input (doc_id, text, domain, source_kind) from an arm's sft rows."""
    texts = [document_text(p, r) for p, r in zip(sft.column("prompt").to_pylist(), sft.column("response").to_pylist())]
    n = len(texts)
    return pa.table({"doc_id": [f"{arm}:{s}" for s in sft.column("sample_id").to_pylist()], "text": texts,
                     "domain": ["tail"] * n, "source_kind": ["synthetic"] * n})


def generic_documents(n: int, seed: int, max_digits: int = 60) -> pa.Table:
    """A task-free corpus of digit strings of 1..max_digits digits: copy one number or a pair, reverse a number, pad it
    with leading zeros to a width, index its digits from the right (`x[17]=3`), and walk two numbers digit by digit
    from the right, one line per index padded with a copied filler number, so digits are fetched from as far back as
    a 60-step trace reaches (~2,000 tokens; S-only training data reaches ~1,000). No arithmetic and no trace format of
    any arm: it stands in, at small scale, for what a pretrained LLM already knows about long numbers before it sees the
    S-only training data. The flow (`warmup_steps`, `generic_mix`) and `benchmarks/tail_gpu.py` (`--warmup-steps`,
    `--generic-mix`) use it identically for every arm: as one shared warm-up checkpoint and as replay in each arm's
    training data."""
    import random

    rng = random.Random(seed)

    def number(k: int) -> str:
        return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(k - 1))

    texts = []
    for _ in range(n):
        k = rng.randint(1, max_digits)
        x = number(k)
        kind = rng.randrange(6)
        if kind == 0:
            texts.append(f"copy x={x}\nx={x}")
        elif kind == 1:
            texts.append(f"reverse x={x}\n{x[::-1]}")
        elif kind == 2:
            y = number(rng.randint(1, max_digits))
            texts.append(f"copy x={x}, y={y}\nx={x}, y={y}")
        elif kind == 3:
            width = rng.randint(k, max_digits)
            texts.append(f"pad x={x} to {width} digits\n{x.zfill(width)}")
        elif kind == 4:
            y = number(rng.randint(1, max_digits))
            rx, ry = x[::-1], y[::-1]
            lines = []
            for i in range(max(len(x), len(y))):
                z = number(rng.randint(2, 5))
                lines.append(f"i={i}: x[{i}]={rx[i] if i < len(rx) else 0}, y[{i}]={ry[i] if i < len(ry) else 0}"
                             f" | z={z} -> z={z}")
            texts.append(f"walk x={x}, y={y}\n" + "\n".join(lines))
        else:
            idx = sorted(rng.sample(range(k), min(k, 8)))
            texts.append(f"digits of x={x}\n" + ", ".join(f"x[{i}]={x[::-1][i]}" for i in idx))
    return pa.table({"doc_id": [f"generic:{seed}:{i}" for i in range(n)], "text": texts, "domain": ["generic"] * n,
                     "source_kind": ["synthetic"] * n})


def _generic_chars_per_document(seed: int, max_digits: int, probe: int) -> float:
    texts = generic_documents(probe, seed, max_digits).column("text").to_pylist()
    return sum(map(len, texts)) / len(texts)


def generic_documents_for_tokens(tokens: int, seed: int, max_digits: int = 60) -> pa.Table:
    """Enough generic documents for about 1.1 passes over `tokens` training tokens: one document per
    `tokens / characters per document` (digit-level tokens run ~1.2 characters each)."""
    return generic_documents(math.ceil(tokens / _generic_chars_per_document(seed, max_digits, 2000)), seed, max_digits)


def mix_generic(docs: pa.Table, fraction: float, seed: int, max_digits: int = 60) -> pa.Table:
    """`docs` with task-free generic documents added so that they make up `fraction` of the characters, shuffled.

    The generic documents depend only on the seed, so every arm gets the same replay at the same share of its tokens.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"generic mix fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return docs
    import numpy as np

    want = fraction / (1.0 - fraction) * sum(len(t) for t in docs.column("text").to_pylist())
    n = max(1, round(want / _generic_chars_per_document(seed, max_digits, 500)))
    mixed = pa.concat_tables([docs, generic_documents(n, seed, max_digits).cast(docs.schema)])
    return mixed.take(np.random.default_rng(seed).permutation(mixed.num_rows))


def digit_split_texts(texts) -> list[str]:
    """Tokenizer training texts with every digit run cut to its first digit.

    The text BPE's GPT-2 pre-tokenizer keeps a run of digits as one pre-token, so BPE would learn multi-digit merges
    ('12', '000') and tokenize the same digit differently by context. Trained on these texts it never sees two
    adjacent digits, learns no such merge, and encodes every number one digit per token (as Qwen2.5 does).
    """
    return [_DIGIT_RUN.sub(lambda m: m.group(0)[0], t) for t in texts]


def tokenizer_config(vocab_size: int = 1024):
    """TokenizerConfig for the experiment: small text BPE, no SMILES / sequence detection (none in these texts)."""
    from s1data.tokenizer import TokenizerConfig

    return TokenizerConfig(vocab_size=vocab_size, smiles_vocab_size=256, protein_vocab_size=256, dna_vocab_size=256,
                           detect_smiles=False, detect_sequences=False)


def check_digit_tokens(tokenizer) -> None:
    """Raise when the tokenizer merged digits (a '12' token would make positions per digit ambiguous)."""
    ids = tokenizer.encode("a=1234567890, b[12]=99")
    pieces = [tokenizer.decode([i]) for i in ids]
    bad = [p for p in pieces if sum(ch.isdigit() for ch in p) > 1]
    if bad:
        raise ValueError(f"tokenizer merged digits {bad}; train it on digit_split_texts(...)")


# --- model ---------------------------------------------------------------------------------------------------------

def build_decoder(model_cfg, seed: int, dense: bool = True, attn_implementation: str = "sdpa"):
    """The experiment's model from our ModelConfig, fresh and seeded.

    dense=False: the project's Qwen3-MoE (s1model.model.hf_config). dense=True: a Qwen3 dense decoder with the same
    width, depth, heads and RoPE, and an MLP as wide as top_k experts (the same active parameters, no router).
    """
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM, Qwen3MoeForCausalLM

    from s1model.model import hf_config

    torch.manual_seed(seed)
    if not dense:
        return Qwen3MoeForCausalLM(hf_config(model_cfg, attn_implementation))
    m = model_cfg
    cfg = Qwen3Config(vocab_size=m.vocab_size, hidden_size=m.hidden_size, num_hidden_layers=m.num_layers,
                      num_attention_heads=m.num_heads, num_key_value_heads=m.num_kv_heads, head_dim=m.head_dim,
                      intermediate_size=m.moe_intermediate_size * m.top_k,
                      rope_parameters={"rope_type": "default", "rope_theta": m.rope_theta},
                      max_position_embeddings=m.max_position_embeddings, rms_norm_eps=m.rms_norm_eps,
                      initializer_range=m.initializer_range, tie_word_embeddings=m.tie_word_embeddings,
                      use_cache=False)
    cfg._attn_implementation = attn_implementation
    return Qwen3ForCausalLM(cfg)


def build_tail_decoder(model_cfg, seed: int, position: str = "rope", abacus: bool = False,
                       digit_ids: list[int] | None = None, **extra):
    """The experiment's own decoder (s1model.tail_model.TailDecoder) with a position scheme built for length
    extrapolation: position in rope / nope / rope_random / fire, abacus=True adds per-digit index embeddings (needs the
    tokenizer's digit_ids). Same width, depth, heads and MLP width as build_decoder(dense=True); tied embeddings."""
    import torch

    from s1model.tail_model import TailDecoder, TailModelConfig

    torch.manual_seed(seed)
    m = model_cfg
    cfg = TailModelConfig(vocab_size=m.vocab_size, hidden_size=m.hidden_size, num_layers=m.num_layers,
                          num_heads=m.num_heads, num_kv_heads=m.num_kv_heads, head_dim=m.head_dim,
                          intermediate_size=m.moe_intermediate_size * m.top_k, position=position,
                          rope_theta=m.rope_theta, abacus=abacus, digit_token_ids=list(digit_ids or []),
                          rms_norm_eps=m.rms_norm_eps, initializer_range=m.initializer_range, **extra)
    return TailDecoder(cfg)


def abacus_separator_id(tokenizer, prompts: list[str]) -> int:
    """The token that ends a prompt for right-to-left Abacus indices (`TailModelConfig.abacus_sep_id`): the first
    token of RESPONSE_SEP's encoding that occurs exactly once in every training document built from `prompts`
    (document_text(p, "")) and never in a prompt itself. Raises when no token of the separator qualifies."""
    docs = [tokenizer.encode(document_text(p)) for p in prompts]
    bare = [tokenizer.encode(p) for p in prompts]
    for cand in tokenizer.encode(RESPONSE_SEP):
        if all(d.count(cand) == 1 for d in docs) and not any(cand in b for b in bare):
            return cand
    raise ValueError(f"no token of the response separator {RESPONSE_SEP!r} occurs once per document and never in a "
                     "prompt: right-to-left Abacus indices cannot tell the prompt from the response")


def param_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def train_torch(model, shard_paths: list[str], out_dir: str, *, seq_len: int, batch_rows: int, max_steps: int,
                lr: float, seed: int, warmup_steps: int = 100, weight_decay: float = 0.1,
                on_step: Callable[[dict], None] | None = None, log_every: int = 50,
                time_budget_s: float | None = None, probe_steps: int = 10) -> dict:
    """Plain single-device loop over token shards: packed rows with document masking, AdamW, warm-up + cosine to
    10%, bf16 autocast on CUDA (fp32 master weights). Saves the model to out_dir. Returns metrics.

    time_budget_s: after `probe_steps` steps the loop times them and cuts max_steps to what fits the budget (the
    schedule is then laid over the new step count; warm-up shrinks to a tenth of it if longer); "steps" in the
    result is the count actually run, so a caller can give the next arm the same number of steps."""
    import numpy as np
    import torch

    from s1model.data import read_shards
    from s1model.model import lm_loss, packed_inputs

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = read_shards(shard_paths, seq_len, model.config.vocab_size)
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay,
                             "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95), fused=device.type == "cuda")

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        t = (step - warmup_steps) / max(1, max_steps - warmup_steps)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    n = len(rows)
    order = np.concatenate([np.random.default_rng(seed + e).permutation(n)
                            for e in range(math.ceil(max_steps * batch_rows / n) + 1)])
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    history, t0 = [], time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    step = 0
    while step < max_steps:
        if time_budget_s is not None and step in (3, probe_steps + 3):  # time steps 3.., past the first-call costs
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_probe = time.perf_counter()
        if time_budget_s is not None and step == 3:
            t_probe3 = t_probe
        if time_budget_s is not None and step == probe_steps + 3:
            per = (t_probe - t_probe3) / probe_steps
            time_budget_s -= t_probe - t0  # what the first steps already took
            max_steps = max(step + 1, min(max_steps, step + int(time_budget_s / per)))
            warmup_steps = min(warmup_steps, max(1, max_steps // 10))
            log_every = min(log_every, max(1, max_steps // 5))
            log.info("time budget %.0fs at %.3fs/step: %d steps", time_budget_s, per, max_steps)
        idx = order[step * batch_rows:(step + 1) * batch_rows]
        ids_BS = torch.from_numpy(rows.input_ids_NS[idx]).long().to(device, non_blocking=True)
        pos_BS, mask_BS = packed_inputs([rows.doc_lens[i] for i in idx], seq_len)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with autocast:
            logits_BSV = model(input_ids=ids_BS, position_ids=pos_BS.to(device)).logits
        loss = lm_loss(logits_BSV, ids_BS, mask_BS.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        if (step + 1) % log_every == 0 or step + 1 == max_steps:
            k = (step % log_every) + 1
            m = {"step": step + 1, "loss": float(loss_sum) / k, "lr": lr_at(step),
                 "tokens": (step + 1) * batch_rows * seq_len, "elapsed_s": time.perf_counter() - t0}
            loss_sum.zero_()
            history.append(m)
            if on_step:
                on_step(m)
        step += 1
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    return {"steps": max_steps, "tokens": max_steps * batch_rows * seq_len, "seconds": time.perf_counter() - t0,
            "final_loss": history[-1]["loss"] if history else None, "history": history, "epochs": max_steps *
            batch_rows / n, "rows": n, "params": param_count(model)}


def load_model(checkpoint_dir: str, device: str | None = None):
    """An HF export (dense or MoE) or a TailDecoder checkpoint for inference, on CUDA in bf16 when available."""
    import torch
    from transformers import AutoModelForCausalLM

    from s1model.tail_model import TailDecoder, is_tail_checkpoint

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if is_tail_checkpoint(checkpoint_dir):
        return TailDecoder.from_pretrained(checkpoint_dir).to(device=device, dtype=dtype).eval()
    return AutoModelForCausalLM.from_pretrained(checkpoint_dir, dtype=dtype).to(device).eval()


# --- evaluation ----------------------------------------------------------------------------------------------------

def reference_lengths(tokenizer, task: str, prompts: pa.Table, style: str) -> list[int]:
    """Token length of the reference response of each prompt in `style` (sets the decoding budget per bucket)."""
    from s1data.bootcamp import REGISTRY

    solver = REGISTRY[task]()
    refs = [solver.reference_solution(json.loads(i), style) for i in prompts.column("identity_json").to_pylist()]
    return [len(x) for x in tokenizer.encode_batch(refs)]


def evaluate(model, tokenizer, prompts: pa.Table, task: str, style: str, *, max_batch_size: int = 512,
             slack: float = 1.25, max_new_tokens_cap: int | None = None) -> pa.Table:
    """Greedy-decode every prompt and score it with the bootcamp's exact verifier.

    Decoding budget per bucket: slack x the longest reference response of that bucket in this arm's style (+16),
    capped by max_new_tokens_cap. Returns one row per prompt: sample_id, length_bucket, output, score, reason,
    finish_reason, new_tokens, max_new_tokens.
    """
    from s1data.bootcamp import REGISTRY, verify
    from s1model.rl.generate import SamplingParams, generate
    from s1model.tail_model import TailDecoder
    from s1model.tail_model import generate as generate_tail

    solver = REGISTRY[task]()
    buckets = prompts.column("length_bucket").to_pylist()
    ref_len = reference_lengths(tokenizer, task, prompts, style)
    texts = [document_text(p) for p in prompts.column("prompt").to_pylist()]
    enc = tokenizer.encode_batch(texts)
    out_rows: list[dict | None] = [None] * len(texts)
    for b in sorted(set(buckets)):
        idx = [i for i, x in enumerate(buckets) if x == b]
        budget = int(slack * max(ref_len[i] for i in idx)) + 16
        if max_new_tokens_cap:
            budget = min(budget, max_new_tokens_cap)
        t0 = time.perf_counter()
        if isinstance(model, TailDecoder):
            comps = generate_tail(model, [enc[i] for i in idx], budget, tokenizer.eos_id, tokenizer.pad_id,
                                  max_batch_size=max_batch_size)
        else:
            comps = generate(model, [enc[i] for i in idx], SamplingParams(max_new_tokens=budget, temperature=0.0),
                             eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, max_batch_size=max_batch_size)
        t1 = time.perf_counter()
        for i, c in zip(idx, comps):
            toks = [t for t in c.token_ids if t != tokenizer.eos_id]
            text = tokenizer.decode(toks)
            identity = prompts.column("identity_json")[i].as_py()
            score = verify(task, identity, text)  # the exact verifier the RL reward router uses
            reason = solver.verify(text, json.loads(identity)).reason
            out_rows[i] = {"sample_id": prompts.column("sample_id")[i].as_py(), "length_bucket": b, "output": text,
                           "score": float(score), "reason": reason, "finish_reason": c.finish_reason,
                           "new_tokens": len(c.token_ids), "max_new_tokens": budget}
        log.info("eval %s bucket %s: %d prompts, budget %d, mean new tokens %.0f, decode %.1fs, verify %.1fs", style,
                 b, len(idx), budget, sum(len(c.token_ids) for c in comps) / len(comps), t1 - t0,
                 time.perf_counter() - t1)
    return pa.Table.from_pylist(out_rows)


def accuracy_by_bucket(results: pa.Table) -> dict[str, dict]:
    """{bucket: {"accuracy" (%), "n", "correct", "reasons": {reason: count}}} from evaluate()'s rows."""
    out = {}
    buckets = results.column("length_bucket").to_pylist()
    scores = results.column("score").to_pylist()
    reasons = results.column("reason").to_pylist()
    for b in BUCKETS:
        s = [x for x, y in zip(scores, buckets) if y == b]
        if not s:
            continue
        r: dict[str, int] = {}
        for x, y in zip(reasons, buckets):
            if y == b:
                r[x] = r.get(x, 0) + 1
        out[b] = {"accuracy": 100.0 * sum(s) / len(s), "n": len(s), "correct": int(sum(s)), "reasons": r}
    return out


_FETCH = re.compile(r"fetch a\[(\d+)\]=(\d), b\[(\d+)\]=(\d)")


def fetch_diagnostics(results: pa.Table, prompts: pa.Table, train_max_len: int) -> dict[str, dict]:
    """Addition traces only: per bucket, how often the trace runs exactly len(a) digit steps, how often it stops at
    most at `train_max_len` steps (the longest operand seen in training), and the share of fetched digits that are
    right at indices inside vs beyond the training range. Shows *where* a wrong answer goes wrong."""
    ident = {s: json.loads(i) for s, i in zip(prompts.column("sample_id").to_pylist(),
                                              prompts.column("identity_json").to_pylist())}
    out: dict[str, dict] = {}
    for row in results.to_pylist():
        d = ident[row["sample_id"]]
        a, b = d.get("a", ""), d.get("b", "")
        if not a.isdigit() or not b.isdigit():
            continue
        st = out.setdefault(row["length_bucket"], {"n": 0, "steps_exact": 0, "steps_capped_at_train_max": 0,
                                                   "fetch_in": [0, 0], "fetch_beyond": [0, 0]})
        st["n"] += 1
        steps = _FETCH.findall(row["output"] or "")
        st["steps_exact"] += len(steps) == max(len(a), len(b))
        st["steps_capped_at_train_max"] += len(steps) <= train_max_len < max(len(a), len(b))
        ra, rb = a[::-1], b[::-1]
        for ia, da, ib, db in steps:
            i = int(ia)
            ok = i == int(ib) and (ra[i] if i < len(ra) else "0") == da and (rb[i] if i < len(rb) else "0") == db
            key = "fetch_in" if i < train_max_len else "fetch_beyond"
            st[key][0] += ok
            st[key][1] += 1
    for st in out.values():
        for key in ("fetch_in", "fetch_beyond"):
            c, n = st.pop(key)
            st[f"{key}_accuracy"] = c / n if n else None
            st[f"{key}_count"] = n
    return out


def goal_check(acc: dict[str, dict[str, dict]], main: str = "tail",
               ablation: str | tuple[str, ...] = ABLATION_ARMS, margin: float = 20.0, s_floor: float = 80.0) -> dict:
    """The issue's goal: `main` >= s_floor on S and beats every baseline by >= margin on M and L; each ablation
    lands between the best baseline and `main` on M and L ("ablation_between": all of them; "ablations": each)."""
    ablations = (ablation,) if isinstance(ablation, str) else tuple(ablation)
    if main not in acc:
        return {"met": False, "why": [f"arm {main} not run"], "ablation_between": None, "ablations": {}}
    baselines = [a for a in acc if a != main and a not in ablations]
    why = [] if baselines else ["no baseline arm run (the goal compares TAIL-CoT with the baselines)"]
    s = acc[main].get("S", {}).get("accuracy", 0.0)
    if s < s_floor:
        why.append(f"{main} S = {s:.1f} < {s_floor}")
    for b in ("M", "L"):
        m = acc[main].get(b, {}).get("accuracy", 0.0)
        for a in baselines:
            o = acc[a].get(b, {}).get("accuracy", 0.0)
            if m - o < margin:
                why.append(f"{b}: {main} {m:.1f} - {a} {o:.1f} < {margin}")
    per: dict[str, bool | None] = {}
    if baselines:
        lo = {b: max(acc[a].get(b, {}).get("accuracy", 0.0) for a in baselines) for b in ("M", "L")}
        hi = {b: acc[main].get(b, {}).get("accuracy", 0.0) for b in ("M", "L")}
        for ab in ablations:
            if ab in acc:  # None: TAIL-CoT is above no baseline, so there is no band to land in
                per[ab] = None if all(hi[b] <= lo[b] for b in hi) else all(
                    lo[b] <= acc[ab].get(b, {}).get("accuracy", 0.0) <= hi[b] for b in ("M", "L"))
    known = [v for v in per.values() if v is not None]
    return {"met": not why, "why": why, "ablation_between": all(known) if known else None, "ablations": per}


def report_markdown(task: str, acc: dict[str, dict[str, dict]], setup: dict) -> str:
    """The results table in the paper's layout (arm x S / M / L), the paper's numbers beside ours, and the setup."""
    paper = PAPER_ADDITION if task == "tail_addition" else {}
    lines = [f"## TAIL length generalization: `{task}` (train on S, test on S / M / L)", "",
             "| format | ours S | ours M | ours L | paper S | paper M | paper L |", "|---|---|---|---|---|---|---|"]
    for arm in acc:
        ours = [acc[arm].get(b, {}).get("accuracy") for b in BUCKETS]
        pp = paper.get(arm)
        cells = [f"{x:.1f}" if x is not None else "-" for x in ours]
        cells += [f"{x:.1f}" for x in pp] if pp else ["-", "-", "-"]
        lines.append(f"| {ARM_LABELS.get(arm, arm)} | " + " | ".join(cells) + " |")
    g = goal_check(acc)
    lines += ["", f"Goal (TAIL-CoT >= 80 on S, beats every baseline by >= 20 on M and L): "
              f"**{'met' if g['met'] else 'not met'}**" + ("" if g["met"] else f" ({'; '.join(g['why'])})"),
              f"Ablations between the best baseline and TAIL-CoT on M and L: {g['ablation_between']} "
              f"({', '.join(f'{ARM_LABELS.get(k, k)}: {v}' for k, v in g['ablations'].items()) or 'none run'})", "",
              "Setup: " + ", ".join(f"{k}={v}" for k, v in setup.items()), ""]
    return "\n".join(lines)
