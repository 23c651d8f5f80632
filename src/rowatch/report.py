"""Incidents rendered for people: the text ``rowatch replay`` prints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rowatch.incident import EVIDENCE_HEAD

_OUTCOME_WORDS = {
    "read_only": "remounted read-only",
    "shutdown": "shut down",
    "panic": "panicked the kernel",
    None: "errors, still writable (warning)",
}


#: How an incident that had an outcome ended (``resolution`` in its snapshot): only the
#: mount table saying read-write is "writable again"; an unmount or a fresh mount ends the
#: incident without anyone having seen the filesystem take writes.
_RESOLUTION_WORDS = {
    "unmounted": "unmounted (rowatch did not see it writable again)",
    "mounted again": "mounted again (a fresh mount of the device)",
}


def recovery(incident: Mapping[str, Any]) -> str:
    """``writable again``, or how else a read-only incident ended (unmounted, mounted anew)."""
    return _RESOLUTION_WORDS.get(str(incident.get("resolution")), "writable again")


def headline(incident: Mapping[str, Any]) -> str:
    """``/var (dm-0, ext3) remounted read-only``: what happened, to what."""
    device = incident.get("filesystem_device")
    fstype = incident.get("filesystem")
    what = ", ".join(str(x) for x in (device, fstype) if x)
    mountpoint = incident.get("mountpoint")
    if mountpoint:
        subject = f"{mountpoint} ({what})" if what else str(mountpoint)
    elif device:
        subject = f"filesystem on {what}"
    elif incident.get("outcome"):
        subject = "a filesystem (the log does not say which)"
    else:
        subject = "device " + " ".join(incident.get("devices") or ["?"])
        if not incident.get("outcome"):
            return f"{subject}: I/O errors, no filesystem known to be affected (warning)"
    return f"{subject} {_OUTCOME_WORDS.get(incident.get('outcome'), incident.get('outcome'))}"


def _stamp(event: Mapping[str, Any]) -> str:
    if event.get("time"):
        return str(event["time"]).replace("+00:00", "Z")
    if event.get("uptime") is not None:
        return f"[{event['uptime']:>12.6f}]"
    return "[           ?]"


def render_incident(incident: Mapping[str, Any]) -> str:
    """A readable block for one incident."""
    lines = [f"INCIDENT {incident['id']}: {headline(incident)}"]
    if incident.get("devices"):
        lines.append("  stack     " + " -> ".join(incident["devices"]))
    cause = incident.get("cause")
    if cause:
        lines.append(f"  cause     {cause['summary']}")
        lines.append(f"  next      {cause['advice']}")
    counts = incident.get("counts") or {}
    if counts:
        lines.append("  counts    " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append("  evidence")
    events = incident.get("events") or []
    omitted = incident.get("events_omitted") or 0
    for i, event in enumerate(events):
        if omitted and i == EVIDENCE_HEAD:
            lines.append(f"    ... {omitted} more lines ...")
        extra = f" (+{event['suppressed']} suppressed)" if event.get("suppressed") else ""
        lines.append(
            f"    {_stamp(event)} {event['kind']:<16} {event.get('device') or '-':<10} "
            f"{event['message']}{extra}"
        )
    return "\n".join(lines)


def render_summary(incidents: Iterable[Mapping[str, Any]], stats: Mapping[str, int]) -> str:
    """One closing line: what was read and what was found."""
    incidents = list(incidents)
    outcomes = sum(1 for i in incidents if i.get("outcome"))
    read = (
        f"{stats['lines']} lines read"
        if "lines" in stats
        else f"{stats.get('records', 0)} records read"
    )
    text = (
        f"{read}, {stats.get('events', 0)} storage events, "
        f"{len(incidents)} incidents ({outcomes} read-only/shutdown/panic, "
        f"{len(incidents) - outcomes} warnings)"
    )
    if stats.get("rejected"):
        text += f"; {stats['rejected']} rejected: not written by the kernel"
    if stats.get("invalid_devices"):
        text += f"; {stats['invalid_devices']} invalid device names ignored"
    if stats.get("malformed"):
        text += f"; {stats['malformed']} malformed lines skipped"
    return text
