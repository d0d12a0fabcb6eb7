"""Shared by the before/after benchmarks: the code of an earlier commit in a detached worktree, a measuring child
process run against a code root, and the result written out (`startup.py`, `tokenizer_memory.py`,
`dedup_driver_memory.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def checkout(ref: str, where: Path, marker: str = "flows/cli.py") -> Path:
    """A detached worktree of `ref` at `where` (never stash or switch this checkout); refuses a stale one."""
    if not (where / marker).exists():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), ref], check=True,
                       capture_output=True)
    head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    want = subprocess.run(["git", "-C", str(REPO), "rev-parse", ref], capture_output=True, text=True).stdout
    if head.strip() != want.strip():
        sys.exit(f"{where} holds {head.strip()}, not {ref}: remove it (git worktree remove {where})")
    return where


def run_child(code_root: Path, source: str, *args: str) -> dict:
    """`python -c source code_root *args` with `code_root` first on the path; the JSON of its last stdout line."""
    p = subprocess.run([sys.executable, "-c", source, str(code_root), *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(code_root)), cwd=str(code_root))
    if p.returncode != 0:
        sys.exit(f"the run under {code_root} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def finish(res: dict, out: str | None) -> None:
    """The before/after ratio of peak RSS, printed and written to `out` (when given)."""
    res["peak_ratio_after_over_before"] = res["after"]["peak_rss_mib"] / res["before"]["peak_rss_mib"]
    print(json.dumps(res, indent=2))
    if out:
        Path(out).write_text(json.dumps(res, indent=2) + "\n")


def science_dev_texts():
    """The real texts of ../shared/data/science-dev (the building blocks of these benchmarks' corpora)."""
    import gzip

    src = REPO.parent / "shared" / "data" / "science-dev" / "docs.jsonl.gz"
    if not src.exists():
        sys.exit(f"{src} is missing: this benchmark builds its corpus from ../shared/data/science-dev")
    with gzip.open(src, "rt") as f:
        for line in f:
            yield json.loads(line)["text"]
