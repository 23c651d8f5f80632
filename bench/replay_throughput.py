#!/usr/bin/env python3
"""Replay throughput: ``rowatch replay`` against ``grep -E`` on the same file, side by side.

The reference is what an administrator would do instead: grep the log for the needles of
rowatch's signature table. The pattern is the classifier's own prefilter
(``Classifier().prefilter_source``) translated from Python ``re`` syntax to POSIX ERE, so it
stays equivalent as the table grows; the script checks that grep counts exactly the lines
the prefilter matches.

Each round runs every command once, in shuffled order, on the plain file and on its ``.gz``:

    LC_ALL=C grep -E -c -e PATTERN FILE                 rowatch replay --json FILE > /dev/null
    gzip -dc FILE.gz | LC_ALL=C grep -E -c -e PATTERN    rowatch replay --json FILE.gz > /dev/null

and ``rowatch replay`` on a one-line file (its fixed start-up cost), measuring wall time
(``time.perf_counter`` around the processes), CPU time and peak RSS (GNU ``time`` around each
process; a pipeline's RSS is the sum of its two processes). The first round warms the page
cache and is not counted. CPU used by other processes meanwhile is recorded too. It reports
median, min/max and quartiles, and the ratio rowatch median / grep median. A benchmark, not a
test: it never fails on a slow result.

    python3 bench/replay_throughput.py [--runs 7] [--file bench/work/syslog-1M.log]

Writes bench/results/replay_throughput.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random

# The parser behind re.compile (Python 3.11+): the translation walks the tree it builds.
import re._constants as _sre_c  # type: ignore[import-not-found]
import re._parser as _sre_p  # type: ignore[import-not-found]
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_FILE = BENCH / "work" / "syslog-1M.log"
RESULTS = BENCH / "results" / "replay_throughput.json"
GREP_ENV = {**os.environ, "LC_ALL": "C"}  # bytes, like rowatch's prefilter


# --------------------------------------------------------------------------- Python re -> ERE
class NotERE(ValueError):
    """The pattern uses something POSIX ERE cannot say (lookaround, backreference, flags)."""


_ERE_SPECIAL = set(".[]()*+?{}|^$\\")
_CATEGORY_SET = {
    _sre_c.CATEGORY_DIGIT: "0-9",
    _sre_c.CATEGORY_SPACE: "[:space:]",  # C locale: \t\n\v\f\r and space, as bytes \s
    _sre_c.CATEGORY_WORD: "[:alnum:]_",  # C locale: [A-Za-z0-9_], as bytes \w
}
_CATEGORY_NEGATED = {
    _sre_c.CATEGORY_NOT_DIGIT: "0-9",
    _sre_c.CATEGORY_NOT_SPACE: "[:space:]",
    _sre_c.CATEGORY_NOT_WORD: "[:alnum:]_",
}


def _ere_char(code: int) -> str:
    char = chr(code)
    if char == "\n":
        raise NotERE("a newline cannot appear in a line-based grep pattern")
    return "\\" + char if char in _ERE_SPECIAL else char


def _ere_set(items: list[tuple[Any, Any]]) -> str:
    negate = False
    chars: list[str] = []
    extras: list[str] = []
    for op, av in items:
        if op is _sre_c.NEGATE:
            negate = True
        elif op is _sre_c.LITERAL:
            chars.append(chr(av))
        elif op is _sre_c.RANGE:
            extras.append(f"{chr(av[0])}-{chr(av[1])}")
        elif op is _sre_c.CATEGORY and av in _CATEGORY_SET:
            extras.append(_CATEGORY_SET[av])
        elif op is _sre_c.CATEGORY and av in _CATEGORY_NEGATED and len(items) == 1:
            return f"[^{_CATEGORY_NEGATED[av]}]"
        else:
            raise NotERE(f"character set item {op} {av}")
    # In a bracket expression "]" must come first, "-" last and "^" not first.
    body = ("]" if "]" in chars else "") + "".join(c for c in chars if c not in "]-^")
    body += "".join(extras) + ("^" if "^" in chars else "") + ("-" if "-" in chars else "")
    if body == "^":
        return "\\^" if not negate else "[^^]"
    return f"[{'^' if negate else ''}{body}]"


def _ere_seq(items: Any) -> str:
    return "".join(_ere_item(op, av) for op, av in items)


def _ere_item(op: Any, av: Any) -> str:
    c = _sre_c
    if op is c.LITERAL:
        return _ere_char(av)
    if op is c.NOT_LITERAL:
        return _ere_set([(c.NEGATE, None), (c.LITERAL, av)])
    if op is c.ANY:
        return "."
    if op is c.IN:
        return _ere_set(list(av))
    if op is c.BRANCH:
        return "(" + "|".join(_ere_seq(branch) for branch in av[1]) + ")"
    if op is c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise NotERE("inline flags")
        return "(" + _ere_seq(sub) + ")"
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)):
        # Greedy, lazy or possessive: the same lines match, which is all grep -c asks.
        low, high, sub = av
        atom = _ere_seq(sub)
        units = (c.LITERAL, c.NOT_LITERAL, c.ANY, c.IN, c.SUBPATTERN, c.BRANCH)
        if len(sub) != 1 or sub[0][0] not in units:  # BRANCH and SUBPATTERN come in ( )
            atom = f"({atom})"
        if (low, high) == (0, c.MAXREPEAT):
            return atom + "*"
        if (low, high) == (1, c.MAXREPEAT):
            return atom + "+"
        if (low, high) == (0, 1):
            return atom + "?"
        if high is c.MAXREPEAT:
            return f"{atom}{{{low},}}"
        return f"{atom}{{{low}}}" if low == high else f"{atom}{{{low},{high}}}"
    if op is c.AT:
        if av in (c.AT_BEGINNING, c.AT_BEGINNING_STRING):
            return "^"
        if av in (c.AT_END, c.AT_END_STRING):
            return "$"
        if av is c.AT_BOUNDARY:
            return "\\b"  # a GNU extension, as is \B
        if av is c.AT_NON_BOUNDARY:
            return "\\B"
    raise NotERE(f"{op} {av}")


def python_to_ere(pattern: str) -> str:
    """The POSIX ERE (GNU grep -E) that matches the same lines as Python ``pattern``."""
    parsed = _sre_p.parse(pattern)
    if parsed.state.flags & ~(_sre_c.SRE_FLAG_UNICODE | _sre_c.SRE_FLAG_ASCII):
        raise NotERE("flags")
    top = list(parsed)
    if len(top) == 1 and top[0][0] is _sre_c.BRANCH:  # no needless outer group
        return "|".join(_ere_seq(branch) for branch in top[0][1][1])
    return _ere_seq(top)


# --------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def out(*cmd: str) -> str | None:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
        except OSError:
            return None
        return done.stdout.strip() or None if done.returncode == 0 else None

    commit = out("git", "rev-parse", "HEAD")
    dirty = out("git", "status", "--porcelain", "--untracked-files=no", "--", "src")
    try:
        import re2  # type: ignore[import-not-found]  # noqa: F401

        has_re2 = True
    except ImportError:
        has_re2 = False
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "kernel": platform.release(),
        "os": _os_release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "rowatch_commit": (commit or "unknown") + ("+dirty" if dirty else ""),
        "google_re2_installed": has_re2,
        "grep": (out("grep", "--version") or "").partition("\n")[0] or None,
        "gzip": (out("gzip", "--version") or "").partition("\n")[0] or None,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _os_release() -> str | None:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------- other load
def _cpu_busy_seconds() -> float:
    """CPU time every process on the machine has used (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    jiffies = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    busy = sum(jiffies) - jiffies[3] - jiffies[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class OtherLoad:
    """How much CPU other processes took while the benchmark ran: the machine is shared
    (CI, test suites), and their work shows in wall times."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.busy = _cpu_busy_seconds()
        self.own = _own_seconds()
        # A 2-second look before starting: was the machine idle?
        time.sleep(2.0)
        busy, own = _cpu_busy_seconds(), _own_seconds()
        cores = os.cpu_count() or 1
        self.before_pct = max(0.0, 100 * ((busy - self.busy) - (own - self.own)) / (2.0 * cores))
        self.began, self.busy, self.own = time.perf_counter(), busy, own

    def during(self) -> dict[str, float]:
        wall = time.perf_counter() - self.began
        others = (_cpu_busy_seconds() - self.busy) - (_own_seconds() - self.own)
        cores = os.cpu_count() or 1
        return {
            "others_cpu_pct_before": round(self.before_pct, 1),
            "others_cpu_s_during": round(max(0.0, others), 2),
            "others_cpu_pct_during": round(max(0.0, 100 * others / (wall * cores)), 1),
        }


# --------------------------------------------------------------------------- measuring
TIME = "/usr/bin/time"  # GNU time: peak RSS and CPU time of exactly the process it runs


def measure(
    commands: list[list[str]], env: list[dict[str, str] | None], capture: bool, scratch: Path
) -> dict[str, Any]:
    """Run one command or a pipeline; wall time, CPU time, summed peak RSS, and the last
    command's stdout if ``capture`` (else it goes to /dev/null).

    Each process runs under GNU ``time``: ``os.wait4`` here would also count, in a child's
    peak RSS, the pages of this Python process it was forked from."""
    use_time = os.access(TIME, os.X_OK)
    reports = [scratch / f"time.{index}" for index in range(len(commands))]
    procs: list[subprocess.Popen[bytes]] = []
    began = time.perf_counter()
    for index, command in enumerate(commands):
        last = index == len(commands) - 1
        timed = [TIME, "-f", "%M %U %S", "-o", str(reports[index]), *command]
        procs.append(
            subprocess.Popen(
                timed if use_time else command,
                stdin=procs[-1].stdout if procs else subprocess.DEVNULL,
                stdout=subprocess.PIPE if (capture or not last) else subprocess.DEVNULL,
                env=env[index],
            )
        )
        if len(procs) > 1 and procs[-2].stdout is not None:
            procs[-2].stdout.close()  # the next process holds the pipe now
    final = procs[-1]
    output = final.stdout.read() if final.stdout is not None else b""
    rss = 0
    cpu = 0.0
    codes = []
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        codes.append(proc.returncode)
        rss += usage.ru_maxrss
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - began
    if final.stdout is not None:
        final.stdout.close()
    # grep exits 1 when nothing matched: a result, not a failure.
    if any(code not in (0, 1) for code in codes):
        raise RuntimeError(f"{commands} exited {codes}")
    if use_time:
        rss, cpu = 0, 0.0
        for report in reports:
            fields = report.read_text().split()[-3:]
            rss += int(fields[0])
            cpu += float(fields[1]) + float(fields[2])
    return {"wall": wall, "cpu": cpu, "rss_kib": rss, "stdout": output}


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    q1, _, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (ordered[0],) * 3
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "values": [round(v, 4) for v in values],
    }


def prefilter_lines(path: Path) -> int:
    """Lines rowatch's prefilter matches, counted the way ``grep -c`` counts them."""
    from rowatch.classify import Classifier

    scanner = Classifier().prefilter_scanner
    count = 0
    carry = b""
    with path.open("rb") as stream:
        while chunk := stream.read(8 << 20):
            buf = carry + chunk
            end = buf.rfind(b"\n") + 1
            carry = buf[end:]
            pos = 0
            while (found := scanner.search(buf, pos, end)) is not None:
                count += 1
                pos = buf.find(b"\n", found.start(), end) + 1
    if carry and scanner.search(carry) is not None:
        count += 1
    return count


def sanity(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """One untimed replay per input: incidents found against the clusters generated."""
    result: dict[str, Any] = {}
    outputs = {}
    for label, target in (("plain", path), ("gzip", path.with_name(path.name + ".gz"))):
        done = subprocess.run(
            [sys.executable, "-m", "rowatch", "replay", "--json", str(target)],
            capture_output=True,
            check=True,
        )
        outputs[label] = done.stdout
    incidents = [json.loads(line) for line in outputs["plain"].splitlines()]
    clusters = manifest.get("incidents", [])
    per_cluster: list[int] = [0] * len(clusters)
    unmatched = 0
    for incident in incidents:
        first = (
            dt.datetime.fromisoformat(incident["first_time"]) if incident["first_time"] else None
        )
        hit = None
        for index, cluster in enumerate(clusters):
            start = dt.datetime.fromisoformat(cluster["start"])
            end = dt.datetime.fromisoformat(cluster["end"])
            if first is not None and start <= first <= end + dt.timedelta(seconds=1):
                hit = index
                break
        if hit is None:
            unmatched += 1
        else:
            per_cluster[hit] += 1
    split: dict[str, int] = {}
    missed: dict[str, int] = {}
    for cluster, count in zip(clusters, per_cluster, strict=True):
        if count > 1:
            split[cluster["scenario"]] = split.get(cluster["scenario"], 0) + 1
        if count == 0:
            missed[cluster["scenario"]] = missed.get(cluster["scenario"], 0) + 1
    result.update(
        {
            "incidents_found": len(incidents),
            "incidents_expected": manifest.get("incidents_expected"),
            "alerts_found": sum(1 for i in incidents if i["outcome"]),
            "alerts_expected": manifest.get("alerts_expected"),
            "clusters_reported_as_several_incidents": split,
            "clusters_missed": missed,
            "incidents_outside_any_cluster": unmatched,
            "gzip_output_identical": outputs["plain"] == outputs["gzip"],
        }
    )
    return result


def ensure_input(path: Path, regenerate: bool) -> dict[str, Any]:
    manifest_path = path.with_name(path.name + ".manifest.json")
    gz = path.with_name(path.name + ".gz")
    if regenerate or not (path.exists() and gz.exists() and manifest_path.exists()):
        if path != DEFAULT_FILE and not regenerate:
            sys.exit(f"{path}: missing (generate it with bench/gen_syslog.py --out {path})")
        print(f"generating {path} ...", flush=True)
        subprocess.run(
            [sys.executable, str(BENCH / "gen_syslog.py"), "--out", str(path)], check=True
        )
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    if manifest.get("bytes") != path.stat().st_size:
        sys.exit(f"{path}: does not match {manifest_path}; regenerate with --regenerate")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--regenerate", action="store_true", help="write the input anew")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-gzip", action="store_true", help="plain file only")
    args = parser.parse_args(argv)

    manifest = ensure_input(args.file, args.regenerate)
    path = args.file.resolve()
    gz = path.with_name(path.name + ".gz")
    from rowatch.classify import Classifier

    source = Classifier().prefilter_source
    ere = python_to_ere(source)
    expected_lines = prefilter_lines(path)

    grep = ["grep", "-E", "-c", "-e", ere]
    rowatch = [sys.executable, "-m", "rowatch", "replay", "--json"]
    cases: dict[str, dict[str, tuple[list[list[str]], list[dict[str, str] | None]]]] = {
        "plain": {
            "grep": ([[*grep, str(path)]], [GREP_ENV]),
            "rowatch": ([[*rowatch, str(path)]], [None]),
        },
    }
    if not args.no_gzip:
        cases["gzip"] = {
            "grep": ([["gzip", "-dc", str(gz)], grep], [None, GREP_ENV]),
            "rowatch": ([[*rowatch, str(gz)]], [None]),
        }
    # Fixed cost: the interpreter, imports, argument parsing, format detection.
    scratch = Path(tempfile.mkdtemp(prefix="rowatch-bench-"))
    tiny = scratch / "one-line.log"
    with path.open("rb") as stream:
        tiny.write_bytes(stream.readline())
    no_env: list[dict[str, str] | None] = [None]
    startup_cmd = ([[*rowatch, str(tiny)]], no_env)

    other = OtherLoad()
    if other.before_pct > 5:
        print(
            f"warning: other processes used {other.before_pct:.0f}% of the CPUs just before "
            f"starting: their work will show in the wall times (CPU times suffer less)"
        )
    print(
        f"input   {path} ({manifest['lines']} lines, {path.stat().st_size / 1e6:.1f} MB; "
        f".gz {gz.stat().st_size / 1e6:.1f} MB)"
    )
    print(
        f"pattern {len(ere)} chars of ERE from Classifier().prefilter_source; prefilter "
        f"matches {expected_lines} lines"
    )

    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        case: {tool: {"wall": [], "cpu": [], "rss_kib": []} for tool in tools}
        for case, tools in cases.items()
    }
    samples["startup"] = {"rowatch": {"wall": [], "cpu": [], "rss_kib": []}}
    grep_counts: dict[str, set[int]] = {case: set() for case in cases}
    order_rng = random.Random(1)
    total = args.warmup + args.runs
    for round_no in range(total):
        counted = round_no >= args.warmup
        jobs = [(case, tool) for case, tools in cases.items() for tool in tools]
        order_rng.shuffle(jobs)  # no tool always runs right after the other
        jobs.append(("startup", "rowatch"))
        for case, tool in jobs:
            commands, envs = startup_cmd if case == "startup" else cases[case][tool]
            got = measure(commands, envs, capture=tool == "grep", scratch=scratch)
            if tool == "grep":
                grep_counts[case].add(int(got["stdout"].strip() or 0))
            if counted:
                for key in ("wall", "cpu", "rss_kib"):
                    samples[case][tool][key].append(got[key])
        state = "warm-up" if not counted else f"run {round_no - args.warmup + 1}/{args.runs}"
        print(
            f"  {state}: "
            + ", ".join(
                f"{case}/{tool} {samples[case][tool]['wall'][-1]:.2f}s"
                for case, tools in cases.items()
                for tool in tools
            )
            if counted
            else f"  {state} done",
            flush=True,
        )
    shutil.rmtree(scratch, ignore_errors=True)
    load = other.during()

    check = sanity(path, manifest)
    check["grep_count"] = {case: sorted(counts) for case, counts in grep_counts.items()}
    check["prefilter_lines"] = expected_lines
    check["grep_pattern_equivalent"] = all(c == {expected_lines} for c in grep_counts.values())

    results: dict[str, Any] = {
        "benchmark": "replay_throughput",
        "machine": machine(),
        "input": {
            key: manifest.get(key)
            for key in (
                "file",
                "lines",
                "bytes",
                "gz_bytes",
                "sha256",
                "seed",
                "relevant_lines",
                "benign_storage_lines",
                "incidents_expected",
                "alerts_expected",
            )
        },
        "method": {
            "runs": args.runs,
            "warmup_rounds": args.warmup,
            "order": "each round runs every command once, in shuffled order (seed 1)",
            "grep": "LC_ALL=C grep -E -c -e PATTERN FILE; gzip: gzip -dc FILE.gz | grep ...",
            "rowatch": f"{sys.executable} -m rowatch replay --json FILE > /dev/null",
            "startup": "rowatch replay --json on a one-line file (interpreter, imports, setup)",
            "wall": "time.perf_counter() around the processes",
            "rss": "peak RSS from os.wait4 (pipelines: sum over their processes)",
            "page_cache": "warm: the warm-up round reads the files first",
            "other_load": load,
        },
        "pattern_ere": ere,
        "cases": {},
        "sanity": check,
    }
    rows = []
    for case, tools in samples.items():
        entry: dict[str, Any] = {}
        for tool, series in tools.items():
            entry[tool] = {
                "wall_s": summary(series["wall"]),
                "cpu_s": summary(series["cpu"]),
                "peak_rss_mib": summary([v / 1024 for v in series["rss_kib"]]),
            }
        if "grep" in entry:
            ratio = entry["rowatch"]["wall_s"]["median"] / entry["grep"]["wall_s"]["median"]
            entry["ratio_rowatch_to_grep"] = round(ratio, 2)
            entry["within_5x_of_grep"] = ratio <= 5.0
            lines = manifest["lines"]
            entry["rowatch_lines_per_s"] = round(lines / entry["rowatch"]["wall_s"]["median"])
            entry["rowatch_mb_per_s"] = round(
                manifest["bytes"] / 1e6 / entry["rowatch"]["wall_s"]["median"], 1
            )
        results["cases"][case] = entry
        for tool in tools:
            w = entry[tool]["wall_s"]
            rows.append(
                (
                    case,
                    tool,
                    w["median"],
                    w["min"],
                    w["max"],
                    w["q1"],
                    w["q3"],
                    entry[tool]["cpu_s"]["median"],
                    entry[tool]["peak_rss_mib"]["median"],
                    entry.get("ratio_rowatch_to_grep") if tool == "rowatch" else None,
                )
            )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")

    m = results["machine"]
    commit = m["rowatch_commit"]
    re2_state = "installed" if m["google_re2_installed"] else "not installed"
    print(
        f"\n{m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
        f"rowatch {commit[:12]}{'+dirty' if commit.endswith('+dirty') else ''}, "
        f"google-re2 {re2_state}"
    )
    print(
        f"{'case':8} {'tool':8} {'median s':>9} {'min':>7} {'max':>7} {'IQR':>15} "
        f"{'CPU s':>7} {'RSS MiB':>8} {'ratio':>6}"
    )
    for case, tool, med, lo, hi, q1, q3, cpu, rss, ratio in rows:
        print(
            f"{case:8} {tool:8} {med:9.3f} {lo:7.3f} {hi:7.3f} {q1:7.3f}-{q3:<7.3f} "
            f"{cpu:7.3f} {rss:8.1f} {'' if ratio is None else f'{ratio:5.2f}x':>6}"
        )
    print(
        f"\nsanity: grep -c {check['grep_count']} vs prefilter {expected_lines} lines "
        f"({'equivalent' if check['grep_pattern_equivalent'] else 'NOT EQUIVALENT'}); "
        f"incidents {check['incidents_found']} found / {check['incidents_expected']} clusters "
        f"generated; alerts {check['alerts_found']} / {check['alerts_expected']}; "
        f".gz replay output {'identical' if check['gzip_output_identical'] else 'DIFFERS'}"
    )
    if check["clusters_reported_as_several_incidents"] or check["clusters_missed"]:
        print(
            f"        clusters split: {check['clusters_reported_as_several_incidents']}, "
            f"missed: {check['clusters_missed']}"
        )
    print(
        f"other processes used {load['others_cpu_pct_during']}% of the CPUs during the runs "
        f"({load['others_cpu_pct_before']}% just before)"
    )
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
