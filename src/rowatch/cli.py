"""The ``rowatch`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rowatch import __version__

EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments or unusable input, like argparse itself


def _add_replay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from rowatch.formats import Format

    replay = commands.add_parser(
        "replay",
        help="find incidents in saved kernel logs",
        description="Run the detection engine over saved logs: raw /dev/kmsg records, dmesg "
        "output (plain, -T, -r, -x), syslog files (messages, kern.log) or journalctl output "
        "(-o json, -o short*). Files may be gzip, xz or bzip2 compressed; '-' reads stdin. "
        "Several files are read in order, as one log.",
    )
    replay.add_argument("files", nargs="+", metavar="FILE", help="log file, or - for stdin")
    replay.add_argument(
        "--format",
        choices=["auto", *(f.value for f in Format)],
        default="auto",
        help="input format (default: detected per file)",
    )
    replay.add_argument(
        "--topology",
        metavar="FILE",
        type=Path,
        help="block stack snapshot written by 'rowatch topology --json' on "
        "the machine the log comes from",
    )
    replay.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per incident per line (docs/replay-json.md)",
    )
    replay.add_argument(
        "--year",
        type=int,
        metavar="YYYY",
        help="year of syslog lines that carry none (default: this year)",
    )
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from rowatch.formats import Format
    from rowatch.inputs import InputError
    from rowatch.replay import replay
    from rowatch.report import render_incident, render_summary
    from rowatch.topology import Topology, TopologyError

    topology = None
    if args.topology is not None:
        try:
            topology = Topology.loads(args.topology.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"rowatch replay: cannot read --topology {args.topology}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except TopologyError as exc:
            print(f"rowatch replay: --topology {args.topology}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    fmt = None if args.format == "auto" else Format(args.format)
    try:
        result = replay(args.files, fmt=fmt, topology=topology, year=args.year)
    except InputError as exc:
        print(f"rowatch replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = sys.stdout
    if args.json:
        for incident in result.incidents:
            out.write(json.dumps(incident, ensure_ascii=False) + "\n")
    else:
        for incident in result.incidents:
            out.write(render_incident(incident) + "\n\n")
        out.write(render_summary(result.incidents, result.stats) + "\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rowatch",
        description="Tells on-call the moment a filesystem goes read-only, and why.",
    )
    parser.add_argument("--version", action="version", version=f"rowatch {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_replay(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = handler(args)
    except BrokenPipeError:
        # `rowatch replay big.log | head`: the reader left; that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
