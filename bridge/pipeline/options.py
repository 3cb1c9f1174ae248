"""The options of a turn: where to speak (``TTSTarget``), how to recover a dropped connection
(``ReconnectPolicy``) and how to cut and bill the text (``PipelineOptions``). Frozen values,
checked when they are made (at start-up), not at every turn."""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from bridge.core.cost import PriceTable
from bridge.core.errors import ConfigError
from bridge.qwen.client import Timeouts, TTSSession, build_url, connect
from bridge.qwen.config import SessionConfig
from bridge.qwen.models import DEFAULT_MODEL
from bridge.text import Lexicon, SegmenterOptions

__all__ = ["PipelineOptions", "ReconnectPolicy", "TTSTarget"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TTSTarget:
    """Where and how to open TTS sessions (one per turn)."""

    url: str | None = None
    region: str = "beijing"
    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    workspace: str | None = None
    config: SessionConfig = field(default_factory=SessionConfig)
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        # Refuse a URL that is not ws:// or wss://, an unknown region or a bad workspace id
        # when the target is made (at start-up), not at every turn.
        build_url(self.url, self.region, self.model, self.workspace)

    def connect(self) -> AbstractAsyncContextManager[TTSSession]:
        return connect(
            url=self.url,
            region=self.region,
            model=self.model,
            api_key=self.api_key,
            workspace=self.workspace,
            config=self.config,
            timeouts=self.timeouts,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """How often to reconnect when the TTS connection drops mid-turn, and the pause first."""

    attempts: int = 1
    delay: float = 0.1


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOptions:
    """Options of a turn.

    - ``commit_first``: in ``server_commit`` mode, send ``input_text_buffer.commit`` right after
      the first segment so synthesis starts at once even when it ends at a comma (measured in
      ``benchmarks/pipeline_speed.py``; on by default because it wins there);
    - ``stall_timeout``: seconds with text pending and no boundary before the segmenter is told
      to cut, so the listener is not left in silence;
    - ``keep_full_text``: record the whole reply in the history even when interrupted;
    - ``clear_timeout``: bound on sending ``input_text_buffer.clear`` at barge-in;
    - ``settle_timeout``: at a barge-in inside a response whose end has not arrived yet, how
      long to wait for that end (its audio is no longer played), so the part heard is measured
      against the response's real length rather than estimated (``0``: never wait);
    - ``settle_idle_timeout``: the same bound while nothing waits for the turn's end, until
      ``Turn.hurry()`` (a new message arrived) brings it back to ``settle_timeout`` from the
      settle's start (``None``: ``settle_timeout`` throughout; ``bridge serve`` waits longer
      after a ``response.cancel``: ``bridge.server.options.server_pipeline``);
    - ``prices``: the user's price table; with a price for the turn's model the result carries
      its ``cost``.
    - ``lexicon``: the user's word replacements, made in the scrubbed text before it is
      segmented (see ``bridge.text.Lexicon``).
    """

    commit_first: bool = True
    stall_timeout: float = 1.2
    keep_full_text: bool = False
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    code_placeholder: str | None = None
    clear_timeout: float = 0.5
    settle_timeout: float = 0.5
    settle_idle_timeout: float | None = None
    prices: PriceTable | None = None
    lexicon: Lexicon | None = None

    def __post_init__(self) -> None:
        if not (self.stall_timeout > 0 and math.isfinite(self.stall_timeout)):
            raise ConfigError("stall_timeout must be a positive number of seconds")
        if not (self.settle_timeout >= 0 and math.isfinite(self.settle_timeout)):
            raise ConfigError("settle_timeout must be zero or a positive number of seconds")
        idle = self.settle_idle_timeout
        if idle is not None and not (idle >= 0 and math.isfinite(idle)):
            raise ConfigError(
                "settle_idle_timeout must be None, zero or a positive number of seconds"
            )
        if self.reconnect.attempts < 0:
            raise ConfigError("reconnect attempts must not be negative")
