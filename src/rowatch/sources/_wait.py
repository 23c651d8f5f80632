"""Sleep in the event loop until a file descriptor is readable: the one wait both sources use."""

from __future__ import annotations

import asyncio


class ReadableWaiter:
    """Waits for one fd at a time with ``loop.add_reader``; :meth:`interrupt` ends a wait.

    The reader is registered only while someone waits, and removed by the first callback:
    asyncio's epoll selector is level-triggered, so a reader left registered while the
    consumer is busy with a batch would fire on every loop iteration, a busy loop.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._future: asyncio.Future[bool] | None = None

    async def wait(self, fd: int, timeout: float | None = None) -> bool:
        """True once ``fd`` is readable; False on timeout or :meth:`interrupt`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def readable() -> None:
            loop.remove_reader(fd)
            if not future.done():
                future.set_result(True)

        def expired() -> None:
            if not future.done():
                future.set_result(False)

        loop.add_reader(fd, readable)
        timer = loop.call_later(timeout, expired) if timeout is not None else None
        self._loop, self._fd, self._future = loop, fd, future
        try:
            return await future
        finally:
            # Also on cancellation: never leave the fd registered (it may be closed next).
            loop.remove_reader(fd)
            if timer is not None:
                timer.cancel()
            self._future = None

    def interrupt(self) -> None:
        """Unregister the fd now (before its owner closes it) and end the wait with False."""
        future, loop = self._future, self._loop
        if future is None or loop is None or future.done() or loop.is_closed():
            return
        loop.remove_reader(self._fd)
        future.set_result(False)
