"""The state store: what a restart must remember, kept wherever it can still be written."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from rowatch.state import STATE_FILE, StateStore, alert_key


def store(tmp_path: Path) -> tuple[StateStore, list[tuple[str, str]]]:
    moves: list[tuple[str, str]] = []
    state = StateStore(
        [tmp_path / "state", tmp_path / "run"], "boot1", on_fallback=lambda *m: moves.append(m)
    )
    return state, moves


def test_an_alert_marked_and_saved_is_remembered_after_a_restart(tmp_path: Path) -> None:
    state, _ = store(tmp_path)
    key = alert_key("boot1", "sda1", "read_only")
    state.mark_alerted(key, "abc", 1.0, "abc-read_only")
    state.save()
    again, _ = store(tmp_path)
    assert again.alerted(key) == {"incident_id": "abc", "at": 1.0, "thread": "abc-read_only"}
    other_boot = StateStore([tmp_path / "state"], "boot2")
    assert not other_boot.already_alerted(key)  # a reboot forgets


@pytest.mark.parametrize("code", [errno.EUCLEAN, errno.EROFS, errno.EIO, errno.ENOSPC])
def test_any_error_of_a_directory_moves_the_state_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    state, moves = store(tmp_path)
    real = StateStore.write_to

    def failing(location: Path, data: bytes) -> None:
        if location == tmp_path / "state":
            raise OSError(code, "injected")
        real(location, data)

    monkeypatch.setattr(StateStore, "write_to", staticmethod(failing))
    state.save()  # never raises: a corrupt state disk (EUCLEAN) must not stop alerting
    assert state.location == tmp_path / "run"
    assert moves == [(str(tmp_path / "run"), f"{tmp_path / 'state'}: injected")]
    assert json.loads((tmp_path / "run" / STATE_FILE).read_bytes())["boot_id"] == "boot1"


def test_a_directory_given_up_once_is_not_given_up_twice(tmp_path: Path) -> None:
    state, _ = store(tmp_path)
    assert state.give_up(tmp_path / "state", "no answer") == (
        str(tmp_path / "run"),
        f"{tmp_path / 'state'}: no answer",
    )
    # A late failure of the first write (a thread that finally came back) changes nothing.
    assert state.give_up(tmp_path / "state", "EIO") is None
    assert state.give_up(tmp_path / "run", "ENOSPC") == ("memory", f"{tmp_path / 'run'}: ENOSPC")
    state.save()  # memory only: nothing to write, nothing raised
    assert state.location is None


def test_forget_by_incident_keeps_what_another_incident_alerted(tmp_path: Path) -> None:
    state, _ = store(tmp_path)
    old = alert_key("boot1", "loop1", None)
    page = alert_key("boot1", "loop1", "read_only")
    state.mark_alerted(old, "first", 1.0, "first-opened")
    state.mark_alerted(page, "second", 2.0, "second-read_only")
    assert state.forget("boot1|loop1|", "first")
    assert not state.already_alerted(old) and state.already_alerted(page)
    assert not state.forget("boot1|loop1|", "first")
    assert state.forget("boot1|loop1|")
    assert not state.already_alerted(page)


def test_the_newest_copy_wins_after_a_fallback(tmp_path: Path) -> None:
    """A write abandoned as hung may land in the state directory after the runtime
    directory got newer state: the next start reads the newer."""
    state, _ = store(tmp_path)
    key = alert_key("boot1", "sda1", "read_only")
    state.write_to(tmp_path / "run", state.encode())  # older: nothing alerted yet
    state.mark_alerted(key, "abc", 1.0, "abc-read_only")
    newer = state.encode()
    old = json.loads((tmp_path / "run" / STATE_FILE).read_bytes())
    (tmp_path / "run" / STATE_FILE).write_bytes(newer)
    stale = {**old, "written": old["written"] - 60}
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / STATE_FILE).write_text(json.dumps(stale))
    again, _ = store(tmp_path)
    assert again.alerted(key) is not None
