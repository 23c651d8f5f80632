#!/usr/bin/env python3
"""Regenerate the real kernel logs in this directory (run as root on a real kernel).

    sudo python3 tests/data/real/capture.py [NAME ...]

For each scenario: follow /dev/kmsg, build the loop filesystem, make it fail with the recipe
from tests/kernel_scenarios.py, unmount, and save

* ``NAME.kmsg``  - the raw /dev/kmsg records, exactly the bytes of each read(), concatenated;
* ``NAME.dmesg`` - the same records as util-linux ``dmesg`` printed them (its own output,
  selected by timestamp), for text-source tests;
* ``manifest.json`` - per file: kernel, device, recipe, timing, and what mountinfo, statvfs and
  a write said afterwards.

README.md is written by hand from the manifest.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import kernel_scenarios as ks  # noqa: E402


class ForeignRecords(Exception):
    """Another process used loop devices during the capture."""


@dataclass(frozen=True)
class Scenario:
    name: str
    fstype: str
    options: str
    fuse: bool
    recipe: str  # human description for the manifest/README
    action: Callable[[ks.LoopFilesystem], ks.KmsgEntry | None]
    expect_alert: bool
    outcome: str | None  # rowatch Kind the final record should map to, if any


def _fake_records(fs: ks.LoopFilesystem) -> ks.KmsgEntry | None:
    """Userspace forging kernel-looking lines about a real, healthy, rw mount."""
    loop = fs.loop
    ks.write_kmsg(
        f"EXT4-fs error (device {loop}): ext4_journal_check_start:87: "
        "comm python3: Detected aborted journal",
        2,
    )
    ks.write_kmsg(f"Aborting journal on device {loop}-8.", 3)
    ks.write_kmsg(f"EXT4-fs ({loop}): Remounting filesystem read-only", 2)
    ks.write_kmsg(f"EXT4-fs ({loop}): Remounting filesystem read-only", 0)
    ks.write_kmsg(
        f"I/O error, dev {loop}, sector 2 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2"
    )
    ks.write_kmsg(f"XFS ({loop}): Filesystem has been shut down due to log error (0x2).", 8 + 1)
    ks.write_kmsg(f"BTRFS info (device {loop}): forced readonly\n DEVICE=b{fs.majmin}", 6)
    return fs.wait_for(r"^BTRFS info .*forced readonly", 2)


SCENARIOS = [
    Scenario(
        "ext4-trigger-remount-ro",
        "ext4",
        "errors=remount-ro",
        False,
        "echo 1 > /sys/fs/ext4/LOOP/trigger_fs_error",
        ks.trigger_ext4_error,
        True,
        "read_only",
    ),
    Scenario(
        "ext4-fuse-eio-remount-ro",
        "ext4",
        "errors=remount-ro",
        True,
        "FUSE image fail-write; write+fsync, mkdir, sync -f until remount",
        lambda fs: ks.fuse_eio_failure(fs, mode="fail-write"),
        True,
        "read_only",
    ),
    Scenario(
        "ext4-errors-continue-fuse-eio-remount-ro",
        "ext4",
        "errors=continue",
        True,
        "errors=continue, FUSE image fail-write: a journal abort still remounts ro",
        lambda fs: ks.fuse_eio_failure(fs, mode="fail-write"),
        True,
        "read_only",
    ),
    Scenario(
        "ext3-trigger-remount-ro",
        "ext3",
        "errors=remount-ro",
        False,
        "mount -t ext3 (ext4 driver); echo 1 > /sys/fs/ext4/LOOP/trigger_fs_error",
        ks.trigger_ext4_error,
        True,
        "read_only",
    ),
    Scenario(
        "ext3-fuse-eio-remount-ro",
        "ext3",
        "errors=remount-ro",
        True,
        "mount -t ext3; FUSE image fail (reads and writes); poke until remount",
        ks.fuse_eio_failure,
        True,
        "read_only",
    ),
    Scenario(
        "ext2-fuse-eio-remount-ro",
        "ext2",
        "errors=remount-ro",
        True,
        "mount -t ext2 (ext4 driver, no journal); FUSE fail-write; poke until remount",
        lambda fs: ks.fuse_eio_failure(fs, mode="fail-write"),
        True,
        "read_only",
    ),
    Scenario(
        "ext2-fuse-eio-read-remount-ro",
        "ext2",
        "errors=remount-ro",
        True,
        "mount -t ext2; drop caches, FUSE fail-read, stat files -> directory read error",
        ks.fuse_eio_read_failure,
        True,
        "read_only",
    ),
    Scenario(
        "xfs-fuse-eio-shutdown",
        "xfs",
        "",
        True,
        "FUSE image fail-write; write+fsync -> log write error -> shutdown",
        lambda fs: ks.fuse_eio_failure(fs, mode="fail-write"),
        True,
        "shutdown",
    ),
    Scenario(
        "xfs-user-shutdown",
        "xfs",
        "",
        False,
        "xfs_io -x -c shutdown MOUNTPOINT",
        ks.xfs_shutdown,
        True,
        "shutdown",
    ),
    Scenario(
        "xfs-user-shutdown-logflush",
        "xfs",
        "",
        False,
        "xfs_io -x -c 'shutdown -f' MOUNTPOINT",
        lambda fs: ks.xfs_shutdown(fs, flush_log=True),
        True,
        "shutdown",
    ),
    Scenario(
        "btrfs-fuse-eio-forced-readonly",
        "btrfs",
        "",
        True,
        "FUSE image fail-write; write+fsync, sync -f -> transaction abort",
        lambda fs: ks.fuse_eio_failure(fs, mode="fail-write"),
        True,
        "read_only",
    ),
    Scenario(
        "ext4-errors-continue",
        "ext4",
        "errors=continue",
        False,
        "errors=continue; echo 1 > trigger_fs_error: error logged, stays rw",
        ks.trigger_ext4_error,
        False,
        None,
    ),
    Scenario(
        "ext4-ro-mount",
        "ext4",
        "ro",
        False,
        "mount -o ro (read-only by configuration)",
        lambda fs: None,
        False,
        None,
    ),
    Scenario(
        "admin-remount-ro",
        "ext4",
        "errors=remount-ro",
        False,
        "mount -o remount,ro MOUNTPOINT",
        ks.admin_remount_ro,
        False,
        None,
    ),
    Scenario(
        "fake-userspace-remount",
        "ext4",
        "errors=remount-ro",
        False,
        "userspace writes kernel-looking lines to /dev/kmsg about a healthy rw mount",
        _fake_records,
        False,
        None,
    ),
]


def _dmesg_text(records: list[bytes]) -> str:
    """util-linux dmesg's own lines for these records (matched by their [sec.usec] stamp)."""
    wanted = {line.split("]", 1)[0] + "]" for line in ks.dmesg_lines(records)}
    out = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    return "".join(
        line + "\n" for line in out.splitlines() if line.split("]", 1)[0] + "]" in wanted
    )


def run(scenario: Scenario) -> dict[str, object]:
    if scenario.fuse:
        # "I/O error, dev" and "Buffer I/O error" lines are printk_ratelimited (10 per 5 s):
        # start each failure in a fresh window so the file shows what one failure prints.
        time.sleep(5.5)
    with ks.KmsgTail() as outer:
        with ks.loop_filesystem(scenario.fstype, scenario.options, fuse=scenario.fuse) as fs:
            if "ro" not in scenario.options.split(","):
                (fs.mountpoint / "hello.txt").write_text("hello\n")
                subprocess.run(["sync", "-f", str(fs.mountpoint)], check=True)
            start = time.monotonic()
            final = scenario.action(fs)
            elapsed = time.monotonic() - start
            time.sleep(0.5)  # let trailing lines arrive
            entry = fs.mount_entry()
            err = fs.write_errno()
            rdonly = bool(os.statvfs(fs.mountpoint).f_flag & os.ST_RDONLY)
            loop, majmin = fs.loop, fs.majmin
        outer.read_new(0.5)  # unmount lines
        records = outer.capture()
    foreign = {
        m for r in records for m in re.findall(r"\b(loop\d+)\b", ks.parse_kmsg(r).message)
    } - {loop}
    if foreign:
        # Someone else used loop devices meanwhile; their lines would muddle the file.
        raise ForeignRecords(f"{scenario.name} also caught {sorted(foreign)}")
    data = b"".join(records)
    (HERE / f"{scenario.name}.kmsg").write_bytes(data)
    (HERE / f"{scenario.name}.dmesg").write_text(_dmesg_text(records))
    assert entry is not None
    return {
        "file": f"{scenario.name}.kmsg",
        "dmesg_file": f"{scenario.name}.dmesg",
        "kernel": platform.release(),
        "fstype": scenario.fstype,
        "options": scenario.options,
        "via_fuse": scenario.fuse,
        "device": loop,
        "majmin": majmin,
        "recipe": scenario.recipe,
        "expect_alert": scenario.expect_alert,
        "outcome": scenario.outcome,
        "final_record": final.message if final else None,
        "seconds_to_final_record": round(elapsed, 3) if final else None,
        "mountinfo_after": {
            "mount_options": ",".join(entry.mount_options),
            "super_options": ",".join(entry.super_options),
        },
        "statvfs_rdonly_after": rdonly,
        "write_errno_after": errno.errorcode.get(err) if err else None,
        "records": len(records),
        "bytes": len(data),
        "lost_records": outer.lost,
    }


def main(argv: list[str]) -> int:
    names = set(argv[1:])
    manifest_path = HERE / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        for attempt in range(5):
            try:
                result = run(scenario)
                break
            except ForeignRecords as exc:
                print(f"retrying ({attempt + 1}): {exc}", flush=True)
        else:
            raise SystemExit(f"{scenario.name}: could not capture without foreign records")
        print(
            f"{scenario.name}: {result['records']} records, {result['bytes']} bytes, "
            f"{result['seconds_to_final_record']} s",
            flush=True,
        )
        manifest[scenario.name] = result
    tools = {}
    for tool in ("mkfs.ext4 -V", "mkfs.xfs -V", "mkfs.btrfs -V", "losetup -V", "dmesg -V"):
        out = subprocess.run(tool.split(), capture_output=True, text=True, check=False)
        tools[tool.split()[0]] = re.sub(r"\s+", " ", (out.stdout or out.stderr).strip())[:80]
    manifest["_environment"] = {
        "kernel": platform.release(),
        "version": platform.version(),
        "tools": tools,
    }
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
