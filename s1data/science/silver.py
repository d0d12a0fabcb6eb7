"""Silver labels from rules: lexicon hits, RDKit-valid SMILES, chemical formulas, LaTeX/formula density; optional LLM.

`silver_label(text, config) -> (domain | None, subdomain | None, confidence, evidence)`.

- A lexicon term (1–3 words, `taxonomy.LEXICONS`) scores its sub-domain `1` the first time it is seen and `0.25`
  for each repeat (at most 3 repeats), so one word said ten times is weaker evidence than four different terms.
- A SMILES candidate is a whitespace token made of SMILES characters with a bond, branch, ring digit or bracket, or an
  all-upper-case organic-atom chain of >= 4 atoms; words with lower-case letters and no SMILES syntax are rejected
  before RDKit sees them. RDKit must parse it with >= 3 heavy atoms and >= 1 carbon. Each distinct one adds 2
  (at most 3 counted) to `chemistry/organic_chemistry`.
- A chemical formula (`H2O`, `Fe2O3`, `MoS2`: >= 2 element symbols, >= 1 digit) adds 0.5 (at most 4 counted) to
  generic science evidence, as do LaTeX commands, `$…$` spans, math symbols and `x = …` equations
  (`formula_density` per 100 words, 0.6 × min(density, 5)).
- A weak term (`taxonomy.WEAK_TERMS`: common science words such as "molecule", "tissue", "rock", "equation") adds
  0.5 the first time and 0.1 per repeat to its domain, at most `weak_cap` per domain, and counts half in the hit
  density. Weak terms alone never make a text science (it needs a strong term, a SMILES string or formula evidence),
  but they lower the not-science confidence, so science prose with few technical terms is left out of training
  instead of being taught as "none". On science-dev this doubled the rules' recall (0.28 -> 0.5x) at the same
  false-positive rate (~0.1 % of the non-science texts); see benchmarks/results/science.md.
- Science when evidence >= `min_score` and lexicon hits per 100 words >= `min_density`; confidence =
  (share of the top domain among domains) × (1 − exp(−evidence / 4)). Not science (domain None) with confidence
  min(1, words / min_words) × exp(−evidence / 1.5): a long page with no evidence is confidently not science; a page
  in between gets a low confidence and the trainer skips it.
- When `config.llm.base_url` is set, texts whose rule confidence is below `llm.below_confidence` are sent to an
  OpenAI-compatible `/chat/completions` endpoint; an unusable reply keeps the rule label and records `llm_error`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
from functools import lru_cache
from itertools import compress

from pydantic import BaseModel, Field

from s1data.filters.base import cache_bound as _cache_bound
from s1data.science.taxonomy import LEXICONS, TAXONOMY, WEAK_TERMS

_WORD = re.compile(r"\w[\w'\-]*", re.U)
_SMILES_TOKEN = re.compile(r"^[A-Za-z0-9@+\-\[\]()=#$/\\%.:]{4,200}$")
_SMILES_SYNTAX = re.compile(r"[()=#\[\]@/\\]|[A-Za-z][0-9]")
_ORGANIC_CHAIN = re.compile(r"^(?:Cl|Br|[BCNOPSFI])+$")
# The whitespace-separated tokens (as str.split) with an upper-case letter, a digit or SMILES syntax: a candidate
# always has one (an organic chain is upper case; otherwise _SMILES_SYNTAX needs syntax or a digit), plain
# lower-case words never. The look-behind anchors a match at a token's start, so each token is scanned once.
_MAYBE_SMILES = re.compile(r"(?<!\S)\S*[A-Z0-9()=#\[\]@/\\]\S*")
_SMILES_LOWER_OK = set("cnospb")  # aromatic atoms; any other lower-case letter outside brackets is not SMILES
_FORMULA = re.compile(r"\b(?:[A-Z][a-z]?\d*){2,}\b")
_FORMULA_PART = re.compile(r"([A-Z][a-z]?)(\d*)")
_LATEX_CMD = re.compile(r"\\(?:frac|int|sum|prod|sqrt|partial|nabla|alpha|beta|gamma|delta|epsilon|lambda|mu|sigma|"
                        r"theta|omega|infty|mathbb|mathrm|cdot|times|leq|geq|lim|log|sin|cos|exp|hbar|"
                        r"vec|hat|left|right|Delta|Omega|pi|rho|phi|psi)\b"
                        # \begin / \end count only around maths: a LaTeX manual's verbatim, tabular or itemize is not
                        # a formula (seen on the LaTeX manuals of benchmarks/labels/science_indep.json: reported there)
                        r"|\\(?:begin|end)\{(?:equation|align|alignat|gather|multline|eqnarray|displaymath|math|"
                        r"[pbvBV]?matrix|cases|split|array)\*?\}")
_DOLLAR_MATH = re.compile(r"\$[^$\n]{1,200}\$")
_MATH_SYMBOLS = re.compile(r"[∫∑∏∂√≤≥≈≠∞±×∇∈∀∃⊂⊆∪∩→↦αβγδεθλμσωΔΩπρφψħ]")
_EQUATION = re.compile(r"(?<![\w=])[A-Za-z](?:_\{?\w+\}?)?\s*=\s*[-+(\w\\]")
_ELEMENTS = frozenset(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb "
    "Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au "
    "Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm".split())


class LlmLabelConfig(BaseModel):
    base_url: str | None = Field(None, description="OpenAI-compatible API root, e.g. http://host:8000/v1; null: "
                                 "no LLM labelling.")
    model: str = Field("gpt-4o-mini", description="Model name sent in the request.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the bearer token (optional).")
    timeout_s: float = Field(20.0, description="HTTP timeout per request.")
    max_chars: int = Field(4000, description="Characters of the text sent to the model.")
    below_confidence: float = Field(0.6, description="Ask the LLM only when the rules' confidence is below this "
                                    "(1.01 asks for every text).")


class SilverLabelConfig(BaseModel):
    """Thresholds of the rule labeller (min_score / min_density chosen on the synthetic corpus, see docs/web.md; the
    weak terms measured on real text, benchmarks/results/science.md)."""

    min_score: float = Field(3.0, description="Science evidence (lexicon score + bonuses) needed to label a domain.")
    min_density: float = Field(1.0, description="Lexicon hits per 100 words needed to label a domain.")
    min_words: int = Field(50, description="Texts shorter than this get a proportionally lower not-science confidence.")
    smiles: bool = Field(True, description="Look for RDKit-valid SMILES tokens (needs rdkit).")
    weak_terms: bool = Field(True, description="Count taxonomy.WEAK_TERMS (common science words) as weak evidence: "
                             "0.5 per distinct term (+0.1 per repeat), at most `weak_cap` per domain; a text also "
                             "needs a strong term, SMILES or formula evidence to be labelled science.")
    weak_cap: float = Field(2.5, description="Most evidence that weak terms add to one domain.")
    none_evidence_scale: float = Field(0.75, description="Not-science confidence = min(1, words / min_words) x "
                                       "exp(-evidence / none_evidence_scale): smaller, fewer science-sounding texts "
                                       "count as confident negatives for training.")
    llm: LlmLabelConfig | None = Field(None, description="Optional LLM labeller for uncertain texts.")


@lru_cache(maxsize=1)
def _term_index() -> tuple[dict[str, list[tuple[str, str]]], int]:
    index: dict[str, list[tuple[str, str]]] = {}
    for d, subs in LEXICONS.items():
        for s, terms in subs.items():
            for t in terms:
                index.setdefault(" ".join(_WORD.findall(t.lower())), []).append((d, s))
    return index, max(len(k.split()) for k in index)


def _longest_matches(words: list[str], index: dict, max_n: int, starts: frozenset,
                     relevant: frozenset | None = None):
    """(key, index value) of the longest index key at each position, left to right, non-overlapping. Multi-word
    keys are tried only where the word starts one (`starts`): most words start none. With `relevant` (the words
    that start a key or are one, `_relevant`), only their positions are visited, found in C: every other word
    matches nothing and moves the scan on by one, so the matches are the same."""
    n_words = len(words)
    positions = compress(range(n_words), map(relevant.__contains__, words)) if relevant is not None \
        else range(n_words)
    nxt = 0
    for i in positions:
        if i < nxt:  # inside the previous multi-word match
            continue
        w = words[i]
        for n in (range(max_n, 1, -1) if w in starts else ()):
            key = " ".join(words[i:i + n])
            val = index.get(key)
            if val:
                yield key, val
                nxt = i + n
                break
        else:
            val = index.get(w)
            if val:
                yield w, val
            nxt = i + 1


def _relevant(index: dict, starts: frozenset) -> frozenset:
    """Words at which `_longest_matches` can match: one-word keys and first words of multi-word keys."""
    return frozenset(k for k, v in index.items() if v and " " not in k) | starts


def _starts(index: dict) -> frozenset:
    return frozenset(k.split(" ", 1)[0] for k in index if " " in k)


def lexicon_hits(text: str) -> tuple[dict[str, dict[str, int]], int]:
    """({"domain/subdomain": {term: count}}, number of words) — longest match first, up to three-word terms."""
    words = _WORD.findall(text.lower())
    return _lexicon_hits_words(words), len(words)


def _lexicon_hits_words(words: list[str]) -> dict[str, dict[str, int]]:
    index, max_n = _term_index()
    hits: dict[str, dict[str, int]] = {}
    for key, labels in _longest_matches(words, index, max_n, _term_starts(), _term_relevant()):
        for d, s in labels:
            h = hits.setdefault(f"{d}/{s}", {})
            h[key] = h.get(key, 0) + 1
    return hits


@lru_cache(maxsize=1)
def _term_starts() -> frozenset:
    return _starts(_term_index()[0])


@lru_cache(maxsize=1)
def _term_relevant() -> frozenset:
    return _relevant(_term_index()[0], _term_starts())


@lru_cache(maxsize=1)
def _weak_index() -> tuple[dict[str, list[str]], int]:
    strong, _ = _term_index()
    index: dict[str, list[str]] = {}
    for d, terms in WEAK_TERMS.items():
        for t in terms:
            key = " ".join(_WORD.findall(t.lower()))
            if key not in strong and d not in index.get(key, []):
                index.setdefault(key, []).append(d)
    return index, max(len(k.split()) for k in index)


def weak_hits(text: str) -> dict[str, dict[str, int]]:
    """{domain: {weak term: count}} for `taxonomy.WEAK_TERMS` (terms that are also strong lexicon terms excluded)."""
    return _weak_hits_words(_WORD.findall(text.lower()))


def _weak_hits_words(words: list[str]) -> dict[str, dict[str, int]]:
    index, max_n = _weak_index()
    hits: dict[str, dict[str, int]] = {}
    for key, doms in _longest_matches(words, index, max_n, _weak_starts(), _weak_relevant()):
        for d in doms:
            h = hits.setdefault(d, {})
            h[key] = h.get(key, 0) + 1
    return hits


@lru_cache(maxsize=1)
def _weak_starts() -> frozenset:
    return _starts(_weak_index()[0])


@lru_cache(maxsize=1)
def _weak_relevant() -> frozenset:
    return _relevant(_weak_index()[0], _weak_starts())


def _smiles_candidate(tok: str) -> bool:
    if not _SMILES_TOKEN.match(tok):
        return False
    if _ORGANIC_CHAIN.match(tok):
        return True
    if not _SMILES_SYNTAX.search(tok):
        return False
    outside = re.sub(r"\[[^\]]*\]", "", tok).replace("Cl", "").replace("Br", "")
    return all(c in _SMILES_LOWER_OK for c in outside if c.islower())


_CAND_CACHE: dict[str, str | None] = {}  # raw whitespace token -> its stripped SMILES candidate, or None
_CAND_CACHE_MAX = _cache_bound(500_000)  # distinct tokens kept per process (cleared when full); words are Zipfian;
# scaled by $S1_CACHE_MB


def _raw_candidate(raw: str) -> str | None:
    tok = raw.strip(",;:!?\"'“”‘’").rstrip(".")
    return tok if tok and _smiles_candidate(tok) else None


def find_smiles(text: str, max_tokens: int = 50) -> list[str]:
    """Distinct tokens RDKit parses as a molecule with >= 3 heavy atoms and >= 1 carbon (plain words rejected).

    The per-token test (strip, three regexes) is answered once per distinct token and process: a dict lookup per
    word afterwards, with the same candidates in the same order."""
    cands: list[str] = []
    cache = _CAND_CACHE
    if len(cache) > _CAND_CACHE_MAX:
        cache.clear()
    for raw in dict.fromkeys(_MAYBE_SMILES.findall(text)):  # distinct runs, first occurrence order
        try:
            tok = cache[raw]
        except KeyError:
            tok = cache[raw] = _raw_candidate(raw)
        if tok is not None and tok not in cands:
            cands.append(tok)
        if len(cands) >= max_tokens:
            break
    if not cands:
        return []
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    out = []
    for tok in cands:
        mol = Chem.MolFromSmiles(tok)
        if mol is not None and mol.GetNumHeavyAtoms() >= 3 and any(a.GetSymbol() == "C" for a in mol.GetAtoms()):
            out.append(tok)
    return out


def find_chemical_formulas(text: str) -> list[str]:
    """Distinct tokens like H2O, Fe2O3, MoS2: only element symbols, at least two of them, at least one digit."""
    out = []
    for m in _FORMULA.finditer(text):
        tok = m.group(0)
        if not any(c.isdigit() for c in tok) or tok in out:
            continue
        parts = _FORMULA_PART.findall(tok)
        if len(parts) >= 2 and all(el in _ELEMENTS for el, _ in parts):
            out.append(tok)
    return out


def formula_density(text: str, n_words: int) -> tuple[float, dict[str, int]]:
    """(formula signals per 100 words, counts by kind): LaTeX commands, $…$ spans, math symbols, `x = …`."""
    counts = {"latex_commands": len(_LATEX_CMD.findall(text)), "dollar_math": len(_DOLLAR_MATH.findall(text)),
              "math_symbols": len(_MATH_SYMBOLS.findall(text)), "equations": len(_EQUATION.findall(text))}
    return 100.0 * sum(counts.values()) / max(n_words, 1), counts


_RULE_CACHE: dict[tuple[bytes, str], tuple] = {}  # (blake2b of the text, config JSON) -> rule_label's answer
RULE_CACHE_MAX = _cache_bound(20_000)  # answers kept per process (the classifier's sample size by default); cleared
# when full; scaled by $S1_CACHE_MB


def rule_label(text: str, config: SilverLabelConfig | None = None) -> tuple[str | None, str | None, float, dict]:
    """The rule part of `silver_label` (no LLM).

    Answers are kept per process for the last RULE_CACHE_MAX texts: curation labels its science sample (to train
    the classifier) and then the same documents again in the same worker; a text is labelled by rules once."""
    config = config or SilverLabelConfig()
    key = (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(),
           config.model_dump_json())
    hit = _RULE_CACHE.get(key)
    if hit is None:
        if len(_RULE_CACHE) >= RULE_CACHE_MAX:
            _RULE_CACHE.clear()
        hit = _RULE_CACHE[key] = _rule_label(text, config)
    d, s, conf, evidence = hit
    return d, s, conf, copy.deepcopy(evidence)


def _rule_label(text: str, config: SilverLabelConfig) -> tuple[str | None, str | None, float, dict]:
    words = _WORD.findall(text.lower())  # one word split for the lexicon and the weak terms
    hits, n_words = _lexicon_hits_words(words), len(words)
    sub_scores: dict[str, float] = {}
    for label, terms in hits.items():
        sub_scores[label] = sum(1.0 + 0.25 * min(c - 1, 3) for c in terms.values())
    smiles = find_smiles(text) if config.smiles else []
    if smiles:
        key = "chemistry/organic_chemistry"
        sub_scores[key] = sub_scores.get(key, 0.0) + 2.0 * min(len(smiles), 3)
    formulas = find_chemical_formulas(text)
    density, fcounts = formula_density(text, n_words)
    generic = 0.5 * min(len(formulas), 4) + 0.6 * min(density, 5.0)
    dom_scores: dict[str, float] = {}
    for label, sc in sub_scores.items():
        d = label.split("/")[0]
        dom_scores[d] = dom_scores.get(d, 0.0) + sc
    strong = sum(dom_scores.values())
    weak = _weak_hits_words(words) if config.weak_terms else {}
    n_weak = 0
    for d, terms in weak.items():
        dom_scores[d] = dom_scores.get(d, 0.0) + min(config.weak_cap,
                                                     sum(0.5 + 0.1 * min(c - 1, 3) for c in terms.values()))
        n_weak += sum(terms.values())
    n_hits = sum(sum(t.values()) for t in hits.values()) + len(smiles)
    hit_density = 100.0 * (n_hits + 0.5 * n_weak) / max(n_words, 1)
    evidence = {"source": "rules", "words": n_words, "terms": {k: sorted(v) for k, v in sorted(hits.items())},
                "weak_terms": {k: sorted(v) for k, v in sorted(weak.items())},
                "smiles": smiles, "chemical_formulas": formulas, "formula_density": round(density, 3),
                "formula_counts": fcounts, "hit_density": round(hit_density, 3),
                "domain_scores": {k: round(v, 3) for k, v in sorted(dom_scores.items())}}
    top = max(dom_scores, key=lambda d: (dom_scores[d], d)) if dom_scores else None
    total = (dom_scores[top] if top else 0.0) + generic
    evidence["evidence_score"] = round(total, 3)
    if (strong == 0 and generic == 0) or top is None:  # weak words alone never make a text science
        top = None
    if top is None and (formulas or density >= 2.0):  # formulas only: chemistry if chemical, else math
        top = "chemistry" if len(formulas) >= 2 else "math"
    if top is not None and total >= config.min_score and (hit_density >= config.min_density or generic >= 2.0):
        share = dom_scores[top] / sum(dom_scores.values()) if dom_scores else 0.7  # formulas only: less sure
        conf = share * (1.0 - math.exp(-total / 4.0))
        subs = {k.split("/")[1]: v for k, v in sub_scores.items() if k.startswith(top + "/")}
        if subs:
            sub = max(subs, key=lambda s: (subs[s], s))
        else:
            sub = {"chemistry": "inorganic_chemistry", "math": "analysis"}.get(top, next(iter(TAXONOMY[top])))
        return top, sub, round(conf, 4), evidence
    conf = min(1.0, n_words / max(config.min_words, 1)) * math.exp(-total / config.none_evidence_scale)
    return None, None, round(conf, 4), evidence


class LlmLabelError(Exception):
    """The LLM endpoint failed or answered something that is not a label of the taxonomy."""


def llm_label(text: str, config: LlmLabelConfig, client=None) -> tuple[str | None, str | None, float]:
    """Ask an OpenAI-compatible chat endpoint for (domain | None, subdomain | None, confidence)."""
    import httpx

    if not config.base_url:
        raise ValueError("llm_label needs config.base_url (an OpenAI-compatible API root, e.g. http://host:8000/v1)")
    taxonomy = {d: sorted(s) for d, s in TAXONOMY.items()}
    system = ("You classify text into a science taxonomy. Domains and sub-domains: " + json.dumps(taxonomy) +
              '. Reply with JSON only: {"domain": <domain or null if not science>, "subdomain": <sub-domain or '
              'null>, "confidence": <0..1>}.')
    body = {"model": config.model, "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": text[:config.max_chars]}]}
    headers = {}
    if os.environ.get(config.api_key_env):
        headers["Authorization"] = f"Bearer {os.environ[config.api_key_env]}"
    url = config.base_url.rstrip("/") + "/chat/completions"
    try:
        if client is None:
            resp = httpx.post(url, json=body, headers=headers, timeout=config.timeout_s)
        else:
            resp = client.post(url, json=body, headers=headers, timeout=config.timeout_s)
        resp.raise_for_status()
        content = resp.json()["choices"][0]["message"]["content"]
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as e:
        raise LlmLabelError(f"llm_request_failed: {type(e).__name__}: {e}") from e
    m = re.search(r"\{.*\}", content or "", re.S)
    try:
        obj = json.loads(m.group(0)) if m else None
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise LlmLabelError(f"llm_bad_json: {content[:200]!r}")
    d, s = obj.get("domain"), obj.get("subdomain")
    try:
        conf = float(obj.get("confidence", 0.5))
    except (TypeError, ValueError):
        conf = 0.5
    if d in (None, "", "none", "null"):
        return None, None, conf
    if d not in TAXONOMY or s not in TAXONOMY[d]:
        raise LlmLabelError(f"llm_unknown_label: {d}/{s}")
    return d, s, conf


def silver_label(text: str, config: SilverLabelConfig | None = None,
                 client=None) -> tuple[str | None, str | None, float, dict]:
    """(domain | None, subdomain | None, confidence in [0, 1], evidence dict) for one text; see the module doc."""
    config = config or SilverLabelConfig()
    d, s, conf, ev = rule_label(text, config)
    llm = config.llm
    if llm is not None and llm.base_url and conf < llm.below_confidence:
        try:
            ld, ls, lconf = llm_label(text, llm, client=client)
        except LlmLabelError as e:
            ev["llm_error"] = str(e)
        else:
            ev["rules"] = {"domain": d, "subdomain": s, "confidence": conf}
            ev["source"] = "llm"
            return ld, ls, round(max(0.0, min(1.0, lconf)), 4), ev
    return d, s, conf, ev
