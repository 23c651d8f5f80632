"""What every input format shares: the format names, limits, counters and text helpers.

Everything here is pure: bytes in, values out. Limits are applied to raw bytes *before* any
regular expression runs, so a hostile megabyte line costs no more than a normal one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Protocol

from rowatch.records import MAX_MESSAGE_CHARS, KernelRecord, clean_message, decode_bytes


class Format(StrEnum):
    """An input format ``rowatch replay`` understands."""

    KMSG = "kmsg"  # raw /dev/kmsg records: "PRI,SEQ,USEC,FLAGS;text" plus " KEY=value" lines
    DMESG = "dmesg"  # dmesg output, plain or with -r, -x, -T, -d, --time-format iso
    SYSLOG = "syslog"  # /var/log/messages, kern.log, syslog: RFC 3164, RFC 3339, RFC 5424
    JOURNAL_JSON = "journal-json"  # journalctl -o json (also json-pretty, json-seq)
    JOURNAL_SHORT = "journal-short"  # journalctl -o short, short-iso, -precise, -monotonic


#: Longest line a parser looks at; the rest of a longer line is dropped unread. A kernel
#: record is at most 1 KiB of text, 4 KiB once /dev/kmsg escapes it as ``\xNN``; 16 KiB
#: leaves room for any header and still bounds the regex work per line.
MAX_LINE_BYTES = 16 * 1024
#: Longest journal JSON entry (one line, or one ``json-pretty`` object) that is parsed.
#: journalctl prints fields over 4 KiB as null unless ``--all``; binary fields print as
#: arrays of numbers, four characters a byte.
MAX_JSON_BYTES = 64 * 1024
#: Most continuation lines one record may have. A kernel record is at most 1 KiB, so even
#: one of newlines only has fewer lines than this, and its last line keeps its header's trust.
MAX_UNIT_LINES = 2048
#: Most bytes one record (header line plus continuation lines) may have.
MAX_UNIT_BYTES = 256 * 1024
#: Longest host, program, subsystem or device field kept.
MAX_FIELD_CHARS = 256

MONTHS: dict[bytes, int] = {
    name: number
    for number, name in enumerate(
        b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
        start=1,
    )
}
#: Regex alternation of the English month abbreviations (syslog and ctime never localise
#: them in files rowatch reads; a localised ``dmesg -T`` line is read as a plain message).
MONTH_ALTERNATION = b"|".join(MONTHS)
WEEKDAY_ALTERNATION = b"Mon|Tue|Wed|Thu|Fri|Sat|Sun"


@dataclass(slots=True)
class ParseStats:
    """Counts of what a parse saw; pass one in to learn why records are missing.

    ``lines`` is every line read, ``parsed`` the lines that reached a parser (the rest were
    skipped by ``keep`` or the prefilter), ``records`` the records produced, ``malformed``
    lines or records that did not fit the format and were skipped, ``truncated`` lines cut
    at :data:`MAX_LINE_BYTES` and continuation lines dropped past the per-record limits.
    """

    lines: int = 0
    parsed: int = 0
    records: int = 0
    malformed: int = 0
    truncated: int = 0


class UnitParser(Protocol):
    """Turns one record's lines (a header line, then its continuation lines) into records.

    Parsers may keep state between calls (the syslog year), so feed them units in file
    order. A unit whose first line is itself a continuation line has lost its header.
    """

    def parse_unit(self, lines: Sequence[bytes]) -> list[KernelRecord]:
        """Records for one unit; malformed input yields none and is counted, never raised."""
        ...


#: First bytes of a continuation line: /dev/kmsg's " KEY=value" lines, and the indented
#: second and later lines dmesg and journalctl print for a multi-line message.
CONTINUATION = (b" ", b"\t")


def message_text(raw: bytes) -> str:
    """Decode and clean a message: safe to match and print, at most MAX_MESSAGE_CHARS."""
    # A character is at most 4 bytes of UTF-8, so this cut never loses a character that
    # clean_message would keep, and decoding never sees more than it needs.
    return clean_message(decode_bytes(raw[: 4 * MAX_MESSAGE_CHARS]))


def field_text(raw: bytes, limit: int = MAX_FIELD_CHARS) -> str:
    """Decode and clean a short field (host, program, device), cut to ``limit`` characters."""
    return clean_message(decode_bytes(raw[: 4 * limit]))[:limit]


def fraction(digits: bytes | None) -> float:
    """``b"123"`` -> 0.123: the fractional seconds a timestamp printed after its dot."""
    return int(digits) / 10 ** len(digits) if digits else 0.0


def wall_clock(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    *,
    frac: float = 0.0,
    tz: tzinfo | None = None,
) -> float | None:
    """Seconds since the epoch for a broken-down time, or None if it is no real time.

    A time printed without a zone is read in ``tz``; None means UTC. ``datetime`` rejects
    what a hostile line might claim (February 30th, hour 25) instead of wrapping it.
    """
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC)
        return moment.timestamp() + frac
    except (ValueError, OverflowError):
        return None


def utc_offset(text: bytes | None) -> int | None:
    """``Z``, ``+0100``, ``-05:30`` -> offset in seconds; None if absent."""
    if not text:
        return None
    if text in (b"Z", b"z"):
        return 0
    digits = text[1:].replace(b":", b"")
    seconds = int(digits[:2]) * 3600 + int(digits[2:4]) * 60
    return -seconds if text[:1] == b"-" else seconds
