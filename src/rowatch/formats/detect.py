"""Guess an input's format from its first lines."""

from __future__ import annotations

import re

from rowatch.formats.base import MONTH_ALTERNATION, WEEKDAY_ALTERNATION, Format
from rowatch.formats.dmesg import FACILITY_NAMES, LEVEL_NAMES

#: Lines looked at; enough to outvote a few odd ones, few enough to stay instant.
SAMPLE_LINES = 64
_LINE_LIMIT = 4096

_KMSG = re.compile(rb"\d{1,4},\d{1,20},\d{1,20},[^,;]{0,16}[,;]")
_KMSG_KEY = re.compile(rb" [A-Z_]{1,32}=")
_JSON = re.compile(rb'\x1e?\{\s*"(?:__CURSOR|__REALTIME_TIMESTAMP|MESSAGE|_[A-Z_]+)"')
_JSON_PRETTY_FIELD = re.compile(rb'\s+"(?:__CURSOR|__REALTIME_TIMESTAMP)" : "')
_DMESG = re.compile(
    rb"(?:<\d{1,4}>)?(?:\[ *\d{1,12}\.\d{6}(?: *<[ \d.]+>)?\] "
    rb"|\[(?:%b) (?:%b) [ \d]?\d \d\d:\d\d:\d\d \d{4}\] "
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{6}[+-]\d\d:\d\d "
    rb"|(?:%b) *:(?:%b) *: )"
    % (WEEKDAY_ALTERNATION, MONTH_ALTERNATION, b"|".join(FACILITY_NAMES), b"|".join(LEVEL_NAMES))
)
_MONOTONIC = re.compile(
    rb"\[ *\d{1,12}\.\d{6}\] (?P<host>\S+) (?P<tag>[^\s\[\]:]+)(?P<pid>\[\d+\])?: "
)
# "Nov 25 09:01:12 host prog:" and rsyslog's "2026-11-25T09:01:12.123456+00:00 host prog:"
_SYSLOG = re.compile(
    rb"(?:<\d{1,3}>)?(?:(?:" + MONTH_ALTERNATION + rb") [ \d]?\d \d\d:\d\d:\d\d"
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) \S+ "
    rb"|<\d{1,3}>1 \S+ \S+ "
)
# What only journalctl prints: its markers, short-precise, short-iso's "+0000", short-unix,
# short-full.
_JOURNAL_ONLY = re.compile(
    rb"-- (?:Boot [0-9a-f]{32} --|Logs begin at |Journal begins at |No entries --|Reboot --)"
    rb"|(?:" + MONTH_ALTERNATION + rb") [ \d]?\d \d\d:\d\d:\d\d\.\d{6} \S+ "
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?[+-]\d{4} \S+ "
    rb"|\d{9,11}\.\d{6} \S+ \S+: "
    rb"|(?:" + WEEKDAY_ALTERNATION + rb") \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Za-z]{1,6})? \S+ "
)
_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
# Ties go to the earlier format; plain syslog beats journal-short when nothing says journal.
_ORDER = (Format.KMSG, Format.JOURNAL_JSON, Format.DMESG, Format.SYSLOG, Format.JOURNAL_SHORT)


def detect_format(sample: bytes) -> Format:
    """The format the first non-empty lines of ``sample`` score best for.

    Each line that looks like a format counts for it. Lines like ``[ 5.1] host prog: msg``
    count for journal-short (``-o short-monotonic``) instead of dmesg when nearly all of them
    name the same host and one names ``kernel`` or a ``prog[pid]``. Text that no format
    recognises is read as dmesg (one plain message a line); an empty or unreadable sample
    gives syslog. Never raises.
    """
    scores = dict.fromkeys(_ORDER, 0)
    monotonic_hosts: set[bytes] = set()
    monotonic_lines = stamped_lines = text_lines = 0
    program_seen = False
    for line in _sample_lines(sample):
        if _KMSG.match(line) or _KMSG_KEY.match(line):
            scores[Format.KMSG] += 1
        if _JSON.match(line) or _JSON_PRETTY_FIELD.match(line) or line in (b"{", b"}"):
            scores[Format.JOURNAL_JSON] += 1
        if _DMESG.match(line):
            scores[Format.DMESG] += 1
            stamped_lines += 1
            if found := _MONOTONIC.match(line):
                monotonic_hosts.add(found.group("host"))
                monotonic_lines += 1
                program_seen |= found.group("tag") == b"kernel" or found.group("pid") is not None
        if _SYSLOG.match(line):
            scores[Format.SYSLOG] += 1
            scores[Format.JOURNAL_SHORT] += 1
        if _JOURNAL_ONLY.match(line):
            scores[Format.JOURNAL_SHORT] += 2
        if _is_text(line):
            text_lines += 1
    # "[ 5.1] EXT4-fs (sda1): x" fits "host prog:" too; journalctl's lines all do, name one
    # host, and somewhere a "kernel:" or a "prog[pid]:".
    if (
        program_seen
        and len(monotonic_hosts) == 1
        and monotonic_lines >= 2
        and 5 * monotonic_lines >= 4 * stamped_lines
    ):
        scores[Format.JOURNAL_SHORT] += 2 * monotonic_lines
    best = max(_ORDER, key=lambda fmt: scores[fmt])  # max() keeps the first of equals
    if scores[best] == 0:
        return Format.DMESG if text_lines else Format.SYSLOG
    return best


def _sample_lines(sample: bytes) -> list[bytes]:
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    lines: list[bytes] = []
    for raw in sample.split(b"\n", 4 * SAMPLE_LINES)[: 4 * SAMPLE_LINES]:
        line = raw[:_LINE_LIMIT].rstrip(b"\r")
        if line.strip():
            lines.append(line)
            if len(lines) == SAMPLE_LINES:
                break
    return lines


def _is_text(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(line) is None
