"""The canonical 44-byte RIFF/WAVE header, for WAV audio sent in-band (one header per delta).

Files are written with the standard library's ``wave`` module (``bridge.adapters.wav``); this
builder stays for the emulator's in-band WAV deltas, where there is no file to seek back into.
"""

from __future__ import annotations

import struct

__all__ = ["wav_header"]


def wav_header(data_bytes: int, sample_rate: int, *, channels: int = 1, bits: int = 16) -> bytes:
    """The 44-byte canonical RIFF/WAVE header for ``data_bytes`` of PCM."""
    block = channels * bits // 8
    return b"RIFF" + struct.pack(
        "<I4s4sIHHIIHH4sI",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sample_rate,
        sample_rate * block,
        block,
        bits,
        b"data",
        data_bytes,
    )
