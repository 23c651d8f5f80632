"""Output of util-linux ``dmesg``, in the variants people save and attach to tickets.

::

    [   52.321413] msg                          dmesg
    <3>[   52.321413] msg                       dmesg -r   (raw PRI = facility << 3 | level)
    kern  :err   : [   52.321413] msg          dmesg -x   (facility and level by name)
    [Wed Nov 25 09:01:12 2026] msg              dmesg -T   (wall clock, no uptime)
    [   52.321413 <    0.000005>] msg           dmesg -d   (delta to the previous line)
    2026-11-25T09:01:12,321413+00:00 msg        dmesg --time-format iso
    kern  :err   : msg                          dmesg -x -t

dmesg prints the second and later lines of a multi-line record indented under the first.
Such a line carries no prefix of its own, so it takes its header's priority, facility and
trust: userspace can write one /dev/kmsg record "x\\nEXT4-fs (sda1): Remounting filesystem
read-only", and under ``-x`` only the header shows it came from ``user``.

Caution with ``-r``: util-linux until its 2023 fix (Debian 12 ships 2.38.1) prints
``LOG_MAKEPRI(facility, level)`` with an unshifted facility when it reads /dev/kmsg, so
``user.info`` shows as ``<7>`` and every record with a facility below 8 looks like the
kernel's. ``dmesg -x`` and ``dmesg -S -r`` print the truth; prefer them when trust matters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import tzinfo

from rowatch.formats.base import (
    CONTINUATION,
    MAX_LINE_BYTES,
    MONTH_ALTERNATION,
    MONTHS,
    WEEKDAY_ALTERNATION,
    ParseStats,
    fraction,
    message_text,
    utc_offset,
    wall_clock,
)
from rowatch.records import KERNEL_FACILITY, KernelRecord, Source

#: util-linux's names, indexed by facility and level number (sys-utils/dmesg.c).
FACILITY_NAMES = tuple(
    b"kern user mail daemon auth syslog lpr news uucp cron authpriv ftp res0 res1 res2 res3 "
    b"local0 local1 local2 local3 local4 local5 local6 local7".split()
)
LEVEL_NAMES = tuple(b"emerg alert crit err warn notice info debug".split())

_LINE = re.compile(
    rb"(?:<(?P<pri>\d{1,4})>)?"
    rb"(?:(?P<fac>" + b"|".join(FACILITY_NAMES) + rb") *:"
    rb"(?P<lvl>" + b"|".join(LEVEL_NAMES) + rb") *: )?"
    rb"(?:\[ *(?P<up>\d{1,12}\.\d{1,9})(?: *< *\d{1,12}\.\d{1,9}>)?\]"
    rb"|\[(?:" + WEEKDAY_ALTERNATION + rb") (?P<mon>" + MONTH_ALTERNATION + rb") (?P<day>[ \d]?\d)"
    rb" (?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d) (?P<y>\d{4})\]"
    rb"|(?P<iy>\d{4})-(?P<imo>\d\d)-(?P<id>\d\d)T(?P<ih>\d\d):(?P<imi>\d\d):(?P<is>\d\d)"
    rb",(?P<ifr>\d{6})(?P<itz>[+-]\d\d:?\d\d)"
    rb")?"
)
_MAX_PRI = (255 << 3) | 7


class DmesgParser:
    """Parser for dmesg output. ``tz`` is the zone ``dmesg -T`` printed in (None: UTC)."""

    def __init__(self, *, tz: tzinfo | None = None, stats: ParseStats | None = None) -> None:
        self.tz = tz
        self.stats = stats if stats is not None else ParseStats()

    def parse_line(self, line: bytes) -> KernelRecord | None:
        """One line on its own; a line without any prefix is a plain, trusted message."""
        line = line[:MAX_LINE_BYTES].rstrip(b"\r\n")
        return self._header(line) if line.strip() else None

    def parse_unit(self, lines: Sequence[bytes]) -> list[KernelRecord]:
        """A line and the indented lines dmesg printed under it for the same record."""
        records: list[KernelRecord] = []
        header: KernelRecord | None = None
        for number, raw in enumerate(lines):
            line = raw[:MAX_LINE_BYTES].rstrip(b"\r\n")
            if not line.strip():
                continue
            if number == 0 or not line.startswith(CONTINUATION) or header is None:
                header = self._header(line)
                records.append(header)
                continue
            records.append(
                KernelRecord(
                    message=message_text(line.lstrip(b" \t")),
                    priority=header.priority,
                    facility=header.facility,
                    trusted=header.trusted,
                    source=Source.TEXT,
                )
            )
        return records

    def _header(self, line: bytes) -> KernelRecord:
        found = _LINE.match(line)
        if found is None or found.end() == 0:
            # No prefix at all (dmesg -t, or a line pasted on its own): the operator chose
            # the file, so it is taken as the kernel's.
            return KernelRecord(
                message=message_text(line.lstrip(b" \t")), facility=None, source=Source.TEXT
            )
        groups = found.groupdict()
        priority = facility = None
        trusted = True
        if groups["fac"] is not None:
            facility = FACILITY_NAMES.index(groups["fac"])
            priority = LEVEL_NAMES.index(groups["lvl"])
            trusted = facility == KERNEL_FACILITY
        elif groups["pri"] is not None:
            pri = int(groups["pri"])
            if pri <= _MAX_PRI:
                facility, priority = pri >> 3, pri & 7
            trusted = facility == KERNEL_FACILITY
        uptime = float(groups["up"]) if groups["up"] is not None else None
        wall = None
        if groups["mon"] is not None:
            wall = wall_clock(
                int(groups["y"]),
                MONTHS[groups["mon"]],
                int(groups["day"]),
                int(groups["h"]),
                int(groups["mi"]),
                int(groups["s"]),
                tz=self.tz,
            )
        elif groups["iy"] is not None:
            wall = wall_clock(
                int(groups["iy"]),
                int(groups["imo"]),
                int(groups["id"]),
                int(groups["ih"]),
                int(groups["imi"]),
                int(groups["is"]),
                frac=fraction(groups["ifr"]),
            )
            offset = utc_offset(groups["itz"])
            if wall is not None and offset is not None:
                wall -= offset
        text = line[found.end() :]
        return KernelRecord(
            message=message_text(text[1:] if text[:1] == b" " else text),
            uptime=uptime,
            wall=wall,
            priority=priority,
            facility=facility,
            trusted=trusted,
            source=Source.TEXT,
        )
