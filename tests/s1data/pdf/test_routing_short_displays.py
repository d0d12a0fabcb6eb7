"""Short and small displays reach the high-cost route; inline maths, tables and accents under words do not.

Documents are written here and compiled with pdflatex (Debian texlive-latex-base); the math-font test needs the
font packages of texlive-fonts-extra / -recommended and skips a package that is not installed.
"""

import re
import shutil
import subprocess

import pytest

from s1data.pdf.detect import PdfPageRouter
from s1data.pdf.layout import display_rows, is_math_font
from s1data.pdf.parse import _cheap_text

pytestmark = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                reason="pdflatex is not installed (apt-get install texlive-latex-base)")

PROSE = ("This paragraph is ordinary running text of the kind a paper has between its formulas, with a "
         "variable $x$ and a ratio $a/b$ set inline, and it goes on for a few lines so that the page has a "
         "text column whose edges the layout can find from its justified lines, as on any real page. ")

DOC = r"""\documentclass{article}
\usepackage{amsmath}
\begin{document}
%(prose)s

%(prose)s
\[ x \]
%(prose)s
\[ \nabla^2 \]
%(prose)s
\newpage
%(prose)s
\begin{equation} \Gamma \vdash P \end{equation}
%(prose)s
\newpage
%(prose)s

%(prose)s Here $x$ and $y$ and $\alpha$ stay inline, and so does $\sum_i a_i$.

\begin{tabular}{llll}
sin & cos & tan & cot \\
\texttt{lim} & $\varinjlim$ & \texttt{max} & $\varprojlim$ \\
\end{tabular}

\begin{center}\begin{tabular}{cccccccc}
$\Gamma$ & $\Delta$ & $\Theta$ & $\Lambda$ & $\Xi$ & $\Pi$ & $\Sigma$ & $\Upsilon$ \\
$\alpha$ & $\beta$ & $\gamma$ & $\delta$ & $\epsilon$ & $\zeta$ & $\eta$ & $\theta$ \\
\end{tabular}\end{center}

%(prose)s
\newpage
%(prose)s
\[ [a, b] \]
%(prose)s
\end{document}
""" % {"prose": PROSE}


def _compile(tmp_path, name: str, tex: str):
    (tmp_path / f"{name}.tex").write_text(tex)
    subprocess.run(["pdflatex", "-interaction=nonstopmode", f"{name}.tex"], cwd=tmp_path, capture_output=True,
                   timeout=120)
    return tmp_path / f"{name}.pdf"


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    import pymupdf

    pdf = _compile(tmp_path_factory.mktemp("short"), "short", DOC)
    router = PdfPageRouter(0.5, "vlm")
    out = []
    with pymupdf.open(pdf) as doc:
        for page in doc:
            c = _cheap_text(page)
            k = c.counts
            f = router.features_from_counts(k.n, k.math_font, k.math_symbols, k.bad, abs(page.rect), 0.0,
                                            c.display_rows, c.display_chars, c.numbered_displays)
            out.append((c, f, router.route(f), router.reason(f)))
    return out


def test_two_one_character_displays_route_the_page(routed):
    c, f, route, reason = routed[0]
    assert f.display_rows == 2 and f.numbered_displays == 0
    assert route == "vlm" and reason == "display_math"


def test_a_numbered_display_with_one_math_letter_beside_a_symbol_is_numbered(routed):
    c, f, route, reason = routed[1]
    assert f.numbered_displays == 1 and reason == "display_math"


def test_inline_maths_a_table_a_symbol_chart_and_arrows_under_words_stay_cheap(routed):
    c, f, route, reason = routed[2]
    assert f.display_rows == 0 and route == "cheap" and reason == "below_threshold"


def test_one_short_bracket_display_routes(routed):
    c, f, route, reason = routed[3]
    assert f.display_rows == 1 and f.display_chars == 5 and route == "vlm"


def test_a_single_one_character_display_alone_is_below_the_threshold():
    """One lone row of one character scores 1/16 + 0.25 < 0.5: too little to pay a VLM call for."""
    r = PdfPageRouter(0.5, "vlm")
    f = r.features_from_counts(2000, 10, 0, 0, 612 * 792, 0.0, display_rows=1, display_chars=1)
    assert r.route(f) == "cheap" and r.reason(f) == "below_threshold"
    f = r.features_from_counts(2000, 10, 0, 0, 612 * 792, 0.0, display_rows=1, display_chars=4)
    assert r.route(f) == "vlm" and r.reason(f) == "display_math"


FLEQN_DOC = r"""\documentclass[twocolumn,fleqn]{article}
\usepackage{amsmath}
\setlength{\mathindent}{0pt}
\begin{document}
%(prose)s %(prose)s
\[ E = mc^2 + \alpha \]
%(prose)s %(prose)s
\[ f(x) = \int_0^x g(t)\, dt \]
%(prose)s %(prose)s
\clearpage
%(prose)s %(prose)s

\textit{e.g.}

%(prose)s %(prose)s
\end{document}
"""


def test_flush_left_displays_count_by_the_space_tex_sets_around_them(tmp_path):
    """fleqn with no \\mathindent: the displays are not indented and not numbered; the display skips above and below
    them are what sets them apart. An italic `e.g.` on a line of its own is not a formula."""
    import pymupdf

    pdf = _compile(tmp_path, "fleqn", FLEQN_DOC % {"prose": PROSE})
    with pymupdf.open(pdf) as doc:
        first, second = (_cheap_text(p) for p in doc)
    assert first.display_rows == 2 and first.numbered_displays == 0
    assert "E = mc" in first.text
    assert second.display_rows == 0


FONT_DOC = r"""\documentclass{article}
\usepackage{amsmath}
\usepackage%(opt)s{%(pkg)s}
\begin{document}
%(prose)s

%(prose)s
\[ \int_0^1 f(x)\,dx = \sum_{i=1}^n \frac{a_i}{b_i} \le \left( \prod_k x_k \right) \]
%(prose)s
\end{document}
"""
UNUSABLE = re.compile("[\uE000-\uF8FF\U000F0000-\U0010FFFF\x00-\x08\x0B-\x1F\x7F-\x9F\uFFFD]")


@pytest.mark.parametrize("pkg,opt,sty", [
    ("newtxtext,newtxmath", "", "newtxmath.sty"), ("kpfonts", "", "kpfonts.sty"), ("pxfonts", "", "pxfonts.sty"),
    ("fourier", "", "fourier.sty"), ("stix2", "", "stix2.sty"), ("mathdesign", "[charter]", "mathdesign.sty"),
    ("txfonts", "", "txfonts.sty"), ("lmodern", "", "lmodern.sty"),
])
def test_displays_in_common_math_fonts_route_and_leave_no_private_use_code_points(tmp_path, pkg, opt, sty):
    import pymupdf

    if subprocess.run(["kpsewhich", sty], capture_output=True).returncode != 0:
        pytest.skip(f"{sty} is not installed (texlive-fonts-extra)")
    pdf = _compile(tmp_path, "fonts", FONT_DOC % {"pkg": pkg, "opt": opt, "prose": PROSE})
    with pymupdf.open(pdf) as doc:
        page = doc[0]
        fonts = {f[3].split("+")[-1] for f in page.get_fonts()}
        c = _cheap_text(page)
        rows, _ = display_rows(page.get_text("dict"), page.rect.width)
    assert any(is_math_font(f) for f in fonts), fonts
    assert c.display_rows >= 1 and c.display_chars >= 8
    assert not UNUSABLE.search(c.text)
    assert "\u222b" in c.text and "\u2211" in c.text  # the integral and the sum, not "Z" and "X"
    assert sum(r.display for r in rows) == c.display_rows
