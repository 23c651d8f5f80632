"""The likely cause of an incident, decoded from its evidence.

Rules are data, tried in order; the first whose test holds names the cause. Each says what
on-call should check first. The order goes from the most specific evidence (a hypervisor's
BUSY answer) to the least (a filesystem error with nothing logged under it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rowatch.incident import Cause, Incident
from rowatch.kinds import Kind

# Host bytes and statuses that mean "the path to the storage was busy or went away for a
# while" rather than "the disk is broken": a failover, a fabric or hypervisor hiccup.
_PATH_TROUBLE = frozenset(
    {
        "DID_BUS_BUSY",
        "DID_TIME_OUT",
        "DID_SOFT_ERROR",
        "DID_IMM_RETRY",
        "DID_REQUEUE",
        "DID_TRANSPORT_DISRUPTED",
        "DID_RESET",
        "BUSY",
        "TASK_SET_FULL",
        "DID_ABORT",
        "DRIVER_TIMEOUT",  # 2.6-era driver byte: the command timed out (0x6000000)
    }
)
_LOST_DEVICE = frozenset(
    {
        "DID_NO_CONNECT",
        "DID_BAD_TARGET",
        "DID_TRANSPORT_FAILFAST",
        "DID_TARGET_FAILURE",
        "DID_NEXUS_FAILURE",
    }
)
_MEDIUM = (
    "medium error",
    "unrecovered read error",
    "unrecovered write error",
    "critical medium error",
    "did_medium_error",
)


def _details(incident: Incident, key: str) -> set[str]:
    return {e.details[key] for e in incident.events if key in e.details}


def _text(incident: Incident) -> str:
    return "\n".join(e.message for e in incident.events).lower()


def _scsi_path_trouble(incident: Incident) -> bool:
    seen = (
        _details(incident, "hostbyte")
        | _details(incident, "status")
        | _details(incident, "driverbyte")
    )
    return bool(seen & _PATH_TROUBLE) or incident.has(Kind.SCSI_TIMEOUT, Kind.SCSI_ABORT)


def _scsi_lost_device(incident: Incident) -> bool:
    return bool(_details(incident, "hostbyte") & _LOST_DEVICE) or incident.has(Kind.SCSI_OFFLINE)


def _medium_error(incident: Incident) -> bool:
    text = _text(incident)
    return any(word in text for word in _MEDIUM)


# What filesystems print when the device under them failed a request (EIO is errno 5):
# btrfs "errno=-5 IO failure", XFS "log I/O error -5" / "metadata I/O error ... error 5" /
# "Log I/O Error (0x2)", ext4 "I/O error while writing superblock" / "IO failure".
_FS_IO_ERROR = re.compile(r"\bI/?O (?:error|failure)\b|errno=-5\b|\berror -?5\b", re.IGNORECASE)
_FS_KINDS = frozenset({Kind.FS_ERROR, Kind.FS_WARNING, Kind.SHUTDOWN, Kind.JOURNAL_ABORT})


def _fs_reported_io_error(incident: Incident) -> bool:
    return any(e.kind in _FS_KINDS and _FS_IO_ERROR.search(e.message) for e in incident.events)


def _devices_are(prefix: str) -> Callable[[Incident], bool]:
    def test(incident: Incident) -> bool:
        lower = [
            e.device
            for e in incident.events
            if e.device and e.kind in (Kind.IO_ERROR, Kind.BUFFER_IO_ERROR)
        ]
        return bool(lower) and all(d.startswith(prefix) for d in lower)

    return test


@dataclass(frozen=True, slots=True)
class CauseRule:
    code: str
    test: Callable[[Incident], bool]
    summary: str
    advice: str


RULES: tuple[CauseRule, ...] = (
    CauseRule(
        "injected",
        lambda i: "trigger_test_error" in _text(i),
        "an error injected on purpose through /sys/fs/ext4/<device>/trigger_fs_error",
        "nothing is broken: someone tested the error path; remount the filesystem to recover",
    ),
    CauseRule(
        "user_shutdown",
        lambda i: "user initiated shutdown received" in _text(i),
        "an administrator shut the XFS filesystem down on purpose (xfs_io -x -c shutdown, "
        "the GOINGDOWN ioctl)",
        "nothing failed underneath unless other errors say so; unmount and mount it again",
    ),
    CauseRule(
        "no_paths",
        lambda i: i.has(Kind.NO_PATHS),
        "every path to the multipath LUN failed: a SAN, fabric or array outage",
        "check the array and the fabric (multipath -ll); once paths return, fsck and remount",
    ),
    CauseRule(
        "scsi_path_busy",
        _scsi_path_trouble,
        "SCSI BUSY or timeouts from the hypervisor or SAN, typically during a storage path "
        "failover",
        "check the storage path (ESX/SAN path events at that time); raise the guest's SCSI "
        "timeout (/sys/block/sdX/device/timeout) if failovers outlast it; then fsck and remount",
    ),
    CauseRule(
        "device_lost",
        _scsi_lost_device,
        "the disk dropped off the bus: the HBA lost its connection to the storage",
        "check cabling, HBA, SAN zoning and the array; the device must come back before the "
        "filesystem can be repaired",
    ),
    CauseRule(
        "medium_error",
        _medium_error,
        "a media failure on the disk (unreadable or unwritable sectors)",
        "replace the disk (check smartctl -a); restore what was lost, then fsck",
    ),
    CauseRule(
        "multipath_failover",
        lambda i: i.has(Kind.PATH_FAILED),
        "a multipath path failed while I/O was in flight",
        "check multipath -ll and the SAN; consider queue_if_no_path / no_path_retry",
    ),
    CauseRule(
        "nvme",
        lambda i: i.has(Kind.NVME_ERROR),
        "the NVMe device stopped answering or failed commands",
        "check the drive (nvme smart-log, nvme error-log) and its firmware",
    ),
    CauseRule(
        "raid_member",
        lambda i: i.has(Kind.RAID_DISK_FAILED),
        "an md RAID member disk failed",
        "check /proc/mdstat and replace the failed member",
    ),
    CauseRule(
        "virtual_disk",
        lambda i: _devices_are("vd")(i) or _devices_are("xvd")(i),
        "the hypervisor's virtual disk returned I/O errors",
        "check the host's storage under this VM's disk image",
    ),
    CauseRule(
        "loop_backing",
        _devices_are("loop"),
        "I/O errors from the loop device's backing file (its filesystem or storage failed)",
        "check the filesystem and storage that hold the backing file (losetup -l)",
    ),
    CauseRule(
        "io_error",
        lambda i: (
            i.has(
                Kind.IO_ERROR,
                Kind.BUFFER_IO_ERROR,
                Kind.JOURNAL_IO_ERROR,
                Kind.SCSI_ERROR,
                Kind.SCSI_SENSE,
            )
            or _fs_reported_io_error(i)
        ),
        "the block device under the filesystem returned I/O errors",
        "check the device and the path to it (dmesg, smartctl); then fsck and remount",
    ),
    CauseRule(
        "corruption",
        lambda i: i.has(Kind.FS_CORRUPTION),
        "the filesystem found corrupt metadata",
        "unmount and repair (xfs_repair, e2fsck, btrfs check); find out what corrupted it",
    ),
    CauseRule(
        "fs_error",
        lambda i: i.has(
            Kind.FS_ERROR,
            Kind.JOURNAL_ABORT,
            Kind.READ_ONLY,
            Kind.SHUTDOWN,
            Kind.PANIC,
            Kind.FS_WARNING,
        ),
        "a filesystem error with no I/O error logged under it: on-disk corruption or a kernel bug",
        "unmount and run the filesystem's checker (e2fsck -f, xfs_repair, btrfs check)",
    ),
)


def likely_cause(incident: Incident) -> Cause | None:
    """The first rule that explains the incident, or None when none does."""
    for rule in RULES:
        if rule.test(incident):
            return Cause(rule.code, rule.summary, rule.advice)
    return None
