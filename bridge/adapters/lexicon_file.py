"""Lexicon files: TOML with an ``[exact]`` and an ``[any_case]`` table of word = replacement.

::

    # ~/.config/bridge/lexicon.toml
    [exact]            # matches only this spelling
    Qwen = "chwen"
    SQL = "sequel"

    [any_case]         # matches in any letter case: k8s, K8s, K8S
    k8s = "kubernetes"
    "通义" = "Tong Yi"   # a word with other than ASCII letters, digits, - and _ is quoted

The rules (whole words, the case of the replacement's first letter) are those of
``bridge.text.Lexicon``. A file that is not UTF-8 TOML, an unknown table, a value that is not
text or a word that cannot be replaced is a ``ConfigError`` naming the file.
``read_lexicon_dir`` reads every ``NAME.toml`` of a directory, for ``bridge serve``, whose
clients choose a lexicon by ``NAME`` and never name files.
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge.core.errors import ConfigError
from bridge.text import Lexicon

__all__ = ["NO_LEXICON", "parse_lexicon", "read_lexicon", "read_lexicon_dir"]

NO_LEXICON = "none"  # the name a client turns the lexicon off with
_MAX_BYTES = 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TABLES = ("exact", "any_case")


def parse_lexicon(text: str, *, source: str) -> Lexicon:
    """The lexicon in TOML ``text`` (``source`` names it in errors)."""
    import tomllib  # only with a lexicon file: its import is ~20 ms of a command's start

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}", field="lexicon") from None
    tables: dict[str, dict[str, str]] = {}
    for name, table in data.items():
        key = name.replace("-", "_")
        if key not in _TABLES:
            raise ConfigError(
                f"{source}: unknown table or key {name!r}; a lexicon has the tables [exact] "
                'and [any_case] of word = "replacement"',
                field="lexicon",
            )
        if key in tables:
            raise ConfigError(f"{source}: [{key}] is given twice", field="lexicon")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {name} must be a table ([{key}])", field="lexicon")
        for word, value in table.items():
            if not isinstance(value, str):
                raise ConfigError(
                    f"{source}: [{key}] {word!r} must be a replacement text, got {value!r}",
                    field="lexicon",
                )
        tables[key] = table
    return Lexicon.build(exact=tables.get("exact"), any_case=tables.get("any_case"), source=source)


def read_lexicon(path: Path) -> Lexicon:
    """Read and parse the lexicon file at ``path``."""
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"lexicon file not found: {path}", field="lexicon") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the lexicon {path}: {exc.strerror}", field="lexicon"
        ) from None
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"{path}: a lexicon is limited to 1 MB", field="lexicon")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", field="lexicon") from None
    return parse_lexicon(text, source=str(path))


def read_lexicon_dir(directory: Path) -> dict[str, Lexicon]:
    """Every ``NAME.toml`` in ``directory``, by ``NAME`` (sorted)."""
    if not directory.is_dir():
        raise ConfigError(f"lexicon directory not found: {directory}", field="lexicon_dir")
    lexicons: dict[str, Lexicon] = {}
    for path in sorted(directory.glob("*.toml")):
        name = path.name[: -len(".toml")]
        if not _NAME.fullmatch(name) or name == NO_LEXICON:
            raise ConfigError(
                f"{path}: {name!r} cannot be a lexicon name (letters, digits, '_', '-', '.'; "
                f"not {NO_LEXICON!r})",
                field="lexicon_dir",
            )
        lexicons[name] = read_lexicon(path)
    return lexicons
