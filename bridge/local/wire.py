"""Server-side event builders of the emulator, in the shapes the vendor docs show (event
names from ``bridge.qwen.events``, the protocol core)."""

from __future__ import annotations

import os
import string
from typing import Any

from bridge.core.codec import b64encode
from bridge.qwen.events import (
    AUDIO_DELTA,
    AUDIO_DONE,
    ERROR,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
)

__all__ = ["ServerWire", "new_id"]

_ALPHABET = string.ascii_letters + string.digits
# Random bytes to base62 characters in one C call (bytes.translate). The slight bias of
# ``byte % 62`` does not matter for ids that only need to be unique, not unguessable.
_BASE62 = bytes(ord(_ALPHABET[i % len(_ALPHABET)]) for i in range(256))


def new_id(prefix: str) -> str:
    """``<prefix>_`` + 21 base62 characters, like the ids in the vendor docs."""
    return prefix + "_" + os.urandom(21).translate(_BASE62).decode("ascii")


class ServerWire:
    """Builds the JSON objects of server events (no I/O)."""

    @staticmethod
    def event(kind: str, **body: Any) -> dict[str, Any]:
        return {"event_id": new_id("event"), "type": kind, **body}

    def session(self, kind: str, session: dict[str, Any]) -> dict[str, Any]:
        return self.event(kind, session={"object": "realtime.session", **session})

    def error(
        self,
        code: str,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        client_event_id: str | None = None,
    ) -> dict[str, Any]:
        err: dict[str, Any] = {"type": error_type, "code": code, "message": message}
        if param is not None:
            err["param"] = param
        if client_event_id is not None:
            err["event_id"] = client_event_id
        return self.event(ERROR, error=err)

    @staticmethod
    def _item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def response_created(self, response_id: str, voice: str) -> dict[str, Any]:
        return self.event(
            RESPONSE_CREATED,
            response={
                "id": response_id,
                "object": "realtime.response",
                "conversation_id": "",
                "status": "in_progress",
                "voice": voice,
                "output": [],
            },
        )

    def item_added(self, response_id: str, item_id: str) -> dict[str, Any]:
        return self.event(
            OUTPUT_ITEM_ADDED,
            response_id=response_id,
            output_index=0,
            item=self._item(item_id, "in_progress", []),
        )

    def part(self, kind: str, response_id: str, item_id: str) -> dict[str, Any]:
        return self.event(
            kind,
            response_id=response_id,
            item_id=item_id,
            output_index=0,
            content_index=0,
            part={"type": "audio", "text": ""},
        )

    def audio_delta(self, response_id: str, item_id: str, audio: bytes) -> dict[str, Any]:
        return self.event(
            AUDIO_DELTA,
            response_id=response_id,
            item_id=item_id,
            output_index=0,
            content_index=0,
            delta=b64encode(audio),
        )

    def audio_done(self, response_id: str, item_id: str) -> dict[str, Any]:
        return self.event(
            AUDIO_DONE,
            response_id=response_id,
            item_id=item_id,
            output_index=0,
            content_index=0,
        )

    def item_done(self, response_id: str, item_id: str, status: str) -> dict[str, Any]:
        return self.event(
            OUTPUT_ITEM_DONE,
            response_id=response_id,
            output_index=0,
            item=self._item(item_id, status, [{"type": "audio", "text": ""}]),
        )

    def response_done(
        self,
        response_id: str,
        item_id: str,
        *,
        voice: str,
        status: str,
        usage: dict[str, Any],
    ) -> dict[str, Any]:
        return self.event(
            RESPONSE_DONE,
            response={
                "id": response_id,
                "object": "realtime.response",
                "conversation_id": "",
                "status": status,
                "modalities": ["text", "audio"],
                "voice": voice,
                "output": [self._item(item_id, status, [{"type": "audio", "transcript": ""}])],
                "usage": usage,
            },
        )
