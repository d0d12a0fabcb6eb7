import pytest

from s1data.web import extract_main_text
from s1data.web.extraction_eval import precision_recall_f1, score_page, shingle_match, shingle_prf, shingles
from s1data.web.extractor import ExtractionRefused, _is_boiler, extract_main_text_and_title

PAGE = """<html><head><title>T</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li></ul></nav></header>
<div id="main"><article><h1>Crystal growth in microgravity</h1>
<p>Protein crystals grown aboard the station are larger, and their diffraction patterns are sharper, than on Earth.</p>
<p>Convection is suppressed, so molecules reach the growing lattice by diffusion alone, which slows and orders growth.</p>
<div class="share-buttons"><a href="#">Share on Twitter</a></div></article>
<div class="comments"><p>Great article, thanks for sharing this with all of us here!</p></div></div>
<aside class="sidebar"><h3>Popular posts</h3><ul><li><a href="/a">Ten best telescopes of the year</a></li></ul></aside>
<footer><p>Copyright 2024 Example Media, all rights reserved worldwide.</p></footer>
<script>var tracking = "should never appear";</script></body></html>"""


def test_the_article_paragraphs_are_kept_and_the_boilerplate_is_dropped():
    text = extract_main_text(PAGE)
    assert "Protein crystals grown aboard the station" in text
    assert "Convection is suppressed" in text
    for junk in ("Home", "Share on Twitter", "Great article", "Ten best telescopes", "Copyright 2024", "tracking"):
        assert junk not in text


def test_each_block_becomes_its_own_line():
    lines = extract_main_text(PAGE).splitlines()
    assert any(line.startswith("Protein crystals") for line in lines)
    assert any(line.startswith("Convection is suppressed") for line in lines)


def test_bytes_and_empty_pages_are_accepted():
    assert "Convection" in extract_main_text(PAGE.encode("utf-8"))
    assert extract_main_text("") == ""
    assert extract_main_text("<html><body></body></html>") == ""


def test_the_snippet_scorer_counts_kept_and_dropped_snippets():
    c = score_page("Alpha beta\u00ad gamma.  Delta", {"with": ["alpha beta gamma", "omega"], "without": ["delta", "x"]})
    assert c == {"tp": 1, "fn": 1, "fp": 1, "tn": 1}
    assert precision_recall_f1(c)["f1"] == 0.5


# --- decisions of the densest-subtree extractor, one rule per test ------------------------------------------------
P1 = "Protein crystals grown aboard the station are larger, and their diffraction patterns are sharper, than on Earth."
P2 = ("Convection is suppressed, so molecules reach the growing lattice by diffusion alone, which slows and orders "
      "growth.")
P3 = ("The same effect was reported for lysozyme and insulin, two proteins whose crystals are studied in every lab "
      "course.")
ARTICLE = f"<p>{P1}</p><p>{P2}</p><p>{P3}</p>"


def _teasers(n: int, word: str = "Teaser") -> str:
    return "".join(f'<div class="card"><h3><a href="/t{i}">{word} headline number {i} about something else</a></h3>'
                   f"<p>{word} summary {i}: a paragraph of about a hundred characters describing another story "
                   f"entirely.</p></div>" for i in range(n))


def test_a_boilerplate_named_wrapper_that_holds_the_article_body_is_kept():
    # e.g. `<div class="l-sidebar-fixed l-article-body-segment">`, `<div class="box article modal-enabled">`
    for wrapper in ('<div class="l-sidebar-fixed"><div class="article-body">{}</div></div>',
                    '<div class="box article modal-enabled">{}</div>',
                    '<div class="entry-content entry-content-read-more">{}</div>'):
        html = f"<html><body><div>{wrapper.format(ARTICLE)}</div><div class='other'><p>short</p></div></body></html>"
        assert P2 in extract_main_text(html), wrapper


def test_a_related_stories_block_longer_than_the_article_is_dropped():
    html = (f"<html><body><h1>Title</h1><div class='story'>{ARTICLE}</div>"
            f"<section class='module related-stories'>{_teasers(12)}</section></body></html>")
    text = extract_main_text(html)
    assert P1 in text and P3 in text
    assert "Teaser summary" not in text


def test_teaser_paragraphs_inside_links_do_not_count_as_article_text():
    cards = "".join(f'<article class="item"><a href="/v{i}"><p>Video teaser {i}: a paragraph long enough to look '
                    f'like article text, but it sits inside a link to another page.</p></a></article>'
                    for i in range(10))
    html = f"<html><body><div class='main'>{ARTICLE}</div><div class='more'>{cards}</div></body></html>"
    text = extract_main_text(html)
    assert P2 in text
    assert "Video teaser" not in text


def test_figures_and_captions_are_dropped_from_the_article():
    html = (f"<html><body><div class='text'><p>{P1}</p><figure><img src='a.jpg'><figcaption>A crystal under "
            f"polarised light, photographed by the crew.</figcaption></figure><p>{P2}</p>"
            f"<div class='image-caption'>Credit: a photo agency</div><p>{P3}</p></div></body></html>")
    text = extract_main_text(html)
    assert P1 in text and P3 in text
    assert "polarised light" not in text and "photo agency" not in text


def test_class_names_describing_the_layout_are_not_boilerplate():
    assert not _is_boiler({"class": "content-with-sidebar-wrp"})
    assert not _is_boiler({"class": "has-sidebar page-template-default"})
    assert _is_boiler({"class": "RelatedTags-wrapper"})  # camelCase is split: related-tags
    assert _is_boiler({"id": "comments"})
    assert _is_boiler({"class": "post-list post-list--most-popular"})


def test_an_article_element_inside_the_winning_block_trims_the_teasers_around_it():
    teasers = "".join(f"<div class='t'><h2>Read further {i}</h2><p>Teaser {i} text that is a real paragraph of "
                      f"some length, describing a different post on the same site.</p></div>" for i in range(2))
    html = (f"<html><body><main><article class='wysiwyg'>{ARTICLE}{ARTICLE}</article><div>{teasers}</div></main>"
            f"</body></html>")
    text = extract_main_text(html)
    assert P1 in text and P3 in text
    assert "Read further" not in text and "Teaser 1" not in text


def test_a_page_whose_only_text_sits_in_one_boilerplate_named_block_still_gives_text():
    html = f'<html><body><div class="sidebar">{ARTICLE}</div></body></html>'
    assert P2 in extract_main_text(html)


def test_a_page_with_text_but_no_paragraph_blocks_falls_back_to_resiliparse():
    html = "<html><body><b>Short line one.</b><i>Another short line.</i></body></html>"
    assert "Short line one." in extract_main_text(html)


def test_the_title_comes_from_open_graph_then_title_and_is_not_in_the_text():
    html = (f"<html><head><meta property='og:title' content='OG title'><title>T</title></head><body>"
            f"<div><h1>Crystal growth in microgravity</h1>{ARTICLE}</div></body></html>")
    text, title = extract_main_text_and_title(html)
    assert title == "OG title"
    assert "Crystal growth in microgravity" not in text
    assert P1 in text


def test_pages_over_max_nodes_are_refused_before_parsing():
    html = "<html><body>" + "<div><span>x</span></div>" * 300 + "</body></html>"
    with pytest.raises(ExtractionRefused):
        extract_main_text_and_title(html, max_nodes=200)
    assert extract_main_text_and_title(html, max_nodes=10_000)[0]


def test_the_shingle_scorer_matches_the_zyte_benchmark_definition():
    assert shingles("a b c d e") == {"a b c d": 1, "b c d e": 1}
    assert shingles("a b") == {"a b": 1}  # shorter than 4 tokens: one shingle
    assert shingles("") == {}
    assert shingle_match("a b c d e", "a b c d e") == (1.0, 0.0, 0.0)
    tp, fp, fn = shingle_match("a b c d e", "a b c d x")  # 1 shared, 1 extra, 1 missing
    assert (tp, fp, fn) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert shingle_match("a b c d", "") == (0.0, 0.0, 1.0)
    m = shingle_prf([("a b c d e", "a b c d e"), ("a b c d", "")])
    assert m["precision"] == 1.0 and m["recall"] == 0.5 and m["mean_page_f1"] == 0.5
    # Precision and recall are means of the per-page values (not of summed counts): P = (0.2 + 1) / 2 = 0.6,
    # R = (1 + 0.25) / 2 = 0.625.
    m = shingle_prf([("a b c d", "a b c d x y z w"), ("a b c d e f g", "a b c d")])
    assert m["precision"] == pytest.approx(0.6) and m["recall"] == pytest.approx(0.625)


def test_link_heavy_lines_are_dropped_but_a_spelled_out_url_or_address_is_kept():
    html = (f"<html><body><div class='text'><p>{P1}</p><p><a href='/x'>READ MORE: another story entirely</a></p>"
            f"<p>{P2}</p><p><a href='https://petition.example.org'>https://petition.example.org</a></p>"
            f"<p><a href='mailto:desk@example.org'>desk@example.org</a></p><p>{P3}</p></div></body></html>")
    text = extract_main_text(html)
    assert "READ MORE" not in text
    assert "https://petition.example.org" in text and "desk@example.org" in text


def test_a_hidden_popup_is_dropped_but_an_article_hidden_until_a_script_reveals_it_is_kept():
    html = (f"<html><body><div style='display: none'><div class='wrap'>{ARTICLE}</div></div>"
            f"<div hidden><p>Sign up for our daily briefing and never miss a story again, it is free.</p></div>"
            f"</body></html>")
    text = extract_main_text(html)
    assert P1 in text and P3 in text
    assert "Sign up" not in text


def test_a_deeply_nested_page_gets_its_pruned_body_not_the_quadratic_resiliparse_fallback(monkeypatch):
    import s1data.web.extractor as ex

    def refuse(html):
        raise AssertionError("resiliparse called on a page nested deeper than it can afford")

    monkeypatch.setattr(ex, "_fallback", refuse)
    depth = 400  # nothing but a short line at the bottom: the output is suspect and a fallback is due
    html = "<html><body>" + "<div>" * depth + "<b>tail words</b>" + "</div>" * depth + "</body></html>"
    assert extract_main_text(html) == "tail words"
    shallow = "<html><body>" + "<div>" * 20 + "<b>tail words</b>" + "</div>" * 20 + "</body></html>"
    with pytest.raises(AssertionError, match="resiliparse called"):
        extract_main_text(shallow)


def test_the_empty_output_fallback_asks_resiliparse_on_an_ordinary_page(monkeypatch):
    import s1data.web.extractor as ex

    monkeypatch.setattr(ex, "_fallback", lambda html: "from the fallback")
    assert extract_main_text("<html><body><b>x</b></body></html>") == "from the fallback"


def test_soft_hyphens_and_zero_width_spaces_do_not_split_words():
    # Hyphenation plugins put U+00AD inside words; a \w+ tokenizer (the shingle scorer, any LM tokenizer) would
    # split "réac­tion" in two.
    html = (f"<html><body><div><p>La réac\u00adtion du con\u00adseil\u200b est at\u2060ten\ufeffdue. {P1}</p>"
            f"<p>{P2}</p></div></body></html>")
    text = extract_main_text(html)
    assert "La réaction du conseil est attendue." in text
    assert not any(c in text for c in "\u00ad\u200b\u2060\ufeff")
