"""structlog set-up for entry points, and the secret redaction every log line goes through.

Library modules only call ``structlog.get_logger()``; ``configure_logging`` is called by the
entry points (the CLI) and nowhere else.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["REDACTED", "configure_logging", "redact", "redact_processor"]

REDACTED = "[redacted]"

_SECRET_KEYS = re.compile(
    r"(api[_-]?key|authorization|token|secret|password|bearer|credential)", re.IGNORECASE
)
# Bearer tokens and DashScope/OpenAI-style keys inside free text.
_SECRET_TEXT = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|access_token)=)[^&\s\"']+"),
]


def redact(value: Any) -> Any:
    """Return ``value`` with anything that looks like a secret replaced by ``[redacted]``."""
    if isinstance(value, str):
        for pattern in _SECRET_TEXT:
            value = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, value)
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEYS.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact secret-looking keys and values in every event."""
    for key in list(event_dict):
        if _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(event_dict[key])
    return event_dict


class _RedactFilter(logging.Filter):
    """Redacts secrets in stdlib log records (e.g. a library logging handshake headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def configure_logging(
    *,
    debug: bool = False,
    stream: TextIO | None = None,
    json: bool | None = None,
    level: str | None = None,
) -> None:
    """Configure structlog (and stdlib logging) for a command-line run.

    Pretty console output on a TTY, one JSON object per line otherwise. Logs go to stderr so
    stdout stays free for audio, URLs and machine-readable output. ``level`` is a level name
    (default WARNING); ``debug`` forces DEBUG.
    """
    out = stream if stream is not None else sys.stderr
    use_json = json if json is not None else not out.isatty()
    if debug:
        numeric = logging.DEBUG
    else:
        numeric = logging.getLevelName((level or "WARNING").upper())
        if not isinstance(numeric, int):
            numeric = logging.WARNING
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_processor,
            structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=out, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactFilter())
    # Third-party loggers that might print request headers at debug level stay at WARNING.
    for name in ("websockets", "httpx", "httpcore", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)
