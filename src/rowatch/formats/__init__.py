"""Input parsers: log text or /dev/kmsg bytes in, :class:`~rowatch.records.KernelRecord` out.

Pure functions and sans-IO parsers (no file access, no clock): the caller opens files (see
:mod:`rowatch.inputs`) and supplies the year for syslog lines that print none. Hostile input
never raises: malformed lines are counted in :class:`ParseStats` and skipped, long lines are
cut before any regex sees them, and every message goes through ``records.clean_message``.
"""

from __future__ import annotations

from rowatch.formats.base import (
    MAX_JSON_BYTES,
    MAX_LINE_BYTES,
    MAX_UNIT_BYTES,
    MAX_UNIT_LINES,
    Format,
    ParseStats,
    UnitParser,
)
from rowatch.formats.detect import detect_format
from rowatch.formats.dmesg import DmesgParser
from rowatch.formats.journal import JournalJsonParser, journal_record, parse_journal_json
from rowatch.formats.kmsg import KmsgParser, parse_kmsg_record
from rowatch.formats.stream import (
    ChunkScanner,
    Searcher,
    fast_searcher,
    iter_lines,
    iter_records,
    make_parser,
)
from rowatch.formats.syslog import SyslogParser

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_LINE_BYTES",
    "MAX_UNIT_BYTES",
    "MAX_UNIT_LINES",
    "ChunkScanner",
    "DmesgParser",
    "Format",
    "JournalJsonParser",
    "KmsgParser",
    "ParseStats",
    "Searcher",
    "SyslogParser",
    "UnitParser",
    "detect_format",
    "fast_searcher",
    "iter_lines",
    "iter_records",
    "journal_record",
    "make_parser",
    "parse_journal_json",
    "parse_kmsg_record",
]
