"""Open-ended prompts from a curated artifact join the bootcamp's rl_prompts, so the mixture has rule-verified,
reward-model and LLM-judge sources; each is scored by its route. Curated documents here are real labelled science
texts from ../shared/data/science-dev (read at test time)."""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.bootcamp import BootcampFlowParams, bootcamp_flow
from flows.context import RunParams, open_run, single_stage
from s1model.rl.rewards import RewardRouter
from storage import open_storage, read_parquet


def _curated_from_science_dev(shared_data: Path, n: int = 30) -> pa.Table:
    rows = []
    with gzip.open(shared_data / "science-dev" / "docs.jsonl.gz", "rt") as f:
        for line in f:
            d = json.loads(line)
            if d["label"] != "non_science" and len(d["text"]) > 1500:
                rows.append({"doc_id": f"d{len(rows)}", "text": d["text"], "domain": d["label"]})
                if len(rows) == n:
                    break
    return pa.Table.from_pylist(rows)


def test_open_ended_prompts_from_curated_documents_join_the_mixture_with_three_routes(home, shared_data):
    table = _curated_from_science_dev(shared_data)

    def write(dirs):
        pq.write_table(table, dirs["curated"] / "part-00000.parquet")
        return {"curated": {"rows": table.num_rows}}

    with open_run("seed", RunParams(home=str(home))) as ctx:
        single_stage(ctx, "curate", "test-seed", {"n": table.num_rows}, [], {"curated": "parquet"}, write)

    out = bootcamp_flow(BootcampFlowParams(home=str(home), bootcamp={
        "tasks": ["tail_compare", "bio_translation"], "max_configs": 4, "n_per_config": 2,
        "open_ended": {"curated": "curated", "n_per_doc": 1}}))
    assert set(out["data_sources"]) == {"bootcamp", "open/rm", "open/judge"}
    assert out["open_ended"]["open_rm"] > 10 and out["open_ended"]["open_judge"] > 10

    _, m = open_storage(home)
    rl = read_parquet(Path(m.resolve_artifact("rl_prompts")["uri"]) / "prompts.parquet").to_pylist()
    opens = [r for r in rl if r["data_source"].startswith("open/")]
    assert all(r["reference"] and r["reference"] not in r["prompt"] for r in opens)  # the answer is not given away
    assert all(r["reference"] is None for r in rl if not r["data_source"].startswith("open/"))
    assert {r["data_source"].split("/")[2] for r in opens} <= {"math", "physics", "chemistry", "life", "earth",
                                                               "materials"}
    ancestors = {a["name"] for a in m.ancestors(m.resolve_artifact("rl_prompts")["artifact_id"])}
    assert "curated" in ancestors

    router = RewardRouter()
    sources = set()
    for r in opens[:6] + [x for x in rl if x["data_source"].startswith("bootcamp/")][:2]:
        res = router.score({**r, "response": "<think>x</think>\\boxed{" + (r["reference"] or "") + "}"})
        sources.add(res.source)
        if r["data_source"].startswith("open/"):
            assert res.score == 1.0  # the reference itself is a perfect answer for both stand-ins
    assert sources == {"bootcamp", "reward_model_standin", "llm_judge_standin"}


def test_the_pipeline_draws_open_ended_prompts_from_its_own_curated_documents(home, shared_data):
    """With bootcamp.open_ended.curated set, the pipeline runs the bootcamp stage after curation on this run's
    curated artifact (the PDFs and WARCs of ../shared/data), so rl_prompts descends from it."""
    from flows.pipeline import PipelineParams, demo_params, pipeline_flow

    params = demo_params(str(home))
    params.update(train=False, bootcamp={**params["bootcamp"], "open_ended": {"curated": "curated", "max_docs": 20}})
    out = pipeline_flow(PipelineParams(**params))
    assert out["curate"]["kept"] >= 4
    assert out["bootcamp"]["open_ended"]["open_rm"] > 0 and "bootcamp" in out["bootcamp"]["data_sources"]

    _, m = open_storage(home)
    curated = m.resolve_artifact(out["curate"]["artifacts"]["curated"])
    ancestors = {a["artifact_id"] for a in m.ancestors(m.resolve_artifact("rl_prompts")["artifact_id"])}
    assert curated["artifact_id"] in ancestors
