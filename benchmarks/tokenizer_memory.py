"""Peak memory of tokenizer training on a large curated sample: held (before) against streamed (now), side by side.

    nice -n 5 .venv/bin/python benchmarks/tokenizer_memory.py --chars 400e6 --before-ref 0c1481f \
        --out benchmarks/results/tokenizer_memory.json

Issue 17: at 20 GB of WARC the tokenize flow's process peaked at 6.3 GiB, because the training sample (bounded by
`tokenizer.max_training_chars`, default 1e9 characters) was read into one list of texts, and the trainer's input
then copied into a list of segmented spans. Now the sample's ids are picked first (ids and text lengths only) and the
chosen texts stream through segmentation into the Rust BPE trainer, which keeps word counts.

What runs: a curated-like dataset (doc_id, text; --parts parquet files) of --chars characters, built from the 21k real
texts of ../shared/data/science-dev (each document a random run of real paragraphs with a random document number,
so the vocabulary grows with size as a web corpus's does); then, each in a fresh process, the tokenize stage's build
(sample + train, the default TokenizerConfig but --vocab): "before" with the code of --before-ref (a detached git
worktree), "after" with this checkout. Measured per variant: peak RSS of the process (ru_maxrss), wall and CPU
seconds, and whether the two tokenizers' files are byte-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from before_after import checkout, finish, run_child, science_dev_texts

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from s1data.tokenizer import TokenizerConfig, train_tokenizer
import s1data.tokenizer.sample as sample
cfg = TokenizerConfig(vocab_size=int(sys.argv[4]))
t0, c0 = time.perf_counter(), time.process_time()
if hasattr(sample, "iter_sample_texts"):
    texts = sample.iter_sample_texts(sys.argv[2], cfg.max_training_texts or 2**62, cfg.max_training_chars, cfg.sample_seed)
else:
    texts = sample.sample_texts(sys.argv[2], cfg.max_training_texts or 2**62, cfg.max_training_chars, cfg.sample_seed)
info = train_tokenizer(texts, sys.argv[3], cfg)
print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "training_texts": info["training_texts"], "training_chars": info["training_chars"],
                  "vocab_size": info["vocab_size"], "streamed": hasattr(sample, "iter_sample_texts")}))
"""


def build_dataset(folder: Path, chars: int, parts: int, seed: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    paras = [p for t in science_dev_texts() for p in t.split("\n") if len(p) > 40]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per_part, n_docs, total = chars // parts, 0, 0
    for k in range(parts):
        ids, texts, got = [], [], 0
        while got < per_part:
            doc = "\n".join(rng.choice(paras) for _ in range(rng.randint(3, 12)))
            doc += f"\nRecord {rng.randrange(10**9)}-{rng.randrange(10**6)} of archive {k}."
            ids.append(f"p{k}-d{n_docs}")
            texts.append(doc)
            got += len(doc)
            n_docs += 1
        pq.write_table(pa.table({"doc_id": ids, "text": texts}), folder / f"part-{k:05d}.parquet")
        total += got
    return {"docs": n_docs, "chars": total, "parts": parts, "paragraphs": len(paras)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chars", type=float, default=400e6, help="characters in the curated dataset")
    ap.add_argument("--parts", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--before-ref", default="0c1481f", help="the commit whose tokenizer training held the sample")
    ap.add_argument("--work", default=None, help="folder for the dataset and worktree (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="tokmem-"))
    data = work / f"curated-{int(a.chars)}"
    t0 = time.perf_counter()
    if (data / "DONE.json").exists():
        corpus = json.loads((data / "DONE.json").read_text())
    else:
        corpus = build_dataset(data, int(a.chars), a.parts, a.seed)
        (data / "DONE.json").write_text(json.dumps(corpus))
    print(f"corpus {corpus} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    before_root = checkout(a.before_ref, work / f"before-{a.before_ref}")
    res = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores",
           "command": " ".join(sys.argv), "corpus": corpus, "before_ref": a.before_ref, "vocab": a.vocab}
    for name, root in (("before", before_root), ("after", REPO)):
        res[name] = run_child(root, CHILD, data, work / f"tok-{name}", a.vocab)
        print(name, res[name], file=sys.stderr, flush=True)
    files = sorted(p.name for p in (work / "tok-after").iterdir() if p.is_file())
    res["identical_files"] = all((work / "tok-before" / n).read_bytes() == (work / "tok-after" / n).read_bytes()
                                 for n in files)
    finish(res, a.out)


if __name__ == "__main__":
    main()
