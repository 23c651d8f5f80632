"""An alert: one message about one incident, as it travels incident -> outbox -> sink.

An alert is plain data so it can be written to the outbox, survive a restart and be sent
again. Its ``id`` is the idempotency key every sink uses (the e-mail Message-ID, the webhook
delivery id): sending the same alert twice after a crash between "sent" and "recorded"
carries the same id, so the receiving end can tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ALERT_VERSION = 1


class AlertKind(StrEnum):
    """Why the alert is sent. Stable names: they appear in webhooks and exec environments."""

    OPENED = "opened"  # first errors: a warning, the filesystem is still writable
    READ_ONLY = "read_only"  # the filesystem is read-only, shut down or panicked: the page
    UPDATE = "update"  # more evidence on an open incident, summarised
    RECOVERED = "recovered"  # the filesystem is writable again
    CLOSED = "closed"  # a warning went quiet
    DIGEST = "digest"  # many incidents at once (a SAN outage): one message for all
    TEST = "test"  # rowatch test-alert


@dataclass(frozen=True)
class Alert:
    """One message to deliver; ``incidents`` holds incident snapshots (replay JSON form)."""

    id: str
    kind: AlertKind
    host: str
    fqdn: str
    created: float  # wall clock, seconds since the epoch
    incidents: tuple[dict[str, Any], ...] = ()
    #: Position of this alert in its incident's thread: 0 for the first message.
    sequence: int = 0
    #: Id of the first alert of the same incident, for In-Reply-To / References threading.
    thread: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def incident(self) -> dict[str, Any] | None:
        """The incident, for alerts about one incident."""
        return self.incidents[0] if len(self.incidents) == 1 else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": ALERT_VERSION,
            "id": self.id,
            "kind": self.kind.value,
            "host": self.host,
            "fqdn": self.fqdn,
            "created": self.created,
            "incidents": list(self.incidents),
            "sequence": self.sequence,
            "thread": self.thread,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        """Read an alert back from the outbox; raises ValueError on a malformed one."""
        try:
            if data["version"] != ALERT_VERSION:
                raise ValueError(f"alert version {data['version']!r} is not {ALERT_VERSION}")
            return cls(
                id=str(data["id"]),
                kind=AlertKind(data["kind"]),
                host=str(data["host"]),
                fqdn=str(data["fqdn"]),
                created=float(data["created"]),
                incidents=tuple(dict(i) for i in data["incidents"]),
                sequence=int(data["sequence"]),
                thread=None if data["thread"] is None else str(data["thread"]),
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed alert: {exc!r}") from None
