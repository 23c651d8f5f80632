"""The unit every source produces and the engine consumes: one kernel log record.

A source (``/dev/kmsg``, the journal, a dmesg or syslog file) turns whatever it reads into
:class:`KernelRecord` objects. The engine sees nothing else, so it cannot tell, and need not
care, where a record came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

#: Longest message the engine looks at. The kernel's own limit for one record is 1 KiB
#: (``PRINTK_MESSAGE_MAX``, 2048 since 6.x with the ``CONSOLE_EXT_LOG_MAX`` prefix); a longer
#: "line" is not a kernel record, so keeping 4 KiB loses nothing real and bounds the work
#: a hostile megabyte line can cause.
MAX_MESSAGE_CHARS = 4096

# C0 and C1 controls (U+0085 is a line break to Python, U+009B a terminal escape), the
# Unicode line and paragraph separators, and lone surrogates (a JSON "\ud800" escape: no
# UTF-8 encoder takes one): none may reach a log line, a terminal or an e-mail.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class Source(StrEnum):
    """Where a record came from; decides how far it can be trusted."""

    KMSG = "kmsg"
    JOURNAL = "journal"
    TEXT = "text"


#: syslog facility of the kernel. /dev/kmsg forces every userspace write onto facility 1
#: (LOG_USER) unless it names a non-zero one, so facility 0 can only come from the kernel.
KERNEL_FACILITY = 0


@dataclass(frozen=True, slots=True)
class KernelRecord:
    """One kernel log message.

    ``uptime`` is the kernel's own timestamp (seconds since boot), ``wall`` the wall-clock time
    (seconds since the epoch) when the source knows it. ``trusted`` says whether the kernel
    itself wrote the record (for a userspace program's record, multipathd's, whether that
    program did): sources set it from facility, transport and the sender's process name, text
    inputs set it because the operator chose the file. Only trusted records count.

    ``kernel_device`` carries structured device information when the source has it:
    /dev/kmsg's ``DEVICE=`` and the journal's ``_KERNEL_DEVICE`` (``b8:0`` for a block device,
    ``+scsi:0:0:0:0`` for a SCSI device), ``udev_sysname`` the journal's ``_UDEV_SYSNAME``.
    """

    message: str
    uptime: float | None = None
    wall: float | None = None
    priority: int | None = None
    facility: int | None = KERNEL_FACILITY
    trusted: bool = True
    source: Source = Source.TEXT
    program: str = "kernel"
    seq: int | None = None
    subsystem: str | None = None
    kernel_device: str | None = None
    udev_sysname: str | None = None
    host: str | None = None
    boot_id: str | None = None
    origin: str | None = None

    @property
    def clock(self) -> float | None:
        """The time the engine measures windows with: wall clock, else kernel uptime.

        One source always yields the same axis (kmsg and plain dmesg: uptime only; the
        journal, syslog and ``dmesg -T``: wall clock), so windows never mix the two.
        """
        return self.wall if self.wall is not None else self.uptime


def clean_message(text: str) -> str:
    """Make untrusted text safe to match, log and print.

    Newlines and other control characters (except tab), C0 and C1, U+2028/U+2029 and lone
    surrogates become ``?`` so one record can never pose as two and every text encodes, and
    the text is cut to :data:`MAX_MESSAGE_CHARS`.
    """
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS]
    if _CONTROL.search(text):
        text = _CONTROL.sub("?", text)
    return text


def decode_bytes(data: bytes) -> str:
    """Decode bytes from a log: UTF-8 where valid, otherwise each bad byte as ``\\xNN``."""
    return data.decode("utf-8", errors="backslashreplace")
