"""The live block stack, read from sysfs (and the mount table, and udev when given).

One pass over ``/sys/class/block``, a few small attribute reads per device, no subprocesses.
Every attribute read here is served from kernel memory (cached INQUIRY/VPD data, gendisk
fields): nothing sends I/O to a disk, so a hung disk cannot hang the daemon.

Layout relied on (Documentation/ABI/stable/sysfs-block, ABI/testing/sysfs-block-dm,
ABI/testing/sysfs-bus-scsi, drivers/nvme/host/multipath.c), e.g. for sda2 under dm-0::

    /sys/class/block/sda  -> ../../devices/pci0000:00/.../host0/target0:0:0/0:0:0:0/block/sda
    /sys/class/block/sda2 -> ../../devices/.../0:0:0:0/block/sda/sda2  (partition: <disk>/<part>)
    /sys/class/block/sda/dev            8:0           major:minor
    /sys/class/block/sda/size           16777216      always 512-byte sectors
    /sys/class/block/sda/device         -> ../../../0:0:0:0   the SCSI device (H:C:T:L)
    /sys/class/block/sda/device/{vendor,model,type,wwid,vpd_pg80}
    /sys/class/block/sda2/{partition,start,size}                 start: 512-byte sectors
    /sys/class/block/dm-0/slaves/sda2   (and sda2/holders/dm-0)  what dm/md/bcache sit on
    /sys/class/block/dm-0/dm/{name,uuid}
    /sys/class/block/md0/md/            (md arrays; members are in slaves/ as well)
    /sys/class/block/loop0/loop/backing_file
    /sys/class/block/nvme0n1/wwid, device -> ../../nvme0 (model, serial)
    /sys/class/block/nvme0n1/multipath/nvme0c0n1   (native NVMe multipath: the hidden paths)

Names found in sysfs are checked with :func:`rowatch.devices.valid_name` before they are joined
to a path, and a relation is kept only when both ends are devices present in /sys/class/block.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from rowatch import devices as names
from rowatch.mounts import MountEntry, is_bind_like, parse_mountinfo, read_mountinfo
from rowatch.topology import BlockDevice, Topology

if TYPE_CHECKING:
    from rowatch.udev import UdevInfo

_LOOP = re.compile(r"loop\d+")
_NVME_CONTROLLER = re.compile(r"nvme\d+|nvme-subsys\d+")
_MAX_ATTRIBUTE = 4096
_DM_NAME_LEN = 128  # include/uapi/linux/dm-ioctl.h DM_NAME_LEN
#: SCSI peripheral device types (SPC) lsblk calls "rom": 5 = CD/DVD.
_SCSI_ROM_TYPES = {"5"}
#: Filesystems that never sit on a block device, whatever their source field says.
_NO_BLOCK_DEVICE = {
    "tmpfs",
    "devtmpfs",
    "ramfs",
    "overlay",
    "proc",
    "sysfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "9p",
    "virtiofs",
}


def build_topology(
    sysfs: str = "/sys", mountinfo: str | None = None, *, udev: UdevInfo | None = None
) -> Topology:
    """Every block device in ``<sysfs>/class/block``, how they stack, and what is mounted.

    ``mountinfo`` is mountinfo text (None: read /proc/self/mountinfo). ``udev`` (from
    :func:`rowatch.udev.read_udev_info`) fills in and overrides identity fields (serial, WWN,
    vendor, model, by-id links) and names the filesystem of unmounted devices. Raises
    OSError only if ``<sysfs>/class/block`` (or /proc/self/mountinfo) cannot be read; a device
    that vanishes or misbehaves meanwhile is left out or left incomplete.
    """
    block = os.path.join(sysfs, "class", "block")
    present = {entry for entry in os.listdir(block) if names.valid_name(entry)}
    found: dict[str, BlockDevice] = {}
    for name in sorted(present):
        device = _read_device(block, name, present)
        if device is not None:
            found[name] = device
    if udev is not None:
        for device in found.values():
            udev.apply(device)
    text = read_mountinfo() if mountinfo is None else mountinfo
    _attach_mounts(found, parse_mountinfo(text), udev.link_targets() if udev else {})
    uname = os.uname()
    return Topology(found.values(), host=uname.nodename, kernel=uname.release)


# ---------------------------------------------------------------------------- one device
def _read_device(block: str, name: str, present: set[str]) -> BlockDevice | None:
    path = os.path.join(block, name)
    try:
        entries = set(os.listdir(path))
    except OSError:
        return None  # removed since the listing (or not a directory at all)
    device = BlockDevice(name=name)
    device.maj_min = _majmin(_read(path, "dev"))
    device.size_sectors = _int(_read(path, "size"))
    parents: list[str] = []
    if "partition" in entries:
        device.type = "part"
        device.start_sector = _int(_read(path, "start"))
        disk = _partition_disk(block, name)
        if disk is not None and disk in present and disk != name:
            parents.append(disk)
    elif "dm" in entries:
        device.type = "dm"
        device.dm_name = _dm_name(_read(path, "dm/name"))
    elif "md" in entries:
        device.type = "md"
    elif "loop" in entries or _LOOP.fullmatch(name):
        device.type = "loop"
        device.backing_file = _read(path, "loop/backing_file", text=False)
    # dm, md, bcache, drbd list what they sit on in slaves/; an NVMe multipath head lists its
    # (hidden) per-path disks in multipath/.
    for directory in ("slaves", "multipath"):
        if directory in entries:
            parents += [
                p
                for p in _listdir(os.path.join(path, directory))
                if names.valid_name(p) and p in present and p != name and p not in parents
            ]
    device.parents = parents
    if "device" in entries:
        _read_hardware(path, device)
    if device.type != "part":
        # virtio_blk exposes the serial on the disk itself; NVMe namespaces their WWID.
        device.serial = _clean(_read(path, "serial")) or device.serial
        device.wwn = _clean(_read(path, "wwid")) or device.wwn
    return device


def _read_hardware(path: str, device: BlockDevice) -> None:
    """Identity from the device under the disk: a SCSI device or an NVMe controller."""
    link = os.path.join(path, "device")
    try:
        below = os.path.basename(os.readlink(link))  # sysfs links end in the target's name
        if below in ("", ".", ".."):
            below = os.path.basename(os.path.realpath(link))
    except OSError:
        return
    address = names.scsi_address(below) if re.fullmatch(r"[0-9:]+", below) else None
    if address is not None:
        device.scsi_address = address
        if _read(path, "device/type") in _SCSI_ROM_TYPES:
            device.type = "rom"
        device.vendor = _clean(_read(path, "device/vendor"))
        device.model = _clean(_read(path, "device/model"))
        device.wwn = _scsi_wwn(_read(path, "device/wwid"))
        device.serial = _vpd_serial(path)
    elif _NVME_CONTROLLER.fullmatch(below):
        device.model = _clean(_read(path, "device/model"))
        device.serial = _clean(_read(path, "device/serial"))


def _partition_disk(block: str, name: str) -> str | None:
    """The disk a partition belongs to: its sysfs directory sits inside the disk's."""
    try:
        parts = os.readlink(os.path.join(block, name)).split("/")
    except OSError:
        return names.disk_of_partition(name)
    if len(parts) >= 2 and parts[-1] == name and names.valid_name(parts[-2]):
        return parts[-2]
    return None


def _scsi_wwn(wwid: str | None) -> str | None:
    """sysfs ``naa.6000c29...`` as udev writes ID_WWN_WITH_EXTENSION (``0x6000c29...``); the
    t10./eui. forms are vendor identifiers rather than WWNs."""
    if wwid and wwid.startswith("naa.") and re.fullmatch(r"[0-9a-fA-F]{16,32}", wwid[4:]):
        return "0x" + wwid[4:].lower()
    return None


def _vpd_serial(path: str) -> str | None:
    """The unit serial number from the cached VPD page 0x80 (SPC: 4-byte header, length in
    bytes 2-3, then ASCII)."""
    try:
        with open(os.path.join(path, "device", "vpd_pg80"), "rb") as f:
            page = f.read(_MAX_ATTRIBUTE)
    except OSError:
        return None
    if len(page) < 4 or page[1] != 0x80:
        return None
    length = int.from_bytes(page[2:4], "big")
    return _clean(page[4 : 4 + length].decode("ascii", "replace"))


# ---------------------------------------------------------------------------- mounts
def _attach_mounts(
    found: dict[str, BlockDevice], entries: list[MountEntry], link_targets: dict[str, str]
) -> None:
    """fstype and mount points from the mount table; mountinfo's fstype beats udev's."""
    by_majmin = {d.maj_min: d.name for d in found.values() if d.maj_min}
    by_dm_name = {d.dm_name: d.name for d in found.values() if d.dm_name}
    mounted: set[str] = set()
    # Whole-filesystem mounts first, so mountpoints[0] is where the filesystem itself is.
    for entry in sorted(entries, key=is_bind_like):
        name = by_majmin.get(entry.maj_min)
        if name is None:
            # btrfs (and other multi-device filesystems) report an anonymous 0:NN device;
            # their source names the block device instead.
            name = _source_device(entry, found, by_dm_name, link_targets)
        if name is None:
            continue
        device = found[name]
        if name not in mounted:
            mounted.add(name)
            device.fstype = entry.fstype or device.fstype
        if entry.mountpoint not in device.mountpoints:
            device.mountpoints.append(entry.mountpoint)


def _source_device(
    entry: MountEntry,
    found: dict[str, BlockDevice],
    by_dm_name: dict[str, str],
    link_targets: dict[str, str],
) -> str | None:
    source = entry.source
    if not source.startswith("/dev/") or entry.fstype in _NO_BLOCK_DEVICE:
        return None
    if entry.fstype.startswith("fuse."):
        return None
    rest = source[5:]
    if rest.startswith("mapper/"):
        return by_dm_name.get(rest[7:])
    if names.valid_name(rest) and rest in found:
        return rest
    target = link_targets.get(source)
    return target if target in found else None


# ---------------------------------------------------------------------------- attribute I/O
def _read(path: str, attribute: str, *, text: bool = True) -> str | None:
    """A sysfs attribute without its trailing newline, or None if absent or unreadable.

    ``text=False``: a path (loop backing file), kept byte-exact as surrogate escapes.
    """
    try:
        with open(os.path.join(path, attribute), "rb") as f:
            raw = f.read(_MAX_ATTRIBUTE)
    except OSError:
        return None
    if not text:
        value = raw.rstrip(b"\n").decode("utf-8", "surrogateescape")
        return value or None
    return raw.decode("utf-8", "replace").strip()


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _clean(value: str | None) -> str | None:
    """Trimmed printable text (INQUIRY strings are space padded), None if nothing is left."""
    if value is None:
        return None
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value or None


def _int(value: str | None) -> int | None:
    if value is None or not re.fullmatch(r"[0-9]{1,20}", value):
        return None
    return int(value)


def _majmin(value: str | None) -> str | None:
    if value is None or not value.isascii():
        return None
    return names.major_minor(value)


def _dm_name(value: str | None) -> str | None:
    """A dm name is any text up to 127 characters except '/'; keep sane ones only."""
    if not value or not value.isprintable() or "/" in value or len(value) >= _DM_NAME_LEN:
        return None
    return value
