"""Flood: what a dying disk's torrent of kernel messages costs ``rowatch run``, three ways.

Each case runs for ``--seconds`` (default 60) with a real SMTP relay on loopback
(aiosmtpd, ``tests/smtp_server.py``) as the daemon's e-mail destination, and a reference
measured side by side in the same run:

* **real**: a real fault. A loop device on a FUSE image (``tests/fuse_eio.py``) fails every
  write with EIO; a writer process hammers it with O_DIRECT and buffered writes for the whole
  window. The kernel prints ``I/O error, dev loopN`` and ``Buffer I/O error`` as fast as its
  rate limits let it (and ``N callbacks suppressed`` for the rest): the figure is the rate it
  reached. Reference: a minimal reader of /dev/kmsg (the same records, read and dropped).
* **userspace**: a process writes 10,000 kernel-looking storage-failure records a second to
  /dev/kmsg (``<6>EXT4-fs (sda1): Remounting filesystem read-only`` and the like, from the
  signature table's examples; level 6, below the console's loglevel, so the serial console
  does not slow the kernel down). The kernel files them under facility 1 (user): the daemon must
  read, parse and reject every one by its trust check, and alert nothing. For the duration,
  ``kernel.printk_devkmsg`` is set to ``on`` (its ``ratelimit`` default would let a writer
  log 10 records per 5 s) and restored afterwards. Reference: the minimal reader.
* **engine**: recorded kernel lines of 20 disks failing under ext4 (SCSI ``FAILED Result``,
  block-layer I/O errors, ``Buffer I/O error``, ``callbacks suppressed``, journal aborts,
  remounts) fed to the real daemon (engine, flood control, outbox, e-mail sink) in-process
  through a paced source at each ``--rates`` value (records/s; 0 = as fast as it goes), to
  find the ceiling. Reference: the same paced source drained by an empty loop.

Reported per case: records offered and read, records lost (the kmsg source's count of
records the ring buffer overwrote before the daemon read them; EPIPE), CPU (% of one core)
and peak RSS of the daemon and the reference, and the messages the relay accepted.
A benchmark, not a test: it never fails on a slow result.

    python3 bench/flood.py [--seconds 60] [--cases real,userspace,engine]
                           [--rates 10000,20000,50000,0]        # as root, on a real kernel

Writes bench/results/flood.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

from procstat import difference, sample  # noqa: E402
from replay_throughput import OtherLoad, machine  # noqa: E402

from daemon_harness import Daemon, config_text  # noqa: E402
from kernel_scenarios import fuse_eio_device  # noqa: E402
from smtp_server import SmtpTestServer  # noqa: E402

RESULTS = BENCH / "results" / "flood.json"
DEVKMSG_SYSCTL = Path("/proc/sys/kernel/printk_devkmsg")

#: The reference reader: reads /dev/kmsg from its end, counts records, EPIPEs and the
#: numbers in "N callbacks suppressed" (what the kernel's rate limits swallowed) until
#: SIGTERM, then prints one JSON line.
MINIMAL_READER = r"""
import json, os, re, select, signal, sys
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
os.lseek(fd, 0, os.SEEK_END)
mention = re.compile(sys.argv[1].encode()) if len(sys.argv) > 1 else None
suppressed = re.compile(rb";[^\n]*?(\d+) callbacks suppressed")
counts = {"records": 0, "epipe": 0, "mentioning": 0, "suppressed": 0}
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop:
    try:
        select.select([fd], [], [], 0.5)
    except InterruptedError:
        continue
    while True:
        try:
            raw = os.read(fd, 16384)
        except BlockingIOError:
            break
        except BrokenPipeError:
            counts["epipe"] += 1
            continue
        counts["records"] += 1
        if mention is not None and mention.search(raw):
            counts["mentioning"] += 1
        found = suppressed.search(raw)
        if found:
            counts["suppressed"] += int(found.group(1))
print(json.dumps(counts), flush=True)
"""

#: Hammers a block device that fails every write: O_DIRECT writes (each a bio that fails:
#: "I/O error, dev loopN") and buffered writes with fsync ("Buffer I/O error ... lost async
#: page write"), until SIGTERM; prints how many writes were attempted.
WRITER = r"""
import mmap, os, signal, sys
dev = sys.argv[1]
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
direct = os.open(dev, os.O_WRONLY | os.O_DIRECT)
buffered = os.open(dev, os.O_WRONLY)
size = os.lseek(direct, 0, os.SEEK_END)
block = mmap.mmap(-1, 4096)
block.write(b"x" * 4096)
attempts = failed = 0
offset = 0
while not stop:
    for fd in (direct, buffered):
        attempts += 1
        try:
            os.pwrite(fd, block, offset)
            if fd == buffered:
                os.fsync(fd)
        except OSError:
            failed += 1
        offset = (offset + 1 << 20) % size
print(attempts, failed, flush=True)
"""


# --------------------------------------------------------------------------- common parts
class Reference:
    """The minimal /dev/kmsg reader as a process of the same interpreter."""

    def __init__(self, mention: str | None = None) -> None:
        args = [mention] if mention else []
        self.process = subprocess.Popen(
            [sys.executable, "-c", MINIMAL_READER, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the minimal reader did not start")

    def stop(self) -> dict[str, int]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(10)
        return json.loads(out.strip().splitlines()[-1])


def daemon_args(relay: SmtpTestServer) -> tuple[str, ...]:
    return (
        "--smtp",
        relay.url(),
        "--mail-to",
        "ops@example.test",
        "--mail-from",
        "rowatch@example.test",
    )


def stopping_event(daemon: Daemon) -> dict[str, Any]:
    found = daemon.named("daemon_stopping")
    return found[-1] if found else {}


def subjects(relay: SmtpTestServer) -> list[str]:
    return [str(message.message["Subject"]) for message in relay.received]


def measured_window(
    daemon: Daemon, reference: Reference, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sample daemon and reference at the start and end of ``seconds``."""
    pids = {"rowatch": daemon.process.pid, "reference": reference.process.pid}
    first = {name: sample(pid) for name, pid in pids.items()}
    time.sleep(seconds)
    last = {name: sample(pid) for name, pid in pids.items()}
    return first, last


def usage(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            key: value
            for key, value in difference(first[name], last[name]).items()
            if key in ("seconds", "cpu_s", "cpu_pct_one_core", "rss_mib", "hwm_mib", "threads")
        }
        for name in first
    }


# --------------------------------------------------------------------------- case: real
def case_real(seconds: float, tmp: Path) -> dict[str, Any]:
    workdir = tmp / "real"
    workdir.mkdir()
    with fuse_eio_device(64) as device, SmtpTestServer() as relay:
        daemon = Daemon(
            workdir, config_text(workdir, interval="60s"), extra_args=daemon_args(relay)
        )
        writer: subprocess.Popen[str] | None = None
        try:
            daemon.wait_ready()
            reference = Reference(rf"\b{device.loop}\b")
            device.fail("fail-write")
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, device.dev],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                text=True,
            )
            first, last = measured_window(daemon, reference, seconds)
            writer.send_signal(signal.SIGTERM)
            attempts, failed = (int(v) for v in writer.communicate(30)[0].split())
            device.heal()
            time.sleep(1.0)  # the last records reach both readers
            kernel = reference.stop()
            fuse_stats = device.stats()
        finally:
            if writer is not None and writer.poll() is None:
                writer.kill()
            daemon.stop()
        said = stopping_event(daemon)
        mails = subjects(relay)
    return {
        "device": device.loop,
        "writes_attempted": attempts,
        "writes_failed": failed,
        "fuse_failed_writes": int(fuse_stats.get("failed_writes", 0)),
        "kernel_records": kernel["records"],
        "kernel_records_naming_device": kernel["mentioning"],
        "kernel_records_per_s": round(kernel["mentioning"] / seconds, 1),
        "kernel_suppressed_by_ratelimit": kernel["suppressed"],
        "reference_epipe": kernel["epipe"],
        "rowatch_records_read": said.get("records_read"),
        "rowatch_records_lost": said.get("records_lost"),
        "incidents": sorted(
            {e.get("incident_id") for e in daemon.events if e.get("incident_id")} - {None}
        ),
        "messages_sent": len(mails),
        "subjects": mails,
        "usage": usage(first, last),
    }


# --------------------------------------------------------------------------- case: userspace
USERSPACE_WRITER = r"""
import os, signal, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
lines = [line.encode() for line in sys.argv[3:]]
fd = os.open("/dev/kmsg", os.O_WRONLY)
tick = 0.01
per_tick = max(1, rate // 100)
written = 0
began = time.monotonic()
next_at = began
while time.monotonic() - began < seconds:
    for _ in range(per_tick):
        os.write(fd, b"<6>" + lines[written % len(lines)] + b"\n")
        written += 1
    next_at += tick
    delay = next_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(written, round(time.monotonic() - began, 3), flush=True)
"""


def forged_lines() -> list[str]:
    """Every signature's example line: each would be an alert if the kernel had written it."""
    from rowatch.signatures import SIGNATURES

    return [s.example for s in SIGNATURES if s.program == "kernel"]


@contextlib.contextmanager
def devkmsg_unlimited() -> Iterator[None]:
    old = DEVKMSG_SYSCTL.read_text().strip()
    DEVKMSG_SYSCTL.write_text("on\n")  # the kernel wants the newline
    try:
        yield
    finally:
        DEVKMSG_SYSCTL.write_text(old + "\n")


def case_userspace(seconds: float, rate: int, tmp: Path) -> dict[str, Any]:
    workdir = tmp / "userspace"
    workdir.mkdir()
    with SmtpTestServer() as relay, devkmsg_unlimited():
        daemon = Daemon(
            workdir, config_text(workdir, interval="60s"), extra_args=daemon_args(relay)
        )
        try:
            daemon.wait_ready()
            reference = Reference()
            writer = subprocess.Popen(
                [sys.executable, "-c", USERSPACE_WRITER, str(rate), str(seconds), *forged_lines()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                text=True,
            )
            first, last = measured_window(daemon, reference, seconds)
            out = writer.communicate(30)[0].split()
            written, took = int(out[0]), float(out[1])
            time.sleep(1.0)
            kernel = reference.stop()
        finally:
            daemon.stop()
        said = stopping_event(daemon)
        mails = subjects(relay)
    return {
        "rate_asked": rate,
        "records_written": written,
        "write_rate_reached": round(written / took, 1),
        "reference_records": kernel["records"],
        "reference_epipe": kernel["epipe"],
        "rowatch_records_read": said.get("records_read"),
        "rowatch_records_lost": said.get("records_lost"),
        "rowatch_untrusted_rejected": said.get("untrusted_rejected"),
        "incidents": len({e.get("incident_id") for e in daemon.events if e.get("incident_id")}),
        "messages_sent": len(mails),
        "subjects": mails,  # none expected; anything here came from elsewhere on the machine
        "usage": usage(first, last),
    }


# --------------------------------------------------------------------------- case: engine
DISKS = [f"sd{chr(ord('b') + i)}" for i in range(20)]
MAX_BATCH = 1024  # rowatch.sources.kmsg.MAX_BATCH


def dying_disks() -> Iterator[str]:
    """An endless, realistic flood from 20 SAN disks under ext4 (6.x wordings).

    Per disk, round-robin: SCSI failures and block-layer errors on the disk, buffer errors
    on its partition; after 50 of those the journal aborts and the filesystem is remounted
    read-only, and the errors go on (the disk does not heal because ext4 gave up).
    """
    sector = 4_928_181
    step = 0
    while True:
        for host, disk in enumerate(DISKS):
            part = f"{disk}1"
            sector += 8
            tag = step % 32
            yield (
                f"sd {host + 2}:0:0:0: [{disk}] tag#{tag} FAILED Result: hostbyte=DID_BUS_BUSY "
                f"driverbyte=DRIVER_OK cmd_age=30s"
            )
            yield (
                f"I/O error, dev {disk}, sector {sector} op 0x1:(WRITE) flags 0x800 phys_seg 1 "
                f"prio class 2"
            )
            yield (
                f"Buffer I/O error on dev {part}, logical block {sector // 8}, "
                "lost async page write"
            )
            if step % 10 == 5:
                yield "blk_print_req_error: 17 callbacks suppressed"
            if step == 50:
                yield f"Aborting journal on device {part}-8."
                yield (
                    f"EXT4-fs error (device {part}): ext4_journal_check_start:83: comm "
                    f"kworker/u4:2: Detected aborted journal"
                )
                yield f"EXT4-fs ({part}): Remounting filesystem read-only"
        step += 1


class PacedSource:
    """A source for the daemon: ``dying_disks()`` at ``rate`` records/s (0: flat out) for
    ``seconds``, as trusted kmsg records stamped with CLOCK_MONOTONIC; then it ends."""

    def __init__(self, rate: int, seconds: float) -> None:
        self.rate = rate
        self.seconds = seconds
        self.records = 0
        self.elapsed = 0.0
        self.behind_max = 0.0  # how far the records fell behind their schedule, at worst
        self._closed = False
        self._lines = dying_disks()

    async def open(self) -> None:
        return None

    def close(self) -> None:
        self._closed = True

    def describe(self) -> str:
        return f"paced flood at {self.rate or 'max'}/s"

    @property
    def position(self) -> dict[str, Any]:
        return {"records": self.records, "lost_records": 0}

    async def batches(self) -> AsyncIterator[list[Any]]:
        from rowatch.records import KernelRecord, Source

        began = time.monotonic()
        tick = 0.01
        while not self._closed:
            now = time.monotonic()
            self.elapsed = now - began
            if self.elapsed >= self.seconds:
                break
            if self.rate:
                due = int(self.rate * (self.elapsed + tick)) - self.records
                self.behind_max = max(self.behind_max, self.elapsed - self.records / self.rate)
            else:
                due = MAX_BATCH
            # At most what the kmsg source hands over per wakeup: a daemon that falls behind
            # leaves the rest where the kernel would (its ring buffer), not in its memory.
            due = min(due, MAX_BATCH)
            if due > 0:
                uptime = time.clock_gettime(time.CLOCK_MONOTONIC)
                batch = [
                    KernelRecord(
                        message=next(self._lines),
                        uptime=uptime,
                        priority=3,
                        facility=0,
                        trusted=True,
                        source=Source.KMSG,
                        seq=self.records + index,
                    )
                    for index in range(due)
                ]
                self.records += due
                yield batch
            if self.rate:
                ahead = began + (self.records / self.rate) - time.monotonic()
                await asyncio.sleep(max(0.0, ahead))
            else:
                await asyncio.sleep(0)
        self.elapsed = time.monotonic() - began


def hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def worker(mode: str, rate: int, seconds: float, config: Path, smtp: str, out: Path) -> int:
    """One measured run in this process: the real daemon (``rowatch``) or the empty loop
    (``reference``) consuming a PacedSource."""
    source = PacedSource(rate, seconds)
    began_cpu = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "reference":

        async def drain() -> None:
            async for batch in source.batches():
                del batch

        asyncio.run(drain())
        sent = None
    else:
        from rowatch.config import load_config
        from rowatch.daemon import Daemon as RowatchDaemon
        from rowatch.logsetup import configure as configure_logging
        from rowatch.smtp_url import smtp_settings_from_args

        configure_logging("json", "warning")
        settings = load_config(str(config))
        email = smtp_settings_from_args(smtp, None, "rowatch@example.test", ["ops@example.test"])

        async def main() -> int:
            daemon = RowatchDaemon(settings, str(config), email=email)

            async def paced() -> PacedSource:
                daemon.source = source  # type: ignore[assignment]
                return source

            daemon._open_source = paced  # type: ignore[method-assign]
            return await daemon.run()

        sent = asyncio.run(main())
    end_cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (end_cpu.ru_utime + end_cpu.ru_stime) - (began_cpu.ru_utime + began_cpu.ru_stime)
    out.write_text(
        json.dumps(
            {
                "records": source.records,
                "elapsed_s": round(source.elapsed, 3),
                "records_per_s": round(source.records / source.elapsed, 1),
                "behind_max_s": round(source.behind_max, 3),
                "cpu_s": round(cpu, 3),
                "cpu_pct_one_core": round(100 * cpu / source.elapsed, 1),
                "hwm_mib": round(hwm_kib() / 1024, 1),
                "exit": sent,
            }
        )
    )
    return 0


def case_engine(seconds: float, rates: list[int], tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for rate in rates:
        workdir = tmp / f"engine-{rate}"
        workdir.mkdir()
        config = workdir / "rowatch.toml"
        config.write_text(config_text(workdir, interval="60s"))
        row: dict[str, Any] = {"rate_asked": rate or "max"}
        with SmtpTestServer() as relay:
            for mode in ("reference", "rowatch"):
                out = workdir / f"{mode}.json"
                log = (workdir / f"{mode}.log").open("wb")  # the daemon's own warnings
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        mode,
                        "--rate",
                        str(rate),
                        "--seconds",
                        str(seconds),
                        "--config",
                        str(config),
                        "--smtp",
                        relay.url(),
                        "--output",
                        str(out),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    check=True,
                    timeout=seconds * 3 + 120,
                )
                log.close()
                row[mode] = json.loads(out.read_text())
            mails = subjects(relay)
        row["messages_sent"] = len(mails)
        row["read_only_alerts"] = sum("read-only" in s for s in mails)
        row["subjects_sample"] = mails[:5]
        rows.append(row)
        print(
            f"engine {row['rate_asked']}/s: rowatch {row['rowatch']['records_per_s']}/s "
            f"{row['rowatch']['cpu_pct_one_core']}% HWM {row['rowatch']['hwm_mib']} MiB, "
            f"{len(mails)} messages",
            flush=True,
        )
    return rows


# --------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cases", default="real,userspace,engine")
    parser.add_argument("--rates", default="10000,20000,50000,0")
    parser.add_argument("--userspace-rate", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=("rowatch", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--smtp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.rate, args.seconds, args.config, args.smtp, args.output)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on kill

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    rates = [int(r) for r in args.rates.split(",")]
    load = OtherLoad()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rowatch-flood-") as tmp_name:
        tmp = Path(tmp_name)
        if "real" in cases:
            results["real"] = case_real(args.seconds, tmp)
            print(f"real: {summary_line(results['real'])}", flush=True)
        if "userspace" in cases:
            results["userspace"] = case_userspace(args.seconds, args.userspace_rate, tmp)
            print(f"userspace: {summary_line(results['userspace'])}", flush=True)
        if "engine" in cases:
            results["engine"] = case_engine(args.seconds, rates, tmp)
    report = {
        "benchmark": "flood",
        "machine": machine(),
        "other_load": load.during(),
        "settings": {
            "seconds": args.seconds,
            "cases": cases,
            "engine_rates": rates,
            "userspace_rate": args.userspace_rate,
            "daemon": "rowatch run, kmsg source, backlog=false, reconciler 60s, --smtp plain; "
            "alerts settings at their defaults",
            "relay": "aiosmtpd on 127.0.0.1 (tests/smtp_server.py)",
            "reference": "real/userspace: a minimal /dev/kmsg reader (same interpreter); "
            "engine: the paced source drained by an empty loop",
        },
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


def summary_line(row: dict[str, Any]) -> str:
    use = row["usage"]
    return (
        f"rowatch {use['rowatch']['cpu_pct_one_core']:.1f}% HWM {use['rowatch']['hwm_mib']} MiB, "
        f"reference {use['reference']['cpu_pct_one_core']:.1f}%; read "
        f"{row.get('rowatch_records_read')} lost {row.get('rowatch_records_lost')}; "
        f"{row['messages_sent']} messages"
    )


if __name__ == "__main__":
    sys.exit(main())
