"""What the emulator asks of a speech engine, and how it gets one by name."""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from bridge.core.errors import ConfigError

__all__ = ["ENGINE_NAMES", "Synthesizer", "make_synthesizer"]

ENGINE_NAMES: Final[tuple[str, ...]] = ("espeak", "tone", "exact")


@runtime_checkable
class Synthesizer(Protocol):
    """A speech engine: text in, PCM s16le mono at ``sample_rate`` out.

    ``synthesize`` is synchronous and must be thread-safe: the server calls it from worker
    threads (``anyio.to_thread``), several at once. ``language`` is the session's
    ``language_type`` ("Auto", "Chinese", "English", ...); ``sample_rate`` is one of
    ``SUPPORTED_SAMPLE_RATES``; ``speech_rate`` and ``pitch_rate`` are in [0.5, 2.0] and
    ``volume`` in [0, 100] (50 = normal). Out-of-range options raise ``ConfigError``. Blank text
    gives ``b""``.
    """

    @property
    def name(self) -> str:
        """The engine's name, as given to ``make_synthesizer``."""
        ...

    def synthesize(
        self,
        text: str,
        *,
        sample_rate: int,
        language: str | None = None,
        voice: str | None = None,
        speech_rate: float = 1.0,
        pitch_rate: float = 1.0,
        volume: int = 50,
    ) -> bytes: ...


def make_synthesizer(name: str, *, processes: int = 1) -> Synthesizer:
    """The engine called ``name`` ("espeak", "tone" or "exact"), ready to use.

    For "espeak" the library is loaded now, so that a missing install fails here, at start-up,
    with ``ConfigError`` saying how to install it, rather than in the first session;
    ``processes`` > 1 lets that many espeak syntheses run at once (``EspeakSynthesizer``).
    """
    # Each engine's module is imported when that engine is asked for (not the others).
    key = name.strip().lower()
    if key == "tone":
        from bridge.local.engines.tone import ToneSynthesizer

        return ToneSynthesizer()
    if key == "exact":
        from bridge.local.engines.exact import ExactSynthesizer

        return ExactSynthesizer()
    if key == "espeak":
        from bridge.local.engines.espeak import EspeakSynthesizer, load_espeak

        load_espeak()
        return EspeakSynthesizer(processes=processes)
    raise ConfigError(
        f"unknown speech engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}",
        field="engine",
    )
