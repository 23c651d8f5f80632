"""The durable per-sink queue: an alert is on disk before any attempt to send it.

Layout, for each location (the state directory's ``outbox``, then the runtime directory's)::

    <location>/<sink>/<alert id>.json   one pending alert (an envelope around Alert.to_json)
    <location>/<sink>/sent              ids delivered lately (JSON list, bounded): the journal
    <location>/<sink>/dead/<id>.json    alerts a sink refused for good (bounded)
    <location>/<sink>/<file>.corrupt    a pending file that could not be read, moved aside

Every write is atomic (:func:`rowatch.state.write_atomic`: temporary file, fsync, rename,
fsync of the directory). The state directory may sit on the very filesystem that is failing,
so a write it refuses (read-only, full, I/O error, any ``OSError``) moves every outbox to the
next location, the runtime directory (tmpfs), and then to memory, and says so. Loading reads
every location: an alert queued under /run before a restart still goes out after it.

Idempotency: :meth:`Outbox.mark_sent` records the id in the journal *before* deleting the
file, and :meth:`Outbox.put` refuses an id the journal holds. A crash after the journal write
leaves a file that the next start deletes unsent; a crash between the sink accepting an alert
and the journal write sends it once more, with the same id (the receiver's dedupe key). So a
receiver sees an alert at most twice, and only after a crash at that exact moment.

All methods are synchronous and thread-safe: the dispatcher runs them in worker threads with
a time limit, because an fsync on a dying disk can block for minutes, and abandons a location
that does not answer (:meth:`Locations.abandon`). The lock guards memory only; no file
operation ever runs under it, so a thread stuck in the kernel cannot stall the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from rowatch.alert import Alert, AlertKind
from rowatch.state import temporary_path, write_atomic

OUTBOX_VERSION = 1
JOURNAL_FILE = "sent"
DEAD_DIR = "dead"
DEFAULT_MAX_PENDING = 1000
DEFAULT_JOURNAL_SIZE = 4096
DEFAULT_DEAD_MAX = 100

#: Which alerts make room first when an outbox is full: least useful first. A page
#: (read-only) goes last, and never silently.
DROP_ORDER: tuple[AlertKind, ...] = (
    AlertKind.UPDATE,
    AlertKind.CLOSED,
    AlertKind.TEST,
    AlertKind.DIGEST,
    AlertKind.OPENED,
    AlertKind.RECOVERED,
    AlertKind.READ_ONLY,
)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,99}")


class Reporter(Protocol):
    """Where the outbox says what happened (the dispatcher logs it): an event name, fields."""

    def __call__(self, event: str, /, **fields: Any) -> None: ...


def _ignore(event: str, /, **fields: Any) -> None:
    return None


def file_name(name: str) -> str:
    """A file or directory name for a sink name or an alert id: itself when it is plain,
    otherwise a hash (a sink named ``a/b`` must not write outside the outbox)."""
    if _SAFE_NAME.fullmatch(name) and name not in (DEAD_DIR, JOURNAL_FILE):
        return name
    return "x-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class PutResult(StrEnum):
    """What :meth:`Outbox.put` did."""

    QUEUED = "queued"  # stored (on disk, or in memory when no directory takes writes)
    PENDING = "pending"  # the same id is already queued
    ALREADY_SENT = "already_sent"  # the journal says it was delivered: not sent again
    DROPPED = "dropped"  # the outbox was full and this was the least useful alert


class Locations:
    """The outbox directories in order of preference, shared by every sink's outbox, so the
    move off a failing disk happens (and is logged) once. ``current`` None: memory."""

    def __init__(self, directories: Sequence[Path], report: Reporter = _ignore) -> None:
        self.candidates = [Path(d) for d in directories]
        self.abandoned: set[Path] = set()
        self.current: Path | None = self.candidates[0] if self.candidates else None
        self._report = report
        self._lock = threading.Lock()

    def abandon(self, failed: Path, reason: str) -> Path | None:
        """``failed`` refused a write or did not answer: stop using it; return where writes
        go now. Safe to call from any thread, and again for a location already left."""
        with self._lock:
            if failed in self.abandoned:
                return self.current
            self.abandoned.add(failed)
            if self.current != failed:
                return self.current
            self.current = next((c for c in self.candidates if c not in self.abandoned), None)
            current = self.current
        self._report(
            "outbox_fallback",
            location=str(current) if current else "memory",
            failed=str(failed),
            reason=reason,
        )
        return current


@dataclass
class _Entry:
    alert: Alert
    seq: int
    paths: list[Path] = field(default_factory=list)  # files holding it (normally one)


def _describe(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class Outbox:
    """The pending alerts of one sink. Nothing is read until :meth:`load`."""

    def __init__(
        self,
        sink: str,
        locations: Locations | Sequence[Path],
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        journal_size: int = DEFAULT_JOURNAL_SIZE,
        dead_max: int = DEFAULT_DEAD_MAX,
        report: Reporter = _ignore,
        write: Callable[[Path, bytes], None] = write_atomic,
    ) -> None:
        self.sink = sink
        self.locations = (
            locations if isinstance(locations, Locations) else Locations(locations, report)
        )
        self.max_pending = max(1, max_pending)
        self.journal_size = max(self.max_pending, journal_size)
        self.dead_max = dead_max
        self._report = report
        self._write = write
        self._dirname = file_name(sink)
        self._lock = threading.Lock()
        self._pending: dict[str, _Entry] = {}
        self._sent: dict[str, None] = {}  # insertion-ordered set, oldest first
        self._seq = 0
        self._journal_version = 0
        self._journal_written: dict[Path, int] = {}
        self._journal_locks: dict[Path, threading.Lock] = {}
        self._made: set[Path] = set()
        self.dead: list[Alert] = []  # dead letters kept in memory when nothing takes writes

    # ------------------------------------------------------------------ reading
    def load(self) -> None:
        """Read what every location holds (call once, before anything else)."""
        for location in self.locations.candidates:
            if location not in self.locations.abandoned:
                self.load_from(location)

    def load_from(self, location: Path) -> None:
        """Read one location: the journal, then the pending alerts it does not list."""
        directory = location / self._dirname
        sent = self._read_journal(directory)
        found: list[tuple[Path, Alert, int]] = []
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            names = []
        except OSError as exc:
            self._report("outbox_unreadable", sink=self.sink, path=str(directory), error=str(exc))
            names = []
        for name in names:
            path = directory / name
            if name.startswith(".") and name.endswith(".tmp"):
                # A write cut short by a crash: the alert it held is in memory no more, but
                # the complete write is either here under its own name or was never acked.
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            if not name.endswith(".json"):
                continue
            loaded = self._read_alert(path)
            if loaded is not None:
                found.append((path, *loaded))
        stale: list[Path] = []
        with self._lock:
            if location in self.locations.abandoned:
                return  # it stopped answering while this thread read it: the rest is moot
            for alert_id in sent:
                self._remember_sent(alert_id)
                earlier = self._pending.pop(alert_id, None)  # read from another location
                if earlier is not None:
                    stale += earlier.paths
            for path, alert, seq in found:
                if alert.id in self._sent:
                    stale.append(path)  # sent; the crash came before the file was deleted
                elif alert.id in self._pending:
                    self._pending[alert.id].paths.append(path)
                else:
                    self._pending[alert.id] = _Entry(alert, seq, [path])
                self._seq = max(self._seq, seq + 1)
            victims = self._make_room()
        self._unlink(stale)
        self._discard(victims)

    def _read_journal(self, directory: Path) -> list[str]:
        path = directory / JOURNAL_FILE
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            self._report("outbox_corrupt", sink=self.sink, path=str(path), error=str(exc))
            self._move_aside(path)
            return []
        if not isinstance(data, list):
            self._report("outbox_corrupt", sink=self.sink, path=str(path), error="not a list")
            self._move_aside(path)
            return []
        return [i for i in data if isinstance(i, str)]

    def _read_alert(self, path: Path) -> tuple[Alert, int] | None:
        try:
            envelope = json.loads(path.read_bytes())
            if not isinstance(envelope, dict) or envelope.get("outbox") != OUTBOX_VERSION:
                raise ValueError("not an outbox file of this version")
            alert = Alert.from_json(envelope["alert"])
            seq = int(envelope.get("seq", 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._report("outbox_corrupt", sink=self.sink, path=str(path), error=str(exc))
            self._move_aside(path)
            return None
        return alert, seq

    def _move_aside(self, path: Path) -> None:
        """Keep an unreadable file for a person to look at, out of the way of the next load."""
        try:
            os.replace(path, path.with_name(path.name + ".corrupt"))
        except OSError as exc:
            self._report("outbox_unreadable", sink=self.sink, path=str(path), error=str(exc))

    # ------------------------------------------------------------------ queueing
    def put(self, alert: Alert) -> PutResult:
        """Store ``alert`` durably before it is sent. Falls back as the module docstring
        says; an alert already pending is stored again only if no live location holds it
        (its first write went to a location abandoned since)."""
        with self._lock:
            if alert.id in self._sent:
                return PutResult.ALREADY_SENT
            entry = self._pending.get(alert.id)
            if entry is not None and any(self._live(p) for p in entry.paths):
                return PutResult.PENDING
            if entry is None:
                entry = self._pending[alert.id] = _Entry(alert, self._seq)
                self._seq += 1
            victims = self._make_room()
            dropped = alert.id not in self._pending
            seq = entry.seq
        if dropped:
            self._discard(victims)
            return PutResult.DROPPED
        envelope = {"outbox": OUTBOX_VERSION, "seq": seq, "alert": alert.to_json()}
        data = json.dumps(envelope, sort_keys=True).encode()
        path = self._store(file_name(alert.id) + ".json", data)
        if path is not None:
            with self._lock:
                still = self._pending.get(alert.id)
                if still is not None:
                    still.paths.append(path)
            if still is None:  # sent or dropped while this thread wrote: do not resurrect it
                with contextlib.suppress(OSError):
                    path.unlink()
        self._discard(victims)
        return PutResult.QUEUED

    def _make_room(self) -> list[_Entry]:
        """Under the lock: drop the least useful, oldest alerts above ``max_pending``."""
        victims: list[_Entry] = []
        while len(self._pending) > self.max_pending:
            victim = min(
                self._pending.values(),
                key=lambda e: (DROP_ORDER.index(e.alert.kind), e.alert.created, e.seq),
            )
            del self._pending[victim.alert.id]
            victims.append(victim)
        return victims

    def _discard(self, victims: list[_Entry]) -> None:
        for victim in victims:
            alert = victim.alert
            incident = alert.incident or {}
            self._report(
                "outbox_dropped",
                sink=self.sink,
                alert_id=alert.id,
                kind=alert.kind.value,
                incident_id=incident.get("id"),
                reason=f"outbox full ({self.max_pending} pending alerts)",
            )
            self._unlink(victim.paths)

    def pending(self) -> list[Alert]:
        """The alerts not yet delivered, oldest first."""
        with self._lock:
            entries = sorted(self._pending.values(), key=lambda e: (e.alert.created, e.seq))
        return [e.alert for e in entries]

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._pending

    def was_sent(self, alert_id: str) -> bool:
        return alert_id in self._sent

    def in_memory(self) -> int:
        """Pending alerts no file holds: lost if the daemon stops before sending them."""
        with self._lock:
            return sum(1 for e in self._pending.values() if not any(map(self._live, e.paths)))

    # ------------------------------------------------------------------ done
    def mark_sent(self, alert_id: str) -> None:
        """The sink accepted ``alert_id``: journal it, then delete its file."""
        with self._lock:
            entry = self._pending.pop(alert_id, None)
            self._remember_sent(alert_id)
            self._journal_version += 1
            version = self._journal_version
            data = json.dumps(list(self._sent)).encode()
        self._write_journal(data, version)
        if entry is not None:
            self._unlink(entry.paths)

    def dead_letter(self, alert_id: str, reason: str, when: float) -> Path | None:
        """The sink refused ``alert_id`` for good: keep it under ``dead/`` for a person.

        Not journalled: after a restart (with the configuration fixed, say) the same alert
        gets one more try. Returns the dead letter's path (None: kept in memory).
        """
        with self._lock:
            entry = self._pending.pop(alert_id, None)
        if entry is None:
            return None
        envelope = {
            "outbox": OUTBOX_VERSION,
            "seq": entry.seq,
            "alert": entry.alert.to_json(),
            "failed": reason,
            "failed_at": when,
        }
        data = json.dumps(envelope, sort_keys=True).encode()
        path = self._store(file_name(alert_id) + ".json", data, sub=DEAD_DIR)
        if path is None:
            self.dead = [*self.dead, entry.alert][-self.dead_max :]
        else:
            self._trim_dead(path.parent)
        self._unlink(entry.paths)
        return path

    def _trim_dead(self, directory: Path) -> None:
        try:
            files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return
        for old in files[: max(0, len(files) - self.dead_max)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _remember_sent(self, alert_id: str) -> None:
        self._sent.pop(alert_id, None)
        self._sent[alert_id] = None
        while len(self._sent) > self.journal_size:
            del self._sent[next(iter(self._sent))]

    # ------------------------------------------------------------------ files
    def _live(self, path: Path) -> bool:
        """Is ``path`` in a location still in use (not abandoned)?"""
        return not any(path.is_relative_to(a) for a in self.locations.abandoned)

    def _store(self, name: str, data: bytes, sub: str | None = None) -> Path | None:
        """Write ``name`` in the first location that takes it; None: memory only."""
        while True:
            location = self.locations.current
            if location is None:
                return None
            directory = location / self._dirname
            if sub:
                directory = directory / sub
            path = directory / name
            try:
                if directory not in self._made:
                    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                    self._made.add(directory)
                self._write(path, data)
                return path
            except OSError as exc:
                # Read-only, full, over quota, I/O error, gone: whatever it is, this
                # directory cannot hold the alert now, and the next one might.
                with contextlib.suppress(OSError):
                    temporary_path(path).unlink()
                self.locations.abandon(location, f"{path}: {_describe(exc)}")

    def _write_journal(self, data: bytes, version: int) -> None:
        """Write the journal where writes go now, unless a newer version got there first
        (two threads: one was abandoned mid-write and finished late)."""
        while True:
            location = self.locations.current
            if location is None:
                return
            lock = self._journal_locks.setdefault(location, threading.Lock())
            with lock:  # per location: a thread stuck on a dead disk blocks only that one
                if self._journal_written.get(location, -1) >= version:
                    return
                directory = location / self._dirname
                path = directory / JOURNAL_FILE
                try:
                    if directory not in self._made:
                        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                        self._made.add(directory)
                    self._write(path, data)
                    self._journal_written[location] = version
                    return
                except OSError as exc:
                    failure = f"{path}: {_describe(exc)}"
            self.locations.abandon(location, failure)

    def _unlink(self, paths: list[Path]) -> None:
        for path in paths:
            if not self._live(path):
                continue  # never touch a location that hangs; the journal covers the file
            with contextlib.suppress(OSError):
                path.unlink()
