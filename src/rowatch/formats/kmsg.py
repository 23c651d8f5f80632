"""Raw /dev/kmsg records, as ``read()`` on /dev/kmsg (or ``cat /dev/kmsg``) returns them.

The format is the kernel's Documentation/ABI/testing/dev-kmsg::

    6,339,5140900,-;NET: Registered protocol family 10
    7,160,424069,-;pci_root PNP0A03:00: host bridge window [io 0x0000-0x0cf7] (ignored)
     SUBSYSTEM=acpi
     DEVICE=+acpi:PNP0A03:00

A header ``PRI,SEQ,USEC,FLAGS[,more...];`` (PRI = facility << 3 | level, USEC the kernel's
monotonic timestamp in microseconds, FLAGS ``-``, or ``c``/``+`` for the fragments of a
continued line before 4.9), the message with every non-printable byte and ``\\`` itself
escaped as ``\\xNN``, then continuation lines, each a space and ``KEY=value``. "Future
extensions might add more comma separated values before the terminating ';'" (the ABI
document), such as ``caller=T123`` with CONFIG_PRINTK_CALLER: they are ignored.

Trust: a write to /dev/kmsg from userspace cannot use facility 0; the kernel puts it on
LOG_USER (1) (kernel/printk/printk.c, devkmsg_write()). So facility 0 is the kernel.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rowatch.formats.base import (
    MAX_LINE_BYTES,
    MAX_UNIT_BYTES,
    MAX_UNIT_LINES,
    ParseStats,
    field_text,
    message_text,
)
from rowatch.records import KERNEL_FACILITY, KernelRecord, Source

# PRI is facility << 3 | level with an 8-bit facility, so at most 2047; SEQ and USEC are
# u64 (20 digits). Extra comma fields are bounded so a hostile header stays cheap.
_HEADER = re.compile(rb"(\d{1,4}),(\d{1,20}),(\d{1,20}),([^,;]{0,16})(?:,[^;]{0,512})?;")
_MAX_PRI = (255 << 3) | 7


def parse_kmsg_record(data: bytes, *, stats: ParseStats | None = None) -> KernelRecord | None:
    """Parse one /dev/kmsg record: what one ``read()`` returns, header and KEY=value lines.

    Returns None (and counts it in ``stats.malformed``) if the header is not a kmsg header.
    The message keeps the kernel's ``\\xNN`` escapes as text.
    """
    return _record(data[:MAX_UNIT_BYTES].split(b"\n", MAX_UNIT_LINES), stats)


class KmsgParser:
    """Streaming parser: a file of kmsg records, one unit per header line."""

    def __init__(self, *, stats: ParseStats | None = None) -> None:
        self.stats = stats if stats is not None else ParseStats()

    def parse_unit(self, lines: Sequence[bytes]) -> list[KernelRecord]:
        """The record a header line and its `` KEY=value`` lines make, if it is valid."""
        record = _record(lines, self.stats)
        return [record] if record is not None else []


def _record(lines: Sequence[bytes], stats: ParseStats | None) -> KernelRecord | None:
    header = lines[0][:MAX_LINE_BYTES] if lines else b""
    found = _HEADER.match(header)
    pri = int(found.group(1)) if found else -1
    if found is None or pri > _MAX_PRI:
        if stats is not None:
            stats.malformed += 1
        return None
    facility, level = pri >> 3, pri & 7
    subsystem = device = None
    for line in lines[1:]:
        if line[:1] != b" ":
            continue  # an empty line ends a read() buffer; anything else is not ours
        key, _, value = line[1:MAX_LINE_BYTES].partition(b"=")
        if key == b"SUBSYSTEM":
            subsystem = field_text(value.rstrip(b"\r"))
        elif key == b"DEVICE":
            device = field_text(value.rstrip(b"\r"))
    text = header[found.end() :]
    return KernelRecord(
        message=message_text(text[:-1] if text.endswith(b"\r") else text),
        uptime=int(found.group(3)) / 1e6,
        priority=level,
        facility=facility,
        trusted=facility == KERNEL_FACILITY,
        source=Source.KMSG,
        seq=int(found.group(2)),
        subsystem=subsystem,
        kernel_device=device,
    )
