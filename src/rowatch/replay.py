"""``rowatch replay``: run the engine over saved logs, exactly as the daemon runs it live."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rowatch.engine import Engine, EngineConfig
from rowatch.formats import Format, ParseStats, detect_format, fast_searcher, iter_records
from rowatch.formats.stream import Searcher
from rowatch.inputs import open_input, peek_sample
from rowatch.records import KernelRecord
from rowatch.topology import Topology


@dataclass
class ReplayResult:
    """What a replay found: incidents as their JSON form, and counters."""

    incidents: list[dict[str, Any]]
    stats: dict[str, int] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)


def _file_date(path: str) -> datetime.datetime:
    """When the file was last written: syslog lines carry no year, and the file's own date
    is the best reference for it. stdin has none: then now."""
    try:
        return datetime.datetime.fromtimestamp(os.stat(path).st_mtime)
    except (OSError, ValueError, OverflowError):
        return datetime.datetime.now()


def _records(
    path: str, fmt: Format | None, year: int | None, prefilter: Searcher, stats: ParseStats
) -> tuple[Format, Iterator[KernelRecord]]:
    stream = open_input(path)
    sample, stream = peek_sample(stream)
    chosen = fmt or detect_format(sample)
    written = _file_date(path) if path != "-" else datetime.datetime.now()
    # Times printed without a zone (syslog, dmesg -T) are the local time of the machine
    # that wrote them; the best guess here is this machine's zone.
    local = datetime.datetime.now().astimezone().tzinfo
    return chosen, iter_records(
        stream,
        chosen,
        reference_year=year or written.year,
        reference_month=None if year else written.month,
        tz=local,
        prefilter=prefilter,
        stats=stats,
    )


def replay(
    paths: Iterable[str],
    *,
    fmt: Format | None = None,
    topology: Topology | None = None,
    year: int | None = None,
    config: EngineConfig | None = None,
) -> ReplayResult:
    """Feed every record of ``paths`` (in order, as one log) to one engine.

    Only lines the classifier's prefilter matches are parsed at all: the scan runs over
    large buffers (with RE2 when installed), so a million irrelevant lines cost little.
    """
    engine = Engine(topology, config)
    classifier = engine.classifier
    prefilter: Searcher = fast_searcher(classifier.prefilter_bytes)
    if prefilter is classifier.prefilter_bytes:  # no RE2: separate scans are faster in re
        prefilter = classifier.prefilter_scanner
    parse_stats = ParseStats()
    formats: dict[str, str] = {}
    for path in paths:
        chosen, records = _records(path, fmt, year, prefilter, parse_stats)
        formats[path] = chosen.value
        for record in records:
            engine.feed(record)
    engine.finish()
    stats = {
        "lines": parse_stats.lines,
        "records": engine.stats.records,
        "events": engine.stats.events,
        "rejected": engine.stats.rejected,
        "invalid_devices": engine.stats.invalid_devices,
        "malformed": parse_stats.malformed,
    }
    return ReplayResult([engine.snapshot(i) for i in engine.incidents], stats, formats)
