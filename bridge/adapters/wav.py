"""A WAV (RIFF, PCM s16le mono) writer that writes audio as it arrives.

The header is written first with zero sizes and patched when the writer is closed, so a file
that is being written can already be played by most tools, and a finished file is exact.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["WavWriter", "wav_header"]


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


class WavWriter:
    """Write PCM s16le mono to ``path`` as a WAV file; ``samples`` counts what was written."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.samples = 0
        self._file: BinaryIO = self.path.open("wb")
        self._file.write(wav_header(0, sample_rate))
        self._odd = b""

    def write(self, pcm: bytes) -> None:
        data = self._odd + pcm
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        self._file.write(data[:whole])
        self.samples += whole // 2

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.write(wav_header(self.samples * 2, self.sample_rate))
        self._file.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
