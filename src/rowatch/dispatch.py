"""Delivery: one worker per sink, each with its own durable outbox, retrying until it works.

``submit(alert)`` hands an alert to every sink's lane and returns at once. Each lane stores
the alert in its :class:`~rowatch.outbox.Outbox` (on disk, before any attempt) right away,
even while a send is in flight, and tells ``on_stored(alert)`` once every lane has it: only
then is the alert safe from a crash. Each lane's worker sends its pending alerts oldest
first, and on a temporary failure waits with exponential backoff and full jitter
(``uniform(0, min(max, base * factor ** (n - 1)))``) before trying again. Lanes share nothing
but the outbox locations, so a sink that hangs or fails never delays another.

Order and the page: a sink gets its alerts in the order they were created. When the head
fails, the others are tried behind it, read-only alerts first, until one fails too: when
the relay is down they would all fail, so one more attempt tells; when only the head is
refused (a body the sink chokes on), it must not hold back the rest, above all the page. A
new read-only alert cuts a backoff wait short: the relay may be back, and the page must not
wait up to ``max_delay`` to find out.

Outbox I/O runs in threads with a time limit (``io_timeout``): an fsync on the failing disk
can block for minutes (SCSI error handling), and the page must not wait for it. A location
that does not answer in time is abandoned like one that refused the write. The threads are
daemon threads, not the loop's executor, so one stuck in the kernel cannot block the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog

from rowatch.alert import Alert, AlertKind
from rowatch.outbox import DEFAULT_MAX_PENDING, Locations, Outbox, PutResult
from rowatch.sinks import Sink, SinkError
from rowatch.state import write_atomic
from rowatch.threads import in_daemon_thread

log = structlog.get_logger("rowatch")

T = TypeVar("T")

#: Closing a sink (an SMTP QUIT, an HTTP session) gets this long on stop.
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, in seconds."""

    base: float = 5.0
    factor: float = 2.0
    max_delay: float = 600.0

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` failures in a row (1 = the first)."""
        exponent = min(max(failures - 1, 0), 64)  # bounded: 2.0 ** 1100 overflows
        return min(self.max_delay, self.base * self.factor**exponent)

    def delay(self, failures: int, rng: random.Random, at_least: float | None = None) -> float:
        """The wait before the next attempt; ``at_least`` is a Retry-After the sink got."""
        wait = rng.uniform(0.0, self.ceiling(failures))
        if at_least is not None:
            wait = max(wait, min(at_least, self.max_delay))
        return wait


@dataclass
class _Lane:
    """One sink's worker state."""

    sink: Sink
    outbox: Outbox
    intake: deque[Alert] = field(default_factory=deque)  # submitted, not yet stored
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # something to send
    submitted: asyncio.Event = field(default_factory=asyncio.Event)  # something to store
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # nothing pending
    urgent: bool = False  # cut the current backoff short (a page came, or stopping)
    failures: int = 0  # temporary failures in a row, for the backoff
    attempts: dict[str, int] = field(default_factory=dict)
    preparing: dict[str, asyncio.Future[None]] = field(default_factory=dict)  # sink.prepare
    task: asyncio.Task[None] | None = None
    storer: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.sink.name


def _fields(alert: Alert) -> dict[str, Any]:
    incident = alert.incident
    fields: dict[str, Any] = {
        "alert_id": alert.id,
        "kind": alert.kind.value,
        "incident_id": incident.get("id") if incident else None,
    }
    if incident is None and alert.incidents:
        fields["incidents"] = [i.get("id") for i in alert.incidents]
    return fields


class Dispatcher:
    """Delivers alerts to ``sinks`` through per-sink outboxes under ``directories``.

    ``directories`` are the outbox locations in order of preference (the state directory's
    ``outbox``, then the runtime directory's). ``clock`` (wall time, for dead letters),
    ``sleep`` (the backoff wait), ``rng`` (the jitter) and ``write`` (the outbox's atomic
    file write) are injectable for tests.
    """

    def __init__(
        self,
        sinks: Iterable[Sink],
        directories: Sequence[Path],
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        retry: RetryPolicy | None = None,
        send_timeout: float = 120.0,
        io_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        write: Callable[[Path, bytes], None] = write_atomic,
        on_stored: Callable[[Alert], None] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._on_stored = on_stored
        self._storing: dict[str, set[str]] = {}  # alert id -> lanes that have not stored it
        self.send_timeout = send_timeout
        self.io_timeout = io_timeout
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.locations = Locations(directories, self._report)
        self._lanes: list[_Lane] = []
        for sink in sinks:
            if any(lane.name == sink.name for lane in self._lanes):
                raise ValueError(f"two sinks are named {sink.name!r}: names must be unique")
            outbox = Outbox(
                sink.name,
                self.locations,
                max_pending=max_pending,
                report=self._report,
                write=write,
            )
            self._lanes.append(_Lane(sink, outbox))

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Read what the outboxes hold from before (a restart), then start the workers."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for location in self.locations.candidates:
            for lane in self._lanes:
                if location in self.locations.abandoned:
                    break
                try:
                    await asyncio.wait_for(
                        in_daemon_thread(lane.outbox.load_from, location), self.io_timeout
                    )
                except TimeoutError:
                    self.locations.abandon(location, f"no answer within {self.io_timeout:g}s")
        for lane in self._lanes:
            if len(lane.outbox):
                log.info("outbox_resumed", sink=lane.name, pending=len(lane.outbox))
            lane.task = asyncio.create_task(self._run(lane), name=f"sink:{lane.name}")
            lane.storer = asyncio.create_task(self._keep(lane), name=f"outbox:{lane.name}")

    def submit(self, alert: Alert) -> None:
        """Queue ``alert`` for every sink; returns at once, the lanes store and send it."""
        if not self._lanes:
            if self._on_stored is not None:
                self._on_stored(alert)
            return
        self._storing[alert.id] = {lane.name for lane in self._lanes}
        for lane in self._lanes:
            lane.intake.append(alert)
            lane.idle.clear()
            lane.submitted.set()

    async def drain(self, timeout: float) -> dict[str, int]:
        """Stop: try to send what is pending for at most ``timeout`` seconds (one immediate
        retry for a sink in backoff), then stop the workers. What is left stays in the
        outbox for the next start. Returns the number left per sink."""
        for lane in self._lanes:
            lane.urgent = True
            lane.wake.set()
        try:
            async with asyncio.timeout(timeout):
                for lane in self._lanes:
                    if lane.task is not None and not lane.task.done():
                        await lane.idle.wait()
        except TimeoutError:
            pass
        await self._stop_workers()
        left: dict[str, int] = {}
        for lane in self._lanes:
            left[lane.name] = len(lane.outbox) + len(lane.intake)
            if left[lane.name]:
                log.warning(
                    "alerts_left",
                    sink=lane.name,
                    pending=left[lane.name],
                    in_memory=lane.outbox.in_memory() + len(lane.intake),
                    hint="stored alerts are sent at the next start; in-memory ones are lost",
                )
        return left

    async def close(self) -> None:
        """Stop the workers (if :meth:`drain` did not) and close every sink."""
        await self._stop_workers()
        for lane in self._lanes:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await lane.sink.close()
            except Exception as exc:
                log.warning("sink_close_failed", sink=lane.name, error=str(exc) or repr(exc))

    async def _stop_workers(self) -> None:
        tasks = [t for lane in self._lanes for t in (lane.task, lane.storer) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in self._lanes:
            lane.task = lane.storer = None

    # ------------------------------------------------------------------ status
    def unstored(self) -> int:
        """Alerts submitted that not every outbox holds yet."""
        return len(self._storing)

    def pending(self) -> dict[str, int]:
        """Alerts not yet delivered, per sink."""
        return {lane.name: len(lane.outbox) + len(lane.intake) for lane in self._lanes}

    @property
    def location(self) -> str:
        """Where outboxes are written now: a directory, or ``memory``."""
        return str(self.locations.current) if self.locations.current else "memory"

    @property
    def outboxes(self) -> dict[str, Outbox]:
        return {lane.name: lane.outbox for lane in self._lanes}

    # ------------------------------------------------------------------ the worker
    async def _run(self, lane: _Lane) -> None:
        while True:
            try:
                await self._step(lane)
            except Exception:
                # Never let one surprise end a sink's deliveries: log it, pause, go on.
                log.exception("dispatch_error", sink=lane.name)
                lane.failures += 1
                await self._backoff(lane, self.retry.delay(lane.failures, self._rng))

    async def _keep(self, lane: _Lane) -> None:
        """Store what is submitted as it comes, while the worker may be sending."""
        while True:
            await lane.submitted.wait()
            lane.submitted.clear()
            try:
                if await self._store(lane):
                    lane.urgent = True  # a new page: cut a backoff short
            except Exception:
                log.exception("dispatch_error", sink=lane.name)
                await asyncio.sleep(1.0)
                lane.submitted.set()  # what is left in the intake is tried again
            lane.wake.set()

    async def _step(self, lane: _Lane) -> None:
        """One delivery attempt (and its backoff) for what the outbox holds."""
        queue = lane.outbox.pending()  # the outbox guards itself: the store may run meanwhile
        if not queue:
            if not lane.intake:
                lane.idle.set()
            await lane.wake.wait()
            lane.wake.clear()
            return
        lane.idle.clear()
        lane.urgent = False  # sending now: a page stored meanwhile need not cut a later wait
        head = queue[0]
        error = await self._attempt(lane, head)
        if error is None:
            return
        failed = [(head, error)]
        behind = sorted(queue[1:], key=lambda a: a.kind is not AlertKind.READ_ONLY)
        for alert in behind:
            other = await self._attempt(lane, alert)
            if other is not None:
                failed.append((alert, other))
                break  # the sink is down, not just refusing the head
        lane.failures += 1
        delay = self.retry.delay(lane.failures, self._rng, error.retry_after)
        for alert, reason in failed:
            log.warning(
                "alert_failed",
                sink=lane.name,
                **_fields(alert),
                attempt=lane.attempts.get(alert.id),
                error=str(reason),
                retry_in=round(delay, 1),
            )
        await self._backoff(lane, delay)

    async def _store(self, lane: _Lane) -> bool:
        """Move submitted alerts into the outbox; True if a new page is among them."""
        page = False
        while lane.intake:
            alert = lane.intake[0]
            prepare = getattr(lane.sink, "prepare", None)
            if (
                callable(prepare)
                and alert.kind is AlertKind.READ_ONLY
                and alert.id not in lane.preparing
            ):
                # The page's message is formatted while the outbox is written: its first
                # attempt finds it ready. (Other alerts are not in that hurry.)
                lane.preparing[alert.id] = in_daemon_thread(prepare, alert)
            result = await self._io(lane.outbox.put, alert)
            if result is not PutResult.QUEUED:
                lane.preparing.pop(alert.id, None)  # it will not be attempted from here
            lane.intake.popleft()
            self._stored(lane, alert)
            if result is PutResult.ALREADY_SENT:
                log.info(
                    "alert_skipped",
                    sink=lane.name,
                    reason="already sent (outbox journal)",
                    **_fields(alert),
                )
            elif result is PutResult.QUEUED and alert.kind is AlertKind.READ_ONLY:
                page = True
        return page

    def _stored(self, lane: _Lane, alert: Alert) -> None:
        """``lane`` has ``alert`` in its outbox; tell ``on_stored`` once every lane has."""
        waiting = self._storing.get(alert.id)
        if waiting is None:
            return
        waiting.discard(lane.name)
        if not waiting:
            del self._storing[alert.id]
            if self._on_stored is not None:
                self._on_stored(alert)

    async def _attempt(self, lane: _Lane, alert: Alert) -> SinkError | None:
        """Send once. None: done (sent, or refused for good and kept as a dead letter)."""
        attempt = lane.attempts[alert.id] = lane.attempts.get(alert.id, 0) + 1
        preparing = lane.preparing.pop(alert.id, None)
        if preparing is not None:
            # A failure here shows again at send, which formats the message itself then.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(preparing, self.io_timeout)
        try:
            async with asyncio.timeout(self.send_timeout) as deadline:
                await lane.sink.send(alert)
        except SinkError as exc:
            error = exc
        except TimeoutError as exc:
            expired = deadline.expired()
            what = f"no answer within {self.send_timeout:g}s" if expired else repr(exc)
            error = SinkError(f"{lane.name}: {what}", temporary=True)
        except Exception as exc:
            # A bug in the sink, not a verdict on the alert: keep it and try again later.
            error = SinkError(f"{lane.name}: {exc!r}", temporary=True)
        else:
            del lane.attempts[alert.id]
            lane.failures = 0
            await self._io(lane.outbox.mark_sent, alert.id)
            if not getattr(lane.sink, "logs_delivery", False):
                log.info("alert_sent", sink=lane.name, **_fields(alert), attempt=attempt)
            return None
        if error.temporary:
            return error
        lane.attempts.pop(alert.id, None)
        where = await self._io(lane.outbox.dead_letter, alert.id, str(error), self._clock())
        log.error(
            "alert_failed",
            sink=lane.name,
            **_fields(alert),
            attempt=attempt,
            error=str(error),
            retry_in=None,
            permanent=True,
            dead_letter=str(where) if where else "memory",
        )
        return None

    async def _backoff(self, lane: _Lane, delay: float) -> None:
        """Wait ``delay``; stop early for a new page or a drain."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        try:
            while True:
                waker = asyncio.ensure_future(lane.wake.wait())
                try:
                    await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waker.cancel()
                if sleeper.done():
                    return
                lane.wake.clear()
                if lane.urgent:
                    lane.urgent = False
                    return
        finally:
            sleeper.cancel()

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run an outbox operation in a thread; a location that does not answer within
        ``io_timeout`` is abandoned and the operation runs again on the next one."""
        while True:
            location = self.locations.current
            try:
                return await asyncio.wait_for(in_daemon_thread(fn, *args), self.io_timeout)
            except TimeoutError:
                if location is None:
                    raise  # memory only: cannot block; something else is very wrong
                self.locations.abandon(location, f"no answer within {self.io_timeout:g}s")

    # ------------------------------------------------------------------ reporting
    def _report(self, event: str, /, **fields: Any) -> None:
        """Log what an outbox says, on the loop's thread (outbox calls come from workers)."""
        if event == "outbox_fallback":
            level = "error"
            fields["hint"] = "the outbox refused writes or did not answer: alerts are kept here"
        elif event == "outbox_dropped":
            level = "error" if fields.get("kind") == AlertKind.READ_ONLY.value else "warning"
        else:
            level = "warning"
        emit = getattr(log, level)
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            emit(event, **fields)
            return
        try:
            loop.call_soon_threadsafe(lambda: emit(event, **fields))
        except RuntimeError:
            emit(event, **fields)  # the loop is closed: log from here
