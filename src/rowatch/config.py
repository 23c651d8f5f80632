"""The configuration file: one TOML file, read into frozen dataclasses and checked key by key.

Every problem is collected and reported at once, each naming its key and, where the file
shows it, its line (``/etc/rowatch/rowatch.toml:7: source.type: must be one of kmsg, journal
(got 'kmesg')``). Unknown keys are errors, with a suggestion: a typo must never silently
leave a default in force.

The schema is the dataclasses themselves. A setting is a field annotated
``Annotated[type, Setting(spec, doc)]``: its :class:`Spec` checks the TOML value, ``doc`` is
its one-line reference. A section is a field of :class:`Config` annotated
``Annotated[SectionClass, Section(doc)]`` (a ``[table]``) or
``Annotated[tuple[SectionClass, ...], Section(doc, many=True)]`` (an ``[[array]]`` of tables).
Adding a section is one dataclass plus one field of :class:`Config`; parsing, errors,
``to_toml``, ``describe`` and the reference in docs/configuration.md follow from it. Checks
across keys go in the section's ``validate()`` method, returning ``(key, message)`` pairs.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

from rowatch.engine import EngineConfig
from rowatch.flood import FloodConfig
from rowatch.smtp_url import (
    DEFAULT_PORTS,
    DEFAULT_TIMEOUT,
    EmailSettings,
    Security,
    SmtpSettings,
    SmtpSettingsError,
    check_address,
    check_smtp,
    email_settings,
    parse_smtp_url,
    stat_password_file,
)

DEFAULT_PATH = "/etc/rowatch/rowatch.toml"

#: Sections a later version of rowatch adds; named here only for a clearer error.
PLANNED_SECTIONS: Mapping[str, str] = {}


# ---------------------------------------------------------------------------------- errors
@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration."""

    key: str  # dotted: "source.type", "webhook[1].url"; "" for the file as a whole
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(Exception):
    """The configuration is unusable; :attr:`problems` says everything that is wrong."""

    def __init__(self, problems: Sequence[Problem], path: str | None = None) -> None:
        self.problems = tuple(problems)
        self.path = path
        super().__init__("\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        """One line per problem: ``path:line: key: message`` as far as known."""
        out = []
        for problem in self.problems:
            if self.path is not None:
                where = self.path + (f":{problem.line}" if problem.line is not None else "")
                out.append(f"{where}: {problem}")
            elif problem.line is not None:
                out.append(f"line {problem.line}: {problem}")
            else:
                out.append(str(problem))
        return out


class InvalidValue(Exception):
    """Raised by a :class:`Spec` with what is wrong with a value.

    ``items`` lists problems of array elements instead, as (``"[index]"``, message).
    """

    def __init__(self, message: str = "", items: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.items = list(items)


def _show(value: object) -> str:
    """A value as the error messages quote it: TOML words, Python-style strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _toml_str(value: str) -> str:
    """A TOML basic string."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


# ----------------------------------------------------------------------------- value types
class Spec:
    """The type of one setting: how to check a TOML value and write it back."""

    #: For the reference documentation: what the value looks like.
    kind: str = "value"

    def parse(self, raw: object) -> Any:
        """The checked value; raise :class:`InvalidValue` with a reason otherwise."""
        raise NotImplementedError

    def toml(self, value: Any) -> str:
        """The TOML literal of a parsed value."""
        raise NotImplementedError


class Boolean(Spec):
    kind = "boolean"

    def parse(self, raw: object) -> bool:
        if not isinstance(raw, bool):
            raise InvalidValue(f"must be true or false (got {_show(raw)})")
        return raw

    def toml(self, value: Any) -> str:
        return "true" if value else "false"


class String(Spec):
    kind = "string"

    def __init__(self, *, allow_empty: bool = False) -> None:
        self.allow_empty = allow_empty

    def parse(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidValue(f"must be a string (got {_show(raw)})")
        if not raw and not self.allow_empty:
            raise InvalidValue("must not be empty")
        if "\0" in raw:
            raise InvalidValue("must not contain NUL characters")
        return raw

    def toml(self, value: Any) -> str:
        return _toml_str(str(value))


class Integer(Spec):
    kind = "integer"

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def parse(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidValue(f"must be an integer (got {_show(raw)})")
        if self.minimum is not None and raw < self.minimum:
            raise InvalidValue(f"must be at least {self.minimum} (got {raw})")
        if self.maximum is not None and raw > self.maximum:
            raise InvalidValue(f"must be at most {self.maximum} (got {raw})")
        return raw

    def toml(self, value: Any) -> str:
        return str(int(value))


class Choice(Spec):
    """One of a fixed set of words; ``aliases`` map other accepted spellings to them."""

    def __init__(
        self, *choices: str, aliases: Mapping[str, str] | None = None, ignore_case: bool = False
    ) -> None:
        self.choices = choices
        self.aliases = dict(aliases or {})
        self.ignore_case = ignore_case
        self.kind = "one of " + ", ".join(f"`{c}`" for c in choices)

    def parse(self, raw: object) -> str:
        if isinstance(raw, str):
            word = raw.lower() if self.ignore_case else raw
            word = self.aliases.get(word, word)
            if word in self.choices:
                return word
        raise InvalidValue(f"must be one of {', '.join(self.choices)} (got {_show(raw)})")

    def toml(self, value: Any) -> str:
        return _toml_str(str(value))


_DURATION_UNITS: Mapping[str, float] = {
    "ms": 0.001,
    "msec": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)", re.ASCII)
MAX_DURATION = 365 * 86400.0


def parse_duration(raw: object) -> float:
    """Seconds from a TOML number or a string like ``"90s"``, ``"10m"``, ``"1h 30m"``.

    A bare number, or a string of one, is seconds. Raises ValueError saying what is wrong.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f'must be a duration like 90, "90s", "10m" or "1h" (got {_show(raw)})')
    if isinstance(raw, str):
        text = raw.strip().lower()
        seconds = 0.0
        pos = 0
        parts = 0
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            unit = match.group(2) if match else None
            if match is None or (unit and unit not in _DURATION_UNITS) or (not unit and parts):
                raise ValueError(
                    f'must be a duration like "90s", "10m", "1h" or "1h 30m" '
                    f"(units: ms, s, m, h, d) (got {raw!r})"
                )
            seconds += float(match.group(1)) * _DURATION_UNITS.get(unit or "s", 1)
            pos = match.end()
            parts += 1
            if not unit:
                # a bare number is seconds, and nothing may follow it
                if text[pos:].strip():
                    raise ValueError(
                        f'must be a duration like "90s", "10m", "1h" or "1h 30m" '
                        f"(units: ms, s, m, h, d) (got {raw!r})"
                    )
                break
        if not parts:
            raise ValueError(f'must be a duration like "90s", "10m" or "1h" (got {raw!r})')
    else:
        seconds = float(raw)
        if math.isnan(seconds) or seconds < 0:
            raise ValueError(f"must not be negative (got {raw!r})")
    if math.isinf(seconds) or seconds > MAX_DURATION:
        raise ValueError(f"must be at most 365d (got {_show(raw)})")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact string for a duration: ``"2m"``, ``"90s"``, ``"1h"``; floats stay."""
    if seconds == int(seconds):
        whole = int(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if whole and whole % size == 0:
                return f"{whole // size}{unit}"
        return f"{whole}s"
    return repr(float(seconds))


class Duration(Spec):
    """Seconds; ``minimum`` applies except to 0 when ``zero_disables``."""

    def __init__(self, minimum: float = 0.0, *, zero_disables: bool = False) -> None:
        self.minimum = minimum
        self.zero_disables = zero_disables
        self.kind = "duration"
        if minimum:
            self.kind += f", at least `{format_duration(minimum)}`"
        if zero_disables:
            self.kind += ", or `0` (off)"

    def parse(self, raw: object) -> float:
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            raise InvalidValue(str(exc)) from None
        if seconds < self.minimum and not (self.zero_disables and seconds == 0):
            floor = format_duration(self.minimum)
            raise InvalidValue(
                f"must be 0 (off) or at least {floor} (got {_show(raw)})"
                if self.zero_disables
                else f"must be at least {floor} (got {_show(raw)})"
            )
        return seconds

    def toml(self, value: Any) -> str:
        text = format_duration(float(value))
        return text if text[0].isdigit() and not text[-1].isalpha() else _toml_str(text)


class AbsolutePath(Spec):
    kind = "absolute path"

    def parse(self, raw: object) -> str:
        if not isinstance(raw, str):
            raise InvalidValue(f"must be a path string (got {_show(raw)})")
        if "\0" in raw:
            raise InvalidValue("must not contain NUL characters")
        if not raw.startswith("/"):
            raise InvalidValue(f"must be an absolute path (got {raw!r})")
        return raw

    def toml(self, value: Any) -> str:
        return _toml_str(str(value))


class _StringArray(Spec):
    """An array of strings, each checked by :meth:`check` (a reason, or None if fine)."""

    def check(self, item: str) -> str | None:
        raise NotImplementedError

    def parse(self, raw: object) -> tuple[str, ...]:
        if not isinstance(raw, list):
            raise InvalidValue(f"must be an array of strings (got {_show(raw)})")
        bad: list[tuple[str, str]] = []
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not item:
                reason: str | None = f"must be a non-empty string (got {_show(item)})"
            elif "\0" in item:
                reason = "must not contain NUL characters"
            else:
                reason = self.check(item)
            if reason:
                bad.append((f"[{index}]", reason))
        if bad:
            raise InvalidValue(items=bad)
        return tuple(raw)

    def toml(self, value: Any) -> str:
        return "[" + ", ".join(_toml_str(item) for item in value) + "]"


class PathPatterns(_StringArray):
    """Absolute paths or shell patterns (``*``, ``?``, ``[...]``) matched on the whole path."""

    kind = "array of paths or path patterns"

    def check(self, item: str) -> str | None:
        if not item.startswith(("/", "*")):
            return f"must be an absolute path or pattern (got {item!r})"
        if len(item) > 1 and item.endswith("/"):
            return f"must not end with / (got {item!r})"
        return None


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*", re.ASCII)


class Names(_StringArray):
    """Plain names: letters, digits, ``._+-``."""

    kind = "array of names"

    def __init__(self, what: str) -> None:
        self.what = what

    def check(self, item: str) -> str | None:
        return None if _NAME.fullmatch(item) else f"must be {self.what} (got {item!r})"


# -------------------------------------------------------------------------------- schema
@dataclass(frozen=True, slots=True)
class Setting:
    """Annotation of a setting: its value type and its one-line reference doc."""

    spec: Spec
    doc: str


@dataclass(frozen=True, slots=True)
class Section:
    """Annotation of a :class:`Config` field: a ``[table]``, or ``[[tables]]`` when many."""

    doc: str
    many: bool = False


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    spec: Spec
    doc: str
    default: Any  # dataclasses.MISSING: required


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    cls: type[Any]
    doc: str
    many: bool


_SETTINGS: dict[type[Any], tuple[_Item, ...]] = {}
_SECTIONS: dict[type[Any], tuple[_Table, ...]] = {}


def _settings(cls: type[Any]) -> tuple[_Item, ...]:
    """The settings of a section dataclass, in order (cached)."""
    if cls in _SETTINGS:
        return _SETTINGS[cls]
    hints = typing.get_type_hints(cls, include_extras=True)
    items = []
    for item in dataclasses.fields(cls):
        for meta in getattr(hints[item.name], "__metadata__", ()):
            if isinstance(meta, Setting):
                default = item.default
                if item.default_factory is not dataclasses.MISSING:
                    default = item.default_factory()
                items.append(_Item(item.name, meta.spec, meta.doc, default))
    _SETTINGS[cls] = tuple(items)
    return _SETTINGS[cls]


def _sections(schema: type[Any]) -> tuple[_Table, ...]:
    """The sections of a :class:`Config` (sub)class, in order (cached)."""
    if schema in _SECTIONS:
        return _SECTIONS[schema]
    hints = typing.get_type_hints(schema, include_extras=True)
    tables = []
    for item in dataclasses.fields(schema):
        hint = hints[item.name]
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(meta, Section):
                cls = typing.get_args(hint)[0]
                if meta.many:
                    cls = typing.get_args(cls)[0]  # tuple[cls, ...]
                tables.append(_Table(item.name, cls, meta.doc, meta.many))
    _SECTIONS[schema] = tuple(tables)
    return _SECTIONS[schema]


# ----------------------------------------------------------------------------- sections
_ENGINE_DEFAULTS = EngineConfig()


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceConfig:
    """``[source]``: where kernel records come from."""

    type: Annotated[
        str,
        Setting(
            Choice("kmsg", "journal"),
            "`kmsg` reads /dev/kmsg directly; `journal` reads the kernel's messages from the "
            "systemd journal.",
        ),
    ] = "kmsg"
    kmsg_path: Annotated[
        str, Setting(AbsolutePath(), 'The kernel log device, for `type = "kmsg"`.')
    ] = "/dev/kmsg"
    backlog: Annotated[
        bool,
        Setting(
            Boolean(),
            "On start, also read the records logged since boot, so a failure during boot or "
            "while rowatch was down is still seen.",
        ),
    ] = True
    journal_directory: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            'For `type = "journal"`: read the journal files in this directory instead of the '
            "system journal (containers, tests). Not set: the system journal.",
        ),
    ] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineSection:
    """``[engine]``: how kernel events are correlated into incidents."""

    correlation_window: Annotated[
        float,
        Setting(
            Duration(),
            "Errors on a device whose place in the block stack is unknown this long before a "
            "filesystem's first error are taken as its cause.",
        ),
    ] = _ENGINE_DEFAULTS.correlation_window
    attach_window: Annotated[
        float,
        Setting(
            Duration(),
            "A message that names no device belongs to the message naming one that the kernel "
            "printed this close to it.",
        ),
    ] = _ENGINE_DEFAULTS.attach_window
    quiet_period: Annotated[
        float,
        Setting(
            Duration(minimum=1.0),
            "A warning incident (errors, but the filesystem is still writable) closes after this "
            "long without new evidence.",
        ),
    ] = _ENGINE_DEFAULTS.quiet_period

    def engine_config(self) -> EngineConfig:
        """The :class:`~rowatch.engine.EngineConfig` for these settings."""
        return EngineConfig(
            correlation_window=self.correlation_window,
            attach_window=self.attach_window,
            quiet_period=self.quiet_period,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcilerConfig:
    """``[reconciler]``: checks of the mount table and sysfs, and fanotify error events."""

    interval: Annotated[
        float,
        Setting(
            Duration(minimum=1.0, zero_disables=True),
            "How often the mount table and sysfs are checked for filesystems that are read-only "
            "or report errors, whether the log said so or not. `0` turns the periodic check "
            "off.",
        ),
    ] = 60.0
    fanotify: Annotated[
        bool,
        Setting(
            Boolean(),
            "Watch mounted filesystems for error events with fanotify (`FAN_FS_ERROR`, Linux "
            "5.16+; ignored where the kernel lacks it). It needs `CAP_SYS_ADMIN`, which the "
            "packaged unit does not grant: there it is unavailable, logged once, unless a "
            "drop-in adds it (docs/security.md).",
        ),
    ] = True
    ignore_mountpoints: Annotated[
        tuple[str, ...],
        Setting(
            PathPatterns(),
            "Mountpoints never checked or alerted on: paths or shell patterns matched against "
            'the whole path (`*` also matches `/`), e.g. `["/mnt/scratch", '
            '"/var/lib/docker/*"]`.',
        ),
    ] = ()
    ignore_fstypes: Annotated[
        tuple[str, ...],
        Setting(
            Names("a filesystem type name like 'vfat' or 'fuse.sshfs'"),
            'Filesystem types never checked or alerted on, e.g. `["iso9660", "squashfs"]`.',
        ),
    ] = ()
    fstab: Annotated[
        str,
        Setting(
            AbsolutePath(),
            "The fstab that tells filesystems meant to be read-only (`ro` there) from ones that "
            "went read-only.",
        ),
    ] = "/etc/fstab"

    def ignores(self, mountpoint: str | None, fstype: str | None) -> bool:
        """Whether ``ignore_mountpoints`` or ``ignore_fstypes`` excludes this filesystem."""
        if mountpoint is not None and any(
            mountpoint == p or fnmatchcase(mountpoint, p) for p in self.ignore_mountpoints
        ):
            return True
        return fstype is not None and fstype in self.ignore_fstypes


@dataclass(frozen=True, slots=True, kw_only=True)
class StateConfig:
    """``[state]``: where the daemon remembers what it already alerted on."""

    directory: Annotated[
        str,
        Setting(
            AbsolutePath(), "Persistent state: alerts already sent this boot, the journal cursor."
        ),
    ] = "/var/lib/rowatch"
    runtime_directory: Annotated[
        str,
        Setting(
            AbsolutePath(),
            "Used while `directory` refuses writes (it may sit on the filesystem that just went "
            "read-only); after that, state is kept in memory. Also holds the status file.",
        ),
    ] = "/run/rowatch"

    @property
    def directories(self) -> list[Path]:
        """The state directories in order of preference, for the state store."""
        return [Path(self.directory), Path(self.runtime_directory)]


LOG_FORMATS = ("auto", "journal", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    """``[log]``: the daemon's own log."""

    format: Annotated[
        str,
        Setting(
            Choice(*LOG_FORMATS),
            "`journal`: native journald fields (`ROWATCH_*`, `MESSAGE_ID`); `json`: one object "
            "per line; `console`: for a terminal. `auto`: journal when stderr is connected to "
            "the journal, console on a terminal, json otherwise.",
        ),
    ] = "auto"
    level: Annotated[
        str,
        Setting(
            Choice(*LOG_LEVELS, aliases={"warn": "warning"}, ignore_case=True),
            "Least severe level logged.",
        ),
    ] = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    """``[alerts]``: which incident changes become messages, and how many."""

    update_interval: Annotated[
        float,
        Setting(
            Duration(minimum=60.0, zero_disables=True),
            "At most one update per incident this often, summarising the evidence that arrived "
            "since its last message; none when nothing new arrived. `0`: no updates.",
        ),
    ] = 900.0
    digest_threshold: Annotated[
        int,
        Setting(
            Integer(minimum=1),
            "Warnings (opened, update, closed) sent individually per `digest_window`; more in "
            "the same window (a SAN outage) are folded into one digest. Read-only alerts are "
            "always sent individually, at once.",
        ),
    ] = 5
    digest_window: Annotated[
        float,
        Setting(
            Duration(minimum=1.0),
            "The window of `digest_threshold`; a digest goes out this long after the first "
            "warning folded into it.",
        ),
    ] = 60.0
    send_closed: Annotated[
        bool,
        Setting(
            Boolean(),
            "Also send a message when a warning incident closes (no new errors for "
            "`engine.quiet_period`).",
        ),
    ] = False
    outbox_max: Annotated[
        int,
        Setting(
            Integer(minimum=10, maximum=100_000),
            "Undelivered alerts kept per destination while it is unreachable; beyond this the "
            "oldest updates are dropped first, read-only alerts last (and logged).",
        ),
    ] = 1000

    opened_delay: Annotated[
        float,
        Setting(
            Duration(minimum=0.0),
            "An `opened` warning waits this long before it is sent: when the read-only alert "
            "follows within it, only that one goes out. `0`: warnings go out at once.",
        ),
    ] = 2.0

    def flood_config(self) -> FloodConfig:
        """The :class:`~rowatch.flood.FloodConfig` for these settings."""
        return FloodConfig(
            update_interval=self.update_interval,
            digest_threshold=self.digest_threshold,
            digest_window=self.digest_window,
            send_closed=self.send_closed,
            opened_delay=self.opened_delay,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownConfig:
    """``[shutdown]``: stopping the daemon."""

    drain_timeout: Annotated[
        float,
        Setting(Duration(), "On stop (SIGTERM), how long to wait for alerts still being sent."),
    ] = 10.0


# ------------------------------------------------------------------------ configuration
class EmailAddress(String):
    """``user@example.com`` or ``Name <user@example.com>``."""

    kind = "e-mail address"

    def parse(self, raw: object) -> str:
        value = super().parse(raw)
        reason = check_address(value)
        if reason:
            raise InvalidValue(reason)
        return value


class EmailAddresses(_StringArray):
    kind = "array of e-mail addresses"

    def check(self, item: str) -> str | None:
        return check_address(item)


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """``[smtp]``: e-mail alerts through an SMTP relay. Off unless ``url`` or ``host``."""

    url: Annotated[
        str | None,
        Setting(
            String(),
            "The relay as a URL, like `--smtp`: `smtp://host[:port]` (plain, port 25), "
            "`smtp+starttls://` (STARTTLS required, 587), `smtps://` (TLS, 465), with an "
            "optional `user@` before the host. Never a password. Instead of `host`, `port`, "
            "`tls` and `user`.",
        ),
    ] = None
    host: Annotated[
        str | None,
        Setting(
            String(),
            "The relay (smarthost) to send through. Not set, and no `url`: no e-mail alerts.",
        ),
    ] = None
    port: Annotated[
        int | None,
        Setting(
            Integer(minimum=1, maximum=65535),
            "The relay's port. Not set: 25, 587 or 465 as `tls` says.",
        ),
    ] = None
    tls: Annotated[
        str | None,
        Setting(
            Choice("none", "starttls", "tls"),
            "`starttls`: STARTTLS, required; `tls`: TLS from the first byte (SMTPS); `none`: "
            "plain SMTP. Not set: `starttls`.",
        ),
    ] = None
    user: Annotated[
        str | None, Setting(String(), "Log in (SMTP AUTH) as this user; needs `password_file`.")
    ] = None
    password_file: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            "File holding the password on its first line; must belong to root and be "
            "readable by nobody else (`chmod 600`).",
        ),
    ] = None
    mail_from: Annotated[
        str | None,
        Setting(
            EmailAddress(),
            'Sender: `"rowatch@example.com"` or `"Name <rowatch@example.com>"`. Required '
            "with `url` or `host`.",
        ),
    ] = None
    mail_to: Annotated[
        tuple[str, ...],
        Setting(EmailAddresses(), "Recipients. Required with `url` or `host`."),
    ] = ()
    timeout: Annotated[
        float,
        Setting(
            Duration(minimum=1.0),
            "How long one delivery may take, from connecting to the relay's last reply.",
        ),
    ] = DEFAULT_TIMEOUT
    tls_verify: Annotated[
        bool,
        Setting(
            Boolean(),
            "Check the relay's certificate and name. `false` only for a test relay: anyone "
            "on the path could read the alerts and the password.",
        ),
    ] = True
    ca_file: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            "Trust only this CA bundle (PEM) for the relay, e.g. a private CA; not set: the "
            "system's CAs.",
        ),
    ] = None

    @property
    def enabled(self) -> bool:
        return self.url is not None or self.host is not None

    def validate(self) -> list[tuple[str, str]]:
        """Checks across keys, for the configuration loader."""
        problems: list[tuple[str, str]] = []
        if not self.enabled:
            others = [
                key
                for key in ("port", "tls", "user", "password_file", "mail_from", "ca_file")
                if getattr(self, key) is not None
            ] + (["mail_to"] if self.mail_to else [])
            if others:
                problems.append(
                    ("host", f"required for e-mail alerts (or url): {', '.join(others)} set")
                )
            return problems
        if self.url is not None and self.host is not None:
            problems.append(("url", "give either url or host, not both"))
            return problems
        if self.url is not None:
            for key in ("port", "tls", "user"):
                if getattr(self, key) is not None:
                    problems.append((key, f"not with url: the URL gives the {key}"))
        if self.mail_from is None:
            problems.append(("mail_from", "required key is missing: the sender address"))
        if not self.mail_to:
            problems.append(("mail_to", "required key is missing: at least one recipient"))
        try:
            smtp = self.smtp_settings()
        except SmtpSettingsError as exc:
            problems.append(("url" if self.url is not None else "host", str(exc)))
            return problems
        if smtp.username is not None and self.password_file is None:
            problems.append(("password_file", f"required with user {smtp.username!r}"))
        if self.password_file is not None:
            if smtp.username is None:
                problems.append(("password_file", "needs a user to log in as"))
            try:
                stat_password_file(self.password_file)
            except SmtpSettingsError as exc:
                problems.append(("password_file", str(exc)))
        try:
            check_smtp(smtp)
        except SmtpSettingsError as exc:
            key = "ca_file" if "CA file" in str(exc) else "user"
            problems.append((key, str(exc)))
        return problems

    def smtp_settings(self) -> SmtpSettings:
        """The relay settings, without the password. Raises :class:`SmtpSettingsError`."""
        if self.url is not None:
            smtp = parse_smtp_url(self.url)
        elif self.host is not None:
            security = Security(self.tls or "starttls")
            smtp = parse_smtp_url(f"smtp://{_host_literal(self.host)}")
            smtp = SmtpSettings(
                smtp.host, self.port or DEFAULT_PORTS[security], security, self.user
            )
        else:
            raise SmtpSettingsError("e-mail alerts are off: set url or host")
        return SmtpSettings(
            smtp.host,
            smtp.port,
            smtp.security,
            smtp.username,
            None,
            self.tls_verify,
            self.ca_file,
        )

    def email_settings(self) -> EmailSettings | None:
        """Everything the sink needs, with the password read from ``password_file``; None
        when e-mail is off. Raises :class:`SmtpSettingsError` naming the key to fix."""
        if not self.enabled:
            return None
        try:
            return email_settings(
                self.smtp_settings(),
                password_file=self.password_file,
                mail_from=self.mail_from,
                mail_to=self.mail_to,
                timeout=self.timeout,
                names={
                    "password_file": "smtp.password_file",
                    "mail_from": "smtp.mail_from",
                    "mail_to": "smtp.mail_to",
                },
            )
        except SmtpSettingsError as exc:
            text = str(exc)
            raise SmtpSettingsError(text if text.startswith("smtp.") else f"smtp: {text}") from None


def _host_literal(host: str) -> str:
    """``host`` as it goes into a URL; a port or user in it is an error, not a surprise."""
    try:
        return f"[{ipaddress.IPv6Address(host.strip('[]'))}]"
    except ValueError:
        pass
    if any(c in host for c in ":@/?#[]"):
        raise SmtpSettingsError(
            "host must be a host name or address: the port goes in port, the user in user "
            f"(got {host[:80]!r})"
        )
    return host


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole configuration. ``Config()`` is the built-in default."""

    source: Annotated[SourceConfig, Section("Where kernel records come from.")] = field(
        default_factory=SourceConfig
    )
    engine: Annotated[EngineSection, Section("How kernel events become incidents.")] = field(
        default_factory=EngineSection
    )
    reconciler: Annotated[
        ReconcilerConfig, Section("Checks of filesystem state beyond the log.")
    ] = field(default_factory=ReconcilerConfig)
    state: Annotated[StateConfig, Section("Where the daemon keeps its state.")] = field(
        default_factory=StateConfig
    )
    log: Annotated[LogConfig, Section("The daemon's own log.")] = field(default_factory=LogConfig)
    shutdown: Annotated[ShutdownConfig, Section("Stopping the daemon.")] = field(
        default_factory=ShutdownConfig
    )
    smtp: Annotated[SmtpConfig, Section("E-mail alerts through an SMTP relay.")] = field(
        default_factory=SmtpConfig
    )
    webhook: Annotated[
        tuple[_webhook.WebhookConfig, ...],
        Section("Webhooks: every alert as a JSON POST.", many=True),
    ] = ()
    alertmanager: Annotated[
        _alertmanager.AlertmanagerConfig, Section("Prometheus Alertmanager (API v2).")
    ] = field(default_factory=lambda: _alertmanager.AlertmanagerConfig())  # noqa: PLW0108
    # (the lambdas look the classes up when a Config is made: they are imported last)
    exec: Annotated[_exec.ExecConfig, Section("A program run for every alert.")] = field(
        default_factory=lambda: _exec.ExecConfig()  # noqa: PLW0108
    )
    alerts: Annotated[AlertsConfig, Section("Which incident changes become messages.")] = field(
        default_factory=AlertsConfig
    )
    #: The file this came from; None for the built-in default. Not part of equality.
    path: str | None = field(default=None, compare=False)

    def to_toml(self) -> str:
        """The effective configuration as a TOML document that loads back to the same."""
        return "\n".join(_toml_lines(self, annotate=False)) + "\n"

    def describe(self) -> str:
        """``to_toml`` with a header saying where it came from, and the keys that differ
        from the defaults marked: for ``rowatch check-config``."""
        origin = (
            f"# rowatch configuration from {self.path}"
            if self.path
            else "# rowatch built-in default configuration (no configuration file)"
        )
        return origin + "\n\n" + "\n".join(_toml_lines(self, annotate=True)) + "\n"


# -------------------------------------------------------------------------------- output
def _toml_lines(config: Config, *, annotate: bool) -> list[str]:
    lines: list[str] = []
    default = type(config)()
    for table in _sections(type(config)):
        value = getattr(config, table.name)
        entries = list(value) if table.many else [value]
        base = None if table.many else getattr(default, table.name)
        for entry in entries:
            lines.append(f"[[{table.name}]]" if table.many else f"[{table.name}]")
            for item in _settings(table.cls):
                current = getattr(entry, item.name)
                if current is None:
                    lines.append(f"# {item.name} is not set")
                    continue
                text = f"{item.name} = {item.spec.toml(current)}"
                was = getattr(base, item.name) if base is not None else current
                if annotate and was != current:
                    text += "  # default: " + ("not set" if was is None else item.spec.toml(was))
                lines.append(text)
            lines.append("")
    while lines and not lines[-1]:
        lines.pop()
    return lines


def changed_keys(old: Config, new: Config) -> list[str]:
    """Dotted names of the settings that differ: for the reload log line."""
    changed = []
    for table in _sections(type(new)):
        a, b = getattr(old, table.name), getattr(new, table.name)
        if table.many:
            if a != b:
                changed.append(table.name)
            continue
        changed.extend(
            f"{table.name}.{item.name}"
            for item in _settings(table.cls)
            if getattr(a, item.name) != getattr(b, item.name)
        )
    return changed


def all_keys(schema: type[Config] = Config) -> list[str]:
    """Every setting as ``section.key``."""
    return [
        f"{table.name}.{item.name}" for table in _sections(schema) for item in _settings(table.cls)
    ]


def reference_markdown(schema: type[Config] = Config) -> str:
    """The key reference of docs/configuration.md, generated from the dataclasses."""
    out: list[str] = []
    for table in _sections(schema):
        header = f"[[{table.name}]]" if table.many else f"[{table.name}]"
        out += [
            f"### `{header}`",
            "",
            table.doc,
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for item in _settings(table.cls):
            if item.default is dataclasses.MISSING:
                default = "required"
            elif item.default is None:
                default = "not set"
            else:
                default = f"`{item.spec.toml(item.default)}`"
            doc = item.doc.replace("|", "\\|")
            out.append(f"| `{item.name}` | {item.spec.kind} | {default} | {doc} |")
        out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------------- parsing
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_HEADER = re.compile(rf"\s*(\[\[?)\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_PART = re.compile(_KEY_PART)


def _dotted(text: str) -> str:
    return ".".join(part.strip("\"'") for part in _PART.findall(text))


class _Lines:
    """Where tables and keys are in the text: a best-effort scan, for error messages."""

    def __init__(self, text: str) -> None:
        self.where: dict[str, int] = {}
        counts: dict[str, int] = {}
        table = ""
        in_multiline: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if in_multiline:
                if line.count(in_multiline) % 2:
                    in_multiline = None
                continue
            header = _HEADER.match(line)
            if header:
                table = _dotted(header.group(2))
                if header.group(1) == "[[":
                    self.where.setdefault(table, number)
                    counts[table] = counts.get(table, -1) + 1
                    table = f"{table}[{counts[table]}]"
                self.where.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                name = _dotted(key.group(1))
                self.where.setdefault(f"{table}.{name}" if table else name, number)
                for quote in ('"""', "'''"):
                    if line.count(quote) % 2:
                        in_multiline = quote

    def line(self, key: str) -> int | None:
        """The line of ``key``, else of the nearest enclosing key or table that has one."""
        while key:
            if key in self.where:
                return self.where[key]
            shorter = re.sub(r"(?:\[\d+\]|\.[^.\[]*)$", "", key)
            if shorter == key:
                break
            key = shorter
        return None


def _suggest(word: str, options: Iterable[str], elsewhere: Mapping[str, str]) -> str:
    """A did-you-mean: a close name here, else the same name in another section."""
    names = list(options)
    match = (
        difflib.get_close_matches(word, names, n=1, cutoff=0.6)
        or [name for name in names if len(word) >= 3 and name.startswith(word)][:1]
    )
    if match:
        return f" (did you mean '{match[0]}'?)"
    if word in elsewhere:
        return f" (did you mean '{elsewhere[word]}'?)"
    return ""


def _homes(schema: type[Config]) -> dict[str, str]:
    """Setting name -> ``section.name``, for names that belong to exactly one section."""
    homes: dict[str, list[str]] = {}
    for key in all_keys(schema):
        homes.setdefault(key.rsplit(".", 1)[1], []).append(key)
    return {name: keys[0] for name, keys in homes.items() if len(keys) == 1}


def _build(
    cls: type[Any],
    table: Mapping[str, Any],
    prefix: str,
    lines: _Lines,
    homes: Mapping[str, str],
    problems: list[Problem],
) -> Any:
    """An instance of a section dataclass from its table, or None after adding problems."""
    known = {item.name: item for item in _settings(cls)}
    values: dict[str, Any] = {}
    count = len(problems)
    for key, raw in table.items():
        dotted = f"{prefix}.{key}"
        item = known.get(key)
        if item is None:
            what = "unknown section" if isinstance(raw, dict) else "unknown key"
            problems.append(Problem(dotted, what + _suggest(key, known, homes), lines.line(dotted)))
            continue
        try:
            values[key] = item.spec.parse(raw)
        except InvalidValue as exc:
            problems.extend(
                Problem(dotted + sub, message, lines.line(dotted))
                for sub, message in exc.items or [("", str(exc))]
            )
    for name, item in known.items():
        if name not in table and item.default is dataclasses.MISSING:
            problems.append(
                Problem(f"{prefix}.{name}", "required key is missing", lines.line(prefix))
            )
    if len(problems) > count:
        return None
    instance = cls(**values)
    # Checks across keys: a section may define validate() -> iterable of (key, message).
    validate = getattr(instance, "validate", None)
    if validate is not None:
        for key, message in validate():
            dotted = f"{prefix}.{key}"
            problems.append(Problem(dotted, message, lines.line(dotted)))
    return instance


def parse_document(
    data: Mapping[str, Any],
    *,
    schema: type[Config] = Config,
    text: str = "",
    path: str | None = None,
) -> Config:
    """A :class:`Config` from a parsed TOML document; ``text`` helps find line numbers."""
    lines = _Lines(text)
    homes = _homes(schema)
    problems: list[Problem] = []
    known = {table.name: table for table in _sections(schema)}
    values: dict[str, Any] = {}
    for name, raw in data.items():
        table = known.get(name)
        if table is None:
            if name in PLANNED_SECTIONS:
                message = (
                    f"not supported by this version of rowatch "
                    f"({PLANNED_SECTIONS[name]} come in a later version)"
                )
            elif isinstance(raw, dict | list):
                message = "unknown section" + _suggest(name, known, {})
            else:
                message = "unknown key" + (
                    f" (settings belong in a section: did you mean '{homes[name]}'?)"
                    if name in homes
                    else _suggest(name, known, {})
                )
            problems.append(Problem(name, message, lines.line(name)))
            continue
        if table.many:
            if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
                problems.append(
                    Problem(
                        name,
                        f"must be an array of tables, written [[{name}]] (got {_show(raw)})",
                        lines.line(name),
                    )
                )
                continue
            values[name] = tuple(
                _build(table.cls, t, f"{name}[{i}]", lines, homes, problems)
                for i, t in enumerate(raw)
            )
        elif not isinstance(raw, dict):
            problems.append(
                Problem(
                    name, f"must be a table, written [{name}] (got {_show(raw)})", lines.line(name)
                )
            )
        else:
            values[name] = _build(table.cls, raw, name, lines, homes, problems)
    if problems:
        raise ConfigError(problems, path)
    return schema(**values, path=path)


def _toml_error(exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    lineno: int | None = getattr(exc, "lineno", None)
    if lineno is None:
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        lineno = int(found.group(1)) if found else None
    return Problem("", f"invalid TOML: {message}", lineno)


def loads_config(text: str, path: str | None = None, *, schema: type[Config] = Config) -> Config:
    """A :class:`Config` from TOML text. Raises :class:`ConfigError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_error(exc)], path) from None
    return parse_document(data, schema=schema, text=text, path=path)


def load_config(
    path: str | os.PathLike[str] | None = None, *, schema: type[Config] = Config
) -> Config:
    """Read the configuration file.

    ``None`` reads :data:`DEFAULT_PATH` if it exists and otherwise returns the built-in
    default; an explicit path that does not exist is an error. Raises :class:`ConfigError`.
    """
    explicit = path is not None
    name = os.fspath(path) if path is not None else DEFAULT_PATH
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError([Problem("", "no such file")], name) from None
        return schema()
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read: {exc.strerror or exc}")], name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([Problem("", f"not UTF-8 text (byte {exc.start})", line)], name) from None
    return loads_config(text, name, schema=schema)


# The alert sinks' sections are defined next to their sinks, which build on the setting
# types above: imported last, as modules, so neither import needs the other finished.
from rowatch.sinks import alertmanager as _alertmanager  # noqa: E402
from rowatch.sinks import exec as _exec  # noqa: E402
from rowatch.sinks import webhook as _webhook  # noqa: E402
