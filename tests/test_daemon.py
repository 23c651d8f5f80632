"""``rowatch run`` on this machine's real kernel: the daemon as systemd would run it.

Every test here makes a filesystem fail for real (trigger_fs_error, a FUSE image that
returns EIO) while the daemon watches, and reads what the daemon logged (JSON) and told
systemd (a notify socket). Root only; CI runs as root.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kernel_scenarios as ks
from daemon_harness import Daemon, config_text, running_daemon
from journald import standalone_journald

pytestmark = pytest.mark.root


def read_only_for(
    daemon: Daemon, fs: ks.LoopFilesystem, timeout: float = 10.0, since: float = 0.0
) -> dict[str, object]:
    """The read-only incident of ``fs``, logged after ``since`` (time.monotonic())."""
    return daemon.wait_for(
        lambda e: (
            e.get("event") == "incident_read_only"
            and e["_received"] >= since
            and e.get("filesystem_device") == fs.loop
            and e.get("mountpoint") == str(fs.mountpoint)
        ),
        timeout,
        what=f"incident_read_only for {fs.loop} at {fs.mountpoint}",
    )


def test_trigger_fs_error_is_reported_within_a_second(tmp_path: Path) -> None:
    with (
        ks.loop_filesystem("ext4") as fs,
        running_daemon(tmp_path, config_text(tmp_path)) as daemon,
    ):
        started = time.monotonic()
        ks.trigger_ext4_error(fs)
        event = read_only_for(daemon, fs)
        assert float(event["_received"]) - started < 1.0  # type: ignore[arg-type]
        assert event["outcome"] == "read_only"
        assert event["filesystem"] == "ext4"
        assert event["cause_code"] == "injected"
        assert any("Remounting filesystem read-only" in line for line in event["evidence"])  # type: ignore[union-attr]
        # The alert went out once, and systemd was told.
        daemon.wait_for(
            lambda e: (
                e.get("event") == "alert_sent" and e.get("incident_id") == event["incident_id"]
            ),
            5.0,
            what="alert",
        )
        sent = daemon.named("alert_sent", incident_id=event["incident_id"], outcome="read_only")
        assert len(sent) == 1
        assert any(n.startswith("STATUS=") and "1 open incident" in n for n in daemon.notifications)
        status = subprocess.run(
            [sys.executable, "-m", "rowatch", "status", "--config", str(daemon.config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 1, status.stderr  # incidents are open
        assert f"{fs.mountpoint} ({fs.loop}, ext4) remounted read-only" in status.stdout
    assert daemon.process.returncode == 0
    assert "STOPPING=1" in daemon.notifications


def test_fuse_eio_under_ext4_is_reported_with_its_io_errors(tmp_path: Path) -> None:
    with (
        ks.loop_filesystem("ext4", fuse=True) as fs,
        running_daemon(tmp_path, config_text(tmp_path)) as daemon,
    ):
        ks.fuse_eio_failure(fs, mode="fail-write")
        event = read_only_for(daemon, fs)
        assert event["cause_code"] == "loop_backing"
        counts = event["counts"]
        assert isinstance(counts, dict)
        assert counts.get("io_error", 0) + counts.get("buffer_io_error", 0) > 0


def journal_only_config(tmp_path: Path, directory: str) -> str:
    """The journal source and nothing else that could see a failure: no periodic mount check
    (interval 0), no fanotify. What is reported came through journald."""
    return config_text(
        tmp_path,
        source="journal",
        extra=f'journal_directory = "{directory}"',
        interval="0",
        fanotify=False,
    )


def test_journal_source_reports_the_same(tmp_path: Path) -> None:
    with standalone_journald(tmp_path) as journald, ks.loop_filesystem("ext4") as fs:
        directory = getattr(journald, "directory", None)
        assert directory is not None, "tests/journald.py must say where the journal is"
        with running_daemon(tmp_path, journal_only_config(tmp_path, directory)) as daemon:
            started = time.monotonic()
            ks.trigger_ext4_error(fs)
            event = read_only_for(daemon, fs)
            assert float(event["_received"]) - started < 1.0  # type: ignore[arg-type]
            assert event["outcome"] == "read_only"
            evidence = event["evidence"]
            assert isinstance(evidence, list)
            assert f"EXT4-fs ({fs.loop}): Remounting filesystem read-only" in evidence


def test_journal_source_reports_fuse_eio_too(tmp_path: Path) -> None:
    with standalone_journald(tmp_path) as journald, ks.loop_filesystem("ext4", fuse=True) as fs:
        directory = getattr(journald, "directory", None)
        assert directory is not None
        with running_daemon(tmp_path, journal_only_config(tmp_path, directory)) as daemon:
            ks.fuse_eio_failure(fs, mode="fail-write")
            event = read_only_for(daemon, fs)
            assert event["counts"].get("io_error", 0) >= 1  # type: ignore[union-attr]
            assert event["cause_code"] in ("loop_backing", "io_error")


def test_userspace_imitation_alerts_nothing(tmp_path: Path) -> None:
    with running_daemon(tmp_path, config_text(tmp_path)) as daemon:
        ks.write_kmsg("EXT4-fs (sdz9): Remounting filesystem read-only", priority=2)
        ks.write_kmsg("Remounting filesystem read-only", priority=0)
        rejected = daemon.wait_for(
            lambda e: e.get("event") == "untrusted_record_rejected",
            5.0,
            what="untrusted_record_rejected",
        )
        assert rejected["facility"] != 0
        time.sleep(0.5)
        # Only what the fakes would have made counts: other tests on this machine may make
        # real filesystems fail meanwhile.
        for name in ("incident_opened", "incident_read_only", "alert_sent"):
            fakes = [e for e in daemon.named(name) if e.get("filesystem_device") in (None, "sdz9")]
            assert fakes == [], name


def test_restart_in_the_middle_alerts_nothing_twice(tmp_path: Path) -> None:
    with ks.loop_filesystem("ext4") as fs:
        config = config_text(tmp_path, backlog=True)

        def alerted(e: dict[str, object]) -> bool:
            return (
                e.get("filesystem_device") == fs.loop
                and e.get("outcome") == "read_only"
                and e.get("mountpoint") == str(fs.mountpoint)
            )

        with running_daemon(tmp_path, config) as first:
            ks.trigger_ext4_error(fs)
            first.wait_for(
                lambda e: e.get("event") == "alert_sent" and alerted(e),
                10.0,
                what="the read-only alert",
            )
        # The restarted daemon reads the same records from the ring buffer again (with the
        # earlier loop devices of this boot, which their unmounts ended: never alerted).
        with running_daemon(tmp_path, config) as second:
            second.wait_for(
                lambda e: e.get("event") == "alert_skipped" and alerted(e),
                10.0,
                what="alert_skipped for the incident alerted before the restart",
            )
            time.sleep(0.3)
            assert [e for e in second.named("alert_sent") if alerted(e)] == []


def test_emergency_ro_present_at_start_is_reported_without_log_lines(tmp_path: Path) -> None:
    with ks.loop_filesystem("ext4") as fs:
        ks.trigger_ext4_error(fs)  # before the daemon: with backlog off it never reads the lines
        with running_daemon(tmp_path, config_text(tmp_path, backlog=False)) as daemon:
            event = read_only_for(daemon, fs, timeout=5.0)
            evidence = " ".join(event["evidence"])  # type: ignore[arg-type]
            assert "emergency_ro" in evidence
            assert "Remounting" not in evidence


def test_read_only_by_configuration_is_not_an_incident(tmp_path: Path) -> None:
    with (
        ks.loop_filesystem("ext4", options="ro") as fs,
        running_daemon(tmp_path, config_text(tmp_path)) as daemon,
    ):
        time.sleep(2.5)  # two reconciler rounds
        assert daemon.named("incident_opened", filesystem_device=fs.loop) == []
        assert daemon.named("incident_read_only", filesystem_device=fs.loop) == []


def test_reload_refuses_a_broken_config_and_keeps_running(tmp_path: Path) -> None:
    with (
        ks.loop_filesystem("ext4") as fs,
        running_daemon(tmp_path, config_text(tmp_path)) as daemon,
    ):
        good = daemon.config_path.read_text()
        daemon.config_path.write_text(good.replace('type = "kmsg"', 'type = "kmesg"'))
        daemon.signal(signal.SIGHUP)
        refused = daemon.wait_for(
            lambda e: e.get("event") == "config_reload_refused", 5.0, what="config_reload_refused"
        )
        assert "kmesg" in json.dumps(refused)
        assert "RELOADING=1" in daemon.notifications
        daemon.config_path.write_text(good.replace('interval = "1s"', 'interval = "2s"'))
        daemon.signal(signal.SIGHUP)
        reloaded = daemon.wait_for(
            lambda e: e.get("event") == "config_reloaded", 5.0, what="config_reloaded"
        )
        assert reloaded["changed"] == ["reconciler.interval"]
        ks.trigger_ext4_error(fs)  # still watching after both reloads
        read_only_for(daemon, fs)
    assert daemon.process.returncode == 0


def test_broken_config_at_start_exits_with_ex_config(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[source]\ntype = "kmesg"\n')
    result = subprocess.run(
        [sys.executable, "-m", "rowatch", "run", "--config", str(tmp_path / "bad.toml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 78
    assert "source.type" in result.stdout + result.stderr


def test_reconciler_sees_the_hosts_mount_flags_from_inside_a_sandbox(tmp_path: Path) -> None:
    """Under ProtectSystem=strict the service's own mount table shows every mount read-only
    per mount, so a superblock the kernel made read-only (btrfs forced read-only; ext4 before
    6.12) would look read-only by configuration there. The reconciler reads PID 1's table."""
    ks.require("btrfs", "fuse")
    with ks.loop_filesystem("btrfs", "", fuse=True) as fs:
        ks.fuse_eio_failure(fs)  # before the daemon: with backlog off it never reads the lines
        assert fs.fuse is not None
        fs.fuse.heal()
        # What systemd does to the service: a private mount namespace, mounts read-only.
        sandbox = (
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -o remount,bind,ro "$0" && exec "$@"',
            str(fs.mountpoint),
        )
        with running_daemon(
            tmp_path, config_text(tmp_path, backlog=False), wrapper=sandbox
        ) as daemon:
            event = read_only_for(daemon, fs, timeout=5.0)
            evidence = " ".join(event["evidence"])  # type: ignore[arg-type]
            assert "forced readonly" not in evidence  # the mount table said it, not the log
            own = Path(f"/proc/{daemon.process.pid}/mountinfo").read_text()
            (line,) = [x for x in own.splitlines() if f" {fs.mountpoint} " in x]
            assert line.split()[5].startswith("ro")  # the daemon's own view: ro per mount


def test_reload_says_what_waits_for_a_restart_and_refuses_what_run_would(tmp_path: Path) -> None:
    with running_daemon(tmp_path, config_text(tmp_path)) as daemon:
        good = daemon.config_path.read_text()
        daemon.config_path.write_text(good + '[[webhook]]\nurl = "http://127.0.0.1:9/hook"\n')
        daemon.signal(signal.SIGHUP)
        warned = daemon.wait_for(
            lambda e: e.get("event") == "config_reloaded" and "restart_needed" in e,
            5.0,
            what="config_reloaded with restart_needed",
        )
        assert warned["restart_needed"] == ["webhook"]
        secret = tmp_path / "empty-secret"
        secret.write_text("")
        secret.chmod(0o600)
        daemon.config_path.write_text(
            good + f'[[webhook]]\nurl = "http://127.0.0.1:9/hook"\nsecret_file = "{secret}"\n'
        )
        daemon.signal(signal.SIGHUP)
        refused = daemon.wait_for(
            lambda e: e.get("event") == "config_reload_refused", 5.0, what="refused"
        )
        assert "empty" in json.dumps(refused["errors"])
        assert daemon.notifications.count("READY=1") >= 3  # after start and each reload


def test_watchdog_pings_while_the_daemon_runs(tmp_path: Path) -> None:
    """WatchdogSec= in the unit: systemd sets WATCHDOG_USEC; the daemon pings at half of it."""
    env = {"WATCHDOG_USEC": "400000", "WATCHDOG_PID": ""}
    daemon = Daemon(tmp_path, config_text(tmp_path), env=env)
    try:
        daemon.wait_ready()
        time.sleep(1.5)
        pings = daemon.notifications.count("WATCHDOG=1")
        assert pings >= 4, daemon.notifications  # every 0.2 s
    finally:
        daemon.stop()


def test_a_topology_snapshot_makes_replay_name_the_mountpoint(tmp_path: Path) -> None:
    """`rowatch topology --json` on this machine, then `rowatch replay --topology` of the log
    the kernel printed: the customer-support round trip."""
    with ks.loop_filesystem("ext4") as fs:
        ks.trigger_ext4_error(fs)
        snapshot = subprocess.run(
            [sys.executable, "-m", "rowatch", "topology", "--json"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        (tmp_path / "topology.json").write_text(snapshot)
        log = tmp_path / "kmsg"
        log.write_bytes(b"".join(fs.capture()))
    replayed = subprocess.run(
        [sys.executable, "-m", "rowatch", "replay", "--json", "--topology",
         str(tmp_path / "topology.json"), str(log)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    incidents = [json.loads(line) for line in replayed.splitlines()]
    ours = [i for i in incidents if i["filesystem_device"] == fs.loop and i["outcome"]]
    assert ours, incidents
    assert ours[-1]["mountpoint"] == str(fs.mountpoint)
    assert ours[-1]["outcome"] == "read_only"


def test_a_reload_keeps_what_waits_for_a_restart() -> None:
    """What the reload warns about (restart_needed) is exactly what it keeps as it was."""
    from rowatch.config import loads_config
    from rowatch.daemon import _keep_restart_only

    old = loads_config('[source]\ntype = "kmsg"\n[alerts]\noutbox_max = 10\n')
    new = loads_config(
        '[source]\ntype = "journal"\n[alerts]\noutbox_max = 20\nupdate_interval = "5m"\n'
        '[reconciler]\nfanotify = false\ninterval = "5s"\n'
    )
    kept = _keep_restart_only(old, new)
    assert kept.source == old.source
    assert kept.alerts.outbox_max == 10 and kept.alerts.update_interval == 300
    assert kept.reconciler.fanotify is True and kept.reconciler.interval == 5
