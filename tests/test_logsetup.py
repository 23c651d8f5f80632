"""The daemon's log: JSON lines, the console, and native journald fields (real journald)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from rowatch import logsetup
from rowatch.incident import Transition
from rowatch.kinds import Kind
from rowatch.logsetup import configure, field_name, journal_entry, resolve_format
from rowatch.messages import MESSAGES, TRANSITION_EVENTS, message_id

INCIDENT = {
    "incident_id": "3f2a9c0b1d4e",
    "filesystem_device": "dm-0",
    "mountpoint": "/srv/data",
    "filesystem": "ext4",
    "outcome": "read_only",
}
JOURNALD = Path("/lib/systemd/systemd-journald")
JOURNAL_SOCKET = "/run/systemd/journal/socket"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def fields_of(entry: logsetup.JournalEntry) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for item in entry.fields:
        name, _, value = item.partition(b"=")
        out.setdefault(name.decode(), []).append(value)
    return out


# ------------------------------------------------------------------------------ messages
def test_message_ids_are_fixed_random_id128s() -> None:
    ids = [m.id for m in MESSAGES.values()]
    assert len(set(ids)) == len(ids)
    for event, message in MESSAGES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", event), event
        assert re.fullmatch(r"[0-9a-f]{32}", message.id), event
        assert message.title and message.description, event
        assert "\n" not in message.description
    assert message_id("incident_read_only") == "10fb8532fbd14099af6099eb0faab3db"
    assert message_id("no_such_event") is None


def test_every_transition_has_an_event() -> None:
    assert set(TRANSITION_EVENTS) == set(Transition)
    assert all(event in MESSAGES for event in TRANSITION_EVENTS.values())


def test_brief_events_are_listed() -> None:
    assert {
        "incident_opened",
        "incident_read_only",
        "incident_merged",
        "incident_closed",
        "incident_recovered",
        "kmsg_records_lost",
        "untrusted_record_rejected",
        "config_reloaded",
        "config_reload_refused",
        "daemon_started",
        "daemon_stopping",
        "source_error",
        "reconciler_finding",
        "alert_sent",
        "alert_failed",
    } <= set(MESSAGES)


# ---------------------------------------------------------------------------------- json
def test_json_fields_and_key_order() -> None:
    buf = io.StringIO()
    assert configure("json", "info", stream=buf) == "json"
    structlog.get_logger().warning("incident_read_only", **INCIDENT, devices=["sda", "dm-0"])
    (line,) = buf.getvalue().splitlines()
    record = json.loads(line)
    assert list(record)[:3] == ["timestamp", "level", "event"]
    assert list(record)[3:] == sorted(list(record)[3:])
    assert record["event"] == "incident_read_only"
    assert record["level"] == "warning"
    assert {k: record[k] for k in INCIDENT} == INCIDENT
    assert record["devices"] == ["sda", "dm-0"]
    stamp = datetime.fromisoformat(record["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert abs(stamp.timestamp() - time.time()) < 60


def test_json_level_filter_and_reconfigure() -> None:
    buf = io.StringIO()
    configure("json", "warning", stream=buf)
    log = structlog.get_logger()
    log.info("hidden")
    log.error("shown")
    configure("json", "debug", stream=buf)  # a reload: loggers already made follow
    log.debug("now_shown")
    assert [r["event"] for r in json_lines(buf)] == ["shown", "now_shown"]


def test_json_values_are_safe() -> None:
    buf = io.StringIO()
    configure("json", "info", stream=buf)
    structlog.get_logger().info(
        "values",
        path=Path("/mnt/x"),
        raw=b"\xff\x00ok",
        odd="caf\udce9",
        kind=Kind.IO_ERROR,
        tags={"b", "a"},
        nested={"a": [1, None]},
        text="two\nlines",
        none=None,
        n=1.5,
    )
    (record,) = json_lines(buf)
    assert record["path"] == "/mnt/x"
    assert record["raw"] == "\udcff\x00ok"
    assert record["odd"] == "caf\udce9"  # the undecodable byte survives as an escape
    assert record["odd"].encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert record["kind"] == Kind.IO_ERROR.value
    assert record["tags"] == ["a", "b"]
    assert record["nested"] == {"a": [1, None]}
    assert record["text"] == "two\nlines"
    assert record["none"] is None
    assert "\n" not in buf.getvalue().rstrip("\n")
    buf.getvalue().encode("utf-8")  # always encodable


def test_json_exception() -> None:
    buf = io.StringIO()
    configure("json", "info", stream=buf)
    try:
        raise OSError(5, "Input/output error")
    except OSError:
        structlog.get_logger().exception("source_error", source="kmsg")
    (record,) = json_lines(buf)
    assert record["level"] == "error"
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "OSError: [Errno 5] Input/output error" in record["exception"]


def test_stdlib_logging_goes_through_the_pipeline() -> None:
    buf = io.StringIO()
    configure("json", "info", stream=buf)
    logging.getLogger("asyncio").error("Task was destroyed but it is pending: %s", "t1")
    logging.getLogger("pyudev").debug("not shown")
    configure("json", "info", stream=buf)  # again: still one handler
    logging.getLogger("x").warning("once")
    records = json_lines(buf)
    assert records[0]["event"] == "Task was destroyed but it is pending: t1"
    assert records[0]["logger"] == "asyncio"
    assert records[0]["level"] == "error"
    assert [r["event"] for r in records[1:]] == ["once"]
    assert not any(k.startswith("_") for r in records for k in r)


def test_context_variables_are_merged() -> None:
    buf = io.StringIO()
    configure("json", "info", stream=buf)
    with structlog.contextvars.bound_contextvars(incident_id="abc"):
        structlog.get_logger().info("alert_sent", channel="smtp")
    (record,) = json_lines(buf)
    assert record["incident_id"] == "abc"


def test_bad_format_or_level() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure("text", "info", stream=io.StringIO())
    with pytest.raises(ValueError, match="log level"):
        configure("json", "verbose", stream=io.StringIO())


# ------------------------------------------------------------------------------- console
def test_console_without_tty_has_no_colours() -> None:
    buf = io.StringIO()
    assert configure("console", "info", stream=buf) == "console"
    structlog.get_logger().warning("incident_read_only", **INCIDENT)
    out = buf.getvalue()
    assert "\x1b[" not in out
    assert "incident_read_only" in out and "warning" in out
    for key, value in INCIDENT.items():
        assert f"{key}={value}" in out


@contextlib.contextmanager
def pty_stream() -> Iterator[tuple[Any, int]]:
    master, slave = os.openpty()
    stream = open(slave, "w", encoding="utf-8")  # noqa: SIM115
    try:
        yield stream, master
    finally:
        stream.close()
        os.close(master)


def test_console_on_tty_has_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    with pty_stream() as (stream, master):
        assert configure("auto", "info", stream=stream) == "console"
        structlog.get_logger().warning("incident_opened", **INCIDENT)
        out = os.read(master, 65536)
    assert b"\x1b[" in out
    assert b"incident_opened" in out

    monkeypatch.setenv("NO_COLOR", "1")
    with pty_stream() as (stream, master):
        configure("console", "info", stream=stream)
        structlog.get_logger().warning("incident_opened", **INCIDENT)
        out = os.read(master, 65536)
    assert b"\x1b[" not in out


# ---------------------------------------------------------------------------- auto format
def test_auto_detects_the_journal_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "stream", "w") as stream, open(tmp_path / "other", "w") as other:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert resolve_format("auto", stream) == "journal"
        assert resolve_format("auto", other) == "json"
        assert resolve_format("console", stream) == "console"
        monkeypatch.setenv("JOURNAL_STREAM", "garbage")
        assert resolve_format("auto", stream) == "json"
        monkeypatch.delenv("JOURNAL_STREAM")
        assert resolve_format("auto", stream) == "json"
    assert resolve_format("auto", io.StringIO()) == "json"


# --------------------------------------------------------------------------- journal fields
def test_journal_entry_fields() -> None:
    entry = journal_entry(
        {
            "event": "incident_read_only",
            "level": "critical",
            "timestamp": "x",
            **INCIDENT,
            "devices": ["sda", "sda2", "dm-0"],
            "cause": "disk failing",
            "pathname": "/src/d.py",
            "lineno": 7,
            "func_name": "f",
        }
    )
    fields = fields_of(entry)
    assert fields["MESSAGE"] == [
        b"Filesystem /srv/data (dm-0, ext4) is now read_only: "
        b"incident_id=3f2a9c0b1d4e devices=sda,sda2,dm-0 "
        b'cause="disk failing"'
    ]
    assert fields["PRIORITY"] == [b"2"]
    assert fields["SYSLOG_IDENTIFIER"] == [b"rowatch"]
    assert fields["MESSAGE_ID"] == [MESSAGES["incident_read_only"].id.encode()]
    assert fields["CODE_FILE"] == [b"/src/d.py"]
    assert fields["CODE_LINE"] == [b"7"]
    assert fields["CODE_FUNC"] == [b"f"]
    assert fields["ROWATCH_EVENT"] == [b"incident_read_only"]
    assert fields["ROWATCH_INCIDENT_ID"] == [b"3f2a9c0b1d4e"]
    assert fields["ROWATCH_INCIDENT"] == [b"3f2a9c0b1d4e"]
    assert fields["ROWATCH_FILESYSTEM_DEVICE"] == [b"dm-0"]
    assert fields["ROWATCH_MOUNTPOINT"] == [b"/srv/data"]
    assert fields["ROWATCH_FILESYSTEM"] == [b"ext4"]
    assert fields["ROWATCH_OUTCOME"] == [b"read_only"]
    assert fields["ROWATCH_DEVICES"] == [b"sda", b"sda2", b"dm-0"]
    assert fields["ROWATCH_DEVICE"] == [b"dm-0", b"sda", b"sda2"]
    assert "ROWATCH_TIMESTAMP" not in fields and "ROWATCH_LEVEL" not in fields
    assert entry.priority == 2


def test_journal_message_falls_back_to_title() -> None:
    entry = journal_entry(
        {
            "event": "incident_opened",
            "level": "warning",
            "incident_id": "abc",
            "filesystem_device": None,
            "devices": ["sdb"],
        }
    )
    assert entry.message == "Storage errors: incident opened: incident_id=abc devices=sdb"
    fields = fields_of(entry)
    assert "ROWATCH_FILESYSTEM_DEVICE" not in fields  # None is left out
    assert fields["ROWATCH_DEVICE"] == [b"sdb"]
    unknown = journal_entry({"event": "something_else", "level": "info", "a": 1})
    assert unknown.message == "something_else: a=1"
    assert "MESSAGE_ID" not in fields_of(unknown)


def test_journal_values_and_names_are_sanitised() -> None:
    entry = journal_entry(
        {
            "event": "x",
            "level": "debug",
            "weird key-é": "v",
            "text": "two\nlines",
            "raw": b"\xff\x00",
            "odd": "caf\udce9",
            "flag": True,
            "nested": {"b": 1, "a": [2]},
            "long_" + "x" * 80: 1,
            "path": Path("/mnt/x"),
            "kind": Kind.READ_ONLY,
        }
    )
    fields = fields_of(entry)
    assert fields["ROWATCH_WEIRD_KEY__"] == [b"v"]
    assert fields["ROWATCH_TEXT"] == [b"two\nlines"]  # journald keeps it; MESSAGE does not
    assert fields["ROWATCH_RAW"] == [b"\xff\x00"]
    assert fields["ROWATCH_ODD"] == [b"caf\xe9"]
    assert fields["ROWATCH_FLAG"] == [b"true"]
    assert fields["ROWATCH_NESTED"] == [b'{"a": [2], "b": 1}']
    assert fields["ROWATCH_PATH"] == [b"/mnt/x"]
    assert fields["ROWATCH_KIND"] == [Kind.READ_ONLY.value.encode()]
    assert all(len(name) <= 64 and re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in fields)
    assert "\n" not in entry.message and "\r" not in entry.message
    entry.message.encode("utf-8")
    assert field_name("incident_id") == "ROWATCH_INCIDENT_ID"


def test_journal_message_is_bounded() -> None:
    entry = journal_entry({"event": "x", "level": "info", "big": "y" * 10_000})
    assert len(entry.message) < 300
    assert fields_of(entry)["ROWATCH_BIG"] == [b"y" * 10_000]
    many = journal_entry(
        {"event": "x", "level": "info", **{f"field{i}": "v" * 50 for i in range(50)}}
    )
    assert len(many.message) < logsetup.MESSAGE_LIMIT + 100
    assert many.message.endswith(" \u2026")
    assert len(fields_of(many)) == 3 + 1 + 50  # MESSAGE PRIORITY SYSLOG_IDENTIFIER EVENT


def test_journal_message_field_is_the_message() -> None:
    """What the daemon logs for an incident: its own headline as ``message``, devices as
    one string, multi-line evidence."""
    entry = journal_entry(
        {
            "event": "incident_read_only",
            "level": "critical",
            "message": "READ-ONLY /srv (dm-0, ext4): disk sda failing\n",
            **INCIDENT,
            "device": "dm-0",
            "devices": "sda sda2 dm-0",
            "evidence": "line one\nline two",
            "counts": '{"io_error": 3}',
        }
    )
    assert entry.message == "READ-ONLY /srv (dm-0, ext4): disk sda failing"
    fields = fields_of(entry)
    assert "ROWATCH_MESSAGE" not in fields
    assert fields["ROWATCH_DEVICES"] == [b"sda sda2 dm-0"]
    assert fields["ROWATCH_DEVICE"] == [b"dm-0", b"sda", b"sda2"]
    assert fields["ROWATCH_EVIDENCE"] == [b"line one\nline two"]
    without = journal_entry(
        {
            "event": "incident_opened",
            "level": "warning",
            "incident_id": "a",
            "evidence": "l1\nl2",
            "n": 2,
        }
    )
    assert without.message == "Storage errors: incident opened: incident_id=a n=2"


def test_journal_falls_back_to_stderr_without_systemd_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logsetup, "_systemd_journal", None)
    assert not logsetup.journal_available()
    buf = io.StringIO()
    assert configure("journal", "info", stream=buf) == "journal"
    log = structlog.get_logger()
    log.warning("incident_read_only", **INCIDENT)
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("source_error")
    lines = buf.getvalue().splitlines()
    assert lines[0] == "<4>rowatch: systemd-python is not installed; logging to stderr"
    assert lines[1] == (
        "<4>Filesystem /srv/data (dm-0, ext4) is now read_only: incident_id=3f2a9c0b1d4e"
    )
    assert lines[2] == "<3>Kernel log source failed (ValueError: bad)"
    assert lines[3] == "<3>Traceback (most recent call last):"
    assert lines[-1] == "<3>ValueError: bad"
    assert sum("not installed" in line for line in lines) == 1


def test_journal_falls_back_when_journald_is_unreachable() -> None:
    def refuse(*fields: bytes) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    buf = io.StringIO()
    journal_logger = logsetup.JournalLogger(buf, refuse)
    journal_logger.msg(journal_entry({"event": "alert_sent", "level": "info"}))
    journal_logger.msg(journal_entry({"event": "alert_failed", "level": "error"}))
    assert buf.getvalue().splitlines() == [
        "<4>rowatch: cannot send to the journal ([Errno 111] Connection refused); "
        "logging to stderr",
        "<6>Alert sent",
        "<3>Alert failed",
    ]


# ---------------------------------------------------------------------- real journald
def _listening(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def journald() -> Iterator[None]:
    """A journald to log to: the running one, else a standalone one started (and stopped)
    here, as on a machine without systemd as PID 1."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run journald and read the system journal")
    if not logsetup.journal_available():
        pytest.skip("systemd-python is not installed")
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl is not installed (Debian package: systemd)")
    if _listening(JOURNAL_SOCKET):
        yield
        return
    if not JOURNALD.exists():
        pytest.skip(f"no journald is running and {JOURNALD} is missing (package: systemd)")
    Path(JOURNAL_SOCKET).parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(JOURNALD)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not _listening(JOURNAL_SOCKET):
            assert process.poll() is None, f"journald exited with {process.returncode}"
            assert time.monotonic() < deadline, "journald did not open its socket in 15 s"
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def journal_query(*matches: str, count: int) -> list[dict[str, Any]]:
    """Entries matching, once ``count`` have arrived (journald writes them asynchronously)."""
    deadline = time.monotonic() + 15
    while True:
        out = subprocess.run(
            ["journalctl", "--no-pager", "-o", "json", *matches],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)


@pytest.mark.root
def test_real_journald_receives_native_fields(journald: None) -> None:
    run = uuid.uuid4().hex
    assert configure("journal", "info", stream=io.StringIO()) == "journal"
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(test_run=run):
        log.critical(
            "incident_read_only",
            **{**INCIDENT, "filesystem_device": "loop0"},
            devices=["loop0"],
            raw=b"\xff",
            note="two\nlines",
        )
        log.warning("incident_opened", incident_id="other", devices=["sdz"])
        try:
            raise OSError(5, "Input/output error")
        except OSError:
            log.exception("source_error", source="kmsg")
        logging.getLogger("asyncio").error("from the standard library")

    everything = journal_query("SYSLOG_IDENTIFIER=rowatch", f"ROWATCH_TEST_RUN={run}", count=4)
    assert len(everything) == 4, everything

    (entry,) = journal_query(
        "SYSLOG_IDENTIFIER=rowatch", f"ROWATCH_TEST_RUN={run}", "ROWATCH_DEVICE=loop0", count=1
    )
    assert entry["MESSAGE"] == (
        "Filesystem /srv/data (loop0, ext4) is now read_only: "
        f"incident_id=3f2a9c0b1d4e devices=loop0 raw=\\xff test_run={run}"
    )
    assert entry["PRIORITY"] == "2"
    assert entry["MESSAGE_ID"] == MESSAGES["incident_read_only"].id
    assert entry["ROWATCH_EVENT"] == "incident_read_only"
    assert entry["ROWATCH_INCIDENT_ID"] == entry["ROWATCH_INCIDENT"] == "3f2a9c0b1d4e"
    assert entry["ROWATCH_FILESYSTEM_DEVICE"] == "loop0"
    assert entry["ROWATCH_DEVICE"] == "loop0"  # the same device once, not twice
    assert entry["ROWATCH_MOUNTPOINT"] == "/srv/data"
    assert entry["ROWATCH_FILESYSTEM"] == "ext4"
    assert entry["ROWATCH_OUTCOME"] == "read_only"
    assert entry["ROWATCH_RAW"] == [0xFF]  # journalctl shows binary values as byte arrays
    assert entry["ROWATCH_NOTE"] == "two\nlines"
    assert entry["CODE_FILE"] == __file__
    assert entry["CODE_FUNC"] == "test_real_journald_receives_native_fields"
    assert entry["_TRANSPORT"] == "journal"

    (opened,) = journal_query(f"ROWATCH_TEST_RUN={run}", "ROWATCH_INCIDENT=other", count=1)
    assert opened["ROWATCH_DEVICE"] == "sdz"
    assert opened["PRIORITY"] == "4"

    (failed,) = journal_query(
        f"ROWATCH_TEST_RUN={run}", f"MESSAGE_ID={message_id('source_error')}", count=1
    )
    assert failed["PRIORITY"] == "3"
    assert "OSError: [Errno 5] Input/output error" in failed["ROWATCH_EXCEPTION"]
    assert failed["MESSAGE"].endswith("(OSError: [Errno 5] Input/output error)")

    (bridged,) = journal_query(f"ROWATCH_TEST_RUN={run}", "ROWATCH_LOGGER=asyncio", count=1)
    assert bridged["MESSAGE"] == f"from the standard library: logger=asyncio test_run={run}"
    assert bridged["PRIORITY"] == "3"
    assert bridged["CODE_FILE"] == __file__


def test_every_event_the_code_logs_has_a_message_id() -> None:
    """journalctl MESSAGE_ID= and the catalog (journalctl -x) cover every event, including
    ones added later: the source is scanned for log calls."""
    import ast
    from pathlib import Path

    import rowatch

    levels = {"debug", "info", "warning", "error", "critical", "exception"}
    logged: dict[str, str] = {}
    for path in Path(rowatch.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            first, func = node.args[0], node.func
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            by_log = (
                isinstance(func, ast.Attribute)
                and func.attr in levels
                and isinstance(func.value, ast.Name)
                and func.value.id == "log"
            )
            by_report = isinstance(func, ast.Attribute) and func.attr == "_report"
            if by_log or by_report:
                logged.setdefault(first.value, path.name)
    assert len(logged) > 30  # the scan found the log calls
    missing = {name: where for name, where in logged.items() if name not in MESSAGES}
    assert missing == {}
