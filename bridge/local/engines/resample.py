"""Sample-rate conversion of 16-bit mono PCM for the emulator's engines, by libsoxr.

The conversion is ``soxr``'s (the ``local`` extra), at its default high quality: a steep low-pass
just below the lower rate's Nyquist frequency, so downsampling attenuates what would alias far more
than test speech needs and upsampling leaves no audible images. soxr (and numpy, which it
needs) is imported on the first conversion between two different rates, not with the emulator;
``preload`` starts that import in a thread of its own (the espeak engine does when it is loaded),
so that it overlaps the rest of a command's start-up instead of delaying its first audio.

Each call converts one whole utterance, so the filter's start-up and flush are in the output;
its length is cut or zero-padded to exactly ``output_length(n, src, dst) == n * dst // src``
(soxr itself rounds). The conversion runs in float32 and is rounded and saturated back to int16
here, without dither: the same input always gives the same output, and silence stays silent.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from array import array
from collections.abc import Sequence

__all__ = [
    "output_length",
    "pcm16_from_samples",
    "preload",
    "resample",
    "resample_pcm16",
    "samples_from_pcm16",
]


def samples_from_pcm16(pcm: bytes) -> array[int]:
    """Little-endian signed 16-bit PCM to an ``array('h')`` (a trailing odd byte is dropped)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def pcm16_from_samples(samples: array[int]) -> bytes:
    """An ``array('h')`` to little-endian signed 16-bit PCM."""
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def output_length(n: int, src_rate: int, dst_rate: int) -> int:
    """How many samples ``n`` input samples become: ``floor(n * dst_rate / src_rate)``."""
    return n * dst_rate // src_rate


def resample_pcm16(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample little-endian signed 16-bit mono PCM from ``src_rate`` to ``dst_rate`` Hz."""
    _check_rates(src_rate, dst_rate)
    whole = pcm[: len(pcm) - len(pcm) % 2]
    if src_rate == dst_rate:
        return bytes(whole)
    n_out = output_length(len(whole) // 2, src_rate, dst_rate)
    if n_out == 0:
        return b""
    return _soxr_pcm16(whole, src_rate, dst_rate, n_out)


def resample(samples: Sequence[int], src_rate: int, dst_rate: int) -> array[int]:
    """Resample 16-bit samples from ``src_rate`` to ``dst_rate`` Hz; see the module docstring."""
    _check_rates(src_rate, dst_rate)
    n_out = output_length(len(samples), src_rate, dst_rate)
    if n_out == 0:
        return array("h")
    if src_rate == dst_rate:
        return array("h", samples)
    return _soxr(samples, src_rate, dst_rate, n_out)


def preload() -> None:
    """Import soxr and numpy in a background thread, once; a conversion that starts meanwhile
    waits for that import (Python's import lock) rather than starting a second one. Not a
    daemon thread: an interpreter never exits in the middle of importing numpy."""
    with _PRELOAD_LOCK:
        if _PRELOAD:
            return
        _PRELOAD.append(True)
    threading.Thread(target=_import_soxr, name="bridge-soxr-import").start()


_PRELOAD: list[bool] = []
_PRELOAD_LOCK = threading.Lock()


def _import_soxr() -> None:
    with contextlib.suppress(ImportError):  # reported by the conversion that needs it
        importlib.import_module("soxr")


def _check_rates(src_rate: int, dst_rate: int) -> None:
    for name, rate in (("src_rate", src_rate), ("dst_rate", dst_rate)):
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"{name} must be a positive integer, got {rate!r}")


def _soxr(samples: Sequence[int], src_rate: int, dst_rate: int, n_out: int) -> array[int]:
    data = (
        samples if isinstance(samples, array) and samples.typecode == "h" else array("h", samples)
    )
    out = array("h")
    out.frombytes(_soxr_pcm16(pcm16_from_samples(data), src_rate, dst_rate, n_out))
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _soxr_pcm16(pcm: bytes, src_rate: int, dst_rate: int, n_out: int) -> bytes:
    """The conversion on s16le bytes, to exactly ``n_out`` samples of s16le bytes.

    In floating point, rounded and saturated back to int16 here: soxr's own int16 output adds
    dither (silence would come back as +-1 noise), and the emulator wants determinism. The
    rounding and the clipping work in place on soxr's output: one copy in, one out."""
    import numpy as np
    import soxr  # type: ignore[import-untyped]

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    converted = soxr.resample(samples, src_rate, dst_rate)
    head = converted[:n_out]
    np.rint(head, out=head)
    np.clip(head, -32768, 32767, out=head)
    out: bytes = head.astype("<i2").tobytes()
    if len(head) < n_out:  # soxr rounded the length down: pad the tail with silence
        out += bytes(2 * (n_out - len(head)))
    return out
