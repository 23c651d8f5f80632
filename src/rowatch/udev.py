"""udev enrichment and change watchers, all optional.

* :class:`UdevInfo` / :func:`read_udev_info`: what udev's database adds to sysfs (serials,
  WWNs, vendor/model, dm names, filesystem types of unmounted devices, /dev/disk/by-* links).
  pyudev is imported lazily: without it (or without libudev) the topology is sysfs alone.
* :class:`UdevWatcher`: block device add/remove/change events from a netlink
  ``pyudev.Monitor``, read on the asyncio loop (``loop.add_reader`` on the monitor's fd,
  drained with ``poll(timeout=0)``): no threads, no polling.
* :class:`MountWatcher`: mount table changes, from /proc/self/mountinfo's POLLPRI.

Works with pyudev 0.24.0 (Debian 12) and later: only API present in both is used
(``Context.list_devices``, ``Device.properties``/``sys_name``/``device_links``/
``is_initialized``/``action``, ``Monitor.from_netlink``/``filter_by``/``start``/``fileno``/
``poll``); nothing deprecated (``Device.from_*``, ``MonitorObserver``, ``Monitor.receive_device``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import select
from collections.abc import Callable, Mapping
from typing import Any

from rowatch import devices as names
from rowatch.mounts import MOUNTINFO_PATH
from rowatch.topology import BlockDevice

#: udevd's control socket: libudev itself takes its absence to mean "udevd is not running".
UDEV_CONTROL = "/run/udev/control"
#: The properties rowatch reads (the rest of udev's database is not kept).
KEPT_PROPERTIES = (
    "ID_SERIAL",
    "ID_SERIAL_SHORT",
    "ID_WWN",
    "ID_WWN_WITH_EXTENSION",
    "ID_VENDOR",
    "ID_VENDOR_ENC",
    "ID_MODEL",
    "ID_MODEL_ENC",
    "DM_NAME",
    "DM_UUID",
    "DM_VG_NAME",
    "DM_LV_NAME",
    "ID_FS_TYPE",
    "ID_FS_USAGE",
    "DEVLINKS",
)
_ENC = re.compile(r"\\x([0-9a-fA-F]{2})")
#: Events handled per wake-up; the rest wait for the next loop iteration (the fd stays
#: readable), so a storm of uevents cannot starve the kernel log reader.
_BATCH = 256


def _decode_enc(value: str | None) -> str | None:
    """udev's ``*_ENC`` form: ``VMware\\x20\\x20`` -> ``VMware``."""
    if not value:
        return None
    return _ENC.sub(lambda m: chr(int(m.group(1), 16)), value)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value or None


class UdevInfo:
    """udev's properties of block devices, by kernel name (plain data; build it from a dict in
    tests, or from the live database with :meth:`from_context` / :func:`read_udev_info`)."""

    def __init__(
        self,
        devices: Mapping[str, Mapping[str, str]] | None = None,
        *,
        initialized: int | None = None,
    ) -> None:
        self._devices: dict[str, dict[str, str]] = {
            name: {k: v for k, v in props.items() if k in KEPT_PROPERTIES and isinstance(v, str)}
            for name, props in (devices or {}).items()
            if names.valid_name(name)
        }
        #: How many devices udevd has processed. 0 means udevd is not running (a container,
        #: an initramfs): libudev then only has the kernel's uevent variables, no ID_*.
        self.initialized = len(self._devices) if initialized is None else initialized

    @classmethod
    def from_context(cls, context: Any) -> UdevInfo:
        """Read the udev database of every block device through a ``pyudev.Context``."""
        devices: dict[str, dict[str, str]] = {}
        initialized = 0
        for device in context.list_devices(subsystem="block"):
            try:
                name = device.sys_name
                if not isinstance(name, str) or not names.valid_name(name):
                    continue
                properties = device.properties
                props = {
                    key: value
                    for key in KEPT_PROPERTIES
                    if isinstance(value := properties.get(key), str)
                }
                links = [link for link in device.device_links if isinstance(link, str)]
                ready = bool(device.is_initialized)
            except (LookupError, ValueError, OSError):
                # Gone since the enumeration (pyudev's DeviceNotFoundError is a LookupError),
                # or a property libudev cannot decode: that device goes without udev's data.
                continue
            if links:
                props["DEVLINKS"] = " ".join(links)
            devices[name] = props
            initialized += ready
        return cls(devices, initialized=initialized)

    def __contains__(self, name: object) -> bool:
        return name in self._devices

    def __len__(self) -> int:
        return len(self._devices)

    def properties(self, name: str) -> Mapping[str, str]:
        return self._devices.get(name, {})

    def links(self, name: str) -> list[str]:
        """/dev/disk/by-id/..., /dev/mapper/..., /dev/VG/LV: udev's DEVLINKS, sorted."""
        raw = self._devices.get(name, {}).get("DEVLINKS", "")
        return sorted({link for link in raw.split() if link.startswith("/dev/")})

    def link_targets(self) -> dict[str, str]:
        """Every link -> the kernel name it points at (to resolve a mount source)."""
        return {link: name for name in self._devices for link in self.links(name)}

    def apply(self, device: BlockDevice) -> None:
        """Fill in ``device`` from udev; udev's values override sysfs's."""
        props = self._devices.get(device.name)
        if not props:
            return
        if device.type != "part":
            # udev copies a disk's ID_* onto its partitions; the snapshot keeps identity on
            # the disk only, as a sysfs-only snapshot does.
            device.serial = (
                _clean(props.get("ID_SERIAL_SHORT") or props.get("ID_SERIAL")) or device.serial
            )
            device.wwn = (
                _clean(props.get("ID_WWN_WITH_EXTENSION") or props.get("ID_WWN")) or device.wwn
            )
            device.vendor = (
                _clean(_decode_enc(props.get("ID_VENDOR_ENC")) or props.get("ID_VENDOR"))
                or device.vendor
            )
            device.model = (
                _clean(_decode_enc(props.get("ID_MODEL_ENC")) or props.get("ID_MODEL"))
                or device.model
            )
        dm_name = props.get("DM_NAME")
        if dm_name and dm_name.isprintable() and "/" not in dm_name:
            device.dm_name = dm_name
        # Only a filesystem: ID_FS_TYPE is also "LVM2_member", "linux_raid_member", "swap",
        # "crypto_LUKS", and those must not make the engine think a filesystem is there.
        fstype = _clean(props.get("ID_FS_TYPE"))
        if fstype and props.get("ID_FS_USAGE") == "filesystem":
            device.fstype = fstype
        device.links = self.links(device.name) or device.links


def read_udev_info() -> UdevInfo | None:
    """The live udev database, or None without pyudev or libudev."""
    try:
        import pyudev  # optional dependency: imported when used

        context = pyudev.Context()  # ImportError if libudev.so.1 cannot be loaded
        return UdevInfo.from_context(context)
    except (ImportError, OSError):
        return None


def udevd_running() -> bool:
    return os.path.exists(UDEV_CONTROL)


# ---------------------------------------------------------------------------- watchers
class UdevWatcher:
    """Calls ``on_change(action, device_name)`` for every block uevent, on the asyncio loop.

    ``source``: ``"udev"`` (events after udevd has processed the device, so its database is
    current), ``"kernel"`` (raw kernel uevents; all there is without udevd) or ``"auto"``
    (udev if udevd runs, else kernel). If the netlink socket overflowed, events were lost:
    ``on_change("overflow", "")`` says so (rebuild everything). Any other receive error
    closes the watcher and propagates to the loop's exception handler.

    :meth:`start` raises ImportError without pyudev/libudev, OSError if the netlink socket
    cannot be opened, RuntimeError without a running loop (unless ``loop`` is given).
    """

    def __init__(
        self,
        on_change: Callable[[str, str], object],
        *,
        source: str = "auto",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if source not in ("auto", "udev", "kernel"):
            raise ValueError(f"source must be auto, udev or kernel, not {source!r}")
        self._on_change = on_change
        self._requested = source
        self._loop = loop
        self._monitor: Any = None
        self._fd: int | None = None
        self.source = source if source != "auto" else None

    def start(self) -> None:
        import pyudev  # optional dependency: imported when used

        loop = self._loop or asyncio.get_running_loop()
        source = self._requested
        if source == "auto":
            source = "udev" if udevd_running() else "kernel"
        monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source=source)
        monitor.filter_by(subsystem="block")
        monitor.start()  # binds the socket and makes it non-blocking
        fd = monitor.fileno()
        loop.add_reader(fd, self._drain)
        self._loop, self._monitor, self._fd, self.source = loop, monitor, fd, source

    def _drain(self) -> None:
        monitor = self._monitor
        for _ in range(_BATCH):
            if monitor is None:
                return
            try:
                device = monitor.poll(timeout=0)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    self.close()  # a broken socket stays readable: do not spin on it
                    raise
                self._on_change("overflow", "")
                continue
            if device is None:
                return
            name = device.sys_name
            if isinstance(name, str) and names.valid_name(name):
                self._on_change(str(device.action or "change"), name)
            monitor = self._monitor  # the callback may have closed us

    def close(self) -> None:
        if self._fd is not None and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._fd = None
        self._monitor = None  # libudev closes the socket when the last reference goes


class MountWatcher:
    """Calls ``on_change()`` when the mount table changes (mount, umount, remount, move).

    /proc/self/mountinfo signals POLLPRI|POLLERR on a change of the mount namespace
    (fs/proc_namespace.c ``mounts_poll``; proc(5)). asyncio watches only readability, so the
    file goes into an epoll set with EPOLLPRI and that epoll fd, readable whenever the file has
    an event, goes to ``loop.add_reader``.

    Not signalled: a filesystem turning read-only by itself after an error (ext4
    errors=remount-ro, XFS shutdown, ext4 emergency_ro): the superblock changes, not the mount
    namespace. The kernel log and the periodic reconcile catch those.
    """

    def __init__(
        self,
        on_change: Callable[[], object],
        *,
        path: str = MOUNTINFO_PATH,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._on_change = on_change
        self._path = path
        self._loop = loop
        self._file: int | None = None
        self._epoll: select.epoll | None = None

    def start(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            epoll = select.epoll()
        except OSError:
            os.close(fd)
            raise
        try:
            epoll.register(fd, select.EPOLLPRI | select.EPOLLERR)
            loop.add_reader(epoll.fileno(), self._ready)
        except BaseException:
            epoll.close()
            os.close(fd)
            raise
        self._loop, self._file, self._epoll = loop, fd, epoll

    def _ready(self) -> None:
        if self._epoll is None:
            return
        # Empty the epoll ready list. mounts_poll() reports a change once per open file and
        # the outer selector's check may already have consumed it, so this can come back
        # empty: being woken is the signal.
        self._epoll.poll(0)
        self._on_change()

    def close(self) -> None:
        if self._epoll is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        if self._file is not None:
            os.close(self._file)
            self._file = None
