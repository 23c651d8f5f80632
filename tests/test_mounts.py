"""mountinfo parsing: real lines, the kernel's escapes, read-only states, junk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from rowatch.mounts import (
    MountEntry,
    emergency_ro,
    is_bind_like,
    mount_read_only,
    parse_line,
    parse_mountinfo,
    read_mountinfo,
    read_only,
    super_read_only,
    unescape,
)

# Lines as this machine (Debian 12 userland, Linux 6.18) printed them.
REAL = (
    "\n".join(
        [
            "22 27 0:21 / /proc rw,relatime - proc proc rw",
            "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334432k,nr_inodes=3083608,"
            "mode=755",
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534",
            "28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs "
            "model_tools_unavailable ro,size=4k,mode=755",
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
            "42 27 7:0 / /tmp/rwx/e rw,relatime - ext4 /dev/loop0 rw",
            "44 27 0:39 / /tmp/rwx/b rw,relatime - btrfs /dev/loop1 rw,discard=async,space_cache=v2,"
            "subvolid=5,subvol=/",
            r"43 27 7:0 / /tmp/rwx/sp\040ace ro,relatime - ext4 /dev/loop0 rw",
            "45 27 259:0 / /tmp/rwx/p rw,relatime - ext4 /dev/loop2p1 rw",
        ]
    )
    + "\n"
)


def one(line: str) -> MountEntry:
    entry = parse_line(line)
    assert entry is not None, line
    return entry


def test_real_lines() -> None:
    skipped: list[str] = []
    entries = parse_mountinfo(REAL, skipped=skipped)
    assert skipped == []
    assert len(entries) == 9
    root = entries[2]
    assert root == MountEntry(
        mount_id=27,
        parent_id=1,
        maj_min="254:0",
        root="/",
        mountpoint="/",
        mount_options=("rw", "relatime"),
        optional_fields=(),
        fstype="ext4",
        source="/dev/vda",
        super_options=("rw", "discard", "resv_strict", "resuid=65534", "resgid=65534"),
    )
    assert (root.major, root.minor) == (254, 0)
    tools = entries[3]
    assert mount_read_only(tools) and super_read_only(tools) and read_only(tools)
    btrfs = entries[6]
    assert btrfs.maj_min == "0:39" and btrfs.source == "/dev/loop1"  # anonymous device
    assert "subvol=/" in btrfs.super_options
    bind = entries[7]
    assert bind.mountpoint == "/tmp/rwx/sp ace"
    assert mount_read_only(bind) and not super_read_only(bind)  # ro bind over a rw filesystem
    assert not is_bind_like(bind)  # a bind of the whole filesystem shows root "/"


def test_proc5_example_with_optional_fields() -> None:
    entry = one("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue")
    assert entry.root == "/mnt1" and entry.mountpoint == "/mnt2"
    assert entry.optional_fields == ("master:1",)
    assert is_bind_like(entry)
    assert entry.super_options == ("rw", "errors=continue")
    many = one("36 35 98:0 / /m rw shared:7 master:1 propagate_from:2 unbindable - xfs /dev/sdb rw")
    assert many.optional_fields == ("shared:7", "master:1", "propagate_from:2", "unbindable")


def test_emergency_ro_on_6_15_and_later() -> None:
    # The brief's line, as Linux 6.15+ prints it after an ext4 error.
    entry = one(
        "42 27 7:0 / /mnt/t rw,relatime - ext4 /dev/loop0 rw,errors=remount-ro,emergency_ro"
    )
    assert emergency_ro(entry)
    assert not mount_read_only(entry) and not super_read_only(entry)
    assert read_only(entry)


def test_error_remount_before_6_15() -> None:
    # 6.1: ext4's error handler sets SB_RDONLY; the mount keeps its own "rw".
    entry = one("27 1 8:1 / / rw,relatime - ext4 /dev/sda1 ro,errors=remount-ro")
    assert super_read_only(entry) and not mount_read_only(entry) and not emergency_ro(entry)
    assert read_only(entry)


def test_read_only_bind_and_subvolume() -> None:
    bind = one("50 27 8:2 /srv/data /export ro,relatime shared:3 - xfs /dev/sda2 rw,attr2")
    assert mount_read_only(bind) and not super_read_only(bind) and is_bind_like(bind)
    subvol = one(r"51 27 0:45 /@home /home rw - btrfs /dev/nvme0n1p2 rw,subvol=/@home")
    assert is_bind_like(subvol) and not read_only(subvol)


def test_escapes() -> None:
    entry = one(r"60 27 8:3 /a\134b /mnt/with\040space\011tab\012nl rw - ext4 /dev/my\040disk rw")
    assert entry.root == "/a\\b"
    assert entry.mountpoint == "/mnt/with space\ttab\nnl"
    assert entry.source == "/dev/my disk"
    assert unescape(r"\303\251t\303\251") == "été"  # escaped UTF-8 becomes text
    raw = unescape(r"/x\377y")  # not UTF-8: kept byte-exact as a surrogate escape
    assert os.fsencode(raw) == b"/x\xffy"
    assert unescape(r"\400 \12 \\") == r"\400 \12 \\"  # not three octal digits <= 0377


def test_empty_source_and_dash_source() -> None:
    empty = one("70 27 0:50 / /x rw,relatime - tmpfs  rw")
    assert empty.source == "" and empty.fstype == "tmpfs"
    dash = one("71 27 0:51 / /y rw - tmpfs - rw")
    assert dash.source == "-"
    dash_mountpoint = one("72 27 0:52 / - rw - tmpfs none rw")
    assert dash_mountpoint.mountpoint == "-"


def test_malformed_lines_are_skipped_and_counted() -> None:
    bad = [
        "garbage",
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw",  # no separator
        "36 35 98:0 /mnt1 /mnt2 - ext3 /dev/root rw",  # too few fields before "-"
        "x 35 98:0 / /m rw - ext3 /dev/root rw",  # mount id not a number
        "36 35 98-0 / /m rw - ext3 /dev/root rw",  # major:minor
        "36 35 98:0 / /m rw - ext3 /dev/root",  # no super options
        "36 35 98:0 / /m rw - ext3 /dev/root rw extra",  # one field too many
        "36 35 \u0669:0 / /m rw - ext3 /dev/root rw",  # non-ASCII digit
        "3" * 30 + " 35 98:0 / /m rw - ext3 /dev/root rw",  # absurd id
    ]
    skipped: list[str] = []
    good = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw"
    entries = parse_mountinfo("\n".join([good, *bad, good]) + "\n", skipped=skipped)
    assert len(entries) == 2
    assert skipped == bad
    assert parse_mountinfo("") == []


def test_live_mountinfo_has_root() -> None:
    skipped: list[str] = []
    entries = parse_mountinfo(read_mountinfo(), skipped=skipped)
    assert skipped == []
    assert any(e.mountpoint == "/" for e in entries)


def test_read_mountinfo_keeps_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_bytes(b"80 27 8:1 / /mnt/caf\xe9 rw - ext4 /dev/sda1 rw\n")
    (entry,) = parse_mountinfo(read_mountinfo(str(path)))
    assert os.fsencode(entry.mountpoint) == b"/mnt/caf\xe9"


@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    skipped: list[str] = []
    entries = parse_mountinfo(text, skipped=skipped)
    assert len(entries) + len(skipped) == len([line for line in text.split("\n") if line])


def mangle(path: str) -> str:
    """What the kernel's seq_escape(m, s, " \\t\\n\\\\") does to a field."""
    return "".join(f"\\{ord(ch):03o}" if ch in " \t\n\\" else ch for ch in path)


#: No lone surrogates: mountinfo text comes from UTF-8 (or surrogate-escaped) bytes.
_NO_SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
_TEXT = st.text(st.characters(blacklist_categories=_NO_SURROGATES))
_PATH = _TEXT.filter(bool).map(lambda s: "/" + s)


@given(_PATH, _PATH, _TEXT, st.sampled_from(["rw", "ro"]), st.booleans())
def test_kernel_escaped_fields_round_trip(
    root: str, mountpoint: str, source: str, flag: str, emergency: bool
) -> None:
    supers = "rw,errors=remount-ro" + (",emergency_ro" if emergency else "")
    line = (
        f"99 1 8:17 {mangle(root)} {mangle(mountpoint)} {flag},relatime shared:1 - ext4 "
        f"{mangle(source)} {supers}"
    )
    entry = parse_line(line)
    assert entry is not None
    assert (entry.root, entry.mountpoint, entry.source) == (root, mountpoint, source)
    assert mount_read_only(entry) == (flag == "ro")
    assert emergency_ro(entry) == emergency
    assert entry.optional_fields == ("shared:1",)
