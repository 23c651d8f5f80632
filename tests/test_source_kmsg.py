"""KmsgSource on the real kernel: prompt delivery, trust, backlog, overflow (EPIPE), shutdown.

Tests marked ``root`` read and write the running kernel's /dev/kmsg (and make a loop ext4 fail
for real); they skip elsewhere. The unit tests at the end script read() results to pin down
the loss accounting exactly.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import kernel_scenarios as ks
from daemon_harness import config_text, running_daemon
from rowatch.records import KernelRecord, Source
from rowatch.sources import Source as SourceProtocol
from rowatch.sources import SourceError
from rowatch.sources.kmsg import KmsgSource
from source_helpers import collect
from source_helpers import drain as drain_source

SRC = Path(__file__).resolve().parents[1] / "src"
_SYSLOG_ACTION_SIZE_BUFFER = 10


def token() -> str:
    return f"rowatch-test-{secrets.token_hex(4)}"


async def drain(source: KmsgSource, quiet: float = 0.3) -> list[KernelRecord]:
    """Everything until the source has been idle for ``quiet`` seconds."""
    return await drain_source(source, quiet)


def ring_buffer_size() -> int:
    """The kernel log buffer's size (syslog(2) SYSLOG_ACTION_SIZE_BUFFER), e.g. 131072."""
    libc = ctypes.CDLL(None, use_errno=True)
    size = int(libc.klogctl(_SYSLOG_ACTION_SIZE_BUFFER, None, 0))
    if size <= 0:
        pytest.skip(f"klogctl(SIZE_BUFFER) failed: {os.strerror(ctypes.get_errno())}")
    return size


def first_seq_in_ring() -> int:
    """Sequence number of the oldest record the ring still holds (what SEEK_SET reads)."""
    fd = os.open(ks.KMSG_PATH, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            try:
                return ks.parse_kmsg(os.read(fd, 16384)).seq
            except BrokenPipeError:
                continue
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# The real kernel
# --------------------------------------------------------------------------------------------


@pytest.mark.root
def test_userspace_write_arrives_promptly_and_untrusted() -> None:
    ks.require("kmsg", "kmsg-write")
    text = f"Remounting filesystem read-only {token()}"

    async def scenario() -> tuple[list[KernelRecord], float, KmsgSource]:
        source = KmsgSource(backlog=False)
        assert isinstance(source, SourceProtocol)
        await source.open()
        try:
            loop = asyncio.get_running_loop()
            written = 0.0

            def write() -> None:
                nonlocal written
                written = time.monotonic()
                ks.write_kmsg(text, priority=2)

            loop.call_later(0.2, write)  # while batches() sleeps in the event loop
            seen = await collect(source, lambda r: r.message == text, timeout=5)
            return seen, time.monotonic() - written, source
        finally:
            source.close()

    seen, latency, source = asyncio.run(scenario())
    record = next(r for r in seen if r.message == text)
    assert latency < 1.0, f"took {latency:.3f}s"
    # <2> from userspace: level 2, but the kernel forces facility 1 (LOG_USER).
    assert (record.priority, record.facility, record.trusted) == (2, 1, False)
    assert record.source is Source.KMSG
    assert record.origin is None  # only the journal has cursors
    assert source.last_seq == seen[-1].seq and record.seq is not None
    assert source.lost_records == 0
    assert source.describe() == f"kmsg /dev/kmsg (seq {source.last_seq}, 0 lost)"


@pytest.mark.root
def test_without_backlog_old_records_are_skipped() -> None:
    ks.require("kmsg", "kmsg-write")
    before, after = f"before {token()}", f"after {token()}"
    ks.write_kmsg(before)

    async def scenario() -> list[KernelRecord]:
        source = KmsgSource(backlog=False)
        await source.open()
        try:
            assert "from the next record" in source.describe()
            ks.write_kmsg(after)
            return await collect(source, lambda r: r.message == after, timeout=5)
        finally:
            source.close()

    seen = asyncio.run(scenario())
    assert before not in [r.message for r in seen]


@pytest.mark.root
def test_backlog_sees_a_failure_from_before_the_start(ext4_fs: ks.LoopFilesystem) -> None:
    """The daemon starting after the error must still see it: read from the ring's start."""
    remount = ks.trigger_ext4_error(ext4_fs)  # happens before the source exists

    async def scenario() -> tuple[list[KernelRecord], int, KmsgSource]:
        source = KmsgSource()  # backlog=True is the default
        await source.open()
        try:
            oldest = first_seq_in_ring()  # opened after the source: it cannot be older
            return await drain(source), oldest, source
        finally:
            source.close()

    seen, oldest, source = asyncio.run(scenario())
    seqs = [r.seq for r in seen]
    assert seqs == sorted(seqs)
    assert seqs[0] is not None and seqs[0] <= oldest
    if oldest == 0:
        assert seqs[0] == 0  # the boot's very first record, "Linux version ..."
    found = [r for r in seen if r.seq == remount.seq]
    assert len(found) == 1
    record = found[0]
    assert record.message == remount.message
    assert record.message == f"EXT4-fs ({ext4_fs.loop}): Remounting filesystem read-only"
    assert (record.facility, record.trusted, record.priority) == (0, True, remount.level)
    assert record.uptime == remount.usec / 1e6
    assert source.lost_records == 0 and source.malformed == 0
    assert len(seen) > 1 and source.records == len(seen)


@pytest.mark.root
def test_kernel_storage_error_arrives_trusted(ext4_fs: ks.LoopFilesystem) -> None:
    async def scenario() -> tuple[list[KernelRecord], ks.KmsgEntry]:
        source = KmsgSource(backlog=False)
        await source.open()
        try:
            loop = asyncio.get_running_loop()
            # trigger_fs_error logs the lines before the write returns: run it in a thread so
            # that batches() is what waits for them.
            task = loop.run_in_executor(None, ks.trigger_ext4_error, ext4_fs)
            want = f"EXT4-fs ({ext4_fs.loop}): Remounting filesystem read-only"
            seen = await collect(source, lambda r: r.message == want, timeout=10)
            return seen, await task
        finally:
            source.close()

    seen, remount = asyncio.run(scenario())
    by_message = {r.message: r for r in seen}
    record = by_message[remount.message]
    assert (record.seq, record.uptime) == (remount.seq, remount.usec / 1e6)
    assert (record.facility, record.priority, record.trusted) == (0, remount.level, True)
    assert record.kernel_device == remount.properties.get("DEVICE")
    error = [r for r in seen if r.message.startswith(f"EXT4-fs error (device {ext4_fs.loop})")]
    assert error and all(r.trusted for r in error)


@pytest.mark.root
def test_ring_buffer_overflow_counts_the_lost_records_and_reading_goes_on() -> None:
    """Stop reading, write twice the ring's size: read() says EPIPE, the gap is counted."""
    ks.require("kmsg", "kmsg-write")
    tag = token()
    padding = "x" * 860
    count = 2 * ring_buffer_size() // 900 + 50  # each record ~900 bytes of text
    reported: list[int] = []

    async def scenario() -> tuple[list[KernelRecord], KmsgSource]:
        source = KmsgSource(backlog=False, on_loss=reported.append)
        await source.open()
        try:
            ks.write_kmsg(f"{tag} start")
            seen = await collect(source, lambda r: r.message == f"{tag} start", timeout=5)
            # Not reading now: flood. A fresh fd per record, as printk_devkmsg=ratelimit
            # allows only 10 records per 5 s per open file.
            for i in range(count):
                fd = os.open(ks.KMSG_PATH, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, f"<6>{tag} flood {i:05d} {padding}\n".encode())
                finally:
                    os.close(fd)
            ks.write_kmsg(f"{tag} end")
            seen += await collect(source, lambda r: r.message == f"{tag} end", timeout=10)
            return seen, source
        finally:
            source.close()

    seen, source = asyncio.run(scenario())
    assert source.overruns >= 1, "read() never said EPIPE"
    assert source.lost_records > 0
    assert sum(reported) == source.lost_records and all(n > 0 for n in reported)
    # The count is exactly the sequence gap: every number between the records we got.
    seqs = [r.seq for r in seen if r.seq is not None]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(seqs))
    assert gaps == source.lost_records
    # Reading went on after the loss: the flood's tail and the end marker, without holes.
    flood = [int(r.message.split()[2]) for r in seen if r.message.startswith(f"{tag} flood")]
    assert flood, "nothing of the flood survived"
    assert flood[0] > 0, "the flood's first records should have been overwritten"
    assert flood == list(range(flood[0], count))
    assert seen[-1].message == f"{tag} end"


class SmallBufferKmsg(KmsgSource):
    """Reads with a 96-byte buffer, so that a long record makes the real read() fail EINVAL."""

    def _read_record(self) -> bytes:
        return os.read(self._fd, 96)


@pytest.mark.root
def test_record_too_big_for_the_buffer_is_skipped_and_counted() -> None:
    ks.require("kmsg", "kmsg-write")
    tag = token()
    reported: list[int] = []

    async def scenario() -> tuple[list[KernelRecord], KmsgSource]:
        source = SmallBufferKmsg(backlog=False, on_loss=reported.append)
        await source.open()
        try:
            ks.write_kmsg(f"{tag} a")
            ks.write_kmsg(f"{tag} long " + "y" * 200)  # > 96 bytes: EINVAL
            ks.write_kmsg(f"{tag} b")
            return await collect(source, lambda r: r.message == f"{tag} b", timeout=5), source
        finally:
            source.close()

    seen, source = asyncio.run(scenario())
    mine = [r for r in seen if r.message.startswith(tag)]
    assert [r.message for r in mine] == [f"{tag} a", f"{tag} b"]
    # Other records logged meanwhile may be long too: each EINVAL is one record lost.
    assert source.oversized >= 1 and source.overruns == 0
    assert source.lost_records == source.oversized == sum(reported)


@pytest.mark.root
def test_idle_source_sleeps() -> None:
    """No busy polling: a second of waiting costs (almost) no CPU time."""
    ks.require("kmsg")

    async def scenario() -> float:
        source = KmsgSource(backlog=False)
        await source.open()
        try:
            await drain(source, quiet=0.2)  # whatever is logged right now
            start = time.process_time()
            await drain(source, quiet=1.0)
            return time.process_time() - start
        finally:
            source.close()

    assert asyncio.run(scenario()) < 0.1


@pytest.mark.root
def test_close_while_waiting_ends_batches() -> None:
    ks.require("kmsg")

    async def scenario() -> list[list[KernelRecord]]:
        source = KmsgSource(backlog=False)
        await source.open()
        got: list[list[KernelRecord]] = []

        async def consume() -> None:
            async for batch in source.batches():
                got.append(batch)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        source.close()
        await asyncio.wait_for(task, 2)  # ends by itself, no cancel needed
        source.close()  # idempotent
        assert source.closed
        return got

    asyncio.run(scenario())


@pytest.mark.root
def test_permission_denied_names_cap_syslog() -> None:
    """Without CAP_SYSLOG (and CAP_SYS_ADMIN) open() fails with a SourceError saying so."""
    if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() != "1":
        pytest.skip("kernel.dmesg_restrict=0: anyone may read /dev/kmsg")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv missing (apt: util-linux)")
    program = (
        "import asyncio\n"
        "from rowatch.sources import SourceError\n"
        "from rowatch.sources.kmsg import KmsgSource\n"
        "try:\n"
        "    asyncio.run(KmsgSource().open())\n"
        "except SourceError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        ["setpriv", "--bounding-set", "-syslog,-sys_admin", sys.executable, "-c", program],
        capture_output=True, text=True, env=env, timeout=30, check=True,
    )  # fmt: skip
    assert "cannot read /dev/kmsg: Operation not permitted" in done.stdout
    assert "CAP_SYSLOG" in done.stdout


def test_missing_device_is_a_clear_error(tmp_path: Path) -> None:
    source = KmsgSource(str(tmp_path / "kmsg"))
    with pytest.raises(SourceError, match="does not exist"):
        asyncio.run(source.open())


def test_batches_before_open_is_an_error() -> None:
    async def scenario() -> None:
        await anext(KmsgSource().batches())

    with pytest.raises(SourceError, match="not open"):
        asyncio.run(scenario())


# --------------------------------------------------------------------------------------------
# Loss accounting with scripted read() results
# --------------------------------------------------------------------------------------------


class ScriptedKmsg(KmsgSource):
    """read() returns what the script says: bytes, or an exception to raise."""

    def __init__(
        self,
        script: list[bytes | BaseException],
        *,
        on_loss: Callable[[int], None] | None = None,
        max_batch: int = 1024,
    ) -> None:
        super().__init__("/dev/null", on_loss=on_loss, max_batch=max_batch)
        self.script = script
        self._fd = 1_000_000  # never used: _read_record is scripted

    def _read_record(self) -> bytes:
        if not self.script:
            raise BlockingIOError(errno.EAGAIN, "no record")
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def rec(seq: int, text: str = "x", pri: int = 6) -> bytes:
    return f"{pri},{seq},{seq * 1000},-;{text}\n".encode()


def test_gaps_after_epipe_and_einval_are_counted_exactly() -> None:
    reported: list[int] = []
    source = ScriptedKmsg(
        [
            rec(10),
            rec(11),
            BrokenPipeError(errno.EPIPE, "overwritten"),
            rec(15),  # 12, 13, 14 lost
            OSError(errno.EINVAL, "too small"),
            rec(17),  # 16 skipped by the kernel after EINVAL
            b"6,18,oops;no usec\n",  # malformed, but its seq is still accounted
            rec(19),
            b"garbage\n",  # malformed, no seq at all
            rec(20),
        ],
        on_loss=reported.append,
    )
    batch, more = source._drain()
    assert not more
    assert [r.seq for r in batch] == [10, 11, 15, 17, 19, 20]
    assert reported == [3, 1]
    assert (source.lost_records, source.overruns, source.oversized) == (4, 1, 1)
    assert (source.malformed, source.records, source.last_seq) == (2, 6, 20)
    assert source.position["lost_records"] == 4
    assert source.describe() == "kmsg /dev/null (seq 20, 4 lost)"


def test_loss_before_the_first_record_counts_at_least_one() -> None:
    reported: list[int] = []
    source = ScriptedKmsg([BrokenPipeError(errno.EPIPE, "x"), rec(500)], on_loss=reported.append)
    batch, _ = source._drain()
    assert [r.seq for r in batch] == [500]
    assert reported == [1] and source.lost_records == 1


def test_trust_follows_the_facility() -> None:
    source = ScriptedKmsg([rec(1, "kernel says", pri=2), rec(2, "user says", pri=10)])
    batch, _ = source._drain()
    assert [(r.facility, r.trusted) for r in batch] == [(0, True), (1, False)]


def test_batches_are_capped_and_the_rest_follows() -> None:
    source = ScriptedKmsg([rec(i) for i in range(5)], max_batch=2)

    async def scenario() -> list[list[int | None]]:
        out: list[list[int | None]] = []
        batches = source.batches()
        for _ in range(3):
            out.append([r.seq for r in await anext(batches)])
        await batches.aclose()
        return out

    assert asyncio.run(scenario()) == [[0, 1], [2, 3], [4]]


def test_other_read_errors_and_eof_stop_the_source() -> None:
    with pytest.raises(SourceError, match="Input/output error"):
        ScriptedKmsg([OSError(errno.EIO, os.strerror(errno.EIO))])._drain()
    with pytest.raises(SourceError, match="end of file"):
        ScriptedKmsg([b""])._drain()


@pytest.mark.root
def test_records_the_ring_buffer_overwrote_are_counted_and_said(tmp_path: Path) -> None:
    """The daemon stops reading (SIGSTOP, as a stall would) while more records are logged
    than the ring buffer holds: on waking it says how many were lost, and goes on."""
    with (
        ks.loop_filesystem("ext4") as fs,
        running_daemon(tmp_path, config_text(tmp_path)) as daemon,
    ):
        daemon.signal(signal.SIGSTOP)
        try:
            fd = os.open(ks.KMSG_PATH, os.O_WRONLY)
            try:  # one open file per 10 records: the devkmsg rate limit is per open file
                filler = "rowatch-test ring filler " + "x" * 900
                for index in range(6000):
                    if index % 10 == 0:
                        os.close(fd)
                        fd = os.open(ks.KMSG_PATH, os.O_WRONLY)
                    os.write(fd, f"<14>{filler} {index}\n".encode())
            finally:
                os.close(fd)
        finally:
            daemon.signal(signal.SIGCONT)
        lost = daemon.wait_for(
            lambda e: e.get("event") == "kmsg_records_lost", 10.0, what="kmsg_records_lost"
        )
        assert int(lost["lost"]) > 0
        ks.trigger_ext4_error(fs)  # still reading after the loss
        daemon.wait_for(
            lambda e: (
                e.get("event") == "incident_read_only" and e.get("filesystem_device") == fs.loop
            ),
            10.0,
            what="the read-only incident after the loss",
        )
