"""``rowatch replay``: run the engine over saved logs, exactly as the daemon runs it live."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rowatch.engine import Engine, EngineConfig
from rowatch.formats import Format, detect_format, iter_records
from rowatch.inputs import open_input, peek_sample
from rowatch.records import KernelRecord
from rowatch.topology import Topology


@dataclass
class ReplayResult:
    """What a replay found: incidents as their JSON form, and counters."""

    incidents: list[dict[str, Any]]
    stats: dict[str, int] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)


def _records(path: str, fmt: Format | None, year: int,
             keep: Callable[[bytes], bool]) -> tuple[Format, Iterator[KernelRecord]]:
    stream = open_input(path)
    sample, stream = peek_sample(stream)
    chosen = fmt or detect_format(sample)
    return chosen, iter_records(stream, chosen, reference_year=year, keep=keep)


def replay(paths: Iterable[str], *, fmt: Format | None = None, topology: Topology | None = None,
           year: int | None = None, config: EngineConfig | None = None) -> ReplayResult:
    """Feed every record of ``paths`` (in order, as one log) to one engine."""
    engine = Engine(topology, config)
    prefilter = engine.classifier.prefilter_bytes

    def keep(line: bytes) -> bool:
        return prefilter.search(line) is not None

    formats: dict[str, str] = {}
    reference_year = year or datetime.datetime.now().year
    for path in paths:
        chosen, records = _records(path, fmt, reference_year, keep)
        formats[path] = chosen.value
        for record in records:
            engine.feed(record)
    engine.finish()
    stats = {
        "records": engine.stats.records,
        "events": engine.stats.events,
        "rejected": engine.stats.rejected,
        "invalid_devices": engine.stats.invalid_devices,
    }
    return ReplayResult([engine.snapshot(i) for i in engine.incidents], stats, formats)
