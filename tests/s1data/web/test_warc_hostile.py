"""Hostile WARC/ARC files: every record is a page or a quarantine row with a reason, nothing raises, nothing hangs,
and no quarantine detail quotes the file's bytes. Inputs are generated with a seed from the real warcio test files."""

import io
import random
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from benchmarks.chaos import SECRET, _article, _warc  # noqa: E402
from s1data.web import WebConfig, read_warc, read_warc_partition  # noqa: E402

SEEDS = range(3)


def _reasons(q):
    return [r["reason"] for r in q]


def test_a_response_record_without_a_target_uri_is_quarantined_and_the_next_records_are_read(tmp_path):
    rng = random.Random(1)
    for gz in (True, False):
        p = tmp_path / f"nouri{gz}.warc"
        p.write_bytes(_warc([("http://a.example/", _article(rng)), (None, _article(rng)),
                             ("http://b.example/", _article(rng))], gz=gz))
        table, q = read_warc(p)
        assert table.num_rows == 2 and _reasons(q) == ["warc_missing_target_uri"]


@pytest.mark.parametrize("where", ["warc", "http"])
def test_a_header_line_of_many_megabytes_is_read_or_refused_quickly(tmp_path, where):
    """A WARC header line is read by warcio line by line (bounded: warc_header_too_long); an HTTP header line is
    inside the record's Content-Length and reads fast, so that record is a page like any other."""
    size = 20_000_000
    rec = ("http://big.example/", b"<html><body><p>x</p></body></html>", "text/html",
           {"X-Big": "a" * size} if where == "warc" else None, [("X-Big", "b" * size)] if where == "http" else None)
    p = tmp_path / "big.warc.gz"
    p.write_bytes(_warc([("http://ok.example/", _article(random.Random(0))), rec], gz=True))
    t0 = time.process_time()
    table, q = read_warc(p)
    assert time.process_time() - t0 < 10  # warcio alone: 82 s of CPU for 50 MB (a quadratic join of the line)
    if where == "warc":
        assert table.num_rows == 1 and _reasons(q) == ["warc_header_too_long"]
    else:
        assert table.num_rows == 2 and q == []


@pytest.mark.parametrize("seed", SEEDS)
def test_a_warc_gz_cut_anywhere_keeps_its_whole_records_and_quarantines_the_cut_tail(tmp_path, seed):
    rng = random.Random(seed)
    n = rng.randint(2, 6)
    data = _warc([(f"http://ok.example/{k}", _article(rng)) for k in range(n)], gz=True)
    ends = _member_ends(data)
    cuts = [rng.randint(1, len(data) - 1) for _ in range(8)] + [ends[0] + 1, ends[0] - 1, ends[0]]
    for cut in cuts:
        p = tmp_path / "cut.warc.gz"
        p.write_bytes(data[:cut])
        table, q = read_warc(p)
        assert table.num_rows < n
        if cut in ends:  # cut between two members: a whole, shorter WARC file that no reader can tell apart
            assert q == [] and table.num_rows == ends.index(cut) + 1
            continue
        assert "warc_truncated" in _reasons(q), cut  # the cut tail is never dropped silently


def _member_ends(data: bytes) -> list[int]:
    """Offsets where the gzip members of a record-per-member WARC.gz end."""
    ends, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        pos = len(data) - len(d.unused_data)
        ends.append(pos)
    return ends


def test_an_empty_file_and_garbage_are_quarantined_without_quoting_their_bytes(tmp_path):
    (tmp_path / "empty.warc").write_bytes(b"")
    (tmp_path / "garbage.warc").write_bytes(SECRET.encode() + random.Random(0).randbytes(500))
    assert _reasons(read_warc(tmp_path / "empty.warc")[1]) == ["warc_empty"]
    q = read_warc(tmp_path / "garbage.warc")[1]
    assert _reasons(q) == ["warc_malformed"] and SECRET not in q[0]["detail"]


@pytest.mark.parametrize("seed", SEEDS)
def test_real_warc_files_with_flipped_bytes_or_cut_anywhere_never_raise(shared_data, seed):
    rng = random.Random(seed)
    for src in sorted((shared_data / "warc").iterdir()):
        data = bytearray(src.read_bytes())
        variants = [bytes(data[: rng.randint(1, len(data) - 1)])]
        for _ in range(3):
            d = bytearray(data)
            for _ in range(rng.randint(1, 20)):
                d[rng.randrange(len(d))] = rng.randrange(256)
            variants.append(bytes(d))
        for v in variants:
            p = Path(f"/tmp/s1-fuzz-{seed}-{src.name}")
            p.write_bytes(v)
            try:
                table, q = read_warc(p)  # never raises: pages and quarantine rows
                assert table.num_rows + len(q) >= 0
            finally:
                p.unlink()


def _nested_warc(tmp_path, depth=100_000):
    rng = random.Random(0)
    page = b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"
    p = tmp_path / "nested.warc.gz"
    p.write_bytes(_warc([("http://ok.example/1", _article(rng)), ("http://deep.example/", page),
                         ("http://ok.example/2", _article(rng))], gz=True))
    return p


def test_a_record_that_hangs_the_extractor_is_killed_inside_a_worker_thread_and_the_file_goes_on(tmp_path):
    """The bound must hold where Dask runs it: a thread that is not the main thread (SIGALRM cannot fire there)."""
    p = _nested_warc(tmp_path)
    out: dict = {}
    cfg = WebConfig(record_timeout_s=1.0)
    t = threading.Thread(target=lambda: out.update(read_warc_partition(p, tmp_path / "part", cfg)))
    t0 = time.monotonic()
    t.start()
    t.join(timeout=120)
    assert not t.is_alive(), "the web reader hung"
    assert out["pages"] == 2 and _reasons(out["quarantine"]) == ["web_timeout"]
    assert out["quarantine"][0]["source_uri"].startswith(f"{p}#")
    assert time.monotonic() - t0 < 60


def test_a_file_over_its_time_bound_is_quarantined_whole_with_an_empty_partition(tmp_path):
    p = _nested_warc(tmp_path)
    out = read_warc_partition(p, tmp_path / "part", WebConfig(record_timeout_s=60.0, file_timeout_s=3.0))
    assert out["pages"] == 0 and _reasons(out["quarantine"]) == ["web_file_timeout"]
    import pyarrow.parquet as pq

    assert pq.read_table(Path(out["out_dir"]) / "pages.parquet").num_rows == 0


def test_a_reader_over_its_memory_bound_is_killed_and_the_file_quarantined(tmp_path, shared_data):
    out = read_warc_partition(shared_data / "warc" / "example.warc.gz", tmp_path / "part",
                              WebConfig(max_memory_mb=64))  # less than the interpreter with its imports
    assert out["pages"] == 0 and _reasons(out["quarantine"]) == ["web_memory_limit"]


def test_the_isolated_reader_writes_the_same_partition_as_the_in_process_one(tmp_path, shared_data):
    import pyarrow.parquet as pq

    for src in sorted((shared_data / "warc").iterdir()):
        a = read_warc_partition(src, tmp_path / "a" / src.name, WebConfig(isolate=True))
        b = read_warc_partition(src, tmp_path / "b" / src.name, WebConfig(isolate=False))
        assert a["quarantine"] == b["quarantine"], src.name
        assert pq.read_table(Path(a["out_dir"]) / "pages.parquet").equals(
            pq.read_table(Path(b["out_dir"]) / "pages.parquet")), src.name
