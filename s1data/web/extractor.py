"""Main-content extraction: lexbor DOM (selectolax), boilerplate pruning, and the densest paragraph subtree.

Steps, each one pass over a part of the DOM:
1. parse with lexbor; refuse pages over `max_nodes` elements (hostile HTML) with ExtractionRefused;
2. drop never-content tags (script, style, nav, aside, footer, buttons, …), hidden elements, figures and captions;
   drop elements whose class / id names boilerplate (`comments`, `sidebar`, `share`, `related-stories`, `cookie`,
   `most-popular`, `author-bio`, … camelCase split, glued words like `entryfooter` included) unless they are named
   like the article body or hold one (`box article modal-enabled`, `l-sidebar-fixed l-article-body-segment`), or
   hold nearly all the page (a layout wrapper);
3. find text blocks (`p`, `h2`-`h6`, `pre`, and the direct text of `div` / `td` / `li` / … for pages written with
   `<br>`); a block of >= `min_block_chars` characters with link density < 0.33 is *good*, except inside a link
   (a teaser card) and at `list_weight` inside a list item;
4. choose the element that maximises `good chars inside - alpha * other chars inside` (the densest subtree of good
   paragraphs: it spans an article split over sibling columns, and a sidebar, teaser list or comment list costs
   it); a single paragraph widens to its parent; an `<article>` / articleBody-named element inside the winner that
   holds >= `semantic_share` of its good text replaces it (the article without the teasers around it);
5. inside the chosen element, drop short link-heavy blocks (menus, tag lists, "read more") and the `h1` title, then
   render text with one line per block element.
If that yields nothing, or a short block holding little of the page's good text, resiliparse's main-content
extraction is run as well and the longer text is kept.

Measured on real labelled pages by benchmarks/web_extraction.py (results: benchmarks/results/extraction.md).
"""

from __future__ import annotations

import functools
import heapq
import re

from pydantic import BaseModel, Field

_NEVER_CONTENT = ["script", "style", "noscript", "template", "iframe", "svg", "canvas", "object", "embed",
                  "button", "select", "textarea", "input", "nav", "aside", "footer", "menu", "dialog", "map",
                  "label", "option"]
# Figures and their captions: the labelled article bodies leave image captions and credits out.
_CAPTIONS = ["figure", "figcaption", "[class*=caption i]"]


class ExtractorConfig(BaseModel):
    """Thresholds of the main-content extractor (defaults chosen on half of extraction-dev, see the module doc)."""

    alpha: float = Field(0.35, description="Cost of one non-good character inside a candidate element, against one "
                                           "good paragraph character gained.")
    min_block_chars: int = Field(25, description="Shortest text block (characters) that counts as a paragraph.")
    list_weight: float = Field(0.5, description="Weight of paragraph text inside list items (teaser lists).")
    semantic_share: float | None = Field(0.7, description="An article-marked element inside the chosen one replaces "
                                                          "it when it holds this share of its good text; None: off.")
    drop_captions: bool = Field(True, description="Drop figures, figcaptions and *caption* elements.")
    link_block_selector: str = Field("ul, ol, p, div, li, section, table, dl",
                                     description="Blocks inside the chosen element dropped when short (< 300 chars) "
                                                 "and more than half link text.")
    min_share: float | None = Field(0.3, description="A chosen element holding less than this share of the page's "
                                                     "good text, rendering under `short_text` characters, is suspect: "
                                                     "resiliparse is tried too; None: only on empty output.")
    short_text: int = Field(500, description="See `min_share`.")


DEFAULT_CONFIG = ExtractorConfig()

_BLOCK_SELECTOR = "p, div, section, article, header, h1, h2, h3, h4, h5, h6, li, dt, dd, pre, blockquote, tr, " \
                  "figcaption, address, br, table, ul, ol, center, summary, main"
# Blocks whose whole text counts, and containers whose direct text counts (pages written with <br> and bare text).
_PARA_SELECTOR = "p, pre, h2, h3, h4, h5, h6"
_LEAF_BLOCKS = frozenset("p pre h2 h3 h4 h5 h6 li dd blockquote span font".split())
_DIRECT_SELECTOR = "div, td, li, dd, blockquote, section, article, main, center, font, span"
_BOILER = re.compile(
    r"(?:^|[-_\s])(?:comments?|comment-?list|respond|reply|sidebar|widgets|footer|navbar|nav|navigation|menu|"
    r"breadcrumbs?|share|sharing|sharedaddy|social|socials|related|recommended|recommendations|cookies?|consent|"
    r"gdpr|banner|advert|advertisement|ads|ad|sponsor|sponsored|popup|modal|newsletter|subscribe|subscription|"
    r"signup|login|pagination|pager|tags|tagcloud|tag-?list|author-?box|about-?author|toolbar|skip|print|search|"
    r"rating|disqus|promo|teaser|teasers|trending|masthead|site-?header|topbar|header-?bar|copyright|"
    r"postmeta|post-?meta|entry-?meta|byline|secondary|outbrain|taboola|jp-relatedposts|yarpp|wp-?caption|"
    r"next-?posts?|prev-?posts?|previous-?posts?|thumbnails|more-?posts|read-?more|popular|most-?read|most-?viewed|"
    r"cta|read-?time|reading-?time|author|authors|post-?author|author-?bio|bio|vcard|recirc|recirculation|"
    r"more-?from|also-?read|see-?also)"
    r"(?:$|[-_\s])")
# Unambiguous boilerplate words also count glued to another word (`entryfooter`, `postcomments`, `relatedposts`).
_BOILER_GLUED = re.compile(r"(?:footer|sidebar|comments|commentlist|breadcrumbs?|newsletter|cookies?)(?:$|[-_\s])|"
                           r"(?:^|[-_\s])(?:related|sidebar|footer|newsletter|cookie|breadcrumb)")
# Tokens that describe the page or the content rather than name a boilerplate part (`has-sidebar`, `page-template-…`,
# `wp-block-…`), and `with-…` phrases inside a token (`content-with-sidebar` is the content).
_NOT_BOILER = re.compile(r"(?:^|(?<=\s))(?:has-|with-|no-|is-|page-|single-|post-template|wp-|hentry)\S*|"
                         r"(?:with|has|no|without)[-_][a-z]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_MAX_CANDIDATES = 64
_DEEP_SELECTOR = " > ".join(["*"] * 200)
_BARE_URL = re.compile(r"(?:https?://|www\.)\S+$|[^\s@]+@[^\s@]+\.\w+$", re.I)
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
# Invisible characters that split words for any tokenizer: soft hyphen, zero-width space, word joiner, BOM.
_INVISIBLE = "\u00ad\u200b\u2060\ufeff"


def _visible(text: str) -> str:
    for c in _INVISIBLE:
        if c in text:  # str.translate walks every character through a dict; a scan per character kind is faster
            text = text.replace(c, "")
    return text


class ExtractionRefused(Exception):
    """The page is too large or too deeply nested to parse safely."""


def _is_boiler(attrs: dict) -> bool:
    """Whether an element's class / id names a boilerplate part (comments, sidebar, share bar, related stories…)."""
    return _classify(f"{attrs.get('class') or ''} {attrs.get('id') or ''}")[0]


@functools.lru_cache(maxsize=65536)
def _classify(value: str) -> tuple[bool, bool]:
    """(names boilerplate, names the article body) for a `class id` string."""
    if value == " ":
        return False, False
    value = _SEPARATORS.sub("-", _CAMEL.sub("-", value).lower())  # `RelatedTags__wrap` is `related-tags-wrap`
    content = _CONTENT_MARK.search(value) is not None
    value = _NOT_BOILER.sub(" ", value)
    boiler = _ARTICLE_CLASS.search(value) is None and (_BOILER.search(value) or _BOILER_GLUED.search(value)) is not None
    return boiler, content


def _text_len(node) -> int:
    """Characters of text in `node`, spaces and newlines (HTML source formatting) not counted."""
    t = node.text(deep=True)
    return len(t) - t.count(" ") - t.count("\n") if t else 0


# Names of the article body in class / id values (substrings, after camelCase splitting, lower-casing and `_` / `__`
# / `--` read as `-`): an element so named, or holding one, is never pruned as boilerplate, whatever else its class
# says (`box article modal-enabled`, `entry-content entry-content-read-more`, `l-sidebar-fixed l-article-body`).
# Includes the usual CMS names (WordPress entry-content, Blogger post-body, Joomla K2 itemFullText, Drupal
# field-name-body / node-content).
_CONTENT_NAMES = ("article-body", "articlebody", "article-content", "article-text", "story-body", "story-content",
                  "storybody", "entry-content", "entry-body", "post-content", "post-body", "postbody", "post-text",
                  "main-content", "body-text", "bodytext", "full-text", "fulltext", "item-body", "field-name-body",
                  "node-content")
_CONTENT_MARK = re.compile("|".join(map(re.escape, _CONTENT_NAMES)))
_SEPARATORS = re.compile(r"[-_]+")
# A bare `article` class spares the element itself only (teaser cards in a related list are `article`s too).
_ARTICLE_CLASS = re.compile(r"^article\s|\sarticle\s", re.I)


class _TextBudget:
    """Text lengths of elements, within a budget of characters read: nested wrappers make the sum of subtree sizes
    quadratic in the page size on hostile HTML; past the budget every element counts as small."""

    def __init__(self, chars: int, spaces: bool = False):
        self.left = chars
        self.spaces = spaces  # count spaces (stripped text length) or not (like _text_len)

    def __call__(self, node) -> int:
        if self.left <= 0:
            return 0
        t = node.text(deep=True)
        self.left -= len(t)
        return len(t.strip()) if self.spaces else len(t) - t.count(" ") - t.count("\n")


def _drop_outermost(nodes, drop) -> None:
    """Decompose the elements of `nodes` (document order) for which `drop(node)` says so; an element inside one
    already dropped is not looked at (each ancestor chain is walked once, memoised)."""
    inside: dict[int, bool] = {}  # mem_id -> inside (or being) a dropped element
    doomed = []
    for n in nodes:
        path = []
        x = n.parent
        while x is not None and x.mem_id not in inside:
            path.append(x.mem_id)
            x = x.parent
        dead = inside[x.mem_id] if x is not None else False
        for key in path:
            inside[key] = dead
        if dead:
            continue
        gone = drop(n)
        inside[n.mem_id] = gone
        if gone:
            doomed.append(n)
    for n in doomed:  # none of them is inside another
        n.decompose()


def _prune(root, drop_captions: bool = True) -> None:
    for n in reversed(root.css(", ".join(_NEVER_CONTENT))):  # descendants first: none is visited after removal
        n.decompose()
    body_len = max(_text_len(root), 1)
    size = _TextBudget(20 * body_len + 100_000)

    def hidden(n) -> bool:
        attrs = n.attributes
        if "hidden" in attrs or attrs.get("aria-hidden") == "true" or _HIDDEN.search(attrs.get("style") or ""):
            return size(n) < 0.5 * body_len  # an element hidden until a script reveals it, holding most of the page
        return False

    _drop_outermost(root.css("[hidden], [aria-hidden=true], [style*=none], [style*=hidden]"), hidden)
    body_len = max(_text_len(root), 1)
    if drop_captions:  # a page that is one big <figure> keeps it
        _drop_outermost(root.css(", ".join(_CAPTIONS)), lambda n: size(n) < 0.5 * body_len)
    # Elements named like the article body, and their ancestors, are never pruned.
    held: set[int] = set()
    boiler = []
    for n in root.css("[class], [id], [itemprop=articleBody]"):
        attrs = n.attributes
        is_boiler, is_content = _classify(f"{attrs.get('class') or ''} {attrs.get('id') or ''}")
        if is_content or attrs.get("itemprop") == "articleBody":
            x = n
            while x is not None and x.mem_id not in held:
                held.add(x.mem_id)
                x = x.parent
        elif is_boiler:
            boiler.append(n)

    def boilerplate(n) -> bool:
        if n.mem_id in held or n.tag in ("html", "body", "main", "article"):
            return False
        # A wrapper that holds most of the page and its headline, or all the page's text, is layout, not
        # boilerplate (`<div id="main-nav-wrapper">`); a related-stories carousel longer than the article is not.
        tl = size(n)
        return tl < 0.6 * body_len or (body_len - tl >= max(200, 0.1 * body_len) and n.css_first("h1") is None)

    _drop_outermost(boiler, boilerplate)


def _link_chars(node) -> int:
    return sum(len(a.text(deep=True)) for a in node.css("a"))


def _choose_container(root, alpha: float = 0.35, min_block_chars: int = 25, list_weight: float = 0.5,
                      semantic_share: float | None = 0.7):
    """The element maximising `good chars - alpha * other chars` inside it (see the module docstring), and the
    share of the page's good characters that it holds."""
    # mem_id -> (node, parent's mem_id, inside a link, inside a list item), for the text blocks and their ancestors;
    # filled once per element, parents before children.
    info: dict[int, tuple] = {}

    def lookup(node) -> tuple:
        path = []
        x = node
        while x is not None and x.mem_id not in info:
            path.append(x)
            x = x.parent
        up_key = x.mem_id if x is not None else None
        up = info[up_key] if up_key is not None else (None, None, False, False)
        for y in reversed(path):
            tag = y.tag
            key = y.mem_id
            up = (y, up_key, up[2] or tag == "a", up[3] or tag == "li")
            info[key] = up
            up_key = key
        return up

    own: dict[int, float] = {}

    def credit(block, n):
        parent = block.parent
        if parent is None:
            return
        _, _, in_link, in_li = lookup(parent)
        if in_link:
            return  # a teaser card: the whole block is a link
        if in_li:
            n *= list_weight
        lookup(block)
        key = block.mem_id
        own[key] = own.get(key, 0.0) + n

    for block in root.css(_PARA_SELECTOR):
        n = len(block.text(deep=True).strip())
        if n < min_block_chars or _link_chars(block) > 0.33 * n:
            continue
        credit(block, n)
    for block in root.css(_DIRECT_SELECTOR):
        n = len(block.text(deep=False).strip())
        if n >= min_block_chars:
            credit(block, n)
    if not own:
        return root, 0.0
    # Sum up the tree in one pass: `info` holds every element after its parent, so walking it backwards adds each
    # element's total to its parent after all its children were added to it.
    good = dict(own)
    for key in reversed(list(info)):
        g = good.get(key)
        if g:
            up = info[key][1]
            if up is not None:
                good[up] = good.get(up, 0.0) + g
    top = max(good.values())  # the page's good characters: the outermost element holds them all
    # Candidates: elements holding >= 30% of the good text, the 64 richest (bounds the work on deeply nested HTML).
    # Deterministic order: document order of first appearance (parents before children), not memory addresses.
    cands = [(good[key], key) for key in info if good.get(key, 0.0) >= 0.3 * top]
    if len(cands) > _MAX_CANDIDATES:
        rank = {key: i for i, (_, key) in enumerate(cands)}
        cands = sorted(heapq.nlargest(_MAX_CANDIDATES, cands, key=lambda c: (c[0], -rank[c[1]])),
                       key=lambda c: rank[c[1]])
    best, best_score = root, float("-inf")
    for g, key in cands:
        node = info[key][0]
        total = len(node.text(deep=True).strip())
        score = g - alpha * max(total - g, 0)
        if score >= best_score:  # among equal scores the innermost (later in document order)
            best, best_score = node, score
    if best.tag in _LEAF_BLOCKS and best.parent is not None and best.parent.tag not in ("body", "html"):
        best = best.parent  # one paragraph is not an article: take the block around it (with its short lines)
    if semantic_share is None:
        return best, good.get(best.mem_id, 0.0) / top
    best_good = good.get(best.mem_id, 0.0)
    # An element marked as the article (`<article>`, itemprop=articleBody, a class named like the article body)
    # inside the winner that holds nearly all of its good text is the article without the teasers around it.
    inner, inner_good = None, 0.0
    best_key = best.mem_id
    for g, key in cands:
        if g < semantic_share * best_good or key == best_key or (inner is not None and g <= inner_good):
            continue
        node = info[key][0]
        if not _is_article_node(node):
            continue
        up = info[key][1]
        while up is not None and up != best_key:
            up = info[up][1]
        if up is not None:
            inner, inner_good = node, g
    if inner is not None:
        best = inner
    return best, good.get(best.mem_id, 0.0) / top


def _is_article_node(node) -> bool:
    if node.tag == "article":
        return True
    attrs = node.attributes
    if attrs.get("itemprop") == "articleBody":
        return True
    return _classify(f"{attrs.get('class') or ''} {attrs.get('id') or ''}")[1]


def _drop_link_blocks(container, selector: str) -> None:
    """Drop short link-heavy blocks (menus, tag lists, "read more" lines) inside the chosen element."""
    size = _TextBudget(20 * len(container.text(deep=True)) + 100_000, spaces=True)
    for n in reversed(container.css(selector)):  # descendants first: none is visited after its removal
        tl = size(n)
        if 0 < tl < 300 and _link_chars(n) > 0.5 * tl:
            if n.tag == "p" and _BARE_URL.match(n.text(deep=True).strip()):
                continue  # a paragraph that spells out a URL or an address is a citation in the text, not a menu
            n.decompose()


def _render(container) -> str:
    for n in container.css(_BLOCK_SELECTOR):
        if n.tag == "br":
            n.insert_after("\n")
        else:
            n.insert_before("\n")
            n.insert_after("\n")
    for n in container.css("td, th"):
        n.insert_after(" ")
    text = container.text(deep=True, separator="")
    text = _WS.sub(" ", _visible(text))
    lines = [ln for ln in (ln.strip() for ln in text.split("\n")) if ln]
    return "\n".join(lines)


def _title(tree) -> str | None:
    for sel, attr in (('meta[property="og:title"]', "content"), ("title", None), ("h1", None)):
        node = tree.css_first(sel)
        if node is None:
            continue
        value = node.attributes.get(attr) if attr else node.text(deep=True)
        if value and value.strip():
            return _WS.sub(" ", value).strip()[:1000]
    return None


def _fallback(html: str) -> str:
    """resiliparse's main-content text, for pages where the DOM scoring found nothing."""
    from resiliparse.extract.html2text import extract_plain_text

    text = extract_plain_text(html, main_content=True, comments=False, alt_texts=False, links=False)
    return _visible(text).strip()


def extract_main_text_and_title(html: str | bytes, url: str | None = None, max_nodes: int = 200_000,
                                config: ExtractorConfig | None = None) -> tuple[str, str | None]:
    """Main text and title of a page; raises ExtractionRefused for pages over `max_nodes` elements."""
    from selectolax.lexbor import LexborHTMLParser

    cfg = config or DEFAULT_CONFIG
    if isinstance(html, bytes):
        from s1data.web.decode import decode_html

        html = decode_html(html)[0]
    # Cheap pre-check before building a DOM: the number of '<' bounds the element count.
    if html.count("<") > 2 * max_nodes:
        raise ExtractionRefused(f"more than {2 * max_nodes} tags")
    tree = LexborHTMLParser(html)
    root = tree.body
    if root is None:
        return "", _title(tree)
    title = _title(tree)
    _prune(root, drop_captions=cfg.drop_captions)
    container, share = _choose_container(root, alpha=cfg.alpha, min_block_chars=cfg.min_block_chars,
                                         list_weight=cfg.list_weight, semantic_share=cfg.semantic_share)
    for h in reversed(container.css("h1")):
        h.decompose()
    _drop_link_blocks(container, cfg.link_block_selector)
    text = _render(container)
    suspect = cfg.min_share is not None and share < cfg.min_share and len(text) < cfg.short_text
    if not text or suspect:
        # Nothing, or a short block holding little of the page's paragraph text (a teaser, a title, a stray line):
        # resiliparse's main-content heuristics see the page differently; keep whichever says more. resiliparse is
        # quadratic in the nesting depth, so a page nested deeper than 200 elements gets its pruned body instead.
        deep = LexborHTMLParser(html).body.css_first(_DEEP_SELECTOR) is not None  # the pruned tree lost the depth
        other = _render(root) if deep else _fallback(html)
        if len(other) > len(text):
            text = other
    return text, title


def extract_main_text(html: str | bytes, url: str | None = None, config: ExtractorConfig | None = None) -> str:
    """Main content of an HTML page as plain text, one line per block (see module docstring)."""
    return extract_main_text_and_title(html, url=url, config=config)[0]
