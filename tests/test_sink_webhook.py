"""Webhook sink: real HTTP(S) servers on 127.0.0.1 receive, check and answer the alerts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import HTTPServer
from pathlib import Path
from typing import Annotated, Any

import pytest
from aiohttp import web

from rowatch.alert import Alert, AlertKind
from rowatch.config import Config, ConfigError, Section, loads_config, reference_markdown
from rowatch.replay import replay
from rowatch.sinks import SinkError
from rowatch.sinks.webhook import (
    WebhookConfig,
    WebhookSink,
    alert_summary,
    encode_payload,
    load_secret,
    webhook_sinks,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "alerts-webhook.md"
SECRET = "s3cr3t-d0-n0t-l0g"
SEED = """\
Nov 25 03:12:01 web7 kernel: SCSI Error : <0 0 0 0> return code = 0x20008
Nov 25 03:12:01 web7 kernel: end_request: I/O error, dev sda, sector 4928181
Nov 25 03:12:01 web7 kernel: Aborting journal on device dm-0.
Nov 25 03:12:01 web7 kernel: EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted journal
Nov 25 03:12:01 web7 kernel: Remounting filesystem read-only
"""


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The seed incident as the engine reports it, with a mountpoint."""
    log = tmp_path_factory.mktemp("seed") / "messages"
    log.write_text(SEED)
    (snapshot,) = replay([str(log)], year=2009).incidents
    return {**snapshot, "mountpoint": "/srv"}


def make_alert(incident: dict[str, Any], kind: AlertKind = AlertKind.READ_ONLY) -> Alert:
    return Alert(
        id="a1b2c3d4e5f6",
        kind=kind,
        host="web7",
        fqdn="web7.example.com",
        created=1764040321.5,
        incidents=(incident,),
        sequence=1,
        thread="f6e5d4c3b2a1",
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "webhook.secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


# --------------------------------------------------------------------------- a receiver
@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    path: str


@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 that records requests and answers with ``status``."""

    status: int = 204
    hold: bool = False  # answer only once release() is called
    retry_after: str | None = None
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Request(dict(request.headers), await request.read(), request.path))
        if self.hold:
            await self.released.wait()
        if 300 <= self.status < 400:
            return web.Response(status=self.status, headers={"Location": "/elsewhere"})
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        text = "nope" if self.status >= 400 else ""
        return web.Response(status=self.status, text=text, headers=headers)


async def serve(
    receiver: Receiver,
    body: Callable[[Receiver], Awaitable[None]],
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/hooks/T0KEN-in-path"
    try:
        await body(receiver)
    finally:
        receiver.release()
        await runner.cleanup()


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


# ------------------------------------------------------------------------------- delivery
def test_body_headers_and_signature(incident: dict[str, Any], secret_file: Path) -> None:
    alert = make_alert(incident)

    async def scenario(receiver: Receiver) -> None:
        sink = WebhookSink(WebhookConfig(url=receiver.url, secret_file=str(secret_file)))
        await sink.send(alert)
        await sink.close()

    receiver = Receiver()
    run(serve(receiver, scenario))
    (request,) = receiver.requests
    assert request.path == "/hooks/T0KEN-in-path"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Rowatch-Delivery"] == alert.id
    assert request.headers["X-Rowatch-Event"] == "read_only"
    assert request.headers["User-Agent"].startswith("rowatch/")
    digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Rowatch-Signature"] == f"sha256={digest}"
    assert request.body == encode_payload(alert)

    document = json.loads(request.body)
    assert document == {
        "version": 1,
        "alert": {
            "id": "a1b2c3d4e5f6",
            "kind": "read_only",
            "host": "web7",
            "fqdn": "web7.example.com",
            "created": "2025-11-25T03:12:01.500000+00:00",
            "sequence": 1,
            "thread": "f6e5d4c3b2a1",
            "summary": "web7: /srv (dm-0, ext3) remounted read-only",
        },
        "incidents": [incident],
    }
    assert document["incidents"][0]["cause"]["code"] == "scsi_path_busy"


def test_without_secret_there_is_no_signature_and_basic_auth_works(
    incident: dict[str, Any],
) -> None:
    async def scenario(receiver: Receiver) -> None:
        sink = WebhookSink(WebhookConfig(url=receiver.url))
        await sink.send(make_alert(incident))
        await sink.close()
        with_auth = receiver.url.replace("://", "://rowatch:pa55word@")
        sink = WebhookSink(WebhookConfig(url=with_auth))
        assert "pa55word" not in repr(sink) + sink.name
        await sink.send(make_alert(incident))
        await sink.close()

    receiver = Receiver(status=200)
    run(serve(receiver, scenario))
    plain, authenticated = receiver.requests
    assert "X-Rowatch-Signature" not in plain.headers
    assert "Authorization" not in plain.headers
    assert plain.headers["X-Rowatch-Delivery"] == "a1b2c3d4e5f6"
    expected = "Basic " + base64.b64encode(b"rowatch:pa55word").decode()
    assert authenticated.headers["Authorization"] == expected


ANSWERS: dict[int, bool | None] = {  # status -> None: sent, True: temporary, False: permanent
    200: None,
    201: None,
    202: None,
    204: None,
    408: True,
    429: True,
    500: True,
    502: True,
    503: True,
    504: True,
    301: False,
    307: False,
    400: False,
    401: False,
    403: False,
    404: False,
    410: False,
    422: False,
}


def test_answers_map_to_sent_temporary_or_permanent(incident: dict[str, Any]) -> None:
    outcomes: dict[int, bool | None] = {}
    messages: dict[int, str] = {}

    async def scenario(receiver: Receiver) -> None:
        sink = WebhookSink(WebhookConfig(url=receiver.url, name="bridge"))
        for status in ANSWERS:
            receiver.status = status
            try:
                await sink.send(make_alert(incident))
                outcomes[status] = None
            except SinkError as exc:
                outcomes[status] = exc.temporary
                messages[status] = str(exc)
        await sink.close()

    receiver = Receiver()
    run(serve(receiver, scenario))
    assert outcomes == ANSWERS
    assert len(receiver.requests) == len(ANSWERS)  # redirects are not followed
    assert "HTTP 503: nope" in messages[503]
    assert "redirects are not followed" in messages[301]
    assert messages[404].startswith("bridge (http://127.0.0.1:")
    assert all("T0KEN" not in m for m in messages.values())


def test_retry_after_is_passed_on(incident: dict[str, Any]) -> None:
    waits: dict[tuple[int, str], float | None] = {}
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    cases = [(429, "7"), (503, in_a_minute), (503, "86400"), (503, "soon"), (404, "7")]

    async def scenario(receiver: Receiver) -> None:
        sink = WebhookSink(WebhookConfig(url=receiver.url))
        for status, header in cases:
            receiver.status, receiver.retry_after = status, header
            with pytest.raises(SinkError) as caught:
                await sink.send(make_alert(incident))
            waits[status, header] = caught.value.retry_after
        await sink.close()

    run(serve(Receiver(), scenario))
    assert waits[429, "7"] == 7.0
    assert 55 < (waits[503, in_a_minute] or 0) <= 60
    assert waits[503, "86400"] == 600.0  # capped: a page must not wait a day
    assert waits[503, "soon"] is None
    assert waits[404, "7"] is None  # permanent: no retry at all


def test_connection_refused_is_temporary_and_the_path_is_not_shown() -> None:
    async def scenario() -> None:
        sink = WebhookSink(WebhookConfig(url="http://127.0.0.1:9/hooks/T0KEN"))
        with pytest.raises(SinkError) as caught:
            await sink.send(Alert("x", AlertKind.TEST, "h", "h", 0.0))
        await sink.close()
        assert caught.value.temporary
        assert "refused" in str(caught.value).lower()
        assert "T0KEN" not in str(caught.value)
        assert sink.name == "webhook:127.0.0.1"
        assert "T0KEN" not in repr(sink)

    run(scenario())


def test_a_slow_server_times_out_quickly_and_temporarily(incident: dict[str, Any]) -> None:
    async def scenario(receiver: Receiver) -> None:
        sink = WebhookSink(WebhookConfig(url=receiver.url, timeout=0.3))
        started = time.monotonic()
        with pytest.raises(SinkError) as caught:
            await sink.send(make_alert(incident))
        assert time.monotonic() - started < 1.5
        assert caught.value.temporary
        assert "no answer within 0.3s" in str(caught.value)
        await sink.close()
        receiver.release()

    run(serve(Receiver(hold=True), scenario))


# ------------------------------------------------------------------------------- https
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made by openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=rowatch test", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_is_verified_against_the_ca_file(
    incident: dict[str, Any], certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def scenario(receiver: Receiver) -> None:
        trusting = WebhookSink(WebhookConfig(url=receiver.url, ca_file=str(cert)))
        await trusting.send(make_alert(incident))
        await trusting.close()

        system_cas = WebhookSink(WebhookConfig(url=receiver.url))
        with pytest.raises(SinkError) as caught:
            await system_cas.send(make_alert(incident))
        await system_cas.close()
        assert caught.value.temporary  # fixable without losing the alert
        assert "certificate" in str(caught.value).lower()

        wrong_name = receiver.url.replace("127.0.0.1", "localhost")
        by_name = WebhookSink(WebhookConfig(url=wrong_name, ca_file=str(cert)))
        with pytest.raises(SinkError):
            await by_name.send(make_alert(incident))
        await by_name.close()

    receiver = Receiver()
    run(serve(receiver, scenario, server_context))
    assert len(receiver.requests) == 1


# ------------------------------------------------------------------------------ secrets
def test_secret_file_must_be_private(tmp_path: Path, secret_file: Path) -> None:
    assert load_secret(str(secret_file)) == SECRET.encode()
    secret_file.chmod(0o640)
    with pytest.raises(ValueError, match=r"mode 0640.*chmod 600") as caught:
        WebhookSink(WebhookConfig(url="http://127.0.0.1:9/", secret_file=str(secret_file)))
    assert SECRET not in str(caught.value)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ValueError, match="is empty"):
        load_secret(str(empty))
    with pytest.raises(ValueError, match="No such file"):
        load_secret(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"webhook\[1\]: secret file"):
        webhook_sinks(
            [
                WebhookConfig(url="http://127.0.0.1:9/a"),
                WebhookConfig(url="http://127.0.0.1:9/b", secret_file=str(secret_file)),
            ]
        )


def test_sink_names_are_unique() -> None:
    a, b, c, d = webhook_sinks(
        [
            WebhookConfig(url="https://hooks.example.com/one"),
            WebhookConfig(url="https://hooks.example.com/two"),
            WebhookConfig(url="https://other.example.com/"),
            WebhookConfig(url="https://hooks.example.com/three", name="ops"),
        ]
    )
    assert re.fullmatch(r"webhook:hooks\.example\.com-[0-9a-f]{8}", a.name)
    assert re.fullmatch(r"webhook:hooks\.example\.com-[0-9a-f]{8}", b.name)
    assert a.name != b.name
    assert (c.name, d.name) == ("webhook:other.example.com", "ops")
    with pytest.raises(ValueError, match=r"webhook\[1\]: the same url as webhook\[0\]"):
        webhook_sinks([WebhookConfig(url="https://a.example.com/")] * 2)
    with pytest.raises(ValueError, match=r"webhook\[1\]: name 'ops' is taken by webhook\[0\]"):
        webhook_sinks(
            [
                WebhookConfig(url="https://a.example.com/", name="ops"),
                WebhookConfig(url="https://b.example.com/", name="ops"),
            ]
        )


def test_the_secret_is_never_in_reprs(secret_file: Path) -> None:
    sink = WebhookSink(WebhookConfig(url="http://127.0.0.1:9/", secret_file=str(secret_file)))
    assert SECRET not in repr(sink)
    assert SECRET not in repr(sink.config)


# ----------------------------------------------------------------- the docs' own receiver
def _docs_block(language: str, containing: str) -> str:
    blocks: list[str] = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.DOTALL)
    (block,) = [b for b in blocks if containing in b]
    return block


def test_receiver_example_in_the_docs_verifies_our_signature(
    incident: dict[str, Any], secret_file: Path, tmp_path: Path
) -> None:
    """The Python receiver of docs/alerts-webhook.md, run as written, against the sink."""
    code = _docs_block("python", "def verify")
    assert '"/etc/rowatch-receiver/webhook.secret"' in code
    code = code.replace("/etc/rowatch-receiver/webhook.secret", str(secret_file))
    namespace: dict[str, Any] = {"__name__": "receiver", "print": lambda *a: None}
    exec(compile(code, str(DOCS), "exec"), namespace)
    server = HTTPServer(("127.0.0.1", 0), namespace["Receiver"])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not the secret")
    wrong.chmod(0o600)

    async def scenario() -> None:
        signed = WebhookSink(WebhookConfig(url=url, secret_file=str(secret_file)))
        await signed.send(make_alert(incident))
        await signed.send(make_alert(incident))  # a retry: acknowledged, not handled again
        await signed.close()
        forged = WebhookSink(WebhookConfig(url=url, secret_file=str(wrong)))
        with pytest.raises(SinkError) as caught:
            await forged.send(make_alert(incident))
        await forged.close()
        assert not caught.value.temporary
        assert "HTTP 401" in str(caught.value)

    try:
        run(scenario())
    finally:
        server.shutdown()
        server.server_close()
    assert namespace["seen"] == {"a1b2c3d4e5f6"}


def test_shell_example_in_the_docs_computes_the_same_signature(
    incident: dict[str, Any], tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    line = next(x for x in _docs_block("sh", "openssl dgst").splitlines() if "openssl dgst" in x)
    body = encode_payload(make_alert(incident))
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "webhook.secret").write_text(SECRET + "\n")
    done = subprocess.run(
        ["sh", "-c", line], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert done.stdout.strip() == f"sha256={expected}"


# ------------------------------------------------------------------------------- summary
def test_summaries(incident: dict[str, Any]) -> None:
    assert alert_summary(make_alert(incident)) == "web7: /srv (dm-0, ext3) remounted read-only"
    recovered = {**incident, "resolution": "unmounted"}
    assert (
        alert_summary(make_alert(recovered, AlertKind.RECOVERED))
        == "web7: /srv (dm-0, ext3) is unmounted (rowatch did not see it writable again)"
    )
    warning = {**incident, "outcome": None}
    assert alert_summary(make_alert(warning, AlertKind.OPENED)).endswith(
        "errors, still writable (warning)"
    )
    assert alert_summary(make_alert(warning, AlertKind.CLOSED)).endswith(
        "errors stopped, still writable"
    )
    digest = Alert("d", AlertKind.DIGEST, "web7", "web7", 0.0, (incident, incident, warning))
    assert alert_summary(digest) == (
        "web7: 3 storage incidents: 2 filesystems no longer writable, 1 with errors"
    )
    assert "test alert" in alert_summary(Alert("t", AlertKind.TEST, "web7", "web7", 0.0))


# ------------------------------------------------------------------------------- config
@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSchema(Config):
    webhook: Annotated[tuple[WebhookConfig, ...], Section("Webhooks.", many=True)] = ()


def load(text: str) -> WebhookSchema:
    config = loads_config(text, "rowatch.toml", schema=WebhookSchema)
    assert isinstance(config, WebhookSchema)
    return config


def test_config_sections(secret_file: Path, certificate: tuple[Path, Path]) -> None:
    config = load(
        f"""
[[webhook]]
url = "https://hooks.example.com/rowatch"
secret_file = "{secret_file}"
timeout = "5s"
ca_file = "{certificate[0]}"
name = "ops"

[[webhook]]
url = "http://127.0.0.1:8080/"
"""
    )
    first, second = config.webhook
    assert first == WebhookConfig(
        url="https://hooks.example.com/rowatch",
        secret_file=str(secret_file),
        timeout=5.0,
        ca_file=str(certificate[0]),
        name="ops",
    )
    assert second.timeout == 10.0 and second.secret_file is None
    assert load(config.to_toml()) == config
    assert "| `secret_file` | absolute path | not set |" in reference_markdown(WebhookSchema)


def test_config_errors_name_the_key(tmp_path: Path, secret_file: Path) -> None:
    secret_file.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load(
            f"""
[[webhook]]
url = "ftp://example.com/"

[[webhook]]
url = "https://example.com/"
secret_file = "{secret_file}"
ca_file = "{tmp_path / "nope.pem"}"

[[webhook]]
secret_file = "relative"
timout = 3
"""
        )
    assert caught.value.lines == [
        "rowatch.toml:3: webhook[0].url: must start with http:// or https:// "
        "(got 'ftp://example.com/')",
        "rowatch.toml:7: webhook[1].secret_file: can be read or written by group or others "
        "(mode 0644): chmod 600 it",
        "rowatch.toml:8: webhook[1].ca_file: no such file",
        "rowatch.toml:11: webhook[2].secret_file: must be an absolute path (got 'relative')",
        "rowatch.toml:12: webhook[2].timout: unknown key (did you mean 'timeout'?)",
        "rowatch.toml:10: webhook[2].url: required key is missing",
    ]
