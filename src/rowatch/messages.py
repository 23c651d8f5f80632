"""The daemon's log events: name, journald MESSAGE_ID, and what each one means.

Every event the daemon logs has a snake_case name (the structlog event). Those listed here
also carry a fixed ``MESSAGE_ID`` in the journal, so operators can follow one kind of event
across versions and hosts (``journalctl MESSAGE_ID=10fb8532fbd14099af6099eb0faab3db``) and a
journald message catalog can explain it. The ids were generated once, at random; never change
or reuse one. A new event gets a new id (``python3 -c 'import uuid; print(uuid.uuid4().hex)'``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rowatch.incident import Transition


@dataclass(frozen=True, slots=True)
class Message:
    """One event kind: its journal id, a title, a one-line description, a MESSAGE template.

    ``template`` names event fields in braces; it is used for the journal's MESSAGE when every
    field it names is present, otherwise ``title`` is.
    """

    id: str
    title: str
    description: str
    template: str | None = None


_TABLE: dict[str, Message] = {
    "daemon_started": Message(
        "94f4552b7aba4f6e83ea77e7df6e89ba",
        "rowatch started",
        "The daemon started and follows the kernel log.",
        "rowatch started, reading {source}",
    ),
    "daemon_stopping": Message(
        "94b45679df784b99a28e69fefe05f11d",
        "rowatch stopping",
        "The daemon was asked to stop; it sends pending alerts, then exits.",
    ),
    "config_reloaded": Message(
        "c40480ed84e442c6a2b765b5a8e52472",
        "Configuration reloaded",
        "The configuration file was read again and is now in force, except what a running "
        "daemon cannot change (its source, destinations and state directories): a warning "
        "with restart_needed lists those, in force at the next restart.",
    ),
    "config_reload_refused": Message(
        "324fa74777f742fd922fdfdd95189756",
        "Configuration reload refused",
        "The configuration file has errors; the previous configuration stays in force.",
    ),
    "source_error": Message(
        "1606782663af485f9367e9d026af45c0",
        "Kernel log source failed",
        "Reading the kernel log failed; rowatch retries, and sees nothing meanwhile.",
    ),
    "kmsg_records_lost": Message(
        "c68d9377ccea4507837133005fa998fc",
        "Kernel log records lost",
        "The kernel overwrote log records before rowatch read them: evidence may be missing.",
    ),
    "untrusted_record_rejected": Message(
        "18719543b8a74609b70e17ba2fd2523b",
        "Untrusted record rejected",
        "A message that reads like a storage failure was not written by the kernel; ignored.",
    ),
    "incident_opened": Message(
        "ce000ea3386f4a3c8c21d80c2ac9d740",
        "Storage errors: incident opened",
        "The kernel reported errors under a filesystem or device; it may go read-only next.",
        "Storage errors under {mountpoint} ({filesystem_device})",
    ),
    "incident_read_only": Message(
        "10fb8532fbd14099af6099eb0faab3db",
        "Filesystem went read-only",
        "A filesystem went read-only, shut down or the kernel panicked: the incident outcome.",
        "Filesystem {mountpoint} ({filesystem_device}, {filesystem}) is now {outcome}",
    ),
    "incident_merged": Message(
        "b224bebf89ce4a5daf81190fd524b65d",
        "Incident merged",
        "A device incident was folded into the incident of the filesystem above it.",
    ),
    "incident_recovered": Message(
        "be15d692bbdf47aaa9da420a19d32d71",
        "Filesystem writable again",
        "A filesystem that had gone read-only is writable again (remounted or replaced).",
        "Filesystem {mountpoint} ({filesystem_device}) is writable again",
    ),
    "incident_closed": Message(
        "58e4d6e1a7964b38967b9069c7d74c80",
        "Incident closed",
        "An incident saw no new evidence for the quiet period, or its input ended.",
    ),
    "reconciler_finding": Message(
        "14a7b17980d24ddab9fd7009d886659f",
        "Filesystem state check found a problem",
        "The mount table, sysfs or fanotify shows a filesystem problem, logged or not.",
    ),
    "reconciler_error": Message(
        "8ece41b4ef94417a8621ccc2e86cc9b5",
        "Filesystem state check failed",
        "Reading the mount table or sysfs failed; the check runs again at the next interval.",
    ),
    "topology_error": Message(
        "9667500f5a6b438e94c63405f9315fba",
        "Block device stack unreadable",
        "sysfs could not be read; incidents name devices, but not what sits on what.",
    ),
    "watcher_unavailable": Message(
        "83dbbf0fc9eb4065953c074ffff5a21f",
        "Change watcher unavailable",
        "udev or mount-table changes cannot be followed; the periodic check still runs.",
    ),
    "alert_skipped": Message(
        "b8708f2e1535413b9c9464f331dbc69d",
        "Alert not repeated",
        "This alert was already sent this boot, before rowatch restarted.",
    ),
    "alert_sent": Message(
        "01be73383adb42bab04fe3d7b61c476e",
        "Alert sent",
        "An alert about an incident was delivered.",
    ),
    "alert_failed": Message(
        "9ececb5ebfc045cba405a6282c4cadaa",
        "Alert failed",
        "An alert could not be delivered; rowatch retries with backoff, or, when the "
        "destination refused it for good, keeps it as a dead letter.",
    ),
    "outbox_fallback": Message(
        "3edab84cc44d4ad0869c38eb0889dfaf",
        "Alerts kept elsewhere",
        "The outbox directory refused writes; undelivered alerts are now kept in the runtime "
        "directory or in memory.",
    ),
    "outbox_dropped": Message(
        "8608dae3e4c94b91b614fb1c7cc6ab98",
        "Alert dropped",
        "A destination's outbox was full; the oldest update was dropped (read-only alerts last).",
    ),
    "outbox_corrupt": Message(
        "3696d58eb02f40609e9819519e7fb06b",
        "Outbox file moved aside",
        "An outbox file could not be read and was renamed .corrupt.",
    ),
    "outbox_unreadable": Message(
        "4c78114e83eb40279de813339d351938",
        "Outbox unreadable",
        "An outbox directory could not be read.",
    ),
    "outbox_resumed": Message(
        "30d70724efd44c12a3f2ba8836da8598",
        "Alerts resumed",
        "Alerts left undelivered before a restart are being sent.",
    ),
    "alerts_left": Message(
        "15acf59244e34d6296ea34cd9e57657b",
        "Alerts left at stop",
        "Alerts were still undelivered when rowatch stopped; they go out at the next start.",
    ),
    "sink_close_failed": Message(
        "3c9189d036ee45ad8f4322731f569426",
        "Destination close failed",
        "Closing an alert destination failed.",
    ),
    "dispatch_error": Message(
        "ea7473df38e842e5bdb7b45869b00022",
        "Alert delivery error",
        "An unexpected error in an alert destination's worker.",
    ),
    "email_recipients_refused": Message(
        "5b0a7d51c2e94f3a9f1e6d7c8b2a4e10",
        "Recipients refused",
        "The relay refused some recipients of an alert; the others got it.",
    ),
    "state_fallback": Message(
        "8c2c8c900875439fadc6462f100abdfe",
        "State kept elsewhere",
        "The state directory refused writes; state moved to the runtime directory or memory.",
    ),
    "alert_program_finished": Message(
        "c0182a1f9dd6440a9d432732522a1cf6",
        "Alert program ran",
        "The exec destination's program took an alert and exited 0.",
    ),
    "alert_program_failed": Message(
        "2305284b8e1141aea2dd77e32297d400",
        "Alert program failed",
        "The exec destination's program failed, timed out or exited non-zero; exit 75 "
        "(EX_TEMPFAIL) or a timeout is retried, anything else is a dead letter.",
    ),
    "alertmanager_post_failed": Message(
        "03f977f4ebf641bc89385add3b17b25c",
        "Alertmanager refused or unreachable",
        "A post to one Alertmanager failed; it is tried again at the next repost. With an HA pair "
        "the other may have taken it.",
    ),
    "alertmanager_post_recovered": Message(
        "e51d8d309ff34a23a6a1329fe8078ece",
        "Alertmanager reachable again",
        "An Alertmanager that had failed took a post again.",
    ),
    "alertmanager_repost_error": Message(
        "96094d09c38c47df9d6871451d2cf48b",
        "Alertmanager reposting failed",
        "An unexpected error in the task that keeps alerts firing in Alertmanager; it goes on at "
        "the next interval.",
    ),
    "alertmanager_warning_expired": Message(
        "b0e8ec74bf094814887c133884b6a738",
        "Alertmanager warning resolved",
        "A warning no alert had mentioned for an hour was resolved in Alertmanager (its end was "
        "not seen, e.g. after a restart).",
    ),
    "fanotify_watch_failed": Message(
        "c624b5fad9384576bacf9afc537947ef",
        "Filesystem error watch failed",
        "fanotify could not watch one filesystem for error events; the kernel log and the mount-"
        "state check still cover it.",
    ),
    "status_write_failed": Message(
        "1c75512d1f9d44a09bc913768fdb3f11",
        "Status file not written",
        "The status file for rowatch status could not be written (runtime directory); the daemon "
        "goes on.",
    ),
    "state_write_error": Message(
        "a4664de1def3468db1a5cdf78ea9a8a4",
        "State write failed",
        "An unexpected error while writing the state file; the next change tries again.",
    ),
}

#: Event name -> :class:`Message`.
MESSAGES: Mapping[str, Message] = MappingProxyType(_TABLE)

#: The event the daemon logs for each incident transition.
TRANSITION_EVENTS: Mapping[Transition, str] = MappingProxyType(
    {
        Transition.OPENED: "incident_opened",
        Transition.OUTCOME: "incident_read_only",
        Transition.MERGED: "incident_merged",
        Transition.RECOVERED: "incident_recovered",
        Transition.CLOSED: "incident_closed",
    }
)


def message_id(event: str) -> str | None:
    """The MESSAGE_ID of an event name, or None for events without one."""
    message = MESSAGES.get(event)
    return message.id if message is not None else None
