"""Main-content extraction: s1 extractor vs trafilatura vs resiliparse, same pages, same process.

    python benchmarks/web_extraction.py [--html DIR] [--labels FILE] [--repeat N] [--json OUT]

Scores must-have / must-not-have snippets (s1data.web.extraction_eval) and measures docs/s on one core (extraction
only; pages are read into memory first, decoding to str included in every extractor's time).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from s1data.web.extraction_eval import load_labels, normalise_for_match, precision_recall_f1, score_page

ROOT = Path(__file__).resolve().parents[1]


def _extractors():
    from resiliparse.extract.html2text import extract_plain_text
    import trafilatura

    from s1data.web import extract_main_text

    return {
        "s1": lambda html: extract_main_text(html),
        "trafilatura": lambda html: trafilatura.extract(html) or "",
        "resiliparse": lambda html: extract_plain_text(html, main_content=True, comments=False),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    default_html = ROOT.parent / "shared" / "data" / "html"
    ap.add_argument("--html", type=Path, default=default_html if default_html.exists() else Path("/work/shared/data/html"))
    ap.add_argument("--labels", type=Path, default=ROOT / "benchmarks" / "labels" / "html_labels.json")
    ap.add_argument("--repeat", type=int, default=3, help="timing passes over the pages (best is kept)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from s1data.web.decode import decode_html

    labels = load_labels(args.labels)
    pages = {name: decode_html((args.html / name).read_bytes())[0] for name in sorted(labels)}
    # Label sanity: every snippet must occur in the page's full text, else it measures nothing.
    from selectolax.lexbor import LexborHTMLParser

    missing = []
    for name, html in pages.items():
        full = normalise_for_match(LexborHTMLParser(html).body.text(separator=" "))
        missing += [(name, s) for kind in ("with", "without") for s in labels[name][kind]
                    if normalise_for_match(s) not in full]
    results = {}
    for tool, fn in _extractors().items():
        counts = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
        per_page = {}
        for name, html in pages.items():
            c = score_page(fn(html), labels[name])
            per_page[name] = c
            for k in counts:
                counts[k] += c[k]
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.process_time()
            for html in pages.values():
                fn(html)
            best = min(best, time.process_time() - t0)
        results[tool] = {**precision_recall_f1(counts), **counts, "docs_per_s_core": len(pages) / best,
                         "per_page": per_page}
    print(f"{len(pages)} pages, {sum(len(v['with']) for v in labels.values())} must-have / "
          f"{sum(len(v['without']) for v in labels.values())} must-not-have snippets; "
          f"{len(missing)} snippets not found in the page text{': ' + str(missing[:5]) if missing else ''}")
    print(f"{'extractor':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'docs/s/core':>12}")
    for tool, r in results.items():
        print(f"{tool:<12} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f} {r['docs_per_s_core']:>12.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
