"""PdfPageRouter: score each page's formula / symbol density and pick its parser route.

The deciding feature on typeset papers is display maths (layout.py): the characters in rows of a text column that
are formulas set off from the prose (centred/indented or numbered, few prose words). Intern-S1 sends such pages to
a VLM because the cheap text of a display (fractions, matrices, big operators) is not recoverable from the glyphs.

Features (all in [0, 1] or chars per 1000 pt²), computed from one `page.get_text("dict")` pass that the cheap route
needs anyway:
- display_chars / display_rows: characters and rows of display maths on the page (layout.display_rows; rows holding
  code or pictographs, table cells beside code or prose, results set right under a centred code line and inline
  maths beside its words on another baseline are not displays).
- math_font_frac: share of characters set in math fonts (CMMI/CMSY/CMEX, MSAM/MSBM, STIX Math, Symbol, ...).
- math_symbol_frac: share of characters in Unicode math blocks (operators, arrows, math alphanumerics).
- bad_glyph_frac: share of characters outside the text encoding (U+FFFD, private use area, C0 controls).
- text_density: characters per 1000 pt² of page; a page with images and almost no text is a scan.

display_score = 1 if a display row is numbered, else
                min(1, display_chars / display_chars_full + display_row_weight * display_rows)
                (display_chars_full = 16, display_row_weight = 0.25: one unnumbered display row of 4 characters
                scores 0.5, two rows of 1 character (`x`, set alone and centred) 0.625, one lone character 0.31;
                before 2026-12-04 rows did not count and 8 characters were needed)
density_score = min(1, 2*math_font_frac + 3*math_symbol_frac + 4*bad_glyph_frac)   (symbol soup, broken fonts)
score = 1.0 for a scanned page, else max(display_score, density_score); route if score >= threshold (0.5).
An ordinary LaTeX page with inline math has density ~0.05-0.3 and no display rows; measured on labelled real pages
in benchmarks/pdf_routing.py.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from s1data.pdf.layout import is_math_font  # noqa: F401  (re-exported: callers import it from here)

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
    display_rows: int = 0
    display_chars: int = 0
    numbered_displays: int = 0  # display rows ending in an equation number at the column's edge

    def as_dict(self) -> dict:
        return asdict(self)


class PdfPageRouter:
    """Scores pages and chooses `cheap` or the configured high-cost route."""

    def __init__(self, threshold: float = 0.5, high_cost_route: str = "local", scan_density: float = 0.5,
                 scan_image_cover: float = 0.5, display_chars_full: float = 16.0, display_row_weight: float = 0.25):
        self.threshold = threshold
        self.display_chars_full = display_chars_full
        self.display_row_weight = display_row_weight
        self.high_cost_route = high_cost_route
        self.scan_density = scan_density
        self.scan_image_cover = scan_image_cover

    def features(self, spans: list[tuple[str, str]], page_area: float, image_cover: float,
                 display_rows: int = 0, display_chars: int = 0, numbered_displays: int = 0) -> PageFeatures:
        """spans: (font name, text) pairs of the page; display_rows/chars: from layout.display_rows."""
        n = math_font = math_sym = bad = 0
        for font, text in spans:
            k = len(text.strip())
            n += k
            if k and is_math_font(font):
                math_font += k
            math_sym += len(_MATH_SYMBOLS.findall(text))  # regex counting: ~10x a per-character loop
            bad += len(_BAD_GLYPHS.findall(text))
        return self.features_from_counts(n, math_font, math_sym, bad, page_area, image_cover, display_rows,
                                         display_chars, numbered_displays)

    def features_from_counts(self, n: int, math_font: int, math_sym: int, bad: int, page_area: float,
                             image_cover: float, display_rows: int = 0, display_chars: int = 0,
                             numbered_displays: int = 0) -> PageFeatures:
        """The same features from character counts made in one pass with the layout (layout.PageCounts)."""
        density = n / max(page_area / 1000.0, 1e-9)
        scanned = density < self.scan_density and image_cover >= self.scan_image_cover
        d = max(n, 1)
        f = PageFeatures(n, math_font / d, math_sym / d, bad / d, density, image_cover, scanned, 0.0,
                         display_rows, display_chars, numbered_displays)
        density_score = min(1.0, 2 * f.math_font_frac + 3 * f.math_symbol_frac + 4 * f.bad_glyph_frac)
        display_score = self._display_score(f)
        f.score = 1.0 if scanned else max(density_score, display_score)
        return f

    def reason(self, f: PageFeatures) -> str:
        """Why the page got its route (a stable snake_case code, for tests and the pages table)."""
        if self.high_cost_route == "none":
            return "route_none"
        if f.score < self.threshold:
            return "below_threshold"
        if f.scanned:
            return "scanned"
        if self._display_score(f) >= self.threshold:
            return "display_math"
        return "symbol_density"

    def _display_score(self, f: PageFeatures) -> float:
        """1 for a numbered display (an equation number is the surest sign), else display characters / full plus a
        weight per display row: short displays (`[a, b]`, a lone `x`) are few characters but a row each."""
        if f.numbered_displays:
            return 1.0
        return min(1.0, f.display_chars / self.display_chars_full + self.display_row_weight * f.display_rows)

    def route(self, f: PageFeatures) -> str:
        if self.high_cost_route == "none" or f.score < self.threshold:
            return "cheap"
        return self.high_cost_route
