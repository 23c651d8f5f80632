"""fanotify ``FAN_FS_ERROR``: the kernel tells us about a filesystem error as it happens.

Linux 5.16 added ``FAN_FS_ERROR`` (fs/notify/fanotify; Documentation/admin-guide/
filesystem-monitoring.rst). A group made with ``FAN_REPORT_FID`` marks a whole filesystem
(``FAN_MARK_FILESYSTEM``, which needs CAP_SYS_ADMIN) and reads one event per error burst:
the first error's errno and how many errors happened until the event was read (the kernel keeps
one pre-allocated error event per filesystem and only counts while it is queued). ext4 reports
them (``fsnotify_sb_error()`` in ``__ext4_error()`` and friends); on 6.18 an XFS shutdown does
not. Note that ext4 stops calling it once the filesystem is ``emergency_ro``: the first error
is reported, the ones after are not even counted.

:func:`parse_events` is pure and never raises; :class:`FsErrorWatcher` is the asyncio side;
:func:`available` says whether this kernel and these privileges allow it, and why not.

Event layout (include/uapi/linux/fanotify.h)::

    struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len;
                                     u64 mask; s32 fd; s32 pid; };          // 24 bytes
    struct fanotify_event_info_header { u8 info_type; u8 pad; u16 len; };
    struct fanotify_event_info_fid { header; __kernel_fsid_t fsid; struct file_handle fh; };
    struct file_handle { u32 handle_bytes; s32 handle_type; u8 f_handle[]; };
    struct fanotify_event_info_error { header; s32 error; u32 error_count; };

The order of info records is not guaranteed (6.18 sends FID first, then ERROR).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

# include/uapi/linux/fanotify.h
FAN_CLOEXEC = 0x0000_0001
FAN_NONBLOCK = 0x0000_0002
FAN_CLASS_NOTIF = 0x0000_0000
FAN_REPORT_FID = 0x0000_0200
FAN_MARK_ADD = 0x0000_0001
FAN_MARK_REMOVE = 0x0000_0002
FAN_MARK_FILESYSTEM = 0x0000_0100
FAN_Q_OVERFLOW = 0x0000_4000
FAN_FS_ERROR = 0x0000_8000
FAN_NOFD = -1
FANOTIFY_METADATA_VERSION = 3
FAN_EVENT_INFO_TYPE_FID = 1
FAN_EVENT_INFO_TYPE_DFID_NAME = 2
FAN_EVENT_INFO_TYPE_DFID = 3
FAN_EVENT_INFO_TYPE_ERROR = 5
AT_FDCWD = -100

_METADATA = struct.Struct("=IBBHQii")  # 24 bytes, native byte order like the kernel's
_INFO_HEADER = struct.Struct("=BBH")
_FSID = struct.Struct("=II")
_HANDLE = struct.Struct("=Ii")
_ERROR = struct.Struct("=iI")
_FID_TYPES = (FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_DFID)
#: Read size: a FAN_FS_ERROR event is 56 bytes; a page holds dozens.
READ_SIZE = 16 * 1024


@dataclass(frozen=True, slots=True)
class FanotifyEvent:
    """One event as the kernel queued it (only what rowatch needs)."""

    mask: int
    pid: int
    fd: int  #: FAN_NOFD (-1) with FAN_REPORT_FID; anything else is an open file to close
    #: The filesystem id as ``os.statvfs(path).f_fsid`` gives it (``val[0] | val[1] << 32``).
    fsid: int | None = None
    handle_type: int | None = None
    handle: bytes = b""
    error: int | None = None  #: errno of the first error (ext4: EUCLEAN for corruption)
    error_count: int | None = None  #: errors since the event was queued, this one included

    @property
    def fs_error(self) -> bool:
        return bool(self.mask & FAN_FS_ERROR)

    @property
    def overflow(self) -> bool:
        return bool(self.mask & FAN_Q_OVERFLOW)


def parse_events(buffer: bytes) -> list[FanotifyEvent]:
    """The events in what one ``read()`` of a fanotify fd returned. Never raises.

    A malformed event ends the parse (its length cannot be trusted to find the next one);
    a malformed info record ends that event's records. Unknown records are skipped.
    """
    events: list[FanotifyEvent] = []
    view = memoryview(buffer)
    offset = 0
    while len(view) - offset >= _METADATA.size:
        event_len, vers, _, meta_len, mask, fd, pid = _METADATA.unpack_from(view, offset)
        if (
            vers != FANOTIFY_METADATA_VERSION
            or meta_len < _METADATA.size
            or event_len < meta_len
            or event_len > len(view) - offset
        ):
            break
        event = FanotifyEvent(mask=mask, pid=pid, fd=fd)
        events.append(_parse_info(view[offset + meta_len : offset + event_len], event))
        offset += event_len
    return events


def _parse_info(view: memoryview, event: FanotifyEvent) -> FanotifyEvent:
    """``event`` with what its info records say."""
    fsid = handle_type = error = error_count = None
    handle = b""
    offset = 0
    while len(view) - offset >= _INFO_HEADER.size:
        info_type, _, length = _INFO_HEADER.unpack_from(view, offset)
        if length < _INFO_HEADER.size or length > len(view) - offset:
            break
        body = view[offset + _INFO_HEADER.size : offset + length]
        if info_type in _FID_TYPES and len(body) >= _FSID.size and fsid is None:
            low, high = _FSID.unpack_from(body)
            fsid = low | high << 32
            rest = body[_FSID.size :]
            if len(rest) >= _HANDLE.size:
                size, handle_type = _HANDLE.unpack_from(rest)
                handle = bytes(rest[_HANDLE.size : _HANDLE.size + size])
        elif info_type == FAN_EVENT_INFO_TYPE_ERROR and len(body) >= _ERROR.size:
            error, error_count = _ERROR.unpack_from(body)
        offset += length
    return replace(
        event,
        fsid=fsid,
        handle_type=handle_type,
        handle=handle,
        error=error,
        error_count=error_count,
    )


# ------------------------------------------------------------------------------ the syscalls
class _Libc:
    """fanotify_init(2)/fanotify_mark(2) through the C library."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.init = libc.fanotify_init
        self.init.argtypes = [ctypes.c_uint, ctypes.c_uint]
        self.init.restype = ctypes.c_int
        self.mark = libc.fanotify_mark
        self.mark.argtypes = [
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint64,
            ctypes.c_int,
            ctypes.c_char_p,
        ]
        self.mark.restype = ctypes.c_int


_libc: _Libc | None = None


def _lib() -> _Libc:
    global _libc  # noqa: PLW0603 - loaded once, on first use
    if _libc is None:
        try:
            _libc = _Libc()
        except (OSError, AttributeError) as exc:
            raise OSError(errno.ENOSYS, f"no fanotify in the C library: {exc}") from None
    return _libc


def _oserror(what: str, path: str | None = None) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}", path)


def fanotify_init() -> int:
    """A non-blocking close-on-exec fanotify fd reporting file ids (needed for FS_ERROR).

    The group fd's own flags go in ``flags`` (FAN_CLOEXEC, FAN_NONBLOCK); ``event_f_flags``
    (O_RDONLY, O_CLOEXEC...) only apply to the file descriptors events carry, which
    FAN_REPORT_FID groups never get. O_NONBLOCK there would leave the group fd blocking.
    """
    fd: int = _lib().init(
        FAN_CLASS_NOTIF | FAN_REPORT_FID | FAN_CLOEXEC | FAN_NONBLOCK,
        os.O_RDONLY | os.O_CLOEXEC,
    )
    if fd < 0:
        raise _oserror("fanotify_init")
    os.set_blocking(fd, False)  # a reader callback must never sleep in read()
    return fd


def mark_filesystem(fd: int, path: str, *, remove: bool = False) -> None:
    """Add (or remove) FAN_FS_ERROR on the whole filesystem that ``path`` is on."""
    flags = (FAN_MARK_REMOVE if remove else FAN_MARK_ADD) | FAN_MARK_FILESYSTEM
    if _lib().mark(fd, flags, FAN_FS_ERROR, AT_FDCWD, os.fsencode(path)) < 0:
        raise _oserror("fanotify_mark", path)


class Availability(NamedTuple):
    """Whether FAN_FS_ERROR can be used here, and if not, why (for the daemon's log)."""

    available: bool
    reason: str


def available(path: str = "/") -> Availability:
    """Try it: make a group and mark ``path``'s filesystem; say what stopped us."""
    try:
        fd = fanotify_init()
    except OSError as exc:
        if exc.errno == errno.EPERM:
            return Availability(False, "fanotify_init: EPERM (needs CAP_SYS_ADMIN)")
        if exc.errno == errno.EINVAL:
            return Availability(
                False,
                "fanotify_init: EINVAL (FAN_REPORT_FID needs Linux 5.1, FAN_FS_ERROR Linux 5.16)",
            )
        if exc.errno == errno.ENOSYS:
            return Availability(False, f"{exc.strerror} (kernel without CONFIG_FANOTIFY?)")
        return Availability(False, str(exc.strerror))
    try:
        mark_filesystem(fd, path)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return Availability(False, "fanotify_mark: EINVAL (FAN_FS_ERROR needs Linux 5.16)")
        if exc.errno == errno.EPERM:
            return Availability(
                False, "fanotify_mark: EPERM (FAN_MARK_FILESYSTEM needs CAP_SYS_ADMIN)"
            )
        # ENODEV, EXDEV, EOPNOTSUPP: the kernel knows FAN_FS_ERROR, but this filesystem
        # cannot report file ids (no fsid, or no file handles); others may.
        return Availability(True, f"supported; {path} itself cannot be watched: {exc.strerror}")
    finally:
        os.close(fd)
    return Availability(True, "supported")


# ------------------------------------------------------------------------------ asyncio
OnError = Callable[[str, int, int], None]


class FsErrorWatcher:
    """Calls ``on_error(mountpoint, error, count)`` for each FAN_FS_ERROR on a watched fs.

    ``start()`` opens the group and registers it with the running loop; ``watch()`` and
    ``unwatch()`` take mount points (one per filesystem is enough: the mark is on the
    superblock). Events are matched to mount points by fsid (``os.statvfs().f_fsid``, which
    for ext4 is derived from the UUID and equals the event's fsid).
    """

    def __init__(
        self,
        on_error: OnError,
        *,
        on_overflow: Callable[[], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._on_error = on_error
        self._on_overflow = on_overflow
        self._loop = loop
        self._fd = -1
        self._by_fsid: dict[int, dict[int, str]] = {}  # fsid -> st_dev -> mount point
        self._watched: dict[str, tuple[int, int]] = {}  # mount point -> (fsid, st_dev)

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def watched(self) -> list[str]:
        return list(self._watched)

    def start(self) -> None:
        if self._fd >= 0:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._fd = fanotify_init()
        self._loop = loop
        loop.add_reader(self._fd, self._readable)

    def watch(self, mountpoint: str) -> None:
        """Report errors of the filesystem mounted at ``mountpoint``. Raises OSError."""
        if self._fd < 0:
            raise OSError(errno.EBADF, "FsErrorWatcher not started")
        if mountpoint in self._watched:
            return
        info = os.stat(mountpoint)
        fsid = os.statvfs(mountpoint).f_fsid
        same = self._by_fsid.setdefault(fsid, {})
        if info.st_dev not in same:
            mark_filesystem(self._fd, mountpoint)
            same[info.st_dev] = mountpoint
        self._watched[mountpoint] = (fsid, info.st_dev)

    def unwatch(self, mountpoint: str) -> None:
        """Stop reporting ``mountpoint``'s filesystem (quiet if it is already unmounted:
        the kernel drops the mark with the superblock)."""
        key = self._watched.pop(mountpoint, None)
        if key is None:
            return
        fsid, dev = key
        same = self._by_fsid.get(fsid, {})
        if same.get(dev) != mountpoint:
            return  # another mount point of the same filesystem carried the mark
        others = [mp for mp, k in self._watched.items() if k == key]
        if others:
            same[dev] = others[0]  # the filesystem stays watched through another mount
            return
        del same[dev]
        if not same:
            del self._by_fsid[fsid]
        if self._fd >= 0:
            # Unmounted or replaced meanwhile: the kernel dropped the mark with the superblock.
            with contextlib.suppress(OSError):
                mark_filesystem(self._fd, mountpoint, remove=True)

    def close(self) -> None:
        if self._fd < 0:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        self._by_fsid.clear()
        self._watched.clear()

    def _readable(self) -> None:
        while self._fd >= 0:
            try:
                data = os.read(self._fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._report_exception(exc)
                return
            if not data:
                return
            for event in parse_events(data):
                self._dispatch(event)

    def _dispatch(self, event: FanotifyEvent) -> None:
        if event.fd >= 0:  # never with FAN_REPORT_FID, but never leak one either
            os.close(event.fd)
        try:
            if event.overflow and self._on_overflow is not None:
                self._on_overflow()
            if not event.fs_error or event.fsid is None:
                return
            for mountpoint in list(self._by_fsid.get(event.fsid, {}).values()):
                self._on_error(mountpoint, event.error or 0, event.error_count or 1)
        except Exception as exc:  # a callback bug must not kill the reader
            self._report_exception(exc)

    def _report_exception(self, exc: BaseException) -> None:
        if self._loop is not None:
            self._loop.call_exception_handler(
                {"message": "fanotify FS_ERROR watcher", "exception": exc}
            )

    def __enter__(self) -> FsErrorWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "FAN_FS_ERROR",
    "Availability",
    "FanotifyEvent",
    "FsErrorWatcher",
    "available",
    "fanotify_init",
    "mark_filesystem",
    "parse_events",
]
