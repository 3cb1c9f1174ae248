"""Markdown line heads and inline patterns for the scrubber (pure data and small functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from bridge.text._chars import EMOJI_CLASS, is_ascii_alnum, is_punct

__all__ = [
    "CODE_INLINE",
    "EMOJI_RUN",
    "FOOTNOTE_PARTIAL",
    "FOOTNOTE_REF",
    "HEAD_LIMIT",
    "INLINE",
    "LATEX_COMMANDS",
    "LATEX_NAME",
    "MATH_INLINE_END",
    "TEXT_EMOJI",
    "THINK_END",
    "THINK_NAMES",
    "Head",
    "HeadKind",
    "classify_head",
    "classify_tag",
    "delimiter_roles",
    "fence_close",
    "host_of",
    "table_cells",
    "url_tail_start",
]

HEAD_LIMIT = 64  # characters of a line looked at before deciding what the line is

_QUOTE_INDENT = re.compile(r"[ \t]*(?:>[ \t]*)*")
_FENCE = re.compile(r"`{3,}|~{3,}")
_HEADING = re.compile(r"#{1,6}(?:[ \t]+|$)")
_RULE_CHARS = frozenset("-*_ \t=|:")
_RULE = re.compile(r"([-*_])(?:[ \t]*\1){2,}[ \t]*|=+[ \t]*")
_TABLE_SEP = re.compile(r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
_LIST = re.compile(r"(?:[-*+•◦▪‣⁃]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
_LIST_PARTIAL = re.compile(r"(?:[-*+•◦▪‣⁃]|\d{1,9}[.)]?)(?:[ \t]+(?:\[(?:[ xX]\]?)?)?)?")

# Characters that are text by default and an emoji with variation selector 16 (U+FE0F);
# "#" and "*" start keycaps (#️⃣). Two squares outside EMOJI_CLASS are emoji even bare.
TEXT_EMOJI = "©®‼⁉™ℹ↔↕↖↗↘↙↩↪Ⓜ▪▫▶◀◻◼〰〽㊗㊙⤴⤵"
_BARE_EMOJI = "◽◾"
INLINE = re.compile(
    f"[\\n\\r*_~`\\[\\]<\\\\$#{TEXT_EMOJI}{_BARE_EMOJI}{EMOJI_CLASS}]|!(?=\\[)|!\\Z|https?://|www\\."
)
CODE_INLINE = re.compile(r"[`\n\r \t]|https?://|www\.")
EMOJI_RUN = re.compile(
    f"(?:[{EMOJI_CLASS}{_BARE_EMOJI}]|[{TEXT_EMOJI}#*]\ufe0f|\u200d[{TEXT_EMOJI}]?){{1,16}}"
)
# A line that starts with a keycap or an emoji and a space is a list item: the emoji is
# the bullet (dropped with the keycap's digit, as a markdown list label is).
_EMOJI_ITEM = re.compile(f"(?:[0-9#*]\ufe0f?\u20e3|{EMOJI_RUN.pattern})[ \t]+")
_EMOJI_ITEM_PARTIAL = re.compile(f"[0-9#*]\ufe0f?|(?:[0-9#*]\ufe0f?\u20e3|{EMOJI_RUN.pattern})")
# A footnote reference "[^3]", "[^note-1]" (dropped), and what may still become one.
FOOTNOTE_REF = re.compile(r"\[\^[^\]\s\[]{1,32}\]")
FOOTNOTE_PARTIAL = re.compile(r"\[\^[^\]\s\[]{0,32}")
_FOOTNOTE_DEF = re.compile(r"\[\^[^\]\s\[]{1,32}\]:")
_FOOTNOTE_DEF_PARTIAL = re.compile(r"\[(?:\^[^\]\s\[]{0,32}\]?)?")
# Math: the end of "$...$" (one line), LaTeX command names, and the commands dropped when
# they appear outside math delimiters (with their brace arguments).
MATH_INLINE_END = re.compile(r"[$\n]")
LATEX_NAME = re.compile(r"[A-Za-z]+")
LATEX_COMMANDS = frozenset(
    (
        "frac dfrac tfrac sqrt sum prod int iint oint lim infty alpha beta gamma delta epsilon "
        "varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
        "phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega times cdot "
        "cdots ldots dots div pm mp leq geq le ge neq ne approx equiv sim propto notin subset "
        "subseteq supset cup cap forall exists partial nabla rightarrow leftarrow Rightarrow "
        "Leftarrow Leftrightarrow mapsto left right text textbf textit mathrm mathbf mathit "
        "mathbb mathcal operatorname begin end quad qquad hat bar vec overline underline log ln "
        "sin cos tan exp binom boxed displaystyle "
        # symbols, relations, arrows, operators and fonts models also write outside math
        "ell hbar aleph emptyset varnothing prime deg to gets in ni mid nmid setminus perp "
        "parallel angle circ ast star bullet oplus otimes odot wedge vee land lor neg lnot "
        "implies iff leftrightarrow longrightarrow longleftarrow Longrightarrow uparrow "
        "downarrow langle rangle lceil rceil lfloor rfloor lvert rvert lVert rVert vert Vert "
        "ll gg simeq cong asymp doteq prec succ preceq succeq subsetneq supseteq bigcup "
        "bigcap bigoplus bigotimes coprod max min sup inf arg det dim ker gcd bmod pmod sinh "
        "cosh tanh arcsin arccos arctan sec csc cot limits mathsf mathtt mathfrak mathscr "
        "tilde dot ddot widehat widetilde overrightarrow underbrace overbrace stackrel cfrac "
        "dbinom tbinom big Big bigg Bigg varpi varrho varsigma Upsilon dagger ddagger "
        "checkmark triangle square Re Im"
    ).split()
)
THINK_NAMES = frozenset({"think", "thinking"})
THINK_END = re.compile(r"</think(?:ing)?\s*>", re.IGNORECASE)
_TAG = re.compile(r"(/?)([A-Za-z][A-Za-z0-9:._-]*)(\s[^<>]*?)?\s*(/?)")
# Inline HTML that models write glued to words ("word<br>", "x<sup>2</sup>"); any other
# name right after a letter is more likely a generic type ("List<String>").
_GLUED_TAGS = frozenset("br b i u s em strong sup sub span small mark code a del ins think".split())
_AUTOLINK = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*")
_EMAIL = re.compile(r"(?:mailto:)?([^\s@<>]+@[^\s@<>]+)")
_HOST = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^\s/@?#]*@)?([^\s/?#:<>\"']*)")


class HeadKind(Enum):
    """What the start of a line is."""

    PLAIN = "plain"
    HEADING = "heading"
    ITEM = "item"
    RULE = "rule"  # horizontal rule, setext underline, table separator: drop the line
    FOOTNOTE = "footnote"  # a footnote definition "[^3]: ...": drop the line
    TABLE = "table"
    FENCE = "fence"


@dataclass(frozen=True, slots=True)
class Head:
    """A classified line head: its kind and how many characters of markup to drop."""

    kind: HeadKind
    skip: int
    fence: str = ""


def classify_head(head: str, complete: bool) -> Head | None:
    """Classify the start of a line; ``None`` when more characters are needed.

    ``head`` is the line up to its newline (``complete``) or its first ``HEAD_LIMIT``
    characters; ``complete`` is also true at the end of the input.
    """
    enough = complete or len(head) >= HEAD_LIMIT
    k = _QUOTE_INDENT.match(head)
    skip = k.end() if k is not None else 0
    rest = head[skip:]
    if not rest:
        return Head(HeadKind.PLAIN, skip) if enough else None
    if rest[0] in "`~":
        m = _FENCE.match(rest)
        if m is not None:
            if m.end() == len(rest) and not enough:
                return None  # the run may go on: "````" needs a closing run of four
            return Head(HeadKind.FENCE, skip, m.group())
        if not enough and len(rest) < 3 and rest == rest[0] * len(rest):
            return None
    if rest[0] == "#":
        if not enough and rest == "#" * len(rest) and len(rest) <= 6:
            return None
        m = _HEADING.match(rest)
        if m is not None:
            if m.end() == len(rest) and not enough:
                return None  # more spaces may follow
            return Head(HeadKind.HEADING, skip + m.end())
    if all(c in _RULE_CHARS for c in rest):
        if not enough:
            return None
        line = rest.rstrip(" \t")
        if _RULE.fullmatch(line) or ("-" in line and _TABLE_SEP.fullmatch(line)):
            return Head(HeadKind.RULE, skip)
    if rest[0] == "|":
        return Head(HeadKind.TABLE, skip)
    if rest[0] == "[":
        if _FOOTNOTE_DEF.match(rest) is not None:
            return Head(HeadKind.FOOTNOTE, skip)
        if not enough and _FOOTNOTE_DEF_PARTIAL.fullmatch(rest) is not None:
            return None
    if not enough and _LIST_PARTIAL.fullmatch(rest):
        return None
    m = _EMOJI_ITEM.match(rest)
    if m is not None:
        if m.end() == len(rest) and not enough:
            return None  # more spaces may follow
        return Head(HeadKind.ITEM, skip + m.end())  # "1️⃣ Buy milk", "✅ Done", "👉 Next"
    if not enough and _EMOJI_ITEM_PARTIAL.fullmatch(rest):
        return None
    m = _LIST.match(rest)
    if m is not None:
        return Head(HeadKind.ITEM, skip + m.end())
    return Head(HeadKind.PLAIN, skip)


def delimiter_roles(char: str, prev: str, nxt: str, after: str) -> tuple[bool, bool]:
    """Can a run of ``char`` (``*``, ``_``, ``~``) open and/or close emphasis?

    CommonMark's flanking rules (``_`` may not open or close inside a word), plus: a
    closer may not be followed by ``.``/``/``/``-`` and a letter (``__init__.py``,
    ``file*.txt``), an opener may not be followed by ``.``/``/``/``\\`` (``*.txt``).
    The caller has already kept runs between two ASCII letters or digits (``2*3``).
    """
    prev_ws, nxt_ws = prev.isspace(), nxt.isspace()
    prev_punct, nxt_punct = is_punct(prev), is_punct(nxt)
    left = not nxt_ws and (not nxt_punct or prev_ws or prev_punct)
    right = not prev_ws and (not prev_punct or nxt_ws or nxt_punct)
    if char == "_":
        can_open = left and (not right or prev_punct)
        can_close = right and (not left or nxt_punct)
    else:
        can_open, can_close = left, right
    if can_close and nxt in "./-" and is_ascii_alnum(after):
        can_close = False
    if can_open and nxt in "./\\":
        can_open = False
    return can_open, can_close


def fence_close(head: str, fence: str) -> bool | None:
    """Inside a fenced block: is this line the closing fence? ``None``: need more."""
    line = head.lstrip(" \t")
    if fence.startswith(line) and len(line) < len(fence):
        return None if len(head) < HEAD_LIMIT else False
    if not line.startswith(fence):
        return False
    return line.rstrip(" \t") == fence[0] * len(line.rstrip(" \t"))


def table_cells(row: str) -> list[str]:
    """The cells of a table row, as GFM splits them: at each ``|`` not escaped by a
    backslash; ``\\|`` in a cell is a literal ``|`` (also inside code). The pipes at the ends
    of the row leave empty cells, which the reader drops with all cells that read as nothing.

    ``| a | **b** |`` -> ``["", "a", "**b**", ""]``; ``| a \\| b |`` -> ``["", "a | b", ""]``.
    """
    cells: list[str] = []
    start = k = 0
    while k < len(row):
        if row[k] == "|":
            cells.append(row[start:k])
            start = k + 1
        k += 2 if row[k] == "\\" else 1  # an escaped character is never a boundary
    cells.append(row[start:])
    return [c.replace("\\|", "|").strip() for c in cells]


def host_of(url: str) -> str:
    """The host name of a URL, without ``www.``: ``https://www.x.org/a`` -> ``x.org``."""
    m = _HOST.match(url)
    host = m.group(1) if m is not None else url
    host = host.rstrip(".-")
    if host.lower().startswith("www.") and len(host) > 4:
        host = host[4:]
    return host


def classify_tag(inner: str, prev: str = " ") -> tuple[str, str]:
    """What ``<inner>`` is: ``("open"|"close"|"self", name)``, ``("url", host)``,
    ``("email", address)``, ``("comment", "")`` or ``("text", "")`` (not markup).

    ``prev`` is the character before ``<``. Attributes need an ``=`` somewhere, so
    ``x<y and z>w`` stays text; an opening tag glued to a word must be common inline HTML.
    """
    if inner.startswith("!--") and inner.endswith("--"):
        return ("comment", "")
    m = _TAG.fullmatch(inner)
    if m is not None:
        closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
        if attrs and "=" not in attrs:
            return ("text", "")
        if not closing and prev.isascii() and prev.isalnum() and name not in _GLUED_TAGS:
            return ("text", "")
        kind = "close" if closing else "self" if m.group(4) else "open"
        return (kind, name)
    if _AUTOLINK.fullmatch(inner) is not None:
        if inner.lower().startswith("mailto:"):
            return ("email", inner[7:])
        return ("url", host_of(inner))
    e = _EMAIL.fullmatch(inner)
    if e is not None:
        return ("email", e.group(1))
    return ("text", "")


def url_tail_start(src: str, i: int, prev: str) -> int:
    """Where a possible start of a bare URL (``htt``, ``https:/``, ``ww``) begins at the
    end of ``src[i:]``, or ``len(src)`` when there is none."""
    n = len(src)
    if n == i or src[-1] not in "htps:/w":
        return n
    for k in range(min(7, n - i), 0, -1):
        tail = src[n - k :]
        if "https://".startswith(tail) or "http://".startswith(tail) or "www".startswith(tail):
            before = src[n - k - 1] if n - k > 0 else prev
            if not (before.isalnum() or before in "/.@:-_"):
                return n - k
    return n
