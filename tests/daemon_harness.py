"""Run ``rowatch run`` for real in a test: a subprocess with its own config and directories.

The daemon logs JSON (``--log-format json``) to stderr; a reader thread collects the events so
a test can wait for one. A datagram socket stands in for systemd's notify socket, so READY=1,
STATUS=, RELOADING=1 and STOPPING=1 are seen as systemd would see them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Event = dict[str, Any]


class Daemon:
    """A running ``rowatch run`` and what it said."""

    def __init__(
        self,
        workdir: Path,
        config: str,
        *,
        extra_args: tuple[str, ...] = (),
        wrapper: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """``wrapper`` runs before the daemon's own argv (e.g. ``unshare -m ...``); ``env``
        adds to its environment (``WATCHDOG_USEC``, say)."""
        self.workdir = workdir
        self.config_path = workdir / "rowatch.toml"
        self.config_path.write_text(config)
        self.events: list[Event] = []
        self.notifications: list[str] = []
        self.raw_lines: list[str] = []
        self._lock = threading.Lock()
        notify_path = workdir / "notify.sock"
        notify_path.unlink(missing_ok=True)  # a daemon before this one in the same test
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(str(notify_path))
        self._notify.settimeout(0.2)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(notify_path),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [
                *wrapper,
                sys.executable,
                "-m",
                "rowatch",
                "run",
                "--config",
                str(self.config_path),
                "--log-format",
                "json",
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._threads = [
            threading.Thread(target=self._read_log, daemon=True),
            threading.Thread(target=self._read_notify, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_log(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._lock:
                self.raw_lines.append(line)
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        event["_received"] = time.monotonic()
                        self.events.append(event)

    def _read_notify(self) -> None:
        while self.process.poll() is None:
            try:
                data = self._notify.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.notifications.extend(data.decode().splitlines())

    def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = 10.0, what: str = "event"
    ) -> Event:
        """The first event (old or new) the predicate accepts; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    if predicate(event):
                        return event
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(
            f"no {what} within {timeout}s; daemon said:\n" + "\n".join(self.raw_lines[-40:])
        )

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if "READY=1" in self.notifications:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("daemon never sent READY=1:\n" + "\n".join(self.raw_lines[-40:]))

    def named(self, name: str, **fields: Any) -> list[Event]:
        with self._lock:
            return [
                e
                for e in self.events
                if e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
            ]

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        for thread in self._threads:
            thread.join(2)
        self._notify.close()
        return code


@contextlib.contextmanager
def running_daemon(
    workdir: Path, config: str, *args: str, wrapper: tuple[str, ...] = ()
) -> Iterator[Daemon]:
    daemon = Daemon(workdir, config, extra_args=args, wrapper=wrapper)
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


def config_text(
    workdir: Path,
    *,
    source: str = "kmsg",
    backlog: bool = False,
    interval: str = "1s",
    extra: str = "",
    fanotify: bool = True,
) -> str:
    """A test configuration: private state and runtime directories, a fast reconciler.
    ``extra`` goes into ``[source]`` (and may open further sections)."""
    return (
        f'[source]\ntype = "{source}"\nbacklog = {"true" if backlog else "false"}\n'
        f"{extra}\n"
        f'[state]\ndirectory = "{workdir}/state"\nruntime_directory = "{workdir}/run"\n'
        f'[reconciler]\ninterval = "{interval}"\nfanotify = {"true" if fanotify else "false"}\n'
    )
