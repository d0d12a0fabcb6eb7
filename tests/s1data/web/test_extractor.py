from s1data.web import extract_main_text
from s1data.web.extraction_eval import precision_recall_f1, score_page

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
