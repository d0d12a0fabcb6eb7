"""Formula routing on labelled real pages: recall of display-maths pages and the share of ordinary pages routed.

Labels: benchmarks/labels/pdf_display_math.json (file, page, has_display_math, split). The TeX Live documents are
compiled here from the sources Debian's texlive-*-doc packages ship (the same command that made the labels: a marker
package records the page of every display environment; the script checks the markers against the labels), the
shared PDFs are read from ../shared/data/pdf. Each page goes through the production code (parse._cheap_text,
parse._image_infos, PdfPageRouter with the default PdfConfig), side by side with the router as it was before display
detection (density score only: display features zero).

Splits: dev (features and thresholds chosen on it), seen (built as held out, but its errors were looked at during
development: the first held-out split, `was_split: heldout`, is in it since 2026-12-04), heldout (26 documents
labelled from their source by benchmarks/labels/label_pdf_display_math.py before the detector ever ran on them; its
false routings were read on 2026-12-05 to find their cause, so it is no longer blind), fresh (40 documents of
2026-12-05, labelled and committed before the router ran on them, run once; its errors were then read), fresh2 (12
documents, labelled and committed after the run of fresh, before the router ran on them; its errors were read after
its run), fresh3 (49 documents, papers first: 18 papers, 13 theses, 10 exams, 8 manuals, each source with its
`kind`; labelled and committed in ead020c before any router ran on it, run once). Splits whose documents have a kind
are also reported as `papers` (papers, theses, exams, guides) and `manuals`.
`--splits dev,seen` routes only the pages one may tune on. Pages of a scan (`scanned` in the labels) are
routed for OCR whatever their maths and are left out of both rates.

    apt-get install texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
        texlive-science texlive-publishers texlive-plain-generic lmodern cm-super-minimal texlive-lang-german \
        texlive-latex-base-doc texlive-science-doc texlive-publishers-doc texlive-fonts-extra \
        texlive-latex-extra-doc texlive-bibtex-extra tex-gyre     # the last three: fresh3
    python benchmarks/pdf_routing.py [--build-dir /tmp/s1_pdf_routing] [--json out.json] [--splits dev,seen] \
        [--previous COMMIT]                                # also the router with layout.py of COMMIT, side by side
    python benchmarks/pdf_routing.py --speed-vs COMMIT     # cheap-text speed, layout.py of COMMIT vs this one
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pymupdf  # noqa: E402

from s1data.pdf import PdfConfig  # noqa: E402
from s1data.pdf.detect import PdfPageRouter  # noqa: E402
from s1data.pdf.parse import _cheap_text, _image_infos  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "labels"))
import label_pdf_display_math as labeller  # noqa: E402

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels" / "pdf_display_math.json"
TEXDOC = Path("/usr/share/doc/texlive-doc/latex")
SHARED = HERE.parents[1] / "shared" / "data" / "pdf"

# Records the shipped page of every display environment: \write is deferred to shipout, so the page is exact.
MARKER_STY = r"""\newwrite\mlog@file
\immediate\openout\mlog@file=\jobname.mathpages
\def\mlog@mark#1{\write\mlog@file{#1 \the\ReadonlyShipoutCounter}}
\def\mlog@env#1{\AddToHook{env/#1/before}{\mlog@mark{b}}\AddToHook{env/#1/after}{\mlog@mark{e}}}
\def\mlog@setup{%
  \NewCommandCopy\mlog@lb\[\NewCommandCopy\mlog@rb\]%
  \DeclareRobustCommand\[{\mlog@mark{b}\mlog@lb}%
  \DeclareRobustCommand\]{\mlog@rb\mlog@mark{e}}%
  \mlog@env{equation}\mlog@env{equation*}\mlog@env{align}\mlog@env{align*}\mlog@env{gather}\mlog@env{gather*}%
  \mlog@env{multline}\mlog@env{multline*}\mlog@env{flalign}\mlog@env{flalign*}\mlog@env{alignat}%
  \mlog@env{alignat*}\mlog@env{eqnarray}\mlog@env{eqnarray*}\mlog@env{displaymath}}
\AddToHook{begindocument/end}{\mlog@setup}
"""


# Package manuals of the splits labelled before sources carried a `kind` (fresh, fresh2); every other document of those
# splits is a paper, thesis, exam or guide. fresh3's sources carry their kind (paper / thesis / exam / manual).
EARLIER_MANUALS = {
    "interval", "commath", "eqexpl", "jkmath", "nathguide", "dlmssamp", "extarrows", "glosmathtools", "complexity",
    "mathsemantics", "simples_matrices", "mathpunctspace", "hepunits", "nuc", "matrix_skeleton", "principia",
    "tensind", "boldtensors",  # fresh
    "begriff", "hepnames", "zx_calculus", "longdivision", "rank2roots", "proof_at_end", "hepparticles",
    "t_angles",  # fresh2
}


def kind_of(file: str, sources: dict) -> str | None:
    """`papers` (papers, theses, exams, guides) or `manuals` for the splits that record it, else None."""
    src = sources.get(file, {})
    if "kind" in src:
        return "manuals" if src["kind"] == "manual" else "papers"
    if src.get("split") in ("fresh", "fresh2"):
        return "manuals" if file in EARLIER_MANUALS else "papers"
    return None


def build(name: str, src: dict, build_dir: Path) -> Path | None:
    """Compile one TeX Live document (twice, for references); returns its PDF or None if it cannot be built."""
    if src.get("marker") == "v2":
        return labeller.build(name, src["texlive_doc_dir"], src["main"], build_dir)
    out = build_dir / name
    pdf = out / f"{name}.pdf"
    if pdf.exists() and (out / f"{name}.mathpages").exists():
        return pdf
    if shutil.which("pdflatex") is None:
        return None
    srcdir = TEXDOC / src["texlive_doc_dir"]
    if not srcdir.is_dir():
        return None
    shutil.copytree(srcdir, out, dirs_exist_ok=True)
    for gz in out.rglob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
    (out / "mathlog.sty").write_text(MARKER_STY)
    cmd = ["pdflatex", "-interaction=nonstopmode", f"-jobname={name}",
           "\\RequirePackage{mathlog}\\input{" + src["main"] + "}"]
    for _ in range(2):
        subprocess.run(cmd, cwd=out, capture_output=True, timeout=300)
    return pdf if pdf.exists() else None


def marker_pages(mathpages: Path) -> set[int]:
    """Pages where a display environment began and ended on the same page."""
    sure, stack = set(), []
    for line in mathpages.read_text().split("\n"):
        if not line.strip():
            continue
        kind, page = line.split()
        if kind == "b":
            stack.append(int(page))
        elif stack and stack.pop() == int(page):
            sure.add(int(page))
    return sure


def load_layout(ref: str):
    """layout.py as it was at commit `ref` (git show), as a module: the previous router, side by side."""
    import importlib.util
    import tempfile

    src = subprocess.run(["git", "show", f"{ref}:s1data/pdf/layout.py"], cwd=HERE.parent, capture_output=True,
                         text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / f"layout_{ref}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"layout_{ref}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def route_pages(pdf: Path, pages: list[int], routers: dict[str, PdfPageRouter], ref_layout=None) -> dict[int, dict]:
    out = {}
    with pymupdf.open(pdf) as doc:
        for p in pages:
            page = doc[p - 1]
            c = _cheap_text(page)
            _, cover = _image_infos(page, 96, False)
            k = c.counts
            ref = (0, 0, 0)
            if ref_layout is not None:
                rows, _ = ref_layout.display_rows(page.get_text("dict", flags=pymupdf.TEXTFLAGS_TEXT),
                                                  page.rect.width, ref_layout.PageCounts())
                disp = [r for r in rows if r.display]
                ref = (len(disp), sum(r.n for r in disp), sum(r.numbered for r in disp))
            res = {}
            for name, r in routers.items():
                disp = ((c.display_rows, c.display_chars, c.numbered_displays) if name == "s1" else ref
                        if name == "previous" else (0, 0, 0))
                f = r.features_from_counts(k.n, k.math_font, k.math_symbols, k.bad, abs(page.rect), cover, *disp)
                res[name] = {"routed": r.route(f) != "cheap", "reason": r.reason(f), "score": round(f.score, 3)}
            out[p] = res
    return out


def speed_vs(ref: str, build_dir: Path, repeat: int = 5) -> None:
    """Cheap text (parse._cheap_text) with layout.py of commit `ref` vs the working tree, interleaved in one
    process pinned to one core, best of `repeat`, pages per CPU second: the cost of the layout rules alone."""
    import importlib.util
    import tempfile

    import s1data.pdf.layout as new_layout
    import s1data.pdf.parse as parse

    src = subprocess.run(["git", "show", f"{ref}:s1data/pdf/layout.py"], cwd=HERE.parent, capture_output=True,
                         text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "layout_ref.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("layout_ref", path)
    old_layout = importlib.util.module_from_spec(spec)
    sys.modules["layout_ref"] = old_layout
    spec.loader.exec_module(old_layout)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    corpora = {"latex": [build_dir / n / f"{n}.pdf" for n in ("apssamp", "aipsamp", "bare_jrnl", "sampkluw", "pmlr",
                                                              "oup", "turnstile", "quantum_template", "aastex631",
                                                              "injpsj2")],
               "real": sorted(SHARED.glob("*.pdf"))}
    for name, files in corpora.items():
        docs = [pymupdf.open(f) for f in files if f.exists()]
        best = {"ref": 0.0, "new": 0.0}
        for _ in range(repeat):
            for key, mod in (("ref", old_layout), ("new", new_layout)):
                parse.display_rows, parse.display_groups, parse.PageCounts = (mod.display_rows, mod.display_groups,
                                                                             mod.PageCounts)
                t, n = time.process_time(), 0
                for d in docs:
                    for page in d:
                        _cheap_text(page)
                        n += 1
                best[key] = max(best[key], n / (time.process_time() - t))
        parse.display_rows, parse.display_groups, parse.PageCounts = (new_layout.display_rows,
                                                                     new_layout.display_groups, new_layout.PageCounts)
        print(f"cheap text pages/CPU-s, {name} ({n} pages): layout@{ref} {best['ref']:.1f}, working tree "
              f"{best['new']:.1f}; load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="/tmp/s1_pdf_routing")
    ap.add_argument("--json", default=None)
    ap.add_argument("--splits", default="dev,seen,heldout,fresh,fresh2,fresh3",
                    help="comma-separated splits to route (tune on dev,seen)")
    ap.add_argument("--previous", default=None, metavar="COMMIT",
                    help="also route with layout.py of COMMIT (the previous router), side by side")
    ap.add_argument("--speed-vs", default=None, metavar="COMMIT",
                    help="instead of routing: time the cheap text with layout.py of COMMIT vs the working tree")
    args = ap.parse_args()
    if args.speed_vs:
        speed_vs(args.speed_vs, Path(args.build_dir))
        return
    labels = json.loads(LABELS.read_text())
    build_dir = Path(args.build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    cfg = PdfConfig()
    routers = {"s1": PdfPageRouter(cfg.route_threshold, "vlm"), "before": PdfPageRouter(cfg.route_threshold, "vlm")}
    ref_layout = None
    if args.previous:
        ref_layout = load_layout(args.previous)
        routers["previous"] = PdfPageRouter(cfg.route_threshold, "vlm")

    splits = args.splits.split(",")
    by_file: dict[str, list[dict]] = defaultdict(list)
    for e in labels["pages"]:
        if e["split"] in splits:
            by_file[e["file"]].append(e)
    results, missing, marker_mismatch = [], [], []
    t0 = time.process_time()
    for f, entries in by_file.items():
        if f.endswith(".pdf"):
            pdf = SHARED / f
        else:
            pdf = build(f, labels["sources"][f], build_dir)
        if pdf is None or not pdf.exists():
            missing.append(f)
            continue
        if labels["sources"].get(f, {}).get("marker") == "v2":
            marked, _ = labeller.label_document(pdf)
            for e in entries:
                if e["label_source"] == "source_marks" and marked[e["page"]] != e["has_display_math"]:
                    marker_mismatch.append((f, e["page"]))
        elif not f.endswith(".pdf"):
            marks = marker_pages(pdf.with_suffix(".mathpages"))
            for e in entries:
                if e["label_source"] == "source_marks" and (e["page"] in marks) != e["has_display_math"]:
                    marker_mismatch.append((f, e["page"]))
        routed = route_pages(pdf, [e["page"] for e in entries], routers, ref_layout)
        for e in entries:
            results.append(dict(e, **{k: v for k, v in routed[e["page"]].items()}))
    seconds = time.process_time() - t0

    print(f"labels: {LABELS.relative_to(HERE.parent)}; {len(results)} pages routed in {seconds:.1f} s CPU; "
          f"load average {os.getloadavg()[0]:.1f}")
    if missing:
        print(f"NOT BUILT (missing TeX Live packages or sources): {missing}")
    if marker_mismatch:
        print(f"WARNING markers disagree with labels: {marker_mismatch}")
    prev = f" | {'recall previous':>15} {'ordinary routed previous':>24}" if ref_layout is not None else ""
    print(f"{'split':15} {'pages':>5} {'display':>7} {'ordinary':>8} | {'recall s1':>9} {'ordinary routed s1':>18} | "
          f"{'recall before':>13} {'ordinary routed before':>22}{prev}")
    summary = {}
    groups = [(split, None) for split in splits + ["all"]]
    for split in splits:
        kinds = {kind_of(r["file"], labels["sources"]) for r in results if r["split"] == split}
        if kinds - {None}:
            groups += [(split, "papers"), (split, "manuals")]
    for split, kind in groups:
        rows = [r for r in results if (split == "all" or r["split"] == split)
                and (kind is None or kind_of(r["file"], labels["sources"]) == kind)]
        name_ = split if kind is None else f"{split}:{kind}"
        pos = [r for r in rows if r["has_display_math"] and not r.get("scanned")]
        neg = [r for r in rows if not r["has_display_math"] and not r.get("scanned")]
        s = {}
        for name in routers:
            tp = sum(r[name]["routed"] for r in pos)
            fp = sum(r[name]["routed"] for r in neg)
            s[name] = {"recall": tp / max(len(pos), 1), "ordinary_routed": fp / max(len(neg), 1), "tp": tp,
                       "fp": fp, "high_cost_share": sum(r[name]["routed"] for r in rows) / max(len(rows), 1)}
        summary[name_] = dict(pages=len(rows), display=len(pos), ordinary=len(neg), **s)
        print(f"{name_:15} {len(rows):5d} {len(pos):7d} {len(neg):8d} | {100 * s['s1']['recall']:8.1f}% "
              f"{100 * s['s1']['ordinary_routed']:17.1f}% | {100 * s['before']['recall']:12.1f}% "
              f"{100 * s['before']['ordinary_routed']:21.1f}%" + (
                  f" | {100 * s['previous']['recall']:14.1f}% {100 * s['previous']['ordinary_routed']:23.1f}%"
                  if ref_layout is not None else ""))
    for split in splits:
        fn = [(r["file"], r["page"], r["s1"]["score"]) for r in results if r["split"] == split
              and r["has_display_math"] and not r["s1"]["routed"]]
        fp = [(r["file"], r["page"], r["s1"]["reason"]) for r in results if r["split"] == split
              and not r["has_display_math"] and not r.get("scanned") and r["s1"]["routed"]]
        print(f"{split}: missed display pages {fn}")
        print(f"{split}: ordinary pages routed {fp}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "pages": results}, indent=1))


if __name__ == "__main__":
    main()
