"""Flows with their artifacts on an object store: a moto S3 server on loopback (the stand-in for S3 / MinIO / GCS),
the manifest in a local home. Workers write partitions straight to the store; lineage, caching and the CLI work as
on local disk, and the artifacts hash the same as a local run's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import is_remote, list_files, loc, open_storage, read_dataset, tree_sha256

S1 = [sys.executable, "-m", "flows.cli"]


def _s1(home: Path, *args: str) -> dict:
    env = dict(os.environ, S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    env.pop("PREFECT_API_URL", None)
    out = subprocess.run([*S1, *args], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _local_files(home: Path) -> list[Path]:
    """Files under the local home other than the manifest, Prefect's own, the CLI's log file and the pid files of
    s1 processes (procs/, removed by each owner's reaper once it is gone): what a worker or a commit left."""
    return [p for p in home.rglob("*") if p.is_file() and not p.name.startswith("manifest.duckdb")
            and not {"prefect", "logs", "procs"} & set(p.relative_to(home).parts)]


def test_s1_run_pdf_then_web_on_s3_records_lineage_and_reruns_from_cache(tmp_path, shared_data, s3_artifacts):
    home = tmp_path / "home"
    pdf = _s1(home, "run", "pdf", "--input", str(shared_data / "pdf"), "--artifacts", s3_artifacts, "--json",
              "--set", "n_workers=1")
    assert pdf["cached"] is False and pdf["mined_partitions"] == len(list((shared_data / "pdf").glob("*.pdf")))
    web = _s1(home, "run", "web", "--input", str(shared_data / "warc"), "--artifacts", s3_artifacts, "--json",
              "--set", "n_workers=1")
    assert web["files"] == 16 and web["pages"] == 9

    _, m = open_storage(home, read_only=True)
    rows = m.query("SELECT name, uri, content_sha256 FROM artifacts WHERE kind <> 'source'")
    assert rows and all(r["uri"].startswith(s3_artifacts + "/") for r in rows)
    for r in rows:  # every recorded artifact is on the store, with the bytes it was recorded with
        assert tree_sha256(r["uri"]) == r["content_sha256"], r["name"]
    assert _local_files(home) == []  # nothing written to the flow's disk: partitions and merges are on the store

    lineage = _s1(home, "lineage", "documents", "--json")
    assert lineage["artifact"]["uri"].startswith(s3_artifacts)
    sources = [a for a in lineage["ancestors"] if a["name"] == "source_pdf"]
    assert len(sources) == pdf["files"] and all(len(a["content_sha256"]) == 64 for a in sources)
    assert {a["name"] for a in lineage["ancestors"]} == {"pdf_pages", "pdf_partition", "source_pdf"}

    again = _s1(home, "rerun", pdf["run_id"], "--json")  # a rerun keeps its run's store: all from cache
    assert again["cached"] is True and again["pages"] == pdf["pages"] and again["mined_partitions"] == 0
    assert _local_files(home) == []


@pytest.fixture
def outside_cluster(tmp_path):
    """A Dask cluster of separate worker processes whose working and temporary folders are their own."""
    from distributed import Client, LocalCluster

    wdir = tmp_path / "workers"
    wdir.mkdir()
    env = {"TMPDIR": str(wdir), "TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(wdir), env=env) as cluster, Client(cluster) as client:
        client.run(os.chdir, str(wdir))
        yield cluster.scheduler_address, wdir, client


def test_workers_of_another_folder_write_partitions_only_to_the_store_and_match_a_local_run(
        tmp_path, shared_data, s3_artifacts, outside_cluster):
    from flows.pdf import PdfFlowParams, pdf_flow
    from flows.web import WebFlowParams, web_flow

    address, wdir, client = outside_cluster
    cwds = client.run(os.getcwd)
    assert set(cwds.values()) == {str(wdir)} and os.getcwd() != str(wdir)
    home, ref = tmp_path / "home", tmp_path / "ref"
    web_flow(WebFlowParams(home=str(home), artifacts=s3_artifacts, input=[str(shared_data / "warc")],
                           dask_address=address))
    pdf_flow(PdfFlowParams(home=str(home), artifacts=s3_artifacts, input=[str(shared_data / "pdf")],
                           dask_address=address))
    assert _local_files(home) == []
    leftovers = [p for p in wdir.rglob("*") if p.is_file() and p.suffix in (".parquet", ".json")]
    assert leftovers == []  # the PDF workers' scratch folders were uploaded and removed

    web_flow(WebFlowParams(home=str(ref), input=[str(shared_data / "warc")], n_workers=1))
    pdf_flow(PdfFlowParams(home=str(ref), input=[str(shared_data / "pdf")], n_workers=1))
    _, m = open_storage(home, read_only=True)
    _, r = open_storage(ref, read_only=True)
    for name in ("web_pages", "documents"):
        on_s3, local = m.resolve_artifact(name), r.resolve_artifact(name)
        assert is_remote(on_s3["uri"]) and not is_remote(local["uri"])
        assert on_s3["content_sha256"] == tree_sha256(on_s3["uri"]) and on_s3["fingerprint"] == local["fingerprint"]
    # web pages are a pure function of the bytes: the same file on the store as on disk
    assert m.resolve_artifact("web_pages")["content_sha256"] == r.resolve_artifact("web_pages")["content_sha256"]
    # PDF routes can fall back on a time budget when the machine is loaded, so compare what does not
    docs = [read_dataset(x.resolve_artifact("documents")["uri"], "documents-",
                         columns=["doc_id", "source_sha256", "n_pages"]) for x in (m, r)]
    assert docs[0].equals(docs[1]) and docs[0].num_rows == 4
    parts = m.query("SELECT uri FROM artifacts WHERE name = 'web_partition'")
    assert len(parts) == 16 and all(list_files(loc(p["uri"])) for p in parts)


def test_tokenizer_and_shard_partitions_on_s3_equal_a_local_run_and_train_reads_them_locally(
        tmp_path, s3_artifacts):
    """Shard partitions written by Dask workers to the store (tokenizer fetched by content, shards uploaded), the
    merged token_shards a server-side copy; shard_paths gives the trainer local files with the same bytes."""
    import pyarrow.parquet as pq

    from flows.tokens import TokenizeFlowParams, shard_paths, tokenize_flow
    from s1data.shards import ShardConfig
    from s1data.tokenizer import TokenizerConfig
    from storage import write_parquet
    from tests.s1data.shards.conftest import make_docs

    tiny = TokenizerConfig(vocab_size=500, smiles_vocab_size=300, protein_vocab_size=280, dna_vocab_size=270)
    docs = make_docs(300)
    outs = {}
    for where, artifacts in (("s3", s3_artifacts), ("local", None)):
        home = tmp_path / where
        root, m = open_storage(home, artifacts=artifacts)
        staging = root.staging("curated", "fp-curated")
        write_parquet(docs, staging / "curated.parquet", row_group_size=100)
        final = root.commit(staging, "curated", "fp-curated")
        m.record_artifact(name="curated", stage="curate", fingerprint="fp-curated", kind="parquet", uri=str(final),
                          stage_run_id=None, rows=docs.num_rows, content_sha256=tree_sha256(final))
        out = tokenize_flow(TokenizeFlowParams(home=str(home), artifacts=artifacts, tokenizer=tiny, n_workers=2,
                                               seed=3, shards=ShardConfig(seq_len=64, partition_docs=100)))
        assert out["token_shards"]["partitions"] == 3
        outs[where] = (m, out)
    (m3, o3), (ml, ol) = outs["s3"], outs["local"]
    assert o3["token_shards"]["tokens"] == ol["token_shards"]["tokens"]
    for name in ("tokenizer", "token_shards"):
        a3, al = m3.resolve_artifact(name), ml.resolve_artifact(name)
        assert a3["uri"].startswith(s3_artifacts) and a3["content_sha256"] == al["content_sha256"], name
    parts = m3.query("SELECT uri FROM artifacts WHERE name = 'token_shards_partition'")
    assert len(parts) == 3 and all(p["uri"].startswith(s3_artifacts) for p in parts)
    local = shard_paths(m3.resolve_artifact("token_shards"))
    assert all(Path(p).is_file() for p in local) and len(local) >= 3
    assert [pq.read_table(p).equals(pq.read_table(q)) for p, q in
            zip(local, shard_paths(ml.resolve_artifact("token_shards")))] == [True] * len(local)
    assert _local_files(tmp_path / "s3") and all(  # only the trainer's download cache is local
        "cache" in p.relative_to(tmp_path / "s3").parts for p in _local_files(tmp_path / "s3"))
