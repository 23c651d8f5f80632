"""``rowatch topology``: the block stack as an lsblk-like tree.

Disks (devices with nothing known below them) are the roots; partitions, dm and md devices
hang under what they sit on. A device on several others (an md mirror, a multipath map) is
shown under each of them, as lsblk does. Text from sysfs, udev and the mount table is
untrusted: control characters are shown escaped so that a mount point with a newline or an
escape sequence in it cannot forge lines or drive the terminal.
"""

from __future__ import annotations

import re

from rowatch.topology import BlockDevice, Topology

_HEADER = ("NAME", "TYPE", "MAJ:MIN", "SIZE", "FSTYPE", "MOUNTPOINTS", "DETAILS")
_MAX_DEPTH = 16  # a cycle in a hand-made snapshot stops here
_DIGITS = re.compile(r"(\d+)")


def _natural(name: str) -> list[tuple[int, int | str]]:
    """sda < sdb < sdaa, loop2 < loop10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part]


def _safe(text: str) -> str:
    """Printable text: control and other unprintable characters as \\xNN / \\uNNNN."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def human_size(sectors: int | None) -> str:
    """512-byte sectors as lsblk prints sizes: 16M, 1.5G, 931.5G."""
    if sectors is None:
        return ""
    size = float(sectors * 512)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if size < 1024 or unit == "P":
            break
        size /= 1024
    if unit == "B":
        return f"{int(size)}B"
    text = f"{size:.1f}".removesuffix(".0")
    return f"{text}{unit}"


def _details(device: BlockDevice) -> str:
    parts: list[str] = []
    if device.dm_name:
        parts.append(f"dm-name {device.dm_name}")
    if device.scsi_address:
        parts.append(f"scsi {device.scsi_address}")
    identity = " ".join(x for x in (device.vendor, device.model) if x)
    if identity:
        parts.append(identity)
    if device.serial:
        parts.append(f"serial {device.serial}")
    if device.wwn:
        parts.append(f"wwn {device.wwn}")
    if device.start_sector is not None and device.type == "part":
        parts.append(f"start {device.start_sector}")
    if device.backing_file:
        parts.append(f"file {device.backing_file}")
    return _safe(", ".join(parts))


def _row(device: BlockDevice, prefix: str) -> tuple[str, ...]:
    return (
        prefix + _safe(device.name),
        _safe(device.type),
        device.maj_min or "",
        human_size(device.size_sectors),
        _safe(device.fstype or ""),
        ",".join(_safe(m) for m in device.mountpoints),
        _details(device),
    )


def _empty(topology: Topology, device: BlockDevice) -> bool:
    """A device with no medium (an unattached loop, an empty card reader), as lsblk hides."""
    return device.size_sectors == 0 and not device.mountpoints and not topology.holders(device.name)


def render_tree(topology: Topology, *, all_devices: bool = False) -> str:
    """The topology as a table with a tree in its NAME column (lines end in newline).

    Empty devices (size 0, nothing on them) are left out unless ``all_devices``.
    """
    rows: list[tuple[str, ...]] = [_HEADER]
    shown: set[str] = set()

    def visible(name: str) -> bool:
        device = topology.get(name)
        return device is not None and (all_devices or not _empty(topology, device))

    def children(name: str) -> list[str]:
        return sorted(filter(visible, topology.holders(name)), key=_natural)

    def visit(name: str, lead: str, branch: str, path: frozenset[str]) -> None:
        device = topology.get(name)
        if device is None or not visible(name):
            return
        rows.append(_row(device, lead + branch))
        shown.add(name)
        if name in path or len(path) >= _MAX_DEPTH:
            return
        below = children(name)
        inner = lead + ("" if not branch else ("│ " if branch == "├─" else "  "))
        for i, holder in enumerate(below):
            visit(holder, inner, "└─" if i == len(below) - 1 else "├─", path | {name})

    roots = [d.name for d in topology if not any(p in topology for p in d.parents)]
    for root in sorted(roots, key=_natural):
        visit(root, "", "", frozenset())
    # Devices only reachable through a cycle (a hand-made snapshot): shown all the same.
    for name in sorted((d.name for d in topology), key=_natural):
        if name not in shown:
            visit(name, "", "", frozenset())
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"
