"""sd_notify(3) without libsystemd: readiness, status, watchdog and reload messages.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or an abstract name written
``@name``) to a ``Type=notify`` / ``Type=notify-reload`` service. Each message is one
datagram of ``KEY=value`` lines. Outside systemd there is no socket and every call is a
no-op that returns False, so the daemon calls these unconditionally.

A reload under ``Type=notify-reload`` (systemd 253+) is ``RELOADING=1`` with
``MONOTONIC_USEC=`` (:meth:`Notifier.reloading`), the reload itself, then ``READY=1``
(:meth:`Notifier.ready`) again. With ``WatchdogSec=`` set, send ``WATCHDOG=1`` every
:func:`watchdog_interval` seconds (half the timeout, as sd_watchdog_enabled(3) advises).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping, MutableMapping

#: Seconds a send may block when systemd's socket buffer is full; then the message is dropped.
SEND_TIMEOUT = 1.0


def _address(value: str) -> str | None:
    """The socket address of ``$NOTIFY_SOCKET``; None for what this module cannot use."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # abstract namespace
    if value.startswith("/"):
        return value
    return None  # empty, relative, or vsock:... (a VM's host: not supported)


def _one_line(text: str) -> str:
    return " ".join(text.replace("\0", " ").splitlines())


class Notifier:
    """Sends notifications to the service manager; does nothing when not under systemd."""

    def __init__(
        self,
        socket_path: str | None = None,
        *,
        watchdog: float | None = None,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        """``socket_path`` as ``$NOTIFY_SOCKET`` writes it, ``watchdog`` the ping interval.

        ``socket_path=None`` reads both from the environment (``$NOTIFY_SOCKET``,
        :func:`watchdog_interval`). Empty or unusable (relative, ``vsock:``): disabled.
        """
        if socket_path is None:
            socket_path = os.environ.get("NOTIFY_SOCKET", "")
            watchdog = watchdog_interval()
        self.socket_path = socket_path
        self.timeout = timeout
        self._address = _address(socket_path)
        self._watchdog = watchdog if self._address is not None else None
        self._socket: socket.socket | None = None
        #: The error of the last failed send, for the daemon's status output.
        self.last_error: OSError | None = None

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = False
    ) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` and the watchdog in ``environ`` (default:
        ``os.environ``). ``unset`` then removes those variables, so that child processes
        do not inherit them."""
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET", ""), watchdog=watchdog_interval(env))
        if unset:
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        """Whether there is a service manager to notify."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments as one datagram; True if it was sent."""
        if self._address is None:
            return False
        for item in assignments:
            key, sep, _ = item.partition("=")
            if not sep or not key or "\n" in item or "\0" in item:
                raise ValueError(f"not a single-line KEY=value assignment: {item!r}")
        data = "\n".join(assignments).encode("utf-8", "backslashreplace")
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                self._socket.settimeout(self.timeout)
            self._socket.sendto(data, self._address)
        except OSError as exc:
            self.last_error = exc
            return False
        self.last_error = None
        return True

    def ready(self, status: str | None = None) -> bool:
        """Started (or finished reloading): ``READY=1``."""
        return self.notify("READY=1", *self._status(status))

    def status(self, text: str) -> bool:
        """A one-line status that ``systemctl status`` shows."""
        return self.notify(*self._status(text))

    def watchdog(self) -> bool:
        """Alive: ``WATCHDOG=1``."""
        return self.notify("WATCHDOG=1")

    def reloading(self, status: str | None = None) -> bool:
        """Reload started: ``RELOADING=1`` with ``MONOTONIC_USEC`` (notify-reload)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}", *self._status(status))

    def stopping(self, status: str | None = None) -> bool:
        """Shutting down: ``STOPPING=1``."""
        return self.notify("STOPPING=1", *self._status(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start, reload or stop: ``EXTEND_TIMEOUT_USEC``."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def watchdog_interval(self) -> float | None:
        """Seconds between :meth:`watchdog` pings; None when the watchdog is off."""
        return self._watchdog

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @staticmethod
    def _status(text: str | None) -> list[str]:
        return [] if text is None else [f"STATUS={_one_line(text)}"]


def watchdog_interval(
    environ: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None when the
    watchdog is off or meant for another process (``$WATCHDOG_PID``)."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000


async def keepalive(
    notifier: Notifier, interval: float, healthy: Callable[[], bool] | None = None
) -> None:
    """Ping the watchdog every ``interval`` seconds while ``healthy()`` (if given) holds;
    run it as a task. Pings come only while the event loop runs, which is what it checks."""
    while True:
        if healthy is None or healthy():
            notifier.watchdog()
        await asyncio.sleep(interval)
