"""A user lexicon: whole-word replacements applied to the speakable text as it streams.

Two kinds of entry, with one case rule each:

* exact entries match only the spelling written (``SQL`` matches ``SQL``, not ``sql``);
* any-case entries match in any letter case (``k8s`` matches ``k8s``, ``K8s``, ``K8S``).

The replacement is spoken as written, except that its first letter is upper-cased when the
matched text starts with an upper-case letter, so a sentence start stays one for the
segmenter (``SQL is`` -> ``Sequel is``, ``k8s`` -> ``kubernetes``, ``K8s`` -> ``Kubernetes``).

Whole word: an entry whose first (last) character is a letter, digit or ``_`` does not match
right after (before) another one, so ``SQL`` is not replaced inside ``MySQL`` nor ``SQLite``;
Chinese and Japanese characters are no word characters here (they are written without
spaces), so ``Qwen模型`` is replaced. Where two entries could match at one place the longer
one wins, then the exact one; matches do not overlap and a replacement is not looked at again.

``LexiconStream`` applies a lexicon to text that arrives in pieces: it holds back only a tail
that may still become a match (a prefix of an entry, at most the longest entry's length), so
the result never depends on how the text was split, and a replacement that spans two deltas
is still made. Time is linear in the text (with the longest entry as the constant).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bridge.core.errors import ConfigError
from bridge.text._chars import CJK_CLASS

__all__ = ["MAX_ENTRIES", "MAX_WORD_CHARS", "Lexicon", "LexiconStream"]

MAX_WORD_CHARS = 64  # longest entry (characters)
MAX_ENTRIES = 10_000
_MAX_REPLACEMENT = 256
_WORD = f"[^\\W{CJK_CLASS}]"  # a letter, digit or "_" of a script written with spaces


@functools.cache
def _word_re() -> re.Pattern[str]:
    """``_WORD`` compiled, on the first lexicon entry (compiling its CJK ranges takes a few ms,
    which a command without a lexicon does not pay)."""
    return re.compile(_WORD)


def _check(word: str, replacement: str, where: str) -> None:
    if not isinstance(word, str) or not word.strip() or word != word.strip():
        raise ConfigError(f"{where}: {word!r} is not a word to replace", field="lexicon")
    if len(word) > MAX_WORD_CHARS or any(c in word for c in "\r\n"):
        raise ConfigError(
            f"{where}: {word[:20]!r}... is longer than {MAX_WORD_CHARS} characters or spans lines",
            field="lexicon",
        )
    if not isinstance(replacement, str):
        raise ConfigError(f"{where}: the replacement of {word!r} must be text", field="lexicon")
    if not replacement.strip() or len(replacement) > _MAX_REPLACEMENT or "\n" in replacement:
        raise ConfigError(
            f"{where}: the replacement of {word!r} must be 1 to {_MAX_REPLACEMENT} characters "
            "on one line",
            field="lexicon",
        )


def _pattern(word: str, any_case: bool) -> str:
    body = re.escape(word)
    if any_case:
        body = f"(?i:{body})"
    if _word_re().match(word[0]):
        body = f"(?<!{_WORD}){body}"
    if _word_re().match(word[-1]):
        body = f"{body}(?!{_WORD})"
    return body


@dataclass(frozen=True, slots=True, eq=False)
class Lexicon:
    """Compiled replacements; build it with ``Lexicon.build(exact=..., any_case=...)``."""

    exact: Mapping[str, str]
    any_case: Mapping[str, str]  # keys lower-cased
    _regex: re.Pattern[str] = field(repr=False, compare=False)
    _prefixes: frozenset[str] = field(repr=False, compare=False)  # exact spellings
    _folded_prefixes: frozenset[str] = field(repr=False, compare=False)  # any-case, lower
    longest: int = 0

    @classmethod
    def build(
        cls,
        *,
        exact: Mapping[str, str] | None = None,
        any_case: Mapping[str, str] | None = None,
        source: str = "lexicon",
    ) -> Lexicon:
        """A lexicon of ``exact`` and ``any_case`` entries (word -> replacement).

        Raises ``ConfigError`` (naming ``source``) for an empty or over-long word or
        replacement, or an any-case word given twice in different cases."""
        exact = dict(exact or {})
        folded: dict[str, str] = {}
        for word, replacement in (any_case or {}).items():
            _check(word, replacement, source)
            key = word.lower()
            if key in folded:
                raise ConfigError(f"{source}: {word!r} is given twice", field="lexicon")
            folded[key] = replacement
        for word, replacement in exact.items():
            _check(word, replacement, source)
        if len(exact) + len(folded) > MAX_ENTRIES:
            raise ConfigError(f"{source}: more than {MAX_ENTRIES} entries", field="lexicon")
        # Longest first, exact before any-case at one length: the regex takes the first
        # alternative that matches at the leftmost place.
        entries = [(w, False) for w in exact] + [(w, True) for w in folded]
        entries.sort(key=lambda e: (-len(e[0]), e[1]))
        regex = re.compile("|".join(_pattern(w, a) for w, a in entries) or "(?!)")
        return cls(
            exact=MappingProxyType(exact),
            any_case=MappingProxyType(folded),
            _regex=regex,
            _prefixes=frozenset(w[:k] for w in exact for k in range(1, len(w) + 1)),
            _folded_prefixes=frozenset(w[:k] for w in folded for k in range(1, len(w) + 1)),
            longest=max((len(w) for w, _ in entries), default=0),
        )

    def __bool__(self) -> bool:
        return bool(self.exact or self.any_case)

    def replacement(self, matched: str) -> str:
        """What ``matched`` (a match of this lexicon) is spoken as."""
        text = self.exact.get(matched)
        if text is None:
            text = self.any_case[matched.lower()]
        if matched[:1].isupper() and text[:1].islower():
            text = text[:1].upper() + text[1:]
        return text

    def may_start(self, tail: str) -> bool:
        """Whether ``tail`` (text at the end of what has arrived) may still begin a match."""
        return tail in self._prefixes or tail.lower() in self._folded_prefixes

    def apply(self, text: str) -> str:
        """The whole ``text`` with every replacement made."""
        stream = self.stream()
        return stream.feed(text) + stream.flush()

    def stream(self) -> LexiconStream:
        return LexiconStream(self)


class LexiconStream:
    """Applies a ``Lexicon`` to text that arrives in pieces (one instance per turn)."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._buf = " "  # the pending text, after one character of context
        self._pos = 1

    def feed(self, text: str) -> str:
        """Add text; return the text that is final so far, replacements made."""
        if not self.lexicon:
            return text
        self._buf += text
        return self._run(eof=False)

    def flush(self) -> str:
        """End of the text: return the rest; the stream starts again."""
        out = self._run(eof=True) if self.lexicon else ""
        self._buf, self._pos = " ", 1
        return out

    def _held(self, pos: int, eof: bool) -> int:
        """The first place at or after ``pos`` whose match is not decided yet."""
        buf = self._buf
        n = len(buf)
        if eof:
            return n
        lex = self.lexicon
        for t in range(max(pos, n - lex.longest), n):
            if lex.may_start(buf[t:]):
                return t
        return n

    def _run(self, eof: bool) -> str:
        lex = self.lexicon
        buf = self._buf
        pos = self._pos
        held = self._held(pos, eof)
        out: list[str] = []
        while True:
            m = lex._regex.search(buf, pos)
            if m is None or m.start() >= held:
                break
            # Decided: every entry that could match here lies within the text (and its
            # following character too), so the text to come cannot change this match.
            out.append(buf[pos : m.start()])
            out.append(lex.replacement(m.group()))
            pos = m.end()
            if pos > held:
                held = self._held(pos, eof)
        if held > pos:
            out.append(buf[pos:held])
            pos = held
        keep = max(pos - 1, 0)  # one character of context for the next word boundary
        self._buf = buf[keep:]
        self._pos = pos - keep
        return "".join(out)
