"""Tiny token shards written with the s1 shard contract, and helpers to run the trainer in subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_shard(path: str, n_rows: int, seq_len: int, vocab: int, seed: int = 0) -> str:
    """Rows of 1-4 documents; each repeats a short random motif over ids 1..31, so the loss falls within a few steps
    (unigram: ln 256 -> ln 31, then copying the motif)."""
    rng = np.random.default_rng(seed)
    ids, lens = [], []
    for _ in range(n_rows):
        cuts = sorted(rng.choice(np.arange(8, seq_len - 8), size=rng.integers(0, 4), replace=False).tolist())
        doc_lens = np.diff([0, *cuts, seq_len]).tolist()
        row = []
        for n in doc_lens:
            motif = rng.integers(1, min(32, vocab), size=rng.integers(2, 5))
            row.extend(np.resize(motif, n).tolist())
        ids.append(row)
        lens.append(doc_lens)
    table = pa.table({
        "input_ids": pa.array(ids, type=pa.list_(pa.int32())),
        "doc_lens": pa.array(lens, type=pa.list_(pa.int32())),
        "domains": pa.array([["chemistry"] * len(x) for x in lens], type=pa.list_(pa.string())),
        "doc_ids": pa.array([[f"d{i}-{j}" for j in range(len(x))] for i, x in enumerate(lens)],
                            type=pa.list_(pa.string())),
    }).replace_schema_metadata({"s1.tokenizer_fingerprint": "test-tokenizer", "s1.seq_len": str(seq_len)})
    pq.write_table(table, path)
    return path


@pytest.fixture
def tiny_shards(tmp_path) -> list[str]:
    return [write_shard(str(tmp_path / f"shard-{i}.parquet"), 48, 64, 256, seed=i) for i in range(2)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int) -> dict:
    env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def entry_argv(config_json: str, shards: list[str], out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "s1model.train_entry", "--config", config_json, "--shards", *shards,
            "--out", out, *extra]


def spawn(argv: list[str], rank: int = 0, world: int = 1, port: int | None = None, log: str | None = None):
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(argv, env=rank_env(rank, world, port or free_port()), cwd=REPO, stdout=out,
                            stderr=subprocess.STDOUT)


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    torch.set_num_threads(2)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped on CPU-only machines")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
