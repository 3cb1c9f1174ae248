"""The ``exact`` engine: audio that carries its text, decoded back character by character."""

from __future__ import annotations

import pytest

from bridge.local.engines import ENGINE_NAMES, make_synthesizer
from bridge.local.engines.exact import MARK, ExactSynthesizer, decode_speech, samples_per_char

RATE = 24000
TEXTS = ["Hello there.", "你好，世界。", "안녕하세요 😀", " spaced  out ", "Ω≈ç√∫"]


@pytest.mark.parametrize("text", TEXTS)
def test_decoding_gives_back_exactly_the_text(text: str) -> None:
    pcm = ExactSynthesizer().synthesize(text, sample_rate=RATE)
    run = samples_per_char(RATE)
    assert len(pcm) == 2 * run * len(text)
    decoded = decode_speech(pcm, run_length=run)
    assert decoded.text == text and decoded.cut == ()


def test_audio_cut_inside_a_character_reports_it_as_not_heard() -> None:
    run = samples_per_char(RATE)
    pcm = ExactSynthesizer().synthesize("abc", sample_rate=RATE)
    decoded = decode_speech(pcm[: 2 * (2 * run + run // 2)], run_length=run)
    assert decoded.text == "ab"
    assert decoded.cut == ((2, "c"),)
    # A run cut after its mark alone carries no character.
    short = decode_speech(pcm[: 2 * (run + 1)], run_length=run)
    assert short.text == "a" and short.cut == ((1, ""),)


def test_speech_rate_changes_the_run_length_and_blank_text_is_silent() -> None:
    fast = ExactSynthesizer().synthesize("ab", sample_rate=RATE, speech_rate=2.0)
    assert len(fast) == 2 * 2 * samples_per_char(RATE, speech_rate=2.0)
    assert samples_per_char(RATE, speech_rate=2.0) == samples_per_char(RATE) // 2
    assert decode_speech(fast, run_length=samples_per_char(RATE, speech_rate=2.0)).text == "ab"
    assert ExactSynthesizer().synthesize("  \n", sample_rate=RATE) == b""


def test_foreign_audio_is_refused() -> None:
    with pytest.raises(ValueError, match="no character run"):
        decode_speech(b"\x01\x00" * 10, run_length=5)
    bad = MARK.to_bytes(2, "little", signed=True) + (5).to_bytes(2, "little", signed=True) * 4
    with pytest.raises(ValueError, match="code point"):
        decode_speech(bad, run_length=5)
    mixed = b"".join(v.to_bytes(2, "little", signed=True) for v in (MARK, 2, -3, 2, -4))
    with pytest.raises(ValueError, match="disagree"):
        decode_speech(mixed, run_length=5)
    with pytest.raises(ValueError, match="run_length"):
        decode_speech(b"", run_length=2)


def test_the_engine_is_selectable_by_name() -> None:
    assert "exact" in ENGINE_NAMES
    assert isinstance(make_synthesizer("exact"), ExactSynthesizer)
