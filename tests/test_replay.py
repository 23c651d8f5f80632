"""``rowatch replay`` end to end, on logs a real kernel printed."""

from __future__ import annotations

import gzip
import io
import json
import lzma
import sys
from pathlib import Path
from typing import Any

import pytest

from rowatch.cli import main

REAL = Path(__file__).parent / "data" / "real"
MANIFEST = json.loads((REAL / "manifest.json").read_text())
SCENARIOS = sorted(k for k in MANIFEST if not k.startswith("_"))

SEED = b"""\
Nov 25 03:12:01 web7 kernel: SCSI Error : <0 0 0 0> return code = 0x20008
Nov 25 03:12:01 web7 kernel: end_request: I/O error, dev sda, sector 4928181
Nov 25 03:12:01 web7 kernel: Aborting journal on device dm-0.
Nov 25 03:12:01 web7 kernel: ext3_abort called.
Nov 25 03:12:01 web7 kernel: EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted journal
Nov 25 03:12:01 web7 kernel: Remounting filesystem read-only
Nov 25 03:12:05 web7 sshd[811]: Accepted publickey for ops from 10.0.0.5 port 50122
"""


def replay_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["replay", "--json", *args]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("suffix", ["kmsg", "dmesg"])
def test_real_kernel_logs_give_the_outcome_the_kernel_reached(
    capsys: pytest.CaptureFixture[str], scenario: str, suffix: str
) -> None:
    facts = MANIFEST[scenario]
    incidents = replay_json(capsys, str(REAL / f"{scenario}.{suffix}"))
    alerts = [i for i in incidents if i["outcome"]]
    if scenario == "fake-userspace-remount" and suffix == "dmesg":
        # Plain dmesg text has lost the facility that unmasks userspace: replay trusts text
        # the operator chose. The raw kmsg capture of the same records alerts nothing.
        assert alerts
        return
    if not facts["expect_alert"]:
        assert alerts == []
        return
    (alert,) = alerts
    assert alert["outcome"] == facts["outcome"]
    assert alert["filesystem_device"] == facts["device"]
    assert alert["devices"][-1] == facts["device"]
    # ext2 and ext3 are served by the ext4 driver on this kernel and say "EXT4-fs"; the
    # mount line ("mounting ext3 file system using the ext4 subsystem") tells them apart.
    assert alert["filesystem"] == facts["fstype"]
    assert alert["cause"] is not None


def test_userspace_imitation_in_raw_kmsg_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(REAL / "fake-userspace-remount.kmsg")]) == 0
    out = capsys.readouterr().out
    assert "rejected: not written by the kernel" in out
    assert "INCIDENT" not in out


def test_seed_syslog_names_cause_and_filesystem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "messages"
    log.write_bytes(SEED)
    (incident,) = replay_json(capsys, "--year", "2009", str(log))
    assert incident["filesystem_device"] == "dm-0"
    assert incident["outcome"] == "read_only"
    assert incident["cause"]["code"] == "scsi_path_busy"
    assert incident["first_time"].startswith("2009-11-25T03:12:01")


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_compressed_input_is_read_transparently(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, compress: Any
) -> None:
    log = tmp_path / "messages.1.gz"  # the name lies for xz: content decides
    log.write_bytes(compress(SEED))
    (incident,) = replay_json(capsys, str(log))
    assert incident["filesystem_device"] == "dm-0"


def test_stdin_is_read_with_a_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SEED)))
    (incident,) = replay_json(capsys, "-")
    assert incident["outcome"] == "read_only"


def test_topology_snapshot_names_the_mountpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    topology = {
        "version": 1,
        "devices": [
            {"name": "sda", "type": "disk", "maj_min": "8:0", "scsi_address": "0:0:0:0"},
            {"name": "sda2", "type": "part", "parents": ["sda"]},
            {
                "name": "dm-0",
                "type": "dm",
                "parents": ["sda2"],
                "dm_name": "vg0-var",
                "fstype": "ext3",
                "mountpoints": ["/var"],
            },
        ],
    }
    (tmp_path / "topology.json").write_text(json.dumps(topology))
    (tmp_path / "messages").write_bytes(SEED)
    (incident,) = replay_json(
        capsys, "--topology", str(tmp_path / "topology.json"), str(tmp_path / "messages")
    )
    assert incident["mountpoint"] == "/var"
    assert incident["devices"] == ["sda", "sda2", "dm-0"]


def test_text_report_reads_like_an_alert(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "messages").write_bytes(SEED)
    assert main(["replay", str(tmp_path / "messages")]) == 0
    out = capsys.readouterr().out
    assert "filesystem on dm-0, ext3 remounted read-only" in out
    assert "stack     0:0:0:0 -> sda -> dm-0" in out
    assert "1 incidents (1 read-only/shutdown/panic, 0 warnings)" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"version": 2, "devices": []}', "version 2 is not supported"),
        ('{"version": 1, "devices": [{"name": "../etc"}]}', "devices[0].name"),
        ('{"version": 1, "devices": [{"name": "sda", "parents": [1]}]}', "devices[0].parents"),
    ],
)
def test_bad_topology_is_refused_with_the_field_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "t.json").write_text(content)
    (tmp_path / "messages").write_bytes(SEED)
    assert main(["replay", "--topology", str(tmp_path / "t.json"), str(tmp_path / "messages")]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["replay", str(tmp_path / "nope.log")]) == 2
    err = capsys.readouterr().err
    assert "nope.log" in err


def test_garbage_input_finds_nothing_and_does_not_crash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = bytes(range(256)) * 64 + b"\n" + b"A" * 2_000_000 + b"\n\xff\xfe I/O error, dev ../x\n"
    (tmp_path / "junk").write_bytes(junk)
    assert replay_json(capsys, str(tmp_path / "junk")) == []
