"""Real-time factor of the local speech engines (synthesis time / audio duration; lower is faster).

Prints figures; asserts nothing. Run: ``uv run python benchmarks/engine_speed.py [--runs N]``.

For each engine and sentence: the median over ``--runs`` runs (after one warm-up run, which also
loads espeak-ng and its voice) of the wall time of one ``synthesize`` call, on one thread.
For espeak it also shows how much of that is resampling from espeak's native 22,050 Hz, timed
on a buffer of the same length.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

from bridge.local.engines import SUPPORTED_SAMPLE_RATES, Synthesizer, make_synthesizer
from bridge.local.engines.espeak import load_espeak
from bridge.local.engines.resample import resample_pcm16

SENTENCES = {
    "English": (
        "English",
        "The quick brown fox jumps over the lazy dog, and then it runs back home "
        "before the evening rain begins to fall.",
    ),
    "Chinese": ("Chinese", "今天天气很好，我们一起去公园散步吧。晚上回家以后，再一起做饭。"),
}


def median_seconds(call: Callable[[], object], runs: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engine_rtf(
    engine: Synthesizer, text: str, language: str, sample_rate: int, runs: int
) -> tuple[float, float]:
    """``(audio seconds, median synthesis seconds)``."""

    def call() -> bytes:
        return engine.synthesize(text, sample_rate=sample_rate, language=language)

    audio_seconds = len(call()) / 2 / sample_rate
    return audio_seconds, median_seconds(call, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per figure (median)")
    args = parser.parse_args()
    runs: int = args.runs

    espeak = make_synthesizer("espeak")
    tone = make_synthesizer("tone")
    native = load_espeak()

    print(f"median of {runs} runs, one thread; RTF = synthesis time / audio duration\n")
    print(f"{'engine':<8} {'sentence':<9} {'rate':>6} {'audio s':>8} {'synth ms':>9} {'RTF':>8}")
    for label, (language, text) in SENTENCES.items():
        for engine in (espeak, tone):
            for rate in (24000,):
                audio, synth = engine_rtf(engine, text, language, rate, runs)
                print(
                    f"{engine.name:<8} {label:<9} {rate:>6} {audio:>8.2f} {synth * 1e3:>9.2f} "
                    f"{synth / audio:>8.3g}"
                )

    print(f"\nespeak at every output rate (resampled from {native} Hz):")
    print(f"{'sentence':<9} {'rate':>6} {'total RTF':>10} {'resample RTF':>13}")
    for label, (language, text) in SENTENCES.items():
        for rate in SUPPORTED_SAMPLE_RATES:
            audio, synth = engine_rtf(espeak, text, language, rate, runs)
            raw = bytes(2 * round(audio * native))
            resampling = median_seconds(functools.partial(resample_pcm16, raw, native, rate), runs)
            print(f"{label:<9} {rate:>6} {synth / audio:>10.3g} {resampling / audio:>13.3g}")


if __name__ == "__main__":
    main()
