"""The sans-I/O protocol core: builders, parser, validation, state machine. No sockets."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.errors import ConfigError, StateError, TTSProtocolError
from bridge.qwen import events as ev
from bridge.qwen.config import SessionConfig, validate_session_dict
from bridge.qwen.protocol import (
    CLIENT_EVENT_TYPES,
    SessionMachine,
    SessionState,
    append_event,
    cancel_event,
    clear_event,
    commit_event,
    encode,
    finish_event,
    session_update_event,
)

# Doc examples (shapes from the vendor's server-events page), one per documented type.
DOC_EXAMPLES: dict[str, dict[str, Any]] = {
    "session.created": {
        "event_id": "event_xxx",
        "type": "session.created",
        "session": {
            "object": "realtime.session",
            "mode": "server_commit",
            "model": "qwen3-tts-flash-realtime",
            "voice": "Cherry",
            "response_format": "pcm",
            "sample_rate": 24000,
            "id": "sess_xxx",
        },
    },
    "session.updated": {
        "event_id": "event_xxx",
        "type": "session.updated",
        "session": {
            "id": "sess_xxx",
            "object": "realtime.session",
            "model": "qwen-tts-realtime",
            "voice": "Cherry",
            "language_type": "Chinese",
            "mode": "commit",
            "response_format": "pcm",
            "sample_rate": 24000,
        },
    },
    "input_text_buffer.committed": {
        "event_id": "event_FC6M",
        "type": "input_text_buffer.committed",
        "item_id": "",
    },
    "input_text_buffer.cleared": {"event_id": "event_1122", "type": "input_text_buffer.cleared"},
    "response.created": {
        "event_id": "event_IMnL",
        "type": "response.created",
        "response": {
            "id": "resp_USvB",
            "object": "realtime.response",
            "conversation_id": "",
            "status": "in_progress",
            "voice": "Cherry",
            "output": [],
        },
    },
    "response.output_item.added": {
        "event_id": "event_INDG",
        "type": "response.output_item.added",
        "response_id": "resp_USvB",
        "output_index": 0,
        "item": {
            "id": "item_FIrY",
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        },
    },
    "response.content_part.added": {
        "event_id": "event_DigZ",
        "type": "response.content_part.added",
        "response_id": "resp_USvB",
        "item_id": "item_FIrY",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "audio", "text": ""},
    },
    "response.audio.delta": {
        "event_id": "event_B1os",
        "type": "response.audio.delta",
        "response_id": "resp_USvB",
        "item_id": "item_FIrY",
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(b"\x01\x00\x02\x00").decode(),
    },
    "response.audio.done": {
        "event_id": "event_LZaO",
        "type": "response.audio.done",
        "response_id": "resp_USvB",
        "item_id": "item_FIrY",
        "output_index": 0,
        "content_index": 0,
    },
    "response.content_part.done": {
        "event_id": "event_x",
        "type": "response.content_part.done",
        "response_id": "resp_USvB",
        "item_id": "item_FIrY",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "audio", "text": ""},
    },
    "response.output_item.done": {
        "event_id": "event_LO6S",
        "type": "response.output_item.done",
        "response_id": "resp_USvB",
        "output_index": 0,
        "item": {
            "id": "item_FIrY",
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "audio", "text": ""}],
        },
    },
    "response.done": {
        "event_id": "event_Aemy",
        "type": "response.done",
        "response": {
            "id": "resp_LFeR",
            "object": "realtime.response",
            "conversation_id": "",
            "status": "completed",
            "modalities": ["text", "audio"],
            "voice": "Cherry",
            "output": [],
            "usage": {"characters": 25},
        },
    },
    "session.finished": {"event_id": "event_2239", "type": "session.finished"},
    "error": {
        "event_id": "event_B2uo",
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": "bad voice",
            "param": "session.voice",
            "event_id": "event_123",
        },
    },
}

EXPECTED_CLASS = {
    "session.created": ev.SessionCreated,
    "session.updated": ev.SessionUpdated,
    "input_text_buffer.committed": ev.InputTextBufferCommitted,
    "input_text_buffer.cleared": ev.InputTextBufferCleared,
    "response.created": ev.ResponseCreated,
    "response.output_item.added": ev.ResponseOutputItemAdded,
    "response.content_part.added": ev.ResponseContentPartAdded,
    "response.audio.delta": ev.ResponseAudioDelta,
    "response.audio.done": ev.ResponseAudioDone,
    "response.content_part.done": ev.ResponseContentPartDone,
    "response.output_item.done": ev.ResponseOutputItemDone,
    "response.done": ev.ResponseDone,
    "session.finished": ev.SessionFinished,
    "error": ev.ErrorEvent,
}


@pytest.mark.parametrize("kind", sorted(DOC_EXAMPLES))
def test_every_documented_event_parses_to_its_class(kind: str) -> None:
    event = ev.parse_server_event(json.dumps(DOC_EXAMPLES[kind]))
    assert type(event) is EXPECTED_CLASS[kind]
    assert event.type == kind
    assert event.event_id == DOC_EXAMPLES[kind]["event_id"]


def test_parsed_fields() -> None:
    created = ev.parse_server_event(DOC_EXAMPLES["session.created"])
    assert isinstance(created, ev.SessionCreated)
    assert created.session.id == "sess_xxx"
    assert created.session.sample_rate == 24000
    delta = ev.parse_server_event(DOC_EXAMPLES["response.audio.delta"])
    assert isinstance(delta, ev.ResponseAudioDelta)
    assert delta.audio == b"\x01\x00\x02\x00"
    assert delta.response_id == "resp_USvB"
    assert delta.item_id == "item_FIrY"
    item = ev.parse_server_event(DOC_EXAMPLES["response.output_item.added"])
    assert isinstance(item, ev.ResponseOutputItemAdded)
    assert item.item_id == "item_FIrY"  # taken from item.id when item_id is absent
    done = ev.parse_server_event(DOC_EXAMPLES["response.done"])
    assert isinstance(done, ev.ResponseDone)
    assert done.response_id == "resp_LFeR"
    assert done.usage.characters == 25
    err = ev.parse_server_event(DOC_EXAMPLES["error"])
    assert isinstance(err, ev.ErrorEvent)
    exc = err.to_exception()
    assert (exc.code, exc.param, exc.event_id) == ("invalid_value", "session.voice", "event_123")
    assert "bad voice" in str(exc)
    assert "param=session.voice" in str(exc)


def test_legacy_token_usage() -> None:
    raw = {
        "type": "response.done",
        "response": {
            "id": "r",
            "usage": {
                "total_tokens": 90,
                "input_tokens": 10,
                "output_tokens": 80,
                "output_tokens_details": {"text_tokens": 0, "audio_tokens": 80},
            },
        },
    }
    done = ev.parse_server_event(raw)
    assert isinstance(done, ev.ResponseDone)
    assert done.usage.characters is None
    assert (done.usage.total_tokens, done.usage.audio_tokens) == (90, 80)


def test_unknown_event_is_kept() -> None:
    event = ev.parse_server_event('{"type": "response.text.delta", "delta": "hi"}')
    assert isinstance(event, ev.UnknownEvent)
    assert event.raw["delta"] == "hi"


@pytest.mark.parametrize(
    "frame",
    ["not json", "[1, 2]", '"text"', "{}", '{"type": 3}', '{"type": ""}', b"\xff\xfe"],
)
def test_malformed_frames_raise_protocol_error(frame: str | bytes) -> None:
    with pytest.raises(TTSProtocolError):
        ev.parse_server_event(frame)


def test_bad_base64_audio_is_a_protocol_error() -> None:
    with pytest.raises(TTSProtocolError, match="base64"):
        ev.parse_server_event({"type": "response.audio.delta", "delta": "***"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([*EXPECTED_CLASS, "other", ""]) | st.text(max_size=12),
    body=st.dictionaries(
        st.sampled_from(
            [
                "event_id",
                "session",
                "response",
                "item",
                "item_id",
                "response_id",
                "delta",
                "error",
                "output_index",
                "content_index",
                "usage",
                "x",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_parser_never_crashes(kind: str, body: dict[str, Any]) -> None:
    raw = {**body, "type": kind}
    try:
        event = ev.parse_server_event(json.dumps(raw))
    except TTSProtocolError:
        return
    assert isinstance(event, ev.ServerEvent)
    assert event.type == kind


# --- builders ------------------------------------------------------------------------------


def test_builders_make_every_client_event_with_unique_ids() -> None:
    built = [
        session_update_event(SessionConfig()),
        append_event("hi"),
        commit_event(),
        clear_event(),
        finish_event(),
        cancel_event(),
    ]
    assert [e["type"] for e in built] == list(CLIENT_EVENT_TYPES)
    ids = {e["event_id"] for e in built}
    assert len(ids) == len(built)
    assert all(i.startswith("event_") for i in ids)
    assert json.loads(encode(append_event("您好")))["text"] == "您好"
    assert "您好" in encode(append_event("您好"))  # not \\u-escaped


def test_session_update_sends_only_set_fields() -> None:
    session = session_update_event(SessionConfig(voice="Ethan", speech_rate=1.2))["session"]
    assert session == {
        "voice": "Ethan",
        "mode": "server_commit",
        "response_format": "pcm",
        "sample_rate": 24000,
        "speech_rate": 1.2,
    }
    extra = SessionConfig(extra={"enable_tn": True, "future": 1}).to_session()
    assert extra["future"] == 1


# --- validation ----------------------------------------------------------------------------

FLASH = "qwen3-tts-flash-realtime"


@pytest.mark.parametrize(
    ("config", "field", "model"),
    [
        (SessionConfig(voice="Nobody"), "voice", FLASH),
        (SessionConfig(voice="cherry"), "voice", FLASH),  # case-sensitive
        (SessionConfig(mode="stream"), "mode", FLASH),  # type: ignore[arg-type]
        (SessionConfig(language_type="Klingon"), "language_type", FLASH),
        (SessionConfig(response_format="flac"), "response_format", FLASH),
        (SessionConfig(sample_rate=44100), "sample_rate", FLASH),
        (SessionConfig(speech_rate=2.5), "speech_rate", FLASH),
        (SessionConfig(speech_rate=float("nan")), "speech_rate", FLASH),
        (SessionConfig(pitch_rate=0.1), "pitch_rate", FLASH),
        (SessionConfig(volume=101), "volume", FLASH),
        (SessionConfig(volume=True), "volume", FLASH),
        (SessionConfig(bit_rate=5), "bit_rate", FLASH),
        (SessionConfig(instructions="happy"), "instructions", FLASH),
        (SessionConfig(instructions=" speak softly "), "instructions", FLASH),
        (SessionConfig(instructions="calm", optimize_instructions=False), "instructions", FLASH),
        (SessionConfig(optimize_instructions="yes"), "optimize_instructions", FLASH),  # type: ignore[arg-type]
        (SessionConfig(sample_rate=16000), "sample_rate", "qwen-tts-realtime"),
        (SessionConfig(speech_rate=1.0), "speech_rate", "qwen-tts-realtime"),
        (SessionConfig(language_type="French"), "language_type", "qwen-tts-realtime"),
        (SessionConfig(voice="Kai"), "voice", "qwen3-tts-flash-realtime-2025-09-18"),
    ],
)
def test_invalid_parameters_name_the_field_and_allowed_values(
    config: SessionConfig, field: str, model: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config.validate(model)
    assert info.value.field == field
    assert field in str(info.value)


def test_valid_parameters_pass() -> None:
    SessionConfig(
        voice="Eldric Sage",
        language_type="Chinese",
        sample_rate=48000,
        speech_rate=0.5,
        pitch_rate=2.0,
        volume=0,
        bit_rate=510,
        response_format="opus",
    ).validate(FLASH)
    SessionConfig(instructions="speak softly", optimize_instructions=True).validate(
        "qwen3-tts-instruct-flash-realtime"
    )
    # Custom-voice families accept any voice id; unknown dated snapshots infer their family.
    SessionConfig(voice="qwen-tts-vc-myvoice-123").validate("qwen3-tts-vc-realtime-2026-01-15")
    with pytest.raises(ConfigError):
        SessionConfig(instructions="x").validate("qwen3-tts-flash-realtime-2027-01-01")


# The session object of the vendor's own session.update example (voice Cherry, a flash model).
VENDOR_UPDATE_EXAMPLE = {
    "voice": "Cherry",
    "mode": "server_commit",
    "language_type": "Chinese",
    "response_format": "pcm",
    "sample_rate": 24000,
    "instructions": "",
    "optimize_instructions": False,
}


@pytest.mark.parametrize(
    "model", [FLASH, "qwen3-tts-flash-realtime-2025-09-18", "qwen-tts-realtime"]
)
def test_vendor_example_with_empty_instructions_passes_for_non_instruct_models(model: str) -> None:
    validate_session_dict(VENDOR_UPDATE_EXAMPLE, model)
    validate_session_dict({**VENDOR_UPDATE_EXAMPLE, "instructions": "  \n"}, model)
    SessionConfig(instructions="", optimize_instructions=False).validate(model)
    # Without an instruction there is nothing to optimize: the flag alone asks for nothing.
    SessionConfig(optimize_instructions=True).validate(model)


def test_voice_error_lists_choices() -> None:
    with pytest.raises(ConfigError, match="Cherry"):
        validate_session_dict({"voice": "Nobody"}, FLASH)


# --- state machine -------------------------------------------------------------------------


def _created() -> ev.ServerEvent:
    return ev.parse_server_event(DOC_EXAMPLES["session.created"])


def test_state_machine_happy_path() -> None:
    m = SessionMachine()
    with pytest.raises(StateError):
        m.check_send("input_text_buffer.append")  # before session.created
    m.on_receive(_created())
    assert m.state is SessionState.READY
    m.on_send(session_update_event(SessionConfig(mode="commit")))
    assert m.mode == "commit"
    m.on_send(append_event("hello"))
    assert m.pending_chars == 5 and m.busy
    m.on_receive(ev.parse_server_event(DOC_EXAMPLES["input_text_buffer.committed"]))
    m.on_receive(ev.parse_server_event(DOC_EXAMPLES["response.created"]))
    assert m.state is SessionState.SPEAKING
    assert m.in_flight == {"resp_USvB"}
    with pytest.raises(StateError, match="after synthesis started"):
        m.check_send("session.update")
    m.on_receive(ev.parse_server_event(DOC_EXAMPLES["response.audio.delta"]))
    assert m.audio_bytes == 4
    m.on_receive(ev.parse_server_event({"type": "response.done", "response": {"id": "resp_USvB"}}))
    assert not m.busy
    m.on_send(finish_event())
    assert m.state is SessionState.FINISHING and m.busy
    for kind in CLIENT_EVENT_TYPES:
        with pytest.raises(StateError):
            m.check_send(kind)
    m.on_receive(ev.parse_server_event(DOC_EXAMPLES["session.finished"]))
    assert m.state is SessionState.CLOSED


def test_clear_resets_pending_and_closed_rejects_everything() -> None:
    m = SessionMachine()
    m.on_receive(_created())
    m.on_send(append_event("abc"))
    m.on_send(clear_event())
    assert m.pending_chars == 0
    m.on_closed()
    with pytest.raises(StateError, match="closed"):
        m.check_send("input_text_buffer.append")
