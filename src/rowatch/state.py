"""What the daemon must remember across a restart, kept where it can still be written.

The state directory may sit on the very filesystem that just went read-only. So every write
is atomic (temporary file, fsync, rename, fsync of the directory) and, when the preferred
directory refuses writes (read-only, full, gone), the store moves to the runtime directory
(tmpfs under /run) and then to memory, and says so: the daemon keeps working either way.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_VERSION = 1
STATE_FILE = "state.json"


def temporary_path(path: Path) -> Path:
    """Where :func:`write_atomic` in this thread writes ``path`` before renaming it: the
    thread's own, so a write abandoned as hung (still in the kernel) and the next one never
    share it."""
    return path.with_name(f".{path.name}.{threading.get_ident()}.tmp")


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or the new file, never half."""
    tmp = temporary_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # exactly ``mode``: the service's UMask=0077 must not narrow it
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass
class State:
    """The remembered facts: alerts already given this boot, and where the journal was."""

    boot_id: str
    alerted: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal_cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "boot_id": self.boot_id,
            "alerted": self.alerted,
            "journal_cursor": self.journal_cursor,
            # Which copy is newest, when the state moved between directories.
            "written": time.time(),
        }

    @classmethod
    def from_json(cls, data: object, boot_id: str) -> State:
        """Read a saved state; what belongs to another boot (or is malformed) is dropped."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return cls(boot_id)
        cursor = data.get("journal_cursor")
        state = cls(boot_id, journal_cursor=cursor if isinstance(cursor, str) else None)
        alerted = data.get("alerted")
        if data.get("boot_id") == boot_id and isinstance(alerted, dict):
            state.alerted = {
                k: v for k, v in alerted.items() if isinstance(k, str) and isinstance(v, dict)
            }
        return state


def alert_key(boot_id: str, device: str | None, outcome: str | None) -> str:
    """One alert per filesystem device and outcome per boot: a restart must not repeat it."""
    return f"{boot_id}|{device or '?'}|{outcome or 'warning'}"


class StateStore:
    """Loads and saves :class:`State`, falling back from directory to directory to memory.

    Changes are made in memory (:meth:`mark_alerted`, :meth:`forget`,
    :meth:`set_journal_cursor`) and persisted by :meth:`save`, or in steps by the daemon:
    :meth:`encode` on its event loop, :meth:`write_to` in a thread with a time limit (an
    fsync on the failing disk can hang), :meth:`give_up` when a directory refuses (any
    ``OSError``: read-only, full, gone, EIO, EUCLEAN from a corrupt filesystem) or does not
    answer in time.
    """

    def __init__(
        self,
        directories: list[Path],
        boot_id: str,
        on_fallback: Callable[[str, str], None] | None = None,
    ) -> None:
        self._candidates = list(directories)
        self._on_fallback = on_fallback or (lambda where, why: None)
        self.location: Path | None = None  # None: memory only
        self.state = State(boot_id)
        self._load(boot_id)

    def _load(self, boot_id: str) -> None:
        """The newest copy: after a fallback the runtime directory's is newer than what a
        write abandoned as hung left in the state directory."""
        newest = -1.0
        for directory in self._candidates:
            path = directory / STATE_FILE
            try:
                data = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue  # missing, unreadable or corrupt: the other copies, or a fresh start
            written = data.get("written") if isinstance(data, dict) else None
            when = float(written) if isinstance(written, int | float) else 0.0
            if when > newest:
                newest = when
                self.state = State.from_json(data, boot_id)
        self.location = self._candidates[0] if self._candidates else None

    def encode(self) -> bytes:
        """The state as it will be written (call where the state is changed)."""
        return json.dumps(self.state.to_json(), sort_keys=True).encode()

    @staticmethod
    def write_to(location: Path, data: bytes) -> None:
        """Write ``data`` as the state file in ``location``; raises ``OSError``. Safe in a
        thread: it touches nothing but the files."""
        location.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(location / STATE_FILE, data)

    def give_up(self, location: Path, reason: str) -> tuple[str, str] | None:
        """``location`` refused a write or did not answer: use the next one. Returns
        ``(now writing to, why)`` to report, or None when the store had moved on already."""
        if self.location != location:
            return None
        index = self._candidates.index(location)
        self.location = self._candidates[index + 1] if index + 1 < len(self._candidates) else None
        return str(self.location or "memory"), f"{location}: {reason}"

    def save(self) -> None:
        """Encode and write now, here, moving on from directories that refuse."""
        data = self.encode()
        while self.location is not None:
            location = self.location
            try:
                self.write_to(location, data)
                return
            except OSError as exc:
                moved = self.give_up(location, exc.strerror or repr(exc))
                if moved is not None:
                    self._on_fallback(*moved)

    # ------------------------------------------------------------------ alerts
    def already_alerted(self, key: str) -> bool:
        return key in self.state.alerted

    def alerted(self, key: str) -> dict[str, Any] | None:
        """What was recorded when the alert for ``key`` was stored, if it was."""
        return self.state.alerted.get(key)

    def mark_alerted(self, key: str, incident_id: str, wall: float, thread: str) -> None:
        """The alert for ``key`` is stored for delivery; ``thread`` is its thread's first
        message, so a later message about the incident threads under it after a restart."""
        self.state.alerted[key] = {"incident_id": incident_id, "at": wall, "thread": thread}

    def forget(self, key_prefix: str, incident_id: str | None = None) -> bool:
        """A filesystem recovered (or its incident ended): a new failure is a new alert.
        With ``incident_id``, only what was alerted for that incident. True if any went."""
        gone = [
            k
            for k, v in self.state.alerted.items()
            if k.startswith(key_prefix)
            and (incident_id is None or v.get("incident_id") == incident_id)
        ]
        for key in gone:
            del self.state.alerted[key]
        return bool(gone)

    @property
    def journal_cursor(self) -> str | None:
        return self.state.journal_cursor

    def set_journal_cursor(self, cursor: str) -> None:
        self.state.journal_cursor = cursor
