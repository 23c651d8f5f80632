#!/usr/bin/python3
"""A FUSE filesystem exposing one disk image whose I/O can be made to fail with EIO at runtime.

Run it as a separate process under Debian's ``/usr/bin/python3`` with the apt package
``python3-pyfuse3`` (libfuse3 + trio). Keeping it out of the test process means the test suite
works the same from a venv built on Debian's system packages and from a plain venv that only has
PyPI packages: neither needs a FUSE binding of its own.

Usage::

    /usr/bin/python3 tests/fuse_eio.py BACKING_FILE MOUNTPOINT

The mount holds two files:

``disk.img``
    The backing file, byte for byte. Every open is ``FOPEN_DIRECT_IO`` so the kernel keeps no
    page cache for it: each read and write a loop device issues reaches this process, and a
    switch to "fail" takes effect on the very next request rather than after some cached pages
    run out.
``control``
    Write one word to change the mode (``ok``, ``fail`` = reads, writes and fsync fail,
    ``fail-write`` = writes and fsync fail, ``fail-read`` = reads fail); read it for the mode and
    counters, e.g. ``mode=fail reads=12 writes=40 failed_reads=0 failed_writes=3``.

The process prints ``ready`` on stdout once mounted and unmounts itself on SIGTERM/SIGINT.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
from typing import Any

try:
    import pyfuse3
    import trio
except ImportError as exc:  # pragma: no cover - reported to the parent via exit status 3
    print(f"fuse_eio: needs python3-pyfuse3 (apt): {exc}", file=sys.stderr)
    sys.exit(3)

DISK_NAME = b"disk.img"
CONTROL_NAME = b"control"
DISK_INODE = pyfuse3.ROOT_INODE + 1
CONTROL_INODE = pyfuse3.ROOT_INODE + 2
MODES = {"ok", "fail", "fail-write", "fail-read"}


class EioFs(pyfuse3.Operations):  # type: ignore[misc]
    """One passthrough image file plus a control file; no directories, no create/unlink."""

    def __init__(self, backing: str) -> None:
        super().__init__()
        self.backing_fd = os.open(backing, os.O_RDWR)
        self.mode = "ok"
        self.counters = dict.fromkeys(("reads", "writes", "failed_reads", "failed_writes"), 0)

    # -- helpers -------------------------------------------------------------------------
    def _control_text(self) -> bytes:
        counts = " ".join(f"{k}={v}" for k, v in self.counters.items())
        return f"mode={self.mode} {counts}\n".encode()

    def _attr(self, inode: int) -> Any:
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = inode
        entry.st_uid = os.getuid()
        entry.st_gid = os.getgid()
        entry.generation = 0
        # Attributes must not be cached: the control file's size changes with every read.
        entry.attr_timeout = 0
        entry.entry_timeout = 0
        if inode == pyfuse3.ROOT_INODE:
            entry.st_mode = stat.S_IFDIR | 0o755
            entry.st_nlink = 2
            entry.st_size = 0
        elif inode == DISK_INODE:
            st = os.fstat(self.backing_fd)
            entry.st_mode = stat.S_IFREG | 0o600
            entry.st_nlink = 1
            entry.st_size = st.st_size
            ns = st.st_mtime_ns
            entry.st_atime_ns = entry.st_mtime_ns = entry.st_ctime_ns = ns
        elif inode == CONTROL_INODE:
            entry.st_mode = stat.S_IFREG | 0o600
            entry.st_nlink = 1
            entry.st_size = len(self._control_text())
        else:
            raise pyfuse3.FUSEError(errno.ENOENT)
        entry.st_blksize = 4096
        entry.st_blocks = (entry.st_size + 511) // 512
        return entry

    def _fails(self, op: str) -> bool:
        if op == "read":
            return self.mode in {"fail", "fail-read"}
        return self.mode in {"fail", "fail-write"}

    # -- pyfuse3.Operations --------------------------------------------------------------
    async def lookup(self, parent_inode: int, name: bytes, ctx: Any = None) -> Any:
        if parent_inode != pyfuse3.ROOT_INODE:
            raise pyfuse3.FUSEError(errno.ENOENT)
        inode = {DISK_NAME: DISK_INODE, CONTROL_NAME: CONTROL_INODE, b".": pyfuse3.ROOT_INODE}
        if name not in inode:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attr(inode[name])

    async def getattr(self, inode: int, ctx: Any = None) -> Any:
        return self._attr(inode)

    async def setattr(self, inode: int, attr: Any, fields: Any, fh: Any, ctx: Any) -> Any:
        # "echo fail > control" opens with O_TRUNC; the size of the control file is synthetic,
        # so truncation is accepted and ignored. The image never changes size.
        return self._attr(inode)

    async def opendir(self, inode: int, ctx: Any) -> int:
        if inode != pyfuse3.ROOT_INODE:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        entries = [(DISK_NAME, DISK_INODE), (CONTROL_NAME, CONTROL_INODE)]
        for index, (name, inode) in enumerate(entries[start_id:], start=start_id + 1):
            if not pyfuse3.readdir_reply(token, name, self._attr(inode), index):
                return

    async def open(self, inode: int, flags: int, ctx: Any) -> Any:
        if inode not in (DISK_INODE, CONTROL_INODE):
            raise pyfuse3.FUSEError(errno.EISDIR)
        # direct_io: no FUSE page cache, so every loop request is seen (and can fail) here.
        return pyfuse3.FileInfo(fh=inode, direct_io=True, keep_cache=False)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        if fh == CONTROL_INODE:
            return self._control_text()[off : off + size]
        self.counters["reads"] += 1
        if self._fails("read"):
            self.counters["failed_reads"] += 1
            raise pyfuse3.FUSEError(errno.EIO)
        return os.pread(self.backing_fd, size, off)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        if fh == CONTROL_INODE:
            word = buf.decode(errors="replace").strip()
            if word not in MODES:
                raise pyfuse3.FUSEError(errno.EINVAL)
            self.mode = word
            print(f"fuse_eio: mode={word}", file=sys.stderr, flush=True)
            return len(buf)
        self.counters["writes"] += 1
        if self._fails("write"):
            self.counters["failed_writes"] += 1
            raise pyfuse3.FUSEError(errno.EIO)
        return os.pwrite(self.backing_fd, buf, off)

    async def fsync(self, fh: int, datasync: bool) -> None:
        # A loop device turns REQ_OP_FLUSH into vfs_fsync() on the backing file. Failing it too
        # makes a "dead disk" complete; not syncing the backing file when healthy keeps tests
        # fast (the data is throwaway).
        if fh == DISK_INODE and self._fails("write"):
            raise pyfuse3.FUSEError(errno.EIO)

    async def flush(self, fh: int) -> None:
        return None

    async def release(self, fh: int) -> None:
        return None

    async def releasedir(self, fh: int) -> None:
        return None

    async def statfs(self, ctx: Any) -> Any:
        st = pyfuse3.StatvfsData()
        st.f_bsize = st.f_frsize = 4096
        st.f_blocks = os.fstat(self.backing_fd).st_size // 4096
        st.f_namemax = 255
        return st


async def _serve() -> None:
    async with trio.open_nursery() as nursery:

        async def serve_then_stop() -> None:
            # pyfuse3.main() returns once the mount is gone (the parent ran umount).
            await pyfuse3.main()
            nursery.cancel_scope.cancel()

        nursery.start_soon(serve_then_stop)

        async def stop_on_signal() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(stop_on_signal)
        print("ready", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    backing, mountpoint = argv[1], argv[2]
    options = set(pyfuse3.default_options)
    options.discard("default_permissions")
    options |= {"fsname=rowatch-eio", "subtype=rowatch-eio"}
    pyfuse3.init(EioFs(backing), mountpoint, options)
    try:
        trio.run(_serve)
    finally:
        # unmount=True detaches the mount if nobody did it already (the parent normally does).
        pyfuse3.close(unmount=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
