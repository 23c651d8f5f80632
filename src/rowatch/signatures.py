"""Every kernel wording rowatch recognises, as one table of data.

Each :class:`Signature` says what a message means, which kernels print it, where in the kernel
source it is printed, a real example line, and the pattern that recognises it. Adding a
wording is adding one entry here; ``tests/test_signatures.py`` checks every entry against its
own example, so an entry without a working example fails the suite.

Patterns see the message only: the text after ``kernel:`` (syslog) or after the
``[ 123.456789]`` timestamp (dmesg). They are anchored at the start where the kernel prints a
fixed prefix, and every repetition is bounded, so no line can make one backtrack for long.

Named groups in a pattern carry what the engine needs (see :mod:`rowatch.devices` for how
device names are normalised):

``dev``      a kernel block device name (``sda``, ``sda1``, ``dm-0``, ``loop0``); btrfs lines give
             a path (``/dev/sdb``, ``/dev/mapper/x``), which ``devices.clean_name`` reduces
             (a ``/dev/mapper`` name through the topology, else ``fsdev`` stands for it)
``fsdev``    the device a filesystem line names as the filesystem's (btrfs ``(device sdb)``)
``jdev``     a jbd/jbd2 journal name: the device, plus ``-<journal inode>`` for jbd2 (``sda1-8``;
             2.6.2x jbd2 printed ``dm-3:8``)
``scsi``     a SCSI address ``H:C:T:L`` (or ``H C T L`` as 2.6.0 - 2.6.1x printed it)
``host`` / ``channel`` / ``target`` / ``lun``  the same address spelled out (2.6.9: ``at scsi0,
             channel 0, id 1, lun 0``)
``majmin``   a ``major:minor`` device number
``nvme``     an NVMe controller (``nvme0``)
``map``      a multipath map: its alias or WWID (multipathd), or its dm ``major:minor`` (kernel)
``md``       an md array (``md0``)
``fs``       the filesystem as the line names it (``EXT3``, ``EXT4``)
``code``     a SCSI result as one hex number (``0x20008``)
``hostbyte`` / ``driverbyte``  SCSI result bytes, by name (``DID_BAD_TARGET``) or in hex
``count``    a number: suppressed callbacks, remaining paths, error counters
``func``     the rate-limited function in a "callbacks suppressed" line
``sector``   a 512-byte sector number
``sense``    a SCSI sense key, by name (``Medium Error``) or in hex (``0x3``)
``asc``      a SCSI additional sense: its text, or ``ASC=0x11 ASCQ=0x0``
``err``      the block layer's name for a failed request's status (``I/O``, ``critical medium``)

Each ``example`` is a line a kernel really printed: quoted from a public log (a bug report,
forum post or mailing-list message, named in the comment above the entry), or printed by the
kernel rowatch was developed on (6.18, on loop devices; "this machine"). An entry whose wording
no public log shows says so, and its example is built from the printk format string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rowatch.kinds import Kind

# A device name as printed: anything up to a separator. rowatch.devices validates it.
_DEV = r"[^\s,():;\[\]]{1,64}"
# A journal name as jbd/jbd2 print it ("sda1-8", "dm-0", "dm-3:8"), up to an optional final dot.
_JDEV = r"(?P<jdev>[^\s]{1,72}?)\.?\s*$"
_SCSI = r"\d{1,5}:\d{1,5}:\d{1,5}:\d{1,20}"
# The prefix dev_printk/sdev_printk/scmd_printk put before SCSI messages:
#   "sd 0:0:0:0: "            2.6.1x - 6.x (the bound driver: sd, sr, st, ses; "scsi" if none)
#   "sd 0:0:0:0: [sda] "      scmd_printk/sd_printk 2.6.2x+
#   "sd 0:0:0:0: [sda]  "     3.x printed the name and then " " before the continuation
#   "sd 0:0:0:0: [sda] tag#5 " 4.x+ (scsi_logging.c sdev_format_header)
#   " 1:0:0:0: "              2.6.1x dev_printk of a device with no driver bound
#   "sd 0:0:0:0: [storvsc] "  a driver's own name where a disk's belongs: storvsc passes
#                             "storvsc" to scsi_print_sense_hdr(); only disk-like names count
_SD = (
    rf"^(?:(?:sd|sr|st|scsi|ses|osst|ch) | )?(?P<scsi>{_SCSI}): "
    r"(?:\[(?:(?P<dev>sd[a-z]{1,4}|sr\d{1,4}|n?st\d{1,4}|osst\d{1,4})|[^\]\s]{1,32})\] {1,2})?"
    r"(?:tag#\d{1,10} )?"
)
# Sense keys and additional sense that report a change rather than a failure
# (drivers/scsi/sense_codes.h): Unit Attention after a LUN resize, an ALUA transition, a reset.
_SENSE_NOTICE_KEYS = r"(?P<sense>Unit Attention|No Sense|Recovered Error)"
_SENSE_NOTICE_ASC = (
    r"(?P<asc>Changed operating definition|Capacity data has changed|Inquiry data has changed|"
    r"Reported luns data has changed|Target operating conditions have changed|Parameters "
    r"changed|Mode parameters changed|Asymmetric access state changed|Power on, reset, or bus "
    r"device reset occurred|Power on occurred|Scsi bus reset occurred|Bus device reset "
    r"function occurred|Commands cleared by another initiator|Not ready to ready change, "
    r"medium may have changed)"
)
# btrfs_printk: "BTRFS info (device sdb): ", 5.19 - 6.4 "(device sdb: state EA)",
# later "(device sdb state EA)" (fs/btrfs/messages.c STATE_STRING_PREFACE).
_BTRFS_STATE = r"(?::? state [A-Z]{1,16})?"
_BTRFS_LEVEL = r"(?:emergency|alert|critical|error|warning|notice|info|debug)"


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


#: What every line a signature recognises contains, for the prefilter that skips the rest.
#: Python's ``re`` scans fast for a pattern that starts with one literal prefix or with a
#: rare first character, and slowly for an alternation of many words that start with
#: lower-case letters or spaces: it tries the whole alternation at almost every byte, 43
#: times slower than grep on a syslog file (bench/README.md). So the prefilter is a few
#: patterns, each fast on its own: words that start with a capital letter (tried only at
#: capitals), words behind one shared prefix, and a few plain words.
#: tests/test_signatures.py checks that every example line passes it.
PREFILTER_CAPITALIZED: tuple[str, ...] = (
    "EXT2-fs",
    "EXT3-fs",
    "EXT4-fs",
    "XFS",
    "BTRFS",
    'Filesystem "',
    "Remounting",
    "Aborting journal",
    "JBD",
    "I/O error",
    "I/O Error",
    "I/O to ",
    "IO error",
    "Buffer I/O",
    "SCSI error",
    "SCSI Error",
    "Result: hostbyte",
    "Sense Key",
    "Add. Sense",
    "Additional sense",
    "ASCQ=",
    "Current: sense",
    "Device offlined",
    "Device not ready",
    "Failing path",
    "Reinstating path",
    "Disk failure",
    "Transaction aborted",
    "Write error at",
    "LBA",
    "QID",
    "CSTS",
    "Unhandled",
    "User initiated",
    "Kernel panic",
    "Removing after probe",
    "Disabling device",
    "Attached scsi",
)
PREFILTER_PATTERNS: tuple[str, ...] = (
    r": (?:\[s[dr][a-z]|remaining active paths|"
    r"writeback error|sense key|\d+ (?:callbacks|messages) suppressed)",
    r"_(?:abort called|storvsc|force_shutdown\(|bmap: )",
    r"error, dev ",
    r"task abort",
    r"timing out command",
    r"checker reports path",
)


SIGNATURES: tuple[Signature, ...] = (
    # =========================================================== filesystem outcomes
    # github.com/coolsnowwolf/lede/issues/6147 (2021)
    Signature(
        name="ext_remount_ro",
        kind=Kind.READ_ONLY,
        pattern=rf"^(?P<fs>EXT[234])-fs \((?P<dev>{_DEV})\): (?:error: r|R)emounting "
        r"filesystem read-only",
        needle="emounting filesystem read-only",
        meaning="ext2/3/4 handled an error with errors=remount-ro (or aborted its journal): the "
        "filesystem is now read-only. Usually once per mount (concurrent errors can repeat it); "
        "6.18 marks the mount 'emergency_ro' and mountinfo keeps 'rw'; ext4_msg's rate limit "
        "can drop the line altogether ('EXT4-fs: N callbacks suppressed' follows later)",
        kernels="ext4 'EXT4-fs (sda1): Remounting filesystem read-only' 2.6.32 (at the latest) "
        "- 6.x; ext2/ext3 'EXT3-fs (sda1): error: remounting filesystem read-only' 2.6.33+ "
        "(ext3 until its removal in 4.3)",
        printed_by="fs/ext4/super.c: ext4_handle_error(), __ext4_abort() (ext4_msg); "
        "fs/ext3/super.c: ext3_handle_error(), ext3_abort(); fs/ext2/super.c: ext2_error()",
        example="EXT4-fs (sdb1): Remounting filesystem read-only",
    ),
    # Ubuntu Forums post (2.6.1x, hdg1): "journal_bmap: ... / Aborting journal on device hdg1. /
    # ext3_abort called. / EXT3-fs error (device hdg1): ... / Remounting filesystem read-only"
    Signature(
        name="bare_remount_ro",
        kind=Kind.READ_ONLY,
        pattern=r"^Remounting filesystem read-only",
        needle="Remounting filesystem read-only",
        meaning="ext2/ext3 remounted read-only after an error; the line names no device: it "
        "belongs to the EXT2-fs/EXT3-fs error printed just before it",
        kernels="ext2/ext3 2.6.0 - 2.6.32; early ext4 (ext4dev, before ext4_msg); nilfs2",
        printed_by="fs/ext3/super.c: ext3_handle_error(), ext3_abort(); fs/ext2/super.c: "
        "ext2_error() (printk KERN_CRIT)",
        example="Remounting filesystem read-only",
    ),
    # syzbot report on LKML (6.1.0-syzkaller): "Kernel panic - not syncing: EXT4-fs (device
    # loop0): panic forced after error"
    Signature(
        name="ext_panic",
        kind=Kind.PANIC,
        pattern=rf"(?:^|not syncing: )(?P<fs>EXT[234])-fs \((?:device )?(?P<dev>{_DEV})\):? "
        r"panic forced after error",
        needle="panic forced after error",
        meaning="ext3/ext4 with errors=panic: the kernel panics on the filesystem error",
        kernels="ext4 'EXT4-fs (device sda1): panic forced after error' all versions; ext3 "
        "'(device sda1)' 2.6.0 - 2.6.32, '(sda1)' 2.6.33 - 4.2; printed as 'Kernel panic - not "
        "syncing: ...'",
        printed_by="fs/ext4/super.c: ext4_handle_error() panic(); fs/ext3/super.c: "
        "ext3_handle_error() panic()",
        example="Kernel panic - not syncing: EXT4-fs (device loop0): panic forced after error",
    ),
    # example: from the printk format in fs/ext4/super.c __ext4_abort() (panic()), no public
    # log found
    Signature(
        name="ext_panic_previous_error",
        kind=Kind.PANIC,
        pattern=r"(?:^|not syncing: )(?P<fs>EXT[234])-fs:? panic from previous error",
        needle="panic from previous error",
        meaning="ext2/3/4 with errors=panic aborted the filesystem (journal abort): the kernel "
        "panics; the line names no device, the error before it does",
        kernels="ext4 2.6.x - 5.10 ('EXT4-fs panic from previous error'); ext3 'EXT3-fs panic' "
        "2.6.0 - 2.6.32, 'EXT3-fs: panic' 2.6.33 - 4.2; ext2 'EXT2-fs: panic' 2.6.33+",
        printed_by="fs/ext4/super.c: __ext4_abort(); fs/ext3/super.c: ext3_abort(); "
        "fs/ext2/super.c: ext2_error()",
        example="Kernel panic - not syncing: EXT4-fs panic from previous error",
    ),
    # github.com/siderolabs/talos/pull/8733 (2024); also printed on this machine (6.18)
    Signature(
        name="xfs_shutdown_log",
        kind=Kind.SHUTDOWN,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): (?:Log I/O Error Detected\. {{1,2}}Shutting down "
        r"filesystem|Log I/O Error \(0x[0-9a-f]{1,8}\) detected at |Filesystem has been shut "
        r"down due to log error)",
        needle="XFS (",
        meaning="XFS could not write its log and shut the filesystem down: every access now "
        "fails with EIO",
        kernels="'Log I/O Error Detected.  Shutting down filesystem' 2.6.39 - 4.20 (two spaces),"
        " 5.0 - 5.14 (one); 'Log I/O Error (0x2) detected at <func> (<file>:<line>).  Shutting "
        "down filesystem.' 5.15+; 'Filesystem has been shut down due to log error (0x2).' 5.19+",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown(); fs/xfs/xfs_log.c: "
        "xlog_force_shutdown() (5.19+)",
        example="XFS (sdb6): Filesystem has been shut down due to log error (0x2).",
        filesystem="xfs",
    ),
    # github.com/kubernetes/node-problem-detector/pull/845 (2024, 4.x kernel)
    Signature(
        name="xfs_shutdown_io_error",
        kind=Kind.SHUTDOWN,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): (?:I/O Error Detected\. {{1,2}}Shutting down "
        r"filesystem|All device paths lost\. {1,2}Shutting down filesystem|(?:Metadata I/O "
        r"Error|Block device removal) \(0x[0-9a-f]{1,8}\) detected at )",
        needle="XFS (",
        meaning="XFS failed to write metadata (or lost its device) and shut the filesystem down",
        kernels="'I/O Error Detected. Shutting down filesystem' 2.6.39 - 5.14; 'All device paths "
        "lost.' 2.6.39 - 5.4; 'Metadata I/O Error (0x1) detected at ...' 5.15+; 'Block device "
        "removal (0x20) detected at ...' 6.x",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (dm-4): I/O Error Detected. Shutting down filesystem",
        filesystem="xfs",
    ),
    # LKML 2023 (Long Li, linux-xfs): "XFS (sda): Corruption of in-memory data (0x8) detected
    # at xfs_defer_finish_noroll+0x12e0/0x1cf0 (fs/xfs/libxfs/xfs_defer.c:504).  Shutting down
    # filesystem." (the example is the 4.x form, from a linux-xfs patch, 2020)
    Signature(
        name="xfs_corruption",
        kind=Kind.SHUTDOWN,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): (?:Corruption of in-memory data detected\. {{1,2}}"
        r"Shutting down filesystem|Corruption of (?:in-memory data|on-disk metadata) "
        r"\(0x[0-9a-f]{1,8}\) detected at )",
        needle="XFS (",
        meaning="XFS found its in-memory state (or on-disk metadata) corrupt and shut the "
        "filesystem down",
        kernels="'Corruption of in-memory data detected.  Shutting down filesystem' 2.6.39 - "
        "5.14; '... (0x8) detected at <func> (<file>:<line>).  Shutting down filesystem.' 5.15+; "
        "'Corruption of on-disk metadata (0x..)' 6.x",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (dm-0): Corruption of in-memory data detected.  Shutting down filesystem",
        filesystem="xfs",
    ),
    # printed on this machine (6.18) by 'xfs_io -x -c shutdown'; also
    # github.com/linuxppc/issues/issues/384 (5.15, xfstests generic/051)
    Signature(
        name="xfs_user_shutdown",
        kind=Kind.SHUTDOWN,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): User initiated shutdown received\.",
        needle="User initiated shutdown received",
        meaning="something asked XFS to shut down (FS_IOC_GOINGDOWN: xfs_io shutdown, fstests, "
        "an operator): the filesystem is shut down all the same",
        kernels="'User initiated shutdown received. Shutting down filesystem' 5.0 - 5.14; "
        "'User initiated shutdown received.' 5.15+ (the shutdown reason line follows)",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown()",
        example="XFS (loop0): User initiated shutdown received.",
        filesystem="xfs",
    ),
    # github.com/kubernetes/node-problem-detector/pull/845 (2024)
    Signature(
        name="xfs_shutdown_called",
        kind=Kind.SHUTDOWN,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): xfs_do_force_shutdown\(0x[0-9a-f]{{1,8}}\) called "
        r"from line \d{1,6}",
        needle="xfs_do_force_shutdown(",
        meaning="XFS shut itself down; the line says which code path forced it (0x1 metadata "
        "I/O, 0x2 log I/O, 0x8 in-memory corruption); the reason line follows",
        kernels="2.6.39 - 5.14 (5.15+ prints the call site in the reason line instead)",
        printed_by="fs/xfs/xfs_fsops.c: xfs_do_force_shutdown() (xfs_notice)",
        example="XFS (dm-4): xfs_do_force_shutdown(0x1) called from line 1788 of file "
        "fs/xfs/xfs_inode.c.  Return address = 000000009d022bf1",
        filesystem="xfs",
    ),
    # LKML (2.6.2x): xfs_force_shutdown(dm-0,0x8) ... / Filesystem "dm-0": Corruption of ...
    Signature(
        name="xfs26_shutdown_called",
        kind=Kind.SHUTDOWN,
        pattern=r"^xfs_force_shutdown\((?P<dev>[^,\s]{1,64}),0x[0-9a-f]{1,8}\) called from "
        r"line \d{1,6}",
        needle="xfs_force_shutdown(",
        meaning="XFS shut itself down (2.6 wording: the device is inside the parentheses)",
        kernels="2.6.0 - 2.6.38",
        printed_by="fs/xfs/xfs_rw.c: xfs_do_force_shutdown() (cmn_err CE_NOTE)",
        example="xfs_force_shutdown(dm-0,0x8) called from line 1151 of file fs/xfs/xfs_trans.c."
        "  Return address = 0xc0348379",
        filesystem="xfs",
    ),
    # LKML (2.6.x): I/O error in filesystem ("sdb6") ... / Filesystem "sdb6": Log I/O Error
    # Detected.  Shutting down filesystem: sdb6
    Signature(
        name="xfs26_shutdown",
        kind=Kind.SHUTDOWN,
        pattern=r'^Filesystem "(?P<dev>[^"\s]{1,64})": (?:Log I/O Error Detected|I/O Error '
        r"Detected|All device paths lost|Corruption of in-memory data detected)\. {1,2}"
        r"Shutting down filesystem",
        needle='Filesystem "',
        meaning="XFS shut the filesystem down (2.6 wording: log I/O error, metadata I/O error, "
        "lost device or in-memory corruption)",
        kernels="2.6.0 - 2.6.38",
        printed_by="fs/xfs/xfs_rw.c: xfs_do_force_shutdown() (xfs_cmn_err; the 'Filesystem "
        "<quoted dev>: ' prefix comes from fs/xfs/xfs_error.c xfs_fs_vcmn_err())",
        example='Filesystem "sdb6": Log I/O Error Detected.  Shutting down filesystem: sdb6',
        filesystem="xfs",
    ),
    # github.com/coreos/rpm-ostree/issues/4457 (6.x): "BTRFS info (device sda3: state E):
    # forced readonly"; github.com/btrfs/linux/issues/761 (5.11)
    Signature(
        name="btrfs_forced_readonly",
        kind=Kind.READ_ONLY,
        pattern=rf"^BTRFS {_BTRFS_LEVEL} \(device (?P<dev>{_DEV}){_BTRFS_STATE}\): forced "
        r"readonly",
        needle="forced readonly",
        meaning="btrfs hit an error it cannot continue from and made the filesystem read-only",
        kernels="3.x+ ('BTRFS info (device sdb): forced readonly'); 5.19 - 6.4 add ': state E', "
        "later ' state EA' inside the parentheses",
        printed_by="fs/btrfs/super.c (fs/btrfs/messages.c by 6.4): __btrfs_handle_fs_error()",
        example="BTRFS info (device sda3: state E): forced readonly",
        filesystem="btrfs",
    ),
    # =========================================================== filesystem errors
    # Ubuntu Forums post (2.6.1x, hdg1), see bare_remount_ro
    Signature(
        name="ext_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^(?P<fs>EXT[234])-fs error \(device (?P<dev>{_DEV})\)",
        needle="-fs error (device",
        meaning="ext2/3/4 detected an error: I/O on metadata, corruption, or an aborted journal "
        "('Detected aborted journal', 'Journal has aborted')",
        kernels="all: 'EXT4-fs error (device sda1): <func>:<line>: [comm <task>: ]...' ext4; "
        "'EXT3-fs error (device sda1): <func>: ...' ext3; '... (device sda1) in <func>: <err>' "
        "for std errors",
        printed_by="fs/ext4/super.c: __ext4_error(), __ext4_error_inode(), __ext4_std_error(), "
        "__ext4_abort(); fs/ext3/super.c: ext3_error(), __ext3_std_error(); fs/ext2/super.c",
        example="EXT3-fs error (device hdg1): ext3_journal_start_sb: Detected aborted journal",
    ),
    # LKML (2.6.x era) e.g. "EXT3-fs abort (device dm-2): ext3_journal_start: Detected aborted
    # journal"
    Signature(
        name="ext3_abort_device",
        kind=Kind.FS_ERROR,
        pattern=rf"^(?P<fs>EXT[23])-fs abort \(device (?P<dev>{_DEV})\)",
        needle="-fs abort (device",
        meaning="ext3 aborted the filesystem (early 2.6 wording); a remount read-only follows",
        kernels="2.4 - early 2.6 (2.6.9 already prints 'EXT3-fs error (device ...)')",
        printed_by="fs/ext3/super.c: ext3_abort()",
        example="EXT3-fs abort (device dm-2): ext3_journal_start: Detected aborted journal",
    ),
    # LKML patch (2015, ext3 on hdb1): "EXT3-fs (hdb1): error: ext3_journal_start_sb: Detected
    # aborted journal" was wrapped by the mail.
    # example: from the printk format in fs/ext3/super.c __ext3_std_error(), no public log found
    Signature(
        name="ext_prefixed_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^(?P<fs>EXT[23])-fs \((?P<dev>{_DEV})\): error(?: in |: (?!remounting))",
        needle="): error",
        meaning="ext2/ext3 detected an error (2.6.33+ wording via ext3_msg/ext2_msg)",
        kernels="ext3 2.6.33 - 4.2; ext2 2.6.33+",
        printed_by="fs/ext3/super.c: ext3_abort() ('error: <func>: ...'), __ext3_std_error() "
        "('error in <func>: <err>'); fs/ext2/super.c: ext2_error()",
        example="EXT3-fs (sda1): error in ext3_reserve_inode_write: IO failure",
    ),
    # Ubuntu Forums / LKML (2.6.x), see bare_remount_ro
    Signature(
        name="ext_abort_called",
        kind=Kind.FS_ERROR,
        pattern=r"^ext3_abort called\.",
        needle="ext3_abort called",
        meaning="ext3 aborted the filesystem; the device is named by the EXT3-fs line after it",
        kernels="2.4 - 2.6.32",
        printed_by="fs/ext3/super.c: ext3_abort()",
        example="ext3_abort called.",
    ),
    # github.com/Seagate/cortx-hare/issues/852 (2020)
    Signature(
        name="ext_superblock_io",
        kind=Kind.FS_WARNING,
        pattern=rf"^(?P<fs>EXT[234])-fs \((?P<dev>{_DEV})\): previous I/O error to superblock "
        r"detected",
        needle="previous I/O error to superblock detected",
        meaning="an earlier write of the superblock failed; the disk under it has I/O errors",
        kernels="ext4 2.6.32+; ext3 3.x - 4.2; ext2 2.6.36+ (2.6.33/34 ext2 printed "
        "'EXT2-fs: sda1 previous I/O error ...')",
        printed_by="fs/ext4/super.c: ext4_commit_super() (and update_super_work(), ioctl.c in "
        "6.x); fs/ext3/super.c, fs/ext2/super.c: *_commit_super()",
        example="EXT4-fs (dm-25): previous I/O error to superblock detected",
    ),
    # github.com/coolsnowwolf/lede/issues/6147 (2021); also printed on this machine (6.18)
    Signature(
        name="ext_superblock_write_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^(?P<fs>EXT4)-fs \((?P<dev>{_DEV})\): I/O error while writing superblock",
        needle="I/O error while writing superblock",
        meaning="ext4 could not write its superblock: the disk under it fails writes",
        kernels="2.6.32+",
        printed_by="fs/ext4/super.c: ext4_commit_super()",
        example="EXT4-fs (sdb1): I/O error while writing superblock",
        filesystem="ext4",
    ),
    # printed on this machine (6.18, loop device mounted after errors=remount-ro fired)
    Signature(
        name="ext_mount_with_errors",
        kind=Kind.FS_WARNING,
        pattern=rf"^(?P<fs>EXT[234])-fs(?: \((?P<dev>{_DEV})\):| warning:) (?:warning: )?"
        r"mounting fs with errors",
        needle="mounting fs with errors",
        meaning="the filesystem was mounted with its error flag set: an earlier error was "
        "never repaired; it needs e2fsck",
        kernels="'EXT3-fs warning: mounting fs with errors, ...' (no device) ext2/ext3 2.6.0 - "
        "2.6.32; 'EXT4-fs (sda1): warning: mounting fs with errors, ...' ext4 all, ext2/ext3 "
        "2.6.33+",
        printed_by="fs/ext4/super.c: ext4_setup_super(); fs/ext3/super.c: ext3_setup_super(); "
        "fs/ext2/super.c: ext2_setup_super()",
        example="EXT4-fs (loop2): warning: mounting fs with errors, running e2fsck is recommended",
    ),
    # github.com/sonic-net/sonic-buildimage/issues/23146 (2025)
    Signature(
        name="ext_io_warning",
        kind=Kind.IO_ERROR,
        pattern=rf"^(?P<fs>EXT4)-fs warning \(device (?P<dev>{_DEV})\): ext4_end_bio:\d{{1,6}}: "
        r"I/O error(?: -?\d{1,4})? writing to inode \d{1,20}",
        needle="ext4_end_bio:",
        meaning="a write of file data failed in the block layer under ext4 (the number is the "
        "errno (3.16 - 4.x) or blk_status_t (4.13+)); written data may be lost",
        kernels="'I/O error writing to inode N (offset ...)' 3.2 - 3.15; 'I/O error -5 writing "
        "to inode N (offset O size S starting block B)' 3.16 - 5.10; 'I/O error 10 writing to "
        "inode N starting block B)' 5.11+",
        printed_by="fs/ext4/page-io.c: ext4_end_bio()",
        example="EXT4-fs warning (device loop1): ext4_end_bio:343: I/O error 10 writing to "
        "inode 886 starting block 164368)",
        filesystem="ext4",
    ),
    # printed on this machine (6.18, ext4 on a loop device whose backing file ran out of space)
    Signature(
        name="ext4_unwritten_conversion_failed",
        kind=Kind.FS_ERROR,
        pattern=rf"^EXT4-fs \((?P<dev>{_DEV})\): failed to convert unwritten extents to "
        r"written extents -- potential data loss!",
        needle="failed to convert unwritten extents",
        meaning="ext4 could not record that written data is valid: that data is lost",
        kernels="3.x+ (present by 3.13)",
        printed_by="fs/ext4/page-io.c: ext4_end_io_end() (ext4_end_io() in older kernels)",
        example="EXT4-fs (loop0): failed to convert unwritten extents to written extents -- "
        "potential data loss!  (inode 12, error -5)",
        filesystem="ext4",
    ),
    # github.com/dm-vdo/kvdo/issues/25 (RHEL 7): 'metadata I/O error: block 0x...'
    Signature(
        name="xfs_metadata_io",
        kind=Kind.FS_ERROR,
        pattern=rf'^XFS \((?P<dev>{_DEV})\): metadata I/O error(?: in "|: block 0x)',
        needle="metadata I/O error",
        meaning="XFS could not read or write a metadata block; a shutdown usually follows",
        kernels="'metadata I/O error: block 0x.. (\"func\") error 5 numblks 8' 3.x - 4.x; "
        "'metadata I/O error in \"func\" at daddr 0x.. len 64 error 5' 4.x+ (RHEL 7 too); "
        "'\"func+0x../0x..\"' 5.8+",
        printed_by="fs/xfs/xfs_buf.c: xfs_buf_ioerror_alert() (rate-limited by 'XFS: metadata "
        "IO error' since 5.8)",
        example='XFS (dm-7): metadata I/O error: block 0x280000010 ("xlog_bread_noalign") '
        "error 5 numblks 8",
        filesystem="xfs",
    ),
    # oss.sgi.com xfs list, 2009-10 (wrapped there) and LKML (2.6.x): 'I/O error in filesystem
    # ("sdb6") meta-data dev sdb6 block 0x7d090e       ("xlog_iodone") error 5 buf count 32768'
    Signature(
        name="xfs26_metadata_io",
        kind=Kind.FS_ERROR,
        pattern=r'^I/O error in filesystem \("(?P<dev>[^"\s]{1,64})"\) meta-data dev',
        needle="meta-data dev",
        meaning="XFS could not read or write a metadata block (2.6 wording)",
        kernels="2.6.0 - 2.6.38",
        printed_by="fs/xfs/xfs_rw.c: xfs_ioerror_alert()",
        example='I/O error in filesystem ("sdb6") meta-data dev sdb6 block 0x7d090e       '
        '("xlog_iodone") error 5 buf count 32768',
        filesystem="xfs",
    ),
    # printed on this machine (6.18, XFS on a loop device whose backing file ran out of space)
    Signature(
        name="xfs_failing_async_write",
        kind=Kind.FS_ERROR,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): (?:Detected f|F)ailing async write on buffer "
        r"block 0x",
        needle="ailing async write on buffer block",
        meaning="XFS keeps retrying a metadata write that fails (by default forever for ENOSPC,"
        " until unmount for EIO): the disk under it fails writes",
        kernels="'Detected failing async write on buffer block 0x..' 3.x (3.13 - 3.19); "
        "'Failing async write on buffer block 0x..' 4.x+ (by 4.4; and RHEL 7)",
        printed_by="fs/xfs/xfs_buf_item.c: xfs_buf_iodone_callback_error() / "
        "xfs_buf_ioend_handle_error() (rate-limited by 'XFS: Failing async write')",
        example="XFS (loop0): Failing async write on buffer block 0x6b080. Retrying async write.",
        filesystem="xfs",
    ),
    # github.com/siderolabs/talos/pull/8733 (2024); also printed on this machine (6.18)
    Signature(
        name="xfs_log_io_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): log I/O error -?\d{{1,4}}",
        needle="log I/O error",
        meaning="a write to the XFS log failed; the log shutdown follows",
        kernels="5.x+ (present in 5.4)",
        printed_by="fs/xfs/xfs_log.c: xlog_ioend_work() / xlog_iodone()",
        example="XFS (sdb6): log I/O error -5",
        filesystem="xfs",
    ),
    # github.com/xcat2/xcat-core/issues/1175 (2016)
    Signature(
        name="xfs_log_force_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^XFS \((?P<dev>{_DEV})\): xfs_log_force(?:_lsn)?: error -?\d{{1,4}} returned",
        needle="xfs_log_force",
        meaning="XFS cannot flush its log: it is shut down; repeats every 30 s until unmount",
        kernels="3.x - 4.x",
        printed_by="fs/xfs/xfs_log.c: xfs_log_force(), xfs_log_force_lsn()",
        example="XFS (dm-0): xfs_log_force: error -5 returned.",
        filesystem="xfs",
    ),
    # github.com/kubernetes/node-problem-detector/pull/845 (2024); github.com/mattshma/docs/
    # issues/10 (RHEL 6, no device: "XFS: Internal error XFS_WANT_CORRUPTED_RETURN at line ...")
    Signature(
        name="xfs_corruption_detected",
        kind=Kind.FS_CORRUPTION,
        pattern=rf"^XFS(?: \((?P<dev>{_DEV})\))?: (?:Corruption detected\.|Internal error |"
        r"Metadata corruption detected at |Metadata CRC error detected at )",
        needle="XFS",
        meaning="XFS detected corrupt metadata (a shutdown often follows)",
        kernels="'Internal error <tag> at line N of file F.  Caller ...' 2.6.39+ (RHEL 6 prints "
        "'XFS: Internal error' without a device); 'Metadata corruption detected at' 4.x+ (by 4.19)",
        printed_by="fs/xfs/xfs_error.c: xfs_error_report(), xfs_corruption_error(), "
        "xfs_buf_corruption_error(), xfs_verifier_error()",
        example="XFS (dm-4): Corruption detected. Unmount and run xfs_repair",
        filesystem="xfs",
    ),
    # example: from the printk format in fs/xfs/xfs_error.c (2.6), no public log found
    Signature(
        name="xfs26_internal_error",
        kind=Kind.FS_CORRUPTION,
        pattern=r'^Filesystem "(?P<dev>[^"\s]{1,64})": XFS internal error ',
        needle="XFS internal error",
        meaning="XFS detected corrupt metadata (2.6 wording)",
        kernels="2.6.0 - 2.6.38",
        printed_by="fs/xfs/xfs_error.c: xfs_error_report()",
        example='Filesystem "dm-0": XFS internal error xfs_trans_cancel at line 1138 of file '
        "fs/xfs/xfs_trans.c.  Caller 0xffffffff8823b6b4",
        filesystem="xfs",
    ),
    # github.com/btrfs/linux/issues/761 (5.11); github.com/coreos/rpm-ostree/issues/4457 (6.x)
    Signature(
        name="btrfs_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^BTRFS:? error \(device (?P<dev>{_DEV}){_BTRFS_STATE}\) in [^\s:]{{1,80}}:"
        r"\d{1,6}: errno=-?\d{1,4}",
        needle="error (device",
        meaning="btrfs hit an error in a transaction or on a device (errno=-5 IO failure: the "
        "disk); 'forced readonly' follows",
        kernels="'BTRFS error (device sdb) in ...' 3.x (3.13); 'BTRFS: error (device sdb) in "
        "<func>:<line>: errno=-5 IO failure' 3.14+ (3.16 on; and RHEL 7); ': state E' 5.19 - "
        "6.4, ' state E' later",
        printed_by="fs/btrfs/super.c (fs/btrfs/messages.c by 6.4): __btrfs_handle_fs_error()",
        example="BTRFS: error (device nvme2n1) in __btrfs_update_delayed_inode:1075: errno=-5 "
        "IO failure",
        filesystem="btrfs",
    ),
    # github.com/NixOS/nixpkgs/issues/160398 (5.x, via WARN())
    Signature(
        name="btrfs_transaction_aborted",
        kind=Kind.FS_ERROR,
        pattern=rf"^(?:BTRFS|btrfs)(?: {_BTRFS_LEVEL} \(device (?P<dev>{_DEV}){_BTRFS_STATE}\))?"
        r": Transaction aborted \(error -?\d{1,4}\)",
        needle="Transaction aborted",
        meaning="btrfs aborted a transaction; 'forced readonly' follows",
        kernels="'btrfs: Transaction aborted (error -5)' 3.x (3.13) and 'BTRFS: ...' 3.14+, "
        "printed by WARN() at KERN_DEBUG with no device (5.x: not for EIO, which goes to "
        "btrfs_debug); 'BTRFS error (device sdb state A): Transaction aborted (error -5)' 6.x "
        "for EIO/EROFS/ENOMEM",
        printed_by="fs/btrfs/ctree.h (fs/btrfs/transaction.h by 6.4): btrfs_abort_transaction()",
        example="BTRFS: Transaction aborted (error -28)",
        filesystem="btrfs",
    ),
    # github.com/cloudflare/linux/issues/1 (2020); dev is the failing member's path
    Signature(
        name="btrfs_dev_stats",
        kind=Kind.IO_ERROR,
        pattern=rf"^(?:BTRFS {_BTRFS_LEVEL} \(device (?P<fsdev>{_DEV}){_BTRFS_STATE}\)|BTRFS|"
        r"btrfs): bdev (?P<dev>/dev/[^\s,]{1,64}) errs: wr (?P<count>\d{1,20}), rd \d{1,20}",
        needle=" errs: wr ",
        meaning="btrfs counted an I/O error on one of its devices (count is the write-error "
        "counter)",
        kernels="'btrfs: bdev ...' 3.5 - 3.13; 'BTRFS: bdev ...' 3.14 - 3.x; 'BTRFS error "
        "(device sdb): bdev /dev/sdb errs: ...' 4.x+",
        printed_by="fs/btrfs/volumes.c: btrfs_dev_stat_print_on_error() (rate-limited)",
        example="BTRFS error (device dm-0): bdev /dev/mapper/root_1 errs: wr 0, rd 3535, "
        "flush 0, corrupt 0, gen 0",
        filesystem="btrfs",
    ),
    # linux-btrfs list (2022, "BlueQ"): "BTRFS warning (device sdc1): lost page write due to
    # IO error on /dev/sdg1"
    Signature(
        name="btrfs_lost_write",
        kind=Kind.IO_ERROR,
        pattern=rf"^(?:BTRFS {_BTRFS_LEVEL} \(device {_DEV}{_BTRFS_STATE}\): |BTRFS: )?lost "
        r"(?:page|super block) write due to I/?O error on (?P<dev>/dev/[^\s,]{1,64})",
        needle="write due to I",
        meaning="btrfs could not write a superblock copy to one of its devices",
        kernels="'lost page write due to I/O error on /dev/sdb' 3.x - 3.13 (2.6.3x printed the "
        "bare name, 'sdb', which lost_page_write takes); 'BTRFS: lost page write due to I/O "
        "error on /dev/sdb' 3.14 - 3.19; 'BTRFS warning (device sda): ... due to IO error on "
        "/dev/sdb' 4.x+ (' (-5)' 5.x+); 'lost super block write' 6.x",
        printed_by="fs/btrfs/disk-io.c: btrfs_end_buffer_write_sync() / btrfs_end_super_write()",
        example="BTRFS warning (device sdc1): lost page write due to IO error on /dev/sdg1",
        filesystem="btrfs",
    ),
    # linux-btrfs list: "BTRFS error (device sda4): error writing primary super block to
    # device 2"
    Signature(
        name="btrfs_super_write_error",
        kind=Kind.FS_ERROR,
        pattern=rf"^BTRFS {_BTRFS_LEVEL} \(device (?P<dev>{_DEV}){_BTRFS_STATE}\): error "
        r"writing primary super block to device \d{1,20}",
        needle="error writing primary super block",
        meaning="btrfs could not write the primary superblock of one of its devices",
        kernels="3.x+",
        printed_by="fs/btrfs/disk-io.c: write_dev_supers() / wait_dev_supers()",
        example="BTRFS error (device sda4): error writing primary super block to device 2",
        filesystem="btrfs",
    ),
    # =========================================================== journal (jbd, jbd2)
    # github.com/oxidecomputer/crucible/issues/1844 (2025)
    Signature(
        name="journal_abort",
        kind=Kind.JOURNAL_ABORT,
        pattern=r"^Aborting journal on device " + _JDEV,
        needle="Aborting journal on device",
        meaning="jbd/jbd2 aborted the journal: no further transactions commit; the filesystem "
        "goes read-only (or panics) next",
        kernels="all; jbd2 (ext4) names the journal '<dev>-<inode>' ('dm-3:8' in 2.6.2x), "
        "jbd (ext3) and external journals '<dev>'",
        printed_by="fs/jbd2/journal.c: __jbd2_journal_abort_hard() / jbd2_journal_abort(); "
        "fs/jbd/journal.c: __journal_abort_hard()",
        example="Aborting journal on device nvme0n1p1-8.",
    ),
    # LKML/forum (2018): "JBD2: Error -5 detected when updating journal superblock for sdb1-8."
    Signature(
        name="jbd_superblock_error",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^JBD2?: (?:(?:Error -?\d{1,4} detected|I/O error detected|I/O error) when "
        r"updating journal superblock|previous I/O error detected for journal superblock "
        r"update) for " + _JDEV,
        needle="journal superblock",
        meaning="writing the journal superblock failed: the disk under it has I/O errors",
        kernels="'JBD2: I/O error detected when updating ...' 2.6.2x - 2.6.3x (jbd 'JBD:' too); "
        "'JBD2: Error -5 detected when updating ...' 3.x - 6.0; 'JBD2: I/O error when "
        "updating ...' 6.1+",
        printed_by="fs/jbd2/journal.c: jbd2_write_superblock(); fs/jbd/journal.c: "
        "journal_write_superblock()",
        example="JBD2: Error -5 detected when updating journal superblock for sdb1-8.",
    ),
    # forum post (3.x): "[13825.192957] JBD2: Detected IO errors while flushing file data on
    # sdb1-8"; also printed on this machine (6.18, with the errno)
    Signature(
        name="jbd_flush_io",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^JBD2?: Detected IO errors(?: -?\d{1,4})? while flushing file data on " + _JDEV,
        needle="while flushing file data on",
        meaning="ordered-mode file data could not be written before a journal commit",
        kernels="jbd 'JBD: ...' 2.6.3x - 4.2; jbd2 2.6.2x+ ('IO errors -5 while' 6.x)",
        printed_by="fs/jbd2/commit.c: jbd2_journal_commit_transaction(); fs/jbd/commit.c: "
        "journal_commit_transaction()",
        example="JBD2: Detected IO errors while flushing file data on sdb1-8",
    ),
    # LKML (2.6.13.3): "Oct 11 08:17:39 localhost kernel: journal commit I/O error"
    Signature(
        name="journal_commit_io",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^journal commit I/O error\s*$",
        needle="journal commit I/O error",
        meaning="a journal commit failed because the journal is aborted (I/O error); names no "
        "device: the journal lines around it do",
        kernels="jbd 2.6.0 - 3.1x; jbd2 2.6.2x - 2.6.3x",
        printed_by="fs/jbd/journal.c: log_wait_commit(); fs/jbd2/journal.c: jbd2_log_wait_commit()",
        example="journal commit I/O error",
    ),
    # Ubuntu Forums post (2.6.1x): "journal_bmap: journal block not found at offset 3084 on
    # hdg1" (the journal abort follows)
    Signature(
        name="jbd_bmap_failed",
        kind=Kind.JOURNAL_IO_ERROR,
        pattern=r"^(?:jbd2_)?journal_bmap: journal block not found at offset "
        r"\d{1,20} on " + _JDEV,
        needle="journal block not found at offset",
        meaning="jbd could not map a journal block (the journal inode could not be read): "
        "the journal aborts next",
        kernels="jbd 'journal_bmap: ...' 2.6.0 - 4.2; jbd2 'jbd2_journal_bmap: ...' 2.6.2x+",
        printed_by="fs/jbd/journal.c: journal_bmap(); fs/jbd2/journal.c: jbd2_journal_bmap()",
        example="journal_bmap: journal block not found at offset 3084 on hdg1",
    ),
    # =========================================================== block layer
    # LKML 2005-06-09 "Re: PROBLEM: Adaptec RAID 2010S hang-up under heavy load" (2.6.11.7)
    Signature(
        name="block_io_error",
        kind=Kind.IO_ERROR,
        pattern=r"^(?:(?:end_request|blk_update_request|print_req_error|blk_print_req_error): )?"
        r"(?P<err>[A-Za-z/ ]{1,40}?) error, dev (?P<dev>[^\s,]{1,64}), sector "
        r"(?P<sector>\d{1,20})",
        needle=" error, dev ",
        meaning="a block request failed: the device returned an error. err names the status: "
        "'I/O', 'critical medium' (unreadable sector), 'critical target', 'recoverable "
        "transport', 'critical space allocation' (thin pool full / ENOSPC), 'timeout', ...",
        kernels="'end_request: I/O error, dev sda, sector N' 2.6.0 - 3.17 (other statuses "
        "3.x); 'blk_update_request: ...' 3.18 - 4.12 (and RHEL 7); 'print_req_error: ...' "
        "4.13 - 4.20 (5.0 adds ' flags 0x..'); 'blk_update_request: ... op 0x1:(WRITE) flags "
        "... prio class 0' 5.x - 5.16 (and RHEL 8); '<status> error, dev sda, sector N op ...' "
        "5.17+",
        printed_by="block/blk-core.c: end_request() / blk_update_request() / print_req_error(); "
        "block/blk-mq.c: blk_print_req_error() (5.17+); rate-limited since 3.x",
        example="end_request: I/O error, dev sdb, sector 324337614",
    ),
    # LKML 2005-06-09 (2.6.11.7), see block_io_error
    Signature(
        name="buffer_io_error",
        kind=Kind.BUFFER_IO_ERROR,
        pattern=rf"^Buffer I/O error on dev(?:ice)? (?P<dev>{_DEV}), logical block \d{{1,20}}",
        needle="Buffer I/O error on dev",
        meaning="the page cache could not read or write a block; ', lost async page write' / "
        "', lost sync page write' mean written data is gone",
        kernels="'Buffer I/O error on device sda1, logical block N' 2.6.0 - 3.17 (and from "
        "ext4's own buffer_io_error() in every version); 'Buffer I/O error on dev sda1, "
        "logical block N, lost async page write' 3.18+",
        printed_by="fs/buffer.c: buffer_io_error(); fs/ext4/page-io.c: buffer_io_error()",
        example="Buffer I/O error on device sdb2, logical block 3899",
    ),
    # LKML 2005-06-09 (2.6.11.7), see block_io_error
    Signature(
        name="lost_page_write",
        kind=Kind.BUFFER_IO_ERROR,
        pattern=rf"^lost page write due to I/O error on (?P<dev>{_DEV})",
        needle="lost page write due to I/O error on",
        meaning="a page write to the device failed and its data is lost",
        kernels="2.6.0 - 3.17 (3.18+ fold it into 'Buffer I/O error ..., lost async page write')",
        printed_by="fs/buffer.c: end_buffer_write_sync(), end_buffer_async_write()",
        example="lost page write due to I/O error on sdb2",
    ),
    # github.com/sonic-net/sonic-buildimage/issues/23146 (2025)
    Signature(
        name="loop_write_error",
        kind=Kind.IO_ERROR,
        pattern=r"^loop: Write error at byte offset \d{1,20}, length \d{1,20}",
        needle="loop: Write error",
        meaning="the loop driver could not write to its backing file (full or failing "
        "filesystem under it); names no loop device",
        kernels="2.6.0+ (rate-limited since 3.16)",
        printed_by="drivers/block/loop.c: lo_write_bvec() / do_lo_send_direct_write()",
        example="loop: Write error at byte offset 673349632, length 4096.",
    ),
    # printed on this machine (6.18, XFS on a loop device); github.com/linuxppc/issues/384
    Signature(
        name="iomap_writeback_error",
        kind=Kind.IO_ERROR,
        pattern=rf"^(?P<dev>{_DEV}): writeback error on inode \d{{1,20}}, offset -?\d{{1,20}}, "
        r"sector \d{1,20}",
        needle=": writeback error on inode",
        meaning="writeback of file data failed on an iomap filesystem (XFS, and others): "
        "written data is lost",
        kernels="5.8+ (and the RHEL 8 4.18 backport)",
        printed_by="fs/iomap/buffered-io.c (ioend.c in 6.x): iomap_finish_ioend() (rate-limited)",
        example="loop0: writeback error on inode 131, offset 33554432, sector 219216",
    ),
    # func: "blk_update_request" (3.x - 4.x; in 3.x it precedes 'end_request:' lines),
    # "print_req_error" (4.13 - 5.16, also before 'blk_update_request:' lines), "buffer_io_error"
    # (3.18+), "quiet_error" (buffer.c <= 3.17), "__ratelimit" (2.6.2x - 2.6.3x, any caller),
    # "EXT4-fs error" / "EXT4-fs" / "EXT4-fs warning", "XFS: metadata IO error",
    # "XFS: Failing async write", "btrfs_dev_stat_print_on_error", "scsi_io_completion" (4.x),
    # "scsi_io_completion_action" (5.x+).
    # github.com/bit-team/backintime/issues/2568 (5.x)
    Signature(
        name="callbacks_suppressed",
        kind=Kind.SUPPRESSED,
        pattern=r"^(?P<func>[^\s].{0,79}?): (?P<count>\d{1,20}) callbacks suppressed",
        needle="callbacks suppressed",
        meaning="the kernel rate-limited a message and dropped this many copies; func names the "
        "rate limit, which is not always the function that printed the dropped lines",
        kernels="2.6.2x+ ('__ratelimit: N callbacks suppressed', whoever the caller, until "
        "2.6.32; the caller's name since 2.6.33)",
        printed_by="lib/ratelimit.c: ___ratelimit()",
        example="EXT4-fs error: 1267 callbacks suppressed",
    ),
    # Ubuntu Forums 2008-04-20 "Something wrong with my Ipod or Amarok?" (2.6.24)
    Signature(
        name="printk_messages_suppressed",
        kind=Kind.SUPPRESSED,
        pattern=r"^(?P<func>printk): (?P<count>\d{1,20}) messages suppressed",
        needle="messages suppressed",
        meaning="printk_ratelimit() dropped this many messages (any caller)",
        kernels="2.6.0 - 2.6.2x",
        printed_by="kernel/printk.c: __printk_ratelimit()",
        example="printk: 21 messages suppressed.",
    ),
    # =========================================================== multipath and md
    # linux-scsi 2021-07-08 "[PATCH 1/1]: scsi dm-mpath do not fail paths which are in ALUA
    # state transitioning" (the mail wrapped these lines; the example is an older unwrapped one,
    # "device-mapper: multipath: Failing path 65:0." from an Ubuntu Forums dmesg)
    Signature(
        name="dm_multipath_failing",
        kind=Kind.PATH_FAILED,
        pattern=r"^device-mapper: (?:dm-)?multipath:(?: (?P<map>\d{1,4}:\d{1,7}):)? Failing "
        r"path (?P<majmin>\d{1,4}:\d{1,7})",
        needle="Failing path ",
        meaning="dm-multipath stopped sending I/O down one path to the LUN",
        kernels="'device-mapper: dm-multipath: Failing path 8:96.' 2.6.1x; 'device-mapper: "
        "multipath: Failing path 8:32.' 2.6.18 - 5.7; '... multipath: 253:12: Failing path "
        "69:64.' 5.8+ (and RHEL 8)",
        printed_by="drivers/md/dm-mpath.c: fail_path() (DMWARN)",
        example="device-mapper: multipath: Failing path 65:0.",
    ),
    # example: from the printk format in drivers/md/dm-mpath.c reinstate_path() (DMWARN), no
    # public log found
    Signature(
        name="dm_multipath_reinstating",
        kind=Kind.PATH_REINSTATED,
        pattern=r"^device-mapper: multipath:(?: (?P<map>\d{1,4}:\d{1,7}):)? Reinstating path "
        r"(?P<majmin>\d{1,4}:\d{1,7})",
        needle="Reinstating path ",
        meaning="a failed multipath path works again",
        kernels="4.5 - 4.x (present by 4.10; and RHEL 7); 5.8+ print the map's major:minor first",
        printed_by="drivers/md/dm-mpath.c: reinstate_path() (DMWARN)",
        example="device-mapper: multipath: 253:12: Reinstating path 69:64.",
    ),
    # linux-scsi 2021-07-08 (Brian Bunker, Pure Storage): "multipathd[46030]:
    # 3624a9370602220bd9986439b00012c1e: remaining active paths: 0"
    Signature(
        name="multipathd_no_paths",
        kind=Kind.NO_PATHS,
        pattern=r"^(?P<map>[^\s:]{1,128}): remaining active paths: 0\b",
        needle="remaining active paths: 0",
        meaning="multipathd: every path to the LUN failed; I/O queues (queue_if_no_path) or fails",
        kernels="multipath-tools 0.4.6+ (2005) - current",
        printed_by="multipath-tools libmultipath/structs_vec.c: update_queue_mode_del_path() "
        "(multipathd/main.c in old releases)",
        example="3624a9370602220bd9986439b00012c1e: remaining active paths: 0",
        program="multipathd",
    ),
    # linux-scsi 2021-07-08 (Brian Bunker), see multipathd_no_paths
    Signature(
        name="multipathd_paths_remaining",
        kind=Kind.PATHS_REMAINING,
        pattern=r"^(?P<map>[^\s:]{1,128}): remaining active paths: (?P<count>\d{1,5})",
        needle="remaining active paths: ",
        meaning="multipathd: a path failed or came back; this many still work",
        kernels="multipath-tools 0.4.6+ (2005) - current",
        printed_by="multipath-tools libmultipath/structs_vec.c: update_queue_mode_del_path(), "
        "update_queue_mode_add_path()",
        example="3624a9370602220bd9986439b00012c1e: remaining active paths: 4",
        program="multipathd",
    ),
    # github.com/dell/csm/issues/296 (2022)
    Signature(
        name="multipathd_checker_down",
        kind=Kind.PATH_FAILED,
        pattern=rf"^(?P<map>[^\s:]{{1,128}}): (?P<dev>{_DEV}) - \w{{1,32}} checker reports path "
        r"is down",
        needle="checker reports path is down",
        meaning="multipathd's path checker found a path down (repeats every check interval "
        "while it stays down)",
        kernels="multipath-tools 0.4.x - current",
        printed_by="multipath-tools multipathd/main.c: LOG_MSG() from check_path()",
        example="mpathaq: sdak - tur checker reports path is down",
        program="multipathd",
    ),
    # LKML 2005-03-01 "2.6.11-rc5: Promise SATA150 TX4 failure" shows the 2.6 form
    # ("raid1: Disk failure on sdc2, disabling device."); the example is from a linux-raid list
    # post (5.x, after "md: super_written gets error=-5")
    Signature(
        name="md_disk_failure",
        kind=Kind.RAID_DISK_FAILED,
        pattern=rf"^(?:md/(?:raid\d{{0,2}}|linear):?(?P<md>[^\s:]{{1,32}}): |raid\d{{1,2}}: )"
        rf"Disk failure on (?P<dev>{_DEV})(?:, disabling device| detected, failing array)",
        needle="Disk failure on ",
        meaning="md kicked a member disk out of the array after I/O errors (raid0/linear: the "
        "array failed)",
        kernels="'raid1: Disk failure on sdb1, disabling device.' 2.6.0 - 2.6.34 (at least); "
        "'md/raid1:md0: ...', 'md/raid10:md0: ...', 'md/raid:md0: ...' (raid4/5/6) 2.6.36+; "
        "'md/raid0md0: Disk failure on X detected, failing array.' 6.x",
        printed_by="drivers/md/raid1.c: raid1_error(); raid10.c: raid10_error(); raid5.c: "
        "raid5_error(); raid0.c: raid0_error(); md-linear.c",
        example="md/raid1:md126: Disk failure on sdb, disabling device.",
    ),
    # =========================================================== SCSI
    # LKML 2005-06-09 (2.6.11.7): "SCSI error : <0 0 1 0> return code = 0x6000000"
    Signature(
        name="scsi_error_return_code",
        kind=Kind.SCSI_ERROR,
        pattern=r"^SCSI [Ee]rror : <(?P<scsi>\d{1,5} \d{1,5} \d{1,5} \d{1,20})> return code = "
        r"(?P<code>0x[0-9a-f]{1,8})",
        needle="rror : <",
        meaning="a SCSI command failed; the return code packs the driver, host, message and "
        "status bytes (0x6000000: DRIVER_TIMEOUT, 0x8000002: sense data, check condition)",
        kernels="2.6.0 - 2.6.1x (the source says 'SCSI error'; 'SCSI Error', as hand-copied "
        "reports spell it, is accepted too)",
        printed_by="drivers/scsi/scsi_lib.c: scsi_io_completion()",
        example="SCSI error : <0 0 1 0> return code = 0x6000000",
    ),
    # VMware community forum "ubuntu 6.06 +esx3.5 sd errors" (2009; Ubuntu 6.06 kernel)
    Signature(
        name="scsi_error_sd_return_code",
        kind=Kind.SCSI_ERROR,
        pattern=_SD + r"SCSI error: return code = (?P<code>0x[0-9a-f]{1,8})",
        needle="SCSI error: return code = ",
        meaning="a SCSI command failed; the return code packs the driver, host, message and "
        "status bytes",
        kernels="2.6.1x - 2.6.2x (RHEL 5)",
        printed_by="drivers/scsi/scsi_lib.c: scsi_io_completion() (scmd_printk)",
        example="sd 0:0:1:0: SCSI error: return code = 0x20008",
    ),
    # Ubuntu Forums post (2.6.3x): "sd 4:0:0:0: [sdc] Unhandled error code"
    Signature(
        name="scsi_unhandled",
        kind=Kind.SCSI_ERROR,
        pattern=_SD + r"Unhandled (?:error|sense) code",
        needle="Unhandled ",
        meaning="a SCSI command failed and the midlayer gives up on it (the Result and sense "
        "lines follow)",
        kernels="2.6.2x - 3.17",
        printed_by="drivers/scsi/scsi_lib.c: scsi_io_completion()",
        example="sd 4:0:0:0: [sdc] Unhandled error code",
    ),
    # github.com/home-assistant/operating-system/issues/3948 (6.x)
    Signature(
        name="scsi_result",
        kind=Kind.SCSI_ERROR,
        pattern=r"(?:"
        + _SD
        + r"(?:[^:\n]{1,80}: )?|^)(?:(?:[A-Z][A-Z_]{1,40}|UNKNOWN\(0x[0-9a-f]{1,8}\)) )?"
        r"Result: hostbyte=(?P<hostbyte>\w{1,32}) driverbyte=(?P<driverbyte>\w{1,32})",
        needle="Result: hostbyte=",
        meaning="a SCSI command failed; hostbyte says what the HBA or hypervisor reported "
        "(DID_BAD_TARGET, DID_NO_CONNECT: the device is gone; DID_TIME_OUT; DID_OK with sense "
        "data: the device reported the error)",
        kernels="'sd 0:0:0:0: [sda] Result: hostbyte=DID_OK driverbyte=DRIVER_SENSE' 2.6.2x - "
        "3.18 ('[sda]  Result' with two spaces in 3.x; a continuation 'Result: ...' alone when "
        "printk split it); '[sda] tag#0 FAILED Result: ...' 4.x+; ' cmd_age=0s' 5.x+; "
        "'Read Capacity(16) failed: Result: ...' from sd; hex bytes when not decoded",
        printed_by="drivers/scsi/scsi_logging.c: scsi_print_result() (constants.c before "
        "3.19); drivers/scsi/sd.c: sd_print_result()",
        example="sd 1:0:0:0: [sda] tag#12 FAILED Result: hostbyte=DID_BAD_TARGET "
        "driverbyte=DRIVER_OK cmd_age=94s",
    ),
    # Azure/Hyper-V guests after a disk resize (storvsc names itself in the brackets), and
    # any SAN after an ALUA transition: "sd 0:0:0:0: [storvsc] Sense Key : Unit Attention
    # [current]" (github.com/microsoft/azure-linux-kernel issues; the wording is 4.x+'s)
    Signature(
        name="scsi_sense_notice",
        kind=Kind.SCSI_NOTICE,
        pattern=_SD + r"Sense Key : " + _SENSE_NOTICE_KEYS + r" \[(?:current|deferred)\]",
        needle="Sense Key : ",
        meaning="the target reports a change, not a failure: Unit Attention (a resize, an ALUA "
        "state change, a reset), No Sense, Recovered Error. Context only: it never opens an "
        "incident",
        kernels="2.6.2x+ ('tag#' 4.x+)",
        printed_by="drivers/scsi/scsi_logging.c: scsi_log_print_sense_hdr()",
        example="sd 0:0:0:0: [storvsc] Sense Key : Unit Attention [current]",
    ),
    Signature(
        name="scsi_add_sense_notice",
        kind=Kind.SCSI_NOTICE,
        pattern=_SD + r"Add\. Sense: " + _SENSE_NOTICE_ASC + r"\s*$",
        needle="Add. Sense: ",
        meaning="the additional sense of a Unit Attention: what changed (capacity, operating "
        "definition, LUN inventory, ALUA state) or that a reset happened. Context only",
        kernels="2.6.2x+",
        printed_by="drivers/scsi/scsi_logging.c: scsi_format_extd_sense()",
        example="sd 0:0:0:0: [storvsc] Add. Sense: Changed operating definition",
    ),
    # github.com/longhorn/longhorn/issues/193 (4.x)
    Signature(
        name="scsi_sense_key",
        kind=Kind.SCSI_SENSE,
        pattern=_SD + r"Sense Key : (?P<sense>[A-Za-z][A-Za-z ]{0,39}?|0x[0-9a-f]{1,2}) "
        r"\[(?:current|deferred)\]",
        needle="Sense Key : ",
        meaning="the device's sense key: what kind of failure it reports (Medium Error: "
        "unreadable media; Hardware Error; Not Ready; Aborted Command; ...)",
        kernels="2.6.2x+ ('tag#' 4.x+; the key in hex when not decoded)",
        printed_by="drivers/scsi/scsi_logging.c: scsi_log_print_sense_hdr() (constants.c "
        "scsi_show_sense_hdr() before 3.19)",
        example="sd 4:0:0:1: [sdb] tag#0 Sense Key : Medium Error [current]",
    ),
    # LKML 2005-03-01 "2.6.11-rc5: Promise SATA150 TX4 failure": "sdc: Current: sense key:
    # Medium Error"
    Signature(
        name="scsi_sense_key_old",
        kind=Kind.SCSI_SENSE,
        pattern=rf"^(?P<dev>{_DEV}): (?:Current|<<DEFERRED>>)(?: \[descriptor\])?: sense key: "
        r"(?P<sense>[A-Za-z][A-Za-z ]{0,39})",
        needle="sense key: ",
        meaning="the device's sense key (2.6.1x - 2.6.2x wording, named by disk)",
        kernels="2.6.1x - 2.6.2x (RHEL 5)",
        printed_by="drivers/scsi/constants.c: scsi_print_sense_hdr()",
        example="sdc: Current: sense key: Medium Error",
    ),
    # LKML (2.6.x, "Additional sense: Peripheral device write fault" thread): "Info
    # fld=0x2100101, Deferred sdb: sense key Medium Error"
    Signature(
        name="scsi_sense_key_oldest",
        kind=Kind.SCSI_SENSE,
        pattern=rf"^(?:Info fld=0x[0-9a-f]{{1,8}}(?: \(nonstd\))?, )?(?:(?:FMK|EOM|ILI) ){{0,3}}"
        rf"(?:Current|Deferred|Invalid) (?P<dev>{_DEV}): sense key (?P<sense>[A-Za-z][A-Za-z ]"
        r"{0,39})",
        needle=": sense key ",
        meaning="the device's sense key (2.6.0 - 2.6.1x wording)",
        kernels="2.6.0 - 2.6.10 (2.6.11 prints 'sdc: Current: sense key: ...')",
        printed_by="drivers/scsi/constants.c: print_sense_internal()",
        example="Info fld=0x2100101, Deferred sdb: sense key Medium Error",
    ),
    # Ubuntu Forums 2008-04-20 "Something wrong with my Ipod or Amarok?" (2.6.24)
    Signature(
        name="scsi_add_sense",
        kind=Kind.SCSI_SENSE,
        pattern=_SD + r"Add\. Sense: (?P<asc>[^\s].{0,159}?)\s*$",
        needle="Add. Sense: ",
        meaning="the device's additional sense: the exact failure (Unrecovered read error, "
        "Internal target failure, Logical unit not accessible, ...)",
        kernels="2.6.2x+",
        printed_by="drivers/scsi/scsi_logging.c: scsi_format_extd_sense() (constants.c "
        "scsi_show_extd_sense() before 3.19)",
        example="sd 2:0:0:0: [sdb] Add. Sense: Unrecovered read error",
    ),
    # github.com/SickChill/sickchill/issues/7362 (5.x): "... tag#0 ASC=0x11 ASCQ=0x0 "
    Signature(
        name="scsi_asc_ascq",
        kind=Kind.SCSI_SENSE,
        pattern=_SD + r"(?P<asc>(?:<<vendor>> ?)?ASC=0x[0-9a-f]{1,2} (?:<<vendor>> ?)?"
        r"ASCQ=0x[0-9a-f]{1,2})",
        needle="ASCQ=0x",
        meaning="the device's additional sense code in hex (when the kernel has no text for it "
        "or was built without SCSI constants)",
        kernels="2.6.2x+",
        printed_by="drivers/scsi/scsi_logging.c: scsi_format_extd_sense()",
        example="sd 0:0:0:0: [sda] tag#0 ASC=0x11 ASCQ=0x0 ",
    ),
    # LKML 2005-06-23 (2.6.12, md/raid5 thread): "Additional sense: Scsi parity error"
    Signature(
        name="scsi_add_sense_old",
        kind=Kind.SCSI_SENSE,
        pattern=r"^\s{0,8}Additional sense: (?P<asc>[^\s].{0,159}?)\s*$",
        needle="Additional sense: ",
        meaning="the device's additional sense (2.6.0 - 2.6.2x wording; names no device: the "
        "sense key line before it does)",
        kernels="2.6.0 - 2.6.2x (indented by four spaces from 2.6.1x)",
        printed_by="drivers/scsi/constants.c: scsi_show_extd_sense()",
        example="Additional sense: Scsi parity error",
    ),
    # linux-scsi 2019 (Maurizio Lombardi, RHEL): "sd 0:0:9:0: timing out command, waited 180s"
    Signature(
        name="scsi_timing_out",
        kind=Kind.SCSI_TIMEOUT,
        pattern=_SD + r"timing out command, waited \d{1,10}s",
        needle="timing out command, waited",
        meaning="a SCSI command got no good answer for its whole retry budget and is failed",
        kernels="2.6.1x+ ('[sda] tag#N' 4.x+; 'scsi H:C:T:L: tag#N' when no disk is attached)",
        printed_by="drivers/scsi/scsi_lib.c: scsi_softirq_done() / scsi_complete() / "
        "scsi_cmd_runtime_exceeced()",
        example="sd 0:0:9:0: timing out command, waited 180s",
    ),
    # github.com/opensvc/multipath-tools/issues/6 (2021)
    Signature(
        name="scsi_rejecting_io",
        kind=Kind.SCSI_OFFLINE,
        pattern=_SD + r"rejecting I/O to (?:offline|dead) device",
        needle="rejecting I/O to ",
        meaning="the SCSI device is offline (error recovery gave up) or being removed: every "
        "I/O to it fails at once",
        kernels="2.6.1x+ ('offline' printed once per offlining in 3.10-el7 and 6.x)",
        printed_by="drivers/scsi/scsi_lib.c: scsi_prep_state_check() / scsi_device_state_check()"
        " / scsi_prepare_cmd()",
        example="sd 10:0:0:0: rejecting I/O to offline device",
    ),
    # LKML 2005-06-09 (2.6.11.7): "scsi0 (1:0): rejecting I/O to offline device"
    Signature(
        name="scsi_rejecting_io_old",
        kind=Kind.SCSI_OFFLINE,
        pattern=r"^scsi\d{1,5} \(\d{1,5}:\d{1,20}\): rejecting I/O to (?:offline|dead) device",
        needle="rejecting I/O to ",
        meaning="the SCSI device is offline or being removed (2.6.0 - 2.6.1x wording: host "
        "number, then target:lun)",
        kernels="2.6.0 - 2.6.1x",
        printed_by="drivers/scsi/scsi_lib.c: scsi_prep_fn() / scsi_request_fn()",
        example="scsi0 (1:0): rejecting I/O to offline device",
    ),
    # Ubuntu Forums (2.6.2x): "sd 7:0:0:0: scsi: Device offlined - not ready after error
    # recovery"; the example: a linux-usb list report (UAS disk unplugged, 5.x)
    Signature(
        name="scsi_device_offlined",
        kind=Kind.SCSI_OFFLINE,
        pattern=_SD + r"(?:scsi: )?Device offlined - not ready after error recovery",
        needle="Device offlined - not ready after error recovery",
        meaning="SCSI error recovery gave up on the device and took it offline",
        kernels="'sd 0:0:0:0: scsi: Device offlined - ...' 2.6.1x - 2.6.2x; 'sd 0:0:0:0: Device "
        "offlined - ...' 2.6.2x+",
        printed_by="drivers/scsi/scsi_error.c: scsi_eh_offline_sdevs()",
        example="sd 12:0:0:0: Device offlined - not ready after error recovery",
    ),
    # LKML 2005-06-09 (2.6.11.7): "scsi: Device offlined - not ready after error recovery:
    # host0 channel 0 id 1 lun 0"
    Signature(
        name="scsi_device_offlined_old",
        kind=Kind.SCSI_OFFLINE,
        pattern=r"^scsi: Device offlined - not ready after error recovery: host ?\d{1,5} "
        r"channel \d{1,5} id \d{1,5} lun \d{1,20}",
        needle="Device offlined - not ready after error recovery",
        meaning="SCSI error recovery gave up on the device and took it offline (2.6.0 - 2.6.1x "
        "wording)",
        kernels="2.6.0 - 2.6.1x",
        printed_by="drivers/scsi/scsi_error.c: scsi_eh_offline_sdevs()",
        example="scsi: Device offlined - not ready after error recovery: host0 channel 0 id 1 "
        "lun 0",
    ),
    # github.com/openzfs/zfs/issues/2275 (3.x)
    Signature(
        name="mptscsih_task_abort",
        kind=Kind.SCSI_ABORT,
        pattern=r"^(?:mptscsih: ioc\d{1,3}|mpt[23]sas\d{1,3}): (?:>> )?(?:[Aa]ttempting task "
        r"abort!|task abort: (?:SUCCESS|FAILED))",
        needle="task abort",
        meaning="the LSI Fusion-MPT HBA driver (VMware's 'LSI Logic' adapter, mpt2sas) aborted "
        "a command that took too long; FAILED escalates to resets",
        kernels="'mptscsih: ioc0: >> Attempting task abort!' 2.6.0 - 2.6.1x; 'mptscsih: ioc0: "
        "attempting task abort! (sc=...)' 2.6.18+ ('task abort: SUCCESS (rv=2002)' 3.x+); "
        "'mpt2sas0: ...' 2.6.3x - 2.6.35",
        printed_by="drivers/message/fusion/mptscsih.c: mptscsih_abort(); "
        "drivers/scsi/mpt2sas/mpt2sas_scsih.c: _scsih_abort() (2.6.3x)",
        example="mptscsih: ioc1: task abort: SUCCESS (rv=2002) (sc=ffff88061db32a00)",
    ),
    # github.com/gardenlinux/gardenlinux/issues/945 (5.10, VMware pvscsi)
    Signature(
        name="scsi_task_abort",
        kind=Kind.SCSI_ABORT,
        pattern=_SD + r"(?:attempting task abort!|task abort: (?:SUCCESS|FAILED)|task abort on "
        r"host \d{1,5})",
        needle="task abort",
        meaning="the HBA driver (vmw_pvscsi, mpt2sas/mpt3sas) aborted a command that took too long",
        kernels="vmw_pvscsi 'task abort on host N, <ptr>' 2.6.33+ (KERN_DEBUG); mpt2sas/"
        "mpt3sas 'attempting task abort! scmd(...)' 2.6.36+, 'attempting task abort!scmd(0x..),"
        " outstanding for N ms & timeout N ms' 5.x+",
        printed_by="drivers/scsi/vmw_pvscsi.c: pvscsi_abort(); drivers/scsi/mpt3sas/"
        "mpt3sas_scsih.c: scsih_abort()",
        example="sd 0:0:0:0: [sda] tag#99 task abort on host 0, 0000000002af6841",
    ),
    # LKML/linux-hyperv 2024 thread on storvsc status logging: "hv_storvsc fd1d2cbd-...:
    # tag#683 cmd 0x28 status: scsi 0x2 srb 0x4 hv 0xc0000001"
    Signature(
        name="storvsc_error",
        kind=Kind.SCSI_ERROR,
        pattern=r"^hv_storvsc [^\s:]{1,64}: (?:tag#\d{1,10} )?cmd 0x[0-9a-f]{1,2} (?:status: "
        r"scsi 0x[0-9a-f]{1,2} srb 0x[0-9a-f]{1,2}|scsi status 0x[0-9a-f]{1,2} srb status "
        r"0x[0-9a-f]{1,2})",
        needle="hv_storvsc ",
        meaning="Hyper-V/Azure storage returned an error for a command (cmd 0x2a: write, 0x28: "
        "read); names the VMBus device, not the disk. Harmless for some probe commands "
        "(0x85, 0x4d, 0x1a, 0x12) that Hyper-V does not support",
        kernels="'cmd 0x2a scsi status 0x2 srb status 0x4' 3.x - 5.x (warning level: hidden "
        "unless storvsc logging_level=2); 'tag#N cmd 0x2a status: scsi 0x2 srb 0x4 hv "
        "0xc0000001' by 5.15, error level ('host 0x..' instead of 'hv 0x..' by 6.18)",
        printed_by="drivers/scsi/storvsc_drv.c: storvsc_on_io_completion() (storvsc_log)",
        example="hv_storvsc fd1d2cbd-ce7c-535c-966b-eb5f811c95f0: tag#683 cmd 0x28 status: "
        "scsi 0x2 srb 0x4 hv 0xc0000001",
    ),
    # github.com/kubernetes/kubernetes/issues/32929 (2016)
    Signature(
        name="ext4_driver_for_ext23",
        kind=Kind.DEVICE_NAME,
        pattern=r"^EXT4-fs \((?P<dev>" + _DEV + r")\): mounting (?P<fs>ext[23]) file system "
        r"using the ext4 subsystem",
        needle="file system using the ext4 subsystem",
        meaning="the ext4 driver mounted an ext2 or ext3 filesystem, whose later messages say "
        "EXT4-fs: tells the engine the filesystem's real type (learned, not evidence)",
        kernels="3.x+ with CONFIG_EXT4_USE_FOR_EXT2 (every distribution kernel since ext3 "
        "was removed in 4.3)",
        printed_by="fs/ext4/super.c: ext4_fill_super() / __ext4_fill_super()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/ext2-*.kmsg)
        example="EXT4-fs (loop0): mounting ext2 file system using the ext4 subsystem",
    ),
    # LKML 2007 (RHEL 5, 2.6.18): "sd 0:0:1:0: Attached scsi disk sdb"; 2.6.9 (RHEL 4):
    # "Attached scsi disk sdb at scsi0, channel 0, id 1, lun 0"
    Signature(
        name="scsi_attached_disk_old",
        kind=Kind.DEVICE_NAME,
        pattern=rf"^(?:(?:sd|sr) (?P<scsi>{_SCSI}): )?Attached scsi (?:removable )?disk "
        r"(?P<dev>sd[a-z]{1,4})(?: at scsi(?P<host>\d{1,5}), channel (?P<channel>\d{1,5}), id "
        r"(?P<target>\d{1,5}), lun (?P<lun>\d{1,20}))?\s*$",
        needle="Attached scsi ",
        meaning="names the disk at a SCSI address (2.6-era wording); learned, not evidence",
        kernels="'Attached scsi disk sdb at scsi0, channel 0, id 1, lun 0' 2.6.0 - 2.6.1x; "
        "'sd 0:0:1:0: Attached scsi disk sdb' 2.6.18 - 2.6.2x",
        printed_by="drivers/scsi/sd.c: sd_probe()",
        example="sd 0:0:1:0: Attached scsi disk sdb",
    ),
    Signature(
        name="scsi_attached",
        kind=Kind.DEVICE_NAME,
        pattern=rf"^(?:sd|sr) (?P<scsi>{_SCSI}): \[(?P<dev>sd[a-z]{{1,4}}|sr\d{{1,4}})\]",
        needle=": [s",
        meaning="names the disk (or CD-ROM) at a SCSI address; learned, not evidence. Must stay "
        "after every SCSI error signature: they carry the same prefix",
        kernels="2.6.2x+ (sd_printk / sdev_printk with the disk name)",
        printed_by="drivers/scsi/sd.c: sd_printk(); drivers/scsi/sr.c: sr_printk()",
        example="sd 0:0:2:0: [sdb] 419430400 512-byte logical blocks: (214 GB/200 GiB)",
    ),
    # =========================================================== NVMe
    # LKML 2024 (Mikhail Gavrilov, 6.13 development cycle)
    Signature(
        name="nvme_timeout",
        kind=Kind.NVME_ERROR,
        pattern=r"^nvme (?:(?P<nvme>nvme\d{1,4})|[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): "
        r"(?:I/O (?:tag )?\d{1,10} (?:\([^)]{1,40}\) )?(?:opcode 0x[0-9a-f]{1,2} \([^)]{1,40}\) "
        r")?QID \d{1,5} timeout|controller is down; will reset|Removing after probe failure|"
        r"Device not ready; aborting|Disabling device after reset failure)",
        needle="nvme ",
        meaning="the NVMe controller did not answer; the driver aborts the command, resets or "
        "removes the controller",
        kernels="'nvme 0000:01:00.0: I/O 5 QID 1 timeout, reset controller' 4.4 (PCI name); "
        "'nvme nvme0: I/O 388 QID 2 timeout, aborting' 4.x - 6.0; '... I/O 642 (I/O Cmd) QID 1 "
        "...' 6.1 - 6.x; 'I/O tag 0 (3000) opcode 0x1 (I/O Cmd) QID 1 timeout, aborting "
        "req_op:WRITE(1) size:131072' 6.13+",
        printed_by="drivers/nvme/host/pci.c: nvme_timeout(), nvme_remove_dead_ctrl(), "
        "nvme_reset_work(); drivers/nvme/host/core.c: nvme_wait_ready()",
        example="nvme nvme1: I/O tag 0 (3000) opcode 0x1 (I/O Cmd) QID 1 timeout, aborting "
        "req_op:WRITE(1) size:131072",
    ),
    # github.com/oxidecomputer/crucible/issues/1844 (2025)
    Signature(
        name="nvme_cmd_error",
        kind=Kind.NVME_ERROR,
        pattern=r"^(?P<dev>nvme\d{1,4}(?:c\d{1,4})?n\d{1,6}): [A-Za-z][A-Za-z/ ]{0,39}"
        r"\(0x[0-9a-f]{1,2}\) @ LBA \d{1,20}, \d{1,10} blocks, ",
        needle=" @ LBA ",
        meaning="the NVMe device failed a command and said why (status code type / code)",
        kernels="5.19+ ('Read(0x2)' with CONFIG_NVME_VERBOSE_ERRORS, else 'I/O Cmd(0x2)')",
        printed_by="drivers/nvme/host/core.c: nvme_log_error()",
        example="nvme0n1: I/O Cmd(0x2) @ LBA 131209936, 200 blocks, I/O Error (sct 0x3 / sc 0x71) ",
    ),
    # ---------------------------------------------------------------- mounts
    # A device name outlives its filesystem: loop0 or sdb carries a new one after the next
    # mount. These lines end what the engine knew of the old one.
    Signature(
        name="ext_mounted",
        kind=Kind.MOUNTED,
        pattern=r"^EXT[234]-fs \((?P<dev>" + _DEV + r")\): mounted filesystem",
        needle="mounted filesystem",
        meaning="an ext2/3/4 filesystem was mounted on the device",
        kernels="2.6.3x+ (6.x adds the UUID and r/w or ro)",
        printed_by="fs/ext4/super.c: ext4_fill_super() / __ext4_fill_super()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/*.kmsg)
        example="EXT4-fs (loop0): mounted filesystem 427f02dc-98d6-4655-ad8b-2bea8a4698f5 r/w "
        "with ordered data mode. Quota mode: none.",
    ),
    Signature(
        name="ext_unmounting",
        kind=Kind.UNMOUNTED,
        pattern=r"^EXT4-fs \((?P<dev>" + _DEV + r")\): unmounting filesystem",
        needle="unmounting filesystem",
        meaning="an ext4 filesystem was unmounted",
        kernels="6.0+",
        printed_by="fs/ext4/super.c: ext4_put_super()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/*.kmsg)
        example="EXT4-fs (loop0): unmounting filesystem 528f07d9-708e-4ce2-ab89-3cced4609ece.",
    ),
    Signature(
        name="xfs_mounting",
        kind=Kind.MOUNTED,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): Mounting (?:V\d+ )?Filesystem",
        needle="Mounting ",
        meaning="an XFS filesystem is being mounted on the device",
        kernels="3.x+ ('Mounting V5 Filesystem <uuid>' 3.16+)",
        printed_by="fs/xfs/xfs_super.c: xfs_fs_fill_super()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/xfs-*.kmsg)
        example="XFS (loop0): Mounting V5 Filesystem 547032e4-fd31-4ed4-969b-214be794427f",
    ),
    Signature(
        name="xfs_unmounting",
        kind=Kind.UNMOUNTED,
        pattern=r"^XFS \((?P<dev>" + _DEV + r")\): Unmounting Filesystem",
        needle="Unmounting Filesystem",
        meaning="an XFS filesystem was unmounted",
        kernels="4.x+",
        printed_by="fs/xfs/xfs_super.c: xfs_fs_put_super()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/xfs-*.kmsg)
        example="XFS (loop0): Unmounting Filesystem 547032e4-fd31-4ed4-969b-214be794427f",
    ),
    Signature(
        name="btrfs_first_mount",
        kind=Kind.MOUNTED,
        pattern=r"^BTRFS info \(device (?P<dev>" + _DEV + r")(?::? state \w+)?\): first "
        r"mount of filesystem",
        needle="first mount of filesystem",
        meaning="a btrfs filesystem was mounted",
        kernels="6.6+",
        printed_by="fs/btrfs/disk-io.c: open_ctree()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/btrfs-*.kmsg)
        example="BTRFS info (device loop0): first mount of filesystem "
        "3b1db29c-a1b0-4828-bf98-d4c85814d864",
    ),
    Signature(
        name="btrfs_last_unmount",
        kind=Kind.UNMOUNTED,
        pattern=r"^BTRFS info \(device (?P<dev>" + _DEV + r")(?::? state \w+)?\): last "
        r"unmount of filesystem",
        needle="last unmount of filesystem",
        meaning="a btrfs filesystem was unmounted",
        kernels="6.6+",
        printed_by="fs/btrfs/super.c: btrfs_put_super() / close_ctree()",
        # example: this project's test machine, Linux 6.18 (tests/data/real/btrfs-*.kmsg)
        example="BTRFS info (device loop0 state EA): last unmount of filesystem "
        "3b1db29c-a1b0-4828-bf98-d4c85814d864",
    ),
)


#: Real kernel lines that name read-only, mounts or device errors but do not report that a
#: filesystem became read-only, shut down or panicked. No signature may classify one of them as
#: an outcome (tests/test_signatures.py). Each is (line, why).
NOT_MATCHING: tuple[tuple[str, str], ...] = (
    # printed on this machine (6.18): admin 'mount -o remount,ro'
    (
        "EXT4-fs (loop0): re-mounted 1b625a22-717b-4905-b67e-e11e378e3a2e ro.",
        "an administrator's remount (6.x wording)",
    ),
    # built from the printk formats in fs/ext4/super.c ext4_remount() / __ext4_remount()
    (
        "EXT4-fs (sda1): re-mounted 4e8a53e0-41a7-4c9e-8bc3-ded66dda7010 ro. Quota mode: none.",
        "an administrator's remount (6.x wording before 6.18)",
    ),
    (
        "EXT4-fs (sda1): re-mounted. Quota mode: none.",
        "an administrator's remount (5.19 - 6.1x wording)",
    ),
    (
        "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
        "an administrator's remount (3.x - 5.14 wording); 'errors=remount-ro' is an option",
    ),
    (
        "EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: errors=remount-ro",
        "a normal mount with the remount-ro error policy",
    ),
    # printed on this machine (6.18): 'mount -o ro'
    (
        "EXT4-fs (loop0): mounted filesystem 1b625a22-717b-4905-b67e-e11e378e3a2e ro with "
        "ordered data mode. Quota mode: none.",
        "a deliberate read-only mount",
    ),
    (
        "VFS: Mounted root (ext4 filesystem) readonly on device 8:1.",
        "the root filesystem is mounted read-only at boot, before fsck",
    ),
    (
        "EXT4-fs (sda1): INFO: recovery required on readonly filesystem",
        "journal replay on a read-only mount at boot",
    ),
    (
        "EXT4-fs (sda1): write access unavailable, cannot proceed",
        "a mount refused on a read-only device: nothing was mounted",
    ),
    (
        "EXT4-fs (sda1): error count since last fsck: 3",
        "ext4's daily reminder of past errors",
    ),
    (
        "EXT4-fs (sda1): initial error at time 1589549122: ext4_journal_check_start:61",
        "ext4's daily reminder of past errors",
    ),
    # printed on this machine (6.18)
    (
        "EXT4-fs (loop3): mounting ext3 file system using the ext4 subsystem",
        "a normal mount",
    ),
    (
        "EXT3-fs: mounted filesystem with ordered data mode.",
        "a normal mount (2.6 wording)",
    ),
    # printed on this machine (6.18)
    ("XFS (loop0): Ending clean mount", "a normal XFS mount"),
    ("XFS (loop0): Mounting V5 Filesystem 21874ad4-9d58-4cfa-b509-48db85ea2049", "a mount"),
    ("XFS (sda3): Unmounting Filesystem", "an unmount"),
    (
        "XFS (dm-0): Please umount the filesystem and rectify the problem(s)",
        "advice after a shutdown; the shutdown line itself is the outcome",
    ),
    ("BTRFS info (device sdb): disk space caching is enabled", "a btrfs mount option"),
    # printed on this machine (6.18)
    ("BTRFS info (device loop0): enabling free space tree", "a btrfs mount"),
    (
        "BTRFS warning (device sda3: state E): Skipping commit of aborted transaction.",
        "a consequence after 'forced readonly', not the outcome itself",
    ),
    (
        "sr 1:0:0:0: [sr0] tag#0 Sense Key : Medium Error [current]",
        "a CD-ROM read error: SCSI sense, no filesystem outcome",
    ),
    (
        "blk_update_request: I/O error, dev sr0, sector 0",
        "a CD-ROM read error: an I/O error, no filesystem outcome",
    ),
    (
        "end_request: I/O error, dev fd0, sector 0",
        "a floppy probe at boot",
    ),
    (
        "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
        "a boot failure, not a filesystem error with errors=panic",
    ),
    (
        "md/raid1:md0: not clean -- starting background reconstruction",
        "an md resync",
    ),
    (
        "device-mapper: multipath: 253:12: Failing path 69:64.",
        "one path of several: context, never an outcome",
    ),
)
