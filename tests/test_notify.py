"""sd_notify: real AF_UNIX datagram sockets standing in for systemd's notify socket."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowatch.notify import Notifier, keepalive, watchdog_interval


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket at a path, as systemd's; yields (NOTIFY_SOCKET, socket)."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    with sock:
        yield str(path), sock


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_with_status(sink: tuple[str, socket.socket]) -> None:
    address, sock = sink
    notifier = Notifier(address)
    assert notifier.enabled
    assert notifier.ready("Watching /dev/kmsg")
    assert receive(sock) == ["READY=1", "STATUS=Watching /dev/kmsg"]
    assert notifier.last_error is None
    notifier.close()


def test_each_message(sink: tuple[str, socket.socket]) -> None:
    address, sock = sink
    notifier = Notifier(address)
    assert notifier.ready()
    assert receive(sock) == ["READY=1"]
    assert notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    assert notifier.status("2 incidents open\nsecond line")
    assert receive(sock) == ["STATUS=2 incidents open second line"]
    assert notifier.stopping("draining alerts")
    assert receive(sock) == ["STOPPING=1", "STATUS=draining alerts"]
    assert notifier.extend_timeout(2.5)
    assert receive(sock) == ["EXTEND_TIMEOUT_USEC=2500000"]
    assert notifier.notify("ERRNO=5", "CUSTOM=x")
    assert receive(sock) == ["ERRNO=5", "CUSTOM=x"]
    notifier.close()


def test_reloading_carries_monotonic_usec(sink: tuple[str, socket.socket]) -> None:
    address, sock = sink
    notifier = Notifier(address)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading("reloading configuration")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = receive(sock)
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=")
    assert before <= int(lines[1].split("=", 1)[1]) <= after
    assert lines[2] == "STATUS=reloading configuration"
    notifier.close()


def test_abstract_socket() -> None:
    name = f"rowatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier("@" + name)
        assert notifier.ready()
        assert receive(sock) == ["READY=1"]
        notifier.close()


def test_from_environment(sink: tuple[str, socket.socket]) -> None:
    address, sock = sink
    env = {
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
        "X": "y",
    }
    notifier = Notifier.from_environment(env, unset=True)
    assert env == {"X": "y"}
    assert notifier.watchdog_interval() == 15.0  # read before the variables went
    assert notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    kept = {"NOTIFY_SOCKET": address}
    assert Notifier.from_environment(kept).enabled
    assert kept == {"NOTIFY_SOCKET": address}
    notifier.close()


@pytest.mark.parametrize("value", ["", "relative/path", "@", "vsock:2:1234"])
def test_not_under_systemd_is_a_no_op(value: str) -> None:
    notifier = Notifier(value)
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.reloading()
    assert not notifier.stopping()
    notifier.close()


def test_empty_environment_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Notifier.from_environment({}).enabled
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled


def test_default_reads_the_environment(
    sink: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, sock = sink
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier()
    assert notifier.ready()
    assert receive(sock) == ["READY=1"]
    assert notifier.watchdog_interval() == 2.0
    assert Notifier("").watchdog_interval() is None  # disabled: no watchdog either
    notifier.close()


def test_send_failure_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    assert notifier.enabled
    assert not notifier.ready()
    assert isinstance(notifier.last_error, OSError)
    notifier.close()


def test_socket_rebound_after_a_restart(tmp_path: Path) -> None:
    """systemd re-executing binds a new socket at the same path: sends reach it."""
    path = tmp_path / "notify"
    notifier = Notifier(str(path))
    for _ in range(2):
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(path))
            sock.settimeout(5)
            assert notifier.watchdog()
            assert receive(sock) == ["WATCHDOG=1"]
        path.unlink()
    notifier.close()


@pytest.mark.parametrize("bad", ["READY", "=1", "A=b\nC=d", "A=\0"])
def test_malformed_assignment_is_refused(sink: tuple[str, socket.socket], bad: str) -> None:
    notifier = Notifier(sink[0])
    with pytest.raises(ValueError, match="KEY=value"):
        notifier.notify(bad)
    notifier.close()


@pytest.mark.parametrize(
    ("env", "pid", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 42, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "42"}, 42, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "43"}, 42, None),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "x"}, 42, None),
        ({"WATCHDOG_USEC": "0"}, 42, None),
        ({"WATCHDOG_USEC": "-5"}, 42, None),
        ({"WATCHDOG_USEC": "soon"}, 42, None),
        ({}, 42, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], pid: int, expected: float | None) -> None:
    assert watchdog_interval(env, pid) == expected


def test_watchdog_interval_defaults_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval() == 1.5
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_interval() is None


def test_keepalive_pings_while_healthy(sink: tuple[str, socket.socket]) -> None:
    address, sock = sink
    notifier = Notifier(address)
    healthy = True

    async def run() -> None:
        task = asyncio.create_task(keepalive(notifier, 0.01, lambda: healthy))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    sock.setblocking(False)
    pings = []
    while True:
        try:
            pings.append(sock.recv(64))
        except BlockingIOError:
            break
    assert len(pings) >= 2
    assert set(pings) == {b"WATCHDOG=1"}

    healthy = False
    asyncio.run(run())
    with pytest.raises(BlockingIOError):
        sock.recv(64)
    notifier.close()
