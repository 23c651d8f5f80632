"""Alert latency of ``rowatch run``: from the kernel's read-only record to the accepted e-mail.

Each round makes a fresh loop ext4 (``errors=remount-ro``), starts a real SMTP relay
(aiosmtpd on loopback, ``tests/smtp_server.py``), the daemon (backlog off, ``--smtp`` to that
relay) and, as the reference floor in the same round, a minimal reader: a separate process
of the same interpreter that only reads the source and timestamps the record when it
arrives. Then it writes 1 to ``/sys/fs/ext4/<loop>/trigger_fs_error`` (a real
``ext4_error()``). Both sources are measured, each in its own rounds:

* ``kmsg``: the daemon reads /dev/kmsg; the floor reads /dev/kmsg (O_NONBLOCK + ``select``).
* ``journal``: a real standalone systemd-journald (``tests/journald.py``) imports the kernel
  log; the daemon reads it (``source = "journal"``); the floor is a systemd-python
  ``Reader`` on the same journal that waits and timestamps the entry. Both include
  journald's own import delay.

* **t0**: the ``usec`` field of the kernel's ``EXT4-fs (loopN): Remounting filesystem
  read-only`` record, as read from ``/dev/kmsg`` (the kernel's ``local_clock``).
* **floor**: ``clock_gettime(CLOCK_MONOTONIC)`` in the minimal reader when ``read()`` returned
  that record, minus t0.
* **rowatch**: ``clock_gettime(CLOCK_MONOTONIC)`` in the relay's DATA handler when it accepted
  the message (before its 250 reply), minus t0. Recorded in the handler itself: no polling.
* **clock offset**: ``local_clock`` and ``CLOCK_MONOTONIC`` need not agree exactly, so every
  round writes one record to /dev/kmsg and compares its ``usec`` with CLOCK_MONOTONIC taken
  just before and after the write. Both figures above share that offset; the difference
  rowatch - floor does not depend on it.

A benchmark, not a test: it never fails on a slow result.

    python3 bench/alert_latency.py [--rounds 100] [--sources kmsg,journal]   # as root

Writes bench/results/alert_latency.json and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

from replay_throughput import OtherLoad, machine  # noqa: E402

from daemon_harness import Daemon, config_text  # noqa: E402
from journald import standalone_journald  # noqa: E402
from kernel_scenarios import loop_filesystem, parse_kmsg, trigger_ext4_error  # noqa: E402
from smtp_server import Received, SmtpTestServer  # noqa: E402

RESULTS = BENCH / "results" / "alert_latency.json"

#: The floor: read /dev/kmsg from its end, print "ready", then for each record print
#: "<arrival monotonic ns> <raw record>" until one matches argv[1].
FLOOR_READER = r"""
import os, re, select, sys, time
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
os.lseek(fd, 0, os.SEEK_END)
want = re.compile(sys.argv[1].encode())
print("ready", flush=True)
while True:
    select.select([fd], [], [])
    while True:
        try:
            raw = os.read(fd, 16384)
        except BlockingIOError:
            break
        except BrokenPipeError:
            continue
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if want.search(raw):
            print(now, raw.split(b"\n", 1)[0].decode(errors="replace"), flush=True)
            sys.exit(0)
"""


#: The journal floor: a systemd-python Reader on the journal directory argv[2], from its end;
#: prints "ready", then "<arrival monotonic ns> <message>" for the first entry matching argv[1].
JOURNAL_FLOOR_READER = r"""
import re, sys, time
from systemd import journal
reader = journal.Reader(path=sys.argv[2])
reader.add_match(_TRANSPORT="kernel")
reader.seek_tail()
reader.get_previous()
want = re.compile(sys.argv[1])
print("ready", flush=True)
while True:
    reader.wait(-1)
    for entry in reader:
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if want.search(entry.get("MESSAGE", "")):
            print(now, entry["MESSAGE"], flush=True)
            sys.exit(0)
"""


class TimedSmtpServer(SmtpTestServer):
    """The test relay, noting CLOCK_MONOTONIC when each message is accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[int, str]] = []

    def _keep(self, received: Received) -> None:
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        with self._lock:
            self.accepted.append((now, str(received.message["Subject"])))
        super()._keep(received)

    def message_bytes(self, subject: str) -> bytes:
        """The message the daemon sent with ``subject``, as it arrived."""
        with self._lock:
            return next(r.data for r in self.received if str(r.message["Subject"]) == subject)

    def read_only_mail(self) -> tuple[int, str] | None:
        """(accept time, subject) of the first read-only alert, if one arrived."""
        with self._lock:
            return next((m for m in self.accepted if "read-only" in m[1]), None)


def clock_offset_us() -> tuple[float, float]:
    """(kmsg usec - CLOCK_MONOTONIC us, half the uncertainty) from one userspace record."""
    reader = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.lseek(reader, 0, os.SEEK_END)
        marker = f"rowatch-bench clock probe {os.getpid()} {time.monotonic_ns()}"
        writer = os.open("/dev/kmsg", os.O_WRONLY)
        try:
            before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            os.write(writer, f"<14>{marker}\n".encode())
            after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        finally:
            os.close(writer)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                raw = os.read(reader, 16384)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except BrokenPipeError:
                continue
            entry = parse_kmsg(raw)
            if entry.message == marker:
                mid_us = (before + after) / 2000
                return entry.usec - mid_us, (after - before) / 2000
        raise TimeoutError("clock probe record not seen")
    finally:
        os.close(reader)


def one_round(index: int, tmp: Path, journal_dir: str | None) -> dict[str, Any]:
    """One round; with ``journal_dir`` the daemon and the floor read that journal."""
    workdir = tmp / f"round{index}"
    workdir.mkdir()
    with loop_filesystem("ext4", "errors=remount-ro") as fs, TimedSmtpServer() as relay:
        pattern = rf"EXT4-fs \({re.escape(fs.loop)}\): .*[Rr]emounting filesystem read-only"
        if journal_dir is None:
            floor_argv = [sys.executable, "-c", FLOOR_READER, pattern]
            config = config_text(workdir, interval="60s")
        else:
            floor_argv = [sys.executable, "-c", JOURNAL_FLOOR_READER, pattern, journal_dir]
            config = config_text(
                workdir,
                source="journal",
                backlog=False,
                interval="60s",
                extra=f'journal_directory = "{journal_dir}"',
            )
        floor = subprocess.Popen(
            floor_argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        daemon = Daemon(
            workdir,
            config,
            extra_args=(
                "--smtp",
                relay.url(),
                "--mail-to",
                "ops@example.test",
                "--mail-from",
                "rowatch@example.test",
            ),
        )
        try:
            assert floor.stdout is not None
            if floor.stdout.readline().strip() != "ready":
                raise RuntimeError("floor reader did not start")
            daemon.wait_ready()
            time.sleep(0.5)  # let start-up work (mount scan, first reconcile) finish
            offset, offset_err = clock_offset_us()
            time.sleep(0.2)
            entry = trigger_ext4_error(fs)
            line = floor.stdout.readline().split(" ", 1)
            floor.wait(5)
            floor_ns = int(line[0])
            deadline = time.monotonic() + 30
            while (mail := relay.read_only_mail()) is None and time.monotonic() < deadline:
                time.sleep(0.005)  # only waits; the timestamp is taken in the handler
            if mail is None:
                raise RuntimeError("no mail within 30 s:\n" + "\n".join(daemon.raw_lines[-20:]))
            mail_ns, subject = mail
            time.sleep(0.3)
            subjects = [m[1] for m in relay.accepted]
            smtp_ms = smtp_transaction_ms(relay, relay.message_bytes(subject))
        finally:
            daemon.stop()
            if floor.poll() is None:
                floor.kill()
            floor.wait()
    t0_us = entry.usec
    return {
        "round": index,
        "loop": fs.loop,
        "kernel_usec": t0_us,
        "floor_ms": (floor_ns / 1000 - t0_us) / 1000,
        "rowatch_ms": (mail_ns / 1000 - t0_us) / 1000,
        "smtp_transaction_ms": smtp_ms,
        "clock_offset_ms": offset / 1000,
        "clock_offset_uncertainty_ms": offset_err / 1000,
        "subject": subject,
        "all_mails": subjects,
    }


def smtp_transaction_ms(relay: TimedSmtpServer, message: bytes) -> float:
    """One SMTP transaction of the same message to the same relay, by smtplib from here:
    connect, EHLO, MAIL, RCPT, DATA, until the 250; what the floor plus one transaction
    means."""
    began = time.perf_counter()
    with smtplib.SMTP(relay.host, relay.port, timeout=10) as client:
        client.sendmail("bench@example.test", ["ops@example.test"], message)
    return (time.perf_counter() - began) * 1000


def stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    n = len(ordered)

    def rank(p: float) -> float:  # nearest-rank percentile
        return ordered[max(0, math.ceil(p * n) - 1)]

    out: dict[str, Any] = {
        "n": n,
        "median": round(statistics.median(ordered), 3),
        "p90": round(rank(0.90), 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }
    # A p99 needs 100 samples to mean anything; with fewer it would just be the maximum.
    out["p99"] = round(rank(0.99), 3) if n >= 100 else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=100, help="per source")
    parser.add_argument("--sources", default="kmsg,journal")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on kill

    load = OtherLoad()
    rounds: dict[str, list[dict[str, Any]]] = {}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="rowatch-latency-") as tmp:
        for source in [s.strip() for s in args.sources.split(",") if s.strip()]:
            base = Path(tmp) / source
            base.mkdir()
            with contextlib.ExitStack() as stack:
                journal_dir = None
                if source == "journal":
                    journald = stack.enter_context(standalone_journald(base))
                    journal_dir = str(journald.directory)
                rows = rounds[source] = []
                for index in range(args.rounds):
                    row = one_round(index, base, journal_dir)
                    rows.append(row)
                    print(
                        f"{source} round {index}: floor {row['floor_ms']:.3f} ms  rowatch "
                        f"{row['rowatch_ms']:.3f} ms  (clock offset "
                        f"{row['clock_offset_ms']:+.3f} ms)",
                        flush=True,
                    )
            floor = [r["floor_ms"] for r in rows]
            rowatch = [r["rowatch_ms"] for r in rows]
            smtp = [r["smtp_transaction_ms"] for r in rows]
            diff = [r - f for r, f in zip(rowatch, floor, strict=True)]
            beyond = [d - t for d, t in zip(diff, smtp, strict=True)]
            results[source] = {
                "floor_ms": stats(floor),
                "rowatch_ms": stats(rowatch),
                "rowatch_minus_floor_ms": stats(diff),
                "smtp_transaction_ms": stats(smtp),
                "rowatch_minus_floor_minus_smtp_ms": stats(beyond),
            }
    report = {
        "benchmark": "alert_latency",
        "machine": machine(),
        "other_load": load.during(),
        "settings": {
            "rounds": args.rounds,
            "filesystem": "ext4 on loop, 64 MiB, errors=remount-ro",
            "trigger": "/sys/fs/ext4/<loop>/trigger_fs_error",
            "sources": list(results),
            "daemon": "rowatch run, backlog=false, reconciler 60s, fanotify on (unavailable "
            "without CAP_SYS_ADMIN only under the packaged unit), --smtp plain",
            "relay": "aiosmtpd on 127.0.0.1 (tests/smtp_server.py), time taken in DATA handler",
            "t0": "usec of the kernel's 'Remounting filesystem read-only' /dev/kmsg record",
            "clock": "CLOCK_MONOTONIC (clock_gettime_ns), resolution 1 ns",
            "percentiles": "nearest rank; p99 reported only with >= 100 samples",
        },
        "results": results,
        "rounds": rounds,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'ms':32} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for source, table in results.items():
        for name, row in table.items():
            p99 = f"{row['p99']:8.3f}" if row["p99"] is not None else "       -"
            print(
                f"{source + ' ' + name:32} {row['median']:8.3f} {row['p90']:8.3f} {p99} "
                f"{row['max']:8.3f}"
            )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
