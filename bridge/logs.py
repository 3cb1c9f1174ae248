"""structlog set-up for entry points, and the secret redaction every log line goes through.

Library modules only call ``structlog.get_logger()``; ``configure_logging`` is called by the
entry points (the CLI) and nowhere else. This module imports structlog only in
``configure_logging`` (``redact`` is used everywhere and costs nothing to import).
"""

from __future__ import annotations

import json as _json
import logging
import re
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    pass

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "REDACTED",
    "configure_logging",
    "redact",
    "redact_processor",
    "resolve_format",
    "safe_url",
    "text_logging",
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
_CHATTY = ("websockets", "httpx", "httpx2", "httpcore", "openai", "aiohttp")
# Where the hooks below write; set by configure_logging.
_state: dict[str, Any] = {"out": sys.stderr, "json": True, "text": False}


def text_logging() -> bool:
    """True when the user's and the model's text may be logged at INFO (``--log-text``)."""
    return bool(_state["text"])


def resolve_format(name: str | None, stream: TextIO) -> bool:
    """True for JSON: ``json``, or ``auto`` (the default) on anything but a terminal."""
    name = (name or "auto").lower()
    if name not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {name!r}")
    return name == "json" or (name == "auto" and not stream.isatty())


def _safe_repr(value: object) -> str | None:
    if value is None:
        return None
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        text = f"<{type(value).__name__} object>"
    return text[:200]


def _last_resort(event: str, exc_type: type[BaseException] | None, exc: object) -> None:
    """One line without structlog, for when logging itself failed (e.g. no stack left)."""
    try:
        name = getattr(exc_type, "__name__", "Exception")
        detail = f"{name}: {redact(str(exc))}" if exc is not None else name
        out: TextIO = _state["out"]
        if _state["json"]:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            line = _json.dumps(
                {"event": event, "level": "error", "timestamp": stamp, "exception": detail}
            )
        else:
            line = f"{event}: {detail}"
        out.write(line + "\n")
        out.flush()
    except BaseException:  # nothing is left to report it with
        pass


def _structlog() -> ModuleType:
    """structlog, imported (when no one has yet) without rich, and off Windows without colorama.

    structlog (up to at least 26.1) imports rich at its own import whenever rich is installed
    (for its rich traceback formatter and the locals' reprs), which is most of structlog's
    import time (about 190 of 330 ms of CPU on a loaded 2-core machine). bridge never renders
    with rich: tracebacks are ``plain_traceback`` on the console and ``format_exc_info`` in JSON
    (rich's would print the frames' locals: keys, the user's text). Likewise colorama (and the
    ctypes it loads, ~15 ms): off Windows, structlog's console colours without it are the very
    same ANSI codes. So while structlog is imported, those are hidden; afterwards they are
    importable again for anyone who wants them.
    """
    if "structlog" in sys.modules:
        import structlog as loaded

        return loaded
    hidden = [name for name in _HIDDEN_FROM_STRUCTLOG if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "import rich" raises ImportError
    try:
        import structlog as loaded
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return loaded


# What structlog would import at its own import and bridge never needs (see _structlog).
_HIDDEN_FROM_STRUCTLOG = ("rich",) if sys.platform == "win32" else ("rich", "colorama")


def _log_exception(
    event: str,
    exc_type: type[BaseException],
    exc: BaseException | None,
    tb: TracebackType | None,
    **fields: Any,
) -> None:
    try:
        info = (exc_type, exc, tb) if exc is not None else None
        if info is None:
            fields["exception"] = exc_type.__name__
        structlog = _structlog()
        structlog.get_logger("bridge.errors").error(event, exc_info=info, **fields)
    except BaseException:
        _last_resort(event, exc_type, exc)


def _unraisable_hook(args: Any) -> None:
    """``sys.unraisablehook``: an exception Python could not raise (a ``__del__``, a
    finalizer, a garbage-collected generator) becomes one log record, not a raw traceback."""
    _log_exception(
        "exception.unraisable",
        args.exc_type,
        args.exc_value,
        args.exc_traceback,
        message=args.err_msg or "Exception ignored in",
        object=_safe_repr(args.object),
    )


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook``: an exception that ended a thread."""
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread is not None else None
    _log_exception(
        "exception.thread", args.exc_type, args.exc_value, args.exc_traceback, thread=thread
    )


def _uncaught_hook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    """``sys.excepthook``: an exception that ends the program (a bug) is logged too."""
    _log_exception("exception.uncaught", exc_type, exc, tb)


def _adopt_library_handlers(out: TextIO) -> None:
    """Libraries that gave their own loggers a plain stream handler (uvicorn does) would
    bypass the renderer: remove those handlers and let the records reach the root."""
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and stream in (
                sys.stderr,
                sys.stdout,
                out,
            ):
                logger.removeHandler(handler)
                logger.propagate = True


def configure_logging(
    *,
    debug: bool = False,
    stream: TextIO | None = None,
    json: bool | None = None,
    level: str | None = None,
    log_format: str | None = None,
    log_text: bool = False,
    hooks: bool = True,
) -> bool:
    """Configure structlog (and stdlib logging) for a command-line run; return True for JSON.

    ``log_format`` is ``auto`` (pretty console output on a TTY, one JSON object per line
    otherwise), ``json`` or ``console``; ``json`` (a bool) overrides it. Logs go to stderr so
    stdout stays free for audio, URLs and machine-readable output. ``level`` is a level name
    (default WARNING); ``debug`` forces DEBUG. Records of stdlib loggers (websockets, httpx,
    asyncio, warnings) go through the same processors and renderer, so a JSON run stays one
    JSON object a line, exceptions included (an ``exception`` field); those libraries' loggers
    never go below INFO (at DEBUG they print request headers). With ``hooks`` (the default),
    ``sys.unraisablehook``, ``threading.excepthook`` and ``sys.excepthook`` log through
    structlog too. ``log_text`` lets the user's and the model's text into INFO lines.
    """
    structlog = _structlog()
    out = stream if stream is not None else sys.stderr
    use_json = json if json is not None else resolve_format(log_format, out)
    _state.update(out=out, json=use_json, text=log_text)
    if debug:
        numeric = logging.DEBUG
    else:
        numeric = logging.getLevelName((level or "WARNING").upper())
        if not isinstance(numeric, int):
            numeric = logging.WARNING
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        # A plain traceback: rich's would print the frames' locals (keys, the user's text).
        else structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    exc: Any = structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            exc,
            redact_processor,
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
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exc,
            redact_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    _adopt_library_handlers(out)
    logging.captureWarnings(True)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    if hooks:
        sys.unraisablehook = _unraisable_hook
        threading.excepthook = _thread_hook
        sys.excepthook = _uncaught_hook
    return use_json


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
