"""Event kinds: the stable names of what a kernel message means.

These names are a public interface: they appear in ``replay --json`` output, in alerts and
in the daemon's logs. Add new kinds; never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Layer(StrEnum):
    """Where in the storage stack a message comes from, bottom to top."""

    TRANSPORT = "transport"  # SCSI, NVMe, virtio: the disk as the driver sees it
    BLOCK = "block"  # the block layer and the page cache writing to it
    MULTIPATH = "multipath"  # dm-multipath and multipathd
    RAID = "raid"  # md
    JOURNAL = "journal"  # jbd / jbd2
    FILESYSTEM = "filesystem"  # ext2/3/4, XFS, btrfs


class Role(StrEnum):
    """What the engine does with an event of a kind."""

    OUTCOME = "outcome"  # the filesystem is now read-only, shut down or panicked
    ERROR = "error"  # evidence that opens or feeds an incident
    CONTEXT = "context"  # evidence kept when an incident is open, never opens one alone
    NAMING = "naming"  # teaches the engine about a device (sd 0:0:0:0: [sda]); not evidence
    SUPPRESSED = "suppressed"  # "N callbacks suppressed": a count for the next message
    LIFECYCLE = "lifecycle"  # a filesystem was mounted or unmounted: what came before is over


class Kind(StrEnum):
    """What one kernel message says happened."""

    SCSI_ERROR = "scsi_error"
    SCSI_SENSE = "scsi_sense"
    SCSI_TIMEOUT = "scsi_timeout"
    SCSI_ABORT = "scsi_abort"
    SCSI_OFFLINE = "scsi_offline"
    SCSI_NOTICE = "scsi_notice"  # sense that reports a change, not a failure (Unit Attention)
    NVME_ERROR = "nvme_error"
    IO_ERROR = "io_error"
    BUFFER_IO_ERROR = "buffer_io_error"
    PATH_FAILED = "path_failed"
    PATH_REINSTATED = "path_reinstated"
    PATHS_REMAINING = "paths_remaining"
    NO_PATHS = "no_paths"
    RAID_DISK_FAILED = "raid_disk_failed"
    JOURNAL_ABORT = "journal_abort"
    JOURNAL_IO_ERROR = "journal_io_error"
    FS_ERROR = "fs_error"
    FS_WARNING = "fs_warning"
    FS_CORRUPTION = "fs_corruption"
    READ_ONLY = "read_only"
    SHUTDOWN = "shutdown"
    PANIC = "panic"
    DEVICE_NAME = "device_name"
    SUPPRESSED = "suppressed"
    MOUNTED = "mounted"
    UNMOUNTED = "unmounted"

    @property
    def layer(self) -> Layer:
        return _LAYER[self]

    @property
    def role(self) -> Role:
        return _ROLE.get(self, Role.ERROR)

    @property
    def outcome(self) -> str | None:
        """The incident outcome this kind establishes, if it is an outcome kind."""
        return _OUTCOME.get(self)


_LAYER: dict[Kind, Layer] = {
    Kind.SCSI_ERROR: Layer.TRANSPORT,
    Kind.SCSI_SENSE: Layer.TRANSPORT,
    Kind.SCSI_TIMEOUT: Layer.TRANSPORT,
    Kind.SCSI_ABORT: Layer.TRANSPORT,
    Kind.SCSI_OFFLINE: Layer.TRANSPORT,
    Kind.SCSI_NOTICE: Layer.TRANSPORT,
    Kind.NVME_ERROR: Layer.TRANSPORT,
    Kind.DEVICE_NAME: Layer.TRANSPORT,
    Kind.IO_ERROR: Layer.BLOCK,
    Kind.BUFFER_IO_ERROR: Layer.BLOCK,
    Kind.SUPPRESSED: Layer.BLOCK,
    Kind.PATH_FAILED: Layer.MULTIPATH,
    Kind.PATH_REINSTATED: Layer.MULTIPATH,
    Kind.PATHS_REMAINING: Layer.MULTIPATH,
    Kind.NO_PATHS: Layer.MULTIPATH,
    Kind.RAID_DISK_FAILED: Layer.RAID,
    Kind.JOURNAL_ABORT: Layer.JOURNAL,
    Kind.JOURNAL_IO_ERROR: Layer.JOURNAL,
    Kind.FS_ERROR: Layer.FILESYSTEM,
    Kind.FS_WARNING: Layer.FILESYSTEM,
    Kind.FS_CORRUPTION: Layer.FILESYSTEM,
    Kind.READ_ONLY: Layer.FILESYSTEM,
    Kind.SHUTDOWN: Layer.FILESYSTEM,
    Kind.PANIC: Layer.FILESYSTEM,
    Kind.MOUNTED: Layer.FILESYSTEM,
    Kind.UNMOUNTED: Layer.FILESYSTEM,
}

_ROLE: dict[Kind, Role] = {
    Kind.READ_ONLY: Role.OUTCOME,
    Kind.SHUTDOWN: Role.OUTCOME,
    Kind.PANIC: Role.OUTCOME,
    # A path that fails and comes back, or a task abort that succeeds, is routine on a SAN;
    # it explains an incident but is no incident by itself.
    Kind.PATH_FAILED: Role.CONTEXT,
    Kind.PATH_REINSTATED: Role.CONTEXT,
    Kind.PATHS_REMAINING: Role.CONTEXT,
    Kind.SCSI_ABORT: Role.CONTEXT,
    # Unit Attention and friends: the target says something changed (a LUN was resized, an
    # ALUA state moved, a reset happened). It explains what follows; it is not a failure.
    Kind.SCSI_NOTICE: Role.CONTEXT,
    Kind.DEVICE_NAME: Role.NAMING,
    Kind.SUPPRESSED: Role.SUPPRESSED,
    Kind.MOUNTED: Role.LIFECYCLE,
    Kind.UNMOUNTED: Role.LIFECYCLE,
}

_OUTCOME: dict[Kind, str] = {
    Kind.READ_ONLY: "read_only",
    Kind.SHUTDOWN: "shutdown",
    Kind.PANIC: "panic",
}

#: Outcomes from least to most severe; an incident keeps the most severe it has seen.
OUTCOME_ORDER = ("read_only", "shutdown", "panic")
