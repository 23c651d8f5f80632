"""udev enrichment and the udev/mount-table watchers.

The watcher tests drive the real kernel (root): a loop device attached under a running asyncio
loop must reach ``on_change`` through the netlink monitor, a mount and an umount must reach
``on_mounts_changed`` through /proc/self/mountinfo's POLLPRI. Without udevd (containers, this
test VM) libudev's "udev" source gets nothing, so ``source="auto"`` takes the kernel's own
uevents, which is all a topology rebuild needs.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rowatch.sysfs import build_topology
from rowatch.topology import BlockDevice
from rowatch.udev import MountWatcher, UdevInfo, UdevWatcher, read_udev_info, udevd_running
from test_sysfs import attached_loop, mounted


# --------------------------------------------------------------------------------------------
# UdevInfo
# --------------------------------------------------------------------------------------------
def test_udev_info_keeps_what_rowatch_uses() -> None:
    info = UdevInfo(
        {
            "sdb": {
                "ID_SERIAL": "s",
                "ID_BUS": "scsi",
                "DEVLINKS": "/dev/disk/by-id/wwn-0x5 "
                "/dev/disk/by-path/pci-0 ../not-a-dev-path /dev/disk/by-id/wwn-0x5",
            },
            "../etc": {"ID_SERIAL": "x"},
            "sd\nb": {"ID_SERIAL": "x"},
        }
    )
    assert len(info) == 1 and "sdb" in info and "../etc" not in info
    assert dict(info.properties("sdb")) == {
        "ID_SERIAL": "s",
        "DEVLINKS": "/dev/disk/by-id/wwn-0x5 /dev/disk/by-path/pci-0 "
        "../not-a-dev-path /dev/disk/by-id/wwn-0x5",
    }
    assert info.links("sdb") == ["/dev/disk/by-id/wwn-0x5", "/dev/disk/by-path/pci-0"]
    assert info.link_targets() == {
        "/dev/disk/by-id/wwn-0x5": "sdb",
        "/dev/disk/by-path/pci-0": "sdb",
    }
    assert info.properties("nothing") == {} and info.links("nothing") == []


def test_apply_overrides_sysfs_and_decodes() -> None:
    info = UdevInfo(
        {
            "sda": {
                "ID_VENDOR_ENC": "HITACHI\\x20",
                "ID_VENDOR": "HITACHI_",
                "ID_MODEL": "OPEN-V",
                "ID_SERIAL": "360060e80",
                "ID_WWN": "0x60060e80",
                "ID_FS_TYPE": "linux_raid_member",
                "ID_FS_USAGE": "raid",
            },
            "sda1": {
                "ID_SERIAL_SHORT": "copied-from-disk",
                "ID_FS_TYPE": "xfs",
                "ID_FS_USAGE": "filesystem",
            },
            "dm-3": {"DM_NAME": "data-lv", "ID_FS_TYPE": "crypto_LUKS", "ID_FS_USAGE": "crypto"},
            "dm-4": {"DM_NAME": "bad/name\n"},
            "vdb": {"ID_MODEL_ENC": "\\x1b[31mred\\x07", "ID_SERIAL_SHORT": "  "},
        }
    )
    sda = BlockDevice("sda", vendor="HITACHI", model="old", serial="sysfs", wwn="naa")
    info.apply(sda)
    assert (sda.vendor, sda.model, sda.serial, sda.wwn, sda.fstype) == (
        "HITACHI",
        "OPEN-V",
        "360060e80",
        "0x60060e80",
        None,
    )
    part = BlockDevice("sda1", type="part")
    info.apply(part)
    assert (part.serial, part.fstype) == (None, "xfs")
    dm3 = BlockDevice("dm-3", type="dm")
    info.apply(dm3)
    assert (dm3.dm_name, dm3.fstype) == ("data-lv", None)
    dm4 = BlockDevice("dm-4", type="dm", dm_name="from-sysfs")
    info.apply(dm4)
    assert dm4.dm_name == "from-sysfs"
    vdb = BlockDevice("vdb", serial="keep")
    info.apply(vdb)
    assert (vdb.model, vdb.serial) == ("[31mred", "keep")  # control characters dropped
    other = BlockDevice("sdz", model="untouched")
    info.apply(other)
    assert other.model == "untouched"


class FakePyudevDevice:
    def __init__(
        self, name: str, props: dict[str, str], links: list[str], initialized: bool
    ) -> None:
        self.sys_name = name
        self.properties = props
        self.device_links = iter(links)
        self.is_initialized = initialized


class VanishedDevice:
    """Removed between enumeration and reading: pyudev raises DeviceNotFoundError."""

    sys_name = "sdq"
    device_links: list[str] = []
    is_initialized = True

    @property
    def properties(self) -> dict[str, str]:
        raise LookupError("gone")


class FakeContext:
    def __init__(self, devices: list[Any]) -> None:
        self.devices = devices
        self.asked: dict[str, Any] = {}

    def list_devices(self, **kwargs: Any) -> list[Any]:
        self.asked = kwargs
        return self.devices


def test_from_context_reads_properties_and_links() -> None:
    context = FakeContext(
        [
            FakePyudevDevice(
                "sda",
                {"ID_SERIAL": "abc", "MAJOR": "8", "DEVNAME": "/dev/sda"},
                ["/dev/disk/by-id/scsi-abc"],
                True,
            ),
            FakePyudevDevice("loop0", {"MAJOR": "7"}, [], False),
            FakePyudevDevice("bad name", {"ID_SERIAL": "x"}, [], True),
            VanishedDevice(),
        ]
    )
    info = UdevInfo.from_context(context)
    assert context.asked == {"subsystem": "block"}
    assert len(info) == 2 and info.initialized == 1
    assert dict(info.properties("sda")) == {
        "ID_SERIAL": "abc",
        "DEVLINKS": "/dev/disk/by-id/scsi-abc",
    }
    assert info.links("sda") == ["/dev/disk/by-id/scsi-abc"]


def test_without_pyudev(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyudev", None)  # "import pyudev" raises ImportError
    assert read_udev_info() is None
    (tmp_path / "class" / "block").mkdir(parents=True)
    assert len(build_topology(str(tmp_path), "", udev=read_udev_info())) == 0
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ImportError):
            UdevWatcher(lambda action, name: None, loop=loop).start()
    finally:
        loop.close()


def test_live_udev_database() -> None:
    pytest.importorskip("pyudev")
    before = set(os.listdir("/sys/class/block"))
    info = read_udev_info()
    if info is None:
        pytest.skip("libudev cannot be loaded")
    present = before & set(os.listdir("/sys/class/block"))  # others may attach loops meanwhile
    assert all(name in info for name in present)
    if not udevd_running():
        # No udevd: libudev only has the kernel's uevent variables (MAJOR, DEVNAME, ...), no
        # ID_* and no links, and no device counts as initialized.
        assert info.initialized == 0
        assert all(not info.links(name) for name in present)
        assert all(not any(k.startswith("ID_") for k in info.properties(name)) for name in present)
    topology = build_topology(udev=info)  # enrichment must not break the build
    assert {d.name for d in topology} >= present & set(os.listdir("/sys/class/block"))


# --------------------------------------------------------------------------------------------
# UdevWatcher: unit
# --------------------------------------------------------------------------------------------
class FakeMonitor:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def poll(self, timeout: float | None = None) -> Any:
        assert timeout == 0
        if not self.events:
            return None
        event = self.events.pop(0)
        if isinstance(event, BaseException):
            raise event
        return event


class Event:
    def __init__(self, action: str | None, sys_name: str) -> None:
        self.action = action
        self.sys_name = sys_name


def test_drain_reports_valid_names_and_overflow() -> None:
    seen: list[tuple[str, str]] = []
    watcher = UdevWatcher(lambda action, name: seen.append((action, name)), source="kernel")
    watcher._monitor = FakeMonitor(
        [
            Event("add", "sdb"),
            Event("remove", "bad\nname"),
            OSError(errno.ENOBUFS, "No buffer space available"),
            Event(None, "sdb1"),
        ]
    )
    watcher._drain()
    assert seen == [("add", "sdb"), ("overflow", ""), ("change", "sdb1")]
    watcher._monitor = FakeMonitor([OSError(errno.EBADF, "Bad file descriptor")])
    with pytest.raises(OSError):
        watcher._drain()
    assert watcher._monitor is None  # closed: a broken socket must not spin the loop


def test_drain_is_bounded() -> None:
    seen: list[str] = []
    watcher = UdevWatcher(lambda action, name: seen.append(name), source="kernel")
    monitor = FakeMonitor([Event("change", f"loop{i}") for i in range(1000)])
    watcher._monitor = monitor
    watcher._drain()
    assert 0 < len(seen) < 1000 and len(monitor.events) == 1000 - len(seen)


def test_bad_source() -> None:
    with pytest.raises(ValueError):
        UdevWatcher(lambda action, name: None, source="systemd")


def test_watchers_close_their_file_descriptors() -> None:
    pytest.importorskip("pyudev")

    async def scenario() -> tuple[int, int, int]:
        before = len(os.listdir("/proc/self/fd"))
        udev = UdevWatcher(lambda action, name: None, source="kernel")
        mount = MountWatcher(lambda: None)
        udev.start()
        mount.start()
        running = len(os.listdir("/proc/self/fd"))
        udev.close()
        mount.close()
        udev.close()  # twice is harmless
        mount.close()
        return before, running, len(os.listdir("/proc/self/fd"))

    before, running, after = asyncio.run(scenario())
    assert running == before + 3  # netlink socket; mountinfo file and its epoll
    assert after == before


def test_mount_watcher_refuses_a_file_without_poll_support(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    before = len(os.listdir("/proc/self/fd"))
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(OSError):  # epoll refuses regular files (EPERM)
            MountWatcher(lambda: None, path=str(plain), loop=loop).start()
    finally:
        loop.close()
    assert len(os.listdir("/proc/self/fd")) == before


# --------------------------------------------------------------------------------------------
# Watchers on the real kernel (root)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def image() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mounts)")
    if shutil.which("losetup") is None or not os.path.exists("/dev/loop-control"):
        pytest.skip("no loop device support (/dev/loop-control, losetup)")
    workdir = Path(tempfile.mkdtemp(prefix="rowatch-udev-"))
    path = workdir / "disk.img"
    with open(path, "wb") as f:
        f.truncate(32 << 20)
    try:
        yield path
    finally:
        if f" {workdir}/" not in Path("/proc/self/mountinfo").read_text():
            shutil.rmtree(workdir, ignore_errors=True)


async def _wait_for(seen: list[Any], predicate: Any, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if any(predicate(item) for item in seen):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.root
def test_udev_watcher_sees_loop_attach(image: Path) -> None:
    pytest.importorskip("pyudev")

    async def scenario() -> tuple[str, str | None, list[tuple[str, str]]]:
        seen: list[tuple[str, str]] = []
        watcher = UdevWatcher(lambda action, name: seen.append((action, name)))
        watcher.start()
        try:
            with attached_loop(image) as loop_name:
                found = await _wait_for(seen, lambda event: event[1] == loop_name)
                assert found, f"no uevent for {loop_name} from the {watcher.source} source: {seen}"
            return loop_name, watcher.source, seen
        finally:
            watcher.close()

    loop_name, source, seen = asyncio.run(scenario())
    assert source == ("udev" if udevd_running() else "kernel")
    assert ("change", loop_name) in seen  # LOOP_CONFIGURE/LOOP_SET_FD announce the new size


@pytest.mark.root
def test_udev_source_without_udevd_is_silent(image: Path) -> None:
    """Documents libudev: the "udev" source only carries what udevd re-broadcasts."""
    pytest.importorskip("pyudev")
    if udevd_running():
        pytest.skip("udevd is running here: its source is the right one")

    async def scenario() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        watcher = UdevWatcher(lambda action, name: seen.append((action, name)), source="udev")
        watcher.start()
        try:
            with attached_loop(image):
                await asyncio.sleep(0.5)
        finally:
            watcher.close()
        return seen

    assert asyncio.run(scenario()) == []


@pytest.mark.root
def test_mount_watcher_fires_on_mount_and_umount(image: Path) -> None:
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 not installed (apt: e2fsprogs)")
    import subprocess

    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    mountpoint = image.parent / "mnt"

    async def scenario() -> None:
        calls: list[float] = []
        loop = asyncio.get_running_loop()
        watcher = MountWatcher(lambda: calls.append(loop.time()))
        watcher.start()
        try:
            with attached_loop(image) as loop_name:
                await asyncio.sleep(0.1)
                calls.clear()
                with mounted(f"/dev/{loop_name}", mountpoint):
                    assert await _wait_for(calls, lambda _: True), "mount not signalled"
                    await asyncio.sleep(0.1)
                    calls.clear()
                assert await _wait_for(calls, lambda _: True), "umount not signalled"
        finally:
            watcher.close()
        assert watcher._epoll is None and watcher._file is None

    asyncio.run(scenario())
