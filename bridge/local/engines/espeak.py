"""Real speech from espeak-ng, through a small ctypes binding of our own.

The shared library and its voice data come from the PyPI package ``espeakng-loader`` (the
``local`` extra), imported only when the engine is first used. espeak-ng is GPL-3.0-or-later; it
is loaded at run time, never vendored.

Why there is process-wide state here, against the project's habit: espeak-ng keeps all of its
state (current voice, parameters, synthesis buffers) in C globals, one copy per process, and
concurrent calls corrupt its heap. So this module owns exactly one lazily initialised library
handle, ``_LIBRARY``, and every call into the library (initialise, set voice, set parameters,
synthesize) is made while holding its single ``threading.Lock``. A second handle would not be a
second engine, only a second way into the same globals. Resampling happens outside the lock.

The library is used in synchronous mode (``AUDIO_OUTPUT_SYNCHRONOUS``): ``espeak_Synth`` returns
when the text is spoken, and a callback collects the samples (22,050 Hz, s16, mono) meanwhile,
on the calling thread.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from bridge.core.errors import ConfigError, TTSError
from bridge.local.engines.options import check_options
from bridge.local.engines.resample import preload, resample_pcm16
from bridge.local.engines.scripts import guess_language

if TYPE_CHECKING:
    from bridge.local.engines.espeak_pool import EspeakPool

__all__ = [
    "INSTALL_HINT",
    "EspeakSettings",
    "EspeakSynthesizer",
    "espeak_settings",
    "espeak_voice",
    "load_espeak",
    "synthesize_pcm",
]

INSTALL_HINT: Final = (
    "install the 'local' extra: uv sync --extra local / pip install 'bridge[local]'"
)

# espeak-ng's C API constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_DONT_EXIT: Final = 0x8000  # return an error instead of calling exit()
_CHARS_UTF8: Final = 1
_POS_CHARACTER: Final = 1
_EE_OK: Final = 0
_PARAM_RATE: Final = 1
_PARAM_VOLUME: Final = 2
_PARAM_PITCH: Final = 3

# espeak voice per Qwen language_type (lower-cased).
_LANGUAGE_VOICES: Final[dict[str, str]] = {
    "chinese": "cmn",
    "english": "en-us",
    "japanese": "ja",
    "korean": "ko",
    "german": "de",
    "french": "fr",
    "spanish": "es",
    "italian": "it",
    "portuguese": "pt",
    "russian": "ru",
}
# Qwen voices that are female get espeak's female variant f3; the others keep the default
# (male) voice. An approximation for an emulator, not a claim about the real voices.
_FEMALE_VOICES: Final = frozenset(
    {
        "Cherry", "Serena", "Chelsie", "Momo", "Vivian", "Moon", "Maia", "Bella", "Jennifer",
        "Katerina", "Mia", "Mochi", "Bellona", "Bunny", "Nini", "Ebona", "Seren", "Stella",
        "Sohee", "Ono Anna", "Jada", "Sunny", "Kiki",
    }
)  # fmt: skip
_FEMALE_VARIANT: Final = "f3"

_DEFAULT_WPM: Final = 175  # espeak's default rate
_MIN_WPM: Final = 80
_MAX_WPM: Final = 450


@dataclass(frozen=True, slots=True)
class EspeakSettings:
    """What espeak is told for one synthesis: a voice name and its three parameters."""

    voice: str  # e.g. "en-us" or "cmn+f3"
    rate: int  # words per minute, 80..450
    pitch: int  # 0..100, 50 = the voice's normal pitch
    volume: int  # 0..200, 100 = normal


def espeak_voice(language: str | None, text: str, voice: str | None = None) -> str:
    """The espeak voice for a Qwen ``language_type`` (``"Auto"``/``None``/unknown: guessed from
    the text's script) and a Qwen voice name (female voices get a female variant)."""
    key = (language or "auto").strip().lower()
    name = _LANGUAGE_VOICES.get(key)
    if name is None:
        name = _LANGUAGE_VOICES[guess_language(text).lower()]
    if voice in _FEMALE_VOICES:
        name = f"{name}+{_FEMALE_VARIANT}"
    return name


def espeak_settings(
    *,
    language: str | None,
    text: str,
    voice: str | None = None,
    speech_rate: float = 1.0,
    pitch_rate: float = 1.0,
    volume: int = 50,
) -> EspeakSettings:
    """Map the Qwen session parameters onto espeak's (pure):

    - ``speech_rate`` 1.0 is espeak's default 175 words per minute, scaled linearly and clamped
      to espeak's 80..450;
    - ``pitch_rate`` 1.0 is espeak's pitch 50, scaled linearly and clamped to 0..100;
    - ``volume`` 0..100 (50 normal) is espeak's amplitude 0..200 (100 normal).
    """
    return EspeakSettings(
        voice=espeak_voice(language, text, voice),
        rate=min(_MAX_WPM, max(_MIN_WPM, round(_DEFAULT_WPM * speech_rate))),
        pitch=min(100, max(0, round(50 * pitch_rate))),
        volume=min(200, max(0, 2 * volume)),
    )


@dataclass(frozen=True, slots=True)
class EspeakSynthesizer:
    """The ``espeak`` engine. Thread-safe: the library is entered under one process-wide lock.

    ``processes`` > 1: up to that many syntheses run at once, one in this process and the others
    in espeak worker processes of their own (``bridge.local.engines.espeak_pool``), each with its
    own copy of espeak-ng's globals. The workers start on demand, when a call finds every
    process busy, and stop with ``close()`` (or when this process exits). Each call's output is
    the same whichever process makes it."""

    processes: int = 1
    name: str = field(default="espeak", init=False)
    _pool: EspeakPool | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.processes, bool) or not isinstance(self.processes, int):
            raise ConfigError(f"processes must be an integer, got {self.processes!r}")
        if self.processes < 1:
            raise ConfigError(f"processes must be at least 1, got {self.processes}")
        if self.processes > 1:
            from bridge.local.engines.espeak_pool import EspeakPool

            object.__setattr__(self, "_pool", EspeakPool(self.processes))

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
    ) -> bytes:
        check_options(
            sample_rate=sample_rate, speech_rate=speech_rate, pitch_rate=pitch_rate, volume=volume
        )
        text = text.replace("\x00", " ")  # the library reads a NUL-terminated string
        if not text.strip():
            return b""
        settings = espeak_settings(
            language=language,
            text=text,
            voice=voice,
            speech_rate=speech_rate,
            pitch_rate=pitch_rate,
            volume=volume,
        )
        encoded = text.encode("utf-8", "replace")
        if self._pool is not None:
            return self._pool.synthesize(encoded, settings, sample_rate)
        return synthesize_pcm(encoded, settings, sample_rate)

    def close(self) -> None:
        """Stop the worker processes (if any); later calls start new ones when needed."""
        if self._pool is not None:
            self._pool.close()


def synthesize_pcm(text: bytes, settings: EspeakSettings, sample_rate: int) -> bytes:
    """``text`` (UTF-8, no NUL) spoken by this process's espeak-ng, as s16le at
    ``sample_rate``: the work of one synthesis, wherever it runs."""
    pcm, native_rate = _LIBRARY.synthesize(text, settings)
    return resample_pcm16(pcm, native_rate, sample_rate)


def load_espeak() -> int:
    """Load and initialise espeak-ng now (it is otherwise loaded on first use); return its
    native sample rate. Raises ``ConfigError`` with an install hint when it is unavailable."""
    return _LIBRARY.load()


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


class _Engine:
    """An initialised espeak-ng. Use only while holding ``_SharedLibrary._lock``."""

    def __init__(self, lib: ctypes.CDLL, sample_rate: int) -> None:
        self._lib = lib
        self.sample_rate = sample_rate
        self._chunks: list[bytes] = []
        self._voice: str | None = None
        # espeak keeps only the C pointer: this object must outlive every synthesis.
        self._callback = _SynthCallback(self._collect)
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: int | None, count: int, events: int | None) -> int:
        if wav and count > 0:
            self._chunks.append(ctypes.string_at(wav, 2 * count))
        return 0  # 0 = continue

    def synthesize(self, text: bytes, settings: EspeakSettings) -> bytes:
        lib = self._lib
        if settings.voice != self._voice:
            self._voice = None
            status = int(lib.espeak_SetVoiceByName(settings.voice.encode("ascii")))
            if status != _EE_OK:
                raise TTSError(f"espeak-ng has no voice {settings.voice!r} (status {status})")
            self._voice = settings.voice
        for parameter, value in (
            (_PARAM_RATE, settings.rate),
            (_PARAM_PITCH, settings.pitch),
            (_PARAM_VOLUME, settings.volume),
        ):
            status = int(lib.espeak_SetParameter(parameter, value, 0))
            if status != _EE_OK:
                raise TTSError(f"espeak-ng refused parameter {parameter}={value} (status {status})")
        self._chunks = []
        try:
            buffer = text + b"\x00"
            status = int(
                lib.espeak_Synth(buffer, len(buffer), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            )
            if status != _EE_OK:
                raise TTSError(f"espeak-ng synthesis failed (status {status})")
            pcm = b"".join(self._chunks)
        finally:
            self._chunks = []
        if sys.byteorder == "big":  # espeak writes native-endian samples; we promise s16le
            return _swap16(pcm)
        return pcm


class _SharedLibrary:
    """The one espeak-ng of this process behind its one lock (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: _Engine | None = None

    def load(self) -> int:
        with self._lock:
            return self._engine_locked().sample_rate

    def synthesize(self, text: bytes, settings: EspeakSettings) -> tuple[bytes, int]:
        with self._lock:
            engine = self._engine_locked()
            return engine.synthesize(text, settings), engine.sample_rate

    def _engine_locked(self) -> _Engine:
        if self._engine is None:
            self._engine = _open_engine()
        return self._engine


def _open_engine() -> _Engine:
    try:
        import espeakng_loader  # optional dependency (the 'local' extra): imported on first use
    except ImportError as exc:
        raise ConfigError(
            f"the espeak engine needs the espeakng-loader package: {INSTALL_HINT}", field="engine"
        ) from exc
    if importlib.util.find_spec("soxr") is None:  # checked here, imported in the background
        raise ConfigError(
            f"the espeak engine needs the soxr package (its resampler): {INSTALL_HINT}",
            field="engine",
        )
    preload()
    try:
        library_path = str(espeakng_loader.get_library_path())
        data_path = str(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(library_path)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(
            f"could not load espeak-ng ({exc}); reinstall it: {INSTALL_HINT}", field="engine"
        ) from exc
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,  # text
        ctypes.c_size_t,  # size in bytes, including the terminating NUL
        ctypes.c_uint,  # position
        ctypes.c_int,  # position type
        ctypes.c_uint,  # end position (0 = none)
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique identifier out (unused)
        ctypes.c_void_p,  # user data (unused)
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    rate = int(
        lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data_path), _INITIALIZE_DONT_EXIT
        )
    )
    if rate <= 0:
        raise ConfigError(
            f"espeak-ng failed to initialise with its data at {data_path} (status {rate}); "
            f"reinstall it: {INSTALL_HINT}",
            field="engine",
        )
    return _Engine(lib, rate)


def _swap16(pcm: bytes) -> bytes:
    swapped = bytearray(pcm)
    swapped[0::2], swapped[1::2] = pcm[1::2], pcm[0::2]
    return bytes(swapped)


_LIBRARY: Final = _SharedLibrary()
