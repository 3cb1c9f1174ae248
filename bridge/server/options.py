"""Options of ``bridge serve``, the per-session settings a client may change, and the resources
all sessions share. Pure values and checks; the entry point fills them from argv and env."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import anyio
import openai

from bridge.adapters.lexicon_file import NO_LEXICON
from bridge.adapters.llm import LLMConfig
from bridge.core.conversation import HISTORY_MAX_CHARS, HISTORY_MAX_TURNS
from bridge.core.cost import PriceTable
from bridge.core.errors import ConfigError
from bridge.core.pace import VoicePace
from bridge.pipeline import PipelineOptions, TTSTarget
from bridge.qwen.config import LANGUAGE_TYPES, SAMPLE_RATES
from bridge.qwen.models import model_info
from bridge.server.clients import ProxyTrust
from bridge.server.limits import ServerLimits, is_loopback_host
from bridge.server.protocol import ClientProtocolError, ErrorCode, SessionConfigure
from bridge.server.sink import MAX_PLAYBACK_DELAY_MS, NO_ACK_DELAY_MS
from bridge.server.store import ConversationStore
from bridge.text import Lexicon

__all__ = ["Backend", "ServerOptions", "SessionSettings", "apply_configure"]

WS_PATH = "/ws"
# After a response.cancel, how long a session may read on to the end of the speech response
# that was playing (nothing waits for it; a new message brings it back to settle_timeout).
SETTLE_IDLE_TIMEOUT = 3.0


def server_pipeline(*, prices: PriceTable | None = None) -> PipelineOptions:
    """The turn options of a server: ``PipelineOptions`` with ``SETTLE_IDLE_TIMEOUT``."""
    return PipelineOptions(settle_idle_timeout=SETTLE_IDLE_TIMEOUT, prices=prices)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """How ``bridge serve`` listens and behaves.

    - ``token``: required from clients when set; must be set when ``host`` is not loopback;
    - ``origins``: browser origins allowed besides the page's own (``"*"``: any);
    - ``pipeline``: the turn options (``server_pipeline()``: after a ``response.cancel`` the
      heard text may wait ``SETTLE_IDLE_TIMEOUT`` for the end of the response that played,
      ``settle_timeout`` once a new message waits);
    - ``audio_lead``: seconds of audio the server may send ahead of the client's playback
      (``None``: send audio as fast as it is synthesized);
    - ``shutdown_grace``: how long running responses may take to finish at shutdown;
    - ``readiness_ttl``: how long a ``/readyz`` probe result is reused;
    - ``max_history_turns``, ``max_history_chars``: the history sent to the model keeps the
      newest turns within both bounds (turns: user and assistant each count one; characters:
      of every message, the system prompt included), starting with a user turn, so a long
      connection does not grow its prompt without bound (see ``Conversation``);
    - ``trust_proxy``: addresses or networks of reverse proxies whose forwarded header
      (``forwarded_header``: ``x-forwarded-for`` or ``forwarded``) names the client for the
      per-address limits; from any other peer the header is ignored (see
      ``bridge.server.clients``);
    - ``reuse_port``: listen with ``SO_REUSEPORT``, so several processes (``bridge serve
      --workers N``) share the port and the kernel spreads new connections over them;
    - ``speech_port``: where the OpenAI-compatible ``POST /v1/audio/speech`` listens (its own
      HTTP listener, see ``bridge.server.speech_http``; ``0`` picks a free port); ``None``:
      not served;
    - ``store``: where conversations wait for a reconnect (``session.resume``): ``None`` or
      ``"memory"`` in this process, or a ``redis://`` URL shared by replicas
      (``bridge.server.store``); ``history_ttl``: seconds a stored conversation is kept after
      its last change.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = field(default=None, repr=False)
    origins: tuple[str, ...] = ()
    limits: ServerLimits = field(default_factory=ServerLimits)
    pipeline: PipelineOptions = field(default_factory=server_pipeline)
    audio_lead: float | None = 1.0
    shutdown_grace: float = 10.0
    readiness_ttl: float = 5.0
    ping_interval: float | None = 20.0
    max_history_turns: int = HISTORY_MAX_TURNS
    max_history_chars: int = HISTORY_MAX_CHARS
    trust_proxy: tuple[str, ...] = ()
    forwarded_header: str = "x-forwarded-for"
    reuse_port: bool = False
    speech_port: int | None = None
    store: str | None = None
    history_ttl: float = 3600.0

    def __post_init__(self) -> None:
        if self.token is not None and not self.token.strip():
            raise ConfigError("the token must not be empty", field="token")
        if self.token is None and not is_loopback_host(self.host):
            raise ConfigError(
                f"listening on {self.host} (not loopback) needs a token: pass --token or set "
                "BRIDGE_SERVE_TOKEN",
                field="token",
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError("port must be in 0..65535", field="port")
        if not (self.history_ttl > 0 and math.isfinite(self.history_ttl)):
            raise ConfigError(
                "history_ttl must be a positive number of seconds", field="history_ttl"
            )
        if self.speech_port is not None and not 0 <= self.speech_port <= 65535:
            raise ConfigError("speech_port must be in 0..65535", field="speech_port")
        if self.audio_lead is not None and not (
            self.audio_lead > 0 and math.isfinite(self.audio_lead)
        ):
            raise ConfigError("audio_lead must be a positive number or None", field="audio_lead")
        if self.max_history_turns < 1:
            raise ConfigError("max_history_turns must be at least 1", field="max_history_turns")
        if self.max_history_chars < 1:
            raise ConfigError("max_history_chars must be at least 1", field="max_history_chars")
        if not (self.shutdown_grace >= 0 and math.isfinite(self.shutdown_grace)):
            raise ConfigError("shutdown_grace must be >= 0 seconds", field="shutdown_grace")
        self.proxy_trust()  # a bad network or header name is a ConfigError now

    def proxy_trust(self) -> ProxyTrust:
        return ProxyTrust.parse(self.trust_proxy, self.forwarded_header)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSettings:
    """What a client may choose with ``session.configure``."""

    voice: str
    prompt: str
    language: str
    sample_rate: int
    lexicon: str = NO_LEXICON
    # A client without acks is modelled as starting to play this long after a frame is sent.
    playback_delay_ms: int = NO_ACK_DELAY_MS


@dataclass(frozen=True, slots=True, kw_only=True)
class Backend:
    """What every session shares: the chat endpoint (one HTTP client, one connection pool;
    ``None`` on a server without a chat model, which serves speak responses only), the speech
    target, the prompts and lexicons a client may pick, the clock, and the voices' pace
    (``VoicePace``: what every session's turns learned of each voice, so that a new session's
    first barge-in is sized by it rather than by the text estimate)."""

    llm_config: LLMConfig | None
    openai_client: openai.AsyncOpenAI | None
    tts: TTSTarget
    prompts: Mapping[str, str]  # name -> text; the first entry is the default
    options: ServerOptions
    clock: Callable[[], float] = anyio.current_time
    lexicons: Mapping[str, Lexicon] = field(default_factory=dict)  # name -> lexicon
    default_lexicon: str = NO_LEXICON
    store: ConversationStore | None = None  # None: sessions cannot be resumed
    pace: VoicePace = field(default_factory=VoicePace)  # learned by all sessions' turns

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ConfigError("at least one prompt is needed", field="prompts")
        object.__setattr__(self, "prompts", MappingProxyType(dict(self.prompts)))
        if NO_LEXICON in self.lexicons:
            raise ConfigError(f"{NO_LEXICON!r} cannot name a lexicon", field="lexicons")
        object.__setattr__(self, "lexicons", MappingProxyType(dict(self.lexicons)))
        if self.default_lexicon not in self.lexicon_names():
            raise ConfigError(
                f"unknown default lexicon {self.default_lexicon!r}", field="default_lexicon"
            )

    def lexicon_names(self) -> list[str]:
        """What a client may choose: ``"none"`` (no replacements), then the lexicons."""
        return [NO_LEXICON, *self.lexicons]

    def pipeline_for(self, settings: SessionSettings) -> PipelineOptions:
        """The turn options of a session: the server's, with the session's lexicon."""
        return replace(self.options.pipeline, lexicon=self.lexicons.get(settings.lexicon))

    @property
    def default_prompt(self) -> str:
        return next(iter(self.prompts))

    def voices(self) -> list[str]:
        info = model_info(self.tts.model)
        names = list(info.voice_names) if info is not None else []
        if self.tts.config.voice not in names:
            names.insert(0, self.tts.config.voice)
        return names

    def default_settings(self) -> SessionSettings:
        cfg = self.tts.config
        return SessionSettings(
            voice=cfg.voice,
            prompt=self.default_prompt,
            language=cfg.language_type or "Auto",
            sample_rate=cfg.sample_rate,
            lexicon=self.default_lexicon,
        )

    def target_for(self, settings: SessionSettings) -> TTSTarget:
        config = self.tts.config.with_changes(
            voice=settings.voice,
            language_type=None if settings.language == "Auto" else settings.language,
            sample_rate=settings.sample_rate,
        )
        return replace(self.tts, config=config)


def apply_configure(
    current: SessionSettings,
    msg: SessionConfigure,
    *,
    voices: list[str],
    prompts: list[str],
    lexicons: list[str] | None = None,
) -> SessionSettings:
    """The settings after ``msg``, or ``ClientProtocolError(invalid_config)`` naming the field
    and the allowed values. Prompts and lexicons are chosen by name only: a client never
    names a file."""
    lexicons = lexicons if lexicons is not None else [NO_LEXICON]
    if msg.lexicon is not None and msg.lexicon not in lexicons:
        raise ClientProtocolError(
            ErrorCode.INVALID_CONFIG, f"unknown lexicon; choose one of: {', '.join(lexicons)}"
        )
    if msg.voice is not None and msg.voice not in voices:
        raise ClientProtocolError(
            ErrorCode.INVALID_CONFIG, f"unknown voice; choose one of: {', '.join(voices)}"
        )
    if msg.prompt is not None and msg.prompt not in prompts:
        raise ClientProtocolError(
            ErrorCode.INVALID_CONFIG, f"unknown prompt; choose one of: {', '.join(prompts)}"
        )
    language = msg.language
    if language is not None:
        match = {lang.lower(): lang for lang in LANGUAGE_TYPES}.get(language.lower())
        if match is None:
            raise ClientProtocolError(
                ErrorCode.INVALID_CONFIG,
                f"unknown language; choose one of: {', '.join(LANGUAGE_TYPES)}",
            )
        language = match
    if msg.sample_rate is not None and msg.sample_rate not in SAMPLE_RATES:
        raise ClientProtocolError(
            ErrorCode.INVALID_CONFIG,
            f"unsupported sample_rate; choose one of: {', '.join(map(str, SAMPLE_RATES))}",
        )
    delay = msg.playback_delay_ms
    if delay is not None and not 0 <= delay <= MAX_PLAYBACK_DELAY_MS:
        raise ClientProtocolError(
            ErrorCode.INVALID_CONFIG,
            f"playback_delay_ms must be 0 to {MAX_PLAYBACK_DELAY_MS} (milliseconds from a "
            "frame's arrival to its playing)",
        )
    return SessionSettings(
        voice=msg.voice or current.voice,
        prompt=msg.prompt or current.prompt,
        language=language or current.language,
        sample_rate=msg.sample_rate or current.sample_rate,
        lexicon=msg.lexicon or current.lexicon,
        playback_delay_ms=current.playback_delay_ms if delay is None else delay,
    )
