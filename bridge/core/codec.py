"""JSON and base64 for the hot paths: ``orjson`` (a core dependency) and ``pybase64`` (the
``fast`` extra) when installed, else the standard library; nothing else changes without them.

The fast libraries are used only where they give the standard library's answer:

- ``loads`` parses with orjson and, if orjson refuses the text, parses it again with ``json``,
  so what ``json.loads`` accepts is still accepted (``NaN``, ``Infinity``, a lone surrogate
  escape) and what it refuses raises its ``ValueError`` (the parsers agree on every valid JSON
  document except integers beyond 64 bits, which orjson reads as floats);
- ``dumps`` writes compact JSON without ASCII escaping, like
  ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``; what orjson cannot write
  (keys that are not strings, integers beyond 64 bits, lone surrogates) goes to ``json``, which
  raises for a non-finite float (``allow_nan=False``), while orjson writes ``null`` for it;
- ``b64decode`` is ``base64.b64decode(text, validate=True)``: anything but the base64 alphabet
  and its padding raises ``binascii.Error`` (a ``ValueError``).

Pure (no I/O); the backends are picked once, at import.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

__all__ = ["BACKENDS", "b64decode", "b64encode", "dumps", "dumps_bytes", "loads"]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by the fallback tests via the _std_* names
    orjson = None  # type: ignore[assignment]

try:
    import pybase64
except ImportError:  # pragma: no cover
    pybase64 = None  # type: ignore[assignment]


def _std_loads(data: str | bytes | bytearray | memoryview) -> Any:
    if isinstance(data, memoryview):
        data = bytes(data)
    return json.loads(data)


def _std_dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _std_dumps_bytes(obj: Any) -> bytes:
    return _std_dumps(obj).encode("utf-8")


def _std_b64decode(text: str | bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:  # non-ASCII text: the same error type as bad digits
        if isinstance(exc, binascii.Error):
            raise
        raise binascii.Error(str(exc)) from None


def _std_b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


if orjson is not None:
    _orjson_loads = orjson.loads
    _orjson_dumps = orjson.dumps
    _OrjsonError = orjson.JSONDecodeError

    def _fast_loads(data: str | bytes | bytearray | memoryview) -> Any:
        try:
            return _orjson_loads(data)
        except _OrjsonError:
            return _std_loads(data)  # the standard library's answer, or its error

    def _fast_dumps_bytes(obj: Any) -> bytes:
        try:
            return _orjson_dumps(obj)
        except TypeError:
            return _std_dumps_bytes(obj)

    def _fast_dumps(obj: Any) -> str:
        try:
            return _orjson_dumps(obj).decode("utf-8")
        except TypeError:
            return _std_dumps(obj)


if pybase64 is not None:
    _pybase64_decode = pybase64.b64decode
    _pybase64_encode = pybase64.b64encode

    def _fast_b64decode(text: str | bytes) -> bytes:
        try:
            return _pybase64_decode(text, validate=True)
        except ValueError as exc:
            if isinstance(exc, binascii.Error):
                raise
            raise binascii.Error(str(exc)) from None

    def _fast_b64encode(data: bytes) -> str:
        return _pybase64_encode(data).decode("ascii")


loads: Callable[[str | bytes | bytearray | memoryview], Any] = (
    _fast_loads if orjson is not None else _std_loads
)
"""Parse one JSON document (``str`` or UTF-8 bytes); raises ``ValueError`` like ``json``."""

dumps: Callable[[Any], str] = _fast_dumps if orjson is not None else _std_dumps
"""Compact JSON text, non-ASCII characters as they are."""

dumps_bytes: Callable[[Any], bytes] = _fast_dumps_bytes if orjson is not None else _std_dumps_bytes
"""``dumps`` as UTF-8 bytes (what a WebSocket text frame carries)."""

b64decode: Callable[[str | bytes], bytes] = (
    _fast_b64decode if pybase64 is not None else _std_b64decode
)
"""Strict base64 decoding; raises ``binascii.Error``."""

b64encode: Callable[[bytes], str] = _fast_b64encode if pybase64 is not None else _std_b64encode
"""Base64 text of ``data``."""

BACKENDS: dict[str, str] = {
    "json": "orjson" if orjson is not None else "json",
    "base64": "pybase64" if pybase64 is not None else "base64",
}
"""Which library serves each codec in this process (for ``--debug`` output and benchmarks)."""
