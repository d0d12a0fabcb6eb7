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
"""

from __future__ import annotations

import re
from functools import lru_cache

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


@lru_cache(maxsize=1 << 16)
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


class ScienceSpanDetector:
    """Finds scientific spans in a string; `segments(text)` is the only entry point."""

    def __init__(self, config: TokenizerConfig | None = None):
        self.config = config or TokenizerConfig()
        n = self.config.min_sequence_chars
        # One pass for both: upper-case residue/base letters (U for RNA) or lower-case bases.
        self._sequence = re.compile(rf"(?<![A-Za-z0-9])(?:[ACDEFGHIKLMNPQRSTVWYBXZU]{{{n},}}|[acgtun]{{{n},}})"
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

    def _untagged(self, text: str, start: int, end: int, out: list[tuple[str, str]]) -> None:
        if start >= end:
            return
        spans: list[tuple[int, int, str]] = []
        cfg = self.config
        if cfg.detect_sequences:
            for m in self._sequence.finditer(text, start, end):
                letters = set(m.group(0).upper())
                if letters <= _BASES:
                    if len(letters - {"N"}) >= 3:
                        spans.append((m.start(), m.end(), "dna"))
                elif "U" not in letters and m.group(0).isupper() and len(letters) >= cfg.min_protein_distinct:
                    spans.append((m.start(), m.end(), "protein"))
        if cfg.detect_smiles:
            for m in SMILES_CANDIDATE.finditer(text, start, end):
                found = self._trimmed_smiles(m.group(0))
                if found is not None:
                    a, b = m.start() + found[0], m.start() + found[1]
                    if not _overlaps(spans, a, b):
                        spans.append((a, b, "smiles"))
        if not spans:
            out.append(("text", text[start:end]))
            return
        spans.sort()
        pos = start
        for a, b, kind in spans:
            if a > pos:
                out.append(("text", text[pos:a]))
            out.append((kind, text[a:b]))
            pos = b
        if pos < end:
            out.append(("text", text[pos:end]))

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
