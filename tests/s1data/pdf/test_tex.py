"""Routing and the cheap text on a LaTeX document the test compiles (needs `pdflatex`: Debian texlive-latex-base).

The document is written here (no copied text): page 1 prose with inline maths only, page 2 four displays (a sum and
an integral, a 4x4 matrix in tall parentheses, a definition by cases, two aligned numbered equations).
"""

import re
import shutil
import subprocess

import pytest

from s1data.pdf.detect import PdfPageRouter
from s1data.pdf.glyphs import fix_text
from s1data.pdf.parse import _cheap_text

pytestmark = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                reason="pdflatex is not installed (apt-get install texlive-latex-base)")

DOC = r"""\documentclass{article}
\usepackage{amsmath}
\begin{document}
\section{Prose}
This page is ordinary text. It explains, in plain words, how a parser should treat a page of running prose
that mentions a variable $x$ or a ratio $a/b$ inline, but sets no formula apart from the text. Such a page
belongs on the cheap route. The paragraph goes on for a while so that the page looks like a real page of a
paper, with several lines of justified text and a second paragraph below it.

A second paragraph adds a few more sentences about nothing in particular, the weather, the time of day, the
length of the corridor, the colour of the walls, and the number of chairs in the seminar room.
\newpage
\section{Displays}
The sum and the integral:
\begin{equation}
  S_n = \sum_{i=1}^{n} \int_{0}^{1} \frac{x^{i}}{1+x^{2}} \, dx .
\end{equation}
A matrix with tall parentheses:
\[
  M = \begin{pmatrix} a_{11} & a_{12} & a_{13} \\ a_{21} & a_{22} & a_{23} \\ a_{31} & a_{32} & a_{33} \\
  a_{41} & a_{42} & a_{43} \end{pmatrix} .
\]
A definition by cases:
\begin{equation}
  f(x) = \begin{cases} x^{2} & \text{if } x \ge 0, \\ -x & \text{if } x < 0, \\ 0 & \text{otherwise.} \end{cases}
\end{equation}
Aligned equations:
\begin{align}
  u &= v + w, \\
  p &= q - r .
\end{align}
\end{document}
"""
UNUSABLE = re.compile("[\uE000-\uF8FF\U000F0000-\U0010FFFF\x00-\x08\x0B-\x1F\x7F-\x9F\uFFFD]")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    import pymupdf

    d = tmp_path_factory.mktemp("tex")
    (d / "t.tex").write_text(DOC)
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=d, check=True,
                   capture_output=True, timeout=120)
    doc = pymupdf.open(d / "t.pdf")
    raw = [[(s["font"], s["text"]) for b in p.get_text("dict")["blocks"] for line in b.get("lines", ())
            for s in line["spans"]] for p in doc]
    cheap = [_cheap_text(p) for p in doc]
    areas = [abs(p.rect) for p in doc]
    doc.close()
    return raw, cheap, areas


def _route(c, area):
    r = PdfPageRouter(high_cost_route="vlm")
    k = c.counts
    f = r.features_from_counts(k.n, k.math_font, k.math_symbols, k.bad, area, 0.0, c.display_rows,
                               c.display_chars, c.numbered_displays)
    return r.route(f), r.reason(f)


def test_the_display_page_is_routed_and_the_prose_page_is_not(pages):
    _, cheap, areas = pages
    assert _route(cheap[0], areas[0]) == ("cheap", "below_threshold")
    assert cheap[0].display_rows == 0
    assert _route(cheap[1], areas[1]) == ("vlm", "display_math")
    assert cheap[1].numbered_displays >= 3  # (1), (2), (3), (4) at the right edge


def test_pdftex_math_extension_glyphs_really_come_out_as_codes_and_private_use(pages):
    raw, _, _ = pages
    cmex = "".join(t for font, t in raw[1] if font.startswith("CMEX"))
    assert re.search("[\uE000-\uF8FF]", cmex)  # what MuPDF gives for the delimiter pieces
    assert "X" in cmex and "Z" in cmex  # \sum and \int (display size) as their cmex10 codes


def test_the_cheap_text_has_unicode_math_and_no_private_use_or_control_code_points(pages):
    _, cheap, _ = pages
    text = cheap[1].text
    assert not UNUSABLE.search(text)
    assert "\u2211" in text and "\u222B" in text  # the sum and the integral
    assert "\u239B" in text and "\u239D" in text  # the upper and lower pieces of the tall parenthesis
    assert "\u23A7" in text and "\u23A9" in text  # the pieces of the cases brace


def test_display_rows_stay_lines_of_their_own(pages):
    _, cheap, _ = pages
    lines = cheap[1].text.split("\n")
    assert any(re.fullmatch(r"u = v \+ w, \(3\)", x) for x in lines)
    assert any(re.fullmatch(r"p = q \u2212\s?r\. \(4\)", x) for x in lines)
    rows = [x for x in lines if re.search(r"a[1-4]1 a[1-4]2 a[1-4]3", x)]
    assert len(rows) == 4  # each matrix row on its own line, none run into another
    aligned = cheap[1].text.split("Aligned equations:")[1].split("(4)")[0].strip()
    assert aligned.count("\n") == 1 and "\n\n" not in aligned  # one display: its rows, no paragraph break
    assert "ordinary text" in cheap[0].text and "\n" not in cheap[0].text.split("\n\n")[1]  # prose: one paragraph


def test_the_glyph_table_maps_cmex_codes_and_adobe_pieces_and_type3_t1_codes():
    assert fix_text("CMEX10", "X") == "\u2211" and fix_text("CMEX10", "Z") == "\u222B"
    assert fix_text("ABCDEF+CMEX10", "\x12\x13") == "()"
    assert fix_text("LMMathExtension10-Regular", "P") == "\u2211"
    assert fix_text("CMEX10", "\uf8eb\uf8ec\uf8ed") == "\u239B\u239C\u239D"
    assert fix_text("CMR10", "X") == "X"  # only the extension font is read by code
    assert fix_text("F34", "e\x0e\x1cx", type3=True) == "e\u2039fix"  # Cork: guilsinglleft, fi
    assert fix_text("NimbusRomNo9L-Regu", "a\ue000b\x07c\ufffd") == "abc"  # unknown private use: dropped
