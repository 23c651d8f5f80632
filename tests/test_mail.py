"""Alerts rendered as e-mail: subjects, body, threading, and headers nothing can inject into."""

from __future__ import annotations

import copy
import email
import email.policy
import json
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rowatch.alert import Alert, AlertKind
from rowatch.mail import SUBJECT_MAX, WIDTH, clean, message_id, render, render_text, subject
from rowatch.replay import replay

REAL = Path(__file__).parent / "data" / "real"

INCIDENT: dict[str, Any] = {
    "id": "9332fe0e5d82",
    "filesystem_device": "dm-0",
    "filesystem": "ext3",
    "mountpoint": "/var",
    "outcome": "read_only",
    "devices": ["0:0:0:0", "sda", "dm-0"],
    "cause": {
        "code": "scsi_path_busy",
        "summary": "SCSI BUSY or timeouts from the hypervisor or SAN, typically during a "
        "storage path failover",
        "advice": "check the storage path: multipath -ll, the SAN and the hypervisor",
    },
    "first_time": "2024-05-01T09:14:03.120000+00:00",
    "last_time": "2024-05-01T09:14:03.170000+00:00",
    "first_uptime": 100.01,
    "last_uptime": 100.05,
    "counts": {"fs_error": 2, "io_error": 1, "read_only": 1, "scsi_error": 1},
    "events": [
        {
            "kind": "scsi_error",
            "device": "0:0:0:0",
            "time": "2024-05-01T09:14:03.120000+00:00",
            "uptime": 100.0,
            "message": "SCSI Error : <0 0 0 0> return code = 0x20008",
            "signature": "scsi_error_return_code",
            "details": {"code": "0x20008", "scsi_result": "DID_BUS_BUSY + status BUSY"},
        },
        {
            "kind": "io_error",
            "device": "sda",
            "time": "2024-05-01T09:14:03.130000+00:00",
            "uptime": 100.01,
            "message": "blk_update_request: I/O error, dev sda, sector 2099200 op 0x1:(WRITE) "
            "flags 0x800 phys_seg 1 prio class 0",
            "signature": "blk_update_request",
        },
        {
            "kind": "fs_error",
            "device": "dm-0",
            "time": None,
            "uptime": 100.04,
            "suppressed": 1,
            "message": "EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted "
            "journal",
            "signature": "ext_error",
        },
        {
            "kind": "read_only",
            "device": "dm-0",
            "time": "2024-05-01T09:14:03.170000+00:00",
            "uptime": 100.05,
            "message": "EXT3-fs (dm-0): Remounting filesystem read-only",
            "signature": "ext_remount_ro",
        },
    ],
    "events_omitted": 0,
}

CREATED = 1714554844.0  # 2024-05-01 09:14:04 UTC


def make_alert(
    kind: AlertKind = AlertKind.READ_ONLY,
    incidents: tuple[dict[str, Any], ...] | None = None,
    **changes: Any,
) -> Alert:
    fields: dict[str, Any] = {
        "id": "a1b2c3d4e5f60718",
        "kind": kind,
        "host": "db1",
        "fqdn": "db1.example.com",
        "created": CREATED,
        "incidents": (INCIDENT,) if incidents is None else incidents,
    }
    fields.update(changes)
    return Alert(**fields)


def with_changes(**changes: Any) -> dict[str, Any]:
    incident = copy.deepcopy(INCIDENT)
    incident.update(changes)
    return incident


def wire(message: EmailMessage) -> bytes:
    """The message as SMTP sends it."""
    return message.as_bytes(policy=email.policy.SMTP)


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text


def flat(text: str) -> str:
    """Text with line breaks and runs of spaces as single spaces: for prose checks."""
    return " ".join(text.split())


def send(alert: Alert) -> EmailMessage:
    return render(alert, mail_from="rowatch@example.com", mail_to=["oncall@example.com"])


# ------------------------------------------------------------------------------- subjects
@pytest.mark.parametrize(
    ("kind", "incident", "expected"),
    [
        (AlertKind.READ_ONLY, INCIDENT, "[rowatch] db1: /var (dm-0, ext3) remounted read-only"),
        (
            AlertKind.OPENED,
            with_changes(outcome=None),
            "[rowatch] db1: errors on /var (dm-0) — still writable",
        ),
        (AlertKind.RECOVERED, INCIDENT, "[rowatch] db1: /var (dm-0) writable again"),
        (
            AlertKind.UPDATE,
            INCIDENT,
            "[rowatch] db1: update: /var (dm-0, ext3) remounted read-only",
        ),
        (
            AlertKind.CLOSED,
            with_changes(outcome=None),
            "[rowatch] db1: errors on /var (dm-0) stopped — incident closed",
        ),
        (
            AlertKind.READ_ONLY,
            with_changes(filesystem="xfs", outcome="shutdown"),
            "[rowatch] db1: /var (dm-0, xfs) shut down",
        ),
        (
            AlertKind.READ_ONLY,
            with_changes(mountpoint=None),
            "[rowatch] db1: filesystem on dm-0, ext3 remounted read-only",
        ),
        (
            AlertKind.OPENED,
            with_changes(outcome=None, mountpoint=None, filesystem_device=None, devices=["sdb"]),
            "[rowatch] db1: I/O errors on sdb — no filesystem known to be affected",
        ),
    ],
)
def test_subjects(kind: AlertKind, incident: dict[str, Any], expected: str) -> None:
    assert subject(make_alert(kind, (incident,))) == expected


def test_digest_and_test_subjects() -> None:
    many = tuple(
        with_changes(id=f"{i:012x}", outcome=None if i % 3 else "read_only") for i in range(12)
    )
    assert (
        subject(make_alert(AlertKind.DIGEST, many))
        == "[rowatch] db1: digest: 12 incidents, 4 read-only"
    )
    two = (INCIDENT, with_changes(id="b" * 12))
    assert (
        subject(make_alert(AlertKind.DIGEST, two))
        == "[rowatch] db1: digest: 2 incidents, all read-only"
    )
    assert subject(make_alert(AlertKind.TEST, ())) == "[rowatch] db1: test alert"


# ----------------------------------------------------------------------------------- body
def test_read_only_body_has_everything_on_call_needs() -> None:
    text = body(send(make_alert()))
    for needle in (
        "db1 (db1.example.com)",  # host and FQDN
        "Mountpoint:  /var",
        "Filesystem:  ext3 on dm-0",
        "Outcome:     remounted read-only",
        "0:0:0:0 -> sda -> dm-0",  # the whole device stack
        "SCSI BUSY or timeouts from the hypervisor or SAN",  # cause.summary
        "Advice: check the storage path: multipath -ll",  # cause.advice
        "e2fsck -f /dev/dm-0",  # what to do next
        "errors= setting",
        "remount-ro (stop all writes",
        "2024-05-01 09:14:03.120Z  scsi_error  0:0:0:0",  # the timeline, with times
        "SCSI Error : <0 0 0 0> return code = 0x20008",
        "DID_BUS_BUSY + status BUSY",  # decoded details
        "[  100.040000]  fs_error  dm-0  (+1 suppressed)",  # no wall clock: the uptime
        "EXT3-fs (dm-0): Remounting filesystem read-only",
        "fs_error 2, io_error 1, read_only 1, scsi_error 1",  # the counts
        "Incident:    9332fe0e5d82",
        "First error: 2024-05-01 09:14:03.120Z (100.010000 s after boot)",
        "alert a1b2c3d4e5f60718",
    ):
        assert needle in text, needle
    assert "\n-- \n" in text  # a signature separator clients recognise


def test_body_is_72_columns() -> None:
    long_line = "x" * 300
    incident = with_changes(
        events=[{**INCIDENT["events"][0], "message": "word " * 100 + long_line}]
    )
    for kind in AlertKind:
        text = render_text(make_alert(kind, (incident,), thread="f" * 16, sequence=2))
        assert max(len(line) for line in text.splitlines()) <= WIDTH, kind


def test_stack_identity_is_shown_when_the_snapshot_has_it() -> None:
    incident = with_changes(
        stack=[
            {
                "name": "sda",
                "type": "disk",
                "scsi_address": "0:0:0:0",
                "vendor": "SEAGATE",
                "model": "ST4000NM0035",
                "serial": "ZC1234AB",
                "wwn": "0x5000c500a1b2c3d4",
            },
            {"name": "dm-0", "type": "dm", "dm_name": "vg0-var"},
        ]
    )
    text = body(send(make_alert(incidents=(incident,))))
    assert "SEAGATE ST4000NM0035" in text
    assert "serial ZC1234AB" in text
    assert "wwn 0x5000c500a1b2c3d4" in text
    assert "dm-name vg0-var" in text
    # a mapping keyed by device name works too, and junk is ignored
    keyed = with_changes(stack={"sda": {"model": "Virtual disk", "serial": "S1"}, "x": 3})
    text = body(send(make_alert(incidents=(keyed,))))
    assert "sda  Virtual disk, serial S1" in text


@pytest.mark.parametrize(
    ("fstype", "outcome", "needles"),
    [
        ("xfs", "shutdown", ["xfs_repair -n /dev/dm-0", "xfs_repair -L", "EIO"]),
        ("btrfs", "read_only", ["btrfs check --readonly /dev/dm-0", "btrfs device stats /var"]),
        ("ext4", "panic", ["errors=panic", "after the restart"]),
        ("vfat", "read_only", ["fsck -n /dev/dm-0"]),
    ],
)
def test_advice_follows_the_filesystem(fstype: str, outcome: str, needles: list[str]) -> None:
    alert = make_alert(incidents=(with_changes(filesystem=fstype, outcome=outcome),))
    text = flat(body(send(alert)))
    for needle in needles:
        assert needle in text


def test_warning_recovered_closed_and_test_bodies() -> None:
    warning = flat(body(send(make_alert(AlertKind.OPENED, (with_changes(outcome=None),)))))
    assert "still writable: this is a warning" in warning
    assert "e2fsck" not in warning
    recovered = flat(body(send(make_alert(AlertKind.RECOVERED))))
    assert "/var on db1 (db1.example.com) is writable again" in recovered
    assert "writable again (was: remounted read-only)" in recovered
    closed = flat(body(send(make_alert(AlertKind.CLOSED, (with_changes(outcome=None),)))))
    assert "closed the incident" in closed
    test = flat(body(send(make_alert(AlertKind.TEST, ()))))
    assert "test alert from rowatch on db1 (db1.example.com)" in test
    assert "Nothing is wrong" in test


def test_many_events_show_where_lines_were_left_out() -> None:
    events = [
        {**INCIDENT["events"][1], "message": f"line {i}", "time": None, "uptime": float(i)}
        for i in range(100)
    ]
    text = body(send(make_alert(incidents=(with_changes(events=events, events_omitted=900),))))
    assert "line 0\n" in text and "line 99\n" in text
    assert (
        text.index("line 49\n")
        < text.index("... 900 more kernel messages")
        < text.index("line 50\n")
    )


def test_digest_lists_every_incident_briefly() -> None:
    events = [{**INCIDENT["events"][1], "message": f"line {i}"} for i in range(40)]
    incidents = tuple(
        with_changes(id=f"{i:012x}", mountpoint=f"/srv/{i}", events=events) for i in range(3)
    )
    message = send(make_alert(AlertKind.DIGEST, incidents))
    text = body(message)
    for i in range(3):
        assert f"/srv/{i} (dm-0, ext3) remounted read-only" in text
    assert "line 4\n" in text and "line 35\n" in text and "line 20\n" not in text
    assert "30 more kernel messages" in text
    assert text.count("What to do") == 1  # once for all, not per incident
    assert message["X-Rowatch-Incident"] == "000000000000 000000000001 000000000002"
    attachment = next(message.iter_attachments())
    assert [i["id"] for i in json.loads(attachment.get_content())] == [i["id"] for i in incidents]


def test_incident_json_is_attached() -> None:
    message = send(make_alert())
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "rowatch-9332fe0e5d82.json"
    assert attachment.get_content_type() == "application/json"
    assert json.loads(attachment.get_content()) == INCIDENT
    assert list(send(make_alert(AlertKind.TEST, ())).iter_attachments()) == []


def test_real_incidents_render(tmp_path: Path) -> None:
    """Whatever the engine makes of real kernel logs renders, within 72 columns."""
    logs = sorted(REAL.glob("*.kmsg"))
    assert logs
    for log in logs:
        for incident in replay([str(log)]).incidents:
            for kind in (AlertKind.READ_ONLY, AlertKind.OPENED, AlertKind.RECOVERED):
                message = parse(wire(send(make_alert(kind, (incident,)))))
                text = body(message)
                assert incident["id"] in text
                assert max(len(line) for line in text.splitlines()) <= WIDTH


# --------------------------------------------------------------------- headers, threading
def test_message_id_is_derived_from_the_alert_id() -> None:
    first = send(make_alert())
    again = send(make_alert())
    assert first["Message-ID"] == again["Message-ID"] == "<a1b2c3d4e5f60718@db1.example.com>"
    assert first["In-Reply-To"] is None and first["References"] is None
    assert first["Date"] == "Wed, 01 May 2024 09:14:04 +0000"
    assert first["Auto-Submitted"] == "auto-generated"
    assert first["From"] == "rowatch on db1 <rowatch@example.com>"
    assert first["Importance"] == "high"


def test_later_messages_thread_under_the_first() -> None:
    first = make_alert()
    update = make_alert(AlertKind.UPDATE, id="0f1e2d3c4b5a6978", thread=first.id, sequence=1)
    message = send(update)
    assert message["Message-ID"] == "<0f1e2d3c4b5a6978@db1.example.com>"
    assert message["In-Reply-To"] == message["References"] == send(first)["Message-ID"]
    assert "message 2 about this incident" in body(message)
    assert message["Importance"] is None


@pytest.mark.parametrize(
    ("alert_id", "fqdn", "pattern"),
    [
        ("abc", "db1.example.com", r"<abc@db1\.example\.com>"),
        ("x y\r\nBcc: z", "db1", r"<rowatch-[0-9a-f]{32}@db1>"),
        ("a" * 100, "db1.", r"<rowatch-[0-9a-f]{32}@db1>"),
        ("abc", "bücher.example", r"<abc@xn--bcher-kva\.example>"),
        ("abc", "bad host\n", r"<abc@rowatch\.invalid>"),
        ("abc", "", r"<abc@rowatch\.invalid>"),
    ],
)
def test_message_id_is_always_valid(alert_id: str, fqdn: str, pattern: str) -> None:
    assert re.fullmatch(pattern, message_id(alert_id, fqdn))


def test_display_names_and_several_recipients() -> None:
    message = render(
        make_alert(),
        mail_from="Storage watch <rowatch@example.com>",
        mail_to=["oncall@example.com", "Équipe stockage <storage@example.com>"],
    )
    parsed = parse(wire(message))
    assert parsed["From"] == "Storage watch <rowatch@example.com>"
    assert [a.addr_spec for a in parsed["To"].addresses] == [
        "oncall@example.com",
        "storage@example.com",
    ]
    assert parsed["To"].addresses[1].display_name == "Équipe stockage"
    with pytest.raises(ValueError):
        render(make_alert(), mail_from="rowatch@example.com", mail_to=[])
    with pytest.raises(ValueError):
        render(make_alert(), mail_from="not an address", mail_to=["a@example.com"])


# -------------------------------------------------------------------------- injection
HOSTILE = "/mnt/x\r\nBcc: evil@x"


def assert_clean_headers(raw: bytes, message: EmailMessage) -> None:
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert len(line) <= 998
        assert not line.lower().startswith(b"bcc"), line
    assert message["Bcc"] is None
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert sorted(set(message.keys())) == sorted(
        {
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-Rowatch-Kind",
            "X-Rowatch-Host",
            "MIME-Version",
            "Content-Type",
            *(["X-Rowatch-Incident"] if message["X-Rowatch-Incident"] else []),
            *(["Importance", "X-Priority"] if message["Importance"] else []),
            *(["In-Reply-To", "References"] if message["References"] else []),
        }
    )


def test_hostile_mountpoint_cannot_inject_headers() -> None:
    alert = make_alert(incidents=(with_changes(mountpoint=HOSTILE, id="x\r\nBcc: y"),))
    raw = wire(send(alert))
    message = parse(raw)
    assert_clean_headers(raw, message)
    assert (
        message["Subject"] == "[rowatch] db1: /mnt/x??Bcc: evil@x (dm-0, ext3) remounted read-only"
    )
    assert "Mountpoint:  /mnt/x??Bcc: evil@x" in body(message)
    assert message["X-Rowatch-Incident"] == "x??Bcc: y"


def test_hostile_host_devices_and_log_text() -> None:
    incident = with_changes(
        filesystem_device="dm-0\nTo: evil@x",
        filesystem="ext4\x00\x1b[31m",
        devices=["sda\r\nCc: evil@x", "\u202edm-0"],
        events=[{**INCIDENT["events"][0], "message": "a\x1b[2Jb\rc\u2028d"}],
    )
    alert = make_alert(
        incidents=(incident,), host="db1\r\nBcc: evil@x", fqdn="db1\nx", thread="t\r\nq"
    )
    raw = wire(send(alert))
    message = parse(raw)
    assert_clean_headers(raw, message)
    assert message["Cc"] is None
    assert message["X-Rowatch-Host"] == "db1??Bcc: evil@x"
    text = body(message)
    assert "\x1b" not in text and "\u202e" not in text and "\u2028" not in text
    assert "a?[2Jb?c?d" in text


def test_ten_kilobyte_mountpoint_is_capped() -> None:
    mountpoint = "/" + "m" * 10_240
    raw = wire(send(make_alert(incidents=(with_changes(mountpoint=mountpoint),))))
    message = parse(raw)
    assert_clean_headers(raw, message)
    assert len(message["Subject"]) <= SUBJECT_MAX
    assert "…" in message["Subject"]
    text = body(message)
    assert mountpoint not in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert len(raw) < 60_000


def test_non_ascii_and_undecodable_names() -> None:
    incident = with_changes(mountpoint="/mnt/données \udcff")
    raw = wire(send(make_alert(incidents=(incident,))))
    assert max(raw) < 128  # everything encoded for 7-bit transport
    message = parse(raw)
    assert message["Subject"] == "[rowatch] db1: /mnt/données ? (dm-0, ext3) remounted read-only"
    assert "/mnt/données ?" in body(message)


def test_clean() -> None:
    assert clean("a\r\nb\tc\x7f") == "a??b?c?"
    assert clean(None) == ""
    assert clean("abcdef", 4) == "abc…"
    assert clean(12) == "12"


text_with_controls = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(["\r", "\n", ":", "\x00", "\u2028"]),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(mountpoint=text_with_controls, host=text_with_controls, device=text_with_controls)
def test_no_input_breaks_the_headers(mountpoint: str, host: str, device: str) -> None:
    incident = with_changes(mountpoint=mountpoint, filesystem_device=device, devices=[device])
    alert = make_alert(incidents=(incident,), host=host, fqdn=host)
    raw = wire(send(alert))
    message = parse(raw)
    assert_clean_headers(raw, message)
    assert message["Message-ID"] == message_id(alert.id, alert.fqdn)
