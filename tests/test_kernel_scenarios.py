"""The real-kernel scenarios really fail, and the captured logs in tests/data/real hold up.

Tests marked ``root`` drive the running kernel (loop devices, mounts, FUSE, /dev/kmsg) and skip
with a reason elsewhere; the others check the captured data and the parsers and run anywhere.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mmap
import os
import re
import time
from pathlib import Path

import pytest

import kernel_scenarios as ks

REAL = Path(__file__).resolve().parent / "data" / "real"
MANIFEST = json.loads((REAL / "manifest.json").read_text())
CAPTURES = sorted(name for name in MANIFEST if not name.startswith("_"))

# What each outcome looks like in the kernel's words (facility 0 only).
OUTCOME_PATTERNS = {
    "read_only": re.compile(
        r"^(EXT[234]-fs \(\w+\): .*[Rr]emounting filesystem read-only"
        r"|BTRFS info \(device \w+.*\): forced readonly)"
    ),
    "shutdown": re.compile(r"^XFS \(\w+\): (Filesystem has been shut down|.*Shutting down)"),
}
ANY_OUTCOME = re.compile("|".join(p.pattern for p in OUTCOME_PATTERNS.values()))


def _entries(name: str) -> list[ks.KmsgEntry]:
    return [ks.parse_kmsg(r) for r in ks.split_kmsg_stream((REAL / f"{name}.kmsg").read_bytes())]


def _kernel(entries: list[ks.KmsgEntry]) -> list[ks.KmsgEntry]:
    return [e for e in entries if e.facility == ks.KERNEL_FACILITY]


# --------------------------------------------------------------------------------------------
# Parsers and captured data (no root needed)
# --------------------------------------------------------------------------------------------


def test_parse_kmsg_record_with_continuation() -> None:
    raw = b"3,702,858890029,-;I/O error, dev sda, sector 8\n SUBSYSTEM=block\n DEVICE=b8:0\n"
    entry = ks.parse_kmsg(raw)
    assert (entry.facility, entry.level, entry.seq, entry.usec) == (0, 3, 702, 858890029)
    assert entry.message == "I/O error, dev sda, sector 8"
    assert entry.properties == {"SUBSYSTEM": "block", "DEVICE": "b8:0"}
    assert ks.split_kmsg_stream(raw + b"6,703,1,c;next\n") == [raw, b"6,703,1,c;next\n"]
    with pytest.raises(ValueError):
        ks.parse_kmsg(b"not a record\n")


def test_mountinfo_parser_sees_root() -> None:
    root = ks.find_mount("/")
    assert root is not None
    assert root.fstype
    assert ":" in root.majmin


@pytest.mark.parametrize("name", CAPTURES)
def test_captured_file_is_well_formed(name: str) -> None:
    data = (REAL / f"{name}.kmsg").read_bytes()
    assert 0 < len(data) < 50_000
    entries = _entries(name)
    assert len(entries) == MANIFEST[name]["records"]
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs)
    readme = (REAL / "README.md").read_text()
    assert f"`{name}.kmsg`" in readme
    # The .dmesg file is util-linux dmesg's own text for the same records.
    dmesg = (REAL / f"{name}.dmesg").read_text().splitlines()
    assert len(dmesg) == len(entries)
    for line, ours in zip(dmesg, ks.dmesg_lines([e.raw for e in entries]), strict=True):
        assert line.split("]", 1)[0] == ours.split("]", 1)[0]


@pytest.mark.parametrize("name", CAPTURES)
def test_captured_file_matches_its_verdict(name: str) -> None:
    meta = MANIFEST[name]
    entries = _entries(name)
    kernel = _kernel(entries)
    device = meta["device"]
    outcomes = [e for e in kernel if ANY_OUTCOME.search(e.message) and device in e.message]
    if meta["expect_alert"]:
        pattern = OUTCOME_PATTERNS[meta["outcome"]]
        assert any(pattern.search(e.message) for e in outcomes), name
        assert meta["final_record"] in [e.message for e in kernel]
    else:
        assert outcomes == [], name
    if name == "fake-userspace-remount":
        forged = [e for e in entries if "read-only" in e.message or "shut down" in e.message]
        assert forged
        assert all(e.facility != ks.KERNEL_FACILITY for e in forged)


# --------------------------------------------------------------------------------------------
# /dev/kmsg behaviour
# --------------------------------------------------------------------------------------------


def _default_level() -> int:
    # kernel.printk's second field: the level of a record written without a <N> prefix.
    return int(Path("/proc/sys/kernel/printk").read_text().split()[1])


@pytest.mark.root
def test_kmsg_tail_reads_only_new_records() -> None:
    ks.require("kmsg-write")
    marker = f"rowatch-test-before-{os.getpid()}-{os.urandom(4).hex()}"
    ks.write_kmsg(marker, 6)
    with ks.KmsgTail() as tail:
        after = marker.replace("before", "after")
        ks.write_kmsg(after, 6)
        entry = tail.wait_for(re.escape(after), timeout=5)
        messages = [ks.parse_kmsg(r).message for r in tail.capture()]
    assert marker not in messages
    assert entry.message == after
    assert tail.records[-1].endswith(b"\n")


@pytest.mark.root
@pytest.mark.parametrize(
    ("prefix", "expected"),
    [(2, (1, 2)), (0, (1, 0)), (3 * 8 + 2, (3, 2)), (None, None)],
    ids=["<2>", "<0>", "<26>", "no-prefix"],
)
def test_userspace_records_never_get_kernel_facility(
    kmsg_tail: ks.KmsgTail, prefix: int | None, expected: tuple[int, int] | None
) -> None:
    ks.require("kmsg-write")
    text = f"EXT4-fs (loop99): Remounting filesystem read-only {os.urandom(4).hex()}"
    ks.write_kmsg(text, prefix)
    entry = kmsg_tail.wait_for(re.escape(text), timeout=5)
    assert entry.message == text
    assert (entry.facility, entry.level) == (expected or (1, _default_level()))
    assert entry.facility != ks.KERNEL_FACILITY


@pytest.mark.root
def test_userspace_newlines_cannot_make_continuation_lines(kmsg_tail: ks.KmsgTail) -> None:
    ks.require("kmsg-write")
    tag = os.urandom(4).hex()
    ks.write_kmsg(f"fake {tag}\n DEVICE=b7:0", 2)
    entry = kmsg_tail.wait_for(f"fake {tag}", timeout=5)
    assert entry.message == f"fake {tag}\\x0a DEVICE=b7:0"
    assert entry.properties == {}


@pytest.mark.root
def test_unterminated_userspace_record_appears_with_the_next_one(
    kmsg_tail: ks.KmsgTail,
) -> None:
    ks.require("kmsg-write")
    tag = os.urandom(4).hex()
    ks.write_kmsg(f"open {tag}", 6, newline=False)
    # Not finalized yet: readers see it only once another record is logged (by anyone).
    ks.write_kmsg(f"close {tag}", 6)
    kmsg_tail.wait_for(f"close {tag}", timeout=5)
    messages = [ks.parse_kmsg(r).message for r in kmsg_tail.records]
    assert messages.index(f"open {tag}") < messages.index(f"close {tag}")


# --------------------------------------------------------------------------------------------
# ext4 driver: trigger_fs_error, errors=continue, ro by configuration, admin remount
# --------------------------------------------------------------------------------------------


def _assert_ext_read_only(fs: ks.LoopFilesystem) -> None:
    entry = fs.mount_entry()
    assert entry is not None
    # 6.18: ext4 no longer sets SB_RDONLY on error; mountinfo keeps "rw" and adds emergency_ro.
    assert entry.read_only, entry
    assert fs.write_errno() == errno.EROFS


@pytest.mark.root
@pytest.mark.parametrize("fstype", ["ext4", "ext3", "ext2"])
def test_trigger_fs_error_remounts_read_only(fstype: str) -> None:
    with ks.loop_filesystem(fstype, "errors=remount-ro") as fs:
        assert fs.write_errno() is None
        final = ks.trigger_ext4_error(fs)
        assert final.facility == ks.KERNEL_FACILITY
        assert final.message == f"EXT4-fs ({fs.loop}): Remounting filesystem read-only"
        messages = [e.message for e in fs.entries()]
        assert any(
            m.startswith(f"EXT4-fs error (device {fs.loop}): trigger_test_error") for m in messages
        )
        if fstype != "ext2":  # ext2 has no journal to abort
            assert f"Aborting journal on device {fs.loop}-8." in messages
        if fstype != "ext4":
            assert (
                f"EXT4-fs ({fs.loop}): mounting {fstype} file system using the ext4 subsystem"
                in messages
            )
        _assert_ext_read_only(fs)


@pytest.mark.root
def test_errors_continue_logs_the_error_and_stays_writable() -> None:
    with ks.loop_filesystem("ext4", "errors=continue") as fs:
        error = ks.trigger_ext4_error(fs)
        assert error.level <= 3
        assert error.facility == ks.KERNEL_FACILITY
        entry = fs.mount_entry()
        assert entry is not None
        assert not entry.read_only
        assert fs.write_errno() is None
        assert not any("read-only" in e.message for e in fs.entries())


@pytest.mark.root
def test_read_only_by_configuration_logs_no_error() -> None:
    with ks.loop_filesystem("ext4", "ro") as fs:
        entry = fs.mount_entry()
        assert entry is not None
        assert "ro" in entry.mount_options
        assert fs.write_errno() == errno.EROFS
        messages = [e.message for e in fs.entries()]
    # "mounted filesystem ..." is rate limited machine-wide (ext4_mount_msg_ratelimit: 64 mount
    # and unmount lines per 30 s), so after many mounts it may be missing; if there, it says ro.
    mounted = [m for m in messages if "mounted filesystem" in m]
    assert all(" ro with ordered data mode" in m for m in mounted)
    assert not any("error" in m.lower() or "Remounting" in m for m in messages)


@pytest.mark.root
def test_admin_remount_read_only_logs_no_error(ext4_fs: ks.LoopFilesystem) -> None:
    ks.admin_remount_ro(ext4_fs)
    entry = ext4_fs.mount_entry()
    assert entry is not None
    assert "ro" in entry.mount_options
    assert ext4_fs.write_errno() == errno.EROFS
    messages = [e.message for e in ext4_fs.entries()]
    assert any(m.startswith(f"EXT4-fs ({ext4_fs.loop}): re-mounted") for m in messages)
    assert not any("error" in m.lower() or "Remounting" in m for m in messages)


# --------------------------------------------------------------------------------------------
# XFS user shutdown
# --------------------------------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.parametrize("flush_log", [False, True], ids=["shutdown", "shutdown-f"])
def test_xfs_user_shutdown(flush_log: bool) -> None:
    with ks.loop_filesystem("xfs", "") as fs:
        final = ks.xfs_shutdown(fs, flush_log=flush_log)
        assert final.facility == ks.KERNEL_FACILITY
        fs.wait_for(rf"^XFS \({fs.loop}\): User initiated shutdown received\.", 1)
        fs.wait_for(rf"^XFS \({fs.loop}\): .* detected at xfs_fs_goingdown", 1)
        # A shut-down XFS refuses everything with EIO; mountinfo does not change.
        assert fs.write_errno() == errno.EIO


# --------------------------------------------------------------------------------------------
# FUSE EIO device
# --------------------------------------------------------------------------------------------


def _direct_read(dev: str) -> int | None:
    """Read the first 4 KiB of ``dev`` with O_DIRECT (bypassing the block cache): errno."""
    buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    try:
        os.preadv(fd, [buf], 0)
    except OSError as exc:
        return exc.errno
    finally:
        os.close(fd)
        buf.close()
    return None


@pytest.mark.root
def test_fuse_eio_device_fails_and_heals(kmsg_tail: ks.KmsgTail) -> None:
    with ks.fuse_eio_device(16) as dev:
        assert Path(f"/sys/block/{dev.loop}/loop/backing_file").read_text().strip() == str(
            dev.image
        )
        assert _direct_read(dev.dev) is None
        since = kmsg_tail.mark()  # the loop number's previous user cannot match from here
        dev.fail("fail-read")
        assert _direct_read(dev.dev) == errno.EIO
        pattern = rf"^I/O error, dev {dev.loop}, sector 0 op 0x0:\(READ\)"
        for attempt in range(3):
            try:
                error = kmsg_tail.wait_for(pattern, 1, since=since)
                break
            except TimeoutError:
                if attempt == 2:
                    raise
            # blk_print_req_error is printk_ratelimited (10 lines per 5 s, machine-wide):
            # earlier or concurrent I/O errors may have used up this window. Wait for the
            # next window and fail a read again.
            time.sleep(5.5)
            assert _direct_read(dev.dev) == errno.EIO
        assert (error.facility, error.level) == (ks.KERNEL_FACILITY, 3)
        dev.heal()
        assert _direct_read(dev.dev) is None
        stats = dev.stats()
        assert stats["mode"] == "ok"
        assert int(stats["failed_reads"]) >= 1


@pytest.mark.root
@pytest.mark.parametrize(
    ("fstype", "options", "mode"),
    [
        ("ext4", "errors=remount-ro", "fail-write"),
        ("ext4", "errors=remount-ro", "fail"),
        ("ext4", "errors=continue", "fail-write"),  # a journal abort overrides errors=continue
        ("ext3", "errors=remount-ro", "fail-write"),
        ("ext2", "errors=remount-ro", "fail-write"),
        ("xfs", "", "fail-write"),
        ("btrfs", "", "fail-write"),
    ],
)
def test_fuse_eio_makes_the_filesystem_give_up(fstype: str, options: str, mode: str) -> None:
    with ks.loop_filesystem(fstype, options, fuse=True) as fs:
        (fs.mountpoint / "hello").write_text("hello\n")
        final = ks.fuse_eio_failure(fs, mode=mode)
        assert final.facility == ks.KERNEL_FACILITY
        # The I/O really failed at the device: the FUSE server refused it with EIO. (The block
        # layer's "I/O error, dev loopN" line is rate limited to 10 per 5 s, so after earlier
        # tests it may be suppressed; test_fuse_eio_device_fails_and_heals checks that line.)
        assert fs.fuse is not None
        stats = fs.fuse.stats()
        assert int(stats["failed_writes"]) + int(stats["failed_reads"]) >= 1
        for record in fs.entries():
            if record.message.startswith("I/O error, dev "):
                assert record.facility == ks.KERNEL_FACILITY
                assert record.message.startswith(f"I/O error, dev {fs.loop}, sector ")
        entry = fs.mount_entry()
        assert entry is not None
        if fstype == "xfs":
            assert fs.write_errno() == errno.EIO
        elif fstype == "btrfs":
            assert "ro" in entry.super_options
            assert fs.write_errno() in {errno.EIO, errno.EROFS}
        else:
            _assert_ext_read_only(fs)


@pytest.mark.root
def test_fuse_eio_read_failure_remounts_ext2() -> None:
    with ks.loop_filesystem("ext2", "errors=remount-ro", fuse=True) as fs:
        final = ks.fuse_eio_read_failure(fs)
        assert final.facility == ks.KERNEL_FACILITY
        fs.wait_for(rf"^EXT4-fs error \(device {fs.loop}\): ", 1)
        entry = fs.mount_entry()
        assert entry is not None
        assert entry.read_only


# --------------------------------------------------------------------------------------------
# Cleanup
# --------------------------------------------------------------------------------------------


@pytest.mark.root
def test_scenario_cleans_up_even_when_the_body_fails() -> None:
    seen: dict[str, object] = {}
    with contextlib.suppress(RuntimeError), ks.loop_filesystem("ext4", fuse=True) as fs:
        assert fs.fuse is not None
        seen.update(
            loop=fs.loop,
            image=fs.image,
            mount=fs.mountpoint,
            fuse_mount=fs.fuse.fuse_mount,
            proc=fs.fuse.process,
        )
        fs.fuse.fail()
        raise RuntimeError("test body failed with the device still failing")
    assert seen
    assert ks.find_mount(str(seen["mount"])) is None
    assert ks.find_mount(str(seen["fuse_mount"])) is None
    backing = Path(f"/sys/block/{seen['loop']}/loop/backing_file")
    assert not backing.exists() or backing.read_text().strip() != str(seen["image"])
    assert seen["proc"].poll() is not None  # type: ignore[attr-defined]
    assert not Path(str(seen["mount"])).parent.exists()
