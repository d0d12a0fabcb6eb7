r"""An exact tiktoken backend for the byte-level BPE text path of a HF `tokenizer.json`.

tiktoken's Rust BPE is several times faster than `tokenizers` on the same vocabulary, but it is a different
algorithm on paper, so it is used only where it provably gives the same ids. `tiktoken_backend(spec, hf)` returns
`(TiktokenBPE, "")` or `(None, reason)`; the caller logs the reason and keeps HF. The checks:

1. **Configuration** (everything HF does before the BPE has a tiktoken equivalent): no normaliser or NF(K)C/D
   (applied with `unicodedata`; a piece with a code point unassigned in Python's Unicode database goes to HF);
   pre-tokenizer `ByteLevel(add_prefix_space=False)` with `use_regex=True` (tiktoken `pat_str` = the GPT-2 regex
   HF uses) or `use_regex=False` (`[\s\S]+`: the whole string, as in the science sub-vocabularies), or
   `Sequence[Split(Regex P, Isolated), ByteLevel(add_prefix_space=False, use_regex=False)]` (`pat_str` = P,
   Llama-3 / Qwen style); model BPE without dropout, subword prefix / suffix or byte fallback; added
   tokens: only special ones (the text path encodes them as text), or non-special ones without lstrip / rstrip /
   single_word, which are split out first exactly as HF's added vocabulary does (leftmost-longest, special matches
   skipped, raw then normalised).
2. **Merges, exhaustively**: the 256 bytes are tokens; merge i produces a token no other merge produces; the ids of
   merged tokens increase with the merge priority (so tiktoken's rank = our id, and its "lowest rank first" is HF's
   "lowest merge first"). Every merged token, encoded alone by HF's merges (no `ignore_merges` shortcut), must give
   itself; tokens that do not ("unreachable": HF never emits them inside a word) are left out of tiktoken's ranks.
   Under these conditions the two algorithms make the same merge at every step: if tiktoken could join two adjacent
   tokens x, y into a token c that no rule (x, y) makes, HF's run on c alone would pass through [x, y] and stop
   there, so c would be unreachable. tiktoken's whole-word shortcut (a pre-tokenized word that is a token is that
   token) equals HF's `ignore_merges`, and equals plain merges for reachable tokens; a vocabulary entry HF could
   only emit through that shortcut (not reachable, `ignore_merges=True`) means no tiktoken.
3. **Probe** (`probe_texts`): on a fixed set of strings (every ASCII/Latin-1 pair, a sample of every Unicode plane
   in several contexts, whitespace runs, digits, contractions in every case, code, emoji, CJK, combining marks,
   science text, the vocabulary itself) the regex pieces of HF's pre-tokenizer and tiktoken's must be identical
   (compared with a tiktoken built from HF's pieces), and so must the ids.

`encode_batch` calls the Rust core directly; if it raises (a lone surrogate, a regex backtracking limit), the batch
is encoded with HF instead, so ids never differ and errors are HF's.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

# The regex of HF `pre_tokenizers.ByteLevel(use_regex=True)` (tokenizers/src/pre_tokenizers/byte_level.rs).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
WHOLE_PATTERN = r"[\s\S]+"  # ByteLevel(use_regex=False): the whole string is one word (the science sub-vocabularies)
BACKEND_ENV = "S1_TEXT_BPE"  # auto (default) | hf | tiktoken (tiktoken: raise instead of falling back)
PROBE_PREFIXES = ("regex pieces differ", "ids differ")  # the probe's verdicts (kept across processes)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map used by every byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class TiktokenBPE:
    """The text path of a HF byte-level BPE on tiktoken: `encode_batch(pieces)` gives the HF ids."""

    def __init__(self, encoding, hf, normalize: str | None, added: "_AddedSplitter | None", dropped: int):
        self.encoding = encoding  # tiktoken.Encoding (plain `encode_ordinary_batch` for benchmarks)
        self._core = encoding._core_bpe
        self._hf = hf
        self._normalize = normalize
        self._added = added
        self.unreachable_tokens = dropped

    def with_hf(self, hf) -> "TiktokenBPE":
        """The same encoder with another HF tokenizer (of the same file) as its fallback and decoder."""
        return TiktokenBPE(self.encoding, hf, self._normalize, self._added, self.unreachable_tokens)

    def __repr__(self) -> str:
        return (f"TiktokenBPE(n_vocab={self.encoding.n_vocab}, normalize={self._normalize}, "
                f"added_token_split={self._added is not None}, unreachable_tokens={self.unreachable_tokens})")

    def encode_batch(self, pieces: list[str], strict: bool = False) -> list[list[int]]:
        """HF's ids of each piece; `strict`: raise instead of falling back to HF when tiktoken fails."""
        try:
            if self._added is None and self._normalize is None:
                enc = self._core.encode_ordinary
                return [enc(p) for p in pieces]
            return [self._encode_one(p) for p in pieces]
        except Exception as e:  # noqa: BLE001 - HF decides (same ids, or HF's own error)
            if strict:
                raise
            log.debug("tiktoken failed on a batch (%s: %s): HF encodes it", type(e).__name__, e)
            return [e.ids for e in self._hf.encode_batch_fast(pieces, add_special_tokens=False)]

    def _encode_one(self, text: str) -> list[int]:
        if self._normalize is not None and not text.isascii() and max(text) >= _FIRST_UNASSIGNED \
                and _unassigned().search(text):
            # A code point Python's Unicode database does not know: HF's tables may normalise it differently.
            return self._hf.encode(text, add_special_tokens=False).ids
        if self._added is None:
            return self._core.encode_ordinary(self._norm(text))
        out: list[int] = []
        for seg, tid in self._added.split(text, self._norm):
            if tid is not None:
                out.append(tid)
            elif seg:
                out.extend(self._core.encode_ordinary(seg))
        return out

    def _norm(self, text: str) -> str:
        if self._normalize is None or text.isascii() or unicodedata.is_normalized(self._normalize, text):
            return text
        return unicodedata.normalize(self._normalize, text)


_FIRST_UNASSIGNED = next(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cn")


@lru_cache(maxsize=1)
def _unassigned():
    """Regex of the code points unassigned (Cn) in Python's `unicodedata`. Normalisation is stable for assigned
    characters across Unicode versions, so a string without them normalises alike here and in HF's tables."""
    ranges, start = [], None
    for c in range(0x110001):
        un = c < 0x110000 and unicodedata.category(chr(c)) == "Cn"
        if un and start is None:
            start = c
        elif not un and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(c - 1))}")
            start = None
    return re.compile("[" + "".join(ranges) + "]")


class _AddedSplitter:
    """HF's AddedVocabulary split (encode_special_tokens=True): tokens matched leftmost-longest, first those with
    normalized=False on the raw text, then those with normalized=True on each normalised remainder; a special
    token's match is skipped (stays text, and shadows any overlapping match, like HF's non-overlapping scan)."""

    def __init__(self, added_tokens: list[dict]):
        self._ids = {t["content"]: (t["id"], bool(t.get("special"))) for t in added_tokens}
        self._raw = self._regex([t["content"] for t in added_tokens if not t.get("normalized", True)])
        self._normed = self._regex([t["content"] for t in added_tokens if t.get("normalized", True)])

    @staticmethod
    def _regex(contents: list[str]):
        contents = sorted({c for c in contents if c}, key=lambda c: (-len(c.encode()), c))
        return re.compile("|".join(map(re.escape, contents))) if contents else None

    def _split(self, text: str, regex):
        if regex is None:
            yield text, None
            return
        start = 0
        for m in regex.finditer(text):
            tid, special = self._ids[m.group()]
            if special:
                continue
            yield text[start:m.start()], None
            yield m.group(), tid
            start = m.end()
        yield text[start:], None

    def split(self, text: str, norm):
        for seg, tid in self._split(text, self._raw):
            if tid is not None:
                yield seg, tid
            elif seg:
                yield from self._split(norm(seg), self._normed)


def _pattern(spec: dict) -> tuple[str | None, str]:
    """tiktoken pat_str equal to the HF pre-tokenizer, or (None, why not)."""
    pre = spec.get("pre_tokenizer")
    if pre and pre.get("type") == "Sequence" and len(pre.get("pretokenizers", [])) == 1:
        pre = pre["pretokenizers"][0]
    if not pre:
        return None, "no pre-tokenizer"
    if pre.get("type") == "ByteLevel":
        if pre.get("add_prefix_space"):
            return None, "ByteLevel add_prefix_space=True"
        return (GPT2_PATTERN if pre.get("use_regex", True) else WHOLE_PATTERN), ""
    if pre.get("type") == "Sequence" and len(pre["pretokenizers"]) == 2:
        split, bl = pre["pretokenizers"]
        if (split.get("type") == "Split" and "Regex" in split.get("pattern", {}) and split.get("behavior") == "Isolated"
                and not split.get("invert") and bl.get("type") == "ByteLevel" and not bl.get("add_prefix_space")
                and not bl.get("use_regex", True)):
            return split["pattern"]["Regex"], ""
    return None, f"pre-tokenizer {json.dumps(pre)[:200]} has no tiktoken pattern"


def _normalizer(spec: dict) -> tuple[str | None, str]:
    norm = spec.get("normalizer")
    while norm and norm.get("type") == "Sequence" and len(norm.get("normalizers", [])) <= 1:
        norm = norm["normalizers"][0] if norm["normalizers"] else None
    if not norm:
        return None, ""
    if norm.get("type") in ("NFC", "NFKC", "NFD", "NFKD"):
        return norm["type"], ""
    return None, f"normaliser {norm.get('type')} has no Python equivalent here"


_BUILT: dict[str, tuple] = {}  # sha256 of the tokenizer.json -> (TiktokenBPE without its HF tokenizer, or None; why)
CACHE_ENV = "S1_CACHE_DIR"  # where the probe's verdicts are kept across processes (default ~/.cache/s1)


def verdict_path(state: str) -> Path:
    """The file holding the probe's verdict for `state` (`_probe_state`: the tokenizer's sha256 and everything the
    probe's outcome depends on: the regex, normaliser, added-token split, the ranks, this code and the library
    versions): under $S1_CACHE_DIR, else $XDG_CACHE_HOME/s1 or ~/.cache/s1. The probe costs ~1.5 CPU-s per
    process; every Dask worker that loads the same tokenizer then reads the verdict instead."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "s1")
    return Path(root) / "tiktoken-verdicts" / f"{state}.json"


@lru_cache(maxsize=1)
def _code_sha256() -> str:
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _probe_state(key: str, pat_str: str, normalize: str | None, splitter: "_AddedSplitter | None",
                 ranks: dict[bytes, int], dropped: int) -> str:
    import hashlib

    import tiktoken
    import tokenizers

    h = hashlib.sha256()
    split = [None if r is None else r.pattern for r in (splitter._raw, splitter._normed)] if splitter else None
    h.update(json.dumps([key, pat_str, normalize, split, dropped, tiktoken.__version__, tokenizers.__version__,
                         unicodedata.unidata_version, _code_sha256()]).encode())
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        h.update(rank.to_bytes(8, "little") + len(tok).to_bytes(4, "little") + tok)
    return h.hexdigest()


def _read_verdict(state: str) -> str | None:
    try:
        return json.loads(verdict_path(state).read_text())["why"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_verdict(state: str, why: str) -> None:
    path = verdict_path(state)
    try:  # atomic: a concurrent reader sees the whole file or none
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"why": why}))
        os.replace(tmp, path)
    except OSError as e:  # a read-only home: the probe simply runs again in the next process
        log.debug("tiktoken verdict not cached at %s: %s", path, e)


def tiktoken_backend(spec: dict, hf, key: str | None = None) -> tuple[TiktokenBPE | None, str]:
    """A TiktokenBPE exactly equal to `hf` (a `tokenizers.Tokenizer` of `spec`, encode_special_tokens=True), or
    (None, the reason it is not used). `key` (the sha256 of the tokenizer.json) memoises the verdict in this
    process and, across processes, the probe's verdict in a file (`verdict_path`): a later process builds the
    backend (configuration and exhaustive merge checks included) and reads the probe's outcome.
    Environment S1_TEXT_BPE: `auto` (default), `hf` (never tiktoken), `tiktoken` (raise rather than fall back)."""
    mode = os.environ.get(BACKEND_ENV, "auto").lower()
    if mode == "hf":
        return None, f"{BACKEND_ENV}=hf"
    if key is not None and key in _BUILT:
        fast, why = _BUILT[key]
    else:
        fast, why = _build_checked(spec, hf, key)
        if key is not None:  # the memo keeps no HF tokenizer alive
            _BUILT[key] = (fast.with_hf(None) if fast is not None else None, why)
    if fast is None:
        if mode == "tiktoken":
            raise RuntimeError(f"{BACKEND_ENV}=tiktoken but tiktoken is not exact here: {why}")
        return None, why
    return fast.with_hf(hf), ""


def _build_checked(spec: dict, hf, key: str | None = None) -> tuple[TiktokenBPE | None, str]:
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken is not installed"
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return None, f"model {model.get('type')} is not BPE"
    for key in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            return None, f"BPE option {key}={model[key]!r}"
    if model.get("byte_fallback"):
        return None, "BPE byte_fallback=True"
    pat_str, why = _pattern(spec)
    if pat_str is None:
        return None, why
    normalize, why = _normalizer(spec)
    if why:
        return None, why
    added = spec.get("added_tokens") or []
    plain_added = [t for t in added if not t.get("special")]
    splitter = None
    if plain_added:
        flagged = [t["content"] for t in added if t.get("lstrip") or t.get("rstrip") or t.get("single_word")]
        if flagged:
            return None, f"added tokens with lstrip/rstrip/single_word: {flagged[:5]}"
        splitter = _AddedSplitter(added)

    ranks, dropped, why = _mergeable_ranks(model, hf)
    if ranks is None:
        return None, why
    try:
        encoding = tiktoken.Encoding(name="s1-text-bpe", pat_str=pat_str, mergeable_ranks=ranks, special_tokens={})
        fast = TiktokenBPE(encoding, hf, normalize, splitter, dropped)
        state = _probe_state(key, pat_str, normalize, splitter, ranks, dropped) if key is not None else None
        known = _read_verdict(state) if state is not None else None
        why = known if known is not None else _probe_mismatch(fast, hf, spec, pat_str)
        if state is not None and known is None and (not why or why.startswith(PROBE_PREFIXES)):
            _write_verdict(state, why)
    except Exception as e:  # noqa: BLE001 - e.g. a regex fancy-regex rejects
        why = f"tiktoken could not be built or run: {type(e).__name__}: {e}"
    if why:
        return None, why
    return fast, ""


def merge_pairs(model: dict) -> list[tuple[str, str]]:
    """The merges of a tokenizer.json BPE model as pairs (both serialisations: ["a", "b"] and "a b")."""
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model.get("merges", [])]


def _mergeable_ranks(model: dict, hf) -> tuple[dict[bytes, int] | None, int, str]:
    """{token bytes: id} for tiktoken, after the exhaustive merge checks (module docstring, point 2)."""
    from tokenizers import Tokenizer, models

    vocab: dict[str, int] = model["vocab"]
    b2u = bytes_to_unicode()
    u2b = {c: b for b, c in b2u.items()}
    ranks: dict[bytes, int] = {}
    for b, c in b2u.items():
        if c not in vocab:
            return None, 0, f"byte {b:#04x} ({c!r}) is not in the vocabulary"
        ranks[bytes([b])] = vocab[c]
    merges = merge_pairs(model)
    produced: list[str] = []
    seen: set[str] = set(b2u.values())
    last = -1
    for a, b in merges:
        c = a + b
        if c not in vocab:
            return None, 0, f"merge {a!r} {b!r} makes {c!r}, which is not in the vocabulary"
        if c in seen:
            return None, 0, f"token {c!r} is made by two merges (or is a byte)"
        if vocab[c] <= last:
            return None, 0, f"ids are not in merge order at {c!r} (id {vocab[c]} after {last})"
        if any(ch not in u2b for ch in c):
            return None, 0, f"merged token {c!r} is not byte-level"
        seen.add(c)
        produced.append(c)
        last = vocab[c]
    # Reachability: each merged token, encoded alone with plain merges, must be itself.
    checker = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    got = checker.encode_batch_fast(produced, add_special_tokens=False) if produced else []
    dropped = 0
    for c, e in zip(produced, got):
        if e.ids == [vocab[c]]:
            ranks[bytes(u2b[ch] for ch in c)] = vocab[c]
        else:
            dropped += 1
    if dropped and model.get("ignore_merges"):
        return None, 0, (f"{dropped} tokens are reachable only through ignore_merges' whole-word shortcut "
                         "(tiktoken would reach them inside words too)")
    byte_level = set(u2b)
    extra = [t for t in vocab if t not in seen and set(t) <= byte_level and len(t) > 1]
    if extra and model.get("ignore_merges"):
        return None, 0, f"vocabulary entries made by no merge but emitted by ignore_merges: {extra[:5]}"
    return ranks, dropped, ""


def probe_texts(spec: dict | None = None, seed: int = 0) -> list[str]:
    """The fixed self-check strings (module docstring, point 3)."""
    rng = random.Random(seed)
    texts: list[str] = []
    ascii_chars = [chr(i) for i in range(128)]
    texts.append("".join(a + b for a in ascii_chars for b in ascii_chars))  # every ASCII pair
    latin = [chr(i) for i in range(128, 0x250)]
    texts.append(" ".join(a + b + "a" for a in latin for b in ("", "a", "1", " ", "\u0301")))
    cps = [c for c in range(0x250, 0x110000, 211) if not 0xD800 <= c < 0xE000]
    for ctx in ("{c}", "a{c}b", " {c}1", "{c}{c} ", "'{c}", "1{c}", "\n{c}\t"):
        texts.append("".join(ctx.format(c=chr(c)) for c in cps))
    texts += [
        "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Re 'VE 'M 'LL 'D 'ſ 'K 'İ 'ı don't I'M we'Re it’s ''s '",
        *(("x" + " " * n + "y" + "\t" * n + "z" + "\n" * n + " " * n) for n in range(1, 18)),
        " leading and trailing   ",
        "\r\n\r\n \r\n\t \u00a0 \u3000x\u2028y\u2029\u200b\u202f\u205f\u1680 z \x0b\x0c\x85 \x1c\x1d\x1e\x1f",
        "   \n   \n", "a  \n\n  b", " " * 300 + "x", "\t" * 50, "\n" * 70 + "end",
        "0 1 12 123 1234 12345 123456789012345678901234567890 3.14159 1,000,000 -42 1e-9 0x1F ²³ ½ ٣٤٥ १२३ １２３ Ⅻ",
        "def f(x: int) -> dict[str, list[int]]:\n    return {'a': [x ** 2, x // 3]}  # comment\n",
        '{"key": [1, 2.5, null, true], "nested": {"k": "v\\n"}}\n#include <stdio.h>\nint main(){return 0;}\n',
        "emoji 🧪🧬👩‍🔬👍🏽🇫🇷🏳️‍🌈 ❤️ ✔︎ 🤖🤖🤖", "中文测试，日本語のテキスト、한국어 텍스트 ไทย हिन्दी العربية עברית",
        "café cafe\u0301 naïve nai\u0308ve Å Å ﬁ ｆｕｌｌ Ǆ ẞ ß ﬀ Ω Ω", "e\u0301\u0301\u0323 a\u0300 \u1100\u1161\u11a8",
        "CC(=O)Oc1ccccc1C(=O)O <SMILES>CCO</SMILES> MQIFVKTLTGKTITLEVEPSDTIENVKAK ACGTTGCAACGGTACC <|endoftext|>",
        ">sp|P12345| protein\nMSKGEELFTGVVPILVELDGDVNGHKFSVSGEG\n[Na+].[Cl-] C[C@@H](O)c1ccccc1 ΔG = −3.2 kJ·mol⁻¹ ±5%",
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX. Ünïcödé. https://x.org/a?b=c&d=e#f",
    ]
    alphabet = "aAzZ09 \t\n\r'’-_.,;:!?()[]{}<>/\\|@#$%^&*+=~`\"éßøЖжλΩ中日한🧪\u0301\u200b\u00a0\u3000"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(200)]
    if spec is not None:  # the vocabulary itself, as text, in runs
        u2b = {c: b for b, c in bytes_to_unicode().items()}
        toks = [t for t in spec["model"]["vocab"] if set(t) <= u2b.keys()]
        toks = toks[:: max(1, len(toks) // 8000)]
        raw = b"".join(bytes(u2b[ch] for ch in t) for t in toks)
        texts += [raw[i:i + 2000].decode("utf-8", "replace") for i in range(0, len(raw), 2000)]
        texts += [added["content"] for added in spec.get("added_tokens", [])]
        texts.append(" x ".join(added["content"] for added in spec.get("added_tokens", [])))
    return texts


def _segments(fast: TiktokenBPE, text: str) -> list[str]:
    """The strings the BPE sees (added tokens split out, normalised)."""
    if fast._added is None:
        return [fast._norm(text)] if text else []
    return [s for s, tid in fast._added.split(text, fast._norm) if tid is None and s]


def pieces_mismatch(pre_tokenizer: dict | None, pat_str: str, texts: list[str]) -> str:
    """'' if HF's pre-tokenizer `pre_tokenizer` (a tokenizer.json `pre_tokenizer` object) and tiktoken's regex
    `pat_str` cut every text into the same pieces, else the first difference.

    tiktoken over the ranks {256 bytes, every HF piece, every two adjacent HF pieces joined} emits exactly the HF
    pieces iff its own regex pieces are HF's: a tiktoken piece spanning several HF pieces would merge two of them
    (their join is a rank), and one cutting an HF piece would leave it unmatched or drop bytes."""
    import tiktoken

    u2b = {c: b for b, c in bytes_to_unicode().items()}
    pre = _hf_pre(json.dumps(pre_tokenizer))
    hf_pieces = [[bytes(u2b[ch] for ch in p) for p, _ in pre.pre_tokenize_str(t)] if t else [] for t in texts]
    table: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    for bs in hf_pieces:
        for i, b in enumerate(bs):
            table.setdefault(b, len(table))
            if i:
                table.setdefault(bs[i - 1] + b, len(table))
    splitter = tiktoken.Encoding(name="s1-probe", pat_str=pat_str, mergeable_ranks=table, special_tokens={})
    back = {v: k for k, v in table.items()}
    for t, want in zip(texts, hf_pieces):
        got = [back[i] for i in splitter._core_bpe.encode_ordinary(t)]
        if got != want:
            k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            return f"regex pieces differ on {t[:40]!r}: tiktoken {got[k:k + 3]!r} vs HF {want[k:k + 3]!r}"
    return ""


@lru_cache(maxsize=4)
def _hf_pre(pre_json: str):
    from tokenizers import Tokenizer

    spec = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": json.loads(pre_json), "post_processor": None, "decoder": None,
            "model": {"type": "BPE", "vocab": {}, "merges": []}}
    return Tokenizer.from_str(json.dumps(spec)).pre_tokenizer


def _probe_mismatch(fast: TiktokenBPE, hf, spec: dict, pat_str: str) -> str:
    """'' if regex pieces and ids agree on every probe text, else a description of the first difference."""
    texts = probe_texts(spec)
    # Pieces of what the BPE sees (Python's normaliser on both sides; HF's own is compared through the ids below).
    why = pieces_mismatch(spec.get("pre_tokenizer"), pat_str, [s for t in texts for s in _segments(fast, t)])
    if why:
        return why
    want = [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False)]
    got = fast.encode_batch(texts, strict=True)
    for t, a, b in zip(texts, got, want):
        if a != b:
            return f"ids differ on probe {t[:40]!r}: tiktoken {a[:8]} vs HF {b[:8]}"
    return ""
