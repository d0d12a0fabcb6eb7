"""Pages per second per core of the PDF stage: plain PyMuPDF get_text (the floor), the cheap route, the high-cost
local route forced on every page, the mixed default run, and the end-to-end recycled `parse_batch`.

The process pins itself to one CPU (sched_setaffinity; child processes such as Tesseract and the parse_batch
parser inherit it), so wall time is one-core time even where a library would start threads (onnxruntime in
PyMuPDF4LLM's layout model does). CPU time (self + children) is reported next to it. Each measurement runs
--repeat times (default 3) and the best is kept.

Corpora, reported separately:
- real: the PDFs in ../shared/data/pdf (4 papers, one of them scanned), --passes times over;
- latex: real LaTeX-typeset papers compiled from TeX Live's documentation sources by benchmarks/pdf_routing.py
  (journal samples and templates: revtex aps/aip, jpsj, ptptex, oup, kluwer, aastex, pmlr, quantum, turnstile;
  --latex-dir, default /tmp/s1_pdf_routing; skipped if not built), --passes times over;
- generated: --gen-files ordinary multi-page science-like PDFs (s1data.samples.write_sample_pdf, 6-14 pages), every
  5th with the sample's math block on its last page (scores ~0.38: stays cheap at the default threshold 0.5), and
  every 10th with one extra page of display math only (scores 1.0: the high-cost route).

    python benchmarks/pdf_throughput.py [--passes 10] [--high-passes 2] [--gen-files 40] [--gen-high-files 10] [--repeat 3] [--cpu 1]
    python benchmarks/pdf_throughput.py --only floor,cheap,cheap_nofig --corpora latex,real   # the cheap route only

The cheap route is measured with figure extraction on (`cheap`, the default config with high_cost_route='none')
and off (`cheap_nofig`); "pages/s (cpu)" is pages per CPU second of this process and its children, pinned to one
core, so it is the per-core rate whatever else runs on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pymupdf  # noqa: E402

from s1data.pdf import PdfConfig, parse_batch, parse_pdf  # noqa: E402
from s1data.samples import SAMPLE_TEXTS, write_sample_pdf  # noqa: E402

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdf"
LATEX_PAPERS = ["pmlr", "apssamp", "aipsamp", "injpsj2", "oup", "sampkluw", "aastex631", "quantum_template",
                "manptp", "turnstile"]
MEASUREMENTS = ["floor", "cheap", "cheap_nofig", "high_cost_forced", "mixed", "parse_batch_mixed"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def n_pages(path: Path) -> int:
    with pymupdf.open(path) as d:
        return d.page_count


def cpu_now() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def best_of(fn, repeat: int) -> dict:
    """Run fn() `repeat` times; keep the fastest (wall). fn returns {pages, ...}."""
    best = None
    for _ in range(repeat):
        w, c = time.perf_counter(), cpu_now()
        with contextlib.redirect_stdout(io.StringIO()):  # PyMuPDF4LLM prints a banner per call
            info = fn()
        info.update(wall_s=time.perf_counter() - w, cpu_s=cpu_now() - c)
        if best is None or info["wall_s"] < best["wall_s"]:
            best = info
    best["pages_per_s_wall"] = best["pages"] / best["wall_s"]
    best["pages_per_s_cpu"] = best["pages"] / max(best["cpu_s"], 1e-9)
    return best


def floor(files: list[Path], passes: int) -> dict:
    pages = 0
    for _ in range(passes):
        for p in files:
            with pymupdf.open(p) as d:
                for page in d:
                    page.get_text()
                    pages += 1
    return {"pages": pages}


def run_parse(files: list[tuple[Path, str]], passes: int, config: PdfConfig, work: Path) -> dict:
    pages, routes = 0, {}
    out = work / "out"
    for k in range(passes):
        for i, (p, sha) in enumerate(files):
            s = parse_pdf(p, sha, out / f"{k}_{i}", config)
            pages += s["n_pages"]
            for r, n in s["routes"].items():
                routes[r] = routes.get(r, 0) + n
        shutil.rmtree(out, ignore_errors=True)
    return {"pages": pages, "routes": routes}


def run_batch(files: list[tuple[Path, str]], passes: int, config: PdfConfig, work: Path) -> dict:
    jobs = [{"path": str(p), "sha256": f"{sha}-{k}", "staging": str(work / "staging" / f"{k}_{i}")}
            for k in range(passes) for i, (p, sha) in enumerate(files)]  # distinct keys: results are keyed by sha
    res = parse_batch(jobs, config)
    shutil.rmtree(work / "staging", ignore_errors=True)
    routes: dict[str, int] = {}
    for s in res:
        for r, n in s["routes"].items():
            routes[r] = routes.get(r, 0) + n
    return {"pages": sum(s["n_pages"] for s in res), "routes": routes,
            "processes": -(-len(jobs) // config.files_per_task),
            "statuses": sorted({s["status"] for s in res}),
            "peak_rss_mb": max(s.get("peak_rss_mb", 0) for s in res)}


def high_share(routes: dict) -> float:
    total = sum(routes.values())
    return sum(n for r, n in routes.items() if r not in ("cheap",)) / max(total, 1)


def generated_corpus(d: Path, n_files: int) -> list[Path]:
    files = []
    for i in range(n_files):
        title, body = SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)]
        files.append(write_sample_pdf(d / f"gen_{i:03d}.pdf", f"{title} ({i})", body, pages=6 + (i % 9),
                                      math_page=(i % 5 == 4)))
        if i % 10 == 9:
            add_display_math_page(files[-1])
    return files


def add_display_math_page(path: Path) -> None:
    """Insert a page of display equations (math font only) before the last page."""
    doc = pymupdf.open(path)
    page = doc.new_page(pno=doc.page_count - 1)
    eq = "∀ε>0 ∃δ>0 : |x−y|<δ ⇒ |f(x)−f(y)|<ε    ∑ᵢ ∫ ∂²ψ/∂x² dx ≤ ∞ ,  A ⊆ B ∪ C ,  ∇·E = ρ/ε₀\n\n"
    page.insert_textbox(pymupdf.Rect(56, 56, 540, 780), eq * 14, fontsize=11, fontname="symb")
    tmp = path.with_suffix(".tmp.pdf")
    doc.save(tmp)
    doc.close()
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-dir", default=str(REAL_DIR))
    ap.add_argument("--passes", type=int, default=10, help="passes over the real corpus (floor, cheap, mixed, batch)")
    ap.add_argument("--high-passes", type=int, default=2, help="passes for the forced high-cost route")
    ap.add_argument("--gen-files", type=int, default=40)
    ap.add_argument("--gen-passes", type=int, default=2, help="passes over the generated corpus (high-cost: 1)")
    ap.add_argument("--gen-high-files", type=int, default=10,
                    help="the forced high-cost route on the generated corpus runs on its first N files only")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one)")
    ap.add_argument("--json", default=None, help="also write the raw figures here")
    ap.add_argument("--latex-dir", default="/tmp/s1_pdf_routing", help="build folder of benchmarks/pdf_routing.py")
    ap.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated measurements")
    ap.add_argument("--corpora", default="real,latex,generated", help="comma-separated corpora")
    args = ap.parse_args()

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    work = Path(tempfile.mkdtemp(prefix="s1_pdf_bench_"))
    only = set(args.only.split(","))
    wanted = set(args.corpora.split(","))
    real = sorted(Path(p) for p in glob.glob(os.path.join(args.real_dir, "*.pdf")))
    latex = [p for p in (Path(args.latex_dir) / n / f"{n}.pdf" for n in LATEX_PAPERS) if p.exists()]
    gen = generated_corpus(work / "gen", args.gen_files) if "generated" in wanted else []
    corpora = {"real": (real, args.passes, args.high_passes, len(real)),
               "latex": (latex, args.passes, args.high_passes, 3),
               "generated": (gen, args.gen_passes, 1, args.gen_high_files)}
    corpora = {k: v for k, v in corpora.items() if k in wanted}

    cheap = PdfConfig(high_cost_route="none")
    cheap_nofig = PdfConfig(high_cost_route="none", extract_figures=False)
    forced = PdfConfig(route_threshold=0.0)
    mixed = PdfConfig()
    # warm up imports (pymupdf4llm, layout model, pyarrow) so the first measurement does not pay them
    first = (real or latex or gen)[0]
    with contextlib.redirect_stdout(io.StringIO()):
        run_parse([(first, "warm")], 1, forced if "high_cost_forced" in only or "mixed" in only else cheap, work)

    results: dict[str, dict] = {}
    for name, (files, passes, hpasses, hfiles) in corpora.items():
        if not files:
            continue
        keyed = [(p, sha256(p)) for p in files]
        r = results[name] = {"files": len(files), "pages_per_pass": sum(n_pages(p) for p in files)}
        todo = {
            "floor": lambda: floor(files, passes),
            "cheap": lambda: run_parse(keyed, passes, cheap, work),
            "cheap_nofig": lambda: run_parse(keyed, passes, cheap_nofig, work),
            "high_cost_forced": lambda: run_parse(keyed[:hfiles], hpasses, forced, work),
            "mixed": lambda: run_parse(keyed, passes, mixed, work),
            "parse_batch_mixed": lambda: run_batch(keyed, passes, mixed, work),
        }
        for k in MEASUREMENTS:
            if k in only:
                r[k] = best_of(todo[k], args.repeat)
        for k in ("mixed", "parse_batch_mixed"):
            if k in r:
                r[k]["high_cost_share"] = high_share(r[k]["routes"])
        print(f"[{name}] done", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    print(f"one core (CPU {cpu}), best of {args.repeat}; pages/s = pages / wall (pinned); cpu = self + children; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'corpus':10} {'measurement':22} {'pages':>6} {'pages/s/core':>12} {'pages/s (cpu)':>13} "
          f"{'high-cost':>9}")
    for name, r in results.items():
        for k in (k for k in MEASUREMENTS if k in r):
            m = r[k]
            share = f"{100 * m['high_cost_share']:.1f}%" if "high_cost_share" in m else ""
            print(f"{name:10} {k:22} {m['pages']:6d} {m['pages_per_s_wall']:12.1f} {m['pages_per_s_cpu']:13.1f} "
                  f"{share:>9}")
        print(f"{name:10} files={r['files']} pages/pass={r['pages_per_pass']}"
              + (f" mixed routes={r['mixed']['routes']}" if "mixed" in r else "")
              + (f" batch: {r['parse_batch_mixed']['processes']} processes, peak RSS "
                 f"{r['parse_batch_mixed']['peak_rss_mb']:.0f} MiB" if "parse_batch_mixed" in r else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
