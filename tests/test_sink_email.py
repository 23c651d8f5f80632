"""The e-mail sink against a real SMTP server on loopback, the --smtp URL, the password file
and the [smtp] section. Runs under both aiosmtplib 2.0 (Debian) and the newest."""

from __future__ import annotations

import asyncio
import copy
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import aiosmtplib
import pytest
import structlog

from rowatch.alert import Alert, AlertKind
from rowatch.config import Config, ConfigError, Section, loads_config
from rowatch.sinks import Sink, SinkError
from rowatch.sinks.email import EmailSink, SmtpConfig
from rowatch.smtp_url import (
    EmailSettings,
    Security,
    SmtpSettings,
    SmtpSettingsError,
    parse_smtp_url,
    read_password_file,
    smtp_settings_from_args,
)

if TYPE_CHECKING:
    from smtp_server import SmtpTestServer

PASSWORD = "correct horse battery staple"
AIOSMTPLIB = getattr(aiosmtplib, "__version__", "?")

INCIDENT: dict[str, Any] = {
    "id": "9332fe0e5d82",
    "filesystem_device": "dm-0",
    "filesystem": "ext3",
    "mountpoint": "/var",
    "outcome": "read_only",
    "devices": ["0:0:0:0", "sda", "dm-0"],
    "cause": {
        "code": "scsi_path_busy",
        "summary": "SCSI BUSY or timeouts from the hypervisor or SAN",
        "advice": "check the storage path: multipath -ll",
    },
    "first_time": "2024-05-01T09:14:03.120000+00:00",
    "last_time": "2024-05-01T09:14:03.170000+00:00",
    "first_uptime": 100.01,
    "last_uptime": 100.05,
    "counts": {"io_error": 1, "read_only": 1},
    "events": [
        {
            "kind": "io_error",
            "device": "sda",
            "time": "2024-05-01T09:14:03.130000+00:00",
            "uptime": 100.01,
            "message": "I/O error, dev sda, sector 2099200 op 0x1:(WRITE)",
            "signature": "blk_update_request",
        },
        {
            "kind": "read_only",
            "device": "dm-0",
            "time": "2024-05-01T09:14:03.170000+00:00",
            "uptime": 100.05,
            "message": "EXT3-fs (dm-0): Remounting filesystem read-only",
            "signature": "ext_remount_ro",
        },
    ],
    "events_omitted": 0,
}


def make_alert(kind: AlertKind = AlertKind.READ_ONLY, **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "id": "a1b2c3d4e5f60718",
        "kind": kind,
        "host": "db1",
        "fqdn": "db1.example.com",
        "created": 1714554844.0,
        "incidents": (INCIDENT,),
    }
    fields.update(changes)
    return Alert(**fields)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Callable[..., SmtpTestServer]]:
    """Starts real aiosmtpd servers on loopback; stops them after the test."""
    pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the [test] extra")
    from smtp_server import Behaviour, SmtpTestServer

    servers: list[SmtpTestServer] = []

    def start(**behaviour: Any) -> SmtpTestServer:
        server = SmtpTestServer(Behaviour(**behaviour), directory=tmp_path / f"relay{len(servers)}")
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "smtp-password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def sink_for(
    server: SmtpTestServer,
    *,
    user: str | None = None,
    password_file: Path | None = None,
    to: tuple[str, ...] = ("oncall@example.com",),
    timeout: float = 10.0,
    **tls: Any,
) -> EmailSink:
    settings = smtp_settings_from_args(
        server.url(user),
        str(password_file) if password_file else None,
        "rowatch@example.com",
        list(to),
        timeout=timeout,
        **tls,
    )
    return EmailSink.from_settings(settings)


def deliver(sink: EmailSink, alert: Alert) -> None:
    asyncio.run(sink.send(alert))


def failure(sink: EmailSink, alert: Alert | None = None) -> SinkError:
    with pytest.raises(SinkError) as info:
        deliver(sink, alert or make_alert())
    return info.value


# ------------------------------------------------------------------------------ delivery
def test_read_only_alert_arrives_once(relay: Callable[..., SmtpTestServer]) -> None:
    server = relay()
    sink = sink_for(server, to=("oncall@example.com", "Storage <storage@example.com>"))
    assert sink.name == "email"
    assert isinstance(sink, Sink)
    deliver(sink, make_alert())
    asyncio.run(sink.close())
    (received,) = server.received
    assert server.transactions == 1
    assert received.mail_from == "rowatch@example.com"
    assert received.rcpt_tos == ["oncall@example.com", "storage@example.com"]
    assert received.ehlo == "db1.example.com"
    assert not received.tls
    message = received.message
    assert message["Subject"] == "[rowatch] db1: /var (dm-0, ext3) remounted read-only"
    assert message["Message-ID"] == "<a1b2c3d4e5f60718@db1.example.com>"
    assert message["To"] == "oncall@example.com, Storage <storage@example.com>"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    for needle in (
        "Mountpoint:  /var",
        "0:0:0:0 -> sda -> dm-0",
        "EXT3-fs (dm-0): Remounting filesystem read-only",
        "SCSI BUSY or timeouts from the hypervisor or SAN",
        "check the storage path: multipath -ll",
    ):
        assert needle in text, needle
    assert sink.last_refused == {}


def test_update_threads_under_the_first_message(relay: Callable[..., SmtpTestServer]) -> None:
    server = relay()
    sink = sink_for(server)
    first = make_alert()
    deliver(sink, first)
    later = copy.deepcopy(INCIDENT)
    later["counts"]["io_error"] = 40
    deliver(
        sink,
        make_alert(
            AlertKind.UPDATE,
            id="0f1e2d3c4b5a6978",
            thread=first.id,
            sequence=1,
            incidents=(later,),
        ),
    )
    one, two = (r.message for r in server.received)
    assert two["In-Reply-To"] == two["References"] == one["Message-ID"]
    assert two["Message-ID"] == "<0f1e2d3c4b5a6978@db1.example.com>"
    assert two["Subject"].startswith("[rowatch] db1: update: ")


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_4xx_is_temporary_and_the_retry_succeeds(
    relay: Callable[..., SmtpTestServer], stage: str
) -> None:
    server = relay(tempfail_first=1, tempfail_at=stage)
    sink = sink_for(server)
    error = failure(sink)
    assert error.temporary is True
    assert "451" in str(error) and "Try again later" in str(error)
    assert server.received == []
    deliver(sink, make_alert())  # the retry: same alert, same Message-ID
    assert len(server.received) == 1
    assert server.transactions == 2


def test_dropped_connection_is_temporary(relay: Callable[..., SmtpTestServer]) -> None:
    server = relay(drop_after_mail=True)
    error = failure(sink_for(server))
    assert error.temporary is True
    assert "closed the connection" in str(error)
    assert server.received == []


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_connection_refused_is_temporary() -> None:
    settings = smtp_settings_from_args(
        f"smtp://127.0.0.1:{closed_port()}", None, "rowatch@example.com", ["a@example.com"]
    )
    error = failure(EmailSink.from_settings(settings))
    assert error.temporary is True
    assert "cannot connect to smtp://127.0.0.1:" in str(error)


def test_silent_server_times_out_as_temporary() -> None:
    """A relay that accepts the connection and never greets: the timeout ends the wait."""

    async def scenario() -> SinkError:
        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = smtp_settings_from_args(
            f"smtp://127.0.0.1:{port}", None, "r@example.com", ["a@example.com"], timeout=0.5
        )
        try:
            await EmailSink.from_settings(settings).send(make_alert())
        except SinkError as exc:
            return exc
        finally:
            server.close()
        raise AssertionError("no error")

    error = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert error.temporary is True
    assert "did not answer within 0.5s (no greeting: if the port expects TLS" in str(error)


def test_every_recipient_refused_is_permanent(relay: Callable[..., SmtpTestServer]) -> None:
    server = relay(reject_recipients="all")
    error = failure(sink_for(server, to=("a@example.com", "b@example.com")))
    assert error.temporary is False
    assert "refused every recipient" in str(error)
    assert "a@example.com (550 5.1.1 No such user here)" in str(error)
    assert server.received == []


def test_some_recipients_refused_the_others_get_it(
    relay: Callable[..., SmtpTestServer],
) -> None:
    server = relay(reject_recipients=frozenset({"gone@example.com"}))
    sink = sink_for(server, to=("oncall@example.com", "gone@example.com"))
    with structlog.testing.capture_logs() as logs:
        deliver(sink, make_alert())
    (received,) = server.received
    assert received.rcpt_tos == ["oncall@example.com"]
    assert sink.last_refused == {"gone@example.com": "550 5.1.1 No such user here"}
    (entry,) = [e for e in logs if e["event"] == "email_recipients_refused"]
    assert entry["refused"] == {"gone@example.com": "550 5.1.1 No such user here"}
    assert entry["delivered_to"] == ["oncall@example.com"]
    assert entry["log_level"] == "warning"


def test_hostile_headers_are_neutralised_on_the_wire(
    relay: Callable[..., SmtpTestServer],
) -> None:
    server = relay()
    incident = copy.deepcopy(INCIDENT)
    incident["mountpoint"] = "/mnt/x\r\nBcc: evil@x"
    incident["filesystem_device"] = "dm-0\nCc: evil@x"
    deliver(sink_for(server), make_alert(incidents=(incident,), host="db1\r\nBcc: evil@x"))
    (received,) = server.received
    assert received.rcpt_tos == ["oncall@example.com"]
    message = received.message
    assert message["Bcc"] is None and message["Cc"] is None
    assert b"\r\nBcc:" not in received.data and b"\nBcc:" not in received.data
    subject = str(message["Subject"])
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[rowatch] db1??Bcc: evil@x: /mnt/x??Bcc: evil@x (dm-0?Cc")


# ------------------------------------------------------------------------------------ TLS
def test_starttls_and_auth_with_the_password_file(
    relay: Callable[..., SmtpTestServer], password_file: Path
) -> None:
    server = relay(tls="starttls", users={"alerts": PASSWORD})
    sink = sink_for(server, user="alerts", password_file=password_file, ca_file=server.ca_file)
    assert PASSWORD not in repr(sink) and PASSWORD not in repr(sink.settings)
    deliver(sink, make_alert())
    (received,) = server.received
    assert received.tls is True
    assert received.login == "alerts"
    assert server.logins == [("alerts", True)]


def test_implicit_tls(relay: Callable[..., SmtpTestServer], password_file: Path) -> None:
    server = relay(tls="implicit", users={"alerts": PASSWORD})
    assert server.url().startswith("smtps://")
    sink = sink_for(server, user="alerts", password_file=password_file, ca_file=server.ca_file)
    deliver(sink, make_alert())
    (received,) = server.received
    assert received.tls is True and received.login == "alerts"


def test_wrong_password_is_permanent_and_never_shown(
    relay: Callable[..., SmtpTestServer], tmp_path: Path
) -> None:
    server = relay(tls="starttls", users={"alerts": "something else"})
    sink = sink_for(
        server, user="alerts", password_file=_password(tmp_path), ca_file=server.ca_file
    )
    with structlog.testing.capture_logs() as logs:
        error = failure(sink)
    assert error.temporary is False
    assert "refused the login as alerts" in str(error) and "535" in str(error)
    assert PASSWORD not in str(error) and PASSWORD not in repr(error)
    assert error.__cause__ is None  # nothing about the exchange chained to the error
    assert PASSWORD not in repr(logs)
    assert server.received == []


def test_loose_password_file_is_refused_clearly(
    relay: Callable[..., SmtpTestServer], password_file: Path
) -> None:
    server = relay(tls="starttls", users={"alerts": PASSWORD})
    password_file.chmod(0o644)
    with pytest.raises(SmtpSettingsError) as info:
        sink_for(server, user="alerts", password_file=password_file, ca_file=server.ca_file)
    assert str(info.value) == (
        f"permissions 0644 for password file {str(password_file)!r} are too open: it must "
        f"be readable only by its owner (chmod 600 {password_file})"
    )
    assert server.transactions == 0 and server.logins == []


def test_unverifiable_certificate_is_permanent(relay: Callable[..., SmtpTestServer]) -> None:
    for tls in ("starttls", "implicit"):
        server = relay(tls=tls)
        error = failure(sink_for(server))  # the system CAs do not know the test relay
        assert error.temporary is False, tls
        assert "could not be verified" in str(error), tls
        assert "ca_file" in str(error)


def test_tls_verify_off_accepts_any_certificate(relay: Callable[..., SmtpTestServer]) -> None:
    server = relay(tls="starttls")
    deliver(sink_for(server, tls_verify=False), make_alert())
    assert server.received[0].tls is True


def test_starttls_required_but_not_offered_is_permanent(
    relay: Callable[..., SmtpTestServer],
) -> None:
    server = relay()  # plain only
    settings = smtp_settings_from_args(
        f"smtp+starttls://127.0.0.1:{server.port}", None, "r@example.com", ["a@example.com"]
    )
    error = failure(EmailSink.from_settings(settings))
    assert error.temporary is False
    assert "STARTTLS" in str(error)
    assert server.received == []


def test_implicit_tls_to_a_plain_port_says_what_to_use(
    relay: Callable[..., SmtpTestServer],
) -> None:
    server = relay()
    settings = smtp_settings_from_args(
        f"smtps://127.0.0.1:{server.port}", None, "r@example.com", ["a@example.com"], timeout=3
    )
    error = failure(EmailSink.from_settings(settings))
    assert error.temporary is False
    assert "does not speak TLS from the first byte" in str(error)
    assert "use smtp+starttls://" in str(error)


def test_relay_demanding_tls_first_is_permanent(relay: Callable[..., SmtpTestServer]) -> None:
    server = relay(tls="starttls")
    settings = smtp_settings_from_args(
        f"smtp://127.0.0.1:{server.port}", None, "r@example.com", ["a@example.com"]
    )
    error = failure(EmailSink.from_settings(settings))
    assert error.temporary is False
    assert "wants TLS or a login first: 530" in str(error)


# ------------------------------------------------------------------------------- the URL
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example.com", SmtpSettings("relay.example.com", 25, Security.NONE)),
        ("smtp://relay:2525", SmtpSettings("relay", 2525, Security.NONE)),
        ("smtp+starttls://relay", SmtpSettings("relay", 587, Security.STARTTLS)),
        (
            "SMTP+STARTTLS://Relay.Example.com:25/",
            SmtpSettings("relay.example.com", 25, Security.STARTTLS),
        ),
        ("smtps://u@relay", SmtpSettings("relay", 465, Security.TLS, "u")),
        (
            "smtps://alerts%40example.com@relay:465",
            SmtpSettings("relay", 465, Security.TLS, "alerts@example.com"),
        ),
        ("smtp://[::1]:25", SmtpSettings("::1", 25, Security.NONE)),
        ("smtp://127.0.0.1", SmtpSettings("127.0.0.1", 25, Security.NONE)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpSettings) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "the SMTP URL is empty"),
        (
            "relay.example.com",
            "the SMTP URL must start with smtp:// (plain, port 25), smtp+starttls://",
        ),
        ("alerts:hunter2@relay", "the SMTP URL must start with smtp://"),
        ("http://relay", "unsupported SMTP URL scheme 'http'"),
        ("smtp+ssl://relay", "unsupported SMTP URL scheme 'smtp+ssl'"),
        ("smtps://user:hunter2@relay", "must not contain a password"),
        ("smtp://relay:0", "port in the SMTP URL must be a number from 1 to 65535"),
        ("smtp://relay:99999", "port in the SMTP URL must be a number from 1 to 65535"),
        ("smtp://relay:x", "port in the SMTP URL must be a number from 1 to 65535"),
        ("smtp://relay/path", "takes no path, query or fragment"),
        ("smtp://relay?x=1", "takes no path, query or fragment"),
        ("smtp://", "names no host"),
        ("smtp://@relay", "the user before '@' in the SMTP URL is empty"),
        ("smtp://re lay", "must not contain spaces or control characters"),
        ("smtp://re\r\nlay", "must not contain spaces or control characters"),
        ("smtp://bad_host!", "is not a valid host name"),
        ("smtp://%ff@relay", "not UTF-8"),
    ],
)
def test_bad_smtp_urls(url: str, message: str) -> None:
    with pytest.raises(SmtpSettingsError) as info:
        parse_smtp_url(url)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_settings_url_hides_the_password() -> None:
    settings = SmtpSettings("relay", 465, Security.TLS, "a@b", password="hunter2")
    assert settings.url == "smtps://a%40b@relay:465"
    assert "hunter2" not in repr(settings)
    assert parse_smtp_url(settings.url) == SmtpSettings("relay", 465, Security.TLS, "a@b")


# ------------------------------------------------------------------------- password file
def _password(tmp_path: Path, content: str = PASSWORD + "\n", mode: int = 0o600) -> Path:
    path = tmp_path / "pw"
    path.write_text(content)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("content", "password"),
    [("s3cret\n", "s3cret"), ("s3cret", "s3cret"), ("s3cret\r\n", "s3cret"), (" a b \n", " a b ")],
)
def test_password_file(tmp_path: Path, content: str, password: str) -> None:
    assert read_password_file(str(_password(tmp_path, content))) == password


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("x\n", 0o644, "permissions 0644 for password file"),
        ("x\n", 0o640, "permissions 0640 for password file"),
        ("x\n", 0o620, "are too open"),
        ("x\n", 0o604, "(chmod 600"),
        ("", 0o600, "is empty"),
        ("\n", 0o600, "is empty"),
        ("a\nb\n", 0o600, "must hold the password alone on one line"),
        ("x" * 5000, 0o600, "is larger than 4096 bytes"),
    ],
)
def test_bad_password_files(tmp_path: Path, content: str, mode: int, message: str) -> None:
    path = _password(tmp_path, content, mode)
    with pytest.raises(SmtpSettingsError, match=message.replace("(", r"\(")):
        read_password_file(str(path))


def test_password_file_missing_not_regular_not_utf8(tmp_path: Path) -> None:
    with pytest.raises(SmtpSettingsError, match="does not exist"):
        read_password_file(str(tmp_path / "absent"))
    with pytest.raises(SmtpSettingsError, match="is not a regular file"):
        read_password_file(str(tmp_path))
    path = tmp_path / "latin1"
    path.write_bytes(b"caf\xe9\n")
    path.chmod(0o600)
    with pytest.raises(SmtpSettingsError, match="is not UTF-8 text"):
        read_password_file(str(path))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_password_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = _password(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(SmtpSettingsError, match="belongs to uid 65534: it must belong to root"):
        read_password_file(str(path))


# ------------------------------------------------------------------------ from the CLI
def test_settings_from_args(password_file: Path) -> None:
    settings = smtp_settings_from_args(
        "smtp+starttls://alerts@relay.example.com",
        str(password_file),
        "rowatch@example.com",
        ["a@example.com", "B <b@example.com>"],
        timeout=12,
        ca_file="/etc/ssl/private-ca.pem",
    )
    assert settings == EmailSettings(
        SmtpSettings(
            "relay.example.com",
            587,
            Security.STARTTLS,
            "alerts",
            PASSWORD,
            True,
            "/etc/ssl/private-ca.pem",
        ),
        "rowatch@example.com",
        ("a@example.com", "B <b@example.com>"),
        12,
    )
    assert settings.smtp.password == PASSWORD


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("smtp://relay", None, "r@example.com", []), "--mail-to is required"),
        (("smtp://relay", None, None, ["a@example.com"]), "--mail-from is required"),
        (
            ("smtp://relay", None, "r@example.com", ["nobody"]),
            "--mail-to: must be an e-mail address like alerts@example.com (got 'nobody')",
        ),
        (("smtp://relay", None, "r@", ["a@example.com"]), "--mail-from: must be an e-mail address"),
        (
            ("smtp://relay", None, "r@example.com", ["jörg@example.com"]),
            "--mail-to: must be an ASCII e-mail address",
        ),
        (
            ("smtp://relay", None, "r@example.com", ["a@example.com\r\nBcc: x@y"]),
            "--mail-to: must not contain control characters",
        ),
        (
            ("ftp://relay", None, "r@example.com", ["a@example.com"]),
            "--smtp: unsupported SMTP URL scheme 'ftp'",
        ),
        (
            ("smtps://alerts@relay", None, "r@example.com", ["a@example.com"]),
            "user 'alerts' needs a password: give --smtp-password-file",
        ),
        (
            ("smtp://alerts@relay", "/pw", "r@example.com", ["a@example.com"]),
            "password file '/pw' does not exist",
        ),
    ],
)
def test_settings_from_args_errors(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(SmtpSettingsError) as info:
        smtp_settings_from_args(*args)
    assert message in str(info.value)


def test_password_needs_a_user_and_tls(password_file: Path) -> None:
    with pytest.raises(SmtpSettingsError, match="--smtp-password-file is given but no user"):
        smtp_settings_from_args("smtps://relay", str(password_file), "r@x.org", ["a@x.org"])
    with pytest.raises(SmtpSettingsError, match="would send the password unencrypted"):
        smtp_settings_from_args("smtp://u@relay", str(password_file), "r@x.org", ["a@x.org"])
    # to this machine (a local stunnel or relay) plain is allowed
    local = smtp_settings_from_args(
        "smtp://u@localhost", str(password_file), "r@x.org", ["a@x.org"]
    )
    assert local.smtp.password == PASSWORD


# ----------------------------------------------------------------------- configuration
@dataclass(frozen=True, slots=True, kw_only=True)
class WithSmtp(Config):
    """Config with the [smtp] section, as rowatch.config gets it."""

    smtp: Annotated[SmtpConfig, Section("E-mail alerts through an SMTP relay.")] = field(
        default_factory=SmtpConfig
    )


def smtp_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads_config(text, "f", schema=WithSmtp)
    return info.value.lines


def test_smtp_section_off_by_default() -> None:
    config: Any = loads_config("", schema=WithSmtp)
    assert config.smtp == SmtpConfig()
    assert not config.smtp.enabled
    assert config.smtp.email_settings() is None


def test_smtp_section_with_url(password_file: Path) -> None:
    text = f"""\
[smtp]
url = "smtps://alerts@relay.example.com"
password_file = "{password_file}"
mail_from = "rowatch <rowatch@example.com>"
mail_to = ["oncall@example.com", "storage@example.com"]
timeout = "20s"
ca_file = "/etc/rowatch/relay-ca.pem"
"""
    config: Any = loads_config(text, schema=WithSmtp)
    settings = config.smtp.email_settings()
    assert settings == EmailSettings(
        SmtpSettings(
            "relay.example.com",
            465,
            Security.TLS,
            "alerts",
            PASSWORD,
            True,
            "/etc/rowatch/relay-ca.pem",
        ),
        "rowatch <rowatch@example.com>",
        ("oncall@example.com", "storage@example.com"),
        20.0,
    )
    assert loads_config(config.to_toml(), schema=WithSmtp) == config


def test_smtp_section_with_host_and_user(password_file: Path) -> None:
    text = f"""\
[smtp]
host = "relay.example.com"
port = 2587
user = "alerts@example.com"
password_file = "{password_file}"
mail_from = "rowatch@example.com"
mail_to = ["oncall@example.com"]
"""
    settings = loads_config(text, schema=WithSmtp).smtp.email_settings()  # type: ignore[attr-defined]
    assert settings.smtp == SmtpSettings(
        "relay.example.com", 2587, Security.STARTTLS, "alerts@example.com", PASSWORD
    )
    assert smtp_problems(text.replace('"relay.example.com"', '"relay.example.com:25"')) == [
        "f:2: smtp.host: host must be a host name or address: the port goes in port, the "
        "user in user (got 'relay.example.com:25')"
    ]


def test_smtp_section_with_host() -> None:
    text = """\
[smtp]
host = "relay.internal"
tls = "none"
mail_from = "rowatch@example.com"
mail_to = ["oncall@example.com"]
"""
    settings = loads_config(text, schema=WithSmtp).smtp.email_settings()  # type: ignore[attr-defined]
    assert settings.smtp == SmtpSettings("relay.internal", 25, Security.NONE)
    default_tls = loads_config(text.replace('tls = "none"\n', ""), schema=WithSmtp)
    assert default_tls.smtp.smtp_settings().port == 587  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[smtp]\nmail_to = ["a@example.com"]',
            ["f:1: smtp.host: required for e-mail alerts (or url): mail_to set"],
        ),
        (
            '[smtp]\nurl = "smtp://relay"\nhost = "relay"',
            ["f:2: smtp.url: give either url or host, not both"],
        ),
        (
            '[smtp]\nurl = "smtp://relay"\nport = 25\nmail_from = "r@example.com"\n'
            'mail_to = ["a@example.com"]',
            ["f:3: smtp.port: not with url: the URL gives the port"],
        ),
        (
            '[smtp]\nhost = "relay"',
            [
                "f:1: smtp.mail_from: required key is missing: the sender address",
                "f:1: smtp.mail_to: required key is missing: at least one recipient",
            ],
        ),
        (
            '[smtp]\nurl = "smtps://relay"\nmail_from = "nobody"\nmail_to = ["ok@example.com", "x"]',
            [
                "f:3: smtp.mail_from: must be an e-mail address like alerts@example.com "
                "(got 'nobody')",
                "f:4: smtp.mail_to[1]: must be an e-mail address like alerts@example.com (got 'x')",
            ],
        ),
        (
            '[smtp]\nurl = "smtp://u:pw@relay"\nmail_from = "r@example.com"\n'
            'mail_to = ["a@example.com"]',
            [
                "f:2: smtp.url: the SMTP URL must not contain a password: give it in a file "
                "(--smtp-password-file or [smtp] password_file)"
            ],
        ),
        (
            '[smtp]\nurl = "smtps://u@relay"\nmail_from = "r@example.com"\n'
            'mail_to = ["a@example.com"]',
            ["f:1: smtp.password_file: required with user 'u'"],
        ),
        (
            '[smtp]\nhost = "relay"\ntls = "none"\nca_file = "/ca.pem"\n'
            'mail_from = "r@example.com"\nmail_to = ["a@example.com"]',
            ["f:4: smtp.ca_file: a CA file needs TLS: use smtp+starttls:// or smtps://"],
        ),
        ('[smtp]\ntls = "ssl"', ["f:2: smtp.tls: must be one of none, starttls, tls (got 'ssl')"]),
        ("[smtp]\ntimeout = 0", ["f:2: smtp.timeout: must be at least 1s (got 0)"]),
    ],
)
def test_smtp_section_errors(text: str, expected: list[str]) -> None:
    assert smtp_problems(text) == expected


def test_smtp_section_checks_the_password_file_mode(password_file: Path) -> None:
    password_file.chmod(0o644)
    text = f"""\
[smtp]
url = "smtps://alerts@relay"
password_file = "{password_file}"
mail_from = "r@example.com"
mail_to = ["a@example.com"]
"""
    assert smtp_problems(text) == [
        f"f:3: smtp.password_file: permissions 0644 for password file {str(password_file)!r} "
        f"are too open: it must be readable only by its owner (chmod 600 {password_file})"
    ]


def test_aiosmtplib_version_is_known() -> None:
    """Which aiosmtplib this run used (both are tested: Debian's 2.0 and the newest)."""
    major = int(AIOSMTPLIB.split(".")[0])
    assert major >= 2
    print(f"aiosmtplib {AIOSMTPLIB}")


def test_a_message_prepared_ahead_is_the_one_sent(
    relay: Callable[..., SmtpTestServer],
) -> None:
    """prepare() (run by the dispatcher while it writes the outbox) renders the message;
    send() then sends that very message, and renders itself when nothing was prepared."""
    server = relay()
    sink = sink_for(server)
    alert = make_alert()
    sink.prepare(alert)
    prepared = sink._prepared[alert.id]
    deliver(sink, alert)
    assert alert.id not in sink._prepared
    (got,) = server.received
    assert got.message["Message-ID"] == prepared["Message-ID"]
    deliver(sink, alert)  # not prepared this time: rendered on the spot
    assert len(server.received) == 2
