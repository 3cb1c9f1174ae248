"""System prompts: built-in names, files by path, and the errors for neither."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bridge.adapters.prompts import list_prompts, load_prompt, prompts_directory
from bridge.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = [
    "assistant",
    "assistant.zh",
    "concise",
    "concise.zh",
    "storyteller",
    "storyteller.zh",
]


def test_the_checkout_prompts_are_found() -> None:
    assert prompts_directory() == ROOT / "prompts"
    assert list_prompts() == BUILT_IN


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_built_in_prompt_is_spoken_style_text(name: str) -> None:
    text = load_prompt(name)
    assert text == text.strip() and len(text) > 100
    # The prompts themselves follow the rules they ask for: no markdown, lists or links.
    assert not re.search(r"^\s*(#|[-*•]\s|\d+\.\s)|\*\*|`|https?://", text, re.MULTILINE)
    if name.endswith(".zh"):
        assert re.search(r"[\u4e00-\u9fff]", text)
    else:
        assert text.isascii()


def test_a_path_loads_that_file(tmp_path: Path) -> None:
    path = tmp_path / "pirate.txt"
    path.write_text("\n  Talk like a pirate.  \n", encoding="utf-8")
    assert load_prompt(str(path)) == "Talk like a pirate."
    # A relative path with a directory works too, and so does the repository's own file.
    assert load_prompt(str(ROOT / "prompts" / "concise.md")) == load_prompt("concise")


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_prompt("no-such-prompt")
    message = str(info.value)
    assert "no-such-prompt" in message
    assert all(name in message for name in BUILT_IN)
    assert info.value.field == "prompt"


def test_missing_file_and_readme_are_not_prompts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_prompt(str(tmp_path / "absent.md"))
    with pytest.raises(ConfigError):
        load_prompt("README")


def test_empty_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        load_prompt(str(empty))
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_prompt(str(binary))


def test_a_directory_of_own_prompts(tmp_path: Path) -> None:
    (tmp_path / "mine.md").write_text("My own prompt.", encoding="utf-8")
    (tmp_path / "mine.de.md").write_text("Mein Prompt.", encoding="utf-8")
    (tmp_path / "README.md").write_text("not a prompt", encoding="utf-8")
    assert list_prompts(directory=tmp_path) == ["mine", "mine.de"]
    assert load_prompt("mine.de", directory=tmp_path) == "Mein Prompt."
    with pytest.raises(ConfigError, match="mine"):
        load_prompt("assistant", directory=tmp_path)
    assert list_prompts(directory=tmp_path / "absent") == []


def test_the_wheel_carries_the_prompts() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"prompts": "bridge/_prompts"}
