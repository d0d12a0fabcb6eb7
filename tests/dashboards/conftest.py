"""Fixtures for the dashboard: a manifest filled by the real PDF flow plus recorded training/RL/curation rows, the
dashboard on a loopback port (uvicorn in a thread), and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# what the fixture records next to the PDF flow's own rows; tests compare the pages against these numbers
TRAIN_STEPS = list(range(1, 21))
N_LAYERS, N_EXPERTS = 3, 8
RL_SOURCES = ("math", "chem")
RL_BUCKETS = ("0-512", "512-2048", "2048-8192")
CURATION_STATS = {"lang:kept": 4, "lang:lang_not_en": 0, "gopher:kept": 3, "gopher:gopher_short_doc": 1,
                  "c4:kept": 2, "c4:c4_too_few_sentences": 1}
# the curated artifact's meta in the shape s1data.curate.run.curate_corpus returns and flows/curate.py commits
# (stage totals, exclusion_reasons, by_reason, computed_partitions): 4 documents in, 1 short doc, 1 of too few sentences
CURATION_META = {"input": 4, "after_domains": 4, "after_quality": 2, "after_dedup": 2, "kept": 2, "excluded": 2,
                 "exclusion_reasons": {"c4_too_few_sentences": 1, "gopher_short_doc": 1},
                 "by_reason": {"c4_too_few_sentences": 1, "gopher_short_doc": 1}, "computed_partitions": 1,
                 "partitions": 1, "domains": {"physics": 2}}
SHARDS = [{"path": "shards/shard-00000.parquet", "rows": 6, "tokens": 3000, "padding_tokens": 72, "bytes": 24000,
           "domains": {"physics": 2000, "chemistry": 1000}, "sources": {"pdf": 3000}},
          {"path": "shards/shard-00001.parquet", "rows": 4, "tokens": 1800, "padding_tokens": 248, "bytes": 16000,
           "domains": {"physics": 800, "biology": 1000}, "sources": {"pdf": 1200, "web": 600}}]


def loss_at(step: int) -> float:
    return round(4.0 / (1 + 0.2 * step), 6)


def mfu_at(step: int) -> float:
    return round(0.30 + 0.005 * step, 6)


def expert_load(layer: int, expert: int, step: int) -> float:
    return round((1 + layer) * 0.01 * (expert + 1) + 0.001 * step, 6)


def reward_at(source: str, step: int) -> float:
    return round((0.1 if source == "math" else 0.05) * step, 6)


def pass_rate(task: str, bucket: int, step: int) -> float:
    return round(0.9 - 0.25 * bucket - (0.1 if task == "chem" else 0.0) + 0.01 * step, 6)


def fill_manifest(home: Path) -> dict:
    """Rows a training run, an RL run, curation and token shards will record; returns their ids."""
    from storage import open_storage

    _, m = open_storage(home)
    docs = m.resolve_artifact("documents")
    curate_run = m.start_run("curate", {})
    sr = m.start_stage(curate_run, "curate", "fp-curate")
    curated = m.record_artifact(name="curated", stage="curate", fingerprint="fp-curate", kind="parquet",
                                uri=str(home / "curated"), stage_run_id=sr, parents=[docs["artifact_id"]], rows=2,
                                meta=CURATION_META)
    m.finish_stage(sr, "completed")
    sr = m.start_stage(curate_run, "shards", "fp-shards")
    shards = m.record_artifact(name="token_shards", stage="shards", fingerprint="fp-shards", kind="folder",
                               uri=str(home / "shards"), stage_run_id=sr, parents=[curated],
                               rows=sum(s["rows"] for s in SHARDS), tokens=sum(s["tokens"] for s in SHARDS),
                               bytes=sum(s["bytes"] for s in SHARDS), meta={"shards": SHARDS})
    m.finish_stage(sr, "completed")
    m.finish_run(curate_run, "completed")

    train_run = m.start_run("pretrain", {"steps": len(TRAIN_STEPS)})
    train_sr = m.start_stage(train_run, "pretrain", "fp-train")
    m.record_metrics(train_sr, [(name, s, f(s)) for s in TRAIN_STEPS for name, f in
                                (("train.loss", loss_at), ("train.aux_loss", lambda s: 0.01),
                                 ("train.mfu", mfu_at), ("train.tokens_per_s", lambda s: 1000.0 + s),
                                 ("train.lr", lambda s: 1e-4), ("train.grad_norm", lambda s: 1.0))])
    m.record_metrics(train_sr, [(f"train.expert_load.L{layer}.E{e}", s, expert_load(layer, e, s))
                                for s in (10, 20) for layer in range(N_LAYERS) for e in range(N_EXPERTS)])
    m.finish_stage(train_sr, "completed")
    eval_sr = m.start_stage(train_run, "eval", "fp-eval")
    m.finish_stage(eval_sr, "failed", "RuntimeError: the evaluator crashed")
    m.finish_run(train_run, "failed", "eval failed")

    rl_run = m.start_run("online_rl", {})
    rl_sr = m.start_stage(rl_run, "online_rl", "fp-rl")
    m.record_metrics(rl_sr, [(f"rl.reward.{src}", s, reward_at(src, s)) for s in range(1, 11) for src in RL_SOURCES])
    m.record_metrics(rl_sr, [(f"rl.pass_rate.{task}.{b}", s, pass_rate(task, i, s)) for s in (5, 10)
                             for task in RL_SOURCES for i, b in enumerate(RL_BUCKETS)])
    m.finish_stage(rl_sr, "completed")
    m.finish_run(rl_run, "completed")
    return {"curated": curated, "token_shards": shards, "train_run": train_run, "train_sr": train_sr,
            "rl_run": rl_run, "curate_run": curate_run}


@pytest.fixture(scope="package")
def filled(tmp_path_factory, shared_data) -> dict:
    """The real PDF flow over ../shared/data/pdf (Prefect test API, Dask local cluster), then recorded rows."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.pdf import PdfFlowParams, pdf_flow

    home = tmp_path_factory.mktemp("dashboard") / "s1-home"
    small = tmp_path_factory.mktemp("one-pdf")
    shutil.copy(shared_data / "pdf" / "two_pages.pdf", small / "two_pages.pdf")
    with prefect_test_harness(server_startup_timeout=180):
        summary = pdf_flow(PdfFlowParams(home=str(home), input=[str(shared_data / "pdf")], n_workers=2))
        filled = fill_manifest(home)
        # then a small `s1 run pdf` of one file: the newest completed run, which per-run pages show by default
        one = pdf_flow(PdfFlowParams(home=str(home), input=[str(small)], n_workers=1))
    return {"home": home, "pdf": summary, "small_pdf": one, **filled}


@contextmanager
def running(app):
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="package")
def dashboard(filled) -> str:
    from dashboards.app import create_app

    with running(create_app(str(filled["home"]))) as url:
        yield url


@pytest.fixture(scope="package")
def browser(tmp_path_factory):
    """Debian's Chromium, headless, fresh profile; any request that leaves loopback is blocked and recorded."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        ctx.outside = []

        def guard(route):
            url = route.request.url
            if url.startswith(("http://127.0.0.1:", "data:", "about:")):
                route.continue_()
            else:
                ctx.outside.append(url)
                route.abort()

        ctx.route("**/*", guard)
        yield ctx
        ctx.close()


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser):
    pg = browser.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    pg.close()


@pytest.fixture(scope="package")
def eval_home(tmp_path_factory) -> dict:
    """A home holding a real eval_report: the eval flow (s1 run eval) on a tiny Qwen3-MoE checkpoint built from
    config, a BPE tokenizer, held-out tail_compare prompts and a token shard the checkpoint was trained on."""
    import json
    import shutil

    import pyarrow.parquet as pq
    from prefect.testing.utilities import prefect_test_harness

    from flows.context import RunParams, open_run, single_stage
    from flows.eval import EvalFlowParams, eval_flow
    from s1data.bootcamp import export, list_configs
    from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
    from s1model.config import tiny
    from s1model.model import build_model
    from storage import open_storage
    from tests.s1model.conftest import write_shard

    configs = [c for c in list_configs() if c.task == "tail_compare" and not c.params["decimal"]][:2]
    sft, rl, _ = export(configs, n_per_config=16, seed=0, style="direct")
    tok_dir = tmp_path_factory.mktemp("eval-tok")
    texts = [p + "\n" + r for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())] * 4
    train_tokenizer(texts, tok_dir, TokenizerConfig(vocab_size=512, smiles_vocab_size=256, protein_vocab_size=256,
                                                    dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
    cfg = tiny()
    cfg.model.vocab_size = load_tokenizer(str(tok_dir)).vocab_size
    model_dir = tmp_path_factory.mktemp("eval-model")
    build_model(cfg).save_pretrained(str(model_dir))

    home = str(tmp_path_factory.mktemp("eval") / "s1-home")

    def commit(ctx, name: str, parents: list[dict], fill) -> dict:
        arts, _ = single_stage(ctx, f"setup_{name}", "t", {"name": name}, parents, {name: "folder"},
                               lambda dirs: (fill(dirs[name]), {})[1])
        return arts[name]

    with prefect_test_harness(server_startup_timeout=180):
        with open_run("setup", RunParams(home=home)) as ctx:
            tok = commit(ctx, "tokenizer", [], lambda d: shutil.copytree(tok_dir, d, dirs_exist_ok=True))
            shards = commit(ctx, "token_shards", [tok], lambda d: write_shard(str(d / "part-0.parquet"), 4, 64, 256))
            commit(ctx, "bootcamp_eval", [], lambda d: pq.write_table(rl.slice(0, 6), d / "prompts.parquet"))
            commit(ctx, "rl_checkpoint", [tok, shards], lambda d: shutil.copytree(model_dir, d, dirs_exist_ok=True))
        out = eval_flow(EvalFlowParams(home=home, eval={"k": 2, "max_new_tokens": 8, "ppl_max_rows": 4}))
    _, m = open_storage(home)
    report = m.resolve_artifact("eval_report")
    return {"home": home, "run_id": out["run_id"] if "run_id" in out else None, "report": report,
            "meta": json.loads(report["meta_json"])}
