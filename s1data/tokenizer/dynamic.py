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
from pathlib import Path

from s1data.tokenizer.config import MODALITIES, TAGS, TokenizerConfig
from s1data.tokenizer.detect import ScienceSpanDetector

MANIFEST_FILE = "dynamic_tokenizer.json"
# Private-use characters that prefix scientific tokens inside tokenizer.json; a Replace decoder strips them.
MARKERS = {"smiles": "\ue000", "protein": "\ue001", "dna": "\ue002"}


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
        self._text = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._text.encode_special_tokens = True  # "<|endoftext|>" typed in a document is text, not EOS
        self._text.no_padding()
        self._text.no_truncation()
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

    def segments(self, text: str) -> list[tuple[str, str]]:
        """(kind, string) pieces of text as the encoder sees them; kinds: text|smiles|protein|dna|special."""
        if self._detector is None:
            return [("text", text)]
        return self._detector.segments(text)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Encode many strings: segment in Python, then one Rust batch call per vocabulary."""
        plans = [self.segments(t) for t in texts]
        pieces: dict[str, list[str]] = {"text": [], **{m: [] for m in self._subs}}
        for plan in plans:
            for kind, s in plan:
                if kind != "special":
                    pieces[kind].append(s)
        encoded = {kind: iter(self.encode_modality(kind, ps)) for kind, ps in pieces.items() if ps}
        out: list[list[int]] = []
        for plan in plans:
            ids: list[int] = []
            for kind, s in plan:
                if kind == "special":
                    ids.append(self._special_ids[s])
                else:
                    ids.extend(next(encoded[kind]))
            out.append(ids)
        return out

    def encode_modality(self, modality: str, pieces: list[str]) -> list[list[int]]:
        """Encode pieces that are already known to be of one modality (global ids)."""
        if modality == "text":
            return [e.ids for e in self._text.encode_batch(pieces, add_special_tokens=False)]
        sub, start = self._subs[modality]
        return [[i + start for i in e.ids] for e in sub.encode_batch(pieces, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self._text.decode(list(ids), skip_special_tokens=False)

    def modality_of(self, token_id: int) -> str:
        for name, (a, b) in self.ranges.items():
            if a <= token_id < b:
                return name
        raise ValueError(f"token id {token_id} is outside every range {self.ranges}")


def load_tokenizer(path: str | Path) -> DynamicTokenizer:
    """Load a tokenizer artifact directory (or a plain tokenizer.json, text path only)."""
    return DynamicTokenizer(path)
