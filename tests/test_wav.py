"""WAV files: written as audio arrives, exact when closed, readable by a WAV reader."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

from bridge import WavWriter
from bridge.core.wav import wav_header


def test_writer_keeps_every_sample_across_odd_chunk_splits(tmp_path: Path) -> None:
    pcm = b"".join(struct.pack("<h", v) for v in range(-500, 500, 3))
    path = tmp_path / "out.wav"
    with WavWriter(path, 16000) as writer:
        # Chunks of odd sizes split samples in the middle; none may be lost or shifted.
        for start in range(0, len(pcm), 7):
            writer.write(pcm[start : start + 7])
    assert writer.samples == len(pcm) // 2
    assert writer.duration == len(pcm) / 2 / 16000
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        assert reader.getframerate() == 16000
        assert reader.readframes(reader.getnframes()) == pcm


def test_in_band_header_matches_what_a_wav_reader_expects(tmp_path: Path) -> None:
    pcm = struct.pack("<4h", 1, -1, 300, -300)
    path = tmp_path / "band.wav"
    path.write_bytes(wav_header(len(pcm), 24000) + pcm)
    with wave.open(str(path), "rb") as reader:
        assert reader.getframerate() == 24000
        assert reader.getnframes() == 4
        assert reader.readframes(4) == pcm
