"""The mount-state reconciler: pure rules on fabricated states, and the real kernel.

The pure tests build :class:`FsState` values by hand, which is the only way to see the Linux
6.12-6.14 case (an ext4 made read-only by an error that every view still shows ``rw``) on a
newer kernel. The ``root`` tests mount real loop filesystems, break them and check what the
reconciler says about exactly those devices (other tests may have loops of their own).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernel_scenarios as ks
from rowatch.engine import Engine
from rowatch.incident import IncidentChange, Transition
from rowatch.kinds import Kind
from rowatch.reconcile import (
    SIGNATURES,
    Ext4Info,
    Finding,
    FsState,
    Reconciler,
    What,
    ext4_shows_emergency_ro,
    fanotify_finding,
    parse_fstab,
    read_filesystems,
)

BOOT = 1_700_000_000.0
NOW = BOOT + 3600.0
RW = ("rw", "relatime")
RO = ("ro", "relatime")


def ext4(
    *,
    device: str = "loop0",
    mountpoint: str = "/mnt",
    mount: tuple[str, ...] = RW,
    sb: tuple[str, ...] = ("rw", "errors=remount-ro"),
    errors_count: int = 0,
    last_error_time: int = 0,
    errors: str | None = "remount-ro",
    writable_mount: bool | None = None,
) -> FsState:
    """An ext4 on /dev/<device>, mounted after BOOT."""
    info = Ext4Info(
        errors_count=errors_count,
        first_error_time=last_error_time,
        last_error_time=last_error_time,
        last_error_func="trigger_test_error" if errors_count else "",
        last_error_line=129 if errors_count else 0,
        errors=errors,
    )
    return FsState(
        device=device,
        mountpoint=mountpoint,
        fstype="ext4",
        source=f"/dev/{device}",
        maj_min="7:0",
        mount_id=63,
        mountpoints=(mountpoint,),
        mount_options=mount,
        super_options=sb,
        writable_mount="ro" not in mount if writable_mount is None else writable_mount,
        ext4=info,
        mounted_after=BOOT,
    )


def whats(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.device, f.what.value, f.signature) for f in findings]


# --------------------------------------------------------------------------------------------
# Read-only by error
# --------------------------------------------------------------------------------------------


def test_emergency_ro_at_the_first_check_is_reported_without_a_baseline() -> None:
    broken = ext4(
        sb=("rw", "errors=remount-ro", "emergency_ro"),
        errors_count=1,
        last_error_time=int(BOOT) + 60,
    )
    reconciler = Reconciler(None)
    findings = reconciler.check([broken], now_wall=NOW)
    assert whats(findings) == [("loop0", "read_only", "mountinfo_emergency_ro")]
    message = findings[0].message
    assert message.startswith(
        "mountinfo: /mnt rw,relatime - ext4 /dev/loop0 rw,errors=remount-ro,emergency_ro"
    )
    assert "trigger_test_error:129" in message
    assert "\n" not in message
    assert reconciler.check([broken], now_wall=NOW + 10) == []  # once, not every tick
    assert reconciler.flagged == {"loop0": "read_only"}


def test_going_emergency_ro_while_watched_then_writable_again_after_fsck() -> None:
    healthy = ext4()
    reconciler = Reconciler([healthy])
    assert reconciler.check([healthy], now_wall=NOW) == []
    broken = ext4(
        sb=("rw", "errors=remount-ro", "emergency_ro"), errors_count=1, last_error_time=int(NOW) + 5
    )
    assert whats(reconciler.check([broken], now_wall=NOW + 10)) == [
        ("loop0", "read_only", "mountinfo_emergency_ro")
    ]
    assert reconciler.check([broken], now_wall=NOW + 20) == []
    fixed = ext4()  # umount; e2fsck -fy; mount: the counters are cleared too
    findings = reconciler.check([fixed], now_wall=NOW + 30)
    assert whats(findings) == [("loop0", "writable_again", "mountinfo_rw")]
    assert findings[0].message.endswith("ext4 /dev/loop0 rw,errors=remount-ro")
    assert reconciler.check([fixed], now_wall=NOW + 40) == []
    assert reconciler.flagged == {}


def test_superblock_ro_under_a_rw_mount_is_an_error_remount_before_6_12() -> None:
    # Linux < 6.12 (and kernels without the d3476f3dad4a backport): SB_RDONLY, mount rw.
    broken = ext4(sb=("ro", "errors=remount-ro"), errors_count=1, last_error_time=int(BOOT) + 9)
    findings = Reconciler(None).check([broken], now_wall=NOW)
    assert whats(findings) == [("loop0", "read_only", "mountinfo_ro")]
    assert "rw,relatime - ext4 /dev/loop0 ro,errors=remount-ro" in findings[0].message


def test_linux_6_12_to_6_14_error_counter_growth_is_read_only() -> None:
    # What Debian 12's 6.1.0-56 showed: "Remounting filesystem read-only" in the log, and
    # mountinfo still "rw,relatime - ext4 /dev/sda1 rw,errors=remount-ro".
    healthy = ext4(device="sda1")
    reconciler = Reconciler([healthy], kernel_release="6.1.0-56-amd64")
    assert reconciler.check([healthy], now_wall=NOW) == []
    broken = ext4(device="sda1", errors_count=1, last_error_time=int(NOW) + 1)
    findings = reconciler.check([broken], now_wall=NOW + 10)
    assert whats(findings) == [("sda1", "read_only", "ext4_errors_count")]
    assert "ext4 errors_count 0 -> 1 with errors=remount-ro" in findings[0].message
    assert "rw,relatime - ext4 /dev/sda1 rw,errors=remount-ro" in findings[0].message
    assert reconciler.check([broken], now_wall=NOW + 20) == []
    # Nothing shows when the admin remounts without e2fsck, so it stays flagged...
    assert reconciler.check([broken], now_wall=NOW + 30) == []
    assert reconciler.flagged == {"sda1": "read_only"}
    # ...until e2fsck clears the counter.
    findings = reconciler.check([ext4(device="sda1")], now_wall=NOW + 40)
    assert whats(findings) == [("sda1", "writable_again", "ext4_errors_cleared")]


def test_linux_6_12_to_6_14_unmount_and_mount_again_is_writable_again() -> None:
    healthy = ext4()
    reconciler = Reconciler([healthy])
    broken = ext4(errors_count=1, last_error_time=int(NOW))
    assert whats(reconciler.check([broken], now_wall=NOW + 1)) == [
        ("loop0", "read_only", "ext4_errors_count")
    ]
    assert reconciler.check([], now_wall=NOW + 2) == []  # unmounted
    # Mounted again without e2fsck: the old error stays on disk, but this is a new mount.
    findings = reconciler.check([broken], now_wall=NOW + 3)
    assert whats(findings) == [("loop0", "writable_again", "mountinfo_rw")]


def test_errors_continue_counter_growth_is_only_an_fs_error() -> None:
    healthy = ext4(sb=("rw",), errors="continue")
    reconciler = Reconciler([healthy])
    once = ext4(sb=("rw",), errors="continue", errors_count=1, last_error_time=int(NOW))
    findings = reconciler.check([once], now_wall=NOW + 1)
    assert whats(findings) == [("loop0", "fs_error", "ext4_errors_count")]
    assert "errors=continue" in findings[0].message
    assert reconciler.check([once], now_wall=NOW + 2) == []
    twice = ext4(sb=("rw",), errors="continue", errors_count=3, last_error_time=int(NOW))
    assert whats(reconciler.check([twice], now_wall=NOW + 3)) == [
        ("loop0", "fs_error", "ext4_errors_count")
    ]
    assert reconciler.flagged == {}


def test_fstab_names_the_error_behaviour_the_kernel_does_not() -> None:
    # tune2fs -e remount-ro makes it the superblock default: mountinfo then omits errors=.
    healthy = ext4(sb=("rw",), errors=None)
    fstab = "UUID=abc /mnt ext4 defaults,errors=remount-ro 0 2\n"
    reconciler = Reconciler([healthy], fstab=fstab)
    broken = ext4(sb=("rw",), errors=None, errors_count=1, last_error_time=int(NOW))
    assert whats(reconciler.check([broken], now_wall=NOW + 1)) == [
        ("loop0", "read_only", "ext4_errors_count")
    ]


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("6.13.7-arch1", ("loop0", "read_only", "ext4_last_error_time")),
        ("6.1.0-56-amd64", ("loop0", "read_only", "ext4_last_error_time")),
        ("6.18.44-fc", ("loop0", "fs_error", "ext4_last_error_time")),
    ],
)
def test_error_since_the_mount_at_first_sight_depends_on_what_the_kernel_shows(
    release: str, expected: tuple[str, str, str]
) -> None:
    # rw everywhere, an error recorded after boot: on 6.12-6.14 (or an unknown backport) that
    # is the invisible read-only; on 6.15+ it would show emergency_ro, so it is an old error
    # of a filesystem mounted again without e2fsck.
    state = ext4(errors_count=2, last_error_time=int(BOOT) + 120)
    assert whats(Reconciler(None, kernel_release=release).check([state], now_wall=NOW)) == [
        expected
    ]


def test_errors_from_before_the_boot_are_history() -> None:
    state = ext4(errors_count=4, last_error_time=int(BOOT) - 86400)
    assert Reconciler(None, kernel_release="6.13.0").check([state], now_wall=NOW) == []


def test_filesystem_mounted_while_watched_is_judged_from_its_mount() -> None:
    reconciler = Reconciler([], kernel_release="6.13.0")
    assert reconciler.check([], now_wall=NOW) == []
    # Appears after NOW with an error from before NOW: an old error, mounted without fsck.
    old = ext4(errors_count=1, last_error_time=int(NOW) - 100)
    assert reconciler.check([old], now_wall=NOW + 10) == []
    other = ext4(device="loop1", errors_count=1, last_error_time=int(NOW) + 20)
    assert whats(reconciler.check([old, other], now_wall=NOW + 30)) == [
        ("loop1", "read_only", "ext4_last_error_time")
    ]


def test_ext4_shutdown_and_xfs_shutdown() -> None:
    ext4_down = ext4(sb=("rw", "errors=remount-ro", "shutdown"))
    xfs = FsState(
        device="dm-3",
        mountpoint="/srv",
        fstype="xfs",
        source="/dev/mapper/vg-srv",
        super_options=("rw", "inode64"),
    )
    reconciler = Reconciler([ext4(), xfs])
    findings = reconciler.check([ext4_down, replace(xfs, shutdown=True)], now_wall=NOW)
    assert whats(findings) == [
        ("loop0", "shutdown", "mountinfo_shutdown"),
        ("dm-3", "shutdown", "xfs_shutdown"),
    ]
    assert findings[1].message.startswith("stat(/srv) failed with EIO: xfs is shut down")
    assert findings[1].observation().kind is Kind.SHUTDOWN
    assert whats(reconciler.check([xfs], now_wall=NOW + 5)) == [
        ("dm-3", "writable_again", "mountinfo_rw")
    ]


def test_each_change_between_read_only_and_shutdown_is_reported_once() -> None:
    reconciler = Reconciler(None)
    ro = ext4(sb=("rw", "errors=remount-ro", "emergency_ro"))
    down = ext4(sb=("rw", "errors=remount-ro", "emergency_ro", "shutdown"))
    assert [f.what for f in reconciler.check([ro], now_wall=NOW)] == [What.READ_ONLY]
    assert [f.what for f in reconciler.check([down], now_wall=NOW + 1)] == [What.SHUTDOWN]
    assert reconciler.check([down], now_wall=NOW + 2) == []
    assert [f.what for f in reconciler.check([ro], now_wall=NOW + 3)] == [What.READ_ONLY]
    assert reconciler.check([ro], now_wall=NOW + 4) == []


def test_btrfs_forced_readonly_and_device_errors() -> None:
    btrfs = FsState(
        device="sdb",
        mountpoint="/data",
        fstype="btrfs",
        source="/dev/sdb",
        maj_min="0:43",
        super_options=("rw", "ssd", "space_cache=v2"),
        device_errors=0,
    )
    reconciler = Reconciler([btrfs])
    erring = replace(btrfs, device_errors=3)
    assert whats(reconciler.check([erring], now_wall=NOW)) == [
        ("sdb", "fs_error", "btrfs_dev_errors")
    ]
    forced = replace(erring, super_options=("ro", "ssd", "space_cache=v2"), device_errors=5)
    assert whats(reconciler.check([forced], now_wall=NOW + 1)) == [
        ("sdb", "read_only", "mountinfo_ro")
    ]


# --------------------------------------------------------------------------------------------
# Read-only by configuration
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        ext4(mount=RO, sb=("ro",)),  # mount -o ro
        ext4(mount=RO, sb=("rw", "errors=remount-ro"), writable_mount=False),  # bind -o ro
        FsState(
            device="loop7",
            mountpoint="/snap/core/1",
            fstype="squashfs",
            super_options=("ro", "errors=continue"),
        ),  # plain mount: sb ro, mount rw
        FsState(
            device="sr0",
            mountpoint="/media/cdrom",
            fstype="udf",
            mount_options=RO,
            super_options=("ro",),
            writable_mount=False,
        ),
        FsState(device="loop8", mountpoint="/iso", fstype="iso9660", super_options=("ro",)),
        FsState(device="loop9", mountpoint="/img", fstype="erofs", super_options=("ro",)),
        replace(ext4(mount=RO, sb=("ro",)), device_read_only=True),  # losetup -r
        replace(ext4(sb=("ro",)), device_read_only=True),
    ],
    ids=[
        "mount-ro",
        "ro-bind",
        "squashfs",
        "cdrom",
        "iso9660",
        "erofs",
        "ro-device",
        "ro-device-sb-ro",
    ],
)
def test_read_only_by_configuration_is_never_an_incident(state: FsState) -> None:
    reconciler = Reconciler(None)
    assert reconciler.check([state], now_wall=NOW) == []
    assert reconciler.check([state], now_wall=NOW + 1) == []
    assert Reconciler([replace(state, super_options=("rw",))]).check([state], now_wall=NOW) == []


def test_read_only_bind_of_a_writable_filesystem_is_configuration() -> None:
    # A container's /host: the host's root bound read-only; the superblock stays rw.
    root = ext4(device="vda", mountpoint="/")
    bound = replace(root, mountpoints=("/", "/host"), writable_mount=True)
    reconciler = Reconciler([root])
    assert reconciler.check([bound], now_wall=NOW) == []
    only_ro = replace(root, mountpoint="/host", mount_options=RO, writable_mount=False)
    assert Reconciler(None).check([only_ro], now_wall=NOW) == []


def test_admin_remount_ro_is_configuration_and_back_rw_too() -> None:
    healthy = ext4()
    reconciler = Reconciler([healthy])
    remounted = ext4(mount=RO, sb=("ro", "errors=remount-ro"))
    assert reconciler.check([remounted], now_wall=NOW) == []
    assert reconciler.check([healthy], now_wall=NOW + 1) == []


def test_error_remount_then_admin_remount_ro_is_still_an_error() -> None:
    # Before 6.12: the error sets SB_RDONLY; the admin adds remount,ro before we look.
    healthy = ext4()
    reconciler = Reconciler([healthy])
    both_ro = ext4(
        mount=RO, sb=("ro", "errors=remount-ro"), errors_count=1, last_error_time=int(NOW)
    )
    assert whats(reconciler.check([both_ro], now_wall=NOW + 1)) == [
        ("loop0", "read_only", "ext4_errors_count")
    ]


def test_ro_at_start_with_a_recent_error_uses_fstab() -> None:
    both_ro = ext4(
        mount=RO, sb=("ro", "errors=remount-ro"), errors_count=1, last_error_time=int(BOOT) + 30
    )
    rw_in_fstab = "/dev/loop0 /mnt ext4 rw,errors=remount-ro 0 1\n"
    ro_in_fstab = "/dev/loop0 /mnt ext4 ro 0 0\n"
    assert whats(Reconciler(None, fstab=rw_in_fstab).check([both_ro], now_wall=NOW)) == [
        ("loop0", "read_only", "ext4_last_error_time")
    ]
    assert whats(Reconciler(None, fstab=ro_in_fstab).check([both_ro], now_wall=NOW)) == [
        ("loop0", "fs_error", "ext4_last_error_time")
    ]
    assert whats(Reconciler(None).check([both_ro], now_wall=NOW)) == [
        ("loop0", "fs_error", "ext4_last_error_time")
    ]
    # 6.15+ would show emergency_ro had this mount gone read-only by the error.
    newer = Reconciler(None, fstab=rw_in_fstab, kernel_release="6.16.1")
    assert whats(newer.check([both_ro], now_wall=NOW)) == [
        ("loop0", "fs_error", "ext4_last_error_time")
    ]


def test_error_on_a_filesystem_mounted_ro_is_an_fs_error_once() -> None:
    ro = ext4(mount=RO, sb=("ro",))
    reconciler = Reconciler([ro])
    hit = ext4(mount=RO, sb=("ro", "emergency_ro"), errors_count=1, last_error_time=int(NOW))
    assert whats(reconciler.check([hit], now_wall=NOW + 1)) == [
        ("loop0", "fs_error", "mountinfo_emergency_ro")
    ]
    assert reconciler.check([hit], now_wall=NOW + 2) == []


# --------------------------------------------------------------------------------------------
# Findings, the engine, helpers
# --------------------------------------------------------------------------------------------


def test_finding_becomes_an_engine_observation_and_recovery() -> None:
    broken = ext4(sb=("rw", "errors=remount-ro", "emergency_ro"), errors_count=1)
    reconciler = Reconciler(None)
    (finding,) = reconciler.check([broken], now_wall=NOW)
    observation = finding.observation(uptime=12.5, wall=NOW)
    assert (observation.device, observation.kind, observation.signature) == (
        "loop0",
        Kind.READ_ONLY,
        "mountinfo_emergency_ro",
    )
    assert (observation.uptime, observation.wall, observation.filesystem) == (12.5, NOW, "ext4")
    engine = Engine()
    outputs = engine.observe(observation)
    outcome = [
        o for o in outputs if isinstance(o, IncidentChange) and o.transition is Transition.OUTCOME
    ]
    assert outcome and outcome[0].snapshot["outcome"] == "read_only"
    (again,) = reconciler.check([ext4()], now_wall=NOW + 60)
    assert again.what == "writable_again"
    with pytest.raises(ValueError, match="not an observation"):
        again.observation()
    recovered = engine.recovered(again.device)
    assert [o.transition for o in recovered if isinstance(o, IncidentChange)] == [
        Transition.RECOVERED
    ]


def test_fanotify_finding_names_the_errno() -> None:
    finding = fanotify_finding(ext4(), 117, 2)
    assert (finding.what, finding.signature) == (What.FS_ERROR, "fanotify_fs_error")
    assert "error 117 (EUCLEAN" in finding.message and "2 errors" in finding.message
    assert finding.observation().kind is Kind.FS_ERROR
    assert "error 99999 (99999" in fanotify_finding(ext4(), 99999, 1).message


def test_every_signature_is_documented() -> None:
    used = {
        "mountinfo_ro",
        "mountinfo_emergency_ro",
        "mountinfo_shutdown",
        "ext4_errors_count",
        "ext4_last_error_time",
        "xfs_shutdown",
        "btrfs_dev_errors",
        "fanotify_fs_error",
        "mountinfo_rw",
        "ext4_errors_cleared",
    }
    assert used == set(SIGNATURES)


@pytest.mark.parametrize(
    ("release", "shows"),
    [
        ("6.18.44-fc-v769", True),
        ("6.15.0", True),
        ("6.14.2-1", True),
        ("6.14.1", False),
        ("6.12.9-amd64", False),
        ("6.1.0-56-amd64", None),
        ("5.15.0-91-generic", None),
        ("garbage", None),
    ],
)
def test_ext4_shows_emergency_ro(release: str, shows: bool | None) -> None:
    assert ext4_shows_emergency_ro(release) is shows


def test_parse_fstab() -> None:
    text = (
        "# /etc/fstab\n"
        "UUID=1 / ext4 errors=remount-ro 0 1\n"
        "/dev/sdb1 /srv/my\\040data xfs ro,nofail 0 0  # comment\n"
        "/swapfile none swap sw 0 0\n"
        "broken line\n"
    )
    assert parse_fstab(text) == {"/": ("errors=remount-ro",), "/srv/my data": ("ro", "nofail")}


_options = st.lists(
    st.sampled_from(
        ["rw", "ro", "emergency_ro", "shutdown", "errors=continue", "errors=remount-ro", "relatime"]
    ),
    max_size=4,
)
_states = st.builds(
    FsState,
    device=st.sampled_from(["loop0", "loop1", "sr0", "dm-0"]),
    mountpoint=st.sampled_from(["/mnt", "/", "/srv"]),
    fstype=st.sampled_from(["ext4", "xfs", "btrfs", "squashfs"]),
    mount_options=_options.map(tuple),
    super_options=_options.map(tuple),
    writable_mount=st.booleans(),
    device_read_only=st.booleans(),
    ext4=st.none()
    | st.builds(
        Ext4Info,
        errors_count=st.integers(0, 5),
        last_error_time=st.integers(0, int(NOW) + 100),
        errors=st.sampled_from([None, "continue", "remount-ro", "panic"]),
    ),
    shutdown=st.booleans(),
    device_errors=st.none() | st.integers(0, 5),
    mounted_after=st.none() | st.just(BOOT),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_states, max_size=4), min_size=1, max_size=5),
    st.sampled_from([None, "6.13.1", "6.18.0"]),
)
def test_any_sequence_of_states_is_handled_and_repeats_say_nothing(
    sequence: list[list[FsState]], release: str | None
) -> None:
    reconciler = Reconciler(None, kernel_release=release, fstab="/dev/x /mnt ext4 rw 0 0\n")
    for tick, states in enumerate(sequence):
        findings = reconciler.check(states, now_wall=NOW + 10 * tick)
        for finding in findings:
            assert finding.signature in SIGNATURES
            assert "\n" not in finding.message
            if finding.what is not What.WRITABLE_AGAIN:
                finding.observation()
        # The same state again is no change: nothing to say.
        assert reconciler.check(states, now_wall=NOW + 10 * tick + 5) == []


# --------------------------------------------------------------------------------------------
# The adapter on a fabricated /proc and /sys
# --------------------------------------------------------------------------------------------


def _fake_tree(root: Path, mountinfo: str) -> tuple[str, str, str]:
    sysfs, procfs = root / "sys", root / "proc"
    (sysfs / "dev/block").mkdir(parents=True)
    for majmin, name in (("7:0", "loop0"), ("7:1", "loop1"), ("8:1", "sda1"), ("7:9", "..")):
        (sysfs / "dev/block" / majmin).symlink_to(f"../../devices/virtual/block/{name}")
        if name != "..":
            (sysfs / "class/block" / name).mkdir(parents=True)
            (sysfs / "class/block" / name / "ro").write_text("1\n" if name == "loop1" else "0\n")
    ext4_dir = sysfs / "fs/ext4/loop0"
    ext4_dir.mkdir(parents=True)
    for name, value in (
        ("errors_count", "1"),
        ("first_error_time", "1795598219"),
        ("last_error_time", "1795598219"),
        ("last_error_func", "trigger_test_error"),
        ("last_error_line", "129"),
    ):
        (ext4_dir / name).write_text(value + "\n")
    (procfs / "fs/ext4/loop0").mkdir(parents=True)
    (procfs / "fs/ext4/loop0/options").write_text("rw\nbsddf\nerrors=remount-ro\nemergency_ro\n")
    (procfs / "stat").write_text("cpu 1 2 3\nbtime 1795597188\nprocesses 9\n")
    path = root / "mountinfo"
    path.write_text(mountinfo)
    return str(path), str(sysfs), str(procfs)


def test_read_filesystems_on_a_fabricated_system(tmp_path: Path) -> None:
    mountinfo = (
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw,errors=remount-ro\n"
        "63 27 7:0 / /mnt\\040x rw,relatime - ext4 /dev/loop0 rw,emergency_ro\n"
        "64 27 7:0 /sub /host ro,relatime - ext4 /dev/loop0 rw,emergency_ro\n"
        "65 27 7:1 / /ro ro,relatime - ext4 /dev/loop1 ro\n"
        "66 27 7:9 / /evil rw - ext4 /dev/evil rw\n"
        "67 27 0:55 / /tmpfs rw - tmpfs tmpfs rw\n"
        "68 27 7:0 / /ignored rw - ext4 /dev/loop0 rw,emergency_ro\n"
        "not a mountinfo line\n"
    )
    path, sysfs, procfs = _fake_tree(tmp_path, mountinfo)
    states = read_filesystems(path, sysfs, procfs=procfs, probe=False, ignore_mountpoints=["/ign*"])
    by_device = {s.device: s for s in states}
    assert set(by_device) == {"sda1", "loop0", "loop1"}  # no proc, tmpfs, or ".." device
    loop0 = by_device["loop0"]
    assert (loop0.mountpoint, loop0.mountpoints) == ("/mnt x", ("/mnt x", "/host"))
    assert loop0.writable_mount and loop0.emergency_ro and not loop0.device_read_only
    assert loop0.ext4 == Ext4Info(
        1, 1795598219, 1795598219, "trigger_test_error", 129, "remount-ro"
    )
    assert loop0.mounted_after == 1795597188.0
    assert loop0.mountinfo() == "mountinfo: /mnt x rw,relatime - ext4 /dev/loop0 rw,emergency_ro"
    assert by_device["loop1"].device_read_only and not by_device["loop1"].writable_mount
    assert by_device["sda1"].ext4 is None  # no /sys/fs/ext4/sda1 in this tree
    findings = Reconciler(None).check(states, now_wall=1795599000.0)
    assert whats(findings) == [("loop0", "read_only", "mountinfo_emergency_ro")]
    assert read_filesystems(path, sysfs, procfs=procfs, probe=False, ignore_fstypes=["ext4"]) == []


# --------------------------------------------------------------------------------------------
# The real kernel
# --------------------------------------------------------------------------------------------


def _ours(findings: list[Finding], device: str) -> list[tuple[str, str, str]]:
    return [t for t in whats(findings) if t[0] == device]


def _state(device: str) -> FsState:
    (state,) = [s for s in read_filesystems() if s.device == device]
    return state


def _run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rowatch-reconcile-"))
    try:
        yield path
    finally:
        if not any(m.mountpoint.startswith(f"{path}/") for m in ks.mounts()):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _mounted(*argv: str | Path, mountpoint: Path) -> Iterator[Path]:
    """``mount argv... mountpoint``; unmounted on the way out whatever happens."""
    mountpoint.mkdir(exist_ok=True)
    _run("mount", *argv, mountpoint)
    try:
        yield mountpoint
    finally:
        ks._unmount(mountpoint)


@contextlib.contextmanager
def _loop(image: Path, *, read_only: bool = False) -> Iterator[str]:
    argv = ["losetup", "--find", "--show", *(["--read-only"] if read_only else []), str(image)]
    loop = os.path.basename(
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    )
    try:
        yield loop
    finally:
        ks._detach_loop(loop, image)


def _release() -> str:
    return os.uname().release


def _expected_ro_signature() -> str:
    shows = ext4_shows_emergency_ro(_release())
    if shows is None:  # before 6.12: SB_RDONLY, unless the distribution backported d3476f3
        return "mountinfo_ro"
    return "mountinfo_emergency_ro" if shows else "ext4_errors_count"


@pytest.mark.root
def test_real_ext4_error_remount_is_read_only_then_writable_again(
    ext4_fs: ks.LoopFilesystem,
) -> None:
    reconciler = Reconciler(read_filesystems(), kernel_release=_release())
    assert _ours(reconciler.check(read_filesystems(), now_wall=time.time()), ext4_fs.loop) == []
    ks.trigger_ext4_error(ext4_fs)
    findings = reconciler.check(read_filesystems(), now_wall=time.time())
    assert _ours(findings, ext4_fs.loop) == [(ext4_fs.loop, "read_only", _expected_ro_signature())]
    (finding,) = [f for f in findings if f.device == ext4_fs.loop]
    assert finding.mountpoint == str(ext4_fs.mountpoint) and finding.fstype == "ext4"
    if ext4_shows_emergency_ro(_release()):
        assert finding.message.startswith(
            f"mountinfo: {ext4_fs.mountpoint} rw,relatime - ext4 {ext4_fs.dev} "
            "rw,errors=remount-ro,emergency_ro"
        )
    assert "trigger_test_error" in finding.message
    assert ext4_fs.write_errno() is not None  # it really is read-only
    assert _ours(reconciler.check(read_filesystems(), now_wall=time.time()), ext4_fs.loop) == []
    # The fix: umount; e2fsck -fy; mount.
    _run("umount", ext4_fs.mountpoint)
    _run("e2fsck", "-fy", ext4_fs.dev)
    _run("mount", "-o", "errors=remount-ro", ext4_fs.dev, ext4_fs.mountpoint)
    findings = reconciler.check(read_filesystems(), now_wall=time.time())
    assert _ours(findings, ext4_fs.loop) == [(ext4_fs.loop, "writable_again", "mountinfo_rw")]
    assert ext4_fs.write_errno() is None
    assert _ours(reconciler.check(read_filesystems(), now_wall=time.time()), ext4_fs.loop) == []


@pytest.mark.root
def test_real_emergency_ro_before_the_reconciler_starts(ext4_fs: ks.LoopFilesystem) -> None:
    ks.trigger_ext4_error(ext4_fs)
    state = _state(ext4_fs.loop)
    assert state.ext4 is not None and state.ext4.errors_count == 1
    assert state.ext4.errors == "remount-ro"
    assert state.ext4.last_error_func == "trigger_test_error"
    findings = Reconciler(None, kernel_release=_release()).check(
        read_filesystems(), now_wall=time.time()
    )
    expected = "mountinfo_emergency_ro" if state.emergency_ro else "ext4_last_error_time"
    assert _ours(findings, ext4_fs.loop) == [(ext4_fs.loop, "read_only", expected)]


@pytest.mark.root
def test_real_errors_continue_is_an_fs_error_and_stays_writable() -> None:
    with ks.loop_filesystem("ext4", "errors=continue") as fs:
        reconciler = Reconciler(read_filesystems(), kernel_release=_release())
        ks.trigger_ext4_error(fs)
        deadline = time.monotonic() + 5  # errors=continue writes the counter from a worker
        while _state(fs.loop).ext4.errors_count == 0 and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        findings = reconciler.check(read_filesystems(), now_wall=time.time())
        assert _ours(findings, fs.loop) == [(fs.loop, "fs_error", "ext4_errors_count")]
        assert "errors=continue" in findings[[f.device for f in findings].index(fs.loop)].message
        assert fs.write_errno() is None
        assert _ours(reconciler.check(read_filesystems(), now_wall=time.time()), fs.loop) == []


@pytest.mark.root
def test_real_admin_remount_ro_is_not_an_incident(ext4_fs: ks.LoopFilesystem) -> None:
    reconciler = Reconciler(read_filesystems(), kernel_release=_release())
    ks.admin_remount_ro(ext4_fs)
    state = _state(ext4_fs.loop)
    assert state.super_read_only and not state.writable_mount
    assert _ours(reconciler.check(read_filesystems(), now_wall=time.time()), ext4_fs.loop) == []
    _run("mount", "-o", "remount,rw", ext4_fs.mountpoint)
    assert _ours(reconciler.check(read_filesystems(), now_wall=time.time()), ext4_fs.loop) == []


@pytest.mark.root
def test_real_read_only_by_configuration_is_not_reported() -> None:
    ks.require("root", "loop", "ext4")
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(_workdir())
        devices = []
        # mount -o ro
        ro = stack.enter_context(ks.loop_filesystem("ext4", "ro"))
        devices.append(ro.loop)
        # a read-only bind mount of a writable filesystem (a container's /host)
        rw = stack.enter_context(ks.loop_filesystem("ext4", "errors=remount-ro"))
        stack.enter_context(_mounted("--bind", "-o", "ro", rw.mountpoint, mountpoint=work / "bind"))
        devices.append(rw.loop)
        # a loop device with read-only backing: mount falls back to ro by itself
        image = work / "ro.img"
        with open(image, "wb") as f:
            f.truncate(32 << 20)
        _run("mkfs.ext4", "-q", "-F", image)
        ro_loop = stack.enter_context(_loop(image, read_only=True))
        stack.enter_context(_mounted(f"/dev/{ro_loop}", mountpoint=work / "roloop"))
        devices.append(ro_loop)
        # squashfs (sets SB_RDONLY itself: per-mount rw, superblock ro)
        if shutil.which("mksquashfs"):
            (work / "tree").mkdir()
            (work / "tree" / "file").write_text("data\n")
            _run("mksquashfs", work / "tree", work / "sq.img", "-quiet", "-noappend")
            sq_loop = stack.enter_context(_loop(work / "sq.img"))
            stack.enter_context(
                _mounted("-t", "squashfs", f"/dev/{sq_loop}", mountpoint=work / "squash")
            )
            devices.append(sq_loop)
        states = {s.device: s for s in read_filesystems()}
        assert states[ro_loop].device_read_only
        assert states[rw.loop].writable_mount and len(states[rw.loop].mountpoints) == 2
        reconciler = Reconciler(None, kernel_release=_release())
        for _ in range(2):
            findings = reconciler.check(read_filesystems(), now_wall=time.time())
            assert [f for f in findings if f.device in devices] == []


@pytest.mark.root
def test_real_xfs_shutdown_is_seen_by_stat() -> None:
    ks.require("root", "loop", "xfs", "xfs_io")
    with ks.loop_filesystem("xfs", "") as fs:
        reconciler = Reconciler(read_filesystems(), kernel_release=_release())
        ks.xfs_shutdown(fs)
        state = _state(fs.loop)
        assert state.shutdown and not state.super_read_only  # mountinfo shows nothing
        findings = reconciler.check(read_filesystems(), now_wall=time.time())
        assert _ours(findings, fs.loop) == [(fs.loop, "shutdown", "xfs_shutdown")]
        _run("umount", fs.mountpoint)
        _run("mount", fs.dev, fs.mountpoint)
        findings = reconciler.check(read_filesystems(), now_wall=time.time())
        assert _ours(findings, fs.loop) == [(fs.loop, "writable_again", "mountinfo_rw")]


@pytest.mark.root
@pytest.mark.slow
def test_real_btrfs_forced_readonly_is_read_only() -> None:
    with ks.loop_filesystem("btrfs", "", fuse=True) as fs:
        state = _state(fs.loop)  # the 0:N anonymous device resolved through the source
        assert state.maj_min.startswith("0:") and state.device_errors == 0
        reconciler = Reconciler(read_filesystems(), kernel_release=_release())
        ks.fuse_eio_failure(fs)
        findings = reconciler.check(read_filesystems(), now_wall=time.time())
        assert _ours(findings, fs.loop) == [(fs.loop, "read_only", "mountinfo_ro")]
        assert "ro," in findings[[f.device for f in findings].index(fs.loop)].message
        assert _state(fs.loop).device_errors
