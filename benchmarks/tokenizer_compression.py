"""Characters per token: dynamic tokenizer vs plain byte-level BPE, per domain and modality.

Corpus, all offline:
- general: English prose from /usr/share/doc (READMEs, copyright files, *.txt/*.md) and Python stdlib docstrings;
- chemistry: RDKit's bundled molecules (Data/NCI/first_5K.smi and the Contrib *.smi files) plus randomised
  (non-canonical) SMILES of them written by RDKit, inside short templated sentences, half tagged
  <SMILES>…</SMILES>, half untagged (found by detection).
Molecules are split by molecule (90% train / 10% held out); general documents likewise.

Baselines: GPT-2 style byte-level BPE trained on the same training texts, (a) with the dynamic tokenizer's total
vocabulary size, (b) with its text vocabulary size.

    python benchmarks/tokenizer_compression.py [--text-vocab 16000] [--smiles-vocab 2048] [--general-mb 6]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s1data.tokenizer import TokenizerConfig, compression_report, train_tokenizer  # noqa: E402

TEMPLATES = [
    "The compound {s} was synthesised in {y}% yield and characterised by NMR.",
    "Docking of {s} into the active site gave a score of -{y}.{y} kcal/mol.",
    "We screened {s} against the kinase panel; inhibition at 10 uM was {y}%.",
    "Starting from {s}, the reaction with NaBH4 in methanol afforded the alcohol.",
    "Table {y} lists {s} among the hits with IC50 below 1 uM.",
]


def general_texts(max_bytes: int, rng: random.Random) -> list[str]:
    files = sorted(p for p in Path("/usr/share/doc").rglob("*") if p.is_file() and not p.name.endswith(".gz")
                   and (p.suffix in (".txt", ".md", ".rst") or p.name.startswith("README") or p.name == "copyright"))
    rng.shuffle(files)
    docs, total = [], 0
    for p in files:
        try:
            t = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for chunk in (t[i:i + 4000] for i in range(0, min(len(t), 40000), 4000)):
            docs.append(chunk)
            total += len(chunk)
        if total >= max_bytes:
            break
    for m in sorted(sys.stdlib_module_names):
        if m.startswith("_") or m in ("antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"):
            continue
        try:
            mod = importlib.import_module(m)
        except Exception:  # noqa: BLE001 - platform-specific modules
            continue
        for obj in vars(mod).values():
            d = getattr(obj, "__doc__", None)
            if isinstance(d, str) and len(d) > 200 and (inspect.isclass(obj) or inspect.isfunction(obj)):
                docs.append(d)
    return sorted(set(docs))


def molecules(rng: random.Random) -> list[str]:
    from rdkit import Chem, RDConfig, RDLogger

    RDLogger.DisableLog("rdApp.*")
    files = [Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi", *sorted(Path(RDConfig.RDContribDir).rglob("*.smi"))]
    mols = set()
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            tok = line.split()[0] if line.split() else ""
            m = Chem.MolFromSmiles(tok) if tok else None
            if m is not None and m.GetNumHeavyAtoms() >= 3:
                mols.add(Chem.MolToSmiles(m))
    return sorted(mols)


def chemistry_docs(mols: list[str], rng: random.Random, tagged_share: float = 0.5) -> list[str]:
    from rdkit import Chem

    docs = []
    for i, smi in enumerate(mols):
        variants = [smi, Chem.MolToSmiles(Chem.MolFromSmiles(smi), doRandom=True, canonical=False)]
        sents = []
        for v in variants:
            s = f"<SMILES>{v}</SMILES>" if rng.random() < tagged_share else v
            sents.append(rng.choice(TEMPLATES).format(s=s, y=rng.randint(1, 99)))
        docs.append(" ".join(sents))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text-vocab", type=int, default=16000)
    ap.add_argument("--smiles-vocab", type=int, default=2048)
    ap.add_argument("--general-mb", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    general = general_texts(int(args.general_mb * 1e6), rng)
    mols = molecules(rng)
    rng.shuffle(general)
    rng.shuffle(mols)
    g_cut, m_cut = len(general) * 9 // 10, len(mols) * 9 // 10
    train = general[:g_cut] + chemistry_docs(mols[:m_cut], rng)
    held_out = {"general": general[g_cut:], "chemistry": chemistry_docs(mols[m_cut:], rng)}
    print(f"corpus: {len(general)} general docs ({sum(map(len, general)) / 1e6:.1f} MB), {len(mols)} molecules; "
          f"train {len(train)} docs, held out {sum(map(len, held_out.values()))} docs")
    config = TokenizerConfig(vocab_size=args.text_vocab, smiles_vocab_size=args.smiles_vocab)
    with tempfile.TemporaryDirectory() as out:
        t1 = time.perf_counter()
        summary = train_tokenizer(train, out, config)
        print(f"trained in {time.perf_counter() - t1:.1f}s: vocab {summary['vocab_sizes']} total "
              f"{summary['vocab_size']}; training spans {summary['training_spans']}")
        for label, size in [("same total vocab", summary["vocab_size"]), ("same text vocab", args.text_vocab)]:
            rows = compression_report(out, held_out, baseline_vocab_size=size, baseline_texts=train)
            print(f"\n### baseline: plain byte-level BPE, {label} ({rows[0]['baseline_vocab_size']})\n")
            print("| domain | modality | chars | dynamic tokens | baseline tokens | dynamic chars/token | "
                  "baseline chars/token | gain |")
            print("|---|---|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                print(f"| {r['domain']} | {r['modality']} | {r['chars']} | {r['dynamic_tokens']} | "
                      f"{r['baseline_tokens']} | {r['dynamic_chars_per_token']:.3f} | "
                      f"{r['baseline_chars_per_token']:.3f} | {r['gain'] * 100:+.1f}% |")
    print(f"\nwall time {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
