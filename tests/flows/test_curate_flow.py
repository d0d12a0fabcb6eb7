"""The curation funnel through the real flows on real labelled paragraphs (as PDFs) with planted duplicates."""

from pathlib import Path

import polars as pl

from flows.curate import CurateFlowParams, curate_flow
from flows.pdf import PdfFlowParams, pdf_flow
from s1data.parts import list_parquet
from storage import open_storage

N_SCIENCE, N_OTHER, N_EXACT, N_NEAR = 16, 16, 4, 4


def _corpus(out: Path, shared: Path) -> dict[str, str]:
    """name -> planted label ('<domain>', 'none', 'exact:<name>', 'near:<name>'), as one-page PDFs of REAL text:
    three paragraphs of one label of ../shared/data/science-dev per document."""
    import gzip
    import json

    by_label: dict[str, list[str]] = {}
    with gzip.open(shared / "science-dev" / "docs.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            d = json.loads(line)
            if i % 7 == 0 and 400 <= len(d["text"]) <= 1500:
                by_label.setdefault(d["label"], []).append(d["text"])
    sci_labels = sorted(k for k in by_label if k != "non_science")
    planted, texts = {}, {}
    for i in range(N_SCIENCE + N_OTHER):
        lab = sci_labels[i % len(sci_labels)] if i < N_SCIENCE else "non_science"
        k = i // len(sci_labels) if i < N_SCIENCE else i - N_SCIENCE
        text = "\n\n".join(by_label[lab][3 * k: 3 * k + 3])
        texts[f"doc{i:02d}"], planted[f"doc{i:02d}"] = text, "none" if lab == "non_science" else lab
    for j in range(N_EXACT):  # same text, different file bytes: the PDF stage's global page dedup
        texts[f"exact{j}"], planted[f"exact{j}"] = texts[f"doc{j:02d}"], f"exact:doc{j:02d}"
    for j in range(N_NEAR):  # one word changed: MinHash near-duplicates in curation
        src = texts[f"doc{N_SCIENCE + j:02d}"].split(" ")
        src[len(src) // 2] = "zebra"
        texts[f"near{j}"], planted[f"near{j}"] = " ".join(src), f"near:doc{N_SCIENCE + j:02d}"
    import pymupdf

    out.mkdir(parents=True)
    for name, text in texts.items():
        doc = pymupdf.open()
        assert doc.new_page().insert_textbox(pymupdf.Rect(40, 40, 560, 800), text, fontsize=8) >= 0
        doc.save(out / f"{name}.pdf")
        p = out / f"{name}.pdf"
        p.write_bytes(p.read_bytes() + f"\n%{name}\n".encode())  # distinct bytes, distinct sha256
    return planted


def test_the_funnel_drops_planted_duplicates_with_reasons_and_labels_planted_science(home, tmp_path, shared_data):
    planted = _corpus(tmp_path / "corpus", shared_data)
    pdf = pdf_flow(PdfFlowParams(home=str(home), input=[str(tmp_path / "corpus")], n_workers=2))
    assert pdf["files"] == len(planted) and pdf["duplicate_pages"] == N_EXACT

    out = curate_flow(CurateFlowParams(home=str(home), web_pages=None))
    reasons = out["exclusion_reasons"]
    assert reasons.get("dedup_near_duplicate") == N_NEAR, reasons
    assert out["input"] == N_SCIENCE + N_OTHER + N_NEAR
    assert out["kept"] == N_SCIENCE + N_OTHER - sum(v for k, v in reasons.items() if k != "dedup_near_duplicate")

    _, m = open_storage(home)
    curated = pl.concat([pl.read_parquet(p) for p in list_parquet(m.resolve_artifact("curated")["uri"])])
    excl = pl.concat([pl.read_parquet(p) for p in list_parquet(m.resolve_artifact("curation_exclusions")["uri"])],
                     how="diagonal_relaxed")
    name = lambda uri: Path(uri).stem  # noqa: E731
    near = {name(u) for u, r in zip(excl["source_uri"], excl["reason"]) if r == "dedup_near_duplicate"}
    # one of each planted pair is kept; the other is the excluded one
    assert len(near) == N_NEAR and all(n.startswith(("near", "doc")) for n in near)

    got = {name(u): d for u, d in zip(curated["source_uri"], curated["domain"])}
    sci = [n for n, lab in planted.items() if "/" in lab and n in got]
    other = [n for n, lab in planted.items() if lab == "none" and n in got]
    right_domain = sum(got[n] == planted[n] for n in sci)
    print("science:", [(planted[n], got[n]) for n in sci], "other:", [got[n] for n in other])
    assert right_domain >= 0.8 * len(sci), (right_domain, len(sci))
    assert sum(got[n] is None for n in other) >= 0.9 * len(other)
    lineage = {a["name"] for a in m.ancestors(m.resolve_artifact("curated")["artifact_id"])}
    assert {"documents", "pdf_pages", "pdf_partition", "source_pdf"} <= lineage

    # the dashboard's curation figures read the meta this real run committed (not a hand-typed fixture)
    from dashboards.figures import curation_counts, curation_funnel, exclusion_reasons, meta

    row = m.resolve_artifact("curated")
    counts = curation_counts(meta(row))
    funnel = curation_funnel(row, counts)
    assert funnel is not None and funnel["data"][0]["x"][0] == out["input"]
    assert funnel["data"][0]["x"] == [meta(row)[k] for k in ("input", "after_domains", "after_quality", "after_dedup")]
    assert funnel["data"][0]["x"][-1] >= out["kept"]
    bars = exclusion_reasons("why", counts)
    shown = {r: n for trace in bars["data"] for r, n in zip(trace["x"], trace["y"])}
    assert shown == {r: n for r, n in reasons.items() if n}
