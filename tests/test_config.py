"""The configuration file: parsing, every kind of error, defaults, docs and example."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest

from rowatch import config as cfg
from rowatch.config import (
    Config,
    ConfigError,
    Duration,
    Integer,
    Section,
    Setting,
    String,
    changed_keys,
    load_config,
    loads_config,
    parse_duration,
)
from rowatch.engine import EngineConfig

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "packaging" / "rowatch.toml.example"
DOC = ROOT / "docs" / "configuration.md"

FULL = """\
[source]
type = "journal"
kmsg_path = "/dev/kmsg2"
backlog = false
journal_directory = "/var/log/journal/abc"

[engine]
correlation_window = "3m"
attach_window = 2.5
quiet_period = "1h 30m"

[reconciler]
interval = 0
fanotify = false
ignore_mountpoints = ["/mnt/scratch", "/var/lib/docker/*"]
ignore_fstypes = ["iso9660", "fuse.sshfs"]
fstab = "/etc/fstab.d/x"

[state]
directory = "/srv/rowatch-state"
runtime_directory = "/run/rowatch2"

[log]
format = "json"
level = "DEBUG"

[shutdown]
drain_timeout = "500ms"
"""


def problems(text: str, path: str | None = "/etc/rowatch/rowatch.toml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads_config(text, path)
    return info.value.lines


# --------------------------------------------------------------------------------- valid
def test_full_file_parses() -> None:
    config = loads_config(FULL, "/x.toml")
    assert config.path == "/x.toml"
    assert config.source.type == "journal"
    assert config.source.kmsg_path == "/dev/kmsg2"
    assert config.source.backlog is False
    assert config.source.journal_directory == "/var/log/journal/abc"
    assert config.engine.correlation_window == 180.0
    assert config.engine.attach_window == 2.5
    assert config.engine.quiet_period == 5400.0
    assert config.reconciler.interval == 0
    assert config.reconciler.fanotify is False
    assert config.reconciler.ignore_mountpoints == ("/mnt/scratch", "/var/lib/docker/*")
    assert config.reconciler.ignore_fstypes == ("iso9660", "fuse.sshfs")
    assert config.reconciler.fstab == "/etc/fstab.d/x"
    assert config.state.directories == [Path("/srv/rowatch-state"), Path("/run/rowatch2")]
    assert config.log.format == "json"
    assert config.log.level == "debug"
    assert config.shutdown.drain_timeout == 0.5


def test_engine_config_is_built() -> None:
    engine = loads_config(FULL).engine.engine_config()
    assert engine == EngineConfig(correlation_window=180.0, attach_window=2.5, quiet_period=5400.0)


def test_defaults_match_engine_and_brief() -> None:
    config = Config()
    assert config.engine.engine_config() == EngineConfig()
    assert config.source.type == "kmsg"
    assert config.source.kmsg_path == "/dev/kmsg"
    assert config.source.backlog is True
    assert config.source.journal_directory is None
    assert config.reconciler.interval == 60.0
    assert config.reconciler.fanotify is True
    assert config.reconciler.fstab == "/etc/fstab"
    assert config.state.directory == "/var/lib/rowatch"
    assert config.state.runtime_directory == "/run/rowatch"
    assert (config.log.format, config.log.level) == ("auto", "info")
    assert config.shutdown.drain_timeout == 10.0


def test_empty_file_is_the_default() -> None:
    assert loads_config("") == Config()
    assert loads_config("[source]\n[engine]\n") == Config()


def test_frozen() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.source.type = "journal"  # type: ignore[misc]


# ------------------------------------------------------------------------------- loading
def test_no_path_and_no_default_file_gives_builtin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cfg, "DEFAULT_PATH", str(tmp_path / "absent.toml"))
    config = load_config(None)
    assert config == Config()
    assert config.path is None


def test_no_path_reads_default_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = tmp_path / "rowatch.toml"
    default.write_text('[log]\nlevel = "debug"\n')
    monkeypatch.setattr(cfg, "DEFAULT_PATH", str(default))
    config = load_config()
    assert config.log.level == "debug"
    assert config.path == str(default)


def test_explicit_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.lines == [f"{tmp_path / 'nope.toml'}: no such file"]


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"[source]\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.lines == [f"{path}:2: not UTF-8 text (byte 14)"]


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(FULL)
    assert load_config(str(path)) == loads_config(FULL)


# -------------------------------------------------------------------------------- errors
BAD_VALUES = [
    ('[source]\ntype = "kmesg"', "2: source.type: must be one of kmsg, journal (got 'kmesg')"),
    ("[source]\ntype = 1", "2: source.type: must be one of kmsg, journal (got 1)"),
    (
        '[source]\nkmsg_path = "dev/kmsg"',
        "2: source.kmsg_path: must be an absolute path (got 'dev/kmsg')",
    ),
    ("[source]\nkmsg_path = 5", "2: source.kmsg_path: must be a path string (got 5)"),
    ('[source]\nbacklog = "yes"', "2: source.backlog: must be true or false (got 'yes')"),
    ("[source]\nbacklog = 1", "2: source.backlog: must be true or false (got 1)"),
    (
        '[source]\njournal_directory = ""',
        "2: source.journal_directory: must be an absolute path (got '')",
    ),
    (
        '[engine]\ncorrelation_window = "2x"',
        '2: engine.correlation_window: must be a duration like "90s", "10m", "1h" or "1h 30m" '
        "(units: ms, s, m, h, d) (got '2x')",
    ),
    ("[engine]\nattach_window = -1", "2: engine.attach_window: must not be negative (got -1)"),
    (
        "[engine]\nattach_window = true",
        '2: engine.attach_window: must be a duration like 90, "90s", "10m" or "1h" (got true)',
    ),
    ("[engine]\nattach_window = nan", "2: engine.attach_window: must not be negative (got nan)"),
    ("[engine]\nattach_window = inf", "2: engine.attach_window: must be at most 365d (got inf)"),
    (
        '[engine]\nquiet_period = "400d"',
        "2: engine.quiet_period: must be at most 365d (got '400d')",
    ),
    ('[engine]\nquiet_period = "0s"', "2: engine.quiet_period: must be at least 1s (got '0s')"),
    (
        "[engine]\nquiet_period = [1]",
        '2: engine.quiet_period: must be a duration like 90, "90s", "10m" or "1h" (got an array)',
    ),
    (
        "[reconciler]\ninterval = 0.5",
        "2: reconciler.interval: must be 0 (off) or at least 1s (got 0.5)",
    ),
    (
        '[reconciler]\nfanotify = "true"',
        "2: reconciler.fanotify: must be true or false (got 'true')",
    ),
    (
        '[reconciler]\nignore_mountpoints = "/mnt"',
        "2: reconciler.ignore_mountpoints: must be an array of strings (got '/mnt')",
    ),
    (
        '[reconciler]\nignore_mountpoints = ["mnt"]',
        "2: reconciler.ignore_mountpoints[0]: must be an absolute path or pattern (got 'mnt')",
    ),
    (
        '[reconciler]\nignore_mountpoints = ["/ok", "/mnt/"]',
        "2: reconciler.ignore_mountpoints[1]: must not end with / (got '/mnt/')",
    ),
    (
        '[reconciler]\nignore_fstypes = ["nfs", ""]',
        "2: reconciler.ignore_fstypes[1]: must be a non-empty string (got '')",
    ),
    (
        '[reconciler]\nignore_fstypes = ["fuse sshfs"]',
        "2: reconciler.ignore_fstypes[0]: must be a filesystem type name like 'vfat' or "
        "'fuse.sshfs' (got 'fuse sshfs')",
    ),
    (
        '[reconciler]\nignore_fstypes = ["fuse.*"]',
        "2: reconciler.ignore_fstypes[0]: must be a filesystem type name like 'vfat' or "
        "'fuse.sshfs' (got 'fuse.*')",
    ),
    ("[reconciler]\nfstab = false", "2: reconciler.fstab: must be a path string (got false)"),
    (
        '[state]\ndirectory = "var/lib/rowatch"',
        "2: state.directory: must be an absolute path (got 'var/lib/rowatch')",
    ),
    (
        '[state]\nruntime_directory = "/run/\\u0000x"',
        "2: state.runtime_directory: must not contain NUL characters",
    ),
    (
        '[log]\nformat = "text"',
        "2: log.format: must be one of auto, journal, json, console (got 'text')",
    ),
    (
        '[log]\nlevel = "verbose"',
        "2: log.level: must be one of debug, info, warning, error, critical (got 'verbose')",
    ),
    (
        "[shutdown]\ndrain_timeout = 1979-05-27",
        '2: shutdown.drain_timeout: must be a duration like 90, "90s", "10m" or "1h" (got a date)',
    ),
    ('source = "kmsg"', "1: source: must be a table, written [source] (got 'kmsg')"),
    ("[[engine]]\nquiet_period = 5", "1: engine: must be a table, written [engine] (got an array)"),
]


@pytest.mark.parametrize(
    ("text", "expected"), BAD_VALUES, ids=[e.split(":")[1].strip() for _, e in BAD_VALUES]
)
def test_bad_value_names_key_and_line(text: str, expected: str) -> None:
    assert problems(text) == [f"/etc/rowatch/rowatch.toml:{expected}"]


def test_all_problems_are_reported_at_once() -> None:
    text = """\
[source]
type = "kmesg"
kmsg_pth = "/dev/kmsg"

[engine]
interval = 5
quiet_period = "soon"

[logg]
level = "info"

[smtp]
host = "mail"
"""
    assert problems(text) == [
        "/etc/rowatch/rowatch.toml:2: source.type: must be one of kmsg, journal (got 'kmesg')",
        "/etc/rowatch/rowatch.toml:3: source.kmsg_pth: unknown key (did you mean 'kmsg_path'?)",
        "/etc/rowatch/rowatch.toml:6: engine.interval: unknown key "
        "(did you mean 'reconciler.interval'?)",
        '/etc/rowatch/rowatch.toml:7: engine.quiet_period: must be a duration like "90s", '
        '"10m", "1h" or "1h 30m" (units: ms, s, m, h, d) (got \'soon\')',
        "/etc/rowatch/rowatch.toml:9: logg: unknown section (did you mean 'log'?)",
        "/etc/rowatch/rowatch.toml:12: smtp.mail_from: required key is missing: the sender address",
        "/etc/rowatch/rowatch.toml:12: smtp.mail_to: required key is missing: at least one "
        "recipient",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[log]\nlevl = "info"', "log.levl: unknown key (did you mean 'level'?)"),
        (
            "[reconciler]\nignore_mountpoint = []",
            "reconciler.ignore_mountpoint: unknown key (did you mean 'ignore_mountpoints'?)",
        ),
        ("[state]\ndir = '/x'", "state.dir: unknown key (did you mean 'directory'?)"),
        ("[state]\nfoo = '/x'", "state.foo: unknown key"),
        ("[shutdown]\ndrain = 1", "shutdown.drain: unknown key (did you mean 'drain_timeout'?)"),
        (
            "[engine]\nfanotify = true",
            "engine.fanotify: unknown key (did you mean 'reconciler.fanotify'?)",
        ),
        ('[sources]\ntype = "kmsg"', "sources: unknown section (did you mean 'source'?)"),
        ("[alerts]\nx = 1", "alerts.x: unknown key"),
        (
            'type = "kmsg"',
            "type: unknown key (settings belong in a section: did you mean 'source.type'?)",
        ),
        ("[source.kmsg]\npath = 1", "source.kmsg: unknown section (did you mean 'kmsg_path'?)"),
    ],
)
def test_unknown_keys_are_errors_with_suggestions(text: str, expected: str) -> None:
    (line,) = problems(text, path=None)
    assert line.split(": ", 1)[1] == expected


def test_invalid_toml_gives_line() -> None:
    text = '[source]\ntype = "kmsg"\nbacklog = yes\n'
    (line,) = problems(text)
    assert line.startswith("/etc/rowatch/rowatch.toml:3: invalid TOML: ")
    assert "line 3" in line


def test_duplicate_key_is_invalid_toml() -> None:
    (line,) = problems('[log]\nlevel = "info"\nlevel = "debug"\n')
    assert line.startswith("/etc/rowatch/rowatch.toml:3: invalid TOML:")


def test_error_without_path() -> None:
    assert problems('[log]\nlevel = "x"', path=None) == [
        "line 2: log.level: must be one of debug, info, warning, error, critical (got 'x')"
    ]


def test_lines_of_dotted_inline_and_quoted_keys() -> None:
    text = """\
# comment
source.type = "x"
engine = { quiet_period = "x" }

[ "log" ]
"level" = "x"
[reconciler]
ignore_fstypes = [
  "ok",
  "bad one",
]
"""
    assert [line.split(": ", 2)[0:2] for line in problems(text, "f")] == [
        ["f:2", "source.type"],
        ["f:3", "engine.quiet_period"],
        ["f:6", "log.level"],
        ["f:8", "reconciler.ignore_fstypes[1]"],
    ]


def test_multiline_strings_do_not_confuse_line_numbers() -> None:
    text = '[source]\nkmsg_path = """\nfoo = 1\n"""\nfoo = 2\n'
    assert problems(text, "f") == [
        "f:2: source.kmsg_path: must be an absolute path (got 'foo = 1\\n')",
        "f:5: source.foo: unknown key",
    ]


def test_config_error_keeps_structured_problems() -> None:
    with pytest.raises(ConfigError) as info:
        loads_config('[log]\nlevel = "x"\nformat = "y"', "p")
    assert [(p.key, p.line) for p in info.value.problems] == [("log.level", 2), ("log.format", 3)]
    assert info.value.path == "p"
    assert str(info.value) == "\n".join(info.value.lines)


# ----------------------------------------------------------------------------- durations
@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("2.5", 2.5),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        (" 2 min ", 120.0),
        ("10 minutes", 600.0),
        ("1.5h", 5400.0),
        ("3 sec", 3.0),
        ("2H", 7200.0),
        ("365d", 365 * 86400.0),
    ],
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "s",
        "10x",
        "-5s",
        "1h 30",
        "5 s 3",
        "1.2.3s",
        "1e3s",
        "10m30",
        True,
        None,
        [1],
        -1,
        float("nan"),
        366 * 86400,
    ],
)
def test_bad_durations(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(raw)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (5.0, "5s"),
        (90.0, "90s"),
        (120.0, "2m"),
        (5400.0, "90m"),
        (3600.0, "1h"),
        (86400.0, "1d"),
        (0.5, "0.5"),
        (2.25, "2.25"),
    ],
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert cfg.format_duration(seconds) == text
    assert parse_duration(text) == seconds


# ------------------------------------------------------------------------ output, reload
def test_to_toml_round_trips() -> None:
    for config in (Config(), loads_config(FULL)):
        assert loads_config(config.to_toml()) == config


def test_to_toml_lists_every_key() -> None:
    text = Config().to_toml()
    for key in cfg.all_keys():
        if key.startswith("webhook."):
            continue  # [[webhook]] is a list of tables: none by default, so no keys to show
        name = key.split(".")[1]
        assert re.search(rf"^(# )?{name}\b", text, re.M), key


def test_describe_marks_changed_keys() -> None:
    text = loads_config('[log]\nlevel = "debug"\n', "/etc/rowatch/rowatch.toml").describe()
    assert text.startswith("# rowatch configuration from /etc/rowatch/rowatch.toml\n")
    assert 'level = "debug"  # default: "info"' in text
    assert 'format = "auto"\n' in text
    assert "built-in default" in Config().describe()


def test_changed_keys() -> None:
    old = Config()
    new = loads_config('[log]\nlevel = "debug"\n[engine]\nquiet_period = 60\n')
    assert changed_keys(old, new) == ["engine.quiet_period", "log.level"]
    assert changed_keys(new, new) == []


def test_reconciler_ignores() -> None:
    rec = loads_config(
        '[reconciler]\nignore_mountpoints = ["/var/lib/docker/*", "/mnt/x"]\n'
        'ignore_fstypes = ["fuse.sshfs", "iso9660"]'
    ).reconciler
    assert rec.ignores("/var/lib/docker/overlay2/abc/merged", "ext4")
    assert rec.ignores("/mnt/x", None)
    assert not rec.ignores("/mnt/xy", "ext4")
    assert rec.ignores("/home", "fuse.sshfs")
    assert not rec.ignores("/home", "fuse.rclone")
    assert rec.ignores(None, "iso9660")
    assert not rec.ignores("/", "ext4")
    assert not rec.ignores(None, None)


# ------------------------------------------------------------------- adding a section
@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConfig:
    """A stand-in for a later alert section: proves adding one takes a dataclass."""

    url: Annotated[str, Setting(String(), "Where to POST.")]
    timeout: Annotated[float, Setting(Duration(minimum=1.0), "Per request.")] = 10.0
    retries: Annotated[
        int, Setting(Integer(minimum=0, maximum=10), "Attempts after the first.")
    ] = 3

    def validate(self) -> list[tuple[str, str]]:
        if not self.url.startswith(("http://", "https://")):
            return [("url", f"must be an http:// or https:// URL (got {self.url!r})")]
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    host: Annotated[str, Setting(String(), "Mail relay.")] = "localhost"
    port: Annotated[int, Setting(Integer(minimum=1, maximum=65535), "Its port.")] = 25


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtendedConfig(Config):
    smtp: Annotated[SmtpConfig, Section("Email.")] = field(default_factory=SmtpConfig)
    webhook: Annotated[tuple[WebhookConfig, ...], Section("Webhooks.", many=True)] = ()


def test_adding_sections_needs_only_dataclasses() -> None:
    text = """\
[smtp]
port = 587

[[webhook]]
url = "https://a.example/hook"

[[webhook]]
url = "https://b.example/hook"
retries = 0
"""
    config: Any = loads_config(text, schema=ExtendedConfig)
    assert config.smtp == SmtpConfig(port=587)
    assert [w.url for w in config.webhook] == ["https://a.example/hook", "https://b.example/hook"]
    assert config.webhook[1].retries == 0
    assert config.source == Config().source
    assert loads_config(config.to_toml(), schema=ExtendedConfig) == config
    assert "### `[[webhook]]`" in cfg.reference_markdown(ExtendedConfig)
    assert "| `url` | string | required | Where to POST. |" in cfg.reference_markdown(
        ExtendedConfig
    )


def test_added_sections_are_checked() -> None:
    text = """\
[smtp]
port = 0
hots = "x"

[[webhook]]
timeout = "5s"

[[webhook]]
url = "ftp://x"
retries = 11
"""
    with pytest.raises(ConfigError) as info:
        loads_config(text, "f", schema=ExtendedConfig)
    assert info.value.lines == [
        "f:2: smtp.port: must be at least 1 (got 0)",
        "f:3: smtp.hots: unknown key (did you mean 'host'?)",
        "f:5: webhook[0].url: required key is missing",
        "f:10: webhook[1].retries: must be at most 10 (got 11)",
    ]
    with pytest.raises(ConfigError) as info:
        loads_config('[[webhook]]\nurl = "ftp://x"\n[webhook2]\n', "f", schema=ExtendedConfig)
    assert info.value.lines == [
        "f:2: webhook[0].url: must be an http:// or https:// URL (got 'ftp://x')",
        "f:3: webhook2: unknown section (did you mean 'webhook'?)",
    ]
    with pytest.raises(
        ConfigError,
        match=r"webhook: must be an array of tables, written "
        r"\[\[webhook\]\] \(got a table\)",
    ):
        loads_config('[webhook]\nurl = "http://x"\n', schema=ExtendedConfig)


# ------------------------------------------------------------------- docs and example
def test_every_setting_is_documented() -> None:
    for table in cfg._sections(Config):
        settings = cfg._settings(table.cls)
        assert [item.name for item in settings] == [
            f.name for f in dataclasses.fields(table.cls)
        ], table.name
        assert all(item.doc for item in settings), table.name


def test_doc_reference_is_generated_from_the_dataclasses() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- BEGIN GENERATED REFERENCE -->\n(.*)<!-- END GENERATED REFERENCE -->", text, re.S
    )
    assert found, "docs/configuration.md lost its generated-reference markers"
    assert found.group(1) == cfg.reference_markdown(), (
        "docs/configuration.md is out of date; regenerate the block as its comment says"
    )
    for key in cfg.all_keys():
        section_name, name = key.split(".")
        assert f"`[{section_name}]`" in text or f"`[[{section_name}]]`" in text, key
        assert f"| `{name}` |" in text, key


def test_example_parses() -> None:
    config = load_config(EXAMPLE)
    assert config == Config()


def test_example_shows_every_key_with_its_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    # [smtp] shows `url` and its spelled-out alternative `host`...: one of the two at a time;
    # and a password file is read when the configuration loads: not here.
    uncommented = re.sub(r"^#((?!url |user |password_file )[a-z_]+ = )", r"\1", text, flags=re.M)
    config = loads_config(uncommented, str(EXAMPLE))
    shown = set(re.findall(r"^#([a-z_]+) = ", text, flags=re.M))
    # The webhook, Alertmanager and exec sections are shown as a commented block to copy
    # (docs/alerts-webhook.md, docs/fleet-alertmanager.md), not key by key.
    sink_sections = ("webhook.", "alertmanager.", "exec.")
    assert shown == {
        key.split(".")[1] for key in cfg.all_keys() if not key.startswith(sink_sections)
    }
    expected = Config()
    # journal_directory has no default; the example shows a typical value instead, and
    # e-mail is off by default: the example shows a relay.
    assert config.source.journal_directory == "/var/log/journal"
    assert config.smtp.enabled
    assert [k for k in changed_keys(expected, config) if not k.startswith("smtp.")] == [
        "source.journal_directory"
    ]


@pytest.mark.parametrize("section", ["[[webhook]]", "[alertmanager]", "[exec]"])
def test_example_destination_blocks_show_every_key_and_parse(section: str) -> None:
    """Each commented destination block is meant to be copied and uncommented whole."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index(f"# {section}\n")
    block = text[start:].split("\n#\n", 1)[0].split("\n\n", 1)[0]
    uncommented = "\n".join(line[2:] for line in block.splitlines())
    name = section.strip("[]")
    shown = set(re.findall(r"^([a-z_]+) = ", uncommented, flags=re.M))
    assert shown == {k.split(".")[1] for k in cfg.all_keys() if k.startswith(name + ".")}
    secret = re.search(r'secret_file = "([^"]+)"', uncommented)
    if secret:  # read when the configuration loads: not on the test machine
        uncommented = uncommented.replace(secret.group(0), "")
    for ca in re.findall(r'ca_file = "([^"]+)"', uncommented):
        uncommented = uncommented.replace(f'ca_file = "{ca}"', "")
    # The program must exist where it is configured: stand in one that does.
    uncommented = re.sub(r'program = "[^"]+"', 'program = "/bin/true"', uncommented)
    config = loads_config(uncommented)
    assert getattr(config, name)
