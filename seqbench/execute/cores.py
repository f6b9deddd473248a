"""How many cores this process may use, how to share them between worker processes, and
whether something else is already using them."""
from __future__ import annotations

import os
import time
from typing import Any, Optional

from seqbench.errors import UsageError


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_jobs(value: Any) -> int:
    """``--jobs``: a positive integer, or ``auto`` (as many as the cores allow, one thread each)."""
    if value is None:
        return 1
    if str(value).strip().lower() == "auto":
        return available_cores()
    try:
        jobs = int(str(value))
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UsageError(f"--jobs must be a positive integer or 'auto', got {value!r}")
    return jobs


def threads_per_job(jobs: int, threads: Optional[int] = None) -> int:
    """Torch threads per trial: ``cores // jobs`` (at least 1) unless given; N × threads never
    exceeds the cores when they are shared out this way (oversubscribed, every trial slows
    several-fold: two 2-thread trials on 2 cores each ran 6× slower than alone)."""
    if threads is not None:
        if int(threads) < 1:
            raise UsageError(f"--threads must be a positive integer, got {threads!r}")
        return int(threads)
    return max(1, available_cores() // max(1, jobs))


def busy_cores(sample_s: float = 0.25) -> Optional[float]:
    """Cores kept busy by other processes over a short sample (Linux ``/proc/stat``, this
    process's own CPU time taken out); None where it cannot be told."""
    def read() -> Optional[tuple[int, int]]:
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]) - idle, sum(fields[:8])

    first, own = read(), os.times()
    if first is None:
        return None
    time.sleep(sample_s)
    second, own_after = read(), os.times()
    if second is None or second[1] == first[1]:
        return None
    cores = os.cpu_count() or 1
    busy = (second[0] - first[0]) / (second[1] - first[1]) * cores
    mine = (own_after.user + own_after.system - own.user - own.system) / sample_s
    return max(0.0, busy - mine)
