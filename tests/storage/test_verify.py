"""A cache hit checks the artifact against what was committed: per-file sizes always, sha256 within a budget."""

import json
import random

import pytest

from storage import StorageRoot, file_digests, tree_sha256, verify_digests
from storage.io import tree_sha256_of


@pytest.fixture
def folder(tmp_path):
    rng = random.Random(0)
    d = tmp_path / "art"
    (d / "sub").mkdir(parents=True)
    for i in range(5):
        (d / ("sub" if i % 2 else "") / f"part-{i}.parquet").write_bytes(rng.randbytes(rng.randint(10, 5000)))
    return d


def test_file_digests_give_the_tree_hash_of_the_commit(folder):
    digests = file_digests(folder)
    assert tree_sha256_of({rel: sha for rel, (_, sha) in digests.items()}) == tree_sha256(folder)
    assert verify_digests(folder, digests) is None


@pytest.mark.parametrize("seed", range(5))
def test_any_tampering_is_found_a_deleted_added_resized_or_rewritten_file(folder, seed):
    rng = random.Random(seed)
    digests = file_digests(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    victim = rng.choice(files)
    how = rng.choice(["delete", "add", "append", "same_size"])
    if how == "delete":
        victim.unlink()
    elif how == "add":
        (folder / "extra.parquet").write_bytes(b"x")
    elif how == "append":
        victim.write_bytes(victim.read_bytes() + b"!")
    else:  # what `COPY ... TO` over a parquet file of the same size would do
        data = bytearray(victim.read_bytes())
        data[rng.randrange(len(data))] ^= 0xFF
        victim.write_bytes(bytes(data))
    problem = verify_digests(folder, digests)
    assert problem is not None, how


def test_files_over_the_hash_budget_are_checked_by_size_only(folder):
    digests = file_digests(folder)
    victim = max(folder.rglob("*.parquet"), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[0] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert verify_digests(folder, digests, hash_budget_bytes=0) is None  # sizes agree: a listing only
    assert "sha256 differs" in verify_digests(folder, digests, hash_budget_bytes=1 << 30)


def test_a_manifest_row_is_checked_against_its_recorded_files(tmp_path, folder):
    root = StorageRoot.open(tmp_path / "home")
    row = {"uri": str(folder), "files_json": json.dumps(file_digests(folder))}
    assert root.check(row) is None
    (folder / "part-0.parquet").unlink()
    assert "missing" in root.check(row)
    assert root.check({"uri": str(tmp_path / "gone"), "files_json": None}) == "its files are gone"
