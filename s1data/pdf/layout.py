"""Display-math rows of a page, from the `page.get_text("dict")` that the cheap route reads anyway.

A display formula in a typeset paper has a shape that does not depend on its fonts: a row of the text column with
(almost) no prose words in it, made of math (math-font glyphs, math symbols, single italic letters, Greek,
operators), that either stands centred in its column with a margin on both sides or ends in an equation number
`(12)` / `(2.6a)` at the column's right edge. Fonts alone do not work: a Times paper (mathptmx, newtx) sets its
math letters in the text italic, and a page of inline math is as "mathy" per character as a display.

Steps, all on PyMuPDF lines (a line = spans on one baseline):
1. per line: non-space characters, math characters, prose-word characters, an equation number at its end;
2. text columns: the left edges and widths of prose lines (lines that are mostly words), clustered;
3. rows: lines of one column whose vertical extents overlap (sub/superscripts, big operators, the equation
   number) merged left to right;
4. a row is a display row if it is math (>= 2 math characters, <= 35% prose-word characters) and centred in its
   column or numbered;
5. not a display (unless numbered): a row holding code or pictographs, table cells beside code or prose (in one band,
   or >= 3 rows of a column each sharing its strip with a code/prose cell), a typeset result right under a centred
   line of code, a piece of a prose line (words within 2 em on its strip: inline maths off the text baseline).
A surd is placed on its radicand's baseline; a line lying in two nested columns joins the one whose prose runs
nearest it.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# Math fonts: TeX's (CM, AMS, Euler, Latin Modern, newtx/txfonts/pxfonts, STIX, TeX Gyre Math), Word's Cambria Math,
# the Symbol fonts. Text fonts that merely contain "Math" in a family name are not (Mathematica's text faces).
_MATH_FONT = re.compile(
    r"(^|[+])(CM(MI|SY|EX|BSY|MIB)\d*|MSAM|MSBM|EUFM|EUSM|EUFB|EURM|EURB|EUEX|RSFS|STIX.*Math|.*Math(?!ematica)|"
    r"Symbol|StandardSym|Mathematica|LMMath|TeXGyre.*Math|Cambria.?Math|esint|wasy|txsy|pxsy|r?n?tx(mi|sy|ex|sys)|"
    r"r?px(mi|sy|ex|sys)|NewTXB?MI|Kp-+M-|zplm|MnSymbol|MTSY|MTMI|MTEX|Euclid)",
    re.IGNORECASE,
)


def is_math_font(name: str) -> bool:
    return bool(_MATH_FONT.search(name or ""))

# Characters that are math whatever their font: math operators/arrows/letterlike/misc technical blocks, Greek,
# ASCII operators. (Digits and brackets are neutral: tables and citations are full of them.)
_MATH_CHARS = re.compile(
    "[\u2190-\u21FF\u2100-\u214F\u2200-\u22FF\u2300-\u23FF\u27C0-\u27EF\u2980-\u29FF\u2A00-\u2AFF"
    "\U0001D400-\U0001D7FF\u0391-\u03A9\u03B1-\u03C9\u03D1\u03D5\u03D6\u03F0\u03F1\u03F5=+<>^|\u00B1\u00D7\u00F7"
    "\u2032\u2033\u221A\u2212]")
_WORD = re.compile(r"[^\W\d_]{2,}")  # two or more letters in a row: prose (or a function name like sin)
# a letter standing alone: a math variable (not one followed by a period: "e.g.", "i.e.", an initial)
_SINGLE_LETTER = re.compile(r"(?<![^\W\d_])[^\W\d_](?![^\W\d_]|\.)")
_EQNO = re.compile(r"^\s*\(\s*[A-Za-z]{0,2}[.\-]?\d{1,3}(?:[.\-\u00B7]\d{1,3}){0,2}[a-z]?['\u2032]*\s*\)\s*$")
_ITALIC = re.compile(r"Ital|Oblique|Slant|-It\b|-It$|TI\d|MI\d", re.IGNORECASE)
_MONO = re.compile(r"CMTT|CMSLTT|SFTT|LMMono|Courier|Mono|Consol|Menlo|Typewriter|txtt|SourceCodePro|Inconsolata",
                   re.IGNORECASE)  # code, not maths: its operators and single letters are program text
# pictograph fonts (icons of a manual's example rows, dingbats): not maths, and TeX's displays hold none; counted with
# code (2026-12-05: `</> (eye) T**` example rows of a package manual were taken for displays)
_PICTO = re.compile(r"FontAwesome|Dingbat|Wingding|Webding|marvosym|bbding|academicons|ifsym", re.IGNORECASE)


@dataclass
class LineInfo:
    block: int
    index: int  # position of the line in its block
    x0: float
    y0: float
    x1: float
    y1: float
    n: int  # non-space characters
    math: int  # math characters
    words: int  # characters in prose words (text fonts, 2+ letters)
    eqno_x0: float | None  # left edge of a trailing equation number "(12)", if the line ends with one
    baseline: float = 0.0  # y of the baseline of the line's largest span
    size: float = 10.0  # font size of that span
    mono: int = 0  # characters in monospaced (code) fonts
    column: int = -1
    eqno_n: int = 0  # non-space characters of the trailing equation number
    strong: int = 0  # math-font characters and math symbols (not italic letters: "e.g." is not a formula)

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 0.1)


@dataclass
class Row:
    lines: list[LineInfo] = field(default_factory=list)
    column: int = -1
    display: bool = False
    numbered: bool = False
    mathy: bool = False  # math by its characters, whatever its place
    short: bool = False  # 1-2 characters of math (a display only when centred and standing alone)

    @property
    def n(self) -> int:
        return sum(x.n for x in self.lines)


_TEXT, _MATHF, _MONOF, _ITALICF = 0, 1, 2, 3
_EXTENSION = re.compile(r"(^|\+)(CMEX\d*|LMMathExtension|EUEX\d*|r?n?txexa?|pxexa?|Kp-+M-Ex|Fourier-Math-Extension|"
                        r"MathDesign-[\w-]*-Ex)", re.IGNORECASE)
_font_kinds: dict[str, int] = {}
_extension_fonts: dict[str, bool] = {}


def _is_extension(font: str) -> bool:
    e = _extension_fonts.get(font)
    if e is None:
        e = _EXTENSION.search(font) is not None
        if len(_extension_fonts) < 10000:
            _extension_fonts[font] = e
    return e


def _font_kind(font: str) -> int:
    k = _font_kinds.get(font)
    if k is None:
        k = (_MONOF if _MONO.search(font) or _PICTO.search(font) else _MATHF if is_math_font(font) else
             _ITALICF if _ITALIC.search(font) else _TEXT)
        if len(_font_kinds) < 10000:
            _font_kinds[font] = k
    return k


# Density features of the router (detect.py), counted in the same pass: Unicode math blocks, unusable code points.
_DENSITY_SYMBOLS = re.compile(
    "[\u2190-\u21FF\u2100-\u214F\u2200-\u22FF\u27C0-\u27EF\u2980-\u29FF\u2A00-\u2AFF\U0001D400-\U0001D7FF]")
_UNUSABLE = re.compile("[\uFFFD\uE000-\uF8FF\x00-\x08\x0B\x0C\x0E-\x1F]")
_NEEDS_FIX = re.compile("[\x00-\x1F\x7F-\x9F\uE000-\uF8FF\uFFFD]")


@dataclass
class PageCounts:
    """Per-page character counts for the router's density score, from the same pass."""
    n: int = 0
    math_font: int = 0
    math_symbols: int = 0
    bad: int = 0
    needs_fix: bool = False  # some span has a code point that glyphs.fix_text must map or drop


def line_info(block: int, index: int, line: dict, counts: PageCounts | None = None) -> LineInfo:
    n = mono = mf = 0
    plain: list[str] = []  # text-font spans
    italic: list[str] = []  # text italic (math letters of Times-based papers)
    spans = line["spans"]
    for s in spans:  # per span only what needs the font; the regexes run once per line (measured ~2x faster)
        t = s["text"]
        k = len(t) - t.count(" ")
        if not k:
            continue
        n += k
        kind = _font_kind(s["font"])
        if kind == _MATHF:
            mf += k  # every glyph of a math font is math (CMMI letters, CMSY operators, CMEX delimiters)
        elif kind == _MONOF:
            mono += k
        elif kind == _ITALICF or s["flags"] & 2:
            italic.append(t)
        else:
            plain.append(t)
    full = "".join([s["text"] for s in spans])
    sym = 0 if full.isascii() else len(_DENSITY_SYMBOLS.findall(full))
    fix = _NEEDS_FIX.search(full) is not None
    # math-extension codes are printable ASCII ("Z" for an integral): the page needs glyphs.fix_text for them too
    ext = mf and not fix and any(_is_extension(s["font"]) for s in spans)
    bad = len(_UNUSABLE.findall(full)) if fix else 0
    math, words = mf, mono
    if plain or italic:
        text = " ".join(plain + italic)
        math += len(_MATH_CHARS.findall(text))
        words += sum(map(len, _WORD.findall(text)))
    strong = math
    if italic:
        math += len(_SINGLE_LETTER.findall(" ".join(italic)))
    if counts is not None:
        counts.n += n
        counts.math_font += mf
        counts.math_symbols += sym
        counts.bad += bad
        counts.needs_fix = counts.needs_fix or fix or bool(ext)
    x0, y0, x1, y1 = line["bbox"]
    eqno_x0 = None
    tail = ""
    eqno_n = 0
    for s in reversed(spans[-4:]):  # "(C", ".", "1)": a number may come in several spans
        tail = s["text"] + tail
        if tail.lstrip().startswith("(") and _EQNO.match(tail):
            eqno_x0 = s["bbox"][0]
            eqno_n = len(tail) - tail.count(" ")
            break
    big = max(spans, key=lambda s: s["size"]) if spans else None
    baseline = big["origin"][1] if big is not None else y1
    size = big["size"] if big is not None else 10.0
    if big is not None and big["text"].strip() == "\u221A":
        # TeX's radical sign hangs from its origin, set ~0.75 em above the radicand's baseline: a surd (and its
        # index) read at its origin made a row of its own above the text line of an inline `\sqrt[n]{a}`
        baseline += 0.75 * size
    if spans and all(_EXTENSION.search(s["font"]) or not s["text"].strip() for s in spans):
        # a piece of a big delimiter hangs from its own baseline: place it by its middle, on the math axis
        baseline = (y0 + y1) / 2 + 0.25 * size
    return LineInfo(block, index, x0, y0, x1, y1, n, math, words, eqno_x0, baseline, size, mono, -1, eqno_n, strong)


def _columns(lines: list[LineInfo], page_width: float,
             bases: list[list[float]] | None = None) -> list[tuple[float, float]]:
    """(left, right) of the page's text columns, from its prose lines; one full-width column if there are none.
    `bases`, if given, receives the sorted baselines of each column's prose lines (where on the page it runs)."""
    prose = [x for x in lines if x.n >= 25 and x.words >= 0.6 * x.n]
    starts: dict[int, list[LineInfo]] = {}
    found: list[list[float]] = []
    for x in prose:
        starts.setdefault(int(x.x0 // 6), []).append(x)
    cols = []
    for key in sorted(starts, key=lambda k: -len(starts[k])):
        group = starts[key] + starts.get(key - 1, []) + starts.get(key + 1, [])
        if len(group) < 3:
            continue
        left = min(x.x0 for x in group)
        # the justified right edge: the rightmost edge that two lines share (ragged code lines and short last lines
        # fall short of it, an overfull line sticks out past it); with no shared edge (a page of short lines), the
        # rightmost line
        rights = sorted(x.x1 for x in group)
        shared = [b for a, b in zip(rights, rights[1:]) if b - a <= 2.0]
        right = shared[-1] if shared else rights[-1]
        if right - left < 80 or any(a - 6 <= left <= b + 6 for a, b in cols):
            continue
        cols.append((left, right))
        found.append(sorted(x.baseline for x in group))
    if not cols:
        xs = [x for x in lines if x.n]
        if not xs:
            return [(0.0, page_width)]
        return [(min(x.x0 for x in xs), max(x.x1 for x in xs))]
    order = sorted(range(len(cols)), key=lambda i: cols[i])
    if bases is not None:
        bases.extend(found[i] for i in order)
    return [cols[i] for i in order]


def _gap(bases: list[float], y: float) -> float:
    """Vertical distance from y to the nearest of the sorted baselines."""
    i = bisect.bisect_left(bases, y)
    return min((abs(bases[j] - y) for j in (i - 1, i) if 0 <= j < len(bases)), default=1e9)


def _assign(line: LineInfo, cols: list[tuple[float, float]], bases: list[list[float]] | None = None) -> int:
    """The column the line overlaps most; -1 if it overlaps none (a margin note, a line across both columns).
    An equation number just right of a column (set in the margin by a long formula) belongs to that column.
    A line lying wholly in two nested columns (a full-width abstract above two body columns) belongs to the one
    whose prose lines run nearest it on the page (before 2026-12-05: the first found, so the inline radicals of a
    body column were taken for rows of the abstract's column, set off from their own prose)."""
    best, best_ov, best_gap = -1, 0.0, 1e9
    for i, (a, b) in enumerate(cols):
        ov = min(b, line.x1) - max(a, line.x0)
        if ov < 0.5 * (line.x1 - line.x0):
            continue
        if ov > best_ov + 1.0:
            best, best_ov, best_gap = i, ov, -1.0
        elif ov >= best_ov - 1.0 and bases:
            if best_gap < 0:
                best_gap = _gap(bases[best], line.baseline)
            g = _gap(bases[i], line.baseline)
            if g < best_gap:
                best, best_ov, best_gap = i, max(ov, best_ov), g
    if best < 0 and line.eqno_x0 is not None and line.n <= 8:
        for i, (a, b) in enumerate(cols):
            if b - 2 <= line.x0 <= b + 0.1 * (b - a):
                return i
    return best


def display_rows(page_dict: dict, page_width: float | None = None,
                 counts: PageCounts | None = None) -> tuple[list[Row], list[LineInfo]]:
    """Rows of the page (display or not) and the per-line info, in block/line order of `page_dict`; `counts`, if
    given, receives the page's character counts for the density score."""
    lines: list[LineInfo] = []
    for bi, b in enumerate(page_dict.get("blocks", ())):
        if b.get("type", 0) != 0:
            continue
        for li, line in enumerate(b.get("lines", ())):
            info = line_info(bi, li, line, counts)
            if info.n:
                lines.append(info)
    width = page_width or page_dict.get("width") or 612.0
    bases: list[list[float]] = []
    cols = _columns(lines, width, bases)
    for x in lines:
        x.column = _assign(x, cols, bases if len(cols) > 1 else None)
    rows: list[Row] = []
    for ci in range(-1, len(cols)):
        col = sorted((x for x in lines if x.column == ci), key=lambda x: x.baseline)
        band: list[LineInfo] = []
        base = size = 0.0
        for x in col:
            # one row = one baseline, give or take a sub/superscript shift (TeX: <= 0.45 em); the numerator and
            # denominator of a fraction (~0.68 em) and the rows of a matrix are rows of their own
            if band and abs(x.baseline - base) <= 0.45 * size:
                band.append(x)
                continue
            rows.extend(_classified(_segments(band, ci, cols), cols))
            band, base, size = [x], x.baseline, max(x.size, 4.0)
        rows.extend(_classified(_segments(band, ci, cols), cols))
    _set_apart(rows)
    for r in rows:
        if r.display and not r.numbered and r.n <= 4 and _attached(r, rows):
            r.display = r.mathy = r.short = False
    _not_beside_code(rows, lines, cols)
    _not_inline(rows, lines)
    return rows, lines


def _not_inline(rows: list[Row], lines: list[LineInfo]) -> None:
    """Unnumbered display rows that are pieces of a prose line: a line of words ends or starts within 2 em of the
    row, on its strip (the two overlap by >= 35% of the prose line's height). TeX sets a display apart from the
    text on its own lines; an inline formula whose glyphs sit off the text baseline (a radical's surd and index,
    `\sqrt[n]{a}`, in a narrow column) makes a row of its own beside its words (2026-12-05)."""
    cand = [r for r in rows if r.display and not r.numbered]
    if not cand:
        return
    prose = [x for x in lines if x.words >= 2 and x.words >= 0.5 * x.n and x.math <= 0.25 * x.n]
    for r in cand:
        own = {id(x) for x in r.lines}
        x0, x1 = min(x.x0 for x in r.lines), max(x.x1 for x in r.lines)
        y0, y1 = min(x.y0 for x in r.lines), max(x.y1 for x in r.lines)
        size = max(x.size for x in r.lines)
        for x in prose:
            if id(x) in own or x.y1 <= y0 or x.y0 >= y1:
                continue
            gap = max(x.x0 - x1, x0 - x.x1)
            if -0.3 * size <= gap <= 2 * size and min(y1, x.y1) - max(y0, x.y0) >= 0.35 * x.height:
                r.display = False
                break


# A column holding this many candidate display rows that each share their strip with a code or text cell is a table
# (a command table of a package manual, a code | result table), not displays; 1-2 such rows off the code's baseline
# are kept (a display environment set beside its source in a manual, amsmath's guide, is a display by the labels'
# rule). Known loss: such a display on the same baseline as its code is taken for a table row by `_classified`.
TABLE_CELLS = 3


def _not_beside_code(rows: list[Row], lines: list[LineInfo], cols: list[tuple[float, float]]) -> None:
    """Unnumbered display rows that are really cells of a table or the typeset result of a code example.

    - table cells: >= TABLE_CELLS display rows of one column each with a code or prose cell on its strip (the
      vertical extent of its main line), whatever their baselines (a big operator or a multi-row cell shifts the
      math cell off the baseline of its neighbours, so the band test of `_classified` does not see them);
    - a code result: a row right under a centred line of code with no display skip between them (a `center` block
      of code followed by its typeset result, as numerica's manual sets `\eval{...} ==> result`): TeX puts
      \abovedisplayskip above a display, a centred block stacks its lines at the baseline distance.
    A numbered row is a display whatever its neighbours."""
    cand = [r for r in rows if r.display and not r.numbered]
    if not cand:
        return
    cols_of = {r.column for r in cand}
    # the only lines that can veto: code or prose lines of a column with a candidate (none in most paper columns)
    cells = [x for x in lines if x.column in cols_of and not (x.eqno_x0 is not None and x.n <= 8) and _code_or_prose(x)]
    if not cells:
        return
    cells.sort(key=lambda x: x.y0)
    tops = [x.y0 for x in cells]
    beside = [r for r in cand if _beside(r, cells, tops)]
    for c in {r.column for r in beside}:
        in_col = [r for r in beside if r.column == c]
        if len(in_col) >= TABLE_CELLS:
            for r in in_col:
                r.display = False
    code = [x for x in cells if x.mono >= 5 and x.mono >= 0.5 * x.n and x.column >= 0
            and _centred(x.x0, x.x1, cols[x.column])]
    for r in cand:
        if r.display and code and _after_code(r, code):
            r.display = False


def _code_or_prose(x: LineInfo) -> bool:
    """Code (mostly monospaced) or prose (mostly words in text fonts); digits, operators and `sin` are neither."""
    return (x.mono >= 2 and x.mono >= 0.5 * x.n) or (x.n >= 4 and x.words - x.mono >= 0.6 * x.n)


def _beside(r: Row, cells: list[LineInfo], tops: list[float]) -> bool:
    """A code or prose line (`cells`, sorted by top, `tops` their tops) of the same column shares the row's strip
    (overlaps >= half the smaller height). Lines much taller or larger than the row (a rotated watermark, a
    sideways table's caption) are not neighbours."""
    own = {id(x) for x in r.lines}
    core = max(r.lines, key=lambda x: x.n)
    lo = bisect.bisect_left(tops, core.y0 - 2.5 * core.height)  # a neighbour is at most 2.5 row heights tall
    hi = bisect.bisect_right(tops, core.y1)
    for x in cells[lo:hi]:
        if x.column != r.column or id(x) in own:
            continue
        ov = min(core.y1, x.y1) - max(core.y0, x.y0)
        if ov >= 0.5 * min(core.height, x.height) and x.height <= 2.5 * core.height and x.size <= 1.5 * core.size:
            return True
    return False


def _after_code(r: Row, code: list[LineInfo]) -> bool:
    """A centred line of code (`code`: >= 5 monospaced characters, most of the line) ends less than 0.6 em above
    the row."""
    top = min(x.y0 for x in r.lines)
    size = max(x.size for x in r.lines)
    return any(x.column == r.column and top - 0.6 * size < x.y1 <= top + 0.2 * size for x in code)


def _centred(x0: float, x1: float, col: tuple[float, float]) -> bool:
    """Centred in the column (as `_classify` asks of a short display) and not flush with its left edge."""
    left, right = col
    width = right - left
    return abs((x0 + x1) / 2 - (left + right) / 2) <= 0.06 * width and x0 - left >= 0.04 * width


def _set_apart(rows: list[Row]) -> None:
    """A math row flush with the column's left edge (`fleqn` with no \\mathindent, a long formula) is a display
    when TeX set it apart: the baseline distance to the rows above and below exceeds the column's prose baseline
    distance by at least 0.4 em (\\abovedisplayskip / \\belowdisplayskip), where prose lines follow each other."""
    by_col: dict[int, list[Row]] = {}
    for r in rows:
        if r.column >= 0:
            by_col.setdefault(r.column, []).append(r)
    for col_rows in by_col.values():
        if not any(r.mathy and not r.display for r in col_rows):
            continue
        col_rows.sort(key=lambda r: r.lines[0].baseline)
        base = [min(x.baseline for x in r.lines) for r in col_rows]
        ns = [r.n for r in col_rows]
        words = [sum(x.words for x in r.lines) for r in col_rows]
        is_prose = [n >= 20 and w >= 0.6 * n for n, w in zip(ns, words)]
        prose = [base[i + 1] - base[i] for i in range(len(col_rows) - 1) if is_prose[i] and is_prose[i + 1]]
        if len(prose) < 3:
            continue
        prose.sort()
        step = prose[len(prose) // 2]
        piece = [n <= 3 and not w for n, w in zip(ns, words)]  # limits, an integral sign, a numerator
        for i, r in enumerate(col_rows):
            if not r.mathy or r.display or r.short or sum(x.strong for x in r.lines) < 2:
                continue
            # the nearest rows that are not pieces of this formula
            up = next((j for j in range(i - 1, -1, -1) if not piece[j]), None)
            down = next((j for j in range(i + 1, len(col_rows)) if not piece[j]), None)
            if up is None or down is None:
                continue
            size = max(x.size for x in r.lines)
            above = base[i] - base[up]
            below = base[down] - max(x.baseline for x in r.lines)
            if above >= step + 0.4 * size and below >= step + 0.4 * size:
                r.display = True


def _attached(r: Row, rows: list[Row]) -> bool:
    """A small row (<= 4 characters) that touches a row of words right above or below it, over the same x range, is an accent or a limit
    of those words (the arrows under `lim` in a table), not a display of its own: TeX sets a display apart by
    \\abovedisplayskip / \\belowdisplayskip."""
    x0, x1 = min(x.x0 for x in r.lines), max(x.x1 for x in r.lines)
    top, bottom = min(x.y0 for x in r.lines), max(x.y1 for x in r.lines)
    size = max(x.size for x in r.lines)
    for o in rows:
        if o is r or o.display or o.mathy or o.column != r.column or sum(x.words for x in o.lines) < 0.5 * o.n:
            continue
        ox0, ox1 = min(x.x0 for x in o.lines), max(x.x1 for x in o.lines)
        if min(x1, ox1) - max(x0, ox0) <= 0:
            continue
        gap = max(top - max(x.y1 for x in o.lines), min(x.y0 for x in o.lines) - bottom)
        if gap < 0.3 * size:
            return True
    return False


def _classified(segments: list[Row], cols: list[tuple[float, float]]) -> list[Row]:
    """Classify the segments of one band. A band with a segment of text, code or numbers beside a math segment is a
    table row (a header cell `sigma_calc` beside `1168`, a code cell `$a.b$` beside its typeset `a.b`), not a
    display: the math cells are left as text. (Before 2026-12-05 a code cell did not count: command tables of
    package manuals were routed as displays.)"""
    for r in segments:
        _classify(r, cols)
    if not any(r.numbered for r in segments) and _grid([x for r in segments for x in r.lines]):
        for r in segments:
            r.display = r.numbered = False
        return segments
    if len(segments) > 1 and any(r.display for r in segments) and any(
            not r.mathy
            and not all(x.eqno_x0 is not None and x.n <= 8 for x in r.lines) for r in segments):
        for r in segments:
            r.display = r.numbered = False
    return segments


def _grid(band: list[LineInfo]) -> bool:
    """A row of a symbol chart or a table of short cells (`Γ ∆ Θ Λ Ξ Π Σ Υ`, `··· ··· ···`): six or more pieces
    side by side, nearly all of 1-3 characters and nearly all apart by 0.5 em or more. A matrix row has fewer
    entries (or longer ones); a numbered row (`S = ◦, ◦, ◦ (1)` between drawn pieces) is a display whatever its
    pieces."""
    if len(band) < 6:
        return False
    band = sorted(band, key=lambda x: x.x0)
    size = max(x.size for x in band)
    small = sum(x.n <= 3 for x in band)
    apart = sum(b.x0 - a.x1 >= 0.5 * size for a, b in zip(band, band[1:]))
    return small >= 0.8 * len(band) and apart >= 0.8 * (len(band) - 1)


def _segments(band: list[LineInfo], ci: int, cols: list[tuple[float, float]]) -> list[Row]:
    """Split one horizontal band at wide gaps (code beside its result, table cells); an equation number stays with
    the formula to its left."""
    if not band:
        return []
    width = (cols[ci][1] - cols[ci][0]) if ci >= 0 else 400.0
    band = sorted(band, key=lambda x: x.x0)
    out = [Row([band[0]], ci)]
    right = band[0].x1
    for x in band[1:]:
        is_number = x.eqno_x0 is not None and x.n <= 8
        if x.x0 - right > 0.12 * width and not is_number:
            out.append(Row([x], ci))
        else:
            out[-1].lines.append(x)
        right = max(right, x.x1)
    return out


def _classify(r: Row, cols: list[tuple[float, float]]) -> None:
    """Display or not, from the row's characters and its place in its column.

    Math rows (>= 40% math characters, <= 35% prose-word characters) of 3+ characters are displays when indented
    from the column's left edge or numbered at its right edge. A numbered row needs only one math character (a
    turnstile between two letters, `x (3)`). Rows of 1-2 characters (a lone `x`, `\\nabla^2`, an arrow) are displays only
    when they hold math and no word and stand centred in the column: inline maths never does that."""
    n = r.n
    math = sum(x.math for x in r.lines)
    words = sum(x.words for x in r.lines)
    rightmost = max(r.lines, key=lambda x: x.x1)
    eqno = rightmost.eqno_n if rightmost.eqno_x0 is not None else 0
    body_n = n - eqno
    if not (math >= 1 and body_n >= 1 and math >= 0.4 * body_n and words <= 0.35 * n):
        return
    short = body_n < 3 or math < 2
    if short and (words or body_n > 2):
        return
    # code in the row: a formula set beside its source (a table row `$a.b$  a.b  a.b`); TeX's displays hold no
    # monospaced text (a numbered row is kept whatever it holds)
    if sum(x.mono for x in r.lines) >= 2 and not eqno:
        return
    r.mathy = not short
    if r.column < 0:  # a line wider than its column: a long display with its number, or a line across columns
        r.numbered = eqno > 0 and not short
        r.display = r.numbered
        return
    left_col, right_col = cols[r.column]
    width = right_col - left_col
    r.numbered = eqno > 0 and rightmost.x1 >= right_col - 0.05 * width
    if short:
        x0 = min(x.x0 for x in r.lines)
        x1 = max(x.x1 for x in r.lines) if not r.numbered else max(
            (x.x1 for x in r.lines if x is not rightmost), default=rightmost.eqno_x0)
        centred = abs((x0 + x1) / 2 - (left_col + right_col) / 2) <= 0.06 * width and x0 - left_col >= 0.2 * width
        r.display = r.numbered or centred
        r.mathy = r.short = r.display
        return
    indented = min(x.x0 for x in r.lines) - left_col >= 0.04 * width
    r.display = indented or r.numbered


def display_groups(rows: list[Row]) -> list[list[Row]]:
    """The displays of a page: each a run of rows of one column, in baseline order, around at least one display
    row, with the small rows that belong to it (a numerator, a limit, a delimiter piece, the equation number).

    A row joins the display above it when it has no prose (few words) and starts within 1.2 line heights of the
    display's last row; small rows just above a display's first row join it too.
    """
    groups: list[list[Row]] = []
    by_col: dict[int, list[Row]] = {}
    for r in rows:
        by_col.setdefault(r.column, []).append(r)

    def top(r: Row) -> float:
        return min(x.y0 for x in r.lines)

    def bottom(r: Row) -> float:
        return max(x.y1 for x in r.lines)

    def small(r: Row) -> bool:
        return r.display or sum(x.words for x in r.lines) <= 0.35 * r.n or r.n <= 3

    for col_rows in by_col.values():
        col_rows.sort(key=lambda r: min(x.baseline for x in r.lines))
        cur: list[Row] | None = None
        taken: set[int] = set()
        for i, r in enumerate(col_rows):
            size = max(x.size for x in r.lines)
            if cur is not None and small(r) and top(r) - max(bottom(x) for x in cur) <= 1.2 * size:
                cur.append(r)
                taken.add(i)
                continue
            cur = None
            if r.display:
                cur = [r]
                taken.add(i)
                j = i - 1  # small rows just above (a numerator, an upper limit, the top piece of a bracket)
                while j >= 0 and j not in taken and small(col_rows[j]) and not col_rows[j].display \
                        and top(cur[0]) - bottom(col_rows[j]) <= 1.2 * size:
                    cur.insert(0, col_rows[j])
                    taken.add(j)
                    j -= 1
                groups.append(cur)
    return groups
