"""A WAV (RIFF, PCM s16le mono) writer that writes audio as it arrives, on the stdlib ``wave``.

``wave`` writes the header before the first frames and patches its sizes when the file is
closed, so a file that is being written can already be played by most tools, and a finished
file is exact. Odd trailing bytes of a chunk are held until the next chunk completes the sample.
"""

from __future__ import annotations

import wave
from pathlib import Path
from types import TracebackType

__all__ = ["WavWriter"]


class WavWriter:
    """Write PCM s16le mono to ``path`` as a WAV file; ``samples`` counts what was written."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.samples = 0
        self._file = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed by close()
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(sample_rate)
        self._file.writeframesraw(b"")  # the header goes out now, before any audio
        self._closed = False
        self._odd = b""

    def write(self, pcm: bytes) -> None:
        data = self._odd + pcm
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        self._file.writeframesraw(data[:whole])
        self.samples += whole // 2

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
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
