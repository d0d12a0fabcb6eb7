"""ScienceSpanDetector: split a string into text and scientific spans (SMILES, protein, DNA).

A segment is `(kind, string)` with kind one of `text | smiles | protein | dna | special`; `special` carries a tag
token (`<SMILES>` …). Joining the strings of the segments gives back the input exactly, always.

Rules, in order:
1. Tagged spans `<SMILES>…</SMILES>`, `<PROTEIN>…</PROTEIN>`, `<DNA>…</DNA>` are trusted as written.
2. Untagged DNA/RNA runs (one case, ACGTUN, >= min_sequence_chars, >= 3 distinct bases) and protein runs
   (upper-case residue letters, >= min_sequence_chars, >= min_protein_distinct distinct letters), delimited by
   non-alphanumerics.
3. Untagged SMILES: a whitespace-delimited chunk made only of SMILES characters, with enough heavy atoms and either
   structural evidence (ring digit, branch, bracket atom, '=', '#', aromatic atom) or enough length, that RDKit
   parses and sanitises. Outer parentheses and a trailing '.' or ')' are trimmed before giving up.
Anything else (capitalised words, 'CO', 'NaN', 'I', unbalanced ring closures) stays text.

`segments_batch(texts)` gives the same segments for many strings at a fraction of the cost: one numpy pass over
the code points of the whole batch finds every run that could hold a span (a necessary condition of the rules
above), and the exact regexes and RDKit only look at those runs. Ordinary prose costs a few vectorised passes.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

import numpy as np

from s1data.cache import cache_bound
from s1data.tokenizer.config import TokenizerConfig

TAGGED = re.compile(r"<(SMILES|PROTEIN|DNA)>([^<]*)</\1>")

# Outside brackets SMILES only uses these letters (organic subset + aromatic + the l/r of Cl/Br).
_SMILES_CHARS = r"BCNOPSFIbcnopslr0-9()=#@+\-/\\%.*"
_BRACKET_ATOM = r"\[[A-Za-z0-9@+\-:]{1,16}\]"
SMILES_CANDIDATE = re.compile(
    rf"(?<![^\s\"'(\[{{])(?:{_BRACKET_ATOM}|[{_SMILES_CHARS}])+(?=[\"'.,;:!?)\]}}]*(?:\s|$))")
_STRUCTURAL = re.compile(r"[()\[\]=#%@0-9bcnops]")
_BASES = set("ACGTUN")
_ATOM = re.compile(r"\[[^\]]*\]|Cl|Br|[BCNOPSFI]|[bcnops]")


@lru_cache(maxsize=cache_bound(1 << 18))  # one entry per distinct candidate chunk (~100 B); scaled by $S1_CACHE_MB
def smiles_is_valid(candidate: str, min_atoms: int, min_letters_only_chars: int) -> bool:
    """True when an untagged chunk is accepted as SMILES (cheap checks first, then RDKit parse + sanitise)."""
    if len(_ATOM.findall(candidate)) < min_atoms:
        return False
    if not _STRUCTURAL.search(candidate) and len(candidate) < min_letters_only_chars:
        return False
    from rdkit import Chem, RDLogger
    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(candidate)
    return mol is not None and mol.GetNumHeavyAtoms() >= min_atoms


_UPPER_RESIDUES = "ACDEFGHIKLMNPQRSTVWYBXZU"  # protein residues + U (RNA) + ambiguity codes
_LOWER_BASES = "acgtun"


class ScienceSpanDetector:
    """Finds scientific spans in strings: `segments(text)` for one, `segments_batch(texts)` for many (faster)."""

    def __init__(self, config: TokenizerConfig | None = None):
        self.config = config or TokenizerConfig()
        n = self.config.min_sequence_chars
        # One pass for both: upper-case residue/base letters (U for RNA) or lower-case bases.
        self._sequence = re.compile(rf"(?<![A-Za-z0-9])(?:[{_UPPER_RESIDUES}]{{{n},}}|[{_LOWER_BASES}]{{{n},}})"
                                    r"(?![A-Za-z0-9])")

    def segments(self, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        pos = 0
        if "</" in text:
            for m in TAGGED.finditer(text):
                self._untagged(text, pos, m.start(), out)
                modality = m.group(1).lower()
                out.append(("special", f"<{m.group(1)}>"))
                if m.group(2):
                    out.append((modality, m.group(2)))
                out.append(("special", f"</{m.group(1)}>"))
                pos = m.end()
        self._untagged(text, pos, len(text), out)
        return out

    def segments_batch(self, texts: list[str]) -> list[list[tuple[str, str]]]:
        """`[self.segments(t) for t in texts]`, with every untagged stretch scanned by one vectorised prefilter."""
        regions: list[str] = []  # untagged stretches, each behind the one character before it (context for lookbehinds)
        layouts: list[list] = []  # per text: (region index, context length) or a tag segment, in order
        for t in texts:
            if "</" not in t:
                layouts.append([(len(regions), 0)] if t else [])
                regions.append(t)
                continue
            layout: list = []
            pos = 0
            for m in TAGGED.finditer(t):
                self._region(t, pos, m.start(), regions, layout)
                layout.append(("special", f"<{m.group(1)}>"))
                if m.group(2):
                    layout.append((m.group(1).lower(), m.group(2)))
                layout.append(("special", f"</{m.group(1)}>"))
                pos = m.end()
            self._region(t, pos, len(t), regions, layout)
            layouts.append(layout)
        found = self._batch_spans(regions)
        out = []
        for layout in layouts:
            segs: list[tuple[str, str]] = []
            for item in layout:
                if isinstance(item[0], int):
                    r, ctx = item
                    region = regions[r]
                    if found[r]:
                        _cut(region, ctx, len(region), found[r], segs)
                    else:
                        segs.append(("text", region[ctx:] if ctx else region))
                else:
                    segs.append(item)
            out.append(segs)
        return out

    @staticmethod
    def _region(text: str, start: int, end: int, regions: list[str], layout: list) -> None:
        """Queue text[start:end] for the batch scan, behind the character before it: `_untagged(text, start, end)`
        scans with pos/endpos, so its lookbehinds see that character and `$` matches at `end`."""
        if start < end:
            ctx = 1 if start else 0
            layout.append((len(regions), ctx))
            regions.append(text[start - ctx:end])

    def _untagged(self, text: str, start: int, end: int, out: list[tuple[str, str]]) -> None:
        if start >= end:
            return
        spans: list[tuple[int, int, str]] = []
        cfg = self.config
        if cfg.detect_sequences:
            for m in self._sequence.finditer(text, start, end):
                kind = self._sequence_kind(m.group(0))
                if kind:
                    spans.append((m.start(), m.end(), kind))
        if cfg.detect_smiles:
            for m in SMILES_CANDIDATE.finditer(text, start, end):
                self._add_smiles(m, spans)
        _cut(text, start, end, spans, out)

    def _sequence_kind(self, run: str) -> str | None:
        letters = set(run.upper())
        if letters <= _BASES:
            return "dna" if len(letters - {"N"}) >= 3 else None
        if "U" not in letters and run.isupper() and len(letters) >= self.config.min_protein_distinct:
            return "protein"
        return None

    def _add_smiles(self, m: re.Match, spans: list[tuple[int, int, str]]) -> None:
        found = self._trimmed_smiles(m.group(0))
        if found is not None:
            a, b = m.start() + found[0], m.start() + found[1]
            if not _overlaps(spans, a, b):
                spans.append((a, b, "smiles"))

    def _batch_spans(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        """Spans of each untagged text, as `_untagged` finds them.

        The texts are joined with '\\n' (whitespace and not alphanumeric: every rule sees a text edge there) into one
        byte per character (non-ASCII: 0x01, or ' ' for whitespace) and classified with `bytes.translate`.
        - A sequence match is exactly a maximal run of one letter class with no ASCII alphanumeric on either side: a
          substring test rules most batches out, else the runs are found with numpy; Python applies the letter rules.
        - A SMILES candidate lies inside one maximal run of SMILES characters and bracket atoms; such a run can hold
          one only if it has >= min_smiles_atoms atom characters, a place to start (text edge, whitespace, quote or
          bracket before it, or an inner '(' / '['), and closing punctuation then whitespace or the end after it.
          The exact regex (and RDKit) then runs on those runs only, inside their own text.
        """
        cfg = self.config
        spans: list[list[tuple[int, int, str]]] = [[] for _ in texts]
        if not texts or not (cfg.detect_sequences or cfg.detect_smiles):
            return spans
        raw = "\n".join(texts).encode("ascii", errors=_NARROW)  # one byte per character
        n = len(raw)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])

        def local(pos: np.ndarray):
            doc = np.searchsorted(starts, pos, side="right") - 1
            return zip(doc.tolist(), (pos - starts[doc]).tolist())

        if cfg.detect_sequences:
            letters = raw.translate(_SEQ_TABLE)
            m = cfg.min_sequence_chars
            if b"U" * m in letters or b"l" * m in letters:
                cls = np.frombuffer(letters, dtype=np.uint8)
                alnum = np.frombuffer(raw.translate(_ALNUM_TABLE), dtype=np.bool_)
                for code in (ord("U"), ord("l")):
                    s, e = _runs(cls == code)
                    keep = e - s >= m
                    s, e = s[keep], e[keep]
                    keep = ((s == 0) | ~alnum[s - 1]) & ((e == n) | ~alnum[np.minimum(e, n - 1)])
                    for (d, a), b in zip(local(s[keep]), (e - s)[keep].tolist()):
                        kind = self._sequence_kind(texts[d][a:a + b])
                        if kind:
                            spans[d].append((a, a + b, kind))
        if cfg.detect_smiles:
            f = np.frombuffer(raw.translate(_SMILES_TABLE), dtype=np.uint8)
            chunk = (f & _SMILES) != 0
            opens = np.flatnonzero(f == _OPEN_FLAGS)
            if len(opens):  # bracket atoms: '[' + 1..16 of [A-Za-z0-9@+-:] + ']' join the run
                closes = np.flatnonzero((f & _CLOSE) != 0)
                j = np.searchsorted(closes, opens)
                has = j < len(closes)
                o, c = opens[has], closes[j[has]]
                width = c - o - 1
                o, c = o[(width >= 1) & (width <= 16)], c[(width >= 1) & (width <= 16)]
                inner = o[:, None] + np.arange(1, 17)
                ok = (((f[np.minimum(inner, n - 1)] & _INSIDE) != 0) | (inner >= c[:, None])).all(axis=1)
                o, c = o[ok], c[ok]
                if len(o):
                    widths = c - o + 1
                    chunk[np.repeat(o - np.cumsum(widths) + widths, widths) + np.arange(widths.sum())] = True
            # runs of >= k = min_smiles_atoms characters: the runs of "k characters from here on are all in one"
            k = min(cfg.min_smiles_atoms, 16)
            long = chunk[:n - k + 1].copy() if n >= k else np.zeros(0, dtype=bool)
            for j in range(1, k):
                long &= chunk[j:n - k + 1 + j]
            s, e = _runs(long)
            e = e + (k - 1)
            # after the run: closing punctuation ('.' and ')' included), then whitespace or the end. Up to
            # _PUNCT_STEPS punctuation characters are skipped here; a run still in punctuation after them is kept.
            q = e.copy()
            for _ in range(_PUNCT_STEPS):
                inside = q < n
                more = inside.copy()
                more[inside] = (f[q[inside]] & _PUNCT) != 0
                if not more.any():
                    break
                q[more] += 1
            at = np.minimum(q, n - 1)
            keep = (q == n) | ((f[at] & (_SPACE | _PUNCT)) != 0)
            s, e, q = s[keep], e[keep], q[keep]
            if len(s):  # a place to start: the text edge, whitespace / quote / bracket before, or an inner '(' '['
                opening = np.flatnonzero((f == _PAREN_FLAGS) | (f == _OPEN_FLAGS))
                inner_start = np.searchsorted(opening, e) > np.searchsorted(opening, s)
                keep = (s == 0) | ((f[s - 1] & _BEFORE) != 0) | inner_start
                s, e, q = s[keep], e[keep], q[keep]
            if len(s):  # enough atom characters ('[' counts for its bracket atom)
                atom = np.append((f & _ATOM_CHAR) != 0, False).view(np.uint8)
                n_atoms = np.add.reduceat(atom, np.stack([s, e], axis=1).ravel(), dtype=np.int32)[0::2]
                keep = n_atoms >= cfg.min_smiles_atoms
                s, e, q = s[keep], e[keep], q[keep]
            if len(s):
                q = np.where((q < n) & ((f[np.minimum(q, n - 1)] & _SPACE) == 0), n, q)  # unresolved: to the end
                for (d, a), b, z in zip(local(s), (e - s).tolist(), (q - s).tolist()):
                    text = texts[d]
                    for m in SMILES_CANDIDATE.finditer(text, a, min(a + z + 1, len(text))):
                        if m.start() >= a + b:
                            break
                        self._add_smiles(m, spans[d])
        return spans

    def _trimmed_smiles(self, chunk: str) -> tuple[int, int] | None:
        """(start, end) inside chunk of a valid SMILES, trying outer '( )' and a trailing '.' / ')' off."""
        a, b = 0, len(chunk)
        cfg = self.config
        for _ in range(4):
            if b - a <= 0:
                return None
            if smiles_is_valid(chunk[a:b], cfg.min_smiles_atoms, cfg.min_letters_only_smiles_chars):
                return a, b
            if chunk[a] == "(" and chunk[b - 1] == ")":
                a, b = a + 1, b - 1
            elif chunk[b - 1] in ".)":
                b -= 1
            elif chunk[a] == "(":
                a += 1
            else:
                return None
        return None


def _overlaps(spans: list[tuple[int, int, str]], a: int, b: int) -> bool:
    return any(a < e and s < b for s, e, _ in spans)


def _cut(text: str, start: int, end: int, spans: list[tuple[int, int, str]],
         out: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Append the segments of text[start:end] given its spans to out (and return it)."""
    if not spans:
        out.append(("text", text[start:end]))
        return out
    spans.sort()
    pos = start
    for a, b, kind in spans:
        if a > pos:
            out.append(("text", text[pos:a]))
        out.append((kind, text[a:b]))
        pos = b
    if pos < end:
        out.append(("text", text[pos:end]))
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the maximal runs of True in a boolean array."""
    padded = np.zeros(len(mask) + 2, dtype=np.int8)
    padded[1:-1] = mask
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


# Byte classes of the batch prefilter (`_batch_spans`). Its byte string holds ASCII as is and every other character
# as ' ' if it is whitespace (`\s` matches exactly the str.isspace() characters) else as 0x01 (in no class).
_NARROW = "s1_detect_narrow"
codecs.register_error(_NARROW, lambda e: ("".join(" " if ch.isspace() else "\x01"
                                                   for ch in e.object[e.start:e.end]), e.end))
_PUNCT_STEPS = 4
_SMILES, _ATOM_CHAR, _BEFORE, _PUNCT, _SPACE, _INSIDE, _CLOSE = (1 << i for i in range(7))


def _translation(rules: list[tuple[int, str]], default: int = 0) -> bytes:
    """A `bytes.translate` table: the OR of the values whose pattern matches the ASCII byte, else `default`."""
    table = bytearray(256)
    for value, pattern in rules:
        rx = re.compile(pattern)
        for byte in range(128):
            if rx.fullmatch(chr(byte)):
                table[byte] |= value
    return bytes(v or default for v in table)


_SEQ_TABLE = _translation([(ord("U"), f"[{_UPPER_RESIDUES}]"), (ord("l"), f"[{_LOWER_BASES}]")], default=ord("."))
_ALNUM_TABLE = _translation([(1, "[A-Za-z0-9]")])
_SMILES_TABLE = _translation([
    (_SMILES, f"[{_SMILES_CHARS}]"), (_ATOM_CHAR, r"[BCNOPSFIbcnops\[]"), (_BEFORE, r"[\s\"'(\[{]"),
    (_PUNCT, r"[\"'.,;:!?)\]}]"), (_SPACE, r"\s"), (_INSIDE, r"[A-Za-z0-9@+\-:]"), (_CLOSE, r"\]")])
_OPEN_FLAGS, _PAREN_FLAGS = _SMILES_TABLE[ord("[")], _SMILES_TABLE[ord("(")]  # the only bytes with these flags
