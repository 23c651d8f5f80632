#!/usr/bin/python3
"""Write the journald message catalog, packaging/systemd/rowatch.catalog, from rowatch.messages.

One entry per MESSAGE_ID in :data:`rowatch.messages.MESSAGES`, so ``journalctl -x -u rowatch``
explains each event and says what to do. The id, the subject (the event's title) and the first
paragraph (its description) come from ``src/rowatch/messages.py``; the explanation and the
advice are in :data:`DETAILS` below, by event name. A new event in messages.py needs an entry
there too (tests/test_packaging.py fails until it has one).

    scripts/gen_catalog.py                  print the catalog
    scripts/gen_catalog.py --write          rewrite packaging/systemd/rowatch.catalog
    scripts/gen_catalog.py --check          exit 1 if that file is not what this writes

Catalog format: systemd's catalog files (journalctl(1) --update-catalog; systemd's own
catalog/systemd.catalog.in). ``@FIELD@`` in a body is replaced by that field of the entry
shown; only fields every entry of that event carries are used (a missing one would show
its name).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from rowatch.messages import MESSAGES  # noqa: E402

CATALOG = ROOT / "packaging" / "systemd" / "rowatch.catalog"
WIDTH = 76
DOCUMENTATION = "man:rowatch(8) man:rowatch.toml(5)"

_INCIDENT_FIELDS = (
    "The entry's fields say what and where: ROWATCH_MOUNTPOINT, ROWATCH_FILESYSTEM_DEVICE, "
    "ROWATCH_FILESYSTEM, ROWATCH_DEVICES (every device involved), ROWATCH_CAUSE and "
    "ROWATCH_ADVICE (the decoded likely cause and what to check), ROWATCH_EVIDENCE (the "
    "kernel's own lines). This incident's history, with all fields:"
)
_INCIDENT_HISTORY = "$ journalctl -u rowatch -o verbose ROWATCH_INCIDENT=@ROWATCH_INCIDENT@"

#: Event name -> paragraphs after the description. "What to do" paragraphs start with "- ",
#: a command to type with "$ " (never wrapped).
DETAILS: dict[str, tuple[str, ...]] = {
    "outbox_fallback": (
        "The directory that keeps undelivered alerts (state.directory/outbox) refused a write: "
        "read-only, full or failing. This is expected when rowatch's own state lives on the "
        "filesystem that just failed. Alerts are kept in the runtime directory (tmpfs) or, if "
        "that fails too, in memory, and still delivered; kept in memory they do not survive a "
        "restart.",
        "- Repair the filesystem of state.directory; rowatch moves back on its next start.",
    ),
    "outbox_dropped": (
        "An alert destination was unreachable for long enough that its outbox filled up "
        "(alerts.outbox_max). Updates go first; a dropped read-only alert is logged at error "
        "level.",
        "- Find out why the destination refuses (the alert_failed entries say), then raise "
        "alerts.outbox_max if outages of this length are normal.",
    ),
    "outbox_corrupt": (
        "A file in the outbox could not be read back (a crash mid-write on a failing disk). It "
        "was renamed with a .corrupt suffix so it is kept for inspection and never retried.",
        "- Nothing to do unless it repeats; then check the disk holding state.directory.",
    ),
    "outbox_unreadable": (
        "rowatch could not list an outbox directory at start; alerts kept there from before a "
        "restart cannot be sent.",
        "- Check the permissions and the disk of state.directory and runtime_directory.",
    ),
    "outbox_resumed": (
        "Alerts that were not delivered before rowatch stopped are being sent now, once each.",
        "- Nothing to do.",
    ),
    "alerts_left": (
        "rowatch stopped with alerts still undelivered after shutdown.drain_timeout. They are "
        "kept in the outbox and sent when rowatch starts again.",
        "- Start rowatch again, or check why the destination did not answer.",
    ),
    "sink_close_failed": (
        "Closing an alert destination raised an error at stop or reload.",
        "- Nothing to do unless it repeats.",
    ),
    "dispatch_error": (
        "An unexpected error stopped the delivery of one alert; rowatch retries it.",
        "- Report it with the entry's fields: it is a bug.",
    ),
    "email_recipients_refused": (
        "The relay accepted the alert for some recipients and refused others (5xx). The "
        "refused ones did not get it and are not retried.",
        "- Fix smtp.mail_to or the relay's recipient policy; rowatch test-alert checks.",
    ),
    "daemon_started": (
        "rowatch now follows the kernel log (/dev/kmsg, or the kernel's messages in the "
        "journal) and checks the mount table every reconciler.interval. With "
        "source.backlog = true (the default) it first reads what the kernel logged since boot, "
        "so a filesystem that failed during boot or while rowatch was down is still reported.",
        "- Nothing to do. 'rowatch status' lists the filesystems watched and the open incidents.",
    ),
    "daemon_stopping": (
        "rowatch was stopped (SIGTERM or SIGINT). It gives alerts still being sent up to "
        "shutdown.drain_timeout, then exits. While it is stopped no failure is reported; when "
        "it starts again it reads what the kernel logged meanwhile, as long as the kernel's "
        "ring buffer (or the journal) still holds it.",
        "- If this was not planned: systemctl status rowatch, and the entries before this one.",
    ),
    "config_reloaded": (
        "After 'systemctl reload rowatch' (SIGHUP) the configuration file was read again. It "
        "had no errors and is now in force, except what a running daemon cannot change: the "
        "source, the alert destinations, the state directories, alerts.outbox_max and "
        "reconciler.fanotify. A second entry with ROWATCH_RESTART_NEEDED then lists those; "
        "they take effect at the next 'systemctl restart rowatch'.",
        "- 'rowatch check-config' prints the configuration in force, marking what differs from "
        "the defaults.",
    ),
    "config_reload_refused": (
        "After 'systemctl reload rowatch' (SIGHUP) the configuration file was read again and "
        "had errors, so rowatch keeps running with the configuration it had. Each problem is "
        "listed in this entry's ROWATCH_ERRORS field, with the key and the line. Note that a "
        "restart with this file would fail: rowatch refuses to start with a broken "
        "configuration (exit status 78).",
        "- Run 'rowatch check-config', fix what it reports, then 'systemctl reload rowatch'.",
    ),
    "source_error": (
        "rowatch could not read the kernel log. Until it can, it sees no kernel message: only "
        "the periodic mount table check (reconciler.interval) still notices a filesystem that "
        "went read-only, and without the evidence of why. ROWATCH_ERROR says what failed.",
        "- /dev/kmsg: reading it needs CAP_SYSLOG, which the unit grants "
        "(AmbientCapabilities=CAP_SYSLOG, DeviceAllow=/dev/kmsg r): check that no drop-in "
        "removed them (systemctl cat rowatch), and that the sysctl kernel.printk_devkmsg is not "
        "'off'.",
        '- The journal (source.type = "journal"): the service needs the systemd-journal group '
        "(SupplementaryGroups=systemd-journal in the unit), and source.journal_directory, if "
        "set, must exist.",
    ),
    "kmsg_records_lost": (
        "The kernel's log ring buffer overwrote records before rowatch read them; ROWATCH_LOST "
        "says how many. Usually a flood of messages, often the storage failure itself (every "
        "failed I/O logs a line). An incident may therefore lack part of its evidence or its "
        "cause. A filesystem that went read-only is still found by the mount table check.",
        "- Look at what flooded the log (dmesg, journalctl -k). If this happens often, enlarge "
        "the ring buffer with the kernel parameter log_buf_len= (e.g. log_buf_len=4M).",
    ),
    "untrusted_record_rejected": (
        "A message that reads like a kernel storage error was not written by the kernel: on "
        "/dev/kmsg its facility was not 0 (processes that write to /dev/kmsg get facility 1, "
        "user), in the journal its _TRANSPORT was not 'kernel'. rowatch never raises an alert "
        "on such a record, so nobody can page on-call with 'logger'. ROWATCH_SAMPLE shows the "
        "text, ROWATCH_COUNT how many such records were seen since this was last logged "
        "(at most once a minute).",
        "- Usually a test (logger, echo into /dev/kmsg) or a program that copies kernel "
        "messages. If not, find the writer: journalctl -o verbose around this time shows "
        "_PID and _COMM of the entry that carries the same text.",
    ),
    "incident_opened": (
        "The kernel reported storage errors (SCSI, block I/O, multipath, journal or filesystem "
        "errors) under a filesystem or device. The filesystem is still writable, but with "
        "errors=remount-ro the next error can make it read-only. " + _INCIDENT_FIELDS,
        _INCIDENT_HISTORY,
        "- Check the storage path now: ROWATCH_CAUSE and ROWATCH_ADVICE decode the likely "
        "cause (for example a SAN path failover: multipath -ll, and the hypervisor's or the "
        "SAN's events at this time).",
        "- 'rowatch status' shows the open incidents.",
    ),
    "incident_read_only": (
        "A filesystem stopped taking writes: the kernel remounted it read-only after an error "
        "(ext2/3/4 with errors=remount-ro, btrfs forced read-only), shut it down (XFS), or "
        "panicked. Programs writing to it now fail with 'Read-only file system' or EIO. "
        + _INCIDENT_FIELDS,
        _INCIDENT_HISTORY,
        "- Do not just remount it read-write: the kernel stopped writes because it found an "
        "error, and writing on can spread the damage. First find and fix the cause "
        "(ROWATCH_CAUSE, ROWATCH_EVIDENCE; for SCSI errors and timeouts the storage path, "
        "multipath, SAN or hypervisor).",
        "- Then stop what uses the filesystem, unmount it, check it (e2fsck -f, xfs_repair, "
        "btrfs check) and mount it again. For the root filesystem, reboot: the check runs "
        "at boot.",
    ),
    "incident_merged": (
        "Errors first reported on a device (say SCSI errors on sda) turned out to belong to a "
        "filesystem above it (on sda2, or on an LVM volume or multipath device over it), so "
        "that device's incident was folded into the filesystem's incident, "
        "ROWATCH_MERGED_INTO. Nothing is lost: the evidence moved with it.",
        "- Follow the incident ROWATCH_MERGED_INTO.",
    ),
    "incident_recovered": (
        "A filesystem that had gone read-only takes writes again: it was remounted read-write, "
        "or unmounted and mounted again. " + _INCIDENT_FIELDS,
        _INCIDENT_HISTORY,
        "- Make sure the filesystem was checked (e2fsck, xfs_repair, btrfs check) before it "
        "went back into service, and that the cause in the incident was dealt with.",
    ),
    "incident_closed": (
        "An incident ended: it saw no new evidence for engine.quiet_period, or the input ended "
        "(rowatch replay). A filesystem that is still read-only stays listed by "
        "'rowatch status'; new errors open a new incident.",
        "- Nothing to do.",
    ),
    "reconciler_finding": (
        "The periodic check of the mount table and sysfs, or fanotify, shows a filesystem "
        "problem: a filesystem is read-only, shut down, or its error counters grew. This is "
        "ground truth, whether or not the kernel log said so: the log may have lost records, "
        "or the kernel may not log it at all (ext4 on some kernels marks itself read-only "
        "without a message). ROWATCH_WHAT says what was found, ROWATCH_EVIDENCE the mount "
        "table line and counters.",
        "- Handle it as the incident it opens or updates (the entries about the same "
        "ROWATCH_DEVICE).",
    ),
    "reconciler_error": (
        "Reading /proc/self/mountinfo or sysfs failed (ROWATCH_ERROR). The check runs again at "
        "the next interval; until it succeeds only the kernel log is watched.",
        "- If it keeps failing: a drop-in may have narrowed the sandbox (ProcSubset=pid hides "
        "/proc/fs and /proc/stat, which rowatch reads). systemctl cat rowatch.",
    ),
    "topology_error": (
        "rowatch could not read the block device stack from sysfs (ROWATCH_ERROR). Incidents "
        "still name the devices the kernel named, but cannot tell which disk sits under which "
        "filesystem, so errors on a disk are not tied to the filesystems above it.",
        "- Check that /sys is mounted and readable by the service.",
    ),
    "watcher_unavailable": (
        "A source of change events is unavailable (ROWATCH_WATCHER names it when given, "
        "ROWATCH_ERROR says why). udev events (new disks, multipath and LVM changes) and mount "
        "table changes are then picked up by the periodic check only, up to "
        "reconciler.interval later. Without fanotify, ext4 errors are still seen in the kernel "
        "log and by the periodic check.",
        "- udev events need AF_NETLINK (RestrictAddressFamilies= in the unit) and "
        "python3-pyudev; in a container without udev this is expected.",
        "- fanotify needs CAP_SYS_ADMIN, which the packaged service does not have on purpose: "
        "this is expected. security.md in rowatch's documentation (/usr/share/doc/rowatch) "
        "shows the drop-in that grants it, and what that costs.",
    ),
    "alert_skipped": (
        "The alert for this incident was already sent during this boot, before rowatch "
        "restarted. rowatch remembers the alerts it sent (in /var/lib/rowatch, or /run/rowatch "
        "while that is not writable) so a restart does not page on-call twice for the same "
        "failure.",
        "- Nothing to do.",
    ),
    "alert_sent": (
        "An alert about an incident was delivered (ROWATCH_SINK says where).",
        "- Nothing to do.",
    ),
    "alert_failed": (
        "An alert about an incident could not be delivered (ROWATCH_SINK, ROWATCH_ERROR). "
        "rowatch retries, but on-call has not been told yet.",
        "- Check that the mail server or webhook is reachable from this host and that the "
        "credentials are right; 'rowatch test-alert' sends a test alert through every "
        "configured sink.",
    ),
    "state_fallback": (
        "The state directory (state.directory, /var/lib/rowatch) refused a write, so rowatch "
        "keeps its state in the runtime directory (/run/rowatch) or in memory (ROWATCH_NOW, "
        "ROWATCH_REASON). Often the filesystem holding /var/lib/rowatch has itself just gone "
        "read-only: see the incidents. State kept there is lost at reboot, so an alert may be "
        "sent again after one.",
        "- Deal with the filesystem that refused the write; rowatch keeps working meanwhile.",
    ),
    "alert_program_finished": (
        "The program of the [exec] destination ran for an alert and exited 0: it has the "
        "alert (JSON on its standard input, ROWATCH_* variables in its environment).",
        "- Nothing to do.",
    ),
    "alert_program_failed": (
        "The program of the [exec] destination failed for an alert (ROWATCH_REASON): it could "
        "not be started, ran longer than exec.timeout and was killed, or exited non-zero. Exit "
        "status 75 (EX_TEMPFAIL) and a timeout are retried with backoff; any other failure is "
        "final and the alert is kept as a dead letter in the outbox.",
        "- Run the program by hand with the alert from the outbox's dead/ directory on its "
        "standard input; 'rowatch test-alert' runs it with a test alert.",
    ),
    "alertmanager_post_failed": (
        "A post to one Alertmanager (ROWATCH_URL) failed (ROWATCH_ERROR). rowatch posts every "
        "open alert again at the next alertmanager.repost_interval; with several urls (an HA "
        "pair) every one gets every post, and one that took it is enough.",
        "- Check that the Alertmanager runs and is reachable from this host; "
        "'rowatch test-alert' posts a test alert.",
    ),
    "alertmanager_post_recovered": (
        "An Alertmanager that had failed (alertmanager_post_failed) took a post again.",
        "- Nothing to do.",
    ),
    "alertmanager_repost_error": (
        "The task that keeps rowatch's alerts firing in Alertmanager hit an unexpected error "
        "(a bug); it tries again at the next interval.",
        "- Please report it with this entry; meanwhile Alertmanager still has what was posted "
        "before, until its endsAt.",
    ),
    "alertmanager_warning_expired": (
        "A FilesystemErrors warning in Alertmanager that no alert had mentioned for an hour was "
        "resolved: its end was not seen (the incident was folded into another, or rowatch "
        "restarted). A FilesystemReadOnly alert never expires this way.",
        "- Nothing to do.",
    ),
    "fanotify_watch_failed": (
        "fanotify could not mark one filesystem (ROWATCH_MOUNTPOINT) for error events, often "
        "because the service's sandbox hides it (ProtectHome=). The kernel log and the "
        "mount-state check still cover that filesystem.",
        "- Nothing to do, unless error events from that filesystem matter: see "
        "docs/security.md on fanotify.",
    ),
    "state_write_error": (
        "Writing the state file (alerts already sent, the journal cursor) failed in a way "
        "that is not a refused directory, which would be state_fallback: a bug. The next "
        "change of state tries again; alerting goes on.",
        "- Please report it with this entry.",
    ),
    "status_write_failed": (
        "rowatch could not write its status file (the runtime directory, /run/rowatch), so "
        "'rowatch status' shows an older state or none. Monitoring goes on.",
        "- Check the runtime directory (RuntimeDirectory=rowatch in the unit) and free space "
        "in /run.",
    ),
}


def _paragraph(text: str) -> str:
    if text.startswith("$ "):
        return "    " + text[2:]
    if text.startswith("- "):
        return textwrap.fill(
            text[2:], WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
        )
    return textwrap.fill(text, WIDTH, break_on_hyphens=False)


def _check_text(event: str, text: str) -> None:
    # A catalog line starting with "-- " followed by 32 hex digits would start a new entry.
    if "\n" in text or text.startswith("--") or "\0" in text:
        raise ValueError(f"{event}: catalog text must be one paragraph per string: {text!r}")


def render() -> str:
    """The whole catalog file."""
    missing = sorted(set(MESSAGES) - set(DETAILS))
    stale = sorted(set(DETAILS) - set(MESSAGES))
    if missing or stale:
        raise SystemExit(
            "scripts/gen_catalog.py: DETAILS does not match src/rowatch/messages.py: "
            + (f"no explanation for {', '.join(missing)}" if missing else "")
            + ("; " if missing and stale else "")
            + (f"explains events that no longer exist: {', '.join(stale)}" if stale else "")
        )
    out = [
        "#  SPDX-License-Identifier: Apache-2.0",
        "#",
        "#  rowatch's journald message catalog: journalctl -x explains its events.",
        "#  Generated by scripts/gen_catalog.py from src/rowatch/messages.py: do not edit;",
        "#  run scripts/gen_catalog.py --write instead. Installed as",
        "#  /usr/lib/systemd/catalog/rowatch.catalog (journalctl --update-catalog).",
    ]
    for event, message in MESSAGES.items():
        for text in (message.title, message.description, *DETAILS[event]):
            _check_text(event, text)
        out += [
            "",
            f"-- {message.id}",
            f"Subject: {message.title}",
            "Defined-By: rowatch",
            f"Documentation: {DOCUMENTATION}",
            "",
            _paragraph(f"{message.description} (rowatch event {event}.)"),
        ]
        for text in DETAILS[event]:
            out += ["", _paragraph(text)]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {CATALOG.relative_to(ROOT)}")
    mode.add_argument("--check", action="store_true", help="exit 1 if that file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        CATALOG.write_text(text, encoding="utf-8")
    elif args.check:
        current = CATALOG.read_text(encoding="utf-8") if CATALOG.exists() else ""
        if current != text:
            print(
                f"{CATALOG.relative_to(ROOT)} is out of date: run scripts/gen_catalog.py --write",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
