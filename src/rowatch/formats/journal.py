"""``journalctl -o json`` entries (also ``json-pretty`` and ``json-seq``).

One JSON object per entry. journalctl prints a field as a string when it is valid UTF-8, as
an array of byte values when it is not, as an array of those when the entry has the field more
than once, and as null when it is over 4 KiB and ``--all`` was not given (systemd's
docs/JOURNAL_EXPORT_FORMATS). Timestamps are decimal strings of microseconds.

Trust: fields whose names start with ``_`` are set by journald and cannot be forged by the
program that logs. ``_TRANSPORT=kernel`` says journald read the record from /dev/kmsg, and
``SYSLOG_FACILITY=0`` that the kernel wrote it (/dev/kmsg puts userspace writes on facility
1). ``SYSLOG_IDENTIFIER=kernel`` alone proves nothing: ``logger -t kernel`` sets it.

:func:`journal_record` also takes the values systemd-python's ``Reader`` returns (``int``,
``bytes``, ``datetime``, ``timedelta``, ``uuid.UUID``, the ``Monotonic`` tuple), so the live
journal source and ``journalctl -o json`` files give the same records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from rowatch.formats.base import MAX_FIELD_CHARS, MAX_JSON_BYTES, ParseStats
from rowatch.records import MAX_MESSAGE_CHARS, KernelRecord, Source, clean_message, decode_bytes

_RECORD_SEPARATOR = b"\x1e"  # json-seq (RFC 7464) puts one before every object
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_USEC = timedelta(microseconds=1)


def parse_journal_json(data: bytes, *, stats: ParseStats | None = None) -> KernelRecord | None:
    """Parse one ``journalctl -o json`` line (or one ``json-pretty`` object).

    Returns None, counted in ``stats.malformed``, for anything that is not a JSON object
    with a MESSAGE, or that is longer than :data:`MAX_JSON_BYTES`.
    """
    entry = _load(data)
    record = journal_record(entry) if entry is not None else None
    if record is None and stats is not None:
        stats.malformed += 1
    return record


def journal_record(fields: Mapping[str, object]) -> KernelRecord | None:
    """The record for one journal entry's fields, or None if it has no MESSAGE.

    Values may be what journalctl's JSON holds (``str``, ``int``, a list of byte values, a
    list of values for a repeated field) or what systemd-python's ``Reader`` returns (also
    ``bytes``, ``datetime``, ``timedelta``, ``uuid.UUID``, a ``(timedelta, UUID)`` tuple).
    ``origin`` is the entry's ``__CURSOR``; ``udev_sysname`` falls back to
    ``_UDEV_DEVNODE`` without its ``/dev/``.
    """
    message = _text(fields.get("MESSAGE"), 4 * MAX_MESSAGE_CHARS)
    if message is None:
        return None
    transport = _text(fields.get("_TRANSPORT"))
    facility_text = _text(fields.get("SYSLOG_FACILITY"))
    identifier = _clean(fields.get("SYSLOG_IDENTIFIER")) or ""
    if transport == "kernel":
        trusted = facility_text == "0"
    else:
        # Anyone can log as "multipathd" (logger -t multipathd): journald's own fields, from
        # the kernel, say who did. _COMM alone is forgeable (any process may rename itself);
        # with _UID 0 only root, who is trusted anyway, can.
        trusted = (
            bool(identifier)
            and _clean(fields.get("_COMM")) == identifier
            and _text(fields.get("_UID")) == "0"
        )
    monotonic = _usec(fields.get("_SOURCE_MONOTONIC_TIMESTAMP"))
    if monotonic is None:
        monotonic = _usec(fields.get("__MONOTONIC_TIMESTAMP"))
    return KernelRecord(
        message=clean_message(message),
        uptime=monotonic,
        wall=_usec(fields.get("__REALTIME_TIMESTAMP")),
        priority=_small_int(fields.get("PRIORITY"), 7),
        facility=_small_int(facility_text, 255),
        trusted=trusted,
        source=Source.JOURNAL,
        # Everything the kernel transport carries is the kernel log (a userspace write to
        # /dev/kmsg included: the trust flag tells those apart), whatever identifier it has.
        program="kernel" if transport == "kernel" else identifier,
        subsystem=_clean(fields.get("_KERNEL_SUBSYSTEM")),
        kernel_device=_clean(fields.get("_KERNEL_DEVICE")),
        udev_sysname=_clean(fields.get("_UDEV_SYSNAME")) or _devnode_name(fields),
        host=_clean(fields.get("_HOSTNAME")),
        boot_id=_clean(fields.get("_BOOT_ID")),
        origin=_clean(fields.get("__CURSOR")),
    )


class JournalJsonParser:
    """Streaming parser: one unit per entry (a line, or a ``json-pretty`` object's lines)."""

    def __init__(self, *, stats: ParseStats | None = None) -> None:
        self.stats = stats if stats is not None else ParseStats()

    def parse_unit(self, lines: Sequence[bytes]) -> list[KernelRecord]:
        """The record of one entry; blank units yield nothing."""
        data = b"\n".join(lines)
        if not data.strip():
            return []
        record = parse_journal_json(data, stats=self.stats)
        return [record] if record is not None else []


def _load(data: bytes) -> Mapping[str, object] | None:
    if len(data) > MAX_JSON_BYTES:
        return None
    data = data.strip().lstrip(_RECORD_SEPARATOR)
    try:
        entry = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return entry if isinstance(entry, dict) else None


def _text(value: object, limit: int = 4 * MAX_FIELD_CHARS) -> str | None:
    """A field value as text: strings as they are, byte arrays decoded, first of many."""
    while isinstance(value, list) and value:
        if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            try:
                return decode_bytes(bytes(value[:limit]))
            except ValueError:  # a number outside 0..255
                return None
        value = value[0]  # the field appears more than once: take the first
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, bytes):
        return decode_bytes(value[:limit])
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple) and value:  # systemd-python's Monotonic(timestamp, bootid)
        value = value[0]
    if isinstance(value, datetime):  # naive: local time, as systemd-python converts it
        moment = value if value.tzinfo is not None else value.astimezone()
        return str((moment - _EPOCH) // _USEC)
    if isinstance(value, timedelta):
        return str(value // _USEC)
    if isinstance(value, uuid.UUID):
        return value.hex
    return None


def _devnode_name(fields: Mapping[str, object]) -> str | None:
    """``/dev/sda1`` -> ``sda1``; None for anything that is not directly under /dev."""
    node = _clean(fields.get("_UDEV_DEVNODE"))
    if node is None or not node.startswith("/dev/"):
        return None
    name = node.removeprefix("/dev/")
    return name if name and "/" not in name else None


def _clean(value: object) -> str | None:
    text = _text(value)
    return clean_message(text)[:MAX_FIELD_CHARS] if text else None


def _usec(value: object) -> float | None:
    text = _text(value, 24)
    if text is None or not (text.isascii() and text.isdigit()):
        return None
    return int(text) / 1e6


def _small_int(value: object, largest: int) -> int | None:
    text = _text(value, 4)
    if text is None or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= largest else None
