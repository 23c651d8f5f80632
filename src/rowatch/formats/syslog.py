"""Syslog files and journalctl's short outputs: one ``time host program: message`` a line.

Syslog (/var/log/messages, kern.log, syslog)::

    Nov 25 09:01:12 host kernel: [   52.321413] msg          RFC 3164 (inner uptime optional)
    2026-11-25T09:01:12.123456+00:00 host kernel: msg         rsyslog high precision (RFC 3339)
    <13>1 2026-11-25T09:01:12.123Z host app 42 ID [sd] msg    RFC 5424
    <4>Nov 25 09:01:12 host kernel: msg                       RFC 3164 as sent on the wire

journalctl (``Format.JOURNAL_SHORT``) adds::

    Nov 25 09:01:12.123456 host kernel: msg                   -o short-precise
    2026-11-25T09:01:12+0000 host kernel: msg                 -o short-iso, short-iso-precise
    [   52.321413] host kernel: msg                           -o short-monotonic
    1795597272.123456 host kernel: msg                        -o short-unix
    Wed 2026-11-25 09:01:12 UTC host kernel: msg              -o short-full
    -- Boot 8c9f... --                                        (skipped, like "-- No entries --")

and indents the further lines of a multi-line message under the first; they belong to it.

Times printed without a zone are read in ``tz`` (None: UTC). RFC 3164 prints no year: the
first line is in ``reference_year`` (or the year before, if ``reference_month`` is given
and the line's month is later, since a log holds no lines from the future), and a month that
goes backwards by more than one (December -> January) starts the next year. A month back by
one is taken as a line written out of order, not as a year later.

Text records are trusted: the operator chose the file. Note that in a text log a program
named ``kernel`` is only a name (``logger -t kernel`` writes one): only the JSON journal
output can tell the kernel's records apart.
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
    field_text,
    fraction,
    message_text,
    utc_offset,
    wall_clock,
)
from rowatch.records import KernelRecord, Source

_ISO = (
    rb"(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)T(?P<ih>\d\d):(?P<imi>\d\d):(?P<is>\d\d)"
    rb"(?:[.,](?P<ifr>\d{1,9}))?(?P<tz>Z|[+-]\d\d:?\d\d)?"
)
_BSD = (
    rb"(?P<mon>" + MONTH_ALTERNATION + rb") (?P<day>[ \d]?\d) (?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)"
    rb"(?:\.(?P<fr>\d{1,9}))?"
)
_SYSLOG_STAMP = re.compile(rb"(?:<(?P<pri>\d{1,3})>)?(?:" + _BSD + rb"|" + _ISO + rb") ")
_JOURNAL_STAMP = re.compile(
    rb"\[ *(?P<mono>\d{1,12}\.\d{1,9})\] "
    rb"|(?P<unix>\d{1,12}\.\d{1,9}) "
    rb"|(?:" + WEEKDAY_ALTERNATION + rb") (?P<fy>\d{4})-(?P<fmo>\d\d)-(?P<fd>\d\d)"
    rb" (?P<fh>\d\d):(?P<fmi>\d\d):(?P<fs>\d\d)(?:\.(?P<ffr>\d{1,9}))?"
    rb"(?: (?P<zone>[A-Za-z]{1,6}))? "
)
_RFC5424 = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<ts>[^ ]{1,64}) (?P<host>[^ ]{1,255}) (?P<app>[^ ]{1,48})"
    rb" [^ ]{1,128} [^ ]{1,32} "
)
_ISO_ONLY = re.compile(_ISO + rb"\Z")
# "kernel:", "multipathd[812]:", "postfix/smtpd[99]:"; the colon ends the tag.
_TAG = re.compile(rb"(?P<tag>[^\s\[\]:]{1,128})(?:\[[^\]\s]{0,32}\])?:(?: |\Z)")
# rsyslog and klogd keep the kernel's own "[   52.321413] " in front of the message.
_KERNEL_UPTIME = re.compile(rb"\[ *(\d{1,12}\.\d{1,9})\] ?")
_UTC_NAMES = frozenset((b"UTC", b"GMT", b"Z"))


class SyslogParser:
    """Parser for syslog files, and with ``journal=True`` for journalctl's short outputs."""

    def __init__(
        self,
        *,
        reference_year: int,
        reference_month: int | None = None,
        tz: tzinfo | None = None,
        journal: bool = False,
        stats: ParseStats | None = None,
    ) -> None:
        self.reference_year = reference_year
        self.reference_month = reference_month
        self.tz = tz
        self.journal = journal
        self.stats = stats if stats is not None else ParseStats()
        self._year: int | None = None
        self._month = 0  # latest month seen in the current year

    def parse_line(self, line: bytes) -> KernelRecord | None:
        """One line with its header; None for a line that has none (counted as malformed)."""
        return self._header(line[:MAX_LINE_BYTES].rstrip(b"\r\n"))

    def parse_unit(self, lines: Sequence[bytes]) -> list[KernelRecord]:
        """A header line and the indented lines journalctl printed under it."""
        records: list[KernelRecord] = []
        header: KernelRecord | None = None
        for number, raw in enumerate(lines):
            line = raw[:MAX_LINE_BYTES].rstrip(b"\r\n")
            if number > 0 and header is not None and line.startswith(CONTINUATION):
                records.append(
                    KernelRecord(
                        message=message_text(line.lstrip(b" \t")),
                        uptime=header.uptime,
                        wall=header.wall,
                        priority=header.priority,
                        facility=header.facility,
                        source=Source.TEXT,
                        program=header.program,
                        host=header.host,
                    )
                )
                continue
            header = self._header(line)
            if header is not None:
                records.append(header)
        return records

    def year_for(self, month: int) -> int:
        """The year of an RFC 3164 line of ``month``, tracking rollover through the file."""
        if self._year is None:
            late = self.reference_month is not None and month > self.reference_month
            self._year = self.reference_year - 1 if late else self.reference_year
            self._month = month
        elif month < self._month - 1:
            self._year += 1
            self._month = month
        elif month > self._month:
            self._month = month
        return self._year

    def _header(self, line: bytes) -> KernelRecord | None:
        if not line.strip() or (self.journal and line.startswith(b"-- ")):
            return None  # blank, or journalctl's "-- Boot ... --" / "-- No entries --"
        if line.startswith(b"<") and (found5424 := _RFC5424.match(line)):
            return self._rfc5424(line, found5424)
        wall = uptime = None
        facility = priority = None
        found = _SYSLOG_STAMP.match(line)
        if found is not None:
            wall = self._syslog_time(found)
            if found.group("pri") is not None:
                facility, priority = divmod(int(found.group("pri")), 8)
        elif self.journal and (found := _JOURNAL_STAMP.match(line)) is not None:
            wall, uptime = self._journal_time(found)
        else:
            self.stats.malformed += 1
            return None
        host, program, text = _host_program(line[found.end() :])
        if program == "kernel" and (inner := _KERNEL_UPTIME.match(text)) is not None:
            uptime = float(inner.group(1))
            text = text[inner.end() :]
        return KernelRecord(
            message=message_text(text),
            uptime=uptime,
            wall=wall,
            priority=priority,
            facility=facility,
            source=Source.TEXT,
            program=program,
            host=host,
        )

    def _syslog_time(self, found: re.Match[bytes]) -> float | None:
        groups = found.groupdict()
        if groups["mon"] is not None:
            month = MONTHS[groups["mon"]]
            return wall_clock(
                self.year_for(month),
                month,
                int(groups["day"]),
                int(groups["h"]),
                int(groups["mi"]),
                int(groups["s"]),
                frac=fraction(groups["fr"]),
                tz=self.tz,
            )
        return self._iso_time(groups)

    def _iso_time(self, groups: dict[str, bytes | None]) -> float | None:
        offset = utc_offset(groups["tz"])
        wall = wall_clock(
            int(groups["y"] or 0),
            int(groups["mo"] or 0),
            int(groups["d"] or 0),
            int(groups["ih"] or 0),
            int(groups["imi"] or 0),
            int(groups["is"] or 0),
            frac=fraction(groups["ifr"]),
            tz=self.tz if offset is None else None,
        )
        return wall - offset if wall is not None and offset is not None else wall

    def _journal_time(self, found: re.Match[bytes]) -> tuple[float | None, float | None]:
        groups = found.groupdict()
        if groups["mono"] is not None:
            return None, float(groups["mono"])
        if groups["unix"] is not None:
            return float(groups["unix"]), None
        zone = groups["zone"]
        wall = wall_clock(
            int(groups["fy"] or 0),
            int(groups["fmo"] or 0),
            int(groups["fd"] or 0),
            int(groups["fh"] or 0),
            int(groups["fmi"] or 0),
            int(groups["fs"] or 0),
            frac=fraction(groups["ffr"]),
            tz=None if zone in _UTC_NAMES else self.tz,
        )
        return wall, None

    def _rfc5424(self, line: bytes, found: re.Match[bytes]) -> KernelRecord:
        facility, priority = divmod(int(found.group("pri")), 8)
        stamp = _ISO_ONLY.match(found.group("ts"))
        wall = self._iso_time(stamp.groupdict()) if stamp is not None else None
        text = _skip_structured_data(line, found.end())
        if text.startswith(b"\xef\xbb\xbf"):
            text = text[3:]  # RFC 5424 marks a UTF-8 MSG with a byte order mark
        host, app = found.group("host"), found.group("app")
        return KernelRecord(
            message=message_text(text),
            wall=wall,
            priority=priority,
            facility=facility,
            source=Source.TEXT,
            program="" if app == b"-" else field_text(app),
            host=None if host == b"-" else field_text(host),
        )


def _host_program(rest: bytes) -> tuple[str | None, str, bytes]:
    """Split ``host program[pid]: message`` (host or program may be missing)."""
    tag = _TAG.match(rest)
    if tag is not None:  # "Nov 25 09:01:12 kernel: msg": no host
        return None, field_text(tag.group("tag")), rest[tag.end() :]
    host, _, after = rest.partition(b" ")
    tag = _TAG.match(after)
    if tag is None:  # "Nov 25 09:01:12 host -- MARK --": no program
        return field_text(host) or None, "", after
    return field_text(host) or None, field_text(tag.group("tag")), after[tag.end() :]


def _skip_structured_data(line: bytes, start: int) -> bytes:
    """The MSG after RFC 5424 STRUCTURED-DATA (``-`` or ``[id k="v"]...``) at ``start``."""
    if line[start : start + 1] == b"-":
        end = start + 1
    else:
        end = start
        while line[end : end + 1] == b"[":
            end += 1
            while end < len(line):
                char = line[end : end + 1]
                if char == b"\\":
                    end += 2  # \" \\ \] are escaped inside a PARAM-VALUE
                    continue
                end += 1
                if char == b"]":
                    break
    text = line[end:]
    return text[1:] if text[:1] == b" " else text
