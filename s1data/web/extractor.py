"""Main-content extraction: lexbor DOM (selectolax) + boilerplate pruning + paragraph-density scoring.

Steps, each one pass over a part of the DOM:
1. parse with lexbor; refuse pages over `max_nodes` elements (hostile HTML) with ExtractionRefused;
2. drop never-content tags (script, style, nav, aside, footer, forms, …), hidden elements, and elements whose
   class/id token names boilerplate (`comment`, `sidebar`, `share`, `related`, `cookie`, …);
3. score containers readability-style: each paragraph-like block with >= 25 chars gives its parent
   `1 + commas + min(chars/100, 3)` and half of that to its grandparent; a container's score is discounted by its
   link density. A semantic container (`article`, `main`, `[itemprop=articleBody]`, `.entry-content`, …) that holds
   the best-scoring container and not much more text wins over it;
4. inside the chosen container, drop link-heavy short blocks (menus, tag lists, "read more"), then render text with
   one line per block element.
"""

from __future__ import annotations

import re

_NEVER_CONTENT = ["script", "style", "noscript", "template", "iframe", "svg", "canvas", "object", "embed", "form",
                  "button", "select", "textarea", "input", "nav", "aside", "footer", "menu", "dialog", "map"]
_BLOCK_TAGS = frozenset("p div section article main header h1 h2 h3 h4 h5 h6 li ul ol dl dt dd pre blockquote "
                        "table tr td th tbody thead figure figcaption address hr br center details summary".split())
_PARA_SELECTOR = "p, pre, td, blockquote, dd, li, h2, h3, h4"
_BLOCK_SELECTOR = "p, div, section, article, header, h1, h2, h3, h4, h5, h6, li, dt, dd, pre, blockquote, tr, " \
                  "figcaption, address, br, table, ul, ol, center, summary"
_SEMANTIC_SELECTOR = ("[itemprop=articleBody], article, main, [role=main], .entry-content, .post-content, "
                      ".article-content, .article-body, .articleBody, .post-body, .story-body, .entry, .post, "
                      "#content, .content, #main, .main-content, #main-content")
_BOILER = re.compile(
    r"(?:^|[-_])(?:comments?|comment-?list|respond|reply|sidebar|widgets?|footer|navbar|nav|navigation|menu|"
    r"breadcrumbs?|share|sharing|sharedaddy|social|socials|related|recommended|recommendations|cookies?|consent|"
    r"gdpr|banner|advert|advertisement|ads|ad|sponsor|sponsored|popup|modal|newsletter|subscribe|subscription|"
    r"signup|login|pagination|pager|tags|tagcloud|tag-?list|author-?box|about-?author|toolbar|skip|print|search|"
    r"rating|disqus|promo|teaser|teasers|trending|masthead|site-?header|topbar|header-?bar|copyright|"
    r"meta|postmeta|post-?meta|entry-?meta|byline|secondary|outbrain|taboola|jp-relatedposts|yarpp|wp-?caption|"
    r"next-?posts?|prev-?posts?|previous-?posts?|thumbnails|more-?posts|read-?more)"
    r"(?:$|[-_])", re.I)
_NOT_BOILER_PREFIX = ("has-", "with-", "no-", "is-", "page-", "single-", "post-template", "wp-", "hentry")
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_WS = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_NL = re.compile(r"\n\s*\n+|\s*\n\s*")


class ExtractionRefused(Exception):
    """The page is too large or too deeply nested to parse safely."""


def _is_boiler(attrs: dict) -> bool:
    for key in ("class", "id"):
        value = attrs.get(key)
        if not value:
            continue
        for token in value.split():
            tl = token.lower()
            if tl.startswith(_NOT_BOILER_PREFIX):
                continue
            if _BOILER.search(tl):
                return True
    return False


def _text_len(node) -> int:
    t = node.text(deep=True)
    return len(t) - t.count(" ") - t.count("\n") if t else 0


def _prune(root) -> None:
    for tag in _NEVER_CONTENT:
        for n in root.css(tag):
            n.decompose()
    for n in root.css("[hidden], [aria-hidden=true], [style*=none], [style*=hidden]"):
        style = n.attributes.get("style") or ""
        if "hidden" in n.attributes or n.attributes.get("aria-hidden") == "true" or _HIDDEN.search(style):
            n.decompose()
    body_len = max(_text_len(root), 1)
    for n in root.css("[class], [id]"):
        if n.tag in ("html", "body", "main", "article"):
            continue
        if _is_boiler(n.attributes):
            # A wrapper that holds most of the page is layout, not boilerplate (e.g. `<div id="main-nav-wrapper">`).
            if _text_len(n) < 0.6 * body_len:
                n.decompose()


def _score_candidates(root):
    scores: dict = {}
    nodes: dict = {}
    for p in root.css(_PARA_SELECTOR):
        t = p.text(deep=True)
        n = len(t.strip())
        if n < 25:
            continue
        s = 1.0 + t.count(",") + t.count("\u3001") + min(n / 100.0, 3.0)
        parent = p.parent
        if parent is None:
            continue
        key = parent.mem_id
        nodes[key] = parent
        scores[key] = scores.get(key, 0.0) + s
        gp = parent.parent
        if gp is not None:
            nodes[gp.mem_id] = gp
            scores[gp.mem_id] = scores.get(gp.mem_id, 0.0) + s / 2
    return scores, nodes


def _link_density(node) -> float:
    total = _text_len(node)
    if total == 0:
        return 0.0
    linked = sum(_text_len(a) for a in node.css("a"))
    return min(linked / total, 1.0)


def _choose_container(root):
    scores, nodes = _score_candidates(root)
    if not scores:
        return root
    best_key = None
    best = -1.0
    for key, s in scores.items():
        if s < best * 0.5:  # cheap skip before computing link density
            continue
        adj = s * (1.0 - _link_density(nodes[key]))
        if adj > best:
            best, best_key = adj, key
    top = nodes[best_key]
    top_len = _text_len(top)
    # Prefer the smallest semantic container that holds the top candidate without much more text.
    chosen = top
    for sem in root.css(_SEMANTIC_SELECTOR):
        sem_len = _text_len(sem)
        if sem_len < top_len or sem_len > 1.6 * top_len + 400:
            continue
        anc = top
        inside = False
        while anc is not None:
            if anc.mem_id == sem.mem_id:
                inside = True
                break
            anc = anc.parent
        if inside and (chosen is top or sem_len < _text_len(chosen)):
            chosen = sem
    if chosen is top:
        # The best container's parent may split the article across siblings: include sibling blocks that score.
        parent = top.parent
        if parent is not None and parent.tag not in ("html",):
            threshold = max(10.0, best * 0.2)
            good = 0
            for sib in parent.iter():
                if sib.mem_id == top.mem_id:
                    continue
                s = scores.get(sib.mem_id, 0.0)
                if s >= threshold or (sib.tag == "p" and _text_len(sib) > 80 and _link_density(sib) < 0.25):
                    good += 1
            if good:
                chosen = parent
                _drop_weak_children(parent, scores, threshold, keep=top)
    return chosen


def _drop_weak_children(parent, scores, threshold, keep) -> None:
    for sib in list(parent.iter()):
        if sib.mem_id == keep.mem_id:
            continue
        s = scores.get(sib.mem_id, 0.0)
        if s >= threshold:
            continue
        if sib.tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "table", "figure"):
            if _link_density(sib) < 0.5:
                continue
        if sib.tag in ("h1", "h2", "h3") and _text_len(sib) < 200:
            continue
        sib.decompose()


def _drop_link_blocks(container) -> None:
    for n in container.css("ul, ol, p, div, li, section, table, dl"):
        tl = _text_len(n)
        if tl == 0:
            continue
        if tl < 300 and _link_density(n) > 0.5:
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
    text = _WS.sub(" ", text)
    lines = [ln.strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def _title(tree) -> str | None:
    for sel, attr in (('meta[property="og:title"]', "content"), ("title", None), ("h1", None)):
        node = tree.css_first(sel)
        if node is None:
            continue
        value = node.attributes.get(attr) if attr else node.text(deep=True)
        if value and value.strip():
            return _WS.sub(" ", value).strip()[:1000]
    return None


def extract_main_text_and_title(html: str | bytes, url: str | None = None,
                                max_nodes: int = 200_000) -> tuple[str, str | None]:
    """Main text and title of a page; raises ExtractionRefused for pages over `max_nodes` elements."""
    from selectolax.lexbor import LexborHTMLParser

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
    _prune(root)
    container = _choose_container(root)
    _drop_link_blocks(container)
    return _render(container), title


def extract_main_text(html: str | bytes, url: str | None = None) -> str:
    """Main content of an HTML page as plain text, one line per block (see module docstring)."""
    return extract_main_text_and_title(html, url=url)[0]
