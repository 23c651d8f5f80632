"""A real Prometheus Alertmanager for tests, private to one test and stopped after it.

``/usr/bin/prometheus-alertmanager`` (apt: prometheus-alertmanager; 0.25 in Debian 12) runs
with a configuration and storage directory in the test's tmp_path, listens on a free port on
127.0.0.1 only, with clustering off (``--cluster.listen-address=`` empty: no gossip port, no
peers), so tests never see each other or a system Alertmanager. Ready when ``/-/ready``
answers 200. SIGTERM afterwards (SIGKILL after 10 s); ``PR_SET_PDEATHSIG`` makes it exit if
pytest dies. Tests that need it skip with the reason when the binary is missing;
``ROWATCH_ALERTMANAGER`` names another binary (an upstream ``alertmanager``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BINARY = "/usr/bin/prometheus-alertmanager"
_PR_SET_PDEATHSIG = 1

#: Routes everything to a receiver without integrations: alerts are kept, nothing is sent.
DEFAULT_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


def alertmanager_binary() -> str | None:
    """The Alertmanager to run, or None when there is none."""
    chosen = os.environ.get("ROWATCH_ALERTMANAGER")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    if os.access(BINARY, os.X_OK):
        return BINARY
    return shutil.which("alertmanager")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Alertmanager:
    """A running Alertmanager."""

    url: str  # base URL, e.g. http://127.0.0.1:40123
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return json.load(response)

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: alerts not yet resolved, optionally only those with
        these label values."""
        alerts: list[dict[str, Any]] = self.get("/api/v2/alerts")
        return [a for a in alerts if all(a["labels"].get(k) == v for k, v in labels.items())]

    def wait_for(
        self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0, **labels: str
    ) -> list[dict[str, Any]]:
        """Poll :meth:`alerts` until ``check`` accepts them; return them or fail the test."""
        deadline = time.monotonic() + timeout
        while True:
            alerts = self.alerts(**labels)
            if check(alerts):
                return alerts
            if time.monotonic() > deadline:
                pytest.fail(f"Alertmanager never showed the expected alerts; last: {alerts}")
            time.sleep(0.05)

    def tail_log(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def running_alertmanager(
    workdir: Path, *, config: str = DEFAULT_CONFIG, timeout: float = 15.0
) -> Iterator[Alertmanager]:
    """Run a private Alertmanager (see the module docstring) for the duration of the block.

    ``workdir`` (a fresh directory, e.g. under tmp_path) receives its configuration, storage
    and log. Skips the calling test with the reason when there is no Alertmanager.
    """
    binary = alertmanager_binary()
    if binary is None:
        chosen = os.environ.get("ROWATCH_ALERTMANAGER")
        pytest.skip(
            f"no Alertmanager: ROWATCH_ALERTMANAGER={chosen} is not executable"
            if chosen
            else f"no Alertmanager: {BINARY} is missing (apt-get install prometheus-alertmanager)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "alertmanager.yml"
    config_file.write_text(config)
    storage = workdir / "data"
    log_path = workdir / "alertmanager.log"
    for _attempt in range(3):  # another process may take the free port before it binds
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.path={storage}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,  # a Ctrl-C in pytest must not kill it before cleanup
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )
        manager = Alertmanager(url, process, log_path)
        try:
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                if _ready(url):
                    break
                time.sleep(0.05)
            else:
                if process.poll() is not None and "address already in use" in manager.tail_log():
                    continue
                raise RuntimeError(
                    f"Alertmanager did not become ready in {timeout}s (exit {process.poll()}): "
                    f"{manager.tail_log()}"
                )
            yield manager
            return
        finally:
            _stop(process)
    raise RuntimeError(f"Alertmanager found no free port: {manager.tail_log()}")
