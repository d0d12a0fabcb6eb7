"""The extractor on real labelled article pages (../shared/data/extraction-dev, Zyte article-extraction benchmark).

These assert decisions on every page (no empty output, the right block), not the benchmark figure: the figures are
measured by benchmarks/web_extraction.py. No ground-truth text is copied here; phrases are taken from the labels at
run time.
"""

from __future__ import annotations

import pytest

from s1data.web.extraction_eval import load_article_set, shingle_match, shingle_prf, shingles
from s1data.web.extractor import extract_main_text, extract_main_text_and_title


@pytest.fixture(scope="module")
def articles(shared_data):
    pages = load_article_set(shared_data / "extraction-dev")
    assert len(pages) >= 100
    return pages


@pytest.fixture(scope="module")
def extracted(articles):
    return {key: extract_main_text(page["html"]) for key, page in articles.items()}


def _kept(paragraph: str, out_shingles: dict) -> bool:
    s = shingles(paragraph)
    return sum(1 for x in s if x in out_shingles) >= 0.8 * len(s)


def test_no_page_with_an_article_body_comes_back_empty(articles, extracted):
    empty = [k for k, page in articles.items() if page["articleBody"].strip() and not extracted[k].strip()]
    assert empty == []


def test_the_chosen_block_is_the_article_not_a_title_teaser_or_stray_line(articles, extracted):
    # A page whose output shares under half of its shingles with the article body got the wrong block.
    wrong = []
    for key, page in articles.items():
        tp, fp, fn = shingle_match(page["articleBody"], extracted[key])
        if 2 * tp / (2 * tp + fp + fn or 1) < 0.5:
            wrong.append(page["url"])
    assert len(wrong) <= 0.02 * len(articles), wrong


def test_the_first_and_last_paragraphs_of_the_article_are_kept(articles, extracted):
    # Must-keep text: the opening and closing paragraphs (>= 80 chars) of each labelled article body.
    missed_first, missed_last, n = [], [], 0
    for key, page in articles.items():
        paragraphs = [p for p in page["articleBody"].split("\n") if len(p.strip()) >= 80]
        if not paragraphs:
            continue
        n += 1
        out = shingles(extracted[key])
        if not _kept(paragraphs[0], out):
            missed_first.append(page["url"])
        if not _kept(paragraphs[-1], out):
            missed_last.append(page["url"])
    assert len(missed_first) <= 0.05 * n, missed_first
    assert len(missed_last) <= 0.05 * n, missed_last


def test_the_article_outscores_the_raw_page_text(articles, extracted):
    # Boilerplate removal must pay: the extraction beats the whole <body> text as an extraction of the article.
    from selectolax.lexbor import LexborHTMLParser

    keys = sorted(articles)[::6]
    whole = {k: (LexborHTMLParser(articles[k]["html"]).body or LexborHTMLParser("<p></p>").body).text(separator="\n")
             for k in keys}
    ours = shingle_prf((articles[k]["articleBody"], extracted[k]) for k in keys)
    raw = shingle_prf((articles[k]["articleBody"], whole[k]) for k in keys)
    assert ours["precision"] > raw["precision"] + 0.3
    assert ours["recall"] > 0.9


def test_bytes_input_and_the_title_come_back_for_a_real_page(articles):
    page = articles[sorted(articles)[0]]
    text, title = extract_main_text_and_title(page["html"], url=page["url"])
    assert text == extract_main_text(page["html"])
    assert title


def test_the_same_page_gives_the_same_text_every_time(articles, extracted):
    # The choice must not depend on memory addresses (ties between candidates are broken by document order).
    for key in sorted(articles)[::10]:
        for _ in range(2):
            assert extract_main_text(articles[key]["html"]) == extracted[key]
