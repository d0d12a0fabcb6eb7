"""Bytes → str for HTML payloads: BOM, then HTTP charset, then <meta> charset, then detection.

A declared charset is trusted only if the bytes decode under it without errors; otherwise we fall back to
resiliparse's detector. The caller learns which route won (for stats) and how many replacement characters the
final text holds, so undecodable payloads become `web_decode_error` rows instead of mojibake pages.
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

# Browsers treat these labels as their supersets (WHATWG encoding spec); Python does not.
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252",
            "us-ascii": "cp1252", "iso-8859-9": "cp1254", "tis-620": "cp874", "gb2312": "gb18030", "gbk": "gb18030",
            "x-sjis": "shift_jis", "utf8": "utf-8", "unicode": "utf-8"}


_SINGLE_BYTE = frozenset({"cp1252", "cp1250", "cp1251", "cp1254", "iso8859-15", "iso8859-2", "ascii", "latin-1"})


def _normalise(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of an HTTP Content-Type header, normalised, or None."""
    if not content_type:
        return None
    m = _HTTP_CHARSET.search(content_type)
    return _normalise(m.group(1)) if m else None


def charset_from_meta(head: bytes) -> str | None:
    """The charset of a <meta charset> / http-equiv tag in the first bytes of a page, normalised, or None."""
    m = _META_CHARSET.search(head[:4096])
    return _normalise(m.group(1).decode("ascii", "ignore")) if m else None


def decode_html(payload: bytes, content_type: str | None = None) -> tuple[str, str, int]:
    """Decode an HTML payload; returns (text, route, n_replacement_chars).

    route is one of `bom`, `http`, `meta`, `detected`, `utf8_lossy`.
    """
    for bom, enc in _BOMS:
        if payload.startswith(bom):
            text = payload.decode(enc, errors="replace")
            return text, "bom", text.count("\ufffd")
    utf8_ok: bool | None = None
    for route, enc in (("http", charset_from_content_type(content_type)), ("meta", charset_from_meta(payload))):
        if enc is None:
            continue
        if enc in _SINGLE_BYTE and not payload.isascii():
            # Valid multi-byte UTF-8 under a single-byte label is mislabelled UTF-8 (mojibake otherwise).
            if utf8_ok is None:
                try:
                    payload.decode("utf-8")
                    utf8_ok = True
                except UnicodeDecodeError:
                    utf8_ok = False
            if utf8_ok:
                return payload.decode("utf-8"), route, 0
        try:
            return payload.decode(enc), route, 0
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return payload.decode("utf-8"), "detected", 0
    except UnicodeDecodeError:
        pass
    from resiliparse.parse.encoding import detect_encoding

    enc = _normalise(detect_encoding(payload[:65536])) or "cp1252"
    text = payload.decode(enc, errors="replace")
    return text, "detected", text.count("\ufffd")
