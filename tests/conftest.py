"""Shared fixtures: real inputs from ../shared/data, an isolated storage root and Prefect home per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

# Prefect must see these before it is imported by any test module.
import tempfile  # noqa: E402

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="s1-test-prefect-"))
# The suite runs as `.venv/bin/python -m pytest` without an activated venv: put its bin/ first on PATH so the
# command-line tools the tests start (prefect, dask, ray, deepspeed) are this environment's.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not beside the checkout")
    return SHARED


@pytest.fixture(scope="session")
def shared_pdfs(shared_data) -> list[Path]:
    return sorted((shared_data / "pdf").glob("*.pdf"))


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "s1-home"
    h.mkdir()
    return h
