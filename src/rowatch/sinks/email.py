"""E-mail alerts: straight to an SMTP relay with aiosmtplib, never through a local MTA.

A local sendmail queues under /var, which may be the filesystem that just went read-only; so
the sink speaks SMTP itself to a relay (smarthost): plain, STARTTLS (required, never
downgraded) or implicit TLS, optionally with AUTH. One connection per alert: alerts are rare
and a fresh connection has no stale state to go wrong.

Failures become :class:`~rowatch.sinks.SinkError`: ``temporary`` (retry later) for refused
or dropped connections, timeouts and 4xx replies; permanent for 5xx rejections of the sender,
the message or every recipient, failed authentication, and TLS that cannot work as
configured. When only some recipients are refused the others get the message and the
refused ones are logged (``email_recipients_refused``). The password never appears in a log
line or an exception's text.

Works with aiosmtplib 2.0 (Debian 12) and 3.x-5.x: only keyword arguments common to all are
used, and exceptions are told apart by class and reply code.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from typing import TypeVar

import aiosmtplib
import structlog

from rowatch.alert import Alert
from rowatch.mail import clean, render
from rowatch.sinks import SinkError
from rowatch.smtp_url import (
    DEFAULT_TIMEOUT,
    EmailSettings,
    Security,
    SmtpSettings,
    SmtpSettingsError,
    check_address,
    check_smtp,
    split_address,
)

log = structlog.get_logger("rowatch")

#: Messages rendered ahead and not sent yet, at most (alerts waiting for a relay that is down).
_PREPARED_MAX = 64
_E = TypeVar("_E", bound=BaseException)

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*", re.ASCII)
#: How much of a server's reply goes into an error message.
REPLY_MAX = 300


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    """The client TLS context: system CAs, or only ``ca_file``; no checks if not
    ``tls_verify``. None for plain SMTP. Raises :class:`SmtpSettingsError` for a bad CA file."""
    if settings.security is Security.NONE:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SmtpSettingsError(
            f"cannot load CA file {settings.ca_file!r}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    if not settings.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class EmailSink:
    """Sends each alert as one message to ``mail_to`` through the relay in ``settings``."""

    def __init__(
        self,
        settings: SmtpSettings,
        mail_from: str,
        mail_to: Sequence[str],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        name: str = "email",
    ) -> None:
        """Raises :class:`SmtpSettingsError` for settings that cannot work."""
        self.name = name
        check_smtp(settings)
        for address in (mail_from, *mail_to):
            reason = check_address(address)
            if reason:
                raise SmtpSettingsError(reason)
        if not mail_to:
            raise SmtpSettingsError("no recipients")
        if settings.username is not None and settings.password is None:
            raise SmtpSettingsError(f"user {settings.username!r} needs a password")
        self.settings = settings
        self.mail_from = mail_from
        self.mail_to = tuple(mail_to)
        self.timeout = timeout
        self._sender = split_address(mail_from)[1]
        self._recipients = [split_address(a)[1] for a in self.mail_to]
        self._tls = tls_context(settings)
        #: Recipients the relay refused in the last delivery that reached the others.
        self.last_refused: dict[str, str] = {}
        self._prepared: dict[str, EmailMessage] = {}  # alert id -> its message, rendered
        self._prepared_lock = threading.Lock()  # prepare() runs in a thread

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> EmailSink:
        return cls(settings.smtp, settings.mail_from, list(settings.mail_to), settings.timeout)

    def __repr__(self) -> str:
        return f"EmailSink({self.settings.url!r}, to={list(self._recipients)!r})"

    async def close(self) -> None:
        """Nothing stays open between alerts."""

    def prepare(self, alert: Alert) -> None:
        """Render the message ahead (the dispatcher calls this in a thread while it writes
        the outbox: building a MIME message takes milliseconds the page should not wait)."""
        with contextlib.suppress(ValueError):  # send() renders again and reports it
            message = render(alert, mail_from=self.mail_from, mail_to=self.mail_to)
            with self._prepared_lock:
                self._prepared[alert.id] = message
                while len(self._prepared) > _PREPARED_MAX:
                    del self._prepared[next(iter(self._prepared))]

    async def send(self, alert: Alert) -> None:
        """Deliver ``alert``; raises :class:`~rowatch.sinks.SinkError` when the relay did not
        take it for any recipient."""
        with self._prepared_lock:
            message = self._prepared.pop(alert.id, None)
        if message is None:
            try:
                message = render(alert, mail_from=self.mail_from, mail_to=self.mail_to)
            except ValueError as exc:
                raise _error(f"cannot build the message: {exc}", temporary=False) from None
        progress: list[str] = []
        try:
            async with asyncio.timeout(self.timeout):
                refused = await self._deliver(message, _ehlo_name(alert), progress)
        except Exception as exc:
            raise self._failure(exc, greeted=bool(progress)) from (None if _is_auth(exc) else exc)
        self.last_refused = refused
        if refused:
            log.warning(
                "email_recipients_refused",
                alert_id=alert.id,
                relay=self.settings.url,
                refused=refused,
                delivered_to=[r for r in self._recipients if r not in refused],
            )

    async def _deliver(
        self, message: EmailMessage, ehlo: str, progress: list[str]
    ) -> dict[str, str]:
        """One SMTP session; appends to ``progress`` once the relay has greeted (and TLS is
        up). Returns the refused recipients with the relay's reply."""
        settings = self.settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            local_hostname=ehlo,
            timeout=self.timeout,
            use_tls=settings.security is Security.TLS,
            start_tls=settings.security is Security.STARTTLS,
            tls_context=self._tls,
        )
        try:
            await client.connect()
            progress.append("connected")
            if settings.username is not None:
                await client.login(settings.username, settings.password or "")
            errors, _reply = await client.send_message(
                message, sender=self._sender, recipients=self._recipients
            )
            # The relay has the message; a failed goodbye changes nothing.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        finally:
            client.close()
        return {
            str(address): self._reply(getattr(r, "code", "?"), getattr(r, "message", r))
            for address, r in errors.items()
        }

    def _reply(self, code: object, text: object) -> str:
        reply = clean(f"{code} {text}", REPLY_MAX)
        password = self.settings.password
        return reply.replace(password, "***") if password else reply

    def _failure(self, exc: BaseException, *, greeted: bool = True) -> SinkError:
        """The :class:`SinkError` for what aiosmtplib (or the network) raised."""
        relay = self.settings.url
        code = getattr(exc, "code", None)
        reply = self._reply(code, getattr(exc, "message", "")) if isinstance(code, int) else ""
        permanent = isinstance(code, int) and 500 <= code < 600
        cert = _find(exc, ssl.SSLCertVerificationError)
        if cert is not None:
            return _error(
                f"the TLS certificate of {relay} could not be verified "
                f"({clean(cert.verify_message or cert, REPLY_MAX)}): set ca_file to the CA "
                "that signed it, or tls_verify = false",
                temporary=False,
            )
        tls = _find(exc, ssl.SSLError)
        if tls is not None and "WRONG_VERSION_NUMBER" in str(tls):
            return _error(
                f"TLS with {relay} failed: the port does not speak TLS from the first byte; "
                "for STARTTLS (usually port 587 or 25) use smtp+starttls://",
                temporary=False,
            )
        if code == 530:
            # "Must issue a STARTTLS command first", "Authentication required": whatever
            # command it answered, the settings must change.
            return _error(
                f"{relay} wants TLS or a login first: {reply}; use smtp+starttls:// or "
                "smtps://, with a user if the relay requires one",
                temporary=False,
            )
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            refused = ", ".join(
                f"{r.recipient} ({self._reply(r.code, r.message)})" for r in exc.recipients
            )
            every = all(500 <= c < 600 for c in codes)
            return _error(
                f"{relay} refused every recipient: {refused}",
                temporary=not every,
            )
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return _error(
                f"{relay} refused the sender {exc.sender}: {reply}", temporary=not permanent
            )
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            if not permanent:
                return _error(f"{relay}: authentication failed for now: {reply}", temporary=True)
            return _error(
                f"{relay} refused the login as {self.settings.username}: {reply}; check the "
                "user and the password file",
                temporary=False,
            )
        if isinstance(exc, aiosmtplib.SMTPDataError):
            return _error(f"{relay} refused the message: {reply}", temporary=not permanent)
        if isinstance(exc, aiosmtplib.SMTPConnectError):
            # A refused connection or an unwelcome greeting (421, 554): the relay may be
            # back, or let us in, later.
            return _error(
                f"cannot connect to {relay}: {reply or _network_reason(exc)}", temporary=True
            )
        if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
            return _error(f"{relay} closed the connection: {clean(exc, REPLY_MAX)}", temporary=True)
        if isinstance(exc, TimeoutError):
            hint = ""
            if not greeted and self.settings.security is not Security.TLS:
                hint = " (no greeting: if the port expects TLS from the first byte, use smtps://)"
            return _error(f"{relay} did not answer within {self.timeout:g}s{hint}", temporary=True)
        if isinstance(exc, aiosmtplib.SMTPNotSupported):
            return _error(f"{relay}: {clean(exc, REPLY_MAX)}", temporary=False)
        if isinstance(code, int):
            return _error(f"{relay} answered {reply}", temporary=not permanent)
        if isinstance(exc, aiosmtplib.SMTPException):
            # What the relay cannot do: STARTTLS or AUTH not offered. The settings must change.
            return _error(f"{relay}: {clean(exc, REPLY_MAX)}", temporary=False)
        if isinstance(exc, OSError):
            return _error(f"cannot talk to {relay}: {_network_reason(exc)}", temporary=True)
        return _error(f"sending to {relay} failed: {exc.__class__.__name__}", temporary=True)


def _error(message: str, *, temporary: bool) -> SinkError:
    return SinkError(message, temporary=temporary)


def _network_reason(exc: BaseException) -> str:
    """``connection refused``, ``host not found (...)``: the socket error under ``exc``."""
    if _find(exc, ConnectionRefusedError) is not None:
        return "connection refused"
    unknown = _find(exc, socket.gaierror)
    if unknown is not None:
        return f"host not found ({clean(unknown.strerror or unknown, REPLY_MAX)})"
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    text = getattr(cause, "strerror", None) or str(cause)
    return clean(text, REPLY_MAX)


def _is_auth(exc: BaseException) -> bool:
    return isinstance(exc, aiosmtplib.SMTPAuthenticationError)


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    """``exc`` or the first exception of ``kind`` it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _ehlo_name(alert: Alert) -> str:
    """The name to greet the relay with: this host's FQDN when it is a valid host name."""
    for name in (alert.fqdn, alert.host):
        if name and len(name) <= 253 and _HOSTNAME.fullmatch(name.rstrip(".")):
            return name.rstrip(".")
    return "localhost"


# The [smtp] configuration lives in rowatch.config (it must not import a sink); re-exported.
from rowatch.config import EmailAddress, EmailAddresses, SmtpConfig  # noqa: E402

__all__ = ["EmailAddress", "EmailAddresses", "EmailSink", "SmtpConfig", "tls_context"]
