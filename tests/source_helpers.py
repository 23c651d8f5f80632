"""Reading a source's batches in tests: until a record shows up, or until it goes quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rowatch.records import KernelRecord
from rowatch.sources import Source


async def collect(
    source: Source, until: Callable[[KernelRecord], bool], timeout: float = 10.0
) -> list[KernelRecord]:
    """Records from ``source.batches()`` up to (and with) the batch holding one ``until`` likes."""
    seen: list[KernelRecord] = []
    batches = source.batches()
    try:
        async with asyncio.timeout(timeout):
            async for batch in batches:
                assert batch, "batches() must never yield an empty list"
                seen.extend(batch)
                if any(until(r) for r in batch):
                    return seen
    except TimeoutError:
        last = [r.message for r in seen[-10:]]
        raise AssertionError(f"no matching record within {timeout}s; last seen: {last}") from None
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
    raise AssertionError("batches() ended early")


async def drain(source: Source, quiet: float) -> list[KernelRecord]:
    """Everything until the source has been idle for ``quiet`` seconds."""
    seen: list[KernelRecord] = []
    batches = source.batches()
    try:
        while True:
            try:
                seen.extend(await asyncio.wait_for(anext(batches), quiet))
            except TimeoutError:
                return seen
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
