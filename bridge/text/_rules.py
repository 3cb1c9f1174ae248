"""What the word before a full stop says about the full stop (pure data and lookups).

A period after an ordinary word ends a sentence when the next visible character is not
lower case. The words below change that:

* titles (``Mr.``, ``Dr.``) never end a sentence: a name follows;
* "never" abbreviations (``e.g.``, ``i.e.``, ``vs.``) are read through as well;
* ambiguous abbreviations (``Inc.``, ``Co.``, ``Jr.``, ``etc.``, ``a.m.``, ``U.S.``, single
  initials, and numeric prefixes such as ``No.``, ``p.``, ``Fig.``) do not end a sentence
  before a number, and before a capitalised word only when that word typically starts a
  sentence (``He``, ``The``, ``How``…), which needs the whole next word;
* a list label (``1.``, ``b.``) at the head of a sentence is not an end either.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = ["STARTERS", "TokenClass", "classify_token", "is_list_label", "next_label"]


class TokenClass(Enum):
    """How a period after a token is treated."""

    WORD = "word"
    TITLE = "title"
    NEVER = "never"
    AMBIGUOUS = "ambiguous"


_TITLES = frozenset(
    "mr mrs ms mx dr prof rev gen col capt cpt lt sgt cpl pvt maj adm cmdr gov sen rep "
    "pres hon messrs mmes mme mlle supt insp brig".split()
)
_NEVER = frozenset("e.g i.e eg ie cf viz vs approx incl esp resp w.r.t a.k.a ca c.f".split())
_NUMERIC = frozenset(
    "no nos nr n° p pp fig figs vol vols ch chap sec sect art para eq eqs ref refs op pt "
    "pts tab ex ed ver v".split()
)
_AMBIGUOUS = frozenset(
    (
        "inc ltd co corp llc plc bros jr sr etc al dept univ assn est ave blvd rd st hwy mt "
        "ft ph.d m.d b.a m.a b.sc m.sc jan feb mar apr jun jul aug sep sept oct nov dec "
        "mon tue tues wed thu thur thurs fri sat sun min mins hr hrs oz lb lbs sq govt intl "
        "natl misc gal qt yr yrs mo mos wk wks"
    ).split()
)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_LABEL = re.compile(r"\d{1,3}|[A-Za-z]")

# Words that commonly open an English sentence. After an ambiguous abbreviation, one of
# these means the abbreviation ended the sentence ("I live in the U.S. How about you?");
# any other capitalised word means it did not ("the U.S. Government").
STARTERS = frozenset(
    (
        "I I'm I've I'll I'd A An The This That These Those There Their They They're Then "
        "He He's She She's It It's We We're You You're Your My Our His Her Its What What's "
        "When Where Why How Who Which Whose If In On At As By For From To With Without "
        "After Before During Since Because Although Though While But And So Or Yet Nor "
        "Also However Therefore Thus Hence Meanwhile Moreover Furthermore Still Now Today "
        "Tomorrow Yesterday Here Here's There's Yes No Not Please Let Let's Do Does Did "
        "Don't Is Are Was Were Be Can Could Will Would Should Shall May Might Must Have Has "
        "Had Many Most Some Any All Each Every Both Few One Once Only Just Even Finally First "
        "Second Next Last Other Another Such Note Overall Instead Otherwise Indeed Of "
        "Unfortunately Fortunately Sometimes Often Always Never Perhaps Maybe Well Oh Ok "
        "Okay Sure Thanks Thank"
    ).split()
) | frozenset(
    "I’m I’ve I’ll I’d They’re He’s She’s It’s We’re You’re What’s Here’s There’s Let’s "
    "Don’t".split()
)


def classify_token(core: str) -> TokenClass:
    """Classify the token before a single period (``core`` has no leading quotes/brackets)."""
    low = core.lower()
    if low in _TITLES:
        return TokenClass.TITLE
    if low in _NEVER:
        return TokenClass.NEVER
    if low in _NUMERIC or low in _AMBIGUOUS or _INITIALS.fullmatch(core) is not None:
        return TokenClass.AMBIGUOUS
    if len(core) == 1 and core.isalpha():
        return TokenClass.AMBIGUOUS
    return TokenClass.WORD


def is_list_label(core: str) -> bool:
    """A list label: one to three digits or a single letter (``12``, ``b``)."""
    return _LABEL.fullmatch(core) is not None


def next_label(label: str) -> str | None:
    """The label that follows ``label`` in a list: ``9`` -> ``10``, ``b`` -> ``c``."""
    if label.isdigit():
        return str(int(label) + 1)
    if label in ("z", "Z"):
        return None
    return chr(ord(label) + 1)
