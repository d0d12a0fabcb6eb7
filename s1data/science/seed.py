"""A labelled seed set for the science classifier: a parquet or JSONL(.gz) file with a text and a label column.

`load_seed_set(path, text_column="text", label_column="label", max_docs=None) -> pa.Table(text, label)` reads the
file (a local path or any fsspec URL) and maps every label onto the classifier's labels (`taxonomy.LABELS`):

- not science: `none`, `non_science`, `not_science`, `general`, `other`, an empty or null label;
- a domain: the taxonomy's names (`math`, `physics`, `chemistry`, `life_science`, `earth_science`, `materials`) and
  short aliases (`life`, `biology`, `earth`, `geology`, `maths`, ...). A seed set usually labels domains only, so the
  sub-domain is the one whose lexicon terms the text hits most (ties and no hits: the domain's first sub-domain);
- `domain/subdomain` as in `taxonomy.LABELS`.

A bad file is a `SeedSetError` (a ValueError) with one line that says what is wrong and how to fix it: the path does
not exist, the format is not parquet/JSONL, a column is missing, or labels are not in the taxonomy.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter

import pyarrow as pa

from s1data.science.taxonomy import LABELS, TAXONOMY

NOT_SCIENCE = frozenset({"none", "non_science", "non-science", "not_science", "nonscience", "general", "other", ""})
DOMAIN_ALIASES = {
    "life": "life_science", "biology": "life_science", "bio": "life_science", "medicine": "life_science",
    "earth": "earth_science", "geology": "earth_science", "geoscience": "earth_science",
    "maths": "math", "mathematics": "math", "chem": "chemistry", "material": "materials",
    "materials_science": "materials",
}


class SeedSetError(ValueError):
    """The seed set cannot be used; the message is one line with the fix."""


def _fail(path: str, why: str) -> SeedSetError:
    return SeedSetError(f"science seed set {path!r}: {why}")


def _read_rows(path: str, text_column: str, label_column: str) -> tuple[list, list]:
    import fsspec

    lower = path.lower()
    fmt = "parquet" if lower.endswith((".parquet", ".pq")) else \
        "jsonl" if lower.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")) else None
    if fmt is None:
        raise _fail(path, "unsupported format: use a .parquet, .jsonl or .jsonl.gz file with text and label columns")
    try:
        fs, fs_path = fsspec.core.url_to_fs(path)
        if not fs.exists(fs_path) or fs.isdir(fs_path):
            raise _fail(path, "no such file (science.seed_path must point at one parquet or JSONL file)")
        with fs.open(fs_path, "rb") as f:
            raw = f.read()
    except SeedSetError:
        raise
    except (OSError, ValueError) as e:
        raise _fail(path, f"cannot be read: {type(e).__name__}: {e}") from e
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(io.BytesIO(raw))
        except (pa.ArrowInvalid, OSError) as e:
            raise _fail(path, f"not a parquet file ({e})") from e
        names = pf.schema_arrow.names
        missing = [c for c in (text_column, label_column) if c not in names]
        if missing:
            raise _fail(path, f"has no column {missing[0]!r} (columns: {', '.join(names)}); set "
                              "science.seed_text_column / science.seed_label_column")
        t = pf.read(columns=[text_column, label_column])
        return t.column(text_column).to_pylist(), t.column(label_column).to_pylist()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise _fail(path, f"broken gzip ({e})") from e
    texts, labels = [], []
    for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise _fail(path, f"line {n} is not JSON ({e.msg}); expected one object per line") from e
        if not isinstance(obj, dict) or text_column not in obj or label_column not in obj:
            have = ", ".join(obj) if isinstance(obj, dict) else type(obj).__name__
            raise _fail(path, f"line {n} lacks {text_column!r} or {label_column!r} (has: {have}); set "
                              "science.seed_text_column / science.seed_label_column")
        texts.append(obj[text_column])
        labels.append(obj[label_column])
    return texts, labels


def seed_set_sha256(path: str) -> str:
    """sha256 of the seed file's bytes: what a stage fingerprint should include (the path alone may change content)."""
    import fsspec

    h = hashlib.sha256()
    try:
        with fsspec.open(str(path), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (OSError, ValueError) as e:
        raise _fail(str(path), f"cannot be read: {type(e).__name__}: {e}") from e
    return h.hexdigest()


def _subdomain(domain: str, text: str) -> str:
    from s1data.science.silver import lexicon_hits

    hits, _ = lexicon_hits(text[:3000])
    counts = {k.split("/")[1]: sum(v.values()) for k, v in hits.items() if k.startswith(domain + "/")}
    subs = list(TAXONOMY[domain])
    return max(subs, key=lambda s: (counts.get(s, 0), -subs.index(s)))


def _domain_label(label) -> str | None:
    """`none`, a domain, `domain/subdomain`, or None when the label is not in the taxonomy."""
    lab = "" if label is None else str(label).strip().lower()
    if lab in NOT_SCIENCE:
        return "none"
    if "/" in lab:
        return lab if lab in LABELS else None
    dom = DOMAIN_ALIASES.get(lab, lab)
    return dom if dom in TAXONOMY else None


def normalise_label(label, text: str) -> str | None:
    """The classifier label (`none` or `domain/subdomain`) of a seed label, or None when it is not in the taxonomy."""
    lab = _domain_label(label)
    return f"{lab}/{_subdomain(lab, text or '')}" if lab in TAXONOMY else lab


def load_seed_set(path: str, text_column: str = "text", label_column: str = "label",
                  max_docs: int | None = None) -> pa.Table:
    """The seed set as a table (text, label) with classifier labels; rows with an empty text are left out; more than
    `max_docs` rows: the `max_docs` with the smallest sha256 of their text."""
    texts, labels = _read_rows(str(path), text_column, label_column)
    out_t, out_l, bad = [], [], Counter()
    for t, lab in zip(texts, labels):
        if not isinstance(t, str) or not t.strip():
            continue
        norm = _domain_label(lab)
        if norm is None:
            bad[str(lab)] += 1
            continue
        out_t.append(t)
        out_l.append(norm)
    if bad:
        raise _fail(str(path), f"labels not in the taxonomy: {dict(bad.most_common(5))}; use none/non_science, a "
                               f"domain ({', '.join(TAXONOMY)}) or domain/subdomain")
    if not out_t:
        raise _fail(str(path), "has no rows with a text")
    if max_docs is not None and len(out_t) > max_docs:  # a deterministic sample, not the head of a sorted file
        keep = sorted(sorted(range(len(out_t)), key=lambda i: hashlib.sha256(out_t[i].encode()).digest())[:max_docs])
        out_t, out_l = [out_t[i] for i in keep], [out_l[i] for i in keep]
    out_l = [f"{lab}/{_subdomain(lab, t)}" if lab in TAXONOMY else lab for t, lab in zip(out_t, out_l)]
    return pa.table({"text": pa.array(out_t, pa.string()), "label": pa.array(out_l, pa.string())})
