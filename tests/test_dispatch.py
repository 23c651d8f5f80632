"""The dispatcher: per-sink workers over durable outboxes, backoff, drain, restart, and the
state directory failing for real (ext4 gone read-only, a full filesystem) under it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import kernel_scenarios as ks
from rowatch.alert import Alert, AlertKind
from rowatch.dispatch import Dispatcher, RetryPolicy
from rowatch.sinks import LogSink, Sink, SinkError
from rowatch.state import write_atomic

T0 = 1_700_000_000.0


def alert(aid: str, kind: AlertKind = AlertKind.OPENED, created: float | None = None) -> Alert:
    return Alert(
        id=aid,
        kind=kind,
        host="h",
        fqdn="h.example",
        created=T0 if created is None else created,
        incidents=({"id": aid.split("-", maxsplit=1)[0], "mountpoint": "/srv"},),
    )


class FakeSink:
    """Records what it was asked to send; ``plan`` lists what each attempt raises (None: ok);
    ``refuse(alert)`` may return an error for alert-specific failures."""

    def __init__(self, name: str = "fake", plan: list[BaseException | None] | None = None) -> None:
        self.name = name
        self.plan = list(plan or [])
        self.attempts: list[str] = []
        self.received: list[str] = []
        self.refuse: Callable[[Alert], BaseException | None] = lambda a: None
        self.closed = False
        self.arrived = asyncio.Event()

    async def send(self, alert: Alert) -> None:
        self.attempts.append(alert.id)
        error = self.plan.pop(0) if self.plan else self.refuse(alert)
        if error is not None:
            raise error
        self.received.append(alert.id)
        self.arrived.set()

    async def close(self) -> None:
        self.closed = True


class HangingSink(FakeSink):
    """Takes the alert (the receiving side has it) and never answers: a relay that hangs
    after DATA, or a crash of rowatch between "sent" and "recorded"."""

    async def send(self, alert: Alert) -> None:
        self.attempts.append(alert.id)
        self.received.append(alert.id)
        await asyncio.Event().wait()


class FakeSleep:
    """The backoff wait, without waiting: records each delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class Ceiling(random.Random):
    """Jitter that always picks the longest wait: the backoff ceiling itself."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Floor(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


@pytest.fixture
def dirs(tmp_path: Path) -> list[Path]:
    return [tmp_path / "state" / "outbox", tmp_path / "run" / "outbox"]


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def started(sinks: Sequence[Sink], dirs: list[Path], **kw: Any) -> Dispatcher:
    dispatcher = Dispatcher(sinks, dirs, **kw)
    await dispatcher.start()
    return dispatcher


# ---------------------------------------------------------------------------------- basics
def test_alerts_are_stored_then_sent_in_order_and_logged(dirs: list[Path]) -> None:
    async def main() -> None:
        stored: list[tuple[str, bool]] = []

        class Checking(FakeSink):
            async def send(self, alert: Alert) -> None:  # durable before the first attempt
                stored.append((alert.id, (dirs[0] / "fake" / f"{alert.id}.json").exists()))
                await super().send(alert)

        sink = Checking()
        with capture_logs() as logs:
            dispatcher = await started([sink], dirs)
            for i in range(5):
                dispatcher.submit(alert(f"a{i}-opened", created=T0 + i))
            await until(lambda: len(sink.received) == 5)
            await dispatcher.drain(1)
            await dispatcher.close()
        assert sink.received == [f"a{i}-opened" for i in range(5)]
        assert all(on_disk for _, on_disk in stored)
        assert list((dirs[0] / "fake").glob("*.json")) == []
        sent = [e for e in logs if e["event"] == "alert_sent"]
        first = sent[0]
        assert (
            first["sink"],
            first["alert_id"],
            first["incident_id"],
            first["kind"],
            first["attempt"],
        ) == (
            "fake",
            "a0-opened",
            "a0",
            "opened",
            1,
        )
        assert sink.closed

    run(main)


def test_submit_before_start_is_kept(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink()
        dispatcher = Dispatcher([sink], dirs)
        dispatcher.submit(alert("early"))
        assert dispatcher.pending() == {"fake": 1}
        await dispatcher.start()
        await until(lambda: sink.received == ["early"])
        await dispatcher.drain(1)

    run(main)


def test_sink_names_must_be_unique(dirs: list[Path]) -> None:
    with pytest.raises(ValueError, match="two sinks are named 'x'"):
        Dispatcher([FakeSink("x"), FakeSink("x")], dirs)


# ---------------------------------------------------------------------------------- retries
def test_backoff_is_exponential_from_5s_doubling_to_10min(dirs: list[Path]) -> None:
    async def main() -> None:
        down = SinkError("relay.example:25: connection refused", temporary=True)
        sink = FakeSink(plan=[down] * 9)
        sleep = FakeSleep()
        with capture_logs() as logs:
            dispatcher = await started([sink], dirs, sleep=sleep, rng=Ceiling())
            dispatcher.submit(alert("a"))
            await until(lambda: sink.received == ["a"])
            await dispatcher.drain(1)
        assert sleep.delays == [5, 10, 20, 40, 80, 160, 320, 600, 600]
        failed = [e for e in logs if e["event"] == "alert_failed"]
        assert [e["retry_in"] for e in failed] == sleep.delays
        assert failed[0]["error"] == "relay.example:25: connection refused"
        assert failed[0]["log_level"] == "warning"
        (sent,) = [e for e in logs if e["event"] == "alert_sent"]
        assert sent["attempt"] == 10

    run(main)


def test_jitter_is_full_and_the_schedule_resets_after_a_success(dirs: list[Path]) -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    waits = [policy.delay(n, rng) for n in range(1, 12) for _ in range(50)]
    assert all(0 <= w <= 600 for w in waits)
    assert min(waits) < 1 and max(waits) > 500  # spread over the whole range
    assert policy.ceiling(1) == 5 and policy.ceiling(2000) == 600  # no overflow

    async def main() -> None:
        down = SinkError("down")
        sink = FakeSink(plan=[down, down, None, down])
        sleep = FakeSleep()
        dispatcher = await started([sink], dirs, sleep=sleep, rng=Ceiling())
        dispatcher.submit(alert("a", created=T0))
        await until(lambda: sink.received == ["a"])
        dispatcher.submit(alert("b", created=T0 + 1))
        await until(lambda: sink.received == ["a", "b"])
        await dispatcher.drain(1)
        assert sleep.delays == [5, 10, 5]

    run(main)


def test_retry_after_from_the_sink_is_the_least_wait(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink(plan=[SinkError("429 slow down", retry_after=42.0)])
        sleep = FakeSleep()
        dispatcher = await started([sink], dirs, sleep=sleep, rng=Floor())
        dispatcher.submit(alert("a"))
        await until(lambda: sink.received == ["a"])
        await dispatcher.drain(1)
        assert sleep.delays == [42.0]

    run(main)


def test_permanent_failure_is_a_dead_letter_and_the_next_alert_goes_on(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink(plan=[SinkError("550 5.1.1 <oncall@x>: no such user", temporary=False)])
        with capture_logs() as logs:
            dispatcher = await started([sink], dirs, sleep=FakeSleep())
            dispatcher.submit(alert("a", created=T0))
            dispatcher.submit(alert("b", created=T0 + 1))
            await until(lambda: sink.received == ["b"])
            await dispatcher.drain(1)
        assert sink.attempts == ["a", "b"]  # never retried
        (failed,) = [e for e in logs if e["event"] == "alert_failed"]
        assert failed["permanent"] is True
        assert failed["retry_in"] is None
        assert failed["log_level"] == "error"
        assert "no such user" in failed["error"]
        letter = json.loads((dirs[0] / "fake" / "dead" / "a.json").read_bytes())
        assert letter["alert"]["id"] == "a"
        assert "no such user" in letter["failed"]
        assert failed["dead_letter"] == str(dirs[0] / "fake" / "dead" / "a.json")

    run(main)


def test_a_sink_that_raises_something_else_is_retried(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink(plan=[KeyError("bug"), ConnectionResetError(104, "reset")])
        dispatcher = await started([sink], dirs, sleep=FakeSleep())
        dispatcher.submit(alert("a"))
        await until(lambda: sink.received == ["a"])
        await dispatcher.drain(1)

    run(main)


def test_order_holds_while_the_relay_is_down(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink(plan=[SinkError("down")] * 4)
        dispatcher = await started([sink], dirs, sleep=FakeSleep())
        ids = [f"x-{k}" for k in ("opened", "update-5", "update-9")]
        for i, aid in enumerate(ids):
            dispatcher.submit(alert(aid, AlertKind.UPDATE, created=T0 + i))
        await until(lambda: len(sink.received) == 3)
        await dispatcher.drain(1)
        assert sink.received == ids

    run(main)


# ---------------------------------------------------------------------------------- the page
def test_a_new_page_cuts_a_long_backoff_short(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink(plan=[SinkError("relay down")])
        # Real sleep, longest jitter: the next retry would be 10 minutes away.
        dispatcher = await started([sink], dirs, retry=RetryPolicy(base=600), rng=Ceiling())
        dispatcher.submit(alert("x-opened", created=T0))
        await until(lambda: sink.attempts == ["x-opened"])
        dispatcher.submit(alert("x-read_only", AlertKind.READ_ONLY, created=T0 + 1))
        await until(lambda: len(sink.received) == 2, timeout=1.0)
        assert sink.received == ["x-opened", "x-read_only"]  # order kept
        await dispatcher.drain(1)

    run(main)


def test_a_page_is_not_held_back_by_an_alert_the_sink_chokes_on(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink()
        sink.refuse = lambda a: SinkError("500 payload") if a.id == "poison" else None
        dispatcher = await started([sink], dirs, sleep=FakeSleep())
        dispatcher.submit(alert("poison", created=T0))
        dispatcher.submit(alert("y-read_only", AlertKind.READ_ONLY, created=T0 + 1))
        await until(lambda: sink.received == ["y-read_only"])
        assert dispatcher.pending() == {"fake": 1}
        await dispatcher.drain(0.1)

    run(main)


def test_the_rest_is_not_held_back_by_an_alert_the_sink_chokes_on(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink()
        sink.refuse = lambda a: SinkError("500 payload") if a.id == "poison" else None
        dispatcher = await started([sink], dirs, sleep=FakeSleep())
        dispatcher.submit(alert("poison", created=T0))
        dispatcher.submit(alert("z-opened", created=T0 + 1))
        dispatcher.submit(alert("z-update-7", AlertKind.UPDATE, created=T0 + 2))
        await until(lambda: sink.received == ["z-opened", "z-update-7"])
        assert dispatcher.pending() == {"fake": 1}  # the poison stays, retried with backoff
        await dispatcher.drain(0.1)

    run(main)


def test_a_relay_that_is_down_is_tried_once_more_not_for_every_alert(dirs: list[Path]) -> None:
    async def main() -> None:
        sink = FakeSink()
        sink.refuse = lambda a: SinkError("connection refused")
        delays: list[float] = []

        async def sleep(delay: float) -> None:  # the first backoff never ends
            delays.append(delay)
            await asyncio.Event().wait()

        dispatcher = await started([sink], dirs, sleep=sleep, rng=Ceiling())
        for index in range(5):
            dispatcher.submit(alert(f"q{index}-opened", created=T0 + index))
        await until(lambda: len(delays) >= 1)
        assert sink.attempts == ["q0-opened", "q1-opened"]  # head, then one more
        await dispatcher.drain(0)

    run(main)


def test_an_alert_is_stored_while_another_is_being_sent(dirs: list[Path]) -> None:
    """A crash must not lose an alert submitted while the sink is busy with another."""

    async def main() -> None:
        stored: list[str] = []
        stuck = HangingSink("stuck")
        dispatcher = await started(
            [stuck], dirs, send_timeout=30, on_stored=lambda a: stored.append(a.id)
        )
        dispatcher.submit(alert("a-opened"))
        await until(lambda: stuck.attempts == ["a-opened"])  # the send hangs from here
        dispatcher.submit(alert("a-read_only", AlertKind.READ_ONLY, created=T0 + 1))
        await until(lambda: stored == ["a-opened", "a-read_only"])
        on_disk = sorted(f.name for f in (dirs[0] / "stuck").glob("*.json"))
        assert any("read_only" in name for name in on_disk), on_disk
        await dispatcher.drain(0)

    run(main)


def test_on_stored_waits_for_every_sink(dirs: list[Path]) -> None:
    async def main() -> None:
        stored: list[str] = []
        slow_write = threading.Event()

        def write(path: Path, data: bytes) -> None:
            if "slow" in path.parts:
                slow_write.wait(5)
            write_atomic(path, data)

        dispatcher = await started(
            [FakeSink("fast"), FakeSink("slow")],
            dirs,
            write=write,
            on_stored=lambda a: stored.append(a.id),
        )
        dispatcher.submit(alert("b-opened"))
        await asyncio.sleep(0.2)
        assert stored == []  # "fast" has it, "slow" not yet
        slow_write.set()
        await until(lambda: stored == ["b-opened"])
        await dispatcher.drain(1)

    run(main)


def test_a_hanging_sink_does_not_delay_another(dirs: list[Path]) -> None:
    async def main() -> None:
        stuck, good = HangingSink("stuck"), FakeSink("good")
        with capture_logs() as logs:
            dispatcher = await started([stuck, good], dirs, send_timeout=0.3, sleep=FakeSleep())
            dispatcher.submit(alert("a-read_only", AlertKind.READ_ONLY))
            await asyncio.wait_for(good.arrived.wait(), timeout=0.5)
            await until(lambda: len(stuck.attempts) >= 2)  # timed out, tried again
            left = await dispatcher.drain(0.1)
        assert good.received == ["a-read_only"]
        assert left == {"stuck": 1, "good": 0}
        failed = [e for e in logs if e["event"] == "alert_failed"]
        assert failed[0]["sink"] == "stuck"
        assert "no answer within 0.3s" in failed[0]["error"]

    run(main)


# ---------------------------------------------------------------------------------- stop, restart
def test_drain_sends_what_it_can_in_time_and_leaves_the_rest(dirs: list[Path]) -> None:
    async def main() -> None:
        down = FakeSink("down", plan=[SinkError("refused")] * 1000)
        up = FakeSink("up")
        dispatcher = await started([down, up], dirs, retry=RetryPolicy(base=0.01, max_delay=0.05))
        dispatcher.submit(alert("a"))
        began = time.monotonic()
        left = await dispatcher.drain(0.5)
        assert time.monotonic() - began < 1.5
        assert left == {"down": 1, "up": 0}
        assert up.received == ["a"]
        assert (dirs[0] / "down" / "a.json").exists()

    run(main)


def test_a_restart_sends_what_was_pending_exactly_once(dirs: list[Path]) -> None:
    async def main() -> None:
        first = FakeSink()
        # Down for good: with the backoff not waiting, a finite plan of failures can run
        # out before drain() and deliver everything (seen on Debian's Python 3.11.2).
        first.refuse = lambda a: SinkError("relay down")
        dispatcher = await started([first], dirs, sleep=FakeSleep())
        for i in range(3):
            dispatcher.submit(alert(f"a{i}", created=T0 + i))
        await until(lambda: len(first.attempts) > 3)
        # Each alert is written to the outbox in a thread: on a loaded machine the last
        # write may still be under way when the first attempts have failed.
        await until(lambda: len(dispatcher.outboxes["fake"]) == 3)
        assert await dispatcher.drain(0.05) == {"fake": 3}
        assert first.received == []

        second = FakeSink()
        with capture_logs() as logs:
            again = await started([second], dirs)
            await until(lambda: len(second.received) == 3)
            await again.drain(1)
        assert second.received == ["a0", "a1", "a2"]
        assert [e["pending"] for e in logs if e["event"] == "outbox_resumed"] == [3]

        third = FakeSink()
        once_more = await started([third], dirs)
        await asyncio.sleep(0.1)
        await once_more.drain(1)
        assert third.attempts == []

    run(main)


def test_idempotency_across_a_crash_between_send_and_mark(dirs: list[Path]) -> None:
    async def main() -> None:
        receiver: list[str] = []  # what the far end saw, across both runs
        crashing = HangingSink()
        crashing.received = receiver
        dispatcher = await started([crashing], dirs)
        dispatcher.submit(alert("x-read_only", AlertKind.READ_ONLY))
        await until(lambda: receiver == ["x-read_only"])
        await dispatcher.drain(0.05)  # "crash": delivered, never recorded

        sink = FakeSink()
        sink.received = receiver
        restarted = await started([sink], dirs)
        await until(lambda: len(receiver) == 2)
        # The replayed incident makes the same alert again: the journal knows it was sent.
        with capture_logs() as logs:
            restarted.submit(alert("x-read_only", AlertKind.READ_ONLY))
            await asyncio.sleep(0.1)
        await restarted.drain(1)
        assert receiver == ["x-read_only", "x-read_only"]  # at most twice, same id
        assert [e["reason"] for e in logs if e["event"] == "alert_skipped"] == [
            "already sent (outbox journal)"
        ]

        # And after another restart too.
        last = FakeSink()
        third = await started([last], dirs)
        third.submit(alert("x-read_only", AlertKind.READ_ONLY))
        await asyncio.sleep(0.1)
        await third.drain(1)
        assert last.attempts == []

    run(main)


def test_log_sink_is_logged_once(dirs: list[Path]) -> None:
    async def main() -> None:
        with capture_logs() as logs:
            dispatcher = await started([LogSink()], dirs)
            dispatcher.submit(alert("a-read_only", AlertKind.READ_ONLY))
            await until(lambda: dispatcher.pending() == {"log": 0})
            await dispatcher.drain(1)
        (sent,) = [e for e in logs if e["event"] == "alert_sent"]
        assert sent["sink"] == "log"
        assert sent["kind"] == "read_only"
        assert sent["mountpoint"] == "/srv"

    run(main)


# ---------------------------------------------------------------------------------- the disk
def test_a_state_disk_that_hangs_is_abandoned_for_the_runtime_directory(
    dirs: list[Path],
) -> None:
    release = threading.Event()

    def hanging(path: Path, data: bytes) -> None:
        if path.is_relative_to(dirs[0]):
            release.wait(30)  # an fsync stuck in SCSI error handling
        write_atomic(path, data)

    async def main() -> None:
        sink = FakeSink()
        with capture_logs() as logs:
            dispatcher = await started([sink], dirs, io_timeout=0.2, write=hanging)
            began = time.monotonic()
            dispatcher.submit(alert("a-read_only", AlertKind.READ_ONLY))
            await asyncio.wait_for(sink.arrived.wait(), timeout=1.0)
            assert time.monotonic() - began < 0.6
            await dispatcher.drain(1)
        (fallback,) = [e for e in logs if e["event"] == "outbox_fallback"]
        assert fallback["location"] == str(dirs[1])
        assert fallback["reason"] == "no answer within 0.2s"
        assert json.loads((dirs[1] / "fake" / "sent").read_bytes()) == ["a-read_only"]

    try:
        run(main)
    finally:
        release.set()


@pytest.mark.root
def test_state_directory_on_ext4_that_goes_read_only_for_real(
    ext4_fs: ks.LoopFilesystem, tmp_path: Path
) -> None:
    """The disk that holds rowatch's state is the one failing: the page still goes out,
    and what went out before is not sent twice after a restart."""
    dirs = [ext4_fs.mountpoint / "outbox", tmp_path / "run" / "outbox"]

    async def main() -> None:
        sink = FakeSink(plan=[SinkError("relay down")])
        with capture_logs() as logs:
            dispatcher = await started([sink], dirs, sleep=FakeSleep())
            # Before: queued on the ext4 (the relay refuses the first attempt).
            dispatcher.submit(alert("x-opened", created=T0))
            await until((dirs[0] / "fake" / "sent").exists)
            assert json.loads((dirs[0] / "fake" / "sent").read_bytes()) == ["x-opened"]
            dispatcher.submit(alert("y-opened", created=T0 + 1))
            sink.refuse = lambda a: SinkError("relay down")  # down until said otherwise
            await until(lambda: "y-opened" in sink.attempts)
            assert (dirs[0] / "fake" / "y-opened.json").exists()

            ks.trigger_ext4_error(ext4_fs)  # EXT4-fs error ... Remounting filesystem read-only
            assert ext4_fs.write_errno() == errno.EROFS

            dispatcher.submit(alert("x-read_only", AlertKind.READ_ONLY, created=T0 + 2))
            await until((dirs[1] / "fake" / "x-read_only.json").exists)
            sink.plan = []  # the relay is back
            sink.refuse = lambda a: None
            await until(lambda: sink.received == ["x-opened", "y-opened", "x-read_only"])
            await dispatcher.drain(1)
        (fallback,) = [e for e in logs if e["event"] == "outbox_fallback"]
        assert fallback["location"] == str(dirs[1])
        assert fallback["reason"].endswith(os.strerror(errno.EROFS))
        # y-opened's file is stuck on the read-only disk; the journal in /run covers it.
        assert (dirs[0] / "fake" / "y-opened.json").exists()
        assert json.loads((dirs[1] / "fake" / "sent").read_bytes()) == [
            "x-opened",
            "y-opened",
            "x-read_only",
        ]

        after = FakeSink()
        restarted = await started([after], dirs)
        for aid in ("x-opened", "y-opened"):
            restarted.submit(alert(aid))  # the engine replays the incident after a restart
        await asyncio.sleep(0.2)
        await restarted.drain(1)
        assert after.attempts == []  # nothing sent twice

    run(main)


@pytest.mark.root
def test_state_directory_on_a_full_filesystem_falls_back(tmp_path: Path) -> None:
    with ks.loop_filesystem("ext4", "errors=remount-ro", size_mb=8) as fs:
        dirs = [fs.mountpoint / "outbox", tmp_path / "run" / "outbox"]
        (dirs[0] / "fake").mkdir(parents=True)
        fd = os.open(fs.mountpoint / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # root may use the reserved blocks too: fill up to the last one
            for size in (1 << 20, 1 << 12, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)
        assert fs.write_errno() == errno.ENOSPC

        async def main() -> None:
            sink = FakeSink()
            with capture_logs() as logs:
                dispatcher = await started([sink], dirs)
                dispatcher.submit(alert("x-read_only", AlertKind.READ_ONLY))
                await until(lambda: sink.received == ["x-read_only"])
                await dispatcher.drain(1)
            (fallback,) = [e for e in logs if e["event"] == "outbox_fallback"]
            assert fallback["reason"].endswith(os.strerror(errno.ENOSPC))
            assert fallback["location"] == str(dirs[1])
            assert json.loads((dirs[1] / "fake" / "sent").read_bytes()) == ["x-read_only"]
            assert not list((dirs[0] / "fake").glob("*"))  # no half-written file left

        run(main)


@pytest.mark.root
def test_state_directory_on_a_disk_returning_eio_falls_back(tmp_path: Path) -> None:
    """A dying disk (a FUSE image under the loop device fails every I/O)."""
    with ks.loop_filesystem("ext4", "errors=remount-ro", fuse=True) as fs:
        assert fs.fuse is not None
        dirs = [fs.mountpoint / "outbox", tmp_path / "run" / "outbox"]

        async def main() -> None:
            sink = FakeSink()
            with capture_logs() as logs:
                dispatcher = await started([sink], dirs)
                dispatcher.submit(alert("x-opened", created=T0))
                await until((dirs[0] / "fake" / "sent").exists)
                assert fs.fuse is not None
                fs.fuse.fail()
                dispatcher.submit(alert("x-read_only", AlertKind.READ_ONLY, created=T0 + 1))
                await until(lambda: sink.received == ["x-opened", "x-read_only"])
                await dispatcher.drain(1)
            (fallback,) = [e for e in logs if e["event"] == "outbox_fallback"]
            assert fallback["reason"].endswith(os.strerror(errno.EIO))
            assert json.loads((dirs[1] / "fake" / "sent").read_bytes()) == [
                "x-opened",
                "x-read_only",
            ]

        run(main)


@pytest.mark.root
def test_state_directory_on_a_disk_that_stops_answering(tmp_path: Path) -> None:
    """Every I/O to the disk blocks (its FUSE server is stopped, as a SCSI device in error
    handling would): the page goes out within io_timeout, from the runtime directory."""
    with ks.loop_filesystem("ext4", "errors=remount-ro", fuse=True) as fs:
        assert fs.fuse is not None
        server = fs.fuse.process.pid
        dirs = [fs.mountpoint / "outbox", tmp_path / "run" / "outbox"]

        async def main() -> None:
            sink = FakeSink()
            with capture_logs() as logs:
                dispatcher = await started([sink], dirs, io_timeout=0.5)
                dispatcher.submit(alert("x-opened", created=T0))
                await until((dirs[0] / "fake" / "sent").exists)
                os.kill(server, signal.SIGSTOP)
                try:
                    began = time.monotonic()
                    dispatcher.submit(alert("x-read_only", AlertKind.READ_ONLY, created=T0 + 1))
                    await until(lambda: len(sink.received) == 2, timeout=3.0)
                    assert time.monotonic() - began < 1.5
                    await dispatcher.drain(1)
                finally:
                    os.kill(server, signal.SIGCONT)
            (fallback,) = [e for e in logs if e["event"] == "outbox_fallback"]
            assert fallback["reason"] == "no answer within 0.5s"
            assert sink.received == ["x-opened", "x-read_only"]

        run(main)
