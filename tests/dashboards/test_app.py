"""The dashboard as a person uses it: real server on loopback, Debian's headless Chromium, a manifest filled by the
real PDF flow. Each test loads a page, checks the figures carry the manifest's numbers and saves a screenshot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from storage import open_storage
from tests.dashboards.conftest import (N_EXPERTS, N_LAYERS, RL_BUCKETS, RL_SOURCES, SHARDS, TRAIN_STEPS,
                                       expert_load, loss_at, mfu_at, pass_rate, reward_at, running)

REPO = Path(__file__).resolve().parents[2]


def load(page, url: str, shots: Path, name: str):
    response = page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert page.evaluate("document.body.dataset.error || ''") == ""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert (shots / f"{name}.png").stat().st_size > 10_000
    assert page.context.outside == []  # nothing left loopback: plotly.js and CSS come from the server
    return response


def plot(page, fig_id: str) -> list[dict]:
    """The traces plotly.js actually drew in <div id=fig_id>."""
    return page.evaluate("id => document.getElementById(id).data.map(t => ({name: t.name, type: t.type, "
                         "x: t.x ? Array.from(t.x) : null, y: t.y ? Array.from(t.y) : null, z: t.z || null}))",
                         fig_id)


def test_runs_page_lists_every_run_and_draws_the_latest_runs_stage_timeline(page, dashboard, filled, screenshots):
    load(page, dashboard + "/", screenshots, "runs")
    run_ids = page.eval_on_selector_all("#runs-table tbody tr", "rows => rows.map(r => r.dataset.runId)")
    assert run_ids == [r["run_id"] for r in open_storage(filled["home"])[1].list_runs()]  # newest first
    assert len(run_ids) == 5 and run_ids[0] == filled["small_pdf"]["run_id"] and filled["pdf"]["run_id"] in run_ids
    assert page.inner_text(f"tr[data-run-id='{filled['train_run']}'] .status") == "failed"
    timeline = plot(page, "fig-timeline")  # the latest completed run: the one-file PDF run (its partition cached)
    assert {y.split(" [")[0] for t in timeline for y in t["y"]} == {"pdf", "pdf.partition"}
    assert page.locator("#failed-run").count() == 0  # the newest run completed
    assert page.errors == []


def test_a_pdf_run_page_shows_its_stages_partitions_metrics_and_artifacts(page, dashboard, filled, screenshots):
    run_id = filled["pdf"]["run_id"]
    load(page, f"{dashboard}/runs/{run_id}", screenshots, "run-pdf")
    bars = {t["name"]: t["y"] for t in plot(page, "fig-timeline")}
    assert list(bars) == ["completed"]
    assert sorted(y.split(" [")[0] for y in bars["completed"]) == ["pdf"] + ["pdf.partition"] * 4
    pages = page.get_attribute("#metrics-table tr[data-metric='pdf.pages'] td[data-value]", "data-value")
    assert float(pages) == filled["pdf"]["pages"] == 12
    artifacts = page.eval_on_selector_all("#artifacts-table tbody tr td:first-child", "c => c.map(x => x.innerText)")
    assert sorted(a.split(":")[0] for a in artifacts) == ["documents", "pdf_pages"] + ["pdf_partition"] * 4
    assert page.errors == []


def test_corpus_page_shows_the_pdf_counts_curation_funnel_and_composition(page, dashboard, filled, screenshots):
    load(page, f"{dashboard}/corpus?run={filled['curate_run']}", screenshots, "corpus")
    assert filled["curate_run"] in page.inner_text("#scope-note")
    s = filled["pdf"]
    pdf = plot(page, "fig-pdf")[0]
    assert pdf["y"] == ["PDF files", "files parsed", "pages", "pages after dedup", "documents"]
    assert pdf["x"] == [s["files"], s["files"] - s["quarantined"], s["pages"], s["pages"] - s["duplicate_pages"],
                        s["documents"]] == [4, 4, 12, 12, 4]
    assert plot(page, "fig-routes")[0]["z"] is None  # a pie: values are checked through the label text instead
    # 3 display-maths pages of 1001._0908.0054.pdf and the scanned page of two_pages.pdf take the high-cost route
    assert page.evaluate("document.getElementById('fig-routes').data[0].values") == [8, 4]
    funnel = plot(page, "fig-funnel-curated-1")[0]
    assert funnel["y"] == ["input", "after domains", "after quality", "after dedup"] and funnel["x"] == [4, 4, 2, 2]
    reasons = {t["name"]: dict(zip(t["x"], t["y"])) for t in plot(page, "fig-reasons-curated-1")}
    assert reasons == {"c4": {"c4_too_few_sentences": 1}, "gopher": {"gopher_short_doc": 1}}
    domains = plot(page, "fig-comp-domains")[0]
    assert dict(zip(domains["x"], domains["y"])) == {"physics": 2800, "chemistry": 1000, "biology": 1000}
    sources = plot(page, "fig-comp-sources")[0]
    assert dict(zip(sources["x"], sources["y"])) == {"pdf": 4200, "web": 600}
    assert page.inner_text("#sources-table tr[data-source='source_pdf'] td:nth-child(2)") == "4"
    assert page.is_visible("#empty-quarantine")  # the shared PDFs are all good
    assert page.errors == []


def test_shards_page_shows_the_token_inventory(page, dashboard, filled, screenshots):
    load(page, f"{dashboard}/shards?run={filled['curate_run']}", screenshots, "shards")
    assert page.inner_text("#shard-tokens-total") == f"{sum(s['tokens'] for s in SHARDS):,}"
    per_shard = plot(page, "fig-shard-tokens")
    assert per_shard[0]["x"] == ["shard-00000.parquet", "shard-00001.parquet"]
    assert per_shard[0]["y"] == [3000, 1800] and per_shard[1]["y"] == [72, 248]
    rows = page.get_attribute("#inventory tr[data-name='pdf_pages'] td[data-rows]", "data-rows")
    assert int(rows) == filled["small_pdf"]["pages"]  # the inventory: every artifact's latest version
    assert page.errors == []


def test_training_page_draws_loss_mfu_and_the_expert_load_heatmap(page, dashboard, filled, screenshots):
    load(page, f"{dashboard}/training?run={filled['train_run']}", screenshots, "training")
    loss = {t["name"]: t for t in plot(page, "fig-train-loss")}
    assert set(loss) == {"loss", "aux_loss"}
    assert loss["loss"]["x"] == TRAIN_STEPS and loss["loss"]["y"] == [loss_at(s) for s in TRAIN_STEPS]
    assert plot(page, "fig-train-mfu")[0]["y"] == [mfu_at(s) for s in TRAIN_STEPS]
    heat = plot(page, "fig-expert-load")[0]
    assert heat["z"] == [[expert_load(layer, e, 20) for e in range(N_EXPERTS)] for layer in range(N_LAYERS)]
    assert "step 20" in page.inner_text("#fig-expert-load")
    assert page.errors == []


def test_rl_page_draws_reward_per_source_and_pass_rate_by_length_bucket(page, dashboard, filled, screenshots):
    load(page, f"{dashboard}/rl?run={filled['rl_run']}", screenshots, "rl")
    lay = page.evaluate("document.getElementById('fig-rl-reward').layout")
    assert lay["showlegend"] is True and lay["xaxis"]["tickformat"] == "d" and lay["xaxis"]["dtick"] == 1
    ticks = page.eval_on_selector_all("#fig-rl-reward .xtick text", "ts => ts.map(t => t.textContent)")
    assert ticks and all(t.isdigit() for t in ticks)  # no 2.5 step
    rewards = {t["name"]: t["y"] for t in plot(page, "fig-rl-reward")}
    assert rewards == {src: [reward_at(src, s) for s in range(1, 11)] for src in RL_SOURCES}
    buckets = {t["name"]: t for t in plot(page, "fig-rl-pass-bucket")}
    assert set(buckets) == set(RL_SOURCES)
    for task in RL_SOURCES:
        assert buckets[task]["x"] == list(RL_BUCKETS)
        assert buckets[task]["y"] == [pass_rate(task, i, 10) for i in range(len(RL_BUCKETS))]
    assert page.errors == []


def test_lineage_graph_walks_from_documents_to_the_source_pdfs_and_nodes_are_clickable(
        page, dashboard, filled, shared_pdfs, screenshots):
    load(page, dashboard + "/lineage", screenshots, "lineage-index")
    page.fill("#ref", "documents:1")  # the 4-file run's (documents:2 is the one-file run's)
    page.click("form.lookup button")
    page.wait_for_selector("#lineage-graph")
    page.screenshot(path=str(screenshots / "lineage-documents.png"), full_page=True)
    m = open_storage(filled["home"])[1]
    docs = m.resolve_artifact("documents:1")
    nodes = page.eval_on_selector_all("#lineage-graph a.node", "ns => ns.map(n => n.dataset.name)")
    # the 4 partition artifacts are one node (pdf_partition ×4)
    assert sorted(nodes) == sorted(["documents", "pdf_pages", "pdf_partition"] + ["source_pdf"] * 4)
    assert len(nodes) == 1 + len(m.ancestors(docs["artifact_id"])) - 3
    assert "pdf_partition ×4" in page.text_content("#lineage-graph")
    files = page.eval_on_selector_all("#source-files tbody td:first-child", "c => c.map(x => x.innerText)")
    assert sorted(files) == sorted(str(p.resolve()) for p in shared_pdfs)
    assert page.locator("#lineage-graph .edge").count() == 1 + 1 + 4
    pages_id = m.resolve_artifact("pdf_pages:1")["artifact_id"]
    page.hover(f"#lineage-graph a.node[data-artifact-id='{pages_id}']")
    assert page.locator("#lineage-graph .edge.hot").count() == 1 + 1  # into documents, from the partitions
    page.click(f"#lineage-graph a.node[data-artifact-id='{pages_id}']")
    page.wait_for_url(f"**/lineage/{pages_id}")
    assert page.get_attribute("#lineage-graph a.node.root", "data-name") == "pdf_pages"
    assert page.locator("#lineage-graph a.node").count() == 6
    assert page.errors == []


def test_a_missing_manifest_shows_a_message_page_not_a_traceback(page, tmp_path, screenshots):
    from dashboards.app import create_app

    with running(create_app(str(tmp_path / "nowhere"))) as url:
        for path in ("/", "/training", "/lineage/documents"):
            response = load(page, url + path, screenshots, "missing-manifest")
            assert response.status == 503
            text = page.inner_text("#message")
            assert "no manifest at" in text and str(tmp_path / "nowhere") in text and "--home" in text
            assert "Traceback" not in page.content()


def test_a_locked_manifest_shows_a_message_and_the_page_recovers_when_the_writer_lets_go(page, tmp_path,
                                                                                           screenshots):
    from dashboards.app import create_app

    root, _ = open_storage(tmp_path / "home")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom storage import Manifest\n"
         "with Manifest(sys.argv[1]).transaction():\n    print('locked', flush=True)\n    time.sleep(120)\n",
         str(root.manifest_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with running(create_app(str(root.home), lock_timeout_s=0.5)) as url:
            response = load(page, url + "/", screenshots, "locked-manifest")
            assert response.status == 503
            assert "stayed locked" in page.inner_text("#message")  # storage.Manifest words it (a writer holds it)
            holder.kill()
            holder.wait(10)
            response = load(page, url + "/", screenshots, "after-lock")
            assert response.status == 200 and page.is_visible("#empty-runs")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_an_empty_manifest_says_no_data_yet_on_every_page(page, tmp_path, screenshots):
    from dashboards.app import create_app

    root, _ = open_storage(tmp_path / "home")
    with running(create_app(str(root.home))) as url:
        for path in ("/", "/corpus", "/shards", "/training", "/rl", "/lineage"):
            response = load(page, url + path, screenshots, "empty" + path.replace("/", "-"))
            assert response.status == 200 and "no data yet" in page.inner_text("main")
            assert page.evaluate("document.body.dataset.figures") == "0"
        assert load(page, url + "/lineage/documents", screenshots, "empty-lineage").status == 404
        assert "no artifact 'documents'" in page.inner_text("#message")
    assert page.errors == []


def test_pages_default_to_the_latest_completed_run_and_agree_with_themselves(page, dashboard, filled, screenshots):
    """After a small `s1 run pdf`, the corpus page shows that run: its funnel, its routes and its raw inputs (1 file),
    not the 4-file run's inputs beside the 1-file run's funnel."""
    load(page, dashboard + "/corpus", screenshots, "corpus-latest")
    one = filled["small_pdf"]
    assert one["run_id"] in page.inner_text("#scope-note")
    pdf = plot(page, "fig-pdf")[0]
    assert pdf["x"][0] == one["files"] == 1 and pdf["x"][2] == one["pages"]
    assert page.inner_text("#sources-table tr[data-source='source_pdf'] td:nth-child(2)") == "1"
    assert sum(page.evaluate("document.getElementById('fig-routes').data[0].values")) == one["pages"]
    assert page.locator("#empty-curation").count() == 1  # this run curated nothing
    page.select_option("#run-select", filled["pdf"]["run_id"])
    page.wait_for_url(f"**/corpus?run={filled['pdf']['run_id']}")
    page.wait_for_selector("body[data-ready='1']")
    assert plot(page, "fig-pdf")[0]["x"][0] == 4
    assert page.inner_text("#sources-table tr[data-source='source_pdf'] td:nth-child(2)") == "4"
    assert page.errors == []


def test_a_failed_newest_run_is_shown_with_its_error_and_the_rerun_command(page, tmp_path, screenshots):
    from dashboards.app import create_app

    _, m = open_storage(tmp_path / "home")
    ok = m.start_run("pdf", {})
    m.finish_stage(m.start_stage(ok, "pdf", "fp-ok"), "completed")
    m.finish_run(ok, "completed")
    bad = m.start_run("web", {})
    m.finish_stage(m.start_stage(bad, "web", "fp-bad"), "failed", "FileNotFoundError: no WARC under crawl/")
    m.finish_run(bad, "failed", "FileNotFoundError: no WARC under crawl/")
    with running(create_app(str(tmp_path / "home"))) as url:
        load(page, url + "/", screenshots, "runs-failed")
        banner = page.inner_text("#failed-run")
        assert bad in banner and "FileNotFoundError: no WARC under crawl/" in banner
        assert page.inner_text("#rerun-command") == f"s1 rerun {bad}"
        assert ok in page.inner_text("h2")  # the featured run is the latest completed one
        load(page, f"{url}/runs/{bad}", screenshots, "run-failed")
        assert page.inner_text("#rerun-command") == f"s1 rerun {bad}"
        load(page, url + "/corpus?run=run-nope", screenshots, "no-such-run")
        assert "No such run" in page.inner_text("h1")
    assert page.errors == []


def test_the_lineage_graph_fits_1400_px_and_900_px_windows(page, dashboard, filled, screenshots):
    for width in (1400, 900):
        page.set_viewport_size({"width": width, "height": 1000})
        load(page, f"{dashboard}/lineage/documents:1", screenshots, f"lineage-{width}")
        right = page.evaluate("document.getElementById('lineage-graph').getBoundingClientRect().right")
        assert right <= width
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def _cells(page, table: str) -> list[dict]:
    """Every row of a table as {data-key: float(data-value)} (plus the row's data-task / data-domain)."""
    return page.eval_on_selector_all(f"#{table} tbody tr", """rows => rows.map(r => Object.assign(
        {label: r.dataset.task || r.dataset.domain || null},
        Object.fromEntries(Array.from(r.querySelectorAll('td[data-key]')).map(
            c => [c.dataset.key, parseFloat(c.dataset.value)]))))""")


def test_eval_page_shows_the_eval_reports_numbers_and_figures(page, eval_home, screenshots):
    from dashboards.app import create_app

    meta, report = eval_home["meta"], eval_home["report"]
    k = 2
    with running(create_app(eval_home["home"])) as url:
        for width in (1400, 900):
            page.set_viewport_size({"width": width, "height": 1000})
            load(page, url + "/eval", screenshots, f"eval-{width}")
            assert page.inner_text("#eval-artifact") == f"eval_report:{report['version']}"
            assert page.inner_text("#eval-checkpoint") == meta["lineage"]["checkpoint"]
            assert meta["lineage"]["shards_in_training_lineage"] and page.locator("#eval-trained-on").count() == 1
            (overall,) = _cells(page, "eval-overall")
            keys = ("prompts", "samples", f"avg@{k}", "pass@1", f"pass@{k}", "greedy_pass_rate")
            assert {key: overall[key] for key in keys} == {key: float(meta["overall"][key]) for key in keys}
            assert overall["prompts"] == 6 and overall["samples"] == 12
            tasks = _cells(page, "eval-per-task")
            assert [t["label"] for t in tasks] == [r["task"] for r in meta["per_task"]] == ["tail_compare"]
            assert [[t[key] for key in keys] for t in tasks] == [[float(r[key]) for key in keys]
                                                                  for r in meta["per_task"]]
            ppl = _cells(page, "eval-perplexity")
            assert [(p["label"], p["tokens"], p["perplexity"]) for p in ppl] == [
                (r["domain"], float(r["tokens"]), float(r["perplexity"])) for r in meta["perplexity"]]
            bars = {t["name"]: t["y"] for t in plot(page, "fig-eval-tasks")}
            assert bars[f"pass@{k}"] == [r[f"pass@{k}"] for r in meta["per_task"]]
            assert bars[f"avg@{k}"] == [r[f"avg@{k}"] for r in meta["per_task"]]
            (drawn,) = plot(page, "fig-eval-ppl")
            assert drawn["x"] == [r["domain"] for r in meta["perplexity"]]
            assert drawn["y"] == [r["perplexity"] for r in meta["perplexity"]]
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing runs off the page
        # the report by version, from the versions table
        load(page, f"{url}/eval?report=eval_report:{report['version']}", screenshots, "eval-by-ref")
        assert page.inner_text("#eval-artifact") == f"eval_report:{report['version']}"
        missing = page.goto(f"{url}/eval?report=eval_report:99")
        assert missing.status == 404
    assert page.errors == []


def test_eval_page_of_a_run_without_an_eval_report_says_so(page, dashboard, screenshots):
    load(page, dashboard + "/eval", screenshots, "eval-empty")
    assert "no eval_report artifact" in page.inner_text("#empty-eval")
    assert page.errors == []
