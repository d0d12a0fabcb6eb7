"""Chaos and fuzz at full size (issue 18): hostile inputs now, kills of the pipeline later.

    .venv/bin/python benchmarks/chaos.py inputs [--seed 0] [--per-family 3] [--timeout 900] [--out FILE.json]
    .venv/bin/python benchmarks/chaos.py kills ...        # (the kill -9 / s1 rerun part: added by its own change)

`inputs` generates hostile PDFs and WARC/ARC files from the real ones of ../shared/data (seeded: cuts at random
points, flipped bytes, records without a target URI, header lines of many MB, pages of deeply nested <div>s, gzip
tails cut off, empty files, garbage, undecodable file names, symbolic links that leave the folder / loop / point
nowhere, FIFOs), runs `s1 run pdf` and `s1 run web` on them as a user would (a subprocess each, under a wall-clock
limit), then accounts for every input from the manifest: processed (pages of it committed), quarantined with a
reason (rows in `quarantine`), or unaccounted. It reports inputs tried / quarantined with reason / failed the run
(goal 0) / hung (goal 0) / unaccounted (goal 0) and whether any quarantine detail quotes a secret planted in a file
outside the input folder (goal: never).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SECRET = "S1-CHAOS-SECRET-do-not-store-me"  # planted in files outside the input folder; must never reach the manifest

# ------------------------------------------------------------------------------------------------ the generators
# Each family writes one hostile input into `folder` and returns its entry: {family, name (as the manifest will
# show it), kind}. `rng` decides sizes, cut points and which real file it starts from.


def _warc_record(w, uri: str | None, html: bytes, content_type: str = "text/html; charset=utf-8",
                 extra_warc: dict | None = None, extra_http: list | None = None) -> None:
    from warcio.statusandheaders import StatusAndHeaders

    http = StatusAndHeaders("200 OK", [("Content-Type", content_type)] + (extra_http or []), protocol="HTTP/1.1")
    rec = w.create_warc_record(uri or "http://placeholder.invalid/", "response", payload=io.BytesIO(html),
                               http_headers=http, warc_headers_dict=extra_warc or {})
    if uri is None:
        rec.rec_headers.remove_header("WARC-Target-URI")
    w.write_record(rec)


def _article(rng: random.Random) -> bytes:
    words = ["protein", "lattice", "entropy", "catalyst", "genome", "orbit", "theorem", "sediment", "alloy", "cell"]
    body = " ".join(rng.choice(words) for _ in range(rng.randint(80, 300)))
    return (f"<html><head><title>t{rng.random()}</title></head><body><article><p>{body}.</p></article></body>"
            "</html>").encode()


def _warc(records, gz: bool) -> bytes:
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=gz)
    for r in records:
        _warc_record(w, *r)
    return buf.getvalue()


def _real(kind: str, rng: random.Random) -> Path:
    files = sorted((SHARED / kind).iterdir())
    return rng.choice(files)


def warc_missing_target_uri(folder, rng, i):
    data = _warc([("http://ok.example/a", _article(rng)), (None, _article(rng)),
                  ("http://ok.example/b", _article(rng))], gz=rng.random() < 0.5)
    return _write(folder, f"nouri-{i}.warc" + (".gz" if data[:2] == b"\x1f\x8b" else ""), data)


def warc_long_header_line(folder, rng, i):
    size = rng.randint(2, 50) * 1_000_000
    where = rng.choice(["warc", "http"])
    rec = ("http://big.example/", _article(rng), "text/html", {"X-Big": "a" * size} if where == "warc" else None,
           [("X-Big", "b" * size)] if where == "http" else None)
    data = _warc([("http://ok.example/", _article(rng)), rec], gz=rng.random() < 0.5)
    return _write(folder, f"bighdr-{i}.warc" + (".gz" if data[:2] == b"\x1f\x8b" else ""), data)


def warc_nested_divs(folder, rng, i):
    depth = rng.randint(50_000, 100_000)
    page = b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"
    data = _warc([("http://ok.example/", _article(rng)), ("http://deep.example/", page),
                  ("http://ok.example/2", _article(rng))], gz=True)
    return _write(folder, f"nested-{i}.warc.gz", data)


def warc_cut_tail(folder, rng, i):
    data = _warc([(f"http://ok.example/{k}", _article(rng)) for k in range(rng.randint(2, 6))], gz=True)
    return _write(folder, f"cut-{i}.warc.gz", data[: rng.randint(1, len(data) - 1)])


def warc_cut_real(folder, rng, i):
    src = _real("warc", rng)
    data = src.read_bytes()
    name = src.name.replace(".bad", "")
    return _write(folder, f"realcut-{i}-{name}", data[: rng.randint(1, max(1, len(data) - 1))])


def warc_flipped_bytes(folder, rng, i):
    src = _real("warc", rng)
    data = bytearray(src.read_bytes())
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return _write(folder, f"flip-{i}-{src.name.replace('.bad', '')}", bytes(data))


def warc_empty(folder, rng, i):
    return _write(folder, f"empty-{i}.warc" + rng.choice(["", ".gz"]), b"")


def warc_garbage(folder, rng, i):
    return _write(folder, f"garbage-{i}.warc", SECRET.encode() + rng.randbytes(rng.randint(1, 5000)))


def warc_gzip_bomb_payload(folder, rng, i):
    bomb = gzip.compress(b"<html><body>" + b"a" * rng.randint(6_000_000, 20_000_000) + b"</body></html>")
    data = _warc([("http://ok.example/", _article(rng)),
                  ("http://bomb.example/", bomb, "text/html", None, [("Content-Encoding", "gzip")])], gz=True)
    return _write(folder, f"bomb-{i}.warc.gz", data)


def pdf_cut(folder, rng, i):
    src = _real("pdf", rng)
    data = src.read_bytes()
    return _write(folder, f"cut-{i}.pdf", data[: rng.randint(1, len(data) - 1)])


def pdf_flipped_bytes(folder, rng, i):
    src = _real("pdf", rng)
    data = bytearray(src.read_bytes())
    for _ in range(rng.randint(1, 50)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return _write(folder, f"flip-{i}.pdf", bytes(data))


def pdf_empty(folder, rng, i):
    return _write(folder, f"empty-{i}.pdf", b"")


def pdf_not_a_pdf(folder, rng, i):
    return _write(folder, f"notpdf-{i}.pdf", SECRET.encode() + rng.randbytes(rng.randint(1, 3000)))


def pdf_encrypted(folder, rng, i):
    import pymupdf

    doc = pymupdf.open(_real("pdf", rng))
    path = folder / f"encrypted-{i}.pdf"
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    return {"name": str(path), "bytes": path.stat().st_size}


# the file-system families work for either kind: `suffix` is .pdf or .warc


def fs_name_not_utf8(folder, rng, i, suffix, kind):
    src = _real(kind, rng) if suffix == ".pdf" else SHARED / "warc" / "example.warc"
    raw = os.fsencode(str(folder)) + b"/bad-" + bytes([rng.choice([0xff, 0xfe, 0xc3, 0x80])]) + f"-{i}{suffix}".encode()
    with open(raw, "wb") as f:
        f.write(src.read_bytes())
    return {"name": raw.decode("utf-8", "backslashreplace"), "bytes": os.path.getsize(raw)}


def fs_symlink_outside(folder, rng, i, suffix, kind):
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    target = outside / f"secret-{i}{suffix}"
    target.write_text(SECRET + "\n" + "x" * rng.randint(0, 100))
    link = folder / f"leak-{i}{suffix}"
    link.symlink_to(target)
    return {"name": str(link), "bytes": 0}


def fs_symlink_dangling(folder, rng, i, suffix, kind):
    link = folder / f"dangling-{i}{suffix}"
    link.symlink_to(folder / f"missing-{rng.random()}{suffix}")
    return {"name": str(link), "bytes": 0}


def fs_symlink_loop(folder, rng, i, suffix, kind):
    a, b = folder / f"loop-{i}a{suffix}", folder / f"loop-{i}b{suffix}"
    a.symlink_to(b)
    b.symlink_to(a)
    return [{"name": str(a), "bytes": 0}, {"name": str(b), "bytes": 0}]


def fs_fifo(folder, rng, i, suffix, kind):
    p = folder / f"fifo-{i}{suffix}"
    os.mkfifo(p)
    return {"name": str(p), "bytes": 0}


def _write(folder: Path, name: str, data: bytes) -> dict:
    (folder / name).write_bytes(data)
    return {"name": str(folder / name), "bytes": len(data)}


PDF_FAMILIES = [pdf_cut, pdf_flipped_bytes, pdf_empty, pdf_not_a_pdf, pdf_encrypted]
WARC_FAMILIES = [warc_missing_target_uri, warc_long_header_line, warc_nested_divs, warc_cut_tail, warc_cut_real,
                 warc_flipped_bytes, warc_empty, warc_garbage, warc_gzip_bomb_payload]
FS_FAMILIES = [fs_name_not_utf8, fs_symlink_outside, fs_symlink_dangling, fs_symlink_loop, fs_fifo]


def make_hostile_inputs(root: Path, seed: int = 0, per_family: int = 1, kinds=("pdf", "warc"),
                        families: set[str] | None = None) -> dict[str, list[dict]]:
    """Write hostile inputs under root/<kind>/ (plus root/outside/ for link targets); {kind: [{family, name, bytes}]}.
    `families` (names) picks a subset. One real, valid file of each kind goes in too, so a run has work to do."""
    rng = random.Random(seed)
    out: dict[str, list[dict]] = {}
    for kind in kinds:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        fams = (PDF_FAMILIES if kind == "pdf" else WARC_FAMILIES) + FS_FAMILIES
        entries = []
        for fam in fams:
            if families and fam.__name__ not in families:
                continue
            for i in range(per_family):
                suffix = ".pdf" if kind == "pdf" else ".warc"
                made = fam(folder, rng, i, suffix, kind) if fam.__name__.startswith("fs_") else fam(folder, rng, i)
                for e in made if isinstance(made, list) else [made]:
                    entries.append({"family": fam.__name__, **e})
        valid = SHARED / kind / ("submission_363.pdf" if kind == "pdf" else "example.warc.gz")
        (folder / f"valid{''.join(valid.suffixes)}").write_bytes(valid.read_bytes())
        out[kind] = entries
    return out


# ------------------------------------------------------------------------------------------------ accounting

def account(home: Path, entries: list[dict]) -> dict:
    """For each generated input: `quarantined` (a quarantine row for it or one of its records, with the reasons),
    `processed` (pages of it and no quarantine row: the damage was harmless), or `unaccounted`."""
    import duckdb

    con = duckdb.connect(str(home / "manifest.duckdb"), read_only=True)
    q = con.execute("SELECT source_uri, reason, detail FROM quarantine").fetchall()
    srcs = {r[0] for r in con.execute("SELECT uri FROM artifacts WHERE kind = 'source'").fetchall()}
    con.close()
    leaked = [r for r in q if r[2] and SECRET in r[2]]
    out = []
    for e in entries:
        name = e["name"]
        real = os.path.realpath(name) if _printable(name) == name else name
        reasons = sorted({r[1] for r in q if r[0] in (name, real) or r[0].startswith((name + "#", real + "#"))})
        processed = real in srcs or name in srcs
        out.append({**e, "reasons": reasons,
                    "status": "quarantined" if reasons else "processed" if processed else "unaccounted"})
    return {"inputs": out, "leaked_details": len(leaked)}


def _printable(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def run_stage(flow: str, folder: Path, home: Path, timeout_s: float) -> dict:
    """`s1 run <flow> --input folder` as a user runs it; {rc, hung, seconds, error line}."""
    t0 = time.perf_counter()
    cmd = [str(REPO / ".venv" / "bin" / "s1"), "run", flow, "--input", str(folder), "--home", str(home), "--json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO)
        rc, hung, tail = p.returncode, False, (p.stderr.strip().splitlines() or [""])[-1][:300]
    except subprocess.TimeoutExpired:
        rc, hung, tail = None, True, f"no result after {timeout_s} s"
    return {"flow": flow, "rc": rc, "hung": hung, "seconds": round(time.perf_counter() - t0, 1), "last_line": tail}


def cmd_inputs(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="s1-chaos-"))
    made = make_hostile_inputs(work, args.seed, args.per_family)
    report = {"seed": args.seed, "per_family": args.per_family, "load_before": os.getloadavg()[0], "runs": [],
              "inputs": []}
    for kind, flow in (("pdf", "pdf"), ("warc", "web")):
        home = work / f"home-{flow}"
        run = run_stage(flow, work / kind, home, args.timeout)
        report["runs"].append(run)
        acc = account(home, made[kind]) if (home / "manifest.duckdb").exists() else {
            "inputs": [{**e, "reasons": [], "status": "unaccounted"} for e in made[kind]], "leaked_details": 0}
        report["inputs"] += [{**e, "flow": flow} for e in acc["inputs"]]
        report.setdefault("leaked_details", 0)
        report["leaked_details"] += acc["leaked_details"]
    rows = report["inputs"]
    report["summary"] = {
        "inputs_tried": len(rows),
        "quarantined_with_reason": sum(r["status"] == "quarantined" for r in rows),
        "processed_clean": sum(r["status"] == "processed" for r in rows),
        "unaccounted": sum(r["status"] == "unaccounted" for r in rows),
        "runs_failed": sum(1 for r in report["runs"] if r["rc"] not in (0, None)),
        "runs_hung": sum(1 for r in report["runs"] if r["hung"]),
        "details_quoting_file_bytes": report["leaked_details"],
        "run_seconds": {r["flow"]: r["seconds"] for r in report["runs"]},
        "load_after": os.getloadavg()[0],
    }
    by_family: dict[str, dict] = {}
    for r in rows:
        f = by_family.setdefault(f"{r['flow']}:{r['family']}", {"n": 0, "quarantined": 0, "processed": 0,
                                                                  "unaccounted": 0, "reasons": set()})
        f["n"] += 1
        f[r["status"]] += 1
        f["reasons"].update(r["reasons"])
    report["by_family"] = {k: {**v, "reasons": sorted(v["reasons"])} for k, v in sorted(by_family.items())}
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return report


def cmd_web_overhead(args) -> dict:
    """The watched child process's cost: every real WARC/ARC of ../shared/data/warc read in-process
    (`isolate=False`) and isolated (`isolate=True`), `--repeat` times each, side by side in one run; plus one
    larger WARC of the real pages of ../shared/data/html (`--records` records) to see the per-record heartbeat.
    Wall seconds, and CPU seconds of this process plus its children (os.times), the machine being shared."""
    from s1data.web import WebConfig, read_warc_partition

    work = Path(tempfile.mkdtemp(prefix="s1-overhead-"))
    pages = [gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
             for p in sorted((SHARED / "html").iterdir()) if p.is_file()]
    big = work / "html-pages.warc.gz"
    big.write_bytes(_warc([(f"http://page{i}.example/", pages[i % len(pages)]) for i in range(args.records)],
                          gz=True))
    files = sorted((SHARED / "warc").iterdir())
    out = {"load_before": os.getloadavg()[0], "repeat": args.repeat}
    for label, group in (("real_warcs", files), ("html_pages_warc", [big])):
        res = {}
        for isolate in (False, True):
            cfg = WebConfig(isolate=isolate)
            t = os.times()
            w0 = time.perf_counter()
            rows = 0
            for r in range(args.repeat):
                for f in group:
                    rows += read_warc_partition(f, work / f"o{int(isolate)}-{r}-{f.name}", cfg)["pages"]
            t1 = os.times()
            res["isolated" if isolate else "in_process"] = {
                "wall_s": round(time.perf_counter() - w0, 2),
                "cpu_s": round((t1.user - t.user) + (t1.system - t.system) + (t1.children_user - t.children_user)
                               + (t1.children_system - t.children_system), 2),
                "pages": rows // args.repeat}
        n = len(group) * args.repeat
        res["overhead_per_file_wall_s"] = round((res["isolated"]["wall_s"] - res["in_process"]["wall_s"]) / n, 3)
        res["overhead_per_file_cpu_s"] = round((res["isolated"]["cpu_s"] - res["in_process"]["cpu_s"]) / n, 3)
        out[label] = res
    out["files"] = {"real_warcs": len(files), "html_pages_warc_records": args.records}
    out["load_after"] = os.getloadavg()[0]
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inputs", help="hostile PDFs and WARCs through `s1 run pdf` / `s1 run web`")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-family", type=int, default=2, help="inputs generated per family and kind")
    p.add_argument("--timeout", type=float, default=1200.0, help="a stage still running after this is 'hung'")
    p.add_argument("--out", type=Path, help="write the full JSON report here")
    p.add_argument("--keep", action="store_true", help="keep the generated inputs and homes")
    o = sub.add_parser("web-overhead", help="cost of the watched web reader process, beside the in-process reader")
    o.add_argument("--repeat", type=int, default=3)
    o.add_argument("--records", type=int, default=500)
    o.add_argument("--out", type=Path)
    # `kills`: kill -9 at random points of the pipeline flow, `s1 rerun`, compare artifacts and weights (its own
    # change adds it here as another sub-command)
    args = ap.parse_args()
    if args.command == "web-overhead":
        report = cmd_web_overhead(args)
        print(json.dumps(report, indent=1))
        if args.out:
            args.out.write_text(json.dumps(report, indent=1))
        return
    report = cmd_inputs(args)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps({"summary": report["summary"], "by_family": report["by_family"], "runs": report["runs"]},
                     indent=1, default=str))


if __name__ == "__main__":
    main()
