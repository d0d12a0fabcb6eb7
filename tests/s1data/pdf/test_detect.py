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
