"""History trimming: newest turns within a turn count and a character budget, from a user turn."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.conversation import Conversation
from bridge.core.errors import ConfigError


def roles(conv: Conversation) -> list[str]:
    return [m["role"] for m in conv.messages()]


def test_a_turn_count_trim_never_leaves_an_assistant_turn_first() -> None:
    conv = Conversation("S", max_turns=4)
    for i in range(5):
        conv.add_user(f"q{i}")
        assert roles(conv)[:2] == ["system", "user"]
        conv.add_assistant(f"a{i}")
    assert [t.text for t in conv.turns] == ["q3", "a3", "q4", "a4"]


def test_the_character_budget_keeps_the_newest_turns_that_fit() -> None:
    conv = Conversation("S" * 10, max_chars=40)
    for i in range(4):
        conv.add_user(f"question {i}")  # 10 characters
        conv.add_assistant(f"answer {i}")  # 8 characters
    conv.add_user("question 4")
    messages = conv.messages()
    # 10 (system) + 10 + 8 + 10 = 38 fits; one more assistant turn would start the history.
    assert [m["content"] for m in messages] == ["S" * 10, "question 3", "answer 3", "question 4"]
    assert len(conv.turns) == 9  # the budget trims what is sent, the count what is kept


def test_the_newest_user_turn_is_kept_even_alone_over_the_budget() -> None:
    conv = Conversation("system prompt", max_chars=20)
    conv.add_user("short")
    conv.add_assistant("reply")
    conv.add_user("x" * 50)
    assert conv.messages() == [
        {"role": "system", "content": "system prompt"},
        {"role": "user", "content": "x" * 50},
    ]


def test_nothing_is_dropped_within_the_bounds_and_the_bounds_are_checked() -> None:
    conv = Conversation(max_turns=10, max_chars=1000)
    conv.add_assistant("Hello, how can I help?")  # a greeting first is the caller's choice
    conv.add_user("Hi")
    assert roles(conv) == ["assistant", "user"]
    with pytest.raises(ConfigError):
        Conversation(max_chars=0)


@given(
    st.lists(st.tuples(st.integers(1, 60), st.integers(0, 60)), min_size=1, max_size=25),
    st.integers(1, 12),
    st.integers(1, 300),
    st.integers(0, 50),
)
def test_every_request_starts_with_a_user_turn_within_both_bounds(
    exchanges: list[tuple[int, int]], max_turns: int, max_chars: int, system: int
) -> None:
    conv = Conversation("s" * system, max_turns=max_turns, max_chars=max_chars)
    for asked, answered in exchanges:
        conv.add_user("u" * asked)
        messages = conv.messages()
        turns = messages[1:] if system else messages
        assert turns[0]["role"] == "user" and turns[-1] == {"role": "user", "content": "u" * asked}
        assert len(turns) <= max_turns
        if len(turns) > 1:  # only the newest user turn may go over the budget
            assert sum(len(m["content"]) for m in messages) <= max_chars
        conv.add_assistant("a" * answered)
