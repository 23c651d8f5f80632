"""The block stack: which device sits on which, and which carries a filesystem.

A :class:`Topology` is plain data. The live daemon builds one from sysfs and udev;
``rowatch replay --topology FILE`` loads the JSON snapshot that ``rowatch topology --json``
wrote; without either, the engine starts from an empty one and learns what the log itself
shows (a partition belongs to its disk, a journal to its device, ``sd 0:0:0:0: [sda]``).

JSON snapshot format (version 1; documented in docs/topology-json.md)::

    {"version": 1, "host": "db1", "kernel": "6.1.0-26-amd64",
     "devices": [
       {"name": "sda", "type": "disk", "maj_min": "8:0", "parents": [],
        "scsi_address": "0:0:0:0", "model": "Virtual disk", "vendor": "VMware",
        "serial": "6000c29...", "wwn": "0x6000c29...", "size_sectors": 16777216},
       {"name": "sda2", "type": "part", "maj_min": "8:2", "parents": ["sda"],
        "start_sector": 2099200, "size_sectors": 14675968},
       {"name": "dm-0", "type": "dm", "maj_min": "253:0", "parents": ["sda2"],
        "dm_name": "vg0-root", "fstype": "ext3", "mountpoints": ["/"]}]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from rowatch import devices as names

TOPOLOGY_VERSION = 1
#: The type of a device only the log told about: no snapshot listed it.
LEARNED = "unknown"


class TopologyError(ValueError):
    """A topology snapshot that cannot be used; the message says what is wrong and where."""


@dataclass
class BlockDevice:
    """One block device and what is known about it."""

    name: str
    type: str = "disk"  # disk, part, dm, md, loop, nvme, ...
    maj_min: str | None = None
    parents: list[str] = field(default_factory=list)  # directly below: disk, dm/md slaves
    scsi_address: str | None = None
    dm_name: str | None = None
    fstype: str | None = None
    mountpoints: list[str] = field(default_factory=list)
    start_sector: int | None = None  # partitions: first sector on the parent disk
    size_sectors: int | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    wwn: str | None = None
    links: list[str] = field(default_factory=list)  # /dev/disk/by-id/... and friends
    backing_file: str | None = None  # loop devices: the file the device reads and writes

    def to_json(self) -> dict[str, Any]:
        """The snapshot form: empty and unknown fields left out."""
        return {k: v for k, v in asdict(self).items() if v not in (None, [], "")}


_INT_FIELDS = ("start_sector", "size_sectors")
_STR_FIELDS = (
    "type",
    "maj_min",
    "scsi_address",
    "dm_name",
    "fstype",
    "vendor",
    "model",
    "serial",
    "wwn",
    "backing_file",
)
_LIST_FIELDS = ("parents", "mountpoints", "links")


def _device_from_json(index: int, raw: object) -> BlockDevice:
    where = f"devices[{index}]"
    if not isinstance(raw, dict):
        raise TopologyError(f"{where}: expected an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not names.valid_name(name):
        raise TopologyError(f"{where}.name: {name!r} is not a kernel device name")
    device = BlockDevice(name=name)
    for key, value in raw.items():
        if value is None or key == "name":
            continue
        if key in _STR_FIELDS:
            if not isinstance(value, str):
                raise TopologyError(f"{where}.{key}: expected a string, got {value!r}")
            setattr(device, key, value)
        elif key in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TopologyError(f"{where}.{key}: expected a non-negative integer")
            setattr(device, key, value)
        elif key in _LIST_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TopologyError(f"{where}.{key}: expected a list of strings")
            setattr(device, key, list(value))
        # Unknown keys are ignored: newer snapshots may carry more than this version reads.
    for parent in device.parents:
        if not names.valid_name(parent):
            raise TopologyError(f"{where}.parents: {parent!r} is not a kernel device name")
    if device.maj_min is not None and names.major_minor(device.maj_min) is None:
        raise TopologyError(f"{where}.maj_min: {device.maj_min!r} is not MAJOR:MINOR")
    if device.scsi_address is not None and names.scsi_address(device.scsi_address) is None:
        raise TopologyError(f"{where}.scsi_address: {device.scsi_address!r} is not H:C:T:L")
    return device


class Topology:
    """Block devices and how they stack, with look-ups by every name the kernel log uses."""

    def __init__(
        self,
        block_devices: Iterable[BlockDevice] = (),
        *,
        host: str | None = None,
        kernel: str | None = None,
    ) -> None:
        self.host = host
        self.kernel = kernel
        self._devices: dict[str, BlockDevice] = {}
        self._holders: dict[str, set[str]] = {}
        self._by_majmin: dict[str, str] = {}
        self._by_scsi: dict[str, str] = {}
        self._by_dm_name: dict[str, str] = {}
        self._filesystem_seen: set[str] = set()
        # below/above/filesystems_above of a name, until the stack changes: the engine asks
        # them for every record, and a stack changes a few times a day.
        self._walks: dict[tuple[str, str], list[str]] = {}
        for device in block_devices:
            self.add(device)

    # ------------------------------------------------------------------ building
    def add(self, device: BlockDevice) -> None:
        """Add or replace a device. (Change a topology through its methods only: they keep
        its look-ups current.)"""
        self._walks.clear()
        old = self._devices.get(device.name)
        if old is not None:
            for parent in old.parents:
                self._holders.get(parent, set()).discard(old.name)
        self._devices[device.name] = device
        for parent in device.parents:
            self._holders.setdefault(parent, set()).add(device.name)
        if device.maj_min:
            self._by_majmin[names.major_minor(device.maj_min) or device.maj_min] = device.name
        if device.scsi_address:
            self._by_scsi[names.scsi_address(device.scsi_address) or ""] = device.name
        if device.dm_name:
            self._by_dm_name[device.dm_name] = device.name

    def ensure(self, name: str) -> BlockDevice:
        """The device called ``name``, created (with no known relations) if new."""
        device = self._devices.get(name)
        if device is None:
            device = BlockDevice(name=name, type=LEARNED)
            self.add(device)
        return device

    def learn_parent(self, child: str, parent: str) -> None:
        """Record that ``child`` sits on ``parent`` (learned from the log)."""
        device = self.ensure(child)
        if parent not in device.parents:
            device.parents.append(parent)
            self._holders.setdefault(parent, set()).add(child)
            self._walks.clear()
        self.ensure(parent)

    def learn_scsi(self, address: str, name: str) -> None:
        """Record that the disk at SCSI ``address`` is ``name``."""
        self.ensure(name).scsi_address = address
        self._by_scsi[address] = name

    def learn_majmin(self, majmin: str, name: str) -> None:
        self.ensure(name).maj_min = majmin
        self._by_majmin[majmin] = name

    def learn_filesystem(self, name: str) -> None:
        """Record that ``name`` carries a filesystem (the log showed one on it)."""
        self.ensure(name)
        if name not in self._filesystem_seen:
            self._filesystem_seen.add(name)
            self._walks.clear()

    def absorb_learned(self, older: Topology) -> None:
        """Keep what ``older`` knew of devices this snapshot does not list, and the
        filesystems the log showed."""
        for device in older:
            if device.name not in self._devices:
                self.add(BlockDevice(**{**asdict(device), "parents": list(device.parents)}))
        self._filesystem_seen |= older._filesystem_seen
        self._walks.clear()
        for address, name in older._by_scsi.items():
            self._by_scsi.setdefault(address, name)

    # ------------------------------------------------------------------ look-ups
    def __contains__(self, name: object) -> bool:
        return name in self._devices

    def __iter__(self) -> Iterator[BlockDevice]:
        return iter(self._devices.values())

    def __len__(self) -> int:
        return len(self._devices)

    def get(self, name: str) -> BlockDevice | None:
        return self._devices.get(name)

    def by_majmin(self, majmin: str) -> str | None:
        return self._by_majmin.get(majmin)

    def by_scsi(self, address: str) -> str | None:
        return self._by_scsi.get(address)

    def by_dm_name(self, dm_name: str) -> str | None:
        return self._by_dm_name.get(dm_name)

    def parents(self, name: str) -> list[str]:
        device = self._devices.get(name)
        return list(device.parents) if device else []

    def holders(self, name: str) -> list[str]:
        return sorted(self._holders.get(name, ()))

    def _walk(self, kind: str, name: str, walk: Callable[[str], list[str]]) -> list[str]:
        found = self._walks.get((kind, name))
        if found is None:
            found = self._walks[(kind, name)] = walk(name)
        return list(found)

    def below(self, name: str) -> list[str]:
        """Every device under ``name``, bottom first (disks before partitions before dm)."""
        return self._walk("below", name, self._below)

    def above(self, name: str) -> list[str]:
        """Every device stacked on ``name`` (partitions, dm, md), nearest first."""
        return self._walk("above", name, self._above)

    def filesystems_above(self, name: str) -> list[str]:
        """Devices carrying a filesystem at or above ``name``."""
        return self._walk("filesystems", name, self._filesystems_above)

    def _below(self, name: str) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(current: str, depth: int) -> None:
            if current in seen or depth > 16:  # a cycle in a hand-made snapshot stops here
                return
            seen.add(current)
            for parent in self.parents(current):
                visit(parent, depth + 1)
            order.append(current)

        visit(name, 0)
        return order[:-1]

    def _above(self, name: str) -> list[str]:
        order: list[str] = []
        frontier = [name]
        seen = {name}
        while frontier and len(seen) < 4096:
            nxt: list[str] = []
            for current in frontier:
                for holder in self.holders(current):
                    if holder not in seen:
                        seen.add(holder)
                        order.append(holder)
                        nxt.append(holder)
            frontier = nxt
        return order

    def partition_at(self, disk: str, sector: int) -> str | None:
        """The partition of ``disk`` that holds ``sector``, when the snapshot says."""
        for holder in self.holders(disk):
            part = self._devices[holder]
            if part.start_sector is None or part.size_sectors is None:
                continue
            if part.start_sector <= sector < part.start_sector + part.size_sectors:
                return holder
        return None

    def _filesystems_above(self, name: str) -> list[str]:
        found = [name] if self.carries_filesystem(name) else []
        found += [d for d in self._above(name) if self.carries_filesystem(d)]
        return found

    def carries_filesystem(self, name: str) -> bool:
        device = self._devices.get(name)
        return bool(device and (device.fstype or device.mountpoints)) or (
            name in self._filesystem_seen
        )

    def stack_known(self, name: str) -> bool:
        """True if the snapshot (not only the log) says what ``name`` sits on."""
        device = self._devices.get(name)
        return bool(
            device
            and device.type != LEARNED
            and (device.parents or device.type in ("disk", "loop"))
        )

    def stack_learned(self, name: str) -> bool:
        """True if the log taught what ``name`` sits on (a partition's disk, say)."""
        device = self._devices.get(name)
        return bool(device and device.parents)

    # ------------------------------------------------------------------ snapshot I/O
    def to_json(self) -> dict[str, Any]:
        return {
            "version": TOPOLOGY_VERSION,
            "host": self.host,
            "kernel": self.kernel,
            "devices": [d.to_json() for d in sorted(self, key=lambda d: d.name)],
        }

    @classmethod
    def from_json(cls, data: object) -> Topology:
        """Load a snapshot; raises :class:`TopologyError` naming the bad field."""
        if not isinstance(data, dict):
            raise TopologyError("topology: expected a JSON object at the top level")
        version = data.get("version")
        if version != TOPOLOGY_VERSION:
            raise TopologyError(
                f"topology: version {version!r} is not supported (this rowatch reads "
                f"version {TOPOLOGY_VERSION})"
            )
        raw_devices = data.get("devices")
        if not isinstance(raw_devices, list):
            raise TopologyError("topology.devices: expected a list")
        host = data.get("host")
        kernel = data.get("kernel")
        return cls(
            (_device_from_json(i, raw) for i, raw in enumerate(raw_devices)),
            host=host if isinstance(host, str) else None,
            kernel=kernel if isinstance(kernel, str) else None,
        )

    @classmethod
    def loads(cls, text: str) -> Topology:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TopologyError(f"topology: not valid JSON: {exc}") from None
        return cls.from_json(data)

    def copy(self) -> Topology:
        return Topology.from_json(json.loads(json.dumps(self.to_json())))
