"""Quiet by default: third-party warnings and library loggers go to <home>/logs/s1.log, not the console; -v shows
them. The PDF summary speaks the docs' words (pages/s, high-cost route) and fits 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys

from rich.console import Console

SNIPPET = """
import logging, sys, warnings
from flows.cli import _env
_env(sys.argv[1], verbose=sys.argv[2] == "1")
warnings.warn("pkg_resources editable install: noise-from-setuptools")
logging.getLogger("warcio").warning("noise-from-warcio: record with no WARC-Record-ID")
logging.getLogger("DeepSpeed").warning("noise-from-deepspeed: Setting ds_accelerator to cpu")
import os
print("TQDM_DISABLE=" + str(os.environ.get("TQDM_DISABLE")), "PYTHONWARNINGS=" + str(os.environ.get("PYTHONWARNINGS")))
"""


def _run(home, verbose: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "PYTHONWARNINGS", "PREFECT_API_URL")}
    return subprocess.run([sys.executable, "-c", SNIPPET, str(home), "1" if verbose else "0"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_third_party_warnings_and_loggers_go_to_the_log_file_not_the_console(tmp_path):
    out = _run(tmp_path / "home", verbose=False)
    assert out.returncode == 0, out.stderr
    assert "noise-from" not in out.stderr + out.stdout
    log = (tmp_path / "home" / "logs" / "s1.log").read_text()
    assert all(f"noise-from-{x}" in log for x in ("setuptools", "warcio", "deepspeed"))
    assert "TQDM_DISABLE=1" in out.stdout and "PYTHONWARNINGS=ignore" in out.stdout  # inherited by workers


def test_verbose_shows_everything_and_disables_no_progress_bar(tmp_path):
    out = _run(tmp_path / "home", verbose=True)
    assert out.returncode == 0, out.stderr
    assert all(f"noise-from-{x}" in out.stderr for x in ("setuptools", "warcio", "deepspeed"))
    assert "TQDM_DISABLE=None" in out.stdout and not (tmp_path / "home" / "logs" / "s1.log").exists()


def test_the_pdf_summary_shows_pages_per_second_and_the_high_cost_route_at_80_columns(monkeypatch):
    import flows.cli as cli

    con = Console(width=80, record=True, file=open(os.devnull, "w"))
    monkeypatch.setattr(cli, "console", con)
    result = {"run_id": "run-20261204-203512-abc123", "wall_seconds": 9.5, "files": 4, "pages": 12,
              "documents": 4, "routes": {"cheap": 8, "local": 4}, "quarantined": 0, "cached": False,
              "seconds": 6.0, "pages_per_s": 3.0, "artifacts": {"pdf_pages": "pdf_pages:1",
                                                                 "documents": "documents:1"}}
    cli._print_summary(result, "pdf")
    text = con.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    flat = " ".join(text.split())
    assert "3.0 pages/s" in flat and "high-cost 4 (local 4)" in flat and "cheap 8" in flat
    assert "routes={" not in flat
    # a run whose parse time is not recorded still shows a rate: pages over the stage's seconds
    assert "2.0 pages/s" in cli._figures({**result, "pages_per_s": None})
    assert "pages/s" not in cli._figures({**result, "pages_per_s": None, "cached": True})
    assert cli._routes({"local": 1}) == "high-cost 1 (local 1)"


DEEPSPEED = """
import sys
from flows.cli import _env
_env(sys.argv[1], verbose=sys.argv[2] == "1")
import deepspeed  # its logger gets a stdout handler at import, and logs the accelerator it detects
from deepspeed.accelerator import get_accelerator
print("accelerator=" + get_accelerator()._name)
"""


def test_deepspeeds_accelerator_line_goes_to_the_log_file_not_the_console(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DS_ACCELERATOR", "PREFECT_API_URL")}
    quiet = subprocess.run([sys.executable, "-c", DEEPSPEED, str(tmp_path / "q"), "0"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    accelerator = quiet.stdout.split("accelerator=")[1].strip()
    assert "Setting" not in quiet.stdout + quiet.stderr
    log = (tmp_path / "q" / "logs" / "s1.log").read_text()
    if accelerator == "cpu":  # DeepSpeed says so only when it finds no accelerator
        assert "Setting accelerator to CPU" in log
    loud = subprocess.run([sys.executable, "-c", DEEPSPEED, str(tmp_path / "v"), "1"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0, loud.stderr
    if accelerator == "cpu":
        assert "Setting accelerator to CPU" in loud.stdout + loud.stderr  # -v leaves DeepSpeed's console alone
