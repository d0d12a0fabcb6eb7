"""Peak memory of the recycled PDF parser process on one very long PDF (default 3000 pages, text + images per page).

Runs the real `parse_batch` (a fresh parser subprocess bounded in time and memory) with default settings and
reports pages, seconds, the worker's own `peak_rss_mb` and an independent peak: this script polls the RSS of its
child processes at 50 Hz. The batch is [big.pdf, small.pdf], so the second run also shows that the file after a
killed one is still parsed. Second run: the same batch with a deliberately low --low-mb limit, which must end as a
`pdf_memory_limit` quarantine row (status 'transient'), not a crash.

The parent runs parse_batch from a fresh, small interpreter: on Linux a child's ru_maxrss (which the worker records)
starts from the parent's RSS at fork, so a large parent would inflate `peak_rss_mb` (see BENCHMARKS.md note).

    python benchmarks/pdf_memory.py [--pages 3000] [--images 3] [--low-mb 240]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402
import pymupdf  # noqa: E402

from s1data.pdf import PdfConfig, parse_batch  # noqa: E402
from s1data.samples import SAMPLE_TEXTS, write_sample_pdf  # noqa: E402


def make_big_pdf(path: Path, pages: int, images_per_page: int, pool: int = 256) -> None:
    """pages of ~2 KB text each with `images_per_page` figures + captions; images drawn from a pool of `pool`
    distinct 160x120 PNGs (embedded once each, referenced by xref) to keep the file and generation time small."""
    doc = pymupdf.open()
    pngs = []
    for k in range(pool):
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 160, 120), False)
        pix.clear_with(40 + (k * 37) % 200)
        for j in range(6):  # a few distinct rectangles so the images differ
            c = ((k * 11 + j * 53) % 256, (k * 29 + j * 17) % 256, (k * 7 + j * 101) % 256)
            x, y = (k * 13 + j * 23) % 130, (k * 5 + j * 31) % 90
            pix.set_rect(pymupdf.IRect(x, y, x + 30, y + 30), c)
        pngs.append(pix.tobytes("png"))
    xrefs = [0] * pool
    title, body = SAMPLE_TEXTS[0]
    for i in range(pages):
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(56, 40, 540, 430), f"{title}\n\nPage {i + 1}\n\n" + body * 6, fontsize=9)
        for j in range(images_per_page):
            k = (i * images_per_page + j) % pool
            r = pymupdf.Rect(56 + j * 165, 450, 56 + j * 165 + 160, 570)
            xrefs[k] = page.insert_image(r, stream=pngs[k] if not xrefs[k] else None, xref=xrefs[k])
            page.insert_textbox(pymupdf.Rect(r.x0, 575, r.x1, 620), f"Figure {i * images_per_page + j + 1}: "
                                "measured conductivity.", fontsize=7)
    doc.save(path, garbage=1, deflate=True)
    doc.close()


class ChildRss:
    """Polls the RSS of this process's children (the parser subprocess) and keeps the max."""

    def __init__(self, hz: float = 50.0):
        self.peak, self.dt, self._stop = 0, 1.0 / hz, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for c in me.children(recursive=True):
                try:
                    self.peak = max(self.peak, c.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(self.dt)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def run(files: list[dict], config: PdfConfig, work: Path) -> dict:
    jobs = [dict(f, staging=str(work / "staging" / f["sha256"][:8])) for f in files]
    with ChildRss() as mon:
        t = time.perf_counter()
        res = parse_batch(jobs, config)
        wall = time.perf_counter() - t
    return {"max_memory_mb": config.max_memory_mb, "wall_s": wall, "polled_peak_mb": mon.peak / 2**20,
            "parent_rss_mb": psutil.Process().memory_info().rss / 2**20,
            "files": [{"file": Path(j["path"]).name, "status": s["status"], "n_pages": s["n_pages"],
                       "routes": s["routes"], "n_figures": s["n_figures"], "peak_rss_mb": s.get("peak_rss_mb"),
                       "seconds": s.get("seconds"), "quarantine": [q["reason"] for q in s["quarantine"]]}
                      for j, s in zip(jobs, res)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=3000)
    ap.add_argument("--images", type=int, default=3, help="images per page")
    ap.add_argument("--low-mb", type=int, default=240,
                    help="max_memory_mb of the second run (above the ~210 MiB idle parser, below its peak)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="s1_pdf_mem_"))
    big = work / f"big_{args.pages}.pdf"
    t = time.perf_counter()
    make_big_pdf(big, args.pages, args.images)
    gen_s = time.perf_counter() - t
    small = write_sample_pdf(work / "small.pdf", *SAMPLE_TEXTS[1], pages=3)
    files = [{"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in (big, small)]
    print(f"generated {big.name}: {args.pages} pages, {args.images} images/page, "
          f"{big.stat().st_size / 2**20:.1f} MiB in {gen_s:.1f} s", flush=True)

    out = {"pages": args.pages, "images_per_page": args.images, "pdf_mib": big.stat().st_size / 2**20,
           "generate_s": gen_s}
    out["default"] = run(files, PdfConfig(), work)
    shutil.rmtree(work / "staging", ignore_errors=True)
    out["low_limit"] = run(files, PdfConfig(max_memory_mb=args.low_mb), work)
    shutil.rmtree(work, ignore_errors=True)

    for name in ("default", "low_limit"):
        r = out[name]
        print(f"\n[{name}] max_memory_mb={r['max_memory_mb']} wall {r['wall_s']:.1f} s, polled child peak "
              f"{r['polled_peak_mb']:.0f} MiB (parent RSS {r['parent_rss_mb']:.0f} MiB)")
        for f in r["files"]:
            rate = f" {f['n_pages'] / f['seconds']:.0f} pages/s" if f.get("seconds") else ""
            print(f"  {f['file']:16} {f['status']:10} pages={f['n_pages']:5d} figures={f['n_figures']:5d} "
                  f"routes={f['routes']} peak_rss_mb={f['peak_rss_mb']:.0f} seconds={f['seconds'] or 0:.1f}{rate} "
                  f"quarantine={f['quarantine']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
