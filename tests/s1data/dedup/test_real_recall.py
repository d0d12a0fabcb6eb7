"""Near-duplicate recall on real texts: edited copies of the extraction-dev articles and science-dev paragraphs
(../shared/data), planted at controlled Jaccard levels of 5-word shingles, among 2,000 distinct real paragraphs."""

import gzip
import json
import random
from pathlib import Path

import pytest

from s1data.dedup import DedupConfig, minhash_signatures, near_duplicate_clusters
from s1data.dedup.evaluate import EDIT_KINDS, cluster_pairs, jaccard, plant_pairs, plant_variant
from s1data.dedup.minhash import optimal_bands_rows

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
N_SCIENCE_BASES, N_BACKGROUND = 600, 2000

pytestmark = pytest.mark.skipif(not (DATA / "science-dev" / "docs.jsonl.gz").exists(),
                                reason="needs ../shared/data (real texts)")


@pytest.fixture(scope="module")
def planted():
    return build_planted()


def build_planted():
    """(texts, signatures, planted records): articles + background paragraphs + one variant per base."""
    gt = json.loads((DATA / "extraction-dev" / "ground-truth.json").read_text())
    articles = [gt[k]["articleBody"] for k in sorted(gt)]
    with gzip.open(DATA / "science-dev" / "docs.jsonl.gz", "rt") as f:
        science = [json.loads(line)["text"] for line in f]
    rng = random.Random(7)
    picked = rng.sample(range(len(science)), N_SCIENCE_BASES * 3 + N_BACKGROUND)
    long = [i for i in picked if len(science[i].split()) >= 50][:N_SCIENCE_BASES]
    background = [i for i in picked if i not in set(long)][:N_BACKGROUND]
    texts = articles + [science[i] for i in long] + [science[i] for i in background]
    bases = list(range(len(articles) + len(long)))
    vocab = [w for t in texts[-200:] for w in t.split()]
    variants, records = plant_pairs(texts, bases, vocab, seed=7)
    for r in records:
        r["variant"] += len(texts)
    texts = texts + variants
    return texts, minhash_signatures(texts, DedupConfig()), records


def recall(planted, threshold, config):
    texts, sig, records = planted
    pairs = cluster_pairs(near_duplicate_clusters([f"d{i:06d}" for i in range(len(texts))], sig, config))
    above = [(r["base"], r["variant"]) for r in records if r["jaccard"] >= threshold]
    return sum(1 for p in above if p in pairs) / len(above), len(above), pairs


# Bars: measured on this set (2026-12-04: 0.964 at 0.5 over 603 pairs, 0.829 at 0.9 over 70 pairs) minus a margin
# (the set is seeded, so the margin is for a change of set, not for flakiness). The old fixed 16 × 8 bands measured
# 0.60 at 0.5; datasketch's bands (5 × 25) behind s1's verification 0.59 at 0.9: both fail these bars.
def test_at_threshold_0_5_the_chosen_bands_find_at_least_94_percent_of_planted_near_duplicates(planted):
    got, n, _ = recall(planted, 0.5, DedupConfig(threshold=0.5))
    assert n > 500
    assert got >= 0.94, f"recall {got:.3f} over {n} planted pairs with Jaccard >= 0.5"
    old, _, _ = recall(planted, 0.5, DedupConfig(threshold=0.5, bands=16))
    assert old < got - 0.2  # why the bands must follow the threshold


def test_at_threshold_0_9_the_chosen_bands_find_at_least_78_percent_of_planted_near_duplicates(planted):
    got, n, _ = recall(planted, 0.9, DedupConfig(threshold=0.9))
    assert n > 60
    assert got >= 0.78, f"recall {got:.3f} over {n} planted pairs with Jaccard >= 0.9"
    cand, _, _ = recall(planted, 0.9, DedupConfig(threshold=0.9, lsh_objective="candidates"))
    assert cand < got  # datasketch's 5 × 25 bands lose pairs once s1 verifies the candidates


def test_distinct_real_paragraphs_are_rarely_merged_at_threshold_0_5(planted):
    texts, _, records = planted
    _, _, pairs = recall(planted, 0.5, DedupConfig(threshold=0.5))
    related = {(r["base"], r["variant"]) for r in records}
    false = [p for p in pairs if p not in related and jaccard(texts[p[0]], texts[p[1]]) < 0.5]
    assert len(false) <= 5, false[:5]


def test_a_planted_variant_lands_near_its_target_jaccard_and_is_never_an_exact_copy(planted):
    texts, _, records = planted
    errors = sorted(abs(r["jaccard"] - r["target"]) for r in records if r["target"] < 0.9)
    assert errors[len(errors) // 2] < 0.02  # median
    assert all(r["jaccard"] < 1.0 and r["edits"] >= 1 for r in records)
    assert {r["kind"] for r in records} == set(EDIT_KINDS)
    text = texts[0]
    again = plant_variant(text, 0.6, "mixed", random.Random(1), ["alpha", "beta"])
    assert again == plant_variant(text, 0.6, "mixed", random.Random(1), ["alpha", "beta"])


def test_with_the_candidates_objective_the_bands_are_datasketchs():
    from datasketch.lsh import _optimal_param

    for num_perm in (64, 128, 256):
        for t in (0.3, 0.5, 0.65, 0.8, 0.9, 0.95):
            for w in ((0.5, 0.5), (0.2, 0.8)):
                assert optimal_bands_rows(t, num_perm, *w, verified=False) == _optimal_param(t, num_perm, *w)


def test_the_bands_follow_the_threshold_and_enter_the_fingerprint():
    chosen = [DedupConfig(threshold=t).lsh_bands_rows for t in (0.5, 0.6, 0.7, 0.8, 0.9)]
    assert chosen == [(29, 3), (26, 4), (21, 6), (16, 8), (9, 14)]
    assert all(b * r <= 128 for b, r in chosen)
    assert DedupConfig(threshold=0.5, bands=16).lsh_bands_rows == (16, 8)
    assert DedupConfig(threshold=0.5, rows=4).lsh_bands_rows == (32, 4)
    dumped = DedupConfig(threshold=0.5).model_dump(mode="json")
    assert dumped["lsh_bands_rows"] == [29, 3]
    assert DedupConfig.model_validate(dumped) == DedupConfig(threshold=0.5)
    heavier_fn = DedupConfig(threshold=0.5, false_positive_weight=0.1, false_negative_weight=0.9).lsh_bands_rows
    assert heavier_fn[1] <= 3 and heavier_fn != (29, 3)


@pytest.mark.parametrize("threshold", [0.5, 0.9])
def test_on_real_texts_the_partitioned_path_gives_the_in_memory_clusters(planted, tmp_path, threshold):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from s1data.dedup import dedup_partitions, deduplicate

    texts, _, records = planted
    rows = sorted({r["base"] for r in records[:300]} | {r["variant"] for r in records[:300]}
                  | set(range(len(texts) - len(records) - 300, len(texts) - len(records))))
    rng = random.Random(3)
    rng.shuffle(rows)  # a variant and its base usually land in different partitions
    table = pa.table({"doc_id": [f"r{rng.randrange(10**9):09d}" for _ in rows], "text": [texts[i] for i in rows]})
    paths = []
    for p, start in enumerate(range(0, table.num_rows, 300)):
        paths.append(str(tmp_path / f"in-{p}.parquet"))
        pq.write_table(table.slice(start, 300), paths[-1])
    config = DedupConfig(threshold=threshold)
    summary = dedup_partitions(paths, tmp_path / "out", config, num_buckets=4)
    kept = pa.concat_tables(pq.read_table(p) for p in summary["kept_paths"])
    excluded = pa.concat_tables(pq.read_table(p) for p in summary["excluded_paths"])
    mem_kept, mem_excluded = deduplicate(table, config)
    assert summary["dedup_near_duplicate"] > (100 if threshold == 0.5 else 20)  # measured 29 at 0.9
    assert kept.to_pylist() == mem_kept.to_pylist() and excluded.to_pylist() == mem_excluded.to_pylist()
