"""What the framework plug-ins share: language names, segment spacing, tolerated errors.

Framework-neutral (no Pipecat, no LiveKit imports), so each plug-in stays an optional extra.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from bridge.core.errors import TTSServerError, TTSTimeoutError
from bridge.qwen.config import LANGUAGE_TYPES, SAMPLE_RATES
from bridge.qwen.models import ModelFamily, model_info
from bridge.text._chars import for_tts

if TYPE_CHECKING:
    from bridge.qwen.client import TTSSession
    from bridge.qwen.events import ServerEvent

__all__ = ["answers_commit", "for_tts", "next_owed_event", "qwen_language", "qwen_rate"]

# Language codes (by their primary subtag) -> Qwen-TTS ``language_type``.
_LANGUAGES: dict[str, str] = {
    "zh": "Chinese",
    "en": "English",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "es": "Spanish",
    "ja": "Japanese",
    "ko": "Korean",
    "fr": "French",
    "ru": "Russian",
}


def qwen_language(code: str) -> str | None:
    """Qwen-TTS's ``language_type`` for a language code (``en-US`` -> ``English``) or for a
    ``language_type`` itself (``English``, ``Auto``); ``None`` when Qwen-TTS does not list it."""
    if code in LANGUAGE_TYPES:
        return code
    return _LANGUAGES.get(code.split("-")[0].split("_")[0].lower())


def qwen_rate(rate: int, model: str) -> int:
    """The sample rate to ask Qwen-TTS for, to deliver ``rate``: ``rate`` itself when the
    model offers it, else the lowest offered rate above it (the highest when none is), from
    which the audio is resampled down."""
    info = model_info(model)
    offered = (24000,) if info is not None and info.family is ModelFamily.LEGACY else SAMPLE_RATES
    if rate in offered:
        return rate
    return min((r for r in offered if r > rate), default=max(offered))


def answers_commit(exc: TTSServerError, commit_ids: Collection[str]) -> bool:
    """A commit that found the buffer already taken by the server is harmless: an error the
    client pairs with one of our commits (by position), or that echoes one of their ids."""
    return exc.answers_commit is not None or (
        exc.event_id is not None and exc.event_id in commit_ids
    )


async def next_owed_event(session: TTSSession, commit_ids: Collection[str]) -> ServerEvent | None:
    """The session's next event for a receive loop; ``None`` when there is nothing to handle:
    an error answering one of our commits (harmless), or the ``idle`` bound passing while the
    server owes nothing (the text source is just slow). A timeout while it owes audio raises."""
    busy = session.machine.busy
    try:
        return await session.recv(timeout=None if busy else session.timeouts.idle)
    except TTSServerError as exc:
        if answers_commit(exc, commit_ids):
            return None
        raise
    except TTSTimeoutError:
        if busy:
            raise
        return None
