"""Text the tokenizer can take: a lone surrogate code point (U+D800..U+DFFF, which a Python str may hold, e.g. from
`surrogateescape` decoding or a JSON `\\ud800` escape) cannot be encoded as UTF-8, and the Rust tokenizer and tiktoken
raise on it (issue 18). Every tokenizer entry point passes its texts through `clean_text`: each surrogate becomes
U+FFFD (the replacement character, as a UTF-8 decoder with errors="replace" would give); other text is returned
as is (the same object), so ids of clean text never change.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` with every surrogate code point replaced by U+FFFD (ASCII text: one C scan, no copy)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def clean_texts(texts) -> list[str]:
    """`[clean_text(t) for t in texts]` (None becomes "")."""
    return [clean_text(t or "") for t in texts]
