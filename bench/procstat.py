"""CPU, context switches and memory of a running process, from /proc (Linux).

``sample(pid)`` reads them now; ``difference(start, end)`` turns two samples into the figures
the benchmarks report. Shared by ``idle_cost.py`` and ``flood.py``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def sample(pid: int) -> dict[str, Any]:
    """CPU seconds, context switches (all threads), RSS and HWM of ``pid`` now."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)
    switches = {"voluntary": 0, "nonvoluntary": 0}
    threads = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        threads += 1
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key == "voluntary_ctxt_switches":
                switches["voluntary"] += int(value)
            elif key == "nonvoluntary_ctxt_switches":
                switches["nonvoluntary"] += int(value)
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(value.split()[0])
    return {
        "t": time.monotonic(),
        "cpu_s": cpu,
        "threads": threads,
        **switches,
        "rss_kib": memory["VmRSS"],
        "hwm_kib": memory["VmHWM"],
    }


def difference(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """What a process used between two samples: CPU (% of one core), wake-ups, memory."""
    seconds = end["t"] - start["t"]
    cpu = end["cpu_s"] - start["cpu_s"]
    vol = end["voluntary"] - start["voluntary"]
    nonvol = end["nonvoluntary"] - start["nonvoluntary"]
    return {
        "seconds": round(seconds, 1),
        "cpu_s": round(cpu, 3),
        "cpu_pct_one_core": round(100 * cpu / seconds, 4),
        "cpu_resolution_pct": round(100 / TICK / seconds, 4),
        "ctxt_switches": vol + nonvol,
        "voluntary": vol,
        "nonvoluntary": nonvol,
        "wakeups_per_s": round((vol + nonvol) / seconds, 3),
        "threads": end["threads"],
        "rss_mib": round(end["rss_kib"] / 1024, 1),
        "hwm_mib": round(end["hwm_kib"] / 1024, 1),
        "start": start,
        "end": end,
    }
