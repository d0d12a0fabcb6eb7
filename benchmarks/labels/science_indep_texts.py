"""The texts of the independent science labelled set (`science_indep.json`), rebuilt from what is installed.

    .venv/bin/python benchmarks/labels/science_indep_texts.py --list [--source NAME]   # print id, chars, head

Nothing here is copied into the repository: every text is cut, deterministically, from a file that exists on the
dev machine (Debian packages, the project's venv, ../shared/data/pdf) or from a PyPI sdist (biopython 1.88, fetched
with `pip download --no-deps --no-binary :all: biopython==1.88 -d DIR`, path in $S1_BIOPYTHON_SDIST). Each text
gets an id `source:locator#n` and its sha256; the label file stores ids, sha256 and labels only.
`load_indep(labels_path)` returns the labelled rows whose text is still found with the same sha256 and says which
ones are missing (a changed package version), so the benchmark never scores a text against the wrong label.

Sources (why each: real prose written outside this project, styles absent from science-dev):
- `pdf`: the four real papers in ../shared/data/pdf (GROBID test resources): a cosmology paper, a quantum-dot
  abstract, a dental-materials abstract (scan text layer), an NLP system report; text blocks joined to ~900 chars.
- `pubmed`: PubMed abstracts in biopython 1.88's Tests/Medline and Tests/Entrez (real MEDLINE records).
- `texmath`: LaTeX source of real maths notes in Debian texlive-latex-extra-doc (rbt-mathnotes examples), split at
  blank lines and joined to ~900 chars (LaTeX markup kept, as an arXiv-source corpus would have it).
- `docstring_sci`: the prose head of docstrings in sympy, mpmath and scipy modules about mathematical functions,
  statistics and physics (the text before `Parameters` / `Examples` / doctest lines).
- `docstring_sw`: the same from general software packages (click, httpx, jinja2, fsspec, pyarrow's pure-Python
  modules, the standard library's email / http / asyncio / logging / argparse).
- `pydoc`: the Python language reference topics (pydoc_data.topics), paragraphs joined to ~900 chars.
- `licence`: /usr/share/common-licenses (GPL-3, Apache-2.0, MPL-2.0, GFDL-1.3, Artistic), paragraphs to ~900 chars.
- `debdoc`: README files under /usr/share/doc (plain or .gz), paragraphs to ~900 chars.
- `texman`: LaTeX manuals in texlive-latex-base-doc (usrguide, fntguide, clsguide, encguide, cfgguide sources).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import inspect
import json
import os
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
TEXDOC = Path("/usr/share/doc/texlive-doc/latex")
TARGET = 900          # chars a joined chunk aims at
PER_SOURCE_CAP = {"docstring_sci": 60, "docstring_sw": 50, "pydoc": 40, "licence": 30, "debdoc": 40,
                  "texman": 40}  # texts kept per source group (others: all): the smallest sha256 of their ids


def _sha(t: str) -> str:
    return hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest()


def _read(p: Path) -> str:
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def _ws(t: str) -> str:
    return re.sub(r"\s+", " ", t).strip()


def _join_paragraphs(paras: list[str], target: int = TARGET, min_chars: int = 200) -> list[str]:
    out, cur = [], ""
    for p in paras:
        p = _ws(p)
        if not p:
            continue
        cur = f"{cur} {p}".strip()
        if len(cur) >= target:
            out.append(cur)
            cur = ""
    if len(cur) >= min_chars:
        out.append(cur)
    return out


def _paragraphs(text: str) -> list[str]:
    return re.split(r"\n\s*\n", text)


def src_pdf() -> list[tuple[str, str]]:
    import pymupdf

    out = []
    for p in sorted((DATA / "pdf").glob("*.pdf")):
        with pymupdf.open(p) as doc:
            blocks = [b[4] for page in doc for b in page.get_text("blocks") if b[6] == 0]
        for n, t in enumerate(_join_paragraphs(blocks)):
            out.append((f"pdf:{p.name}#{n}", t))
    return out


def _biopython_tests() -> tarfile.TarFile | None:
    path = os.environ.get("S1_BIOPYTHON_SDIST", "/tmp/sci16/dl/biopython-1.88.tar.gz")
    return tarfile.open(path) if Path(path).exists() else None


def src_pubmed() -> list[tuple[str, str]]:
    tf = _biopython_tests()
    if tf is None:
        return []
    out = []
    for m in sorted(tf.getmembers(), key=lambda m: m.name):
        name = m.name.split("/", 1)[-1]
        if name.startswith("Tests/Medline/") and m.isfile():
            txt = tf.extractfile(m).read().decode("utf-8", "replace")
            for n, ab in enumerate(re.findall(r"^AB  - (.*?)(?=^[A-Z]{2,4} *- )", txt, re.M | re.S)):
                out.append((f"pubmed:{name}#{n}", _ws(ab)))
        elif name.startswith("Tests/Entrez/pubmed") and name.endswith(".xml"):
            txt = tf.extractfile(m).read().decode("utf-8", "replace")
            for n, ab in enumerate(re.findall(r"<Abstract>(.*?)</Abstract>", txt, re.S)):
                parts = re.findall(r"<AbstractText[^>]*>(.*?)</AbstractText>", ab, re.S)
                t = _ws(re.sub(r"<[^>]+>", " ", " ".join(parts)))
                if len(t) >= 200:
                    out.append((f"pubmed:{name}#{n}", t))
    return out


def src_texmath() -> list[tuple[str, str]]:
    out = []
    for p in sorted((TEXDOC / "rbt-mathnotes" / "examples").glob("*.tex*")):
        body = _read(p)
        body = body.split("\\begin{document}", 1)[-1]
        for n, t in enumerate(_join_paragraphs(_paragraphs(body))):
            out.append((f"texmath:rbt-mathnotes/examples/{p.name}#{n}", t))
    return out


_DOC_STOP = re.compile(r"^\s*(Parameters|Returns|Examples?|See Also|References|Notes|Raises|Attributes|Yields|"
                       r"Methods|Arguments|Args|Usage|Explanation)\s*:?\s*$|^\s*(>>>|\.\. )", re.M)


def _doc_head(doc: str | None) -> str:
    if not doc:
        return ""
    doc = inspect.cleandoc(doc)
    m = _DOC_STOP.search(doc)
    return _ws(doc[:m.start()] if m else doc)


def _docstrings(modules: list[str], tag: str) -> list[tuple[str, str]]:
    out = []
    for mod_name in modules:
        try:
            mod = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001 - a module that does not import is simply not a source
            continue
        seen = set()
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or id(obj) in seen:
                continue
            seen.add(id(obj))
            if getattr(obj, "__module__", mod_name) not in (mod_name, None) and not mod_name.startswith("scipy"):
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or type(obj).__name__ in ("ufunc",
                                                                                             "rv_continuous_frozen")
                    or hasattr(obj, "_ctor_param")):
                continue
            head = _doc_head(getattr(obj, "__doc__", None))
            if len(head) >= 250:
                out.append((f"{tag}:{mod_name}.{name}", head[:3000]))
    return out


SCI_MODULES = ["sympy.functions.special.bessel", "sympy.functions.special.gamma_functions",
               "sympy.functions.special.zeta_functions", "sympy.functions.special.error_functions",
               "sympy.functions.special.polynomials", "sympy.functions.special.elliptic_integrals",
               "sympy.physics.optics.gaussopt", "sympy.physics.quantum.spin", "sympy.physics.hydrogen",
               "sympy.physics.wigner", "sympy.physics.paulialgebra", "sympy.ntheory.factor_",
               "sympy.ntheory.residue_ntheory", "sympy.combinatorics.permutations", "sympy.stats.crv_types",
               "sympy.stats.drv_types", "scipy.stats._continuous_distns", "scipy.special",
               "scipy.integrate._ivp.ivp", "scipy.signal._filter_design", "networkx.algorithms.cluster",
               "mpmath.functions.zeta", "mpmath.functions.bessel"]
SW_MODULES = ["click.core", "click.types", "httpx._client", "httpx._models", "jinja2.environment",
              "jinja2.loaders", "fsspec.spec", "email.message", "http.cookiejar", "asyncio.locks",
              "asyncio.queues", "logging", "argparse", "shutil", "subprocess", "tarfile", "zipfile", "smtplib",
              "urllib.request", "configparser", "sqlite3", "csv"]


def src_docstring_sci() -> list[tuple[str, str]]:
    return _docstrings(SCI_MODULES, "docstring_sci")


def src_docstring_sw() -> list[tuple[str, str]]:
    return _docstrings(SW_MODULES, "docstring_sw")


def src_pydoc() -> list[tuple[str, str]]:
    from pydoc_data.topics import topics

    out = []
    for key in sorted(topics):
        for n, t in enumerate(_join_paragraphs(_paragraphs(topics[key]))):
            out.append((f"pydoc:{key}#{n}", t))
    return out


def src_licence() -> list[tuple[str, str]]:
    out = []
    for name in ("GPL-3", "Apache-2.0", "MPL-2.0", "GFDL-1.3", "Artistic"):
        p = Path("/usr/share/common-licenses") / name
        if p.exists():
            for n, t in enumerate(_join_paragraphs(_paragraphs(_read(p)))):
                out.append((f"licence:{name}#{n}", t))
    return out


def src_debdoc() -> list[tuple[str, str]]:
    out = []
    for p in sorted(Path("/usr/share/doc").glob("*/README*")):
        if p.is_file() and p.suffix in ("", ".gz", ".md", ".txt") and p.stat().st_size < 200_000:
            for n, t in enumerate(_join_paragraphs(_paragraphs(_read(p)))):
                out.append((f"debdoc:{p.relative_to('/usr/share/doc')}#{n}", t))
    return out


def src_texman() -> list[tuple[str, str]]:
    out = []
    for name in ("usrguide.tex", "fntguide.tex.gz", "clsguide.tex.gz", "encguide.tex.gz", "cfgguide.tex.gz"):
        p = TEXDOC / "base" / name
        if p.exists():
            body = _read(p).split("\\begin{document}", 1)[-1]
            for n, t in enumerate(_join_paragraphs(_paragraphs(body))):
                out.append((f"texman:base/{name}#{n}", t))
    return out


SOURCES = {"pdf": src_pdf, "pubmed": src_pubmed, "texmath": src_texmath, "docstring_sci": src_docstring_sci,
           "docstring_sw": src_docstring_sw, "pydoc": src_pydoc, "licence": src_licence, "debdoc": src_debdoc,
           "texman": src_texman}


def build(sources: list[str] | None = None, cap: int | None = None) -> dict[str, str]:
    """{id: text}: per source group at most `cap` (default PER_SOURCE_CAP) texts, the smallest sha256 of their ids."""
    out: dict[str, str] = {}
    for name in sources or list(SOURCES):
        items = SOURCES[name]()
        n = cap if cap is not None else PER_SOURCE_CAP.get(name, 10 ** 9)
        items = sorted(items, key=lambda kv: hashlib.sha256(kv[0].encode()).digest())[:n]
        out.update(sorted(items))
    return out


def load_indep(labels_path: Path | str) -> tuple[list[dict], list[str]]:
    """(rows {id, source, text, label, science}, ids whose text is missing or changed) for the labelled set."""
    meta = json.loads(Path(labels_path).read_text())
    want = meta["labels"]
    texts = build(sorted({v["id"].split(":", 1)[0] for v in want}), cap=10 ** 9)
    rows, missing = [], []
    for v in want:
        t = texts.get(v["id"])
        if t is None or _sha(t) != v["sha256"]:
            missing.append(v["id"])
            continue
        if v["label"] == "exclude":
            continue
        rows.append({"id": v["id"], "source": v["id"].split(":", 1)[0], "text": t, "label": v["label"],
                     "science": v["label"] != "non_science", "repo": "indep:" + v["id"].split(":", 1)[0]})
    return rows, missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--source", default=None)
    ap.add_argument("--dump", type=Path, help="write {id: {sha256, chars}} to this JSON file")
    ap.add_argument("--width", type=int, default=700)
    args = ap.parse_args()
    texts = build([args.source] if args.source else None)
    if args.list:
        for k, t in texts.items():
            print(f"### {k} ({len(t)} chars)\n{t[:args.width]}\n")
    if args.dump:
        args.dump.write_text(json.dumps({k: {"sha256": _sha(t), "chars": len(t)} for k, t in texts.items()},
                                        indent=0))
    print({s: sum(k.startswith(s + ":") for k in texts) for s in SOURCES}, file=sys.stderr)


if __name__ == "__main__":
    main()
