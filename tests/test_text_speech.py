"""``split_speech`` end to end on replies as chat models write them, and the public surface."""

from __future__ import annotations

import pytest

import bridge.text
from bridge.core.errors import ConfigError
from bridge.text import ScrubberOptions, Segment, Segmenter, split_speech


def tokens(text: str, size: int = 4) -> list[str]:
    """Cut a reply into LLM-token-sized deltas."""
    return [text[i : i + size] for i in range(0, len(text), size)]


MARKDOWN_REPLY = """\
Sure! Here's how to get started:

## Installation

1. **Install Python** (version 3.11 or newer) from [python.org](https://www.python.org/downloads/).
2. **Create a virtual environment:** run `python -m venv .venv`.
3. **Install the package** with `pip install bridge`.

```bash
pip install bridge
bridge --help
```

### Tips

- Keep your *API key* in an environment variable, e.g. `OPENAI_API_KEY`.
- See https://docs.example.com/guide#setup for details 🚀.

That's it — you're ready to go!
"""


def test_markdown_reply() -> None:
    assert split_speech(tokens(MARKDOWN_REPLY)) == [
        "Sure!",
        "Here's how to get started:",
        "Installation",
        "Install Python (version 3.11 or newer) from python.org.",
        "Create a virtual environment: run python -m venv .venv.",
        "Install the package with pip install bridge.",
        "Tips",
        "Keep your API key in an environment variable, e.g. OPENAI_API_KEY.",
        "See docs.example.com for details.",
        "That's it — you're ready to go!",
    ]


def test_markdown_reply_with_code_placeholder() -> None:
    out = split_speech(
        tokens(MARKDOWN_REPLY), scrubber=ScrubberOptions(code_placeholder="Here is the command.")
    )
    assert out[6] == "Here is the command."


CHINESE_REPLY = """\
<think>
用户想知道天气。我应该简洁回答。
</think>

好的，我来帮你查一下北京的天气。

**今天**：晴，最高气温25°C，空气质量良好🌞。
**明天**：多云转小雨，记得带伞。

温馨提示：早晚温差较大，请注意添加衣物！更多信息请访问 https://weather.example.cn/beijing 。
"""


def test_chinese_markdown_reply() -> None:
    assert split_speech(tokens(CHINESE_REPLY, 2)) == [
        "好的，我来帮你查一下北京的天气。",
        "今天：晴，最高气温25°C，空气质量良好。",
        "明天：多云转小雨，记得带伞。",
        "温馨提示：早晚温差较大，请注意添加衣物！",
        "更多信息请访问 weather.example.cn 。",
    ]


def test_chinese_first_clause() -> None:
    out = split_speech(tokens("没问题，我来帮你写一首关于春天的诗。春风吹过山岗，花开满地。"))
    assert out == ["没问题，", "我来帮你写一首关于春天的诗。", "春风吹过山岗，花开满地。"]


def test_japanese_reply() -> None:
    text = "はい、わかりました。**東京**の天気は晴れです！「いい天気ですね。」と言いました。"
    assert split_speech(tokens(text, 3), first_clause=False, min_chars=0) == [
        "はい、わかりました。",
        "東京の天気は晴れです！",
        "「いい天気ですね。」と言いました。",
    ]


def test_mixed_chinese_english_reply() -> None:
    text = (
        "我推荐使用 **Python 3.12**。It's fast and easy! "
        "安装命令是 `pip install numpy`，版本号为1.26.4。"
    )
    assert split_speech(tokens(text, 3), first_clause=False) == [
        "我推荐使用 Python 3.12。",
        "It's fast and easy!",
        "安装命令是 pip install numpy，版本号为1.26.4。",
    ]


def test_english_reply_first_clause_then_sentences() -> None:
    text = (
        "Great question, and the short answer is yes. Dr. Smith's study (published Jan. 5, "
        "2024) found a 3.5% gain at 10 a.m. on weekdays. The U.S. data agree. Prices start at "
        '$1,299.99. "It works," she said. Visit https://example.com/study.pdf. Thanks!'
    )
    assert split_speech(tokens(text)) == [
        "Great question, and the short answer is yes.",
        "Dr. Smith's study (published Jan. 5, 2024) found a 3.5% gain at 10 a.m. on weekdays.",
        "The U.S. data agree.",
        "Prices start at $1,299.99.",
        '"It works," she said.',
        "Visit example.com.",
        "Thanks!",
    ]


def test_split_speech_passes_segmenter_options_and_validates() -> None:
    text = "One. Two. Three."
    assert split_speech([text], first_clause=False, min_chars=0) == ["One.", "Two.", "Three."]
    with pytest.raises(ConfigError):
        split_speech([text], max_chars=1)
    assert split_speech([]) == []
    assert split_speech(["", "  ", "\n\n"]) == []


def test_public_surface() -> None:
    from bridge.text import Scrubber, Segment, Segmenter, split_speech  # noqa: F401

    assert set(bridge.text.__all__) >= {"Scrubber", "Segment", "Segmenter", "split_speech"}
    for name in bridge.text.__all__:
        assert hasattr(bridge.text, name)


def test_scrubber_then_segmenter_by_hand() -> None:
    scrubber, segmenter = bridge.text.Scrubber(), Segmenter(first_clause=False)
    out: list[Segment] = []
    for delta in tokens("# Title\nSome **text** is here. More text follows here."):
        out.extend(segmenter.feed(scrubber.feed(delta)))
    out.extend(segmenter.feed(scrubber.flush()))
    out.extend(segmenter.flush())
    assert [(s.text, s.kind, s.ends_paragraph) for s in out] == [
        ("Title", "sentence", True),
        ("Some text is here.", "sentence", False),
        ("More text follows here.", "final", False),
    ]
