"""Which incident changes become alerts, and when: the rules that keep on-call's inbox usable.

Sans-IO, like the engine: :class:`FloodControl` is fed incident changes (:meth:`~FloodControl.feed`)
and the time (:meth:`~FloodControl.tick`) and returns the alerts to send now. It never sleeps
or reads a clock; :meth:`~FloodControl.next_deadline` says when it next wants a tick.

The rules:

* ``opened`` (first errors, still writable): one warning per incident.
* ``read_only`` (read-only, shut down, panicked): the page. Sent the moment the engine says so,
  always individually, never delayed, never folded into a digest, never rate-limited. Each
  read-only filesystem is a separate thing someone must act on; a digest would hide the
  mountpoint in a list and make the pager's first line say "20 incidents" instead of which
  filesystem is gone. The flood this allows is bounded anyway: one page per filesystem
  (and per outcome: ``read_only`` then ``shutdown`` is two).
* ``update``: more evidence on an incident already announced; at most one per incident per
  ``update_interval`` (0: none), only if its counts changed, summarising what is new since
  the last message about it (``extra``: ``since``, ``new_counts``, ``new_events``).
* ``recovered``: always sent, individually; it closes a page.
* ``closed``: a warning went quiet; off by default (``send_closed``).
* ``digest``: warnings (``opened``, ``update``, ``closed``) are rate-limited globally. At most
  ``digest_threshold`` go out individually within ``digest_window``; the rest of a burst (a
  SAN outage fails every filesystem at once) is folded into one digest alert sent
  ``digest_window`` after the first folded one, listing each incident's latest state.
* An incident that opens and reaches its outcome in the same batch of changes (the kernel
  printed the error and "Remounting filesystem read-only" together) gets the page only: a
  warning saying "still writable" next to the page would be wrong the moment it arrives.

Alert ids are deterministic, derived from the incident id and what the alert says
(``<incident>-opened``, ``<incident>-read_only``, ``<incident>-update-<events>``, ...), never
from a counter or a clock: a restarted daemon that replays the same incident produces the
same ids, and the outbox's sent journal drops what was already delivered.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rowatch.alert import Alert, AlertKind
from rowatch.incident import IncidentChange, Transition

#: Returns the current snapshot of an open incident, or None when the engine no longer has
#: it open (closed, evicted): the daemon builds it from ``Engine.open_incidents()``.
SnapshotLookup = Callable[[str], Mapping[str, Any] | None]

#: An incident unchanged at its update deadline is looked at again this often (at most), so
#: evidence that arrives late is summarised within a minute of being due, not a full
#: ``update_interval`` later, without building every snapshot on every tick.
RECHECK_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class FloodConfig:
    """The rules' parameters; times in seconds."""

    update_interval: float = 900.0  # 0: no updates
    digest_threshold: int = 5
    digest_window: float = 60.0
    send_closed: bool = False
    #: An "opened" warning waits this long: when the read-only page follows within it (the
    #: kernel prints the error a few milliseconds before the remount; fanotify reports it
    #: on its own), on-call gets one message, not a warning made stale on arrival. 0: none.
    opened_delay: float = 0.0


@dataclass
class _Tracked:
    """What has been said about one incident."""

    snapshot: dict[str, Any]
    sequence: int = 0  # alerts sent about it individually; the next alert's sequence
    thread: str | None = None  # id of the first of them
    announced: bool = False  # an alert (or a digest) carried it
    last_message: float | None = None  # when the last alert or digest carried it
    next_check: float | None = None  # when an update is looked for next
    baseline: dict[str, int] = field(default_factory=dict)  # counts at the last message
    outcomes: set[str] = field(default_factory=set)  # outcomes already paged


@dataclass
class _Digest:
    """Warnings being folded into one alert."""

    started: float
    deadline: float
    reasons: dict[str, str] = field(default_factory=dict)  # incident id -> why, fold order
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest of each


def counts_of(snapshot: Mapping[str, Any]) -> dict[str, int]:
    """The evidence counts of a snapshot, by kind."""
    counts = snapshot.get("counts") or {}
    return {str(k): int(v) for k, v in counts.items()}


class FloodControl:
    """Turns incident changes into alerts under the rules in the module docstring.

    ``now`` arguments are wall-clock seconds since the epoch (``time.time()``): they become
    each alert's ``created`` and time the update interval and digest window.
    """

    def __init__(self, host: str, fqdn: str, config: FloodConfig | None = None) -> None:
        self.host = host
        self.fqdn = fqdn
        self.config = config or FloodConfig()
        self._tracked: dict[str, _Tracked] = {}
        self._warnings: deque[float] = deque()  # when individual warnings went out
        self._digest: _Digest | None = None
        self._opened_due: dict[str, float] = {}  # opened warnings held back (opened_delay)

    # ------------------------------------------------------------------ inputs
    def feed(self, changes: Iterable[IncidentChange], now: float) -> list[Alert]:
        """Take one batch of changes (one ``Engine.feed``/``tick`` result); return the
        alerts to send now, in order."""
        batch = list(changes)
        paged_now = {c.incident_id for c in batch if c.transition is Transition.OUTCOME}
        alerts: list[Alert] = []
        for change in batch:
            alerts += self._change(change, now, paged_now)
        return alerts

    def tick(self, now: float, current: SnapshotLookup | None = None) -> list[Alert]:
        """Let time pass: send updates that are due and a digest whose window ended.

        ``current`` gives the incidents' current snapshots; without it no update is sent
        (the engine emits no change per piece of evidence, so only it knows the counts).
        """
        alerts = self._release_opened(now, everything=False)
        if current is not None:
            alerts += self._updates(now, current)
        if self._digest is not None and now >= self._digest.deadline:
            alerts += self._send_digest(now, current)
        return alerts

    def flush(self, now: float, current: SnapshotLookup | None = None) -> list[Alert]:
        """The daemon is stopping: what is held back goes now (held ``opened`` warnings,
        a digest being gathered), so nothing believed sent stays only in memory."""
        alerts = self._release_opened(now, everything=True)
        if self._digest is not None:
            alerts += self._send_digest(now, current)
        return alerts

    def _release_opened(self, now: float, *, everything: bool) -> list[Alert]:
        """The held ``opened`` warnings that are due (``everything``: all of them), unless
        a page came for the incident meanwhile."""
        alerts: list[Alert] = []
        for iid, due in list(self._opened_due.items()):
            if everything or now >= due:
                del self._opened_due[iid]
                tracked = self._tracked.get(iid)
                if tracked is not None and not tracked.outcomes:
                    alerts += self._warning(iid, tracked, AlertKind.OPENED, now)
        return alerts

    def resume(
        self, change: IncidentChange, thread: str | None, outcome: str | None, now: float
    ) -> None:
        """Follow an incident that was alerted before a restart (its alert is not sent
        again): later messages about it thread under ``thread``, the first one's id, and an
        outcome already paged is not paged again."""
        iid = change.incident_id
        tracked = self._tracked.get(iid)
        if tracked is None:
            tracked = self._tracked[iid] = _Tracked(dict(change.snapshot))
        tracked.snapshot = dict(change.snapshot)
        if thread is not None and tracked.thread is None:
            tracked.thread = thread
            tracked.sequence = max(tracked.sequence, 1)
        if outcome:
            tracked.outcomes.add(outcome)
        self._opened_due.pop(iid, None)
        self._said(tracked, now)

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, or None: schedule a tick then."""
        times = [t.next_check for t in self._tracked.values() if t.next_check is not None]
        times += self._opened_due.values()
        if self._digest is not None:
            times.append(self._digest.deadline)
        return min(times, default=None)

    def holding(self) -> bool:
        """True while an alert is held back (an ``opened`` warning, a digest in the making)."""
        return bool(self._opened_due) or self._digest is not None

    @property
    def open_incidents(self) -> int:
        """Incidents being followed for updates."""
        return len(self._tracked)

    # ------------------------------------------------------------------ changes
    def _change(self, change: IncidentChange, now: float, paged_now: set[str]) -> list[Alert]:
        iid = change.incident_id
        snapshot = dict(change.snapshot)
        transition = change.transition
        if transition is Transition.MERGED:
            # Its evidence now belongs to the filesystem incident, which speaks for it.
            self._tracked.pop(iid, None)
            if self._digest is not None:
                self._digest.reasons.pop(iid, None)
                self._digest.snapshots.pop(iid, None)
            return []
        tracked = self._tracked.get(iid)
        if tracked is None:
            # Also an incident first seen at its outcome or recovery (a restart mid-incident).
            tracked = self._tracked[iid] = _Tracked(snapshot)
        tracked.snapshot = snapshot
        if self._digest is not None and iid in self._digest.reasons:
            self._digest.snapshots[iid] = snapshot  # the digest shows the latest state
        if transition is Transition.OPENED:
            if iid in paged_now:
                return []  # the page in this same batch says it all (module docstring)
            if self.config.opened_delay > 0:
                self._opened_due[iid] = now + self.config.opened_delay
                return []
            return self._warning(iid, tracked, AlertKind.OPENED, now)
        self._opened_due.pop(iid, None)  # the outcome or the end speaks for it now
        if transition is Transition.OUTCOME:
            return self._page(iid, tracked, now)
        if transition is Transition.RECOVERED:
            del self._tracked[iid]
            return [self._individual(iid, tracked, AlertKind.RECOVERED, now, f"{iid}-recovered")]
        # CLOSED
        del self._tracked[iid]
        if not self.config.send_closed or not tracked.announced:
            return []  # never announced: nothing to close (a pending digest shows it closed)
        if self._digest is not None and iid in self._digest.reasons:
            return []  # the pending digest carries the closed snapshot
        return self._warning(iid, tracked, AlertKind.CLOSED, now)

    def _page(self, iid: str, tracked: _Tracked, now: float) -> list[Alert]:
        outcome = str(tracked.snapshot.get("outcome") or "read_only")
        if outcome in tracked.outcomes:
            return []
        tracked.outcomes.add(outcome)
        return [self._individual(iid, tracked, AlertKind.READ_ONLY, now, f"{iid}-{outcome}")]

    def _warning(self, iid: str, tracked: _Tracked, kind: AlertKind, now: float) -> list[Alert]:
        """A warning-class alert: individually while the budget allows, else into the digest."""
        window = self.config.digest_window
        while self._warnings and self._warnings[0] <= now - window:
            self._warnings.popleft()
        if self._digest is None and len(self._warnings) < self.config.digest_threshold:
            self._warnings.append(now)
            alert_id = f"{iid}-{kind.value}"
            if kind is AlertKind.UPDATE:
                alert_id = f"{iid}-update-{sum(counts_of(tracked.snapshot).values())}"
            return [self._individual(iid, tracked, kind, now, alert_id)]
        if self._digest is None:
            self._digest = _Digest(started=now, deadline=now + window)
        self._digest.reasons.setdefault(iid, kind.value)
        self._digest.snapshots[iid] = tracked.snapshot
        # No update is looked for while the digest will carry the incident's latest state.
        tracked.next_check = None
        return []

    # ------------------------------------------------------------------ time
    def _updates(self, now: float, current: SnapshotLookup) -> list[Alert]:
        alerts: list[Alert] = []
        for iid, tracked in list(self._tracked.items()):
            if tracked.next_check is None or now < tracked.next_check:
                continue
            snapshot = current(iid)
            if snapshot is None:
                del self._tracked[iid]  # no longer open (closed or evicted without a change)
                continue
            tracked.snapshot = dict(snapshot)
            if counts_of(snapshot) == tracked.baseline:
                tracked.next_check = now + min(RECHECK_INTERVAL, self.config.update_interval)
                continue
            alerts += self._warning(iid, tracked, AlertKind.UPDATE, now)
        return alerts

    def _send_digest(self, now: float, current: SnapshotLookup | None) -> list[Alert]:
        digest = self._digest
        assert digest is not None
        self._digest = None
        if not digest.reasons:
            return []  # everything in it merged away
        snapshots: list[dict[str, Any]] = []
        key: list[str] = []
        for iid, reason in digest.reasons.items():
            snapshot = digest.snapshots[iid]
            tracked = self._tracked.get(iid)
            if tracked is not None:
                latest = current(iid) if current is not None else None
                if latest is not None:
                    snapshot = tracked.snapshot = dict(latest)
                self._said(tracked, now)
            snapshots.append(snapshot)
            key.append(f"{iid}:{reason}:{sum(counts_of(snapshot).values())}")
        read_only = sum(1 for s in snapshots if s.get("outcome"))
        return [
            Alert(
                id="digest-" + hashlib.sha256("|".join(key).encode()).hexdigest()[:16],
                kind=AlertKind.DIGEST,
                host=self.host,
                fqdn=self.fqdn,
                created=now,
                incidents=tuple(snapshots),
                extra={
                    "window_start": digest.started,
                    "window_end": now,
                    "reasons": dict(digest.reasons),
                    "read_only": read_only,
                },
            )
        ]

    # ------------------------------------------------------------------ alerts
    def _individual(
        self, iid: str, tracked: _Tracked, kind: AlertKind, now: float, alert_id: str
    ) -> Alert:
        extra: dict[str, Any] = {}
        counts = counts_of(tracked.snapshot)
        if kind is AlertKind.UPDATE:
            new = {k: v - tracked.baseline.get(k, 0) for k, v in counts.items()}
            extra = {
                "since": tracked.last_message,
                "new_counts": {k: v for k, v in sorted(new.items()) if v > 0},
                "new_events": sum(v for v in new.values() if v > 0),
            }
        if tracked.thread is None:
            tracked.thread = alert_id
        alert = Alert(
            id=alert_id,
            kind=kind,
            host=self.host,
            fqdn=self.fqdn,
            created=now,
            incidents=(tracked.snapshot,),
            sequence=tracked.sequence,
            thread=tracked.thread,
            extra=extra,
        )
        tracked.sequence += 1
        self._said(tracked, now)
        return alert

    def _said(self, tracked: _Tracked, now: float) -> None:
        """An alert carried the incident's current state: the next update counts from here."""
        tracked.announced = True
        tracked.last_message = now
        tracked.baseline = counts_of(tracked.snapshot)
        interval = self.config.update_interval
        tracked.next_check = now + interval if interval > 0 else None  # 0: no updates
