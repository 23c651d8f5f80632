"""Where e-mail alerts go: the ``--smtp URL``, the password file, sender and recipients.

Pure checks with clear errors, shared by the command line and the ``[smtp]`` configuration
section; nothing here talks to a network or imports aiosmtplib, so the configuration can
use it cheaply.

* ``smtp://host[:port]`` — plain SMTP, port 25, no TLS.
* ``smtp+starttls://host[:port]`` — port 587, STARTTLS required (no fallback to plain).
* ``smtps://host[:port]`` — port 465, TLS from the first byte.
* ``user@`` may precede the host (``%40`` for an ``@`` in it); the password is never in the
  URL: it comes from a file readable only by its owner (``--smtp-password-file``).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote, urlsplit

DEFAULT_TIMEOUT = 30.0
#: A password file larger than this is not a password file.
MAX_PASSWORD_FILE = 4096


class SmtpSettingsError(ValueError):
    """The SMTP settings are unusable; the message says what to change."""


class Security(StrEnum):
    """How the connection to the relay is protected."""

    NONE = "none"  # plain SMTP
    STARTTLS = "starttls"  # plain connect, then STARTTLS, which is required
    TLS = "tls"  # implicit TLS (SMTPS)


DEFAULT_PORTS = {Security.NONE: 25, Security.STARTTLS: 587, Security.TLS: 465}
SCHEMES = {
    "smtp": Security.NONE,
    "smtp+starttls": Security.STARTTLS,
    "smtps": Security.TLS,
}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to reach the relay. The password never shows in ``repr`` or :attr:`url`."""

    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Verify the relay's certificate and name (TLS and STARTTLS).
    tls_verify: bool = True
    #: Trust only this CA bundle (PEM) instead of the system's.
    ca_file: str | None = None

    @property
    def url(self) -> str:
        """The settings as an ``smtp://`` URL, for logs (no password)."""
        scheme = {v: k for k, v in SCHEMES.items()}[self.security]
        user = ""
        if self.username is not None:
            user = self.username.replace("%", "%25").replace("@", "%40") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """Everything the e-mail sink needs (:meth:`rowatch.sinks.email.EmailSink.from_settings`)."""

    smtp: SmtpSettings
    mail_from: str
    mail_to: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT


# ------------------------------------------------------------------------------ the URL
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?", re.ASCII)


def _bad_chars(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in text)


def parse_smtp_url(url: str) -> SmtpSettings:
    """``smtp://``, ``smtp+starttls://`` or ``smtps://`` ``[user@]host[:port]``.

    Raises :class:`SmtpSettingsError` saying what is wrong; never echoes a password.
    """
    if not isinstance(url, str) or not url.strip():
        raise SmtpSettingsError("the SMTP URL is empty (expected e.g. smtp+starttls://relay:587)")
    url = url.strip()
    if _bad_chars(url) or " " in url:
        raise SmtpSettingsError("the SMTP URL must not contain spaces or control characters")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    choices = (
        "smtp:// (plain, port 25), smtp+starttls:// (STARTTLS, port 587) or smtps:// "
        "(TLS, port 465)"
    )
    if not sep:  # not echoed: it could be "user:password@host"
        raise SmtpSettingsError(f"the SMTP URL must start with {choices}")
    if scheme not in SCHEMES:
        raise SmtpSettingsError(f"unsupported SMTP URL scheme {scheme[:40]!r}: use {choices}")
    security = SCHEMES[scheme]
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    userinfo, at, _hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        raise SmtpSettingsError(
            "the SMTP URL must not contain a password: give it in a file "
            "(--smtp-password-file or [smtp] password_file)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            raise SmtpSettingsError(
                "the port in the SMTP URL must be a number from 1 to 65535"
            ) from None
        raise SmtpSettingsError(f"malformed SMTP URL: {exc}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SmtpSettingsError(
            "the SMTP URL takes no path, query or fragment: scheme://[user@]host[:port]"
        )
    host = parts.hostname
    if not host:
        raise SmtpSettingsError("the SMTP URL names no host (expected e.g. smtps://relay:465)")
    _check_host(host)
    if port == 0:
        raise SmtpSettingsError("the port in the SMTP URL must be a number from 1 to 65535")
    username = None
    if at:
        try:
            username = unquote(userinfo, errors="strict")
        except UnicodeDecodeError:
            raise SmtpSettingsError("the user in the SMTP URL is not UTF-8 text") from None
        if not username:
            raise SmtpSettingsError("the user before '@' in the SMTP URL is empty")
        if _bad_chars(username):
            raise SmtpSettingsError("the user in the SMTP URL contains control characters")
    return SmtpSettings(
        host=host,
        port=port or DEFAULT_PORTS[security],
        security=security,
        username=username,
    )


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host) or len(host) > 253:
            raise SmtpSettingsError(f"{host[:80]!r} is not a valid host name") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback address."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_smtp(settings: SmtpSettings) -> None:
    """Checks across settings: AUTH only over TLS (or to this machine), CA file with TLS."""
    if (
        settings.username is not None
        and settings.security is Security.NONE
        and not is_loopback(settings.host)
    ):
        raise SmtpSettingsError(
            "a user with plain smtp:// would send the password unencrypted: "
            "use smtp+starttls:// or smtps://"
        )
    if settings.ca_file is not None and settings.security is Security.NONE:
        raise SmtpSettingsError("a CA file needs TLS: use smtp+starttls:// or smtps://")


# ------------------------------------------------------------------------ password file
def check_password_file_mode(path: str, st: os.stat_result) -> None:
    """Refuse a password file others could read or change, as ssh refuses a private key."""
    if not stat.S_ISREG(st.st_mode):
        raise SmtpSettingsError(f"password file {path!r} is not a regular file")
    if st.st_uid not in (0, os.geteuid()):
        raise SmtpSettingsError(
            f"password file {path!r} belongs to uid {st.st_uid}: it must belong to root "
            f"(chown root: {path})"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SmtpSettingsError(
            f"permissions {mode:04o} for password file {path!r} are too open: it must be "
            f"readable only by its owner (chmod 600 {path})"
        )


def stat_password_file(path: str) -> None:
    """Check the password file's type, owner and mode without reading it."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise SmtpSettingsError(f"password file {path!r}: {exc.strerror or exc}") from None
    check_password_file_mode(path, st)


def read_password_file(path: str) -> str:
    """The password in ``path``: its first line, without the line break.

    The file must be a regular file owned by root (or by the user running rowatch) with no
    permissions for group or others (``chmod 600``); otherwise, and for an empty file, a
    file with several lines or one that is not UTF-8, raises :class:`SmtpSettingsError`.
    """
    if not path:
        raise SmtpSettingsError("the password file name is empty")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise SmtpSettingsError(f"password file {path!r} does not exist") from None
        raise SmtpSettingsError(f"cannot open password file {path!r}: {exc.strerror}") from None
    try:
        check_password_file_mode(path, os.fstat(fd))
        raw = os.read(fd, MAX_PASSWORD_FILE + 1)
    except OSError as exc:
        raise SmtpSettingsError(f"cannot read password file {path!r}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_PASSWORD_FILE:
        raise SmtpSettingsError(f"password file {path!r} is larger than {MAX_PASSWORD_FILE} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SmtpSettingsError(f"password file {path!r} is not UTF-8 text") from None
    if text.endswith("\n"):
        text = text[:-1].removesuffix("\r")
    if not text:
        raise SmtpSettingsError(f"password file {path!r} is empty")
    if "\n" in text or "\r" in text or "\0" in text:
        raise SmtpSettingsError(f"password file {path!r} must hold the password alone on one line")
    return text


# ---------------------------------------------------------------------------- addresses
_LOCAL = re.compile(r"[^\s@<>()\[\]\\,;:\"]+")
_DOMAIN = re.compile(r"[^\s@<>()\[\]\\,;:\"]+\.[^\s@<>()\[\]\\,;:\".]+|\[[0-9A-Fa-f.:]+\]")


def check_address(text: str) -> str | None:
    """Why ``text`` is not a usable e-mail address, or None when it is.

    Accepts ``user@example.com`` and ``Name <user@example.com>``.
    """
    if _bad_chars(text):
        return f"must not contain control characters (got {text[:80]!r})"
    try:
        split_address(text)
    except SmtpSettingsError as exc:
        return str(exc)
    return None


def split_address(text: str) -> tuple[str, str]:
    """``(display name, addr-spec)`` of ``Name <user@host>`` or ``user@host``."""
    value = text.strip()
    name = ""
    if value.endswith(">") and "<" in value:
        name, _, value = value[:-1].rpartition("<")
        name = name.strip().strip('"').strip()
        value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise SmtpSettingsError(
            f"must be an e-mail address like alerts@example.com (got {text[:80]!r})"
        )
    if not value.isascii():
        raise SmtpSettingsError(
            f"must be an ASCII e-mail address: internationalised addresses are not supported "
            f"(got {text[:80]!r})"
        )
    if len(value) > 254:
        raise SmtpSettingsError(f"e-mail address is longer than 254 characters ({text[:40]!r}…)")
    if _bad_chars(name) or any(c in name for c in '<>"'):
        raise SmtpSettingsError(f"the display name of {text[:80]!r} has characters not allowed")
    return name, value


# --------------------------------------------------------------------------- everything
def email_settings(
    smtp: SmtpSettings,
    *,
    password_file: str | None,
    mail_from: str | None,
    mail_to: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    names: dict[str, str] | None = None,
) -> EmailSettings:
    """Check and combine; ``names`` maps ``password_file``, ``mail_from``, ``mail_to`` to how
    the caller calls them (``--mail-to``) for the error messages."""
    names = {
        "password_file": "password_file",
        "mail_from": "mail_from",
        "mail_to": "mail_to",
        **(names or {}),
    }
    if mail_from is None or not mail_from.strip():
        raise SmtpSettingsError(f"{names['mail_from']} is required: the sender address")
    reason = check_address(mail_from)
    if reason:
        raise SmtpSettingsError(f"{names['mail_from']}: {reason}")
    if not mail_to:
        raise SmtpSettingsError(f"{names['mail_to']} is required: at least one recipient")
    for address in mail_to:
        reason = check_address(address)
        if reason:
            raise SmtpSettingsError(f"{names['mail_to']}: {reason}")
    if not 0 < timeout <= 3600:
        raise SmtpSettingsError(f"the timeout must be between 0 and 1h (got {timeout!r})")
    password = None
    if password_file is not None:
        if smtp.username is None:
            raise SmtpSettingsError(
                f"{names['password_file']} is given but no user: put it in the URL "
                "(smtp+starttls://user@relay)"
            )
        password = read_password_file(password_file)
    elif smtp.username is not None:
        raise SmtpSettingsError(
            f"user {smtp.username!r} needs a password: give {names['password_file']}"
        )
    smtp = SmtpSettings(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=password,
        tls_verify=smtp.tls_verify,
        ca_file=smtp.ca_file,
    )
    check_smtp(smtp)
    return EmailSettings(smtp, mail_from.strip(), tuple(a.strip() for a in mail_to), timeout)


def smtp_settings_from_args(
    url: str,
    password_file: str | None,
    mail_from: str | None,
    mail_to: Sequence[str] | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    tls_verify: bool = True,
    ca_file: str | None = None,
) -> EmailSettings:
    """The sink settings from ``--smtp URL --smtp-password-file FILE --mail-from ADDR
    --mail-to ADDR...``; raises :class:`SmtpSettingsError` naming the option to fix."""
    try:
        smtp = parse_smtp_url(url)
    except SmtpSettingsError as exc:
        raise SmtpSettingsError(f"--smtp: {exc}") from None
    if ca_file is not None or not tls_verify:
        smtp = SmtpSettings(
            smtp.host, smtp.port, smtp.security, smtp.username, None, tls_verify, ca_file
        )
    return email_settings(
        smtp,
        password_file=password_file,
        mail_from=mail_from,
        mail_to=list(mail_to or ()),
        timeout=timeout,
        names={
            "password_file": "--smtp-password-file",
            "mail_from": "--mail-from",
            "mail_to": "--mail-to",
        },
    )
