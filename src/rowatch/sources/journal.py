"""The kernel's records as journald stored them, read with systemd-python's ``Reader``.

journald reads /dev/kmsg itself and stores each record with ``_TRANSPORT=kernel`` (fields
starting with ``_`` are journald's, a client cannot set them). Reading those gives the same
records as /dev/kmsg plus what journald adds: wall-clock time, ``_KERNEL_DEVICE`` and udev's
names, and a cursor, so the daemon can resume exactly where it stopped after a restart.

Trust is decided by :func:`rowatch.formats.journal.journal_record`: ``_TRANSPORT=kernel`` and
``SYSLOG_FACILITY=0`` (userspace writes to /dev/kmsg land on facility 1). The transport match
keeps everything else (``logger -t kernel``, native-protocol entries that set
``SYSLOG_IDENTIFIER=kernel``) out of this source entirely.

Waiting: ``Reader.fileno()`` is sd_journal_get_fd(3), an inotify fd; when it is readable,
``Reader.process()`` says what changed (NOP, APPEND, INVALIDATE: files were added or removed,
as by rotation; the reader has picked them up and reading simply goes on).

Works with Debian 12's python3-systemd 235 and the PyPI release alike. Entries arrive with
values converted by the library (``int``, ``timedelta``, ``uuid.UUID``, a ``Monotonic`` tuple;
``bytes`` for text that is not UTF-8); :func:`rowatch.formats.journal.journal_record` reads
all of those, and the entry's ``__CURSOR`` becomes the record's ``origin``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from rowatch.formats.journal import journal_record
from rowatch.records import KernelRecord
from rowatch.sources import SourceError
from rowatch.sources._wait import ReadableWaiter

__all__ = ["JournalSource"]

#: Where journald keeps its files: volatile, then persistent (systemd-journald(8)).
JOURNAL_ROOTS = ("/run/log/journal", "/var/log/journal")
#: Most entries per batch; a long backlog goes out in several, yielding in between.
MAX_BATCH = 1024
MISSING_BINDING = '[source] type = "journal" needs systemd-python: apt install python3-systemd'


def _identity(value: object) -> object:
    return value


#: python-systemd turns __REALTIME_TIMESTAMP into a datetime through a float division, which
#: can be a microsecond off; keep the integer. (Its monotonic conversions are exact.)
_CONVERTERS = {"__REALTIME_TIMESTAMP": _identity}


def _import_journal() -> ModuleType:
    try:
        return importlib.import_module("systemd.journal")
    except ImportError as exc:
        raise SourceError(MISSING_BINDING) from exc


class JournalSource:
    """Follows the kernel records in the journal, batch by batch.

    ``directory`` is a journal directory (``journalctl --directory``); None reads the
    machine's journal (/run/log/journal and /var/log/journal). ``cursor`` resumes after the
    entry it names (which is not repeated), possibly in an earlier boot; without one, reading
    starts at the beginning of this boot (``backlog=True``) or with the next entry.
    """

    def __init__(
        self,
        *,
        directory: str | None = None,
        cursor: str | None = None,
        backlog: bool = True,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.directory = directory
        self.backlog = backlog
        self.max_batch = max_batch
        self._start_cursor = cursor
        self._cursor = cursor
        #: Why ``cursor`` could not be used (then reading starts as if there were none).
        self.resume_error: str | None = None
        #: Records handed out, entries without a MESSAGE skipped, rotations seen.
        self.records = 0
        self.malformed = 0
        self.invalidations = 0
        self._reader: Any = None
        self._fd = -1
        self._skip_cursor: str | None = None
        self._invalidate = -1
        self._waiter = ReadableWaiter()
        #: Set once every entry journald had before the first wait has been read and handled.
        self.caught_up = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        """Open the journal and position the reader; :class:`SourceError` if impossible."""
        if self._reader is not None:
            return
        journal = _import_journal()
        self._check_readable()
        try:
            if self.directory is not None:
                reader = journal.Reader(path=self.directory, converters=_CONVERTERS)
            else:
                # The system journal only: kernel records never go to per-user files.
                flags = journal.LOCAL_ONLY | journal.SYSTEM_ONLY
                reader = journal.Reader(flags=flags, converters=_CONVERTERS)
        except OSError as exc:
            raise SourceError(f"cannot open the journal {self._where()}: {exc}") from exc
        try:
            # Before any positioning, so no change between now and the first wait is missed
            # (sd_journal_get_fd(3) sets up the inotify watches).
            fd = reader.fileno()
            reader.add_match(_TRANSPORT="kernel")
            self._position(reader)
        except BaseException:
            reader.close()
            raise
        self._reader, self._fd = reader, fd
        self._invalidate = journal.INVALIDATE

    def _position(self, reader: Any) -> None:
        cursor = self._start_cursor
        if cursor:
            try:
                reader.seek_cursor(cursor)
            except (OSError, ValueError) as exc:
                self.resume_error = f"saved journal cursor unusable ({exc}); reading this boot"
                self._cursor = None
            else:
                # The next entry is the cursor's own if it still exists: test_cursor() tells,
                # and then it is skipped. If it was vacuumed away, the next entry is the one
                # after it and is kept. (sd_journal_seek_cursor(3), sd_journal_test_cursor(3))
                self._skip_cursor = cursor
                return
        reader.this_boot()
        if self.backlog:
            reader.seek_head()
        else:
            # After seek_tail() the next get_next() would return the newest entry again
            # (systemd 252), so step onto it first: reading goes on after it.
            reader.seek_tail()
            reader.get_previous()

    def _check_readable(self) -> None:
        """Fail clearly where sd-journal would silently show nothing."""
        roots = [self.directory] if self.directory is not None else list(JOURNAL_ROOTS)
        present = [root for root in roots if os.path.isdir(root)]
        if not present:
            if self.directory is not None:
                raise SourceError(f"journal directory {self.directory} does not exist")
            raise SourceError(
                f"no journal here: neither {' nor '.join(JOURNAL_ROOTS)} exists "
                f"(is systemd-journald running?)"
            )
        files = list(_journal_files(present))
        if files and not any(os.access(path, os.R_OK) for path in files):
            raise SourceError(
                f"cannot read the journal files in {', '.join(present)}: reading the system "
                f"journal needs root or membership in the systemd-journal group"
            )

    def close(self) -> None:
        """Stop a pending wait and close the journal. Idempotent."""
        if self._reader is None:
            return
        self._waiter.interrupt()
        reader, self._reader, self._fd = self._reader, None, -1
        reader.close()

    @property
    def closed(self) -> bool:
        return self._reader is None

    # ------------------------------------------------------------------ reading
    async def batches(self) -> AsyncGenerator[list[KernelRecord], None]:
        """Yield the new kernel records per wakeup until :meth:`close`; sleeps while idle."""
        if self._reader is None:
            raise SourceError(f"the journal {self._where()} is not open (call open() first)")
        while self._reader is not None:
            batch, more = self._drain()
            if batch:
                self._cursor = batch[-1].origin or self._cursor
                yield batch
            if self._reader is None:
                return
            if more:
                await asyncio.sleep(0)
                continue
            self.caught_up.set()  # everything journald had is read (and handled)
            timeout_ms = self._reader.get_timeout_ms()  # -1: the fd alone is reliable
            await self._waiter.wait(self._fd, timeout_ms / 1000 if timeout_ms >= 0 else None)
            if self._reader is None:
                return
            # Consume the inotify events; NOP, APPEND or INVALIDATE (journal files added or
            # removed, e.g. rotated): in every case the entries are read the same way.
            if self._reader.process() == self._invalidate:
                self.invalidations += 1

    def _drain(self) -> tuple[list[KernelRecord], bool]:
        batch: list[KernelRecord] = []
        reader = self._reader
        while len(batch) < self.max_batch:
            try:
                entry = reader.get_next()
            except OSError as exc:  # e.g. a corrupted journal file
                raise SourceError(f"reading the journal {self._where()} failed: {exc}") from exc
            if not entry:
                return batch, False
            if self._skip_cursor is not None:
                skip = reader.test_cursor(self._skip_cursor)
                self._skip_cursor = None
                if skip:
                    continue  # the entry the saved cursor names: already processed
            record = journal_record(entry)
            if record is None:
                self.malformed += 1
                continue
            self.records += 1
            batch.append(record)
        return batch, True

    # ------------------------------------------------------------------ status
    @property
    def cursor(self) -> str | None:
        """Cursor of the last record yielded (the one given to resume from, until then)."""
        return self._cursor

    @property
    def position(self) -> dict[str, int | str | bool | None]:
        """Where reading stands, for the status file."""
        return {
            "directory": self.directory,
            "backlog": self.backlog,
            "cursor": self._cursor,
            "records": self.records,
            "malformed": self.malformed,
            "invalidations": self.invalidations,
            "resume_error": self.resume_error,
        }

    def _where(self) -> str:
        return self.directory if self.directory is not None else "of this machine"

    def describe(self) -> str:
        """E.g. ``journal of this machine (kernel records, resumed from cursor, 12 read)``."""
        if self._start_cursor and self.resume_error is None:
            start = "resumed from cursor"
        elif self.backlog:
            start = "from the start of this boot"
        else:
            start = "from the next record"
        note = f", {self.resume_error}" if self.resume_error else ""
        return f"journal {self._where()} (kernel records, {start}, {self.records} read{note})"


def _journal_files(roots: Iterable[str]) -> Iterable[str]:
    """``*.journal`` files in ``roots`` and their machine-ID subdirectories."""
    for root in roots:
        base = Path(root)
        for pattern in ("*.journal", "*/*.journal"):
            try:
                yield from (str(p) for p in base.glob(pattern))
            except OSError:
                continue
