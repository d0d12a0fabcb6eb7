"""TAIL length generalization on one GPU: every addition arm, trained from scratch, greedy-evaluated on S / M / L.

    python benchmarks/tail_gpu.py --out $OUT [--task tail_addition] [--arms tail,reversed,...] [--steps 1000]
        [--position hf|rope|nope|rope_random|fire] [--abacus] [--arm-train-s 30]

Per arm: bootcamp data on S in the arm's style → shards with one shared digit-level tokenizer → the same decoder
trained with the plain torch loop for the same number of steps x rows x seq_len (equal training tokens) → greedy
KV-cache decoding of fresh prompts per bucket → the exact verifier. Writes tail_<task>.json and tail_<task>.md to
--out; prints the table last. Stops starting arms when the wall-clock budget would be overrun (the JSON says which
were skipped).

Model: --position hf is the first attempt's dense HF Qwen3 (RoPE); any other value builds s1model.tail_model's
TailDecoder with that position scheme, --abacus adding per-digit index embeddings. --arm-train-s gives the *first*
arm a training time budget (its step count is cut to what fits) and every later arm the same step count, so arms
keep equal training tokens and the whole call fits the device's limit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from s1model import tail_experiment as te  # noqa: E402


def _arm_data(job):
    task, arm, train_tokens, seed, cap = job
    probe, _ = te.build_train_data(task, te.ARM_STYLES[arm], 200, seed)
    chars = sum(len(te.document_text(a, b)) for a, b in zip(probe.column("prompt").to_pylist(),
                                                           probe.column("response").to_pylist())) / 200
    n = min(cap, max(2000, math.ceil(train_tokens / (0.6 * chars))))
    sft, excl = te.build_train_data(task, te.ARM_STYLES[arm], n, seed)
    return sft, excl.num_rows


def _arm_shards(job):
    from s1data.shards import ShardConfig, write_shards

    sft, arm, tok_dir, out, seq_len, seed, mix = job
    docs = te.mix_generic(te.arm_documents(sft, arm), mix, seed + 11)  # the same replay for every arm
    info = write_shards(docs, tok_dir, out, ShardConfig(seq_len=seq_len, remainder="drop"), seed)
    return {"paths": [s["path"] for s in info], "tokens": sum(s["tokens"] for s in info)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.environ.get("OUT", "benchmarks/results"))
    p.add_argument("--task", default="tail_addition")
    p.add_argument("--arms", default="tail,reversed,index_hints,tail_no_fetch,direct")
    p.add_argument("--tokenizer-arms", default="tail,reversed,index_hints,tail_no_fetch,direct",
                   help="arms whose texts train the shared tokenizer (3000 documents each)")
    p.add_argument("--warmup-steps", type=int, default=0,
                   help="task-free warm-up on copying / reversing / indexing digit strings of 1-60 digits "
                        "(te.generic_documents), shared by every arm, before the arm's S-only training")
    p.add_argument("--generic-mix", type=float, default=0.0,
                   help="share of each arm's training characters given to the task-free generic corpus (replay)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-rows", type=int, default=24)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--eval-per-bucket", type=int, default=500)
    p.add_argument("--slack", type=float, default=1.15)
    p.add_argument("--budget-s", type=float, default=480.0, help="stop starting arms past this wall time")
    p.add_argument("--arm-train-s", type=float, default=None,
                   help="training time budget of the first arm; later arms run the same number of steps")
    p.add_argument("--position", default="hf", choices=["hf", "rope", "nope", "rope_random", "fire"],
                   help="hf: HF Qwen3 with RoPE (first attempt); else TailDecoder with this position scheme")
    p.add_argument("--abacus", action="store_true", help="TailDecoder: add Abacus per-digit index embeddings")
    p.add_argument("--abacus-offset-max", type=int, default=100)
    p.add_argument("--abacus-direction", default="ltr", choices=["ltr", "rtl", "both"],
                   help="ltr: every digit indexed from its number's first digit; rtl: the prompt's digits from the "
                        "right (index = significance + 1, aligned digits share an index), the response's from the "
                        "left; both: the two embeddings added")
    p.add_argument("--input-injection", action="store_true", help="TailDecoder: add the input embedding to every "
                                                                  "layer's input")
    p.add_argument("--random-gap-max", type=int, default=4)
    p.add_argument("--eval-batch", type=int, default=512)
    p.add_argument("--max-new-tokens-cap", type=int, default=None, help="cap the decoding budget (CPU smoke runs)")
    p.add_argument("--tokenizer-docs", type=int, default=3000, help="documents per arm for the tokenizer")
    p.add_argument("--max-examples", type=int, default=40_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-seed", type=int, default=1)
    args = p.parse_args()
    if args.abacus and args.abacus_direction != "ltr" and (args.warmup_steps or args.generic_mix):
        p.error("--abacus-direction rtl/both index the prompt from the right and need the response separator in every "
                "document; the generic warm-up / replay corpus has none (use --abacus-direction ltr with it)")
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import torch

    from s1data.tokenizer import load_tokenizer, train_tokenizer
    from s1model.config import ModelConfig

    t_start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="tail-")
    arms = args.arms.split(",")
    train_tokens = args.steps * args.batch_rows * args.seq_len

    # 1. data per arm (in parallel processes): enough unique S problems to fill the token budget once (capped).
    with ProcessPoolExecutor(min(len(arms), os.cpu_count() or 1)) as pool:
        made = dict(zip(arms, pool.map(_arm_data, [(args.task, a, train_tokens, args.seed, args.max_examples)
                                                   for a in arms])))
    data = {a: made[a][0] for a in arms}
    excl_counts = {a: made[a][1] for a in arms}
    train_ids = set().union(*(set(t.column("sample_id").to_pylist()) for t in data.values()))
    prompts = te.build_eval_prompts(args.task, args.eval_per_bucket, args.eval_seed, train_ids)
    assert not train_ids & set(prompts.column("sample_id").to_pylist())
    print(f"data: {({a: t.num_rows for a, t in data.items()})} eval {prompts.num_rows} "
          f"({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 2. one tokenizer for every arm (digit-level), then shards per arm (in parallel processes).
    tok_dir = os.path.join(work, "tokenizer")
    # the tokenizer sees every arm of the task (not only those run here), so arms run in separate calls share it
    tok_arms = [a for a in te.ARM_STYLES if a in args.tokenizer_arms.split(",")]
    sample = [t for arm in tok_arms for t in te.arm_documents(
        te.build_train_data(args.task, te.ARM_STYLES[arm], args.tokenizer_docs, args.seed)[0], arm).column("text").to_pylist()]
    if args.warmup_steps or args.generic_mix:
        sample += te.generic_documents(args.tokenizer_docs, args.seed).column("text").to_pylist()
    train_tokenizer(te.digit_split_texts(sample), tok_dir, te.tokenizer_config(1024))
    tok = load_tokenizer(tok_dir)
    te.check_digit_tokens(tok)
    with ProcessPoolExecutor(min(len(arms), os.cpu_count() or 1)) as pool:
        shards = dict(zip(arms, pool.map(_arm_shards, [(data[a], a, tok_dir, os.path.join(work, f"shards-{a}"),
                                                         args.seq_len, args.seed, args.generic_mix)
                                                        for a in arms])))
    print(f"tokenizer vocab {tok.vocab_size}; shards {({a: s['tokens'] for a, s in shards.items()})} "
          f"({time.perf_counter() - t_start:.0f}s)", flush=True)

    mcfg = ModelConfig(vocab_size=tok.vocab_size, hidden_size=args.hidden, num_layers=args.layers,
                       num_heads=args.hidden // 32, num_kv_heads=max(1, args.hidden // 64), head_dim=32,
                       num_experts=1, top_k=2, moe_intermediate_size=2 * args.hidden, rope_theta=10000.0,
                       max_position_embeddings=8192)
    digit_ids = None
    if args.position != "hf":
        from s1model.tail_model import digit_token_ids

        digit_ids = digit_token_ids(tok)
    sep_id = -1
    if args.abacus and args.abacus_direction != "ltr":
        sep_id = te.abacus_separator_id(tok, prompts.column("prompt").to_pylist()[::10]
                                        + data[arms[0]].column("prompt").to_pylist()[:100])
        print(f"abacus separator token {sep_id} ({tok.decode([sep_id])!r})", flush=True)

    def new_model():
        if args.position == "hf":
            return te.build_decoder(mcfg, seed=args.seed, dense=True)
        return te.build_tail_decoder(mcfg, seed=args.seed, position=args.position, abacus=args.abacus,
                                     digit_ids=digit_ids, abacus_offset_max=args.abacus_offset_max,
                                     abacus_max=max(256, args.abacus_offset_max + 128),
                                     random_gap_max=args.random_gap_max, abacus_direction=args.abacus_direction,
                                     abacus_sep_id=sep_id, input_injection=args.input_injection)
    warm_state, warm_info = None, None
    if args.warmup_steps:  # one task-free warm-up checkpoint shared by every arm
        from s1data.shards import ShardConfig, write_shards

        t0 = time.perf_counter()
        generic = te.generic_documents_for_tokens(args.warmup_steps * args.batch_rows * args.seq_len, args.seed + 7)
        n_docs = generic.num_rows
        info = write_shards(generic, tok_dir, os.path.join(work, "shards-warmup"),
                            ShardConfig(seq_len=args.seq_len, remainder="drop"), args.seed)
        model = new_model()
        tr = te.train_torch(model, [s["path"] for s in info], os.path.join(work, "ckpt-warmup"),
                            seq_len=args.seq_len, batch_rows=args.batch_rows, max_steps=args.warmup_steps,
                            lr=args.lr, seed=args.seed, warmup_steps=min(100, args.warmup_steps // 10),
                            log_every=max(1, args.warmup_steps // 5),
                            on_step=lambda m: print(f"  warm-up step {m['step']} loss {m['loss']:.4f}", flush=True))
        warm_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        warm_info = {"steps": args.warmup_steps, "documents": n_docs, "tokens": tr["tokens"],
                     "final_loss": tr["final_loss"], "seconds": time.perf_counter() - t0}
        print(f"warm-up: {warm_info}", flush=True)
        del model
    results, skipped, arm_seconds, all_rows = {}, [], [], []
    steps, budget = args.steps, args.arm_train_s
    for arm in arms:
        elapsed = time.perf_counter() - t_start
        est = max(arm_seconds) if arm_seconds else 0.0
        if elapsed + est > args.budget_s:
            skipped.append(arm)
            continue
        t0 = time.perf_counter()
        model = new_model()
        if warm_state is not None:
            model.load_state_dict(warm_state)
        tr = te.train_torch(model, shards[arm]["paths"], os.path.join(work, f"ckpt-{arm}"), seq_len=args.seq_len,
                            batch_rows=args.batch_rows, max_steps=steps, lr=args.lr, seed=args.seed,
                            warmup_steps=min(100, steps // 10), log_every=max(1, steps // 5),
                            time_budget_s=budget,
                            on_step=lambda m, a=arm: print(f"  {a} step {m['step']} loss {m['loss']:.4f} "
                                                          f"{m['elapsed_s']:.0f}s", flush=True))
        steps, budget = tr["steps"], None  # every later arm: the same number of steps (equal training tokens)
        t1 = time.perf_counter()
        model = model.to(torch.bfloat16).eval()
        if args.position == "hf":
            model.config.use_cache = True
        rows = te.evaluate(model, tok, prompts, args.task, te.ARM_STYLES[arm], max_batch_size=args.eval_batch,
                           slack=args.slack, max_new_tokens_cap=args.max_new_tokens_cap)
        acc = te.accuracy_by_bucket(rows)
        t2 = time.perf_counter()
        arm_seconds.append(t2 - t0)
        samples = {b: [r for r in rows.to_pylist() if r["length_bucket"] == b][:2] for b in te.BUCKETS}
        diag = None
        if args.task == "tail_addition" and te.ARM_STYLES[arm] in ("tail", "tail_no_fetch", "tail_no_linear"):
            s_max = max(c.params["length"] for c in te.bucket_configs(args.task, "S"))
            diag = te.fetch_diagnostics(rows, prompts, s_max)
            print(f"  {arm} fetch diagnostics: {diag}", flush=True)
        all_rows.append(rows.append_column("arm", pa.array([arm] * rows.num_rows)))
        pq.write_table(pa.concat_tables(all_rows), os.path.join(args.out, f"tail_{args.task}_outputs.parquet"))
        results[arm] = {"accuracy": acc, "train": {k: v for k, v in tr.items() if k != "history"},
                        "loss_curve": tr["history"], "train_s": t1 - t0, "eval_s": t2 - t1,
                        "shard_tokens": shards[arm]["tokens"], "train_examples": data[arm].num_rows,
                        "exclusions": excl_counts[arm], "samples": samples, "fetch_diagnostics": diag}
        print(f"{arm}: " + " ".join(f"{b}={acc[b]['accuracy']:.1f}" for b in acc)
              + f" train {t1 - t0:.0f}s eval {t2 - t1:.0f}s", flush=True)
        with open(os.path.join(args.out, f"tail_{args.task}_partial.json"), "w") as f:
            json.dump({a: r["accuracy"] for a, r in results.items()}, f)
        del model
        torch.cuda.empty_cache()

    accs = {a: r["accuracy"] for a, r in results.items()}
    model_name = "dense Qwen3 (HF, RoPE)" if args.position == "hf" else (
        f"TailDecoder position={args.position}" + (f" + abacus {args.abacus_direction} (offset 0-"
                                                    f"{args.abacus_offset_max})" if args.abacus else "")
        + (" + input injection" if args.input_injection else ""))
    setup = {"model": f"{model_name} D={args.hidden} L={args.layers} heads={args.hidden // 32}x32 "
                      f"kv={max(1, args.hidden // 64)} F={2 * args.hidden * 2}",
             "position": args.position, "abacus": args.abacus, "abacus_direction": args.abacus_direction,
             "input_injection": args.input_injection,
             "params": next(iter(results.values()))["train"]["params"] if results else None,
             "train_tokens_per_arm": steps * args.batch_rows * args.seq_len, "steps": steps,
             "arm_train_s": args.arm_train_s, "batch_rows": args.batch_rows,
             "seq_len": args.seq_len, "lr": args.lr, "seed": args.seed, "eval_seed": args.eval_seed,
             "eval_per_bucket": args.eval_per_bucket, "trainer": "plain torch loop, bf16 autocast",
             "warmup": warm_info, "generic_mix": args.generic_mix,
             "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}
    report = te.report_markdown(args.task, accs, setup)
    out = {"task": args.task, "setup": setup, "results": results, "skipped": skipped,
           "goal": te.goal_check(accs), "wall_s": time.perf_counter() - t_start}
    with open(os.path.join(args.out, f"tail_{args.task}.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    with open(os.path.join(args.out, f"tail_{args.task}.md"), "w") as f:
        f.write(report)
    print(report)
    print(f"skipped: {skipped}; wall {out['wall_s']:.0f}s")


if __name__ == "__main__":
    main()
