"""train_tokenizer: byte-level BPE for text plus SMILES / protein / DNA sub-vocabularies in their own id ranges."""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Iterable

from s1data.tokenizer.clean import clean_text
from s1data.tokenizer.config import MODALITIES, TAGS, TokenizerConfig
from s1data.tokenizer.detect import ScienceSpanDetector
from s1data.tokenizer.dynamic import MANIFEST_FILE, MARKERS, tokenizer_fingerprint

log = logging.getLogger(__name__)


TRAIN_SEGMENT_BATCH = 1024  # texts per segments_batch call while collecting training pieces


def _byte_level_bpe(use_regex: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=use_regex)
    tok.decoder = decoders.ByteLevel()
    return tok


def train_plain_bpe(texts: Iterable[str], vocab_size: int, special_tokens: list[str], min_frequency: int = 2):
    """A GPT-2 style byte-level BPE (regex pre-tokenizer, no normaliser): the text path and the baseline."""
    from tokenizers import pre_tokenizers, trainers

    tok = _byte_level_bpe(use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(map(clean_text, texts), trainer)  # a lone surrogate: U+FFFD (issue 18)
    return tok


def _train_science(pieces: list[str], vocab_size: int, config: TokenizerConfig):
    """Sub-vocabulary over whole spans (no regex split, so merges may cross '(', '=', digits)."""
    from tokenizers import pre_tokenizers, trainers

    tok = _byte_level_bpe(use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=config.min_frequency,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  max_token_length=config.science_max_token_chars, show_progress=False)
    tok.train_from_iterator(pieces, trainer)
    return tok


def _load_base(base_tokenizer: str | Path):
    from tokenizers import Tokenizer

    path = Path(base_tokenizer)
    if path.is_dir():
        path = path / "tokenizer.json"
    tok = Tokenizer.from_file(str(path))
    spec = json.loads(tok.to_str())
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) and "ByteLevel" in json.dumps(spec.get("decoder"))
    if spec["model"]["type"] != "BPE" or not byte_level:
        raise ValueError(f"{path}: base tokenizer must be a byte-level BPE (GPT-2 / Llama-3 / Qwen / Intern-S1 "
                         f"style); got model {spec['model']['type']} with byte_level={byte_level}. Train a new one "
                         "instead (base_tokenizer=None).")
    if spec.get("normalizer"):
        log.warning("base tokenizer %s has a normaliser (%s): encode/decode round-trips only normalised text",
                    path, spec["normalizer"].get("type"))
    return tok


@contextmanager
def rust_threads(threads: int):
    """The Rust BPE trainer on `threads` threads for the calls inside: `TOKENIZERS_PARALLELISM` is read at each
    call, `RAYON_NUM_THREADS` sizes the thread pool where the process first makes one (a process that already made
    one keeps its size). The trained tokenizer is the same at any thread count (its merges come from exact pair
    counts); only the wall time changes. Both variables are restored afterwards."""
    if threads <= 1:
        yield
        return
    keys = ("TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({"TOKENIZERS_PARALLELISM": "true", "RAYON_NUM_THREADS": str(threads)})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def train_tokenizer(texts: Iterable[str], out_dir: str | Path, config: TokenizerConfig,
                    base_tokenizer: str | Path | None = None, threads: int = 1) -> dict:
    """Train (or extend `base_tokenizer`) and write the tokenizer artifact into out_dir; returns a summary.
    `threads`: of the Rust BPE trainer (`rust_threads`; the output does not depend on it)."""
    with rust_threads(threads):
        return _train_tokenizer(texts, out_dir, config, base_tokenizer)


def _train_tokenizer(texts: Iterable[str], out_dir: str | Path, config: TokenizerConfig,
                     base_tokenizer: str | Path | None) -> dict:
    from tokenizers import AddedToken, Tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    detector = ScienceSpanDetector(config)
    # Text spans stream into the BPE trainer as they are segmented (the trainer keeps word counts, not text);
    # only the science spans, a small share, are kept for their own vocabularies.
    science: dict[str, list[str]] = {m: [] for m in MODALITIES}
    span_counts = {"text": 0, **{m: 0 for m in MODALITIES}}
    chars = dict.fromkeys(span_counts, 0)
    n_texts = 0

    def text_pieces():
        nonlocal n_texts
        it = iter(islice(texts, config.max_training_texts))
        while True:  # batches through the vectorised segmentation (the same segments as one text at a time)
            batch = [clean_text(t or "") for t in islice(it, TRAIN_SEGMENT_BATCH)]
            if not batch:
                return
            n_texts += len(batch)
            for plan in detector.segments_batch(batch):
                for kind, s in plan:
                    if kind == "special":
                        continue
                    span_counts[kind] += 1
                    chars[kind] += len(s)
                    if kind == "text":
                        yield s
                    else:
                        science[kind].append(s)

    tags = [t for m in MODALITIES for t in TAGS[m]]

    # Text vocabulary: ids [0, n_text).
    if base_tokenizer is None:
        text_tok = train_plain_bpe(text_pieces(), config.vocab_size, [config.eos_token, config.pad_token, *tags],
                                   config.min_frequency)
    else:
        for _ in text_pieces():  # the science spans are still needed
            pass
        text_tok = _load_base(base_tokenizer)
        missing = [t for t in [config.eos_token, config.pad_token, *tags] if text_tok.token_to_id(t) is None]
        text_tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])
    spec = json.loads(text_tok.to_str())
    n_text = 1 + max([*spec["model"]["vocab"].values(), *(t["id"] for t in spec["added_tokens"])])

    # Scientific vocabularies: each range follows the previous one.
    ranges = {"text": [0, n_text]}
    sizes = {"smiles": config.smiles_vocab_size, "protein": config.protein_vocab_size, "dna": config.dna_vocab_size}
    start = n_text
    files = ["tokenizer.json"]
    for modality in MODALITIES:
        sub = _train_science(science[modality], sizes[modality], config)
        local = sub.get_vocab()
        if sorted(local.values()) != list(range(len(local))):
            raise RuntimeError(f"{modality} sub-vocabulary ids are not contiguous")
        for token, i in local.items():
            spec["model"]["vocab"][MARKERS[modality] + token] = start + i
        sub.save(str(out / f"{modality}.tokenizer.json"))
        files.append(f"{modality}.tokenizer.json")
        ranges[modality] = [start, start + len(local)]
        start += len(local)
    marker_class = "[" + "".join(MARKERS.values()) + "]"
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"Regex": marker_class}, "content": ""}, spec["decoder"]]}
    combined = Tokenizer.from_str(json.dumps(spec))
    combined.save(str(out / "tokenizer.json"))

    special_ids = {t: combined.token_to_id(t) for t in [config.eos_token, config.pad_token, *tags]}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": config.eos_token, "pad_token": config.pad_token,
        "clean_up_tokenization_spaces": False, "model_max_length": 1_000_000_000}, indent=2))
    files.append("tokenizer_config.json")
    manifest = {
        "format": "s1-dynamic-tokenizer-1", "vocab_size": start, "ranges": ranges, "special_token_ids": special_ids,
        "markers": MARKERS, "config": config.model_dump(), "files": [*files, MANIFEST_FILE],
        "base_tokenizer": str(base_tokenizer) if base_tokenizer is not None else None,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=True))

    log.info("tokenizer trained on %d texts: spans %s", n_texts, span_counts)
    return {
        "vocab_size": start,
        "vocab_sizes": {k: b - a for k, (a, b) in ranges.items()},
        "ranges": ranges,
        "special_token_ids": special_ids,
        "eos_id": special_ids[config.eos_token],
        "pad_id": special_ids[config.pad_token],
        "files": manifest["files"],
        "training_texts": n_texts,
        "training_spans": span_counts,
        "training_chars": chars,
        "fingerprint": tokenizer_fingerprint(out),
    }
