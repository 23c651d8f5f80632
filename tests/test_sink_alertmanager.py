"""Alertmanager sink: against a real Prometheus Alertmanager (tests/alertmanager.py), and its
bookkeeping of open alerts on its own."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from structlog.testing import capture_logs

from alertmanager import Alertmanager, free_port, running_alertmanager
from rowatch.alert import Alert, AlertKind
from rowatch.config import Config, ConfigError, Section, loads_config
from rowatch.incident import IncidentChange, Transition
from rowatch.replay import replay
from rowatch.sinks import SinkError
from rowatch.sinks.alertmanager import (
    RESOLVED_RETENTION,
    WARNING_LIFETIME,
    AlertmanagerConfig,
    AlertmanagerSink,
    api_url,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "fleet-alertmanager.md"
SEED = """\
Nov 25 03:12:01 web7 kernel: SCSI Error : <0 0 0 0> return code = 0x20008
Nov 25 03:12:01 web7 kernel: end_request: I/O error, dev sda, sector 4928181
Nov 25 03:12:01 web7 kernel: Aborting journal on device dm-0.
Nov 25 03:12:01 web7 kernel: EXT3-fs error (device dm-0): ext3_journal_start_sb: Detected aborted journal
Nov 25 03:12:03 web7 kernel: Remounting filesystem read-only
"""


def docs_config() -> str:
    """The alertmanager.yml of docs/fleet-alertmanager.md."""
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    (block,) = blocks
    return block


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The seed incident as the engine reports it, with a mountpoint."""
    log = tmp_path_factory.mktemp("seed") / "messages"
    log.write_text(SEED)
    (snapshot,) = replay([str(log)], year=2009).incidents
    return {**snapshot, "mountpoint": "/srv"}


@pytest.fixture(scope="module")
def warning(read_only: dict[str, Any]) -> dict[str, Any]:
    """The same incident before the filesystem went read-only."""
    events = [e for e in read_only["events"] if e["kind"] != "read_only"]
    return {**read_only, "outcome": None, "events": events}


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A private Alertmanager configured as docs/fleet-alertmanager.md says."""
    with running_alertmanager(tmp_path / "am", config=docs_config()) as running:
        yield running


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


_ids = iter(range(1_000_000))


def alert(kind: AlertKind, *incidents: dict[str, Any], created: float | None = None) -> Alert:
    return Alert(
        id=f"alert-{next(_ids)}",
        kind=kind,
        host="web7",
        fqdn="web7.example.com",
        created=time.time() if created is None else created,
        incidents=incidents,
    )


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


async def alerts_in(manager: Alertmanager, **labels: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(manager.alerts, **labels)


def by_name(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["labels"]["alertname"]: a for a in alerts}


# ---------------------------------------------------------------- a real Alertmanager
def test_read_only_alert_appears_with_its_labels(
    manager: Alertmanager, read_only: dict[str, Any]
) -> None:
    config = AlertmanagerConfig(
        urls=(manager.url,),
        labels={"env": "prod", "team": "storage"},
        runbook_url="https://wiki.example.com/runbooks/fs-ro",
        generator_url="https://grafana.example.com/d/storage",
    )

    async def scenario() -> None:
        sink = AlertmanagerSink(config)
        await sink.send(alert(AlertKind.READ_ONLY, read_only))
        await sink.close()

    run(scenario())
    (shown,) = manager.alerts()
    assert shown["labels"] == {
        "alertname": "FilesystemReadOnly",
        "severity": "critical",
        "host": "web7",
        "device": "dm-0",
        "mountpoint": "/srv",
        "filesystem": "ext3",
        "incident": read_only["id"],
        "env": "prod",
        "team": "storage",
    }
    assert shown["status"]["state"] == "active"
    assert shown["annotations"]["summary"] == "web7: /srv (dm-0, ext3) remounted read-only"
    assert shown["annotations"]["runbook_url"] == "https://wiki.example.com/runbooks/fs-ro"
    description = shown["annotations"]["description"]
    assert description.startswith("Likely cause: SCSI BUSY or timeouts")
    assert "What to do: check the storage path" in description
    assert "Stack: 0:0:0:0 -> sda -> dm-0" in description
    assert "Evidence (5 kernel messages):" in description
    assert "Remounting filesystem read-only" in description
    assert shown["generatorURL"] == "https://grafana.example.com/d/storage"
    # since the kernel said read-only, not since the first error
    assert shown["startsAt"] == "2009-11-25T03:12:03.000Z"
    assert shown["endsAt"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 200))


def test_reposts_keep_the_alert_firing_past_its_end(
    manager: Alertmanager, read_only: dict[str, Any]
) -> None:
    """endsAt is 4 intervals ahead; only re-posting keeps the alert past it."""
    interval = 0.25

    async def scenario() -> None:
        sink = AlertmanagerSink(AlertmanagerConfig(urls=(manager.url,), repost_interval=interval))
        await sink.send(alert(AlertKind.READ_ONLY, read_only))
        (first,) = await alerts_in(manager)
        sink.start()
        await asyncio.sleep(4 * interval + 0.6)
        (later,) = await alerts_in(manager)
        assert later["status"]["state"] == "active"
        assert later["fingerprint"] == first["fingerprint"]
        assert later["startsAt"] == first["startsAt"]
        assert later["endsAt"] > first["endsAt"]
        await sink.close()  # stops re-posting; Alertmanager lets the alert end by itself
        await asyncio.to_thread(manager.wait_for, lambda alerts: not alerts, 4 * interval + 2)

    run(scenario())


def test_warning_then_read_only_then_recovered(
    manager: Alertmanager, read_only: dict[str, Any], warning: dict[str, Any]
) -> None:
    async def scenario() -> None:
        sink = AlertmanagerSink(AlertmanagerConfig(urls=(manager.url,)))
        await sink.send(alert(AlertKind.OPENED, warning))
        (shown,) = await alerts_in(manager)
        assert shown["labels"]["alertname"] == "FilesystemErrors"
        assert shown["labels"]["severity"] == "warning"
        assert shown["annotations"]["summary"].endswith("errors, still writable (warning)")
        assert shown["startsAt"] == "2009-11-25T03:12:01.000Z"  # the first error

        await sink.send(alert(AlertKind.READ_ONLY, read_only))
        both = by_name(await alerts_in(manager))
        assert set(both) == {"FilesystemErrors", "FilesystemReadOnly"}
        critical, warned = both["FilesystemReadOnly"], both["FilesystemErrors"]
        assert critical["status"]["state"] == "active"
        # the inhibit rule of the docs: the page silences the warning of its incident
        assert warned["status"]["state"] == "suppressed"
        assert warned["status"]["inhibitedBy"] == [critical["fingerprint"]]

        # nothing but RECOVERED resolves a read-only alert
        for kind in (AlertKind.UPDATE, AlertKind.CLOSED, AlertKind.DIGEST):
            await sink.send(alert(kind, read_only))
            assert "FilesystemReadOnly" in by_name(await alerts_in(manager))
        # ...and CLOSED did resolve the warning
        assert set(by_name(await alerts_in(manager))) == {"FilesystemReadOnly"}

        await sink.send(alert(AlertKind.RECOVERED, {**read_only, "resolution": "mounted again"}))
        assert await alerts_in(manager) == []
        await sink.tick(time.time() + 3600)  # a repost of the resolved alert changes nothing
        assert await alerts_in(manager) == []
        await sink.close()

    run(scenario())


def test_a_warning_that_went_quiet_is_resolved(
    manager: Alertmanager, warning: dict[str, Any]
) -> None:
    async def scenario() -> None:
        sink = AlertmanagerSink(AlertmanagerConfig(urls=(manager.url,)))
        await sink.send(alert(AlertKind.OPENED, warning))
        assert len(await alerts_in(manager)) == 1
        await sink.send(alert(AlertKind.CLOSED, warning))
        assert await alerts_in(manager) == []
        await sink.close()

    run(scenario())


def test_every_alertmanager_of_an_ha_pair_gets_it(
    tmp_path: Path, read_only: dict[str, Any]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with (
        running_alertmanager(tmp_path / "am1") as first,
        running_alertmanager(tmp_path / "am2") as second,
    ):

        async def scenario() -> None:
            urls = (first.url, dead + "/", second.url + "/api/v2/alerts")
            sink = AlertmanagerSink(AlertmanagerConfig(urls=urls))
            with capture_logs() as logs:
                await sink.send(alert(AlertKind.READ_ONLY, read_only))
                await sink.tick()
            await sink.close()
            # one line for the one that is down, not one per post
            (failed,) = [e for e in logs if e["event"] == "alertmanager_post_failed"]
            assert failed["url"] == dead + "/api/v2/alerts"
            assert failed["temporary"] is True

            nobody = AlertmanagerSink(AlertmanagerConfig(urls=(dead,)))
            with pytest.raises(SinkError) as caught:
                await nobody.send(alert(AlertKind.READ_ONLY, read_only))
            assert caught.value.temporary
            await nobody.close()

        run(scenario())
        for manager in (first, second):
            (shown,) = manager.alerts()
            assert shown["labels"]["alertname"] == "FilesystemReadOnly"


def test_an_alert_alertmanager_rejects_is_a_permanent_failure(
    manager: Alertmanager, read_only: dict[str, Any]
) -> None:
    async def scenario() -> None:
        # the configuration refuses such a label name; built by hand it reaches Alertmanager
        sink = AlertmanagerSink(AlertmanagerConfig(urls=(manager.url,), labels={"bad-name": "x"}))
        with pytest.raises(SinkError, match="HTTP 400") as caught:
            await sink.send(alert(AlertKind.READ_ONLY, read_only))
        assert not caught.value.temporary
        await sink.close()

    run(scenario())


def test_test_alert(manager: Alertmanager) -> None:
    created = time.time()

    async def scenario() -> None:
        sink = AlertmanagerSink(AlertmanagerConfig(urls=(manager.url,), labels={"env": "prod"}))
        await sink.send(alert(AlertKind.TEST, created=created))
        await sink.close()

    run(scenario())
    (shown,) = manager.alerts()
    assert shown["labels"] == {
        "alertname": "RowatchTest",
        "severity": "info",
        "host": "web7",
        "env": "prod",
    }
    ends = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(created + 300))
    assert shown["endsAt"].startswith(ends)


# ------------------------------------------------------------------ bookkeeping alone
@dataclass
class Recording:
    """A sink whose posts are recorded instead of sent."""

    clock: Clock = field(default_factory=Clock)
    posts: list[list[dict[str, Any]]] = field(default_factory=list)
    interval: float = 60.0
    sink: AlertmanagerSink = field(init=False)

    def __post_init__(self) -> None:
        config = AlertmanagerConfig(urls=("http://127.0.0.1:9",), repost_interval=self.interval)
        self.sink = AlertmanagerSink(config, clock=self.clock)

        async def post(payload: list[dict[str, Any]]) -> None:
            self.posts.append(payload)

        self.sink._post = post  # type: ignore[method-assign]

    def send(self, item: Alert) -> None:
        asyncio.run(self.sink.send(item))

    def tick(self, after: float = 0.0) -> list[dict[str, Any]] | None:
        """Advance the clock, tick; the payload posted, if any."""
        self.clock.now += after
        count = len(self.posts)
        asyncio.run(self.sink.tick())
        return self.posts[-1] if len(self.posts) > count else None

    def open(self) -> dict[str, str | None]:
        """alertname -> endsAt of resolved ones (None while firing)."""
        return {
            a["labels"]["alertname"]: a["endsAt"] if a["endsAt"] <= _iso(self.clock.now) else None
            for a in self.sink.alerts()
        }


def _iso(wall: float) -> str:
    from rowatch.sinks.alertmanager import rfc3339

    return rfc3339(wall)


def test_reposts_every_interval(read_only: dict[str, Any]) -> None:
    rec = Recording()
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now))
    assert len(rec.posts) == 1
    payload = rec.tick()  # the first tick posts everything
    assert payload is not None and len(payload) == 1
    assert rec.tick(30) is None
    later = rec.tick(31)
    assert later is not None
    assert later[0]["endsAt"] == _iso(rec.clock.now + 240)
    assert later[0]["startsAt"] == payload[0]["startsAt"]


def test_remember_posts_at_the_next_tick(read_only: dict[str, Any]) -> None:
    """After a restart the daemon remembers alerts it does not send again."""
    rec = Recording()
    rec.tick()
    assert rec.posts == []
    rec.sink.remember(alert(AlertKind.READ_ONLY, read_only))
    assert rec.posts == []
    assert rec.tick(1) is not None
    assert rec.tick(1) is None


def test_a_late_retry_does_not_revive_a_resolved_alert(read_only: dict[str, Any]) -> None:
    rec = Recording()
    early = alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now - 10)
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now - 5))
    rec.send(alert(AlertKind.RECOVERED, read_only, created=rec.clock.now))
    posted = len(rec.posts)
    rec.send(early)  # the dispatcher retrying an alert that failed before the recovery
    assert len(rec.posts) == posted
    assert rec.open() == {"FilesystemReadOnly": _iso(rec.clock.now)}
    rec.send(alert(AlertKind.UPDATE, read_only, created=rec.clock.now + 1))
    assert rec.open() == {"FilesystemReadOnly": _iso(rec.clock.now)}


def test_recovered_for_an_incident_it_never_saw(read_only: dict[str, Any]) -> None:
    """rowatch restarted between the page and the recovery: resolve it anyway."""
    rec = Recording()
    rec.send(alert(AlertKind.RECOVERED, read_only, created=rec.clock.now))
    ((resolved,),) = rec.posts
    assert resolved["labels"]["alertname"] == "FilesystemReadOnly"
    assert resolved["endsAt"] == _iso(rec.clock.now)


def test_resolved_alerts_are_reposted_for_a_while_then_dropped(
    read_only: dict[str, Any],
) -> None:
    rec = Recording()
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now))
    rec.send(alert(AlertKind.RECOVERED, read_only, created=rec.clock.now))
    resolved = rec.tick(61)
    assert resolved is not None and resolved[0]["endsAt"] == _iso(rec.clock.now - 61)
    assert rec.tick(RESOLVED_RETENTION) is None
    assert rec.sink.alerts() == []


def test_a_merged_incident_resolves_its_warning(warning: dict[str, Any]) -> None:
    rec = Recording()
    rec.send(alert(AlertKind.OPENED, warning, created=rec.clock.now))
    merged = {**warning, "merged_into": "0123456789ab"}
    rec.send(alert(AlertKind.UPDATE, merged, created=rec.clock.now))
    assert list(rec.open()) == ["FilesystemErrors"]
    assert rec.open()["FilesystemErrors"] is not None  # resolved


def test_a_forgotten_warning_expires_but_a_page_does_not(
    read_only: dict[str, Any], warning: dict[str, Any]
) -> None:
    rec = Recording()
    other = {**warning, "id": "other"}
    rec.send(alert(AlertKind.OPENED, warning))
    rec.send(alert(AlertKind.READ_ONLY, read_only))
    rec.send(alert(AlertKind.OPENED, other))
    rec.tick(WARNING_LIFETIME + 1)
    firing = [a["labels"]["incident"] + "/" + a["labels"]["alertname"] for a in rec.sink.alerts()]
    assert sorted(firing) == sorted(
        [
            f"{read_only['id']}/FilesystemErrors",
            f"{read_only['id']}/FilesystemReadOnly",
            "other/FilesystemErrors",
        ]
    )
    still = {
        a["labels"]["incident"] + "/" + a["labels"]["alertname"]
        for a in rec.sink.alerts()
        if a["endsAt"] > _iso(rec.clock.now)
    }
    assert still == {f"{read_only['id']}/FilesystemErrors", f"{read_only['id']}/FilesystemReadOnly"}


def test_an_expired_warning_can_still_become_a_page(
    read_only: dict[str, Any], warning: dict[str, Any]
) -> None:
    rec = Recording()
    rec.send(alert(AlertKind.OPENED, warning, created=rec.clock.now))
    rec.tick(WARNING_LIFETIME + 1)
    assert rec.open()["FilesystemErrors"] is not None
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now))
    assert rec.open() == {
        "FilesystemErrors": rec.open()["FilesystemErrors"],
        "FilesystemReadOnly": None,
    }


def test_recovered_applies_even_if_the_clock_stepped_back(read_only: dict[str, Any]) -> None:
    rec = Recording()
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now))
    rec.send(alert(AlertKind.RECOVERED, read_only, created=rec.clock.now - 30))
    assert rec.open() == {"FilesystemReadOnly": _iso(rec.clock.now - 30)}


def test_a_digest_gives_one_alert_per_incident(
    read_only: dict[str, Any], warning: dict[str, Any]
) -> None:
    rec = Recording()
    second = {**read_only, "id": "second", "filesystem_device": "dm-1", "mountpoint": "/var"}
    third = {**warning, "id": "third"}
    rec.send(alert(AlertKind.DIGEST, read_only, second, third))
    ((*payload,),) = rec.posts
    assert sorted((a["labels"]["incident"], a["labels"]["severity"]) for a in payload) == [
        (read_only["id"], "critical"),
        ("second", "critical"),
        ("third", "warning"),
    ]


def test_observed_changes_that_send_no_alert(
    manager: Alertmanager, read_only: dict[str, Any], warning: dict[str, Any]
) -> None:
    """A closed warning (no alert without alerts.send_closed), a merged device incident and
    an incident alerted on before a restart reach Alertmanager through observe()."""
    device = {**warning, "id": "devwarning01", "filesystem_device": None, "devices": ["sda"]}

    async def scenario() -> None:
        sink = AlertmanagerSink(AlertmanagerConfig(urls=(manager.url,)))
        sink.start()
        sink.observe(IncidentChange(Transition.OPENED, warning["id"], warning), "web7")
        sink.observe(IncidentChange(Transition.OPENED, device["id"], device), "web7")
        await asyncio.to_thread(manager.wait_for, lambda alerts: len(alerts) == 2)
        merged = {**device, "merged_into": warning["id"]}
        sink.observe(IncidentChange(Transition.MERGED, device["id"], merged), "web7")
        sink.observe(IncidentChange(Transition.CLOSED, warning["id"], warning), "web7")
        await asyncio.to_thread(manager.wait_for, lambda alerts: not alerts)
        # after a restart: the page was sent before, only observed now
        page = {**read_only, "id": "restarted001"}
        sink.observe(IncidentChange(Transition.OUTCOME, page["id"], page), "web7")
        (shown,) = await asyncio.to_thread(manager.wait_for, lambda alerts: len(alerts) == 1)
        assert shown["labels"]["alertname"] == "FilesystemReadOnly"
        assert shown["labels"]["host"] == "web7"
        await sink.close()

    run(scenario())


def test_api_url() -> None:
    assert api_url("http://am:9093") == "http://am:9093/api/v2/alerts"
    assert api_url("http://am:9093/") == "http://am:9093/api/v2/alerts"
    assert api_url("https://h/alertmanager/") == "https://h/alertmanager/api/v2/alerts"
    assert api_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"


def test_the_reposting_task_starts_and_stops(read_only: dict[str, Any]) -> None:
    async def scenario() -> None:
        rec = Recording(interval=0.05)
        rec.clock.now = time.time()
        rec.sink._clock = time.time
        rec.sink.start()
        await rec.sink.send(alert(AlertKind.READ_ONLY, read_only))
        await asyncio.sleep(0.3)
        await rec.sink.close()
        count = len(rec.posts)
        assert count >= 3
        await asyncio.sleep(0.15)
        assert len(rec.posts) == count

    run(scenario())


# ------------------------------------------------------------------------------- config
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertmanagerSchema(Config):
    alertmanager: Annotated[AlertmanagerConfig, Section("Alertmanager.")] = field(
        default_factory=AlertmanagerConfig
    )


def load(text: str) -> AlertmanagerSchema:
    config = loads_config(text, "rowatch.toml", schema=AlertmanagerSchema)
    assert isinstance(config, AlertmanagerSchema)
    return config


def test_config() -> None:
    config = load(
        """
[alertmanager]
urls = ["http://am1:9093", "https://am2.example.com/alertmanager"]
repost_interval = "30s"
runbook_url = "https://wiki.example.com/fs"

[alertmanager.labels]
env = "prod"
team = "storage"
"""
    )
    assert config.alertmanager == AlertmanagerConfig(
        urls=("http://am1:9093", "https://am2.example.com/alertmanager"),
        repost_interval=30.0,
        labels={"env": "prod", "team": "storage"},
        runbook_url="https://wiki.example.com/fs",
    )
    assert config.alertmanager.enabled
    assert 'labels = { env = "prod", team = "storage" }' in config.to_toml()
    assert load(config.to_toml()) == config
    assert not AlertmanagerSchema().alertmanager.enabled
    assert load(AlertmanagerSchema().to_toml()) == AlertmanagerSchema()


def test_config_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            """
[alertmanager]
urls = ["am1:9093", "http://am2:9093", "http://am2:9093/"]
repost_interval = "0.5s"

[alertmanager.labels]
severity = "page"
"bad-name" = "x"
__meta = "x"
empty = ""
"""
        )
    assert caught.value.lines == [
        "rowatch.toml:3: alertmanager.urls[0]: must start with http:// or https:// "
        "(got 'am1:9093')",
        "rowatch.toml:4: alertmanager.repost_interval: must be at least 1s (got '0.5s')",
        "rowatch.toml:6: alertmanager.labels.severity: is set by rowatch itself",
        "rowatch.toml:6: alertmanager.labels.bad-name: is not a label name "
        "(letters, digits, _; no __)",
        "rowatch.toml:6: alertmanager.labels.__meta: is not a label name "
        "(letters, digits, _; no __)",
        "rowatch.toml:6: alertmanager.labels.empty: must be a non-empty string",
    ]
    with pytest.raises(ConfigError) as caught:
        load('[alertmanager]\nurls = ["http://am2:9093", "http://am2:9093/"]\n')
    assert caught.value.lines == [
        "rowatch.toml:2: alertmanager.urls: lists the same Alertmanager twice"
    ]


def test_an_alert_from_before_this_boot_is_not_posted(read_only: dict[str, Any]) -> None:
    """Left in the outbox over a reboot: no RECOVERED can ever come for it."""
    rec = Recording()
    rec.sink._booted = rec.clock.now - 100
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now - 200))
    assert rec.posts == [] and rec.sink.alerts() == []
    assert rec.tick(61) is None
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now))
    assert len(rec.posts) == 1


def test_an_unmount_resolves_the_page_and_says_so(read_only: dict[str, Any]) -> None:
    rec = Recording()
    rec.send(alert(AlertKind.READ_ONLY, read_only, created=rec.clock.now))
    ended = {**read_only, "resolution": "unmounted"}
    rec.send(alert(AlertKind.RECOVERED, ended, created=rec.clock.now + 1))
    (resolved,) = rec.posts[-1]
    assert resolved["endsAt"] == _iso(rec.clock.now + 1)
    assert resolved["annotations"]["resolution"] == "unmounted"


def test_boot_time_is_read_from_proc_stat(tmp_path: Path) -> None:
    from rowatch.reconcile import boot_time

    (tmp_path / "stat").write_text("cpu  1 2 3 4\nbtime 1795597000\nprocesses 5\n")
    assert boot_time(str(tmp_path)) == 1795597000.0
    assert boot_time(str(tmp_path / "missing")) is None
    assert boot_time() is not None  # this machine's
