"""TeX math-font glyphs to Unicode, for the cheap route's text.

MuPDF maps a glyph to Unicode through the font's ToUnicode CMap or, failing that, through the glyph's name (Adobe
Glyph List). pdfTeX embeds Computer Modern / AMS / Latin Modern Type 1 fonts with their built-in encoding and no
ToUnicode, so MuPDF falls back on the glyph names, and two things go wrong:
- the math extension font (CMEX, Latin Modern's LMMathExtension, Euler's EUEX) has names that are in no glyph list
  (`integraldisplay`, `parenleftbigg`, `summationtext`): MuPDF gives the raw character code, so `\\int` comes out as
  "Z", `\\sum` as "P" or "X", a big parenthesis as U+0012;
- the pieces of extensible delimiters (`parenlefttp`, `bracketleftex`, ...) are in the Adobe Glyph List, but mapped
  to Adobe's private-use code points (U+F8E5-U+F8FF).
`fix_text(font, text)` undoes both: the code table below is the cmex10 layout (Knuth, cmex10.mf; LM and the Euler
extension font keep it), and the private-use table is the Adobe Glyph List's mapping read backwards onto the
Miscellaneous Technical block (U+239B-U+23AE). Whatever private-use or control code point is left in any font is
dropped: it names nothing a reader (or a tokenizer) can use. Type 3 fonts (bitmap PK fonts) go through the same
path: pdfTeX gives them glyph names too.
"""

from __future__ import annotations

import re

# cmex10 (and lmex10, euex10): character code -> Unicode. Sized variants map to the plain character; extensible
# pieces to the Miscellaneous Technical pieces; the horizontal brace tips to nothing (they are drawn, not read).
_CMEX = {
    0x00: "(", 0x01: ")", 0x02: "[", 0x03: "]", 0x04: "\u230A", 0x05: "\u230B", 0x06: "\u2308", 0x07: "\u2309",
    0x08: "{", 0x09: "}", 0x0A: "\u27E8", 0x0B: "\u27E9", 0x0C: "\u2223", 0x0D: "\u2225", 0x0E: "/", 0x0F: "\\",
    0x10: "(", 0x11: ")", 0x12: "(", 0x13: ")", 0x14: "[", 0x15: "]", 0x16: "\u230A", 0x17: "\u230B",
    0x18: "\u2308", 0x19: "\u2309", 0x1A: "{", 0x1B: "}", 0x1C: "\u27E8", 0x1D: "\u27E9", 0x1E: "/", 0x1F: "\\",
    0x20: "(", 0x21: ")", 0x22: "[", 0x23: "]", 0x24: "\u230A", 0x25: "\u230B", 0x26: "\u2308", 0x27: "\u2309",
    0x28: "{", 0x29: "}", 0x2A: "\u27E8", 0x2B: "\u27E9", 0x2C: "/", 0x2D: "\\", 0x2E: "/", 0x2F: "\\",
    0x30: "\u239B", 0x31: "\u239E", 0x32: "\u23A1", 0x33: "\u23A4", 0x34: "\u23A3", 0x35: "\u23A6",
    0x36: "\u23A2", 0x37: "\u23A5", 0x38: "\u23A7", 0x39: "\u23AB", 0x3A: "\u23A9", 0x3B: "\u23AD",
    0x3C: "\u23A8", 0x3D: "\u23AC", 0x3E: "\u23AA", 0x3F: "\u23D0", 0x40: "\u239D", 0x41: "\u23A0",
    0x42: "\u239C", 0x43: "\u239F", 0x44: "\u27E8", 0x45: "\u27E9", 0x46: "\u2A06", 0x47: "\u2A06",
    0x48: "\u222E", 0x49: "\u222E", 0x4A: "\u2A00", 0x4B: "\u2A00", 0x4C: "\u2A01", 0x4D: "\u2A01",
    0x4E: "\u2A02", 0x4F: "\u2A02", 0x50: "\u2211", 0x51: "\u220F", 0x52: "\u222B", 0x53: "\u22C3",
    0x54: "\u22C2", 0x55: "\u2A04", 0x56: "\u22C0", 0x57: "\u22C1", 0x58: "\u2211", 0x59: "\u220F",
    0x5A: "\u222B", 0x5B: "\u22C3", 0x5C: "\u22C2", 0x5D: "\u2A04", 0x5E: "\u22C0", 0x5F: "\u22C1",
    0x60: "\u2210", 0x61: "\u2210", 0x62: "\u02C6", 0x63: "\u02C6", 0x64: "\u02C6", 0x65: "\u02DC",
    0x66: "\u02DC", 0x67: "\u02DC", 0x68: "[", 0x69: "]", 0x6A: "\u230A", 0x6B: "\u230B", 0x6C: "\u2308",
    0x6D: "\u2309", 0x6E: "{", 0x6F: "}", 0x70: "\u221A", 0x71: "\u221A", 0x72: "\u221A", 0x73: "\u221A",
    0x74: "\u23B7", 0x75: "", 0x76: "", 0x77: "\u2225", 0x78: "\u2191", 0x79: "\u2193", 0x7A: "", 0x7B: "",
    0x7C: "", 0x7D: "", 0x7E: "\u21D1", 0x7F: "\u21D3",
}
# Adobe Glyph List private-use code points (Symbol font pieces) -> Unicode.
_AGL_PUA = {
    0xF8E5: "\u203E", 0xF8E6: "\u23D0", 0xF8E7: "\u23AF", 0xF8E8: "\u00AE", 0xF8E9: "\u00A9", 0xF8EA: "\u2122",
    0xF8EB: "\u239B", 0xF8EC: "\u239C", 0xF8ED: "\u239D", 0xF8EE: "\u23A1", 0xF8EF: "\u23A2", 0xF8F0: "\u23A3",
    0xF8F1: "\u23A7", 0xF8F2: "\u23A8", 0xF8F3: "\u23A9", 0xF8F4: "\u23AA", 0xF8F5: "\u23AE", 0xF8F6: "\u239E",
    0xF8F7: "\u239F", 0xF8F8: "\u23A0", 0xF8F9: "\u23A4", 0xF8FA: "\u23A5", 0xF8FB: "\u23A6", 0xF8FC: "\u23AB",
    0xF8FD: "\u23AC", 0xF8FE: "\u23AD",
}
# Cork (T1) encoding, the positions that differ from Latin-1: pdfTeX embeds T1 text fonts as Type 3 bitmap fonts
# (PK, glyph names /a0../a255 that say nothing) when the cm-super Type 1 fonts are not installed, so MuPDF can only
# give the character code. ASCII letters, digits and most punctuation sit at their ASCII codes; these do not.
_T1 = {
    0x00: "`", 0x01: "\u00B4", 0x02: "\u02C6", 0x03: "\u02DC", 0x04: "\u00A8", 0x05: "\u02DD", 0x06: "\u02DA",
    0x07: "\u02C7", 0x08: "\u02D8", 0x09: "\u00AF", 0x0A: "\u02D9", 0x0B: "\u00B8", 0x0C: "\u02DB", 0x0D: "\u201A",
    0x0E: "\u2039", 0x0F: "\u203A", 0x10: "\u201C", 0x11: "\u201D", 0x12: "\u201E", 0x13: "\u00AB", 0x14: "\u00BB",
    0x15: "\u2013", 0x16: "\u2014", 0x17: "", 0x18: "0", 0x19: "\u0131", 0x1A: "\u0237", 0x1B: "ff", 0x1C: "fi",
    0x1D: "fl", 0x1E: "ffi", 0x1F: "ffl", 0x20: "\u2423", 0x7F: "-",
    0x80: "\u0102", 0x81: "\u0104", 0x82: "\u0106", 0x83: "\u010C", 0x84: "\u010E", 0x85: "\u011A", 0x86: "\u0118",
    0x87: "\u011E", 0x88: "\u0139", 0x89: "\u013D", 0x8A: "\u0141", 0x8B: "\u0143", 0x8C: "\u0147", 0x8D: "\u014A",
    0x8E: "\u0150", 0x8F: "\u0154", 0x90: "\u0158", 0x91: "\u015A", 0x92: "\u0160", 0x93: "\u015E", 0x94: "\u0164",
    0x95: "\u0162", 0x96: "\u0170", 0x97: "\u016E", 0x98: "\u0178", 0x99: "\u0179", 0x9A: "\u017D", 0x9B: "\u017B",
    0x9C: "IJ", 0x9D: "\u0130", 0x9E: "\u0111", 0x9F: "\u00A7",
    0xA0: "\u0103", 0xA1: "\u0105", 0xA2: "\u0107", 0xA3: "\u010D", 0xA4: "\u010F", 0xA5: "\u011B", 0xA6: "\u0119",
    0xA7: "\u011F", 0xA8: "\u013A", 0xA9: "\u013E", 0xAA: "\u0142", 0xAB: "\u0144", 0xAC: "\u0148", 0xAD: "\u014B",
    0xAE: "\u0151", 0xAF: "\u0155", 0xB0: "\u0159", 0xB1: "\u015B", 0xB2: "\u0161", 0xB3: "\u015F", 0xB4: "\u0165",
    0xB5: "\u0163", 0xB6: "\u0171", 0xB7: "\u016F", 0xB8: "\u00FF", 0xB9: "\u017A", 0xBA: "\u017E", 0xBB: "\u017C",
    0xBC: "ij", 0xBD: "\u00A1", 0xBE: "\u00BF", 0xBF: "\u00A3", 0xD7: "\u0152", 0xDF: "SS", 0xF7: "\u0153",
    0xFF: "\u00DF",
}
_T1_TR = {k: v for k, v in _T1.items() if k != 0x20}  # a space decoded as a space is a space

# Fonts in TeX's math extension encoding (OMX): Computer/Latin Modern, Euler, tx/px/newtx, kpfonts, Fourier, MathDesign.
_EXTENSION_FONT = re.compile(r"(^|\+)(CMEX\d*|LMMathExtension|EUEX\d*|r?n?txexa?|pxexa?|eurmex|Kp-+M-Ex|"
                             r"Fourier-Math-Extension|MathDesign-[\w-]*-Ex)", re.IGNORECASE)
# Private use (BMP and planes 15/16), C0/C1 controls other than tab/newline, U+FFFD.
_UNUSABLE = re.compile("[\uE000-\uF8FF\U000F0000-\U0010FFFF\x00-\x08\x0B-\x1F\x7F-\x9F\uFFFD]")
_EXT_CODE = {chr(k): v for k, v in _CMEX.items()}
_T1_CODES = re.compile("[\x00-\x1F\x7F-\xBF\xD7\xDF\xF7\xFF]")
_PUA_TR = {k: v for k, v in _AGL_PUA.items()}


def is_extension_font(font: str) -> bool:
    return bool(_EXTENSION_FONT.search(font or ""))


def fix_text(font: str, text: str, type3: bool = False) -> str:
    """The span's text with TeX math-extension codes and Adobe private-use pieces mapped, unusable points dropped.

    type3: the span's font is a Type 3 font with uninformative glyph names (pdfTeX's bitmap fonts): its character
    codes are read as Cork (T1), the encoding that makes pdfTeX fall back on bitmap fonts.
    """
    if type3:
        if _T1_CODES.search(text):
            text = text.translate(_T1_TR)
    elif is_extension_font(font):
        text = "".join(_EXT_CODE.get(c, c) if c < "\x80" else c for c in text)
    if _UNUSABLE.search(text):
        text = _UNUSABLE.sub("", text.translate(_PUA_TR))
    return text


def has_unusable(text: str) -> bool:
    return bool(_UNUSABLE.search(text))
