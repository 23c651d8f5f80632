"""Webhook alerts: every alert as one JSON POST, signed when a secret is set.

The body is documented in docs/alerts-webhook.md (a public interface: fields are only ever
added). ``X-Rowatch-Delivery`` carries the alert id, so a receiver can drop the copy a retry
after a crash sends; ``X-Rowatch-Signature`` is ``sha256=`` and the hex HMAC-SHA256 of the
exact body bytes under the secret from ``secret_file``.

This module also holds what the HTTP sinks share: :class:`HttpPoster` (one aiohttp session,
outcomes mapped to :class:`~rowatch.sinks.SinkError`), the :class:`Url` setting type and
:func:`alert_summary`, the one line people see.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import os
import socket
import ssl
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import structlog

from rowatch import __version__
from rowatch.alert import Alert, AlertKind
from rowatch.config import AbsolutePath, Duration, InvalidValue, Setting, Spec, String
from rowatch.incident import iso_time
from rowatch.report import headline, recovery
from rowatch.sinks import SinkError

if TYPE_CHECKING:
    # aiohttp is imported when a request is made: the configuration (and the man page
    # generator, which reads it) must load where aiohttp is not installed.
    import aiohttp

log = structlog.get_logger("rowatch")

#: ``version`` of the webhook body (docs/alerts-webhook.md).
PAYLOAD_VERSION = 1
USER_AGENT = f"rowatch/{__version__}"
#: A secret file larger than this is not a secret but a mistake (a key file, a binary).
MAX_SECRET_BYTES = 4096
#: A longer Retry-After is taken as this: an alert must not wait hours on a receiver's word.
MAX_RETRY_AFTER = 600.0
#: Bytes of an error response quoted in the failure message.
_ERROR_BODY_BYTES = 300


# ----------------------------------------------------------------------------- settings
def url_problem(text: str) -> str | None:
    """Why ``text`` is not a usable http(s) URL, or None."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
        return f"must not contain spaces or control characters (got {text!r})"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL: {exc} (got {text!r})"
    if parts.scheme not in ("http", "https"):
        return f"must start with http:// or https:// (got {text!r})"
    if not parts.hostname:
        return f"must name a host (got {text!r})"
    if port == 0:
        return f"must not use port 0 (got {text!r})"
    if parts.fragment:
        return f"must not have a #fragment (got {text!r})"
    return None


def display_url(url: str, *, path: bool = True) -> str:
    """``url`` fit for a log: never the user:password part; the path only if ``path``.

    Webhook URLs often carry their token in the path (chat services do), so the webhook
    sink logs only scheme, host and port.
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    shown = f"{parts.scheme}://{netloc}"
    if path:
        return shown + parts.path
    return shown + ("/..." if parts.path not in ("", "/") or parts.query else "")


class Url(Spec):
    """An ``http://`` or ``https://`` URL."""

    kind = "URL (`http://` or `https://`)"

    def parse(self, raw: object) -> str:
        if not isinstance(raw, str) or not raw:
            raise InvalidValue(f"must be a URL string (got {_shown(raw)})")
        problem = url_problem(raw)
        if problem:
            raise InvalidValue(problem)
        return raw

    def toml(self, value: Any) -> str:
        return String().toml(value)


def _shown(raw: object) -> str:
    """A value as config errors quote it (strings quoted, other types named)."""
    if isinstance(raw, str):
        return repr(raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return repr(raw)
    return "an array" if isinstance(raw, list) else "a table" if isinstance(raw, dict) else "?"


def secret_file_problem(path: str) -> str | None:
    """Why ``path`` may not hold a secret: it must be a regular file only its owner (root, or
    the user rowatch runs as) can read. None when fine, or when it cannot be checked from here
    (a non-root ``check-config``); the daemon checks again when it reads the file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return None
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    return _secret_mode_problem(info)


def _secret_mode_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_mode & 0o077:
        return (
            f"can be read or written by group or others (mode {stat.S_IMODE(info.st_mode):04o}):"
            " chmod 600 it"
        )
    if info.st_uid not in (0, os.geteuid()):
        return f"is owned by uid {info.st_uid}, not by root or the user rowatch runs as"
    return None


def load_secret(path: str) -> bytes:
    """The secret in ``path``, surrounding whitespace (a trailing newline) removed.

    Raises ValueError saying what is wrong with the file; the message never holds the secret.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise ValueError(f"secret file {path}: {exc.strerror or exc}") from None
    try:
        problem = _secret_mode_problem(os.fstat(fd))
        if problem:
            raise ValueError(f"secret file {path} {problem}")
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"secret file {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise ValueError(f"secret file {path} is larger than {MAX_SECRET_BYTES} bytes")
    secret = data.strip()
    if not secret:
        raise ValueError(f"secret file {path} is empty")
    return secret


def ca_file_problem(path: str | None) -> str | None:
    """Why ``path`` is no usable CA bundle (PEM), or None."""
    if path is None:
        return None
    try:
        ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    except ssl.SSLError as exc:
        return f"holds no usable PEM certificates ({exc.reason or exc})"
    return None


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:+-")


class SinkName(Spec):
    """A name for logs: letters, digits and ``._:+-``."""

    kind = "name"

    def parse(self, raw: object) -> str:
        if not isinstance(raw, str) or not raw:
            raise InvalidValue(f"must be a non-empty string (got {_shown(raw)})")
        if not set(raw) <= _NAME_CHARS or len(raw) > 64:
            raise InvalidValue(
                f"must be at most 64 letters, digits or ._:+- (got {raw!r})",
            )
        return raw

    def toml(self, value: Any) -> str:
        return String().toml(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConfig:
    """``[[webhook]]``: an HTTP endpoint that receives every alert as JSON."""

    url: Annotated[
        str,
        Setting(
            Url(),
            "Where alerts are POSTed (docs/alerts-webhook.md). `https://` is verified against "
            "the system's CAs, or `ca_file`.",
        ),
    ]
    secret_file: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            "File holding the shared secret that signs each body (`X-Rowatch-Signature`); "
            "readable by root only (mode 0600). Not set: bodies are not signed.",
        ),
    ] = None
    timeout: Annotated[
        float,
        Setting(
            Duration(minimum=1.0),
            "How long one delivery may take, connecting included; then it is retried later.",
        ),
    ] = 10.0
    ca_file: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            "PEM file of the CA certificates that `https://` servers are verified against, "
            "instead of the system's.",
        ),
    ] = None
    name: Annotated[
        str | None,
        Setting(
            SinkName(),
            "Name of this webhook in logs and of its outbox; unique. Not set: `webhook:HOST`, "
            "plus a hash of the URL when two webhooks share a host.",
        ),
    ] = None

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.secret_file is not None:
            problem = secret_file_problem(self.secret_file)
            if problem:
                yield "secret_file", problem
        problem = ca_file_problem(self.ca_file)
        if problem:
            yield "ca_file", problem


# ----------------------------------------------------------------------------- the body
_OUTCOME_SUBJECT = {"read_only": "read-only", "shutdown": "shut down", "panic": "panicked"}


def _subject(incident: Mapping[str, Any]) -> str:
    """``/var (dm-0, ext3)``: what an incident is about, without what happened to it."""
    device = incident.get("filesystem_device")
    what = ", ".join(str(x) for x in (device, incident.get("filesystem")) if x)
    mountpoint = incident.get("mountpoint")
    if mountpoint:
        return f"{mountpoint} ({what})" if what else str(mountpoint)
    if device:
        return f"filesystem on {what}"
    return "device " + " ".join(incident.get("devices") or ["?"])


def alert_summary(alert: Alert) -> str:
    """One line for people: ``web1: /var (dm-0, ext3) remounted read-only``."""
    incident = alert.incident
    if alert.kind is AlertKind.TEST:
        text = "test alert from rowatch: alerts reach you"
    elif incident is None:
        count = len(alert.incidents)
        stopped = sum(1 for i in alert.incidents if i.get("outcome"))
        text = f"{count} storage incidents: {stopped} filesystems no longer writable"
        if count - stopped:
            text += f", {count - stopped} with errors"
    elif alert.kind is AlertKind.RECOVERED:
        text = f"{_subject(incident)} is {recovery(incident)}"
    elif alert.kind is AlertKind.CLOSED:
        text = f"{_subject(incident)}: errors stopped, still writable"
    else:
        text = headline(incident)
    return f"{alert.host}: {text}"


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The webhook body as a JSON-ready dict (docs/alerts-webhook.md); also the exec stdin."""
    return {
        "version": PAYLOAD_VERSION,
        "alert": {
            "id": alert.id,
            "kind": alert.kind.value,
            "host": alert.host,
            "fqdn": alert.fqdn,
            "created": iso_time(alert.created),
            "sequence": alert.sequence,
            "thread": alert.thread,
            "summary": alert_summary(alert),
        },
        "incidents": list(alert.incidents),
    }


def encode_payload(alert: Alert) -> bytes:
    """The exact bytes that are sent, and signed."""
    return json.dumps(webhook_payload(alert), ensure_ascii=True, separators=(",", ":")).encode()


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Rowatch-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------------------- HTTP
def status_is_temporary(status: int) -> bool:
    """For a failed response: whether sending again later may work (408, 429, 5xx)."""
    return status in (408, 429) or status >= 500


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds, or an HTTP date), at most
    :data:`MAX_RETRY_AFTER`; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _quote_body(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    return text[:_ERROR_BODY_BYTES]


class HttpPoster:
    """POSTs bodies over one aiohttp session; every failure becomes a :class:`SinkError`.

    2xx is success. 408, 429, 5xx, timeouts, connection and TLS errors are temporary; other
    statuses, redirects included (never followed), are permanent.
    """

    def __init__(self, *, timeout: float, ca_file: str | None = None) -> None:
        self.timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # A fresh connection per request: alerts are rare, and a pooled connection the
                # server dropped meanwhile would fail the one request that matters.
                connector=aiohttp.TCPConnector(ssl=self._ssl, force_close=True),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], *, shown: str) -> int:
        """POST ``body``; return the 2xx status. ``shown`` names the target in errors."""
        import aiohttp

        try:
            async with self._client().post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return status
                quoted = _quote_body(await response.content.read(_ERROR_BODY_BYTES))
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise SinkError(
                f"{shown}: no answer within {self.timeout:g}s", temporary=True
            ) from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise SinkError(
                f"{shown}: TLS certificate not trusted ({exc.certificate_error}); "
                "set ca_file to the CA that signed it",
                temporary=True,
            ) from None
        except aiohttp.InvalidURL as exc:
            raise SinkError(f"{shown}: invalid URL ({exc})", temporary=False) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise SinkError(f"{shown}: {_describe(exc)}", temporary=True) from None
        reason = f"HTTP {status}" + (f": {quoted}" if quoted else "")
        if 300 <= status < 400:
            reason += " (redirects are not followed: configure the final URL)"
        temporary = status_is_temporary(status)
        raise SinkError(
            f"{shown}: {reason}",
            temporary=temporary,
            retry_after=retry_after if temporary else None,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(exc: BaseException) -> str:
    """A connection error in words: ``connection refused``, ``TLS error: ...``."""
    cause = getattr(exc, "os_error", None) or exc
    if isinstance(cause, ssl.SSLError):
        return f"TLS error: {cause.reason or cause}"
    if isinstance(cause, socket.gaierror) and cause.strerror:
        return f"cannot resolve the host name: {cause.strerror}"
    if isinstance(cause, OSError) and isinstance(cause.errno, int) and cause.errno > 0:
        return os.strerror(cause.errno).lower()
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ------------------------------------------------------------------------------- the sink
class WebhookSink:
    """Sends each alert to one URL (see the module docstring)."""

    def __init__(self, config: WebhookConfig, *, name: str | None = None) -> None:
        """Raises ValueError when the secret or CA file cannot be used."""
        self.config = config
        self.shown = display_url(config.url, path=False)
        self.name = name or config.name or f"webhook:{urlsplit(config.url).hostname}"
        self._secret = load_secret(config.secret_file) if config.secret_file else None
        try:
            self._http = HttpPoster(timeout=config.timeout, ca_file=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ca_file {config.ca_file}: {exc}") from None

    def __repr__(self) -> str:
        return f"<WebhookSink {self.name} {self.shown}>"

    def headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-Rowatch-Delivery": alert.id,
            "X-Rowatch-Event": alert.kind.value,
        }
        if self._secret is not None:
            headers["X-Rowatch-Signature"] = signature(self._secret, body)
        return headers

    async def send(self, alert: Alert) -> None:
        body = encode_payload(alert)
        await self._http.post(
            self.config.url, body, self.headers(alert, body), shown=f"{self.name} ({self.shown})"
        )

    async def close(self) -> None:
        await self._http.close()


def webhook_sinks(configs: Sequence[WebhookConfig]) -> list[WebhookSink]:
    """One sink per ``[[webhook]]``; raises ValueError naming the entry that cannot be used.

    Sink names must be unique (they name the outboxes): two webhooks on one host without a
    ``name`` are told apart by a hash of their URLs; two equal ``name`` values are an error.
    """
    defaults = [f"webhook:{urlsplit(c.url).hostname}" for c in configs]
    sinks = []
    seen: dict[str, int] = {}
    for index, config in enumerate(configs):
        for other in range(index):
            if configs[other].url == config.url:
                raise ValueError(f"webhook[{index}]: the same url as webhook[{other}]")
        name = config.name
        if name is None:
            name = defaults[index]
            if defaults.count(name) > 1:
                name += "-" + hashlib.sha256(config.url.encode()).hexdigest()[:8]
        if name in seen:
            raise ValueError(f"webhook[{index}]: name {name!r} is taken by webhook[{seen[name]}]")
        seen[name] = index
        try:
            sinks.append(WebhookSink(config, name=name))
        except ValueError as exc:
            raise ValueError(f"webhook[{index}]: {exc}") from None
    return sinks
