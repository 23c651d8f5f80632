"""Blocking file I/O off the event loop, in threads that may be abandoned.

An fsync on a failing disk can block for minutes (SCSI error handling retries), and the
event loop that reads the kernel log and sends the page must not wait for it. The loop's own
executor would not do: a thread stuck in the kernel would hold up the interpreter's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_daemon_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run ``fn`` in a new daemon thread; await the returned future (the loop's) for its
    result. Give it a time limit with ``asyncio.wait_for``: on timeout the thread is
    abandoned, and being a daemon thread it cannot hold up the exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return  # timed out and abandoned meanwhile
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            outcome: tuple[T | None, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        # RuntimeError: the loop closed while this thread was stuck in the kernel.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="rowatch-io", daemon=True).start()
    return future
