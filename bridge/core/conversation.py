"""A conversation: the system prompt and the turns, as the listener heard them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bridge.core.errors import ConfigError

__all__ = [
    "HISTORY_MAX_CHARS",
    "HISTORY_MAX_TURNS",
    "INTERRUPTED_MARKER",
    "Conversation",
    "ConversationTurn",
]

# Appended to an interrupted assistant turn when it is sent back to the model.
INTERRUPTED_MARKER = " …"

# The history bridge sends to a model by default (``bridge serve``, ``chat`` and ``say``):
# the newest turns within both bounds, so a long conversation does not grow without end.
HISTORY_MAX_TURNS = 40
HISTORY_MAX_CHARS = 32_000


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One turn of a conversation: what the user said, or what the assistant said and was heard."""

    role: Literal["user", "assistant"]
    text: str
    interrupted: bool = False


class Conversation:
    """The system prompt and the turns, as the listener heard them.

    An interrupted assistant turn keeps only the heard text; in ``messages()`` it ends with
    ``INTERRUPTED_MARKER`` (" …") so the model can tell it was cut off. An empty system prompt
    sends no system message.

    Trimming keeps the newest turns within both bounds, dropping the oldest first:

    - ``max_turns``: at most this many turns (user and assistant each count one);
    - ``max_chars``: the characters of every message sent (the system prompt included) stay
      within this budget;

    and then drops any assistant turn left at the front, so the history always starts with a
    user turn (a request is [system, user, ...], which strict chat templates require). The
    newest user turn (with any turn after it) is always kept, even alone over the budget. The
    turn count is applied as turns are added, the character budget in ``messages()`` (the
    system prompt may change). Nothing is dropped while both bounds hold.
    """

    def __init__(
        self,
        system_prompt: str = "",
        *,
        max_turns: int | None = None,
        max_chars: int | None = None,
    ) -> None:
        if max_turns is not None and max_turns < 1:
            raise ConfigError("max_turns must be >= 1 or None", field="max_turns")
        if max_chars is not None and max_chars < 1:
            raise ConfigError("max_chars must be >= 1 or None", field="max_chars")
        self.system_prompt = system_prompt
        self.max_turns = max_turns
        self.max_chars = max_chars
        self._turns: list[ConversationTurn] = []

    @property
    def turns(self) -> tuple[ConversationTurn, ...]:
        return tuple(self._turns)

    def __len__(self) -> int:
        return len(self._turns)

    def add_user(self, text: str) -> ConversationTurn:
        return self._add(ConversationTurn("user", text))

    def add_assistant(self, text: str, *, interrupted: bool = False) -> ConversationTurn:
        return self._add(ConversationTurn("assistant", text, interrupted))

    def _add(self, turn: ConversationTurn) -> ConversationTurn:
        self._turns.append(turn)
        if self.max_turns is not None and len(self._turns) > self.max_turns:
            del self._turns[: len(self._turns) - self.max_turns]
            del self._turns[: _first_user(self._turns)]
        return turn

    def messages(self) -> list[dict[str, str]]:
        """The chat messages to send: the system prompt first, then the turns kept (see the
        class docstring)."""
        out = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        turns = self._turns
        if self.max_chars is not None:
            turns = _within(turns, self.max_chars - len(self.system_prompt))
        out.extend({"role": t.role, "content": _content(t)} for t in turns)
        return out

    def reset(self) -> None:
        """Forget the turns; keep the system prompt."""
        self._turns.clear()


def _content(turn: ConversationTurn) -> str:
    if turn.interrupted:
        return (turn.text.rstrip() + INTERRUPTED_MARKER).lstrip()
    return turn.text


def _within(turns: list[ConversationTurn], budget: int) -> list[ConversationTurn]:
    """The newest turns whose contents fit in ``budget`` characters, from a user turn on."""
    start = len(turns)
    while start > 0 and (size := len(_content(turns[start - 1]))) <= budget:
        budget -= size
        start -= 1
    if start == 0:
        return turns
    kept = turns[start:]
    kept = kept[_first_user(kept) :]
    if not kept:
        users = [i for i, t in enumerate(turns) if t.role == "user"]
        if users:  # the newest user turn alone is over the budget: it is kept anyway
            kept = turns[users[-1] :]
    return kept


def _first_user(turns: list[ConversationTurn]) -> int:
    """The index of the first user turn (``len(turns)`` when there is none)."""
    return next((i for i, t in enumerate(turns) if t.role == "user"), len(turns))
