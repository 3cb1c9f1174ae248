"""System prompts: the built-in spoken-style prompts by name, or any text file by path.

The prompt files live in the repository's top-level ``prompts/`` directory, one ``<name>.md``
each (``assistant``, ``assistant.zh``, ...). The wheel carries the same files as
``bridge/_prompts`` (a hatch ``force-include``), so names resolve in a development checkout and
in an installed package alike. A file's text is sent to the model as it is (surrounding
whitespace removed).
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge.core.errors import ConfigError

__all__ = ["list_prompts", "load_prompt", "prompts_directory"]

_SUFFIX = ".md"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$")
_MAX_BYTES = 256 * 1024
_NOT_PROMPTS = frozenset({"README"})


def prompts_directory() -> Path:
    """Where the built-in prompts are: inside the installed package, else the checkout's."""
    package = Path(__file__).resolve().parent.parent  # bridge/
    installed = package / "_prompts"
    return installed if installed.is_dir() else package.parent / "prompts"


def list_prompts(*, directory: Path | None = None) -> list[str]:
    """The prompt names available in ``directory`` (default: the built-in prompts), sorted."""
    folder = directory if directory is not None else prompts_directory()
    if not folder.is_dir():
        return []
    names = (p.name[: -len(_SUFFIX)] for p in folder.glob(f"*{_SUFFIX}") if p.is_file())
    return sorted(n for n in names if n not in _NOT_PROMPTS)


def load_prompt(name_or_path: str, *, directory: Path | None = None) -> str:
    """Return the text of a prompt given by name (``assistant``, ``assistant.zh``) or by path.

    A name is looked up as ``<name>.md`` in ``directory`` (default: the built-in prompts); any
    other string that names an existing file loads that file. Raises ``ConfigError`` for an
    unknown name (listing the available ones), a missing, unreadable or empty file.
    """
    folder = directory if directory is not None else prompts_directory()
    if _NAME.match(name_or_path) and name_or_path not in _NOT_PROMPTS:
        candidate = folder / f"{name_or_path}{_SUFFIX}"
        if candidate.is_file():
            return _read(candidate)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return _read(path)
    available = ", ".join(list_prompts(directory=folder)) or "none"
    if _NAME.match(name_or_path) and not name_or_path.endswith((_SUFFIX, ".txt")):
        raise ConfigError(
            f"unknown prompt {name_or_path!r}; available: {available}; "
            "or give the path of a text file",
            field="prompt",
        )
    raise ConfigError(
        f"prompt file not found: {name_or_path}; give an existing file or one of: {available}",
        field="prompt",
    )


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise ConfigError(
                f"prompt file {path} is {size} bytes; the limit is {_MAX_BYTES}", field="prompt"
            )
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"prompt file {path} is not UTF-8 text", field="prompt") from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read prompt file {path}: {exc.strerror}", field="prompt"
        ) from exc
    if not text:
        raise ConfigError(f"prompt file {path} is empty", field="prompt")
    return text
