"""Evaluation of a checkpoint: `evaluate(config, model_dir, tokenizer_dir, prompts, shard_paths, out_dir)`.

Three parts, each optional by its inputs:
  verifiable  k sampled completions per held-out prompt (bootcamp_eval rows) from the built-in engine, scored by the
              Mixture-of-Rewards router (the bootcamp verifiers for bootcamp/* prompts); per task and per (task,
              length bucket): prompts, avg@k (mean reward of all k samples), pass@1 (mean share of samples that pass)
              and pass@k (share of prompts with at least one passing sample of the k), plus the greedy pass rate.
  perplexity  per-domain perplexity of token shards (packed rows with per-document positions, no loss across a
              document boundary; each token counted for the domain of its document).
  judge       open-ended prompts (data_source open/*, or every prompt with `judge_all`) answered greedily and scored
              by an OpenAI-compatible judge (`/v1/chat/completions`, the `openai_judge` of s1model.rl.rewards).
Library only (no Prefect): it writes samples.parquet, perplexity.parquet and report.json into out_dir and returns
the report dict.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from pydantic import BaseModel, Field

from s1model.rl.rewards import JudgeRoute, RewardConfig, RewardRouter


class EvalConfig(BaseModel):
    """What an evaluation runs; every field has a default (the Prefect form documents it)."""

    k: int = Field(4, ge=1, description="Sampled completions per prompt for avg@k / pass@k.")
    temperature: float = Field(0.7, ge=0.0, description="Sampling temperature of the k samples.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus of the k samples.")
    max_new_tokens: int = Field(64, ge=1, description="New tokens per completion.")
    max_prompts: int | None = Field(256, ge=1, description="Held-out prompts evaluated (in file order, spread over "
                                    "tasks); None: all.")
    pass_threshold: float = Field(1.0, description="A sample passes when its reward is >= this.")
    prompt_template: str = Field("{prompt}\n", description="Text the model sees before its answer (RL's template).")
    seed: int = Field(0, description="Seed of the samples.")
    max_batch_size: int = Field(64, ge=1, description="Rows per forward of the engine.")
    rewards: RewardConfig = Field(default_factory=RewardConfig, description="Router scoring the samples.")
    ppl_max_rows: int = Field(64, ge=1, description="Packed token-shard rows read for the perplexity.")
    ppl_batch_rows: int = Field(8, ge=1, description="Rows per perplexity forward.")
    judge_url: str | None = Field(None, description="OpenAI-compatible base URL (…/v1) of a judge for open-ended "
                                  "prompts; None: no judge.")
    judge_model: str = Field("judge", description="Model name sent to the judge.")
    judge_api_key_env: str | None = Field(None, description="Environment variable holding the judge's API key.")
    judge_all: bool = Field(False, description="Also ask the judge about verifiable prompts (beside their verifier).")
    judge_max_prompts: int = Field(64, ge=0, description="Prompts sent to the judge.")


def _spread(rows: list[dict], limit: int | None) -> list[dict]:
    """At most `limit` rows, taken round-robin over tasks so every task is represented."""
    if limit is None or len(rows) <= limit:
        return rows
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_task[r.get("task") or r.get("data_source") or "-"].append(r)
    out, i = [], 0
    while len(out) < limit:
        for t in sorted(by_task):
            if i < len(by_task[t]) and len(out) < limit:
                out.append(by_task[t][i])
        i += 1
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. (2021) from n samples of which c pass: 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def summarise(samples: list[dict], k: int, keys: tuple[str, ...]) -> list[dict]:
    """Per group of `keys`: prompts, samples, avg@k, pass@1, pass@k, greedy pass rate."""
    per_prompt: dict[tuple, dict[str, list]] = defaultdict(lambda: {"r": [], "p": [], "g": []})
    for s in samples:
        d = per_prompt[(tuple(s.get(x) or "-" for x in keys), s["prompt_index"])]
        if s["kind"] == "greedy":
            d["g"].append(s["passed"])
        else:
            d["r"].append(s["reward"])
            d["p"].append(s["passed"])
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for (key, _), d in per_prompt.items():
        groups[key].append(d)
    rows = []
    for key, ds in sorted(groups.items()):
        sampled = [d for d in ds if d["r"]]
        n_s = sum(len(d["r"]) for d in sampled)
        rows.append({**dict(zip(keys, key)), "prompts": len(ds), "samples": n_s,
                     f"avg@{k}": sum(sum(d["r"]) for d in sampled) / max(n_s, 1),
                     "pass@1": sum(pass_at_k(len(d["p"]), sum(d["p"]), 1) for d in sampled) / max(len(sampled), 1),
                     f"pass@{k}": sum(pass_at_k(len(d["p"]), sum(d["p"]), k) for d in sampled) / max(len(sampled), 1),
                     "greedy_pass_rate": sum(d["g"][0] for d in ds if d["g"]) / max(sum(1 for d in ds if d["g"]), 1)})
    return rows


def _judge_router(config: EvalConfig) -> RewardRouter | None:
    if not config.judge_url:
        return None
    key = os.environ.get(config.judge_api_key_env) if config.judge_api_key_env else None
    return RewardRouter(RewardConfig(routes=[JudgeRoute(pattern="*", judge="openai_judge", params={
        "base_url": config.judge_url, "model": config.judge_model, "api_key": key})],
        timeout_s=config.rewards.timeout_s))


def verifiable_eval(model, tok, rows: list[dict], config: EvalConfig) -> list[dict]:
    """Per sample: {prompt_index, kind: sample|greedy|judge, task, data_source, length_bucket, reward, passed,
    reason, n_tokens, response}. Prompts with a verifier get k samples + one greedy answer; open-ended prompts (and
    all with judge_all) a greedy answer for the judge."""
    from s1model.rl.generate import SamplingParams, generate

    router = RewardRouter(config.rewards)
    judge = _judge_router(config)
    texts = [config.prompt_template.format(prompt=r["prompt"]) for r in rows]
    ids = tok.encode_batch(texts)
    verifiable = [i for i, r in enumerate(rows) if not str(r.get("data_source", "")).startswith("open/")]
    sampled = generate(model, [ids[i] for i in verifiable for _ in range(config.k)],
                       SamplingParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                      top_p=config.top_p, seed=config.seed), tok.eos_id, tok.pad_id,
                       config.max_batch_size)
    greedy = generate(model, ids, SamplingParams(max_new_tokens=config.max_new_tokens, temperature=0.0), tok.eos_id,
                      tok.pad_id, config.max_batch_size)

    def text_of(c) -> str:
        return tok.decode(c.token_ids[:-1] if c.finish_reason == "eos" else c.token_ids)

    out = []

    def add(i: int, kind: str, c, result) -> None:
        r = rows[i]
        out.append({"prompt_index": i, "kind": kind, "sample_id": r.get("sample_id"), "task": r.get("task"),
                    "data_source": r.get("data_source"), "length_bucket": r.get("length_bucket"),
                    "reward": float(result.score), "passed": bool(result.score >= config.pass_threshold),
                    "reason": result.reason, "n_tokens": len(c.token_ids), "finish_reason": c.finish_reason,
                    "response": text_of(c)})

    def sample_of(i: int, c) -> dict:
        r = rows[i]
        return {"data_source": r["data_source"], "task": r.get("task"), "identity_json": r.get("identity_json"),
                "prompt": r.get("prompt"), "reference": r.get("reference"), "response": text_of(c)}

    for j, c in enumerate(sampled):
        i = verifiable[j // config.k]
        add(i, "sample", c, router.score(sample_of(i, c)))
    for i in verifiable:
        add(i, "greedy", greedy[i], router.score(sample_of(i, greedy[i])))
    if judge is not None:
        judged = [i for i in range(len(rows)) if config.judge_all or i not in set(verifiable)]
        for i in judged[:config.judge_max_prompts]:
            add(i, "judge", greedy[i], judge.score(sample_of(i, greedy[i])))
    return out


@torch.no_grad()
def domain_perplexity(model, shard_paths: list[str], max_rows: int, batch_rows: int) -> list[dict]:
    """[{domain, tokens, nll, perplexity}] over the first max_rows packed rows of the shards (pad segments, whose
    domain is '', are left out); the document-masked next-token loss of each token goes to its document's domain."""
    from s1model.model import packed_inputs

    device = next(model.parameters()).device
    rows = []
    for path in shard_paths:
        t = pq.read_table(path, columns=["input_ids", "doc_lens", "domains"])
        rows += t.slice(0, max_rows - len(rows)).to_pylist()
        if len(rows) >= max_rows:
            break
    nll: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    model.eval()
    for s in range(0, len(rows), batch_rows):
        chunk = rows[s:s + batch_rows]
        S = len(chunk[0]["input_ids"])
        ids_BS = torch.tensor([r["input_ids"] for r in chunk], dtype=torch.long, device=device)
        pos_BS, mask_BS = packed_inputs([r["doc_lens"] for r in chunk], S, True)
        logits = model(input_ids=ids_BS, position_ids=pos_BS.to(device)).logits.float()
        loss_BS = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids_BS[:, 1:].flatten(),
                                                    reduction="none").view(len(chunk), S - 1).cpu()
        for b, r in enumerate(chunk):
            dom_S = []
            for n, d in zip(r["doc_lens"], r["domains"]):
                dom_S += [d] * n
            for t in range(S - 1):
                if mask_BS[b, t] and dom_S[t]:
                    nll[dom_S[t]] += float(loss_BS[b, t])
                    count[dom_S[t]] += 1
    return [{"domain": d, "tokens": count[d], "nll": nll[d] / count[d], "perplexity": math.exp(nll[d] / count[d])}
            for d in sorted(count)]


def evaluate(config: EvalConfig, model_dir: str, tokenizer_dir: str, prompts: pa.Table | None,
             shard_paths: list[str], out_dir: str) -> dict:
    """Run the evaluation (see module doc) and write samples.parquet, perplexity.parquet, report.json."""
    from transformers import AutoModelForCausalLM

    from s1data.tokenizer import load_tokenizer

    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(config.seed)
    tok = load_tokenizer(tokenizer_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    t0 = time.perf_counter()
    rows = _spread(prompts.to_pylist(), config.max_prompts) if prompts is not None else []
    samples = verifiable_eval(model, tok, rows, config) if rows else []
    t1 = time.perf_counter()
    ppl = domain_perplexity(model, shard_paths, config.ppl_max_rows, config.ppl_batch_rows) if shard_paths else []
    t2 = time.perf_counter()
    scored = [s for s in samples if s["kind"] != "judge"]
    judged = [s for s in samples if s["kind"] == "judge"]
    report = {
        "k": config.k, "prompts": len(rows), "samples": len(scored),
        "overall": summarise(scored, config.k, ()) [0] if scored else {},
        "per_task": summarise(scored, config.k, ("task",)),
        "per_task_length": summarise(scored, config.k, ("task", "length_bucket")),
        "perplexity": ppl,
        "judge": ({"prompts": len(judged), "mean_score": sum(s["reward"] for s in judged) / len(judged),
                   "reasons": dict(sorted(_count(s["reason"] for s in judged).items()))} if judged else None),
        "reasons": dict(sorted(_count(s["reason"] for s in scored).items())),
        "timings": {"generate_and_score_s": t1 - t0, "perplexity_s": t2 - t1},
    }
    pq.write_table(pa.Table.from_pylist(samples) if samples else pa.table({"prompt_index": pa.array([], pa.int64())}),
                   os.path.join(out_dir, "samples.parquet"))
    pq.write_table(pa.Table.from_pylist(ppl) if ppl else pa.table({"domain": pa.array([], pa.string())}),
                   os.path.join(out_dir, "perplexity.parquet"))
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def _count(items) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in items:
        out[x] += 1
    return out


def report_markdown(report: dict, title: str = "eval_report") -> str:
    """The report as Markdown tables (the Prefect artifact)."""
    k = report.get("k")
    lines = [f"# {title}", "", f"{report.get('prompts', 0)} held-out prompts, {report.get('samples', 0)} scored "
             f"samples (k={k})", ""]
    if report.get("per_task_length"):
        lines += [f"| task | length | prompts | avg@{k} | pass@1 | pass@{k} | greedy |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in report["per_task_length"]:
            lines.append(f"| {r['task']} | {r['length_bucket']} | {r['prompts']} | {r[f'avg@{k}']:.3f} | "
                         f"{r['pass@1']:.3f} | {r[f'pass@{k}']:.3f} | {r['greedy_pass_rate']:.3f} |")
        lines.append("")
    if report.get("perplexity"):
        lines += ["| domain | tokens | perplexity |", "|---|---:|---:|"]
        lines += [f"| {r['domain']} | {r['tokens']} | {r['perplexity']:.2f} |" for r in report["perplexity"]]
        lines.append("")
    if report.get("judge"):
        lines.append(f"judge: {report['judge']['prompts']} prompts, mean score {report['judge']['mean_score']:.3f}")
    return "\n".join(lines)
