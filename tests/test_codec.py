"""bridge.core.codec: the fast JSON/base64 backends give the standard library's answers, and the
standard-library fallback (without orjson and pybase64) serves the TTS client's parsing."""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core import codec

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_the_fast_backends_are_installed_in_the_dev_environment() -> None:
    assert codec.BACKENDS == {"json": "orjson", "base64": "pybase64"}


@given(JSON)
def test_the_fallbacks_agree_with_the_fast_backends(value: Any) -> None:
    assert json.loads(codec._std_dumps(value)) == json.loads(codec.dumps(value))
    assert codec._std_loads(codec.dumps(value)) == codec.loads(codec.dumps(value))


@given(JSON)
def test_dumps_and_loads_agree_with_the_standard_library(value: Any) -> None:
    text = codec.dumps(value)
    assert json.loads(text) == value  # the same value (a float may be spelled 1e-7 for 1e-07)
    assert codec.dumps_bytes(value) == text.encode("utf-8")
    assert codec.loads(text) == json.loads(text)
    assert codec.loads(text.encode("utf-8")) == value


@given(st.dictionaries(st.text(), st.text() | st.integers(-(2**63), 2**63 - 1) | st.booleans()))
def test_dumps_writes_the_standard_librarys_text_for_strings_and_integers(
    value: dict[str, Any],
) -> None:
    assert codec.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "text",
    ['{"a":NaN}', '{"a":Infinity}', '"\\ud800"', '{"a":1e400}'],
)
def test_loads_accepts_what_json_accepts(text: str) -> None:
    assert repr(codec.loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["", "{", "[1,]", "\ufeff{}", '{"a":1}x', "nul"])
def test_loads_refuses_what_json_refuses_with_a_value_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    with pytest.raises(json.JSONDecodeError):
        codec.loads(text)


def test_dumps_falls_back_for_what_orjson_cannot_write() -> None:
    assert codec.dumps({1: "x"}) == '{"1":"x"}'  # a key that is not a string
    assert codec.dumps([2**70]) == "[1180591620717411303424]"
    with pytest.raises(TypeError):
        codec.dumps(object())  # json's own refusal


@given(st.binary(max_size=300))
def test_b64_round_trips_like_the_standard_library(data: bytes) -> None:
    text = base64.b64encode(data).decode("ascii")
    assert codec.b64encode(data) == text
    assert codec.b64decode(text) == data
    assert codec.b64decode(text.encode("ascii")) == data


@pytest.mark.parametrize("text", ["abc", "YW Jj", "YWJj\n", "YWJj\u00e9", "*AAA", "AA=A"])
def test_b64decode_is_strict(text: str) -> None:
    with pytest.raises(binascii.Error):
        codec.b64decode(text)
    with pytest.raises(binascii.Error):
        codec._std_b64decode(text)


FALLBACK = textwrap.dedent(
    """
    import sys
    sys.modules["orjson"] = None  # an import of it now raises ImportError
    sys.modules["pybase64"] = None
    import binascii
    from bridge.core import codec
    from bridge.qwen.events import ResponseAudioDelta, parse_server_event
    from bridge.qwen.protocol import append_event, encode

    assert codec.BACKENDS == {"json": "json", "base64": "base64"}, codec.BACKENDS
    event = parse_server_event('{"type":"response.audio.delta","response_id":"r","delta":"AAEC"}')
    assert isinstance(event, ResponseAudioDelta) and event.audio == b"\\x00\\x01\\x02"
    assert '"text":"é"' in encode(append_event("é"))
    assert codec.loads('{"a":[1,2.5,null]}') == {"a": [1, 2.5, None]}
    for bad in ("abc", "YW Jj", "YWJj\\u00e9"):
        try:
            codec.b64decode(bad)
        except binascii.Error:
            pass
        else:
            raise AssertionError(bad)
    try:
        codec.dumps(float("nan"))
    except ValueError:
        pass
    else:
        raise AssertionError("NaN")
    print("fallback ok")
    """
)


def test_the_client_works_without_orjson_and_pybase64() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FALLBACK], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fallback ok"
