"""The framework-neutral parts the Pipecat and LiveKit plug-ins share (pure functions)."""

from __future__ import annotations

from bridge.integrations._common import for_tts, qwen_language, qwen_rate
from bridge.integrations._words import speech_words, word_times


def test_speech_words_give_the_text_back_with_its_spacing() -> None:
    assert speech_words("Hello  there, my friend.") == ["Hello ", "there, ", "my ", "friend. "]
    assert speech_words("你好，世界。") == ["你", "好，", "世", "界。"]
    assert "".join(speech_words("OK，今天 fine")) == "OK，今天 fine "
    assert speech_words("  ") == []


def test_word_times_spread_the_words_over_the_audio_by_length() -> None:
    times = word_times("a longer word here", 2.0, 1.0)
    starts = [t for _, t in times]
    assert starts[0] == 2.0 and starts == sorted(starts) and starts[-1] < 3.0
    # "longer" (6 letters) takes longer than "a" (1): the gap after it is wider.
    assert starts[2] - starts[1] > starts[1] - starts[0]
    assert word_times("", 0.0, 1.0) == []


def test_sample_rate_choice() -> None:
    assert [qwen_rate(r, "qwen3-tts-flash-realtime") for r in (8000, 11025, 22050, 44100)] == [
        8000,
        16000,
        24000,
        48000,
    ]
    assert qwen_rate(16000, "qwen-tts-realtime") == 24000  # the legacy model: 24 kHz only


def test_language_names_and_spacing() -> None:
    assert qwen_language("en-US") == "English" and qwen_language("zh_CN") == "Chinese"
    assert qwen_language("Auto") == "Auto" and qwen_language("sw") is None
    assert for_tts(" Hello. ") == "Hello. " and for_tts("你好。") == "你好。"
