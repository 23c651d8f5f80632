"""The daemon's own log: structlog to the journal (native fields), JSON lines or a terminal.

Every event is a snake_case name plus fields (``log.warning("incident_opened",
incident_id=..., filesystem_device="dm-0", mountpoint="/srv")``). The pipeline is a few
small processors (context variables, level, timestamp) and one renderer per format:

``journal``
    One journal entry per event, sent with systemd-python's ``sendv`` (not ``send``: a field
    may repeat): a one-line ``MESSAGE`` (the event's ``message`` field when it has one, else
    a summary from :mod:`rowatch.messages` and ``key=value`` pairs), ``PRIORITY``,
    ``SYSLOG_IDENTIFIER=rowatch``, ``MESSAGE_ID`` for the events in :mod:`rowatch.messages`,
    ``CODE_FILE``/``CODE_LINE``/``CODE_FUNC``, ``ROWATCH_EVENT`` and every field as
    ``ROWATCH_<KEY>``; lists become repeated fields. ``ROWATCH_INCIDENT`` (the incident id)
    and ``ROWATCH_DEVICE`` (every device named in ``filesystem_device``, ``device``,
    ``devices``) make ``journalctl -u rowatch ROWATCH_DEVICE=sda`` work. Without
    systemd-python, or while journald is down, lines go to the stream with a ``<priority>``
    prefix, which journald reads from a service's stderr.
``json``
    One object per line: ``timestamp``, ``level``, ``event``, then the fields sorted by name.
``console``
    structlog's ConsoleRenderer; colours only on a terminal (and not with ``NO_COLOR``).

:func:`configure` may be called again (a reload changes the level or format); loggers from
``structlog.get_logger()`` follow. Records of the standard ``logging`` module (asyncio,
libraries) are routed through the same pipeline.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import string
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict

from rowatch.messages import MESSAGES

try:
    from systemd import journal as _systemd_journal
except ImportError:  # pragma: no cover - depends on the installation
    _systemd_journal = None

FORMATS = ("auto", "journal", "json", "console")
LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
#: syslog priorities (sd-daemon.h) of the structlog levels.
PRIORITIES: Mapping[str, int] = {
    "critical": 2,
    "exception": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "info": 6,
    "debug": 7,
}
SYSLOG_IDENTIFIER = "rowatch"
FIELD_PREFIX = "ROWATCH_"
#: Extra journal fields: alias -> the event keys whose values it repeats.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "ROWATCH_INCIDENT": ("incident_id",),
    "ROWATCH_DEVICE": ("filesystem_device", "device", "devices"),
}

_MAX_FIELD_NAME = 64  # journald drops longer field names
_MAX_VALUE_IN_MESSAGE = 200
#: MESSAGE stops taking key=value fields once it is this long.
MESSAGE_LIMIT = 400
_PRIVATE_KEYS = ("_record", "_from_structlog")
_CALLSITE_KEYS = ("pathname", "lineno", "func_name")
_NEWLINES = re.compile(r"[\r\n]+")
_NEEDS_QUOTES = re.compile(r'[\s"=]')


def journal_available() -> bool:
    """Whether systemd-python is installed, so the journal format can send natively."""
    return _systemd_journal is not None


# ------------------------------------------------------------------------- format choice
def connected_to_journal(stream: TextIO) -> bool:
    """Whether ``stream`` is the journal stream systemd gave us (``$JOURNAL_STREAM``).

    systemd sets ``JOURNAL_STREAM=<device>:<inode>`` for a service whose stdout or stderr
    goes to the journal; the stream is connected when its file matches (sd_journal_stream_fd
    and systemd.exec(5) describe this check).
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError, AttributeError):
        return False


def resolve_format(format: str, stream: TextIO) -> str:
    """``auto`` made concrete: journal, else console on a terminal, else json."""
    if format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)} (got {format!r})")
    if format != "auto":
        return format
    if connected_to_journal(stream):
        return "journal"
    return "console" if _isatty(stream) else "json"


# ----------------------------------------------------------------------------- processors
def add_timestamp(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """``timestamp``: now, ISO 8601 UTC with microseconds (as in replay JSON)."""
    event_dict.setdefault("timestamp", datetime.now(UTC).isoformat(timespec="microseconds"))
    return event_dict


def drop_private(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Remove the keys the standard-library bridge passes to the callsite processor."""
    for key in _PRIVATE_KEYS:
        event_dict.pop(key, None)
    return event_dict


def _text(value: str) -> str:
    """A string that encodes to UTF-8 whatever it holds (lone surrogates escaped)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_default(value: object) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def render_json(logger: Any, method_name: str, event_dict: EventDict) -> str:
    """One JSON object: ``timestamp``, ``level``, ``event``, then the fields by name."""
    head = {
        key: event_dict.pop(key) for key in ("timestamp", "level", "event") if key in event_dict
    }
    body = {**head, **dict(sorted(event_dict.items()))}
    # Lone surrogates (undecodable bytes in a path) become \udcXX escapes: valid JSON.
    return _text(json.dumps(body, ensure_ascii=False, default=_json_default))


# ------------------------------------------------------------------------------- journal
@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One rendered event: the journal fields, and what the stderr fallback prints."""

    message: str
    priority: int
    fields: list[bytes]
    exception: str | None = None


def field_name(key: str) -> str:
    """``incident_id`` -> ``ROWATCH_INCIDENT_ID``: only A-Z, 0-9 and _; at most 64 chars."""
    return (FIELD_PREFIX + re.sub(r"[^A-Z0-9_]", "_", key.upper(), flags=re.ASCII))[
        :_MAX_FIELD_NAME
    ]


def _bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")  # undecodable path bytes, as they were
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _scalar(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, str):
        return _bytes(value)
    if isinstance(value, Enum):
        return _scalar(value.value)
    if isinstance(value, PurePath):
        return os.fsencode(value)
    if isinstance(value, int | float):
        return repr(value).encode()
    return _bytes(json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=True))


def _values(value: object) -> list[bytes]:
    """Journal values of one event field: none for None, one per item of a flat list."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        if all(isinstance(item, str | bytes | int | float | Enum | PurePath) for item in items):
            return [_scalar(item) for item in items]
    return [_scalar(value)]


def _plain(value: object) -> str:
    """A field value as plain one-line text, bounded in length."""
    if isinstance(value, list | tuple | set | frozenset):
        text = ",".join(_plain(item) for item in value)
    elif isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "backslashreplace")
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, str | int | float | PurePath):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=_json_default, sort_keys=True)
    if len(text) > _MAX_VALUE_IN_MESSAGE:
        text = text[: _MAX_VALUE_IN_MESSAGE - 1] + "\u2026"
    return _NEWLINES.sub(" ", _text(text))


def _quoted(value: object) -> str:
    """A field value for ``key=value``: bare when plain, else a JSON string."""
    text = _plain(value)
    if not text or _NEEDS_QUOTES.search(text) or not text.isprintable():
        return _text(json.dumps(text, ensure_ascii=False))
    return text


def summary(event: str, fields: Mapping[str, Any]) -> str:
    """The one-line MESSAGE of an event.

    A ``message`` field is the caller's own one-liner and is used as it is. Otherwise: the
    event's template (when every field it names is present) or title from
    :mod:`rowatch.messages`, or the event name; then ``key=value`` of the other single-line
    fields, up to about :data:`MESSAGE_LIMIT` characters.
    """
    own = fields.get("message")
    if isinstance(own, str) and own.strip():
        return _NEWLINES.sub(" ", _text(own.strip()))
    message = MESSAGES.get(event)
    head, used = _plain(event), set()
    if message is not None:
        head = message.title
        if message.template is not None:
            names = {name for _, name, _, _ in string.Formatter().parse(message.template) if name}
            if all(fields.get(name) is not None for name in names):
                head = message.template.format_map({name: _plain(fields[name]) for name in names})
                used = names
    line = head
    separator = ": "
    for key, value in fields.items():
        if key in used or key == "message" or value is None:
            continue
        if isinstance(value, str | bytes) and _NEWLINES.search(
            value if isinstance(value, str) else value.decode("latin-1")
        ):
            continue  # multi-line values (evidence, tracebacks) stay in their own field
        if len(line) >= MESSAGE_LIMIT:
            line += " \u2026"
            break
        line += f"{separator}{_plain(key)}={_quoted(value)}"
        separator = " "
    return line


def render_journal(
    logger: Any, method_name: str, event_dict: EventDict
) -> tuple[tuple[JournalEntry], dict[str, Any]]:
    """The journal entry of an event (final processor for :class:`JournalLogger`)."""
    return (journal_entry(event_dict),), {}


def journal_entry(event_dict: Mapping[str, Any]) -> JournalEntry:
    """Journal fields for one event dict."""
    data = dict(event_dict)
    event = str(data.pop("event", ""))
    level = str(data.pop("level", "info"))
    data.pop("timestamp", None)
    for key in _PRIVATE_KEYS:
        data.pop(key, None)
    callsite = {key: data.pop(key, None) for key in _CALLSITE_KEYS}
    exception = data.pop("exception", None)
    exception = str(exception) if exception is not None else None

    message = summary(event, data)
    if exception:
        last = exception.strip().splitlines()[-1] if exception.strip() else ""
        message = f"{message} ({_plain(last)})" if last else message
    priority = PRIORITIES.get(level, 6)

    fields: list[bytes] = [
        b"MESSAGE=" + message.encode("utf-8"),
        b"PRIORITY=%d" % priority,
        b"SYSLOG_IDENTIFIER=" + SYSLOG_IDENTIFIER.encode(),
    ]
    known = MESSAGES.get(event)
    if known is not None:
        fields.append(b"MESSAGE_ID=" + known.id.encode())
    if callsite["pathname"] is not None:
        fields.append(b"CODE_FILE=" + _bytes(str(callsite["pathname"])))
    if callsite["lineno"] is not None:
        fields.append(b"CODE_LINE=" + str(callsite["lineno"]).encode())
    if callsite["func_name"] is not None:
        fields.append(b"CODE_FUNC=" + _bytes(str(callsite["func_name"])))

    named: dict[str, list[bytes]] = {"ROWATCH_EVENT": [_bytes(event)]}

    def add(name: str, values: Iterable[bytes]) -> None:
        bucket = named.setdefault(name, [])
        bucket.extend(v for v in values if v not in bucket)

    for key, value in data.items():
        if key != "message":  # it is MESSAGE
            add(field_name(key), _values(value))
    for alias, keys in ALIASES.items():
        for key in keys:
            value = data.get(key)
            # "sda sda2 dm-0": device names never hold blanks, so a string may list several
            add(alias, _values(value.split() if isinstance(value, str) else value))
    if exception:
        add("ROWATCH_EXCEPTION", [_bytes(exception)])
    for name, values in named.items():
        fields.extend(name.encode() + b"=" + value for value in values)
    return JournalEntry(message, priority, fields, exception)


class JournalLogger:
    """Sends :class:`JournalEntry` values to journald; to ``stream`` when it cannot."""

    def __init__(self, stream: TextIO, send: Callable[..., Any] | None = None) -> None:
        self._stream = stream
        self._send = send
        self._lock = threading.Lock()
        self._warned = False

    def msg(self, entry: JournalEntry) -> None:
        if self._send is not None:
            try:
                self._send(*entry.fields)
                return
            except OSError as exc:
                self._fallback_note(f"cannot send to the journal ({exc}); logging to stderr")
        else:
            self._fallback_note("systemd-python is not installed; logging to stderr")
        self._write(entry.priority, entry.message, entry.exception)

    debug = info = warning = warn = error = err = critical = fatal = exception = log = msg
    failure = msg

    def _fallback_note(self, note: str) -> None:
        if not self._warned:
            self._warned = True
            self._write(4, f"rowatch: {note}", None)

    def _write(self, priority: int, message: str, exception: str | None) -> None:
        lines = [message, *(exception.rstrip("\n").splitlines() if exception else [])]
        text = "".join(f"<{priority}>{_text(line)}\n" for line in lines)
        with self._lock:
            try:
                self._stream.write(text)
                self._stream.flush()
            except (OSError, ValueError):
                pass  # nowhere left to log to; the daemon must go on


# ------------------------------------------------------------------------ standard logging
class _StdlibBridge(logging.Handler):
    """Routes ``logging`` records (asyncio, libraries) through the structlog pipeline."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = (
                "critical"
                if record.levelno >= logging.CRITICAL
                else "error"
                if record.levelno >= logging.ERROR
                else "warning"
                if record.levelno >= logging.WARNING
                else "info"
                if record.levelno >= logging.INFO
                else "debug"
            )
            kw: dict[str, Any] = {
                "logger": record.name,
                "_record": record,
                "_from_structlog": False,
            }
            if record.exc_info:
                kw["exc_info"] = record.exc_info
            getattr(structlog.get_logger(), level)(record.getMessage(), **kw)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


def _capture_stdlib(level: int) -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StdlibBridge)]:
        root.removeHandler(handler)
    root.addHandler(_StdlibBridge(level))
    root.setLevel(level)
    logging.captureWarnings(True)


# ------------------------------------------------------------------------------ configure
def configure(
    format: str = "auto",
    level: str = "info",
    *,
    stream: TextIO | None = None,
    capture_stdlib: bool = True,
) -> str:
    """Set up structlog for ``format`` and ``level``; return the format used (never auto).

    ``stream`` (default: ``sys.stderr`` at call time) receives json and console lines, and
    journal lines when the journal cannot be reached. Raises ValueError for an unknown
    format or level.
    """
    out = stream if stream is not None else sys.stderr
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)} (got {level!r})")
    min_level = LEVELS[level.lower()]
    chosen = resolve_format(format, out)

    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_timestamp,
        structlog.processors.StackInfoRenderer(),
    ]
    logger_factory: Callable[..., Any]
    if chosen == "journal":
        processors += [
            structlog.processors.CallsiteParameterAdder(
                [
                    structlog.processors.CallsiteParameter.PATHNAME,
                    structlog.processors.CallsiteParameter.LINENO,
                    structlog.processors.CallsiteParameter.FUNC_NAME,
                ],
                additional_ignores=[__name__],
            ),
            drop_private,
            structlog.processors.format_exc_info,
            render_journal,
        ]
        send = _systemd_journal.sendv if _systemd_journal is not None else None
        journal_logger = JournalLogger(out, send)
        logger_factory = lambda *args: journal_logger  # noqa: E731
    elif chosen == "json":
        processors += [drop_private, structlog.processors.format_exc_info, render_json]
        logger_factory = structlog.PrintLoggerFactory(file=out)
    else:
        colors = _isatty(out) and not os.environ.get("NO_COLOR")
        processors += [drop_private, structlog.dev.ConsoleRenderer(colors=colors)]
        logger_factory = structlog.PrintLoggerFactory(file=out)

    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        logger_factory=logger_factory,
        context_class=dict,
        cache_logger_on_first_use=False,  # so a reload's configure() reaches every logger
    )
    if capture_stdlib:
        _capture_stdlib(min_level)
    return chosen
