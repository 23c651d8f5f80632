"""Alerts by e-mail from the running daemon, to a real SMTP server on loopback.

The filesystem fails for real (trigger_fs_error); the relay is aiosmtpd. Root only.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import kernel_scenarios as ks
from daemon_harness import Daemon, config_text, running_daemon
from rowatch.records import KernelRecord
from rowatch.records import Source as RecordSource

pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the [test] extra")
from smtp_server import Behaviour, SmtpTestServer

pytestmark = pytest.mark.root

MAIL = ("--mail-to", "oncall@example.test", "--mail-from", "rowatch@example.test")


def read_only_mails(server: SmtpTestServer, fs: ks.LoopFilesystem) -> list[object]:
    return [
        r
        for r in server.received
        if "remounted read-only" in str(r.message["Subject"])
        and str(fs.mountpoint) in str(r.message["Subject"])
    ]


def wait_for_mails(
    server: SmtpTestServer, fs: ks.LoopFilesystem, timeout: float = 15.0
) -> list[object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read_only_mails(server, fs)
        if found:
            time.sleep(0.5)  # a duplicate would come right behind
            return read_only_mails(server, fs)
        time.sleep(0.05)
    raise AssertionError(f"no read-only mail; server got {len(server.received)} messages")


def test_read_only_alert_arrives_once_with_evidence_and_cause(tmp_path: Path) -> None:
    with (
        SmtpTestServer() as server,
        ks.loop_filesystem("ext4") as fs,
        running_daemon(tmp_path, config_text(tmp_path), "--smtp", server.url(), *MAIL),
    ):
        ks.trigger_ext4_error(fs)
        (mail,) = wait_for_mails(server, fs)
        message = mail.message  # type: ignore[attr-defined]
        body = message.get_body(("plain",)).get_content()
        assert f"({fs.loop}, ext4) remounted read-only" in message["Subject"]
        assert "\n" not in message["Subject"]
        assert message["Message-ID"]
        assert "Remounting filesystem read-only" in body
        assert "trigger_fs_error" in body  # the decoded cause
        assert mail.rcpt_tos == ["oncall@example.test"]  # type: ignore[attr-defined]


def test_relay_down_and_daemon_restarted_alert_arrives_once_when_it_is_back(tmp_path: Path) -> None:
    server = SmtpTestServer()  # its port is chosen, but nothing listens yet
    config = config_text(tmp_path, backlog=True)
    with ks.loop_filesystem("ext4") as fs:
        with running_daemon(tmp_path, config, "--smtp", server.url(), *MAIL) as first:
            ks.trigger_ext4_error(fs)
            first.wait_for(
                lambda e: e.get("event") == "alert_failed",
                10.0,
                what="alert_failed while the relay is down",
            )
        # The restarted daemon sends what its outbox kept, and reads the same kernel
        # records again without making a second alert of them.
        with server, running_daemon(tmp_path, config, "--smtp", server.url(), *MAIL):
            mails = wait_for_mails(server, fs, timeout=20.0)
            time.sleep(1.0)
            assert len(read_only_mails(server, fs)) == len(mails) == 1


def test_alert_arrives_when_the_state_directory_is_the_filesystem_that_failed(
    tmp_path: Path,
) -> None:
    with SmtpTestServer() as server, ks.loop_filesystem("ext4") as fs:
        state = fs.mountpoint / "rowatch-state"
        config = (
            f'[source]\nbacklog = false\n[state]\ndirectory = "{state}"\n'
            f'runtime_directory = "{tmp_path}/run"\n[reconciler]\ninterval = "1s"\n'
        )
        with running_daemon(tmp_path, config, "--smtp", server.url(), *MAIL) as daemon:
            ks.trigger_ext4_error(fs)
            assert len(wait_for_mails(server, fs)) == 1
            assert fs.write_errno() is not None  # the state directory is read-only for real
            daemon.wait_for(
                lambda e: e.get("event") in ("outbox_fallback", "state_fallback"),
                5.0,
                what="a fallback from the read-only state directory",
            )


def test_alertmanager_gets_the_read_only_alert_with_its_labels(tmp_path: Path) -> None:
    from alertmanager import running_alertmanager

    with running_alertmanager(tmp_path / "am") as manager, ks.loop_filesystem("ext4") as fs:
        config = config_text(tmp_path) + (
            f'[alertmanager]\nurls = ["{manager.url}"]\nrepost_interval = "1s"\n'
        )
        with running_daemon(tmp_path, config):
            ks.trigger_ext4_error(fs)
            deadline = time.monotonic() + 15
            found: list[dict[str, object]] = []
            while time.monotonic() < deadline and not found:
                found = manager.alerts(
                    alertname="FilesystemReadOnly", device=fs.loop, mountpoint=str(fs.mountpoint)
                )
                time.sleep(0.2)
            (alert,) = found
            labels = alert["labels"]
            assert isinstance(labels, dict)
            assert labels["severity"] == "critical"
            assert labels["filesystem"] == "ext4"


def stored_pages(state: Path) -> list[str]:
    return sorted(p.name for p in (state / "outbox" / "email").glob("*-read_only.json"))


def test_killed_while_sending_loses_no_alert_and_repeats_no_stored_one(tmp_path: Path) -> None:
    """SIGKILL while the relay sits on one page: the page that came meanwhile was stored at
    once (not only in memory, though marked alerted), so the next start sends both, once."""
    config = config_text(tmp_path, backlog=True)
    slow = SmtpTestServer(Behaviour(data_delay=120))
    fast = SmtpTestServer()
    with slow, fast, ks.loop_filesystem("ext4") as fs1, ks.loop_filesystem("ext4") as fs2:
        first = Daemon(tmp_path, config, extra_args=("--smtp", slow.url(), *MAIL))
        try:
            first.wait_ready()
            ks.trigger_ext4_error(fs1)
            deadline = time.monotonic() + 10
            while slow.transactions < 1 and time.monotonic() < deadline:
                time.sleep(0.02)  # the first page is in DATA, waiting on the relay
            assert slow.transactions == 1
            ks.trigger_ext4_error(fs2)
            while len(stored_pages(tmp_path / "state")) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(stored_pages(tmp_path / "state")) == 2
            first.process.kill()
        finally:
            first.stop()
        with running_daemon(tmp_path, config, "--smtp", fast.url(), *MAIL):
            wait_for_mails(fast, fs1, timeout=20.0)
            wait_for_mails(fast, fs2, timeout=20.0)
            time.sleep(1.0)
            assert len(read_only_mails(fast, fs1)) == 1
            assert len(read_only_mails(fast, fs2)) == 1


def test_a_warning_held_back_at_shutdown_is_sent_before_the_exit(tmp_path: Path) -> None:
    with (
        SmtpTestServer() as server,
        ks.loop_filesystem("ext4", "errors=continue") as fs,
        running_daemon(tmp_path, config_text(tmp_path), "--smtp", server.url(), *MAIL) as daemon,
    ):
        ks.trigger_ext4_error(fs)
        daemon.wait_for(lambda e: e.get("event") == "incident_opened", 5.0, what="opened")
        assert daemon.stop() == 0  # within alerts.opened_delay (2 s): still held
        subjects = [str(r.message["Subject"]) for r in server.received]
        assert any(fs.loop in s and "still writable" in s for s in subjects), subjects


def test_a_second_warning_on_the_same_device_is_alerted_too(tmp_path: Path) -> None:
    config = config_text(tmp_path, extra='[engine]\nquiet_period = "2s"\n')
    with (
        SmtpTestServer() as server,
        ks.loop_filesystem("ext4", "errors=continue") as fs,
        running_daemon(tmp_path, config, "--smtp", server.url(), *MAIL) as daemon,
    ):
        ks.trigger_ext4_error(fs)
        daemon.wait_for(
            lambda e: e.get("event") == "incident_closed" and e.get("filesystem_device") == fs.loop,
            15.0,
            what="the first warning closing",
        )
        ks.trigger_ext4_error(fs)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            warnings = [r for r in server.received if fs.loop in str(r.message["Subject"])]
            if len(warnings) >= 2:
                break
            time.sleep(0.1)
        assert len(warnings) == 2, [str(r.message["Subject"]) for r in server.received]
        assert daemon.named("alert_skipped") == []


def test_a_state_disk_that_stops_answering_does_not_hold_back_the_page(tmp_path: Path) -> None:
    """The state directory's disk hangs (its FUSE server stopped, as a SCSI device in error
    handling would): the daemon's loop never waits on it, so the page still goes out."""
    with (
        SmtpTestServer() as server,
        ks.loop_filesystem("ext4", "errors=remount-ro", fuse=True) as state_fs,
        ks.loop_filesystem("ext4") as fs,
    ):
        assert state_fs.fuse is not None
        config = (
            f'[source]\nbacklog = false\n[state]\ndirectory = "{state_fs.mountpoint}/state"\n'
            f'runtime_directory = "{tmp_path}/run"\n[reconciler]\ninterval = "1s"\n'
        )
        with running_daemon(tmp_path, config, "--smtp", server.url(), *MAIL) as daemon:
            os.kill(state_fs.fuse.process.pid, signal.SIGSTOP)
            try:
                began = time.monotonic()
                ks.trigger_ext4_error(fs)
                wait_for_mails(server, fs, timeout=20.0)
                assert time.monotonic() - began < 12.0  # two io timeouts of 5 s at most
                daemon.wait_for(
                    lambda e: e.get("event") == "state_fallback", 10.0, what="state_fallback"
                )
            finally:
                os.kill(state_fs.fuse.process.pid, signal.SIGCONT)


def test_a_restart_keeps_the_same_alertmanager_alert_firing(tmp_path: Path) -> None:
    """The log since boot is read before the mount table, so the incident keeps its id, and
    the alert its labels: Alertmanager sees one alert firing throughout, not a resolved one
    and a new one."""
    from alertmanager import running_alertmanager

    with running_alertmanager(tmp_path / "am") as manager, ks.loop_filesystem("ext4") as fs:
        config = config_text(tmp_path, backlog=True) + (
            f'[alertmanager]\nurls = ["{manager.url}"]\nrepost_interval = "1s"\n'
        )
        labels = {"alertname": "FilesystemReadOnly", "device": fs.loop}
        with running_daemon(tmp_path, config):
            ks.trigger_ext4_error(fs)
            (before,) = manager.wait_for(lambda found: len(found) == 1, 15.0, **labels)
        with running_daemon(tmp_path, config) as again:
            again.wait_for(lambda e: e.get("event") == "alert_skipped", 10.0, what="skipped")
            time.sleep(3.0)  # three repost intervals
            firing = manager.alerts(**labels)
        assert [a["labels"]["incident"] for a in firing] == [before["labels"]["incident"]]
        assert firing[0]["status"]["state"] == "active"


def run_test_alert(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "rowatch", "test-alert", *args]
    if config is not None:
        argv += ["--config", str(config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_test_alert_reports_every_destination(tmp_path: Path) -> None:
    """Like smartd -M test: one message through each destination, each result printed."""
    with SmtpTestServer() as server:
        done = run_test_alert("--smtp", server.url(), *MAIL)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines() == ["log: sent", "email: sent"]
        assert '"event": "alert_sent"' in done.stderr  # the log destination's own line
        (mail,) = server.received
        assert "test alert" in str(mail.message["Subject"])
    refused = SmtpTestServer()  # nothing listens on its port
    done = run_test_alert("--smtp", refused.url(), *MAIL)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "log: sent"
    assert done.stdout.splitlines()[1].startswith("email: FAILED (temporary)")


def test_check_config_refuses_what_run_would_refuse(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("")
    secret.chmod(0o600)
    config = tmp_path / "rowatch.toml"
    config.write_text(
        '[[webhook]]\nurl = "http://127.0.0.1:9/a"\n'
        f'[[webhook]]\nurl = "http://127.0.0.1:9/a"\nsecret_file = "{secret}"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "rowatch", "check-config", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78, done.stdout
    assert "webhook" in done.stderr


class ListSource:
    """Trusted kernel records handed to the daemon in batches, paced: a flood, in-process."""

    def __init__(
        self,
        lines: list[str],
        per_batch: int,
        pause: float,
        backlog: list[KernelRecord] = (),  # type: ignore[assignment]
    ) -> None:
        self.lines, self.per_batch, self.pause = lines, per_batch, pause
        self.backlog = list(backlog)  # handed over first, before caught_up
        self.caught_up = asyncio.Event()
        self._closed = False
        self.position = {"records": 0, "lost_records": 0}

    async def open(self) -> None:
        return None

    def close(self) -> None:
        self._closed = True

    def describe(self) -> str:
        return "flood"

    async def batches(self) -> AsyncIterator[list[KernelRecord]]:
        if self.backlog:
            yield self.backlog
        self.caught_up.set()  # the rest comes live
        for start in range(0, len(self.lines), self.per_batch):
            if self._closed:
                return
            uptime = time.clock_gettime(time.CLOCK_MONOTONIC)
            batch = [
                KernelRecord(line, uptime=uptime, facility=0, source=RecordSource.KMSG)
                for line in self.lines[start : start + self.per_batch]
            ]
            self.position["records"] += len(batch)
            yield batch
            await asyncio.sleep(self.pause)
        while not self._closed:
            await asyncio.sleep(0.05)


def run_in_process(
    tmp_path: Path, source: ListSource, relay: SmtpTestServer, extra: str = "", settle: float = 3.0
) -> Path:
    """The whole daemon, in this process, reading ``source``; returns its state directory."""
    from rowatch.config import loads_config
    from rowatch.daemon import Daemon as RowatchDaemon
    from rowatch.smtp_url import smtp_settings_from_args

    config = loads_config(config_text(tmp_path, interval="0", fanotify=False, extra=extra))
    email = smtp_settings_from_args(relay.url(), None, MAIL[3], [MAIL[1]])

    async def main() -> int:
        daemon = RowatchDaemon(config, None, email=email)

        async def opened() -> ListSource:
            daemon.source = source  # type: ignore[assignment]
            return source

        daemon._open_source = opened  # type: ignore[method-assign]
        run = asyncio.create_task(daemon.run())
        while source.position["records"] < len(source.lines):
            await asyncio.sleep(0.1)
        await asyncio.sleep(settle)
        daemon._stopping.set()
        return await run

    assert asyncio.run(main()) == 0
    return tmp_path / "state"


def test_an_incident_that_merged_while_its_alert_was_stored_leaves_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk's warning goes out (opened_delay 0) and, while its outbox write is still
    under way, the incident folds into the filesystem's: nothing must keep saying the disk
    was alerted for the rest of the boot."""
    from rowatch.outbox import Outbox

    real_put = Outbox.put

    def slow_put(self: Outbox, alert: object) -> object:
        time.sleep(0.5)  # a slow disk under the state directory
        return real_put(self, alert)  # type: ignore[arg-type]

    monkeypatch.setattr(Outbox, "put", slow_put)
    lines = [
        "I/O error, dev sdq, sector 8 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2",
        "EXT4-fs error (device sdq1): ext4_find_entry:1455: inode #2: comm ls: reading "
        "directory lblock 0",
    ]
    with SmtpTestServer() as relay:
        state = run_in_process(
            tmp_path,
            ListSource(lines, per_batch=1, pause=0.1),
            relay,
            extra='[alerts]\nopened_delay = "0"\n',
            settle=2.5,
        )
        subjects = [str(r.message["Subject"]) for r in relay.received]
    assert any("sdq:" in s or "device sdq " in s or " sdq " in s for s in subjects), subjects
    keys = json.loads((state / "state.json").read_text())["alerted"]
    assert not [k for k in keys if "|sdq|" in k], keys
    assert [k for k in keys if "|sdq1|" in k], keys  # the filesystem's own warning is marked


def test_a_warning_that_went_quiet_before_start_is_not_alerted(tmp_path: Path) -> None:
    """The log since boot shows errors an hour old: quiet since, the incident is over."""
    hour_ago = time.clock_gettime(time.CLOCK_MONOTONIC) - 3600
    old = [
        KernelRecord(
            "I/O error, dev sdr, sector 8 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2",
            uptime=hour_ago,
            facility=0,
            source=RecordSource.KMSG,
        )
    ]
    with SmtpTestServer() as relay:
        run_in_process(
            tmp_path,
            ListSource([], per_batch=1, pause=0, backlog=old),
            relay,
            extra='[alerts]\nopened_delay = "0"\n',
            settle=1.5,
        )
        assert [str(r.message["Subject"]) for r in relay.received] == []


def test_ten_thousand_error_lines_in_seconds_make_a_bounded_number_of_emails(
    tmp_path: Path,
) -> None:
    """The whole daemon (engine, flood control, outbox, e-mail) against a real relay."""
    lines = [
        f"I/O error, dev sdq, sector {n} op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2"
        for n in range(5_000)
    ]
    lines += [f"Buffer I/O error on dev sdq1, logical block {n}, lost async page write"
              for n in range(4_998)]  # fmt: skip
    lines[6_000:6_000] = [
        "Aborting journal on device sdq1-8.",
        "EXT4-fs (sdq1): Remounting filesystem read-only",
    ]
    source = ListSource(lines, per_batch=100, pause=0.02)  # 10,000 lines in about 2 s
    with SmtpTestServer() as relay:
        run_in_process(tmp_path, source, relay)  # then 3 s: opened_delay and the sends
        ours = [
            str(r.message["Subject"]) for r in relay.received if "sdq" in str(r.message["Subject"])
        ]
    assert sum("read-only" in s for s in ours) == 1, ours
    assert len(ours) <= 3, ours  # the page, and at most a warning or two before it
