"""Tokens per second per core: DynamicTokenizer and write_shards vs plain `tokenizers` and plain `tiktoken`, same text.

Same corpora as tokenizer_compression.py: `general` (/usr/share/doc prose + stdlib docstrings, no scientific span)
and `chemistry` (RDKit molecules in sentences, half tagged <SMILES>, half untagged). One process, one Rust thread
(RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false: encoding runs on the calling thread), so every figure is per
core. Each figure is the best of --repeat runs taken in turn (the machine may be shared: compare figures of one run);
`cold` is the first run after clearing the RDKit validation cache (what a corpus of new molecules costs).

Paths: plain `tokenizers` encode_batch / encode_batch_fast and plain `tiktoken` encode_ordinary_batch
(num_threads=1) on the text BPE alone (the tiktoken Encoding our loader builds from the same tokenizer.json: ids
are checked equal to HF's); DynamicTokenizer.encode_flat and write_shards with the text and science BPEs on tiktoken
(the default where exact) and on HF tokenizers (S1_TEXT_BPE=hf).

    python benchmarks/tokenizer_throughput.py [--mb 4] [--text-vocab 16000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers is imported: per-core figures
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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
from s1data.tokenizer.detect import smiles_is_valid  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=4.0, help="MB of general text")
    ap.add_argument("--text-vocab", type=int, default=16000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import pyarrow as pa
    import tiktoken
    import tokenizers
    from tokenizers import Tokenizer

    rng = random.Random(0)
    general = general_texts(int(args.mb * 1e6), rng)
    chem = chemistry_docs(molecules(rng), rng)
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tok"
        train_tokenizer(general[:1500] + chem[:3000], tok_dir, TokenizerConfig(vocab_size=args.text_vocab))
        dyn = load_tokenizer(tok_dir)
        os.environ["S1_TEXT_BPE"] = "hf"
        dyn_hf = load_tokenizer(tok_dir)
        del os.environ["S1_TEXT_BPE"]
        if set(dyn.bpe_backend.values()) != {"tiktoken"}:
            sys.exit(f"tiktoken is not used: {dyn.bpe_backend}")
        plain = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        plain.encode_special_tokens = True
        tt = dyn._fast["text"].encoding  # tiktoken.Encoding of the text BPE
        print(f"RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']} "
              f"TOKENIZERS_PARALLELISM={os.environ['TOKENIZERS_PARALLELISM']} repeat={args.repeat} "
              f"tokenizers {tokenizers.__version__} tiktoken {tiktoken.__version__}")
        print("| corpus | MB | path | tokens | tokens/s (best) | MB/s | vs plain encode_batch | cold tokens/s |")
        print("|---|---:|---|---:|---:|---:|---:|---:|")
        for name, texts in [("general", general), ("chemistry", chem)]:
            docs = pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts,
                             "domain": [name] * len(texts), "source_kind": ["web"] * len(texts)})
            ref_ids = [e.ids for e in plain.encode_batch_fast(texts, add_special_tokens=False)]
            if tt.encode_ordinary_batch(texts, num_threads=1) != ref_ids:
                sys.exit("plain tiktoken ids differ from plain tokenizers ids")
            if dyn.encode_batch(texts) != dyn_hf.encode_batch(texts):
                sys.exit("DynamicTokenizer ids differ between the tiktoken and HF backends")

            def shards(ts, docs=docs, backend="auto"):  # document tokens written, EOS not counted (one per document)
                out = tempfile.mkdtemp(dir=tmp)
                os.environ["S1_TEXT_BPE"] = backend  # the writer caches one tokenizer per backend mode
                try:
                    written = write_shards(docs, tok_dir, out, ShardConfig(seq_len=4096), seed=0)
                finally:
                    del os.environ["S1_TEXT_BPE"]
                return sum(s["tokens"] for s in written) - docs.num_rows

            def flat(ts, tok):
                return sum(int(tok.encode_flat(ts[i:i + 1024])[1].sum()) for i in range(0, len(ts), 1024))
            paths = {
                "plain tokenizers encode_batch (text BPE only)":
                    lambda ts: sum(len(e.ids) for e in plain.encode_batch(ts, add_special_tokens=False)),
                "plain tokenizers encode_batch_fast (text BPE only)":
                    lambda ts: sum(len(e.ids) for e in plain.encode_batch_fast(ts, add_special_tokens=False)),
                "plain tiktoken encode_ordinary_batch, 1 thread (text BPE only)":
                    lambda ts: sum(map(len, tt.encode_ordinary_batch(ts, num_threads=1))),
                "DynamicTokenizer.encode_flat, HF backend (1024 docs a call)": lambda ts: flat(ts, dyn_hf),
                "DynamicTokenizer.encode_flat, tiktoken backend (1024 docs a call)": lambda ts: flat(ts, dyn),
                "write_shards, HF backend": lambda ts: shards(ts, backend="hf"),
                "write_shards, tiktoken backend (tokenize + mix + pack + zstd parquet)": shards,
            }
            mb = sum(map(len, texts)) / 1e6
            cold: dict[str, float] = {}
            best = dict.fromkeys(paths, float("inf"))
            tokens: dict[str, int] = {}
            for r in range(args.repeat):
                for label, fn in paths.items():  # in turn, so a busy moment hits every path alike
                    if r == 0:
                        smiles_is_valid.cache_clear()
                    t = time.perf_counter()
                    tokens[label] = fn(texts)
                    dt = time.perf_counter() - t
                    best[label] = min(best[label], dt)
                    if r == 0:
                        cold[label] = tokens[label] / dt
            first = next(iter(paths))
            ref = tokens[first] / best[first]
            for label in paths:
                rate = tokens[label] / best[label]
                print(f"| {name} | {mb:.1f} | {label} | {tokens[label]} | {rate / 1e6:.2f}M | {mb / best[label]:.2f} "
                      f"| {rate / ref:.2f} | {cold[label] / 1e6:.2f}M |")


if __name__ == "__main__":
    main()
