"""`curate_corpus`: the curation DAG over partitioned inputs, on a Dask client or in this process.

    plan partitions (row ranges of the input parquet files, keyed by the sha256 of the file's bytes)
      -> pass 1: sample_block per web partition   -> decide_domains (driver, bounded samples)
      -> pass 2: filter_block per partition       -> fit the science classifier (driver, bounded sample)
      -> dedup: sign_block per filtered partition -> assign_partitions (key and band shuffles over all signatures,
         components over the documents in some edge)
      -> pass 3: label_block per partition        -> curated/part-PPPPP.parquet, exclusions/*.parquet

Every block writes one committed partition, keyed by what it depends on (`s1data.curate.cache`): a rerun, or a run
over a corpus that grew by one WARC, computes only the partitions whose key is new. The driver holds per-partition
records only: counts, the domain and science samples (bounded by configuration), and the dedup's edges and the ids
of the documents in them.
Outputs are partitioned datasets: many parquet files under one folder, linked (local) or copied server-side (store)
from the committed partitions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from typing import Callable

import pyarrow as pa

from s1data import parts
from s1data.curate import blocks
from s1data.curate.cache import PartitionCache, ScratchCache
from s1data.curate.config import CurateConfig

log = logging.getLogger(__name__)

BLOCK_VERSION = "curate-blocks-2"  # change when a block's output for the same key changes
# curate-blocks-2: the silver rules count \begin/\end as formula evidence only around maths environments
INPUT_PREFIXES = {"documents": ("documents", "part-"), "web_pages": ("pages", "part-")}


def input_files(artifact_uris: dict[str, str]) -> dict[str, list[str]]:
    """{source: [parquet files]} of the input artifacts (`documents`, `web_pages`: a folder holding one file or a
    partitioned dataset)."""
    return {src: parts.list_parquet(uri, INPUT_PREFIXES[src]) for src, uri in artifact_uris.items() if uri}


def plan_partitions(inputs: dict[str, list[str]], cfg: CurateConfig) -> list[dict]:
    """The curation partitions of {source: [files]}: row ranges of at most `cfg.partition_docs` rows."""
    return parts.plan(inputs, cfg.partition_docs)


def run_tasks(client, fn: Callable, args_list: list[tuple], progress: Callable[[int], None] | None = None,
              on_result: Callable[[int, object], object] | None = None,
              workers: list[str | None] | None = None) -> list:
    """fn(*args) for each args tuple, on the Dask client when there is one, else here; results in input order.
    `on_result(i, result)` runs in this process as each result comes back (its return value replaces the result):
    where partitions are committed, so a kill loses only the tasks still running. `workers[i]`: the address of the
    worker that computed an earlier block of task i's partition (its per-process memos then answer); a preference
    only, ignored when that worker is gone."""
    results: dict = {}

    def done(i, res):
        results[i] = on_result(i, res) if on_result else res
        if progress:
            progress(1)

    if client is None:
        for i, args in enumerate(args_list):
            done(i, fn(*args))
        return [results[i] for i in range(len(args_list))]
    from distributed import as_completed

    live = set(client.scheduler_info().get("workers", {})) if workers else set()

    def where(i: int) -> dict:
        w = workers[i] if workers and i < len(workers) else None
        return {"workers": [w], "allow_other_workers": True} if w in live else {}

    futures = {client.submit(fn, *args, pure=False, **where(i)): i for i, args in enumerate(args_list)}
    for fut in as_completed(futures):
        done(futures[fut], fut.result())
    return [results[i] for i in range(len(args_list))]


def shared(client, obj):
    """`obj` for every task of a pass: on a Dask client, scattered to the workers once and passed as a future (a
    plain argument is pickled into every task's spec, which the scheduler holds until the task ends: the science
    classifier's 2^18 x K float32 weights, ~31 MB, times 32 label tasks took a scheduler to 1.1 GiB at 256x)."""
    if client is None or obj is None:
        return obj
    return client.scatter([obj], broadcast=True, hash=False)[0]  # in a list: a dict would be scattered per key


def _key(block: str, params, inputs: list[str]) -> str:
    """A block partition's key: sha256 of the block, its code version, its parameters and its inputs' keys."""
    h = hashlib.sha256()
    for part in (block, BLOCK_VERSION, json.dumps(params, sort_keys=True, default=str), *inputs):
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _table_sha256(t: pa.Table, columns: list[str]) -> str:
    h = hashlib.sha256()
    for c in columns:
        for v in t.column(c).to_pylist():
            h.update((v or "").encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
    return h.hexdigest()


def _cached(cache: PartitionCache, client, block: str, keys: list[str], fn: Callable, args_list: list[tuple],
            progress: Callable[[int], None] | None, sources: list[str | None],
            workers: list[str | None] | None = None) -> tuple[list[dict], int]:
    """[{"uri", "meta", "worker"}] of `block` for each key: committed ones from the cache (worker None), the others
    computed by fn(*args, target) (on `workers[i]` when it is still there) and committed as they come back.
    Returns (partitions, how many were computed)."""
    out: list = [None] * len(keys)
    todo = []
    for i, k in enumerate(keys):
        hit = cache.get(block, k)
        if hit is not None:
            out[i] = hit
            if progress:
                progress(1)
        else:
            todo.append(i)
    computed = run_tasks(client, fn, [(*args_list[i], cache.target(block, keys[i])) for i in todo], progress,
                         on_result=lambda j, r: {**cache.put(block, keys[todo[j]], r["written"], r["meta"],
                                                             sources[todo[j]]), "worker": r.get("worker")},
                         workers=[workers[i] for i in todo] if workers else None)
    for i, r in zip(todo, computed):
        out[i] = r
    return out, len(todo)


def science_sample(client, filtered: list[dict], cfg: CurateConfig,
                   progress: Callable[[int], Callable[[int], None]] | None = None) -> pa.Table:
    """The classifier's training sample with its silver labels: `bottom_k` over the partitions' science samples
    (the same rows, in the same order, as `bottom_k(concat(samples))`), found from their doc ids alone (this
    process holds at most `science_sample_docs` keys and texts), the silver rules run by one task per partition
    that contributes, on the worker that filtered it (`blocks.label_science_sample`)."""
    k, seed = cfg.science_sample_docs, cfg.science.seed
    best: list[tuple[bytes, int, int]] = []  # (sample key, partition, row): the k smallest so far
    for p, r in enumerate(filtered):
        ids = parts.read_file(parts.join(r["uri"], "science_sample.parquet"), ["doc_id"]).column("doc_id")
        best = sorted(best + [(blocks.sample_key(seed, str(d)), p, i) for i, d in enumerate(ids.to_pylist())])[:k]
    rows: dict[int, list[int]] = {}
    for _, p, i in best:
        rows.setdefault(p, []).append(i)
    order = sorted(rows)
    labelled = run_tasks(client, blocks.label_science_sample,
                         [(parts.join(filtered[p]["uri"], "science_sample.parquet"), sorted(rows[p]), cfg)
                          for p in order], progress(len(order)) if progress else None,
                         workers=[filtered[p].get("worker") for p in order])
    if not labelled:
        from s1data.science.partition import SILVER_COLUMNS

        return pa.table({"doc_id": pa.array([], pa.string()), "text": pa.array([], pa.string()),
                         SILVER_COLUMNS[0]: pa.array([], pa.string()), SILVER_COLUMNS[1]: pa.array([], pa.float64())})
    return pa.concat_tables(labelled)


def curate_corpus(inputs: dict[str, list[str]], out: dict[str, str], scratch: str, cfg: CurateConfig | None = None,
                  client=None, progress: Callable[[str, int, int], None] | None = None,
                  plan: list[dict] | None = None, cache: PartitionCache | None = None) -> dict:
    """Curate {source: [parquet files]} into `out["curated"]` / `out["curation_exclusions"]` (partitioned) and
    `out["web_domain_decisions"]/decisions.parquet`. `scratch`: a folder every worker can read and write (the dedup
    assignment). `cache`: where block partitions are committed and found again (default: none, under scratch).
    Returns the funnel: counts per step and reason, domains, timings, and how many partitions each block computed."""
    from s1data.dedup.parallel import assign_partitions
    from s1data.science import fit_science_model

    cfg = cfg or CurateConfig()
    cache = cache or ScratchCache(parts.join(scratch, "blocks"))
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    computed: dict[str, int] = {}

    def step(name: str, total: int):
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress(name, done[0], total)
        return advance

    plan = plan if plan is not None else plan_partitions(inputs, cfg)
    files = sorted({p["path"] for p in plan})
    t = time.perf_counter()
    file_keys = dict(zip(files, run_tasks(client, parts.file_sha256, [(f,) for f in files],
                                          step("input keys", len(files)))))
    base = [_key("input", {"source": p["source"], "start": p["start"], "stop": p["stop"]}, [file_keys[p["path"]]])
            for p in plan]
    srcs = [p["source"] for p in plan]
    timings["keys_s"] = time.perf_counter() - t

    # pass 1: domain decisions from bounded per-partition samples
    t = time.perf_counter()
    web = [i for i, p in enumerate(plan) if p["source"] == "web_pages"]
    dom_cfg = cfg.domains.model_dump(mode="json")
    s1, computed["domain_samples"] = _cached(
        cache, client, "sample", [_key("sample", dom_cfg, [base[i]]) for i in web], blocks.sample_block,
        [(plan[i], cfg) for i in web], step("domain samples", len(web)), [srcs[i] for i in web])
    # pass 2 of a web partition goes to the worker that sampled it: its filter memo answers the sampled pages
    sampled_on = {i: r.get("worker") for i, r in zip(web, s1)}
    counts: Counter = Counter()
    for r in s1:
        counts.update(r["meta"]["domain_counts"])
    decisions = blocks.decide_domains((blocks.read_domain_sample(parts.join(r["uri"], "sample.parquet")) for r in s1),
                                      counts, cfg)
    parts.write(decisions, parts.join(out["web_domain_decisions"], "decisions.parquet"))
    decided = blocks.decisions_map(decisions)
    domains_of = {i: sorted(r["meta"]["domain_counts"]) for i, r in zip(web, s1)}
    timings["domains_s"] = time.perf_counter() - t

    # pass 2: domain drop / rewrite, quality, PII per partition; the science sample
    t = time.perf_counter()
    f_params = {"quality": {s: cfg.quality_for(s).model_dump(mode="json") for s in sorted(set(srcs))},
                "rewrite": cfg.rewrite.model_dump(mode="json"), "science_sample_docs": cfg.science_sample_docs,
                "seed": cfg.science.seed}
    f_keys = [_key("filter", {**f_params, "quality": f_params["quality"][p["source"]],
                              "decisions": [[d, decided.get(d, "keep")] for d in domains_of.get(i, [])]}, [base[i]])
              for i, p in enumerate(plan)]
    decided_ref = shared(client, decided)  # one domain -> decision map for every filter task (millions of domains)
    s2, computed["filters"] = _cached(cache, client, "filter", f_keys, blocks.filter_block,
                                      [(p, decided_ref, cfg) for p in plan], step("filters", len(plan)), srcs,
                                      workers=[sampled_on.get(i) for i in range(len(plan))])
    timings["filters_s"] = time.perf_counter() - t
    t = time.perf_counter()
    sample = science_sample(client, s2, cfg, lambda n: step("science sample labels", n))
    model, science_report = fit_science_model(sample, cfg.science, min_docs=cfg.min_classifier_docs)
    model_key = _key("science_model", {"science": cfg.science.model_dump(mode="json"),
                                       "min_docs": cfg.min_classifier_docs,
                                       "seed_sha256": _seed_sha256(cfg)},
                     [_table_sha256(sample, ["doc_id", "text"])])
    timings["science_fit_s"] = time.perf_counter() - t

    # dedup: signatures per filtered partition (committed), then the band shuffle over all of them
    t = time.perf_counter()
    filtered = [parts.join(r["uri"], "filtered.parquet") for r in s2]
    d_params = {"dedup": cfg.dedup.model_dump(mode="json"), "buckets": cfg.dedup_buckets}
    s_keys = [_key("sign", d_params, [k]) for k in f_keys]
    # the LSH bands x rows resolved here, once (scipy), not again in every worker process; the same pair
    bands, rows = cfg.dedup.lsh_bands_rows
    dedup_cfg = cfg.dedup.model_copy(update={"bands": bands, "rows": rows})
    sign_cfg = cfg.model_copy(update={"dedup": dedup_cfg})
    sigs, computed["signatures"] = _cached(cache, client, "sign", s_keys, blocks.sign_block,
                                           [(f, sign_cfg) for f in filtered], step("dedup signatures", len(plan)),
                                           srcs, workers=[r.get("worker") for r in s2])
    dedup = assign_partitions([r["uri"] for r in sigs], parts.join(scratch, "dedup_work"), dedup_cfg, client,
                              cfg.dedup_buckets) if sigs else {"assign_paths": [], "assign_sha256": []}
    timings["dedup_s"] = time.perf_counter() - t

    # pass 3: the dedup split and science columns -> curated partitions and dedup exclusions
    t = time.perf_counter()
    l_keys = [_key("label", {"model": model_key}, [k, a]) for k, a in zip(f_keys, dedup["assign_sha256"])]
    model_ref = shared(client, model)
    s3, computed["labels"] = _cached(cache, client, "label", l_keys, blocks.label_block,
                                     [(f, a, model_ref, cfg) for f, a in zip(filtered, dedup["assign_paths"])],
                                     step("science labels", len(plan)), srcs,
                                     workers=[r.get("worker") for r in s2])
    timings["label_s"] = time.perf_counter() - t

    # the outputs: partitioned datasets of the committed partitions' files (links or server-side copies)
    t = time.perf_counter()
    for i, (f, lab) in enumerate(zip(s2, s3)):
        parts.link_or_copy(parts.join(lab["uri"], "part.parquet"), parts.join(out["curated"], f"part-{i:05d}.parquet"))
        parts.link_or_copy(parts.join(f["uri"], "exclusions.parquet"),
                           parts.join(out["curation_exclusions"], f"filters-{i:05d}.parquet"))
        parts.link_or_copy(parts.join(lab["uri"], "dedup_exclusions.parquet"),
                           parts.join(out["curation_exclusions"], f"dedup-{i:05d}.parquet"))
    if not s3:  # no input rows: the outputs are still datasets (one empty part), never missing
        parts.write(blocks.doc_columns(pa.table({"doc_id": pa.array([], pa.string())})),
                    parts.join(out["curated"], "part-00000.parquet"))
        parts.write(blocks.empty_exclusions(), parts.join(out["curation_exclusions"], "filters-00000.parquet"))
    timings["outputs_s"] = time.perf_counter() - t

    funnel: Counter = Counter()
    rewrite: Counter = Counter()
    for r in s2:
        funnel.update(r["meta"]["counts"])
        for k, v in (r["meta"]["rewrite"] or {}).items():
            if k == "reasons":
                rewrite.update({f"reason:{why}": n for why, n in v.items()})
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seconds":
                rewrite[k] += v
    reasons = {k: v for k, v in funnel.items() if k not in ("input", "after_domains", "after_quality")}
    for r in s3:
        for k, v in r["meta"]["dedup_reasons"].items():
            reasons[k] = reasons.get(k, 0) + v
    domains: Counter = Counter()
    for r in s3:
        domains.update(r["meta"]["domains"])
    kept = sum(r["meta"]["rows"] for r in s3)
    timings["total_s"] = time.perf_counter() - t0
    return {"input": funnel["input"], "after_domains": funnel["after_domains"],
            "after_quality": funnel["after_quality"], "after_dedup": kept, "kept": kept,
            "excluded": sum(v for k, v in reasons.items() if k != "rewritten_original"),
            "exclusion_reasons": dict(sorted(reasons.items())), "domains": dict(sorted(domains.items())),
            "science_labeller": science_report, "partitions": len(plan), "web_domains": len(decided),
            "domain_decisions": dict(Counter(decided.values())),
            "rewrite": {**dict(sorted(rewrite.items())), "endpoint": cfg.rewrite.url},
            "dedup": {k: v for k, v in dedup.items() if k not in ("assign_paths", "assign_sha256")},
            "computed_partitions": computed,
            "seconds": {k: round(v, 3) for k, v in timings.items()}}


def _seed_sha256(cfg: CurateConfig) -> str | None:
    if not cfg.science.seed_path:
        return None
    from s1data.science.seed import seed_set_sha256

    return seed_set_sha256(cfg.science.seed_path)
