"""`curate_corpus`: the curation DAG over partitioned inputs, on a Dask client or in this process.

    plan partitions (row ranges of the input parquet files)
      -> pass 1: sample_partition per web partition   -> decide_domains (driver, bounded samples)
      -> pass 2: filter_partition per partition        -> fit the science classifier (driver, bounded sample)
      -> dedup_partitions over the filtered partitions (signatures per partition, shuffle by band, components)
      -> pass 3: label_partition per partition         -> curated/part-PPPPP.parquet, exclusions/*.parquet

The driver holds per-partition records only: counts, the domain and science samples (bounded by configuration),
and the dedup's doc ids and edges. Outputs are partitioned datasets: many parquet files under one folder.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Callable

import pyarrow as pa

from s1data import parts
from s1data.curate import blocks
from s1data.curate.config import CurateConfig

log = logging.getLogger(__name__)

INPUT_PREFIXES = {"documents": ("documents", "part-"), "web_pages": ("pages", "part-")}


def input_files(artifact_uris: dict[str, str]) -> dict[str, list[str]]:
    """{source: [parquet files]} of the input artifacts (`documents`, `web_pages`: a folder holding one file or a
    partitioned dataset)."""
    return {src: parts.list_parquet(uri, INPUT_PREFIXES[src]) for src, uri in artifact_uris.items() if uri}


def plan_partitions(inputs: dict[str, list[str]], cfg: CurateConfig) -> list[dict]:
    """The curation partitions of {source: [files]}: row ranges of at most `cfg.partition_docs` rows."""
    return parts.plan(inputs, cfg.partition_docs)


def run_tasks(client, fn: Callable, args_list: list[tuple], progress: Callable[[int], None] | None = None) -> list:
    """fn(*args) for each args tuple, on the Dask client when there is one, else here; results in input order."""
    if client is None:
        out = []
        for args in args_list:
            out.append(fn(*args))
            if progress:
                progress(1)
        return out
    futures = [client.submit(fn, *args, pure=False) for args in args_list]
    results: dict = {}
    for i, fut in enumerate(futures):  # gather one by one: progress advances as partitions come back
        results[i] = client.gather(fut)
        if progress:
            progress(1)
    return [results[i] for i in range(len(futures))]


def curate_corpus(inputs: dict[str, list[str]], out: dict[str, str], scratch: str, cfg: CurateConfig | None = None,
                  client=None, progress: Callable[[str, int, int], None] | None = None,
                  plan: list[dict] | None = None) -> dict:
    """Curate {source: [parquet files]} into `out["curated"]` / `out["curation_exclusions"]` (partitioned) and
    `out["web_domain_decisions"]/decisions.parquet`. `scratch`: a folder every worker can read and write (filtered
    partitions, dedup work files). Returns the funnel: counts per step and reason, domains, timings."""
    from s1data.dedup import dedup_partitions
    from s1data.science import fit_science_model

    cfg = cfg or CurateConfig()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str, total: int):
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if progress:
                progress(name, done[0], total)
        return advance

    plan = plan if plan is not None else plan_partitions(inputs, cfg)
    web = [p for p in plan if p["source"] == "web_pages"]

    # pass 1: domain decisions from bounded per-partition samples
    t = time.perf_counter()
    s1 = run_tasks(client, blocks.sample_partition, [(p, cfg) for p in web], step("domain samples", len(web)))
    counts: Counter = Counter()
    for r in s1:
        counts.update(r["domain_counts"])
    decisions = blocks.decide_domains([r["sample"] for r in s1], counts, cfg)
    parts.write(decisions, parts.join(out["web_domain_decisions"], "decisions.parquet"))
    decided = blocks.decisions_map(decisions)
    timings["domains_s"] = time.perf_counter() - t

    # pass 2: domain drop / rewrite, quality, PII per partition; the science sample
    t = time.perf_counter()
    s2 = run_tasks(client, blocks.filter_partition,
                   [(p, decided, cfg, parts.join(scratch, "filtered"), out["curation_exclusions"]) for p in plan],
                   step("filters", len(plan)))
    timings["filters_s"] = time.perf_counter() - t
    t = time.perf_counter()
    samples = [r["science_sample"] for r in s2 if r["science_sample"].num_rows]
    sample = blocks.bottom_k(pa.concat_tables(samples), cfg.science_sample_docs, cfg.science.seed) if samples \
        else pa.table({"doc_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    model, science_report = fit_science_model(sample, cfg.science, min_docs=cfg.min_classifier_docs)
    timings["science_fit_s"] = time.perf_counter() - t

    # dedup over the filtered partitions, on the same client
    t = time.perf_counter()
    filtered = [r["filtered"] for r in s2]
    dedup = dedup_partitions(filtered, parts.join(scratch, "dedup"), cfg.dedup, client=client,
                             num_buckets=cfg.dedup_buckets, work_dir=parts.join(scratch, "dedup_work")) \
        if filtered else {"kept_paths": [], "excluded_paths": [], "seconds": {}}
    timings["dedup_s"] = time.perf_counter() - t

    # pass 3: science columns, the curated partitions and the dedup exclusions
    t = time.perf_counter()
    s3 = run_tasks(client, blocks.label_partition,
                   [(i, k, e, model, cfg, out["curated"], out["curation_exclusions"])
                    for i, (k, e) in enumerate(zip(dedup["kept_paths"], dedup["excluded_paths"]))],
                   step("science labels", len(dedup["kept_paths"])))
    if not s3:  # no input rows: the outputs are still datasets (one empty part), never missing
        parts.write(blocks.doc_columns(pa.table({"doc_id": pa.array([], pa.string())})),
                    parts.join(out["curated"], "part-00000.parquet"))
    if not s2:
        parts.write(blocks.empty_exclusions(), parts.join(out["curation_exclusions"], "filters-00000.parquet"))
    timings["label_s"] = time.perf_counter() - t

    funnel: Counter = Counter()
    rewrite: Counter = Counter()
    for r in s2:
        funnel.update(r["counts"])
        for k, v in (r["rewrite"] or {}).items():
            if k == "reasons":
                rewrite.update({f"reason:{why}": n for why, n in v.items()})
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seconds":
                rewrite[k] += v
    reasons = {k: v for k, v in funnel.items() if k not in ("input", "after_domains", "after_quality")}
    for r in s3:
        for k, v in r["dedup_reasons"].items():
            reasons[k] = reasons.get(k, 0) + v
    domains: Counter = Counter()
    for r in s3:
        domains.update(r["domains"])
    kept = sum(r["rows"] for r in s3)
    timings["total_s"] = time.perf_counter() - t0
    return {"input": funnel["input"], "after_domains": funnel["after_domains"],
            "after_quality": funnel["after_quality"], "after_dedup": kept, "kept": kept,
            "excluded": sum(v for k, v in reasons.items() if k != "rewritten_original"),
            "exclusion_reasons": dict(sorted(reasons.items())), "domains": dict(sorted(domains.items())),
            "science_labeller": science_report, "partitions": len(plan), "web_domains": len(decided),
            "domain_decisions": dict(Counter(decided.values())),
            "rewrite": {**dict(sorted(rewrite.items())), "endpoint": cfg.rewrite.url},
            "dedup": {k: v for k, v in dedup.items() if k not in ("kept_paths", "excluded_paths")},
            "seconds": {k: round(v, 3) for k, v in timings.items()}}
