"""JournalSource against a real, private systemd-journald that imports the real kernel log.

Tests marked ``root`` start a standalone journald (:mod:`journald`) and read back what the
running kernel logged, including a real ext4 failure; they skip elsewhere. The unit tests at
the end feed entry dicts shaped exactly as python-systemd 235 returns them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import importlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kernel_scenarios as ks
from journald import Journald, standalone_journald
from rowatch.formats.journal import journal_record
from rowatch.records import KernelRecord, Source
from rowatch.sources import Source as SourceProtocol
from rowatch.sources import SourceError
from rowatch.sources.journal import MISSING_BINDING, JournalSource
from source_helpers import collect
from source_helpers import drain as drain_source

try:
    systemd_journal: Any = importlib.import_module("systemd.journal")
except ImportError:
    systemd_journal = None

needs_binding = pytest.mark.skipif(
    systemd_journal is None, reason="systemd-python missing (apt: python3-systemd)"
)


def token() -> str:
    return f"rowatch-test-{secrets.token_hex(4)}"


def this_boot() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")


@pytest.fixture
def journald(tmp_path: Path) -> Iterator[Journald]:
    if systemd_journal is None:
        pytest.skip("systemd-python missing (apt: python3-systemd)")
    with standalone_journald(tmp_path) as instance:
        yield instance


def source_for(jd: Journald, **kwargs: Any) -> JournalSource:
    return JournalSource(directory=str(jd.directory), **kwargs)


async def drain(source: JournalSource, quiet: float = 0.5) -> list[KernelRecord]:
    """Everything until the source has been idle for ``quiet`` seconds."""
    return await drain_source(source, quiet)


def kernel_cursors(jd: Journald) -> list[str]:
    """Cursors of every kernel-transport entry of this boot, in journal order."""
    return [e["__CURSOR"] for e in jd.entries("_TRANSPORT=kernel", f"_BOOT_ID={this_boot()}")]


# --------------------------------------------------------------------------------------------
# The real kernel through a real journald
# --------------------------------------------------------------------------------------------


@pytest.mark.root
def test_kernel_remount_arrives_trusted(journald: Journald, ext4_fs: ks.LoopFilesystem) -> None:
    want = f"EXT4-fs ({ext4_fs.loop}): Remounting filesystem read-only"

    async def scenario() -> tuple[list[KernelRecord], ks.KmsgEntry, float, float, JournalSource]:
        source = source_for(journald, backlog=False)
        assert isinstance(source, SourceProtocol)
        await source.open()
        try:
            assert "from the next record" in source.describe()
            loop = asyncio.get_running_loop()
            before = time.time()
            started = time.monotonic()
            trigger = loop.run_in_executor(None, ks.trigger_ext4_error, ext4_fs)
            seen = await collect(source, lambda r: r.message == want)
            latency = time.monotonic() - started
            remount = await trigger
            return seen, remount, before, latency, source
        finally:
            source.close()

    seen, remount, before, latency, source = asyncio.run(scenario())
    assert latency < 2.0, f"took {latency:.3f}s"
    record = next(r for r in seen if r.message == want)
    assert record.source is Source.JOURNAL
    assert (record.trusted, record.facility, record.priority) == (True, 0, remount.level)
    # _SOURCE_MONOTONIC_TIMESTAMP is the kernel's own stamp: exactly the kmsg record's.
    assert record.uptime == remount.usec / 1e6
    assert record.wall is not None and before - 1 <= record.wall <= time.time() + 1
    assert record.boot_id == this_boot()
    assert record.origin is not None and record.origin.startswith("s=")
    # The same entry read with python-systemd's default converters: the same record.
    entry = next(e for e in journald.entries() if e["__CURSOR"] == record.origin)
    assert journal_record(entry) == dataclasses.replace(record, wall=journal_record(entry).wall)
    assert abs(journal_record(entry).wall - record.wall) < 2e-6
    assert source.cursor == seen[-1].origin == source.position["cursor"]
    assert source.position["records"] == len(seen) == source.records
    # ext4 prints with printk(), not dev_printk(): no DEVICE=, so journald attaches nothing.
    assert record.kernel_device == remount.properties.get("DEVICE")
    assert record.subsystem == remount.properties.get("SUBSYSTEM")
    error = [r for r in seen if r.message.startswith(f"EXT4-fs error (device {ext4_fs.loop})")]
    assert error and all(r.trusted for r in error)
    assert all(r.origin for r in seen)


@pytest.mark.root
def test_device_fields_match_the_kernels(tmp_path: Path) -> None:
    """Records the kernel logged with DEVICE= get _KERNEL_DEVICE/_KERNEL_SUBSYSTEM/_UDEV_*.

    The only such record this machine can make on demand is the once-per-boot "capability
    attribute has been deprecated" warning (read /sys/block/*/capability); any DEVICE= record
    still in the ring buffer when journald starts (it imports the whole ring) serves.
    """
    if systemd_journal is None:
        pytest.skip("systemd-python missing (apt: python3-systemd)")
    ks.require("root", "kmsg")
    for path in Path("/sys/block").glob("*/capability"):
        path.read_text()
    with ks.KmsgTail() as tail:
        fd = os.open(ks.KMSG_PATH, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        ring: list[ks.KmsgEntry] = []
        try:
            while True:
                try:
                    ring.append(ks.parse_kmsg(os.read(fd, 16384)))
                except BrokenPipeError:
                    continue
                except BlockingIOError:
                    break
        finally:
            os.close(fd)
        del tail
    with_device = [e for e in ring if "DEVICE" in e.properties]
    if not with_device:
        pytest.skip("no kernel record with DEVICE= in the ring buffer to compare")

    async def scenario(jd: Journald) -> list[KernelRecord]:
        source = source_for(jd)
        await source.open()
        try:
            return await drain(source)
        finally:
            source.close()

    with standalone_journald(tmp_path) as jd:
        seen = asyncio.run(scenario(jd))
    by_stamp = {(r.uptime, r.message): r for r in seen}
    compared = 0
    for entry in with_device:
        record = by_stamp.get((entry.usec / 1e6, entry.message))
        if record is None:
            continue  # rotated out of the ring before journald imported it
        compared += 1
        assert record.trusted == (entry.facility == 0)
        assert record.kernel_device == entry.properties["DEVICE"]
        assert record.subsystem == entry.properties.get("SUBSYSTEM")
        device = entry.properties["DEVICE"]
        if device[:1] in "bc" and ":" in device:
            kind = "block" if device[0] == "b" else "char"
            sysfs = Path(f"/sys/dev/{kind}/{device[1:]}")
            if sysfs.exists():
                assert record.udev_sysname == sysfs.resolve().name
    assert compared, "none of the DEVICE= records reached the journal"


@pytest.mark.root
def test_forged_kernel_lines_are_never_trusted(journald: Journald) -> None:
    """``logger -t kernel`` and friends: not yielded at all, untrusted if read another way."""
    tag = token()
    forged = f"EXT4-fs (sda1): Remounting filesystem read-only {tag}"

    async def scenario() -> list[KernelRecord]:
        source = source_for(journald, backlog=False)
        await source.open()
        try:
            journald.logger(f"{forged} logger", tag="kernel", priority="user.crit")
            journald.send(
                MESSAGE=f"{forged} native",
                SYSLOG_IDENTIFIER="kernel",
                SYSLOG_FACILITY="0",
                PRIORITY="2",
            )
            # A raw syslog datagram may claim facility 0 (logger maps kern to user).
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(f"<2>kernel: {forged} syslog".encode(), str(journald.dev_log))
            # Userspace through /dev/kmsg: kernel transport, but facility 1.
            ks.write_kmsg(f"{forged} kmsg", priority=2)
            for how in ("logger", "native", "syslog"):
                journald.wait_for_entry(lambda e, how=how: e.get("MESSAGE") == f"{forged} {how}")
            return await drain(source)
        finally:
            source.close()

    seen = asyncio.run(scenario())
    mine = [r for r in seen if tag in r.message]
    assert [r.message for r in mine] == [f"{forged} kmsg"]
    assert (mine[0].trusted, mine[0].facility, mine[0].priority) == (False, 1, 2)

    # A reader without the transport match sees them all; none may become trusted.
    everything = {e["MESSAGE"]: e for e in journald.entries() if tag in str(e.get("MESSAGE", ""))}
    assert set(everything) == {f"{forged} {how}" for how in ("logger", "native", "syslog", "kmsg")}
    native = everything[f"{forged} native"]
    assert native["SYSLOG_IDENTIFIER"] == "kernel" and native["SYSLOG_FACILITY"] == 0
    assert native["_TRANSPORT"] == "journal"
    for entry in everything.values():
        record = journal_record(entry)
        assert record is not None and record.trusted is False, entry


@pytest.mark.root
def test_resume_by_cursor_neither_repeats_nor_skips(journald: Journald) -> None:
    tag = token()

    def mark(i: int) -> str:
        return f"{tag} mark {i}"

    async def read(source: JournalSource, last: str) -> list[KernelRecord]:
        await source.open()
        try:
            return await collect(source, lambda r: r.message == last)
        finally:
            source.close()

    for i in range(3):
        ks.write_kmsg(mark(i))
    first_source = source_for(journald)
    first = asyncio.run(read(first_source, mark(2)))
    cursor = first_source.cursor
    assert cursor is not None and cursor == first[-1].origin

    for i in range(3, 6):
        ks.write_kmsg(mark(i))
    second_source = source_for(journald, cursor=cursor)
    assert "resumed from cursor" in second_source.describe()
    second = asyncio.run(read(second_source, mark(5)))

    everything = kernel_cursors(journald)
    got = [r.origin for r in first + second]
    assert len(set(got)) == len(got), "a record was yielded twice"
    assert got == everything[: len(got)], "a record was skipped"
    assert second[0].origin == everything[everything.index(cursor) + 1]
    assert [r.message for r in second if r.message.startswith(tag)] == [
        mark(i) for i in range(3, 6)
    ]
    assert second_source.resume_error is None

    # From a cursor in the middle: exactly what followed it.
    middle = first[len(first) // 2].origin
    assert middle is not None
    third_source = source_for(journald, cursor=middle)
    third = asyncio.run(read(third_source, mark(5)))
    assert [r.origin for r in third] == everything[everything.index(middle) + 1 : len(got)]


@pytest.mark.root
def test_resume_from_the_newest_entry_yields_only_new_ones(journald: Journald) -> None:
    tag = token()
    ks.write_kmsg(f"{tag} old")
    newest = journald.wait_for_entry(
        lambda e: e.get("MESSAGE") == f"{tag} old", "_TRANSPORT=kernel"
    )

    async def scenario() -> list[KernelRecord]:
        source = source_for(journald, cursor=newest["__CURSOR"])
        await source.open()
        try:
            asyncio.get_running_loop().call_later(0.2, ks.write_kmsg, f"{tag} new")
            return await collect(source, lambda r: r.message == f"{tag} new")
        finally:
            source.close()

    seen = asyncio.run(scenario())
    assert f"{tag} old" not in [r.message for r in seen]
    assert seen[-1].message == f"{tag} new"


@pytest.mark.root
def test_resume_after_the_cursors_entry_was_vacuumed(journald: Journald) -> None:
    """The saved entry is gone (rotated, then deleted): start with the first one still there."""
    tag = token()
    ks.write_kmsg(f"{tag} gone")
    gone = journald.wait_for_entry(lambda e: e.get("MESSAGE") == f"{tag} gone", "_TRANSPORT=kernel")
    journald.rotate()
    deadline = time.monotonic() + 10
    while not (archived := list(journald.directory.glob("system@*.journal"))):
        assert time.monotonic() < deadline, "journald did not rotate"
        time.sleep(0.05)
    for path in archived:  # what journalctl --vacuum-files would do
        path.unlink()
    ks.write_kmsg(f"{tag} kept")
    journald.wait_for_entry(lambda e: e.get("MESSAGE") == f"{tag} kept", "_TRANSPORT=kernel")
    remaining = kernel_cursors(journald)
    assert gone["__CURSOR"] not in remaining

    async def scenario() -> list[KernelRecord]:
        source = source_for(journald, cursor=gone["__CURSOR"])
        await source.open()
        try:
            return await collect(source, lambda r: r.message == f"{tag} kept")
        finally:
            source.close()

    seen = asyncio.run(scenario())
    assert [r.origin for r in seen] == remaining[: len(seen)]


@pytest.mark.root
def test_unusable_cursor_falls_back_to_this_boot(journald: Journald) -> None:
    tag = token()
    ks.write_kmsg(f"{tag} here")

    async def scenario() -> tuple[list[KernelRecord], JournalSource]:
        source = source_for(journald, cursor="this is not a cursor")
        await source.open()
        try:
            return await collect(source, lambda r: r.message == f"{tag} here"), source
        finally:
            source.close()

    seen, source = asyncio.run(scenario())
    assert source.resume_error is not None and "cursor unusable" in source.resume_error
    assert "cursor unusable" in source.describe()
    assert all(r.boot_id == this_boot() for r in seen)


@pytest.mark.root
def test_reading_goes_on_across_rotation(journald: Journald) -> None:
    tag = token()

    async def scenario() -> tuple[list[KernelRecord], JournalSource]:
        source = source_for(journald, backlog=False)
        await source.open()
        try:
            ks.write_kmsg(f"{tag} before")
            seen = await collect(source, lambda r: r.message == f"{tag} before")
            files = set(journald.directory.iterdir())
            journald.rotate()
            deadline = time.monotonic() + 10
            while not any(p.name.startswith("system@") for p in journald.directory.iterdir()):
                assert time.monotonic() < deadline, "journald did not rotate"
                await asyncio.sleep(0.05)
            assert set(journald.directory.iterdir()) != files
            ks.write_kmsg(f"{tag} after")
            seen += await collect(source, lambda r: r.message == f"{tag} after")
            return seen, source
        finally:
            source.close()

    seen, source = asyncio.run(scenario())
    assert [r.message for r in seen if r.message.startswith(tag)] == [
        f"{tag} before",
        f"{tag} after",
    ]
    assert source.invalidations >= 1


@pytest.mark.root
def test_idle_source_sleeps_and_close_ends_batches(journald: Journald) -> None:
    async def scenario() -> float:
        source = source_for(journald, backlog=False)
        await source.open()
        await drain(source, quiet=0.2)
        start = time.process_time()
        await drain(source, quiet=1.0)
        spent = time.process_time() - start

        async def consume() -> None:
            async for _ in source.batches():
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        source.close()
        await asyncio.wait_for(task, 2)
        source.close()
        assert source.closed
        return spent

    assert asyncio.run(scenario()) < 0.1


# --------------------------------------------------------------------------------------------
# Start-up errors
# --------------------------------------------------------------------------------------------


def test_missing_binding_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "systemd", None)
    monkeypatch.setitem(sys.modules, "systemd.journal", None)
    with pytest.raises(SourceError) as caught:
        asyncio.run(JournalSource().open())
    assert str(caught.value) == MISSING_BINDING
    assert "apt install python3-systemd" in str(caught.value)


@needs_binding
def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        asyncio.run(JournalSource(directory=str(tmp_path / "nope")).open())


@needs_binding
def test_unreadable_journal_files_are_a_clear_error(tmp_path: Path) -> None:
    """Files sd-journal cannot open would just look empty; open() says why instead."""
    journal = tmp_path / "system.journal"
    journal.write_bytes(b"")
    journal.chmod(0o600)
    program = (
        "import asyncio, sys\n"
        "from rowatch.sources import SourceError\n"
        "from rowatch.sources.journal import JournalSource\n"
        "try:\n"
        "    asyncio.run(JournalSource(directory=sys.argv[1]).open())\n"
        "except SourceError as exc:\n"
        "    print(exc)\n"
    )
    argv = [sys.executable, "-c", program, str(tmp_path)]
    if os.geteuid() == 0:
        # Root reads every file; without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH it reads only
        # its own, so hand the file to nobody.
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv missing (apt: util-linux)")
        os.chown(journal, 65534, 65534)
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *argv]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30, check=True)
    assert "cannot read the journal files in" in done.stdout, done.stdout + done.stderr
    assert "systemd-journal group" in done.stdout


# --------------------------------------------------------------------------------------------
# Entry conversion: both shapes python-systemd 235 returns
# --------------------------------------------------------------------------------------------

BOOT = uuid.UUID("9f876218-2cff-4ae3-a4df-87ff592dd383")
CURSOR = "s=3c3c;i=4;b=9f87;m=4e08a84d;t=661165a965f6a;x=ecdc"


def converted_entry(**extra: Any) -> dict[str, Any]:
    """An entry as Reader.get_next() returns it with the default converters."""
    monotonic_type = systemd_journal.Monotonic if systemd_journal is not None else tuple
    entry: dict[str, Any] = {
        "MESSAGE": "EXT4-fs (sda1): Remounting filesystem read-only",
        "PRIORITY": 2,
        "SYSLOG_FACILITY": 0,
        "SYSLOG_IDENTIFIER": "kernel",
        "_TRANSPORT": "kernel",
        "_BOOT_ID": BOOT,
        "_HOSTNAME": "vm",
        "_SOURCE_MONOTONIC_TIMESTAMP": datetime.timedelta(seconds=1150, microseconds=870327),
        "__REALTIME_TIMESTAMP": datetime.datetime.fromtimestamp(1795598497.242986, datetime.UTC),
        "__MONOTONIC_TIMESTAMP": monotonic_type(
            (datetime.timedelta(seconds=1309, microseconds=190221), BOOT)
        ),
        "__CURSOR": CURSOR,
    }
    entry.update(extra)
    return entry


def source_entry(**extra: Any) -> dict[str, Any]:
    """The same entry as JournalSource reads it: __REALTIME_TIMESTAMP kept an integer."""
    return converted_entry(**{"__REALTIME_TIMESTAMP": 1795598497242986, **extra})


@pytest.mark.parametrize("make", [converted_entry, source_entry])
def test_entry_values_of_every_shape_become_the_same_record(
    make: Callable[..., dict[str, Any]],
) -> None:
    record = journal_record(make())
    assert record is not None
    assert record.message == "EXT4-fs (sda1): Remounting filesystem read-only"
    assert (record.trusted, record.facility, record.priority) == (True, 0, 2)
    assert record.uptime == 1150.870327
    assert record.wall is not None and abs(record.wall - 1795598497.242986) < 2e-6
    assert (record.boot_id, record.host, record.origin) == (BOOT.hex, "vm", CURSOR)
    assert record.source is Source.JOURNAL


@pytest.mark.parametrize("make", [converted_entry, source_entry])
def test_kernel_identifier_alone_is_not_trust(make: Callable[..., dict[str, Any]]) -> None:
    for forged in ({"_TRANSPORT": "syslog"}, {"_TRANSPORT": "journal"}, {"SYSLOG_FACILITY": 1}):
        record = journal_record(make(**forged))
        assert record is not None and record.trusted is False, forged
    record = journal_record(make(SYSLOG_FACILITY=None))
    assert record is not None and record.trusted is False


def test_monotonic_fallback_device_fields_and_binary_message() -> None:
    entry = converted_entry(
        MESSAGE=b"sd 0:0:0:0: [sda] \xff bad byte",
        _KERNEL_DEVICE="+scsi:0:0:0:0",
        _KERNEL_SUBSYSTEM="scsi",
        _UDEV_DEVNODE="/dev/sda",
    )
    del entry["_SOURCE_MONOTONIC_TIMESTAMP"]
    record = journal_record(entry)
    assert record is not None
    assert record.message == "sd 0:0:0:0: [sda] \\xff bad byte"
    assert record.uptime == 1309.190221  # journald's receive time, when the kernel's is missing
    assert (record.kernel_device, record.subsystem) == ("+scsi:0:0:0:0", "scsi")
    assert record.udev_sysname == "sda"  # from _UDEV_DEVNODE when _UDEV_SYSNAME is absent
    named = journal_record(converted_entry(_UDEV_SYSNAME="sdb", _UDEV_DEVNODE="/dev/sda"))
    assert named is not None and named.udev_sysname == "sdb"
    assert journal_record({"_TRANSPORT": "kernel"}) is None
