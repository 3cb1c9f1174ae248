"""Character classes shared by the scrubber and the segmenter (pure data and predicates)."""

from __future__ import annotations

import re
import string
import unicodedata

__all__ = [
    "BULLETS",
    "CJK_CLASS",
    "CJK_RE",
    "CLAUSE_WIDE",
    "CLOSERS",
    "EMOJI_CLASS",
    "OPENERS",
    "TERMINATORS",
    "WIDE_TERMINATORS",
    "is_ascii_alnum",
    "is_cjk",
    "is_punct",
]

# Han (with extensions and compatibility ideographs), kana, bopomofo, Hangul syllables,
# half-width katakana. These scripts are written without spaces between words, so a
# character is the unit for counting, and any boundary between two of them is a cut point.
# CJK punctuation (U+3000-U+3004, U+3008-U+3020, full-width forms) is deliberately excluded.
CJK_CLASS = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u3100-\u312f\u3190-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
CJK_RE = re.compile(f"[{CJK_CLASS}]")

# Sentence terminators. The full-width ones (and a half-width one right after a CJK
# character) end a sentence without a following space; the ellipsis does too, unless the
# text goes on in lower case.
TERMINATORS = ".!?…‥‼⁇⁈⁉。！？｡．"
WIDE_TERMINATORS = "。！？｡．"
# Clause marks of the CJK scripts: a cut point with no following space.
CLAUSE_WIDE = "，、；：﹐﹑﹔﹕"

# Closing quotes and brackets stay with the sentence they close; openers are skipped when
# looking at the word before a terminator.
CLOSERS = "\"'”’»›)]}」』》〉】〕）］｝〗〙〛＂＇"
OPENERS = "\"'“‘«‹([{「『《〈【〔（［｛¿¡"
BULLETS = "•◦▪‣⁃"

# Emoji and pictographs, with the invisible characters that build emoji sequences
# (variation selector 16, keycap, skin tones, tag characters). Zero-width joiners are only
# removed inside an emoji run, because other scripts use them.
EMOJI_CLASS = (
    "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u20e3\U0001f000-\U0001faff\U000e0020-\U000e007f"
)

_ASCII_PUNCT = frozenset(string.punctuation)


def is_cjk(ch: str) -> bool:
    """True for one character of a script written without spaces (Han, kana, Hangul)."""
    return CJK_RE.match(ch) is not None


def is_ascii_alnum(ch: str) -> bool:
    """True for an ASCII letter or digit (the sides of ``2*3`` and ``snake_case``)."""
    return ch.isascii() and ch.isalnum()


def is_punct(ch: str) -> bool:
    """Unicode punctuation or symbol, as CommonMark's flanking rules define it."""
    if not ch:
        return False
    if ch in _ASCII_PUNCT:
        return True
    return unicodedata.category(ch)[0] in "PS"
