"""Real-kernel failure scenarios for the test suite: loop filesystems that really go read-only.

Everything here drives the running kernel: loop devices, real ext2/3/4, xfs and btrfs, a FUSE
image that starts returning EIO (:mod:`fuse_eio`), and ``/dev/kmsg`` to see what the kernel
printed meanwhile. Mocks are fine in unit tests, but these are the proof that a feature works.

Typical use::

    with loop_filesystem("ext4", "errors=remount-ro") as fs:
        trigger_ext4_error(fs)            # waits for "Remounting filesystem read-only"
        records = fs.capture()            # raw /dev/kmsg records since before mkfs

    with loop_filesystem("xfs", fuse=True) as fs:
        fuse_eio_failure(fs)              # waits for the XFS shutdown line

Every context manager cleans up completely, also when the body raises: the filesystem is
unmounted, the loop device detached (only if it is still ours), the FUSE server stopped and the
temporary directory removed. Helpers call :func:`pytest.skip` with a reason when the machine
cannot run them (not root, no /dev/kmsg, no loop or FUSE support, no mkfs.xfs, ...).

Machine requirements (Debian 12): root; a kernel with loop, FUSE, ext4, xfs, btrfs; apt packages
``e2fsprogs xfsprogs btrfs-progs util-linux fuse3 python3-pyfuse3``. The FUSE server
(``tests/fuse_eio.py``) runs as a child process under ``/usr/bin/python3`` with the apt binding,
so the test venv itself needs no FUSE package, whether it sees system packages or only PyPI.

/dev/kmsg is machine-wide and several of its lines are rate limited (``I/O error, dev`` and
``Buffer I/O error``: 10 per 5 s): assert on :meth:`LoopFilesystem.entries` (records naming
this scenario's device) and on the filesystems' own final lines, not on every block-layer line.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

KMSG_PATH = "/dev/kmsg"
TESTS_DIR = Path(__file__).resolve().parent
FUSE_SERVER = TESTS_DIR / "fuse_eio.py"
#: The FUSE server runs under Debian's interpreter, which has the apt package python3-pyfuse3,
#: whatever venv (system-site-packages or plain PyPI) runs the tests.
SYSTEM_PYTHON = "/usr/bin/python3"
SYSFS_EXT4 = Path("/sys/fs/ext4")
#: syslog facility of records the kernel itself logs (rowatch.records.KERNEL_FACILITY).
KERNEL_FACILITY = 0

#: Smallest image each mkfs accepts (xfsprogs 6.1: "Filesystem must be larger than 300MB";
#: btrfs-progs 6.2: "minimum size for each btrfs device is 114294784").
MIN_SIZE_MB = {"xfs": 300, "btrfs": 128}
MKFS_ARGS: dict[str, tuple[str, ...]] = {
    "ext2": ("mkfs.ext2", "-q", "-F"),
    "ext3": ("mkfs.ext3", "-q", "-F"),
    "ext4": ("mkfs.ext4", "-q", "-F"),
    "xfs": ("mkfs.xfs", "-q", "-f"),
    "btrfs": ("mkfs.btrfs", "-q", "-f"),
}

_KMSG_HEADER = re.compile(rb"^(\d+),(\d+),(\d+),([^;,]*)[^;]*;")


# --------------------------------------------------------------------------------------------
# Requirements and skipping
# --------------------------------------------------------------------------------------------


def _filesystems() -> set[str]:
    try:
        text = Path("/proc/filesystems").read_text()
    except OSError:
        return set()
    return {line.split()[-1] for line in text.splitlines() if line.strip()}


def _kernel_has(fstype: str) -> bool:
    """Whether the kernel can mount ``fstype`` (loading its module if it is not built in)."""
    if fstype in _filesystems():
        return True
    # /proc/filesystems lists only loaded drivers; mount would autoload a module, so do that.
    if os.geteuid() == 0 and shutil.which("modprobe"):
        subprocess.run(["modprobe", "-q", fstype], capture_output=True, check=False)
    return fstype in _filesystems()


def missing(*needs: str) -> str | None:
    """Why the machine cannot run something needing ``needs``, or None if it can.

    Known needs: ``root``, ``kmsg`` (readable), ``kmsg-write``, ``loop``, ``fuse`` (kernel
    support, /usr/bin/python3 with pyfuse3), ``xfs``, ``btrfs``, ``ext2``... (kernel support
    and mkfs), ``xfs_io``.
    """
    for need in needs:
        reason: str | None = None
        if need == "root":
            if os.geteuid() != 0:
                reason = "needs root (loop devices, mounts, /dev/kmsg)"
        elif need == "kmsg":
            if not os.access(KMSG_PATH, os.R_OK):
                reason = f"{KMSG_PATH} is not readable"
        elif need == "kmsg-write":
            if not os.access(KMSG_PATH, os.W_OK):
                reason = f"{KMSG_PATH} is not writable"
        elif need == "loop":
            if not os.path.exists("/dev/loop-control") or shutil.which("losetup") is None:
                reason = "no loop device support (/dev/loop-control, losetup)"
        elif need == "fuse":
            reason = _missing_fuse()
        elif need == "xfs_io":
            if shutil.which("xfs_io") is None:
                reason = "xfs_io not installed (apt: xfsprogs)"
        elif need in MKFS_ARGS:
            mkfs = MKFS_ARGS[need][0]
            if not _kernel_has(need):
                reason = f"kernel has no {need} support (/proc/filesystems)"
            elif shutil.which(mkfs) is None:
                pkg = {"xfs": "xfsprogs", "btrfs": "btrfs-progs"}.get(need, "e2fsprogs")
                reason = f"{mkfs} not installed (apt: {pkg})"
        else:
            raise ValueError(f"unknown requirement {need!r}")
        if reason is not None:
            return reason
    return None


@functools.cache  # one probe of /usr/bin/python3 per session
def _missing_fuse() -> str | None:
    if not os.path.exists("/dev/fuse") or not _kernel_has("fuse"):
        return "kernel has no FUSE support (/dev/fuse)"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} missing (the FUSE server runs under Debian's python3)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import pyfuse3, trio"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return f"{SYSTEM_PYTHON} cannot import pyfuse3 (apt: python3-pyfuse3)"
    return None


def require(*needs: str) -> None:
    """Skip the calling test (``pytest.skip``) unless the machine has all of ``needs``."""
    reason = missing(*needs)
    if reason is not None:
        pytest.skip(reason)


# --------------------------------------------------------------------------------------------
# /dev/kmsg
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KmsgEntry:
    """One parsed /dev/kmsg record (for assertions; rowatch has its own parser)."""

    raw: bytes
    priority: int
    seq: int
    usec: int
    flags: str
    message: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def facility(self) -> int:
        """syslog facility: 0 = kernel; userspace writes can never get 0."""
        return self.priority >> 3

    @property
    def level(self) -> int:
        """syslog severity, 0 (emerg) to 7 (debug)."""
        return self.priority & 7


def parse_kmsg(raw: bytes) -> KmsgEntry:
    """Parse ``PRI,SEQ,USEC,FLAGS[,...];message\\n[ KEY=value\\n]...``."""
    match = _KMSG_HEADER.match(raw)
    if match is None:
        raise ValueError(f"not a /dev/kmsg record: {raw[:80]!r}")
    first, *continuation = raw[match.end() :].rstrip(b"\n").split(b"\n")
    properties = {}
    for line in continuation:
        key, _, value = line.lstrip(b" ").partition(b"=")
        properties[key.decode(errors="replace")] = value.decode(errors="replace")
    return KmsgEntry(
        raw=raw,
        priority=int(match[1]),
        seq=int(match[2]),
        usec=int(match[3]),
        flags=match[4].decode(),
        message=first.decode(errors="backslashreplace"),
        properties=properties,
    )


def split_kmsg_stream(data: bytes) -> list[bytes]:
    """Split a concatenation of raw records (the ``kmsg`` replay format) back into records.

    A record is its header line plus following lines that start with a space (``KEY=value``);
    the kernel escapes newlines inside a message as ``\\x0a``, so this split is unambiguous.
    """
    records: list[bytes] = []
    for line in data.splitlines(keepends=True):
        if line.startswith(b" ") and records:
            records[-1] += line
        else:
            records.append(line)
    return records


class KmsgTail:
    """Follow /dev/kmsg from "now": only records the kernel logs after construction are read.

    Every record read is also kept in :attr:`records`, so a scenario can hand back all that
    was printed while it ran.
    """

    def __init__(self, path: str = KMSG_PATH) -> None:
        require("kmsg")
        # O_NONBLOCK: read() raises EAGAIN instead of sleeping when no new record exists.
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # SEEK_END positions after the newest record (SEEK_SET would replay the whole buffer).
        os.lseek(self._fd, 0, os.SEEK_END)
        self.records: list[bytes] = []
        #: How often records were overwritten before we read them (read() said EPIPE).
        self.lost = 0

    def _drain(self) -> list[bytes]:
        new: list[bytes] = []
        while True:
            try:
                # One read() returns exactly one record; a too-small buffer gets EINVAL.
                # Records are at most CONSOLE_EXT_LOG_MAX (8 KiB) formatted.
                chunk = os.read(self._fd, 16384)
            except BlockingIOError:
                break
            except BrokenPipeError:
                # EPIPE: the ring buffer wrapped past our position. The kernel has already
                # moved us to the oldest record still there; note the loss and read on.
                self.lost += 1
                continue
            if not chunk:
                break
            new.append(chunk)
        self.records.extend(new)
        return new

    def read_new(self, timeout: float = 0.0) -> list[bytes]:
        """Records logged since the last call; waits up to ``timeout`` s for the first one."""
        new = self._drain()
        if new or timeout <= 0:
            return new
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while not new:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            poller.poll(remaining * 1000)
            new = self._drain()
        return new

    def mark(self) -> int:
        """Read what is pending and return the index the next record will get in ``records``."""
        self._drain()
        return len(self.records)

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float = 10.0, *, since: int = 0
    ) -> KmsgEntry:
        """First record from ``records[since:]`` on, read already or arriving within
        ``timeout`` s, whose message matches ``pattern``.

        Raises TimeoutError listing what was seen, so a failing test shows the kernel's words.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            for raw in self.records[checked:]:
                entry = parse_kmsg(raw)
                if regex.search(entry.message):
                    return entry
            checked = len(self.records)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n".join(parse_kmsg(r).message for r in self.records[-30:])
                raise TimeoutError(
                    f"no /dev/kmsg record matched {regex.pattern!r} in {timeout}s; "
                    f"last records:\n{seen}"
                )
            self.read_new(min(remaining, 0.2))

    def capture(self) -> list[bytes]:
        """All raw records read so far, including any logged just now."""
        self._drain()
        return list(self.records)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> KmsgTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_kmsg(message: str | bytes, priority: int | None = None, *, newline: bool = True) -> None:
    """Log ``message`` to /dev/kmsg from userspace, as ``<priority>message`` if given.

    What the kernel does with it (devkmsg_write, checked on 6.18): a prefix below 8 is only a
    level and gets facility 1 (LOG_USER), so ``<2>`` is stored as priority 10 and ``<0>`` as 8;
    a prefix of 8 or more keeps its facility; no prefix means facility 1 at the default level
    (priority 12). Facility 0 (kernel) cannot be forged. The whole write becomes one record:
    an embedded newline is stored escaped as ``\\x0a`` (so no fake ``KEY=value`` lines), a
    trailing one is dropped. Without that trailing newline the record stays open (not
    finalized) and readers do not see it until the next record is logged, hence ``newline``.
    With kernel.printk_devkmsg=ratelimit (the default) each open file may write 10 records
    per 5 s and drops the rest silently, so this opens /dev/kmsg afresh for every record.
    """
    require("kmsg-write")
    data = message.encode() if isinstance(message, str) else message
    if priority is not None:
        data = b"<%d>" % priority + data
    if newline and not data.endswith(b"\n"):
        data += b"\n"
    fd = os.open(KMSG_PATH, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def dmesg_lines(records: Sequence[bytes]) -> list[str]:
    """``dmesg``-style lines (``[  595.421741] message``) for raw records."""
    lines = []
    for raw in records:
        entry = parse_kmsg(raw)
        seconds, micros = divmod(entry.usec, 1_000_000)
        lines.append(f"[{seconds:5d}.{micros:06d}] {entry.message}")
    return lines


# --------------------------------------------------------------------------------------------
# Mount table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MountEntry:
    """One /proc/self/mountinfo line."""

    majmin: str
    mountpoint: str
    mount_options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        """Read-only by mount flag, superblock flag, or ext4's emergency_ro (6.x)."""
        return (
            "ro" in self.mount_options
            or "ro" in self.super_options
            or "emergency_ro" in self.super_options
        )


def _unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), path)


def mounts() -> list[MountEntry]:
    """Parse /proc/self/mountinfo."""
    entries = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, source, super_opts = [*right.split(" ", 2), "", ""][:3]
        entries.append(
            MountEntry(
                majmin=fields[2],
                mountpoint=_unescape_mount(fields[4]),
                mount_options=tuple(fields[5].split(",")),
                fstype=fstype,
                source=_unescape_mount(source),
                super_options=tuple(super_opts.split(",")),
            )
        )
    return entries


def find_mount(mountpoint: str | Path) -> MountEntry | None:
    """The topmost mount at ``mountpoint``, or None."""
    found = None
    for entry in mounts():
        if entry.mountpoint == str(mountpoint):
            found = entry
    return found


def write_errno(directory: str | Path) -> int | None:
    """Try to create and fsync a file in ``directory``; the errno if that fails, else None."""
    path = Path(directory) / f"probe-{os.getpid()}-{time.monotonic_ns()}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.errno
    try:
        os.write(fd, b"probe\n")
        os.fsync(fd)
    except OSError as exc:
        return exc.errno
    finally:
        os.close(fd)
    return None


# --------------------------------------------------------------------------------------------
# Process helpers and cleanup
# --------------------------------------------------------------------------------------------


def _run(*argv: str | Path, check: bool = True, timeout: float = 60) -> str:
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout


def _unmount(mountpoint: Path) -> None:
    """Unmount if mounted; lazily if busy. Quiet when already gone."""
    for _ in range(5):
        if find_mount(mountpoint) is None:
            return
        done = subprocess.run(["umount", str(mountpoint)], capture_output=True, check=False)
        if done.returncode != 0:
            time.sleep(0.1)
    if find_mount(mountpoint) is not None:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def _loop_backing(loop: str) -> str | None:
    try:
        return Path(f"/sys/block/{loop}/loop/backing_file").read_text().strip()
    except OSError:
        return None


def _detach_loop(loop: str, image: Path) -> None:
    """Detach ``loop`` only while it still serves ``image`` (its number may be reused)."""
    backing = _loop_backing(loop)
    if backing is None or os.path.realpath(backing) != os.path.realpath(image):
        return
    subprocess.run(["losetup", "-d", f"/dev/{loop}"], capture_output=True, check=False)


def _attach_loop(image: Path) -> tuple[str, str]:
    # --direct-io=off: the loop device does buffered I/O on the file. On a FUSE image that
    # does not matter for freshness (the FUSE file is FOPEN_DIRECT_IO, so nothing is cached
    # below the loop device); with direct-io=on loop would need aligned O_DIRECT support.
    dev = _run("losetup", "--find", "--show", "--direct-io=off", image).strip()
    loop = os.path.basename(dev)
    majmin = Path(f"/sys/block/{loop}/dev").read_text().strip()
    return loop, majmin


def _remove_tree(workdir: Path) -> None:
    """Remove the scenario directory unless something is still mounted inside it."""
    prefix = str(workdir) + "/"
    if any(m.mountpoint.startswith(prefix) for m in mounts()):
        return  # never rm -r through a live mount; a stuck mount is visible in mountinfo
    shutil.rmtree(workdir, ignore_errors=True)


def _make_image(path: Path, size_mb: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)  # sparse: only what mkfs writes takes disk space


# --------------------------------------------------------------------------------------------
# FUSE EIO device
# --------------------------------------------------------------------------------------------


@dataclass
class FuseEioDevice:
    """A loop device on a FUSE image whose I/O fails with EIO on demand."""

    backing: Path  #: real file holding the bytes
    fuse_mount: Path  #: where the FUSE filesystem is mounted
    process: subprocess.Popen[bytes]
    loop: str = ""  #: e.g. ``loop3``
    majmin: str = ""  #: e.g. ``7:3``

    @property
    def image(self) -> Path:
        """The FUSE file the loop device reads and writes."""
        return self.fuse_mount / "disk.img"

    @property
    def control(self) -> Path:
        return self.fuse_mount / "control"

    @property
    def dev(self) -> str:
        return f"/dev/{self.loop}"

    def set_mode(self, mode: str) -> None:
        """``ok``, ``fail`` (reads+writes+fsync), ``fail-write`` or ``fail-read``."""
        with open(self.control, "w") as f:
            f.write(mode)

    def fail(self, mode: str = "fail") -> None:
        self.set_mode(mode)

    def heal(self) -> None:
        self.set_mode("ok")

    def heal_quietly(self) -> None:
        """Heal if the server is still there (teardown: unmounting on top must not hit EIO)."""
        if self.process.poll() is None and find_mount(self.fuse_mount) is not None:
            with contextlib.suppress(OSError):
                self.heal()

    def stats(self) -> dict[str, str]:
        """Mode and counters, e.g. ``{"mode": "fail", "failed_writes": "3", ...}``."""
        text = self.control.read_text()
        return dict(item.split("=", 1) for item in text.split())


def _start_fuse(backing: Path, mountpoint: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as log_file:
        # stderr goes to a file, not a pipe: a pipe nobody drains would block the server.
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(FUSE_SERVER), str(backing), str(mountpoint)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,  # a Ctrl-C in pytest must not kill it before cleanup
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else b""
    if line.strip() != b"ready" or find_mount(mountpoint) is None:
        _stop_fuse(proc, mountpoint)
        err = log.read_text(errors="replace").strip()
        raise RuntimeError(f"FUSE server did not come up: {line!r} {err}")
    return proc


def _stop_fuse(proc: subprocess.Popen[bytes], mountpoint: Path) -> None:
    entry = find_mount(mountpoint)
    if entry is not None and entry.fstype.startswith("fuse"):
        if proc.poll() is not None:
            # Server died with the mount still there: abort the connection so umount and
            # anything blocked on it get ENOTCONN instead of hanging.
            minor = entry.majmin.split(":")[1]
            with contextlib.suppress(OSError):
                Path(f"/sys/fs/fuse/connections/{minor}/abort").write_text("1")
        _unmount(mountpoint)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def fuse_eio_device(
    size_mb: int = 64,
    *,
    fstype: str | None = None,
    mkfs_args: Sequence[str] = (),
    workdir: Path | None = None,
) -> Iterator[FuseEioDevice]:
    """A FUSE server exposing one image (``fstype``: mkfs it first) with a loop device on it.

    mkfs runs on the backing file before the FUSE layer exists: faster, and it keeps mkfs's
    discard requests away from a loop device whose FUSE file cannot punch holes.
    """
    require("root", "loop", "fuse")
    with contextlib.ExitStack() as stack:
        own_dir = workdir is None
        base = Path(tempfile.mkdtemp(prefix="rowatch-fuse-")) if workdir is None else workdir
        if own_dir:
            stack.callback(_remove_tree, base)
        backing = base / "backing.img"
        fuse_mount = base / "fuse"
        fuse_mount.mkdir()
        _make_image(backing, size_mb)
        if fstype is not None:
            require(fstype)
            _run(*MKFS_ARGS[fstype], *mkfs_args, backing)
        proc = _start_fuse(backing, fuse_mount, base / "fuse_eio.log")
        stack.callback(_stop_fuse, proc, fuse_mount)
        device = FuseEioDevice(backing=backing, fuse_mount=fuse_mount, process=proc)

        device.loop, device.majmin = _attach_loop(device.image)
        stack.callback(_detach_loop, device.loop, device.image)
        stack.callback(device.heal_quietly)
        yield device


# --------------------------------------------------------------------------------------------
# Loop filesystems
# --------------------------------------------------------------------------------------------


@dataclass
class LoopFilesystem:
    """A mounted filesystem on a loop device, plus the /dev/kmsg records logged meanwhile."""

    fstype: str  #: the type it was mounted as (``-t``)
    options: str  #: mount options as given
    image: Path  #: the file the loop device is attached to
    backing: Path  #: the file holding the bytes (== image unless FUSE)
    loop: str  #: e.g. ``loop3``
    majmin: str  #: e.g. ``7:3``
    mountpoint: Path
    kmsg: KmsgTail
    fuse: FuseEioDevice | None = None
    #: Index in ``kmsg.records`` from which the loop device was ours (see :meth:`entries`).
    attached_at: int = 0

    @property
    def dev(self) -> str:
        return f"/dev/{self.loop}"

    def capture(self) -> list[bytes]:
        """Raw /dev/kmsg records logged since before mkfs (losetup, mount, failure...)."""
        return self.kmsg.capture()

    def entries(self, *, own: bool = True) -> list[KmsgEntry]:
        """Parsed records so far; with ``own`` only those naming this loop device since it
        was attached.

        /dev/kmsg is machine-wide: other tests or processes may use other loop devices at the
        same time, and the previous user of this loop number may have logged its unmount just
        before. Assertions should look at ``own`` records only.
        """
        raw_records = self.capture()
        if not own:
            return [parse_kmsg(raw) for raw in raw_records]
        mention = re.compile(rf"\b{re.escape(self.loop)}\b")
        parsed = (parse_kmsg(raw) for raw in raw_records[self.attached_at :])
        return [e for e in parsed if mention.search(e.message)]

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float = 10.0, *, since: int | None = None
    ) -> KmsgEntry:
        """:meth:`KmsgTail.wait_for` from ``since`` (default: when the loop device became ours,
        so the previous user of this loop number cannot match)."""
        start = self.attached_at if since is None else since
        return self.kmsg.wait_for(pattern, timeout, since=start)

    def mount_entry(self) -> MountEntry | None:
        return find_mount(self.mountpoint)

    def write_errno(self) -> int | None:
        """Errno of creating+fsyncing a file in the filesystem, None if that worked."""
        return write_errno(self.mountpoint)


@contextlib.contextmanager
def loop_filesystem(
    fstype: str = "ext4",
    options: str = "errors=remount-ro",
    size_mb: int = 64,
    *,
    fuse: bool = False,
    mkfs_args: Sequence[str] = (),
) -> Iterator[LoopFilesystem]:
    """mkfs ``fstype`` on a fresh sparse image, loop-attach it and mount it with ``options``.

    ``size_mb`` is raised to what mkfs needs (xfs 300, btrfs 128). With ``fuse=True`` the image
    lives on a :func:`fuse_eio_device` and ``fs.fuse`` switches it to EIO. ``options`` may be
    empty, or ``ro`` for a read-only-by-configuration mount.
    """
    require("root", "kmsg", "loop", fstype)
    size_mb = max(size_mb, MIN_SIZE_MB.get(fstype, 0))
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"rowatch-{fstype}-"))
        stack.callback(_remove_tree, workdir)  # runs last: after unmount and detach
        kmsg = stack.enter_context(KmsgTail())
        mountpoint = workdir / "mnt"
        mountpoint.mkdir()
        device: FuseEioDevice | None = None
        if fuse:
            device = stack.enter_context(
                fuse_eio_device(size_mb, fstype=fstype, mkfs_args=mkfs_args, workdir=workdir)
            )
            image, backing, loop, majmin = device.image, device.backing, device.loop, device.majmin
        else:
            image = backing = workdir / "disk.img"
            _make_image(image, size_mb)
            _run(*MKFS_ARGS[fstype], *mkfs_args, image)
            loop, majmin = _attach_loop(image)
            stack.callback(_detach_loop, loop, image)
        # Everything the kernel logged before the loop device was ours belongs to others.
        kmsg.read_new()
        attached_at = len(kmsg.records)
        argv = ["mount", "-t", fstype]
        if options:
            argv += ["-o", options]
        stack.callback(_unmount, mountpoint)
        if device is not None:
            stack.callback(device.heal_quietly)  # LIFO: heal first, then unmount
        _run(*argv, f"/dev/{loop}", mountpoint)
        yield LoopFilesystem(
            fstype=fstype,
            options=options,
            image=image,
            backing=backing,
            loop=loop,
            majmin=majmin,
            mountpoint=mountpoint,
            kmsg=kmsg,
            fuse=device,
            attached_at=attached_at,
        )


# --------------------------------------------------------------------------------------------
# Failure recipes
# --------------------------------------------------------------------------------------------


def _remount_ro_pattern(fs: LoopFilesystem) -> str:
    # The ext4 driver (serving ext4, and on 6.18 also ext3 and ext2: "mounting ext2 file
    # system using the ext4 subsystem") says "EXT4-fs (loopN): Remounting filesystem
    # read-only"; a kernel with the old ext2 driver says "EXT2-fs (loopN): error: remounting
    # filesystem read-only".
    return rf"^EXT[234]-fs \({re.escape(fs.loop)}\): .*[Rr]emounting filesystem read-only"


def trigger_ext4_error(fs: LoopFilesystem, timeout: float = 5.0) -> KmsgEntry:
    """Write 1 to /sys/fs/ext4/<loop>/trigger_fs_error: a real ext4_error().

    With errors=remount-ro the kernel logs ``EXT4-fs error (device loopN): trigger_test_error``,
    ``Aborting journal on device loopN-8.`` and ``EXT4-fs (loopN): Remounting filesystem
    read-only`` before the write returns; returns the remount record. With errors=continue it
    logs only the error line, which is returned.
    """
    trigger = SYSFS_EXT4 / fs.loop / "trigger_fs_error"
    if not trigger.exists():
        pytest.skip(f"{trigger} missing (not an ext4-driver mount, or kernel lacks it)")
    since = fs.kmsg.mark()
    trigger.write_text("1")
    if "errors=continue" in fs.options.split(","):
        pattern = rf"^EXT4-fs error \(device {re.escape(fs.loop)}\)"
        return fs.wait_for(pattern, timeout, since=since)
    return fs.wait_for(_remount_ro_pattern(fs), timeout, since=since)


def xfs_shutdown(fs: LoopFilesystem, *, flush_log: bool = False, timeout: float = 5.0) -> KmsgEntry:
    """``xfs_io -x -c shutdown`` (``-f`` flushes the log first): a user-initiated shutdown.

    Returns the ``Please unmount the filesystem and rectify the problem(s)`` record.
    """
    require("xfs_io")
    since = fs.kmsg.mark()
    _run("xfs_io", "-x", "-c", "shutdown -f" if flush_log else "shutdown", fs.mountpoint)
    pattern = rf"^XFS \({re.escape(fs.loop)}\): Please unmount the filesystem"
    return fs.wait_for(pattern, timeout, since=since)


def admin_remount_ro(fs: LoopFilesystem) -> None:
    """``mount -o remount,ro``: an administrator's read-only switch (must not alert)."""
    _run("mount", "-o", "remount,ro", fs.mountpoint)


def _poke_writes(fs: LoopFilesystem, round_no: int) -> None:
    """Dirty data and metadata and force them out; every step may fail with EIO/EROFS."""
    with contextlib.suppress(OSError):
        path = fs.mountpoint / f"poke-{round_no}-{time.monotonic_ns()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"x" * 65536)
            os.fsync(fd)  # data I/O errors; ext4 also commits the journal here
        finally:
            os.close(fd)
    with contextlib.suppress(OSError):
        (fs.mountpoint / f"dir-{round_no}-{time.monotonic_ns()}").mkdir()
    with contextlib.suppress(OSError):
        _run("sync", "-f", fs.mountpoint, check=False)  # journal/log/transaction commit
    with contextlib.suppress(OSError):
        # ext4 only notices an aborted journal when the next handle starts
        # (ext4_journal_check_start: "Detected aborted journal"): start one now.
        (fs.mountpoint / f"after-{round_no}-{time.monotonic_ns()}").mkdir()


def _failure_pattern(fs: LoopFilesystem) -> str:
    """What each filesystem prints when it finally stops writing after EIO."""
    loop = re.escape(fs.loop)
    if fs.fstype == "xfs":
        return rf"^XFS \({loop}\): Please unmount the filesystem"
    if fs.fstype == "btrfs":
        return rf"^BTRFS info \(device {loop}.*\): forced readonly"
    return _remount_ro_pattern(fs)


def fuse_eio_failure(fs: LoopFilesystem, *, mode: str = "fail", timeout: float = 15.0) -> KmsgEntry:
    """Make the FUSE image fail and drive I/O until the filesystem gives up; returns that record.

    Each round writes+fsyncs a file, makes a directory, runs ``sync -f`` and makes another
    directory, then waits 0.3 s for the final record; one round (10-40 ms) usually suffices:

    * ext3/ext4: jbd2 fails to write the journal and aborts; the next journal start logs
      "Detected aborted journal" and remounts read-only (even with errors=continue).
    * ext2 (ext4 driver, no journal): the metadata writeback failure is noticed by
      ext4_check_bdev_write_error on the next metadata change -> remount read-only.
    * xfs: the log write fails -> "log I/O error -5" -> shutdown.
    * btrfs: the transaction commit fails -> "Transaction aborted (error -5)" -> forced readonly.

    ``mode="fail"`` also fails reads, so a not-yet-cached bitmap read may be what trips the
    filesystem; ``"fail-write"`` gives the pure write path.
    """
    if fs.fuse is None:
        raise ValueError("fuse_eio_failure needs loop_filesystem(..., fuse=True)")
    since = fs.kmsg.mark()
    fs.fuse.fail(mode)
    pattern = _failure_pattern(fs)
    deadline = time.monotonic() + timeout
    round_no = 0
    while True:
        _poke_writes(fs, round_no)
        round_no += 1
        try:
            return fs.wait_for(pattern, 0.3, since=since)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


def drop_caches(fs: LoopFilesystem) -> None:
    """Write back and evict the cached inodes/dentries and the loop device's buffer cache.

    Afterwards looking up a file must read directory and inode blocks from the device again.
    """
    _run("sync", "-f", fs.mountpoint)
    Path("/proc/sys/vm/drop_caches").write_text("3")
    _run("blockdev", "--flushbufs", fs.dev)


def fuse_eio_read_failure(fs: LoopFilesystem, timeout: float = 10.0) -> KmsgEntry:
    """Fail reads, then look up files whose dentries/inodes were evicted: a metadata read error.

    The ext4 driver (also serving ext2/ext3 here) must re-read the directory block and logs
    ``EXT4-fs error (device loopN): __ext4_find_entry:...: reading directory lblock 0``, an
    ext4_error() that honours errors=remount-ro. Returns the remount record (~0.2 s, most of
    it drop_caches).
    """
    if fs.fuse is None:
        raise ValueError("fuse_eio_read_failure needs loop_filesystem(..., fuse=True)")
    victims = []
    for i in range(4):
        victim = fs.mountpoint / f"victim-{i}"
        victim.write_bytes(b"v")
        victims.append(victim)
    drop_caches(fs)
    since = fs.kmsg.mark()
    fs.fuse.fail("fail-read")
    for victim in victims:
        with contextlib.suppress(OSError):
            victim.stat()
    return fs.wait_for(_remount_ro_pattern(fs), timeout, since=since)
