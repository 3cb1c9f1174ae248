"""A conversation: the system prompt and the turns, as the listener heard them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bridge.core.errors import ConfigError

__all__ = ["INTERRUPTED_MARKER", "Conversation", "ConversationTurn"]

# Appended to an interrupted assistant turn when it is sent back to the model.
INTERRUPTED_MARKER = " …"


@dataclass(frozen=True, slots=True)
class ConversationTurn:
    """One turn of a conversation: what the user said, or what the assistant said and was heard."""

    role: Literal["user", "assistant"]
    text: str
    interrupted: bool = False


class Conversation:
    """The system prompt and the turns, as the listener heard them.

    An interrupted assistant turn keeps only the heard text; in ``messages()`` it ends with
    ``INTERRUPTED_MARKER`` (" …") so the model can tell it was cut off. ``max_turns`` (if set)
    keeps only the newest turns. An empty system prompt sends no system message.
    """

    def __init__(self, system_prompt: str = "", *, max_turns: int | None = None) -> None:
        if max_turns is not None and max_turns < 1:
            raise ConfigError("max_turns must be >= 1 or None", field="max_turns")
        self.system_prompt = system_prompt
        self.max_turns = max_turns
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
        return turn

    def messages(self) -> list[dict[str, str]]:
        """The chat messages to send: the system prompt first, then every turn."""
        out = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        for turn in self._turns:
            text = turn.text
            if turn.interrupted:
                text = (text.rstrip() + INTERRUPTED_MARKER).lstrip()
            out.append({"role": turn.role, "content": text})
        return out

    def reset(self) -> None:
        """Forget the turns; keep the system prompt."""
        self._turns.clear()
