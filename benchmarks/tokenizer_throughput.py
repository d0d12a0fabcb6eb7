"""Tokens per second per core: DynamicTokenizer.encode_batch and write_shards vs plain `tokenizers` encode_batch.

Same corpus as tokenizer_compression.py. One Rust thread (RAYON_NUM_THREADS=1) so the figures are per core.

    python benchmarks/tokenizer_throughput.py [--mb 8] [--text-vocab 16000]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers is imported: per-core figures

import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tokenizer_compression import chemistry_docs, general_texts, molecules  # noqa: E402

from s1data.shards import ShardConfig, write_shards  # noqa: E402
from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer  # noqa: E402


def rate(fn, texts, repeat: int = 2) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn(texts)
        best = min(best, time.perf_counter() - t)
    return n / best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0)
    ap.add_argument("--text-vocab", type=int, default=16000)
    args = ap.parse_args()
    import pyarrow as pa

    rng = random.Random(0)
    general = general_texts(int(args.mb * 1e6), rng)
    chem = chemistry_docs(molecules(rng), rng)
    with tempfile.TemporaryDirectory() as tmp:
        train_tokenizer(general[:1500] + chem[:3000], Path(tmp) / "tok", TokenizerConfig(vocab_size=args.text_vocab))
        dyn = load_tokenizer(Path(tmp) / "tok")
        from tokenizers import Tokenizer

        plain = Tokenizer.from_file(str(Path(tmp) / "tok" / "tokenizer.json"))
        print(f"RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}")
        print("| corpus | MB | path | tokens | tokens/s |")
        print("|---|---:|---|---:|---:|")
        for name, texts in [("general", general), ("chemistry", chem)]:
            mb = sum(map(len, texts)) / 1e6
            r, n = rate(lambda ts: sum(len(e.ids) for e in plain.encode_batch(ts, add_special_tokens=False)), texts)
            print(f"| {name} | {mb:.1f} | plain tokenizers encode_batch (text path only) | {n} | {r / 1e6:.2f}M |")
            r, n = rate(lambda ts: sum(map(len, dyn.encode_batch(ts))), texts)
            print(f"| {name} | {mb:.1f} | DynamicTokenizer.encode_batch | {n} | {r / 1e6:.2f}M |")
            docs = pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts,
                             "domain": [name] * len(texts), "source_kind": ["web"] * len(texts)})

            def shards(_, docs=docs):
                out = tempfile.mkdtemp(dir=tmp)
                return sum(s["tokens"] for s in write_shards(docs, Path(tmp) / "tok", out,
                                                              ShardConfig(seq_len=4096), seed=0))
            r, n = rate(shards, None)
            print(f"| {name} | {mb:.1f} | write_shards (tokenize + pack + zstd parquet) | {n} | {r / 1e6:.2f}M |")


if __name__ == "__main__":
    main()
