"""WARC / ARC files → main-content page rows, with every unusable record as a quarantine row.

`read_warc(path, config)` reads WARC 0.17–1.1 and ARC files, gzip (per-record members *or* one single gzip
stream) or plain. It keeps HTML `response` / `resource` records with an OK status, decodes the charset
(`decode.py`), extracts the main content (`extractor.py`) and returns a pyarrow table with `PAGE_SCHEMA` plus
a list of quarantine dicts `{source_uri, reason, detail}`.

Bounds: a record's payload is read at most `max_html_bytes` (+1 to detect overflow), content-encoding
decompression is capped by the same number (gzip bombs), and extraction runs under a wall-clock timer of
`record_timeout_s` where the platform allows (SIGALRM in the main thread), otherwise the size and DOM-node caps
are the bound. A file that stops parsing mid-way keeps its earlier rows and quarantines the rest with
`warc_malformed`.
"""

from __future__ import annotations

import contextlib
import functools
import datetime as dt
import gzip
import hashlib
import io
import logging
import signal
import threading
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
from pydantic import BaseModel, Field

from s1data.web.decode import decode_html
from s1data.web.extractor import ExtractionRefused, extract_main_text_and_title

log = logging.getLogger(__name__)

PAGE_SCHEMA = pa.schema([
    ("doc_id", pa.string()),
    ("source_uri", pa.string()),
    ("source_sha256", pa.string()),
    ("source_kind", pa.string()),
    ("url", pa.string()),
    ("domain", pa.string()),
    ("fetch_date", pa.timestamp("us", tz="UTC")),
    ("title", pa.string()),
    ("text", pa.string()),
    ("lang", pa.string()),
])

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+xhtml")


class WebConfig(BaseModel):
    """How WARC/ARC records become page rows."""

    max_html_bytes: int = Field(5_000_000, description="Largest HTML payload (after content-decoding) we parse; "
                                "larger → `html_too_large`.")
    max_dom_nodes: int = Field(200_000, description="Pages whose DOM has more element nodes → `html_too_large`.")
    record_timeout_s: float = Field(5.0, description="Wall-clock bound on decoding + extracting one record "
                                    "(→ `web_timeout`): SIGALRM inside the reader, and the watchdog of an "
                                    "isolated reader kills it 2 s later if the record is stuck in C code.")
    max_replacement_ratio: float = Field(0.01, description="Share of U+FFFD replacement characters in the decoded "
                                         "page above which it is `web_decode_error`.")
    min_text_chars: int = Field(1, description="Extracted main text shorter than this → `web_no_main_content`.")
    quarantine_non_html: bool = Field(True, description="Record non-HTML responses as `warc_not_html` (off: skip "
                                      "them silently; request/warcinfo/metadata/revisit records are always skipped).")
    detect_lang: bool = Field(True, description="Fill `lang` with resiliparse's fast language detector.")
    min_lang_chars: int = Field(20, description="Texts shorter than this get lang = null.")
    skip_digest_check: bool = Field(False, description="Do not verify WARC block/payload digests.")
    isolate: bool = Field(True, description="Read each file in a watched child process, so that the record and "
                          "file bounds below hold inside Dask workers (off: in the calling process, where only "
                          "SIGALRM in the main thread bounds a record).")
    file_timeout_s: float = Field(600.0, gt=0, description="A file still being read after this long is killed: "
                                  "`web_file_timeout` (its partition keeps no page).")
    max_memory_mb: int = Field(2048, ge=64, description="Resident memory of the reading process; over it, the "
                               "record being read is quarantined (`web_memory_limit`) and the file goes on.")
    max_killed_records: int = Field(20, ge=1, description="Records a file may have killed before the whole file "
                                    "is quarantined (`web_too_many_kills`).")
    max_header_line_bytes: int = Field(1 << 20, description="Longest WARC/ARC/HTTP header line read; a longer one "
                                       "→ `warc_header_too_long` for the rest of the file (warcio joins a long "
                                       "line block by block: a 50 MB line took 82 s).")


# ------------------------------------------------------------------------------------------------------------ helpers
class RecordTimeout(Exception):
    """Raised inside a record's processing when `record_timeout_s` elapses."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise RecordTimeout in the block after `seconds` (main thread on POSIX only; no-op elsewhere)."""
    if (seconds is None or seconds <= 0 or threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "setitimer")):
        yield
        return

    def _raise(signum, frame):
        raise RecordTimeout(f"record took longer than {seconds}s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def url_domain(url: str | None) -> str | None:
    """Lower-cased host of a URL without port and a leading `www.`; None when there is no host."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _parse_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    v = value.strip()
    try:
        if len(v) >= 14 and v[:14].isdigit():  # ARC style 20140216050221
            return dt.datetime.strptime(v[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
        d = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def make_doc_id(url: str, payload_sha256: str) -> str:
    """Stable id of a web page: sha256 over (url, payload sha256), 32 hex chars."""
    return hashlib.sha256(f"web\0{url}\0{payload_sha256}".encode()).hexdigest()[:32]


def _decode_content(raw: bytes, http_headers, limit: int) -> bytes:
    """Undo chunked transfer-encoding and gzip/deflate/br content-encoding, reading at most limit+1 bytes."""
    from warcio.bufferedreaders import BufferedReader, ChunkedDataReader

    enc = (http_headers.get_header("content-encoding") or "").lower().strip() or None
    if enc and enc not in BufferedReader.get_supported_decompressors():
        enc = None
    te = (http_headers.get_header("transfer-encoding") or "").lower()
    src = io.BytesIO(raw)
    if "chunked" in te:
        stream = ChunkedDataReader(src, decomp_type=enc)
    elif enc:
        stream = BufferedReader(src, decomp_type=enc)
    else:
        return raw[: limit + 1]
    return stream.read(limit + 1)


# --------------------------------------------------------------------------------------------------------- the block
class WarcReader:
    """Reads one WARC/ARC file into page rows and quarantine rows (see module docstring)."""

    def __init__(self, config: WebConfig | None = None):
        self.config = config or WebConfig()
        self.stats: Counter = Counter()
        self._records = 0  # records seen in the current file (any type)
        # on_record(uri) is called as each record starts and on_done(uri) as it ends: a watchdog's heartbeat
        self.on_record = self.on_done = None
        # {record uri: (reason, detail)}: records a watchdog killed the reader on; quarantined, never read again
        self.skip: dict[str, tuple[str, str]] = {}

    def read(self, path: str | Path) -> tuple[pa.Table, list[dict]]:
        path = str(path)
        rows: list[dict] = []
        quarantine: list[dict] = []
        try:
            if Path(path).stat().st_size == 0:
                quarantine.append({"source_uri": path, "reason": "warc_empty", "detail": "file has 0 bytes"})
                return self._finish(rows, quarantine)
            self._read_stream(path, open(path, "rb"), rows, quarantine, offset_prefix="")
            self._check_gzip_tail(path, quarantine)
        except _NonChunkedGzip:
            # One gzip stream around the whole file (not per-record members): re-read it decompressed. Offsets
            # then refer to the decompressed stream and are written `path#gz:OFFSET`.
            rows.clear()
            quarantine.clear()
            self.stats["warc_non_chunked_gzip_files"] += 1
            self._read_stream(path, gzip.open(path, "rb"), rows, quarantine, offset_prefix="gz:")
        except OSError as e:
            quarantine.append({"source_uri": path, "reason": "warc_unreadable",
                               "detail": f"{type(e).__name__}: {e.strerror or 'I/O error'}"})
        if not rows and not quarantine and not self._records:
            quarantine.append({"source_uri": path, "reason": "warc_empty", "detail": "no WARC/ARC record in the file"})
        return self._finish(rows, quarantine)

    @staticmethod
    def _check_gzip_tail(path: str, quarantine: list[dict]) -> None:
        """A gzip file whose last member does not end (a cut download) is said so: warcio stops quietly at a cut
        inside a member, or reports the cut as a parse error. One more decompression pass, in C, at the end."""
        if any(q["reason"] == "warc_truncated" for q in quarantine):
            return
        end = _gzip_cut_at(path)
        if end is None:
            return
        last = quarantine[-1] if quarantine else None
        if last is not None and last["reason"] == "warc_malformed":  # the parse error is the cut, seen first
            last["reason"] = "warc_truncated"
            last["detail"] = ("the file ends inside a gzip member (cut tail); " + last["detail"])[:500]
        else:
            quarantine.append({"source_uri": f"{path}#{end}", "reason": "warc_truncated",
                               "detail": "the file ends inside a gzip member (cut tail)"})

    def _finish(self, rows: list[dict], quarantine: list[dict]) -> tuple[pa.Table, list[dict]]:
        for q in quarantine:
            self.stats[q["reason"]] += 1
        self.stats["pages"] += len(rows)
        return pa.Table.from_pylist(rows, schema=PAGE_SCHEMA), quarantine

    def _read_stream(self, path, fh, rows, quarantine, offset_prefix):
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        cfg = self.config
        self._records = 0
        with fh:
            it = ArchiveIterator(fh, arc2warc=True, check_digests=not cfg.skip_digest_check)
            it.loader.__class__ = _tolerant_loader_class()
            it.reader = limited = _LineLimited(it.reader, cfg.max_header_line_bytes)
            offset = 0
            try:
                for record in it:
                    offset = it.offset
                    self._records += 1
                    uri = f"{path}#{offset_prefix}{offset}"
                    if uri in self.skip:
                        reason, detail = self.skip[uri]
                        quarantine.append({"source_uri": uri, "reason": reason, "detail": detail})
                        continue
                    if self.on_record:
                        self.on_record(uri)
                    try:
                        row = self._record(record, uri)
                    except _Quarantine as q:
                        quarantine.append({"source_uri": uri, "reason": q.reason, "detail": q.detail[:500]})
                        continue
                    finally:
                        if self.on_done:
                            self.on_done(uri)
                    if row is not None:
                        rows.append(row)
                if limited.cut_gzip:  # warcio drops a cut tail silently
                    quarantine.append({"source_uri": f"{path}#{offset_prefix}{it.offset}", "reason": "warc_truncated",
                                       "detail": "the file ends inside a gzip member (cut tail)"})
            except ArchiveLoadFailed as e:
                if "non-chunked gzip" in str(e) and not offset_prefix:
                    raise _NonChunkedGzip() from e
                # warcio's message quotes the offending line: keep only what kind of failure it was
                quarantine.append({"source_uri": f"{path}#{offset_prefix}{it.offset}", "reason": "warc_malformed",
                                   "detail": str(e).split(":", 1)[0][:200] + "; the rest of the file is not read"})
            except _HeaderLineTooLong as e:
                quarantine.append({"source_uri": f"{path}#{offset_prefix}{it.offset}", "reason": "warc_header_too_long",
                                   "detail": f"{e}; the rest of the file is not read"})
            except (ValueError, EOFError, OSError, UnicodeDecodeError, IndexError, KeyError, AttributeError,
                    TypeError) as e:
                # a stream warcio cannot parse further; zlib.error is not in that list: caught below
                quarantine.append({"source_uri": f"{path}#{offset_prefix}{it.offset}", "reason": "warc_malformed",
                                   "detail": f"{type(e).__name__} while parsing; the rest of the file is not read"})
            except Exception as e:  # noqa: BLE001 — zlib.error and friends from a corrupt stream are data, not bugs
                if type(e).__module__ not in ("zlib", "brotli", "warcio.exceptions"):
                    raise
                quarantine.append({"source_uri": f"{path}#{offset_prefix}{it.offset}", "reason": "warc_malformed",
                                   "detail": f"{type(e).__name__}: {e}"[:200]})

    def _record(self, record, uri: str) -> dict | None:
        cfg = self.config
        if record.rec_type not in ("response", "resource"):
            self.stats[f"skipped_{record.rec_type}"] += 1
            return None
        url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
        if not url:
            raise _Quarantine("warc_missing_target_uri", f"{record.rec_type} record without WARC-Target-URI")
        http = record.http_headers
        if record.rec_type == "response":
            if http is None:
                raise _Quarantine("warc_malformed", "response record without HTTP headers")
            status = http.get_statuscode() or ""
            if not status.startswith("2"):
                raise _Quarantine("warc_http_status", f"HTTP status {_printable(status, 40)!r}")
            content_type = http.get_header("content-type") or ""
        else:
            content_type = record.rec_headers.get_header("content-type") or ""
        raw = record.raw_stream.read(cfg.max_html_bytes + 1)
        if len(raw) > cfg.max_html_bytes:
            raise _Quarantine("html_too_large", f"payload over {cfg.max_html_bytes} bytes")
        remaining = getattr(record.raw_stream, "limit", 0) or 0
        if remaining > 0:
            raise _Quarantine("warc_truncated", f"record ended {remaining} bytes before its Content-Length")
        while record.raw_stream.read(1 << 20):  # let the digest checker see the end of the block (bounded reads)
            pass
        checker = getattr(record, "digest_checker", None)
        if checker is not None and checker.passed is False:
            raise _Quarantine("warc_truncated", "digest mismatch (record cut or Content-Length wrong): "
                              + "; ".join(checker.problems))
        mime = content_type.split(";")[0].strip().lower()
        sniff = raw[:512].lstrip().lower()
        looks_html = sniff.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) and b"<html" in raw[:4096].lower()
        if mime not in _HTML_TYPES and not (mime in ("", "text/plain", "application/octet-stream") and looks_html):
            raise _Quarantine("warc_not_html", f"content-type {_printable(content_type, 100)!r}")
        source_sha256 = hashlib.sha256(raw).hexdigest()
        try:
            with time_limit(cfg.record_timeout_s):
                try:
                    body = _decode_content(raw, http, cfg.max_html_bytes) if http is not None else raw
                except Exception as e:  # noqa: BLE001 — corrupt gzip/brotli payloads are data
                    raise _Quarantine("web_content_decoding_error", f"{type(e).__name__}: {e}") from e
                if len(body) > cfg.max_html_bytes:
                    raise _Quarantine("html_too_large", f"decoded payload over {cfg.max_html_bytes} bytes")
                html, route, n_bad = decode_html(body, content_type)
                self.stats[f"charset_{route}"] += 1
                if n_bad > cfg.max_replacement_ratio * max(len(html), 1):
                    raise _Quarantine("web_decode_error", f"{n_bad} undecodable characters via {route}")
                try:
                    text, title = extract_main_text_and_title(html, url=url, max_nodes=cfg.max_dom_nodes)
                except ExtractionRefused as e:
                    raise _Quarantine("html_too_large", str(e)) from e
                lang = None
                if cfg.detect_lang and len(text) >= cfg.min_lang_chars:
                    from resiliparse.parse.lang import detect_fast

                    lang = detect_fast(text[:5000])[0]
        except RecordTimeout as e:
            raise _Quarantine("web_timeout", str(e)) from e
        if len(text.strip()) < cfg.min_text_chars:
            raise _Quarantine("web_no_main_content", f"extracted {len(text.strip())} chars")
        return {
            "doc_id": make_doc_id(url, source_sha256),
            "source_uri": uri,
            "source_sha256": source_sha256,
            "source_kind": "web",
            "url": url,
            "domain": url_domain(url),
            "fetch_date": _parse_date(record.rec_headers.get_header("WARC-Date")),
            "title": title,
            "text": text,
            "lang": lang,
        }


class _Quarantine(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


class _NonChunkedGzip(Exception):
    pass


class _HeaderLineTooLong(Exception):
    pass


def _gzip_cut_at(path: str, chunk: int = 1 << 20) -> int | None:
    """For a gzip file (one or many members): the offset of the member that the file ends inside, or None when
    every member ends (or the file is not gzip, or is corrupt in another way: the parser reports that)."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return None
        fh.seek(0)
        d, member_start, pos = zlib.decompressobj(31), 0, 0
        while True:
            data = fh.read(chunk)
            if not data:  # a member was begun (pos past its start) and did not end
                return member_start if pos > member_start and not d.eof else None
            while data:
                try:
                    d.decompress(data, 0)  # max_length 0: no bound; output is dropped as it is made
                except zlib.error:
                    return None
                if d.eof:
                    rest = d.unused_data
                    pos += len(data) - len(rest)
                    member_start = pos
                    d = zlib.decompressobj(31)
                    data = rest
                    if rest and not rest.startswith(b"\x1f\x8b"):
                        return None  # trailing garbage, not a cut
                else:
                    pos += len(data)
                    data = b""


class _LineLimited:
    """warcio's reader with a bound on header lines: every `readline()` without a length (the header parsers' calls;
    payload reads pass a length) reads at most `limit` + 1 bytes and raises past it."""

    def __init__(self, reader, limit: int):
        self._reader, self._limit = reader, limit
        self.cut_gzip = False  # the file ended inside a gzip member (seen as warcio closes its decompressor)

    def close_decompressor(self):
        d = getattr(self._reader, "decompressor", None)
        self.cut_gzip = self.cut_gzip or (d is not None and not d.eof)
        return self._reader.close_decompressor()

    def readline(self, length=None):
        if length is not None and length >= 0:
            return self._reader.readline(length)
        parts, total = [], 0
        while True:  # warcio's readline(n) may stop at a block boundary before n bytes or a newline
            chunk = self._reader.readline(self._limit + 1 - total)
            parts.append(chunk)
            total += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return b"".join(parts)
            if total > self._limit:
                raise _HeaderLineTooLong(f"a header line over max_header_line_bytes={self._limit}")

    def __getattr__(self, name):
        return getattr(self._reader, name)


@functools.cache
def _tolerant_loader_class():  # built on first use: warcio is imported lazily
    from warcio.recordloader import ArcWarcRecordLoader

    class TolerantLoader(ArcWarcRecordLoader):
        """warcio's loader, but a record without WARC-Target-URI is read (its HTTP headers left in the payload)
        instead of raising AttributeError and ending the file; `_record` then quarantines it."""

        def load_http_headers(self, rec_type, uri, stream, length):
            return super().load_http_headers(rec_type, uri or "", stream, length)

    return TolerantLoader


def _printable(value: str, n: int) -> str:
    """A header value for a quarantine detail: printable ASCII, at most n characters."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(value)[:n])


def read_warc(path: str | Path, config: WebConfig | None = None) -> tuple[pa.Table, list[dict]]:
    """Read one WARC/ARC file (gzip or not) → (page rows with PAGE_SCHEMA, quarantine dicts)."""
    return WarcReader(config).read(path)


def read_warc_partition(path: str | Path, out_dir: str | Path, config: WebConfig | None = None) -> dict:
    """One WARC/ARC file as a partition folder: pages.parquet (PAGE_SCHEMA) and the summary with quarantine rows.

    The folder is what the web flow commits; a file is one partition, so a rerun redoes only the files whose
    partition did not commit. When `out_dir` is an object-store URL (s3://bucket/.../<name>/<fingerprint>), the
    partition is written straight to a fresh attempt prefix under it, and the summary carries what the flow needs
    to verify the upload without reading it back: `files` ({name: bytes}) and `content_sha256`.

    With `config.isolate` (the default) the file is read in a watched child process (`s1data.web.warc_worker`):
    the time and memory bounds then hold in any thread of any process, a Dask worker's included.
    """
    config = config or WebConfig()
    if config.isolate:
        from s1data.web.warc_worker import read_warc_bounded

        return read_warc_bounded(path, out_dir, config)
    return read_warc_partition_here(path, out_dir, config)


def read_warc_partition_here(path: str | Path, out_dir: str | Path, config: WebConfig | None = None,
                             reader: WarcReader | None = None) -> dict:
    """`read_warc_partition` in this process (the child's side of the bounded reader; bounds by SIGALRM only)."""
    import time

    t0 = time.perf_counter()
    table, quarantine = (reader or WarcReader(config)).read(path)
    return write_warc_partition(table, quarantine, out_dir, time.perf_counter() - t0)


def write_warc_partition(table: pa.Table, quarantine: list[dict], out_dir: str | Path, seconds: float) -> dict:
    """Write a partition's pages.parquet (rows by source_uri) and return its summary (see read_warc_partition)."""
    import pyarrow.parquet as pq

    table = table.sort_by([("source_uri", "ascending")])
    if "://" in str(out_dir) and not str(out_dir).startswith("file://"):
        import uuid

        from storage.io import loc, open_file, tree_sha256_of

        out = loc(out_dir) / uuid.uuid4().hex
        buf = pa.BufferOutputStream()
        pq.write_table(table, buf, compression="zstd")
        body = buf.getvalue().to_pybytes()
        with open_file(out / "pages.parquet", "wb") as f:
            f.write(body)
        return {"pages": table.num_rows, "quarantine": quarantine, "out_dir": str(out), "seconds": seconds,
                "files": {"pages.parquet": len(body)},
                "content_sha256": tree_sha256_of({"pages.parquet": hashlib.sha256(body).hexdigest()})}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "pages.parquet", compression="zstd")
    return {"pages": table.num_rows, "quarantine": quarantine, "out_dir": str(out), "seconds": seconds}
