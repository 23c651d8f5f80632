#!/usr/bin/env python3
"""The prefilter scan alone: where ``rowatch replay`` spends most of its time.

Times, in this process, a scan of the whole generated syslog for the lines the classifier's
prefilter passes, the way the replay fast path walks a buffer (search, skip to the end of
the matched line, search again), with:

* ``scanner``: ``Classifier().prefilter_scanner``, the few separate ``re`` scans replay
  uses when google-re2 is not installed, and each of its patterns on its own;
* ``alternation``: ``Classifier().prefilter_bytes``, the same needles as one ``re``
  alternation (slow: run ``--slow-runs`` times only);
* ``re2``: that alternation compiled by google-re2, when it is installed (what replay uses
  then);

and, side by side in the same rounds, ``LC_ALL=C grep -E -c`` with the equivalent pattern
(bench/replay_throughput.py builds it) as a subprocess. Every strategy must find the same
lines. Writes bench/results/prefilter_scan.json.

    python3 bench/prefilter_scan.py [--runs 5] [--slow-runs 1]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from replay_throughput import (  # the sibling script: its directory is on sys.path
    DEFAULT_FILE,
    GREP_ENV,
    OtherLoad,
    ensure_input,
    machine,
    python_to_ere,
    summary,
)

RESULTS = Path(__file__).resolve().parent / "results" / "prefilter_scan.json"


class Searcher(Protocol):
    """What the scan needs of a compiled pattern."""

    def search(self, buf: bytes, pos: int, endpos: int) -> Any: ...


def line_starts(searcher: Searcher, data: bytes) -> list[int]:
    """Start offsets of the lines ``searcher`` matches, walked as the replay fast path does."""
    starts: list[int] = []
    pos, end = 0, len(data)
    while (found := searcher.search(data, pos, end)) is not None:
        at = found.start()
        starts.append(data.rfind(b"\n", 0, at) + 1)
        newline = data.find(b"\n", at)
        if newline < 0:
            break
        pos = newline + 1
    return starts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slow-runs", type=int, default=1, help="runs of the one-re alternation")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from rowatch.classify import Classifier

    manifest = ensure_input(args.file, regenerate=False)
    path = args.file.resolve()
    data = path.read_bytes()
    classifier = Classifier()
    strategies: dict[str, tuple[Callable[[], Searcher], int]] = {
        "scanner (replay without RE2)": (lambda: Classifier().prefilter_scanner, args.runs),
    }
    for index, pattern in enumerate(classifier.prefilter_scanner.patterns):
        label = f"  scanner pattern {index + 1}: {pattern.pattern[:40].decode()}..."
        strategies[label] = (functools.partial(lambda p: p, pattern), args.runs)
    strategies["alternation (one re pattern)"] = (
        lambda: classifier.prefilter_bytes,
        args.slow_runs,
    )
    try:
        import re2  # type: ignore[import-not-found]

        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1
        options.never_capture = True
        compiled = re2.compile(classifier.prefilter_bytes.pattern, options=options)
        strategies["re2 (replay with google-re2)"] = (lambda: compiled, args.runs)
    except ImportError:
        pass

    grep = ["grep", "-E", "-c", "-e", python_to_ere(classifier.prefilter_source), str(path)]
    times: dict[str, list[float]] = {name: [] for name in [*strategies, "grep -E -c"]}
    found: dict[str, int] = {}
    reference: list[int] | None = None
    other = OtherLoad()
    for round_no in range(args.runs + 1):  # round 0 warms up and is not counted
        for name, (make, runs) in strategies.items():
            if round_no > runs:
                continue
            searcher = make()
            began = time.perf_counter()
            starts = line_starts(searcher, data)
            elapsed = time.perf_counter() - began
            if name.startswith("scanner ("):
                reference = starts
            elif not name.startswith("  ") and starts != reference:
                sys.exit(
                    f"{name}: found {len(starts)} lines, not the scanner's {len(reference or [])}"
                )
            found[name] = len(starts)
            if round_no:
                times[name].append(elapsed)
        began = time.perf_counter()
        done = subprocess.run(grep, env=GREP_ENV, capture_output=True, check=False)
        elapsed = time.perf_counter() - began
        found["grep -E -c"] = int(done.stdout or 0)
        if round_no:
            times["grep -E -c"].append(elapsed)
        print(f"  round {round_no}{' (warm-up)' if not round_no else ''} done", flush=True)

    grep_median = statistics.median(times["grep -E -c"])
    results: dict[str, Any] = {
        "benchmark": "prefilter_scan",
        "machine": machine(),
        "input": {key: manifest.get(key) for key in ("file", "lines", "bytes", "sha256")},
        "method": {
            "runs": args.runs,
            "slow_runs": args.slow_runs,
            "what": "in-process time.perf_counter() around a whole-file scan, data in memory; "
            "grep as a subprocess on the same file (page cache warm)",
            "other_load": other.during(),
        },
        "strategies": {
            name: {
                "seconds": summary(values),
                "lines": found[name],
                "ratio_to_grep": round(statistics.median(values) / grep_median, 2),
            }
            for name, values in times.items()
            if values
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{'strategy':52} {'median s':>9} {'min':>7} {'max':>7} {'lines':>6} {'x grep':>7}")
    for name, entry in results["strategies"].items():
        s = entry["seconds"]
        print(
            f"{name:52} {s['median']:9.3f} {s['min']:7.3f} {s['max']:7.3f} {entry['lines']:6d} "
            f"{entry['ratio_to_grep']:6.2f}x"
        )
    load = results["method"]["other_load"]
    print(
        f"other processes used {load['others_cpu_pct_during']}% of the CPUs during the runs "
        f"({load['others_cpu_pct_before']}% just before)"
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
