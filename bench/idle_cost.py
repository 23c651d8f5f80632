"""Idle cost of ``rowatch run``: CPU, wake-ups and memory on a quiet kernel.

Starts the daemon (kmsg source, ``backlog = false``, the default 60 s reconciler interval,
private state directories, no sink) and, in the same run, an idle reference process
(``python3 -c 'import time; time.sleep(N)'``, the same interpreter). Once the daemon said
READY=1 and a settling pause passed, it samples both processes at the start and the end of
``--seconds`` (default 600):

* CPU: ``utime + stime`` from ``/proc/<pid>/stat`` (clock ticks), as % of one core;
* wake-ups: ``voluntary_ctxt_switches + nonvoluntary_ctxt_switches`` of every thread
  (``/proc/<pid>/task/*/status``) per second;
* memory: ``VmRSS`` and ``VmHWM`` from ``/proc/<pid>/status`` at the end.

A benchmark, not a test: it never fails on a high figure.

    python3 bench/idle_cost.py [--seconds 600] [--settle 5]

Writes bench/results/idle_cost.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(BENCH))

from procstat import TICK, difference, sample  # noqa: E402
from replay_throughput import OtherLoad, machine  # noqa: E402

from daemon_harness import Daemon, config_text  # noqa: E402

RESULTS = BENCH / "results" / "idle_cost.json"


def kmsg_records_since(fd: int) -> int:
    """Records the kernel (or anyone) logged to /dev/kmsg since ``fd`` was positioned: what
    the daemon had to read during the window (0 on a truly quiet kernel)."""
    count = 0
    while True:
        try:
            chunk = os.read(fd, 16384)
        except BlockingIOError:
            return count
        except BrokenPipeError:
            continue
        if not chunk:
            return count
        count += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--settle", type=float, default=5.0, help="pause after READY=1")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on kill

    load = OtherLoad()
    with tempfile.TemporaryDirectory(prefix="rowatch-idle-") as tmp:
        workdir = Path(tmp)
        config = config_text(workdir, interval="60s")
        sleep_for = str(int(args.seconds + args.settle + 60))
        reference = subprocess.Popen(
            [sys.executable, "-c", f"import time; time.sleep({sleep_for})"],
            stdin=subprocess.DEVNULL,
        )
        daemon = Daemon(workdir, config)
        try:
            daemon.wait_ready()
            time.sleep(args.settle)
            pids = {"rowatch": daemon.process.pid, "reference": reference.pid}
            kmsg = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(kmsg, 0, os.SEEK_END)
            first = {name: sample(pid) for name, pid in pids.items()}
            print(f"sampling for {args.seconds:.0f} s ...", flush=True)
            time.sleep(args.seconds)
            last = {name: sample(pid) for name, pid in pids.items()}
            kmsg_records = kmsg_records_since(kmsg)
            os.close(kmsg)
            alive = daemon.process.poll() is None
        finally:
            daemon.stop()
            reference.kill()
            reference.wait()
        events = [e.get("event") for e in daemon.events]

    results = {name: difference(first[name], last[name]) for name in first}
    report = {
        "benchmark": "idle_cost",
        "machine": machine(),
        "other_load": load.during(),
        "settings": {
            "seconds": args.seconds,
            "settle_s": args.settle,
            "config": config.replace(str(workdir), "<tmpdir>"),
            "clock_ticks_per_s": TICK,
            "reference": "python3 -c 'import time; time.sleep(N)' (same interpreter)",
        },
        "kmsg_records_during_window": kmsg_records,
        "daemon_alive_at_end": alive,
        "daemon_events": events,
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'':10} {'CPU % core':>11} {'wakeups/s':>10} {'RSS MiB':>8} {'HWM MiB':>8} thr")
    for name, row in results.items():
        print(
            f"{name:10} {row['cpu_pct_one_core']:11.4f} {row['wakeups_per_s']:10.3f} "
            f"{row['rss_mib']:8.1f} {row['hwm_mib']:8.1f} {row['threads']:3d}"
        )
    print(f"/dev/kmsg records logged during the window: {kmsg_records}")
    print(f"CPU resolution: {results['rowatch']['cpu_resolution_pct']} % (one tick)")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
