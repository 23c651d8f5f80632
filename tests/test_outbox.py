"""The outbox: durable per-sink queue, fallback off a failing disk, idempotency, bounds.

The real-kernel versions (a state directory on ext4 that goes read-only, or fills up) are in
test_dispatch.py, where the whole path to the sink is exercised.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from rowatch.alert import Alert, AlertKind
from rowatch.outbox import Locations, Outbox, PutResult, file_name
from rowatch.state import write_atomic

T0 = 1_700_000_000.0


def alert(aid: str, kind: AlertKind = AlertKind.OPENED, created: float = T0) -> Alert:
    return Alert(
        id=aid,
        kind=kind,
        host="h",
        fqdn="h.example",
        created=created,
        incidents=({"id": aid.split("-", maxsplit=1)[0], "mountpoint": "/srv"},),
    )


class Events:
    """A Reporter that remembers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, /, **fields: Any) -> None:
        self.seen.append((event, fields))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [f for e, f in self.seen if e == event]


@pytest.fixture
def dirs(tmp_path: Path) -> list[Path]:
    return [tmp_path / "state" / "outbox", tmp_path / "run" / "outbox"]


def opened(dirs: list[Path], sink: str = "email", **kw: Any) -> Outbox:
    box = Outbox(sink, dirs, **kw)
    box.load()
    return box


def test_put_writes_one_file_per_alert_before_anything_else(dirs: list[Path]) -> None:
    box = opened(dirs)
    assert box.put(alert("a-opened")) is PutResult.QUEUED
    path = dirs[0] / "email" / "a-opened.json"
    envelope = json.loads(path.read_bytes())
    assert envelope["outbox"] == 1
    assert Alert.from_json(envelope["alert"]) == alert("a-opened")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in (dirs[0] / "email").iterdir()] == ["a-opened.json"]  # no tmp left


def test_pending_is_in_creation_order_and_survives_a_restart(dirs: list[Path]) -> None:
    box = opened(dirs)
    box.put(alert("c", created=T0 + 2))
    box.put(alert("a", created=T0))
    box.put(alert("b1", created=T0 + 1))
    box.put(alert("b2", created=T0 + 1))  # same time: put order decides
    expected = ["a", "b1", "b2", "c"]
    assert [a.id for a in box.pending()] == expected
    assert [a.id for a in opened(dirs).pending()] == expected


def test_mark_sent_deletes_and_the_journal_refuses_the_same_id_again(dirs: list[Path]) -> None:
    box = opened(dirs)
    box.put(alert("a"))
    assert box.put(alert("a")) is PutResult.PENDING
    box.mark_sent("a")
    assert box.pending() == []
    assert not (dirs[0] / "email" / "a.json").exists()
    assert json.loads((dirs[0] / "email" / "sent").read_bytes()) == ["a"]
    assert box.put(alert("a")) is PutResult.ALREADY_SENT
    # ... and after a restart, where a replayed incident produces the same alert again.
    again = opened(dirs)
    assert again.put(alert("a")) is PutResult.ALREADY_SENT
    assert again.pending() == []


def test_crash_after_the_journal_write_leaves_a_file_the_next_start_deletes(
    dirs: list[Path],
) -> None:
    box = opened(dirs)
    box.put(alert("a"))
    box.put(alert("b"))
    # Crash between journal and unlink: the journal lists "a", its file is still there.
    (dirs[0] / "email" / "sent").write_text('["a"]')
    restarted = opened(dirs)
    assert [a.id for a in restarted.pending()] == ["b"]
    assert not (dirs[0] / "email" / "a.json").exists()


def test_journal_is_bounded(dirs: list[Path]) -> None:
    box = opened(dirs, max_pending=2, journal_size=3)
    for i in range(6):
        box.put(alert(f"a{i}"))
        box.mark_sent(f"a{i}")
    assert json.loads((dirs[0] / "email" / "sent").read_bytes()) == ["a3", "a4", "a5"]


def refusing(prefix: Path, code: int) -> Any:
    """A write that fails with ``code`` under ``prefix``: a read-only or full directory."""

    def write(path: Path, data: bytes) -> None:
        if path.is_relative_to(prefix):
            raise OSError(code, "injected")
        write_atomic(path, data)

    return write


@pytest.mark.parametrize(
    "code", [errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EUCLEAN]
)
def test_a_refusing_state_directory_falls_back_to_the_runtime_directory(
    dirs: list[Path], code: int
) -> None:
    events = Events()
    box = opened(dirs, report=events, write=refusing(dirs[0], code))
    assert box.put(alert("a")) is PutResult.QUEUED
    assert box.put(alert("b")) is PutResult.QUEUED
    assert sorted(p.name for p in (dirs[1] / "email").iterdir()) == ["a.json", "b.json"]
    (fallback,) = events.named("outbox_fallback")  # said once, not per alert
    assert fallback["location"] == str(dirs[1])
    assert fallback["failed"] == str(dirs[0])
    assert fallback["reason"].endswith(os.strerror(code))
    box.mark_sent("a")
    assert json.loads((dirs[1] / "email" / "sent").read_bytes()) == ["a"]
    # The next start reads the runtime directory too: "b" is still to be sent, "a" is not.
    assert [a.id for a in opened(dirs).pending()] == ["b"]


def test_nothing_writable_keeps_alerts_in_memory_and_says_so(dirs: list[Path]) -> None:
    events = Events()
    box = opened(dirs, report=events, write=refusing(dirs[0].parent.parent, errno.EROFS))
    assert box.put(alert("a", AlertKind.READ_ONLY)) is PutResult.QUEUED
    assert [a.id for a in box.pending()] == ["a"]
    assert box.in_memory() == 1
    assert [f["location"] for f in events.named("outbox_fallback")] == [str(dirs[1]), "memory"]
    box.mark_sent("a")  # nowhere to journal: no crash
    assert box.pending() == []
    assert box.put(alert("a", AlertKind.READ_ONLY)) is PutResult.ALREADY_SENT


def test_sinks_share_one_move_off_the_failing_disk(dirs: list[Path]) -> None:
    events = Events()
    locations = Locations(dirs, events)
    write = refusing(dirs[0], errno.EROFS)
    email = Outbox("email", locations, report=events, write=write)
    hook = Outbox("webhook", locations, report=events, write=write)
    email.put(alert("a"))
    hook.put(alert("a"))
    assert len(events.named("outbox_fallback")) == 1
    assert (dirs[1] / "webhook" / "a.json").exists()


def test_an_alert_pending_in_an_abandoned_location_is_stored_again(dirs: list[Path]) -> None:
    box = opened(dirs)
    box.put(alert("a"))
    box.locations.abandon(dirs[0], "no answer within 5s")  # the disk hangs
    assert box.put(alert("a")) is PutResult.QUEUED  # a retry of the put lands in /run
    assert (dirs[1] / "email" / "a.json").exists()
    box.mark_sent("a")
    # The hanging location is never touched again: its copy stays, the journal covers it.
    assert (dirs[0] / "email" / "a.json").exists()
    assert opened(dirs).pending() == []


def test_corrupt_files_are_moved_aside_and_reported(dirs: list[Path]) -> None:
    box = opened(dirs)
    box.put(alert("good"))
    sink_dir = dirs[0] / "email"
    (sink_dir / "bad.json").write_text("{not json")
    (sink_dir / "old.json").write_text(json.dumps({"outbox": 99, "alert": {}}))
    (sink_dir / "worse.json").write_text(json.dumps({"outbox": 1, "alert": {"id": "x"}}))
    (sink_dir / ".half.json.tmp").write_text("{")
    (dirs[1] / "email").mkdir(parents=True)
    (dirs[1] / "email" / "sent").write_text("[[[")
    events = Events()
    restarted = opened(dirs, report=events)
    assert [a.id for a in restarted.pending()] == ["good"]
    corrupt = sorted(Path(f["path"]).name for f in events.named("outbox_corrupt"))
    assert corrupt == ["bad.json", "old.json", "sent", "worse.json"]
    assert sorted(p.name for p in sink_dir.iterdir()) == [
        "bad.json.corrupt",
        "good.json",
        "old.json.corrupt",
        "worse.json.corrupt",
    ]
    assert (dirs[1] / "email" / "sent.corrupt").exists()


def test_the_same_alert_in_two_locations_is_one_pending_alert(dirs: list[Path]) -> None:
    box = opened(dirs)
    box.put(alert("a"))
    (dirs[1] / "email").mkdir(parents=True)
    for name in ("a.json",):
        (dirs[1] / "email" / name).write_bytes((dirs[0] / "email" / name).read_bytes())
    restarted = opened(dirs)
    assert [a.id for a in restarted.pending()] == ["a"]
    restarted.mark_sent("a")
    assert not (dirs[0] / "email" / "a.json").exists()
    assert not (dirs[1] / "email" / "a.json").exists()


def test_full_outbox_drops_oldest_updates_first_and_a_page_only_loudly(dirs: list[Path]) -> None:
    events = Events()
    box = opened(dirs, max_pending=3, report=events)
    box.put(alert("x-update-1", AlertKind.UPDATE, T0))
    box.put(alert("x-opened", AlertKind.OPENED, T0 - 10))
    box.put(alert("x-update-2", AlertKind.UPDATE, T0 + 1))
    box.put(alert("x-read_only", AlertKind.READ_ONLY, T0 + 2))
    assert [a.id for a in box.pending()] == ["x-opened", "x-update-2", "x-read_only"]
    assert not (dirs[0] / "email" / "x-update-1.json").exists()
    assert [f["alert_id"] for f in events.named("outbox_dropped")] == ["x-update-1"]
    # A new update into a box of more useful alerts is the one dropped.
    box.put(alert("y-read_only", AlertKind.READ_ONLY, T0 + 3))
    assert box.put(alert("y-update-9", AlertKind.UPDATE, T0 + 4)) is PutResult.DROPPED
    assert [a.kind for a in box.pending()] == [
        AlertKind.OPENED,
        AlertKind.READ_ONLY,
        AlertKind.READ_ONLY,
    ]
    box.put(alert("z-read_only", AlertKind.READ_ONLY, T0 + 5))
    box.put(alert("w-read_only", AlertKind.READ_ONLY, T0 + 6))
    dropped = events.named("outbox_dropped")
    assert [(f["alert_id"], f["kind"]) for f in dropped[-2:]] == [
        ("x-opened", "opened"),
        ("x-read_only", "read_only"),
    ]
    assert "outbox full" in dropped[-1]["reason"]


def test_dead_letters_are_kept_apart_and_not_journalled(dirs: list[Path]) -> None:
    box = opened(dirs, dead_max=2)
    for name in ("a", "b", "c"):
        box.put(alert(name))
        path = box.dead_letter(name, "550 no such user", T0)
        assert path == dirs[0] / "email" / "dead" / f"{name}.json"
    assert box.pending() == []
    assert len(list((dirs[0] / "email" / "dead").iterdir())) == 2
    letter = json.loads((dirs[0] / "email" / "dead" / "c.json").read_bytes())
    assert letter["failed"] == "550 no such user"
    assert opened(dirs).pending() == []  # the dead directory is not pending
    assert box.put(alert("a")) is PutResult.QUEUED  # one more try after a restart


def test_odd_names_cannot_escape_the_outbox(dirs: list[Path]) -> None:
    box = opened(dirs, sink="../../etc")
    box.put(alert("../../passwd"))
    files = [p for p in dirs[0].rglob("*") if p.is_file()]
    assert len(files) == 1
    assert files[0].is_relative_to(dirs[0])
    assert files[0].parent.name == file_name("../../etc")
    assert [a.id for a in opened(dirs, sink="../../etc").pending()] == ["../../passwd"]
    assert file_name("webhook:hooks.example.com") == "webhook:hooks.example.com"
    assert file_name("sent") != "sent"


def test_an_unreadable_location_is_reported_not_fatal(dirs: list[Path]) -> None:
    dirs[0].mkdir(parents=True)
    (dirs[0] / "email").write_text("a file where a directory should be")
    events = Events()
    box = opened(dirs, report=events)
    assert box.pending() == []
    assert events.named("outbox_unreadable")
    assert box.put(alert("a")) is PutResult.QUEUED  # ENOTDIR / EEXIST: on to /run
    assert (dirs[1] / "email" / "a.json").exists()
