import pytest

from s1data.pdf.detect import PdfPageRouter, is_math_font


def test_tex_math_fonts_are_recognised_and_text_fonts_are_not():
    assert all(is_math_font(f) for f in ["CMMI10", "ABCDEF+CMSY7", "CMEX10", "MSBM10", "STIXTwoMath-Regular",
                                         "CambriaMath", "StandardSymL", "Symbol"])
    assert not any(is_math_font(f) for f in ["CMR10", "NimbusRomNo9L-Regu", "Times-Roman", "Helvetica-Bold",
                                             "Mathematica-Sans-Not-A-Thing-But-Text"][:4])


def test_a_page_of_prose_stays_on_the_cheap_route():
    r = PdfPageRouter(threshold=0.5)
    f = r.features([("Times-Roman", "The quick brown fox jumps over the lazy dog. " * 40)], 612 * 792, 0.0)
    assert f.score == 0.0 and r.route(f) == "cheap"


def test_a_page_dense_in_math_symbols_goes_to_the_high_cost_route():
    r = PdfPageRouter(threshold=0.5, high_cost_route="local")
    spans = [("CMMI10", "x y z α β"), ("CMSY10", "∑ ∫ ≤ ≥ ∂ ∇"), ("CMR10", "where")]
    f = r.features(spans, 612 * 792, 0.0)
    assert f.math_font_frac > 0.5 and f.math_symbol_frac > 0.2
    assert r.route(f) == "local"


def test_glyphs_outside_the_text_encoding_raise_the_score():
    r = PdfPageRouter()
    f = r.features([("F1", "\ufffd\ufffd\ue001\ue002 ab")], 612 * 792, 0.0)
    assert f.bad_glyph_frac > 0.5 and f.score == 1.0


def test_a_page_that_is_an_image_with_no_text_is_a_scan():
    r = PdfPageRouter()
    f = r.features([], 612 * 792, image_cover=0.9)
    assert f.scanned and f.score == 1.0
    assert not r.features([], 612 * 792, image_cover=0.0).scanned  # blank page: no text, no image


def test_route_none_keeps_every_page_cheap():
    r = PdfPageRouter(high_cost_route="none")
    assert r.route(r.features([], 612 * 792, 0.9)) == "cheap"


def test_a_numbered_display_routes_its_page_whatever_its_length_and_says_why():
    r = PdfPageRouter(threshold=0.5, high_cost_route="vlm")
    short = r.features_from_counts(2000, 20, 5, 0, 612 * 792, 0.0, display_rows=1, display_chars=3,
                                   numbered_displays=1)
    assert short.score == 1.0 and r.route(short) == "vlm" and r.reason(short) == "display_math"


def test_one_unnumbered_display_row_needs_four_characters_at_the_default_threshold():
    r = PdfPageRouter(threshold=0.5, high_cost_route="vlm")
    # score = chars / 16 + 0.25 per display row: 3 / 16 + 0.25 < 0.5 <= 4 / 16 + 0.25
    tiny = r.features_from_counts(2000, 20, 5, 0, 612 * 792, 0.0, display_rows=1, display_chars=3)
    enough = r.features_from_counts(2000, 20, 5, 0, 612 * 792, 0.0, display_rows=1, display_chars=8)
    assert (r.route(tiny), r.reason(tiny)) == ("cheap", "below_threshold")
    assert (r.route(enough), r.reason(enough)) == ("vlm", "display_math")


def test_a_scan_is_routed_as_a_scan():
    r = PdfPageRouter(high_cost_route="local")
    f = r.features_from_counts(0, 0, 0, 0, 612 * 792, 0.95)
    assert r.route(f) == "local" and r.reason(f) == "scanned"


def test_latin_modern_newtx_and_euler_math_fonts_are_math_fonts():
    assert all(is_math_font(f) for f in ["LMMathItalic10-Regular", "LMMathExtension10-Regular", "rntxmi", "txsys",
                                         "EURM10", "PazoMath", "MSAM10"])
    assert not any(is_math_font(f) for f in ["LMRoman10-Regular", "NimbusRomNo9L-ReguItal", "CMTT10"])


# --- Decisions on real compiled pages (issue #16 part 4): code examples and command tables of package manuals are not
# displays; displays are, also next to code. pdflatex with texlive-latex-base only (article, amsmath, CM fonts).

_PROSE = ("This paragraph is ordinary running text of the kind a manual has between its examples, with a variable "
          "$x$ and a ratio $a/b$ set inline, and it goes on for a few lines so that the page has a text column "
          "whose edges the layout can find from its justified lines, as on any real page of a manual. ")

_MANUAL = r"""\documentclass{article}
\usepackage{amsmath}
\begin{document}
%(p)s

%(p)s

\begin{center}
\begin{tabular}{l|l|l}
\texttt{x \textbackslash meet y} & $x \wedge y$ & Meet operation \\
\texttt{\textbackslash Meet\_\{i\textbackslash in\textbackslash omega\} x\_i} & $\bigwedge_{i\in\omega} x_i$ & \\
\texttt{x \textbackslash join y} & $x \vee y$ & Join operation \\
\texttt{\textbackslash Join\_\{i\textbackslash in\textbackslash omega\} x\_i} & $\bigvee_{i\in\omega} x_i$ & \\
\texttt{\textbackslash Union\_\{i\textbackslash in\textbackslash omega\} X\_i} & $\bigcup_{i\in\omega} X_i$ & Union \\
\texttt{\textbackslash Isect\_\{i\textbackslash in\textbackslash omega\} X\_i} & $\bigcap_{i\in\omega} X_i$ &
  Intersection \\
\end{tabular}
\end{center}

%(p)s

\begin{center}
\begin{tabular}{rrrr}
input & \LaTeX & package & expected \\
\texttt{\$a.b\$} & $a.b$ & $a.b$ & $a.b$ \\
\texttt{\$a+1\$} & $a + 1$ & $a + 1$ & $a + 1$ \\
\texttt{\$1-a\$} & $1 - a$ & $1 - a$ & $1 - a$ \\
\end{tabular}
\end{center}
\newpage
%(p)s
\begin{center}
\texttt{\$ V\_C=\textbackslash eval\{ \textbackslash pi r\^{}2h \}[h=4/3,r=1] \$} $\Longrightarrow$ \\
$V_C = 4.18879,\quad (h = 4/3,\ r = 1)$.
\end{center}
%(p)s
\begin{center}
\texttt{\textbackslash eval\{\$ \textbackslash sqrt\{s(s-a)(s-b)(s-c)\} \$\}} \\
$\Longrightarrow \sqrt{s(s-a)(s-b)(s-c)} = 6, \quad (s = \tfrac12(a+b+c),\ a = 3,\ b = 4,\ c = 5)$.
\end{center}
%(p)s
\newpage
%(p)s
\begin{verbatim}
\[ \sum_{i=1}^n a_i = \int_0^1 f(x)\,dx \]
\end{verbatim}
gives
\[ \sum_{i=1}^n a_i = \int_0^1 f(x)\,dx \]
%(p)s
%(p)s
\end{document}
""" % {"p": _PROSE}


@pytest.fixture(scope="module")
def manual_pages(tmp_path_factory):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    pymupdf = pytest.importorskip("pymupdf")
    from s1data.pdf.parse import _cheap_text

    d = tmp_path_factory.mktemp("manual")
    (d / "manual.tex").write_text(_MANUAL)
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "manual.tex"], cwd=d, capture_output=True, timeout=120)
    if not (d / "manual.pdf").exists():
        pytest.skip("manual.tex did not compile (a texlive-latex-base package missing?)")
    router = PdfPageRouter(0.5, "vlm")
    out = []
    with pymupdf.open(d / "manual.pdf") as doc:
        assert doc.page_count == 3
        for page in doc:
            c = _cheap_text(page)
            k = c.counts
            f = router.features_from_counts(k.n, k.math_font, k.math_symbols, k.bad, abs(page.rect), 0.0,
                                            c.display_rows, c.display_chars, c.numbered_displays)
            out.append((c, f, router.route(f), router.reason(f)))
    return out


def test_command_tables_with_code_beside_typeset_math_stay_on_the_cheap_route(manual_pages):
    """A rec-thy style table (code | big operator | words: the math cell sits off its neighbours' baseline) and an
    ionumbers style table (code | typeset | typeset | typeset) are tables, not displays."""
    c, f, route, reason = manual_pages[0]
    assert "⋀" in c.text or "∧" in c.text  # the page was read (math fonts mapped), not skipped
    assert f.display_rows == 0 and (route, reason) == ("cheap", "below_threshold")


def test_a_result_centred_under_its_code_is_not_a_display(manual_pages):
    """numerica's `center` blocks: a code line, then its typeset result one baseline below (no display skip)."""
    c, f, route, reason = manual_pages[1]
    assert "4.18879" in c.text
    assert f.display_rows == 0 and (route, reason) == ("cheap", "below_threshold")


def test_a_display_after_a_verbatim_block_of_its_source_still_routes(manual_pages):
    c, f, route, reason = manual_pages[2]
    assert f.display_rows >= 1 and (route, reason) == ("vlm", "display_math")



# --- Papers-first follow-up (2026-12-05): inline radicals in two-column papers, pictographs in manuals' example rows.

_ROOTS = r"""\documentclass[twocolumn]{article}
\newcommand\prose{This paragraph is ordinary running text of a two-column paper, with a product of roots
$\sqrt[n]{a}\cdot\sqrt[n]{b}=\sqrt[n]{ab}$ set inline in the middle of a sentence, and the text goes on around it
for a few more lines, then one more root $\sqrt[p]{x}$ and a quotient $\sqrt[n]{a}/\sqrt[n]{b}=\sqrt[n]{a/b}$ before
the paragraph ends. }
\begin{document}
\twocolumn[{\noindent This abstract runs across the whole page above both columns, as the abstract of a two-column
paper does, and it goes on for a few lines so that its justified lines make a column of their own that is as wide as
the page, with a root $\sqrt[n]{a}\cdot\sqrt[n]{b}=\sqrt[n]{ab}$ inline in it too, while the body below is set in
two columns of running text with formulas inline and no display at all.\medskip}]
\prose\prose\prose\prose\prose\prose\prose\prose\prose\prose\prose\prose
\clearpage
\prose
\[ \sqrt[n]{a}\cdot\sqrt[n]{b}=\sqrt[n]{ab} \]
\prose
\end{document}
"""

_ICONS = r"""\documentclass{article}
\usepackage{pifont}
\begin{document}
%(p)s
\begin{center}
\ding{43}\ding{45}\qquad $T^{**}_p M$\\[6pt]
\ding{43}\ding{45}\qquad $T^{**}_q N$\\[6pt]
\ding{43}\ding{45}\qquad $T^{*}_p M$
\end{center}
%(p)s
\end{document}
""" % {"p": _PROSE}


def _compiled_pages(d, name: str, source: str) -> list:
    """Compile `source` with pdflatex in d and route each page with the production code: (cheap page, features,
    route, reason) per page; skips when pdflatex or the PDF is missing."""
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base)")
    pymupdf = pytest.importorskip("pymupdf")
    from s1data.pdf.parse import _cheap_text

    (d / f"{name}.tex").write_text(source)
    subprocess.run(["pdflatex", "-interaction=nonstopmode", f"{name}.tex"], cwd=d, capture_output=True, timeout=120)
    if not (d / f"{name}.pdf").exists():
        pytest.skip(f"{name}.tex did not compile (a TeX package missing?)")
    router = PdfPageRouter(0.5, "vlm")
    out = []
    with pymupdf.open(d / f"{name}.pdf") as doc:
        for page in doc:
            c = _cheap_text(page)
            k = c.counts
            f = router.features_from_counts(k.n, k.math_font, k.math_symbols, k.bad, abs(page.rect), 0.0,
                                            c.display_rows, c.display_chars, c.numbered_displays)
            out.append((c, f, router.route(f), router.reason(f)))
    return out


def test_inline_roots_of_a_two_column_paper_stay_cheap_and_a_displayed_root_routes(tmp_path):
    """A surd hangs from its origin ~0.75 em above its radicand's baseline: read at its origin it made a row of its
    own, set off from its words, and the page routed (hep-paper's revtex test, 8 ordinary pages). The same roots in
    a display still route."""
    pages = _compiled_pages(tmp_path, "roots", _ROOTS)
    assert len(pages) == 2
    c, f, route, reason = pages[0]
    assert "√" in c.text and "abstract" in c.text
    assert f.display_rows == 0 and (route, reason) == ("cheap", "below_threshold")
    c, f, route, reason = pages[1]
    assert f.display_rows >= 1 and (route, reason) == ("vlm", "display_math")


def test_example_rows_of_icons_beside_a_formula_are_not_displays(tmp_path):
    """`(icon)(icon)  T**_p M` rows of a manual (mathsemantics: 17 ordinary pages routed): TeX's displays hold no
    pictographs. Needs the ZapfDingbats Type 1 font (texlive-fonts-recommended)."""
    import shutil
    import subprocess

    kpse = shutil.which("kpsewhich")
    if kpse is None or not subprocess.run([kpse, "uzdr.pfb"], capture_output=True, text=True).stdout.strip():
        pytest.skip("ZapfDingbats (uzdr.pfb, texlive-fonts-recommended) is not installed")
    pages = _compiled_pages(tmp_path, "icons", _ICONS)
    c, f, route, reason = pages[0]
    assert "T" in c.text and f.display_rows == 0 and (route, reason) == ("cheap", "below_threshold")
