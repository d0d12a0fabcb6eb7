"""PdfPageRouter: score each page's formula / symbol density and pick its parser route.

Features (all in [0, 1] or chars per 1000 pt²), computed from one `page.get_text("dict")` pass that the cheap route
needs anyway:
- math_font_frac: share of characters set in math fonts (CMMI/CMSY/CMEX, MSAM/MSBM, STIX Math, Symbol, ...).
- math_symbol_frac: share of characters in Unicode math blocks (operators, arrows, math alphanumerics).
- bad_glyph_frac: share of characters outside the text encoding (U+FFFD, private use area, C0 controls).
- text_density: characters per 1000 pt² of page; a page with images and almost no text is a scan.

score = min(1, 2*math_font_frac + 3*math_symbol_frac + 4*bad_glyph_frac), or 1.0 for a scanned page.
An ordinary LaTeX page with inline math scores ~0.05–0.3; a page of display equations or a broken font 0.5+.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_MATH_FONT = re.compile(
    r"(^|[+])(CM(MI|SY|EX|BSY|MIB)\d*|MSAM|MSBM|EUFM|EUSM|RSFS|STIX.*Math|.*Math(?!ematica)|Symbol|StandardSym|"
    r"Mathematica|LMMath|TeXGyre.*Math|Cambria.?Math|esint|wasy|txsy|pxsy|MTSY|MTMI|MTEX|Euclid)",
    re.IGNORECASE,
)


def is_math_font(name: str) -> bool:
    return bool(_MATH_FONT.search(name or ""))


_MATH_SYMBOLS = re.compile(
    "[\u2190-\u21FF\u2100-\u214F\u2200-\u22FF\u27C0-\u27EF\u2980-\u29FF\u2A00-\u2AFF\U0001D400-\U0001D7FF]")
_BAD_GLYPHS = re.compile("[\uFFFD\uE000-\uF8FF\x00-\x08\x0B\x0C\x0E-\x1F]")


@dataclass
class PageFeatures:
    n_chars: int
    math_font_frac: float
    math_symbol_frac: float
    bad_glyph_frac: float
    text_density: float
    image_cover: float  # share of the page area covered by images
    scanned: bool
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


class PdfPageRouter:
    """Scores pages and chooses `cheap` or the configured high-cost route."""

    def __init__(self, threshold: float = 0.5, high_cost_route: str = "local", scan_density: float = 0.5,
                 scan_image_cover: float = 0.5):
        self.threshold = threshold
        self.high_cost_route = high_cost_route
        self.scan_density = scan_density
        self.scan_image_cover = scan_image_cover

    def features(self, spans: list[tuple[str, str]], page_area: float, image_cover: float) -> PageFeatures:
        """spans: (font name, text) pairs of the page."""
        n = math_font = math_sym = bad = 0
        for font, text in spans:
            k = len(text.strip())
            n += k
            if k and is_math_font(font):
                math_font += k
            math_sym += len(_MATH_SYMBOLS.findall(text))  # regex counting: ~10x a per-character loop
            bad += len(_BAD_GLYPHS.findall(text))
        density = n / max(page_area / 1000.0, 1e-9)
        scanned = density < self.scan_density and image_cover >= self.scan_image_cover
        d = max(n, 1)
        f = PageFeatures(n, math_font / d, math_sym / d, bad / d, density, image_cover, scanned, 0.0)
        f.score = 1.0 if scanned else min(1.0, 2 * f.math_font_frac + 3 * f.math_symbol_frac + 4 * f.bad_glyph_frac)
        return f

    def route(self, f: PageFeatures) -> str:
        if self.high_cost_route == "none" or f.score < self.threshold:
            return "cheap"
        return self.high_cost_route
