"""The local emulator's speech engines: resampler, tone, espeak, and how they are chosen."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import threading
import types
from array import array
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.errors import ConfigError
from bridge.local.engines import (
    SUPPORTED_SAMPLE_RATES,
    EspeakSynthesizer,
    Synthesizer,
    ToneSynthesizer,
    make_synthesizer,
)
from bridge.local.engines import espeak as espeak_module
from bridge.local.engines.espeak import espeak_settings, espeak_voice
from bridge.local.engines.resample import (
    output_length,
    pcm16_from_samples,
    resample,
    resample_pcm16,
    samples_from_pcm16,
)
from bridge.local.engines.scripts import _class_regex, guess_language
from bridge.local.engines.tone import ToneSpan, plan_tones

ENGLISH = "Hello world, this is a test of the local speech engine."
CHINESE = "你好，世界。这是本地语音引擎的测试。"
SRC = 22_050


# --- measuring helpers (tests only) ---------------------------------------------------------


def sine(freq: float, rate: int, seconds: float, amplitude: float = 10_000.0) -> array[int]:
    n = round(rate * seconds)
    return array(
        "h", (round(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
    )


def goertzel_amplitude(samples: Sequence[int], rate: int, freq: float) -> float:
    """Amplitude of the ``freq`` component (exact for a sine of whole periods)."""
    coeff = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for value in samples:
        s1, s2 = value + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2.0 * math.sqrt(max(power, 0.0)) / len(samples)


def zero_crossing_frequency(samples: Sequence[int], rate: int) -> float:
    """Frequency from the first to the last upward zero crossing (interpolated)."""
    ups = [
        i - 1 + samples[i - 1] / (samples[i - 1] - samples[i])
        for i in range(1, len(samples))
        if samples[i - 1] < 0 <= samples[i]
    ]
    return (len(ups) - 1) * rate / (ups[-1] - ups[0])


def rms(samples: Sequence[int]) -> float:
    return math.sqrt(sum(v * v for v in samples) / len(samples)) if samples else 0.0


def pcm_samples(pcm: bytes) -> array[int]:
    return samples_from_pcm16(pcm)


# --- resampler ------------------------------------------------------------------------------

RATE_PAIRS = [(SRC, dst) for dst in SUPPORTED_SAMPLE_RATES] + [(24000, 16000), (16000, 48000)]


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 147, 441, 1000, 22_050])
def test_resample_length_follows_the_rate_ratio(src: int, dst: int, n: int) -> None:
    out = resample(array("h", range(n)), src, dst)
    assert len(out) == output_length(n, src, dst) == n * dst // src


def test_same_rate_is_identity() -> None:
    x = sine(440, SRC, 0.1)
    assert resample(x, SRC, SRC) == x
    assert resample_pcm16(pcm16_from_samples(x), SRC, SRC) == pcm16_from_samples(x)


@pytest.mark.parametrize("dst", SUPPORTED_SAMPLE_RATES)
@pytest.mark.parametrize("freq", [440.0, 1000.0, 2500.0])
def test_a_sine_stays_a_sine_at_its_frequency(dst: int, freq: float) -> None:
    out = resample(sine(freq, SRC, 0.5), SRC, dst)
    middle = out[len(out) // 10 : -len(out) // 10]  # away from the zero-padded edges
    assert zero_crossing_frequency(middle, dst) == pytest.approx(freq, rel=2e-3)
    # Whole periods for the Goertzel measure: 0.3 s of 440/1000/2500 Hz.
    window = out[len(out) // 10 : len(out) // 10 + round(0.3 * dst)]
    assert goertzel_amplitude(window, dst, freq) == pytest.approx(10_000, rel=0.06)
    # And nothing much at an unrelated frequency.
    assert goertzel_amplitude(window, dst, freq * 1.5) < 300


@pytest.mark.parametrize(("freq", "dst"), [(5000.0, 8000), (10_000.0, 16000), (6000.0, 8000)])
def test_downsampling_removes_what_would_alias(freq: float, dst: int) -> None:
    out = resample(sine(freq, SRC, 0.3), SRC, dst)
    # Unfiltered, these tones would fold to dst - freq with full amplitude (about 7,000 rms).
    assert rms(out[100:-100]) < 30


@pytest.mark.parametrize("dst", SUPPORTED_SAMPLE_RATES)
def test_dc_stays_dc(dst: int) -> None:
    out = resample(array("h", [1234] * 4410), SRC, dst)
    middle = out[len(out) // 10 : -len(out) // 10]
    assert min(middle) >= 1233
    assert max(middle) <= 1235


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_silence_stays_silent_and_the_output_is_deterministic(src: int, dst: int) -> None:
    assert resample(array("h", bytes(2 * 4410)), src, dst) == array(
        "h", bytes(2 * (4410 * dst // src))
    )
    speechy = sine(440, src, 0.2)
    assert resample(speechy, src, dst) == resample(speechy, src, dst)


@pytest.mark.parametrize("dst", SUPPORTED_SAMPLE_RATES)
def test_full_scale_square_wave_is_clipped_not_overflowed(dst: int) -> None:
    square = array("h", ([32767] * 20 + [-32768] * 20) * 200)
    out = resample(square, SRC, dst)
    assert len(out) == output_length(len(square), SRC, dst)
    assert max(out) <= 32767
    assert min(out) >= -32768


def test_pcm16_conversions_are_little_endian_and_drop_an_odd_byte() -> None:
    assert list(samples_from_pcm16(b"\x01\x00\xff\xff\x00\x80\x7f")) == [1, -1, -32768]
    assert pcm16_from_samples(array("h", [1, -1, -32768])) == b"\x01\x00\xff\xff\x00\x80"
    assert resample_pcm16(b"\x01\x00\x02", SRC, SRC) == b"\x01\x00"
    assert len(resample_pcm16(bytes(2 * 2205), SRC, 8000)) == 2 * 800


@pytest.mark.parametrize(("src", "dst"), [(0, 8000), (8000, -1), (True, 8000)])
def test_resample_rejects_bad_rates(src: int, dst: int) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        resample(array("h", [0, 1]), src, dst)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.integers(-32768, 32767), max_size=300),
    dst=st.sampled_from(SUPPORTED_SAMPLE_RATES),
)
def test_resample_any_input_gives_in_range_samples_of_the_right_count(
    samples: list[int], dst: int
) -> None:
    out = resample(samples, SRC, dst)
    assert len(out) == len(samples) * dst // SRC
    assert all(-32768 <= v <= 32767 for v in out)


# --- options and scripts --------------------------------------------------------------------


@pytest.mark.parametrize("engine", [ToneSynthesizer(), EspeakSynthesizer()], ids=["tone", "espeak"])
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"sample_rate": 22050}, "sample_rate"),
        ({"sample_rate": True}, "sample_rate"),
        ({"speech_rate": 2.5}, "speech_rate"),
        ({"speech_rate": 0.4}, "speech_rate"),
        ({"pitch_rate": math.nan}, "pitch_rate"),
        ({"volume": 101}, "volume"),
        ({"volume": 50.0}, "volume"),
        ({"volume": -1}, "volume"),
    ],
)
def test_out_of_range_options_raise_config_error(
    engine: Synthesizer, options: dict[str, object], field: str
) -> None:
    kwargs: dict[str, object] = {"sample_rate": 24000} | options
    with pytest.raises(ConfigError) as info:
        engine.synthesize("hello", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_guess_language_compiles_no_class_regex_for_ascii_text() -> None:
    # the script classes have no ASCII character; their regexes are slow to compile
    _class_regex.cache_clear()
    assert guess_language("Plain ASCII, as most English text is: 1 + 2 = 3.") == "English"
    assert _class_regex.cache_info().currsize == 0
    assert guess_language("café") == "English"
    assert guess_language("café, 你好") == "Chinese"
    assert _class_regex.cache_info().currsize == 3  # kana, Hangul and Han were looked for


def test_guess_language_from_script() -> None:
    assert guess_language("hello") == "English"
    assert guess_language("你好 world") == "Chinese"
    assert guess_language("今日はいい天気") == "Japanese"
    assert guess_language("안녕하세요") == "Korean"
    assert guess_language("") == "English"


# --- tone -----------------------------------------------------------------------------------


def test_tone_is_a_synthesizer_named_tone() -> None:
    tone = make_synthesizer("tone")
    assert isinstance(tone, ToneSynthesizer)
    assert isinstance(tone, Synthesizer)
    assert tone.name == "tone"


def test_tone_is_deterministic() -> None:
    a = ToneSynthesizer().synthesize(ENGLISH + CHINESE, sample_rate=24000, speech_rate=1.3)
    b = ToneSynthesizer().synthesize(ENGLISH + CHINESE, sample_rate=24000, speech_rate=1.3)
    assert a == b
    assert len(a) > 0


def test_tone_plan_follows_the_text() -> None:
    assert plan_tones("Hi, you") == (
        ToneSpan(120, (ord("H") + ord("i")) % 4),
        ToneSpan(120, None),  # comma and space
        ToneSpan(180, (ord("y") + ord("o") + ord("u")) % 4),
    )
    assert [s.ms for s in plan_tones("你好。")] == [180, 180, 180]
    assert plan_tones("  \n ") == ()


@pytest.mark.parametrize("rate", SUPPORTED_SAMPLE_RATES)
@pytest.mark.parametrize(
    ("text", "speech_rate", "seconds"),
    [
        ("Hello world", 1.0, 0.660),  # 11 characters x 60 ms
        ("Hello   world", 1.0, 0.660),  # a run of spaces is one pause
        ("你好世界", 1.0, 0.720),  # 4 x 180 ms
        ("你好，世界。", 2.0, 0.540),  # 6 x 180 ms at double speed
        ("Hello world", 0.5, 1.320),
        ("a", 1.0, 0.100),  # the minimum
    ],
)
def test_tone_duration(rate: int, text: str, speech_rate: float, seconds: float) -> None:
    tone = ToneSynthesizer()
    pcm = tone.synthesize(text, sample_rate=rate, speech_rate=speech_rate)
    assert len(pcm) == 2 * round(seconds * rate)
    assert len(pcm) == 2 * tone.expected_samples(text, sample_rate=rate, speech_rate=speech_rate)


def test_tone_blank_text_is_empty() -> None:
    for text in ("", "   ", "\n\t"):
        assert ToneSynthesizer().synthesize(text, sample_rate=16000) == b""
        assert ToneSynthesizer().expected_samples(text, sample_rate=16000) == 0


@pytest.mark.parametrize("rate", SUPPORTED_SAMPLE_RATES)
def test_tone_has_no_clicks_at_the_seams(rate: int) -> None:
    pcm = ToneSynthesizer().synthesize(
        ENGLISH + " " + CHINESE, sample_rate=rate, pitch_rate=2.0, speech_rate=2.0, volume=100
    )
    s = pcm_samples(pcm)
    amplitude = 16000
    top_hz = 300 * 2.0 * 1.2
    # A sine's steepest step is amplitude * 2*pi*f/rate; a click would jump by ~amplitude.
    steepest = max(abs(b - a) for a, b in itertools.pairwise(s))
    assert steepest <= amplitude * 2 * math.pi * top_hz / rate * 1.05 + 2
    assert max(s) > 0.9 * amplitude


def test_tone_volume_and_pitch() -> None:
    tone = ToneSynthesizer()
    quiet = pcm_samples(tone.synthesize("hello", sample_rate=24000, volume=25))
    normal = pcm_samples(tone.synthesize("hello", sample_rate=24000, volume=50))
    silent = tone.synthesize("hello", sample_rate=24000, volume=0)
    assert rms(normal) == pytest.approx(2 * rms(quiet), rel=0.01)
    assert silent == bytes(len(silent))
    assert len(silent) == 2 * len(normal)
    low = pcm_samples(tone.synthesize("hello", sample_rate=24000, pitch_rate=0.5))
    high = pcm_samples(tone.synthesize("hello", sample_rate=24000, pitch_rate=1.0))
    ratio = zero_crossing_frequency(high, 24000) / zero_crossing_frequency(low, 24000)
    assert ratio == pytest.approx(2.0, rel=0.02)


# --- espeak ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def espeak() -> Synthesizer:
    return make_synthesizer("espeak")


def test_espeak_is_a_synthesizer_named_espeak(espeak: Synthesizer) -> None:
    assert isinstance(espeak, EspeakSynthesizer)
    assert isinstance(espeak, Synthesizer)
    assert espeak.name == "espeak"
    assert make_synthesizer(" ESPEAK ").name == "espeak"


@pytest.mark.parametrize(
    ("language", "text", "voice", "expected"),
    [
        ("Chinese", "hello", None, "cmn"),
        ("English", "你好", None, "en-us"),
        ("Auto", "你好 world", None, "cmn"),
        (None, "hello", None, "en-us"),
        ("Auto", "こんにちは", None, "ja"),
        ("Auto", "안녕하세요", None, "ko"),
        ("Japanese", "hello", None, "ja"),
        ("german", "hallo", None, "de"),
        ("Klingon", "hello", None, "en-us"),
        ("English", "hello", "Cherry", "en-us+f3"),
        ("Chinese", "hello", "Ethan", "cmn"),
    ],
)
def test_espeak_voice_choice(
    language: str | None, text: str, voice: str | None, expected: str
) -> None:
    assert espeak_voice(language, text, voice) == expected


def test_espeak_parameter_mapping() -> None:
    normal = espeak_settings(language="English", text="hi")
    assert (normal.rate, normal.pitch, normal.volume) == (175, 50, 100)
    fast = espeak_settings(
        language="English", text="hi", speech_rate=2.0, pitch_rate=2.0, volume=100
    )
    assert (fast.rate, fast.pitch, fast.volume) == (350, 100, 200)
    slow = espeak_settings(language="English", text="hi", speech_rate=0.5, pitch_rate=0.5, volume=0)
    assert (slow.rate, slow.pitch, slow.volume) == (88, 25, 0)


@pytest.mark.parametrize("rate", SUPPORTED_SAMPLE_RATES)
@pytest.mark.parametrize(
    ("text", "language", "low", "high"),
    [
        pytest.param(ENGLISH, "English", 2.0, 5.0, id="english"),  # 10 words at ~175 wpm
        pytest.param(CHINESE, "Chinese", 2.5, 7.0, id="chinese"),  # 15 syllables
        pytest.param(CHINESE, "Auto", 2.5, 7.0, id="chinese-auto"),
    ],
)
def test_espeak_speaks_at_every_rate(
    espeak: Synthesizer, rate: int, text: str, language: str, low: float, high: float
) -> None:
    pcm = espeak.synthesize(text, sample_rate=rate, language=language, voice="Cherry")
    s = pcm_samples(pcm)
    assert len(pcm) % 2 == 0
    assert low < len(s) / rate < high
    assert rms(s) > 500  # speech, not silence
    assert sum(1 for v in s if abs(v) > 2000) > len(s) // 20


def test_espeak_chinese_is_read_as_chinese(espeak: Synthesizer) -> None:
    # Read with the English voice, Han characters are spelled out as "Chinese letter ...".
    as_chinese = espeak.synthesize("你好", sample_rate=16000, language="Chinese")
    as_english = espeak.synthesize("你好", sample_rate=16000, language="English")
    assert len(as_english) > 1.5 * len(as_chinese)


def test_espeak_other_languages_speak(espeak: Synthesizer) -> None:
    for text, language in [("こんにちは", "Auto"), ("안녕하세요", "Auto"), ("Guten Tag", "German")]:
        s = pcm_samples(espeak.synthesize(text, sample_rate=16000, language=language))
        assert len(s) > 0.2 * 16000
        assert rms(s) > 500


def test_espeak_blank_text_is_empty(espeak: Synthesizer) -> None:
    for text in ("", "   ", "\n\t ", "\x00"):
        assert espeak.synthesize(text, sample_rate=24000) == b""


def test_espeak_survives_odd_text(espeak: Synthesizer) -> None:
    for text in ("a\x00b", "<speak>not ssml</speak> & < >", "\ud800 lone surrogate", "🙂"):
        espeak.synthesize(text, sample_rate=8000)  # no exception, no crash


def test_espeak_parameters_change_the_output(espeak: Synthesizer) -> None:
    def seconds(**options: float) -> float:
        pcm = espeak.synthesize(ENGLISH, sample_rate=16000, language="English", **options)  # type: ignore[arg-type]
        return len(pcm) / 2 / 16000

    slow, normal, fast = seconds(speech_rate=0.5), seconds(), seconds(speech_rate=2.0)
    assert slow > 1.5 * normal
    assert normal > 1.5 * fast

    loud = pcm_samples(espeak.synthesize(ENGLISH, sample_rate=16000, volume=100))
    quiet = pcm_samples(espeak.synthesize(ENGLISH, sample_rate=16000, volume=25))
    assert rms(loud) > 3 * rms(quiet)
    silent = espeak.synthesize(ENGLISH, sample_rate=16000, volume=0)
    assert silent == bytes(len(silent))

    high = espeak.synthesize(ENGLISH, sample_rate=16000, pitch_rate=2.0)
    low = espeak.synthesize(ENGLISH, sample_rate=16000, pitch_rate=0.5)
    assert high != low
    assert len(high) == pytest.approx(len(low), rel=0.1)


def test_espeak_is_thread_safe(espeak: Synthesizer) -> None:
    requests = [
        (ENGLISH, "English", 24000, 1.0),
        (CHINESE, "Chinese", 16000, 1.0),
        (ENGLISH, "English", 8000, 2.0),
        (CHINESE, "Auto", 48000, 1.5),
        ("Short one.", "English", 24000, 1.0),
        ("你好", "Auto", 24000, 0.5),
    ]

    def run(text: str, language: str, rate: int, speed: float) -> bytes:
        return espeak.synthesize(text, sample_rate=rate, language=language, speech_rate=speed)

    reference = [len(run(*r)) for r in requests]
    results: dict[tuple[int, int], bytes] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(worker_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            for k in range(len(requests)):
                i = (worker_id + k) % len(requests)
                results[worker_id, i] = run(*requests[i])
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 8 * len(requests)
    for (_, i), pcm in results.items():
        # espeak-ng is not bit-for-bit repeatable (its glottal source keeps phase across
        # calls), so compare lengths with a tolerance: a mixed-up voice, rate or buffer would
        # be far off.
        assert len(pcm) == pytest.approx(reference[i], rel=0.05)
        assert rms(pcm_samples(pcm)) > 300


# --- choosing an engine ---------------------------------------------------------------------


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown speech engine 'festival'.*espeak, tone"
    ) as info:
        make_synthesizer("festival")
    assert info.value.field == "engine"


def test_missing_espeak_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(espeak_module, "_LIBRARY", espeak_module._SharedLibrary())
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    with pytest.raises(ConfigError, match=r"uv sync --extra local") as info:
        make_synthesizer("espeak")
    assert info.value.field == "engine"


def test_broken_espeak_install_says_how_to_reinstall(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("espeakng_loader")
    fake.get_library_path = lambda: "/nonexistent/libespeak-ng.so"  # type: ignore[attr-defined]
    fake.get_data_path = lambda: "/nonexistent/espeak-ng-data"  # type: ignore[attr-defined]
    monkeypatch.setattr(espeak_module, "_LIBRARY", espeak_module._SharedLibrary())
    monkeypatch.setitem(sys.modules, "espeakng_loader", fake)
    with pytest.raises(ConfigError, match=r"could not load espeak-ng.*bridge\[local\]"):
        make_synthesizer("espeak")


def test_importing_the_engines_loads_nothing() -> None:
    code = (
        "import bridge.local.engines as e, bridge.local.engines.espeak as m, sys;"
        "assert m._LIBRARY._engine is None;"
        "assert 'espeakng_loader' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
