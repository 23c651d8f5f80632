"""The mount-state reconciler: the mount table is the ground truth, the kernel log the fast path.

A filesystem can go read-only without a log line reaching us (ring buffer overrun, journald
rate limits, a daemon restart). The reconciler looks at what the kernel *shows* instead and
reports what the log missed. It has two halves:

* :func:`read_filesystems` is the I/O adapter: it reads ``/proc/self/mountinfo``, the
  per-filesystem counters in sysfs/procfs and, for XFS, one ``stat()`` probe, and returns one
  :class:`FsState` per mounted block-backed filesystem.
* :class:`Reconciler` is pure: it compares successive lists of :class:`FsState` and returns
  :class:`Finding` values, each once per change of state. A finding becomes an engine
  :class:`~rowatch.engine.Observation` (:meth:`Finding.observation`), or, for
  ``writable_again``, a call to :meth:`~rowatch.engine.Engine.recovered`.

What the kernel shows after an error depends on the filesystem and the kernel (checked on
6.18; the kernel history is cited where it matters):

* ext4 with ``errors=remount-ro``, kernels before 6.12: ``ext4_handle_error()`` sets
  ``SB_RDONLY``; mountinfo's per-mount options stay ``rw``, the superblock options say ``ro``.
* 6.12 to 6.14 (and stable kernels that took commit d3476f3dad4a "ext4: don't set SB_RDONLY
  after filesystem errors", e.g. Debian 12's 6.1.0-56): only an internal flag is set; every
  view (mountinfo, /proc/mounts, statvfs) still says ``rw`` while writes get EROFS. The only
  traces are the ext4 error counters in ``/sys/fs/ext4/<dev>/``.
* 6.15+ (commit 6b76715d5e41, also in 6.14.2): the superblock options carry ``emergency_ro``
  (and ``shutdown`` after a forced shutdown, commit 5855c3519463); statvfs still says rw.
* XFS shows a shutdown nowhere in mountinfo, statvfs or sysfs, but ``stat()`` on any inode
  fails with EIO (``xfs_vn_getattr()`` checks ``xfs_is_shutdown()``).
* btrfs sets ``SB_RDONLY`` (``btrfs_handle_fs_error``/transaction abort): the superblock
  options say ``ro``; ``/sys/fs/btrfs/<uuid>/devinfo/<id>/error_stats`` counts device errors.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from rowatch import devices as names
from rowatch import mounts
from rowatch.engine import Observation
from rowatch.kinds import Kind

#: Filesystems that are read-only by nature: read-only there is never an incident. squashfs
#: and erofs set SB_RDONLY themselves, so a plain ``mount`` of one shows per-mount ``rw`` with
#: superblock ``ro``, which for a writable filesystem is exactly what an error remount looks like.
READ_ONLY_FSTYPES = frozenset(
    {"iso9660", "squashfs", "erofs", "udf", "cramfs", "romfs", "efs", "qnx4", "befs"}
)

#: The types the ext4 driver serves (ext2/ext3 too when CONFIG_EXT4_USE_FOR_EXT2); only these
#: have ``/sys/fs/ext4/<dev>/`` and ``/proc/fs/ext4/<dev>/options``.
EXT4_DRIVER_TYPES = frozenset({"ext2", "ext3", "ext4", "ext4dev"})

#: What each signature of a finding means (names are a public interface, like event kinds).
SIGNATURES: Mapping[str, str] = {
    "mountinfo_ro": "superblock read-only while a mount of it is read-write: the kernel "
    "flipped it (error remount before Linux 6.12, btrfs forced read-only)",
    "mountinfo_emergency_ro": "ext4 shut writes off after an error (Linux 6.15+)",
    "mountinfo_shutdown": "ext4 was shut down (Linux 6.15+ shows 'shutdown')",
    "ext4_errors_count": "ext4's error counter grew since the last check",
    "ext4_last_error_time": "ext4 recorded an error after the filesystem was mounted",
    "xfs_shutdown": "XFS is shut down: stat() of its mount point fails with EIO",
    "btrfs_dev_errors": "btrfs device error counters grew",
    "fanotify_fs_error": "fanotify FAN_FS_ERROR event (Linux 5.16+, ext4)",
    "mountinfo_rw": "writable again: read-write with no error flag",
    "ext4_errors_cleared": "writable again: ext4's error counter was reset (e2fsck ran)",
}


class What(StrEnum):
    """What a finding says about a filesystem."""

    READ_ONLY = "read_only"
    SHUTDOWN = "shutdown"
    FS_ERROR = "fs_error"
    WRITABLE_AGAIN = "writable_again"


_KIND = {What.READ_ONLY: Kind.READ_ONLY, What.SHUTDOWN: Kind.SHUTDOWN, What.FS_ERROR: Kind.FS_ERROR}


@dataclass(frozen=True, slots=True)
class Ext4Info:
    """ext4's error record (``/sys/fs/ext4/<dev>/``) and its ``errors=`` behaviour.

    The counters are the on-disk superblock fields (``s_error_count``, ``s_last_error_time``,
    ...): they survive unmount and reboot until e2fsck clears them. Times are seconds since
    the epoch, 0 when there was no error.
    """

    errors_count: int = 0
    first_error_time: int = 0
    last_error_time: int = 0
    last_error_func: str = ""
    last_error_line: int = 0
    #: ``remount-ro``, ``continue`` or ``panic``; None when unknown. mountinfo names it only
    #: when it differs from the superblock default (``tune2fs -e``); /proc/fs/ext4/<dev>/options
    #: always does.
    errors: str | None = None

    def describe(self) -> str:
        """``ext4: 1 error since the last fsck, last trigger_test_error:129 at <UTC time>``."""
        if self.errors_count <= 0:
            return "ext4: no recorded error"
        where = self.last_error_func or "?"
        if self.last_error_line:
            where += f":{self.last_error_line}"
        plural = "s" if self.errors_count != 1 else ""
        return (
            f"ext4: {self.errors_count} error{plural} since the last fsck, last {where} "
            f"at {_utc(self.last_error_time)}"
        )


@dataclass(frozen=True, slots=True)
class FsState:
    """One mounted block-backed filesystem (one superblock), as the kernel shows it now."""

    device: str  #: kernel name of the block device: ``loop0``, ``dm-0``, ``sda1``
    mountpoint: str  #: its main mount point (the filesystem's root, not overmounted)
    fstype: str
    source: str = ""
    maj_min: str = ""
    mount_id: int = 0
    mountpoints: tuple[str, ...] = ()
    mount_options: tuple[str, ...] = ("rw",)  #: per-mount options of :attr:`mountpoint`
    super_options: tuple[str, ...] = ("rw",)
    #: Some mount of this superblock is per-mount read-write (a read-only bind mount of a
    #: writable filesystem leaves this True).
    writable_mount: bool = True
    #: The block device itself is read-only (``/sys/class/block/<dev>/ro``: ``losetup -r``,
    #: a write-protected card, ``blockdev --setro``).
    device_read_only: bool = False
    ext4: Ext4Info | None = None
    #: XFS: ``stat()`` of the mount point failed with EIO (the filesystem is shut down).
    shutdown: bool = False
    #: btrfs: sum of the device error counters (write, read, flush, corruption, generation).
    device_errors: int | None = None
    #: The filesystem was mounted no earlier than this (epoch seconds): the boot time.
    mounted_after: float | None = None

    @property
    def super_read_only(self) -> bool:
        return "ro" in self.super_options

    @property
    def emergency_ro(self) -> bool:
        return "emergency_ro" in self.super_options

    @property
    def ext4_shutdown(self) -> bool:
        return "shutdown" in self.super_options

    def mountinfo(self) -> str:
        """The evidence line: ``/mnt rw,relatime - ext4 /dev/loop0 rw,errors=remount-ro``."""
        return (
            f"mountinfo: {self.mountpoint} {','.join(self.mount_options)} - "
            f"{self.fstype} {self.source or '-'} {','.join(self.super_options)}"
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the reconciler found out about one filesystem."""

    device: str
    mountpoint: str
    fstype: str
    what: What
    signature: str
    message: str

    def observation(self, *, uptime: float | None = None, wall: float | None = None) -> Observation:
        """The engine's input for this finding (``writable_again`` has none: call
        ``engine.recovered(device)`` instead)."""
        kind = _KIND.get(self.what)
        if kind is None:
            raise ValueError(f"a {self.what} finding is not an observation")
        return Observation(
            device=self.device,
            kind=kind,
            signature=self.signature,
            message=self.message,
            uptime=uptime,
            wall=wall,
            filesystem=self.fstype,
        )


def fanotify_finding(state: FsState, error: int, count: int) -> Finding:
    """A FAN_FS_ERROR event on ``state``'s filesystem as a ``fs_error`` finding."""
    name = errno.errorcode.get(error, str(error))
    reason = os.strerror(error) if 0 < error < 4096 else "unknown error"
    plural = "s" if count != 1 else ""
    return Finding(
        state.device,
        state.mountpoint,
        state.fstype,
        What.FS_ERROR,
        "fanotify_fs_error",
        f"fanotify FAN_FS_ERROR on {state.mountpoint}: error {error} ({name}: "
        f"{reason}), {count} error{plural} since the last event",
    )


def ext4_shows_emergency_ro(release: str) -> bool | None:
    """Whether a kernel of this release shows ext4's error read-only state in mountinfo.

    True from 6.15 (and 6.14.2, which took the fix): ``emergency_ro``. False for 6.12 to
    6.14.1: nothing shows it. None before 6.12: ``ro`` in the superblock options, unless the
    distribution backported d3476f3dad4a (as Debian's 6.1.0-56 did), so it cannot be told.
    """
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if found is None:
        return None
    version = (int(found.group(1)), int(found.group(2)), int(found.group(3) or 0))
    if version >= (6, 15) or (version[:2] == (6, 14) and version[2] >= 2):
        return True
    if version >= (6, 12):
        return False
    return None


def parse_fstab(text: str) -> dict[str, tuple[str, ...]]:
    """Mount point -> options from fstab(5) text; the last entry for a mount point wins."""
    table: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 4 or not fields[1].startswith("/"):
            continue  # swap, none, or a malformed line
        table[mounts.unescape(fields[1])] = tuple(fields[3].split(","))
    return table


# ------------------------------------------------------------------------------ the reconciler
#: Signatures whose read-only state the mount table does not show (Linux 6.12-6.14).
_UNSEEN = frozenset({"ext4_errors_count", "ext4_last_error_time"})


@dataclass
class _Flag:
    """A filesystem the reconciler reported read-only or shut down."""

    what: What
    errors_count: int | None  #: ext4's counter when reported: lower later means e2fsck ran
    #: The state shows in the mount table or a probe, so its absence means writable again.
    visible: bool
    gone: bool = False  # unmounted since: the next mount is a new one


class Reconciler:
    """Compares what the kernel shows with what it showed; says what changed, once.

    ``baseline`` is the state before the first :meth:`check` (None: the first check is the
    baseline). Rules, per filesystem:

    * Read-only by configuration is never an incident: a read-only fstype (squashfs, ISO9660,
      erofs, udf), a CD-ROM (``sr*``), a read-only block device, a read-only bind mount (per
      mount ``ro``, superblock ``rw``), a filesystem mounted ``ro`` (both ``ro``), and an
      administrator's ``mount -o remount,ro`` (both ``ro``, no new error recorded).
    * Read-only by error is an incident, at the first check too: ``emergency_ro``/``shutdown``
      in the superblock options, superblock ``ro`` while a mount of it is ``rw`` (the kernel
      flipped it, not the admin), an XFS that fails ``stat()`` with EIO, and for ext4 with
      ``errors=remount-ro`` where the kernel shows nothing (6.12-6.14): an error counter that
      grew since the last check, or at first sight an error recorded after the mount.
    * The same ext4 evidence with ``errors=continue``, an error on a filesystem mounted ``ro``
      and grown btrfs device error counters are ``fs_error``.
    * A filesystem reported read-only is ``writable_again`` once it is read-write with no
      error flag; where the kernel never showed the flag (6.12-6.14), only once it was
      unmounted in between or e2fsck reset its error counter.

    ``fstab`` is the text of /etc/fstab: a mount point it lists as ``ro`` is read-only by
    configuration whatever the counters say, one it lists as ``rw`` that is ``ro`` with an
    error since boot is read-only by error, and its ``errors=`` fills in the behaviour when the
    kernel does not name it. ``kernel_release`` (``os.uname().release``) tells whether a
    read-write ext4 with an error since its mount may be read-only unseen (see
    :func:`ext4_shows_emergency_ro`); unknown means it may.
    """

    def __init__(
        self,
        baseline: list[FsState] | None,
        *,
        fstab: str | None = None,
        kernel_release: str | None = None,
    ) -> None:
        self._previous: dict[str, FsState] = {s.device: s for s in baseline or ()}
        #: Per device: the earliest its current mount can have happened (None: unknown).
        self._bounds: dict[str, float | None] = {s.device: s.mounted_after for s in baseline or ()}
        self._judged: set[str] = set()  # devices whose current mount had its first look
        self._flags: dict[str, _Flag] = {}
        self._fstab = parse_fstab(fstab) if fstab else {}
        self._emergency_visible = (
            ext4_shows_emergency_ro(kernel_release) if kernel_release else None
        )
        self._last_check: float | None = None

    @property
    def flagged(self) -> dict[str, str]:
        """Devices reported read-only or shut down and not writable since: device -> what."""
        return {device: flag.what.value for device, flag in self._flags.items()}

    def check(self, states: list[FsState], *, now_wall: float) -> list[Finding]:
        """Compare ``states`` (the mount table now) with the previous check."""
        findings: list[Finding] = []
        current: dict[str, FsState] = {}
        for state in states:
            if state.device in current:
                continue  # one superblock per device; the adapter never sends two
            current[state.device] = state
            if state.device not in self._bounds:
                # New: mounted at boot at the earliest, or after the last check.
                self._bounds[state.device] = (
                    state.mounted_after if self._last_check is None else self._last_check
                )
            findings += self._check_one(state, self._previous.get(state.device))
            self._judged.add(state.device)
        for device in set(self._previous) - set(current):
            self._bounds.pop(device, None)
            self._judged.discard(device)
            if device in self._flags:
                self._flags[device].gone = True
        self._previous = current
        self._last_check = now_wall
        return findings

    # ------------------------------------------------------------------ one filesystem
    def _check_one(self, state: FsState, previous: FsState | None) -> list[Finding]:
        if _read_only_by_nature(state):
            return []
        flag = self._flags.get(state.device)
        verdict = self._verdict(state, previous)
        findings: list[Finding] = []
        if verdict is not None and verdict[0] is What.FS_ERROR:
            findings.append(self._finding(state, *verdict))
            verdict = None  # an error on a writable filesystem: it may be writable again too
        if verdict is not None:
            what, signature, message = verdict
            if flag is not None and not flag.gone and flag.what is what:
                flag.visible = flag.visible or signature not in _UNSEEN
                return findings  # reported already
            self._flags[state.device] = _Flag(
                what,
                state.ext4.errors_count if state.ext4 else None,
                visible=signature not in _UNSEEN,
            )
            return [*findings, self._finding(state, what, signature, message)]
        recovered = self._writable_again(state, flag) if flag is not None else None
        if recovered is not None:
            del self._flags[state.device]
            findings.append(self._finding(state, What.WRITABLE_AGAIN, *recovered))
        return findings

    def _verdict(self, state: FsState, previous: FsState | None) -> tuple[What, str, str] | None:
        """Read-only, shut down or an error now, as (what, signature, message); else None."""
        line = state.mountinfo()
        ext4 = state.ext4
        detail = f"; {ext4.describe()}" if ext4 is not None and ext4.errors_count else ""
        if state.shutdown:
            return (
                What.SHUTDOWN,
                "xfs_shutdown",
                f"stat({state.mountpoint}) failed with EIO: {state.fstype} is shut down; {line}",
            )
        if state.ext4_shutdown:
            return What.SHUTDOWN, "mountinfo_shutdown", line + detail
        by_config = state.super_read_only and not state.writable_mount
        if state.emergency_ro:
            if not by_config:
                return What.READ_ONLY, "mountinfo_emergency_ro", line + detail
            # ro by configuration, then an error: it never was writable. (A remount,ro of
            # an emergency_ro ext4 fails with EROFS, so this is not an error then a remount.)
            if previous is None or not previous.emergency_ro:
                return What.FS_ERROR, "mountinfo_emergency_ro", line + detail
            return None
        if state.super_read_only and state.writable_mount:
            return What.READ_ONLY, "mountinfo_ro", line + detail
        verdict = self._ext4_verdict(state, previous, line, by_config)
        if (
            verdict is None
            and previous is not None
            and (
                state.device_errors is not None
                and previous.device_errors is not None
                and state.device_errors > previous.device_errors
            )
        ):
            return (
                What.FS_ERROR,
                "btrfs_dev_errors",
                f"{state.fstype} device error counters {previous.device_errors} -> "
                f"{state.device_errors} (/sys/fs/btrfs/<uuid>/devinfo/*/error_stats); "
                f"{line}",
            )
        return verdict

    def _ext4_verdict(
        self, state: FsState, previous: FsState | None, line: str, by_config: bool
    ) -> tuple[What, str, str] | None:
        """ext4's counters: read-only unseen (6.12-6.14), or an error it carried on after."""
        ext4 = state.ext4
        if ext4 is None or ext4.errors_count <= 0:
            return None
        behaviour = ext4.errors or self._fstab_errors(state) or "continue"
        stops = behaviour != "continue"  # remount-ro; panic never lets us see it
        before = previous.ext4 if previous is not None else None
        if (
            previous is not None
            and before is not None
            and ext4.errors_count != (before.errors_count)
        ):
            if ext4.errors_count < before.errors_count:
                return None  # e2fsck reset it
            grew = (
                f"ext4 errors_count {before.errors_count} -> {ext4.errors_count} "
                f"with errors={behaviour}"
            )
            # rw before and both ro now: an error remount (before 6.12), then remount,ro.
            if stops and (not by_config or previous.writable_mount):
                return (
                    What.READ_ONLY,
                    "ext4_errors_count",
                    f"{grew}, yet {line}; {ext4.describe()}",
                )
            return What.FS_ERROR, "ext4_errors_count", f"{grew}; {ext4.describe()}; {line}"
        if state.device in self._judged:
            return None
        # First look at this mount: only an error recorded since it was mounted counts;
        # older ones were there before (a previous boot, or a mount without e2fsck).
        bound = self._bounds.get(state.device)
        if bound is None or ext4.last_error_time < bound:
            return None
        since = f"ext4 error since the mount ({ext4.describe()}) with errors={behaviour}"
        unseen = self._emergency_visible is not True
        fstab = self._fstab.get(state.mountpoint)
        if stops and unseen and not state.super_read_only:
            return What.READ_ONLY, "ext4_last_error_time", f"{since}, yet {line}"
        if stops and unseen and by_config and fstab is not None and "ro" not in fstab:
            return (
                What.READ_ONLY,
                "ext4_last_error_time",
                f"{since}; fstab mounts it {','.join(fstab)}, yet {line}",
            )
        return What.FS_ERROR, "ext4_last_error_time", f"{since}; {line}"

    def _writable_again(self, state: FsState, flag: _Flag) -> tuple[str, str] | None:
        """(signature, message) when a flagged filesystem takes writes again, else None."""
        writable = (
            not state.super_read_only
            and state.writable_mount
            and not state.emergency_ro
            and not state.ext4_shutdown
            and not state.shutdown
        )
        if not writable:
            return None
        line = state.mountinfo()
        if flag.visible or flag.gone:
            return "mountinfo_rw", f"read-write again with no error flag: {line}"
        ext4 = state.ext4
        if (
            ext4 is not None
            and flag.errors_count is not None
            and (ext4.errors_count < flag.errors_count)
        ):
            return (
                "ext4_errors_cleared",
                f"ext4 errors_count {flag.errors_count} -> {ext4.errors_count} "
                f"(e2fsck ran) and {line}",
            )
        return None  # 6.12-6.14: maybe still the mount that went read-only unseen

    def _fstab_errors(self, state: FsState) -> str | None:
        for option in self._fstab.get(state.mountpoint, ()):
            if option.startswith("errors="):
                return option[7:]
        return None

    @staticmethod
    def _finding(state: FsState, what: What, signature: str, message: str) -> Finding:
        return Finding(state.device, state.mountpoint, state.fstype, what, signature, message)


def _read_only_by_nature(state: FsState) -> bool:
    return (
        state.fstype in READ_ONLY_FSTYPES or state.device.startswith("sr") or state.device_read_only
    )


def _utc(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(epoch)


# ------------------------------------------------------------------------------ the I/O adapter
_BTRFS_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COUNTER = re.compile(r"(\w+) (\d+)")


def read_filesystems(
    mountinfo_path: str = mounts.MOUNTINFO_PATH,
    sysfs: str = "/sys",
    *,
    procfs: str = "/proc",
    ignore_mountpoints: Iterable[str] = (),
    ignore_fstypes: Iterable[str] = (),
    probe: bool = True,
) -> list[FsState]:
    """Every mounted block-backed filesystem, one :class:`FsState` per superblock.

    A filesystem is block-backed when its ``major:minor`` (or, for btrfs, its source's device
    number) is a block device in ``/sys/dev/block``: tmpfs, overlay, NFS, FUSE and the like are
    skipped. ``ignore_mountpoints`` takes paths or shell patterns, ``ignore_fstypes`` types.
    With ``probe``, an XFS mount point is ``stat()``-ed to see a shutdown (no I/O: the
    kernel answers from the inode cache). Device names come from sysfs symlinks and are
    checked with :func:`rowatch.devices.valid_name` before any path is built from them.
    """
    entries = mounts.parse_mountinfo(mounts.read_mountinfo(mountinfo_path))
    ignored_types = set(ignore_fstypes)
    patterns = list(ignore_mountpoints)
    booted = boot_time(procfs)
    covered = _overmounted(entries)
    groups: dict[str, list[mounts.MountEntry]] = {}
    devices: dict[str, str] = {}
    for entry in entries:
        if entry.fstype in ignored_types or _ignored(entry.mountpoint, patterns):
            continue
        device = devices.get(entry.maj_min) or _block_device(entry, sysfs)
        if device is None:
            continue
        devices[entry.maj_min] = device
        groups.setdefault(entry.maj_min, []).append(entry)
    btrfs = (
        _btrfs_filesystems(sysfs)
        if any(group[0].fstype == "btrfs" for group in groups.values())
        else {}
    )
    states: list[FsState] = []
    for maj_min, group in groups.items():
        main = _main_mount(group, covered)
        device = devices[maj_min]
        state = FsState(
            device=device,
            mountpoint=main.mountpoint,
            fstype=main.fstype,
            source=main.source,
            maj_min=maj_min,
            mount_id=main.mount_id,
            mountpoints=tuple(e.mountpoint for e in group),
            mount_options=main.mount_options,
            super_options=main.super_options,
            writable_mount=any(not mounts.mount_read_only(e) for e in group),
            device_read_only=_read_int(os.path.join(sysfs, "class/block", device, "ro")) == 1,
            mounted_after=booted,
        )
        if main.fstype in EXT4_DRIVER_TYPES:
            state = replace(state, ext4=_ext4_info(device, sysfs, procfs, main.super_options))
        elif main.fstype == "xfs" and probe:
            state = replace(state, shutdown=_xfs_shut_down(group, covered))
        elif main.fstype == "btrfs" and device in btrfs:
            state = replace(state, device_errors=btrfs[device])
        states.append(state)
    return states


def _ignored(mountpoint: str, patterns: list[str]) -> bool:
    return any(mountpoint == p or fnmatch.fnmatchcase(mountpoint, p) for p in patterns)


def _overmounted(entries: list[mounts.MountEntry]) -> set[int]:
    """Mount ids hidden by a later mount on the same mount point (``stat`` sees the top)."""
    top: dict[str, int] = {}
    hidden: set[int] = set()
    for entry in entries:  # mountinfo lists mounts in the order they were made
        if entry.mountpoint in top:
            hidden.add(top[entry.mountpoint])
        top[entry.mountpoint] = entry.mount_id
    return hidden


def _main_mount(group: list[mounts.MountEntry], covered: set[int]) -> mounts.MountEntry:
    """The mount to name: the filesystem's root if mounted, visible, read-write first."""
    return min(
        group,
        key=lambda e: (
            e.mount_id in covered,
            e.root != "/",
            mounts.mount_read_only(e),
            len(e.mountpoint),
        ),
    )


def _block_device(entry: mounts.MountEntry, sysfs: str) -> str | None:
    """The kernel name of the block device under a mount, or None if there is none."""
    if not entry.maj_min.startswith("0:"):
        return _sysfs_block_name(entry.maj_min, sysfs)
    # btrfs (and bcachefs) superblocks have an anonymous 0:N device; the source names the
    # device. Only a /dev path is looked at: stat() of an arbitrary path could hang.
    source = entry.source
    if not source.startswith("/dev/") or "/.." in source:
        return None
    try:
        info = os.stat(source)
    except (OSError, ValueError):
        return None
    if not stat.S_ISBLK(info.st_mode):
        return None
    return _sysfs_block_name(f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}", sysfs)


def _sysfs_block_name(maj_min: str, sysfs: str) -> str | None:
    if names.major_minor(maj_min) != maj_min or maj_min.startswith("0:"):
        return None
    try:
        target = os.readlink(os.path.join(sysfs, "dev/block", maj_min))
    except (OSError, ValueError):
        return None
    name = os.path.basename(target)
    return name if names.valid_name(name) else None


def _read_text(path: str, limit: int = 4096) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _read_int(path: str) -> int | None:
    text = _read_text(path, 64)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def boot_time(procfs: str = "/proc") -> float | None:
    """``btime`` from /proc/stat: when the system booted (epoch seconds)."""
    text = _read_text(os.path.join(procfs, "stat"), 1 << 20)
    found = re.search(r"^btime (\d+)$", text or "", re.MULTILINE)
    return float(found.group(1)) if found else None


def _ext4_info(
    device: str, sysfs: str, procfs: str, super_options: tuple[str, ...]
) -> Ext4Info | None:
    """``/sys/fs/ext4/<dev>/`` counters (fs/ext4/sysfs.c) and the ``errors=`` in force."""
    base = os.path.join(sysfs, "fs/ext4", device)
    count = _read_int(os.path.join(base, "errors_count"))
    if count is None:
        return None  # not the ext4 driver (real ext2 driver), or a kernel before 3.x
    errors = None
    # _ext4_show_options(nodefs=1) always prints errors=, mountinfo only when it differs from
    # the superblock default (tune2fs -e).
    options = _read_text(os.path.join(procfs, "fs/ext4", device, "options"))
    for option in [*(options or "").split(), *super_options]:
        if option.startswith("errors="):
            errors = option[7:]
            break
    func = (_read_text(os.path.join(base, "last_error_func"), 64) or "").strip()
    return Ext4Info(
        errors_count=count,
        first_error_time=_read_int(os.path.join(base, "first_error_time")) or 0,
        last_error_time=_read_int(os.path.join(base, "last_error_time")) or 0,
        last_error_func=func if func.isprintable() else "",
        last_error_line=_read_int(os.path.join(base, "last_error_line")) or 0,
        errors=errors,
    )


def _xfs_shut_down(group: list[mounts.MountEntry], covered: set[int]) -> bool:
    """XFS answers ``stat()`` with EIO once shut down (xfs_vn_getattr: xfs_is_shutdown)."""
    for entry in group:
        if entry.mount_id in covered:
            continue
        try:
            os.stat(entry.mountpoint)
        except OSError as exc:
            return exc.errno == errno.EIO
        except ValueError:
            continue
        return False
    return False


def _btrfs_filesystems(sysfs: str) -> dict[str, int]:
    """Device name -> summed device error counters of its btrfs filesystem."""
    base = os.path.join(sysfs, "fs/btrfs")
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for uuid in os.listdir(base):
            if not _BTRFS_UUID.fullmatch(uuid):
                continue
            total = 0
            with contextlib.suppress(OSError):
                for devid in os.listdir(os.path.join(base, uuid, "devinfo")):
                    if devid.isdigit():
                        text = (
                            _read_text(os.path.join(base, uuid, "devinfo", devid, "error_stats"))
                            or ""
                        )
                        total += sum(int(n) for _, n in _COUNTER.findall(text))
            with contextlib.suppress(OSError):
                for device in os.listdir(os.path.join(base, uuid, "devices")):
                    if names.valid_name(device):
                        found[device] = total
    return found


__all__ = [
    "EXT4_DRIVER_TYPES",
    "READ_ONLY_FSTYPES",
    "SIGNATURES",
    "Ext4Info",
    "Finding",
    "FsState",
    "Reconciler",
    "What",
    "ext4_shows_emergency_ro",
    "fanotify_finding",
    "parse_fstab",
    "read_filesystems",
]
