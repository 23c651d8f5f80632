"""A dying disk's flood through the real engine and flood control: messages stay bounded."""

from __future__ import annotations

from rowatch.config import Config
from rowatch.engine import Engine
from rowatch.flood import FloodControl
from rowatch.incident import IncidentChange
from rowatch.records import KernelRecord


def test_ten_thousand_error_lines_in_seconds_make_a_bounded_number_of_messages() -> None:
    engine = Engine()
    flood = FloodControl("db1", "db1.example.com", Config().alerts.flood_config())  # defaults
    alerts = []
    start = 1_800_000_000.0  # wall clock, as the journal source gives
    lines = [
        f"I/O error, dev sdb, sector {n} op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2"
        for n in range(5_000)
    ]
    lines += [
        f"Buffer I/O error on dev sdb1, logical block {n}, lost async page write"
        for n in range(4_998)
    ]
    lines += [
        "Aborting journal on device sdb1-8.",
        "EXT4-fs (sdb1): Remounting filesystem read-only",
    ]
    for i, line in enumerate(lines):  # 10,000 lines in 5 seconds
        now = start + i * 0.0005
        changes = [
            o for o in engine.feed(KernelRecord(line, wall=now)) if isinstance(o, IncidentChange)
        ]
        alerts += flood.feed(changes, now)
        alerts += flood.tick(now, lambda iid: None)
    # An hour later, updates are due at most every update_interval (15 min).
    for minute in range(60):
        now = start + 5 + minute * 60
        current = {i.id: engine.snapshot(i) for i in engine.open_incidents()}
        alerts += flood.tick(now, current.get)
    kinds = [a.kind.value for a in alerts]
    assert kinds.count("read_only") == 1
    # One warning: the disk's errors came seconds before anything named the filesystem, so
    # they opened an incident of their own (later folded into the filesystem's).
    assert kinds.count("opened") <= 1
    assert kinds.count("update") <= 4
    assert len(alerts) <= 5
    (page,) = [a for a in alerts if a.kind.value == "read_only"]
    assert page.incident is not None
    assert page.incident["counts"]["io_error"] == 5_000
