"""build_topology: fake sysfs trees shaped like real servers, and this machine's real one.

The fake trees copy the kernel's layout (Documentation/ABI/stable/sysfs-block,
ABI/testing/sysfs-block-dm, drivers/scsi/scsi_sysfs.c, drivers/nvme/host): devices live under
/sys/devices, /sys/class/block/<name> and /sys/dev/block/<maj:min> are relative symlinks to
them, a partition's directory sits inside its disk's, and slaves/holders are symlinks. The
real tests (root) make loop devices, a partition table and mounts, and clean up after
themselves even when they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from rowatch.sysfs import build_topology
from rowatch.topology import Topology
from rowatch.topology_view import human_size, render_tree
from rowatch.udev import UdevInfo, read_udev_info


# --------------------------------------------------------------------------------------------
# A fake /sys
# --------------------------------------------------------------------------------------------
class FakeSysfs:
    """Builds a /sys-shaped tree: devices, class/block and dev/block links, stacking links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.block = root / "class" / "block"
        self.dev_block = root / "dev" / "block"
        self.block.mkdir(parents=True)
        self.dev_block.mkdir(parents=True)
        self.dirs: dict[str, Path] = {}

    @staticmethod
    def _write(directory: Path, attrs: dict[str, str | bytes]) -> None:
        for key, value in attrs.items():
            path = directory / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, bytes):
                path.write_bytes(value)
            else:
                path.write_text(value + "\n")

    @staticmethod
    def _link(link: Path, target: Path) -> None:
        """A relative link as sysfs makes it (kernfs_get_target_path): up to a common
        ancestor of the target's *parent*, then down, so it always ends in the target's name:
        sda/device -> ../../../0:0:0:0, never ../.."""
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.join(os.path.relpath(target.parent, link.parent), target.name))

    def _register(
        self,
        name: str,
        directory: Path,
        majmin: str,
        size: int,
        attrs: dict[str, str | bytes],
        devtype: str,
    ) -> Path:
        directory.mkdir(parents=True)
        major, minor = majmin.split(":")
        self._write(
            directory,
            {
                "dev": majmin,
                "size": str(size),
                "ro": "0",
                "removable": "0",
                "uevent": f"MAJOR={major}\nMINOR={minor}\nDEVNAME={name}\nDEVTYPE={devtype}",
                **attrs,
            },
        )
        (directory / "holders").mkdir()
        self._link(self.block / name, directory)
        self._link(self.dev_block / majmin, directory)
        self.dirs[name] = directory
        return directory

    def scsi_device(
        self,
        parent: str,
        hctl: str,
        vendor: str,
        model: str,
        *,
        scsi_type: str = "0",
        wwid: str | None = None,
        serial: str | None = None,
    ) -> str:
        """.../hostH/targetH:C:T/H:C:T:L with INQUIRY data; returns its device path."""
        h, c, t, _ = hctl.split(":")
        path = f"{parent}/host{h}/target{h}:{c}:{t}/{hctl}"
        attrs: dict[str, str | bytes] = {
            "vendor": vendor.ljust(8),
            "model": model.ljust(16),
            "rev": "1.0 ",
            "type": scsi_type,
            "state": "running",
        }
        if wwid is not None:
            attrs["wwid"] = wwid
        if serial is not None:  # VPD page 0x80: header, then the serial
            data = serial.encode()
            attrs["vpd_pg80"] = bytes([0, 0x80, 0, len(data)]) + data
        directory = self.root / "devices" / path
        directory.mkdir(parents=True)
        self._write(directory, attrs)
        return path

    def disk(
        self,
        name: str,
        majmin: str,
        size: int,
        *,
        under: str = "virtual",
        attrs: dict[str, str | bytes] | None = None,
    ) -> Path:
        """A whole disk at devices/<under>/block/<name>; ``device`` links to ``under``."""
        directory = self.root / "devices" / under / "block" / name
        self._register(name, directory, majmin, size, attrs or {}, "disk")
        (directory / "slaves").mkdir()
        if under != "virtual":
            self._link(directory / "device", self.root / "devices" / under)
        return directory

    def partition(self, disk: str, name: str, majmin: str, start: int, size: int) -> Path:
        number = name.rstrip("0123456789")
        return self._register(
            name,
            self.dirs[disk] / name,
            majmin,
            size,
            {"start": str(start), "partition": name[len(number) :]},
            "partition",
        )

    def stack(self, upper: str, lower: str) -> None:
        """``upper`` sits on ``lower``: upper/slaves/lower and lower/holders/upper."""
        self._link(self.dirs[upper] / "slaves" / lower, self.dirs[lower])
        self._link(self.dirs[lower] / "holders" / upper, self.dirs[upper])

    def dm(
        self, name: str, majmin: str, size: int, dm_name: str, uuid: str, lower: list[str]
    ) -> Path:
        directory = self.disk(
            name, majmin, size, attrs={"dm/name": dm_name, "dm/uuid": uuid, "dm/suspended": "0"}
        )
        for dev in lower:
            self.stack(name, dev)
        return directory


GIB = 2 * 1024 * 1024  # sectors
PCI = "pci0000:00/0000:00:10.0"


def scsi_lvm_server(root: Path) -> FakeSysfs:
    """VMware guest: sda (sda1 /boot, sda2 LVM PV) with dm-0 vg0-root on /, and a CD-ROM."""
    fake = FakeSysfs(root)
    sda = fake.scsi_device(
        PCI,
        "0:0:0:0",
        "VMware",
        "Virtual disk",
        wwid="naa.6000c29f3a2b1c0d9e8f7a6b5c4d3e2f",
        serial="6000c29f3a2b1c0d",
    )
    fake.disk("sda", "8:0", 16 * GIB, under=sda)
    fake.partition("sda", "sda1", "8:1", 2048, 2097152)
    fake.partition("sda", "sda2", "8:2", 2099200, 16 * GIB - 2099200)
    fake.dm(
        "dm-0",
        "253:0",
        14 * GIB,
        "vg0-root",
        "LVM-Abc123Def456Ghi789Jkl012Mno345PqrStu678Vwx901Yz",
        ["sda2"],
    )
    sr0 = fake.scsi_device(
        "pci0000:00/0000:00:07.1/ata2", "2:0:0:0", "NECVMWar", "VMware SATA CD00", scsi_type="5"
    )
    fake.disk("sr0", "11:0", 0, under=sr0)
    return fake


SCSI_LVM_MOUNTS = """\
27 1 253:0 / / rw,relatime - ext3 /dev/mapper/vg0-root rw,errors=remount-ro,data=ordered
28 27 8:1 / /boot rw,relatime - ext4 /dev/sda1 rw
29 27 8:1 /grub /mnt/grub ro,relatime - ext4 /dev/sda1 rw
30 27 0:40 / /tmp rw - tmpfs tmpfs rw
"""


def devices(topology: Topology) -> dict[str, dict[str, object]]:
    return {d.name: asdict(d) for d in topology}


# --------------------------------------------------------------------------------------------
# Fake trees
# --------------------------------------------------------------------------------------------
def test_scsi_disk_partitions_and_lvm(tmp_path: Path) -> None:
    fake = scsi_lvm_server(tmp_path)
    topology = build_topology(str(tmp_path), SCSI_LVM_MOUNTS)
    assert sorted(d.name for d in topology) == ["dm-0", "sda", "sda1", "sda2", "sr0"]

    sda = topology.get("sda")
    assert sda is not None
    assert (sda.type, sda.maj_min, sda.scsi_address) == ("disk", "8:0", "0:0:0:0")
    assert (sda.vendor, sda.model) == ("VMware", "Virtual disk")  # INQUIRY padding gone
    assert sda.wwn == "0x6000c29f3a2b1c0d9e8f7a6b5c4d3e2f"  # as udev's ID_WWN_WITH_EXTENSION
    assert sda.serial == "6000c29f3a2b1c0d"
    assert sda.size_sectors == 16 * GIB and sda.parents == []

    sda2 = topology.get("sda2")
    assert sda2 is not None
    assert (sda2.type, sda2.parents, sda2.start_sector) == ("part", ["sda"], 2099200)
    assert sda2.serial is None and sda2.fstype is None  # identity stays on the disk

    dm0 = topology.get("dm-0")
    assert dm0 is not None
    assert (dm0.type, dm0.dm_name, dm0.parents) == ("dm", "vg0-root", ["sda2"])
    assert (dm0.fstype, dm0.mountpoints) == ("ext3", ["/"])

    sda1 = topology.get("sda1")
    assert sda1 is not None
    # The whole-filesystem mount first, then the bind-like one; the tmpfs is nobody's.
    assert (sda1.fstype, sda1.mountpoints) == ("ext4", ["/boot", "/mnt/grub"])

    sr0 = topology.get("sr0")
    assert sr0 is not None
    assert (sr0.type, sr0.scsi_address, sr0.vendor) == ("rom", "2:0:0:0", "NECVMWar")

    # What the engine asks of it.
    assert topology.by_scsi("0:0:0:0") == "sda"
    assert topology.by_majmin("253:0") == "dm-0"
    assert topology.by_dm_name("vg0-root") == "dm-0"
    assert topology.partition_at("sda", 4928181) == "sda2"
    assert topology.filesystems_above("sda") == ["sda1", "dm-0"]
    assert topology.below("dm-0") == ["sda", "sda2"]
    assert topology.holders("sda2") == ["dm-0"]
    assert topology.stack_known("dm-0") and topology.stack_known("sda")
    assert fake.dirs  # the tree really was built through the helper


def test_multipath_over_two_scsi_paths(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path)
    wwid = "naa.600a098038303053453f463045727a71"
    for name, hctl, majmin in (("sdc", "1:0:0:1", "8:32"), ("sdd", "2:0:0:1", "8:48")):
        host = "pci0000:00/0000:00:03.0" if hctl[0] == "1" else "pci0000:00/0000:00:04.0"
        path = fake.scsi_device(host, hctl, "NETAPP", "LUN C-Mode", wwid=wwid)
        fake.disk(name, majmin, 100 * GIB, under=path)
    fake.dm(
        "dm-2",
        "253:2",
        100 * GIB,
        "mpatha",
        "mpath-3600a098038303053453f463045727a71",
        ["sdc", "sdd"],
    )
    mounts = "40 27 253:2 / /data rw,relatime - xfs /dev/mapper/mpatha rw,attr2,inode64\n"
    topology = build_topology(str(tmp_path), mounts)

    dm2 = topology.get("dm-2")
    assert dm2 is not None
    assert (dm2.type, dm2.dm_name, dm2.parents) == ("dm", "mpatha", ["sdc", "sdd"])
    assert (dm2.fstype, dm2.mountpoints) == ("xfs", ["/data"])
    assert topology.by_scsi("1:0:0:1") == "sdc" and topology.by_scsi("2:0:0:1") == "sdd"
    assert topology.filesystems_above("sdd") == ["dm-2"]
    assert topology.holders("sdc") == ["dm-2"] == topology.holders("sdd")
    tree = render_tree(topology)
    assert tree.count("dm-2") == 2  # under each path, as lsblk shows it


def test_md_raid1_over_two_partitions(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path)
    for letter, h, minor in (("b", "1", 16), ("c", "2", 32)):
        path = fake.scsi_device(PCI, f"{h}:0:0:0", "ATA", "ST4000NM0035")
        fake.disk(f"sd{letter}", f"8:{minor}", 3000 * GIB, under=path)
        fake.partition(f"sd{letter}", f"sd{letter}1", f"8:{minor + 1}", 2048, 3000 * GIB - 4096)
    md0 = fake.disk(
        "md0",
        "9:0",
        3000 * GIB - 8192,
        attrs={"md/level": "raid1", "md/raid_disks": "2", "md/array_state": "clean"},
    )
    fake.stack("md0", "sdb1")
    fake.stack("md0", "sdc1")
    (md0 / "md" / "dev-sdb1").mkdir()
    fake.partition("md0", "md0p1", "259:3", 2048, 1000 * GIB)
    mounts = "50 27 259:3 / /srv rw - ext4 /dev/md0p1 rw\n"
    topology = build_topology(str(tmp_path), mounts)

    md = topology.get("md0")
    assert md is not None
    assert (md.type, md.parents) == ("md", ["sdb1", "sdc1"])
    part = topology.get("md0p1")
    assert part is not None
    assert (part.type, part.parents, part.mountpoints) == ("part", ["md0"], ["/srv"])
    assert topology.filesystems_above("sdb") == ["md0p1"]
    assert topology.below("md0p1") == ["sdb", "sdb1", "sdc", "sdc1", "md0"]


def test_nvme_namespace_and_partitions(tmp_path: Path) -> None:
    fake = FakeSysfs(tmp_path)
    ctrl = "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0"
    (tmp_path / "devices" / ctrl).mkdir(parents=True)
    FakeSysfs._write(
        tmp_path / "devices" / ctrl,
        {
            "model": "Samsung SSD 970 EVO Plus 1TB          ",
            "serial": "S4EWNX0R123456A     ",
            "firmware_rev": "2B2QEXM7",
            "transport": "pcie",
        },
    )
    directory = tmp_path / "devices" / ctrl / "nvme0n1"
    fake._register(
        "nvme0n1",
        directory,
        "259:0",
        1953525168,
        {"wwid": "eui.0025385b91b0e3c4", "nsid": "1"},
        "disk",
    )
    (directory / "slaves").mkdir()
    fake._link(directory / "device", tmp_path / "devices" / ctrl)
    fake.partition("nvme0n1", "nvme0n1p1", "259:1", 2048, 1048576)
    fake.partition("nvme0n1", "nvme0n1p2", "259:2", 1050624, 1952474511)
    mounts = (
        "27 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw\n"
        "28 27 259:1 / /boot/efi rw - vfat /dev/nvme0n1p1 rw,fmask=0077\n"
    )
    topology = build_topology(str(tmp_path), mounts)

    ns = topology.get("nvme0n1")
    assert ns is not None
    assert os.readlink(directory / "device") == "../../nvme0"  # as on a real machine
    assert (ns.type, ns.model, ns.serial) == (
        "disk",
        "Samsung SSD 970 EVO Plus 1TB",
        "S4EWNX0R123456A",
    )
    assert ns.wwn == "eui.0025385b91b0e3c4" and ns.scsi_address is None
    p2 = topology.get("nvme0n1p2")
    assert p2 is not None
    assert (p2.parents, p2.start_sector, p2.fstype, p2.mountpoints) == (
        ["nvme0n1"],
        1050624,
        "ext4",
        ["/"],
    )
    assert topology.partition_at("nvme0n1", 2_000_000) == "nvme0n1p2"


def test_nvme_native_multipath_head_sits_on_its_paths(tmp_path: Path) -> None:
    # CONFIG_NVME_MULTIPATH: the head nvme0n1 lives under nvme-subsystem and lists its hidden
    # per-path disks (nvme0c0n1, the name I/O errors are logged with) in multipath/.
    fake = FakeSysfs(tmp_path)
    subsys = "virtual/nvme-subsystem/nvme-subsys0"
    (tmp_path / "devices" / subsys).mkdir(parents=True)
    FakeSysfs._write(
        tmp_path / "devices" / subsys, {"model": "KIOXIA KCD6XLUL3T84", "serial": "X1A0A0AAAAAA"}
    )
    ctrl = tmp_path / "devices" / "pci0000:00/0000:00:1d.0/nvme/nvme0"
    path = fake._register(
        "nvme0c0n1", ctrl / "nvme0c0n1", "0:0", 7501476528, {"hidden": "1"}, "disk"
    )
    fake._link(path / "device", ctrl)
    (path / "dev").unlink()  # hidden disks have no device number for userspace
    head = tmp_path / "devices" / subsys / "nvme0n1"
    fake._register("nvme0n1", head, "259:0", 7501476528, {"wwid": "eui.8ce38ee20b3ab5a3"}, "disk")
    fake._link(head / "device", tmp_path / "devices" / subsys)
    fake._link(head / "multipath" / "nvme0c0n1", path)
    topology = build_topology(str(tmp_path), "")
    ns = topology.get("nvme0n1")
    assert ns is not None
    assert (ns.parents, ns.model, ns.serial) == (
        ["nvme0c0n1"],
        "KIOXIA KCD6XLUL3T84",
        "X1A0A0AAAAAA",
    )
    hidden = topology.get("nvme0c0n1")
    assert hidden is not None and hidden.maj_min is None


def test_btrfs_and_mapper_sources_map_anonymous_devices(tmp_path: Path) -> None:
    scsi_lvm_server(tmp_path)
    mounts = (
        "60 1 0:45 /@ / rw - btrfs /dev/sda1 rw,subvol=/@\n"
        "61 60 0:45 /@home /home rw - btrfs /dev/sda1 rw,subvol=/@home\n"
        "62 1 0:46 / /srv rw - btrfs /dev/mapper/vg0-root rw\n"
        "63 1 0:47 / /odd rw - tmpfs /dev/sda2 rw\n"  # a tmpfs is never on sda2
        "64 1 0:48 / /fuse rw - fuse.sshfs /dev/sda2 rw\n"
    )
    topology = build_topology(str(tmp_path), mounts)
    sda1, dm0, sda2 = topology.get("sda1"), topology.get("dm-0"), topology.get("sda2")
    assert sda1 is not None and dm0 is not None and sda2 is not None
    assert (sda1.fstype, sda1.mountpoints) == ("btrfs", ["/", "/home"])
    assert (dm0.fstype, dm0.mountpoints) == ("btrfs", ["/srv"])
    assert (sda2.fstype, sda2.mountpoints) == (None, [])


def test_udev_fills_in_and_overrides(tmp_path: Path) -> None:
    scsi_lvm_server(tmp_path)
    udev = UdevInfo(
        {
            "sda": {
                "ID_SERIAL": "36000c29f3a2b1c0d9e8f7a6b5c4d3e2f",
                "ID_SERIAL_SHORT": "6000c29f3a2b1c0d9e8f7a6b5c4d3e2f",
                "ID_WWN": "0x6000c29f3a2b1c0d",
                "ID_WWN_WITH_EXTENSION": "0x6000c29f3a2b1c0d9e8f",
                "ID_VENDOR": "VMware_",
                "ID_VENDOR_ENC": "VMware\\x20\\x20",
                "ID_MODEL": "Virtual_disk",
                "ID_MODEL_ENC": "Virtual\\x20disk\\x20\\x20\\x20",
                "DEVLINKS": "/dev/disk/by-path/pci-0000:00:10.0-scsi-0:0:0:0 "
                "/dev/disk/by-id/scsi-36000c29f3a2b1c0d9e8f7a6b5c4d3e2f",
            },
            "sda1": {
                "ID_FS_TYPE": "ext4",
                "ID_FS_USAGE": "filesystem",
                "ID_SERIAL": "copied",
                "DEVLINKS": "/dev/disk/by-uuid/0d5e8c2a-1f3b-4c1a-9d7e-2b6a5c4d3e2f",
            },
            "sda2": {"ID_FS_TYPE": "LVM2_member", "ID_FS_USAGE": "raid"},
            "dm-0": {
                "DM_NAME": "vg0-root",
                "DM_VG_NAME": "vg0",
                "DM_LV_NAME": "root",
                "ID_FS_TYPE": "ext4",
                "ID_FS_USAGE": "filesystem",
                "DEVLINKS": "/dev/vg0/root /dev/mapper/vg0-root /dev/disk/by-id/dm-name-vg0-root",
            },
            "bad\nname": {"ID_SERIAL": "x"},
        }
    )
    mounts = "27 1 0:33 / / rw - btrfs /dev/vg0/root rw\n"  # only udev's links resolve this
    topology = build_topology(str(tmp_path), mounts, udev=udev)
    sda, sda1, sda2, dm0 = (topology.get(n) for n in ("sda", "sda1", "sda2", "dm-0"))
    assert sda is not None and sda1 is not None and sda2 is not None and dm0 is not None
    assert (sda.vendor, sda.model) == ("VMware", "Virtual disk")
    assert sda.serial == "6000c29f3a2b1c0d9e8f7a6b5c4d3e2f"
    assert sda.wwn == "0x6000c29f3a2b1c0d9e8f"
    assert sda.links == [
        "/dev/disk/by-id/scsi-36000c29f3a2b1c0d9e8f7a6b5c4d3e2f",
        "/dev/disk/by-path/pci-0000:00:10.0-scsi-0:0:0:0",
    ]
    assert (sda1.fstype, sda1.mountpoints, sda1.serial) == ("ext4", [], None)  # not mounted
    assert sda2.fstype is None  # an LVM PV carries no filesystem
    assert (dm0.fstype, dm0.mountpoints) == ("btrfs", ["/"])  # mountinfo beats udev
    assert "/dev/vg0/root" in dm0.links


def test_hostile_names_are_skipped(tmp_path: Path) -> None:
    fake = scsi_lvm_server(tmp_path)
    # Entries no kernel makes: bad names, a name with a newline, a dangling link, a file.
    for minor, bad in enumerate(("bad\nname", "-rf", ".hidden", "x" * 40, "sp ace", "a\\b")):
        fake.disk(bad, f"1:{minor}", 8)
    (fake.block / "dangling").symlink_to("../../devices/virtual/block/nothing")
    (fake.block / "plainfile").write_text("not a device\n")
    # A partition whose link does not end in <disk>/<part>, one whose "disk" is "..".
    evil = fake.root / "devices" / "virtual" / "block" / "evil1"
    evil.mkdir(parents=True)
    FakeSysfs._write(evil, {"dev": "8:99", "size": "8", "partition": "1", "start": "0"})
    (fake.block / "evil1").symlink_to("../../devices/virtual/block/../block/evil1/../evil1")
    # Slaves that are not devices, a dm name with a newline, garbage numbers.
    fake._link(fake.dirs["dm-0"] / "slaves" / "nope\n", fake.dirs["sda1"])
    fake._link(fake.dirs["dm-0"] / "slaves" / "ghost", fake.dirs["sda1"])
    fake._link(fake.dirs["dm-0"] / "slaves" / "dm-0", fake.dirs["dm-0"])  # itself
    (fake.dirs["dm-0"] / "dm" / "name").write_text("evil\nname\n")
    (fake.dirs["sda1"] / "dev").write_text("8:x\n")
    (fake.dirs["sda1"] / "size").write_text("-5\n")
    (fake.dirs["sda2"] / "start").write_text("9" * 40 + "\n")

    topology = build_topology(str(tmp_path), SCSI_LVM_MOUNTS)
    assert sorted(d.name for d in topology) == ["dm-0", "evil1", "sda", "sda1", "sda2", "sr0"]
    assert "bad\nname" not in topology and ".hidden" not in topology
    evil_dev = topology.get("evil1")
    assert evil_dev is not None and evil_dev.parents == []
    dm0 = topology.get("dm-0")
    assert dm0 is not None
    assert (dm0.parents, dm0.dm_name) == (["sda2"], None)
    sda1 = topology.get("sda1")
    sda2 = topology.get("sda2")
    assert sda1 is not None and sda2 is not None
    assert (sda1.maj_min, sda1.size_sectors) == (None, None)
    assert sda2.start_sector is None
    # Whatever was read must survive the snapshot round trip.
    again = Topology.from_json(json.loads(json.dumps(topology.to_json())))
    assert devices(again) == devices(topology)


def test_missing_class_block_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        build_topology(str(tmp_path / "nosys"), "")


def test_snapshot_round_trip_of_fake_servers(tmp_path: Path) -> None:
    scsi_lvm_server(tmp_path)
    topology = build_topology(str(tmp_path), SCSI_LVM_MOUNTS)
    again = Topology.from_json(json.loads(json.dumps(topology.to_json())))
    assert devices(again) == devices(topology)
    assert (again.host, again.kernel) == (topology.host, topology.kernel)


def test_render_tree(tmp_path: Path) -> None:
    scsi_lvm_server(tmp_path)
    mounts = SCSI_LVM_MOUNTS + "31 27 8:2 / /mnt/evil\\012line\\033[31m rw - ext4 /dev/sda2 rw\n"
    tree = render_tree(build_topology(str(tmp_path), mounts))
    lines = tree.splitlines()
    assert lines[0].split() == [
        "NAME",
        "TYPE",
        "MAJ:MIN",
        "SIZE",
        "FSTYPE",
        "MOUNTPOINTS",
        "DETAILS",
    ]
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["sda", "├─sda1", "└─sda2", "└─dm-0"]  # sr0: empty drive, hidden
    assert "  └─dm-0" in tree
    sda = lines[1]
    assert " 16G " in sda and "scsi 0:0:0:0" in sda and "VMware Virtual disk" in sda
    assert "/boot,/mnt/grub" in lines[2]
    assert "dm-name vg0-root" in lines[4] and "/" in lines[4]
    assert "\\x0a" in lines[3] and "\x1b" not in tree  # no forged lines, no escape codes
    everything = render_tree(build_topology(str(tmp_path), mounts), all_devices=True)
    assert "sr0" in everything and "rom" in everything
    assert render_tree(Topology()).split() == lines[0].split()


def test_render_tree_survives_cycles_and_hides_empty_leaves() -> None:
    from rowatch.topology import BlockDevice

    topology = Topology(
        [
            BlockDevice("a", parents=["b"], size_sectors=8),
            BlockDevice("b", parents=["a"]),
            BlockDevice("sdx", size_sectors=8),
            BlockDevice("sdx1", type="part", parents=["sdx"]),
            BlockDevice("sdx2", type="part", parents=["sdx"], size_sectors=0),
        ]
    )
    names = [line.split()[0] for line in render_tree(topology).splitlines()[1:]]
    # Roots first; the cycle after them, cut where it comes round; sdx2 (empty) hidden.
    assert names == ["sdx", "└─sdx1", "a", "└─b", "└─a"]


def test_human_size() -> None:
    assert [human_size(s) for s in (None, 0, 1, 2048, 32768, 3 * GIB, 3 * GIB + GIB // 2)] == [
        "",
        "0B",
        "512B",
        "1M",
        "16M",
        "3G",
        "3.5G",
    ]


# --------------------------------------------------------------------------------------------
# This machine (root): loop devices, a partition table, mounts
# --------------------------------------------------------------------------------------------
def _need_root_and_loop() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, mounts)")
    for tool in ("losetup", "partx", "mount", "umount", "mkfs.ext4"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt: util-linux, mount, e2fsprogs)")
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no loop device support (/dev/loop-control)")


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def write_mbr(image: Path, partitions: list[tuple[int, int]]) -> None:
    """An MBR partition table (type 0x83) with (start, sectors) entries; no sfdisk needed."""
    table = bytearray(512)
    for i, (start, sectors) in enumerate(partitions):
        entry = (
            bytes([0, 0, 0, 0, 0x83, 0, 0, 0])
            + start.to_bytes(4, "little")
            + sectors.to_bytes(4, "little")
        )
        table[446 + 16 * i : 462 + 16 * i] = entry
    table[510:512] = b"\x55\xaa"
    with open(image, "r+b") as f:
        f.write(table)


@contextlib.contextmanager
def attached_loop(image: Path) -> Iterator[str]:
    """``losetup -P``; partitions via partx (BLKPG) when the kernel has no MBR parser."""
    dev = _run("losetup", "--find", "--show", "--partscan", str(image)).strip()
    loop = os.path.basename(dev)
    try:
        yield loop
    finally:
        backing = Path(f"/sys/class/block/{loop}/loop/backing_file")
        with contextlib.suppress(OSError):
            if os.path.realpath(backing.read_text().strip()) == os.path.realpath(image):
                subprocess.run(["partx", "-d", dev], capture_output=True, check=False)
                subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


def add_partitions(loop: str) -> None:
    if not os.path.exists(f"/sys/class/block/{loop}/{loop}p1"):  # kernel did not parse it
        _run("partx", "--add", f"/dev/{loop}")
    for _ in range(50):
        if os.path.exists(f"/dev/{loop}p1"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"/dev/{loop}p1 did not appear")


def _mounted(mountpoint: Path) -> bool:
    text = Path("/proc/self/mountinfo").read_text()
    escaped = str(mountpoint).replace(" ", "\\040")
    return any(line.split(" ")[4] == escaped for line in text.splitlines())


@contextlib.contextmanager
def mounted(dev: str, mountpoint: Path, *options: str) -> Iterator[Path]:
    mountpoint.mkdir(parents=True, exist_ok=True)
    _run("mount", *options, dev, str(mountpoint))
    try:
        yield mountpoint
    finally:
        for _ in range(10):
            if not _mounted(mountpoint):
                break
            subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False)
            time.sleep(0.05)
        else:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rowatch-sysfs-"))
    try:
        yield path
    finally:
        if not _mounted(path / "p1") and not _mounted(path / "ext4"):
            shutil.rmtree(path, ignore_errors=True)


@pytest.mark.root
def test_live_loop_devices(workdir: Path) -> None:
    _need_root_and_loop()
    whole = workdir / "whole.img"
    with open(whole, "wb") as f:
        f.truncate(64 << 20)
    _run("mkfs.ext4", "-q", "-F", str(whole))
    table = workdir / "table.img"
    with open(table, "wb") as f:
        f.truncate(32 << 20)
    write_mbr(table, [(2048, 32768), (34816, 30720)])

    with contextlib.ExitStack() as stack:
        ext4_loop = stack.enter_context(attached_loop(whole))
        part_loop = stack.enter_context(attached_loop(table))
        add_partitions(part_loop)
        _run("mkfs.ext4", "-q", "-F", f"/dev/{part_loop}p1")
        stack.enter_context(mounted(f"/dev/{ext4_loop}", workdir / "ext4"))
        stack.enter_context(mounted(f"/dev/{part_loop}p1", workdir / "p1"))

        started = time.perf_counter()
        topology = build_topology(udev=read_udev_info())
        elapsed = time.perf_counter() - started

        whole_dev = topology.get(ext4_loop)
        assert whole_dev is not None
        assert (whole_dev.type, whole_dev.fstype) == ("loop", "ext4")
        assert whole_dev.mountpoints == [str(workdir / "ext4")]
        assert whole_dev.backing_file == str(whole)
        assert whole_dev.size_sectors == (64 << 20) // 512

        disk = topology.get(part_loop)
        part = topology.get(f"{part_loop}p1")
        part2 = topology.get(f"{part_loop}p2")
        assert disk is not None and part is not None and part2 is not None
        assert disk.type == "loop" and disk.parents == [] and disk.fstype is None
        assert (part.type, part.parents) == ("part", [part_loop])
        assert (part.start_sector, part.size_sectors) == (2048, 32768)
        assert (part.fstype, part.mountpoints) == ("ext4", [str(workdir / "p1")])
        assert (part2.start_sector, part2.size_sectors, part2.mountpoints) == (34816, 30720, [])
        assert part.maj_min == Path(f"/sys/class/block/{part_loop}p1/dev").read_text().strip()
        assert topology.partition_at(part_loop, 40000) == f"{part_loop}p2"
        assert topology.filesystems_above(part_loop) == [f"{part_loop}p1"]

        again = Topology.from_json(json.loads(json.dumps(topology.to_json())))
        assert devices(again) == devices(topology)

        tree = render_tree(topology)
        print(tree)
        assert f"└─{part_loop}p2" in tree and f"├─{part_loop}p1" in tree
        assert elapsed < 2.0, elapsed


@pytest.mark.root
def test_live_btrfs_maps_through_its_source(workdir: Path) -> None:
    _need_root_and_loop()
    if shutil.which("mkfs.btrfs") is None:
        pytest.skip("mkfs.btrfs not installed (apt: btrfs-progs)")
    if "btrfs" not in Path("/proc/filesystems").read_text():
        pytest.skip("kernel has no btrfs")
    image = workdir / "btrfs.img"
    with open(image, "wb") as f:
        f.truncate(128 << 20)  # btrfs-progs 6.2 minimum is 114294784 bytes
    _run("mkfs.btrfs", "-q", "-f", str(image))
    with attached_loop(image) as loop, mounted(f"/dev/{loop}", workdir / "ext4"):
        line = next(
            line
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if f" /dev/{loop} " in line
        )
        assert line.split()[2].startswith("0:")  # btrfs: an anonymous device number
        device = build_topology().get(loop)
        assert device is not None
        assert (device.fstype, device.mountpoints) == ("btrfs", [str(workdir / "ext4")])
