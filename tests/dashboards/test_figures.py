"""The pure shaping code behind the pages: meta_json conventions, metric-name parsing, the lineage layout."""

from dashboards import figures as F
from dashboards.lineage import layers, render_svg


def test_curation_counts_read_the_curate_counters_and_the_by_filter_and_by_reason_shapes():
    stats = {"stats": {"lang:kept": 9, "lang:lang_not_en": 1, "gopher:kept": 7, "gopher:gopher_short_doc": 2}}
    assert F.curation_counts(stats) == {"lang": {"kept": 9, "lang_not_en": 1},
                                        "gopher": {"kept": 7, "gopher_short_doc": 2}}
    assert F.curation_counts({"by_filter": {"c4": {"kept": 3, "c4_lorem_ipsum": 1}}}) == \
        {"c4": {"kept": 3, "c4_lorem_ipsum": 1}}
    assert F.curation_counts({"by_reason": {"gopher_short_doc": 2}}) == {"gopher": {"gopher_short_doc": 2}}
    assert F.curation_counts({"pages": 12}) is None


def test_the_funnel_orders_filters_by_what_they_kept_since_meta_json_sorts_its_keys():
    counts = {"c4": {"kept": 2, "c4_x": 1}, "gopher": {"kept": 3, "gopher_y": 1}, "lang": {"kept": 4}}
    fig = F.curation_funnel({"name": "curated", "version": 1}, counts)
    assert fig["data"][0]["y"] == ["input", "after lang", "after gopher", "after c4"]
    assert fig["data"][0]["x"] == [4, 4, 3, 2]


def test_composition_prefers_token_shards_and_sums_per_shard_counts():
    arts = [{"artifact_id": 1, "name": "documents", "version": 1, "meta_json": '{"domains": {"bio": 5}}'},
            {"artifact_id": 2, "name": "token_shards", "version": 1,
             "meta_json": '{"shards": [{"domains": {"bio": 10}}, {"domains": {"bio": 1, "physics": 4}}]}'}]
    row, counts = F.composition(arts, "domains")
    assert row["name"] == "token_shards" and counts == {"bio": 11.0, "physics": 4.0}
    assert F.composition(arts, "sources") is None


def test_pass_rate_names_split_into_task_and_bucket_and_buckets_sort_numerically():
    assert F.split_pass_rate("rl.pass_rate.math.0-512") == ("math", "0-512")
    assert F.split_pass_rate("rl.pass_rate.bio.chem.2048+") == ("bio.chem", "2048+")
    assert F.split_pass_rate("rl.pass_rate.math") == ("math", "all")
    assert sorted(["2048-8192", "512-2048", "0-512"], key=F._bucket_key) == ["0-512", "512-2048", "2048-8192"]


def test_long_series_are_strided_but_keep_their_last_point():
    xs = list(range(12_001))
    sx, sy = F._stride(xs, xs)
    assert len(sx) <= F.MAX_POINTS + 1 and sx[-1] == 12_000 and sx == sy


def test_lineage_layers_are_longest_paths_so_every_edge_points_right():
    # 4 <- 3 <- 1 and 4 <- 1 directly: 1 goes two columns left of 4, not one
    edges = [(4, 3), (3, 1), (4, 1), (3, 2)]
    assert layers(4, edges) == {4: 0, 3: 1, 1: 2, 2: 2}
    node = lambda i, name: {"artifact_id": i, "name": name, "version": 1, "kind": "parquet"}  # noqa: E731
    svg, drawn = render_svg(node(4, "documents"), [node(3, "pages"), node(1, "a"), node(2, "b")], edges,
                            lambda i: f"/lineage/{i}")
    assert drawn == 4 and svg.count('class="edge"') == 4 and 'href="/lineage/1"' in svg


def test_the_curated_artifacts_stage_totals_draw_the_funnel_and_its_reasons_group_by_prefix():
    from tests.dashboards.conftest import CURATION_META

    row = {"name": "curated", "version": 3, "meta_json": __import__("json").dumps(CURATION_META)}
    counts = F.curation_counts(F.meta(row))
    assert counts == {"c4": {"c4_too_few_sentences": 1}, "gopher": {"gopher_short_doc": 1}}
    fig = F.curation_funnel(row, counts)
    assert fig["data"][0]["y"] == ["input", "after domains", "after quality", "after dedup"]
    assert fig["data"][0]["x"] == [4, 4, 2, 2]
    only_reasons = {"exclusion_reasons": {"dedup_near_duplicate": 3}}  # older rows without by_reason
    assert F.curation_counts(only_reasons) == {"dedup": {"dedup_near_duplicate": 3}}


def test_step_axes_have_integer_ticks_and_a_single_line_keeps_its_legend():
    rows = [{"name": "rl.reward.chem", "stage_run_id": "sr1", "run_id": "r1", "step": s, "value": 0.1 * s}
            for s in (1, 2, 3)]
    fig = F.reward_curves(rows)
    assert fig["layout"]["showlegend"] is True and fig["data"][0]["name"] == "chem"
    assert fig["layout"]["xaxis"]["tickformat"] == "d" and fig["layout"]["xaxis"]["dtick"] == 1
    long = [{**rows[0], "step": s} for s in range(0, 500, 10)]
    assert "dtick" not in F.reward_curves(long)["layout"]["xaxis"]


def test_partition_artifacts_are_one_lineage_node_per_name_with_edges_redirected():
    from dashboards.lineage import group_partitions
    from dashboards.queries import is_partition_artifact

    anc = [{"artifact_id": 2, "name": "documents", "version": 1, "depth": 1, "rows": 4},
           *[{"artifact_id": 10 + i, "name": "web_partition", "version": 1 + i, "depth": 2, "rows": 5}
             for i in range(3)],
           *[{"artifact_id": 20 + i, "name": "source_warc", "version": 1, "depth": 3, "kind": "source"}
             for i in range(3)]]
    edges = [(1, 2)] + [(2, 10 + i) for i in range(3)] + [(10 + i, 20 + i) for i in range(3)]
    shown, moved = group_partitions(anc, edges, is_partition_artifact)
    group = next(a for a in shown if a["name"] == "web_partition")
    assert group["group"] == 3 and group["rows"] == 15 and group["artifact_id"] == 10
    assert moved == sorted([(1, 2), (2, 10), (10, 20), (10, 21), (10, 22)])
    assert is_partition_artifact("curate_filter") and not is_partition_artifact("curated")


def test_eval_figures_read_the_reports_own_keys():
    from dashboards import figures as F

    meta = {"overall": {"prompts": 4, "samples": 16, "avg@4": 0.5, "pass@1": 0.5, "pass@4": 0.75,
                        "greedy_pass_rate": 0.25},
            "per_task": [{"task": "a", "prompts": 2, "samples": 8, "avg@4": 0.25, "pass@1": 0.25, "pass@4": 0.5,
                          "greedy_pass_rate": 0.0},
                         {"task": "b", "prompts": 2, "samples": 8, "avg@4": 0.75, "pass@1": 0.75, "pass@4": 1.0,
                          "greedy_pass_rate": 0.5}],
            "perplexity": [{"domain": "physics", "tokens": 1200, "nll": 2.0, "perplexity": 7.389}]}
    assert F.eval_k(meta) == 4 and F.eval_k({"per_task": meta["per_task"]}) == 4 and F.eval_k({}) is None
    bars = {t["name"]: (t["x"], t["y"]) for t in F.eval_per_task(meta)["data"]}
    assert bars == {"avg@4": (["a", "b"], [0.25, 0.75]), "pass@1": (["a", "b"], [0.25, 0.75]),
                    "pass@4": (["a", "b"], [0.5, 1.0]), "greedy": (["a", "b"], [0.0, 0.5])}
    (ppl,) = F.eval_perplexity(meta)["data"]
    assert (ppl["x"], ppl["y"], ppl["text"]) == (["physics"], [7.389], ["1,200 tokens"])
    assert F.eval_per_task({"overall": {}}) is None and F.eval_perplexity({}) is None
