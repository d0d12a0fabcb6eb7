"""DynamicTokenizer: text BPE plus scientific sub-vocabularies with their own id ranges (Intern-S1 style).

Artifact layout (a tokenizer directory):
- `tokenizer.json`        standard HF tokenizer: the text BPE, the special/tag tokens, and every scientific token as
                          an unreachable vocabulary entry `<marker><byte-level string>` at its global id. Encoding
                          with it gives the text-path ids; decoding it gives back any dynamic id sequence exactly.
- `<modality>.tokenizer.json`  the sub-tokenizers (local ids; global id = local id + range start).
- `dynamic_tokenizer.json`     ranges, special ids, detection config, file list.
- `tokenizer_config.json`      so `AutoTokenizer.from_pretrained(dir)` loads the directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from itertools import chain
from pathlib import Path

import numpy as np

from s1data.cache import cache_bound
from s1data.tokenizer.clean import clean_text, clean_texts
from s1data.tokenizer.config import MODALITIES, TAGS, TokenizerConfig
from s1data.tokenizer.detect import ScienceSpanDetector
from s1data.tokenizer.fast_bpe import merge_pairs, tiktoken_backend

log = logging.getLogger(__name__)

MANIFEST_FILE = "dynamic_tokenizer.json"
# Private-use characters that prefix scientific tokens inside tokenizer.json; a Replace decoder strips them.
MARKERS = {"smiles": "\ue000", "protein": "\ue001", "dna": "\ue002"}
BPE_WORD_CACHE = cache_bound(1 << 18)  # words memoised by the text BPE (~100 B each); scaled by $S1_CACHE_MB


def tokenizer_fingerprint(tokenizer_dir: str | Path) -> str:
    """sha256 over tokenizer.json and every extra file the dynamic tokenizer reads (names and bytes)."""
    root = Path(tokenizer_dir)
    files = ["tokenizer.json"]
    if (root / MANIFEST_FILE).exists():
        manifest = json.loads((root / MANIFEST_FILE).read_text())
        files += sorted(f for f in manifest["files"] if f != "tokenizer.json")
    h = hashlib.sha256()
    for name in files:
        h.update(name.encode() + b"\0")
        h.update((root / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class DynamicTokenizer:
    """encode/decode over the text vocabulary and the SMILES / protein / DNA sub-vocabularies."""

    def __init__(self, tokenizer_dir: str | Path):
        from tokenizers import Tokenizer

        root = Path(tokenizer_dir)
        if root.is_file():  # a bare tokenizer.json: text path only
            root = root.parent
        self.path = root
        self._text = _with_word_cache(Tokenizer.from_file(str(root / "tokenizer.json")))
        self._text.encode_special_tokens = True  # "<|endoftext|>" typed in a document is text, not EOS
        self._text.no_padding()
        self._text.no_truncation()
        # Exact tiktoken backends per vocabulary (fast_bpe.py); kind -> TiktokenBPE, and why a kind has none.
        self._fast: dict[str, object] = {}
        self.bpe_backend: dict[str, str] = {}
        self._use_tiktoken("text", root / "tokenizer.json", self._text)
        self._subs: dict[str, tuple[object, int]] = {}
        if (root / MANIFEST_FILE).exists():
            manifest = json.loads((root / MANIFEST_FILE).read_text())
            self.config = TokenizerConfig.model_validate(manifest["config"])
            for modality in MODALITIES:
                start, _ = manifest["ranges"][modality]
                sub = Tokenizer.from_file(str(root / f"{modality}.tokenizer.json"))
                sub.no_padding()
                sub.no_truncation()
                self._subs[modality] = (sub, start)
                self._use_tiktoken(modality, root / f"{modality}.tokenizer.json", sub)
            self.ranges = {k: tuple(v) for k, v in manifest["ranges"].items()}
            self.vocab_size = int(manifest["vocab_size"])
            self.eos_id = int(manifest["special_token_ids"][self.config.eos_token])
            self.pad_id = int(manifest["special_token_ids"][self.config.pad_token])
            self._detector: ScienceSpanDetector | None = ScienceSpanDetector(self.config)
        else:
            self.config = TokenizerConfig()
            self.vocab_size = self._text.get_vocab_size(with_added_tokens=True)
            self.ranges = {"text": (0, self.vocab_size)}
            self.eos_id = self._text.token_to_id(self.config.eos_token)
            self.pad_id = self._text.token_to_id(self.config.pad_token)
            if self.pad_id is None:
                self.pad_id = self.eos_id
            self._detector = None
        self._special_ids = {tok: self._text.token_to_id(tok) for pair in TAGS.values() for tok in pair}

    def __repr__(self) -> str:
        return f"DynamicTokenizer({str(self.path)!r}, vocab_size={self.vocab_size}, ranges={self.ranges})"

    def _use_tiktoken(self, kind: str, file: Path, hf) -> None:
        raw = file.read_bytes()
        fast, why = tiktoken_backend(json.loads(raw), hf, key=hashlib.sha256(raw).hexdigest())
        if fast is None:
            self.bpe_backend[kind] = f"tokenizers ({why})"
            level = logging.INFO if why.startswith("S1_TEXT_BPE=") else logging.WARNING
            log.log(level, "%s: %s BPE stays on HF tokenizers (tiktoken not used: %s)", file, kind, why)
        else:
            self._fast[kind] = fast
            self.bpe_backend[kind] = "tiktoken"

    def _encode_pieces(self, kind: str, pieces: list[str]) -> list[list[int]]:
        """Local ids of each piece with the `kind` vocabulary (tiktoken where it is exact, else HF)."""
        fast = self._fast.get(kind)
        if fast is not None:
            return fast.encode_batch(pieces)
        return [e.ids for e in self._encoder(kind).encode_batch_fast(pieces, add_special_tokens=False)]

    def segments(self, text: str) -> list[tuple[str, str]]:
        """(kind, string) pieces of text as the encoder sees them; kinds: text|smiles|protein|dna|special."""
        text = clean_text(text)
        if self._detector is None:
            return [("text", text)]
        return self._detector.segments(text)

    def segments_batch(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        """`[self.segments(t) for t in texts]`, computed for the whole batch at once (much faster)."""
        texts = clean_texts(texts)
        if self._detector is None:
            return [[("text", t)] for t in texts]
        return self._detector.segments_batch(texts)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Encode many strings: one id list per string (see `encode_flat` for the numpy form)."""
        ids, lengths = self.encode_flat(texts)
        flat = ids.tolist()
        ends = np.cumsum(lengths).tolist()
        return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends)]

    def encode_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Encode many strings into (ids int32, lengths int64): string i is ids[sum(lengths[:i]):][:lengths[i]].

        Segmentation runs once for the batch; then each vocabulary encodes all its pieces of every string (a string
        with no scientific span is one text piece) with tiktoken where it is exact (`bpe_backend`), else one Rust
        `encode_batch_fast` call; ids are stitched with numpy.
        """
        plans = self.segments_batch(list(texts))
        pieces: dict[str, list[str]] = {"text": [], **{m: [] for m in self._subs}}
        # Output order of the pieces: (kind, index into pieces[kind]) or ("special", id).
        order: list[tuple[str, int]] = []
        doc_parts = np.empty(len(plans), dtype=np.int64)
        for d, plan in enumerate(plans):
            for kind, s in plan:
                if kind == "special":
                    order.append(("special", self._special_ids[s]))
                else:
                    order.append((kind, len(pieces[kind])))
                    pieces[kind].append(s)
            doc_parts[d] = len(plan)
        encoded = {kind: self._encode_pieces(kind, ps) for kind, ps in pieces.items() if ps}
        offset = {kind: (self._subs[kind][1] if kind in self._subs else 0) for kind in encoded}
        parts: list[list[int]] = []
        shifts: list[int] = []
        for kind, i in order:
            if kind == "special":
                parts.append([i])
                shifts.append(0)
            else:
                parts.append(encoded[kind][i])
                shifts.append(offset[kind])
        part_lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        total = int(part_lens.sum())
        ids = np.fromiter(chain.from_iterable(parts), dtype=np.int32, count=total)
        if any(shifts):
            ids += np.repeat(np.asarray(shifts, dtype=np.int32), part_lens)
        doc_ends = np.cumsum(doc_parts)
        part_ends = np.concatenate([[0], np.cumsum(part_lens)])
        lengths = np.diff(np.concatenate([[0], part_ends[doc_ends]])) if len(plans) else np.zeros(0, np.int64)
        return ids, lengths.astype(np.int64)

    def _encoder(self, kind: str):
        return self._text if kind == "text" else self._subs[kind][0]

    def encode_modality(self, modality: str, pieces: list[str]) -> list[list[int]]:
        """Encode pieces that are already known to be of one modality (global ids)."""
        pieces = clean_texts(pieces)
        if modality == "text":
            return self._encode_pieces("text", pieces)
        start = self._subs[modality][1]
        return [[i + start for i in ids] for ids in self._encode_pieces(modality, pieces)]

    def decode(self, ids: list[int]) -> str:
        return self._text.decode(list(ids), skip_special_tokens=False)

    def modality_of(self, token_id: int) -> str:
        for name, (a, b) in self.ranges.items():
            if a <= token_id < b:
                return name
        raise ValueError(f"token id {token_id} is outside every range {self.ranges}")


def _with_word_cache(tok, capacity: int = BPE_WORD_CACHE):
    """`tok` with a BPE word cache of `capacity` words (tokenizers' default: 10 000). The cache only memoises the
    merges of a pre-tokenized word, so ids are unchanged; it is kept only if the rebuilt model serialises exactly
    as the loaded one (no option lost)."""
    from tokenizers import models

    spec = json.loads(tok.to_str())["model"]
    if spec.get("type") != "BPE" or spec.get("dropout"):
        return tok
    loaded = tok.model
    try:
        merges = merge_pairs(spec)
        options = {k: spec[k] for k in ("unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
                                        "byte_fallback", "ignore_merges") if spec.get(k) is not None}
        tok.model = models.BPE(vocab=spec["vocab"], merges=merges, cache_capacity=capacity, **options)
        if json.loads(tok.to_str())["model"] == spec:
            return tok
    except Exception:  # noqa: BLE001 - an option this code does not know: keep the loaded model
        pass
    tok.model = loaded
    return tok


def load_tokenizer(path: str | Path) -> DynamicTokenizer:
    """Load a tokenizer artifact directory (or a plain tokenizer.json, text path only)."""
    return DynamicTokenizer(path)
