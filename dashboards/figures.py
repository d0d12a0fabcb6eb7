"""Manifest rows -> Plotly figure dicts (`{"data": [...], "layout": {...}}`), rendered in the page by plotly.js.

Pure functions: no I/O, no Manifest. A figure builder returns None when it has nothing to show, and the page then
says "no data yet". Conventions read from `artifacts.meta_json` (documented in docs/dashboard.md):

- curation funnel: `stats` = {"<filter>:kept": n, "<filter>:<reason>": n} (the counters of s1data.filters.curate)
  or `by_filter` = {"<filter>": {"kept": n, "<reason>": n}}; a flat `by_reason` = {"<reason>": n} gives reasons only;
- composition: `domains` / `sources` = {key: count} (tokens for token shards), or `shards` = [{domains, sources,
  tokens, rows, path}] summed over shards;
- PDF mining: `files`, `pages`, `duplicate_pages`, `documents`, `quarantined`, `routes` of `pdf_pages`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

MAX_POINTS = 5000  # per trace; longer series are strided so a 100k-step run still draws quickly

STATUS_COLORS = {"completed": "#2ca02c", "cached": "#7f7f7f", "failed": "#d62728", "running": "#1f77b4",
                 "killed": "#ff7f0e"}

TRAIN_CURVES = [  # (figure id, title, metric names, y-axis title)
    ("train-loss", "Loss", ["train.loss", "train.aux_loss"], "loss"),
    ("train-mfu", "Model FLOPs utilisation", ["train.mfu"], "MFU"),
    ("train-throughput", "Throughput", ["train.tokens_per_s"], "tokens / s"),
    ("train-lr", "Learning rate", ["train.lr"], "lr"),  # small values: the axis uses exponent notation
    ("train-grad-norm", "Gradient norm", ["train.grad_norm"], "‖g‖"),
]

_EXPERT = re.compile(r"^train\.expert_load\.L(\d+)\.E(\d+)$")


def meta(row: dict) -> dict:
    try:
        out = json.loads(row.get("meta_json") or "{}")
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def layout(title: str, **kw: Any) -> dict:
    base = {"title": {"text": title}, "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 380,
            "legend": {"orientation": "h", "y": -0.22, "yanchor": "top"}, "template": "plotly_white"}
    base.update(kw)
    return base


def _stride(xs: list, ys: list) -> tuple[list, list]:
    if len(xs) <= MAX_POINTS:
        return xs, ys
    k = -(-len(xs) // MAX_POINTS)
    return xs[::k] + xs[-1:], ys[::k] + ys[-1:]


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


# -- runs -------------------------------------------------------------------------------------------------------------
def stage_timeline(stages: list[dict], now: datetime) -> dict | None:
    """A Gantt of one run's stage rows: one bar per stage (and partition), coloured by status."""
    if not stages:
        return None
    data = []
    by_status: dict[str, list[dict]] = defaultdict(list)
    for s in stages:
        by_status[s["status"]].append(s)
    labels = [_stage_label(s) for s in stages]
    for status, rows in by_status.items():
        starts = [r["started_at"] for r in rows]
        ends = [r["finished_at"] or now for r in rows]
        data.append({
            "type": "bar", "orientation": "h", "name": status,
            "y": [_stage_label(r) for r in rows],
            "base": [_iso(s) for s in starts],
            "x": [max((e - s).total_seconds() * 1000.0, 1.0) for s, e in zip(starts, ends)],
            "customdata": [[r["stage_run_id"], (e - s).total_seconds()] for r, s, e in zip(rows, starts, ends)],
            "hovertemplate": "%{y}<br>%{customdata[0]}<br>%{customdata[1]:.2f} s<extra>" + status + "</extra>",
            "marker": {"color": STATUS_COLORS.get(status, "#9467bd")},
        })
    height = max(220, 28 * len(labels) + 110)
    return {"data": data, "layout": layout(
        "Stage timeline", height=height, barmode="overlay",
        xaxis={"type": "date", "title": {"text": "time (UTC)"}},
        yaxis={"autorange": "reversed", "categoryorder": "array", "categoryarray": labels, "automargin": True})}


def _stage_label(s: dict) -> str:
    key = s.get("partition_key")
    return f"{s['stage']} [{key[:10]}]" if key else s["stage"]


# -- corpus ---------------------------------------------------------------------------------------------------------
def pdf_counts(artifacts: list[dict]) -> dict | None:
    """Counts of the latest pdf_pages artifact: files → parsed → pages → unique pages → documents."""
    row = next((a for a in artifacts if a["name"] == "pdf_pages"), None)
    if row is None:
        return None
    m = meta(row)
    files, quarantined = m.get("files"), m.get("quarantined") or 0
    steps = [("PDF files", files), ("files parsed", None if files is None else files - quarantined),
             ("pages", m.get("pages")), ("pages after dedup", None if m.get("pages") is None
                                          else m["pages"] - (m.get("duplicate_pages") or 0)),
             ("documents", m.get("documents"))]
    steps = [(k, v) for k, v in steps if v is not None]
    return {"data": [{"type": "bar", "x": [v for _, v in steps], "y": [k for k, _ in steps], "orientation": "h",
                      "text": [v for _, v in steps], "textposition": "auto", "marker": {"color": "#1f77b4"}}],
            "layout": layout(f"PDF mining ({row['name']}:{row['version']})", height=300,
                             yaxis={"autorange": "reversed", "automargin": True})}


def curation_counts(m: dict) -> dict[str, dict[str, int]] | None:
    """{filter: {"kept": n, reason: n}} from an artifact's meta, or None when it has no filter counters."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if isinstance(m.get("stats"), dict) and any(":" in str(k) for k in m["stats"]):
        for key, n in m["stats"].items():
            if ":" in str(key) and isinstance(n, (int, float)):
                f, reason = str(key).split(":", 1)
                out[f][reason] = int(n)
    elif isinstance(m.get("by_filter"), dict):
        for f, reasons in m["by_filter"].items():
            if isinstance(reasons, dict):
                out[f] = {str(r): int(n) for r, n in reasons.items() if isinstance(n, (int, float))}
    elif isinstance(m.get("by_reason") or m.get("exclusion_reasons"), dict):  # curate: reasons, stage totals
        for reason, n in (m.get("by_reason") or m["exclusion_reasons"]).items():
            if isinstance(n, (int, float)):
                out[str(reason).split("_", 1)[0]][str(reason)] = int(n)
    return dict(out) or None


CURATE_STEPS = ("input", "after_domains", "after_quality", "after_dedup")  # what curate_corpus writes in meta


def curation_funnel(row: dict, counts: dict[str, dict[str, int]]) -> dict | None:
    """Documents left after each filter. Filters are ordered by what they kept (a funnel only shrinks), so the
    order survives meta_json's sorted keys."""
    m = meta(row)
    if all(isinstance(m.get(k), (int, float)) for k in CURATE_STEPS):  # the curated artifact's stage totals
        labels = ["input", "after domains", "after quality", "after dedup"]
        values = [int(m[k]) for k in CURATE_STEPS]
        return {"data": [{"type": "funnel", "y": labels, "x": values, "textinfo": "value+percent initial"}],
                "layout": layout(f"Curation funnel ({row['name']}:{row['version']})", height=320,
                                 yaxis={"automargin": True})}
    kept = {f: c["kept"] for f, c in counts.items() if "kept" in c}
    if not kept:
        return None
    order = sorted(kept, key=lambda f: -kept[f])
    first = counts[order[0]]
    n_in = sum(first.values())
    labels = ["input"] + [f"after {f}" for f in order]
    values = [n_in] + [kept[f] for f in order]
    return {"data": [{"type": "funnel", "y": labels, "x": values, "textinfo": "value+percent initial"}],
            "layout": layout(f"Curation funnel ({row['name']}:{row['version']})", height=320,
                             yaxis={"automargin": True})}


def exclusion_reasons(title: str, counts: dict[str, dict[str, int]]) -> dict | None:
    """Dropped documents per reason, one bar colour per filter."""
    data = []
    for f in sorted(counts):
        reasons = {r: n for r, n in counts[f].items() if r != "kept" and n}
        if reasons:
            data.append({"type": "bar", "name": f, "x": list(reasons), "y": list(reasons.values())})
    if not data:
        return None
    return {"data": data, "layout": layout(title, barmode="stack", xaxis={"automargin": True},
                                           yaxis={"title": {"text": "documents"}})}


def quarantine_reasons(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    return {"data": [{"type": "bar", "x": [r["reason"] for r in rows], "y": [r["n"] for r in rows],
                      "marker": {"color": "#d62728"}}],
            "layout": layout("Quarantined inputs by reason", yaxis={"title": {"text": "inputs"}})}


def composition(artifacts: list[dict], key: str) -> tuple[dict, dict[str, float]] | None:
    """(artifact row, {value: count}) for `key` in ('domains', 'sources') from the most downstream artifact that has
    it: token_shards, then curated, then documents, then any other."""
    rank = {"token_shards": 0, "curated": 1, "documents": 2}
    for row in sorted(artifacts, key=lambda a: (rank.get(a["name"], 9), -a["artifact_id"])):
        m = meta(row)
        found: dict[str, float] = {}
        for k in (key, f"by_{key[:-1]}"):
            if isinstance(m.get(k), dict):
                found = {str(a): float(b) for a, b in m[k].items() if isinstance(b, (int, float))}
                break
        if not found and isinstance(m.get("shards"), list):
            acc: dict[str, float] = defaultdict(float)
            for shard in m["shards"]:
                for a, b in ((shard or {}).get(key) or {}).items():
                    acc[str(a)] += float(b)
            found = dict(acc)
        if found:
            return row, found
    return None


def composition_bar(title: str, unit: str, counts: dict[str, float]) -> dict:
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    return {"data": [{"type": "bar", "x": [k for k, _ in items], "y": [v for _, v in items]}],
            "layout": layout(title, yaxis={"title": {"text": unit}}, xaxis={"automargin": True})}


def pie(title: str, counts: dict[str, float]) -> dict:
    return {"data": [{"type": "pie", "labels": list(counts), "values": list(counts.values()), "hole": 0.4}],
            "layout": layout(title, height=320)}


# -- shards ---------------------------------------------------------------------------------------------------------
def shard_files(row: dict) -> list[dict]:
    """The per-file entries of a token_shards artifact's meta (`shards` list), possibly empty."""
    shards = meta(row).get("shards")
    return [s for s in shards if isinstance(s, dict)] if isinstance(shards, list) else []


def shard_tokens(row: dict, files: list[dict]) -> dict | None:
    if not files:
        return None
    names = [str(f.get("path", i)).rsplit("/", 1)[-1] for i, f in enumerate(files)]
    padding = [f.get("padding_tokens") or 0 for f in files]
    return {"data": [{"type": "bar", "name": "tokens", "x": names, "y": [f.get("tokens") for f in files]},
                     {"type": "bar", "name": "padding", "x": names, "y": padding}],
            "layout": layout(f"Tokens per shard ({row['name']}:{row['version']})", barmode="stack",
                             xaxis={"automargin": True}, yaxis={"title": {"text": "tokens"}})}


def tokens_by_dataset(rows: list[dict]) -> dict | None:
    rows = [r for r in rows if r.get("tokens")]
    if not rows:
        return None
    return {"data": [{"type": "bar", "x": [f"{r['name']}:{r['latest_version']}" for r in rows],
                      "y": [r["tokens"] for r in rows]}],
            "layout": layout("Tokens by dataset (latest version)", yaxis={"title": {"text": "tokens"}})}


# -- curves ---------------------------------------------------------------------------------------------------------
def _group_series(rows: Iterable[dict]) -> dict[tuple[str, str | None], tuple[list, list]]:
    """{(name, stage_run_id): (steps, values)} in step order."""
    out: dict[tuple[str, str | None], tuple[list, list]] = {}
    for r in rows:
        xs, ys = out.setdefault((r["name"], r["stage_run_id"]), ([], []))
        xs.append(r["step"])
        ys.append(r["value"])
    return out


def _run_label(rows: list[dict]) -> dict[str | None, str]:
    return {r["stage_run_id"]: (r.get("run_id") or r["stage_run_id"] or "(no stage run)") for r in rows}


def line_figure(fig_title: str, y_title: str, series: dict[tuple[str, str | None], tuple[list, list]],
                labels: dict[str | None, str], name_of=lambda n: n) -> dict:
    many_runs = len({sr for _, sr in series}) > 1
    data = []
    for (name, sr), (xs, ys) in sorted(series.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        xs, ys = _stride(xs, ys)
        label = name_of(name) + (f" · {labels.get(sr, sr)}" if many_runs else "")
        data.append({"type": "scatter", "mode": "lines+markers" if len(xs) < 60 else "lines", "name": label,
                     "x": xs, "y": ys, "meta": {"metric": name, "stage_run_id": sr}})
    steps = [x for _, (xs, _) in series.items() for x in xs]
    xaxis: dict = {"title": {"text": "step"}, "tickformat": "d"}  # steps are integers: no 2.5 tick
    if steps and max(steps) - min(steps) <= 12:
        xaxis.update(tickmode="linear", dtick=1)
    # a single trace is named in the legend too (plotly hides a one-trace legend: an unlabelled line)
    return {"data": data, "layout": layout(fig_title, xaxis=xaxis, yaxis={"title": {"text": y_title}},
                                           showlegend=True)}


def training_curves(rows: list[dict]) -> dict[str, dict | None]:
    """One figure per entry of TRAIN_CURVES (None where that metric was never recorded)."""
    rows = [r for r in rows if not r["name"].startswith("train.expert_load.")]
    grouped = _group_series(rows)
    labels = _run_label(rows)
    out = {}
    for fig_id, title, names, y_title in TRAIN_CURVES:
        picked = {k: v for k, v in grouped.items() if k[0] in names}
        fig = line_figure(title, y_title, picked, labels, lambda n: n.removeprefix("train.")) if picked else None
        if fig:
            fig["layout"]["yaxis"]["exponentformat"] = "e"
        out[fig_id] = fig
    return out


def other_training_metrics(rows: list[dict]) -> list[str]:
    known = {n for _, _, names, _ in TRAIN_CURVES for n in names}
    return sorted({r["name"] for r in rows if r["name"] not in known
                   and not r["name"].startswith("train.expert_load.")})


def expert_heatmap(rows: list[dict]) -> dict | None:
    """Layer × expert load at the last step of the latest training stage run."""
    cells = {}
    for r in rows:
        mt = _EXPERT.match(r["name"])
        if mt:
            cells[(int(mt.group(1)), int(mt.group(2)))] = r["value"]
    if not cells:
        return None
    n_layers = max(layer for layer, _ in cells) + 1
    n_experts = max(e for _, e in cells) + 1
    z = [[cells.get((layer, e)) for e in range(n_experts)] for layer in range(n_layers)]
    step, sr = rows[0]["step"], rows[0]["stage_run_id"]
    return {"data": [{"type": "heatmap", "z": z, "x": [f"E{e}" for e in range(n_experts)],
                      "y": [f"L{layer}" for layer in range(n_layers)], "colorscale": "Viridis",
                      "colorbar": {"title": {"text": "load"}},
                      "hovertemplate": "%{y} %{x}: %{z:.4f}<extra></extra>"}],
            "layout": layout(f"Expert load at step {step} ({sr or 'no stage run'})",
                             height=max(260, 30 * n_layers + 120), yaxis={"autorange": "reversed"})}


def reward_curves(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    return line_figure("Reward per data source", "mean reward", _group_series(rows), _run_label(rows),
                       lambda n: n.removeprefix("rl.reward."))


def _bucket_key(bucket: str) -> tuple:
    m = re.match(r"^\D*(\d+)", bucket)
    return (0, int(m.group(1)), bucket) if m else (1, 0, bucket)


def split_pass_rate(name: str) -> tuple[str, str]:
    """rl.pass_rate.<task>.<bucket> -> (task, bucket); the bucket is the last dotted part."""
    rest = name.removeprefix("rl.pass_rate.")
    task, _, bucket = rest.rpartition(".")
    return (task or rest, bucket if task else "all")


def pass_rate_by_bucket(rows: list[dict]) -> dict | None:
    """Pass rate per length bucket (x), one bar group per task, at each series' last step (latest stage run)."""
    if not rows:
        return None
    latest_sr = rows[-1]["stage_run_id"]
    last: dict[tuple[str, str], tuple[int, float]] = {}
    for r in rows:
        if r["stage_run_id"] != latest_sr:
            continue
        key = split_pass_rate(r["name"])
        if key not in last or r["step"] >= last[key][0]:
            last[key] = (r["step"], r["value"])
    buckets = sorted({b for _, b in last}, key=_bucket_key)
    data = []
    for task in sorted({t for t, _ in last}):
        data.append({"type": "bar", "name": task, "x": buckets,
                     "y": [last.get((task, b), (None, None))[1] for b in buckets],
                     "customdata": [last.get((task, b), (None, None))[0] for b in buckets],
                     "hovertemplate": "%{x}: %{y:.3f} at step %{customdata}<extra>" + task + "</extra>"})
    return {"data": data, "layout": layout("Pass rate by length bucket (last step)", barmode="group",
                                           xaxis={"title": {"text": "length bucket"}, "type": "category"},
                                           yaxis={"title": {"text": "pass rate"}, "range": [0, 1.05]})}


def pass_rate_curves(rows: list[dict]) -> dict | None:
    if not rows:
        return None

    def name_of(n: str) -> str:
        task, bucket = split_pass_rate(n)
        return f"{task} {bucket}"

    return line_figure("Pass rate over steps", "pass rate", _group_series(rows), _run_label(rows), name_of)


# -- eval -----------------------------------------------------------------------------------------------------------
def eval_k(meta_: dict) -> int | None:
    """k of an eval_report's avg@k / pass@k columns (the report's own keys: `avg@4` -> 4)."""
    for key in (meta_.get("overall") or {}):
        if key.startswith("avg@") and key[4:].isdigit():
            return int(key[4:])
    for row in meta_.get("per_task") or []:
        for key in row:
            if key.startswith("avg@") and key[4:].isdigit():
                return int(key[4:])
    return None


def eval_per_task(meta_: dict) -> dict | None:
    """Grouped bars per task: avg@k, pass@1, pass@k and the greedy pass rate, as the report holds them."""
    rows, k = meta_.get("per_task") or [], eval_k(meta_)
    if not rows or k is None:
        return None
    tasks = [str(r.get("task")) for r in rows]
    data = [{"type": "bar", "name": label, "x": tasks, "y": [r.get(key) for r in rows]}
            for key, label in ((f"avg@{k}", f"avg@{k}"), ("pass@1", "pass@1"), (f"pass@{k}", f"pass@{k}"),
                               ("greedy_pass_rate", "greedy"))]
    return {"data": data, "layout": layout("Verifier scores per task", barmode="group",
                                           yaxis={"range": [0, 1], "title": {"text": "rate"}})}


def eval_perplexity(meta_: dict) -> dict | None:
    rows = meta_.get("perplexity") or []
    if not rows:
        return None
    return {"data": [{"type": "bar", "x": [r["domain"] for r in rows], "y": [r["perplexity"] for r in rows],
                      "text": [f"{r['tokens']:,} tokens" for r in rows]}],
            "layout": layout("Perplexity per domain", yaxis={"title": {"text": "perplexity"}}, height=320)}
