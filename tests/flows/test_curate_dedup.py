"""Curation's dedup step: the Dask-partitioned path (large corpora) gives the in-memory path's result."""

import random

import pyarrow as pa

from flows.curate import CurateConfig, curate_docs


def _docs(n: int = 240) -> pa.Table:
    from s1data.science.synthetic import everyday_paragraph  # SYNTHETIC English text, tests only

    rng = random.Random(3)
    texts = []
    for i in range(n):
        if i % 10 == 3:  # exact copy of an earlier document
            texts.append(texts[i - 3])
        elif i % 10 == 7:  # near copy: one word changed
            t = texts[i - 5].split(" ")
            t[len(t) // 2] = "changed"
            texts.append(" ".join(t))
        else:
            texts.append(f"Report {i}. " + " ".join(everyday_paragraph(rng, n_sentences=8) for _ in range(3)))
    ids = [f"d{i:04d}" for i in range(n)]
    return pa.table({"doc_id": ids, "source_uri": [f"/x/{i}.pdf" for i in ids], "source_sha256": ids,
                     "source_kind": ["pdf"] * n, "text": texts})


def test_partitioned_dask_dedup_in_curation_equals_the_in_memory_result(tmp_path):
    cfg = CurateConfig()
    mem_kept, mem_excl, _, mem_funnel = curate_docs(_docs(), None, cfg)
    par = cfg.model_copy(update={"parallel_dedup_min_docs": 10, "dedup_partition_docs": 100})
    par_kept, par_excl, _, par_funnel = curate_docs(_docs(), None, par, work_dir=tmp_path)
    assert mem_funnel["exclusion_reasons"] == par_funnel["exclusion_reasons"]
    assert mem_funnel["exclusion_reasons"].get("dedup_exact") == 24
    assert mem_funnel["exclusion_reasons"].get("dedup_near_duplicate") == 24
    assert sorted(mem_kept.column("doc_id").to_pylist()) == sorted(par_kept.column("doc_id").to_pylist())
    assert sorted(zip(mem_excl.column("doc_id").to_pylist(), mem_excl.column("reason").to_pylist())) == \
        sorted(zip(par_excl.column("doc_id").to_pylist(), par_excl.column("reason").to_pylist()))
