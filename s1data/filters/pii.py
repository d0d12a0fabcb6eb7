"""PII scrub: e-mail addresses, phone numbers and IP addresses replaced by placeholder tokens."""

from __future__ import annotations

import ipaddress
import re

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}\b")
# International or national phone numbers: optional +CC, area code in optional parens, groups of digits split by
# space/dot/dash; at least 9 digits in all. Years, ISBNs and plain long numbers without separators do not match.
PHONE = re.compile(r"(?<![\w.+-])(?:\+\d{1,3}[\s.-]?)?"
                   r"(?:\(\d{1,4}\)[\s.-]?\d{2,4}(?:[\s.-]\d{2,4}){1,4}|\d{2,4}(?:[\s.-]\d{2,4}){2,4})(?![\w-])")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?![\w:])")


def _phone(m: re.Match) -> str:
    digits = sum(c.isdigit() for c in m.group(0))
    return "<PHONE>" if 9 <= digits <= 15 else m.group(0)


def _ip(m: re.Match) -> str:
    try:
        addr = ipaddress.ip_address(m.group(0))
    except ValueError:
        return m.group(0)
    return m.group(0) if addr.is_loopback or addr.is_unspecified else "<IP>"


def scrub_pii(text: str, emails: bool = True, phones: bool = True, ips: bool = True) -> tuple[str, dict[str, int]]:
    """Replace PII with `<EMAIL>`, `<PHONE>`, `<IP>`; returns (text, counts)."""
    counts = {"email": 0, "phone": 0, "ip": 0}
    if emails:
        text, counts["email"] = EMAIL.subn("<EMAIL>", text)
    if ips:
        before = text
        text = IPV4.sub(_ip, text)
        text = IPV6.sub(_ip, text)
        counts["ip"] = text.count("<IP>") - before.count("<IP>")
    if phones:
        before = text.count("<PHONE>")
        text = PHONE.sub(_phone, text)
        counts["phone"] = text.count("<PHONE>") - before
    return text, counts
