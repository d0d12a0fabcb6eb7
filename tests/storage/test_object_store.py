"""Artifacts on an object store (a moto S3 server on loopback, the stand-in for S3 / MinIO / GCS) and on local disk:
the I/O helpers, the commit protocol without rename, cache hits that check the files, and `s1 gc`."""

import os
import time

import pyarrow as pa
import pytest

from storage import (CommitError, StorageRoot, file_infos, is_remote, list_files, loc, local_copy, open_storage,
                     parquet_file, read_json, read_parquet, tree_sha256, write_json, write_parquet)
from storage.gc import delete, orphans


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An artifacts root: a local folder or an s3:// prefix on the loopback server."""
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("s3_artifacts")


def test_parquet_and_json_round_trip_and_listing_are_the_same_on_disk_and_on_s3(store):
    t = pa.table({"doc_id": ["a", "b", "c"], "n": [1, 2, 3]})
    write_parquet(t, loc(store) / "ds" / "part-00001.parquet", row_group_size=2)
    write_parquet(t.slice(0, 1), loc(store) / "ds" / "part-00000.parquet")
    write_json({"k": [1, 2]}, loc(store) / "ds" / "meta.json")
    files = list_files(loc(store) / "ds")
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet"]
    assert read_parquet(files[1]).equals(t)
    assert read_parquet(loc(store) / "ds", columns=["n"]).column("n").to_pylist() == [1, 1, 2, 3]
    pf = parquet_file(files[1])
    assert pf.metadata.num_row_groups == 2 and pf.read_row_group(1).num_rows == 1
    assert read_json(loc(store) / "ds" / "meta.json") == {"k": [1, 2]}
    assert set(file_infos(loc(store) / "ds")) == {"part-00000.parquet", "part-00001.parquet", "meta.json"}
    assert is_remote(store) == store.startswith("s3://")


def test_a_tree_hashes_the_same_on_s3_as_on_local_disk(s3_artifacts, tmp_path):
    t = pa.table({"x": list(range(100))})
    for base in (str(tmp_path / "l"), s3_artifacts):  # "a/p.parquet" sorts before "a.json" as a path
        write_parquet(t, loc(base) / "a" / "p.parquet")
        write_json({"n": 100}, loc(base) / "a.json")
        write_json({"n": 100}, loc(base) / "result.json")
    assert tree_sha256(s3_artifacts) == tree_sha256(tmp_path / "l")


def test_local_copy_downloads_a_prefix_once_and_returns_local_paths_unchanged(s3_artifacts, tmp_path):
    write_json({"v": 1}, loc(s3_artifacts) / "tok" / "tokenizer.json")
    first = local_copy(loc(s3_artifacts) / "tok", tmp_path / "cache")
    assert first.is_dir() and (first / "tokenizer.json").read_text() == '{"v": 1}'
    (first / "marker").write_text("kept")  # a second call reuses the copy
    assert local_copy(loc(s3_artifacts) / "tok", tmp_path / "cache") == first and (first / "marker").exists()
    write_json({"v": 2}, loc(s3_artifacts) / "tok" / "tokenizer.json")  # new content, new copy
    second = local_copy(loc(s3_artifacts) / "tok", tmp_path / "cache")
    assert second != first and (second / "tokenizer.json").read_text() == '{"v": 2}'
    assert local_copy(tmp_path / "cache") == tmp_path / "cache"


def test_on_s3_a_commit_is_the_unique_prefix_verified_without_rename(s3_artifacts, tmp_path):
    root = StorageRoot.open(tmp_path / "home", artifacts=s3_artifacts)
    assert root.remote and root.artifacts_url == s3_artifacts
    staging = root.staging("pages", "fp1")
    assert str(staging).startswith(f"{s3_artifacts}/pages/fp1/")
    write_parquet(pa.table({"a": [1]}), staging / "pages.parquet")
    size = file_infos(staging)["pages.parquet"]
    assert root.commit(staging, "pages", "fp1", expect={"pages.parquet": size}) == staging

    other = root.staging("pages", "fp1")  # a second attempt of the same fingerprint never touches the first
    write_parquet(pa.table({"a": [2]}), other / "pages.parquet")
    with pytest.raises(CommitError, match="writer wrote"):
        root.commit(other, "pages", "fp1", expect={"pages.parquet": size + 1})
    with pytest.raises(CommitError, match="missing"):
        root.commit(other, "pages", "fp1", expect={"pages.parquet": file_infos(other)["pages.parquet"],
                                                   "figures.parquet": 10})
    with pytest.raises(CommitError, match="no file"):
        root.commit(root.staging("pages", "fp2"), "pages", "fp2")
    assert read_parquet(staging / "pages.parquet").column("a").to_pylist() == [1]


def test_on_s3_a_locally_staged_folder_is_uploaded_and_the_local_copy_removed(s3_artifacts, tmp_path):
    root = StorageRoot.open(tmp_path / "home", artifacts=s3_artifacts)
    staging = root.local_staging()
    (staging / "hf").mkdir()
    (staging / "hf" / "config.json").write_text("{}")
    want = tree_sha256(staging)
    final = root.commit(staging, "cpt_checkpoint", "fp")
    assert str(final).startswith(f"{s3_artifacts}/cpt_checkpoint/fp/") and not staging.exists()
    assert tree_sha256(final) == want


def test_a_stage_whose_files_were_deleted_from_the_store_is_redone_and_repointed(s3_artifacts, tmp_path):
    from flows.context import RunContext, RunParams, open_run, single_stage

    params = RunParams(home=str(tmp_path / "home"), artifacts=s3_artifacts)
    calls = []

    def build(dirs):
        calls.append(1)
        write_parquet(pa.table({"a": [1, 2]}), dirs["out"] / "out.parquet")
        return {"out": {"rows": 2}}

    with open_run("test", params) as ctx:
        arts, cached = single_stage(ctx, "s", "v1", {}, [], {"out": "parquet"}, build)
        first = arts["out"]
        assert not cached and first["uri"].startswith(s3_artifacts + "/out/")
        assert single_stage(ctx, "s", "v1", {}, [], {"out": "parquet"}, build)[1] is True
        fs = loc(first["uri"]).fs
        fs.rm(loc(first["uri"]).path, recursive=True)
        arts, cached = single_stage(ctx, "s", "v1", {}, [], {"out": "parquet"}, build)
    assert not cached and len(calls) == 2
    assert arts["out"]["artifact_id"] == first["artifact_id"] and arts["out"]["uri"] != first["uri"]
    assert read_parquet(loc(arts["out"]["uri"]) / "out.parquet").num_rows == 2


def test_gc_lists_only_prefixes_without_a_manifest_row_and_deletes_them_when_asked(store, tmp_path):
    root, m = open_storage(tmp_path / "home", artifacts=store)
    kept = root.staging("pages", "fpk")
    write_parquet(pa.table({"a": [1]}), kept / "pages.parquet")
    final = root.commit(kept, "pages", "fpk")
    m.record_artifact(name="pages", stage="s", fingerprint="fpk", kind="folder", uri=str(final), stage_run_id=None)
    if root.remote:  # a killed worker's attempt: written on the store, never recorded
        orphan = root.staging("pages", "fpk")
        write_parquet(pa.table({"a": [2]}), orphan / "pages.parquet")
        orphan_uri = str(orphan)
    else:  # a killed commit: renamed into place, never recorded
        orphan = root.staging()
        write_parquet(pa.table({"a": [2]}), orphan / "pages.parquet")
        orphan_uri = str(root.commit(orphan, "pages", "fpo"))
    abandoned = root.local_staging()  # a staging folder of a killed flow
    (abandoned / "x").write_text("x")

    assert orphans(root, m, older_than_s=3600) == []  # young: may belong to a run in progress
    found = orphans(root, m, older_than_s=0)
    assert {o.uri for o in found} == {orphan_uri, str(abandoned)}
    assert all(o.bytes > 0 and o.files == 1 for o in found)
    assert delete(found) == 2
    assert orphans(root, m, older_than_s=0) == []
    assert not list_files(orphan_uri) and not abandoned.exists()
    assert read_parquet(loc(str(final)) / "pages.parquet").num_rows == 1


def test_s1_gc_lists_by_default_and_deletes_with_yes(s3_artifacts, tmp_path):
    import json
    import subprocess
    import sys

    home = tmp_path / "home"
    root, m = open_storage(home, artifacts=s3_artifacts)
    orphan = root.staging("pages", "fp")
    write_parquet(pa.table({"a": [1]}), orphan / "pages.parquet")
    env = dict(os.environ, S1_HOME=str(home), S1_ARTIFACTS=s3_artifacts)

    def gc(*args):
        out = subprocess.run([sys.executable, "-m", "flows.cli", "gc", "--json", *args], env=env,
                             capture_output=True, text=True, check=True, timeout=120)
        return json.loads(out.stdout)

    listed = gc("--older-than", "0")
    assert listed["deleted"] is False and [o["uri"] for o in listed["orphans"]] == [str(orphan)]
    assert list_files(orphan)  # still there
    assert gc("--older-than", "0", "--yes", "--dry-run")["deleted"] is False and list_files(orphan)
    assert gc("--older-than", "0", "--yes")["deleted"] is True
    assert not list_files(orphan) and gc("--older-than", "0")["orphans"] == []


def test_a_stage_built_on_the_store_commits_the_prefix_its_builder_wrote(s3_artifacts, tmp_path):
    from flows.context import RunParams, open_run, single_stage

    seen = {}

    def build(dirs):
        seen.update(dirs)
        write_parquet(pa.table({"a": [1]}), f"{dirs['out']}/part-00000.parquet")  # as a Dask worker would, by URL
        return {"out": {"rows": 1}}

    with open_run("test", RunParams(home=str(tmp_path / "home"), artifacts=s3_artifacts)) as ctx:
        arts, _ = single_stage(ctx, "s", "v1", {}, [], {"out": "parquet"}, build, on_store=True)
    assert is_remote(seen["out"]) and arts["out"]["uri"] == str(seen["out"])  # verified in place, not copied
    assert not list((tmp_path / "home").rglob("*.parquet"))
