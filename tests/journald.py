"""A private, standalone systemd-journald for tests: real kernel records, read back from a journal.

Recipe (systemd 252 as in Debian 12; needs no systemd as PID 1 and does not disturb a system
journald if one runs):

1. **A journal namespace.** ``systemd-journald NS`` (one argument: the namespace, systemd 245+;
   systemd-journald.service(8), "Journal Namespaces") puts its sockets (``socket``, ``stdout``,
   ``dev-log``, ``io.systemd.journal``) and its ``kernel-seqnum`` file in
   ``/run/systemd/journal.NS/`` and its files in ``/var/log/journal/MACHINE-ID.NS/``, or with
   ``Storage=volatile`` in ``/run/log/journal/MACHINE-ID.NS/``: nothing is shared with the
   default namespace. NS here is ``rowatch-test-<pid>-<random>``, so instances never collide.
2. **Its configuration** is read only from ``/etc/systemd/journald@NS.conf`` and drop-ins
   ``journald@NS.conf.d/*.conf`` (in /etc, /run, /usr/lib/systemd). We write
   ``/run/systemd/journald@NS.conf.d/rowatch-test.conf``:

   * ``ReadKMsg=yes``: a namespace instance does not import /dev/kmsg unless told to
     (journald-server.c: "only read from /dev/kmsg if we are the main namespace"). It then
     imports the whole ring buffer at start and every new record after, as
     ``_TRANSPORT=kernel``, exactly as the main journald does;
   * ``Storage=volatile``: the files go to :attr:`Journald.directory`
     (``/run/log/journal/MACHINE-ID.NS``), which is what ``JournalSource(directory=...)`` reads;
   * ``MaxRetentionSec=1week``: a namespace instance exits after 30 s without clients
     (server_is_idle()) unless a retention limit longer than that needs it running;
   * ``ForwardTo*=no``, so nothing leaves the instance.
3. **Readiness**: it is started with ``NOTIFY_SOCKET`` pointing at an abstract socket of ours and
   has sent ``READY=1`` once its setup, including the import of the ring buffer, is done.
   ``SYSTEMD_LOG_TARGET=console`` sends its own log to ``journald.log`` in the test's directory
   (not into /dev/kmsg). ``PR_SET_PDEATHSIG`` makes it exit if pytest dies.
4. **Stopping**: SIGTERM (journald syncs and exits; SIGKILL after 10 s), then the drop-in, the
   runtime directory and the journal files are removed. Nothing is left running or behind.

Needs root (/run, /dev/kmsg), ``/lib/systemd/systemd-journald`` (apt: systemd), systemd 245+
and /etc/machine-id; :func:`standalone_journald` skips with the reason otherwise. Reading the
journal back (:meth:`Journald.entries`) needs systemd-python (apt: python3-systemd).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

JOURNALD_PATHS = ("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
MACHINE_ID = Path("/etc/machine-id")
RUN_SYSTEMD = Path("/run/systemd")
RUNTIME_JOURNALS = Path("/run/log/journal")
#: journald namespaces exist since systemd 245.
MIN_SYSTEMD = 245
CONFIG = """\
# Written by rowatch's tests/journald.py for a private test instance; removed when it stops.
[Journal]
Storage=volatile
ReadKMsg=yes
MaxRetentionSec=1week
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
"""
_PR_SET_PDEATHSIG = 1


def journald_binary() -> str | None:
    return next((p for p in JOURNALD_PATHS if os.access(p, os.X_OK)), None)


def missing_journald() -> str | None:
    """Why no private journald can run here, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (a private journald uses /run and reads /dev/kmsg)"
    binary = journald_binary()
    if binary is None:
        return "systemd-journald not installed (apt: systemd)"
    if not os.access("/dev/kmsg", os.R_OK):
        return "/dev/kmsg is not readable"
    try:
        if not MACHINE_ID.read_text().strip():
            raise OSError
    except OSError:
        return f"{MACHINE_ID} missing or empty (systemd-machine-id-setup)"
    version = _systemd_version()
    if version is not None and version < MIN_SYSTEMD:
        return f"systemd {version} has no journal namespaces (needs {MIN_SYSTEMD}+)"
    return None


def _systemd_version() -> int | None:
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        return None
    done = subprocess.run([journalctl, "--version"], capture_output=True, text=True, check=False)
    found = re.match(r"systemd (\d+)", done.stdout)
    return int(found.group(1)) if found else None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Journald:
    """A running private journald."""

    namespace: str
    #: The journal files: ``JournalSource(directory=str(journald.directory))``.
    directory: Path
    #: Its sockets: ``socket`` (native), ``dev-log`` (syslog), ``stdout``.
    runtime: Path
    #: journald's own log output.
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def dev_log(self) -> Path:
        """This instance's syslog socket (what /dev/log is for the system journald)."""
        return self.runtime / "dev-log"

    @property
    def native_socket(self) -> Path:
        return self.runtime / "socket"

    def logger(self, message: str, *, tag: str = "kernel", priority: str = "user.notice") -> None:
        """``logger -t TAG -p PRIORITY MESSAGE``, sent to this instance's syslog socket."""
        subprocess.run(
            ["logger", "--socket", str(self.dev_log), "--socket-errors=on",
             "-t", tag, "-p", priority, "--", message],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip

    def send(self, **fields: str) -> None:
        """Log one entry with the native protocol (what sd_journal_send() does)."""
        payload = "".join(f"{key}={value}\n" for key, value in fields.items()).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, str(self.native_socket))

    def rotate(self) -> None:
        """SIGUSR2: journald archives its files and starts new ones (``journalctl --rotate``)."""
        os.kill(self.pid, signal.SIGUSR2)

    def entries(self, *matches: str, converters: Mapping[str, Any] | None = None) -> list[Any]:
        """All entries so far (optionally filtered, e.g. ``"_TRANSPORT=kernel"``), in order."""
        journal = importlib.import_module("systemd.journal")
        with journal.Reader(path=str(self.directory), converters=converters) as reader:
            for match in matches:
                reader.add_match(match)
            return list(reader)

    def wait_for_entry(
        self, predicate: Callable[[Any], bool], *matches: str, timeout: float = 10.0
    ) -> Any:
        """The first entry satisfying ``predicate``, waiting up to ``timeout`` s for it."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.entries(*matches):
                if predicate(entry):
                    return entry
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching journal entry in {timeout}s; {self.tail_log()}")
            time.sleep(0.05)

    def tail_log(self) -> str:
        try:
            return "journald said: " + self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "no journald log"


def _wait_ready(notify: socket.socket, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        notify.settimeout(0.1)
        try:
            data = notify.recv(4096)
        except TimeoutError:
            continue
        if b"READY=1" in data.split(b"\n"):
            return True
    return False


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def standalone_journald(workdir: Path, *, timeout: float = 15.0) -> Iterator[Journald]:
    """Run a private journald (see the module docstring) for the duration of the block.

    ``workdir`` (pytest's ``tmp_path``) receives journald's own log. Skips the calling test with
    the reason when the machine cannot run one. Call it from the main thread: PR_SET_PDEATHSIG
    fires when the *thread* that started journald ends.
    """
    reason = missing_journald()
    if reason is not None:
        pytest.skip(reason)
    binary = journald_binary()
    assert binary is not None
    namespace = f"rowatch-test-{os.getpid()}-{secrets.token_hex(4)}"
    machine_id = MACHINE_ID.read_text().strip()
    conf_dir = RUN_SYSTEMD / f"journald@{namespace}.conf.d"
    runtime = RUN_SYSTEMD / f"journal.{namespace}"
    directory = RUNTIME_JOURNALS / f"{machine_id}.{namespace}"
    log_path = workdir / "journald.log"
    notify_address = f"\0rowatch-test-notify-{namespace}"

    with contextlib.ExitStack() as stack:
        # Parents journald or we may create; removed again only if we did and they are empty.
        for parent in (RUN_SYSTEMD, RUNTIME_JOURNALS.parent, RUNTIME_JOURNALS):
            if not parent.exists():
                stack.callback(_rmdir_if_empty, parent)
        for path in (directory, runtime, conf_dir):  # LIFO: removed after journald stopped
            stack.callback(shutil.rmtree, path, ignore_errors=True)
        conf_dir.mkdir(parents=True)
        (conf_dir / "rowatch-test.conf").write_text(CONFIG)

        notify = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        notify.bind(notify_address)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_"))}
        env.update(
            NOTIFY_SOCKET="@" + notify_address[1:],
            SYSTEMD_LOG_TARGET="console",
            SYSTEMD_LOG_LEVEL="info",
        )
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [binary, namespace],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in pytest must not kill it before cleanup
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )
        stack.callback(_stop, process)
        journald = Journald(namespace, directory, runtime, log_path, process)
        if not _wait_ready(notify, process, timeout):
            raise RuntimeError(
                f"private journald did not become ready in {timeout}s "
                f"(exit {process.poll()}); {journald.tail_log()}"
            )
        yield journald
