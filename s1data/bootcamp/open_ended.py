"""Open-ended RL prompts with reference answers, built from curated science documents.

Two kinds, one per model-judged route of the Mixture-of-Rewards (rule-verified prompts come from the task library):

- ``open/rm/<domain>`` (reward model, POLAR-style: prompt, reference, output): *continue the passage*; the prompt
  is two or three consecutive sentences of a curated document, the reference is the sentence that follows.
- ``open/judge/<domain>`` (LLM judge): *restore the missing sentence*; the prompt is a passage with one inner
  sentence replaced by ``[...]``, the reference is that sentence.

Both are graded against a reference, not by a rule: there is no single right wording. A block over one partition of
the ``curated`` dataset (``open_prompts(table, ...)``); rows are keyed by a hash of (kind, doc, sentence index).
Documents with too few usable sentences give no prompt (counted, not an error).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import pyarrow as pa

OPEN_COLUMNS = ("sample_id", "task", "config_id", "data_source", "domain", "length_bucket", "prompt",
                "identity_json", "reference")

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")

RM_TEMPLATE = ("Here is the start of a passage from a {domain} text.\n\n{context}\n\nWrite the sentence that most "
               "plausibly comes next, as a scientist writing this text would. Put the sentence in \\boxed{{}}.")
JUDGE_TEMPLATE = ("One sentence of this passage from a {domain} text was removed and replaced by [...].\n\n"
                  "{context}\n\nWrite the missing sentence so that the passage reads correctly. Put the sentence in "
                  "\\boxed{{}}.")


def usable_sentences(text: str, min_words: int = 6, max_words: int = 60) -> list[str]:
    """Sentences that read as prose: 6-60 words, >= 70 % alphabetic words, ending with . ! or ?."""
    out = []
    for s in _SENT.split(" ".join((text or "").split())):
        words = s.split()
        if not (min_words <= len(words) <= max_words) or s[-1:] not in ".!?":
            continue
        if len(_WORD.findall(s)) < 0.7 * len(words):
            continue
        out.append(s)
    return out


def _hash(*parts) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:20]


def open_prompts(curated: pa.Table, n_per_doc: int = 2, seed: int = 0, kinds: tuple[str, ...] = ("rm", "judge")
                 ) -> tuple[pa.Table, dict]:
    """Prompts from one partition of curated documents (columns ``doc_id``, ``text``, ``domain``).

    Returns (table with ``OPEN_COLUMNS``, counts). Up to ``n_per_doc`` prompts of each kind per document, at
    positions chosen by a hash of (seed, doc_id) so a rerun gives the same rows.
    """
    import json

    rows: list[dict] = []
    counts: Counter = Counter()
    ids = curated.column("doc_id").to_pylist()
    texts = curated.column("text").to_pylist()
    domains = curated.column("domain").to_pylist() if "domain" in curated.column_names else ["science"] * len(ids)
    for doc_id, text, domain in zip(ids, texts, domains):
        sents = usable_sentences(text)
        counts["documents"] += 1
        if len(sents) < 4:
            counts["open_too_few_sentences"] += 1
            continue
        domain = domain or "science"
        for kind in kinds:
            # candidate positions of the target sentence (inner ones; at least 2 sentences of context before it)
            cands = list(range(2, len(sents) - (1 if kind == "judge" else 0)))
            cands.sort(key=lambda i: _hash(seed, kind, doc_id, i))
            for i in cands[:n_per_doc]:
                if kind == "rm":
                    context = " ".join(sents[max(0, i - 3):i])
                    prompt = RM_TEMPLATE.format(domain=domain, context=context)
                else:
                    window = sents[max(0, i - 2):i] + ["[...]"] + sents[i + 1:i + 3]
                    prompt = JUDGE_TEMPLATE.format(domain=domain, context=" ".join(window))
                ds = f"open/{kind}/{domain}"
                identity = {"doc_id": doc_id, "sentence": i, "kind": kind}
                rows.append({"sample_id": _hash(kind, doc_id, i), "task": None,
                             "config_id": f"open_{kind}", "data_source": ds, "domain": domain, "length_bucket": "",
                             "prompt": prompt, "identity_json": json.dumps(identity, sort_keys=True),
                             "reference": sents[i]})
                counts[f"open_{kind}"] += 1
    schema = pa.schema([(c, pa.string()) for c in OPEN_COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema), dict(counts)
