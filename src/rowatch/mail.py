"""An alert as an e-mail: subject, plain-text body, threading headers. Pure: no I/O.

The Message-ID is derived from the alert id, so an alert sent again after a crash carries
the same Message-ID and the receiving side can drop the copy; every later message about the
same incident names the first in ``In-Reply-To`` and ``References``, so mail clients show
the incident as one thread.

Nothing from the log or the machine reaches a header unchecked: control characters (CR,
LF, NUL, escapes, bidi overrides) become ``?``, values are length-capped, and non-ASCII text
is encoded by the :mod:`email` package (RFC 2047). The body is plain text, at most 72
columns except for unbreakable words, with the incident's replay JSON attached.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from rowatch import __version__
from rowatch.alert import Alert, AlertKind
from rowatch.incident import EVIDENCE_HEAD
from rowatch.report import headline, recovery
from rowatch.smtp_url import split_address

WIDTH = 72
#: Caps on what goes into headers.
SUBJECT_MAX = 200
FIELD_MAX = 80
#: Caps on values in the body (a mountpoint can be 4096 bytes, a kernel line as much).
VALUE_MAX = 512
MESSAGE_MAX = 1024
#: Evidence lines shown per incident in a digest (first and last half); all in the JSON.
DIGEST_EVIDENCE = 10

_OUTCOME_TEXT = {
    "read_only": "remounted read-only",
    "shutdown": "shut down (XFS)",
    "panic": "kernel panic",
}
_EXT = ("ext2", "ext3", "ext4")
_NBSP = "\u00a0"


# ------------------------------------------------------------------------------ cleaning
def clean(value: object, limit: int = VALUE_MAX) -> str:
    """``value`` as one line of printable text: control, format, surrogate and line/paragraph
    separator characters become ``?``; longer than ``limit`` is cut with ``…``."""
    text = "" if value is None else str(value)
    text = "".join(
        "?" if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c
        for c in text[: limit + 1]
    )
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def _field(value: object) -> str:
    return clean(value, FIELD_MAX)


_ID_LEFT = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*", re.ASCII)
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*", re.ASCII)


def message_id(alert_id: str, fqdn: str) -> str:
    """``<alert-id@fqdn>``; ids or names that are not plain ASCII atoms are hashed/replaced,
    so the result is always a valid Message-ID and the same for the same inputs."""
    left = alert_id if _ID_LEFT.fullmatch(alert_id) and len(alert_id) <= 64 else ""
    if not left:
        left = "rowatch-" + hashlib.sha256(alert_id.encode("utf-8", "replace")).hexdigest()[:32]
    domain = fqdn.rstrip(".")
    if not _DOMAIN.fullmatch(domain) or len(domain) > 253:
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = ""
        if not _DOMAIN.fullmatch(domain) or len(domain) > 253:
            domain = "rowatch.invalid"
    return f"<{left}@{domain}>"


# ------------------------------------------------------------------------------- subject
def _safe_incident(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The fields :func:`headline` uses, cleaned for a header."""
    safe = dict(incident)
    for key in ("mountpoint", "filesystem_device", "filesystem", "outcome"):
        if safe.get(key) is not None:
            safe[key] = _field(safe[key])
    safe["devices"] = [_field(d) for d in (incident.get("devices") or [])][:4]
    return safe


def _where(incident: Mapping[str, Any]) -> str:
    """``/var (dm-0)``, ``dm-0 (ext4)`` or ``sda``: what the incident is about, briefly."""
    mountpoint = incident.get("mountpoint")
    device = incident.get("filesystem_device")
    if mountpoint:
        return f"{mountpoint} ({device})" if device else str(mountpoint)
    if device:
        fstype = incident.get("filesystem")
        return f"{device} ({fstype})" if fstype else str(device)
    devices = incident.get("devices") or []
    return " ".join(devices) if devices else "an unknown device"


def _state(incident: Mapping[str, Any]) -> str:
    """The incident now: its headline, or ``errors on X — still writable`` for a warning."""
    if incident.get("outcome"):
        return headline(incident)
    if not incident.get("filesystem_device") and not incident.get("mountpoint"):
        return f"I/O errors on {_where(incident)} — no filesystem known to be affected"
    return f"errors on {_where(incident)} — still writable"


def subject(alert: Alert) -> str:
    """``[rowatch] db1: /var (dm-0, ext3) remounted read-only`` and the like: one line."""
    if alert.kind is AlertKind.TEST:
        what = "test alert"
    elif alert.kind is AlertKind.DIGEST or alert.incident is None:
        what = _digest_subject(alert.incidents)
    else:
        incident = _safe_incident(alert.incident)
        if alert.kind is AlertKind.RECOVERED:
            what = f"{_where(incident)} {recovery(incident)}"
        elif alert.kind is AlertKind.CLOSED:
            what = f"errors on {_where(incident)} stopped — incident closed"
        elif alert.kind is AlertKind.UPDATE:
            what = f"update: {_state(incident)}"
        else:
            what = _state(incident)
    return clean(f"[rowatch] {_field(alert.host)}: {what}", SUBJECT_MAX)


def _digest_subject(incidents: Sequence[Mapping[str, Any]]) -> str:
    count = len(incidents)
    what = f"digest: {count} incident{'' if count == 1 else 's'}"
    severe = sum(1 for i in incidents if i.get("outcome"))
    if severe:
        what += f", {severe} read-only" if severe < count else ", all read-only"
    return what


# ---------------------------------------------------------------------------------- body
def _wrap(text: str, indent: str = "", first: str | None = None) -> list[str]:
    lines = textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [(indent if first is None else first).rstrip()]
    return [line.replace(_NBSP, " ") for line in lines]


def _heading(title: str) -> list[str]:
    return ["", title, "-" * len(title)]


def _stamp(event: Mapping[str, Any]) -> str:
    """``2024-05-01 09:14:03.123Z``, else the kernel's ``[  100.000000]``."""
    when = event.get("time")
    if isinstance(when, str) and when:
        try:
            moment = datetime.fromisoformat(when).astimezone(UTC)
        except ValueError:
            return clean(when, 40)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    uptime = event.get("uptime")
    if isinstance(uptime, int | float):
        return f"[{uptime:>12.6f}]"
    return "[           ?]"


def _time(iso: object, uptime: object) -> str | None:
    parts = []
    if isinstance(iso, str) and iso:
        parts.append(_stamp({"time": iso}))
    if isinstance(uptime, int | float):
        parts.append(f"{uptime:.6f} s after boot")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"{parts[0]} ({parts[1]})"


def _facts(rows: Iterable[tuple[str, str | None]]) -> list[str]:
    lines = []
    for label, value in rows:
        if value:
            lines += _wrap(value, " " * 15, f"  {label + ':':<13}")
    return lines


def _stack_lines(incident: Mapping[str, Any]) -> list[str]:
    """The device chain, and identity (model, serial, WWN) where the snapshot has it."""
    devices = [clean(d, FIELD_MAX) for d in incident.get("devices") or []]
    lines: list[str] = []
    if devices:
        lines += _wrap(" -> ".join(devices), "    ", "  ")
    stack = incident.get("stack")
    entries: list[Mapping[str, Any]] = []
    if isinstance(stack, list):
        entries = [e for e in stack if isinstance(e, Mapping)]
    elif isinstance(stack, Mapping):
        entries = [
            {"name": name, **value} for name, value in stack.items() if isinstance(value, Mapping)
        ]
    described = []
    for entry in entries:
        name = clean(entry.get("name") or entry.get("device") or "?", FIELD_MAX)
        parts = []
        for key, label in (("type", ""), ("dm_name", "dm-name "), ("scsi_address", "scsi ")):
            if entry.get(key):
                parts.append(label + clean(entry[key], FIELD_MAX))
        identity = " ".join(clean(entry[k], FIELD_MAX) for k in ("vendor", "model") if entry.get(k))
        if identity:
            parts.append(identity)
        for key, label in (("serial", "serial "), ("wwn", "wwn ")):
            if entry.get(key):
                parts.append(label + clean(entry[key], FIELD_MAX))
        if entry.get("backing_file"):
            parts.append("file " + clean(entry["backing_file"], VALUE_MAX))
        if parts:
            described.append((name, parts))
    if described:
        lines.append("")
        width = min(max(len(n) for n, _ in described), 16)
        for name, parts in described:
            lines += _pack(parts, f"  {name:<{width}}  ", " " * (width + 4))
    return lines


def _pack(parts: Sequence[str], first: str, indent: str) -> list[str]:
    """``parts`` joined by commas, breaking lines only between parts where possible."""
    lines: list[str] = []
    current = first
    for index, part in enumerate(parts):
        text = part + ("," if index < len(parts) - 1 else "")
        fresh = current in (first, indent)
        candidate = current + ("" if fresh else " ") + text
        if len(candidate) <= WIDTH or fresh:
            current = candidate
        else:
            lines.append(current)
            current = indent + text
    return _rewrap([*lines, current], indent)


def _rewrap(lines: Sequence[str], indent: str) -> list[str]:
    """Lines still too long (one very long part) wrapped at the width."""
    out: list[str] = []
    for line in lines:
        if len(line) <= WIDTH:
            out.append(line)
        else:
            lead = line[: len(line) - len(line.lstrip())]
            out += _wrap(line.strip(), indent, lead)
    return out


def _evidence_lines(incident: Mapping[str, Any], limit: int | None = None) -> list[str]:
    events = [e for e in incident.get("events") or [] if isinstance(e, Mapping)]
    omitted = _int(incident.get("events_omitted"))
    gap_at = EVIDENCE_HEAD if omitted and len(events) > EVIDENCE_HEAD else None
    shown = list(enumerate(events))
    if limit is not None and len(events) > limit:
        half = limit // 2
        hidden = len(events) - 2 * half
        shown = shown[:half] + shown[-half:]
        gap_at, omitted = half, omitted + hidden
    lines: list[str] = []
    for position, (index, event) in enumerate(shown):
        if gap_at is not None and (index == gap_at if limit is None else position == gap_at):
            lines.append(f"  ... {omitted} more kernel messages, counted above ...")
        head = f"  {_stamp(event)}  {clean(event.get('kind'), 32)}"
        if event.get("device"):
            head += f"  {clean(event['device'], FIELD_MAX)}"
        if _int(event.get("suppressed")):
            head += f"  (+{_int(event.get('suppressed'))} suppressed)"
        lines.append(head)
        lines += _wrap(clean(event.get("message"), MESSAGE_MAX), "      ")
        details = event.get("details")
        if isinstance(details, Mapping) and details:
            text = ", ".join(
                f"{clean(k, 32)} {clean(v, FIELD_MAX)}" for k, v in list(details.items())[:12]
            )
            lines += _wrap(f"({text})", "      ")
    if not lines:
        lines.append("  (no kernel messages kept)")
    return lines


def _int(value: object) -> int:
    """A count from the snapshot; 0 for anything that is not one (never fail a page)."""
    if isinstance(value, bool):
        return 0
    try:
        return max(int(value), 0) if isinstance(value, int | float | str) else 0
    except (ValueError, OverflowError):
        return 0


def _counts(incident: Mapping[str, Any]) -> str | None:
    counts = incident.get("counts")
    if not isinstance(counts, Mapping) or not counts:
        return None
    return ", ".join(f"{clean(k, 32)} {clean(v, 20)}" for k, v in counts.items())


def _device_path(incident: Mapping[str, Any]) -> str:
    device = incident.get("filesystem_device")
    return f"/dev/{clean(device, FIELD_MAX)}" if device else "/dev/DEVICE"


def _cmd(text: str) -> str:
    """A command that line wrapping must not split (no-break spaces, undone by _wrap)."""
    return text.replace(" ", _NBSP)


def _next_steps(incident: Mapping[str, Any], kind: AlertKind) -> list[str]:
    """What on-call does next: factual, by outcome and filesystem type."""
    fstype = str(incident.get("filesystem") or "")
    outcome = incident.get("outcome")
    dev = _device_path(incident)
    mount = clean(incident.get("mountpoint") or "", VALUE_MAX)
    the_fs = mount or "the filesystem"
    steps = [
        "Check the storage path first: the evidence below shows what the kernel saw. Look "
        f"at {_cmd('dmesg')}, {_cmd('multipath -ll')} (SAN paths), {_cmd('smartctl -a')} "
        "(local disks), /proc/mdstat (RAID), the hypervisor's or storage array's console. "
        "Repairing a filesystem on failing storage makes things worse."
    ]
    if kind is AlertKind.RECOVERED:
        count = f" ({_cmd(f'tune2fs -l {dev}')} shows the recorded error count)"
        steps.append(
            f"{the_fs} is {recovery(incident)}, but the errors that made it read-only may "
            "have left damage: check the filesystem (before it is mounted again, if it is not) "
            "at the next opportunity" + (count if fstype in _EXT else "") + "."
        )
        return _numbered(steps)
    if outcome is None:
        steps.append(
            "The filesystem still accepts writes. Errors that keep coming usually mean a "
            "failing disk or storage path; rowatch sends another message if it goes read-only."
        )
        if fstype in _EXT:
            steps.append(_ext_errors_setting(dev, happened=False))
        return _numbered(steps)
    if fstype in _EXT:
        steps.append(
            f"Once the storage is healthy: stop what uses {the_fs}, unmount it, run "
            f"{_cmd(f'e2fsck -f {dev}')}, and mount it again. For / or a filesystem that "
            f"cannot be unmounted, reboot with {_cmd('fsck.mode=force')} on the kernel command "
            "line. Remounting read-write without a check keeps the recorded error (the kernel "
            'warns: "mounting fs with errors, running e2fsck is recommended").'
        )
        steps.append(_ext_errors_setting(dev, happened=True))
    elif fstype == "xfs":
        steps.append(
            "XFS shut the filesystem down: every access fails with EIO until it is unmounted. "
            "Once the storage is healthy: unmount, mount again to replay the log, unmount, "
            f"then {_cmd(f'xfs_repair -n {dev}')} (a dry run) and {_cmd(f'xfs_repair {dev}')}. "
            f"{_cmd('xfs_repair -L')} discards the log and with it the latest changes: a last "
            "resort. XFS has no errors= option; its retry behaviour is under "
            "/sys/fs/xfs/<dev>/error/."
        )
    elif fstype == "btrfs":
        steps.append(
            "btrfs forced itself read-only after an error (it has no errors= option). "
            f"{_cmd(f'btrfs device stats {mount or dev}')} shows per-device error counters. "
            "Once the storage is healthy: unmount and run "
            f"{_cmd(f'btrfs check --readonly {dev}')}; {_cmd('btrfs check --repair')} only "
            "with a backup, as its manual warns."
        )
    else:
        steps.append(
            f"Once the storage is healthy: unmount {the_fs} and check it "
            f"({_cmd(f'fsck -n {dev}')} for a dry run first), then mount it again."
        )
    if outcome == "panic":
        steps.append(
            "The machine panicked (errors=panic) and restarted; this message was sent after "
            "the restart. Check that the filesystem was checked and mounted on boot."
        )
    else:
        steps.append(
            f"Meanwhile the services that write to {the_fs} are failing: check them "
            "(databases, queues, logs)."
        )
    return _numbered(steps)


def _ext_errors_setting(dev: str, *, happened: bool) -> str:
    here = ": what happened here" if happened else ""
    return (
        "On a filesystem error, ext2/3/4 do what the errors= setting says: continue (log and "
        f"carry on), remount-ro (stop all writes, so the damage cannot spread{here}) or "
        "panic (crash the machine, for clusters that must fail over). It is the errors= "
        "mount option if set, else the superblock default: "
        f'{_cmd(f"tune2fs -l {dev}")} shows "Errors behavior", {_cmd("tune2fs -e")} changes it.'
    )


def _numbered(steps: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for number, step in enumerate(steps, 1):
        lines += _wrap(step, "     ", f"  {number}. ")
    return lines


def _intro(alert: Alert, incident: Mapping[str, Any] | None) -> list[str]:
    host = f"{clean(alert.host, FIELD_MAX)} ({clean(alert.fqdn, VALUE_MAX)})"
    if alert.kind is AlertKind.TEST:
        text = (
            f"This is a test alert from rowatch on {host}. If you can read it, e-mail "
            "alerts from this machine reach you. Nothing is wrong."
        )
        return _wrap(text)
    if incident is None:
        count = len(alert.incidents)
        text = (
            f"{count} incidents on {host} at about the same time. Many at once usually have "
            "one cause, such as a SAN or storage network outage. Each is summarised below; "
            "the attached JSON has the full evidence."
        )
        return _wrap(text)
    what = clean(incident.get("mountpoint") or "", VALUE_MAX) or _where(_safe_incident(incident))
    outcome = incident.get("outcome")
    if alert.kind is AlertKind.RECOVERED:
        text = f"{what} on {host} is {recovery(incident)}."
    elif alert.kind is AlertKind.CLOSED:
        text = (
            f"No new errors on {what} on {host} for a while, and it never went read-only: "
            "rowatch closed the incident."
        )
    elif outcome == "read_only":
        text = (
            f"The kernel remounted {what} on {host} read-only after errors. Writes to it fail "
            '("Read-only file system") until it is repaired and remounted.'
        )
    elif outcome == "shutdown":
        text = (
            f"XFS shut down {what} on {host} after errors. Every access to it fails until it "
            "is unmounted, repaired and mounted again."
        )
    elif outcome == "panic":
        text = f"Errors on {what} made the kernel of {host} panic (errors=panic)."
    elif not incident.get("filesystem_device") and not incident.get("mountpoint"):
        text = f"The kernel reported I/O errors on {host}; no filesystem is known to be affected."
    else:
        text = (
            f"The kernel reported errors on {what} on {host}. It is still writable: this "
            "is a warning."
        )
    if alert.kind is AlertKind.UPDATE:
        text = f"Update: {text} More kernel messages arrived since the first message."
    return _wrap(text)


def _incident_block(
    alert: Alert, incident: Mapping[str, Any], *, evidence_limit: int | None, steps: bool = True
) -> list[str]:
    fstype = incident.get("filesystem")
    device = incident.get("filesystem_device")
    filesystem = " on ".join(clean(x, FIELD_MAX) for x in (fstype, device) if x) or None
    outcome = incident.get("outcome")
    outcome_text = (
        _OUTCOME_TEXT.get(str(outcome), clean(outcome, FIELD_MAX))
        if outcome
        else "errors, still writable (warning)"
    )
    if alert.kind is AlertKind.RECOVERED:
        outcome_text = f"{recovery(incident)} (was: {outcome_text})"
    lines = _facts(
        [
            ("Mountpoint", clean(incident.get("mountpoint"), VALUE_MAX) or "unknown"),
            ("Filesystem", filesystem),
            ("Outcome", outcome_text),
            ("First error", _time(incident.get("first_time"), incident.get("first_uptime"))),
            ("Last error", _time(incident.get("last_time"), incident.get("last_uptime"))),
            ("Counts", _counts(incident)),
            ("Incident", clean(incident.get("id"), FIELD_MAX)),
        ]
    )
    cause = incident.get("cause")
    if isinstance(cause, Mapping) and (cause.get("summary") or cause.get("advice")):
        lines += _heading("Likely cause")
        if cause.get("summary"):
            lines += _wrap(clean(cause["summary"], 2000), "  ")
        if cause.get("advice"):
            lines += _wrap(clean(cause["advice"], 2000), "  ", "  Advice: ")
        if cause.get("code"):
            lines += _wrap(f"(cause code: {clean(cause['code'], 40)})", "  ")
    if steps:
        lines += _heading("What to do")
        lines += _next_steps(incident, alert.kind)
    stack = _stack_lines(incident)
    if stack:
        lines += _heading("Device stack, from the disk up")
        lines += stack
    lines += _heading("Evidence (kernel messages, times in UTC)")
    lines += _evidence_lines(incident, evidence_limit)
    return lines


def render_text(alert: Alert) -> str:
    """The plain-text body."""
    incident = alert.incident if alert.kind is not AlertKind.DIGEST else None
    lines = _intro(alert, incident)
    lines.append("")
    lines += _facts([("Host", f"{clean(alert.host, FIELD_MAX)} ({clean(alert.fqdn, VALUE_MAX)})")])
    if alert.kind is AlertKind.TEST:
        lines += _facts([("Sent", _time(_iso(alert.created), None))])
    elif incident is not None:
        lines += _incident_block(alert, incident, evidence_limit=None)
    else:
        lines += _heading("What to do")
        lines += _numbered(
            [
                "Look for what the incidents share (a storage array, a SAN fabric, a "
                "hypervisor host, a multipath map) in their device stacks and causes below, "
                "and fix that first.",
                "Then deal with each filesystem as its own alert would say: check it "
                f"({_cmd('e2fsck -f')}, {_cmd('xfs_repair')}, {_cmd('btrfs check')}) once the "
                "storage is healthy, and mount it again.",
            ]
        )
        for number, each in enumerate(alert.incidents, 1):
            title = f"{number}. {clean(_state(_safe_incident(each)), VALUE_MAX)}"
            lines += ["", *_wrap(title, "   ", ""), "=" * min(len(title), WIDTH), ""]
            lines += _incident_block(alert, each, evidence_limit=DIGEST_EVIDENCE, steps=False)
    lines += ["", "-- "]
    thread = "" if alert.sequence == 0 else f", message {alert.sequence + 1} about this incident"
    lines += _wrap(
        f"rowatch {__version__} on {clean(alert.fqdn, VALUE_MAX)}; alert "
        f"{clean(alert.id, FIELD_MAX)} ({alert.kind.value}{thread})."
    )
    return "\n".join(line if line == "-- " else line.rstrip() for line in lines) + "\n"


def _iso(created: float) -> str | None:
    try:
        return datetime.fromtimestamp(created, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


# ------------------------------------------------------------------------------- message
def _address(text: str, default_name: str = "") -> Address:
    name, addr = split_address(clean(text, 512))
    local, _, domain = addr.rpartition("@")
    return Address(
        display_name=clean(name or default_name, FIELD_MAX), username=local, domain=domain
    )


def _date(created: float) -> str:
    try:
        moment = datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        moment = datetime.fromtimestamp(0, UTC)
    return format_datetime(moment)


def render(alert: Alert, *, mail_from: str, mail_to: Sequence[str]) -> EmailMessage:
    """The alert as a message ready for SMTP.

    ``mail_from`` and each of ``mail_to`` are ``user@host`` or ``Name <user@host>``; a
    sender without a name is shown as ``rowatch on HOST``. Raises ValueError for an address
    that is not one (the configuration checks them first).
    """
    if not mail_to:
        raise ValueError("no recipients")
    message = EmailMessage()
    message["From"] = _address(mail_from, f"rowatch on {_field(alert.host)}")
    message["To"] = [_address(a) for a in mail_to]
    message["Subject"] = subject(alert)
    message["Date"] = _date(alert.created)
    message["Message-ID"] = message_id(alert.id, alert.fqdn)
    if alert.thread is not None and alert.thread != alert.id:
        first = message_id(alert.thread, alert.fqdn)
        message["In-Reply-To"] = first
        message["References"] = first
    # RFC 3834: no vacation or out-of-office replies to a machine.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Rowatch-Kind"] = alert.kind.value
    message["X-Rowatch-Host"] = _field(alert.host)
    ids = [clean(i.get("id"), 32) for i in alert.incidents[:20] if i.get("id")]
    if ids:
        message["X-Rowatch-Incident"] = " ".join(ids)
    if alert.kind is AlertKind.READ_ONLY:
        message["Importance"] = "high"
        message["X-Priority"] = "1"
    text = render_text(alert)
    # 7-bit clean whatever the relay supports; quoted-printable keeps ASCII readable.
    message.set_content(
        text, subtype="plain", charset="utf-8", cte=None if text.isascii() else "quoted-printable"
    )
    if alert.incidents:
        data = json.dumps(
            list(alert.incidents) if len(alert.incidents) > 1 else alert.incidents[0],
            ensure_ascii=True,
            indent=1,
            default=str,
        )
        name = ids[0] if len(ids) == 1 else "digest"
        filename = f"rowatch-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.json"
        message.add_attachment(
            data.encode("ascii"), maintype="application", subtype="json", filename=filename
        )
    return message
