import gzip
import io
import time
from pathlib import Path

import pytest

from s1data.web import PAGE_SCHEMA, WebConfig, read_warc
from s1data.web import warc_reader

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "warc"
if not DATA.exists():
    DATA = Path("/work/shared/data/warc")

ARTICLE = ("<html><head><title>{title}</title>{meta}</head><body><nav><a href='/'>Home</a> <a href='/x'>News</a></nav>"
           "<article><h1>{title}</h1><p>{body}</p><p>{body}</p></article><footer>Copyright footer</footer>"
           "</body></html>")


def write_warc(path, records, gzip_records=True):
    """records: list of (url, http_headers list, payload bytes, rec_type)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip_records)
        for url, headers, payload, rec_type in records:
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1") if rec_type == "response" else None
            rec = writer.create_warc_record(url, rec_type, payload=io.BytesIO(payload), http_headers=http,
                                            warc_content_type=None if http else "text/html")
            writer.write_record(rec)
    return path


def html_page(title="Quantum tunnelling", body="Electrons tunnel through barriers in semiconductors, " * 5, meta=""):
    return ARTICLE.format(title=title, body=body, meta=meta)


def test_a_plain_warc_yields_one_page_with_url_domain_date_and_offset():
    pages, quarantine = read_warc(DATA / "example.warc")
    assert pages.schema == PAGE_SCHEMA
    assert pages.num_rows == 1
    row = pages.to_pylist()[0]
    assert row["url"] == "http://example.com/"
    assert row["domain"] == "example.com"
    assert row["source_uri"].endswith("example.warc#1197")
    assert row["source_kind"] == "web"
    assert row["fetch_date"].year == 2017
    assert row["title"] == "Example Domain"
    assert "illustrative examples" in row["text"]
    assert row["lang"] == "en"
    assert len(row["source_sha256"]) == 64
    assert quarantine == []


@pytest.mark.parametrize("name", ["example.warc.gz", "example.arc", "example.arc.gz", "example-resource.warc.gz",
                                  "example-iana.org-chunked.warc", "example-wget-bad-target-uri.warc.gz"])
def test_warc_and_arc_files_gzip_or_not_each_yield_their_html_page(name):
    pages, _ = read_warc(DATA / name)
    assert pages.num_rows == 1
    assert pages.column("text")[0].as_py()


def test_a_single_stream_gzip_file_is_reread_decompressed_instead_of_failing():
    pages, _ = read_warc(DATA / "example-bad-non-chunked.warc.gz")
    assert pages.num_rows == 1
    assert "#gz:" in pages.column("source_uri")[0].as_py()


def test_a_record_whose_digest_does_not_match_is_quarantined_as_truncated():
    pages, quarantine = read_warc(DATA / "example-trunc.warc")
    assert pages.num_rows == 0
    assert [q["reason"] for q in quarantine] == ["warc_truncated"]
    assert "digest" in quarantine[0]["detail"]


def test_wrong_gzip_chunks_are_quarantined_as_truncated_then_malformed():
    pages, quarantine = read_warc(DATA / "example-wrong-chunks.warc.gz")
    assert pages.num_rows == 0
    assert [q["reason"] for q in quarantine] == ["warc_truncated", "warc_malformed"]


def test_arc_records_with_bogus_lengths_are_quarantined_not_raised():
    pages, quarantine = read_warc(DATA / "bad.arc")
    assert pages.num_rows == 0
    assert {q["reason"] for q in quarantine} <= {"warc_malformed", "warc_http_status"}
    assert len(quarantine) == 3


def test_non_html_responses_are_quarantined_as_warc_not_html():
    _, quarantine = read_warc(DATA / "post-test.warc.gz")
    assert [q["reason"] for q in quarantine] == ["warc_not_html"] * 3
    assert "application/json" in quarantine[0]["detail"]


def test_every_shared_file_is_read_without_raising_and_quickly():
    t0 = time.perf_counter()
    total = 0
    for path in sorted(DATA.iterdir()):
        pages, quarantine = read_warc(path)
        total += pages.num_rows
        for q in quarantine:
            assert set(q) == {"source_uri", "reason", "detail"}
            assert q["reason"].split("_")[0] in ("warc", "html", "web")
    assert total >= 9
    assert time.perf_counter() - t0 < 10


def test_a_missing_file_is_one_warc_unreadable_row():
    pages, quarantine = read_warc("/nonexistent/x.warc.gz")
    assert pages.num_rows == 0 and quarantine[0]["reason"] == "warc_unreadable"


def test_http_charset_decodes_cp1251_cyrillic(tmp_path):
    body = "Физика твёрдого тела изучает кристаллы и их свойства, " * 4
    payload = html_page(title="Физика", body=body).encode("cp1251")
    path = write_warc(tmp_path / "ru.warc.gz", [("http://ru.example/a", [("Content-Type", "text/html; charset=windows-1251")],
                                                  payload, "response")])
    pages, quarantine = read_warc(path)
    assert quarantine == []
    assert "Физика твёрдого тела" in pages.column("text")[0].as_py()
    assert pages.column("lang")[0].as_py() in ("ru", "bg", "uk")  # short text: a Cyrillic language


def test_meta_charset_is_used_when_the_http_header_has_none(tmp_path):
    body = "日本語の文章は物理学の基礎を説明します。量子力学と熱力学について。" * 3
    payload = html_page(title="物理", body=body, meta='<meta charset="shift_jis">').encode("shift_jis")
    path = write_warc(tmp_path / "ja.warc", [("http://jp.example/", [("Content-Type", "text/html")], payload,
                                              "response")], gzip_records=False)
    pages, _ = read_warc(path)
    assert "量子力学" in pages.column("text")[0].as_py()


def test_a_wrong_declared_charset_falls_back_to_detection(tmp_path):
    payload = html_page(body="Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e d\u00e9j\u00e0 vu, " * 6).encode("utf-8")
    path = write_warc(tmp_path / "fr.warc.gz", [("http://fr.example/", [("Content-Type", "text/html; charset=ascii")],
                                                  payload, "response")])
    pages, _ = read_warc(path)
    assert "crème brûlée" in pages.column("text")[0].as_py()


def test_giant_html_is_quarantined_as_html_too_large(tmp_path):
    payload = html_page(body="x" * 20_000).encode()
    path = write_warc(tmp_path / "big.warc.gz", [("http://big.example/", [("Content-Type", "text/html")], payload,
                                                   "response")])
    pages, quarantine = read_warc(path, WebConfig(max_html_bytes=10_000))
    assert pages.num_rows == 0
    assert quarantine[0]["reason"] == "html_too_large"


def test_a_gzip_bomb_is_stopped_at_the_size_cap(tmp_path):
    inner = b"<html><body><p>" + b"a" * 3_000_000 + b"</p></body></html>"
    payload = gzip.compress(inner, compresslevel=9)
    path = write_warc(tmp_path / "bomb.warc.gz", [("http://bomb.example/", [("Content-Type", "text/html"),
                                                                             ("Content-Encoding", "gzip")], payload,
                                                    "response")])
    pages, quarantine = read_warc(path, WebConfig(max_html_bytes=1_000_000))
    assert [q["reason"] for q in quarantine] == ["html_too_large"]


def test_deeply_nested_hostile_html_is_refused_by_the_node_cap(tmp_path):
    payload = ("<html><body>" + "<div><span>" * 30_000 + "x" + "</span></div>" * 30_000 + "</body></html>").encode()
    path = write_warc(tmp_path / "nest.warc.gz", [("http://nest.example/", [("Content-Type", "text/html")], payload,
                                                   "response")])
    pages, quarantine = read_warc(path, WebConfig(max_dom_nodes=20_000))
    assert [q["reason"] for q in quarantine] == ["html_too_large"]


def test_a_record_that_exceeds_the_time_bound_is_quarantined_as_web_timeout(tmp_path, monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(5)
        return "never", None

    monkeypatch.setattr(warc_reader, "extract_main_text_and_title", slow)
    path = write_warc(tmp_path / "slow.warc.gz", [("http://slow.example/", [("Content-Type", "text/html")],
                                                   html_page().encode(), "response")])
    t0 = time.perf_counter()
    pages, quarantine = read_warc(path, WebConfig(record_timeout_s=0.2))
    assert time.perf_counter() - t0 < 2
    assert [q["reason"] for q in quarantine] == ["web_timeout"]


def test_undecodable_bytes_are_quarantined_as_web_decode_error(tmp_path, monkeypatch):
    monkeypatch.setattr(warc_reader, "decode_html", lambda payload, ct: ("<p>\ufffd\ufffd\ufffd ok</p>", "detected", 3))
    path = write_warc(tmp_path / "bin.warc.gz", [("http://bin.example/", [("Content-Type", "text/html")],
                                                  bytes(range(256)) * 4, "response")])
    _, quarantine = read_warc(path)
    assert [q["reason"] for q in quarantine] == ["web_decode_error"]


def test_doc_ids_are_stable_across_reads_and_differ_between_pages(tmp_path):
    recs = [(f"http://s.example/{i}", [("Content-Type", "text/html")], html_page(title=f"Page {i}").encode(),
             "response") for i in range(3)]
    path = write_warc(tmp_path / "s.warc.gz", recs)
    a, _ = read_warc(path)
    b, _ = read_warc(path)
    assert a.column("doc_id").to_pylist() == b.column("doc_id").to_pylist()
    assert len(set(a.column("doc_id").to_pylist())) == 3


def test_navigation_and_footer_do_not_reach_the_page_text(tmp_path):
    path = write_warc(tmp_path / "n.warc.gz", [("http://www.n.example:8080/p", [("Content-Type", "text/html")],
                                                 html_page().encode(), "response")])
    row = read_warc(path)[0].to_pylist()[0]
    assert row["domain"] == "n.example"
    assert "Electrons tunnel" in row["text"]
    assert "Copyright footer" not in row["text"] and "Home" not in row["text"]
