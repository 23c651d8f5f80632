"""A real SMTP server on loopback for tests: aiosmtpd's ``Controller``, with behaviours.

    with SmtpTestServer(Behaviour(tempfail_first=1)) as server:
        ...send to server.host, server.port...
        assert server.received[0].message["Subject"] == "..."

The server runs in its own thread and event loop (aiosmtpd's ``Controller``) on 127.0.0.1 at
a free port, so a client under test can run in the test's own loop. Behaviours:

* normal: every command answered 250, every message kept in :attr:`SmtpTestServer.received`;
* ``tempfail_first=N``: the first N transactions get a 4xx reply at ``tempfail_at``
  (``MAIL``, ``RCPT`` or ``DATA``), then 250 — greylisting, a full queue;
* ``drop_after_mail``: the connection is closed, without a reply, right after MAIL FROM;
* ``reject_recipients``: these recipients (or ``"all"``) get 550;
* ``tls="starttls"``: STARTTLS offered and required before anything else; ``tls="implicit"``:
  TLS from the first byte (SMTPS). Both use a self-signed certificate for 127.0.0.1 and
  localhost (:func:`make_certificate`: ``cryptography`` when importable, else the
  ``openssl`` command), which a client can trust through :attr:`SmtpTestServer.ca_file`;
* ``users={"name": "password"}``: AUTH (PLAIN, LOGIN) required, over TLS only;
* ``data_delay=S``: DATA is answered only after S seconds (a slow or hanging relay).

Works with aiosmtpd 1.4.3 (Debian 12) and the newest from PyPI.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"

# aiosmtpd 1.4 sets its own deprecated Session.login_data after every login.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate (its own CA) and its key, as PEM files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def make_certificate(directory: Path, name: str = "localhost") -> Certificate:
    """A self-signed certificate for ``name``, ``localhost`` and 127.0.0.1 in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "relay-cert.pem", directory / "relay-key.pem"
    try:
        _with_cryptography(cert_file, key_file, name)
    except ImportError:
        _with_openssl(cert_file, key_file, name)
    return Certificate(cert_file, key_file)


def _with_cryptography(cert_file: Path, key_file: Path, name: str) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (cryptography 38 era)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(name),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address(HOST)),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _with_openssl(cert_file: Path, key_file: Path, name: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("need the cryptography package or the openssl command for TLS tests")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name},DNS:localhost,IP:{HOST}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign",
            "-keyout",
            str(key_file),
            "-out",
            str(cert_file),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


@dataclass
class Behaviour:
    """How the server behaves; the default is a relay that takes everything."""

    tempfail_first: int = 0
    tempfail_at: Literal["MAIL", "RCPT", "DATA"] = "RCPT"
    tempfail_reply: str = "451 4.3.0 Try again later"
    drop_after_mail: bool = False
    reject_recipients: frozenset[str] | Literal["all"] = frozenset()
    reject_reply: str = "550 5.1.1 No such user here"
    tls: Literal["none", "starttls", "implicit"] = "none"
    users: dict[str, str] | None = None
    #: Seconds the server sits on DATA before it takes the message: a relay that is slow or
    #: hangs, so a test can kill the client mid-transaction.
    data_delay: float = 0.0


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None
    ehlo: str | None
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.message = parsed


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        attempt = self.server._begin()
        if self.server.behaviour.drop_after_mail:
            smtp.transport.close()
            return "250 OK"  # never arrives: the connection is gone
        if self._tempfail(attempt, "MAIL"):
            return self.server.behaviour.tempfail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        behaviour = self.server.behaviour
        if self._tempfail(self.server.transactions, "RCPT"):
            return behaviour.tempfail_reply
        reject = behaviour.reject_recipients
        if reject == "all" or address in reject:
            return behaviour.reject_reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self.server.behaviour.data_delay:
            await asyncio.sleep(self.server.behaviour.data_delay)
        if self._tempfail(self.server.transactions, "DATA"):
            return self.server.behaviour.tempfail_reply
        login = session.auth_data
        self.server._keep(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
                tls=smtp.transport.get_extra_info("ssl_object") is not None,
                login=login if isinstance(login, str) else None,
                ehlo=session.host_name,
            )
        )
        return "250 2.0.0 Message accepted"

    def _tempfail(self, attempt: int, stage: str) -> bool:
        behaviour = self.server.behaviour
        return behaviour.tempfail_at == stage and attempt <= behaviour.tempfail_first


class _SMTP(SMTP):
    """aiosmtpd counts only STARTTLS as TLS for AUTH; SMTPS is TLS from the first byte."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self._auth_require_tls = False


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


class SmtpTestServer:
    """A running aiosmtpd server; use as a context manager."""

    def __init__(self, behaviour: Behaviour | None = None, *, directory: Path | None = None):
        self.behaviour = behaviour or Behaviour()
        self.host = HOST
        self.port = _free_port()
        #: Messages accepted, in order.
        self.received: list[Received] = []
        #: MAIL FROM commands seen: one per delivery attempt.
        self.transactions = 0
        #: Successful and failed logins, as (user, ok).
        self.logins: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.certificate: Certificate | None = None
        if self.behaviour.tls != "none":
            if directory is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="rowatch-smtp-")
                directory = Path(self._tmp.name)
            self.certificate = make_certificate(directory)
        self._controller = self._make_controller()

    @property
    def ca_file(self) -> str:
        """The PEM file a client trusts to verify this server."""
        assert self.certificate is not None, "this server has no TLS"
        return str(self.certificate.cert_file)

    def url(self, user: str | None = None) -> str:
        """The ``--smtp`` URL of this server."""
        scheme = {"none": "smtp", "starttls": "smtp+starttls", "implicit": "smtps"}
        login = f"{user}@" if user else ""
        return f"{scheme[self.behaviour.tls]}://{login}{self.host}:{self.port}"

    def _make_controller(self) -> Controller:
        behaviour = self.behaviour
        kwargs: dict[str, Any] = {"server_hostname": "relay.test", "ident": "rowatch test relay"}
        if behaviour.tls == "starttls":
            assert self.certificate is not None
            kwargs["tls_context"] = self.certificate.server_context()
            kwargs["require_starttls"] = True
        elif behaviour.tls == "implicit":
            assert self.certificate is not None
            kwargs["ssl_context"] = self.certificate.server_context()
        if behaviour.users is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = True
        return _Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        users = self.behaviour.users or {}
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        ok = users.get(user) == auth_data.password.decode("utf-8", "replace")
        with self._lock:
            self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    def _begin(self) -> int:
        with self._lock:
            self.transactions += 1
            return self.transactions

    def _keep(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def start(self) -> SmtpTestServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        try:
            self._controller.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    return _free_port()
