"""Alertmanager alerts: incidents pushed to ``POST /api/v2/alerts``, kept alive, resolved.

Alertmanager holds an alert only as long as its client keeps saying it is firing, so the sink
is stateful, as Prometheus is: it remembers every alert it has open and posts all of them
again every ``repost_interval``, each with ``endsAt`` 4 intervals ahead. Should rowatch stop
re-posting (it died, the host died), Alertmanager resolves them once that time has passed.

One incident gives at most two alerts: ``FilesystemErrors`` (severity ``warning``) from its
first errors while the filesystem is writable, and ``FilesystemReadOnly`` (``critical``) once
it is read-only, shut down or panicked. A read-only alert is resolved only by RECOVERED (the
filesystem is writable again, or was unmounted or mounted afresh: the ``resolution``
annotation says which); a warning by RECOVERED or CLOSED (the errors stopped), or after
:data:`WARNING_LIFETIME` without any alert about it. An alert from before this boot (left in
the outbox over a reboot) is not posted: nothing could ever resolve it. Resolved alerts are
posted for :data:`RESOLVED_RETENTION` more, so an Alertmanager that missed the resolution
learns it. Every URL (an HA pair) gets every post; a post counts as delivered when one of them
accepted it. docs/fleet-alertmanager.md has the labels, routing and an inhibit rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog

from rowatch.alert import Alert, AlertKind
from rowatch.config import AbsolutePath, Duration, InvalidValue, Setting, Spec, _StringArray
from rowatch.incident import IncidentChange, Transition
from rowatch.report import headline
from rowatch.sinks import SinkError

# The module, not its names: rowatch.config imports the sink modules (their sections are part
# of Config) at its end, so webhook may still be half-imported while this module is imported.
from rowatch.sinks import webhook as _webhook

log = structlog.get_logger("rowatch")

ALERTNAME_READ_ONLY = "FilesystemReadOnly"
ALERTNAME_ERRORS = "FilesystemErrors"
ALERTNAME_TEST = "RowatchTest"
API_PATH = "/api/v2/alerts"
#: Labels rowatch sets itself; ``labels`` in the configuration may not replace them.
RESERVED_LABELS = frozenset(
    {"alertname", "host", "device", "mountpoint", "filesystem", "severity", "incident"}
)
#: An active alert's ``endsAt`` is this many repost intervals ahead (as Prometheus does).
EXPIRY_INTERVALS = 4
#: Resolved alerts are posted again for this long (Prometheus: 15 minutes).
RESOLVED_RETENTION = 15 * 60.0
#: A warning no alert has mentioned for this long is resolved: its CLOSED was lost (the
#: incident was merged into another, or rowatch restarted).
WARNING_LIFETIME = 3600.0
#: How long a test alert (``rowatch test-alert``) stays firing.
TEST_ALERT_LIFETIME = 300.0
#: Evidence lines quoted in the description; its length in characters at most.
EVIDENCE_LINES = 10
DESCRIPTION_LIMIT = 4000
#: Incidents whose alerts all ended, remembered so a late retry cannot revive them.
_FINISHED_MEMORY = 4096

_TRANSITION_KINDS = {
    Transition.OPENED: AlertKind.OPENED,
    Transition.OUTCOME: AlertKind.READ_ONLY,
    Transition.MERGED: AlertKind.UPDATE,  # with merged_into: resolves
    Transition.RECOVERED: AlertKind.RECOVERED,
    Transition.CLOSED: AlertKind.CLOSED,
}

_ENDINGS = frozenset({AlertKind.RECOVERED, AlertKind.CLOSED})

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


# ----------------------------------------------------------------------------- settings
def api_url(url: str) -> str:
    """The alerts endpoint under an Alertmanager base URL (which may have a route prefix)."""
    base = url.split("?", 1)[0].rstrip("/")
    if base.endswith(API_PATH):
        return base
    return base + API_PATH


class AlertmanagerUrls(_StringArray):
    """Base URLs of Alertmanagers, as in a browser: ``http://am1:9093``."""

    kind = "array of URLs"

    def check(self, item: str) -> str | None:
        return _webhook.url_problem(item)


class Labels(Spec):
    """A table of label names to string values."""

    kind = "table of label = string"

    def parse(self, raw: object) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise InvalidValue('must be a table, e.g. { team = "storage" }')
        bad: list[tuple[str, str]] = []
        for name, value in raw.items():
            if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
                bad.append((f".{name}", "is not a label name (letters, digits, _; no __)"))
            elif name in RESERVED_LABELS:
                bad.append((f".{name}", "is set by rowatch itself"))
            elif not isinstance(value, str) or not value:
                bad.append((f".{name}", "must be a non-empty string"))
        if bad:
            raise InvalidValue(items=bad)
        return dict(sorted(raw.items()))

    def toml(self, value: Any) -> str:
        items = ", ".join(f"{name} = {json.dumps(text)}" for name, text in value.items())
        return "{ " + items + " }" if items else "{}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertmanagerConfig:
    """``[alertmanager]``: Prometheus Alertmanagers that receive every incident as an alert."""

    urls: Annotated[
        tuple[str, ...],
        Setting(
            AlertmanagerUrls(),
            "Alertmanager base URLs, e.g. `http://am1:9093`; every one gets every alert (an HA "
            "pair). Empty: no Alertmanager.",
        ),
    ] = ()
    repost_interval: Annotated[
        float,
        Setting(
            Duration(minimum=1.0),
            "Open alerts are posted again this often; Alertmanager resolves one that is not "
            "re-posted for 4 intervals.",
        ),
    ] = 60.0
    timeout: Annotated[
        float, Setting(Duration(minimum=1.0), "How long one post to one Alertmanager may take.")
    ] = 10.0
    ca_file: Annotated[
        str | None,
        Setting(
            AbsolutePath(),
            "PEM file of the CA certificates that `https://` Alertmanagers are verified "
            "against, instead of the system's.",
        ),
    ] = None
    labels: Annotated[
        dict[str, str],
        Setting(
            Labels(),
            'Labels added to every alert, e.g. `{ env = "prod", team = "storage" }`.',
        ),
    ] = field(default_factory=dict)
    runbook_url: Annotated[
        str | None,
        Setting(_webhook.Url(), "Added to every alert as the `runbook_url` annotation."),
    ] = None
    generator_url: Annotated[
        str | None,
        Setting(
            _webhook.Url(), "Sent as every alert's `generatorURL` (a link in Alertmanager's UI)."
        ),
    ] = None

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    def validate(self) -> Iterator[tuple[str, str]]:
        problem = _webhook.ca_file_problem(self.ca_file)
        if problem:
            yield "ca_file", problem
        if len({api_url(u) for u in self.urls}) != len(self.urls):
            yield "urls", "lists the same Alertmanager twice"


# ----------------------------------------------------------------------------- alerts
def rfc3339(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


def _parse_time(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _outcome_time(incident: Mapping[str, Any]) -> float | None:
    """When the kernel said the filesystem stopped being writable, if the log had times."""
    for event in incident.get("events") or ():
        if event.get("kind") in ("read_only", "shutdown", "panic"):
            return _parse_time(event.get("time"))
    return None


def _one_line(text: object, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def description(incident: Mapping[str, Any]) -> str:
    """Cause, advice, the block stack and the first evidence lines, for the annotation."""
    parts = []
    cause = incident.get("cause")
    if cause:
        parts.append(f"Likely cause: {cause.get('summary')}")
        parts.append(f"What to do: {cause.get('advice')}")
    if incident.get("devices"):
        parts.append("Stack: " + " -> ".join(str(d) for d in incident["devices"]))
    events = list(incident.get("events") or ())
    if events:
        total = sum((incident.get("counts") or {}).values()) or len(events)
        lines = [_one_line(e.get("message", ""), 300) for e in events[:EVIDENCE_LINES]]
        shown = f"first {len(lines)} of {total}" if total > len(lines) else str(len(lines))
        parts.append(f"Evidence ({shown} kernel messages):\n" + "\n".join(lines))
    text = "\n\n".join(parts) or "No details."
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 3] + "..."


@dataclass
class _Open:
    """One alert the sink keeps posting."""

    incident: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None  # set once resolved
    touched: float = 0.0  # when an alert last mentioned it (local clock)

    def postable(self, now: float, expires: float, generator_url: str | None) -> dict[str, Any]:
        ends = self.ends_at if self.ends_at is not None else now + expires
        data: dict[str, Any] = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(min(self.starts_at, ends)),
            "endsAt": rfc3339(ends),
        }
        if generator_url:
            data["generatorURL"] = generator_url
        return data


class AlertmanagerSink:
    """Keeps Alertmanager's view of this host's incidents up to date (module docstring)."""

    def __init__(
        self,
        config: AlertmanagerConfig,
        *,
        warning_lifetime: float = WARNING_LIFETIME,
        clock: Callable[[], float] = time.time,
        booted: float | None = None,
    ) -> None:
        """``warning_lifetime``: see :data:`WARNING_LIFETIME`; keep it well above
        ``engine.quiet_period``. ``clock`` is the wall clock (tests pass their own);
        ``booted`` when this boot began on it (default: ``btime`` in /proc/stat). Raises
        ValueError when the configuration names no URL or its CA file cannot be used."""
        if not config.urls:
            raise ValueError("alertmanager: no urls configured")
        self.config = config
        self.name = "alertmanager"
        self.targets = [api_url(u) for u in config.urls]
        self.warning_lifetime = warning_lifetime
        self._clock = clock
        if booted is None:
            from rowatch.reconcile import boot_time  # not at import: config imports this

            booted = boot_time()
        self._booted = booted
        try:
            self._http = _webhook.HttpPoster(timeout=config.timeout, ca_file=config.ca_file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"alertmanager: ca_file {config.ca_file}: {exc}") from None
        self._open: dict[tuple[str, str], _Open] = {}
        self._applied: dict[str, float] = {}  # incident -> created of the newest alert applied
        self._finished: dict[str, None] = {}  # insertion-ordered set
        self._failing: dict[str, str] = {}  # target -> error, while it fails
        self._last_repost: float | None = None
        self._dirty = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<AlertmanagerSink {' '.join(_webhook.display_url(t) for t in self.targets)}>"

    # ------------------------------------------------------------------ state
    def remember(self, alert: Alert) -> list[tuple[str, str]]:
        """Update what is open from ``alert``, without posting; return the alerts it changed.

        Idempotent, and an alert older than one already applied for the same incident (a
        retry overtaken by a newer alert) changes nothing. Call it also for alerts the daemon
        does not send again after a restart, so their incidents stay firing; the next
        :meth:`tick` posts them.
        """
        changed = self._remember(alert)
        if changed:
            self._dirty = True
            self._wake.set()
        return changed

    def observe(self, change: IncidentChange, host: str, fqdn: str | None = None) -> None:
        """Follow one incident change of the engine, whether or not it becomes an alert.

        Alertmanager must hear of every change: a warning that closes (sent as an alert only
        with ``alerts.send_closed``), a device incident merged into its filesystem's, an
        incident alerted on before a restart (not sent again). Feed every change here; what
        it opens or resolves is posted by the background task at once.
        """
        kind = _TRANSITION_KINDS[change.transition]
        incident = change.snapshot
        if change.transition is Transition.MERGED and "merged_into" not in incident:
            incident = {**incident, "merged_into": "?"}
        alert = Alert(
            id=f"observed-{change.incident_id}-{change.transition.value}",
            kind=kind,
            host=host,
            fqdn=fqdn or host,
            created=self._clock(),
            incidents=(incident,),
        )
        self.remember(alert)

    def _remember(self, alert: Alert) -> list[tuple[str, str]]:
        now = self._clock()
        changed: list[tuple[str, str]] = []
        if self._booted is not None and alert.created < self._booted:
            # Left in the outbox before a reboot: no one would ever resolve what it opened
            # (that boot's incidents end with it), so it would fire for good. The other
            # destinations still deliver it as the record of what happened.
            log.info(
                "alert_skipped",
                sink=self.name,
                alert_id=alert.id,
                reason="from before this boot: Alertmanager would keep it firing for good",
            )
            return changed
        for incident in alert.incidents:
            incident_id = str(incident.get("id"))
            if incident_id in self._finished:
                continue
            # An ending always applies (nothing comes after it); anything else only when no
            # newer alert about the incident was applied already.
            ending = alert.kind in _ENDINGS or bool(incident.get("merged_into"))
            if not ending and alert.created < self._applied.get(incident_id, float("-inf")):
                continue
            self._applied[incident_id] = max(alert.created, self._applied.get(incident_id, 0.0))
            changed += self._apply(alert, incident, incident_id, now)
        return changed

    def _apply(
        self, alert: Alert, incident: Mapping[str, Any], incident_id: str, now: float
    ) -> list[tuple[str, str]]:
        warning = (incident_id, ALERTNAME_ERRORS)
        critical = (incident_id, ALERTNAME_READ_ONLY)
        ends = alert.created
        if alert.kind is AlertKind.RECOVERED or incident.get("merged_into"):
            keys = [k for k in (warning, critical) if k in self._open]
            if not keys:  # not known here (rowatch restarted): resolve what it was
                keys = [critical if incident.get("outcome") else warning]
                self._track(keys[0], alert, incident, now)
            if incident.get("resolution"):  # unmounted, mounted again: not seen writable
                for k in keys:
                    self._open[k].annotations["resolution"] = _one_line(incident["resolution"])
            changed = [k for k in keys if self._resolve(k, ends)]
            self._finish(incident_id)
            return changed
        if alert.kind is AlertKind.CLOSED:
            if warning not in self._open:
                self._track(warning, alert, incident, now)
            changed = [warning] if self._resolve(warning, ends) else []
            if critical not in self._open:
                self._finish(incident_id)
            return changed
        key = critical if incident.get("outcome") else warning
        self._track(key, alert, incident, now)
        if key == critical and warning in self._open:
            self._open[warning].touched = now  # kept firing: the inhibit rule silences it
        return [key]

    def _track(
        self, key: tuple[str, str], alert: Alert, incident: Mapping[str, Any], now: float
    ) -> None:
        """Open the alert ``key`` or refresh its labels and text from ``incident``."""
        existing = self._open.get(key)
        if existing is not None and existing.ends_at is not None:
            return  # resolved: stays resolved
        labels, annotations = self._describe(alert, incident, key[1])
        if existing is None:
            if key[1] == ALERTNAME_READ_ONLY:
                starts = _outcome_time(incident) or alert.created
            else:
                starts = _parse_time(incident.get("first_time")) or alert.created
            self._open[key] = _Open(key[0], labels, annotations, starts, touched=now)
        else:
            existing.labels, existing.annotations, existing.touched = labels, annotations, now

    def _resolve(self, key: tuple[str, str], when: float) -> bool:
        entry = self._open[key]
        if entry.ends_at is not None:
            return False
        entry.ends_at = max(when, entry.starts_at)
        entry.touched = self._clock()
        return True

    def _finish(self, incident_id: str) -> None:
        self._finished[incident_id] = None
        self._applied.pop(incident_id, None)
        while len(self._finished) > _FINISHED_MEMORY:
            del self._finished[next(iter(self._finished))]

    def _describe(
        self, alert: Alert, incident: Mapping[str, Any], alertname: str
    ) -> tuple[dict[str, str], dict[str, str]]:
        devices = incident.get("devices") or [None]
        labels = {
            **self.config.labels,
            "alertname": alertname,
            "severity": "critical" if alertname == ALERTNAME_READ_ONLY else "warning",
            "host": alert.host,
            "incident": str(incident.get("id")),
            "device": incident.get("filesystem_device") or devices[-1],
            "mountpoint": incident.get("mountpoint"),
            "filesystem": incident.get("filesystem"),
        }
        shown = incident if alertname == ALERTNAME_READ_ONLY else {**incident, "outcome": None}
        annotations = {
            "summary": _one_line(f"{alert.host}: {headline(shown)}"),
            "description": description(incident),
        }
        if self.config.runbook_url:
            annotations["runbook_url"] = self.config.runbook_url
        return {k: str(v) for k, v in labels.items() if v}, annotations

    def _prune(self, now: float) -> None:
        for key, entry in list(self._open.items()):
            if entry.ends_at is not None:
                if now - entry.touched > RESOLVED_RETENTION:
                    del self._open[key]
            elif (
                key[1] == ALERTNAME_ERRORS
                and now - entry.touched > self.warning_lifetime
                and not self._firing((entry.incident, ALERTNAME_READ_ONLY))
            ):
                log.info(
                    "alertmanager_warning_expired",
                    incident=entry.incident,
                    hint="no alert mentioned this warning for an hour; resolved",
                )
                self._resolve(key, now)
        live = {entry.incident for entry in self._open.values()}
        for incident_id in [i for i in self._applied if i not in live]:
            del self._applied[incident_id]

    def _firing(self, key: tuple[str, str]) -> bool:
        entry = self._open.get(key)
        return entry is not None and entry.ends_at is None

    def alerts(self, now: float | None = None) -> list[dict[str, Any]]:
        """Every alert the sink keeps posting, as Alertmanager's postableAlert objects."""
        now = self._clock() if now is None else now
        expires = EXPIRY_INTERVALS * self.config.repost_interval
        return [
            entry.postable(now, expires, self.config.generator_url) for entry in self._open.values()
        ]

    def _test_alert(self, alert: Alert) -> dict[str, Any]:
        labels = {
            **self.config.labels,
            "alertname": ALERTNAME_TEST,
            "severity": "info",
            "host": alert.host,
        }
        entry = _Open(
            "",
            labels,
            {
                "summary": f"{alert.host}: test alert from rowatch",
                "description": "Sent by `rowatch test-alert`: alerts from this host reach "
                "Alertmanager. It resolves itself in 5 minutes.",
            },
            alert.created,
            alert.created + TEST_ALERT_LIFETIME,
        )
        return entry.postable(self._clock(), 0, self.config.generator_url)

    # ------------------------------------------------------------------ posting
    async def send(self, alert: Alert) -> None:
        """Apply ``alert`` and post the alerts it changed to every Alertmanager."""
        if alert.kind is AlertKind.TEST:
            await self._post([self._test_alert(alert)])
            return
        changed = self._remember(alert)  # a failed post is retried by the next repost
        if not changed:
            return
        now = self._clock()
        expires = EXPIRY_INTERVALS * self.config.repost_interval
        await self._post(
            [
                self._open[k].postable(now, expires, self.config.generator_url)
                for k in changed
                if k in self._open
            ]
        )

    async def tick(self, now: float | None = None) -> None:
        """Post every kept alert again if ``repost_interval`` has passed or something was
        remembered since; drop resolved ones after their retention. Never raises SinkError:
        failures are logged, and the next tick tries again."""
        now = self._clock() if now is None else now
        self._prune(now)
        if not self._open:
            self._dirty = False
            return
        due = self._last_repost is None or now - self._last_repost >= self.config.repost_interval
        if not (due or self._dirty):
            return
        self._last_repost = now
        self._dirty = False
        with contextlib.suppress(SinkError):
            await self._post(self.alerts(now))

    async def _post(self, payload: list[dict[str, Any]]) -> None:
        """POST ``payload`` to every target; raise SinkError when none accepted it."""
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        results = await asyncio.gather(
            *(
                self._http.post(t, body, headers, shown=_webhook.display_url(t))
                for t in self.targets
            ),
            return_exceptions=True,
        )
        errors: list[SinkError] = []
        for target, result in zip(self.targets, results, strict=True):
            if isinstance(result, SinkError):
                errors.append(result)
                if self._failing.get(target) != str(result):
                    log.warning(
                        "alertmanager_post_failed",
                        sink=self.name,
                        url=_webhook.display_url(target),
                        error=str(result),
                        temporary=result.temporary,
                        alerts=len(payload),
                    )
                self._failing[target] = str(result)
            elif isinstance(result, BaseException):
                raise result
            elif self._failing.pop(target, None) is not None:
                log.info(
                    "alertmanager_post_recovered", sink=self.name, url=_webhook.display_url(target)
                )
        if len(errors) == len(self.targets):
            waits = [e.retry_after for e in errors if e.retry_after is not None]
            raise SinkError(
                "; ".join(str(e) for e in errors),
                temporary=any(e.temporary for e in errors),
                retry_after=min(waits) if waits else None,
            )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start re-posting in the background (call from the running event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="alertmanager-repost"
            )

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # never let a bug stop the re-posting for good
                log.exception("alertmanager_repost_error", sink=self.name)
            if self._open and self._last_repost is not None:
                delay = self._last_repost + self.config.repost_interval - self._clock()
            else:
                delay = self.config.repost_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(delay, 0.05))

    async def close(self) -> None:
        """Stop re-posting. Open alerts are not resolved: a stopped rowatch knows nothing
        new; Alertmanager lets them expire unless a restarted rowatch re-posts them."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._http.close()


def alertmanager_sink(
    config: AlertmanagerConfig, *, quiet_period: float = 0.0
) -> AlertmanagerSink | None:
    """The sink for ``[alertmanager]``, or None when it names no URL. ``quiet_period`` is
    ``engine.quiet_period``: a warning is expired only well after the engine would close it."""
    if not config.enabled:
        return None
    return AlertmanagerSink(config, warning_lifetime=max(WARNING_LIFETIME, 4 * quiet_period))


__all__: Sequence[str] = (
    "ALERTNAME_ERRORS",
    "ALERTNAME_READ_ONLY",
    "ALERTNAME_TEST",
    "AlertmanagerConfig",
    "AlertmanagerSink",
    "alertmanager_sink",
)
