"""Input parsers (rowatch.formats) and the input edge (rowatch.inputs).

Samples under tests/data/formats/ were recorded on a Debian 12 machine running 6.18 with
util-linux 2.38.1: ``cat /dev/kmsg``, ``dmesg -r``, ``dmesg -x``, ``dmesg -T``, ``dmesg``,
``dmesg -d``, ``dmesg --time-format iso``. The user.info records in them were written to
/dev/kmsg by a test (``<14>rowatch-fmt-sample multi\\nEXT4-fs (sdz9): ...``), to show how a
userspace record looks in each output.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from rowatch.classify import Classifier
from rowatch.formats import (
    MAX_LINE_BYTES,
    ChunkScanner,
    DmesgParser,
    Format,
    ParseStats,
    detect_format,
    fast_searcher,
    iter_lines,
    iter_records,
    journal_record,
    parse_journal_json,
    parse_kmsg_record,
)
from rowatch.inputs import InputError, open_detected, open_input, peek_sample
from rowatch.records import MAX_MESSAGE_CHARS, KernelRecord, Source

DATA = Path(__file__).parent / "data" / "formats"
YEAR = 2026
PREFILTER = Classifier().prefilter_bytes


def records(fmt: Format, text: bytes, **kwargs: object) -> list[KernelRecord]:
    kwargs.setdefault("reference_year", YEAR)
    return list(iter_records(io.BytesIO(text), fmt, **kwargs))  # type: ignore[arg-type]


def epoch(
    year: int, month: int, day: int, hour: int, minute: int, second: int, tz: timezone = UTC
) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp()


# ---------------------------------------------------------------------------------- kmsg


def test_kmsg_record_with_continuation_lines() -> None:
    data = (
        b"3,1042,52321413,-;sd 2:0:0:0: [sdb] tag#5 FAILED Result: hostbyte=DID_BAD_TARGET\n"
        b" SUBSYSTEM=scsi\n"
        b" DEVICE=+scsi:2:0:0:0\n"
    )
    record = parse_kmsg_record(data)
    assert record == KernelRecord(
        message="sd 2:0:0:0: [sdb] tag#5 FAILED Result: hostbyte=DID_BAD_TARGET",
        uptime=52.321413,
        priority=3,
        facility=0,
        trusted=True,
        source=Source.KMSG,
        seq=1042,
        subsystem="scsi",
        kernel_device="+scsi:2:0:0:0",
    )


@pytest.mark.parametrize("device", [b"b8:0", b"+scsi:0:0:0:0", b"n2", b"c4:1", b"+acpi:PNP0A08:00"])
def test_kmsg_device_tokens_are_kept_as_printed(device: bytes) -> None:
    record = parse_kmsg_record(b"6,1,2,-;x\n SUBSYSTEM=block\n DEVICE=" + device + b"\n")
    assert record is not None
    assert record.kernel_device == device.decode()
    assert record.subsystem == "block"


def test_kmsg_userspace_facility_is_not_trusted() -> None:
    # printf '<12>EXT4-fs (sda1): Remounting filesystem read-only' > /dev/kmsg gives 12 (user.warn)
    forged = parse_kmsg_record(
        b"12,3082,1220254916,-;EXT4-fs (sda1): Remounting filesystem read-only\n"
    )
    assert forged is not None
    assert (forged.facility, forged.priority, forged.trusted) == (1, 4, False)
    real = parse_kmsg_record(
        b"2,3005,1218180221,-;EXT4-fs (loop2): Remounting filesystem read-only"
    )
    assert real is not None
    assert (real.facility, real.priority, real.trusted) == (0, 2, True)


def test_kmsg_escapes_stay_text_and_cannot_fake_continuation_lines() -> None:
    # A userspace write "fake\n DEVICE=b7:0" is one record; the kernel escapes the newline.
    record = parse_kmsg_record(b"10,3083,1220255468,-;fake 571b410d\\x0a DEVICE=b7:0\n")
    assert record is not None
    assert record.message == "fake 571b410d\\x0a DEVICE=b7:0"
    assert record.kernel_device is None
    assert not record.trusted


def test_kmsg_header_extensions_and_flags() -> None:
    record = parse_kmsg_record(b"4,99,1000000,c,caller=T123;[drm] first fragment")
    assert record is not None
    assert (record.seq, record.uptime, record.message) == (99, 1.0, "[drm] first fragment")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"hello world",
        b"6,1,2;missing flags",
        b"6,x,2,-;not a number",
        b"99999,1,2,-;pri too long",
        b"2048,1,2,-;facility over 255",
        b" SUBSYSTEM=block",
        b"6,1,2,-" + b"a" * 100_000,
    ],
)
def test_kmsg_malformed_records_are_counted(data: bytes) -> None:
    stats = ParseStats()
    assert parse_kmsg_record(data, stats=stats) is None
    assert stats.malformed == 1


def test_kmsg_stream_skips_malformed_and_keeps_going() -> None:
    text = (
        b"6,1,10,-;first\n SUBSYSTEM=block\ngarbage\n DEVICE=b8:0\n6,2,20,-;second\n DEVICE=b8:16\n"
    )
    stats = ParseStats()
    found = records(Format.KMSG, text, stats=stats)
    assert [(r.message, r.subsystem, r.kernel_device) for r in found] == [
        ("first", "block", None),
        ("second", None, "b8:16"),
    ]
    assert stats.malformed == 1


def test_kmsg_real_sample() -> None:
    stats = ParseStats()
    found = records(Format.KMSG, (DATA / "kmsg-real.txt").read_bytes(), stats=stats)
    assert stats.malformed == 0
    assert len(found) == 44
    assert found[0].seq == 3463
    # the forged and test records are userspace (facility 1); the ext4/XFS ones the kernel's
    assert [r.seq for r in found if not r.trusted] == [3463, 3464, 3465, 393, 363]
    remount = next(r for r in found if r.seq == 3469)
    assert remount.message == "EXT4-fs (loop0): Remounting filesystem read-only"
    assert (remount.uptime, remount.priority, remount.trusted) == (1240.060921, 2, True)
    escaped = next(r for r in found if r.seq == 363)
    assert escaped.message == "rowatch-fmt-sample backslash \\x5c tab \\x09 bell \\x07 end"
    acpi = next(r for r in found if r.seq == 191)
    assert (acpi.subsystem, acpi.kernel_device) == ("acpi", "+acpi:PNP0A08:00")


# --------------------------------------------------------------------------------- dmesg


def dmesg(line: bytes, tz: timezone | None = None) -> KernelRecord:
    record = DmesgParser(tz=tz).parse_line(line)
    assert record is not None
    return record


def test_dmesg_plain() -> None:
    record = dmesg(b"[   52.321413] EXT4-fs (sda1): Remounting filesystem read-only")
    assert record.message == "EXT4-fs (sda1): Remounting filesystem read-only"
    assert (record.uptime, record.wall, record.priority, record.facility) == (
        52.321413,
        None,
        None,
        None,
    )
    assert record.trusted
    assert record.source is Source.TEXT
    assert record.program == "kernel"


def test_dmesg_raw_priority() -> None:
    kernel = dmesg(b"<3>[   52.321413] Buffer I/O error on dev sdb1, logical block 0")
    assert (kernel.priority, kernel.facility, kernel.trusted) == (3, 0, True)
    assert kernel.message == "Buffer I/O error on dev sdb1, logical block 0"
    # dmesg -S -r (and a fixed util-linux) print a userspace record's real PRI
    user = dmesg(b"<14>[  495.317239] EXT4-fs (sda1): Remounting filesystem read-only")
    assert (user.priority, user.facility, user.trusted) == (6, 1, False)


def test_dmesg_raw_priority_of_buggy_util_linux_is_read_as_printed() -> None:
    # util-linux 2.38 prints user.info as <7>: nothing in the line can tell. See dmesg.py.
    record = dmesg(b"<7>[ 1368.667869] rowatch-fmt-sample multi")
    assert (record.priority, record.facility, record.trusted) == (7, 0, True)


def test_dmesg_decoded_facility_and_level() -> None:
    kernel = dmesg(b"kern  :err   : [   52.321413] JBD2: Error -5 detected")
    assert (kernel.priority, kernel.facility, kernel.trusted, kernel.uptime) == (
        3,
        0,
        True,
        52.321413,
    )
    assert kernel.message == "JBD2: Error -5 detected"
    user = dmesg(b"user  :warn  : [  550.118682] EXT4-fs (sdz1): Remounting filesystem read-only")
    assert (user.priority, user.facility, user.trusted) == (4, 1, False)
    other = dmesg(b"authpriv:info  : [ 1.0] x")
    assert (other.facility, other.trusted) == (10, False)
    untimed = dmesg(b"kern  :crit  : EXT4-fs (sda1): Remounting filesystem read-only")
    assert (untimed.uptime, untimed.priority, untimed.message[:7]) == (None, 2, "EXT4-fs")


def test_dmesg_ctime_is_wall_clock_in_the_given_zone() -> None:
    line = b"[Wed Nov 25 09:01:12 2026] EXT4-fs (sda1): Remounting filesystem read-only"
    record = dmesg(line)
    assert (record.uptime, record.wall) == (None, epoch(2026, 11, 25, 9, 1, 12))
    berlin = timezone(timedelta(hours=1))
    assert dmesg(line, tz=berlin).wall == epoch(2026, 11, 25, 9, 1, 12, tz=berlin)
    assert record.message == "EXT4-fs (sda1): Remounting filesystem read-only"


def test_dmesg_delta_and_iso() -> None:
    delta = dmesg(b"[  550.118690 <    0.000008>] rowatch-fmt-sample backslash")
    assert (delta.uptime, delta.message) == (550.11869, "rowatch-fmt-sample backslash")
    iso = dmesg(b"2026-11-25T09:08:58,118682+01:00 second line")
    assert iso.wall == pytest.approx(epoch(2026, 11, 25, 8, 8, 58) + 0.118682)
    assert iso.message == "second line"


def test_dmesg_lines_without_stamp_are_plain_trusted_messages() -> None:
    record = dmesg(b"EXT4-fs (sda1): Remounting filesystem read-only")
    assert (record.uptime, record.wall, record.trusted) == (None, None, True)
    assert record.message == "EXT4-fs (sda1): Remounting filesystem read-only"
    assert dmesg(b"[drm] Initialized").message == "[drm] Initialized"


def test_dmesg_continuation_lines_keep_their_headers_trust() -> None:
    text = (DATA / "dmesg-x.txt").read_bytes()
    found = records(Format.DMESG, text)
    header, continuation = found[-2:]
    assert header.message == "rowatch-fmt-sample multi"
    assert continuation.message == "EXT4-fs (sdz9): Remounting filesystem read-only"
    assert (continuation.facility, continuation.priority, continuation.trusted) == (1, 6, False)
    assert continuation.uptime is None
    # and the same with only the relevant line kept by the prefilter
    kept = records(Format.DMESG, text, keep=lambda line: b"sdz9" in line)
    assert [(r.message, r.trusted) for r in kept] == [
        ("rowatch-fmt-sample multi", False),
        ("EXT4-fs (sdz9): Remounting filesystem read-only", False),
    ]


@pytest.mark.parametrize(
    ("name", "count", "with_uptime", "with_wall"),
    [
        ("dmesg-plain.txt", 34, 33, 0),
        ("dmesg-r.txt", 44, 43, 0),
        ("dmesg-x.txt", 44, 43, 0),
        ("dmesg-T.txt", 34, 0, 33),
        ("dmesg-d.txt", 5, 5, 0),
        ("dmesg-iso.txt", 5, 0, 5),
    ],
)
def test_dmesg_real_samples(name: str, count: int, with_uptime: int, with_wall: int) -> None:
    text = (DATA / name).read_bytes()
    assert detect_format(text) is Format.DMESG
    stats = ParseStats()
    found = records(Format.DMESG, text, stats=stats)
    assert (len(found), stats.malformed) == (count, 0)
    assert sum(r.uptime is not None for r in found) == with_uptime
    assert sum(r.wall is not None for r in found) == with_wall
    assert not any(r.message.startswith(("[", "<", "kern")) for r in found)


# -------------------------------------------------------------------------------- syslog


def syslog(*lines: bytes, **kwargs: object) -> list[KernelRecord]:
    return records(Format.SYSLOG, b"\n".join(lines) + b"\n", **kwargs)


def test_syslog_rfc3164_kernel_line_with_uptime() -> None:
    (record,) = syslog(
        b"Nov 25 09:01:12 web01 kernel: [   52.321413] "
        b"EXT4-fs (sda1): Remounting filesystem read-only"
    )
    assert record == KernelRecord(
        message="EXT4-fs (sda1): Remounting filesystem read-only",
        uptime=52.321413,
        wall=epoch(2026, 11, 25, 9, 1, 12),
        priority=None,
        facility=None,
        trusted=True,
        source=Source.TEXT,
        program="kernel",
        host="web01",
    )


def test_syslog_programs_and_hosts() -> None:
    found = syslog(
        b"Nov  5 09:01:12 web01 kernel: Buffer I/O error on dev sdb1, logical block 0",
        b"Nov  5 09:01:13 web01 multipathd[812]: mpatha: remaining active paths: 0",
        b"Nov  5 09:01:14 web01 postfix/smtpd[99]: connect from unknown[10.0.0.1]",
        b"Nov  5 09:01:15 kernel: no host on this line",
        b"Nov  5 09:01:16 web01 -- MARK --",
        b"Nov  5 09:01:17 web01 sshd[7]: [   1.000000] not the kernel's uptime",
    )
    assert [(r.host, r.program, r.uptime, r.message) for r in found] == [
        ("web01", "kernel", None, "Buffer I/O error on dev sdb1, logical block 0"),
        ("web01", "multipathd", None, "mpatha: remaining active paths: 0"),
        ("web01", "postfix/smtpd", None, "connect from unknown[10.0.0.1]"),
        (None, "kernel", None, "no host on this line"),
        ("web01", "", None, "-- MARK --"),
        ("web01", "sshd", None, "[   1.000000] not the kernel's uptime"),
    ]
    assert found[0].wall == epoch(2026, 11, 5, 9, 1, 12)
    assert all(r.trusted for r in found)


def test_syslog_year_rolls_over_within_a_file() -> None:
    found = syslog(
        b"Dec 31 23:59:59 h kernel: a",
        b"Nov 30 23:00:00 h kernel: written late, out of order",
        b"Jan  1 00:00:01 h kernel: b",
        b"Feb  1 00:00:01 h kernel: c",
        reference_year=2025,
    )
    assert [datetime.fromtimestamp(r.wall or 0, UTC).year for r in found] == [
        2025,
        2025,
        2026,
        2026,
    ]


def test_syslog_reference_month_puts_later_months_in_the_year_before() -> None:
    # A file last written in January 2026 (its mtime) that starts in December.
    found = syslog(
        b"Dec 30 10:00:00 h kernel: a",
        b"Jan  2 10:00:00 h kernel: b",
        reference_year=2026,
        reference_month=1,
    )
    assert [r.wall for r in found] == [epoch(2025, 12, 30, 10, 0, 0), epoch(2026, 1, 2, 10, 0, 0)]


def test_syslog_zone() -> None:
    eastern = timezone(timedelta(hours=-5))
    (record,) = syslog(b"Nov 25 09:01:12 h kernel: x", tz=eastern)
    assert record.wall == epoch(2026, 11, 25, 14, 1, 12)


def test_syslog_rfc3339_high_precision() -> None:
    found = syslog(
        b"2026-11-25T09:01:12.123456+01:00 web01 kernel: [  52.3] EXT4-fs (sda1): x",
        b"2026-11-25T09:01:12Z web01 kernel: y",
        b"2026-11-25T09:01:12.5 web01 kernel: z",
    )
    assert [r.wall for r in found] == [
        pytest.approx(epoch(2026, 11, 25, 8, 1, 12) + 0.123456),
        epoch(2026, 11, 25, 9, 1, 12),
        epoch(2026, 11, 25, 9, 1, 12) + 0.5,
    ]
    assert (found[0].uptime, found[0].message) == (52.3, "EXT4-fs (sda1): x")


def test_syslog_rfc5424_and_wire_priority() -> None:
    found = syslog(
        b'<3>1 2026-11-25T09:01:12.123Z web01 kernel - - [meta x="a\\]b"] \xef\xbb\xbfJBD2: x',
        b"<13>1 2026-11-25T09:01:12Z - - - - - hello",
        b"<4>Nov 25 09:01:12 web01 kernel: EXT4-fs warning",
    )
    assert [(r.program, r.host, r.facility, r.priority, r.message) for r in found] == [
        ("kernel", "web01", 0, 3, "JBD2: x"),
        ("", None, 1, 5, "hello"),
        ("kernel", "web01", 0, 4, "EXT4-fs warning"),
    ]
    assert found[0].wall == pytest.approx(epoch(2026, 11, 25, 9, 1, 12) + 0.123)


def test_syslog_malformed_lines_are_counted() -> None:
    stats = ParseStats()
    found = syslog(
        b"not a syslog line",
        b"Feb 30 10:00:00 h kernel: no such day",
        b"Nov 25 09:01:12 h kernel: fine",
        stats=stats,
    )
    assert [(r.message, r.wall is None) for r in found] == [("no such day", True), ("fine", False)]
    assert stats.malformed == 1


# ------------------------------------------------------------------------------- journal


def journal_entry(**fields: object) -> bytes:
    entry: dict[str, object] = {
        "__CURSOR": "s=4c1f;i=1a2;b=8c9f;m=31e5e2;t=5f1b;x=9e1c",
        "__REALTIME_TIMESTAMP": "1795597272123456",
        "__MONOTONIC_TIMESTAMP": "52400000",
        "_BOOT_ID": "8c9f1d0a7c8b4b3e9d2f6a1b2c3d4e5f",
        "_HOSTNAME": "web01",
        "PRIORITY": "2",
        "SYSLOG_FACILITY": "0",
        "SYSLOG_IDENTIFIER": "kernel",
        "_TRANSPORT": "kernel",
        "_SOURCE_MONOTONIC_TIMESTAMP": "52321413",
        "_KERNEL_SUBSYSTEM": "block",
        "_KERNEL_DEVICE": "b8:1",
        "_UDEV_SYSNAME": "sda1",
        "_UDEV_DEVNODE": "/dev/sda1",
        "MESSAGE": "EXT4-fs (sda1): Remounting filesystem read-only",
    }
    entry.update(fields)
    return json.dumps({k: v for k, v in entry.items() if v is not None}).encode()


def test_journal_kernel_record() -> None:
    record = parse_journal_json(journal_entry())
    assert record == KernelRecord(
        message="EXT4-fs (sda1): Remounting filesystem read-only",
        uptime=52.321413,
        wall=1795597272.123456,
        priority=2,
        facility=0,
        trusted=True,
        source=Source.JOURNAL,
        program="kernel",
        subsystem="block",
        kernel_device="b8:1",
        udev_sysname="sda1",
        host="web01",
        boot_id="8c9f1d0a7c8b4b3e9d2f6a1b2c3d4e5f",
        origin="s=4c1f;i=1a2;b=8c9f;m=31e5e2;t=5f1b;x=9e1c",
    )


def test_journal_record_takes_systemd_python_values() -> None:
    # what systemd.journal.Reader().get_next() returns with its default converters
    boot = uuid.UUID("8c9f1d0a7c8b4b3e9d2f6a1b2c3d4e5f")
    typed = journal_record(
        {
            "MESSAGE": "EXT4-fs (sda1): Remounting filesystem read-only",
            "__REALTIME_TIMESTAMP": datetime.fromtimestamp(1795597272.123456, UTC),
            "__MONOTONIC_TIMESTAMP": (timedelta(seconds=52, microseconds=400000), boot),
            "_SOURCE_MONOTONIC_TIMESTAMP": timedelta(seconds=52, microseconds=321413),
            "_BOOT_ID": boot,
            "PRIORITY": 2,
            "SYSLOG_FACILITY": 0,
            "_TRANSPORT": "kernel",
            "SYSLOG_IDENTIFIER": "kernel",
            "_KERNEL_DEVICE": "b8:1",
            "_UDEV_DEVNODE": "/dev/sda1",
            "_HOSTNAME": b"web\xff01",
        }
    )
    assert typed is not None
    assert (typed.wall, typed.uptime, typed.priority, typed.facility, typed.trusted) == (
        1795597272.123456,
        52.321413,
        2,
        0,
        True,
    )
    assert (typed.boot_id, typed.udev_sysname, typed.host) == (boot.hex, "sda1", "web\\xff01")
    monotonic_only = journal_record(
        {"MESSAGE": "x", "__MONOTONIC_TIMESTAMP": (timedelta(0, 5), boot)}
    )
    assert monotonic_only is not None
    assert monotonic_only.uptime == 5.0
    assert journal_record({"MESSAGE": "x", "_UDEV_DEVNODE": "/dev/mapper/vg-lv"}) == journal_record(
        {"MESSAGE": "x"}
    )


def test_journal_forged_kernel_identifier_is_not_trusted() -> None:
    # logger -t kernel 'EXT4-fs (sda1): Remounting filesystem read-only'
    forged = parse_journal_json(
        journal_entry(_TRANSPORT="syslog", SYSLOG_FACILITY="1", _KERNEL_DEVICE=None)
    )
    assert forged is not None
    assert (forged.program, forged.trusted) == ("kernel", False)
    # even claiming facility 0 over the native protocol does not help without the transport
    native = journal_record(json.loads(journal_entry(_TRANSPORT="journal")))
    assert native is not None
    assert not native.trusted
    # a userspace write to /dev/kmsg: kernel transport, but facility 1
    via_kmsg = parse_journal_json(journal_entry(SYSLOG_FACILITY="1"))
    assert via_kmsg is not None
    assert not via_kmsg.trusted
    missing = parse_journal_json(journal_entry(SYSLOG_FACILITY=None))
    assert missing is not None
    assert not missing.trusted


def test_journal_binary_message_and_multiple_values() -> None:
    raw = list(b"EXT4-fs (sd\xff1): Remounting filesystem read-only")
    record = parse_journal_json(journal_entry(MESSAGE=raw, _HOSTNAME=["a", "b"]))
    assert record is not None
    assert record.message == "EXT4-fs (sd\\xff1): Remounting filesystem read-only"
    assert record.host == "a"


def test_journal_monotonic_fallback_and_missing_fields() -> None:
    record = parse_journal_json(
        journal_entry(_SOURCE_MONOTONIC_TIMESTAMP=None, PRIORITY="x", _BOOT_ID=None)
    )
    assert record is not None
    assert (record.uptime, record.priority, record.boot_id) == (52.4, None, None)
    bare = parse_journal_json(b'{"MESSAGE": "hello"}')
    assert bare is not None
    assert (bare.program, bare.trusted, bare.uptime, bare.wall) == ("", False, None, None)


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"{",
        b"[]",
        b'{"MESSAGE": null}',
        b'{"MESSAGE": [1, 2, 300]}',
        b'{"PRIORITY": "3"}',
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"MESSAGE": "' + b"x" * 70_000 + b'"}',
    ],
)
def test_journal_malformed_entries_are_counted(line: bytes) -> None:
    stats = ParseStats()
    assert parse_journal_json(line, stats=stats) is None
    assert stats.malformed == 1


def test_journal_json_stream_pretty_and_seq() -> None:
    compact = journal_entry()
    pretty = json.dumps(json.loads(journal_entry(MESSAGE="JBD2: pretty")), indent="\t").encode()
    text = compact + b"\n" + pretty + b"\n\x1e" + journal_entry(MESSAGE="seq") + b"\nnoise\n"
    assert detect_format(text) is Format.JOURNAL_JSON
    stats = ParseStats()
    found = records(Format.JOURNAL_JSON, text, stats=stats)
    assert [r.message for r in found] == [
        "EXT4-fs (sda1): Remounting filesystem read-only",
        "JBD2: pretty",
        "seq",
    ]
    assert stats.malformed == 1
    assert detect_format(pretty) is Format.JOURNAL_JSON


# ------------------------------------------------------------------------- journal-short


def test_journal_short_variants() -> None:
    text = b"\n".join(
        [
            b"-- Logs begin at Mon 2026-11-23 10:00:00 UTC, end at Wed 2026-11-25 09:05:00 UTC. --",
            b"Nov 25 09:01:12 web01 kernel: EXT4-fs (sda1): short",
            b"Nov 25 09:01:12.123456 web01 kernel: short-precise",
            b"2026-11-25T09:01:12+0000 web01 kernel: short-iso",
            b"2026-11-25T09:01:12.123456+0100 web01 kernel: short-iso-precise",
            b"-- Boot 8c9f1d0a7c8b4b3e9d2f6a1b2c3d4e5f --",
            b"[   52.321413] web01 kernel: short-monotonic",
            b"1795597272.123456 web01 kernel: short-unix",
            b"Wed 2026-11-25 09:01:12 UTC web01 kernel: short-full",
            b"Nov 25 09:01:13 web01 systemd[1]: first line",
            b"                                   second line",
            b"-- No entries --",
        ]
    )
    assert detect_format(text) is Format.JOURNAL_SHORT
    stats = ParseStats()
    found = records(Format.JOURNAL_SHORT, text, stats=stats)
    base = epoch(2026, 11, 25, 9, 1, 12)
    assert [(r.message, r.program, r.host, r.wall, r.uptime) for r in found] == [
        ("EXT4-fs (sda1): short", "kernel", "web01", base, None),
        ("short-precise", "kernel", "web01", pytest.approx(base + 0.123456), None),
        ("short-iso", "kernel", "web01", base, None),
        ("short-iso-precise", "kernel", "web01", pytest.approx(base - 3600 + 0.123456), None),
        ("short-monotonic", "kernel", "web01", None, 52.321413),
        ("short-unix", "kernel", "web01", 1795597272.123456, None),
        ("short-full", "kernel", "web01", base, None),
        ("first line", "systemd", "web01", base + 1, None),
        ("second line", "systemd", "web01", base + 1, None),
    ]
    assert stats.malformed == 0
    assert all(r.trusted and r.source is Source.TEXT for r in found)


def test_short_monotonic_only_is_journal_not_dmesg() -> None:
    text = b"[   52.321413] web01 kernel: a\n[   52.400000] web01 kernel: usb 1-1: b\n"
    assert detect_format(text) is Format.JOURNAL_SHORT
    mixed = b"[   52.321413] usb 1-1: new device\n[   52.400000] sd 0:0:0:0: [sda] x\n"
    assert detect_format(mixed) is Format.DMESG


# -------------------------------------------------------------------------------- detect


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (b"6,1,0,-;Command line: x\n SUBSYSTEM=acpi\n", Format.KMSG),
        (b"<6>[    0.000000] Linux version 6.18\n", Format.DMESG),
        (b"Nov 25 09:01:12 web01 kernel: x\nNov 25 09:01:13 web01 sshd[1]: y\n", Format.SYSLOG),
        (b"2026-11-25T09:01:12.123456+00:00 web01 kernel: x\n", Format.SYSLOG),
        (b"<13>1 2026-11-25T09:01:12Z web01 app - - - x\n", Format.SYSLOG),
        (b"Nov 25 09:01:12.123456 web01 kernel: x\n", Format.JOURNAL_SHORT),
        (b"\xef\xbb\xbf\n\n\r\n" + journal_entry() + b"\n", Format.JOURNAL_JSON),
        (b"EXT4-fs (sda1): Remounting filesystem read-only\n", Format.DMESG),
        (b"", Format.SYSLOG),
        (b"\x00\x01\xff\xfe" * 100, Format.SYSLOG),
    ],
)
def test_detect_format(sample: bytes, expected: Format) -> None:
    assert detect_format(sample) is expected


def test_detect_format_outvotes_odd_lines() -> None:
    sample = b"garbage\n" * 3 + b"6,1,0,-;x\n" * 10 + b"Nov 25 09:01:12 h kernel: x\n" * 2
    assert detect_format(sample) is Format.KMSG


def test_detect_real_samples() -> None:
    assert detect_format((DATA / "kmsg-real.txt").read_bytes()) is Format.KMSG


# ------------------------------------------------------------------ streams and fast path


def test_keep_sees_raw_lines_before_parsing() -> None:
    seen: list[bytes] = []

    def keep(line: bytes) -> bool:
        seen.append(line)
        return b"I/O error" in line

    text = b"Nov 25 09:01:12 h kernel: boring\r\nNov 25 09:01:13 h kernel: Buffer I/O error\r\n"
    stats = ParseStats()
    found = records(Format.SYSLOG, text, keep=keep, stats=stats)
    assert seen == [
        b"Nov 25 09:01:12 h kernel: boring",
        b"Nov 25 09:01:13 h kernel: Buffer I/O error",
    ]
    assert [r.message for r in found] == ["Buffer I/O error"]
    assert (stats.lines, stats.parsed, stats.records) == (2, 1, 1)


def test_kmsg_keep_on_header_brings_its_continuation_lines() -> None:
    text = b"6,1,10,-;boring\n SUBSYSTEM=block\n3,2,20,-;I/O error, dev sda\n DEVICE=b8:0\n"
    found = records(Format.KMSG, text, keep=lambda line: b"I/O error" in line)
    assert [(r.seq, r.kernel_device) for r in found] == [(2, "b8:0")]


def sample_files() -> list[Path]:
    return sorted(DATA.glob("*.txt"))


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [1, 7, 100, 1 << 20])
def test_fast_path_matches_line_path(path: Path, chunk: int) -> None:
    text = path.read_bytes()
    fmt = detect_format(text)
    slow_stats, fast_stats = ParseStats(), ParseStats()
    slow = records(
        fmt, text, keep=lambda line: PREFILTER.search(line) is not None, stats=slow_stats
    )
    scanner = ChunkScanner(fmt, PREFILTER, reference_year=YEAR, stats=fast_stats)
    fast: list[KernelRecord] = []
    for start in range(0, len(text), chunk):
        fast.extend(scanner.feed(text[start : start + chunk]))
    fast.extend(scanner.finish())
    assert fast == slow
    assert slow
    assert (fast_stats.lines, fast_stats.records) == (slow_stats.lines, slow_stats.records)


def test_fast_path_keeps_continuation_context() -> None:
    text = (DATA / "dmesg-x.txt").read_bytes()
    found = records(Format.DMESG, text, prefilter=re.compile(rb"sdz9"))
    assert [(r.message, r.trusted) for r in found] == [
        ("rowatch-fmt-sample multi", False),
        ("EXT4-fs (sdz9): Remounting filesystem read-only", False),
    ]


def test_fast_path_parses_binary_journal_messages() -> None:
    binary = journal_entry(MESSAGE=list(b"EXT4-fs (sd\xff1): Remounting filesystem read-only"))
    text = journal_entry(MESSAGE="boring") + b"\n" + binary + b"\n"
    found = records(Format.JOURNAL_JSON, text, prefilter=PREFILTER)
    assert [r.message for r in found] == ["EXT4-fs (sd\\xff1): Remounting filesystem read-only"]
    slow = records(Format.JOURNAL_JSON, text, keep=lambda line: PREFILTER.search(line) is not None)
    assert slow == found


def test_fast_path_with_keep_and_iterable_of_lines() -> None:
    lines = [
        b"[ 1.0] Buffer I/O error on dev sda",
        b"[ 2.0] Buffer I/O error on dev sdb",
        b"[ 3.0] x",
    ]
    found = list(
        iter_records(
            lines,
            Format.DMESG,
            reference_year=YEAR,
            prefilter=PREFILTER,
            keep=lambda line: b"sdb" in line,
        )
    )
    assert [r.uptime for r in found] == [2.0]


def test_fast_searcher_finds_the_same_lines() -> None:
    searcher = fast_searcher(PREFILTER)
    text = (DATA / "dmesg-x.txt").read_bytes()
    expected = records(Format.DMESG, text, prefilter=PREFILTER)
    assert records(Format.DMESG, text, prefilter=searcher) == expected


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("fmt", list(Format))
def test_megabyte_lines_are_cut_in_bounded_time(fmt: Format, fast: bool) -> None:
    needle = b"Remounting filesystem read-only"
    huge = b"Nov 25 09:01:12 h kernel: " + needle + b"\\x01\x01" * 600_000
    text = huge + b"\n" + b"[" * 3_000_000 + b"\n6,1,2,-;" + needle + b"\n"
    stats = ParseStats()
    started = time.perf_counter()
    kwargs: dict[str, object] = {"prefilter": PREFILTER} if fast else {}
    found = records(fmt, text, stats=stats, **kwargs)
    assert time.perf_counter() - started < 5
    assert stats.truncated >= 1
    assert all(len(r.message) <= MAX_MESSAGE_CHARS for r in found)


def test_fast_path_agrees_when_the_header_match_is_past_the_line_limit() -> None:
    needle = re.compile(rb"NEEDLE")
    text = (
        b"user  :err   : [ 1.0] " + b"x" * MAX_LINE_BYTES + b"NEEDLE\n"
        b"               NEEDLE in the continuation\n[ 2.0] after\n"
    )
    slow = records(Format.DMESG, text, keep=lambda line: needle.search(line) is not None)
    assert [(r.message[:6], r.trusted) for r in slow] == [("xxxxxx", False), ("NEEDLE", False)]
    assert records(Format.DMESG, text, prefilter=needle) == slow


def test_iter_lines_cuts_without_holding_the_line() -> None:
    stats = ParseStats()
    lines = list(iter_lines(io.BytesIO(b"a" * 5_000_000 + b"\nb\r\nc"), max_line=10, stats=stats))
    assert lines == [b"a" * 10, b"b", b"c"]
    assert stats.truncated == 1


REAL = Path(__file__).parent / "data" / "real"
REAL_NAMES = sorted(path.stem for path in REAL.glob("*.kmsg"))


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_captures_read_alike_as_kmsg_and_dmesg(name: str) -> None:
    # tests/data/real: the same kernel records as raw /dev/kmsg and as dmesg printed them
    kmsg_text = (REAL / f"{name}.kmsg").read_bytes()
    dmesg_text = (REAL / f"{name}.dmesg").read_bytes()
    assert detect_format(kmsg_text) is Format.KMSG
    assert detect_format(dmesg_text) is Format.DMESG
    kmsg_stats, dmesg_stats = ParseStats(), ParseStats()
    raw = records(Format.KMSG, kmsg_text, stats=kmsg_stats)
    printed = records(Format.DMESG, dmesg_text, stats=dmesg_stats)
    assert kmsg_stats.malformed == dmesg_stats.malformed == 0
    assert [r.uptime for r in raw] == [r.uptime for r in printed]
    for kernel, shown in zip(raw, printed, strict=True):
        assert kernel.trusted == (kernel.facility == 0)
        if "\\x" not in kernel.message:  # dmesg unescapes what /dev/kmsg escapes
            assert kernel.message == shown.message
    for fmt, text in ((Format.KMSG, kmsg_text), (Format.DMESG, dmesg_text)):
        slow = records(fmt, text, keep=lambda line: PREFILTER.search(line) is not None)
        assert records(fmt, text, prefilter=PREFILTER) == slow


def test_real_fake_userspace_remount_is_untrusted() -> None:
    path = REAL / "fake-userspace-remount.kmsg"
    if not path.exists():
        pytest.skip("no tests/data/real capture")
    found = records(Format.KMSG, path.read_bytes())
    fakes = [r for r in found if "Remounting" in r.message or "forced readonly" in r.message]
    assert fakes
    assert not any(r.trusted for r in fakes)


# -------------------------------------------------------------------------------- inputs


SYSLOG_LINE = (
    b"Nov 25 09:01:12 web01 kernel: [   52.321413] "
    b"EXT4-fs (sda1): Remounting filesystem read-only\n"
)


@pytest.mark.parametrize(
    "compress",
    [lambda d: d, gzip.compress, lzma.compress, bz2.compress],
    ids=["plain", "gzip", "xz", "bzip2"],
)
def test_open_input_decompresses_by_magic(tmp_path: Path, compress: object) -> None:
    path = tmp_path / "messages.1"  # the suffix says nothing
    path.write_bytes(compress(SYSLOG_LINE * 1000))  # type: ignore[operator]
    stream, fmt = open_detected(str(path))
    with stream:
        assert fmt is Format.SYSLOG
        found = list(iter_records(stream, fmt, reference_year=YEAR, prefilter=PREFILTER))
    assert len(found) == 1000
    assert found[0].uptime == 52.321413


def test_open_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_input(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="is a directory"):
        open_input(str(tmp_path))
    (tmp_path / "log.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(InputError, match="zstd"):
        open_input(str(tmp_path / "log.zst"))
    (tmp_path / "cut.gz").write_bytes(gzip.compress(SYSLOG_LINE * 1000)[:200])
    with (
        pytest.raises(InputError, match="corrupt or truncated gzip"),
        open_input(str(tmp_path / "cut.gz")) as stream,
    ):
        list(iter_records(stream, Format.SYSLOG, reference_year=YEAR))


def test_open_input_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.log"
    path.write_bytes(b"x")
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(InputError, match="permission denied"):
            open_input(str(path))
        return
    # Root reads any file: ask as nobody, through the command an operator would run.
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root")
    tmp_path.chmod(0o755)
    done = subprocess.run(
        [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         sys.executable, "-m", "rowatch", "replay", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "permission denied" in done.stderr


def test_stdin_pipe_is_sniffed_without_losing_data(monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, write_fd = os.pipe()
    payload = gzip.compress(SYSLOG_LINE * 5000)

    def writer() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            for start in range(0, len(payload), 1000):
                pipe.write(payload[start : start + 1000])
                pipe.flush()

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, "rb") as pipe:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(pipe))
        stream, fmt = open_detected("-")
        data = stream.read()
    thread.join()
    assert fmt is Format.SYSLOG
    assert data == SYSLOG_LINE * 5000


def test_peek_sample_replays_the_sample() -> None:
    sample, stream = peek_sample(io.BufferedReader(io.BytesIO(SYSLOG_LINE * 10_000)), size=100)
    assert 0 < len(sample) <= 100
    assert stream.read() == SYSLOG_LINE * 10_000
