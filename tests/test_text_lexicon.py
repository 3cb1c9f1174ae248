"""The user lexicon: whole-word, case-aware replacements in the speech text, whatever the split."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.adapters.lexicon_file import parse_lexicon, read_lexicon, read_lexicon_dir
from bridge.core.errors import ConfigError
from bridge.text import Lexicon, split_speech


def lex() -> Lexicon:
    # built inside each test (not at import), so a mutation tester sees which tests build it
    return Lexicon.build(
        exact={"Qwen": "chwen", "SQL": "sequel", "Node.js": "node J S", "C++": "C plus plus"},
        any_case={"k8s": "kubernetes", "通义": "Tong Yi", "gpt": "G P T", "gpt-4o": "G P T four O"},
    )


def streamed(lexicon: Lexicon, parts: list[str]) -> str:
    stream = lexicon.stream()
    return "".join(stream.feed(p) for p in parts) + stream.flush()


def splits(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    parts, i = [], 0
    while i < len(text):
        k = rng.randint(1, 6)
        parts.append(text[i : i + k])
        i += k
    return parts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # exact entries: only that spelling; the first letter follows the matched text
        ("I like Qwen. SQL is old.", "I like Chwen. Sequel is old."),
        ("qwen and sql stay, QWEN too.", "qwen and sql stay, QWEN too."),
        # any-case entries: every case; a capital first letter stays a capital
        ("k8s, K8s and K8S.", "kubernetes, Kubernetes and Kubernetes."),
        # whole words only: not inside a longer word, but next to punctuation
        ("MySQL, SQLite, SQL_x and xk8s stay.", "MySQL, SQLite, SQL_x and xk8s stay."),
        ("(SQL), Qwen's k8s-cluster: SQL!", "(Sequel), Chwen's kubernetes-cluster: Sequel!"),
        # entries with punctuation inside or at the end
        ("Node.js and C++ work. C+ does not.", "Node J S and C plus plus work. C+ does not."),
        # Chinese and Japanese are no word characters: a Latin word next to them is whole
        ("用Qwen模型和通义千问。", "用Chwen模型和Tong Yi千问。"),
        # the longer entry wins where both match; no replacement is looked at twice
        ("GPT-4o beats gpt.", "G P T four O beats G P T."),
        ("sequel SQL", "sequel Sequel"),
    ],
)
def test_replacements_are_whole_word_and_case_aware(text: str, expected: str) -> None:
    assert lex().apply(text) == expected
    for seed in range(20):
        assert streamed(lex(), splits(text, seed)) == expected
    assert streamed(lex(), list(text)) == expected


def test_a_replacement_that_spans_deltas_is_made_and_nothing_else_is_held() -> None:
    stream = lex().stream()
    assert stream.feed("We run it on k") == "We run it on "  # "k" may begin "k8s"
    assert stream.feed("8") == ""
    assert stream.feed("s and S") == "kubernetes and "  # "S" may begin "SQL"
    assert stream.feed("ome more") == "Some more"  # no entry starts "Some": all of it out
    assert stream.flush() == ""


def test_an_empty_lexicon_passes_text_through_at_once() -> None:
    stream = Lexicon.build().stream()
    assert stream.feed("Qwen k") == "Qwen k"
    assert stream.flush() == ""


FRAGMENTS = [
    "Qwen", "SQL", "sql", "k8s", "K8S", "Node", ".js", "C++", "gpt", "-4o", "GPT-4o", "通义",
    " ", ".", ",", "x", "My", "_", "'s", "\n", "模型", "Q", "k", "8", "S", "N", "+",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
    st.lists(st.integers(1, 7), min_size=1, max_size=20),
)
def test_the_result_never_depends_on_the_split(text: str, sizes: list[int]) -> None:
    parts, i, k = [], 0, 0
    while i < len(text):
        parts.append(text[i : i + sizes[k % len(sizes)]])
        i, k = i + sizes[k % len(sizes)], k + 1
    assert streamed(lex(), parts) == lex().apply(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="QwenSQLk8s .", max_size=30))
def test_text_without_a_whole_entry_passes_unchanged(text: str) -> None:
    lexicon = Lexicon.build(exact={"Qwen SQL": "x"}, any_case={"k8s k8s": "y"})
    if "Qwen SQL" not in text and "k8s k8s" not in text.lower():
        assert lexicon.apply(text) == text


def test_the_segmenter_sees_the_replacements_and_a_capital_still_starts_a_sentence() -> None:
    text = "Use SQL. SQL is fast. Then k8s. K8s scales."
    for size in (1, 2, 3, 50):
        deltas = [text[i : i + size] for i in range(0, len(text), size)]
        segments = split_speech(deltas, first_clause=False, min_chars=0, lexicon=lex())
        assert segments == [
            "Use Sequel.",  # the matched text starts with a capital
            "Sequel is fast.",
            "Then kubernetes.",
            "Kubernetes scales.",
        ]


@pytest.mark.parametrize(
    ("exact", "any_case", "needle"),
    [
        ({"": "x"}, {}, "is not a word"),
        ({" SQL": "x"}, {}, "is not a word"),
        ({"SQL": ""}, {}, "must be 1 to 256"),
        ({"SQL": "a\nb"}, {}, "must be 1 to 256"),
        ({"x" * 65: "y"}, {}, "longer than 64"),
        ({}, {"K8s": "a", "k8S": "b"}, "given twice"),
    ],
)
def test_bad_entries_are_config_errors(
    exact: dict[str, str], any_case: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        Lexicon.build(exact=exact, any_case=any_case, source="my.toml")


# -- the TOML file -------------------------------------------------------------------------------


def test_a_lexicon_file(tmp_path: Path) -> None:
    path = tmp_path / "tech.toml"
    text = '[exact]\nQwen = "chwen"\n\n[any-case]\nk8s = "kubernetes"\n'
    path.write_text(text, encoding="utf-8")
    assert read_lexicon(path).apply("Qwen on K8S") == "Chwen on Kubernetes"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('Qwen = "chwen"', "unknown table or key 'Qwen'"),
        ("[words]\nQwen = 'c'", "unknown table or key 'words'"),
        ("[exact]\nQwen = 3", "must be a replacement text"),
        ("exact = 3", "must be a table"),
        ("[exact]\nQwen = ", "is not valid TOML"),
        ("[exact]\n'' = 'x'", "is not a word"),
        ("[exact]\n[any_case]\n[any-case]", "given twice"),
    ],
)
def test_lexicon_file_errors_name_the_file(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_lexicon(text, source="/etc/lex.toml")
    assert needle in str(info.value) and "/etc/lex.toml" in str(info.value)


def test_lexicon_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lexicon file not found"):
        read_lexicon(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_bytes(b"[exact]\nx = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_lexicon(tmp_path / "bad.toml")


def test_a_lexicon_directory_offers_its_files_by_name(tmp_path: Path) -> None:
    (tmp_path / "tech.toml").write_text('[exact]\nSQL = "sequel"\n', encoding="utf-8")
    (tmp_path / "names.zh.toml").write_text('[exact]\n"通义" = "Tong Yi"\n', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a lexicon", encoding="utf-8")
    found = read_lexicon_dir(tmp_path)
    assert list(found) == ["names.zh", "tech"]
    assert found["tech"].apply("SQL") == "Sequel"
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be a lexicon name"):
        read_lexicon_dir(tmp_path)
    with pytest.raises(ConfigError, match="lexicon directory not found"):
        read_lexicon_dir(tmp_path / "nope")


# -- the rules at their edges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exact", "any_case", "message"),
    [
        ({"": "x"}, {}, "my.toml: '' is not a word to replace"),
        ({}, {"a\rb": "x"}, "my.toml: 'a\\rb'... is longer than 64 characters or spans lines"),
        (
            {"y" * 65: "x"},
            {},
            f"my.toml: {'y' * 20!r}... is longer than 64 characters or spans lines",
        ),
        ({"SQL": 3}, {}, "my.toml: the replacement of 'SQL' must be text"),
        (
            {"SQL": "x" * 257},
            {},
            "my.toml: the replacement of 'SQL' must be 1 to 256 characters on one line",
        ),
        ({}, {"K8s": "a", "k8S": "b"}, "my.toml: 'k8S' is given twice"),
    ],
)
def test_entry_errors_name_the_source_the_entry_and_the_field(
    exact: dict[str, Any], any_case: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Lexicon.build(exact=exact, any_case=any_case, source="my.toml")
    assert str(info.value) == message
    assert info.value.field == "lexicon"


def test_errors_without_a_source_say_lexicon() -> None:
    with pytest.raises(ConfigError, match=r"^lexicon: ' k8s' is not a word"):
        Lexicon.build(any_case={" k8s": "x"})


def test_the_longest_word_and_replacement_allowed() -> None:
    word, replacement = "w" * 64, "r" * 256
    lexicon = Lexicon.build(exact={word: replacement, "XML": "ex em el"})
    assert lexicon.apply(f"a {word} b XML.") == f"a {replacement} b Ex em el."  # "XML": a capital
    assert lexicon.longest == 64
    assert Lexicon.build().longest == 0


def test_the_number_of_entries_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    import bridge.text.lexicon as module

    monkeypatch.setattr(module, "MAX_ENTRIES", 4)  # the real cap (10 000) takes long to compile
    assert Lexicon.build(exact={"a": "x", "b": "x"}, any_case={"c": "x", "d": "x"})
    with pytest.raises(ConfigError) as info:
        Lexicon.build(exact={"a": "x", "b": "x"}, any_case={"c": "x", "d": "x", "e": "x"})
    assert str(info.value) == "lexicon: more than 4 entries"
    assert info.value.field == "lexicon"


def test_whole_word_rule_looks_at_the_first_and_last_characters() -> None:
    # "A.I" starts and ends with a letter: not inside "XA.I" nor "A.Is"; "C++" ends with "+"
    lexicon = Lexicon.build(exact={"A.I": "A I", "C++": "C plus plus"})
    assert lexicon.apply("A.I and XA.I and A.Is.") == "A I and XA.I and A.Is."
    assert lexicon.apply("C++x and xC++.") == "C plus plusx and xC++."


def test_a_capital_is_given_to_the_replacements_first_letter_only() -> None:
    lexicon = Lexicon.build(any_case={"iphone": "iPhone"})
    assert lexicon.apply("Iphone or iphone.") == "IPhone or iPhone."


def test_a_stream_starts_again_after_flush() -> None:
    stream = lex().stream()
    assert stream.feed("Use SQ") == "Use "
    assert stream.flush() == "SQ"
    assert stream.feed("abc SQL") == "abc "
    assert stream.flush() == "Sequel"
    assert stream.feed("SQL is") == "Sequel is"  # a new turn: its start is a word boundary


def test_a_match_that_ends_inside_the_held_back_text_releases_what_follows_it() -> None:
    # "b c" may begin "b c d", so the text from "b" is held; the match "a b" then ends past
    # that point, and what follows it (" c", which begins no entry) is out at once
    lexicon = Lexicon.build(exact={"a b": "X", "b c d": "Y"})
    stream = lexicon.stream()
    assert stream.feed("x a b c") == "x X c"
    assert stream.feed(" e") == " e"
    assert stream.flush() == ""
