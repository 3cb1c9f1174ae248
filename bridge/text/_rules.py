"""What the word before a full stop says about the full stop (pure data and lookups).

A period after an ordinary word ends a sentence when the next visible character is not
lower case. The words below change that:

* titles (``Mr.``, ``Dr.``) never end a sentence: a name follows;
* "never" abbreviations (``e.g.``, ``i.e.``, ``vs.``) are read through as well;
* ambiguous abbreviations (``Inc.``, ``Co.``, ``Jr.``, ``etc.``, ``a.m.``, ``U.S.``, single
  initials, and numeric prefixes such as ``No.``, ``p.``, ``Fig.``) do not end a sentence
  before a number, and before a capitalised word only when that word typically starts a
  sentence (``He``, ``The``, ``How``…), which needs the whole next word;
* closing abbreviations (``a.m.``, ``p.m.``, ``etc.``, ``usw.``, units such as ``lbs.``,
  ``km.``, ``hrs.``, and any short word right after a number: ``9 h.``, ``5 m.``) close a
  phrase: before a capitalised word they end the sentence, unless the word has the shape of
  a continuation, an acronym such as a time zone ("6 p.m. EST");
* a small number before a month name is an ordinal ("am 12. März"), and so is one after a
  German article or preposition ("zum 3. Mal");
* a list label (``1.``, ``b.``) at the head of a sentence is not an end either.

The token before the period is classified together with the token before it, so spaced
abbreviations (``z. B.``, ``p. ej.``, ``p. ex.``, ``EE. UU.``) read as one. Sentence openers
are listed for English, Spanish, German and French; shape rules (no vowel, doubled capitals,
a number before a short word) cover abbreviations that no list names.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = ["MONTHS", "STARTERS", "TokenClass", "classify_token", "is_list_label", "next_label"]


class TokenClass(Enum):
    """How a period after a token is treated."""

    WORD = "word"
    TITLE = "title"
    NEVER = "never"
    AMBIGUOUS = "ambiguous"
    CLOSING = "closing"
    NUMBER = "number"


_TITLES = frozenset(
    "mr mrs ms mx dr prof rev gen col capt cpt lt sgt cpl pvt maj adm cmdr gov sen rep "
    "pres hon messrs mmes mme mlle supt insp brig "
    # Spanish, German, French
    "sra srta srtas dña dra dres lic ing arq hrn mm".split()
)
_NEVER = frozenset(
    (
        "e.g i.e eg ie cf viz vs approx incl esp resp w.r.t a.k.a ca c.f "
        # Spanish, German, French (spaced forms are joined: "z. B." reads as "z.b")
        "p.ej ej aprox z.b d.h u.a o.a o.ä u.ä v.a s.o s.u bzw evtl ggf vgl inkl zzgl exkl "
        "sog u.u i.d.r p.ex env"
    ).split()
)
_NUMERIC = frozenset(
    (
        "no nos nr n° p pp fig figs vol vols ch chap sec sect art para eq eqs ref refs op pt "
        "pts tab ex ed ver v núm pág págs cap abs bd kap tel tlf hnr av avda bd "
        # German, Spanish and French references before a number: "Abb. 3", "párr. 2"
        "abb anm aufl hrsg jg lfd ziff abschn bsp tz núms párr fasc éd"
    ).split()
)
_AMBIGUOUS = frozenset(
    (
        "inc ltd co corp llc plc bros jr sr al dept univ assn est ave blvd rd st hwy mt "
        "ph.d m.d b.a m.a b.sc m.sc jan feb mar apr jun jul aug sep sept oct nov dec "
        "mon tue tues wed thu thur thurs fri sat sun govt intl natl misc "
        # Spanish, German, French
        "ud uds vd vds sres gmbh hbf jh jhd okt dez mär"
    ).split()
)
# Weekday abbreviations that are also words ("so", "do"): only in their capitalised form.
_AMBIGUOUS_EXACT = frozenset("Mo Di Mi Do Fr Sa So".split())
_CLOSING = frozenset(
    (
        "a.m p.m etc usw etc.pp hr hrs min mins sec secs ms oz lb lbs kg mg km cm mm ml sq "
        "gal qt yr yrs mo mos wk wks ft yd yds mi mph kph"
    ).split()
)
_ORDINAL_BEFORE = frozenset("vom zum zur bis ab seit der den dem des im beim".split())
MONTHS = frozenset(
    (
        "Januar Jänner Februar März April Mai Juni Juli August September Oktober November "
        "Dezember Jan Feb Mär Apr Jun Jul Aug Sep Sept Okt Nov Dez"
    ).split()
)
_NUMBER = re.compile(r"\d{1,3}")
_ANY_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NO_VOWEL = re.compile(r"[B-DF-HJ-NP-TV-XZb-df-hj-np-tv-xz][b-df-hj-np-tv-xz]{1,4}")
_DOUBLED = re.compile(r"(?:([A-Z])\1)+")
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_LABEL = re.compile(r"\d{1,3}|[A-Za-z]")

# Words that commonly open an English sentence. After an ambiguous abbreviation, one of
# these means the abbreviation ended the sentence ("I live in the U.S. How about you?");
# any other capitalised word means it did not ("the U.S. Government").
STARTERS = (
    frozenset(
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
    )
    | frozenset(
        "I’m I’ve I’ll I’d They’re He’s She’s It’s We’re You’re What’s Here’s There’s Let’s "
        "Don’t".split()
    )
    | frozenset(
        (
            # Spanish
            "El La Los Las Lo Un Una Unos Unas Yo Tú Él Ella Ellos Ellas Nosotros Usted Es Era Fue "
            "Son Está Hay Pero Y O Entonces Luego Después Antes Hoy Mañana Ayer Sí Gracias Por "
            "Para Con Sin En Cuando Como Donde Este Esta Esto Ese Esa Eso Aquí Allí También "
            "Además Mi Su Nuestro Muchos Muchas Todo Todos Cada Ahora Primero "
            # German
            "Der Die Das Den Dem Des Ein Eine Einen Einem Ich Du Er Sie Wir Mein Meine Dein Sein "
            "Seine Unser Aber Und Oder Dann Danach Heute Morgen Gestern Ja Nein Danke Bitte Wenn "
            "Als Wo Wie Was Warum Wer Im Am Auf Mit Für Von Zu Bei Nach Seit Dieser Diese Dieses "
            "Hier Dort Auch Noch Jetzt Nun Viele Jeder Jede Zuerst Deshalb Trotzdem "
            # French
            "Le Les Une Des Il Elle Ils Elles Nous Vous Je J'ai J’ai C'est C’est Ce Cette Ces "
            "Mais Et Ou Donc Alors Puis Ensuite Enfin Aujourd'hui Aujourd’hui Demain Hier Oui "
            "Non Merci Si Quand Où Pourquoi Comment Qui Que Quel Quelle Dans Pour Avec Sans Après "
            "Avant Depuis Pendant Mon Ma Mes Son Sa Ses Notre Votre Leur Chaque Tous Voici Voilà"
        ).split()
    )
)


def classify_token(core: str, previous: str = "") -> TokenClass:
    """Classify the token before a single period.

    ``core`` has no leading quotes or brackets; ``previous`` is the token before it in the
    same sentence (with its own period, if any), or ``""``.
    """
    # up to three letters and the period before: "etc. pp." reads as "etc.pp" like "z. B."
    if previous.endswith(".") and 0 < len(previous) <= 4 and len(core) <= 3:
        joined = f"{previous[:-1]}.{core}".lower()  # "z. B." -> "z.b"
        if joined in _NEVER:
            return TokenClass.NEVER
        if joined in _CLOSING:
            return TokenClass.CLOSING
    low = core.lower()
    if low in _TITLES:
        return TokenClass.TITLE
    if low in _NEVER:
        return TokenClass.NEVER
    if low in _CLOSING:
        return TokenClass.CLOSING
    if _ANY_NUMBER.fullmatch(previous) and len(core) <= 3 and core.isalpha():
        return TokenClass.CLOSING  # a unit after a number: "9 h.", "5 m.", "12 in."
    if _NUMBER.fullmatch(core):
        return TokenClass.NEVER if previous.lower() in _ORDINAL_BEFORE else TokenClass.NUMBER
    if (
        low in _NUMERIC
        or low in _AMBIGUOUS
        or core in _AMBIGUOUS_EXACT
        or _INITIALS.fullmatch(core) is not None
        or _DOUBLED.fullmatch(core) is not None  # Spanish plural initials: "EE. UU."
        or _NO_VOWEL.fullmatch(core) is not None  # no vowel, no word: "Str", "Nr", "Bd" (not "TV")
        or (low.endswith("str") and len(low) > 3)  # German street names: "Hauptstr."
    ):
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
