"""Exec sink: real programs (sh and python scripts in tmp_path) receive the alerts."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from structlog.testing import capture_logs

from rowatch.alert import Alert, AlertKind
from rowatch.config import Config, ConfigError, Section, loads_config
from rowatch.sinks import SinkError
from rowatch.sinks.exec import (
    OUTPUT_LIMIT,
    ExecConfig,
    ExecSink,
    alert_environment,
    env_value,
    program_environment,
)
from rowatch.sinks.webhook import encode_payload

INCIDENT: dict[str, Any] = {
    "id": "8cd0b464f267",
    "filesystem_device": "dm-0",
    "filesystem": "ext3",
    "mountpoint": "/srv/da\nta",
    "outcome": "read_only",
    "devices": ["0:0:0:0", "sda", "dm-0"],
    "cause": {"code": "scsi_path_busy", "summary": "SCSI BUSY", "advice": "check the path"},
    "counts": {"read_only": 1},
    "events": [],
    "events_omitted": 0,
}
ALERT = Alert(
    id="a1b2c3d4e5f6",
    kind=AlertKind.READ_ONLY,
    host="web7",
    fqdn="web7.example.com",
    created=1764040321.5,
    incidents=(INCIDENT,),
)


def script(tmp_path: Path, body: str, name: str = "alert") -> Path:
    """An executable script, mode 0755 as root would install it."""
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return path


def sink(program: Path, *args: str, timeout: float = 10.0) -> ExecSink:
    return ExecSink(ExecConfig(program=str(program), args=args, timeout=timeout))


def send(target: ExecSink, alert: Alert = ALERT) -> None:
    asyncio.run(target.send(alert))


def gone(pid: int, timeout: float = 2.0) -> bool:
    """Whether ``pid`` dies within ``timeout`` (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ------------------------------------------------------------------------------- delivery
def test_program_gets_json_on_stdin_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("ROWATCH_STALE", "from the daemon's own environment")
    monkeypatch.setenv("KEEP_ME", "inherited")
    out = tmp_path / "out"
    program = script(
        tmp_path,
        f"""#!{sys.executable}
import json, os, sys
json.dump({{"argv": sys.argv[1:], "stdin": sys.stdin.read(), "env": dict(os.environ),
           "cwd": os.getcwd(), "pgid": os.getpgid(0), "pid": os.getpid()}},
          open({str(out)!r}, "w"))
""",
    )
    send(sink(program, "--page", "$(touch pwned)", "two words", ""))
    seen = json.loads(out.read_text())
    assert seen["argv"] == ["--page", "$(touch pwned)", "two words", ""]
    assert not (tmp_path / "pwned").exists() and not Path("/pwned").exists()
    assert seen["stdin"].encode() == encode_payload(ALERT)
    assert json.loads(seen["stdin"])["alert"]["id"] == "a1b2c3d4e5f6"
    assert seen["cwd"] == "/"
    assert seen["pgid"] == seen["pid"]  # its own process group
    env = seen["env"]
    assert "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env
    assert "ROWATCH_STALE" not in env
    assert env["KEEP_ME"] == "inherited"
    rowatch = {k: v for k, v in env.items() if k.startswith("ROWATCH_")}
    assert rowatch == {
        "ROWATCH_EVENT": "read_only",
        "ROWATCH_HOST": "web7",
        "ROWATCH_FQDN": "web7.example.com",
        "ROWATCH_ALERT_ID": "a1b2c3d4e5f6",
        "ROWATCH_SUMMARY": "web7: /srv/da?ta (dm-0, ext3) remounted read-only",
        "ROWATCH_INCIDENT": "8cd0b464f267",
        "ROWATCH_INCIDENT_COUNT": "1",
        "ROWATCH_DEVICE": "dm-0",
        "ROWATCH_MOUNTPOINT": "/srv/da?ta",
        "ROWATCH_FILESYSTEM": "ext3",
        "ROWATCH_OUTCOME": "read_only",
        "ROWATCH_CAUSE": "scsi_path_busy",
    }


def test_values_are_one_safe_line() -> None:
    assert env_value("a\nb\rc\0d\x7fe\tf") == "a?b?c?d?e?f"
    assert env_value("\udcff mount") == "? mount"
    assert env_value(None) == ""
    assert len(env_value("x" * 100_000)) == 1024
    warning = {**INCIDENT, "outcome": None, "mountpoint": None, "cause": None}
    env = alert_environment(Alert("w", AlertKind.OPENED, "h", "h", 0.0, (warning,)))
    assert env["ROWATCH_OUTCOME"] == env["ROWATCH_MOUNTPOINT"] == env["ROWATCH_CAUSE"] == ""
    digest = Alert("d", AlertKind.DIGEST, "h", "h", 0.0, (INCIDENT, {**INCIDENT, "id": "2"}))
    env = alert_environment(digest)
    assert env["ROWATCH_INCIDENT"] == "8cd0b464f267 2"
    assert env["ROWATCH_INCIDENT_COUNT"] == "2"
    assert env["ROWATCH_DEVICE"] == ""
    assert "PATH" in program_environment(digest, {})


@pytest.mark.parametrize(
    ("status", "temporary"), [(0, None), (75, True), (1, False), (2, False), (64, False)]
)
def test_exit_status(tmp_path: Path, status: int, temporary: bool | None) -> None:
    program = script(tmp_path, f"#!/bin/sh\necho 'said something'\nexit {status}\n")
    with capture_logs() as logs:
        if temporary is None:
            send(sink(program))
        else:
            with pytest.raises(SinkError) as caught:
                send(sink(program))
            assert caught.value.temporary is temporary
            assert f"exit status {status}" in str(caught.value)
    (entry,) = logs
    assert entry["exit_status"] == status
    assert entry["stdout"] == "said something"
    assert entry["event"] == ("alert_program_finished" if status == 0 else "alert_program_failed")


def test_killed_by_a_signal_is_temporary(tmp_path: Path) -> None:
    program = script(tmp_path, "#!/bin/sh\nkill -TERM $$\n")
    with pytest.raises(SinkError, match="killed by SIGTERM") as caught:
        send(sink(program))
    assert caught.value.temporary


def test_a_program_that_cannot_run_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot run") as caught:
        send(sink(tmp_path / "missing"))
    assert not caught.value.temporary
    not_a_program = tmp_path / "data"
    not_a_program.write_bytes(b"\x00\x01binary")
    not_a_program.chmod(0o755)
    with pytest.raises(SinkError, match="cannot run") as caught:
        send(sink(not_a_program))
    assert not caught.value.temporary


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = script(
        tmp_path,
        f"#!/bin/sh\nsleep 60 &\necho $$ $! > {pids}\necho started\nsleep 60\n",
    )
    started = time.monotonic()
    with capture_logs() as logs, pytest.raises(SinkError, match="still running after") as caught:
        send(sink(program, timeout=0.5))
    assert time.monotonic() - started < 3
    assert caught.value.temporary
    for pid in map(int, pids.read_text().split()):
        assert gone(pid)
    assert logs[0]["stdout"] == "started"


def test_leftovers_holding_the_output_open_are_killed(tmp_path: Path) -> None:
    """A program that exits 0 but leaves a child on its stdout: delivered, child killed."""
    pids = tmp_path / "pids"
    program = script(tmp_path, f"#!/bin/sh\nsleep 60 &\necho $! > {pids}\nexit 0\n")
    with capture_logs() as logs:
        send(sink(program, timeout=0.5))
    (pid,) = map(int, pids.read_text().split())
    assert gone(pid)
    assert "kept its output open" in logs[0]["note"]


def test_detached_background_work_is_left_alone(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = script(
        tmp_path, f"#!/bin/sh\nsleep 60 </dev/null >/dev/null 2>&1 &\necho $! > {pids}\n"
    )
    started = time.monotonic()
    send(sink(program, timeout=5))
    assert time.monotonic() - started < 2
    (pid,) = map(int, pids.read_text().split())
    try:
        assert alive(pid)
    finally:
        os.kill(pid, 9)


def test_output_is_bounded(tmp_path: Path) -> None:
    program = script(
        tmp_path,
        f"#!{sys.executable}\nimport sys\nsys.stdout.write('x' * 1_000_000)\n"
        "sys.stderr.write('oops\\n')\nsys.exit(75)\n",
    )
    with capture_logs() as logs, pytest.raises(SinkError):
        send(sink(program))
    (entry,) = logs
    assert entry["stdout"].startswith("x" * OUTPUT_LIMIT + "\n[... ")
    assert entry["stdout"].endswith(f"{1_000_000 - OUTPUT_LIMIT} more bytes not kept]")
    assert entry["stderr"] == "oops"
    assert entry["temporary"] is True


def test_a_program_that_does_not_read_stdin(tmp_path: Path) -> None:
    program = script(tmp_path, "#!/bin/sh\nexit 0\n")
    big = Alert("b", AlertKind.DIGEST, "h", "h", 0.0, tuple([INCIDENT] * 2000))
    send(sink(program), big)


def test_parallel_sends(tmp_path: Path) -> None:
    program = script(tmp_path, "#!/bin/sh\nsleep 0.3\n")
    target = sink(program)

    async def both() -> None:
        await asyncio.gather(target.send(ALERT), target.send(ALERT))
        await target.close()

    started = time.monotonic()
    asyncio.run(both())
    assert time.monotonic() - started < 1.5


def test_cancelled_send_leaves_nothing_running(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    program = script(tmp_path, f"#!/bin/sh\necho $$ > {pids}\nsleep 60\n")

    async def cancel() -> None:
        task = asyncio.create_task(sink(program).send(ALERT))
        while not pids.exists() or not pids.read_text():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel())
    assert gone(int(pids.read_text()))


# ------------------------------------------------------------------------------- config
@dataclass(frozen=True, slots=True, kw_only=True)
class ExecSchema(Config):
    exec: Annotated[ExecConfig, Section("A program for every alert.")] = field(
        default_factory=ExecConfig
    )


def load(text: str) -> Config:
    return loads_config(text, "rowatch.toml", schema=ExecSchema)


def test_config(tmp_path: Path) -> None:
    program = script(tmp_path, "#!/bin/sh\n")
    config = load(f'[exec]\nprogram = "{program}"\nargs = ["-v", "x y"]\ntimeout = "1m"\n')
    assert isinstance(config, ExecSchema)
    assert config.exec == ExecConfig(program=str(program), args=("-v", "x y"), timeout=60.0)
    assert config.exec.enabled
    assert load(config.to_toml()) == config
    assert not ExecSchema().exec.enabled


def test_config_refuses_programs_others_can_change(tmp_path: Path) -> None:
    program = script(tmp_path, "#!/bin/sh\n")
    program.chmod(0o775)
    not_executable = tmp_path / "plain"
    not_executable.write_text("#!/bin/sh\n")
    cases = {
        f'program = "{program}"': "exec.program: can be changed by group or others (mode 0775)",
        f'program = "{not_executable}"': "exec.program: is not executable",
        f'program = "{tmp_path / "nope"}"': "exec.program: no such file",
        'program = "alert.sh"': "exec.program: must be an absolute path (got 'alert.sh')",
        'args = ["x"]': "exec.args: is set but program is not",
        f'program = "{tmp_path}"': "exec.program: is not a regular file",
    }
    for line, expected in cases.items():
        with pytest.raises(ConfigError) as caught:
            load(f"[exec]\n{line}\n")
        (line_text,) = caught.value.lines
        assert line_text.startswith(f"rowatch.toml:2: {expected}")
