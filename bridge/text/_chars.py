"""Character classes: the project's one script-aware classification (pure data and predicates)."""

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
    "HANGUL_CLASS",
    "OPENERS",
    "SPACELESS_PUNCT_CLASS",
    "TERMINATORS",
    "WIDE_TERMINATORS",
    "is_ascii_alnum",
    "is_cjk",
    "is_punct",
    "is_spaceless",
    "is_wide",
]

# The one script-aware character classification of the project. Every question of the form
# "is this CJK / wide / written without spaces" is answered here (the heard-text word cut,
# ``speakable_join``, the chat captions, the emulator's engines).
#
# Han (with extensions and compatibility ideographs), kana, bopomofo, half-width katakana.
# These scripts are written without spaces between words, so a character is the unit for
# counting, and any boundary between two of them is a cut point. Hangul is NOT here: Korean
# separates words with spaces, so it is cut and joined like Latin text (see ``HANGUL_CLASS``).
# Thai, Lao, Khmer and Myanmar have no spaces between words but do between phrases and
# sentences; without a dictionary the only safe word boundary is a space, so they are
# treated like Latin text too. CJK punctuation (U+3000-U+3004, U+3008-U+3020, full-width
# forms) is deliberately excluded from the letters (see ``SPACELESS_PUNCT_CLASS``).
CJK_CLASS = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u3100-\u312f\u3190-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
CJK_RE = re.compile(f"[{CJK_CLASS}]")
# Punctuation of the CJK scripts, which takes no space before or after it: CJK symbols and
# punctuation, vertical and small forms, full-width ASCII variants and the half-width
# katakana punctuation.
SPACELESS_PUNCT_CLASS = (
    "\u3000-\u3004\u3008-\u3020\u3030\u303d-\u303f\ufe10-\ufe1f\ufe30-\ufe6f\uff00-\uff65"
)
# Hangul Jamo, compatibility Jamo, extended Jamo A and B, syllables.
HANGUL_CLASS = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"
_SPACELESS_RE = re.compile(f"[{CJK_CLASS}{SPACELESS_PUNCT_CLASS}]")
_WIDE_RE = re.compile(f"[{CJK_CLASS}{SPACELESS_PUNCT_CLASS}{HANGUL_CLASS}]")

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
    """True for one letter of a script written without spaces (Han, kana, bopomofo)."""
    return CJK_RE.match(ch) is not None


def is_spaceless(ch: str) -> bool:
    """True for a character that takes no space next to it: a Chinese or Japanese letter or
    CJK punctuation. Text may be cut on either side of it, and joined to its neighbour
    without a space. False for Hangul (Korean uses spaces), Latin, Thai, emoji, ""."""
    return _SPACELESS_RE.fullmatch(ch) is not None


def is_wide(ch: str) -> bool:
    """True for a character spoken as one syllable and drawn double width: the spaceless
    characters and Hangul (a syllable block each). For timing, not for spacing."""
    return _WIDE_RE.fullmatch(ch) is not None


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
