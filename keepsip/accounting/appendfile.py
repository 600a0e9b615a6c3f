"""
A file that only ever ends with whole records: the accounting file of the
C{jsonl} backend and each spool write through L{AppendFile}.

A write that fails part-way (the disk filled up: C{ENOSPC}, a quota:
C{EDQUOT}, an I/O error) leaves part of a record at the end of the file. A
buffered Python file would also keep the rest in its buffer and write it
with the next record, and a retry would append the whole record after the
torn part: one corrupt line either way. L{AppendFile} writes without a
buffer, and on a failed write truncates the file back to where that write
began before raising (truncating frees space, so it works on a full disk).
If even that fails, the handle is closed and the torn tail is cut when the
file is next opened (as after a crash mid-write): L{AppendFile.open} cuts
everything after the last newline.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from keepsip.logs import Logger

_log = Logger()

#: C{write(fd, data) -> count}: L{os.write}, or a test's writer that fails.
Writer = Callable[[int, memoryview], int]

_CHUNK = 65536


def lastNewlineEnd(fd: int, size: int) -> int:
    """
    The offset just after the last C{\\n} in the first C{size} octets of
    C{fd}, or 0 if there is none.
    """
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        chunk = os.pread(fd, end - start, start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


class AppendFile:
    """
    A file opened for appending whole newline-terminated records.

    @ivar path: the file.
    @ivar size: its size after the last whole write (where the next begins).
    @ivar repaired: torn octets cut by L{open} so far.
    """

    def __init__(self, path: str, write: Writer | None = None) -> None:
        """
        @param write: writes some octets to a descriptor (L{os.write} by
            default), so tests can make the disk fill up after N octets.
        """
        self.path = path
        self._write: Writer = write if write is not None else os.write
        self._fd: int | None = None
        self.size = 0
        self.repaired = 0

    @property
    def isOpen(self) -> bool:
        return self._fd is not None

    def open(self) -> None:
        """
        Open (creating) the file for appending, if not open yet, and cut a
        torn last line (anything after the last newline).

        @raise OSError: if it cannot be opened (or a torn tail not cut).
        """
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                readable = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    whole = lastNewlineEnd(readable, size)
                finally:
                    os.close(readable)
                if whole < size:
                    os.ftruncate(fd, whole)
                    self.repaired += size - whole
                    _log.warn(
                        "Cut {octets} octets of a torn record at the end of {path}",
                        octets=size - whole,
                        path=self.path,
                    )
                    size = whole
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self.size = size

    def append(self, data: bytes) -> None:
        """
        Write all of C{data} at the end, or nothing.

        @raise OSError: if it could not all be written; the file is then cut
            back to its size before this call (or, if that fails too, closed,
            so the next L{open} cuts it).
        """
        self.open()
        fd = self._fd
        assert fd is not None
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                done += self._write(fd, view[done:])
        except OSError:
            if done:
                try:
                    os.ftruncate(fd, self.size)
                except OSError:
                    self.close()
            raise
        self.size += len(view)

    def truncate(self, size: int) -> None:
        """
        Cut the file to C{size} octets (at a record boundary).
        """
        self.open()
        assert self._fd is not None
        os.ftruncate(self._fd, size)
        self.size = size

    def sync(self) -> None:
        """
        C{fsync} the file.

        @raise OSError: if that fails.
        """
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        """
        Close the file (L{open} or L{append} opens it again).
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
