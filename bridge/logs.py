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

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "REDACTED",
    "configure_logging",
    "redact",
    "redact_processor",
    "resolve_format",
]

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


LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Loggers of libraries that print request headers at DEBUG: never below INFO.
_CHATTY = ("websockets", "httpx", "httpcore", "openai")


def resolve_format(name: str | None, stream: TextIO) -> bool:
    """True for JSON: ``json``, or ``auto`` (the default) on anything but a terminal."""
    name = (name or "auto").lower()
    if name not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {name!r}")
    return name == "json" or (name == "auto" and not stream.isatty())


def configure_logging(
    *,
    debug: bool = False,
    stream: TextIO | None = None,
    json: bool | None = None,
    level: str | None = None,
    log_format: str | None = None,
) -> bool:
    """Configure structlog (and stdlib logging) for a command-line run; return True for JSON.

    ``log_format`` is ``auto`` (pretty console output on a TTY, one JSON object per line
    otherwise), ``json`` or ``console``; ``json`` (a bool) overrides it. Logs go to stderr so
    stdout stays free for audio, URLs and machine-readable output. ``level`` is a level name
    (default WARNING); ``debug`` forces DEBUG. Records of stdlib loggers (websockets, httpx)
    go through the same processors and renderer, so a JSON run stays one JSON object a line;
    those libraries' loggers never go below INFO (at DEBUG they print request headers).
    """
    out = stream if stream is not None else sys.stderr
    use_json = json if json is not None else resolve_format(log_format, out)
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
    exc: Any = structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            redact_processor,
            exc,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
            redact_processor,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, exc, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    return use_json
