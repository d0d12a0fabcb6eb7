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


# -- S3 on loopback -------------------------------------------------------------------------------------------------
# moto's server mode (`moto.server.ThreadedMotoServer`, what s3fs's own tests use) is the stand-in for S3 / MinIO /
# GCS here: a real HTTP S3 API on 127.0.0.1, reached through s3fs / botocore exactly as a bucket would be. MinIO does
# not install on this machine.

S3_BUCKET = "s1-test"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback (stand-in for S3 / MinIO / GCS) with bucket `s1-test`; the standard AWS
    environment variables point at it for the session (child processes, Dask workers included, inherit them)."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per S3 request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "s1-test",
           "AWS_SECRET_ACCESS_KEY": "s1-test", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket=S3_BUCKET)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


@pytest.fixture
def s3_artifacts(s3_server) -> str:
    """A fresh `s3://s1-test/<prefix>` URL on the loopback S3 server, for `--artifacts` / `S1_ARTIFACTS`."""
    import uuid

    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}"
