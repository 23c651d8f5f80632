"""Whole inputs: split into lines and records, and skip irrelevant lines cheaply.

Two paths give the same records:

* the line path reads lines and asks ``keep(line)`` about each raw line before any parsing;
* the fast path (``prefilter=``) hands the prefilter whole multi-megabyte buffers, so the
  regex engine, not a Python loop, walks past the irrelevant lines, and only the lines it
  matches (with their record's header and continuation lines) are split out and parsed.

A *unit* is one header line and the continuation lines after it (/dev/kmsg's ``KEY=value``
lines, dmesg's and journalctl's indented lines, a ``json-pretty`` object). Units are kept or
dropped whole: kept if any of their lines is.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import tzinfo
from typing import BinaryIO, Protocol, cast

from rowatch.formats.base import (
    CONTINUATION,
    MAX_JSON_BYTES,
    MAX_LINE_BYTES,
    MAX_UNIT_BYTES,
    MAX_UNIT_LINES,
    Format,
    ParseStats,
    UnitParser,
)
from rowatch.formats.dmesg import DmesgParser
from rowatch.formats.journal import JournalJsonParser
from rowatch.formats.kmsg import KmsgParser
from rowatch.formats.syslog import SyslogParser
from rowatch.records import KernelRecord

#: Bytes the fast path hands the prefilter at once: large enough that the per-buffer Python
#: work vanishes, small enough to stay out of the way of the page cache.
CHUNK_BYTES = 4 * 1024 * 1024
_LINE_READ_BYTES = 1024 * 1024

Keep = Callable[[bytes], bool]


class SearchMatch(Protocol):
    """What the fast path uses of a match: where it starts."""

    def start(self, group: int = 0, /) -> int:
        """Offset of the match in the searched buffer."""
        ...


class Searcher(Protocol):
    """A compiled pattern over bytes: ``re.Pattern[bytes]``, or a faster engine's (RE2)."""

    def search(self, string: bytes, pos: int = 0, endpos: int = ..., /) -> SearchMatch | None:
        """The first match in ``string[pos:endpos]``, or None."""
        ...


@dataclass(frozen=True, slots=True)
class _Spec:
    continuation: tuple[bytes, ...] = CONTINUATION
    max_line: int = MAX_LINE_BYTES
    # Lines to parse whatever the prefilter says: journal MESSAGE fields printed as byte
    # arrays (not UTF-8), whose text no byte pattern can see.
    always: re.Pattern[bytes] | None = None


_SPECS = {
    Format.KMSG: _Spec(),
    Format.DMESG: _Spec(),
    Format.SYSLOG: _Spec(),
    Format.JOURNAL_SHORT: _Spec(),
    # json-pretty: "{", tab-indented fields, "}" form one unit.
    Format.JOURNAL_JSON: _Spec(
        continuation=(*CONTINUATION, b"}"),
        max_line=MAX_JSON_BYTES,
        always=re.compile(rb'"MESSAGE" ?: ?\['),
    ),
}


def make_parser(
    fmt: Format,
    *,
    reference_year: int,
    reference_month: int | None = None,
    tz: tzinfo | None = None,
    stats: ParseStats | None = None,
) -> UnitParser:
    """A fresh parser for ``fmt``; see :func:`iter_records` for the arguments."""
    if fmt is Format.KMSG:
        return KmsgParser(stats=stats)
    if fmt is Format.DMESG:
        return DmesgParser(tz=tz, stats=stats)
    if fmt is Format.JOURNAL_JSON:
        return JournalJsonParser(stats=stats)
    return SyslogParser(
        reference_year=reference_year,
        reference_month=reference_month,
        tz=tz,
        journal=fmt is Format.JOURNAL_SHORT,
        stats=stats,
    )


def iter_records(
    stream: Iterable[bytes] | BinaryIO,
    fmt: Format,
    *,
    reference_year: int,
    reference_month: int | None = None,
    tz: tzinfo | None = None,
    keep: Keep | None = None,
    prefilter: Searcher | None = None,
    stats: ParseStats | None = None,
) -> Iterator[KernelRecord]:
    """Every record in ``stream`` (a binary file, or an iterable of lines) read as ``fmt``.

    ``reference_year`` (and optionally ``reference_month``) date syslog lines that print no
    year, e.g. from the file's mtime; ``tz`` is the zone of times printed without one (None:
    UTC). ``keep(line)`` sees each raw line (no end-of-line, at most the format's line limit)
    before any parsing; a unit none of whose lines it keeps is skipped unparsed. With
    ``prefilter``, the fast path runs it over large buffers instead and parses only the
    units of lines it matches (and ``keep``, if also given, must keep one of their lines).
    Lines are cut at the format's limit; nothing in the input makes this raise.
    """
    stats = stats if stats is not None else ParseStats()
    if prefilter is not None:
        scanner = ChunkScanner(
            fmt,
            prefilter,
            reference_year=reference_year,
            reference_month=reference_month,
            tz=tz,
            keep=keep,
            stats=stats,
        )
        for chunk in _chunks(stream):
            yield from scanner.feed(chunk)
        yield from scanner.finish()
        return
    spec = _SPECS[fmt]
    parser = make_parser(
        fmt, reference_year=reference_year, reference_month=reference_month, tz=tz, stats=stats
    )
    lines = iter_lines(stream, max_line=spec.max_line, stats=stats)
    if keep is not None and spec.always is not None:
        keep = _either(keep, spec.always)
    for unit in _units(lines, spec.continuation, keep, stats):
        stats.parsed += len(unit)
        for record in parser.parse_unit(unit):
            stats.records += 1
            yield record


def iter_lines(
    stream: Iterable[bytes] | BinaryIO,
    *,
    max_line: int = MAX_LINE_BYTES,
    stats: ParseStats | None = None,
) -> Iterator[bytes]:
    """The lines of a binary file (read in large blocks) or an iterable of lines.

    Lines come without ``\\n`` or ``\\r\\n``, cut to ``max_line`` bytes; the rest of a longer
    line is skipped without being held in memory.
    """
    read = getattr(stream, "read", None)
    if callable(read):
        yield from _read_lines(read, max_line, stats)
        return
    for item in stream:
        yield _cut(item[:-1] if item.endswith(b"\n") else item, max_line, stats)


class ChunkScanner:
    """The fast path, sans-IO: feed it raw chunks of the input, get the relevant records.

    ``prefilter.search`` runs over each buffer; for each match, the scanner takes the whole
    line, walks back to its unit's header line and forward over its continuation lines, and
    parses just that unit. A unit still open at a buffer's end is carried to the next one.
    """

    def __init__(
        self,
        fmt: Format,
        prefilter: Searcher,
        *,
        reference_year: int,
        reference_month: int | None = None,
        tz: tzinfo | None = None,
        keep: Keep | None = None,
        stats: ParseStats | None = None,
    ) -> None:
        self.stats = stats if stats is not None else ParseStats()
        self._spec = _SPECS[fmt]
        self._parser = make_parser(
            fmt,
            reference_year=reference_year,
            reference_month=reference_month,
            tz=tz,
            stats=self.stats,
        )
        self._prefilter = prefilter
        self._keep = keep
        self._carry = b""
        self._dropping = False  # inside an overlong line: skip to its end
        self._offset = 0  # input offset of the current buffer's first byte
        self._next_at = [-1, -1]  # cached next match of the prefilter and of spec.always

    def feed(self, chunk: bytes) -> list[KernelRecord]:
        """Records completed by this chunk (units that might continue wait for the next)."""
        if self._dropping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return []
            chunk = chunk[newline:]  # keep the newline: it ends the line cut short
            self._dropping = False
        buf = self._carry + chunk if self._carry else chunk
        end = buf.rfind(b"\n") + 1
        stop = self._last_unit_start(buf, end) if end else 0
        records = self._scan(buf, stop) if stop else []
        self._offset += stop
        partial = buf[end:] if end else buf
        if len(partial) > self._spec.max_line:
            self.stats.truncated += 1
            self._dropping = True
            partial = partial[: self._spec.max_line]
        self._carry = (buf[stop:end] if end else b"") + partial
        return records

    def finish(self) -> list[KernelRecord]:
        """Records left at the end of the input."""
        buf, self._carry, self._dropping = self._carry, b"", False
        if not buf:
            return []
        records = self._scan(buf if buf.endswith(b"\n") else buf + b"\n", len(buf) + 1)
        self._offset += len(buf)
        return records

    def _last_unit_start(self, buf: bytes, end: int) -> int:
        """Where the last (possibly unfinished) unit of ``buf[:end]`` starts, or ``end``."""
        cont = self._spec.continuation
        start = buf.rfind(b"\n", 0, end - 1) + 1
        floor = max(0, end - MAX_UNIT_BYTES)
        while buf.startswith(cont, start):
            if start == 0 and self._offset == 0 and end <= MAX_UNIT_BYTES:
                return 0  # the input starts with continuation lines: a unit of its own
            if start <= floor:
                return end  # a unit too long to carry: let its tail go
            start = buf.rfind(b"\n", 0, start - 1) + 1
        return start

    def _scan(self, buf: bytes, stop: int) -> list[KernelRecord]:
        stats, cont, max_line = self.stats, self._spec.continuation, self._spec.max_line
        stop = min(stop, len(buf))
        stats.lines += buf.count(b"\n", 0, stop)
        self._next_at = [-1, -1]
        records: list[KernelRecord] = []
        pos = floor = 0  # where to search next; where the last unit taken ended
        while pos < stop:
            match_at = self._next_match(buf, pos, stop)
            if match_at < 0:
                break
            newline = buf.rfind(b"\n", pos, match_at)
            line_start = pos if newline < 0 else newline + 1
            end = _line_end(buf, match_at, stop)
            if match_at - line_start >= max_line:
                pos = end  # the match lies past what a parser would see of the line
                continue
            while end < stop and buf.startswith(cont, end):
                end = _line_end(buf, end, stop)
            start = self._unit_start(buf, line_start, floor)
            pos = floor = end
            if start < 0:
                stats.malformed += 1  # a continuation line whose header is out of reach
                continue
            records.extend(self._parse(buf[start:end].split(b"\n")[:-1]))
        return records

    def _next_match(self, buf: bytes, pos: int, stop: int) -> int:
        """Offset of the next candidate at or after ``pos``, or -1; searches are cached."""
        searchers = (self._prefilter, self._spec.always)
        best = -1
        for index, searcher in enumerate(searchers):
            if searcher is None:
                continue
            at = self._next_at[index]
            if at != stop and at < pos:
                found = searcher.search(buf, pos, stop)
                at = self._next_at[index] = found.start() if found is not None else stop
            if at < stop and (best < 0 or at < best):
                best = at
        return best

    def _unit_start(self, buf: bytes, line_start: int, floor: int) -> int:
        """Start of the header line of the unit holding ``line_start``, or -1 if lost."""
        cont = self._spec.continuation
        start = line_start
        limit = max(floor, line_start - MAX_UNIT_BYTES)
        while buf.startswith(cont, start):
            if start <= limit:
                # Only the very first line of the input may be a unit without a header.
                return 0 if start == 0 and self._offset == 0 else -1
            start = buf.rfind(b"\n", 0, start - 1) + 1
        return start

    def _parse(self, lines: list[bytes]) -> list[KernelRecord]:
        max_line, stats = self._spec.max_line, self.stats
        if len(lines) > MAX_UNIT_LINES:
            stats.truncated += len(lines) - MAX_UNIT_LINES
            del lines[MAX_UNIT_LINES:]
        for index, line in enumerate(lines):
            lines[index] = _cut(line, max_line, stats)
        if self._keep is not None and not any(self._keep(line) for line in lines):
            return []
        stats.parsed += len(lines)
        records = self._parser.parse_unit(lines)
        stats.records += len(records)
        return records


def fast_searcher(pattern: re.Pattern[bytes]) -> Searcher:
    """``pattern`` compiled by RE2 when the ``google-re2`` package is installed, else itself.

    Python's ``re`` tries an alternation of many literals at nearly every byte; RE2 runs a
    DFA and scans about as fast as ``grep``. Patterns RE2 cannot compile (backreferences,
    lookaround) and patterns with flags are returned unchanged.
    """
    if pattern.flags & ~re.ASCII:
        return pattern
    try:
        re2 = importlib.import_module("re2")
    except ImportError:
        return pattern
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # one byte, one character, as in re
    options.never_capture = True  # only where a match starts is used
    options.log_errors = False  # a pattern RE2 rejects is no error here: re takes it
    try:
        return cast(Searcher, re2.compile(pattern.pattern, options=options))
    except (re2.error, ValueError, TypeError):
        return pattern


def _line_end(buf: bytes, at: int, stop: int) -> int:
    """Offset just past the newline ending the line that holds ``at`` (at most ``stop``)."""
    newline = buf.find(b"\n", at, stop)
    return stop if newline < 0 else newline + 1


def _cut(line: bytes, max_line: int, stats: ParseStats | None) -> bytes:
    if len(line) > max_line:
        if stats is not None:
            stats.truncated += 1
        line = line[:max_line]
    return line[:-1] if line.endswith(b"\r") else line


def _either(keep: Keep, always: re.Pattern[bytes]) -> Keep:
    return lambda line: keep(line) or always.search(line) is not None


def _units(
    lines: Iterable[bytes], cont: tuple[bytes, ...], keep: Keep | None, stats: ParseStats
) -> Iterator[list[bytes]]:
    """Group lines into units; yield the units ``keep`` keeps a line of (all if None)."""
    unit: list[bytes] = []
    kept = False
    size = 0
    for line in lines:
        stats.lines += 1
        if unit and line.startswith(cont):
            if len(unit) >= MAX_UNIT_LINES or size >= MAX_UNIT_BYTES:
                stats.truncated += 1
                continue
            unit.append(line)
            size += len(line)
            if not kept and keep is not None:
                kept = keep(line)
            continue
        if unit and kept:
            yield unit
        unit = [line] if line else []
        size = len(line)
        kept = keep is None or (bool(line) and keep(line))
    if unit and kept:
        yield unit


def _read_lines(
    read: Callable[[int], bytes | None], max_line: int, stats: ParseStats | None
) -> Iterator[bytes]:
    carry = b""
    dropping = False  # inside an overlong line: its first max_line bytes are in carry
    while chunk := read(_LINE_READ_BYTES):
        if dropping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            yield _cut(carry, max_line, None)
            carry, chunk, dropping = b"", chunk[newline + 1 :], False
        lines = (carry + chunk if carry else chunk).split(b"\n")
        carry = lines.pop()
        for line in lines:
            yield _cut(line, max_line, stats)
        if len(carry) > max_line:
            if stats is not None:
                stats.truncated += 1
            carry, dropping = carry[:max_line], True
    if carry:
        yield _cut(carry, max_line, None if dropping else stats)


def _chunks(stream: Iterable[bytes] | BinaryIO) -> Iterator[bytes]:
    """Large raw chunks of a binary file, or an iterable of lines batched into chunks."""
    read = getattr(stream, "read", None)
    if callable(read):
        while chunk := read(CHUNK_BYTES):
            yield chunk
        return
    batch: list[bytes] = []
    size = 0
    for line in stream:
        batch.append(line if line.endswith(b"\n") else line + b"\n")
        size += len(line)
        if size >= CHUNK_BYTES:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)
