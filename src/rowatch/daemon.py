"""``rowatch run``: the long-running service around the engine.

Data flows one way::

    kmsg | journal  ->  Engine  ->  incident log events  ->  alerts
    mountinfo, sysfs, fanotify  ->  Reconciler  ->  Engine.observe() / recovered()
    sysfs + udev  ->  Topology  ->  Engine

Everything here is an adapter: reading, waiting, writing. The decisions are the engine's and
the reconciler's, which never touch I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from rowatch import __version__
from rowatch.alert import Alert, AlertKind
from rowatch.config import Config, ConfigError, changed_keys, load_config
from rowatch.dispatch import Dispatcher
from rowatch.engine import Engine, Output, Rejected
from rowatch.flood import FloodControl
from rowatch.incident import IncidentChange, Transition
from rowatch.logsetup import configure as configure_logging
from rowatch.messages import TRANSITION_EVENTS
from rowatch.notify import Notifier
from rowatch.reconcile import (
    Finding,
    FsState,
    Reconciler,
    What,
    fanotify_finding,
    read_filesystems,
)
from rowatch.records import KernelRecord
from rowatch.report import headline
from rowatch.sinks import LogSink, Sink
from rowatch.smtp_url import EmailSettings, SmtpSettingsError
from rowatch.sources import Source, SourceError
from rowatch.state import StateStore, alert_key, write_atomic
from rowatch.sysfs import build_topology
from rowatch.threads import in_daemon_thread
from rowatch.topology import Topology

log = structlog.get_logger("rowatch")

STATUS_FILE = "status.json"

#: A userspace process imitating kernel messages is logged at most this often, with a count.
_REJECTED_LOG_INTERVAL = 60.0
#: Alerts for what the backlog (the log since boot) shows are held until it has been read,
#: so an incident that ended before the daemon started is logged but not alerted. The
#: source says when it has caught up; if it never does, this long after start is taken as
#: caught up (a boot's kernel log reads in well under a second from kmsg or the journal).
_BACKLOG_LIMIT = 30.0
#: What a reload does not change in a running daemon: the source, the destinations (their
#: workers and outboxes are built at start), where state lives, the fanotify watcher.
_RESTART_SECTIONS = frozenset({"source", "smtp", "webhook", "alertmanager", "exec", "state"})
_RESTART_KEYS = frozenset({"alerts.outbox_max", "reconciler.fanotify"})
#: The status file is written this long after a change (one write for a burst).
_STATUS_DELAY = 0.05

#: A fanotify error waits this long for the kernel log line of the same error (see _fs_error).
_FANOTIFY_GRACE = 0.2
#: What an alert being stored marks as alerted (a page, or a warning of any form).
_MARKED_KINDS = frozenset(
    {AlertKind.READ_ONLY, AlertKind.OPENED, AlertKind.UPDATE, AlertKind.DIGEST}
)
#: The state file is written at most this often.
_STATE_MIN_INTERVAL = 1.0
#: The state file gets this long to be written; a directory that does not answer in time
#: (an fsync hanging on the failing disk) is given up for the next one.
_STATE_IO_TIMEOUT = 5.0
#: udev and mount events come in bursts (a disk with ten partitions): one rebuild for all.
_TOPOLOGY_DEBOUNCE = 0.2
_TOPOLOGY_MAX_DELAY = 2.0
#: A mount table and sysfs check that takes longer than this is given up for this round.
_RECONCILE_TIMEOUT = 30.0


def _keep_restart_only(old: Config, new: Config) -> Config:
    """``new``, but with what only a restart changes (_RESTART_SECTIONS, _RESTART_KEYS) as
    in ``old``: one list says both what the reload warns about and what it keeps."""
    kept: dict[str, Any] = {name: getattr(old, name) for name in _RESTART_SECTIONS}
    for dotted in _RESTART_KEYS:
        section, key = dotted.split(".")
        base = kept.get(section, getattr(new, section))
        kept[section] = dataclasses.replace(base, **{key: getattr(getattr(old, section), key)})
    return dataclasses.replace(new, **kept)


def host_mountinfo() -> str:
    """The mount table as the host sees it. Under systemd's ProtectSystem=strict the service's
    own table shows every filesystem mounted read-only; PID 1's shows the real flags."""
    for path in ("/proc/1/mountinfo", "/proc/self/mountinfo"):
        if os.access(path, os.R_OK):
            return path
    return "/proc/self/mountinfo"


def boot_id() -> str:
    """This boot's id: incidents and alerts are remembered per boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def incident_fields(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The fields every incident log event carries, for people and for scripts."""
    cause = snapshot.get("cause") or {}
    devices = snapshot.get("devices") or []
    return {
        "incident_id": snapshot["id"],
        "filesystem_device": snapshot.get("filesystem_device"),
        "device": snapshot.get("filesystem_device") or (devices[-1] if devices else None),
        "mountpoint": snapshot.get("mountpoint"),
        "filesystem": snapshot.get("filesystem"),
        "outcome": snapshot.get("outcome"),
        "devices": devices,
        "cause": cause.get("summary"),
        "cause_code": cause.get("code"),
        "advice": cause.get("advice"),
        "counts": snapshot.get("counts") or {},
        "evidence": [e["message"] for e in (snapshot.get("events") or [])[:20]],
    }


def _alert_device(snapshot: dict[str, Any]) -> str | None:
    devices: list[str] = snapshot.get("devices") or []
    device: str | None = snapshot.get("filesystem_device")
    return device or (devices[-1] if devices else None)


@dataclass
class Status:
    """What ``rowatch status`` shows, written to the runtime directory on every change."""

    pid: int = field(default_factory=os.getpid)
    version: str = __version__
    started: float = field(default_factory=time.time)
    source: str = ""
    position: dict[str, Any] = field(default_factory=dict)
    filesystems: list[dict[str, Any]] = field(default_factory=list)
    disks: int = 0
    incidents: list[dict[str, Any]] = field(default_factory=list)
    open_incidents: int = 0  # what the one-line status counts (incidents: as last written)
    rejected: int = 0
    state_location: str = "memory"
    alerts: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line STATUS= summary ``systemctl status`` shows."""
        fs, disks, open_ = len(self.filesystems), self.disks, self.open_incidents
        return (
            f"watching {fs} filesystem{'s' * (fs != 1)} on {disks} disk{'s' * (disks != 1)}, "
            f"{open_} open incident{'s' * (open_ != 1)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}


class Daemon:
    """One running rowatch: source, engine, reconciler, watchers, state and status."""

    def __init__(
        self,
        config: Config,
        config_path: str | None,
        log_format: str | None = None,
        *,
        email: EmailSettings | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.log_format = log_format  # a --log-format given on the command line wins
        self.boot_id = boot_id()
        self.hostname = socket.gethostname()
        self.fqdn = self.hostname  # resolved in run(), with a time limit: DNS may hang
        self.email = email  # from the command line (--smtp); [smtp] otherwise
        self.flood = FloodControl(self.hostname, self.fqdn, config.alerts.flood_config())
        self.sinks = build_sinks(config, email)
        self.dispatcher = Dispatcher(
            self.sinks,
            [
                Path(config.state.directory) / "outbox",
                Path(config.state.runtime_directory) / "outbox",
            ],
            max_pending=config.alerts.outbox_max,
            on_stored=self._alert_stored,
        )
        self._flood_wake = asyncio.Event()
        self._alertmanager: Any = next(
            (sink for sink in self.sinks if hasattr(sink, "observe")), None
        )
        self.notifier = Notifier()
        self.status = Status()
        self.state = StateStore(
            config.state.directories, self.boot_id, on_fallback=self._state_fell_back
        )
        self.status.state_location = str(self.state.location or "memory")
        self.topology = self._read_topology()
        self.engine = Engine(
            self.topology,
            config.engine.engine_config(),
            scope=f"{self.hostname}|{self.boot_id}",
            history=False,  # months of incidents must not pile up in memory
        )
        self.reconciler = self._new_reconciler()
        self.source: Source | None = None
        self._started_wall = time.time()
        self._in_backlog = True
        self._held: dict[str, IncidentChange] = {}
        self._states: dict[str, FsState] = {}
        self._stopping = asyncio.Event()
        self._changes: list[IncidentChange] = []  # alertable changes of the current batch
        self._rejected_since_log = 0
        self._rejected_logged_at = -_REJECTED_LOG_INTERVAL
        self._other_boot_records = 0
        self._watchers: list[Any] = []
        self._fanotify: Any = None
        self._topology_timer: asyncio.TimerHandle | None = None
        self._topology_first = 0.0  # when the pending rebuild's first change came
        self._reconcile_lock = asyncio.Lock()
        self._state_dirty = asyncio.Event()
        self._state_write: asyncio.Future[None] | None = None
        self._reconcile_wake = asyncio.Event()
        self._reconcile_now = False  # a check was asked for (udev, mounts)
        self._last_reconcile = 0.0  # loop time of the last check
        self._reconcile_thread: asyncio.Future[list[FsState]] | None = None
        self._status_timer: asyncio.TimerHandle | None = None
        self._status_write: asyncio.Future[None] | None = None
        self._status_closed = False
        self._cursor: str | None = None  # the newest journal cursor handled

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        with contextlib.suppress(TimeoutError, OSError):
            self.fqdn = await asyncio.wait_for(asyncio.to_thread(socket.getfqdn), 2.0)
        self.flood = FloodControl(self.hostname, self.fqdn, self.config.alerts.flood_config())
        # Alerts left in the outbox before a restart go out first.
        await self.dispatcher.start()
        if self._alertmanager is not None:
            self._alertmanager.start()
        try:
            self.source = await self._open_source()
        except SourceError as exc:
            log.error("source_error", error=str(exc))
            self.notifier.stopping(f"cannot read the kernel log: {exc}")
            await self.dispatcher.close()
            return 1
        self._start_watchers()
        consume = asyncio.create_task(self._consume(self.source), name="source")
        # The log since boot first: the incidents it shows take their ids from its records,
        # so a restart names them as before, and what the mount table shows joins them.
        caught_up = getattr(self.source, "caught_up", None)
        if caught_up is not None:
            waiting = asyncio.ensure_future(caught_up.wait())
            await asyncio.wait(
                {waiting, consume}, timeout=_BACKLOG_LIMIT, return_when="FIRST_COMPLETED"
            )
            waiting.cancel()
        # Time passes in the engine before the backlog ends: what went quiet hours ago is
        # closed now, not alerted as if it were news.
        self._handle(self.engine.tick(self._engine_now()))
        self._end_backlog()
        await self._reconcile()
        self.status.source = self.source.describe()
        log.info(
            "daemon_started",
            version=__version__,
            source=self.status.source,
            config=self.config_path or "built-in default",
            state=self.status.state_location,
            boot_id=self.boot_id,
        )
        self._publish_status()
        self.notifier.ready(self.status.line())
        tasks = [
            consume,
            asyncio.create_task(self._flood_timer(), name="alerts"),
            asyncio.create_task(self._reconcile_timer(), name="reconciler"),
            asyncio.create_task(self._state_writer(), name="state"),
        ]
        interval = self.notifier.watchdog_interval()
        if interval:
            tasks.append(asyncio.create_task(self._watchdog(interval), name="watchdog"))
        stop = asyncio.create_task(self._stopping.wait())
        done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stop and not t.cancelled() and t.exception()]
        for task in failed:
            log.error("source_error", error=repr(task.exception()), task=task.get_name())
        await self._shutdown(tasks)
        return 1 if failed else 0

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Stop reading, give pending alerts a bounded time to go out, then leave."""
        self.notifier.stopping()
        self._end_backlog()
        position = dict(getattr(self.source, "position", {}) or {})
        log.info(
            "daemon_stopping",
            pending_alerts=self.dispatcher.pending(),
            records_read=position.get("records"),
            records_lost=position.get("lost_records"),
            untrusted_rejected=self.status.rejected,
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.source is not None:
            self.source.close()
        for watcher in [*self._watchers, self._fanotify]:
            if watcher is not None:
                with contextlib.suppress(Exception):
                    watcher.close()
        # What flood control still holds (a warning waiting for opened_delay, a digest being
        # gathered) goes now: after the exit it would exist nowhere.
        self._submit(self.flood.flush(time.time(), self._current_snapshot))
        await self.dispatcher.drain(self.config.shutdown.drain_timeout)
        await self.dispatcher.close()
        self._advance_cursor()
        if self._state_write is not None and not self._state_write.done():
            # The state writer was stopped mid-write: let that write land first, or it
            # could replace the final one with older state.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._state_write), _STATE_IO_TIMEOUT)
        await self._write_state()
        await self._close_status()

    async def _open_source(self) -> Source:
        settings = self.config.source
        source: Source
        if settings.type == "journal":
            from rowatch.sources.journal import JournalSource

            journal = JournalSource(
                directory=settings.journal_directory,
                cursor=self.state.journal_cursor,
                backlog=settings.backlog,
            )
            source = journal
            await source.open()
            if journal.resume_error:
                log.warning(
                    "source_error",
                    error=journal.resume_error,
                    hint="the saved journal cursor is unusable: reading this boot",
                )
        else:
            from rowatch.sources.kmsg import KmsgSource

            source = KmsgSource(
                settings.kmsg_path, backlog=settings.backlog, on_loss=self._records_lost
            )
            await source.open()
        return source

    # ------------------------------------------------------------------ the kernel log
    async def _consume(self, source: Source) -> None:
        async for batch in source.batches():
            self._handle(self._feed(batch))
            cursor = next((r.origin for r in reversed(batch) if r.origin), None)
            if cursor is not None:
                self._cursor = cursor
                self._advance_cursor()
            self.status.position = dict(getattr(source, "position", {}) or {})

    def _advance_cursor(self) -> None:
        """Save the journal cursor, but only past records whose alerts are safe: stored in
        every outbox, not held in flood control. A crash before that re-reads them, and the
        alert state keeps what was stored from being alerted twice."""
        if self._cursor is None or self._cursor == self.state.journal_cursor:
            return
        if self._in_backlog or self._held or self.dispatcher.unstored() or self.flood.holding():
            return
        self.state.set_journal_cursor(self._cursor)
        self._state_dirty.set()

    def _feed(self, batch: Iterable[KernelRecord]) -> list[Output]:
        outputs: list[Output] = []
        for record in batch:
            if record.boot_id and record.boot_id.replace("-", "") != self.boot_id.replace("-", ""):
                self._other_boot_records += 1  # a resumed journal cursor from before a reboot
                continue
            outputs += self.engine.feed(record)
        return outputs

    def _records_lost(self, count: int) -> None:
        log.warning(
            "kmsg_records_lost",
            lost=count,
            hint="the kernel ring buffer overwrote records before rowatch read them; "
            "the mount-state reconciler still sees what they would have said",
        )

    def _handle(self, outputs: Iterable[Output]) -> None:
        changed = False
        for output in outputs:
            if isinstance(output, IncidentChange):
                self._log_change(output)
                if self._alertmanager is not None:
                    # Alertmanager keeps every incident's state, not only what is alerted.
                    self._alertmanager.observe(output, self.hostname, self.fqdn)
                self._alert_on(output)
                changed = True
            elif isinstance(output, Rejected):
                self._note_rejected(output)
        self._send_changes()
        if changed:
            self._publish_status()

    def _log_change(self, change: IncidentChange) -> None:
        fields = incident_fields(change.snapshot)
        name = TRANSITION_EVENTS[change.transition]
        level = {Transition.OPENED: "warning", Transition.OUTCOME: "critical"}.get(
            change.transition, "info"
        )
        if self._in_backlog:
            # The log since boot, read again at start: history, not news. What is still
            # open is alerted (and logged as such) when the backlog ends.
            level = "info"
            fields["backlog"] = True
        if change.transition is Transition.MERGED:
            fields["merged_into"] = change.snapshot.get("merged_into")
        if "resolution" in change.snapshot:
            fields["resolution"] = change.snapshot["resolution"]
        getattr(log, level)(name, message=f"{self.hostname}: {headline(change.snapshot)}", **fields)

    def _note_rejected(self, rejected: Rejected) -> None:
        self.status.rejected += 1
        self._rejected_since_log += 1
        now = time.monotonic()
        if now - self._rejected_logged_at >= _REJECTED_LOG_INTERVAL:
            log.warning(
                "untrusted_record_rejected",
                count=self._rejected_since_log,
                signature=rejected.signature,
                facility=rejected.record.facility,
                sample=rejected.record.message[:200],
                hint="a userspace process wrote a kernel-looking storage message",
            )
            self._rejected_since_log = 0
            self._rejected_logged_at = now

    # ------------------------------------------------------------------ alerts
    def _alert_on(self, change: IncidentChange) -> None:
        """Decide whether a change is alerted: once per filesystem and outcome per boot."""
        snapshot = change.snapshot
        device_keys = f"{self.boot_id}|{_alert_device(snapshot) or '?'}|"
        if change.transition is Transition.RECOVERED:
            self._held.pop(change.incident_id, None)
            # The device may carry a new filesystem that fails again: a new alert then.
            # While reading the backlog only what was alerted for this very incident is
            # forgotten: an older filesystem of the same name recovering must not unmark
            # the alert given for the current one.
            incident = change.incident_id if self._in_backlog else None
            if self.state.forget(device_keys, incident):
                self._state_dirty.set()
            if not self._in_backlog:
                self._queue_alert(change)
            return
        if change.transition in (Transition.MERGED, Transition.CLOSED):
            self._held.pop(change.incident_id, None)
            # It is over (quiet, or folded into its filesystem's): a new incident on the
            # device is news again. (By incident: its device name may have changed since.)
            if self.state.forget(f"{self.boot_id}|", change.incident_id):
                self._state_dirty.set()
            if not self._in_backlog:
                self._changes.append(change)  # flood control stops following it
            return
        if self._in_backlog:
            self._held[change.incident_id] = change  # the latest word on it wins
            return
        self._queue_alert(change)

    def _end_backlog(self) -> None:
        """The backlog is read: alert what it left open, skip what already ended."""
        if not self._in_backlog:
            return
        self._in_backlog = False
        open_ids = {i.id for i in self.engine.open_incidents()}
        for incident_id, change in self._held.items():
            if incident_id in open_ids:
                self._queue_alert(change)
        self._held.clear()
        self._send_changes()

    def _queue_alert(self, change: IncidentChange) -> None:
        snapshot = change.snapshot
        if change.transition is not Transition.RECOVERED:
            key = alert_key(self.boot_id, _alert_device(snapshot), snapshot.get("outcome"))
            entry = self.state.alerted(key)
            if entry is not None:
                before = float(entry.get("at") or 0) < self._started_wall
                log.info(
                    "alert_skipped",
                    reason="already alerted" + (" (before a restart)" if before else ""),
                    key=key,
                    **incident_fields(snapshot),
                )
                # Later messages about it thread under the one sent then.
                thread = entry.get("thread")
                self.flood.resume(
                    change,
                    thread if isinstance(thread, str) and thread else None,
                    snapshot.get("outcome"),
                    time.time(),
                )
                return
        self._changes.append(change)

    def _alert_stored(self, alert: Alert) -> None:
        """Every outbox has the alert: from now on a restart must not send it again."""
        marked = False
        if alert.kind in _MARKED_KINDS:
            for snapshot in alert.incidents:
                incident_id = str(snapshot.get("id"))
                if not self.engine.is_current(incident_id):
                    continue  # it ended (and was forgotten) while the alert was being stored
                outcome = snapshot.get("outcome") if alert.kind is AlertKind.READ_ONLY else None
                key = alert_key(self.boot_id, _alert_device(snapshot), outcome)
                if self.state.alerted(key) is None:
                    # A digest starts no thread; the incident's own first message does.
                    thread = "" if alert.kind is AlertKind.DIGEST else (alert.thread or alert.id)
                    self.state.mark_alerted(key, incident_id, alert.created, thread)
                    marked = True
        if marked:
            self._state_dirty.set()
        self._advance_cursor()

    def _send_changes(self) -> None:
        """One batch of changes through flood control, and what it lets out to the sinks."""
        if not self._changes:
            return
        changes, self._changes = self._changes, []
        self._submit(self.flood.feed(changes, time.time()))
        self._flood_wake.set()

    def _submit(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self.dispatcher.submit(alert)

    # ------------------------------------------------------------------ state
    async def _state_writer(self) -> None:
        """Write the state file whenever it changed, off the loop, one write at a time, at
        most once per _STATE_MIN_INTERVAL (a journal cursor moves with every batch)."""
        while True:
            await self._state_dirty.wait()
            self._state_dirty.clear()
            try:
                await self._write_state()
            except Exception:  # never let one surprise stop the state from being kept
                log.exception("state_write_error")
            await asyncio.sleep(_STATE_MIN_INTERVAL)

    async def _write_state(self) -> None:
        """Write the state now; a directory that refuses or hangs is given up for the next
        (the runtime directory, then memory), and the daemon says so."""
        data = self.state.encode()
        while self.state.location is not None:
            location = self.state.location
            try:
                self._state_write = in_daemon_thread(self.state.write_to, location, data)
                await asyncio.wait_for(asyncio.shield(self._state_write), _STATE_IO_TIMEOUT)
                return
            except TimeoutError:
                reason = f"no answer within {_STATE_IO_TIMEOUT:g}s"
            except OSError as exc:
                reason = exc.strerror or repr(exc)
            moved = self.state.give_up(location, reason)
            if moved is not None:
                self._state_fell_back(*moved)

    async def _flood_timer(self) -> None:
        """Updates and digests fall due with time, not with records: wake for them."""
        while True:
            deadline = self.flood.next_deadline()
            self._flood_wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flood_wake.wait(), timeout)
            if deadline is not None and time.time() >= deadline:
                self._submit(self.flood.tick(time.time(), self._current_snapshot))

    def _current_snapshot(self, incident_id: str) -> dict[str, Any] | None:
        for incident in self.engine.open_incidents():
            if incident.id == incident_id:
                return self.engine.snapshot(incident)
        return None

    # ------------------------------------------------------------------ ground truth
    async def _reconcile_timer(self) -> None:
        """The one place mount checks run: every ``reconciler.interval`` counted from the last
        one, and when asked (a udev or mount change, a new interval): one at a time."""
        loop = asyncio.get_running_loop()
        while True:
            interval = self.config.reconciler.interval
            timeout = None
            if interval > 0:
                timeout = max(0.0, self._last_reconcile + interval - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile_wake.wait(), timeout)
            self._reconcile_wake.clear()
            if self._reconcile_now:
                self._reconcile_now = False
            elif interval <= 0 or loop.time() < self._last_reconcile + interval:
                continue  # woken for a new interval only: wait the rest of it
            try:
                await self._reconcile()
            except Exception:  # never let one surprise stop the checks for good
                log.exception("reconciler_error")

    def _request_reconcile(self) -> None:
        """Ask for a mount check as soon as the running one (if any) is done."""
        self._reconcile_now = True
        self._reconcile_wake.set()

    def _new_reconciler(self) -> Reconciler:
        fstab = None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            fstab = Path(self.config.reconciler.fstab).read_text(encoding="utf-8")
        return Reconciler(None, fstab=fstab, kernel_release=os.uname().release)

    async def _reconcile(self) -> None:
        """Compare the mount table with what we know; let time pass in the engine."""
        async with self._reconcile_lock:
            self._last_reconcile = asyncio.get_running_loop().time()
            settings = self.config.reconciler
            if self._reconcile_thread is not None and not self._reconcile_thread.done():
                log.error(
                    "reconciler_error",
                    error="the previous check of the mount table and sysfs has not come back "
                    "(a filesystem hanging in the kernel?): not starting another",
                )
                return
            try:
                # In a thread: probing a shut-down XFS stat()s its mountpoint, and a dying
                # disk must not stall the event loop that reads the kernel log; a thread
                # stuck in the kernel is given up on, and no other starts while it hangs.
                self._reconcile_thread = in_daemon_thread(
                    functools.partial(
                        read_filesystems,
                        host_mountinfo(),  # the sandbox's own table shows every mount ro
                        ignore_mountpoints=settings.ignore_mountpoints,
                        ignore_fstypes=settings.ignore_fstypes,
                    )
                )
                states = await asyncio.wait_for(
                    asyncio.shield(self._reconcile_thread), _RECONCILE_TIMEOUT
                )
            except TimeoutError:
                log.error(
                    "reconciler_error",
                    error=f"the mount table and sysfs did not answer within "
                    f"{_RECONCILE_TIMEOUT:g}s (a filesystem hanging in the kernel?)",
                )
                return
            except OSError as exc:
                log.error("reconciler_error", error=str(exc))
                return
            self._apply_states(states)

    def _apply_states(self, states: list[FsState]) -> None:
        self._states = {s.mountpoint: s for s in states}
        outputs: list[Output] = []
        for finding in self.reconciler.check(states, now_wall=time.time()):
            outputs += self._apply_finding(finding)
        outputs += self.engine.tick(self._engine_now())
        self.status.filesystems = [
            {"device": s.device, "mountpoint": s.mountpoint, "fstype": s.fstype} for s in states
        ]
        self.status.disks = len({d for s in states for d in self._disks_under(s.device)})
        self._watch_fs_errors(states)
        self._handle(outputs)
        self._publish_status()

    def _apply_finding(self, finding: Finding) -> list[Output]:
        log.info(
            "reconciler_finding",
            device=finding.device,
            mountpoint=finding.mountpoint,
            filesystem=finding.fstype,
            what=finding.what.value,
            signature=finding.signature,
            evidence=finding.message,
        )
        if finding.what is What.WRITABLE_AGAIN:
            return self.engine.recovered(finding.device, self._engine_now())
        observation = finding.observation(
            uptime=time.clock_gettime(time.CLOCK_MONOTONIC), wall=time.time()
        )
        if self.config.source.type != "journal":
            # kmsg records carry uptime only: an observation must be on the same axis, or
            # the engine's windows would compare wall-clock seconds with seconds since boot.
            observation = type(observation)(**{**asdict(observation), "wall": None})
        return self.engine.observe(observation)

    def _engine_now(self) -> float:
        """Now, on the axis of the source's records: wall clock for the journal, the kernel's
        monotonic clock (what it stamps kmsg records with) otherwise."""
        if self.config.source.type == "journal":
            return time.time()
        return time.clock_gettime(time.CLOCK_MONOTONIC)

    def _disks_under(self, device: str) -> list[str]:
        below = self.topology.below(device)
        return [d for d in below if not self.topology.parents(d)] or [device]

    def _watch_fs_errors(self, states: list[FsState]) -> None:
        """FAN_FS_ERROR on every ext4 filesystem: a third signal no userspace can forge."""
        if self._fanotify is None:
            return
        wanted = {s.mountpoint for s in states if s.fstype == "ext4"}
        for mountpoint in set(self._fanotify.watched) - wanted:
            with contextlib.suppress(OSError):
                self._fanotify.unwatch(mountpoint)
        for mountpoint in wanted - set(self._fanotify.watched):
            try:
                self._fanotify.watch(mountpoint)
            except OSError as exc:
                log.debug("fanotify_watch_failed", mountpoint=mountpoint, error=str(exc))

    def _fs_error(self, mountpoint: str, error: int, count: int) -> None:
        state = self._states.get(mountpoint)
        if state is None:
            return
        finding = fanotify_finding(state, error, count)
        # fsnotify reports the error a moment before the kernel logs it: give the log line
        # that moment to open the incident, so the incident's id comes from a kernel record
        # and a restarted daemon, reading the log again, names it the same.
        asyncio.get_running_loop().call_later(
            _FANOTIFY_GRACE, lambda: self._handle(self._apply_finding(finding))
        )

    # ------------------------------------------------------------------ topology
    def _read_topology(self) -> Topology:
        from rowatch.udev import read_udev_info

        try:
            mountinfo = Path(host_mountinfo()).read_text(encoding="utf-8", errors="surrogateescape")
            return build_topology(mountinfo=mountinfo, udev=read_udev_info())
        except OSError as exc:
            log.error("topology_error", error=str(exc))
            return Topology()

    def _start_watchers(self) -> None:
        """Follow udev and mount-table changes; fanotify FS_ERROR where the kernel has it."""
        from rowatch.udev import MountWatcher, UdevWatcher

        for name, factory in (("udev", UdevWatcher), ("mounts", MountWatcher)):
            try:
                watcher = factory(self._topology_changed)
                watcher.start()
                self._watchers.append(watcher)
            except (OSError, ImportError, RuntimeError) as exc:
                log.warning("watcher_unavailable", watcher=name, error=str(exc))
        if self.config.reconciler.fanotify:
            from rowatch.fanotify import FsErrorWatcher, available

            verdict = available()
            if not verdict.available:
                log.info("watcher_unavailable", watcher="fanotify", error=verdict.reason)
                return
            try:
                self._fanotify = FsErrorWatcher(self._fs_error)
                self._fanotify.start()
            except OSError as exc:
                self._fanotify = None
                log.warning("watcher_unavailable", watcher="fanotify", error=str(exc))

    def _topology_changed(self, *_: object) -> None:
        """Debounce a burst of udev/mount events into one rebuild and one check; under
        endless churn (a container host starting hundreds of mounts) rebuild at least once
        per _TOPOLOGY_MAX_DELAY."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._topology_timer is not None:
            if now - self._topology_first >= _TOPOLOGY_MAX_DELAY:
                return  # the pending rebuild is due soon: it will see this change too
            self._topology_timer.cancel()
        else:
            self._topology_first = now
        delay = min(_TOPOLOGY_DEBOUNCE, self._topology_first + _TOPOLOGY_MAX_DELAY - now)
        self._topology_timer = loop.call_later(max(0.0, delay), self._rebuild_topology)

    def _rebuild_topology(self) -> None:
        self._topology_timer = None
        self.topology = self._read_topology()
        self.engine.update_topology(self.topology)
        self._request_reconcile()

    # ------------------------------------------------------------------ reload, status
    def _reload(self) -> None:
        """SIGHUP: read the configuration again; keep the old one if the new one is broken."""
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error(
                "config_reload_refused",
                path=self.config_path,
                errors=exc.lines,
                hint="the previous configuration stays in force",
            )
            self.notifier.ready(self.status.line())
            return
        try:
            build_sinks(new, self.email)  # what `run` would refuse, a reload refuses too
        except (SmtpSettingsError, ValueError) as exc:
            log.error(
                "config_reload_refused",
                path=self.config_path,
                errors=[str(exc)],
                hint="the previous configuration stays in force",
            )
            self.notifier.ready(self.status.line())
            return
        changed = changed_keys(self.config, new)
        old = self.config
        # What a running daemon cannot change stays as it started (restart_needed below):
        # the source's clock, the destinations' workers, where state and status live.
        self.config = new = _keep_restart_only(old, new)
        self.engine.config = new.engine.engine_config()
        self.flood.config = new.alerts.flood_config()
        configure_logging(self.log_format or new.log.format, new.log.level)
        if "reconciler.fstab" in changed:
            self.reconciler = self._new_reconciler()
        if "reconciler.interval" in changed:
            self._reconcile_wake.set()  # the timer recounts from the last check
        log.info("config_reloaded", path=str(new.path or "built-in default"), changed=changed)
        later = [
            k for k in changed if k.split(".", 1)[0] in _RESTART_SECTIONS or k in _RESTART_KEYS
        ]
        if later:
            log.warning(
                "config_reloaded",
                path=self.config_path,
                restart_needed=later,
                hint="these settings take effect at the next restart (systemctl restart "
                "rowatch); the rest is in force now",
            )
        self.notifier.ready(self.status.line())

    def _state_fell_back(self, where: str, why: str) -> None:
        log.warning(
            "state_fallback",
            now=where,
            reason=why,
            hint="state is kept, but may not survive a reboot",
        )
        self.status.state_location = where

    def _publish_status(self) -> None:
        """Tell systemd the one-line status now; write the status file a moment later, in a
        thread, once for a burst of changes (the page being sent must not wait for it)."""
        self.status.open_incidents = len(self.engine.open_incidents())
        self.notifier.status(self.status.line())
        if self._status_timer is None and not self._status_closed:
            loop = asyncio.get_running_loop()
            self._status_timer = loop.call_later(_STATUS_DELAY, self._write_status)

    def _write_status(self) -> None:
        self._status_timer = None
        self.status.incidents = [
            {k: v for k, v in self.engine.snapshot(i).items() if k != "events"}
            for i in self.engine.open_incidents()
        ]
        if self.source is not None:
            self.status.source = self.source.describe()
        self.status.alerts = {
            "pending": self.dispatcher.pending(),
            "location": self.dispatcher.location,
        }
        data = json.dumps(self.status.to_json(), default=str).encode()
        runtime = Path(self.config.state.runtime_directory)

        def write() -> None:
            runtime.mkdir(parents=True, exist_ok=True)
            write_atomic(runtime / STATUS_FILE, data, mode=0o644)

        self._status_write = in_daemon_thread(write)
        self._status_write.add_done_callback(
            lambda f: f.exception() and log.debug("status_write_failed", error=str(f.exception()))
        )

    async def _close_status(self) -> None:
        """No status file once stopped: cancel the pending write, wait for the running one,
        then remove it."""
        self._status_closed = True
        if self._status_timer is not None:
            self._status_timer.cancel()
            self._status_timer = None
        if self._status_write is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._status_write), _STATE_IO_TIMEOUT)
        with contextlib.suppress(OSError):
            (Path(self.config.state.runtime_directory) / STATUS_FILE).unlink()

    async def _watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)


def build_sinks(config: Config, email: EmailSettings | None = None) -> list[Sink]:
    """The log (always) and every configured destination. ``email`` (from ``--smtp``)
    replaces ``[smtp]``. Raises SmtpSettingsError or ValueError naming what to fix."""
    from rowatch.sinks.alertmanager import alertmanager_sink
    from rowatch.sinks.exec import ExecSink
    from rowatch.sinks.webhook import webhook_sinks

    sinks: list[Sink] = [LogSink()]
    email = email or config.smtp.email_settings()
    if email is not None:
        from rowatch.sinks.email import EmailSink

        sinks.append(EmailSink.from_settings(email))
    sinks += webhook_sinks(config.webhook)
    manager = alertmanager_sink(config.alertmanager, quiet_period=config.engine.quiet_period)
    if manager is not None:
        sinks.append(manager)
    if config.exec.enabled:
        sinks.append(ExecSink(config.exec))
    return sinks


def run(
    config_path: str | None, log_format: str | None = None, email: EmailSettings | None = None
) -> int:
    """Load the configuration, set up logging and run the daemon until it is stopped."""
    try:
        config = load_config(config_path)
        build_sinks(config, email)  # a broken [smtp] is a configuration error, now
    except ConfigError as exc:
        for line in exc.lines:
            print(f"rowatch: {line}", flush=True)
        return 78  # EX_CONFIG: systemd shows it as a configuration error
    except (SmtpSettingsError, ValueError) as exc:
        print(f"rowatch: {exc}", flush=True)
        return 78
    configure_logging(log_format or config.log.format, config.log.level)
    return asyncio.run(_run_daemon(config, config_path, log_format, email))


async def _run_daemon(
    config: Config, config_path: str | None, log_format: str | None, email: EmailSettings | None
) -> int:
    # Made inside the running loop: its asyncio objects belong to this loop.
    return await Daemon(config, config_path, log_format, email=email).run()


def read_status(runtime_directory: str) -> dict[str, Any] | None:
    """The running daemon's status, or None when no daemon is running."""
    try:
        data = json.loads((Path(runtime_directory) / STATUS_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    try:
        os.kill(data["pid"], 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # running as another user: alive
    return data
