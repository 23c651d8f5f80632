"""Opening what ``rowatch replay`` reads: files, stdin, compressed logs.

This is the I/O edge in front of the pure parsers of :mod:`rowatch.formats`. Compression is
recognised by its magic bytes, not the file name (logrotate's ``.1`` files may be compressed
or not, and stdin has no name), and read transparently. Every failure to read, including
corrupt compressed data met halfway through, surfaces as :class:`InputError` with a message
fit for the command line.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
import zlib
from typing import TYPE_CHECKING, BinaryIO, cast

from rowatch.formats import Format, detect_format

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: Bytes :func:`peek_sample` reads to guess a format: enough for dozens of lines.
SAMPLE_BYTES = 64 * 1024
_SAMPLE_LINES = 32
_BUFFER_BYTES = 1024 * 1024

# Magic numbers: RFC 1952 (gzip), the .xz file format spec, bzip2's "BZh" + block size.
_GZIP = b"\x1f\x8b"
_XZ = b"\xfd7zXZ\x00"
_BZIP2 = (b"BZh1", b"BZh2", b"BZh3", b"BZh4", b"BZh5", b"BZh6", b"BZh7", b"BZh8", b"BZh9")
_ZSTD = b"\x28\xb5\x2f\xfd"
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)


class InputError(Exception):
    """An input cannot be read; the message names it and says why."""


def open_input(path: str) -> BinaryIO:
    """Open ``path`` (``-`` for stdin) for binary reading, decompressing gzip, xz and bzip2.

    Raises :class:`InputError` if the file is missing, unreadable, a directory, or
    compressed with something rowatch cannot read (zstd). Reads from the returned stream
    raise :class:`InputError` too, never ``OSError`` or a decompressor's own error.
    """
    name = "<stdin>" if path == "-" else path
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - the caller owns and closes the stream
        except FileNotFoundError:
            raise InputError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{name}: is a directory, not a log file") from None
        except PermissionError:
            raise InputError(f"{name}: permission denied (try sudo, or the adm group)") from None
        except OSError as error:
            raise InputError(f"{name}: cannot open: {error.strerror or error}") from None
    guarded = _Reader(raw, name, kind="data")
    magic = guarded.peek_bytes(6)
    if magic.startswith(_GZIP):
        decompressed: BinaryIO = cast(BinaryIO, gzip.GzipFile(fileobj=_buffered(guarded)))
        kind = "gzip"
    elif magic.startswith(_XZ):
        decompressed = cast(BinaryIO, lzma.LZMAFile(_buffered(guarded)))  # noqa: SIM115
        kind = "xz"
    elif magic.startswith(_BZIP2):
        decompressed = cast(BinaryIO, bz2.BZ2File(_buffered(guarded)))
        kind = "bzip2"
    elif magic.startswith(_ZSTD):
        guarded.close()
        raise InputError(
            f"{name}: zstd-compressed input is not supported; "
            f"decompress it first (zstd -dc {path} | rowatch replay -)"
        )
    else:
        return _buffered(guarded)
    return _buffered(_Reader(decompressed, name, kind=kind))


def peek_sample(stream: BinaryIO, size: int = SAMPLE_BYTES) -> tuple[bytes, BinaryIO]:
    """Read a sample from the start of ``stream``, and a stream that still starts there.

    Works on pipes: the sample is replayed from memory, nothing is seeked. Reading stops at
    ``size`` bytes, at the end of the input, or once the sample holds enough whole lines,
    so a slow writer on a pipe is not waited for longer than needed.
    """
    read1 = getattr(stream, "read1", None)
    parts: list[bytes] = []
    total = lines = 0
    while total < size and lines < _SAMPLE_LINES:
        part = read1(size - total) if callable(read1) else stream.read(size - total)
        if not part:
            break
        parts.append(part)
        total += len(part)
        lines += part.count(b"\n")
    sample = b"".join(parts)
    return sample, _buffered(_Reader(stream, getattr(stream, "name", "<input>"), prefix=sample))


def open_detected(path: str, fmt: Format | None = None) -> tuple[BinaryIO, Format]:
    """Open ``path`` like :func:`open_input` and detect its format unless ``fmt`` is given."""
    stream = open_input(path)
    if fmt is not None:
        return stream, fmt
    sample, stream = peek_sample(stream)
    return stream, detect_format(sample)


class _Reader(io.RawIOBase):
    """A raw stream over another: replays ``prefix`` first, turns read errors into InputError."""

    def __init__(
        self, inner: BinaryIO, name: str, *, kind: str = "data", prefix: bytes = b""
    ) -> None:
        super().__init__()
        self._inner = inner
        self._name = str(name)
        self._kind = kind
        self._prefix = prefix

    @property
    def name(self) -> str:
        """The input's name as the user gave it."""
        return self._name

    def readable(self) -> bool:
        """Always: this is an input."""
        return True

    def peek_bytes(self, count: int) -> bytes:
        """The next ``count`` bytes (fewer at the end), left to be read again."""
        while len(self._prefix) < count:
            part = self._read_inner(count - len(self._prefix))
            if not part:
                break
            self._prefix += part
        return self._prefix[:count]

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        """Fill ``buffer`` from the prefix, then from the inner stream."""
        view = memoryview(buffer).cast("B")
        if self._prefix:
            count = min(len(view), len(self._prefix))
            view[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        data = self._read_inner(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close this stream and the one it reads."""
        if not self.closed:
            try:
                if self._inner is not sys.stdin.buffer:
                    self._inner.close()
            finally:
                super().close()

    def _read_inner(self, count: int) -> bytes:
        try:
            read1 = getattr(self._inner, "read1", None)
            data = read1(count) if callable(read1) else self._inner.read(count)
        except _DECOMPRESS_ERRORS as error:
            if self._kind == "data":
                raise InputError(f"{self._name}: read error: {error}") from None
            message = f"corrupt or truncated {self._kind} data: {error}"
            raise InputError(f"{self._name}: {message}") from None
        return data or b""


def _buffered(raw: _Reader) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(raw, buffer_size=_BUFFER_BYTES))
