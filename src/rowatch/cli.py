"""The ``rowatch`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rowatch import __version__

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad arguments or unusable input, like argparse itself
EXIT_NOT_RUNNING = 3  # `status`: no daemon, as LSB init scripts say
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h: systemd shows it as a configuration error

_CONFIG_HELP = (
    "configuration file (default: /etc/rowatch/rowatch.toml if it exists, else the "
    "built-in default: follow /dev/kmsg and report incidents to the log)"
)


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


def _add_email_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("e-mail (instead of [smtp] in the configuration file)")
    group.add_argument(
        "--smtp",
        metavar="URL",
        help="relay to send alerts through: smtp://host[:port] (plain), "
        "smtp+starttls://[user@]host[:port], smtps://[user@]host[:port]",
    )
    group.add_argument(
        "--smtp-password-file",
        metavar="FILE",
        help="file holding the SMTP password (readable only by its owner)",
    )
    group.add_argument("--mail-from", metavar="ADDR", help="sender address")
    group.add_argument(
        "--mail-to", metavar="ADDR", action="append", help="recipient (repeat for several)"
    )


def _email_from_args(args: argparse.Namespace, command: str) -> tuple[object, int | None]:
    """E-mail settings from --smtp and friends: (settings or None, exit code on error)."""
    if not args.smtp:
        if args.mail_to or args.mail_from or args.smtp_password_file:
            print(
                f"rowatch {command}: --mail-to/--mail-from/--smtp-password-file need --smtp",
                file=sys.stderr,
            )
            return None, EXIT_USAGE
        return None, None
    from rowatch.smtp_url import SmtpSettingsError, smtp_settings_from_args

    try:
        return smtp_settings_from_args(
            args.smtp, args.smtp_password_file, args.mail_from, args.mail_to
        ), None
    except SmtpSettingsError as exc:
        print(f"rowatch {command}: {exc}", file=sys.stderr)
        return None, EXIT_USAGE


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="run the daemon: follow the kernel log and report incidents",
        description="Follow the kernel log (/dev/kmsg or the journal) and the mount table, and "
        "report every filesystem that goes read-only, with the evidence and the likely cause. "
        "SIGHUP reloads the configuration (a broken one is refused and the old one stays); "
        "SIGTERM drains pending alerts and exits.",
    )
    run.add_argument("--config", metavar="FILE", help=_CONFIG_HELP)
    run.add_argument(
        "--log-format",
        choices=["auto", "journal", "json", "console"],
        help="override [log] format: journal (native fields), json (one object "
        "per line), console (readable); auto picks journal under systemd, "
        "console on a terminal, json otherwise",
    )
    _add_email_options(run)
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from rowatch.daemon import run
    from rowatch.smtp_url import EmailSettings

    email, error = _email_from_args(args, "run")
    if error is not None:
        return error
    assert email is None or isinstance(email, EmailSettings)
    return run(args.config, args.log_format, email)


def _add_test_alert(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = commands.add_parser(
        "test-alert",
        help="send a test alert through every configured destination and report each result",
        description="Send one test message through the log and every configured destination "
        "(like smartd -M test and mdadm --monitor --test), directly, without the outbox, and "
        f"report each result. Exit 0 when every destination took it, {EXIT_FAILURE} otherwise.",
    )
    test.add_argument("--config", metavar="FILE", help=_CONFIG_HELP)
    _add_email_options(test)
    test.set_defaults(handler=_test_alert)


def _test_alert(args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import socket
    import time
    import uuid

    from rowatch.alert import Alert, AlertKind
    from rowatch.config import ConfigError, load_config
    from rowatch.daemon import build_sinks
    from rowatch.logsetup import configure as configure_logging
    from rowatch.sinks import SinkError
    from rowatch.smtp_url import EmailSettings, SmtpSettingsError

    email, error = _email_from_args(args, "test-alert")
    if error is not None:
        return error
    assert email is None or isinstance(email, EmailSettings)
    try:
        config = load_config(args.config)
        sinks = build_sinks(config, email)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return EXIT_CONFIG
    except (SmtpSettingsError, ValueError) as exc:
        print(f"rowatch test-alert: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # info: the log destination's own line is the proof that the log took the test alert.
    configure_logging("console" if sys.stderr.isatty() else "json", "info")
    host = socket.gethostname()
    alert = Alert(
        id=f"test-{uuid.uuid4().hex[:12]}",
        kind=AlertKind.TEST,
        host=host,
        fqdn=socket.getfqdn(),
        created=time.time(),
    )

    async def send_all() -> int:
        failed = 0
        for sink in sinks:
            try:
                await asyncio.wait_for(sink.send(alert), 120)
                print(f"{sink.name}: sent")
            except SinkError as exc:
                failed += 1
                kind = "temporary" if exc.temporary else "permanent"
                print(f"{sink.name}: FAILED ({kind}): {exc}")
            except TimeoutError:
                failed += 1
                print(f"{sink.name}: FAILED: no answer within 120 s")
            except Exception as exc:  # a bug in one destination must not hide the others
                failed += 1
                print(f"{sink.name}: FAILED: {exc!r}")
            finally:
                with contextlib.suppress(Exception):
                    await sink.close()
        return failed

    return EXIT_FAILURE if asyncio.run(send_all()) else EXIT_OK


def _add_check_config(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check-config",
        help="validate the configuration and print it as rowatch reads it",
        description="Read and validate the configuration file. On success print the effective "
        f"configuration and exit 0; otherwise print every problem, naming the key, and exit "
        f"{EXIT_CONFIG}.",
    )
    check.add_argument("--config", metavar="FILE", help=_CONFIG_HELP)
    check.set_defaults(handler=_check_config)


def _check_config(args: argparse.Namespace) -> int:
    from rowatch.config import ConfigError, load_config
    from rowatch.daemon import build_sinks
    from rowatch.smtp_url import SmtpSettingsError

    try:
        config = load_config(args.config)
        build_sinks(config)  # what `run` checks beyond the file: secrets, duplicate URLs
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except (SmtpSettingsError, ValueError) as exc:
        print(f"{args.config or 'configuration'}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(config.describe().rstrip("\n") + "\n")
    return EXIT_OK


def _add_status(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="show the running daemon's open incidents and watched filesystems",
        description=f"Read the running daemon's status from its runtime directory. Exit 0 "
        f"when it runs with no open incident, {EXIT_FAILURE} when incidents are open, "
        f"{EXIT_NOT_RUNNING} when no daemon runs.",
    )
    status.add_argument("--config", metavar="FILE", help=_CONFIG_HELP)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    import os

    from rowatch.config import DEFAULT_PATH, Config, ConfigError, load_config
    from rowatch.daemon import read_status
    from rowatch.report import headline

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.config is not None or os.access(DEFAULT_PATH, os.R_OK):
            print("\n".join(exc.lines), file=sys.stderr)
            return EXIT_CONFIG
        # The configuration may hold secrets (root:rowatch 0640); the status does not, and
        # any user may read it where the built-in default keeps it.
        config = Config()
        print(
            f"rowatch status: cannot read {DEFAULT_PATH}; looking in "
            f"{config.state.runtime_directory}",
            file=sys.stderr,
        )
    status = read_status(config.state.runtime_directory)
    if status is None:
        print(
            f"rowatch is not running (no live status in {config.state.runtime_directory})",
            file=sys.stderr,
        )
        return EXIT_NOT_RUNNING
    incidents = status.get("incidents") or []
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(
            f"rowatch {status.get('version')} running, pid {status.get('pid')}: "
            f"{status.get('line', '')}"
        )
        print(f"  source     {status.get('source')}")
        print(f"  state      {status.get('state_location')}")
        if status.get("rejected"):
            print(f"  rejected   {status['rejected']} records not written by the kernel")
        print(f"  open incidents: {len(incidents)}")
        for incident in incidents:
            print(f"    {incident.get('id')}  {headline(incident)}")
            if incident.get("cause"):
                print(f"        cause: {incident['cause'].get('summary')}")
        print(f"  filesystems watched: {len(status.get('filesystems') or [])}")
        for fs in status.get("filesystems") or []:
            print(f"    {fs.get('mountpoint')}  {fs.get('device')}  {fs.get('fstype')}")
    return EXIT_FAILURE if incidents else EXIT_OK


def _add_topology(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topology = commands.add_parser(
        "topology",
        help="print this machine's block stack (the --topology input of replay)",
        description="Read the block stack from sysfs, udev and the mount table: disks, "
        "partitions, dm/LVM/multipath/md devices, filesystems and mountpoints. --json writes "
        "the snapshot that 'rowatch replay --topology' reads (docs/topology-json.md).",
    )
    topology.add_argument("--json", action="store_true", help="print the JSON snapshot")
    topology.add_argument(
        "--all", action="store_true", help="also list devices with nothing on them"
    )
    topology.set_defaults(handler=_topology)


def _topology(args: argparse.Namespace) -> int:
    import os

    from rowatch.sysfs import build_topology
    from rowatch.topology_view import render_tree
    from rowatch.udev import read_udev_info

    try:
        topology = build_topology(udev=read_udev_info())
    except OSError as exc:
        print(f"rowatch topology: cannot read the block stack: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    topology.host = topology.host or os.uname().nodename
    topology.kernel = topology.kernel or os.uname().release
    if args.json:
        print(json.dumps(topology.to_json(), indent=1, sort_keys=True))
    else:
        print(render_tree(topology, all_devices=args.all))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rowatch",
        description="Tells on-call the moment a filesystem goes read-only, and why.",
    )
    parser.add_argument("--version", action="version", version=f"rowatch {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_run(commands)
    _add_replay(commands)
    _add_topology(commands)
    _add_check_config(commands)
    _add_status(commands)
    _add_test_alert(commands)
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
