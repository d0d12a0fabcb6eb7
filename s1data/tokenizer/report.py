"""compression_report: characters per token, per domain and modality, dynamic tokenizer vs a plain BPE."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from s1data.tokenizer.config import MODALITIES
from s1data.tokenizer.dynamic import load_tokenizer
from s1data.tokenizer.train import train_plain_bpe


def compression_report(tokenizer_dir: str | Path, texts_by_domain: dict[str, list[str]], baseline_vocab_size: int,
                       baseline_texts: Iterable[str] | None = None) -> list[dict]:
    """One row per (domain, modality) plus domain 'ALL': chars, tokens and chars/token of both tokenizers.

    The baseline is a GPT-2 style byte-level BPE of `baseline_vocab_size` trained on `baseline_texts` (default: all
    texts of the report). Modality rows encode each span on its own with both tokenizers; modality 'all' encodes
    whole documents (tags included). gain = dynamic chars/token / baseline chars/token - 1.
    """
    dyn = load_tokenizer(tokenizer_dir)
    corpus = list(baseline_texts) if baseline_texts is not None else [t for ts in texts_by_domain.values() for t in ts]
    base = train_plain_bpe(corpus, baseline_vocab_size, [dyn.config.eos_token, dyn.config.pad_token],
                           dyn.config.min_frequency)

    def base_len(pieces: list[str]) -> int:
        return sum(len(e.ids) for e in base.encode_batch(pieces, add_special_tokens=False))

    totals: dict[str, list[int]] = {}
    rows: list[dict] = []
    for domain, texts in texts_by_domain.items():
        pieces: dict[str, list[str]] = {"all": list(texts), "text": [], **{m: [] for m in MODALITIES}}
        for t in texts:
            for kind, s in dyn.segments(t):
                if kind != "special":
                    pieces[kind].append(s)
        for modality, ps in pieces.items():
            chars = sum(map(len, ps))
            if not chars:
                continue
            dyn_tokens = sum(map(len, dyn.encode_batch(ps) if modality == "all" else dyn.encode_modality(modality, ps)))
            rows.append(_row(domain, modality, chars, dyn_tokens, base_len(ps)))
            acc = totals.setdefault(modality, [0, 0, 0])
            acc[0] += chars
            acc[1] += dyn_tokens
            acc[2] += rows[-1]["baseline_tokens"]
    rows += [_row("ALL", m, c, d, b) for m, (c, d, b) in totals.items()]
    for r in rows:
        r.update(dynamic_vocab_size=dyn.vocab_size, baseline_vocab_size=base.get_vocab_size())
    return rows


def _row(domain: str, modality: str, chars: int, dyn_tokens: int, base_tokens: int) -> dict:
    d_cpt = chars / max(dyn_tokens, 1)
    b_cpt = chars / max(base_tokens, 1)
    return {"domain": domain, "modality": modality, "chars": chars, "dynamic_tokens": dyn_tokens,
            "baseline_tokens": base_tokens, "dynamic_chars_per_token": round(d_cpt, 4),
            "baseline_chars_per_token": round(b_cpt, 4), "gain": round(d_cpt / b_cpt - 1, 4)}
