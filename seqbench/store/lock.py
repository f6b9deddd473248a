"""One writer per run directory: an advisory ``flock`` on ``RUN_DIR/.lock``.

A second ``seqbench run --resume`` of a folder that a live process is writing is refused,
so no trial is run twice and no row is written twice. The kernel drops the lock when its
holder exits, killed or not: a stale lock never blocks a resume.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from seqbench.errors import UsageError

LOCK_FILE = ".lock"


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one writer is the user's promise
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot write in run directory {self.path.parent}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(f"run directory {self.path.parent} is in use by another seqbench process "
                             f"(pid {holder}); wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None
