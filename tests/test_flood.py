"""Flood control: which incident changes become alerts, and when (pure: no clock, no I/O)."""

from __future__ import annotations

import math
from typing import Any

from rowatch.alert import Alert, AlertKind
from rowatch.engine import Engine
from rowatch.flood import FloodConfig, FloodControl, SnapshotLookup
from rowatch.incident import IncidentChange, Transition
from rowatch.records import KernelRecord

T0 = 1_700_000_000.0


def snap(iid: str, outcome: str | None = None, **counts: int) -> dict[str, Any]:
    return {
        "id": iid,
        "filesystem_device": f"dev-{iid}",
        "mountpoint": f"/mnt/{iid}",
        "outcome": outcome,
        "counts": counts or {"fs_error": 1},
    }


def change(
    transition: Transition, iid: str, outcome: str | None = None, **counts: int
) -> IncidentChange:
    if transition is Transition.OUTCOME and outcome is None:
        outcome = "read_only"
    return IncidentChange(transition, iid, snap(iid, outcome, **counts))


def kinds(alerts: list[Alert]) -> list[str]:
    return [a.kind.value for a in alerts]


def test_opened_is_one_warning_threaded_on_itself() -> None:
    flood = FloodControl("db1", "db1.example.com")
    (alert,) = flood.feed([change(Transition.OPENED, "inc1")], T0)
    assert alert.kind is AlertKind.OPENED
    assert alert.id == "inc1-opened"
    assert alert.thread == alert.id
    assert alert.sequence == 0
    assert (alert.host, alert.fqdn, alert.created) == ("db1", "db1.example.com", T0)
    assert alert.incidents == (snap("inc1"),)


def test_read_only_follows_at_once_in_the_same_thread() -> None:
    flood = FloodControl("h", "h")
    opened = flood.feed([change(Transition.OPENED, "inc1")], T0)
    (page,) = flood.feed([change(Transition.OUTCOME, "inc1")], T0 + 0.5)
    assert page.kind is AlertKind.READ_ONLY
    assert page.id == "inc1-read_only"
    assert page.thread == opened[0].id
    assert page.sequence == 1
    assert page.created == T0 + 0.5


def test_opened_and_read_only_in_one_batch_is_the_page_only() -> None:
    flood = FloodControl("h", "h")
    alerts = flood.feed([change(Transition.OPENED, "inc1"), change(Transition.OUTCOME, "inc1")], T0)
    assert kinds(alerts) == ["read_only"]
    assert alerts[0].thread == alerts[0].id == "inc1-read_only"
    assert alerts[0].sequence == 0


def test_an_outcome_escalation_is_a_second_page_and_a_repeat_is_none() -> None:
    flood = FloodControl("h", "h")
    flood.feed([change(Transition.OPENED, "x")], T0)
    first = flood.feed([change(Transition.OUTCOME, "x", "read_only")], T0 + 1)
    again = flood.feed([change(Transition.OUTCOME, "x", "read_only")], T0 + 2)
    worse = flood.feed([change(Transition.OUTCOME, "x", "shutdown")], T0 + 3)
    assert [a.id for a in first + again + worse] == ["x-read_only", "x-shutdown"]


def test_pages_are_never_rate_limited_or_delayed() -> None:
    flood = FloodControl("h", "h", FloodConfig(digest_threshold=1, digest_window=600))
    alerts: list[Alert] = []
    for i in range(100):
        alerts += flood.feed([change(Transition.OUTCOME, f"fs{i}")], T0 + i * 0.001)
    assert kinds(alerts) == ["read_only"] * 100
    assert flood.tick(T0 + 601) == []


def test_twenty_filesystems_at_once_twenty_pages_and_one_digest_of_warnings() -> None:
    """A SAN outage: every filesystem reports errors, then every one goes read-only."""
    flood = FloodControl("h", "h")  # defaults: 5 warnings per 60 s
    ids = [f"fs{i:02d}" for i in range(20)]
    alerts: list[Alert] = []
    for i, iid in enumerate(ids):
        alerts += flood.feed([change(Transition.OPENED, iid)], T0 + i * 0.01)
    assert kinds(alerts) == ["opened"] * 5
    for i, iid in enumerate(ids):
        alerts += flood.feed([change(Transition.OUTCOME, iid)], T0 + 1 + i * 0.01)
    assert kinds(alerts) == ["opened"] * 5 + ["read_only"] * 20  # each page at once
    assert flood.next_deadline() == T0 + 0.05 + 60  # the first folded warning + the window
    assert flood.tick(T0 + 30) == []
    (digest,) = flood.tick(T0 + 60.05)
    assert digest.kind is AlertKind.DIGEST
    assert [i["id"] for i in digest.incidents] == ids[5:]
    # Latest state of each: they went read-only since; the digest says so.
    assert all(i["outcome"] == "read_only" for i in digest.incidents)
    assert digest.extra["read_only"] == 15
    assert digest.extra["reasons"] == dict.fromkeys(ids[5:], "opened")
    assert digest.thread is None
    assert flood.tick(T0 + 200) == []


def test_warnings_after_the_window_go_out_individually_again() -> None:
    flood = FloodControl("h", "h", FloodConfig(digest_threshold=2, digest_window=10))
    alerts: list[Alert] = []
    for i in range(4):
        alerts += flood.feed([change(Transition.OPENED, f"a{i}")], T0 + i)
    assert kinds(alerts) == ["opened", "opened"]
    assert kinds(flood.tick(T0 + 12)) == ["digest"]  # a2 folded at T0+2, window 10
    assert kinds(flood.feed([change(Transition.OPENED, "b")], T0 + 13)) == ["opened"]


def lookup(engine: Engine) -> SnapshotLookup:
    """What the daemon passes to tick(): the engine's open incidents, snapshot on demand."""
    by_id = {i.id: i for i in engine.open_incidents()}
    return lambda iid: engine.snapshot(by_id[iid]) if iid in by_id else None


def test_ten_thousand_errors_make_a_bounded_number_of_alerts() -> None:
    """The real engine on a dying disk: 10,000 kernel errors over 5 s, ticked every record."""
    for interval in (900.0, 1.0, 0.7):
        engine = Engine()
        flood = FloodControl("h", "h", FloodConfig(update_interval=interval))
        lines = ["EXT4-fs (sdb1): mounted filesystem with ordered data mode"]
        lines += [
            f"EXT4-fs error (device sdb1): ext4_find_entry:1455: inode #{i}: comm app: reading directory lblock 0"
            for i in range(10_000)
        ]
        lines.insert(50, "EXT4-fs (sdb1): Remounting filesystem read-only")
        duration = 5.0
        alerts: list[Alert] = []
        for n, line in enumerate(lines):
            now = T0 + n * duration / len(lines)
            outputs = engine.feed(KernelRecord(line, wall=now))
            alerts += flood.feed([o for o in outputs if isinstance(o, IncidentChange)], now)
            alerts += flood.tick(now, lookup(engine))
        updates = kinds(alerts).count("update")
        assert kinds(alerts)[:2] == ["opened", "read_only"]
        assert updates <= math.ceil(duration / interval)
        assert len(alerts) == 2 + updates
        if interval < duration:
            assert updates >= 1
            last = alerts[-1]
            assert last.kind is AlertKind.UPDATE
            assert last.thread == alerts[0].id
            assert last.extra["new_counts"]["fs_error"] > 0


def test_update_only_when_something_changed_and_at_most_once_per_interval() -> None:
    flood = FloodControl("h", "h", FloodConfig(update_interval=900))
    flood.feed([change(Transition.OPENED, "x", fs_error=1)], T0)
    current: dict[str, dict[str, Any]] = {"x": snap("x", fs_error=1)}
    assert flood.next_deadline() == T0 + 900
    assert flood.tick(T0 + 899, current.get) == []
    assert flood.tick(T0 + 900, current.get) == []  # nothing new: no update
    current["x"] = snap("x", fs_error=40, io_error=3)
    assert flood.tick(T0 + 930, current.get) == []  # rechecked a minute later, not before
    (update,) = flood.tick(T0 + 960, current.get)
    assert update.kind is AlertKind.UPDATE
    assert update.id == "x-update-43"
    assert update.sequence == 1
    assert update.thread == "x-opened"
    assert update.extra == {
        "since": T0,
        "new_counts": {"fs_error": 39, "io_error": 3},
        "new_events": 42,
    }
    current["x"] = snap("x", fs_error=41, io_error=3)
    assert flood.tick(T0 + 960 + 899, current.get) == []
    (again,) = flood.tick(T0 + 960 + 900, current.get)
    assert again.extra["new_counts"] == {"fs_error": 1}
    assert again.extra["since"] == T0 + 960


def test_no_update_without_a_snapshot_lookup_and_gone_incidents_are_forgotten() -> None:
    flood = FloodControl("h", "h", FloodConfig(update_interval=10))
    flood.feed([change(Transition.OPENED, "x")], T0)
    assert flood.tick(T0 + 100) == []
    assert flood.open_incidents == 1
    assert flood.tick(T0 + 100, lambda iid: None) == []  # the engine evicted it
    assert flood.open_incidents == 0
    assert flood.next_deadline() is None


def test_recovered_is_always_sent_and_closed_only_when_asked() -> None:
    flood = FloodControl("h", "h")
    flood.feed([change(Transition.OUTCOME, "x")], T0)
    (recovered,) = flood.feed([change(Transition.RECOVERED, "x")], T0 + 5)
    assert recovered.kind is AlertKind.RECOVERED
    assert recovered.id == "x-recovered"
    assert recovered.thread == "x-read_only"
    assert flood.open_incidents == 0

    flood.feed([change(Transition.OPENED, "w")], T0)
    assert flood.feed([change(Transition.CLOSED, "w")], T0 + 600) == []
    assert flood.open_incidents == 0

    closing = FloodControl("h", "h", FloodConfig(send_closed=True))
    closing.feed([change(Transition.OPENED, "w")], T0)
    (closed,) = closing.feed([change(Transition.CLOSED, "w")], T0 + 600)
    assert (closed.kind, closed.id, closed.thread) == (AlertKind.CLOSED, "w-closed", "w-opened")
    # An incident never announced has nothing to close.
    assert closing.feed([change(Transition.CLOSED, "never")], T0 + 601) == []


def test_merged_incidents_leave_the_digest_and_stop_updating() -> None:
    flood = FloodControl("h", "h", FloodConfig(digest_threshold=1, update_interval=10))
    flood.feed([change(Transition.OPENED, "fs")], T0)
    assert flood.feed([change(Transition.OPENED, "sdb")], T0 + 1) == []  # folded
    assert flood.feed([change(Transition.MERGED, "sdb")], T0 + 2) == []
    assert flood.tick(T0 + 61) == []  # the digest became empty: nothing to send
    assert flood.open_incidents == 1


def test_updates_in_a_storm_are_folded_too() -> None:
    config = FloodConfig(update_interval=100, digest_threshold=3, digest_window=60)
    flood = FloodControl("h", "h", config)
    ids = [f"fs{i}" for i in range(3)]
    current = {iid: snap(iid, fs_error=1) for iid in ids}
    for iid in ids:
        flood.feed([change(Transition.OPENED, iid)], T0)
    for iid in ids:
        current[iid] = snap(iid, fs_error=9)
    # All three are due together: the budget of the window starting at T0+100 holds three.
    assert kinds(flood.tick(T0 + 100, current.get)) == ["update"] * 3
    for iid in ids:
        current[iid] = snap(iid, fs_error=20)
    flood.feed([change(Transition.OPENED, "late")], T0 + 150)  # budget spent: folded
    assert flood.tick(T0 + 200, current.get) == []  # updates fold into the pending digest
    (digest,) = flood.tick(T0 + 210, current.get)
    assert digest.extra["reasons"] == {
        "late": "opened",
        "fs0": "update",
        "fs1": "update",
        "fs2": "update",
    }
    assert [i["counts"]["fs_error"] for i in digest.incidents[1:]] == [20, 20, 20]
    # The digest counts as the message: the next update counts from it.
    assert flood.next_deadline() == T0 + 210 + 100


def test_same_changes_same_alerts_and_a_restart_replays_the_same_ids() -> None:
    def scenario() -> list[dict[str, Any]]:
        flood = FloodControl("h", "h.example", FloodConfig(digest_threshold=2))
        out: list[Alert] = []
        for i in range(5):
            out += flood.feed([change(Transition.OPENED, f"fs{i}")], T0 + i)
        out += flood.feed([change(Transition.OUTCOME, "fs3")], T0 + 10)
        out += flood.tick(T0 + 70)
        out += flood.feed([change(Transition.RECOVERED, "fs3")], T0 + 80)
        return [a.to_json() for a in out]

    first, second = scenario(), scenario()
    assert first == second
    assert [a["id"] for a in first][:3] == ["fs0-opened", "fs1-opened", "fs3-read_only"]
    assert first[3]["kind"] == "digest"
    # A restart that sees the incident only from its outcome gives the page the same id.
    fresh = FloodControl("h", "h.example")
    (page,) = fresh.feed([change(Transition.OUTCOME, "fs3")], T0 + 999)
    assert page.id == "fs3-read_only"


def test_digest_ids_depend_on_what_the_digest_says() -> None:
    def digest_of(counts: int) -> Alert:
        flood = FloodControl("h", "h", FloodConfig(digest_threshold=1))
        flood.feed([change(Transition.OPENED, "a")], T0)
        flood.feed([change(Transition.OPENED, "b", fs_error=counts)], T0 + 1)
        (digest,) = flood.tick(T0 + 61)
        return digest

    assert digest_of(1).id == digest_of(1).id
    assert digest_of(1).id != digest_of(2).id
    assert digest_of(1).id.startswith("digest-")


def test_alerts_round_trip_through_json() -> None:
    flood = FloodControl("h", "h")
    for alert in flood.feed([change(Transition.OPENED, "x"), change(Transition.OPENED, "y")], T0):
        assert Alert.from_json(alert.to_json()) == alert


def test_update_interval_zero_sends_no_updates() -> None:
    flood = FloodControl("h", "h", FloodConfig(update_interval=0))
    flood.feed([change(Transition.OPENED, "x")], T0)
    assert flood.next_deadline() is None
    assert flood.tick(T0 + 10_000, lambda iid: snap(iid, fs_error=99)) == []


def test_an_opened_warning_followed_by_the_page_within_the_delay_is_not_sent() -> None:
    from rowatch.flood import FloodConfig, FloodControl
    from rowatch.incident import IncidentChange, Transition

    flood = FloodControl("h", "h.example", FloodConfig(opened_delay=2.0))
    warning = {"id": "i1", "outcome": None, "counts": {"fs_error": 1}, "devices": ["sda1"]}
    page = {**warning, "outcome": "read_only", "counts": {"fs_error": 1, "read_only": 1}}
    assert flood.feed([IncidentChange(Transition.OPENED, "i1", warning)], 100.0) == []
    assert flood.next_deadline() == 102.0
    alerts = flood.feed([IncidentChange(Transition.OUTCOME, "i1", page)], 100.5)
    assert [a.kind.value for a in alerts] == ["read_only"]
    assert flood.tick(103.0) == []
    # Without the page, the warning goes out when its delay is over.
    assert (
        flood.feed([IncidentChange(Transition.OPENED, "i2", {**warning, "id": "i2"})], 200.0) == []
    )
    assert flood.tick(201.0) == []
    assert [a.kind.value for a in flood.tick(202.0)] == ["opened"]
