"""Device names as the kernel prints them, made safe and comparable.

Log text is untrusted: a device name taken from it is validated here before anything can use
it to build a sysfs path, and normalised so the same device has one name everywhere. The
functions are pure and cached: the engine asks the same few names for every record.
"""

from __future__ import annotations

import functools
import re

# A kernel block device name: what /sys/class/block lists. Letters, digits and the few
# punctuation marks real drivers use ('!' stands for '/' in cciss!c0d0). No '/', no '..',
# no leading dot or dash, at most 32 characters (DISK_NAME_LEN is 32).
_KERNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_!+:.-]{0,31}")
_SCSI_ADDRESS = re.compile(r"(\d{1,5})[: ](\d{1,5})[: ](\d{1,5})[: ](\d{1,20})")
_MAJMIN = re.compile(r"(\d{1,4}):(\d{1,7})")
# jbd2 names a journal "<device>-<journal inode>"; jbd (ext3) and external journals use the
# bare device name, and a dm device name itself ends in "-<number>".
_JBD2_NAME = re.compile(r"(.+)[-:](\d+)")  # "sda1-8"; 2.6.2x printed "dm-3:8"
_DM_NAME = re.compile(r"dm-\d+")
# Partitions whose disk name ends in a digit carry a 'p': nvme0n1p2, mmcblk0p1, loop0p1, md0p1.
_PARTITION_P = re.compile(r"((?:nvme\d+n\d+|mmcblk\d+|loop\d+|md\d+|nbd\d+|rbd\d+|zram\d+))p\d+")
# Classic disks with a letter suffix: sda1, vdb2, xvda1, hda3.
_PARTITION_LETTER = re.compile(r"((?:sd|vd|xvd|hd)[a-z]+)\d+")
_NVME_NAMESPACE = re.compile(r"(nvme\d+)(?:c\d+)?n\d+")  # nvme0n1; multipath path nvme0c1n1


@functools.lru_cache(maxsize=4096)
def valid_name(name: str) -> bool:
    """True if ``name`` can be a kernel block device name (safe to join to a sysfs path)."""
    return _KERNEL_NAME.fullmatch(name) is not None and ".." not in name


@functools.lru_cache(maxsize=4096)
def clean_name(name: str) -> str | None:
    """Strip what the log puts around a name (``/dev/``, a trailing dot), or None if invalid."""
    name = name.strip().rstrip(".")
    if name.startswith("/dev/"):
        name = name[5:]
        if name.startswith("mapper/"):
            return None  # a dm *name*; only the topology can map it to dm-N
    return name if valid_name(name) else None


@functools.lru_cache(maxsize=4096)
def mapper_name(path: str) -> str | None:
    """The dm name in a ``/dev/mapper/<name>`` path (``vg0-root``), if valid, else None."""
    name = path.strip().rstrip(".")
    if not name.startswith("/dev/mapper/"):
        return None
    name = name[len("/dev/mapper/") :]
    return name if valid_name(name) else None


@functools.lru_cache(maxsize=4096)
def journal_device(jbd_name: str) -> str | None:
    """The device a jbd/jbd2 journal name refers to: ``sda1-8`` -> ``sda1``, ``dm-0-8`` ->
    ``dm-0``, ``dm-0`` (jbd or external journal) -> ``dm-0``."""
    name = jbd_name.strip().rstrip(".")
    if _DM_NAME.fullmatch(name):
        return name
    found = _JBD2_NAME.fullmatch(name)
    if found and valid_name(found.group(1)):
        name = found.group(1)
    return clean_name(name)


@functools.lru_cache(maxsize=4096)
def scsi_address(text: str) -> str | None:
    """``0 0 0 0`` or ``0:0:0:0`` -> ``0:0:0:0`` (host:channel:target:lun), else None."""
    found = _SCSI_ADDRESS.fullmatch(text.strip())
    return ":".join(str(int(g)) for g in found.groups()) if found else None


@functools.lru_cache(maxsize=4096)
def major_minor(text: str) -> str | None:
    """``8:32`` -> ``8:32`` normalised, else None."""
    found = _MAJMIN.fullmatch(text.strip())
    return f"{int(found.group(1))}:{int(found.group(2))}" if found else None


@functools.lru_cache(maxsize=4096)
def disk_of_partition(name: str) -> str | None:
    """The whole disk a partition name belongs to, judged by the name alone, else None.

    ``sda1`` -> ``sda``, ``nvme0n1p2`` -> ``nvme0n1``, ``mmcblk0p1`` -> ``mmcblk0``.
    """
    for pattern in (_PARTITION_P, _PARTITION_LETTER):
        found = pattern.fullmatch(name)
        if found:
            return found.group(1)
    return None


@functools.lru_cache(maxsize=4096)
def nvme_controller(name: str) -> str | None:
    """The NVMe controller of a namespace or its partition: ``nvme0n1p2`` -> ``nvme0``."""
    found = _NVME_NAMESPACE.match(name)
    return found.group(1) if found else None


_TRANSPORT_NAME = re.compile(r"\d+:\d+:\d+:\d+|nvme\d+")


@functools.lru_cache(maxsize=4096)
def is_transport_name(name: str) -> bool:
    """True for a SCSI address or an NVMe controller: the transport under a disk."""
    return _TRANSPORT_NAME.fullmatch(name) is not None


def kernel_device_token(token: str) -> tuple[str, str] | None:
    """Decode kmsg ``DEVICE=`` / journal ``_KERNEL_DEVICE``.

    ``b8:0`` -> ("majmin", "8:0"); ``+scsi:0:0:0:0`` -> ("scsi", "0:0:0:0"); other
    subsystems -> None.
    """
    if token.startswith(("b", "c")):
        majmin = major_minor(token[1:])
        return ("majmin", majmin) if majmin and token[0] == "b" else None
    if token.startswith("+scsi:"):
        address = scsi_address(token[6:])
        return ("scsi", address) if address else None
    return None
