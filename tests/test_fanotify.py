"""fanotify FAN_FS_ERROR: the parser on crafted bytes, and a real event from a real ext4 error."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import signal
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernel_scenarios as ks
from rowatch import fanotify
from rowatch.fanotify import (
    FAN_FS_ERROR,
    FAN_Q_OVERFLOW,
    FanotifyEvent,
    FsErrorWatcher,
    available,
    parse_events,
)

#: What 6.18 queued for ``echo 1 > /sys/fs/ext4/loop1/trigger_fs_error`` (56 bytes): metadata,
#: then a FID record (fsid, empty handle of type FILEID_INVALID), then the ERROR record
#: (EUCLEAN, 1 error). statvfs gave f_fsid 0x9dddae48a6770d0f for that filesystem.
REAL_EVENT = bytes.fromhex(
    "38000000030018000080000000000000ffffffffad210000"
    "010014000f0d77a648aedd9d00000000ff000000"
    "05000c007500000001000000"
)


def metadata(
    event_len: int,
    mask: int = FAN_FS_ERROR,
    fd: int = -1,
    pid: int = 42,
    vers: int = 3,
    meta_len: int = 24,
) -> bytes:
    return struct.pack("=IBBHQii", event_len, vers, 0, meta_len, mask, fd, pid)


def fid_record(
    fsid: tuple[int, int], handle: bytes = b"", handle_type: int = 255, info_type: int = 1
) -> bytes:
    body = struct.pack("=II", *fsid) + struct.pack("=Ii", len(handle), handle_type) + handle
    return struct.pack("=BBH", info_type, 0, 4 + len(body)) + body


def error_record(error: int, count: int) -> bytes:
    return struct.pack("=BBHiI", 5, 0, 12, error, count)


def event(*records: bytes, **meta: int) -> bytes:
    body = b"".join(records)
    return metadata(24 + len(body), **meta) + body


def test_parse_the_event_the_kernel_sent() -> None:
    (parsed,) = parse_events(REAL_EVENT)
    assert parsed == FanotifyEvent(
        mask=FAN_FS_ERROR,
        pid=0x21AD,
        fd=-1,
        fsid=0x9DDDAE48A6770D0F,
        handle_type=255,
        handle=b"",
        error=errno.EUCLEAN,
        error_count=1,
    )
    assert parsed.fs_error and not parsed.overflow


def test_records_in_any_order_and_several_events() -> None:
    one = event(error_record(5, 3), fid_record((1, 2), b"\x01\x02\x03\x04", 1))
    two = event(fid_record((7, 0)), error_record(117, 1))
    first, second = parse_events(one + two)
    assert (first.fsid, first.error, first.error_count) == (2 << 32 | 1, 5, 3)
    assert (first.handle_type, first.handle) == (1, b"\x01\x02\x03\x04")
    assert (second.fsid, second.error) == (7, 117)


def test_unknown_records_are_skipped_and_overflow_is_seen() -> None:
    unknown = struct.pack("=BBH", 99, 0, 8) + b"abcd"
    (parsed,) = parse_events(event(unknown, error_record(5, 1)))
    assert (parsed.error, parsed.fsid) == (5, None)
    (overflow,) = parse_events(event(mask=FAN_Q_OVERFLOW))
    assert overflow.overflow and not overflow.fs_error


@pytest.mark.parametrize(
    "data",
    [
        b"",
        REAL_EVENT[:23],  # shorter than the metadata
        REAL_EVENT[:40],  # event_len larger than what was read
        metadata(24, vers=2),  # unknown metadata version
        metadata(20),  # event_len below metadata_len
        metadata(24, meta_len=8),  # metadata_len below the struct
    ],
)
def test_malformed_events_are_dropped(data: bytes) -> None:
    assert parse_events(data) == []


def test_malformed_records_end_the_event_not_the_parse() -> None:
    zero_length = struct.pack("=BBH", 1, 0, 0) + b"\0" * 12
    too_long = struct.pack("=BBH", 5, 0, 200) + b"\0" * 8
    short_fid = struct.pack("=BBH", 1, 0, 8) + b"\0" * 4
    events = parse_events(
        event(zero_length) + event(too_long) + event(short_fid) + event(error_record(5, 2))
    )
    assert [(e.fsid, e.error) for e in events] == [(None, None)] * 3 + [(None, 5)]
    # A handle claiming more bytes than the record has is cut to the record.
    greedy = struct.pack("=BBH", 1, 0, 24) + struct.pack("=IIIi", 1, 0, 1000, 1) + b"\xaa" * 4
    (parsed,) = parse_events(event(greedy))
    assert parsed.handle == b"\xaa" * 4


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    parse_events(data)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**64 - 1), st.integers(-(2**31), 2**31 - 1))
def test_random_records_after_a_valid_header_never_raise(body: bytes, mask: int, fd: int) -> None:
    events = parse_events(metadata(24 + len(body), mask=mask, fd=fd) + body)
    assert len(events) == 1 and events[0].mask == mask


# --------------------------------------------------------------------------------------------
# available(): the reasons the daemon logs
# --------------------------------------------------------------------------------------------


class _FakeLibc:
    def __init__(self, init_errno: int = 0, mark_errno: int = 0) -> None:
        self.init_errno, self.mark_errno = init_errno, mark_errno

    def init(self, flags: int, event_flags: int) -> int:
        if self.init_errno:
            ctypes.set_errno(self.init_errno)
            return -1
        return os.open("/dev/null", os.O_RDONLY)

    def mark(self, fd: int, flags: int, mask: int, dirfd: int, path: bytes) -> int:
        if self.mark_errno:
            ctypes.set_errno(self.mark_errno)
            return -1
        return 0


@pytest.mark.parametrize(
    ("init_errno", "mark_errno", "ok", "reason"),
    [
        (errno.EPERM, 0, False, "fanotify_init: EPERM (needs CAP_SYS_ADMIN)"),
        (errno.EINVAL, 0, False, "FAN_REPORT_FID needs Linux 5.1"),
        (0, errno.EINVAL, False, "fanotify_mark: EINVAL (FAN_FS_ERROR needs Linux 5.16)"),
        (0, errno.EPERM, False, "FAN_MARK_FILESYSTEM needs CAP_SYS_ADMIN"),
        (0, errno.ENODEV, True, "cannot be watched"),
        (0, 0, True, "supported"),
    ],
)
def test_available_explains_itself(
    monkeypatch: pytest.MonkeyPatch, init_errno: int, mark_errno: int, ok: bool, reason: str
) -> None:
    monkeypatch.setattr(fanotify, "_libc", _FakeLibc(init_errno, mark_errno))
    result = available()
    assert result.available is ok
    assert reason in result.reason


@pytest.mark.root
def test_available_on_this_kernel() -> None:
    ok, reason = available()
    if os.uname().release < "5.16":  # crude, but only to explain a failure
        pytest.skip(f"kernel {os.uname().release} predates FAN_FS_ERROR: {reason}")
    assert ok, reason


# --------------------------------------------------------------------------------------------
# The real kernel
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this thread after ``seconds``, even inside a blocking read():
    a hung test must still unmount its filesystems."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"test still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _require_fs_error() -> None:
    ok, reason = available()
    if not ok:
        pytest.skip(f"fanotify FS_ERROR unavailable: {reason}")


async def _collect(
    watcher_mountpoints: list[str], trigger: object, *, settle: float = 0.5
) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int, int]] = []
    with _deadline(30), FsErrorWatcher(lambda mp, e, n: seen.append((mp, e, n))) as watcher:
        assert not os.get_blocking(watcher.fd)
        for mountpoint in watcher_mountpoints:
            watcher.watch(mountpoint)
        assert callable(trigger)
        trigger()
        deadline = asyncio.get_running_loop().time() + 5
        while not seen and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)  # nothing more should come
    return seen


@pytest.mark.root
def test_real_fs_error_event_from_an_ext4_error(ext4_fs: ks.LoopFilesystem) -> None:
    _require_fs_error()
    seen = asyncio.run(_collect([str(ext4_fs.mountpoint)], lambda: ks.trigger_ext4_error(ext4_fs)))
    # ext4_error(): EFSCORRUPTED, which is EUCLEAN; the fsid matched statvfs' f_fsid.
    assert seen == [(str(ext4_fs.mountpoint), errno.EUCLEAN, 1)]


@pytest.mark.root
def test_real_errors_continue_counts_errors_while_the_event_waits() -> None:
    _require_fs_error()
    with (
        ks.loop_filesystem("ext4", "errors=continue") as fs,
        ks.loop_filesystem("ext4", "errors=continue") as other,
    ):

        def trigger() -> None:  # three errors before the loop gets to read the event
            for _ in range(3):
                ks.trigger_ext4_error(fs)

        seen = asyncio.run(_collect([str(fs.mountpoint), str(other.mountpoint)], trigger))
    assert seen == [(str(fs.mountpoint), errno.EUCLEAN, 3)]  # not the other filesystem


@pytest.mark.root
def test_watch_and_unwatch_bookkeeping(ext4_fs: ks.LoopFilesystem) -> None:
    _require_fs_error()

    async def scenario() -> list[str]:
        with FsErrorWatcher(lambda *a: None) as watcher:
            watcher.watch(str(ext4_fs.mountpoint))
            watcher.watch(str(ext4_fs.mountpoint))  # twice is once
            watched = watcher.watched
            watcher.unwatch(str(ext4_fs.mountpoint))
            watcher.unwatch("/not/watched")
            assert watcher.watched == []
            with pytest.raises(OSError):
                watcher.watch("/nonexistent/rowatch")
            return watched

    assert asyncio.run(scenario()) == [str(ext4_fs.mountpoint)]
    with pytest.raises(OSError, match="not started"):
        FsErrorWatcher(lambda *a: None).watch("/")
