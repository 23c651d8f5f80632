"""Live log sources: where the daemon's kernel records come from.

Two sources, one interface (:class:`Source`):

* :class:`rowatch.sources.kmsg.KmsgSource` reads ``/dev/kmsg``, the kernel's own ring buffer;
* :class:`rowatch.sources.journal.JournalSource` reads the kernel records journald stored
  (``_TRANSPORT=kernel``) and can resume from a saved cursor across restarts.

Both are thin asyncio adapters: they wait for their file descriptor with ``loop.add_reader``
(no thread, no polling: an idle daemon sleeps in epoll), read everything available, and hand
the records over in batches. Parsing is :mod:`rowatch.formats`'s job. Import the concrete
modules lazily: ``rowatch.sources.journal`` needs systemd-python only when it is opened, but
nothing here should make a kmsg-only daemon import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from rowatch.records import KernelRecord

__all__ = ["Source", "SourceError"]


class SourceError(Exception):
    """A source cannot start (or go on): the message says why and what to do about it."""


@runtime_checkable
class Source(Protocol):
    """What the daemon needs from a log source.

    ``open()`` acquires the input and raises :class:`SourceError` with a clear message if it
    cannot; ``batches()`` then yields lists of records (never empty) as they arrive, until
    ``close()`` is called, which is idempotent and may be called from any point, including
    while ``batches()`` waits. A source may also have ``caught_up``, an ``asyncio.Event`` it
    sets once everything logged before it first waited is read and handled: the daemon reads
    that backlog before it looks at the mount table.
    """

    async def open(self) -> None:
        """Acquire the input; raise :class:`SourceError` if that is impossible."""
        ...

    def close(self) -> None:
        """Stop waiting, release the input. Safe to call more than once."""
        ...

    def batches(self) -> AsyncIterator[list[KernelRecord]]:
        """Records as they arrive, a non-empty list per wakeup; ends after ``close()``."""
        ...

    def describe(self) -> str:
        """One line for logs and status, e.g. ``kmsg /dev/kmsg (seq 1234, 0 lost)``."""
        ...
