"""Character classes: the project's one script-aware classification (pure data and predicates)."""

from __future__ import annotations

import re
import string
import unicodedata
from bisect import bisect_right
from functools import cache

__all__ = [
    "BULLETS",
    "CJK_CLASS",
    "CLAUSE_WIDE",
    "CLOSERS",
    "EMOJI_CLASS",
    "HANGUL_CLASS",
    "HAN_CLASS",
    "KANA_CLASS",
    "OPENERS",
    "SPACELESS_PUNCT_CLASS",
    "TERMINATORS",
    "WIDE_TERMINATORS",
    "cjk_regex",
    "count_words",
    "for_tts",
    "is_ascii_alnum",
    "is_cjk",
    "is_han",
    "is_punct",
    "is_spaceless",
    "is_wide",
    "is_word_boundary",
    "join_space",
    "words",
]

# The one script-aware character classification of the project. Every question of the form
# "is this CJK / wide / written without spaces / where may a word be cut" is answered here:
# the heard-text word cut and ``speakable_join`` (``bridge.core.heard``), the text appended to
# the speech service (``bridge.pipeline``, the Pipecat integration), the chat captions, the
# emulator's engines, the billing count (``bridge.qwen.protocol``) and the scripted test
# model's tokens.
#
# The rules, by script:
#
# - Han (with extensions and compatibility ideographs), kana, bopomofo, half-width katakana
#   (``CJK_CLASS``): written without spaces between words or sentences. A character is the
#   unit for counting and for cutting (every character is a word); two pieces are joined
#   without a space when either side is one of them or CJK punctuation.
# - Hangul (``HANGUL_CLASS``): Korean separates words and sentences with spaces, so it is cut
#   at spaces and joined with a space, like Latin text. It is "wide" (a syllable a block,
#   drawn double width) for timing only.
# - Thai, Lao, Khmer, Myanmar: no spaces between words, but spaces between phrases and
#   sentences. Without a dictionary (the stdlib has none; a word-breaking library is a heavy
#   dependency for this) the only safe word boundary is a space: a heard Thai prefix is cut
#   back to the last space (a phrase), never into a word, and sentences are joined with a
#   space. A "word" of these scripts is a space-separated phrase (``words``, ``count_words``).
# - Everything else (Latin, Cyrillic, Greek, Arabic, emoji, ...): words are separated by
#   spaces.
#
# CJK punctuation (U+3000-U+3004, U+3008-U+3020, full-width forms) is not a letter (see
# ``SPACELESS_PUNCT_CLASS``): it takes no space next to it, but it is not a word either.
HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
KANA_CLASS = "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
CJK_CLASS = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u3100-\u312f\u3190-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
# Punctuation of the CJK scripts, which takes no space before or after it: CJK symbols and
# punctuation, vertical and small forms, full-width ASCII variants and the half-width
# katakana punctuation.
SPACELESS_PUNCT_CLASS = (
    "\u3000-\u3004\u3008-\u3020\u3030\u303d-\u303f\ufe10-\ufe1f\ufe30-\ufe6f\uff00-\uff65"
)
# Hangul Jamo, compatibility Jamo, extended Jamo A and B, syllables.
HANGUL_CLASS = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7ff"


def _class_bounds(char_class: str) -> tuple[int, ...]:
    """The code points of a character class written as single characters and ``a-b`` ranges
    (as the classes here are, without escapes), as sorted, merged boundaries: ``(start,
    end + 1, start, end + 1, ...)``; ``_in_bounds`` looks a code point up in them.

    The same test as ``re.fullmatch(f"[{char_class}]", ch)`` for one character, without the
    regular expression: compiling a class of the CJK ranges walks every code point in them
    (several ms each on the path to a command's first audio)."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(char_class):
        if i + 2 < len(char_class) and char_class[i + 1] == "-":
            spans.append((ord(char_class[i]), ord(char_class[i + 2]) + 1))
            i += 3
        else:
            spans.append((ord(char_class[i]), ord(char_class[i]) + 1))
            i += 1
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple(bound for span in merged for bound in span)


def _in_bounds(ch: str, bounds: tuple[int, ...]) -> bool:
    """True when ``ch`` is one character inside ``bounds`` (from ``_class_bounds``)."""
    return len(ch) == 1 and bisect_right(bounds, ord(ch)) % 2 == 1


_CJK = _class_bounds(CJK_CLASS)


@cache
def cjk_regex() -> re.Pattern[str]:
    """``CJK_CLASS`` as a regex, for searching text, compiled on first use (it has no ASCII
    character, so a caller may skip ASCII text, ``str.isascii()``, without compiling it)."""
    return re.compile(f"[{CJK_CLASS}]")


_SPACELESS = _class_bounds(CJK_CLASS + SPACELESS_PUNCT_CLASS)
_WIDE = _class_bounds(CJK_CLASS + SPACELESS_PUNCT_CLASS + HANGUL_CLASS)
_HAN = _class_bounds(HAN_CLASS)

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
    return _in_bounds(ch, _CJK)


def is_spaceless(ch: str) -> bool:
    """True for a character that takes no space next to it: a Chinese or Japanese letter or
    CJK punctuation. Text may be cut on either side of it, and joined to its neighbour
    without a space. False for Hangul (Korean uses spaces), Latin, Thai, emoji, ""."""
    return _in_bounds(ch, _SPACELESS)


def is_wide(ch: str) -> bool:
    """True for a character spoken as one syllable and drawn double width: the spaceless
    characters and Hangul (a syllable block each). For timing, not for spacing."""
    return _in_bounds(ch, _WIDE)


def is_han(ch: str) -> bool:
    """True for one Han ideograph (Chinese characters, Japanese kanji), which the speech
    service bills as two characters."""
    return _in_bounds(ch, _HAN)


def join_space(left: str, right: str) -> str:
    """The separator between a piece ending in ``left`` and one starting with ``right``:
    ``""`` next to Chinese or Japanese text or CJK punctuation (on either side), else ``" "``
    (Latin, Korean, Thai, ... and between any two words). Empty sides need no separator."""
    if not left or not right or left.isspace() or right.isspace():
        return ""
    return "" if is_spaceless(left) or is_spaceless(right) else " "


def is_word_boundary(text: str, i: int) -> bool:
    """True when ``text`` may be cut before index ``i`` without splitting a word: at either
    end, next to white space, next to a Chinese/Japanese character or CJK punctuation, or
    where only punctuation is left before the next white space (``there|.`` and ``end|?!"``:
    the word is whole, its silent marks follow; not ``3|.5`` nor ``U|.S.``). Korean, Thai and
    Latin words end only there."""
    if i <= 0 or i >= len(text):
        return True
    left, right = text[i - 1], text[i]
    if left.isspace() or right.isspace() or is_spaceless(left) or is_spaceless(right):
        return True
    if is_punct(left) or not is_punct(right):
        return False
    j = i
    while j < len(text) and not text[j].isspace() and not is_spaceless(text[j]):
        if not is_punct(text[j]):
            return False
        j += 1
    return True


def words(text: str) -> list[str]:
    """The words of ``text``: each Chinese or Japanese character alone, other runs between
    white space whole (a Korean word, a Thai phrase) without the punctuation at their ends;
    CJK punctuation, white space and punctuation standing alone are not words."""
    out: list[str] = []
    word = ""
    for ch in text:
        if ch.isspace() or is_spaceless(ch):
            if word:
                out.append(word)
            word = ""
            if is_cjk(ch):
                out.append(ch)
            continue
        word += ch
    if word:
        out.append(word)
    trimmed = (_strip_punct(w) for w in out)
    return [w for w in trimmed if w]


def _strip_punct(word: str) -> str:
    start, end = 0, len(word)
    while start < end and is_punct(word[start]):
        start += 1
    while end > start and is_punct(word[end - 1]):
        end -= 1
    return word[start:end]


def count_words(text: str) -> int:
    """``len(words(text))``."""
    return len(words(text))


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


def for_tts(text: str) -> str:
    """A segment as it is appended to the TTS: stripped, with a space kept after text written
    with spaces (Latin, Korean, Thai, ...) so appends do not glue words (the space that
    ``speakable_join`` would put before a following word); none after Chinese or Japanese."""
    text = text.strip()
    return text + join_space(text[-1:], "a")
