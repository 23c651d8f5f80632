"""The mount table, parsed from ``/proc/self/mountinfo`` text.

Pure functions only: the caller reads the file (:func:`read_mountinfo` is the one helper that
does I/O) and hands the text in, so the reconciler and the tests feed any text they like.

Line format (proc(5), ``/proc/[pid]/mountinfo``; fs/proc_namespace.c ``show_mountinfo``)::

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)   (4)   (5)      (6)      (7)   (8) (9)    (10)        (11)

(1) mount ID, (2) parent ID, (3) major:minor of the superblock's ``st_dev``, (4) root of the
mount inside the filesystem, (5) mount point, (6) per-mount options, (7) zero or more optional
fields ``tag[:value]``, (8) the separator ``-``, (9) filesystem type (``type.subtype``),
(10) mount source, (11) superblock options. The kernel escapes space, tab, newline and
backslash in root, mount point and source as ``\\ooo`` octal (``mangle()``/``seq_escape``), so
fields are separated by exactly one space and a field may be empty (a mount with source "").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rowatch import devices as names

MOUNTINFO_PATH = "/proc/self/mountinfo"

_OCTAL = re.compile(r"\\([0-3][0-7]{2})")
_ID = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One mountinfo line, with escapes decoded."""

    mount_id: int
    parent_id: int
    maj_min: str  # "8:1", normalised; an anonymous device (tmpfs, btrfs) is "0:NN"
    root: str  # the directory of the filesystem mounted here ("/" unless a bind/subvolume)
    mountpoint: str
    mount_options: tuple[str, ...]  # per-mount: rw/ro, nosuid, relatime, ...
    optional_fields: tuple[str, ...]  # shared:N, master:N, propagate_from:N, unbindable
    fstype: str  # "ext4", "fuse.sshfs"
    source: str  # "/dev/sda1", "tmpfs", "" (empty is legal)
    super_options: tuple[str, ...]  # superblock: rw/ro, errors=..., emergency_ro

    @property
    def major(self) -> int:
        return int(self.maj_min.partition(":")[0])

    @property
    def minor(self) -> int:
        return int(self.maj_min.partition(":")[2])


def unescape(field: str) -> str:
    """Decode the kernel's ``\\ooo`` octal escapes (``\\040`` is a space).

    The kernel escapes only ASCII, but a byte >= 0x80 is decoded to its surrogateescape form
    so that ``os.fsencode()`` gives back the path's bytes; valid UTF-8 becomes real text.
    """
    if "\\" not in field:
        return field

    def byte(match: re.Match[str]) -> str:
        value = int(match.group(1), 8)
        return chr(value) if value < 0x80 else chr(0xDC00 + value)

    decoded = _OCTAL.sub(byte, field)
    try:
        return decoded.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    except UnicodeError:  # a lone surrogate that surrogateescape cannot encode: keep as is
        return decoded


def parse_line(line: str) -> MountEntry | None:
    """One mountinfo line, or None if it is not one."""
    fields = line.rstrip("\n").split(" ")
    try:
        sep = fields.index("-", 6)  # optional fields never are "-"; the mount point may be
    except ValueError:
        return None
    if len(fields) - sep != 4:  # fstype, source, super options; none contains a raw space
        return None
    mount_id, parent_id, majmin, root, mountpoint, options = fields[:6]
    if not (_ID.fullmatch(mount_id) and _ID.fullmatch(parent_id)):
        return None
    normal = names.major_minor(majmin) if majmin.isascii() else None
    fstype, source, super_options = fields[sep + 1 :]
    if normal is None or not fstype or not root or not mountpoint or not options:
        return None
    return MountEntry(
        mount_id=int(mount_id),
        parent_id=int(parent_id),
        maj_min=normal,
        root=unescape(root),
        mountpoint=unescape(mountpoint),
        mount_options=tuple(options.split(",")),
        optional_fields=tuple(fields[6:sep]),
        fstype=fstype,
        source=unescape(source),
        super_options=tuple(super_options.split(",")) if super_options else (),
    )


def parse_mountinfo(text: str, *, skipped: list[str] | None = None) -> list[MountEntry]:
    """Every well-formed line of ``text``; never raises.

    A malformed line is skipped; if ``skipped`` is given, the line (cut to 200 characters) is
    appended to it, so ``len(skipped)`` counts them.
    """
    entries: list[MountEntry] = []
    for line in text.split("\n"):
        if not line:
            continue
        entry = parse_line(line)
        if entry is not None:
            entries.append(entry)
        elif skipped is not None:
            skipped.append(line[:200])
    return entries


def read_mountinfo(path: str = MOUNTINFO_PATH) -> str:
    """The mount table's text. Paths are bytes to the kernel: undecodable ones survive as
    surrogate escapes (``os.fsencode`` restores them)."""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def mount_read_only(entry: MountEntry) -> bool:
    """The mount itself is read-only (``mount -o remount,ro,bind`` or ``mount -o ro``)."""
    return "ro" in entry.mount_options


def super_read_only(entry: MountEntry) -> bool:
    """The filesystem (superblock) is read-only: ``SB_RDONLY``, which an ext4 error remount
    sets on kernels before 6.12 (per-mount options still say ``rw`` then); 6.12-6.14 show
    nothing at all, 6.15+ show ``emergency_ro``."""
    return "ro" in entry.super_options


def emergency_ro(entry: MountEntry) -> bool:
    """ext4 shut writes off after an error (Linux 6.15+: ``emergency_ro`` in the superblock
    options while both option lists still say ``rw``)."""
    return "emergency_ro" in entry.super_options


def read_only(entry: MountEntry) -> bool:
    """Writes through this mount fail with EROFS for any of the three reasons above."""
    return mount_read_only(entry) or super_read_only(entry) or emergency_ro(entry)


def is_bind_like(entry: MountEntry) -> bool:
    """The mount shows a subtree of its filesystem: a bind mount or a btrfs subvolume."""
    return entry.root != "/"
