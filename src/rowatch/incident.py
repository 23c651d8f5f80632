"""What the engine returns: classified events, incidents, and changes to incidents.

:class:`Event` and :class:`IncidentChange` are immutable values; an :class:`Incident` is the
engine's own record of one problem and changes as evidence arrives, so consumers keep the
JSON snapshot an :class:`IncidentChange` carries rather than the incident itself.
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from rowatch.kinds import OUTCOME_ORDER, Kind
from rowatch.records import KernelRecord

#: Evidence kept per incident: the first lines (how it started) and the last lines (where it
#: is now). A dying disk prints thousands of lines; the counts stay exact, the list bounded.
EVIDENCE_HEAD = 50
EVIDENCE_TAIL = 50


@dataclass(frozen=True, slots=True)
class Event:
    """One kernel message the engine recognised."""

    kind: Kind
    signature: str
    device: str | None
    message: str
    uptime: float | None
    wall: float | None
    seq: int | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    suppressed: int = 0  # copies of this message the kernel rate-limited just before it
    filesystem: str | None = None
    index: int = 0  # position in the engine's input: evidence merged from two incidents

    @classmethod
    def from_record(
        cls,
        record: KernelRecord,
        kind: Kind,
        signature: str,
        device: str | None,
        details: Mapping[str, str],
        filesystem: str | None,
        index: int,
    ) -> Event:
        return cls(
            kind,
            signature,
            device,
            record.message,
            record.uptime,
            record.wall,
            record.seq,
            details,
            0,
            filesystem,
            index,
        )

    @property
    def clock(self) -> float | None:
        return self.wall if self.wall is not None else self.uptime

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "device": self.device,
            "time": iso_time(self.wall),
            "uptime": self.uptime,
            "message": self.message,
            "signature": self.signature,
        }
        if self.suppressed:
            data["suppressed"] = self.suppressed
        if self.details:
            data["details"] = dict(self.details)
        return data


def iso_time(wall: float | None) -> str | None:
    """Wall-clock seconds as ISO 8601 UTC with microseconds, or None when unknown."""
    if wall is None:
        return None
    try:
        return datetime.fromtimestamp(wall, UTC).isoformat(timespec="microseconds")
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Cause:
    """The decoded likely cause of an incident, and what to do about it."""

    code: str
    summary: str
    advice: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "summary": self.summary, "advice": self.advice}


class Transition(StrEnum):
    """How an incident changed."""

    OPENED = "opened"  # the first error: a warning
    OUTCOME = "outcome"  # read-only, shut down or panicked: the alert
    MERGED = "merged"  # folded into the incident of the filesystem above it
    RECOVERED = "recovered"  # the filesystem is writable again
    CLOSED = "closed"  # quiet long enough, or the input ended


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """An incident changed; ``snapshot`` is its JSON form at that moment."""

    transition: Transition
    incident_id: str
    snapshot: dict[str, Any]


def incident_id(scope: str, anchor: str | None, first_clock: float | None) -> str:
    """A short id that is the same every time the same log is replayed."""
    key = f"{scope}|{anchor or '?'}|{first_clock if first_clock is not None else '?'}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class Incident:
    """One problem on one filesystem (or, while no filesystem is known, one device)."""

    id: str
    anchor: str | None
    filesystem_device: str | None = None
    filesystem: str | None = None
    mountpoint: str | None = None
    outcome: str | None = None
    devices: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    head: list[Event] = field(default_factory=list)
    tail: deque[Event] = field(default_factory=lambda: deque(maxlen=EVIDENCE_TAIL))
    events_total: int = 0
    first_uptime: float | None = None
    last_uptime: float | None = None
    first_wall: float | None = None
    last_wall: float | None = None
    first_clock: float | None = None
    last_clock: float | None = None
    cause: Cause | None = None
    reported: bool = False  # an OPENED change was emitted
    claimed_by: set[str] = field(default_factory=set)  # fs incidents this one was merged into
    closed: bool = False
    detached: bool = False  # its filesystem was unmounted: the device may carry another now

    def add(self, event: Event, clock: float | None) -> None:
        """Add one piece of evidence."""
        self.events_total += 1
        self.counts[event.kind.value] += 1 + event.suppressed
        if len(self.head) < EVIDENCE_HEAD:
            self.head.append(event)
        else:
            self.tail.append(event)
        if event.device and event.device not in self.devices:
            self.devices.append(event.device)
        if event.uptime is not None:
            if self.first_uptime is None:
                self.first_uptime = event.uptime
            self.last_uptime = event.uptime
        if event.wall is not None:
            if self.first_wall is None:
                self.first_wall = event.wall
            self.last_wall = event.wall
        if clock is not None:
            if self.first_clock is None:
                self.first_clock = clock
            self.last_clock = clock
        outcome = event.kind.outcome
        if outcome and (
            self.outcome is None or OUTCOME_ORDER.index(outcome) > OUTCOME_ORDER.index(self.outcome)
        ):
            self.outcome = outcome

    def merge(self, other: Incident) -> None:
        """Take in the evidence of ``other``: errors on a device under this filesystem."""
        combined = sorted([*other.events, *self.events], key=lambda e: e.index)
        self.head = combined[:EVIDENCE_HEAD]
        self.tail = deque(combined[EVIDENCE_HEAD:], maxlen=EVIDENCE_TAIL)
        self.events_total += other.events_total
        self.counts.update(other.counts)
        self.devices = [*other.devices, *(d for d in self.devices if d not in other.devices)]
        self.first_uptime = _earliest(self.first_uptime, other.first_uptime)
        self.first_wall = _earliest(self.first_wall, other.first_wall)
        self.last_uptime = _latest(self.last_uptime, other.last_uptime)
        self.last_wall = _latest(self.last_wall, other.last_wall)
        self.first_clock = _earliest(self.first_clock, other.first_clock)
        self.last_clock = _latest(self.last_clock, other.last_clock)

    @property
    def events(self) -> list[Event]:
        """The evidence kept, in log order."""
        return [*self.head, *self.tail]

    @property
    def events_omitted(self) -> int:
        return self.events_total - len(self.head) - len(self.tail)

    def has(self, *kinds: Kind) -> bool:
        return any(self.counts.get(k.value) for k in kinds)

    def to_json(self) -> dict[str, Any]:
        """The public form (``replay --json``); documented in docs/replay-json.md."""
        return {
            "id": self.id,
            "filesystem_device": self.filesystem_device,
            "filesystem": self.filesystem,
            "mountpoint": self.mountpoint,
            "outcome": self.outcome,
            "devices": list(self.devices),
            "cause": self.cause.to_json() if self.cause else None,
            "first_time": iso_time(self.first_wall),
            "last_time": iso_time(self.last_wall),
            "first_uptime": self.first_uptime,
            "last_uptime": self.last_uptime,
            "counts": dict(sorted(self.counts.items())),
            "events": [e.to_json() for e in self.events],
            "events_omitted": self.events_omitted,
        }


def _earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
