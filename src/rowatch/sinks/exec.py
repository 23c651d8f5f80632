"""Exec alerts: run a program for each alert, as mdadm's PROGRAM and smartd's ``-M exec`` do.

The program (an absolute path, with fixed arguments; never through a shell) reads the alert
as JSON on stdin (the webhook body, docs/alerts-webhook.md) and finds the main facts in
``ROWATCH_*`` environment variables (docs/alerts-webhook.md, "Program"). Exit status 0 means
delivered, 75 (``EX_TEMPFAIL``) try again later, anything else a permanent failure. It runs
in its own process group, in ``/``, and has ``timeout`` seconds to finish and close its
output; then the whole group is killed and the delivery is retried. What it prints is kept
(bounded) and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import structlog

from rowatch.alert import Alert
from rowatch.config import AbsolutePath, Duration, Setting, _StringArray
from rowatch.sinks import SinkError
from rowatch.sinks import webhook as _webhook  # a module: see rowatch.sinks.alertmanager

log = structlog.get_logger("rowatch")

#: sysexits.h: "temporary failure; user is invited to retry".
EX_TEMPFAIL = 75
#: Bytes kept of each of stdout and stderr; the rest is read and counted, not kept.
OUTPUT_LIMIT = 4096
#: Characters kept of each ROWATCH_* value.
ENV_VALUE_LIMIT = 1024
#: How long to wait for the killed group to be gone and the pipes to close.
_KILL_GRACE = 2.0
#: Variables of the daemon's own environment the program must not see: the sd_notify socket
#: (a child writing READY=1 or WATCHDOG=1 there would speak for rowatch), socket activation.
_PRIVATE_ENV = frozenset(
    {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"}
)
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Arguments(_StringArray):
    """Command-line arguments, passed as they are (no shell, no expansion)."""

    kind = "array of strings"

    def check(self, item: str) -> str | None:
        return None


def program_problem(path: str) -> str | None:
    """Why ``path`` may not be run as root for alerts, or None.

    It must be an executable regular file that only its owner (root, or the user rowatch
    runs as) can change: anyone who can write it could run commands as rowatch.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot be checked: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if not os.access(path, os.X_OK):
        return "is not executable"
    if info.st_mode & 0o022:
        return (
            f"can be changed by group or others (mode {stat.S_IMODE(info.st_mode):04o}): "
            "chmod go-w it"
        )
    if info.st_uid not in (0, os.geteuid()):
        return f"is owned by uid {info.st_uid}, not by root or the user rowatch runs as"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    """``[exec]``: a program run for every alert."""

    program: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            "Program run for each alert, with the alert as JSON on stdin and `ROWATCH_*` "
            "variables (docs/alerts-webhook.md). Exit 0: delivered; 75: retry later; other: "
            "failed. Not set: no program is run.",
        ),
    ] = None
    args: Annotated[
        tuple[str, ...],
        Setting(Arguments(), "Arguments for `program`, passed as they are: no shell."),
    ] = ()
    timeout: Annotated[
        float,
        Setting(
            Duration(minimum=1.0),
            "How long the program may run; then its process group is killed and the alert "
            "is retried later.",
        ),
    ] = 30.0

    @property
    def enabled(self) -> bool:
        return self.program is not None

    def validate(self) -> Iterator[tuple[str, str]]:
        if self.program is None:
            if self.args:
                yield "args", "is set but program is not"
            return
        problem = program_problem(self.program)
        if problem:
            yield "program", problem


# ------------------------------------------------------------------------- environment
def env_value(value: object) -> str:
    """``value`` as one safe line: control characters and NUL become ``?``, length bounded."""
    if value is None:
        return ""
    return "".join(
        "?" if ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF else c
        for c in str(value)[:ENV_VALUE_LIMIT]
    )


def alert_environment(alert: Alert) -> dict[str, str]:
    """The ``ROWATCH_*`` variables for ``alert``; always all set, empty when unknown."""
    incident = alert.incident
    values: dict[str, object] = {
        "ROWATCH_EVENT": alert.kind.value,
        "ROWATCH_HOST": alert.host,
        "ROWATCH_FQDN": alert.fqdn,
        "ROWATCH_ALERT_ID": alert.id,
        "ROWATCH_SUMMARY": _webhook.alert_summary(alert),
        "ROWATCH_INCIDENT_COUNT": len(alert.incidents),
        "ROWATCH_INCIDENT": " ".join(str(i.get("id")) for i in alert.incidents),
        "ROWATCH_DEVICE": None,
        "ROWATCH_MOUNTPOINT": None,
        "ROWATCH_FILESYSTEM": None,
        "ROWATCH_OUTCOME": None,
        "ROWATCH_CAUSE": None,
    }
    if incident is not None:
        devices = incident.get("devices") or [None]
        cause = incident.get("cause") or {}
        values.update(
            ROWATCH_DEVICE=incident.get("filesystem_device") or devices[-1],
            ROWATCH_MOUNTPOINT=incident.get("mountpoint"),
            ROWATCH_FILESYSTEM=incident.get("filesystem"),
            ROWATCH_OUTCOME=incident.get("outcome"),
            ROWATCH_CAUSE=cause.get("code"),
        )
    return {name: env_value(value) for name, value in values.items()}


def program_environment(alert: Alert, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
    """The daemon's environment less its private variables, plus the alert's."""
    base = os.environ if inherited is None else inherited
    env = {k: v for k, v in base.items() if k not in _PRIVATE_ENV and not k.startswith("ROWATCH_")}
    env.setdefault("PATH", _DEFAULT_PATH)
    env.update(alert_environment(alert))
    return env


# ----------------------------------------------------------------------------- running
@dataclass(frozen=True, slots=True)
class Output:
    """What a stream printed: the first :data:`OUTPUT_LIMIT` bytes, and how many in all."""

    head: bytes = b""
    total: int = 0

    def text(self) -> str:
        text = self.head.decode("utf-8", "replace").rstrip("\n")
        if self.total > len(self.head):
            text += f"\n[... {self.total - len(self.head)} more bytes not kept]"
        return text


@dataclass(frozen=True, slots=True)
class Run:
    """How one run of the program ended."""

    returncode: int | None  # negative: killed by that signal
    stdout: Output
    stderr: Output
    seconds: float
    timed_out: bool = False
    #: The program exited, but processes it left in its group held its output open until
    #: the timeout; they were killed.
    killed_leftovers: bool = False


class _Collector(asyncio.SubprocessProtocol):
    """Keeps the head of stdout and stderr; tells when the program exited and when its
    output closed (which whatever it left running may hold open longer)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.heads = {1: bytearray(), 2: bytearray()}
        self.totals = {1: 0, 2: 0}
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._open = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        head = self.heads[fd]
        self.totals[fd] += len(data)
        if len(head) < OUTPUT_LIMIT and isinstance(data, bytes):
            head += data[: OUTPUT_LIMIT - len(head)]

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open and not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def output(self, fd: int) -> Output:
        return Output(bytes(self.heads[fd]), self.totals[fd])


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_program(argv: list[str], stdin: bytes, env: Mapping[str, str], timeout: float) -> Run:
    """Run ``argv`` (see the module docstring); raises OSError when it cannot be started."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    transport, collector = await loop.subprocess_exec(
        lambda: _Collector(loop),
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd="/",
        start_new_session=True,
    )
    pid = transport.get_pid()
    timed_out = leftovers = False
    try:
        pipe = transport.get_pipe_transport(0)
        if isinstance(pipe, asyncio.WriteTransport):
            pipe.write(stdin)  # buffered; a program that does not read it is fine
            pipe.close()
        await asyncio.wait([collector.exited], timeout=timeout)
        if not collector.exited.done():
            timed_out = True
            _kill_group(pid)
        else:
            remaining = timeout - (time.monotonic() - started)
            await asyncio.wait([collector.closed], timeout=max(remaining, 0.0))
            if not collector.closed.done():
                leftovers = True
                _kill_group(pid)
        # SIGKILL takes effect at once, unless a process sleeps uninterruptibly (I/O on a
        # failing disk): then give up on it rather than hang the sink.
        await asyncio.wait([collector.exited, collector.closed], timeout=_KILL_GRACE)
    finally:
        try:
            if not collector.exited.done():  # cancelled: leave nothing running
                _kill_group(pid)
                await asyncio.wait([collector.exited], timeout=_KILL_GRACE)
        finally:
            transport.close()
    return Run(
        transport.get_returncode(),
        collector.output(1),
        collector.output(2),
        time.monotonic() - started,
        timed_out,
        leftovers,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# ------------------------------------------------------------------------------- the sink
class ExecSink:
    """Runs the ``[exec]`` program for each alert (see the module docstring)."""

    def __init__(self, config: ExecConfig) -> None:
        if config.program is None:
            raise ValueError("exec: no program configured")
        self.config = config
        self.program = config.program
        self.name = "exec"

    async def send(self, alert: Alert) -> None:
        argv = [self.program, *self.config.args]
        try:
            run = await run_program(
                argv,
                _webhook.encode_payload(alert),
                program_environment(alert),
                self.config.timeout,
            )
        except OSError as exc:
            # Missing, not executable, not a program: retrying will not help until someone
            # fixes the configuration. Anything else (EIO, ENOMEM, EAGAIN) may pass.
            permanent = exc.errno in (errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR)
            raise SinkError(
                f"exec {self.program}: cannot run: {exc.strerror or exc}", temporary=not permanent
            ) from None
        fields: dict[str, Any] = {
            "sink": self.name,
            "program": self.program,
            "alert_id": alert.id,
            "exit_status": run.returncode,
            "seconds": round(run.seconds, 3),
        }
        if run.stdout.total:
            fields["stdout"] = run.stdout.text()
        if run.stderr.total:
            fields["stderr"] = run.stderr.text()
        problem = self._problem(run)
        if problem is None:
            if run.killed_leftovers:
                fields["note"] = "processes it left behind kept its output open; killed"
            log.info("alert_program_finished", **fields)
            return
        message, temporary = problem
        log.warning("alert_program_failed", reason=message, temporary=temporary, **fields)
        raise SinkError(f"exec {self.program}: {message}", temporary=temporary)

    def _problem(self, run: Run) -> tuple[str, bool] | None:
        """(why the run failed, whether to retry), or None when it delivered the alert."""
        if run.timed_out:
            return f"still running after {self.config.timeout:g}s; killed", True
        code = run.returncode
        if code == 0:
            return None
        if code is None:
            return "ended in an unknown way", True
        if code < 0:
            return f"killed by {_signal_name(-code)}", True
        if code == EX_TEMPFAIL:
            return f"exit status {code} (EX_TEMPFAIL: retry later)", True
        return f"exit status {code}", False

    async def close(self) -> None:
        """Nothing to release: each alert's program is waited for by its own send()."""
