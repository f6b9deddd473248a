"""An append-only CSV file: one row per line, O(1) per append, crash-safe.

Every row is encoded as exactly one line (newlines inside values become spaces) and written
with a single ``os.write`` on an ``O_APPEND`` descriptor, then ``fdatasync``-ed. A process
killed at any moment therefore leaves either the whole line or a torn last line without its
newline; readers drop such a tail and a writer reopening the file truncates it first. The
header is fixed when the file is created; a row with a new column (rare: a plugin metric
that appears mid-run) rewrites the file once, atomically.
"""
from __future__ import annotations

import csv
import errno
import io
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from seqbench.errors import StorageError


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.
    StorageError (one line) when it cannot be written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {_reason(exc)}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"{exc.strerror} (the disk or a file size limit is full)"
    return exc.strerror or str(exc)


def write_whole(fd: int, data: bytes) -> None:
    """Write ``data`` with one ``os.write`` (a line is whole, or torn only at the file's end); a
    short write is followed by another, which finishes it or raises the reason (ENOSPC, EFBIG)."""
    written = os.write(fd, data)
    while written < len(data):
        more = os.write(fd, data[written:])
        if more <= 0:
            raise OSError(errno.EIO, f"only {written} of {len(data)} bytes written")
        written += more


def encode(values: Iterable[Any]) -> str:
    """One CSV line, newline included; floats as ``repr`` (they round-trip exactly)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(v) for v in values])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return ""
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        return " ".join(value.split())  # one row, one line: a torn line is always the last one
    return value


def complete_text(path: Path) -> str:
    """The file's text up to its last newline: a torn last line (a writer killed mid-write) is
    left out."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8", errors="replace")


class RowLog:
    """Appends rows to one CSV file whose header is its first line."""

    def __init__(self, path: Path, columns: Optional[list[str]] = None) -> None:
        self.path = Path(path)
        self.columns: list[str] = list(columns or [])
        self.fd: Optional[int] = None

    def _open(self) -> int:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StorageError(f"cannot write {self.path}: {_reason(exc)}") from None
            if cut_torn_tail(self.fd, self.path) and not self.columns:  # a whole header line is left
                self.columns = next(csv.reader([complete_text(self.path).split("\n", 1)[0]]), [])
        return self.fd

    def append(self, row: Mapping[str, Any], rows_so_far: list[Mapping[str, Any]]) -> None:
        """Append ``row``; ``rows_so_far`` (every row before it) is only read when ``row``
        brings a column the header lacks and the file is rewritten."""
        fd = self._open()
        stat = os.fstat(fd)
        if stat.st_nlink == 0:  # unlinked under us: appending would write into nothing
            raise StorageError(f"{self.path} was deleted while the run was writing it")
        new = [k for k in row if k not in self.columns]
        if new and self.columns and stat.st_size:
            self.rewrite([*rows_so_far, row])
            return
        text = ""
        if new or not stat.st_size:
            self.columns += new
            text = encode(self.columns)
        data = (text + encode(row.get(c) for c in self.columns)).encode("utf-8")
        try:
            write_whole(fd, data)
            os.fdatasync(fd) if hasattr(os, "fdatasync") else os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, stat.st_size)  # leave no torn line behind
            except OSError:
                pass
            raise StorageError(f"cannot write {self.path}: {_reason(exc)}") from None

    def rewrite(self, rows: list[Mapping[str, Any]]) -> None:
        """Replace the whole file atomically (a tuned run's ``selected`` column, a new column)."""
        columns: dict[str, None] = dict.fromkeys(self.columns)
        for r in rows:
            columns.update(dict.fromkeys(r))
        self.columns = list(columns)
        self.close()
        if not self.path.parent.is_dir():
            raise StorageError(f"run folder {self.path.parent} was deleted while the run was writing it")
        atomic_write_text(self.path, "".join([encode(self.columns), *(encode(r.get(c) for c in self.columns)
                                                                       for r in rows)]))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def torn_tail(path: Path) -> int:
    """The length in bytes of ``path``'s torn last line (0 when it ends with a newline)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - 65536))
            tail = f.read()
    except OSError:
        return 0
    if not tail or tail.endswith(b"\n"):
        return 0
    cut = tail.rfind(b"\n")
    if cut < 0 and size > 65536:  # a torn line longer than 64 KiB: find its start the slow way
        return size - (path.read_bytes().rfind(b"\n") + 1)
    return len(tail) - cut - 1


def cut_torn_tail(fd: int, path: Path) -> int:
    """Cut a torn last line off the file open for writing as ``fd``, before appending after it;
    returns the size left."""
    size = os.fstat(fd).st_size
    torn = torn_tail(path) if size else 0
    if torn:
        try:
            os.ftruncate(fd, size - torn)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {_reason(exc)}") from None
    return size - torn
