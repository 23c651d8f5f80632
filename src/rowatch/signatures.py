"""Every kernel wording rowatch recognises, as one table of data.

Each :class:`Signature` says what a message means, which kernels print it, where in the kernel
source it is printed, a real example line, and the pattern that recognises it. Adding a
wording is adding one entry here; ``tests/test_signatures.py`` checks every entry against its
own example, so an entry without a working example fails the suite.

Named groups in a pattern carry what the engine needs (see :mod:`rowatch.devices` for how
device names are normalised):

``dev``      a kernel block device name (``sda``, ``sda1``, ``dm-0``, ``loop0``)
``jdev``     a jbd/jbd2 journal name: the device, plus ``-<journal inode>`` for jbd2
``scsi``     a SCSI address ``H:C:T:L`` (or ``H C T L`` as 2.6 printed it)
``majmin``   a ``major:minor`` device number
``nvme``     an NVMe controller (``nvme0``)
``map``      a multipath map (``mpatha``) or its dm ``major:minor``
``md``       an md array (``md0``)
``fs``       the filesystem as the line names it (``EXT3``, ``EXT4``)
``code``     a SCSI result as one hex number (``0x20008``)
``hostbyte`` / ``driverbyte``  SCSI result bytes by name
``count``    a number: suppressed callbacks, remaining paths, error counters
``func``     the rate-limited function in a "callbacks suppressed" line
``sector``   a sector number
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rowatch.kinds import Kind

# Device names as printed: anything up to a separator. rowatch.devices validates them.
_DEV = r"[^\s,():;\[\]]+"
_SCSI = r"\d+:\d+:\d+:\d+"
# The prefix scsi_print_* and sdev_printk put before SCSI messages: "sd 0:0:0:0: [sda] tag#5 "
_SD = rf"(?:sd|scsi) (?P<scsi>{_SCSI}): (?:\[(?P<dev>sd[a-z]+)\] )?(?:tag#\d+ )?"


@dataclass(frozen=True)
class Signature:
    """One kernel wording: what it means, who prints it, and how to recognise it."""

    name: str
    kind: Kind
    pattern: str
    needle: str
    meaning: str
    kernels: str
    printed_by: str
    example: str
    filesystem: str | None = None
    program: str = "kernel"
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))
        if self.needle not in self.example:
            raise ValueError(f"signature {self.name}: needle {self.needle!r} not in its example")


SIGNATURES: tuple[Signature, ...] = (
    # ---------------------------------------------------------------- filesystem outcomes
    Signature(
        name="ext_remount_ro",
        kind=Kind.READ_ONLY,
        pattern=r"^(?P<fs>EXT[234])-fs \((?P<dev>" + _DEV + r")\): (?:error: )?[Rr]emounting "
        r"filesystem read-only",
        needle="emounting filesystem read-only",
        meaning="ext2/3/4 handled an error with errors=remount-ro: the filesystem is now "
        "read-only",
        kernels="ext4 2.6.30+ (capital R); ext2/ext3 2.6.33+ print 'error: remounting'",
        printed_by="fs/ext4/super.c: ext4_handle_error(); fs/ext3/super.c: ext3_handle_error()",
        example="EXT4-fs (loop0): Remounting filesystem read-only",
    ),
    Signature(
        name="bare_remount_ro",
        kind=Kind.READ_ONLY,
        pattern=r"^Remounting filesystem read-only",
        needle="Remounting filesystem read-only",
        meaning="ext2/ext3 (and early ext4) remounted read-only after an error; the line names "
        "no device: it belongs to the EXT*-fs error printed just before it",
        kernels="2.6.0 - 2.6.32 (ext2, ext3), ext4 until 2.6.29",
        printed_by="fs/ext3/super.c: ext3_handle_error() printk(KERN_CRIT ...)",
        example="Remounting filesystem read-only",
    ),
    Signature(
        name="ext_panic",
        kind=Kind.PANIC,
        pattern=r"(?:^|not syncing: )(?P<fs>EXT[234])-fs(?: \(device (?P<dev2>" + _DEV
        + r")\))? ?(?:\((?P<dev>" + _DEV + r")\))?:? panic forced after error",
        needle="panic forced after error",
        meaning="ext2/3/4 with errors=panic: the kernel panics on the filesystem error",
        kernels="all: 'Kernel panic - not syncing: EXT3-fs (device sda1): ...' (2.6), "
        "'EXT4-fs (sda1): panic forced after error' (3.x+)",
        printed_by="fs/ext4/super.c: ext4_handle_error() panic()",
        example="Kernel panic - not syncing: EXT3-fs (device sda1): panic forced after error",
    ),
    Signature(
        name="xfs_shutdown_log",
        kind=Kind.SHUTDOWN,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): (?:Log I/O Error Detected\.  ?Shutting down "
        r"filesystem|Filesystem has been shut down due to log error|Log I/O [Ee]rror .*"
        r"detected)",
        needle="XFS (",
        meaning="XFS could not write its log and shut the filesystem down: every access "
        "now fails with EIO",
        kernels="'Log I/O Error Detected. Shutting down filesystem' 2.6 - 6.1; "
        "'Log I/O Error (0x2) detected at ...' and 'Filesystem has been shut down due to log "
        "error' 6.2+",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (dm-2): Log I/O Error Detected.  Shutting down filesystem",
        filesystem="xfs",
    ),
    Signature(
        name="xfs_shutdown_called",
        kind=Kind.SHUTDOWN,
        pattern=r"^(?:XFS \((?P<dev>" + _DEV + r")\): )?xfs_(?:do_)?force_shutdown\((?:(?P<dev2>"
        + _DEV + r"),)?0x[0-9a-f]+\) called from line",
        needle="force_shutdown(",
        meaning="XFS shut itself down; the line says which code path forced it",
        kernels="'xfs_force_shutdown(dm-0,0x1) called from line ...' 2.6; "
        "'XFS (dm-0): xfs_do_force_shutdown(0x2) called from line ...' 3.x+",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (sdb1): xfs_do_force_shutdown(0x2) called from line 1272 of file "
        "fs/xfs/xfs_log.c. Return address = ffffffffc04d85b0",
        filesystem="xfs",
    ),
    Signature(
        name="xfs_shut_down",
        kind=Kind.SHUTDOWN,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): (?:Filesystem has been shut down|"
        r"Corruption of in-memory data \(0x[0-9a-f]+\) detected|I/O Error Detected\. "
        r"Shutting down filesystem|Metadata I/O Error \(0x[0-9a-f]+\) detected|"
        r"User initiated shutdown received)",
        needle="XFS (",
        meaning="the XFS filesystem is shut down",
        kernels="all XFS kernels; wording of the reason varies",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (loop1): Filesystem has been shut down due to log error (0x2).",
        filesystem="xfs",
    ),
    Signature(
        name="xfs_corruption",
        kind=Kind.SHUTDOWN,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): Corruption of in-memory data detected\.  ?"
        r"Shutting down filesystem",
        needle="Corruption of in-memory data detected",
        meaning="XFS found its in-memory state corrupt and shut the filesystem down",
        kernels="2.6 - 6.1",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (dm-0): Corruption of in-memory data detected.  Shutting down filesystem",
        filesystem="xfs",
    ),
    Signature(
        name="btrfs_forced_readonly",
        kind=Kind.READ_ONLY,
        pattern=r"^BTRFS(?: \w+)? \(device (?P<dev>" + _DEV + r")(?: state \w+)?\): forced "
        r"readonly",
        needle="forced readonly",
        meaning="btrfs hit an error it cannot continue from and made the filesystem read-only",
        kernels="3.x+ ('BTRFS info (device sdb): forced readonly'; 6.x adds ' state EA')",
        printed_by="fs/btrfs/messages.c: __btrfs_handle_fs_error()",
        example="BTRFS info (device sdb): forced readonly",
        filesystem="btrfs",
    ),
    # ---------------------------------------------------------------- filesystem errors
    Signature(
        name="ext_error",
        kind=Kind.FS_ERROR,
        pattern=r"^(?P<fs>EXT[234])-fs (?:error|abort|critical) \(device (?P<dev>" + _DEV
        + r")\)",
        needle="-fs ",
        meaning="ext2/3/4 detected an error (I/O on metadata, corruption, aborted journal)",
        kernels="all",
        printed_by="fs/ext4/super.c: __ext4_error(), __ext4_abort(), __ext4_std_error()",
        example="EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted journal",
    ),
    Signature(
        name="ext_prefixed_error",
        kind=Kind.FS_ERROR,
        pattern=r"^(?P<fs>EXT[234])-fs \((?P<dev>" + _DEV + r")\): error",
        needle="-fs (",
        meaning="ext3/ext4 detected an error (3.x+ message form)",
        kernels="ext3 2.6.33 - 4.2, ext2 2.6.33+",
        printed_by="fs/ext3/super.c: ext3_msg() from ext3_abort()",
        example="EXT3-fs (dm-0): error: ext3_journal_start_sb: Detected aborted journal",
    ),
    Signature(
        name="ext_abort_called",
        kind=Kind.FS_ERROR,
        pattern=r"^ext[34]_abort called",
        needle="_abort called",
        meaning="ext3 aborted the filesystem (the device is named by the next EXT3-fs line)",
        kernels="2.6.0 - 2.6.32",
        printed_by="fs/ext3/super.c: ext3_abort()",
        example="ext3_abort called.",
    ),
    Signature(
        name="ext_superblock_io",
        kind=Kind.FS_WARNING,
        pattern=r"^(?P<fs>EXT[234])-fs (?:warning )?\((?:device )?(?P<dev>" + _DEV
        + r")\):? (?:ext[34]_commit_super: )?previous I/O error to superblock detected",
        needle="previous I/O error to superblock detected",
        meaning="an earlier write of the superblock failed; the disk under it has I/O errors",
        kernels="2.6.30+",
        printed_by="fs/ext4/super.c: ext4_commit_super()",
        example="EXT4-fs (dm-0): previous I/O error to superblock detected",
    ),
    Signature(
        name="ext_mount_with_errors",
        kind=Kind.FS_WARNING,
        pattern=r"^(?P<fs>EXT[234])-fs (?:warning )?\((?:device )?(?P<dev>" + _DEV
        + r")\):? (?:warning: )?mounting fs with errors",
        needle="mounting fs with errors",
        meaning="the filesystem was mounted with its error flag set: it needs e2fsck",
        kernels="all",
        printed_by="fs/ext4/super.c: ext4_setup_super()",
        example="EXT4-fs (sda1): warning: mounting fs with errors, running e2fsck is recommended",
    ),
    Signature(
        name="ext_io_warning",
        kind=Kind.IO_ERROR,
        pattern=r"^(?P<fs>EXT[234])-fs warning \(device (?P<dev>" + _DEV + r")\): "
        r"ext4_end_bio:\d+: I/O error",
        needle="ext4_end_bio",
        meaning="a write of file data failed in the block layer under ext4",
        kernels="3.2+",
        printed_by="fs/ext4/page-io.c: ext4_end_bio()",
        example="EXT4-fs warning (device sdb1): ext4_end_bio:323: I/O error 10 writing to "
        "inode 12 starting block 8705)",
    ),
    Signature(
        name="xfs_metadata_io",
        kind=Kind.FS_ERROR,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): (?:metadata I/O error|"
        r"writeback error on sector|Failing async write|xfs_log_force: error|"
        r"xfs_imap_to_bp: xfs_trans_read_buf\(\) returned error)",
        needle="XFS (",
        meaning="XFS could not read or write metadata",
        kernels="all XFS kernels",
        printed_by="fs/xfs/xfs_buf_item.c: xfs_buf_ioerror_alert()",
        example='XFS (dm-3): metadata I/O error in "xlog_iodone" at daddr 0x1f4f0 len 64 '
        "error 5",
        filesystem="xfs",
    ),
    Signature(
        name="xfs_corruption_detected",
        kind=Kind.FS_CORRUPTION,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): (?:Corruption detected|"
        r"Internal error|Metadata corruption detected)",
        needle="XFS (",
        meaning="XFS detected corrupt metadata",
        kernels="all XFS kernels",
        printed_by="fs/xfs/xfs_error.c: xfs_corruption_error()",
        example="XFS (sda1): Metadata corruption detected at xfs_inode_buf_verify+0x100/0x160 "
        "[xfs], xfs_inode block 0x1a0 xfs_inode_buf_verify",
        filesystem="xfs",
    ),
    Signature(
        name="btrfs_error",
        kind=Kind.FS_ERROR,
        pattern=r"^BTRFS(?::| error| critical| warning)? ?\(?(?:error )?\(?device (?P<dev>"
        + _DEV + r")(?: state \w+)?\)?:? (?:in |error |errno=)",
        needle="BTRFS",
        meaning="btrfs hit an error in a transaction or on a device",
        kernels="'BTRFS: error (device sdb) in ...' 3.x - 4.x; 'BTRFS error (device sdb): ...' "
        "4.x+; ' state EA' 6.x",
        printed_by="fs/btrfs/messages.c: __btrfs_handle_fs_error()",
        example="BTRFS: error (device sdb) in btrfs_commit_transaction:2311: errno=-5 IO "
        "failure (Error while writing out transaction)",
        filesystem="btrfs",
    ),
    Signature(
        name="btrfs_transaction_aborted",
        kind=Kind.FS_ERROR,
        pattern=r"(?:BTRFS(?: \w+)? \(device (?P<dev>" + _DEV + r")(?: state \w+)?\): )?"
        r"(?:BTRFS: )?Transaction aborted \(error -?\d+\)",
        needle="Transaction aborted",
        meaning="btrfs aborted a transaction; a forced-readonly follows",
        kernels="3.x+",
        printed_by="fs/btrfs/transaction.h: btrfs_abort_transaction()",
        example="BTRFS: Transaction aborted (error -5)",
        filesystem="btrfs",
    ),
    Signature(
        name="btrfs_dev_stats",
        kind=Kind.IO_ERROR,
        pattern=r"^BTRFS(?: \w+)? \(device " + _DEV + r"(?: state \w+)?\): bdev /dev/"
        r"(?:mapper/)?(?P<dev>" + _DEV + r") errs: wr (?P<count>\d+), rd \d+",
        needle=" errs: wr ",
        meaning="btrfs counted an I/O error on one of its devices",
        kernels="3.5+",
        printed_by="fs/btrfs/volumes.c: btrfs_dev_stat_print_on_error()",
        example="BTRFS error (device sdb): bdev /dev/sdb errs: wr 1, rd 0, flush 0, "
        "corrupt 0, gen 0",
        filesystem="btrfs",
    ),
    # ---------------------------------------------------------------- journal
    Signature(
        name="journal_abort",
        kind=Kind.JOURNAL_ABORT,
        pattern=r"^Aborting journal on device (?P<jdev>\S+?)\.?$",
        needle="Aborting journal on device",
        meaning="jbd/jbd2 aborted the journal: no further transactions can commit",
        kernels="all; jbd2 (ext4) names the journal '<dev>-<inode>', jbd (ext3) '<dev>'",
        printed_by="fs/jbd2/journal.c: __journal_abort_soft() / jbd2_journal_abort()",
        example="Aborting journal on device dm-0-8.",
    ),
    Signature(
        name="jbd_superblock_error",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^JBD2?: (?:Error -?\d+ detected|I/O error) when updating journal superblock "
        r"for (?P<jdev>\S+?)\.?$",
        needle="when updating journal superblock",
        meaning="writing the journal superblock failed: the disk under it has I/O errors",
        kernels="'Error -5 detected' 3.x - 5.x; 'I/O error when updating' 5.x+",
        printed_by="fs/jbd2/journal.c: jbd2_write_superblock()",
        example="JBD2: Error -5 detected when updating journal superblock for sda1-8.",
    ),
    Signature(
        name="jbd_flush_io",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^JBD2?: (?:Detected IO errors while flushing file data on|"
        r"recovery failed on|IO error \d+ recovering block \d+ in log on) (?P<jdev>\S+?)\.?$",
        needle="JBD",
        meaning="the journal could not flush or recover data: I/O errors under it",
        kernels="2.6.30+",
        printed_by="fs/jbd2/commit.c: jbd2_journal_commit_transaction()",
        example="JBD2: Detected IO errors while flushing file data on sda1-8",
    ),
    Signature(
        name="journal_commit_io",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^(?:JBD2?: )?journal commit I/O error",
        needle="journal commit I/O error",
        meaning="writing a journal commit block failed",
        kernels="2.6 (jbd) - 2.6.3x (jbd2)",
        printed_by="fs/jbd/commit.c: journal_commit_transaction()",
        example="journal commit I/O error",
    ),
    # ---------------------------------------------------------------- block layer
    Signature(
        name="block_io_error",
        kind=Kind.IO_ERROR,
        pattern=r"(?:^|: )(?P<err>I/O error|critical medium error|critical target error|"
        r"recoverable transport error|critical nexus error|critical space allocation error|"
        r"critical protection error|timeout error|operation not supported error|"
        r"critical allocation error|blocked error|"
        r"target busy error|resource busy error|detected duplicated error|"
        r"critical lock error|critical transport error), dev (?P<dev>" + _DEV
        + r"), (?:logical )?sector (?P<sector>\d+)",
        needle=" error, dev ",
        meaning="a block request failed: the device under the filesystem returned an error",
        kernels="'end_request:' 2.6 - 3.x; 'blk_update_request:' 3.16 - 5.x; 'print_req_error:' "
        "4.13 - 4.20; bare with 'op 0x1:(WRITE)' 5.x+",
        printed_by="block/blk-core.c: blk_print_req_error() (end_request() in 2.6)",
        example="end_request: I/O error, dev sda, sector 4928181",
    ),
    Signature(
        name="buffer_io_error",
        kind=Kind.BUFFER_IO_ERROR,
        pattern=r"^Buffer I/O error on dev(?:ice)? (?P<dev>" + _DEV + r"), logical block \d+",
        needle="Buffer I/O error on dev",
        meaning="the page cache could not read or write a block; ', lost async page write' means "
        "written data is gone",
        kernels="'on device' 2.6 - 4.x; 'on dev' 4.x+",
        printed_by="fs/buffer.c: buffer_io_error()",
        example="Buffer I/O error on dev dm-0, logical block 1573, lost async page write",
    ),
    Signature(
        name="lost_page_write",
        kind=Kind.BUFFER_IO_ERROR,
        pattern=r"^lost page write due to I/O error on (?P<dev>" + _DEV + r")",
        needle="lost page write due to I/O error",
        meaning="a page write to the device failed and its data is lost",
        kernels="2.6 - 4.3",
        printed_by="fs/buffer.c: end_buffer_write_sync()",
        example="lost page write due to I/O error on dm-0",
    ),
    Signature(
        name="loop_write_error",
        kind=Kind.IO_ERROR,
        pattern=r"^loop: Write error at byte offset \d+, length \d+",
        needle="loop: Write error",
        meaning="the loop driver could not write to its backing file",
        kernels="2.6 - 5.x",
        printed_by="drivers/block/loop.c: lo_write_bvec()",
        example="loop: Write error at byte offset 1048576, length 4096.",
    ),
    Signature(
        name="callbacks_suppressed",
        kind=Kind.SUPPRESSED,
        pattern=r"^(?P<func>[\w.\- ]+?): (?P<count>\d+) callbacks suppressed",
        needle="callbacks suppressed",
        meaning="the kernel rate-limited a message and dropped this many copies of it",
        kernels="2.6.3x+",
        printed_by="lib/ratelimit.c: ___ratelimit()",
        example="blk_update_request: 42 callbacks suppressed",
    ),
    # ---------------------------------------------------------------- multipath and md
    Signature(
        name="dm_multipath_failing",
        kind=Kind.PATH_FAILED,
        pattern=r"^device-mapper: multipath:(?: (?P<map>\d+:\d+):)? Failing path "
        r"(?P<majmin>\d+:\d+)",
        needle="Failing path",
        meaning="dm-multipath stopped sending I/O down one path to the LUN",
        kernels="all; 5.x+ print the map's major:minor first",
        printed_by="drivers/md/dm-mpath.c: fail_path()",
        example="device-mapper: multipath: Failing path 8:32.",
    ),
    Signature(
        name="dm_multipath_reinstating",
        kind=Kind.PATH_REINSTATED,
        pattern=r"^device-mapper: multipath:(?: (?P<map>\d+:\d+):)? Reinstating path "
        r"(?P<majmin>\d+:\d+)",
        needle="Reinstating path",
        meaning="a failed multipath path works again",
        kernels="all; 5.x+ print the map's major:minor first",
        printed_by="drivers/md/dm-mpath.c: reinstate_path()",
        example="device-mapper: multipath: Reinstating path 8:32.",
    ),
    Signature(
        name="multipathd_no_paths",
        kind=Kind.NO_PATHS,
        pattern=r"^(?P<map>[\w.-]+): remaining active paths: 0\b",
        needle="remaining active paths: 0",
        meaning="multipathd: every path to the LUN failed; I/O queues or fails",
        kernels="multipath-tools (userspace), all versions",
        printed_by="multipath-tools multipathd/main.c: fail_path()",
        example="mpatha: remaining active paths: 0",
        program="multipathd",
    ),
    Signature(
        name="multipathd_paths_remaining",
        kind=Kind.PATHS_REMAINING,
        pattern=r"^(?P<map>[\w.-]+): remaining active paths: (?P<count>\d+)",
        needle="remaining active paths",
        meaning="multipathd: a path failed or came back; this many still work",
        kernels="multipath-tools (userspace), all versions",
        printed_by="multipath-tools multipathd/main.c: fail_path(), reinstate_path()",
        example="mpatha: remaining active paths: 1",
        program="multipathd",
    ),
    Signature(
        name="md_disk_failure",
        kind=Kind.RAID_DISK_FAILED,
        pattern=r"^md/raid\d+:?(?P<md>md\w*): Disk failure on (?P<dev>" + _DEV
        + r"), disabling device",
        needle="Disk failure on",
        meaning="md kicked a member disk out of the array after I/O errors",
        kernels="3.x+ (2.6 printed 'raid1: Disk failure on sdb1, disabling device.')",
        printed_by="drivers/md/raid1.c: raid1_error()",
        example="md/raid1:md0: Disk failure on sdb1, disabling device.",
    ),
    # ---------------------------------------------------------------- SCSI
    Signature(
        name="scsi_error_return_code",
        kind=Kind.SCSI_ERROR,
        pattern=r"^SCSI error ?: <(?P<scsi>\d+ \d+ \d+ \d+)> return code = (?P<code>0x[0-9a-f]+)",
        needle="return code = ",
        meaning="a SCSI command failed; the return code packs the driver, host and status bytes",
        kernels="2.6.0 - 2.6.18",
        printed_by="drivers/scsi/scsi_lib.c: scsi_io_completion()",
        example="SCSI error : <0 0 0 0> return code = 0x20008",
    ),
    Signature(
        name="scsi_error_sd_return_code",
        kind=Kind.SCSI_ERROR,
        pattern=rf"^{_SD}SCSI error: return code = (?P<code>0x[0-9a-f]+)",
        needle="return code = ",
        meaning="a SCSI command failed; the return code packs the driver, host and status bytes",
        kernels="2.6.19 - 2.6.2x",
        printed_by="drivers/scsi/scsi_lib.c: scsi_io_completion()",
        example="sd 0:0:0:0: SCSI error: return code = 0x08000002",
    ),
    Signature(
        name="scsi_result",
        kind=Kind.SCSI_ERROR,
        pattern=rf"^{_SD}(?:FAILED )?Result: hostbyte=(?P<hostbyte>\w+) "
        r"driverbyte=(?P<driverbyte>\w+)",
        needle="Result: hostbyte=",
        meaning="a SCSI command failed; hostbyte says what the HBA or hypervisor reported",
        kernels="2.6.3x+ ('FAILED' and 'tag#' 4.x+, 'cmd_age=' 5.x+)",
        printed_by="drivers/scsi/scsi_logging.c: scsi_print_result()",
        example="sd 2:0:0:0: [sdb] tag#0 FAILED Result: hostbyte=DID_BAD_TARGET "
        "driverbyte=DRIVER_OK cmd_age=0s",
    ),
    Signature(
        name="scsi_sense_key",
        kind=Kind.SCSI_SENSE,
        pattern=rf"^(?:{_SD}|(?P<dev2>sd[a-z]+): Current(?: \[descriptor\])?: )"
        r"(?:Sense Key : |sense key: )(?P<sense>[A-Za-z ]+?)(?: \[(?:current|deferred)\])?"
        r"(?: \[descriptor\])? ?$",
        needle="ense ",
        meaning="the device's sense data: what kind of failure it reports",
        kernels="'sda: Current: sense key: ...' 2.6; 'sd 0:0:0:0: [sda] Sense Key : ...' 2.6.3x+",
        printed_by="drivers/scsi/constants.c: scsi_print_sense_hdr()",
        example="sd 2:0:0:0: [sdb] tag#0 Sense Key : Medium Error [current]",
    ),
    Signature(
        name="scsi_add_sense",
        kind=Kind.SCSI_SENSE,
        pattern=rf"^(?:{_SD})?(?:Add\. Sense: |Additional sense: |ASC=0x[0-9a-f]+ ASCQ=)"
        r"(?P<asc>.+)$",
        needle="ense",
        meaning="the device's additional sense code: the exact failure",
        kernels="'Additional sense: ...' 2.6; 'Add. Sense: ...' 2.6.3x+",
        printed_by="drivers/scsi/constants.c: scsi_print_sense_hdr()",
        example="sd 2:0:0:0: [sdb] tag#0 Add. Sense: Unrecovered read error",
    ),
    Signature(
        name="scsi_timing_out",
        kind=Kind.SCSI_TIMEOUT,
        pattern=rf"^{_SD}timing out command, waited \d+s",
        needle="timing out command",
        meaning="a SCSI command got no answer for the whole timeout",
        kernels="2.6.3x+",
        printed_by="drivers/scsi/scsi_lib.c: scsi_softirq_done()",
        example="sd 0:0:0:0: timing out command, waited 180s",
    ),
    Signature(
        name="scsi_rejecting_offline",
        kind=Kind.SCSI_OFFLINE,
        pattern=rf"^{_SD}rejecting I/O to offline device",
        needle="rejecting I/O to offline device",
        meaning="the SCSI layer took the device offline after failed recovery and now "
        "fails all I/O to it",
        kernels="all",
        printed_by="drivers/scsi/scsi_lib.c: scsi_prep_state_check()",
        example="sd 0:0:0:0: rejecting I/O to offline device",
    ),
    Signature(
        name="scsi_device_offlined",
        kind=Kind.SCSI_OFFLINE,
        pattern=rf"^{_SD}Device offlined - not ready after error recovery",
        needle="Device offlined",
        meaning="SCSI error recovery gave up on the device and took it offline",
        kernels="all",
        printed_by="drivers/scsi/scsi_error.c: scsi_eh_offline_sdevs()",
        example="sd 0:0:0:0: Device offlined - not ready after error recovery",
    ),
    Signature(
        name="mptscsih_task_abort",
        kind=Kind.SCSI_ABORT,
        pattern=r"^mptscsih: ioc\d+: (?:attempting task abort!|task abort: \w+)",
        needle="task abort",
        meaning="the LSI (VMware LSI Logic) HBA driver aborted a command that took too long",
        kernels="2.6+ (mptscsih, the VMware 'LSI Logic' adapter)",
        printed_by="drivers/message/fusion/mptscsih.c: mptscsih_abort()",
        example="mptscsih: ioc0: attempting task abort! (sc=ffff81003ea9a680)",
    ),
    Signature(
        name="scsi_task_abort",
        kind=Kind.SCSI_ABORT,
        pattern=rf"^(?:{_SD}|vmw_pvscsi: |hv_storvsc \S+: )(?:attempting )?task abort",
        needle="task abort",
        meaning="the HBA driver (vmw_pvscsi, mpt*sas, storvsc) aborted a command that took "
        "too long",
        kernels="2.6.3x+",
        printed_by="drivers/scsi/vmw_pvscsi.c: pvscsi_abort()",
        example="sd 2:0:0:0: task abort on host 2, ffff8800b6d1c980",
    ),
    Signature(
        name="scsi_attached",
        kind=Kind.DEVICE_NAME,
        pattern=rf"^sd (?P<scsi>{_SCSI}): \[(?P<dev>sd[a-z]+)\]",
        needle=": [sd",
        meaning="names the disk at a SCSI address (learned, not evidence)",
        kernels="2.6.2x+",
        printed_by="drivers/scsi/sd.c: sd_printk()",
        example="sd 0:0:0:0: [sda] 16777216 512-byte logical blocks: (8.58 GB/8.00 GiB)",
    ),
    # ---------------------------------------------------------------- NVMe and virtio
    Signature(
        name="nvme_timeout",
        kind=Kind.NVME_ERROR,
        pattern=r"^nvme (?P<nvme>nvme\d+): (?:I/O \d+ QID \d+ timeout|"
        r"controller is down; will reset|Removing after probe failure|"
        r"Device not ready; aborting|I/O tag \d+ \(\w+\) QID \d+ timeout)",
        needle="nvme nvme",
        meaning="the NVMe controller did not answer; the driver aborts or resets it",
        kernels="4.x+",
        printed_by="drivers/nvme/host/pci.c: nvme_timeout()",
        example="nvme nvme0: I/O 388 QID 2 timeout, aborting",
    ),
    Signature(
        name="nvme_cmd_error",
        kind=Kind.NVME_ERROR,
        pattern=r"^(?P<dev>nvme\d+n\d+): (?:I/O Cmd|Read|Write|Flush)\(0x[0-9a-f]+\) @ LBA "
        r"\d+, \d+ blocks, ",
        needle=" @ LBA ",
        meaning="the NVMe device failed a command and said why",
        kernels="6.0+",
        printed_by="drivers/nvme/host/core.c: nvme_log_error()",
        example="nvme0n1: Read(0x2) @ LBA 1234, 8 blocks, Unrecovered Read Error (sct 0x2 / "
        "sc 0x81) DNR",
    ),
    Signature(
        name="virtio_blk_error",
        kind=Kind.VIRTIO_ERROR,
        pattern=r"^virtio_blk virtio\d+: \[(?P<dev>vd[a-z]+)\] (?:.*error|.*failed)",
        needle="virtio_blk virtio",
        meaning="the virtio block device reported an error from the hypervisor",
        kernels="5.x+",
        printed_by="drivers/block/virtio_blk.c",
        example="virtio_blk virtio2: [vdb] request failed with error -5",
    ),
)
