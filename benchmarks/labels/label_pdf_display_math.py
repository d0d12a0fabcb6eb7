"""Label display-maths pages of TeX Live documents from their LaTeX source, never from the router.

Each document is compiled (pdflatex, twice) with a marker package loaded before the document class:
- `b`/`e` marks: a deferred `\\write` at the start and end of every display environment (equation, align, gather,
  multline, flalign, alignat, eqnarray, displaymath and their starred forms, `\\[ \\]`), as in
  benchmarks/pdf_routing.py; `\\write` is deferred to shipout, so the recorded page is the shipped page;
- `x` marks: TeX's own `\\everydisplay` hook puts an `\\aftergroup` mark after *every* display (also plain `$$...$$`
  and class-specific display macros); it adds nothing to the display's math list (amsmath's `\\halign` displays stay
  legal) and lands in the line after the display, so with its vertical position (`\\pdfsavepos`) it says whether the
  display closed on that page or, when the mark sits on the first line of a page, perhaps on the page before.

A page is labelled `has_display_math` when a `b`/`e` pair opens and closes on it, or an `x` mark lies on it below its
first text line. Pages needing a look (a pair across a page break, an `x` mark on a page's first line, an `x` mark
with no environment pair: a display from a macro the `b`/`e` hooks do not see) are listed as `ambiguous` and were
decided by looking at the rendered page (label_source=visual, `VISUAL` below); a sample of marked pages was looked at
too and agreed. Like the older labels, a display set with a display environment counts whatever it holds (a few
manuals display command syntax with \\[ \\]). Output: benchmarks/labels/pdf_display_math.json
(`--write`): `--set heldout` the 26 documents of 2026-12-04 (split `heldout`), `--set fresh` / `fresh2` the documents of
2026-12-05 (labelled and committed before the router ever ran on them), `--set fresh3` the papers-first split of
2026-12-05 (papers, theses, exams and a few manuals, each source with its `kind`; committed before any router ran on
it).

Needs the TeX Live packages listed in benchmarks/pdf_routing.py (texlive-fonts-extra included: newtx, STIX2,
kpfonts and mathdesign for several journal classes).

    python benchmarks/labels/label_pdf_display_math.py [--build-dir /tmp/s1_pdf_routing] [--set fresh] [--write]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
from pathlib import Path

TEXDOC = Path("/usr/share/doc/texlive-doc/latex")
HERE = Path(__file__).resolve().parent
LABELS = HERE / "pdf_display_math.json"

# The v1 marker (benchmarks/pdf_routing.py) plus the \everydisplay mark with its vertical position on the page.
MARKER_STY_V2 = r"""\newwrite\mlog@file
\immediate\openout\mlog@file=\jobname.mathpages
\def\mlog@mark#1{\pdfsavepos\write\mlog@file{#1 \the\ReadonlyShipoutCounter\space\the\pdflastypos}}
\def\mlog@xmark{\mlog@mark{x}}
\def\mlog@env#1{\AddToHook{env/#1/before}{\mlog@mark{b}}\AddToHook{env/#1/after}{\mlog@mark{e}}}
\def\mlog@setup{%
  \NewCommandCopy\mlog@lb\[\NewCommandCopy\mlog@rb\]%
  \DeclareRobustCommand\[{\mlog@mark{b}\mlog@lb}%
  \DeclareRobustCommand\]{\mlog@rb\mlog@mark{e}}%
  \mlog@env{equation}\mlog@env{equation*}\mlog@env{align}\mlog@env{align*}\mlog@env{gather}\mlog@env{gather*}%
  \mlog@env{multline}\mlog@env{multline*}\mlog@env{flalign}\mlog@env{flalign*}\mlog@env{alignat}%
  \mlog@env{alignat*}\mlog@env{eqnarray}\mlog@env{eqnarray*}\mlog@env{displaymath}%
  \everydisplay\expandafter{\the\everydisplay\aftergroup\mlog@xmark}}
\AddToHook{begindocument/end}{\mlog@setup}
"""

# New held-out documents (never used before 2026-12-04, part 4): journal classes and maths manuals.
NEW_SOURCES = {
    "ijmsample": ("ijmart", "ijmsample.tex"),
    "aomsample": ("aomart", "aomsample.tex"),
    "mnras_guide": ("mnras", "mnras_guide.tex"),
    "cjeguide": ("cje", "cjeguide.tex"),
    "asmejour": ("asmejour", "asmejour-template.tex"),
    "aapmsamp": ("revtex/sample/aapm", "aapmsamp.tex"),
    "sorsamp": ("revtex/sample/sor", "sorsamp.tex"),
    "statex2": ("statex2", "statex2-example.tex"),
    "mathtest": ("psnfss/test", "mathtest.tex"),
    "multivar": ("rbt-mathnotes/examples", "multivar.tex"),
    "diffcoeff": ("diffcoeff", "diffcoeff.tex"),
    "isomath": ("isomath", "isomath-test.tex"),
    "causets": ("causets", "causets.tex"),
    "sciposter": ("sciposter/sciposterexample", "sciposter-example.tex"),
    "numerica": ("numerica", "numerica.tex"),
    "rec_thy": ("rec-thy", "rec-thy.tex"),
    "mecaso": ("mecaso", "mecaso.tex"),
    "prftreedoc": ("prftree", "prftreedoc.tex"),
    "subsupscripts": ("subsupscripts", "SubSupScripts.tex"),
    "oubraces": ("oubraces", "oubraces.tex"),
    "annotate_eq": ("annotate-equations", "annotate-equations.tex"),
    "euclidgeom": ("euclideangeometry", "euclideangeometry-man.tex"),
    "ionumbers": ("ionumbers", "ionumbers_test.tex"),
    "perfectcut": ("perfectcut", "perfectcut.tex"),
    "correctmathalign": ("correctmathalign", "correctmathalign.tex"),
    "teubner": ("teubner", "teubner-doc.tex"),
}

# The fresh split (chosen 2026-12-05, part 4 follow-up 2, before the router ever ran on them; none of these
# directories was used before): journal and conference classes (Elsevier elsarticle and CAS, IEEEtran, amsart
# through hep-paper, ACM acmart, revtex through hep-paper, EJP, SMF, CMP, ASME, AIAA, ASCE, JACoW, LNCS, Optical
# Engineering, NRC, Quantum's revquantum, gammas, jwjournal, ICSV, AFP, MCM, IEEE PES, ASAE, IMAC, computational
# complexity, ekaia), exams and problem sets, and maths package manuals (derivative, interval, commath, eqexpl, jkmath,
# nath, delimset, extarrows, glosmathtools, complexity, mathsemantics, simples-matrices).
FRESH_SOURCES = {
    "elsarticle_num": ("elsarticle", "elsarticle-template-num.tex"),
    "bare_conf": ("ieeetran", "bare_conf.tex"),
    "bare_adv": ("ieeetran", "bare_adv.tex"),
    "hep_revtex": ("hep-paper", "hep-paper-test-revtex.tex"),
    "acmsmall": ("acmart/samples", "sample-acmsmall.tex"),
    "ejpecp": ("ejpecp", "sample.tex"),
    "ascexmpl": ("ascelike", "ascexmpl.tex"),
    "nrc_guide": ("nrc", "userguide.tex"),
    "revquantum": ("revquantum", "example.tex"),
    "gammas": ("gammas", "gammas_template.tex"),
    "icsv": ("icsv", "icsv-example.tex"),
    "interval": ("interval", "interval.tex"),
    "commath": ("commath", "commath.tex"),
    "eqexpl": ("eqexpl", "eqexpl.tex"),
    "jkmath": ("jkmath", "jkmath.tex"),
    "nathguide": ("nath", "nathguide.tex"),
    "dlmssamp": ("delimset", "dlmssamp.tex"),
    "extarrows": ("extarrows", "extarrows-test.tex"),
    "glosmathtools": ("glosmathtools", "sample_glosmathtools_en.tex"),
    "mcmthesis": ("mcmthesis", "mcmthesis-demo.tex"),
    "ieeepes": ("ieeepes", "ieeepes_skel.tex"),
    "asaetr": ("asaetr", "asaetr.tex"),
    "cctemplate": ("computational-complexity", "cctemplate.tex"),
    "complexity": ("complexity", "complexity.tex"),
    "mathsemantics": ("mathsemantics", "mathsemantics-documentation.tex"),
    "simples_matrices": ("simples-matrices", "simples-matrices-eng.tex"),
    "brandeis_ps": ("brandeis-problemset", "example.tex"),
    "kfupm_exam": ("kfupm-math-exam", "kfupm-math-exam.tex"),
    "cesenaexam": ("cesenaexam", "cesenaexam_example.tex"),
    "l2kurz": ("lshort-german", "l2kurz.tex"),
    "ltubguid": ("tugboat", "ltubguid.ltx"),
    "mathpunctspace": ("mathpunctspace", "mathpunctspace.tex"),
    "hepunits": ("hepunits", "hepunits.tex"),
    "nuc": ("nuc", "nuc.tex"),
    "matrix_skeleton": ("matrix-skeleton", "example.tex"),
    "principia": ("principia", "principia.tex"),
    "tensind": ("tensind", "tensind.tex"),
    "boldtensors": ("boldtensors", "boldtensors.tex"),
    "ucalgmthesis": ("ucalgmthesis", "sample-thesis.tex"),
    "gaceta": ("gaceta", "plantilla-articulo-suelto.tex"),
}
# A second fresh split (chosen 2026-12-05 after the run of `fresh`, before the router ran on them): thesis classes
# and their sample chapters, exams, and maths / physics package manuals not used before.
FRESH2_SOURCES = {
    "unifith_phd": ("unifith/examples", "Dottorato.tex"),
    "kdg_course": ("kdgdocs", "kdgcoursetext-example.tex"),
    "anu_exam": ("anufinalexam", "ANUfinalexam.tex"),
    "begriff": ("begriff", "examples.tex"),
    "hepnames": ("hepnames", "hepnames.tex"),
    "zx_calculus": ("zx-calculus", "zx-calculus.tex"),
    "longdivision": ("longdivision", "longdivision_manual.tex"),
    "rank2roots": ("rank-2-roots", "rank-2-roots.tex"),
    "proof_at_end": ("proof-at-the-end", "proof-at-the-end_demo.tex"),
    "hepparticles": ("hepparticles", "hepparticles.tex"),
    "uwthesis": ("uwthesis", "uwthesis.tex"),
    "t_angles": ("t-angles", "t-manual.tex"),
}
# A third fresh split, papers first (chosen 2026-12-05, part 4 follow-up 3, after the errors of fresh and fresh2 were
# read and before any router ran on these; no directory used before): journal and conference papers and templates
# (NAW/NWEJM, Short Math. J., AGU, Beilstein, Electrical Bioimpedance, EMISA, ESTCPMM, GERAD, IJSRA, LNI, LPS,
# Philosophers' Imprint, IAG symposia, PRTEC, SUGI, confproc papers, APA 7, Cascadilla, ACTIVE), theses (GWU, UC
# Davis, UMass, MSU, UAF, SPhd, Marquette, NDSU, Auckland, York, UIUC, Wollongong, Notre Dame, UnB, cleanthesis),
# German school worksheets and tests (schule), exams and exercise sheets (exam-n's Glasgow physics questions,
# exframe, verifiche, examdesign, mcexam; texlive-latex-extra-doc, installed for this split), and a few maths
# package manuals reported apart (`kind`).
FRESH3_SOURCES = {
    "nwejm_en": ("nwejm/examples", "article-in-english.tex", "paper"),
    "shortmathj": ("shortmathj", "shortmathj-biblatex-mwe.tex", "paper"),
    "agu_geophys": ("aguplus", "geophys.tex", "paper"),
    "beilstein": ("beilstein", "beilstein-template.tex", "paper"),
    "elbioimp": ("elbioimp", "test1.tex", "paper"),
    "emisa": ("emisa", "emisa-author-template.tex", "paper"),
    "estcpmm": ("estcpmm", "sample.tex", "paper"),
    "geradwp": ("geradwp", "geradwp.tex", "paper"),
    "lni_de": ("lni", "lni-paper-example-de.tex", "paper"),
    "lps": ("lps", "lpstemplate.tex", "paper"),
    "philimprint": ("philosophersimprint", "sample.tex", "paper"),
    "prociagssymp": ("prociagssymp", "TestprocIAGssymp.tex", "paper"),
    "prtec": ("prtec", "PRTEC19-template.tex", "paper"),
    "sugconf": ("sugconf", "sugconf-template.tex", "paper"),
    "apa7_long": ("apa7/samples", "longsample.tex", "paper"),
    "cascadilla": ("cascadilla", "example.tex", "paper"),
    "ucdavis_thesis": ("ucdavisthesis/example", "ucdavisthesis_example_main.tex", "thesis"),
    "umthesis": ("umthesis", "example.tex", "thesis"),
    "sphd_thesis": ("sphdthesis/example", "thesis.tex", "thesis"),
    "mugs_thesis": ("mugsthesis/sample", "mugsthesis_sample.tex", "thesis"),
    "ndsu_thesis": ("ndsu-thesis-2022", "ndsu-example.tex", "thesis"),
    "auckland_thesis": ("aucklandthesis", "template.tex", "thesis"),
    "york_thesis": ("york-thesis", "york-thesis-Template.tex", "thesis"),
    "uiuc_thesis": ("uiucthesis", "thesis-ex.tex", "thesis"),
    "uow_thesis": ("uowthesis", "mythesis.tex", "thesis"),
    "nddiss": ("nddiss", "template.tex", "thesis"),
    "unbtex": ("unbtex", "unbtex-example.tex", "thesis"),
    "cleanthesis": ("cleanthesis", "my-thesis.tex", "thesis"),
    "schule_kl": ("schule/Beispiele", "beispiel-kl.tex", "exam"),
    "schule_schiefeebene": ("schule/Beispiele", "beispiel-ab-schiefeebene.tex", "exam"),
    "schule_ab": ("schule/Beispiele", "beispiel-ab.tex", "exam"),
    "emulateapj": ("emulateapj", "sample.tex", "paper"),
    "achemso_demo": ("achemso", "achemso-demo.tex", "paper"),
    "toptesi": ("toptesi", "toptesi-example.tex", "thesis"),
    "exam_n": ("exam-n/sample", "sample_exam.tex", "exam"),
    "exfsamp": ("exframe", "exfsamp.tex", "exam"),
    "verifiche": ("verifiche", "verifiche-example.tex", "exam"),
    "examdesign_b": ("examdesign", "exampleb.tex", "exam"),
    "mcexam_example": ("mcexam", "mcexam_example.tex", "exam"),
    "probsoln_sample": ("probsoln/samples", "sample.tex", "exam"),
    "xsim_350028": ("xsim/examples", "xsim.texsx-350028.tex", "exam"),
    "accents": ("accents", "accents.tex", "manual"),
    "hep_reference": ("hep-reference", "hep-reference-documentation.tex", "manual"),
    "numerica_plus": ("numerica-plus", "numerica-plus.tex", "manual"),
    "numerica_tables": ("numerica-tables", "numerica-tables.tex", "manual"),
    "karnaugh": ("karnaugh", "kvdoc.tex", "manual"),
    "halloweenmath": ("halloweenmath", "halloweenmath-man.tex", "manual"),
    "frege": ("frege", "frege.tex", "manual"),
    "examdoc": ("exam", "examdoc.tex", "manual"),
}
VISUAL_FRESH3: dict[str, dict[int, bool]] = {
    "numerica_plus": {18: False},  # the display before the break ends on page 17; 18's result is centred text
    "halloweenmath": {3: True},  # the \bigoplus ... \xrightarrow example display at the foot of the page
    "frege": {4: False, 5: False},  # 4: a command | output | shorthand table; 5: prose with one inline formula
}
# Tried for fresh3 and not built here: aguplus's samplus (jgrga.sty missing), ijsra (XeTeX only), confproc's papers
# (need the proceedings' files), active-conf, thesis-gwu, msu-thesis (gb4e.sty missing), uafthesis (class path);
# nwejm's sample.tex is the same article as article-in-english.tex (left out).

# Tried and not built: pascaltriangle, prooftrees, hepthesis, sapthesis, ucbthesis, erdc, classicthesis, arsclassica,
# yquant.
VISUAL_FRESH2 = {
    "uwthesis": {17: False},  # chapter 2 opening, prose only; the display is on page 18
    "t_angles": {1: False},  # title page and contents; the usage box holds code
}

# Tried and not built here (a TeX package Debian splits elsewhere is missing, or the source needs files it does not
# ship): els-cas-templates, hep-paper-test-amsart, smflatex, cmpj, asmeconf, aiaa, jacow, llncsdoc, opteng,
# jwjournal, afparticle, derivative (needs XeTeX), imac, ekaia, schulmathematik, srdp-mathematik, brandeis-problemset's
# manual, simpler-wick, eqnnumwarn, delimseasy, lgrmath, lie-hasse, sansmath, chs-physics-report,
# nicematrix-french.

# Pages the marks leave open, decided by looking at the rendered page (2026-12-04, before any router ran on them).
VISUAL = {
    "asmejour": {4: True},  # appendix equations (A1), (A2) at the foot of the right column
    "numerica": {93: False},  # the display before the break ends on page 92; page 93 has verbatim code only
    "mecaso": {4: False},  # introduction, no display; the $$ display is on page 5
    "prftreedoc": {28: True},  # rows of displayed proof trees
    "euclidgeom": {10: False},  # the display before the break ends on page 9
}


# The same for the fresh split (2026-12-05, before any router ran on them).
VISUAL_FRESH: dict[str, dict[int, bool]] = {
    "commath": {6: False},  # \sVert / \envert examples in a tabular; the display is on page 7
    "nathguide": {16: False, 20: True},  # 16: code and a command table; 20: the p q r array display at its foot
    "complexity": {15: False},  # the extended example is verbatim code ($$ shown, not typeset)
}


def build(name: str, texlive_doc_dir: str, main: str, build_dir: Path) -> Path | None:
    """Compile one document twice with the v2 marker; returns its PDF or None."""
    out = build_dir / name
    pdf = out / f"{name}.pdf"
    if pdf.exists() and (out / f"{name}.mathpages").exists():
        return pdf
    shutil.copytree(TEXDOC / texlive_doc_dir, out, dirs_exist_ok=True)
    pdf.unlink(missing_ok=True)  # a PDF shipped with the sources under the same name is not ours
    for gz in out.rglob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
    (out / "mathlog.sty").write_text(MARKER_STY_V2)
    cmd = ["pdflatex", "-interaction=nonstopmode", f"-jobname={name}",
           "\\RequirePackage{mathlog}\\input{" + main + "}"]
    for _ in range(2):
        subprocess.run(cmd, cwd=out, capture_output=True, timeout=300)
    return pdf if pdf.exists() else None


def displays(mathpages: Path) -> list[tuple[int | None, int, int]]:
    """One (page of the line before, page of the line after, y of the line after in sp from the page bottom) per
    display: b marks open, x marks close. An x mark with no open b mark is a display the environment hooks do not
    see (page before None)."""
    out, stack = [], []
    for line in mathpages.read_text().split("\n"):
        parts = line.split()
        if not parts:
            continue
        kind, page, y = parts[0], int(parts[1]), int(parts[2])
        if kind == "b":
            stack.append([page, None, None])
        elif kind == "x":
            if stack and stack[-1][1] is None:
                stack[-1][1:] = [page, y]
            else:
                out.append((None, page, y))
        elif kind == "e" and stack:
            b, x, xy = stack.pop()
            out.append((b, page, y) if x is None else (b, x, xy))
    return out


def _lines_above(page, y_sp: int) -> int:
    """Distinct text baselines on the page above a mark at y_sp (sp from the bottom)."""
    y = page.rect.height - y_sp / 65536
    bases = sorted({round(ln["bbox"][3]) for b in page.get_text("dict")["blocks"] if b.get("type") == 0
                    for ln in b["lines"] if ln["bbox"][3] < y - 3})
    distinct = [v for i, v in enumerate(bases) if i == 0 or v - bases[i - 1] > 3]
    return len(distinct)


def label_document(pdf: Path) -> tuple[dict[int, bool], list[tuple[int, str]]]:
    """Page -> has_display_math from the marks, and the pages to look at with why.

    A display whose line before and line after are on one page is on that page (sure). When the line after a
    display has at least two text lines above it on its page (a running head and the display itself, or more), at
    least part of the display is on that page (sure). Otherwise the display may sit at the bottom of the page before:
    both pages are listed to look at unless already sure."""
    import pymupdf

    sure, maybe = set(), {}
    with pymupdf.open(pdf) as doc:
        n = doc.page_count
        for b, x, xy in displays(pdf.with_suffix(".mathpages")):
            if b == x:
                sure.add(x)
                continue
            if 1 <= x <= n and _lines_above(doc[x - 1], xy) >= 2:
                sure.add(x)
            else:
                maybe.setdefault(x, "display_at_page_break")
            why = "display_without_environment_marks" if b is None else "display_across_page_break"
            for p in range(x - 1 if b is None else b, x):
                maybe.setdefault(p, why)
    labels = {p: p in sure for p in range(1, n + 1)}
    ambiguous = sorted((p, why) for p, why in maybe.items() if p not in sure and 1 <= p <= n)
    return labels, ambiguous


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="/tmp/s1_pdf_routing")
    ap.add_argument("--set", choices=("heldout", "fresh", "fresh2", "fresh3"), default="fresh3",
                    help="heldout: the 26 documents of 2026-12-04; fresh, fresh2, fresh3: the documents of 2026-12-05")
    ap.add_argument("--write", action="store_true", help="add the documents to the label file (split = --set)")
    args = ap.parse_args()
    build_dir = Path(args.build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    sources, visual = {"heldout": (NEW_SOURCES, VISUAL), "fresh": (FRESH_SOURCES, VISUAL_FRESH),
                       "fresh2": (FRESH2_SOURCES, VISUAL_FRESH2), "fresh3": (FRESH3_SOURCES, VISUAL_FRESH3)}[args.set]
    new_pages, new_sources = [], {}
    for name, (d, main_tex, *kind) in sources.items():
        pdf = build(name, d, main_tex, build_dir)
        log = pdf.parent / f"{name}.log" if pdf is not None else None
        if pdf is None or "Fatal error" in log.read_text(errors="replace"):
            print(f"{name}: NOT BUILT")
            continue
        labels, ambiguous = label_document(pdf)
        vis = visual.get(name, {})
        n_pos = sum(labels.values())
        left = [(p, why) for p, why in ambiguous if p not in vis]
        print(f"{name}: {len(labels)} pages, {n_pos} display (marks); looked at {sorted(vis)}; still open: {left}")
        new_sources[name] = {"texlive_doc_dir": d, "main": main_tex, "split": args.set, "marker": "v2"}
        if kind:
            new_sources[name]["kind"] = kind[0]
        for p, v in labels.items():
            src = "source_marks"
            if p in vis:
                src, v = "visual", vis[p]
            new_pages.append({"file": name, "page": p, "has_display_math": bool(v), "split": args.set,
                              "label_source": src})
    print(f"total: {len(new_sources)} documents, {len(new_pages)} pages, "
          f"{sum(e['has_display_math'] for e in new_pages)} display pages")
    if args.write:
        data = json.loads(LABELS.read_text())
        if args.set == "heldout":  # 2026-12-04: the first held-out split became seen when this one was made
            for e in data["pages"]:
                if e["split"] == "heldout" and e["file"] not in NEW_SOURCES:
                    e["split"], e["was_split"] = "seen", "heldout"
            for k, s in data["sources"].items():
                if s["split"] == "heldout" and k not in NEW_SOURCES:
                    s["split"], s["was_split"] = "seen", "heldout"
        data["pages"] = [e for e in data["pages"] if e["file"] not in sources] + new_pages
        data["sources"].update(new_sources)
        LABELS.write_text(json.dumps(data, indent=0) + "\n")


if __name__ == "__main__":
    main()
