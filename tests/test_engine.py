"""The engine: records in, incidents out, on the stories real logs tell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from rowatch.engine import Engine, EngineConfig, Rejected
from rowatch.incident import IncidentChange, Transition
from rowatch.records import KernelRecord, Source
from rowatch.topology import BlockDevice, Topology


def records(text: str, start: float = 100.0, step: float = 0.001) -> list[KernelRecord]:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return [KernelRecord(line, uptime=start + i * step) for i, line in enumerate(lines)]


def run(
    text: str | Iterable[KernelRecord], engine: Engine | None = None
) -> tuple[Engine, list[dict[str, Any]], list[Any]]:
    engine = engine or Engine()
    outputs: list[Any] = []
    for record in records(text) if isinstance(text, str) else text:
        outputs += engine.feed(record)
    outputs += engine.finish()
    return engine, [engine.snapshot(i) for i in engine.incidents], outputs


def changes(outputs: list[Any], transition: Transition) -> list[IncidentChange]:
    return [o for o in outputs if isinstance(o, IncidentChange) and o.transition is transition]


# The incident that started rowatch: VMware ESX path failover under a RHEL 4/5 guest (2.6).
SEED = """
SCSI Error : <0 0 0 0> return code = 0x20008
end_request: I/O error, dev sda, sector 4928181
Aborting journal on device dm-0.
ext3_abort called.
EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted journal
Remounting filesystem read-only
"""


def test_seed_incident_is_one_read_only_ext3_on_dm0_caused_by_scsi_busy() -> None:
    _, incidents, outputs = run(SEED)
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident["filesystem_device"] == "dm-0"
    assert incident["filesystem"] == "ext3"
    assert incident["outcome"] == "read_only"
    assert incident["devices"] == ["0:0:0:0", "sda", "dm-0"]
    assert [e["kind"] for e in incident["events"]] == [
        "scsi_error",
        "io_error",
        "journal_abort",
        "fs_error",
        "fs_error",
        "read_only",
    ]
    assert incident["cause"]["code"] == "scsi_path_busy"
    scsi = incident["events"][0]
    assert scsi["details"]["scsi_result"] == "DID_BUS_BUSY + status BUSY"
    assert len(changes(outputs, Transition.OUTCOME)) == 1


def test_outcome_is_reported_by_the_record_that_says_it() -> None:
    engine = Engine()
    outcome_at = None
    for i, record in enumerate(records(SEED)):
        if changes(engine.feed(record), Transition.OUTCOME):
            outcome_at = i
    assert outcome_at == 5  # the "Remounting filesystem read-only" line itself


def test_scsi_address_resolves_through_the_attach_line() -> None:
    _, incidents, _ = run("sd 0:0:0:0: [sda] 16777216 512-byte logical blocks\n" + SEED)
    assert incidents[0]["devices"] == ["sda", "dm-0"]


# Linux 6.18 on this project's test machine: loop-mounted ext4, trigger_fs_error.
MODERN_EXT4 = """
EXT4-fs (loop0): mounted filesystem 427f02dc-98d6-4655-ad8b-2bea8a4698f5 r/w with ordered data mode. Quota mode: none.
EXT4-fs error (device loop0): trigger_test_error:129: comm bash: 1
Aborting journal on device loop0-8.
EXT4-fs (loop0): Remounting filesystem read-only
"""


def test_modern_ext4_jbd2_name_maps_to_the_loop_device() -> None:
    _, incidents, _ = run(MODERN_EXT4)
    assert len(incidents) == 1
    (incident,) = incidents
    assert incident["filesystem_device"] == "loop0"
    assert incident["filesystem"] == "ext4"
    assert incident["outcome"] == "read_only"
    assert incident["devices"] == ["loop0"]
    assert incident["cause"]["code"] == "injected"


def test_partition_errors_join_the_filesystem_on_the_partition() -> None:
    _, incidents, _ = run("""
        sd 2:0:0:0: [sdb] tag#3 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_SENSE cmd_age=0s
        sd 2:0:0:0: [sdb] tag#3 Sense Key : Medium Error [current]
        sd 2:0:0:0: [sdb] tag#3 Add. Sense: Unrecovered read error
        I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2
        EXT4-fs error (device sdb1): __ext4_get_inode_loc:4391: inode #2: block 1058: comm ls: unable to read itable block
        EXT4-fs (sdb1): Remounting filesystem read-only
    """)
    (incident,) = incidents
    assert incident["filesystem_device"] == "sdb1"
    assert incident["devices"] == ["sdb", "sdb1"]
    assert incident["cause"]["code"] == "medium_error"
    assert incident["counts"]["scsi_sense"] == 2


def test_xfs_log_error_is_a_shutdown() -> None:
    _, incidents, _ = run("""
        XFS (dm-3): metadata I/O error in "xlog_iodone" at daddr 0x1f4f0 len 64 error 5
        XFS (dm-3): xfs_do_force_shutdown(0x2) called from line 1272 of file fs/xfs/xfs_log.c. Return address = ffffffffc04d85b0
        XFS (dm-3): Log I/O Error Detected.  Shutting down filesystem
        XFS (dm-3): Please umount the filesystem and rectify the problem(s)
    """)
    (incident,) = incidents
    assert (incident["filesystem_device"], incident["filesystem"], incident["outcome"]) == (
        "dm-3",
        "xfs",
        "shutdown",
    )


def test_btrfs_forced_readonly() -> None:
    _, incidents, _ = run("""
        BTRFS error (device sdb): bdev /dev/sdb errs: wr 1, rd 0, flush 0, corrupt 0, gen 0
        BTRFS: error (device sdb) in btrfs_commit_transaction:2311: errno=-5 IO failure (Error while writing out transaction)
        BTRFS info (device sdb): forced readonly
    """)
    (incident,) = incidents
    assert (incident["filesystem_device"], incident["filesystem"], incident["outcome"]) == (
        "sdb",
        "btrfs",
        "read_only",
    )


def test_panic_outranks_read_only() -> None:
    _, incidents, _ = run("""
        EXT3-fs error (device sda1): ext3_find_entry: reading directory #2 offset 0
        Kernel panic - not syncing: EXT3-fs (device sda1): panic forced after error
    """)
    assert incidents[0]["outcome"] == "panic"


def test_cdrom_errors_are_a_warning_not_a_read_only_alert() -> None:
    _, incidents, outputs = run("""
        sr 1:0:0:0: [sr0] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_SENSE
        sr 1:0:0:0: [sr0] tag#0 Sense Key : Medium Error [current]
        blk_update_request: I/O error, dev sr0, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0
        Buffer I/O error on dev sr0, logical block 0, async page read
    """)
    assert not changes(outputs, Transition.OUTCOME)
    (incident,) = incidents
    assert incident["outcome"] is None
    assert incident["filesystem_device"] is None
    assert incident["devices"] == ["sr0"]


@pytest.mark.parametrize(
    "text",
    [
        "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
        "EXT4-fs (sda1): re-mounted 427f02dc-98d6-4655-ad8b-2bea8a4698f5 ro. Quota mode: none.",
        "VFS: Mounted root (ext4 filesystem) readonly on device 8:1.",
        "EXT4-fs (sda1): INFO: recovery required on readonly filesystem",
        "EXT4-fs (sda1): mounted filesystem with ordered data mode. Opts: (null)",
        "XFS (sda1): Ending clean mount",
        "BTRFS info (device sdb): disk space caching is enabled",
        "ISO 9660 Extensions: RRIP_1991A",
    ],
)
def test_normal_mount_messages_make_no_incident(text: str) -> None:
    _, incidents, _ = run(text)
    assert incidents == []


def test_errors_continue_makes_a_warning_without_outcome() -> None:
    _, incidents, outputs = run("""
        EXT4-fs error (device loop2): ext4_lookup:1855: inode #2: comm ls: deleted inode referenced: 12
        EXT4-fs error (device loop2): ext4_lookup:1855: inode #2: comm ls: deleted inode referenced: 12
    """)
    assert len(changes(outputs, Transition.OPENED)) == 1
    assert not changes(outputs, Transition.OUTCOME)
    assert incidents[0]["outcome"] is None
    assert incidents[0]["filesystem_device"] == "loop2"


def test_userspace_imitation_is_rejected_and_alerts_nothing() -> None:
    fake = [
        KernelRecord(
            "EXT4-fs (sda1): Remounting filesystem read-only",
            uptime=5.0,
            facility=1,
            trusted=False,
            source=Source.KMSG,
        ),
    ]
    _, incidents, outputs = run(fake)
    assert incidents == []
    assert [type(o) for o in outputs] == [Rejected]


def test_suppressed_callbacks_count_toward_the_next_message() -> None:
    _, incidents, _ = run("""
        blk_update_request: 41 callbacks suppressed
        blk_update_request: I/O error, dev sdc, sector 100
        buffer_io_error: 9 callbacks suppressed
        Buffer I/O error on dev sdc1, logical block 5, lost async page write
    """)
    (incident,) = incidents
    assert incident["counts"]["io_error"] == 42
    assert incident["counts"]["buffer_io_error"] == 10


def test_topology_maps_sector_to_partition_and_dm_to_its_mountpoint() -> None:
    topology = Topology(
        [
            BlockDevice("sda", "disk", "8:0", scsi_address="0:0:0:0"),
            BlockDevice(
                "sda1",
                "part",
                "8:1",
                ["sda"],
                start_sector=2048,
                size_sectors=1_000_000,
                fstype="ext4",
                mountpoints=["/boot"],
            ),
            BlockDevice(
                "sda2", "part", "8:2", ["sda"], start_sector=1_002_048, size_sectors=10_000_000
            ),
            BlockDevice(
                "dm-0",
                "dm",
                "253:0",
                ["sda2"],
                dm_name="vg0-var",
                fstype="ext3",
                mountpoints=["/var"],
            ),
        ]
    )
    engine = Engine(topology)
    _, incidents, outputs = run(
        """
        sd 0:0:0:0: [sda] tag#1 FAILED Result: hostbyte=DID_BUS_BUSY driverbyte=DRIVER_OK
        blk_update_request: I/O error, dev sda, sector 4928181
        Buffer I/O error on dev dm-0, logical block 1573, lost async page write
        Aborting journal on device dm-0-8.
        EXT4-fs error (device dm-0): ext4_journal_check_start:83: comm rs:main Q:Reg: Detected aborted journal
        EXT4-fs (dm-0): Remounting filesystem read-only
    """,
        engine,
    )
    (incident,) = incidents
    assert incident["devices"] == ["sda", "sda2", "dm-0"]
    assert incident["mountpoint"] == "/var"
    assert incident["filesystem"] == "ext3"  # mountinfo's word beats the driver's name
    assert incident["cause"]["code"] == "scsi_path_busy"
    # The SCSI error names only the disk, which holds /boot and /var: a device incident,
    # folded into /var's as soon as an error maps to the partition under it.
    opened = changes(outputs, Transition.OPENED)
    assert [c.snapshot["filesystem_device"] for c in opened] == [None, "dm-0"]
    (merged,) = changes(outputs, Transition.MERGED)
    assert merged.snapshot["merged_into"] == incident["id"]


def test_errors_on_an_unrelated_disk_stay_apart_when_the_stack_is_known() -> None:
    topology = Topology(
        [
            BlockDevice("sda", "disk", "8:0"),
            BlockDevice("sdb", "disk", "8:16"),
            BlockDevice("dm-0", "dm", "253:0", ["sda"], fstype="ext4", mountpoints=["/"]),
        ]
    )
    _, incidents, _ = run(
        """
        blk_update_request: I/O error, dev sdb, sector 8
        EXT4-fs error (device dm-0): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0
        EXT4-fs (dm-0): Remounting filesystem read-only
    """,
        Engine(topology),
    )
    assert sorted((str(i["filesystem_device"]), i["devices"][0]) for i in incidents) == [
        ("None", "sdb"),
        ("dm-0", "dm-0"),
    ]


def test_multipath_path_failure_is_context_for_the_filesystem_above() -> None:
    topology = Topology(
        [
            BlockDevice("sdc", "disk", "8:32"),
            BlockDevice("sdd", "disk", "8:48"),
            BlockDevice(
                "dm-2",
                "dm",
                "253:2",
                ["sdc", "sdd"],
                dm_name="mpatha",
                fstype="xfs",
                mountpoints=["/data"],
            ),
        ]
    )
    _, incidents, outputs = run(
        """
        device-mapper: multipath: 253:2: Failing path 8:32.
        device-mapper: multipath: 253:2: Failing path 8:48.
        XFS (dm-2): metadata I/O error in "xfs_buf_iodone_callbacks" at daddr 0x2 len 1 error 5
        XFS (dm-2): Log I/O Error Detected.  Shutting down filesystem
    """,
        Engine(topology),
    )
    (incident,) = incidents
    assert incident["devices"] == ["sdc", "sdd", "dm-2"]
    assert incident["counts"]["path_failed"] == 2
    assert incident["mountpoint"] == "/data"
    assert incident["outcome"] == "shutdown"
    assert len(changes(outputs, Transition.OPENED)) == 1


def test_path_flap_alone_opens_nothing() -> None:
    _, incidents, _ = run("""
        device-mapper: multipath: Failing path 8:32.
        device-mapper: multipath: Reinstating path 8:32.
    """)
    assert incidents == []


def test_two_filesystems_failing_together_stay_two_incidents() -> None:
    _, incidents, _ = run("""
        blk_update_request: I/O error, dev sda, sector 10
        blk_update_request: I/O error, dev sdb, sector 20
        EXT4-fs (sda1): Remounting filesystem read-only
        EXT4-fs (sdb1): Remounting filesystem read-only
    """)
    assert sorted((i["filesystem_device"], tuple(i["devices"])) for i in incidents) == [
        ("sda1", ("sda", "sda1")),
        ("sdb1", ("sdb", "sdb1")),
    ]


def test_bare_remount_without_any_named_neighbour_still_alerts() -> None:
    _, incidents, outputs = run("Remounting filesystem read-only")
    (incident,) = incidents
    assert incident["outcome"] == "read_only"
    assert incident["filesystem_device"] is None
    assert len(changes(outputs, Transition.OUTCOME)) == 1


def test_hostile_device_names_are_refused() -> None:
    engine, incidents, _ = run("""
        blk_update_request: I/O error, dev ../../etc/passwd, sector 1
        EXT4-fs (..): Remounting filesystem read-only
    """)
    assert engine.stats.invalid_devices == 2
    for incident in incidents:
        assert all(".." not in d and "/" not in d for d in incident["devices"])


def test_evidence_is_bounded_and_counts_stay_exact() -> None:
    flood = [
        KernelRecord(
            f"I/O error, dev sdz, sector {n} op 0x1:(WRITE) flags 0x0", uptime=1.0 + n / 1000
        )
        for n in range(10_000)
    ]
    _, incidents, _ = run(flood)
    (incident,) = incidents
    assert incident["counts"]["io_error"] == 10_000
    assert len(incident["events"]) == 100
    assert incident["events_omitted"] == 9_900
    assert incident["events"][-1]["message"].startswith("I/O error, dev sdz, sector 9999 ")


def test_quiet_warning_closes_but_read_only_stays_until_recovered() -> None:
    engine = Engine(config=EngineConfig(quiet_period=60))
    for record in records("""
        blk_update_request: I/O error, dev sdb, sector 1
        EXT4-fs (sdc1): Remounting filesystem read-only
    """):
        engine.feed(record)
    closed = changes(engine.tick(1000.0), Transition.CLOSED)
    assert [c.snapshot["devices"] for c in closed] == [["sdb"]]
    assert [i.filesystem_device for i in engine.open_incidents()] == ["sdc1"]
    recovered = engine.recovered("sdc1", 1001.0)
    assert [c.transition for c in recovered if isinstance(c, IncidentChange)] == [
        Transition.RECOVERED
    ]
    assert engine.open_incidents() == []


def test_kmsg_device_token_names_the_scsi_disk() -> None:
    record = KernelRecord(
        "sd 3:0:0:0: timing out command, waited 180s",
        uptime=9.0,
        kernel_device="+scsi:3:0:0:0",
        source=Source.KMSG,
    )
    topology = Topology([BlockDevice("sdd", "disk", "8:48", scsi_address="3:0:0:0")])
    _, incidents, _ = run([record], Engine(topology))
    assert incidents[0]["devices"] == ["sdd"]


def test_incident_ids_are_stable_across_replays() -> None:
    first = run(SEED)[1][0]["id"]
    second = run(SEED)[1][0]["id"]
    assert first == second
    assert len(first) == 12


def test_an_observation_reports_read_only_even_with_the_log_lines_lost() -> None:
    from rowatch.engine import Observation
    from rowatch.kinds import Kind

    engine = Engine(
        Topology([BlockDevice("loop3", "loop", "7:3", fstype="ext4", mountpoints=["/mnt/data"])])
    )
    outputs = engine.observe(
        Observation(
            "loop3",
            Kind.READ_ONLY,
            "mountinfo_emergency_ro",
            "mountinfo: /mnt/data rw,relatime - ext4 /dev/loop3 rw,errors=remount-ro,emergency_ro",
            uptime=50.0,
        )
    )
    (outcome,) = changes(outputs, Transition.OUTCOME)
    assert outcome.snapshot["mountpoint"] == "/mnt/data"
    assert outcome.snapshot["outcome"] == "read_only"
    # The log line arriving later adds evidence; the alert is not repeated.
    later = engine.feed(
        KernelRecord("EXT4-fs (loop3): Remounting filesystem read-only", uptime=50.1)
    )
    assert not changes(later, Transition.OUTCOME)


def test_ext4_driver_serving_ext3_reports_ext3() -> None:
    _, incidents, _ = run("""
        EXT4-fs (sdb1): mounting ext3 file system using the ext4 subsystem
        EXT4-fs error (device sdb1): ext4_journal_check_start:83: comm cp: Detected aborted journal
        EXT4-fs (sdb1): Remounting filesystem read-only
    """)
    assert incidents[0]["filesystem"] == "ext3"


def test_old_jbd2_colon_journal_names_map_to_the_device() -> None:
    _, incidents, _ = run("""
        Aborting journal on device dm-3:8.
        EXT4-fs (dm-3): Remounting filesystem read-only
    """)
    (incident,) = incidents
    assert incident["devices"] == ["dm-3"]


def test_ext4_message_rate_limit_counts_against_filesystem_warnings() -> None:
    _, incidents, _ = run("""
        EXT4-fs error (device sdd1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0
        EXT4-fs: 10 callbacks suppressed
        EXT4-fs (sdd1): warning: mounting fs with errors, running e2fsck is recommended
    """)
    assert incidents[0]["counts"]["fs_warning"] == 11


def test_a_new_mount_on_the_same_device_starts_a_new_incident() -> None:
    _, incidents, outputs = run("""
        EXT4-fs (loop0): mounted filesystem 427f02dc-98d6-4655-ad8b-2bea8a4698f5 r/w with ordered data mode. Quota mode: none.
        EXT4-fs error (device loop0): trigger_test_error:129: comm bash: 1
        EXT4-fs (loop0): Remounting filesystem read-only
        EXT4-fs (loop0): unmounting filesystem 427f02dc-98d6-4655-ad8b-2bea8a4698f5.
        XFS (loop0): Mounting V5 Filesystem 547032e4-fd31-4ed4-969b-214be794427f
        XFS (loop0): log I/O error -5
        XFS (loop0): Filesystem has been shut down due to log error (0x2).
    """)
    assert [(i["filesystem"], i["outcome"]) for i in incidents] == [
        ("ext4", "read_only"),
        ("xfs", "shutdown"),
    ]
    (recovered,) = changes(outputs, Transition.RECOVERED)
    assert recovered.snapshot["resolution"] == "unmounted"
    assert len(changes(outputs, Transition.OUTCOME)) == 2


def test_a_fresh_topology_keeps_what_only_the_log_taught() -> None:
    engine = Engine(Topology([BlockDevice("sda", "disk", "8:0")]))
    engine.feed(KernelRecord("sd 0:0:0:0: [sda] 16777216 512-byte logical blocks", uptime=1.0))
    engine.update_topology(Topology([BlockDevice("sdb", "disk", "8:16")]))
    assert engine.topology.by_scsi("0:0:0:0") == "sda"
    assert engine.topology.get("sdb") is not None


def test_usb_stick_pulled_out_is_a_warning_not_a_read_only_alert() -> None:
    _, incidents, outputs = run("""
        usb 1-1: USB disconnect, device number 4
        sd 6:0:0:0: [sdb] tag#0 FAILED Result: hostbyte=DID_NO_CONNECT driverbyte=DRIVER_OK cmd_age=0s
        blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0
        Buffer I/O error on dev sdb1, logical block 0, async page read
        FAT-fs (sdb1): Directory bread(block 32768) failed
    """)
    assert not changes(outputs, Transition.OUTCOME)
    (incident,) = incidents
    assert incident["outcome"] is None
    assert incident["cause"]["code"] == "device_lost"


def test_nvme_controller_timeouts_join_the_filesystem_on_its_namespace() -> None:
    _, incidents, _ = run("""
        nvme nvme1: I/O 388 QID 2 timeout, aborting
        nvme nvme1: I/O 388 QID 2 timeout, reset controller
        BTRFS error (device nvme1n1p2): bdev /dev/nvme1n1p2 errs: wr 1, rd 0, flush 0, corrupt 0, gen 0
        BTRFS info (device nvme1n1p2): forced readonly
    """)
    (incident,) = incidents
    assert incident["devices"] == ["nvme1", "nvme1n1p2"]
    assert incident["cause"]["code"] == "nvme"


# ---------------------------------------------------------------- correlation edge cases
def dmesg(text: str) -> list[KernelRecord]:
    """Records from ``[ secs] message`` lines: the time matters in these stories."""
    out = []
    for line in text.strip().splitlines():
        stamp, _, message = line.strip().partition("] ")
        out.append(KernelRecord(message, uptime=float(stamp.lstrip("[ "))))
    return out


def test_a_disk_failing_after_the_outcome_is_another_story() -> None:
    # dm-0's checksum error made it read-only at t=100; a USB stick pulled at t=150 is
    # not its cause, although no topology says where dm-0 sits.
    _, incidents, _ = run(
        dmesg("""
        [ 100.0000] EXT4-fs error (device dm-0): ext4_find_entry:1455: inode #2: comm ls: checksumming directory block 0
        [ 100.0001] Aborting journal on device dm-0-8.
        [ 100.0002] EXT4-fs (dm-0): Remounting filesystem read-only
        [ 150.0001] sd 6:0:0:0: [sdz] tag#0 FAILED Result: hostbyte=DID_NO_CONNECT driverbyte=DRIVER_OK cmd_age=0s
        [ 150.0002] I/O error, dev sdz, sector 0 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2
    """)
    )
    by_device = {i["filesystem_device"] or i["devices"][-1]: i for i in incidents}
    assert by_device["dm-0"]["devices"] == ["dm-0"]
    assert by_device["dm-0"]["cause"]["code"] == "fs_error"
    assert by_device["sdz"]["outcome"] is None


def test_late_errors_on_another_disk_do_not_join_a_settled_filesystem() -> None:
    _, incidents, _ = run(
        dmesg("""
        [ 100.0000] BTRFS error (device sdb): bdev /dev/sdc errs: wr 1, rd 0, flush 0, corrupt 0, gen 0
        [ 100.0002] BTRFS: error (device sdb) in btrfs_commit_transaction:2400: errno=-5 IO failure
        [ 100.0003] BTRFS info (device sdb): forced readonly
        [ 200.0000] blk_update_request: I/O error, dev sdx, sector 99
    """)
    )
    (settled,) = [i for i in incidents if i["filesystem_device"] == "sdb"]
    assert settled["devices"] == ["sdc", "sdb"]  # its own member, not the later disk


def test_device_errors_just_before_an_unknown_stack_still_explain_it() -> None:
    # The classic case the guess exists for, with the clock: sda errors, then dm-0 fails.
    _, incidents, _ = run(
        dmesg("""
        [  99.0000] sd 0:0:0:0: [sda] tag#1 FAILED Result: hostbyte=DID_BUS_BUSY driverbyte=DRIVER_OK cmd_age=30s
        [ 100.0000] Buffer I/O error on dev dm-0, logical block 1000, lost async page write
        [ 100.0001] Aborting journal on device dm-0-8.
        [ 100.0002] EXT4-fs (dm-0): Remounting filesystem read-only
    """)
    )
    (incident,) = incidents
    assert incident["devices"] == ["sda", "dm-0"]
    assert incident["cause"]["code"] == "scsi_path_busy"


def test_a_refused_device_name_never_borrows_a_neighbours() -> None:
    engine, incidents, _ = run("""
        EXT4-fs (../../etc): Remounting filesystem read-only
        EXT4-fs (sdz1): Remounting filesystem read-only
    """)
    assert engine.stats.invalid_devices == 1
    unnamed = [i for i in incidents if i["filesystem_device"] is None]
    named = [i for i in incidents if i["filesystem_device"] == "sdz1"]
    assert len(unnamed) == 1 and unnamed[0]["outcome"] == "read_only"
    assert [e["message"] for e in named[0]["events"]] == [
        "EXT4-fs (sdz1): Remounting filesystem read-only"
    ]


def test_btrfs_member_named_by_its_mapper_path() -> None:
    line = "BTRFS error (device dm-0): bdev /dev/mapper/root_1 errs: wr 0, rd 3535, flush 0, corrupt 0, gen 0"
    _, incidents, _ = run(line)
    (incident,) = incidents
    assert incident["filesystem_device"] == "dm-0"  # the filesystem stands for the member
    topology = Topology(
        [
            BlockDevice("sdb", maj_min="8:16"),
            BlockDevice("dm-3", type="dm", parents=["sdb"], dm_name="root_1"),
            BlockDevice("dm-0", type="dm", parents=["dm-3"], fstype="btrfs"),
        ]
    )
    _, incidents, _ = run(line, Engine(topology))
    (incident,) = incidents
    assert incident["events"][0]["device"] == "dm-3"
    assert incident["filesystem_device"] == "dm-0"


def test_a_suppressed_count_belongs_only_to_the_line_right_after_it() -> None:
    engine, incidents, _ = run(
        dmesg("""
        [   10.0] blk_update_request: I/O error, dev sr0, sector 0
        [   11.0] blk_update_request: 500 callbacks suppressed
        [ 9000.0] blk_update_request: I/O error, dev sdb, sector 2048
    """)
    )
    counts = {i["devices"][-1]: i["counts"]["io_error"] for i in incidents}
    assert counts == {"sr0": 1, "sdb": 1}
    assert engine.stats.suppressed_unattributed == 500


def test_the_old_any_caller_rate_limits_count_for_the_next_line() -> None:
    _, incidents, _ = run(
        dmesg("""
        [ 505.000008] __ratelimit: 15 callbacks suppressed
        [ 505.000009] end_request: I/O error, dev sdc, sector 400
        [ 505.000010] printk: 21 messages suppressed.
        [ 505.000011] Buffer I/O error on device sdc1, logical block 12
    """)
    )
    (incident,) = incidents
    assert incident["counts"] == {"io_error": 16, "buffer_io_error": 22}


def test_2_6_scsi_error_under_a_partition_gives_the_cause() -> None:
    story = """
        SCSI error : <0 0 1 0> return code = 0x20008
        end_request: I/O error, dev sdb, sector 324337614
        Buffer I/O error on device sdb2, logical block 3899
        Aborting journal on device sdb2.
        EXT3-fs error (device sdb2): ext3_journal_start_sb: Detected aborted journal
        Remounting filesystem read-only
    """
    _, incidents, _ = run(story)
    (incident,) = incidents
    assert incident["devices"] == ["0:0:1:0", "sdb", "sdb2"]
    assert incident["cause"]["code"] == "scsi_path_busy"
    # With the boot log's attach line the address is the disk itself.
    _, incidents, _ = run("sd 0:0:1:0: Attached scsi disk sdb\n" + story)
    (incident,) = incidents
    assert incident["devices"] == ["sdb", "sdb2"]
    _, incidents, _ = run("Attached scsi disk sdb at scsi0, channel 0, id 1, lun 0\n" + story)
    assert incidents[0]["devices"] == ["sdb", "sdb2"]


def test_an_errors_on_one_partition_never_take_in_another_disk() -> None:
    # sdb2 sits on sdb (its name says so): errors on sdz cannot be under it.
    _, incidents, _ = run("""
        blk_update_request: I/O error, dev sdz, sector 8
        EXT4-fs error (device sdb2): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0
        EXT4-fs (sdb2): Remounting filesystem read-only
    """)
    (fs,) = [i for i in incidents if i["filesystem_device"] == "sdb2"]
    assert "sdz" not in fs["devices"]


def test_unit_attention_after_a_resize_is_no_incident() -> None:
    _, incidents, _ = run("""
        sd 0:0:0:0: [storvsc] Sense Key : Unit Attention [current]
        sd 0:0:0:0: [storvsc] Add. Sense: Changed operating definition
    """)
    assert incidents == []


def test_a_driver_name_in_brackets_is_not_a_disk() -> None:
    _, incidents, _ = run("""
        sd 0:0:0:0: [storvsc] Sense Key : Medium Error [current]
    """)
    (incident,) = incidents
    assert incident["devices"] == ["0:0:0:0"]


def test_driver_timeout_return_code_is_path_trouble() -> None:
    _, incidents, _ = run("""
        SCSI error : <0 0 1 0> return code = 0x6000000
        end_request: I/O error, dev sdb, sector 1234
        Aborting journal on device dm-0.
        EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted journal
        Remounting filesystem read-only
    """)
    (incident,) = incidents
    first = incident["events"][0]
    assert first["details"]["code"] == "0x6000000"
    assert first["details"]["driverbyte"] == "DRIVER_TIMEOUT"
    assert incident["cause"]["code"] == "scsi_path_busy"


@pytest.mark.parametrize(
    "story",
    [
        "BTRFS: error (device sdb1) in btrfs_commit_transaction:2400: errno=-5 IO failure\n"
        "BTRFS info (device sdb1): forced readonly",
        "XFS (sdc): log I/O error -5\nXFS (sdc): Log I/O Error (0x2) detected at "
        "xlog_ioend_work+0x6e/0x70 [xfs] (fs/xfs/xfs_log.c:1289).  Shutting down filesystem.",
        "EXT4-fs (sdd1): I/O error while writing superblock\n"
        "EXT4-fs (sdd1): Remounting filesystem read-only",
    ],
)
def test_io_errors_the_filesystem_reports_are_io_errors(story: str) -> None:
    _, incidents, _ = run(story)
    (incident,) = incidents
    assert incident["cause"]["code"] == "io_error"


def test_a_bare_remount_with_nothing_before_it_is_reported_by_that_line() -> None:
    engine = Engine()
    (record,) = records("Remounting filesystem read-only")
    outputs = engine.feed(record)
    assert [c.snapshot["outcome"] for c in changes(outputs, Transition.OUTCOME)] == ["read_only"]


def test_an_unresolved_multipath_alias_sits_under_the_filesystem() -> None:
    _, incidents, _ = run(
        [
            KernelRecord("device-mapper: multipath: Failing path 8:32.", uptime=100.0),
            KernelRecord("mpatha: remaining active paths: 0", uptime=101.0, program="multipathd"),
            KernelRecord(
                "Buffer I/O error on dev dm-2, logical block 1000, lost async page write",
                uptime=102.0,
            ),
            KernelRecord("Aborting journal on device dm-2-8.", uptime=102.0),
            KernelRecord("EXT4-fs (dm-2): Remounting filesystem read-only", uptime=102.0),
        ]
    )
    (incident,) = incidents
    assert incident["devices"][-2:] == ["mpatha", "dm-2"]
    assert incident["devices"].index("8:32") < incident["devices"].index("mpatha")


def test_a_multipathd_line_someone_else_logged_is_rejected() -> None:
    from rowatch.formats.journal import journal_record

    entry = {
        "MESSAGE": "mpatha: remaining active paths: 0",
        "_TRANSPORT": "syslog",
        "SYSLOG_IDENTIFIER": "multipathd",
        "__REALTIME_TIMESTAMP": "1795597272123456",
    }
    forged = journal_record({**entry, "_COMM": "logger", "_UID": "1000"})
    renamed = journal_record({**entry, "_COMM": "multipathd", "_UID": "1000"})
    real = journal_record({**entry, "_COMM": "multipathd", "_UID": "0"})
    assert forged is not None and renamed is not None and real is not None
    assert not forged.trusted and not renamed.trusted and real.trusted
    _, incidents, outputs = run([forged])
    assert incidents == [] and [type(o) for o in outputs] == [Rejected]
    _, incidents, _ = run([real])
    assert [i["cause"]["code"] for i in incidents] == ["no_paths"]


def test_without_history_an_ended_incident_is_forgotten() -> None:
    """The daemon runs for months: what ended must not stay in memory."""
    engine = Engine(None, EngineConfig(quiet_period=10.0), history=False)
    for hour in range(50):
        base = hour * 3600.0
        for record in records(
            f"blk_update_request: I/O error, dev sdz, sector {hour}\n"
            "EXT4-fs (sdz1): Remounting filesystem read-only",
            start=base,
        ):
            engine.feed(record)
        engine.recovered("sdz1", base + 1)
        engine.tick(base + 100)  # the disk's own warning goes quiet and closes
    assert len(engine._by_id) <= 2 and len(engine._reported) <= 2
    assert engine.stats.incidents >= 50
    kept = Engine()  # replay keeps them all
    for record in records("EXT4-fs (sdz1): Remounting filesystem read-only"):
        kept.feed(record)
    kept.recovered("sdz1")
    assert len(kept.incidents) == 1
