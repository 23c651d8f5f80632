"""Where alerts go: the :class:`Sink` protocol every destination implements.

A sink only delivers. Queueing, retries, backoff and idempotency are the dispatcher's
(:mod:`rowatch.dispatch`): a sink's ``send`` makes one attempt and either returns (the
destination accepted the alert) or raises :class:`SinkError`. Any other exception is a bug
in the sink; the dispatcher treats it as a temporary failure so the alert is not lost.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import structlog

from rowatch.alert import Alert

__all__ = ["LogSink", "Sink", "SinkError"]


class SinkError(Exception):
    """A delivery failed.

    ``temporary`` says whether trying again later can succeed (relay down, timeout, 5xx,
    4xx SMTP reply) or not (550 unknown recipient, 400/404 from a webhook, a program that
    does not exist): a permanent failure is given up at once and kept as a dead letter.
    ``retry_after`` (seconds), when the destination said how long to wait (HTTP 429/503
    ``Retry-After``), is the least the dispatcher waits before the next attempt.
    The message is for people: it names the destination and what it said.
    """

    def __init__(
        self, message: str, *, temporary: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"SinkError({self.message!r}, temporary={self.temporary})"


@runtime_checkable
class Sink(Protocol):
    """One destination. ``name`` is unique among the configured sinks and stable across
    restarts: it names the sink's outbox directory and appears in every log event."""

    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once; raise :class:`SinkError` when it was not accepted.

        ``alert.id`` is the idempotency key: after a crash the same alert may be sent again
        with the same id, so pass it on (Message-ID, delivery id) for the receiver to dedupe.
        """
        ...

    async def close(self) -> None:
        """Release connections; called once when the daemon stops."""
        ...


#: A sink may also have ``prepare(alert) -> None``: slow, pure formatting of the message, run
#: in a thread while the outbox is written, so the page's first attempt finds it done.


class LogSink:
    """The built-in default: every alert becomes an ``alert_sent`` log line (journal)."""

    #: This sink's own line is the delivery record: the dispatcher logs no second one.
    logs_delivery = True

    def __init__(self, name: str = "log") -> None:
        self.name = name
        self._log = structlog.get_logger("rowatch.sinks.log")

    async def send(self, alert: Alert) -> None:
        incident = alert.incident or {}
        cause = incident.get("cause") or {}
        self._log.info(
            "alert_sent",
            sink=self.name,
            alert_id=alert.id,
            kind=alert.kind.value,
            thread=alert.thread,
            incident_id=incident.get("id"),
            incidents=[i.get("id") for i in alert.incidents],
            filesystem_device=incident.get("filesystem_device"),
            mountpoint=incident.get("mountpoint"),
            outcome=incident.get("outcome"),
            cause=cause.get("summary"),
        )

    async def close(self) -> None:
        return None
