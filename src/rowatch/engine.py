"""The detection engine: kernel records in, events and incidents out.

The engine is sans-IO: it never reads a file, sleeps or sends. A source calls :meth:`feed`
with each record and :meth:`tick` with the time now; both return what happened, as values.
``rowatch replay`` and the live daemon run this same class.

How records become incidents:

1. The :class:`~rowatch.classify.Classifier` names what a message means (an :class:`Event`).
   Records the kernel did not write are rejected here (:class:`Rejected`), never alerted.
2. The device the message names is normalised and resolved through the topology: a SCSI
   address or ``major:minor`` becomes ``sdc``, a journal ``sda1-8`` becomes ``sda1``.
3. The event joins the incident of the filesystem above its device (a partition's I/O error
   belongs to the filesystem on it; a disk's, to the one filesystem on the disk). While no
   filesystem is known, it makes a device incident, which the filesystem's incident takes in
   as soon as one appears above it. Without a topology, the log cannot say what a dm device
   sits on; then errors on devices with no known filesystem that came within
   ``correlation_window`` before the filesystem's first error are taken in too: that is the
   classic ``sda`` SCSI error before ``dm-0``'s journal abort.
4. The first error reports the incident (``opened``: a warning); a read-only, shutdown or
   panic record reports its outcome at once (``outcome``), with no window to wait for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from rowatch import devices as names
from rowatch.cause import likely_cause
from rowatch.classify import Classifier, Match
from rowatch.incident import Event, Incident, IncidentChange, Transition, incident_id
from rowatch.kinds import Kind, Layer, Role
from rowatch.records import KernelRecord
from rowatch.scsi import parse_result
from rowatch.topology import Topology

#: Programs whose records the engine reads. Userspace multipathd lines carry path state; they
#: can open a warning (no paths left) but no signature of theirs is an outcome.
PROGRAMS = frozenset({"kernel", "multipathd"})

#: Rate-limited functions ("<func>: N callbacks suppressed") and the kind of the messages
#: they drop (lib/ratelimit.c prints the name its caller passed).
SUPPRESSED_FUNCTIONS: Mapping[str, Kind] = {
    "blk_update_request": Kind.IO_ERROR,  # 3.x-4.x; also 5.x lines under print_req_error
    "print_req_error": Kind.IO_ERROR,
    "blk_print_req_error": Kind.IO_ERROR,
    "buffer_io_error": Kind.BUFFER_IO_ERROR,
    "quiet_error": Kind.BUFFER_IO_ERROR,  # fs/buffer.c, 2.6.3x
    "EXT4-fs error": Kind.FS_ERROR,  # ext4_error_ratelimit()
    "EXT4-fs warning": Kind.IO_ERROR,  # ext4_end_bio's I/O error warnings
    "EXT4-fs": Kind.FS_WARNING,  # ext4_msg(): can hide "Remounting filesystem read-only"
    "XFS: metadata IO error": Kind.FS_ERROR,
    "XFS: Failing async write": Kind.FS_ERROR,
    "btrfs_dev_stat_print_on_error": Kind.IO_ERROR,
    "scsi_io_completion": Kind.SCSI_ERROR,
    "scsi_io_completion_action": Kind.SCSI_ERROR,
    "nvme_log_error": Kind.NVME_ERROR,
}

#: Rate limits that say nothing of what they dropped: the 2.6.2x-2.6.32 ratelimit printed
#: its own name for every caller, and printk_ratelimit() covers any message.
ANY_KIND_SUPPRESSORS = frozenset({"__ratelimit", "printk"})

_FS_LAYERS = frozenset({Layer.FILESYSTEM, Layer.JOURNAL})
_OP = re.compile(r" op 0x[0-9a-f]+:\((\w+)\)")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Time windows, in seconds of the records' own clock."""

    #: Errors on a device of unknown place in the stack this long before a filesystem's first
    #: error are taken as its cause. SCSI error handling retries for up to 180 s (the default
    #: sd timeout) before the block layer fails a request, so two minutes covers one retry round.
    correlation_window: float = 120.0
    #: A message that names no device (bare "Remounting filesystem read-only") belongs to the
    #: named message of the same layer printed this close to it: the kernel prints them in one go.
    attach_window: float = 5.0
    #: A warning incident (no outcome) closes after this long without new evidence.
    quiet_period: float = 600.0
    #: Open incidents at most; the oldest quiet device incidents make room first.
    max_incidents: int = 10_000


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that reads like a storage failure but was not written by the kernel."""

    record: KernelRecord
    signature: str


Output = Event | IncidentChange | Rejected


@dataclass(frozen=True, slots=True)
class Observation:
    """Evidence from outside the kernel log: the mount table, sysfs, fanotify.

    The reconciler sends one when a filesystem is read-only (``Kind.READ_ONLY``) or reports
    an error (``Kind.FS_ERROR``) whether or not the log said so; ``signature`` names the
    check (``mountinfo_emergency_ro``, ``ext4_errors_count``, ``fanotify_fs_error``) and
    ``message`` says what it saw, as evidence lines do.
    """

    device: str
    kind: Kind
    signature: str
    message: str
    uptime: float | None = None
    wall: float | None = None
    filesystem: str | None = None


@dataclass
class EngineStats:
    """Counters for the daemon's status and the replay summary."""

    records: int = 0
    events: int = 0
    rejected: int = 0
    invalid_devices: int = 0
    suppressed_unattributed: int = 0
    incidents: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Engine:
    """Correlates kernel records into incidents per filesystem. Feed it; read what it says."""

    def __init__(
        self,
        topology: Topology | None = None,
        config: EngineConfig | None = None,
        *,
        classifier: Classifier | None = None,
        scope: str = "",
        history: bool = True,
    ) -> None:
        """``history``: keep every incident for :attr:`incidents` (replay). The daemon runs
        for months: it passes False, and an incident is forgotten once it has ended."""
        self.history = history
        self.topology = topology.copy() if topology is not None else Topology()
        self.config = config or EngineConfig()
        self.classifier = classifier or Classifier()
        self.scope = scope  # goes into incident ids: host and boot id in the daemon
        self.stats = EngineStats()
        self._open: dict[str | None, Incident] = {}
        self._by_id: dict[str, Incident] = {}
        self._reported: dict[str, Incident] = {}  # in the order they opened
        self._now: float | None = None
        self._index = 0
        # "N callbacks suppressed": the count waits for the next line of its kind (None: any
        # kind), which the kernel prints right after it.
        self._suppressed: dict[Kind | None, tuple[int, float | None]] = {}
        self._refused = False  # the current line named a device that was refused
        self._aliases: set[str] = set()  # multipath map names no topology resolved
        self._last_named: dict[Layer, tuple[str, float | None]] = {}
        self._pending: list[tuple[Event, float | None]] = []
        self._fs_hint: dict[str, str] = {}  # ext2/ext3 that the ext4 driver serves

    # ------------------------------------------------------------------ inputs
    def feed(self, record: KernelRecord) -> list[Output]:
        """Take one record; return the event it was and what changed because of it."""
        self.stats.records += 1
        self._index += 1
        now = record.clock
        if now is not None:
            self._now = now
        else:
            now = self._now
        if record.program not in PROGRAMS:
            return []
        match = self.classifier.classify(record.message, record.program)
        if match is None:
            return []
        kind = match.signature.kind
        if not record.trusted:
            self.stats.rejected += 1
            return [Rejected(record, match.signature.name)]
        self._refused = False
        device = self._resolve(match, record)
        if kind is Kind.DEVICE_NAME:
            if device is not None and "fs" in match.groups:
                self._fs_hint[device] = match.groups["fs"].lower()
            return []
        if kind is Kind.SUPPRESSED:
            self._note_suppressed(match, now)
            return []
        if kind.role is Role.LIFECYCLE:
            return self._lifecycle(kind, device)
        event = self._event(record, match, device, now)
        self.stats.events += 1
        self.stats.by_kind[kind.value] = self.stats.by_kind.get(kind.value, 0) + 1
        outputs: list[Output] = [event]
        outputs += self._expire_pending(now)
        if self._refused:
            # A name rowatch refuses is still a name: the line is about some device, not
            # about the neighbour a device-less line would belong to.
            return outputs + self._route(event, now)
        if event.device is None:
            adopted = self._adopt_device(event, now)
            if adopted is None:
                if kind.role is Role.OUTCOME:
                    # The kernel prints the line naming the device before a bare "Remounting
                    # filesystem read-only", never after: with none before it, the outcome is
                    # on a filesystem the log does not name, and it is reported now.
                    return outputs + self._route(event, now)
                self._pending.append((event, now))
                return outputs
            event = adopted
        else:
            self._last_named[kind.layer] = (event.device, now)
            outputs += self._release_pending(event, now)
        outputs += self._route(event, now)
        return outputs

    def observe(self, observation: Observation) -> list[Output]:
        """Take evidence the reconciler found; it joins the incident like a log line."""
        self._index += 1
        event = Event(
            observation.kind,
            observation.signature,
            observation.device,
            observation.message,
            observation.uptime,
            observation.wall,
            filesystem=observation.filesystem,
            index=self._index,
        )
        now = event.clock if event.clock is not None else self._now
        self.topology.learn_filesystem(observation.device)
        self.stats.events += 1
        return [event, *self._route(event, now)]

    def tick(self, now: float) -> list[Output]:
        """Let time pass: attach or give up on orphan lines, close quiet warnings."""
        self._now = now
        outputs = self._expire_pending(now)
        for incident in list(self._open.values()):
            # A read-only filesystem stays an incident until it is writable again (recovered).
            if incident.outcome is None and not self._within(
                incident.last_clock, now, self._quiet(incident)
            ):
                outputs += self._close(incident)
        return outputs

    def recovered(self, device: str, now: float | None = None) -> list[Output]:
        """The filesystem on ``device`` is writable again (the mount table says so)."""
        incident = self._open.get(device)
        if incident is None or incident.outcome is None:
            return []
        self._end(incident)
        return [self._change(Transition.RECOVERED, incident)]

    def _lifecycle(self, kind: Kind, device: str | None) -> list[Output]:
        """A mount or unmount on ``device``: the filesystem the open incident was about is gone
        (or was mounted afresh), and the device name may now carry another one."""
        if device is None:
            return []
        if kind is Kind.MOUNTED:
            self.topology.learn_filesystem(device)
        else:
            self._fs_hint.pop(device, None)
        incident = self._open.get(device)
        if incident is None or incident.filesystem_device is None:
            return []
        reason = "mounted again" if kind is Kind.MOUNTED else "unmounted"
        # The device now carries another filesystem (or none): today's mountpoint in the
        # topology is not where this one was mounted.
        incident.detached = True
        self._end(incident)
        if not incident.reported or incident.claimed_by:
            return []
        transition = Transition.RECOVERED if incident.outcome else Transition.CLOSED
        change = self._change(transition, incident)
        change.snapshot["resolution"] = reason
        return [change]

    def finish(self) -> list[Output]:
        """The input ended: settle orphan lines and close every incident."""
        outputs = self._expire_pending(None)
        for incident in list(self._open.values()):
            outputs += self._close(incident)
        return outputs

    def update_topology(self, topology: Topology) -> None:
        """A fresh snapshot of the block stack (udev or mount change): it replaces the old
        one, and what only the log had taught (SCSI names, partitions of vanished disks)
        is kept where the snapshot says nothing."""
        fresh = topology.copy()
        fresh.absorb_learned(self.topology)
        self.topology = fresh

    # ------------------------------------------------------------------ results
    @property
    def incidents(self) -> list[Incident]:
        """Every reported incident not folded into another, in the order they opened."""
        return [i for i in self._reported.values() if not i.claimed_by]

    def is_current(self, incident_id: str) -> bool:
        """True while the incident is open and not folded into another's."""
        incident = self._by_id.get(incident_id)
        return incident is not None and not incident.closed and not incident.claimed_by

    def open_incidents(self) -> list[Incident]:
        return [i for i in self._open.values() if i.reported and not i.claimed_by]

    def snapshot(self, incident: Incident) -> dict[str, object]:
        """The incident's public JSON form, with its device order and cause worked out."""
        incident.devices = self._ordered_devices(incident)
        incident.cause = likely_cause(incident)
        if incident.filesystem_device and not incident.detached:
            fs_device = self.topology.get(incident.filesystem_device)
            if fs_device is not None:
                incident.filesystem = fs_device.fstype or incident.filesystem
                if fs_device.mountpoints:
                    incident.mountpoint = fs_device.mountpoints[0]
        return incident.to_json()

    # ------------------------------------------------------------------ naming devices
    def _resolve(self, match: Match, record: KernelRecord) -> str | None:
        """The kernel name of the device the message is about, learning names on the way."""
        groups = match.groups
        topology = self.topology
        dev = None
        refused = False
        if "dev" in groups:
            dev = names.clean_name(groups["dev"])
            if dev is None and (dm_name := names.mapper_name(groups["dev"])):
                # btrfs names members by path: /dev/mapper/x is dm-N only the topology knows;
                # else the filesystem the line is about ("(device dm-0)") stands for it.
                dev = topology.by_dm_name(dm_name) or names.clean_name(groups.get("fsdev", ""))
            refused = dev is None
        elif "jdev" in groups:
            dev = names.journal_device(groups["jdev"])
            refused = dev is None
        if refused:
            self.stats.invalid_devices += 1
            self._refused = True
        address = names.scsi_address(groups["scsi"]) if "scsi" in groups else None
        if address is None and "host" in groups:  # 2.6.9: "at scsi0, channel 0, id 1, lun 0"
            address = names.scsi_address(
                ":".join(groups.get(k, "") for k in ("host", "channel", "target", "lun"))
            )
        if record.kernel_device:
            decoded = names.kernel_device_token(record.kernel_device)
            if decoded and decoded[0] == "scsi":
                address = address or decoded[1]
            elif decoded and dev is not None:
                topology.learn_majmin(decoded[1], dev)
            elif decoded and dev is None:
                dev = topology.by_majmin(decoded[1])
        if address is not None:
            if dev is not None and dev.startswith("sd"):
                topology.learn_scsi(address, dev)
            elif dev is None:
                dev = topology.by_scsi(address) or address
        if dev is None and "majmin" in groups:
            majmin = names.major_minor(groups["majmin"])
            if majmin:
                dev = topology.by_majmin(majmin) or majmin
        if dev is None and "nvme" in groups:
            dev = names.clean_name(groups["nvme"])
        if dev is None and "map" in groups:
            dev = self._multipath_map(groups["map"])
        if dev is None and record.udev_sysname:
            dev = names.clean_name(record.udev_sysname)
        if dev is None:
            return None
        if refused:
            # The line names a device rowatch refuses (hostile or garbled text) but a
            # structured field names the real one: trust that, not the text.
            self._refused = False
        self._learn_stack(match, dev)
        return dev

    def _multipath_map(self, text: str) -> str | None:
        majmin = names.major_minor(text)
        if majmin:
            return self.topology.by_majmin(majmin) or majmin
        known = self.topology.by_dm_name(text)
        if known is not None:
            return known
        alias = names.clean_name(text)
        if alias is not None:
            self._aliases.add(alias)  # a map's name ("mpatha"); the topology would say dm-N
        return alias

    def _learn_stack(self, match: Match, dev: str) -> None:
        """What the log itself says about the stack: partitions, journals, md and dm members."""
        topology = self.topology
        known = topology.get(dev)
        if (known is None or not known.parents) and (disk := names.disk_of_partition(dev)):
            topology.learn_parent(dev, disk)
            dev_or_disk = disk
        else:
            dev_or_disk = dev
        # An NVMe namespace sits on its controller: "nvme nvme1: I/O 5 QID 2 timeout" and
        # the filesystem on nvme1n1p2 are one story.
        namespace = topology.get(dev_or_disk)
        if (
            (namespace is None or not namespace.parents)
            and (controller := names.nvme_controller(dev_or_disk))
            and controller != dev_or_disk
        ):
            topology.learn_parent(dev_or_disk, controller)
        groups = match.groups
        kind = match.signature.kind
        if kind.layer in _FS_LAYERS:
            topology.learn_filesystem(dev)
        if "fsdev" in groups and (fs_dev := names.clean_name(groups["fsdev"])):
            # btrfs names the member that failed and the filesystem it belongs to: the
            # member's errors are that filesystem's.
            topology.learn_filesystem(fs_dev)
            if fs_dev != dev:
                topology.learn_parent(fs_dev, dev)
        if "md" in groups and (md := names.clean_name(groups["md"])):
            topology.learn_parent(md, dev)
        if "map" in groups and "majmin" in groups:
            mapped = self._multipath_map(groups["map"])
            if mapped and mapped != dev:
                topology.learn_parent(mapped, dev)

    # ------------------------------------------------------------------ events
    def _event(
        self, record: KernelRecord, match: Match, device: str | None, now: float | None
    ) -> Event:
        signature = match.signature
        groups = match.groups
        details: dict[str, str] = {}
        for key in ("sector", "hostbyte", "driverbyte", "sense", "asc", "err", "count"):
            if key in groups:
                details[key] = groups[key].strip()
        if "code" in groups and (result := parse_result(groups["code"])):
            details["code"] = groups["code"]
            details["scsi_result"] = result.describe()
            details["hostbyte"] = result.host_byte
            details["driverbyte"] = result.driver_byte
            details["status"] = result.status
        if "scsi" in groups and (address := names.scsi_address(groups["scsi"])):
            details["scsi_address"] = address
        if (op := _OP.search(record.message)) is not None:
            details["op"] = op.group(1)
        filesystem = signature.filesystem
        if filesystem is None and "fs" in groups:
            filesystem = groups["fs"].lower()
        if (
            filesystem is None
            and signature.kind.layer is Layer.JOURNAL
            and "jdev" in groups
            and not groups["jdev"].startswith("dm-")
            and "-" in groups["jdev"]
        ):
            details["journal"] = "jbd2"  # ext4's journal (ext3 too when ext4 mounts it)
        event = Event.from_record(
            record, signature.kind, signature.name, device, details, filesystem, self._index
        )
        suppressed = self._take_suppressed(signature.kind, now) + self._take_suppressed(None, now)
        if suppressed:
            event = _with(event, suppressed=suppressed)
        return event

    def _note_suppressed(self, match: Match, now: float | None) -> None:
        """Hold a "N callbacks suppressed" count for the line that follows it."""
        function = match.groups.get("func", "").strip()
        count = int(match.groups.get("count", "0") or 0)
        if function in ANY_KIND_SUPPRESSORS:
            kind: Kind | None = None
        elif function in SUPPRESSED_FUNCTIONS:
            kind = SUPPRESSED_FUNCTIONS[function]
        else:
            self.stats.suppressed_unattributed += count
            return
        held, _ = self._suppressed.get(kind, (0, None))
        self._suppressed[kind] = (held + count, now)

    def _take_suppressed(self, kind: Kind | None, now: float | None) -> int:
        """The held count for a line of ``kind``: the kernel prints the count just before the
        first line its rate limit lets through again, so a count held longer than
        ``attach_window`` belongs to no line we saw."""
        count, when = self._suppressed.pop(kind, (0, None))
        if count and not self._within(when, now, self.config.attach_window):
            self.stats.suppressed_unattributed += count
            return 0
        return count

    # ------------------------------------------------------------------ lines naming no device
    def _adopt_device(self, event: Event, now: float | None) -> Event | None:
        """Give a device-less line the device of the neighbour it was printed with."""
        last = self._last_named.get(event.kind.layer)
        if event.kind.layer in _FS_LAYERS:
            # "Aborting journal on device dm-0." then "ext3_abort called." then the EXT3-fs
            # line: journal and filesystem messages name the same device.
            candidates = [
                self._last_named.get(Layer.FILESYSTEM),
                self._last_named.get(Layer.JOURNAL),
            ]
            last = max(
                (c for c in candidates if c is not None),
                default=None,
                key=lambda c: -1e18 if c[1] is None else c[1],
            )
        if last is None or not self._within(last[1], now, self.config.attach_window):
            return None
        return _with(event, device=last[0])

    def _release_pending(self, named: Event, now: float | None) -> list[Output]:
        """A named line arrived: device-less lines of its layer printed just before join it."""
        outputs: list[Output] = []
        keep: list[tuple[Event, float | None]] = []
        for event, when in self._pending:
            same = (event.kind.layer in _FS_LAYERS) == (named.kind.layer in _FS_LAYERS)
            if same and self._within(when, now, self.config.attach_window):
                outputs += self._route(_with(event, device=named.device), when)
            else:
                keep.append((event, when))
        self._pending = keep
        return outputs

    def _expire_pending(self, now: float | None) -> list[Output]:
        """Device-less lines no named line claimed: an incident on an unknown device."""
        outputs: list[Output] = []
        keep: list[tuple[Event, float | None]] = []
        for event, when in self._pending:
            if now is not None and self._within(when, now, self.config.attach_window):
                keep.append((event, when))
            else:
                outputs += self._route(event, when)
        self._pending = keep
        return outputs

    # ------------------------------------------------------------------ incidents
    def _route(self, event: Event, now: float | None) -> list[Output]:
        """Put the event in its incident; report what that changed."""
        outputs: list[Output] = []
        anchor, shared = self._anchor(event)
        incident = self._open.get(anchor)
        if incident is None:
            incident = self._new_incident(anchor, event)
        fs_level = event.kind.layer in _FS_LAYERS or (
            anchor is not None and self.topology.carries_filesystem(anchor)
        )
        became_fs = fs_level and incident.filesystem_device is None and anchor is not None
        if fs_level and anchor is not None:
            incident.filesystem_device = anchor
        self._note_filesystem(incident, event)
        self._note_path(incident, event.device)
        before = incident.outcome
        incident.add(event, now)
        for claimer_id in incident.claimed_by:
            claimer = self._by_id.get(claimer_id)
            if claimer is not None and not claimer.closed:
                claimer.add(event, now)
        if became_fs:
            outputs += self._take_in_devices_below(incident, now)
        elif incident.filesystem_device is None:
            outputs += self._join_filesystems(incident, shared, now)
        role = event.kind.role
        if role in (Role.ERROR, Role.OUTCOME) and not incident.reported:
            incident.reported = True
            if self.history:
                self._reported[incident.id] = incident
            self.stats.incidents += 1
            if not incident.claimed_by:
                outputs.append(self._change(Transition.OPENED, incident))
            outputs += self._report_claimers_opened(incident)
        if incident.outcome != before and incident.outcome is not None:
            outputs.append(self._change(Transition.OUTCOME, incident))
        return outputs

    def _anchor(self, event: Event) -> tuple[str | None, list[str]]:
        """The device whose incident this event joins, and other filesystems it touches."""
        device = event.device
        if device is None or event.kind.layer in _FS_LAYERS:
            return device, []
        target = device
        sector = event.details.get("sector")
        if sector is not None and sector.isdigit():
            target = self.topology.partition_at(device, int(sector)) or device
        filesystems = self.topology.filesystems_above(target)
        if len(filesystems) == 1:
            return filesystems[0], []
        # No single filesystem above: one device incident per disk, whichever of its
        # partitions the line names.
        below = self.topology.below(target)
        return (below[0] if below else target), filesystems

    def _new_incident(self, anchor: str | None, event: Event) -> Incident:
        if len(self._open) >= self.config.max_incidents:
            self._evict()
        incident = Incident(id=incident_id(self.scope, anchor, event.clock), anchor=anchor)
        if anchor is not None:
            incident.devices.append(anchor)
        self._open[anchor] = incident
        self._by_id[incident.id] = incident
        return incident

    def _note_filesystem(self, incident: Incident, event: Event) -> None:
        """The filesystem type: the one a line names beats a guess from the journal, and
        the mount line's "mounting ext3 file system using the ext4 subsystem" beats both."""
        if event.filesystem:
            incident.filesystem = event.filesystem
        elif incident.filesystem is None and event.details.get("journal") == "jbd2":
            incident.filesystem = "ext4"
        hint = self._fs_hint.get(incident.anchor or "")
        if hint and incident.filesystem in (None, "ext4"):
            incident.filesystem = hint

    def _note_path(self, incident: Incident, device: str | None) -> None:
        """Name the devices between the one a line names and the filesystem above it."""
        anchor = incident.anchor
        if device is None or anchor is None or device == anchor:
            return
        above = set(self.topology.above(device))
        for middle in self.topology.below(anchor):
            if middle in above and middle not in incident.devices:
                incident.devices.append(middle)

    def _take_in_devices_below(self, incident: Incident, now: float | None) -> list[Output]:
        """A filesystem incident opened: take in the device incidents under it."""
        anchor = incident.anchor
        assert anchor is not None
        below = set(self.topology.below(anchor))
        outputs: list[Output] = []
        for other in list(self._open.values()):
            if other is incident or other.filesystem_device is not None or other.closed:
                continue
            related = other.anchor in below
            if not related:
                # A guess: errors on a device of unknown place shortly before the first error.
                related = (
                    self._orphan(other)
                    and self._may_sit_below(anchor, other.anchor)
                    and self._within(other.last_clock, now, self.config.correlation_window)
                )
            if related:
                outputs += self._claim(incident, other)
        return outputs

    def _join_filesystems(
        self, device_incident: Incident, shared: list[str], now: float | None
    ) -> list[Output]:
        """A device incident: join the filesystem incidents it may explain."""
        outputs: list[Output] = []
        targets = [self._open[fs] for fs in shared if fs in self._open]
        if not targets and self._orphan(device_incident):
            # A guess: errors on a device of unknown place that start while a filesystem whose
            # stack is unknown is failing. Only just after that filesystem's first error (the
            # kernel logs the device errors first; a few more may follow in the same burst),
            # and never once its outcome is settled: a disk that fails later is another story.
            targets = [
                i
                for i in self._open.values()
                if i.filesystem_device is not None
                and not i.closed
                and i.outcome is None
                and i.anchor is not None
                and self._may_sit_below(i.anchor, device_incident.anchor)
                and i.first_clock is not None
                and now is not None
                and 0 <= now - i.first_clock <= self.config.attach_window
            ]
        for target in targets:
            if target.id not in device_incident.claimed_by:
                outputs += self._claim(target, device_incident)
        return outputs

    def _claim(self, incident: Incident, other: Incident) -> list[Output]:
        """Fold ``other`` (a device incident) into ``incident`` (a filesystem's)."""
        first_claim = not other.claimed_by
        incident.merge(other)
        other.claimed_by.add(incident.id)
        if other.reported and first_claim:
            return [self._change(Transition.MERGED, other, merged_into=incident.id)]
        return []

    def _report_claimers_opened(self, incident: Incident) -> list[Output]:
        """A device incident's first error can be its claimer's first error too."""
        outputs: list[Output] = []
        for claimer_id in incident.claimed_by:
            claimer = self._by_id.get(claimer_id)
            if claimer is not None and not claimer.reported and not claimer.closed:
                claimer.reported = True
                if self.history:
                    self._reported[claimer.id] = claimer
                self.stats.incidents += 1
                outputs.append(self._change(Transition.OPENED, claimer))
        return outputs

    def _may_sit_below(self, filesystem: str, device: str | None) -> bool:
        """Could ``device`` be under ``filesystem``, as far as anyone knows?

        Not when a snapshot gives the filesystem's stack. When only the log gave it (sdb2 is
        a partition of sdb), what may still be missing is the name of the disk's transport:
        a SCSI address or ``major:minor`` the log never tied to a name. When nothing is known
        (dm-0 with no topology), any device may be.
        """
        if device is None or self.topology.stack_known(filesystem):
            return False
        if not self.topology.stack_learned(filesystem):
            return True
        return names.is_transport_name(device) or names.major_minor(device) is not None

    def _orphan(self, incident: Incident) -> bool:
        """A device incident whose device has no known filesystem above it."""
        anchor = incident.anchor
        return anchor is not None and not self.topology.filesystems_above(anchor)

    def _end(self, incident: Incident) -> None:
        """The incident is over: no evidence joins it any more. Without ``history`` it is
        forgotten too (what was said of it stays in the changes already returned)."""
        incident.closed = True
        if self._open.get(incident.anchor) is incident:
            del self._open[incident.anchor]
        if not self.history:
            self._by_id.pop(incident.id, None)
            self._reported.pop(incident.id, None)

    def _close(self, incident: Incident) -> list[Output]:
        self._end(incident)
        if incident.reported and not incident.claimed_by:
            return [self._change(Transition.CLOSED, incident)]
        return []

    def _evict(self) -> None:
        """Make room: drop the quietest incident that has no outcome."""
        candidates = [i for i in self._open.values() if i.outcome is None]
        if candidates:
            oldest = min(candidates, key=lambda i: i.last_clock or 0.0)
            self._end(oldest)

    def _quiet(self, incident: Incident) -> float:
        if not incident.reported:
            return self.config.correlation_window
        return self.config.quiet_period

    def _change(
        self, transition: Transition, incident: Incident, merged_into: str | None = None
    ) -> IncidentChange:
        snapshot = self.snapshot(incident)
        if merged_into:
            snapshot["merged_into"] = merged_into
        return IncidentChange(transition, incident.id, snapshot)

    def _ordered_devices(self, incident: Incident) -> list[str]:
        """Devices from the physical disk up to the filesystem device."""
        order = {name: i for i, name in enumerate(incident.devices)}

        def depth(name: str) -> tuple[int, int]:
            if name == incident.filesystem_device:
                return (1 << 20, 0)
            if names.is_transport_name(name):
                return (-1, order[name])
            if name in self._aliases:
                # A multipath map known only by its name ("mpatha"): it sits right under
                # the filesystem, above the paths the log names by major:minor.
                return (1 << 19, order[name])
            return (len(self.topology.below(name)), order[name])

        return sorted(incident.devices, key=depth)

    @staticmethod
    def _within(then: float | None, now: float | None, window: float) -> bool:
        if then is None or now is None:
            return True  # no clock to judge by: records in order are close enough
        return abs(now - then) <= window


def _with(event: Event, **changes: object) -> Event:
    """A copy of ``event`` with some fields changed."""
    from dataclasses import replace

    return replace(event, **changes)  # type: ignore[arg-type]
