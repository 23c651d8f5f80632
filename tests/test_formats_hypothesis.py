"""Property tests: hostile bytes never break a parser, and the fast path never changes results."""

from __future__ import annotations

import io
import json
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rowatch.formats import (
    MAX_LINE_BYTES,
    ChunkScanner,
    DmesgParser,
    Format,
    ParseStats,
    SyslogParser,
    detect_format,
    iter_lines,
    iter_records,
    parse_journal_json,
    parse_kmsg_record,
)
from rowatch.records import MAX_MESSAGE_CHARS, KernelRecord

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What clean_message() promises: no newline, no other C0 control but tab, no DEL.
UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
PREFILTER = re.compile(rb"Remounting filesystem read-only|I/O error|EXT4-fs \(|sdz|ense")

# Pieces of every format, so generated lines get past the header checks into the parsers.
HEADERS = {
    Format.KMSG: [
        b"6,1,2,-;",
        b"3,17,52321413,-;",
        b"12,18,52321413,-;",
        b"14,3,4000000,c,caller=T1;",
        b"2048,1,2,-;",
        b" SUBSYSTEM=",
        b" DEVICE=b8:",
    ],
    Format.DMESG: [
        b"<3>[   52.321413] ",
        b"<14>[ 1.0] ",
        b"kern  :err   : [ 1.0] ",
        b"user  :info  : ",
        b"[Wed Nov 25 09:01:12 2026] ",
        b"[   1.000000 <    0.000005>] ",
        b"2026-11-25T09:01:12,118682+00:00 ",
        b"                ",
    ],
    Format.SYSLOG: [
        b"Nov 25 09:01:12 host kernel: [ 1.5] ",
        b"Dec 31 23:59:59 h multipathd[1]: ",
        b"Jan  1 00:00:00 h kernel: ",
        b"Feb 30 00:00:00 h kernel: ",
        b"2026-11-25T09:01:12.5+01:00 h kernel: ",
        b'<13>1 2026-11-25T09:01:12Z h app - - [a b="c\\]"] ',
        b"<999>1 x h app - - [",
    ],
    Format.JOURNAL_SHORT: [
        b"[ 5.0] h kernel: ",
        b"1795597272.1 h kernel: ",
        b"Wed 2026-11-25 09:01:12 UTC h kernel: ",
        b"Nov 25 09:01:12.5 h kernel: ",
        b"-- Boot 0123456789abcdef0123456789abcdef --",
        b"                        ",
    ],
    Format.JOURNAL_JSON: [
        b"{",
        b"}",
        b'{"MESSAGE": "',
        b'{"MESSAGE": [69, 88, 255], "_TRANSPORT": "kernel", "SYSLOG_FACILITY": "0"}',
        b'\t"MESSAGE" : "',
        b'{"MESSAGE": [[[[',
        b"\x1e{",
        # Lone surrogates: valid JSON escapes that no UTF-8 encoder takes.
        b'{"MESSAGE": "\\udc00\\ud800 EXT4-fs (sdz1): Remounting filesystem read-only", '
        b'"_TRANSPORT": "kernel", "_HOSTNAME": "h\\ud800"}',
    ],
}
ANY_HEADER = [b"", b"  ", b"\t", *(h for hs in HEADERS.values() for h in hs)]
BODIES = [
    b"EXT4-fs (sdz1): Remounting filesystem read-only",
    b"Buffer I/O error on dev sda1",
    b"Sense Key : Medium Error",
    b"\\x0a DEVICE=b7:0",
    b"\xe2\x80\xa8\xc2\x85\x1b[31m\x7f\x00\r",
    b"\xff\xfe\xc3",
    b"\xffEXT4-fs (sdz1): I/O error",
    b'", "__REALTIME_TIMESTAMP": "99999999999999999999999"}',
    b'"}',
    b"\r",
]


def lines_of(headers: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda head, body, tail: (head + body + tail).replace(b"\n", b" "),
        st.sampled_from(headers),
        st.sampled_from(BODIES) | st.binary(max_size=24),
        st.sampled_from([b"", b'"}', b"\r"]) | st.binary(max_size=4),
    )


def journal_entries() -> st.SearchStrategy[bytes]:
    """Well-formed journal JSON entries (compact or pretty) around generated messages."""
    return st.builds(
        lambda body, transport, facility, indent: json.dumps(
            {
                "MESSAGE": body.decode("utf-8", "replace") if body[:1] != b"\xff" else list(body),
                "_TRANSPORT": transport,
                "SYSLOG_FACILITY": facility,
                "__REALTIME_TIMESTAMP": "1795597272123456",
            },
            indent=indent,
        ).encode(),
        st.sampled_from(BODIES) | st.binary(max_size=24),
        st.sampled_from(["kernel", "syslog", "journal"]),
        st.sampled_from(["0", "1", "x"]),
        st.sampled_from([None, None, None, "\t"]),
    )


def documents(fmt: Format) -> st.SearchStrategy[bytes]:
    """Mostly lines of ``fmt``, some of any format, or plain random bytes."""
    mostly = lines_of(HEADERS[fmt]) | lines_of(ANY_HEADER)
    if fmt is Format.JOURNAL_JSON:
        mostly = journal_entries() | mostly
    return st.lists(mostly, min_size=1, max_size=25).map(b"\n".join) | st.binary(max_size=2000)


document = st.sampled_from(list(Format)).flatmap(documents)
format_and_document = st.sampled_from(list(Format)).flatmap(
    lambda fmt: st.tuples(st.just(fmt), documents(fmt))
)


def check(record: KernelRecord) -> None:
    assert isinstance(record.message, str)
    assert UNSAFE.search(record.message) is None
    record.message.encode("utf-8")  # printable, loggable, mailable: no lone surrogate
    assert len(record.message) <= MAX_MESSAGE_CHARS
    for text in (record.program, record.host, record.subsystem, record.kernel_device):
        assert text is None or (UNSAFE.search(text) is None and len(text) <= 256)
        if text is not None:
            text.encode("utf-8")
    assert record.priority is None or 0 <= record.priority <= 7


def parse_all(fmt: Format, data: bytes, **kwargs: object) -> tuple[list[KernelRecord], ParseStats]:
    stats = ParseStats()
    found = list(
        iter_records(io.BytesIO(data), fmt, reference_year=2026, stats=stats, **kwargs)  # type: ignore[arg-type]
    )
    for record in found:
        check(record)
    return found, stats


@SETTINGS
@given(st.binary(max_size=4096) | document)
def test_single_record_parsers_never_raise(data: bytes) -> None:
    for parse in (parse_kmsg_record, parse_journal_json):
        record = parse(data)
        if record is not None:
            check(record)
    for record in DmesgParser().parse_unit(data.split(b"\n")):
        check(record)
    for journal in (False, True):
        parser = SyslogParser(reference_year=2026, journal=journal)
        for record in parser.parse_unit(data.split(b"\n")):
            check(record)


@SETTINGS
@given(st.binary(max_size=8192) | document)
def test_detect_format_never_raises(data: bytes) -> None:
    assert isinstance(detect_format(data), Format)


@SETTINGS
@given(format_and_document)
def test_streams_never_raise_and_yield_clean_records(case: tuple[Format, bytes]) -> None:
    fmt, data = case
    found, stats = parse_all(fmt, data)
    assert stats.records == len(found)
    parse_all(fmt, data, keep=lambda text: PREFILTER.search(text) is not None)
    parse_all(fmt, data, prefilter=PREFILTER)


@SETTINGS
@given(format_and_document, st.integers(min_value=1, max_value=300))
def test_fast_path_gives_the_line_paths_records(case: tuple[Format, bytes], chunk: int) -> None:
    fmt, data = case
    slow, slow_stats = parse_all(fmt, data, keep=lambda text: PREFILTER.search(text) is not None)
    fast_stats = ParseStats()
    scanner = ChunkScanner(fmt, PREFILTER, reference_year=2026, stats=fast_stats)
    fast: list[KernelRecord] = []
    for start in range(0, len(data), chunk):
        fast.extend(scanner.feed(data[start : start + chunk]))
    fast.extend(scanner.finish())
    event(f"{fmt.value}: {'some' if slow else 'no'} records")
    assert fast == slow
    assert (fast_stats.lines, fast_stats.records) == (slow_stats.lines, slow_stats.records)


@SETTINGS
@given(st.lists(st.binary(max_size=50).map(lambda b: b.replace(b"\n", b"")), max_size=20))
def test_iter_lines_splits_like_split(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    segments = data.split(b"\n")
    if segments[-1] == b"":
        segments.pop()  # nothing after the last newline
    expected = [text[:-1] if text.endswith(b"\r") else text for text in segments]
    assert list(iter_lines(io.BytesIO(data), max_line=MAX_LINE_BYTES)) == expected
