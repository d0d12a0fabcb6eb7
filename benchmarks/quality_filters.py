"""Quality filters (issue 16): s1 vs datatrove 0.10.1 on real text, same texts, same run: agreement and docs/s/core.

Real texts (read from ../shared/data, never copied into the repo), each tagged with its source:
- `gt`: the 181 `articleBody` texts of extraction-dev/ground-truth.json (clean article text, with paragraphs);
- `sci`: `--sci` paragraphs of science-dev/docs.jsonl.gz, the ones with the smallest sha256 of their text
  (deterministic; single-paragraph texts of 120-5,000 characters, many short: they exercise the length rules);
- `traf`: trafilatura's main text of the 181 extraction-dev pages and the 25 pages of html/ (what FineWeb kept);
- `page`: resiliparse's plain text of the whole page (`main_content=False`): menus, footers, cookie lines, i.e.
  the unfiltered web text the C4 / FineWeb line rules were written for.
"English" = resiliparse's language id says `en`; agreement is reported for English texts and for the others.

Each family runs with its published defaults on both sides (datatrove's constructor defaults; ours equal):
Gopher quality, Gopher repetition, C4 (curly-bracket rule on, as published), FineWeb. A text *agrees* when both
keep it or both drop it; the reason is compared through `REASONS` (datatrove's reason -> ours). Rates are CPU time
of this process (`time.process_time`) over the same texts: per family (s1's per-chunk word cache warm), and all four
families in a row with s1's cache cleared first (what a fresh worker pays on its first partition).

    .venv/bin/python benchmarks/quality_filters.py [--sci 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FAMILIES = ("gopher_quality", "gopher_repetition", "c4", "fineweb")

# datatrove reason -> s1 reason (ours are prefixed by the block; the n in a repetition reason is kept)
REASONS = {
    "gopher_short_doc": "gopher_short_doc", "gopher_long_doc": "gopher_long_doc",
    "gopher_below_avg_threshold": "gopher_below_avg_word_length",
    "gopher_above_avg_threshold": "gopher_above_avg_word_length",
    "gopher_too_many_hashes": "gopher_too_many_hashes", "gopher_too_many_ellipsis": "gopher_too_many_ellipsis",
    "gopher_too_many_bullets": "gopher_too_many_bullets",
    "gopher_too_many_end_ellipsis": "gopher_too_many_ellipsis_lines",
    "gopher_below_alpha_threshold": "gopher_too_many_non_alpha_words",
    "gopher_enough_stop_words": "gopher_few_stop_words",
    "empty": "gopher_rep_empty", "dup_para_frac": "gopher_rep_dup_para_frac",
    "dup_para_char_frac": "gopher_rep_dup_para_char_frac", "dup_line_frac": "gopher_rep_dup_line_frac",
    "dup_line_char_frac": "gopher_rep_dup_line_char_frac",
    **{f"top_{n}_gram": f"gopher_rep_top_{n}gram" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"gopher_rep_dup_{n}gram" for n in range(5, 11)},
    "lorem_ipsum": "c4_lorem_ipsum", "curly_bracket": "c4_curly_bracket", "too_few_sentences": "c4_too_few_sentences",
    "line_punct_ratio": "fineweb_line_punct_ratio", "short_line_ratio": "fineweb_short_line_ratio",
    "char_dup_ratio": "fineweb_char_dup_ratio", "list_ratio": "fineweb_list_ratio",
}


def real_texts(shared: Path = SHARED, n_sci: int = 3000, pages: bool = True) -> list[dict]:
    """[{"source", "id", "text", "lang"}] in a fixed order (see the module docstring)."""
    from s1data.filters.language import detect_language

    out = []
    gt = json.loads((shared / "extraction-dev" / "ground-truth.json").read_text())
    for k in sorted(gt):
        out.append({"source": "gt", "id": k, "text": gt[k]["articleBody"]})
    with gzip.open(shared / "science-dev" / "docs.jsonl.gz", "rt", encoding="utf-8") as f:
        sci = [json.loads(line)["text"] for line in f]
    sci.sort(key=lambda t: hashlib.sha256(t.encode()).digest())
    out += [{"source": "sci", "id": hashlib.sha256(t.encode()).hexdigest()[:16], "text": t} for t in sci[:n_sci]]
    if pages:
        import trafilatura
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        files = sorted((shared / "extraction-dev" / "html").glob("*.html.gz")) + sorted((shared / "html").glob("*.html"))
        for p in files:
            raw = gzip.open(p, "rb").read() if p.suffix == ".gz" else p.read_bytes()
            html = raw.decode("utf-8", "replace")
            main = trafilatura.extract(html, include_comments=False, favor_precision=False) or ""
            if main.strip():
                out.append({"source": "traf", "id": p.name, "text": main})
            full = extract_plain_text(HTMLTree.parse(html), main_content=False)
            if full.strip():
                out.append({"source": "page", "id": p.name, "text": full})
    for d in out:
        d["lang"] = detect_language(d["text"])[0]
    return out


def datatrove_filters() -> dict:
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    return {"gopher_quality": GopherQualityFilter(), "gopher_repetition": GopherRepetitionFilter(),
            "c4": C4QualityFilter(), "fineweb": FineWebQualityFilter()}


def s1_filters() -> dict:
    from s1data.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    return {"gopher_quality": GopherQualityFilter(), "gopher_repetition": GopherRepetitionFilter(),
            "c4": C4QualityFilter(filter_curly_bracket=True), "fineweb": FineWebQualityFilter()}


def run_datatrove(block, texts: list[str]) -> list[tuple[bool, str | None, str | None]]:
    """(keep, reason, rewritten text) per text; an exception is reported as reason `error:<type>`."""
    from datatrove.data import Document

    out = []
    for i, t in enumerate(texts):
        doc = Document(text=t, id=str(i))
        try:
            r = block.filter(doc)
        except Exception as e:  # datatrove divides by zero on texts without words
            out.append((False, f"error:{type(e).__name__}", None))
            continue
        ok, reason = (r, None) if isinstance(r, bool) else r
        out.append((ok, reason, doc.text))
    return out


def run_s1(block, texts: list[str]) -> list[tuple[bool, str | None, str | None]]:
    out = []
    for t in texts:
        row: dict = {}
        r = block.filter(t, row)
        ok, reason = (r, None) if isinstance(r, bool) else r
        out.append((ok, reason, row.get("_text", t)))
    return out


def s1_reason(family: str, reason: str | None) -> str | None:
    """Our name for a datatrove reason (both FineWeb and repetition say "empty")."""
    if reason == "empty" and family == "fineweb":
        return "fineweb_empty"
    return REASONS.get(reason, reason)


def classify(family: str, dt: tuple, s1: tuple) -> str:
    """'same' | 'same_decision_other_reason' | 'c4_text_differs' | a documented category | 'unexplained'."""
    (dk, dr, dtext), (sk, sr, stext) = dt, s1
    no_words = dr is not None and dr.startswith("error:") and sr == "gopher_empty"
    if dk and sk:
        return "c4_text_differs" if family == "c4" and dtext != stext else "same"
    if not dk and not sk:
        return "same" if s1_reason(family, dr) == sr or no_words else "same_decision_other_reason"
    return "no_words" if no_words else "unexplained"


def compare(docs: list[dict], families=FAMILIES) -> dict:
    """Per family: agreement (all / English / other), reason agreement, disagreements with their category."""
    texts = [d["text"] for d in docs]
    dts, s1s = datatrove_filters(), s1_filters()
    report = {}
    for fam in families:
        a, b = run_datatrove(dts[fam], texts), run_s1(s1s[fam], texts)
        rows = []
        for d, x, y in zip(docs, a, b):
            rows.append({"source": d["source"], "id": d["id"], "lang": d["lang"], "datatrove": [x[0], x[1]],
                         "s1": [y[0], y[1]], "category": classify(fam, x, y)})
        en = [r for r in rows if r["lang"] == "en"]
        other = [r for r in rows if r["lang"] != "en"]

        def agree(rs):
            return sum(r["datatrove"][0] == r["s1"][0] for r in rs) / max(len(rs), 1)

        report[fam] = {
            "n": len(rows), "n_en": len(en), "agreement": agree(rows), "agreement_en": agree(en),
            "agreement_other": agree(other) if other else None,
            "reason_agreement": sum(r["category"] == "same" for r in rows) / max(len(rows), 1),
            "dropped_datatrove": sum(not r["datatrove"][0] for r in rows),
            "dropped_s1": sum(not r["s1"][0] for r in rows),
            "disagreements": [r for r in rows if r["category"] != "same"],
        }
    return report


def throughput(docs: list[dict], families=FAMILIES, repeats: int = 1) -> dict:
    """docs/s per core (process CPU time) on the same texts: each family alone (s1 with a warm word cache), and
    the four families in a row with s1's word cache cleared first (a fresh worker's first pass)."""
    from s1data.filters import text as T

    texts = [d["text"] for d in docs]
    dts, s1s = datatrove_filters(), s1_filters()
    out = {}
    T._CACHE.clear()
    T._SPACED.clear()
    t0 = time.process_time()
    for fam in families:
        run_s1(s1s[fam], texts)
    cold = time.process_time() - t0
    for fam in families:
        t0 = time.process_time()
        for _ in range(repeats):
            run_datatrove(dts[fam], texts)
        t_dt = (time.process_time() - t0) / repeats
        t0 = time.process_time()
        for _ in range(repeats):
            run_s1(s1s[fam], texts)
        t_s1 = (time.process_time() - t0) / repeats
        out[fam] = {"datatrove_docs_s": len(texts) / t_dt, "s1_docs_s": len(texts) / t_s1, "speedup": t_dt / t_s1,
                    "datatrove_s": t_dt}
    t_dt_all = sum(out[f]["datatrove_s"] for f in families)
    out["all_four"] = {"datatrove_docs_s": len(texts) / t_dt_all, "s1_cold_docs_s": len(texts) / cold,
                       "speedup_cold": t_dt_all / cold}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sci", type=int, default=3000, help="science-dev paragraphs in the sample")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--json", help="write the full report (with every disagreement) here")
    args = ap.parse_args()
    t0 = time.time()
    docs = real_texts(n_sci=args.sci)
    load = os.getloadavg()
    by_source = {}
    for d in docs:
        by_source.setdefault(d["source"], [0, 0])
        by_source[d["source"]][0] += 1
        by_source[d["source"]][1] += d["lang"] == "en"
    rep = compare(docs)
    thr = throughput(docs, repeats=args.repeats)
    summary = {"texts": len(docs), "by_source_(n,en)": by_source, "chars": sum(len(d["text"]) for d in docs),
               "loadavg_start": load, "loadavg_end": os.getloadavg(), "wall_s": round(time.time() - t0, 1)}
    print(json.dumps(summary))
    print(f"{'family':18} {'n_en':>5} {'agree_en':>9} {'agree_all':>9} {'reason':>7} {'drop_dt':>7} {'drop_s1':>7} "
          f"{'dt doc/s':>9} {'s1 doc/s':>9} {'x':>6}")
    for fam in FAMILIES:
        r, t = rep[fam], thr[fam]
        print(f"{fam:18} {r['n_en']:5d} {r['agreement_en']:9.4f} {r['agreement']:9.4f} {r['reason_agreement']:7.4f} "
              f"{r['dropped_datatrove']:7d} {r['dropped_s1']:7d} {t['datatrove_docs_s']:9.0f} {t['s1_docs_s']:9.0f} "
              f"{t['speedup']:6.1f}")
        cats: dict = {}
        for x in r["disagreements"]:
            cats[x["category"]] = cats.get(x["category"], 0) + 1
        if cats:
            print("   disagreement categories:", cats)
    a = thr["all_four"]
    print(f"all four in a row: datatrove {a['datatrove_docs_s']:.0f} docs/s, s1 with a cold word cache "
          f"{a['s1_cold_docs_s']:.0f} docs/s ({a['speedup_cold']:.1f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "agreement": rep, "throughput": thr}, indent=1))


if __name__ == "__main__":
    main()
