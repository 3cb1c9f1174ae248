"""The one script-aware character predicate (``bridge.text._chars``) and its users, across
Latin, Chinese, Japanese, Korean and Thai text: joining, word cuts, word counts."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.commands.chat_view import Captions
from bridge.core.heard import estimate_prefix, speakable_join
from bridge.integrations._common import for_tts as integrations_for_tts
from bridge.local.engines.scripts import guess_language
from bridge.pipeline.speech_stage import _for_tts
from bridge.qwen.protocol import billable_characters
from bridge.text._chars import count_words, is_word_boundary, join_space, words

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words of each script; the spaceless ones are written without spaces around them.
LATIN = ["Hello", "there", "world", "fine", "Dr.", "a"]
CHINESE = ["你好", "今天", "天气", "很好", "中文"]
JAPANESE = ["こんにちは", "元気", "です", "カタカナ"]
KOREAN = ["안녕하세요", "반갑습니다", "오늘", "날씨가", "좋네요"]
THAI = ["สวัสดี", "ครับ", "วันนี้", "อากาศดี"]
SPACED = LATIN + KOREAN + THAI
SPACELESS = CHINESE + JAPANESE
ENDS = [".", "!", "?", "。", "！", "？", ""]


def test_korean_and_thai_sentences_are_joined_with_a_space() -> None:
    assert speakable_join(["안녕하세요.", "반갑습니다."]) == "안녕하세요. 반갑습니다."
    assert speakable_join(["สวัสดีครับ", "วันนี้อากาศดี"]) == "สวัสดีครับ วันนี้อากาศดี"
    assert speakable_join(["你好。", "很高兴。"]) == "你好。很高兴。"
    assert speakable_join(["Hello.", "你好。", "Fine."]) == "Hello.你好。Fine."
    assert speakable_join(["Hello", "there."]) == "Hello there."


def test_every_user_of_the_predicate_spaces_korean_like_latin() -> None:
    # The text appended to the speech service keeps its trailing space after Korean text
    # (else the server reads "안녕하세요.반갑습니다."), none after Chinese.
    for for_tts in (_for_tts, integrations_for_tts):
        assert for_tts(" 안녕하세요. ") == "안녕하세요. "
        assert for_tts("Hello there.") == "Hello there. "
        assert for_tts("你好。") == "你好。"
        assert for_tts("สวัสดีครับ") == "สวัสดีครับ "
        assert for_tts("  ") == ""
    shown: list[str] = []
    captions = Captions(shown.append)
    for text in ("안녕하세요.", "반갑습니다.", "你好。", "Fine."):
        captions.add(text)
    captions.finish(complete=True)
    assert "".join(shown) == "안녕하세요. 반갑습니다.你好。Fine."
    assert guess_language("안녕하세요") == "Korean" and guess_language("元気です") == "Japanese"
    assert guess_language("你好") == "Chinese" and guess_language("สวัสดี") == "English"
    assert billable_characters("你好a") == 5 and billable_characters("안녕") == 2
    assert billable_characters("こんにちは") == 5


def test_word_cuts_by_script() -> None:
    # Chinese: any character; Korean and Thai: spaces only; Latin: spaces only.
    assert estimate_prefix("今天天气很好", 0.5) == "今天天"
    assert estimate_prefix("오늘 날씨가 정말 좋네요", 0.65) == "오늘 날씨가"
    assert estimate_prefix("สวัสดีครับ วันนี้อากาศดี", 0.8) == "สวัสดีครับ"
    assert estimate_prefix("สวัสดีครับ วันนี้อากาศดี", 0.3) == ""
    # Latin glued to Chinese: the cut backs off to the last Chinese character, not further.
    assert estimate_prefix("我用Python写", 0.5) == "我用"
    assert words("我用Python写, 안녕 하세요。สวัสดี ครับ!") == [
        "我",
        "用",
        "Python",
        "写",
        "안녕",
        "하세요",
        "สวัสดี",
        "ครับ",
    ]
    assert count_words("Hello there. 你好。") == 4
    # A word is whole before its silent marks; not inside a number or an abbreviation.
    assert estimate_prefix("Hello there. How", 11.5 / 16) == "Hello there"
    assert estimate_prefix('Hello there!?" How', 12 / 18) == "Hello there"
    assert estimate_prefix("It costs 3.5 now", 10.5 / 16) == "It costs"
    assert estimate_prefix("In the U.S. now", 8.5 / 15) == "In the"
    assert count_words(" . 。 ") == 0
    assert join_space("", "a") == "" and join_space("a", "") == ""


pieces = st.lists(
    st.tuples(st.sampled_from(SPACED + SPACELESS), st.sampled_from(ENDS)).map("".join),
    min_size=1,
    max_size=8,
)


@_SETTINGS
@given(pieces, st.lists(st.sampled_from(["", " ", "  "]), min_size=16, max_size=16))
def test_join_loses_nothing_and_spaces_exactly_between_spaced_pieces(
    parts: list[str], pads: list[str]
) -> None:
    padded = [pads[2 * i] + p + pads[2 * i + 1] for i, p in enumerate(parts)]
    joined = speakable_join(padded)
    assert joined.replace(" ", "") == "".join(parts).replace(" ", "")
    # Exactly one space between two pieces, iff both sides are written with spaces.
    expected = parts[0]
    for part in parts[1:]:
        spaced = part[0] in "".join(SPACED) and expected[-1] in "".join(SPACED) + ".!?"
        expected += (" " if spaced else "") + part
    assert joined == expected
    assert count_words(joined) == sum(count_words(p) for p in parts)


@_SETTINGS
@given(pieces, st.floats(0, 1))
def test_a_prefix_is_a_prefix_cut_at_a_word_boundary_in_every_script(
    parts: list[str], fraction: float
) -> None:
    text = speakable_join(parts)
    prefix = estimate_prefix(text, fraction)
    assert text.startswith(prefix)
    assert prefix == prefix.strip()
    assert is_word_boundary(text, len(prefix))
    # No word is cut: the prefix's words are the first words of the text, whole.
    assert words(prefix) == words(text)[: len(words(prefix))]
    assert len(prefix) <= max(0, int(len(text) * fraction)) or fraction >= 1
    # More audio played never means less heard.
    assert estimate_prefix(text, min(1.0, fraction + 0.1)).startswith(prefix)
