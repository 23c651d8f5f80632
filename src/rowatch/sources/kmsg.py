"""``/dev/kmsg``: the kernel's log ring buffer, read live.

What the kernel promises (Documentation/ABI/testing/dev-kmsg, kernel/printk/printk.c):

* every ``read()`` returns exactly one whole record; with O_NONBLOCK, EAGAIN when there is
  none. A buffer too small for the record fails with EINVAL, and devkmsg_read() has already
  moved past that record by then, so it is lost to this reader (hence the roomy buffer);
* the first read after ``open()`` returns the oldest record still in the ring (SEEK_SET),
  ``lseek(fd, 0, SEEK_END)`` skips to "after the newest";
* records carry a 64-bit sequence number. When the ring overwrote records we had not read
  yet, ``read()`` fails with EPIPE once and moves our position to the oldest record left, so
  the gap between the last sequence number we saw and the next one is what we lost;
* ``poll()`` says POLLIN when a record is waiting (POLLERR|POLLPRI too after an overwrite).

Records are parsed by :func:`rowatch.formats.kmsg.parse_kmsg_record`; facility 0 means the
kernel wrote it (userspace writes land on facility 1), so only those are trusted.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import AsyncGenerator, Callable

from rowatch.formats.kmsg import parse_kmsg_record
from rowatch.records import KernelRecord
from rowatch.sources import SourceError
from rowatch.sources._wait import ReadableWaiter

__all__ = ["DEFAULT_PATH", "KmsgSource"]

DEFAULT_PATH = "/dev/kmsg"
#: Bytes asked for per read(). The kernel formats a record into at most PRINTK_MESSAGE_MAX
#: (2 KiB, 6.x) or CONSOLE_EXT_LOG_MAX (8 KiB, older) bytes; anything smaller risks EINVAL.
READ_SIZE = 16 * 1024
#: Most records per batch; a longer backlog is handed over in several batches, with a yield
#: to the event loop in between so other tasks run while the ring buffer is drained.
MAX_BATCH = 1024

# Enough of the header to account for a record's sequence number when the rest of it is
# unparseable ("PRI,SEQ,...").
_SEQ = re.compile(rb"\d{1,4},(\d{1,20}),")


class KmsgSource:
    """Follows /dev/kmsg in the running event loop, batch by batch.

    ``backlog=True`` starts with the oldest record still in the ring (so an error logged
    before the daemon started is still seen), ``False`` with the next record logged.
    ``on_loss(count)`` is called whenever the kernel overwrote records before we read them.
    """

    def __init__(
        self,
        path: str = DEFAULT_PATH,
        *,
        backlog: bool = True,
        on_loss: Callable[[int], None] | None = None,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.path = path
        self.backlog = backlog
        self.on_loss = on_loss
        self.max_batch = max_batch
        #: Sequence number of the newest record read, None before the first.
        self.last_seq: int | None = None
        #: Records handed out.
        self.records = 0
        #: Records the kernel overwrote (or EINVAL skipped) before we could read them.
        self.lost_records = 0
        #: How often read() said EPIPE (each is one overwrite episode).
        self.overruns = 0
        #: Records that could not be parsed (skipped).
        self.malformed = 0
        #: Records read() refused with EINVAL (did not fit the buffer; skipped by the kernel).
        self.oversized = 0
        self._fd = -1
        # Losses seen before the first sequence number was known: their size is unknown,
        # each counts as one record (a lower bound).
        self._unknown_loss = 0
        self._waiter = ReadableWaiter()
        #: Set once every record logged before the first wait has been read and handled.
        self.caught_up = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def open(self) -> None:
        """Open the device; :class:`SourceError` with the reason if that fails."""
        if self._fd >= 0:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError as exc:
            raise SourceError(
                f"cannot read {self.path}: {exc.strerror}. Reading the kernel log needs root "
                f"or the CAP_SYSLOG capability (kernel.dmesg_restrict=1 is the default), and "
                f"the sysctl kernel.printk_devkmsg must not be 'off'"
            ) from exc
        except FileNotFoundError as exc:
            raise SourceError(
                f"{self.path} does not exist: no kernel log device here (is /dev mounted?); "
                f'[source] type = "journal" reads the kernel log through journald instead'
            ) from exc
        except OSError as exc:
            raise SourceError(f"cannot open {self.path}: {exc.strerror}") from exc
        if not self.backlog:
            try:
                os.lseek(fd, 0, os.SEEK_END)  # dev-kmsg: "seek after the last entry"
            except OSError as exc:
                os.close(fd)
                raise SourceError(
                    f"{self.path} is not a kernel log device (lseek: {exc.strerror})"
                ) from exc
        self._fd = fd

    def close(self) -> None:
        """Stop a pending wait, unregister and close the device. Idempotent."""
        if self._fd < 0:
            return
        self._waiter.interrupt()  # remove_reader before the fd number can be reused
        fd, self._fd = self._fd, -1
        os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    # ------------------------------------------------------------------ reading
    async def batches(self) -> AsyncGenerator[list[KernelRecord], None]:
        """Yield the records read per wakeup until :meth:`close`; sleeps while idle."""
        if self._fd < 0:
            raise SourceError(f"{self.path} is not open (call open() first)")
        while self._fd >= 0:
            batch, more = self._drain()
            if batch:
                yield batch
            if self._fd < 0:
                return
            if not more:
                self.caught_up.set()  # everything logged so far is read (and handled)
            if more:
                await asyncio.sleep(0)  # let other tasks run while a backlog is drained
            else:
                await self._waiter.wait(self._fd)

    def _read_record(self) -> bytes:
        return os.read(self._fd, READ_SIZE)

    def _drain(self) -> tuple[list[KernelRecord], bool]:
        """Read until EAGAIN or ``max_batch`` records; True if more may be waiting."""
        batch: list[KernelRecord] = []
        while len(batch) < self.max_batch and self._fd >= 0:
            try:
                data = self._read_record()
            except BlockingIOError:  # EAGAIN: nothing more for now
                return batch, False
            except BrokenPipeError:
                # EPIPE: records were overwritten; the kernel already moved us to the
                # oldest one left. The sequence gap at the next record says how many.
                self.overruns += 1
                if self.last_seq is None:
                    self._unknown_loss += 1
                continue
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise SourceError(f"reading {self.path} failed: {exc.strerror}") from exc
                # EINVAL: the record did not fit; the kernel has skipped it for us.
                self.oversized += 1
                if self.last_seq is None:
                    self._unknown_loss += 1
                continue
            if not data:
                raise SourceError(f"{self.path}: unexpected end of file (not /dev/kmsg?)")
            record = self._parse(data)
            if record is not None:
                batch.append(record)
        return batch, True

    def _parse(self, data: bytes) -> KernelRecord | None:
        record = parse_kmsg_record(data)
        if record is not None and record.seq is not None:
            self._account(record.seq)
        else:
            found = _SEQ.match(data)
            if found is not None:
                self._account(int(found.group(1)))
        if record is None:
            self.malformed += 1
            return None
        self.records += 1
        return record

    def _account(self, seq: int) -> None:
        """Note a record's sequence number; a gap since the last one is a loss."""
        if self.last_seq is not None and seq > self.last_seq:
            lost = seq - self.last_seq - 1
        else:
            lost = self._unknown_loss
        self._unknown_loss = 0
        self.last_seq = seq
        if lost > 0:
            self.lost_records += lost
            if self.on_loss is not None:
                self.on_loss(lost)

    # ------------------------------------------------------------------ status
    @property
    def position(self) -> dict[str, int | str | bool | None]:
        """Where reading stands, for the status file."""
        return {
            "path": self.path,
            "backlog": self.backlog,
            "last_seq": self.last_seq,
            "records": self.records,
            "lost_records": self.lost_records,
            "overruns": self.overruns,
            "malformed": self.malformed,
            "oversized": self.oversized,
        }

    def describe(self) -> str:
        """E.g. ``kmsg /dev/kmsg (seq 1234, 0 lost)``."""
        where = (
            f"seq {self.last_seq}"
            if self.last_seq is not None
            else ("from the oldest record" if self.backlog else "from the next record")
        )
        return f"kmsg {self.path} ({where}, {self.lost_records} lost)"
