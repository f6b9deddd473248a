"""Measuring time and memory honestly: warm-up, repeats, medians, CUDA synchronization."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

PROC_STATUS = "/proc/self/status"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], Any], device: torch.device, warmup: int = 2, repeats: int = 5,
                   min_time: float = 0.2, max_repeats: int = 100) -> tuple[float, float]:
    """Median wall time of ``fn()`` and the IQR relative to it, over at least ``repeats``
    calls after ``warmup`` calls, repeating until ``min_time`` seconds are measured."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < repeats or (sum(times) < min_time and len(times) < max_repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), relative_iqr(times)


def relative_iqr(times: list[float]) -> float:
    """Interquartile range over median (torch.utils.benchmark warns above 10 %)."""
    if len(times) < 4:
        return float("nan")
    q1, _, q3 = statistics.quantiles(times, n=4)
    return (q3 - q1) / statistics.median(times)


class StepTimer:
    """Per-step durations without a host sync per step: CUDA events on GPU, perf_counter on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._events: list[tuple[Any, Any]] = []
        self._seconds: list[float] = []
        self._start: Any = None

    def start(self) -> None:
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._start = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._events.append((self._start, end))
        else:
            self._seconds.append(time.perf_counter() - self._start)

    def seconds(self) -> list[float]:
        if self.cuda and self._events:
            torch.cuda.synchronize()
            self._seconds.extend(s.elapsed_time(e) / 1000.0 for s, e in self._events)
            self._events.clear()
        return list(self._seconds)


def median_after_warmup(times: list[float], warmup: int = 5) -> tuple[float, float]:
    """Median and relative IQR of ``times`` without the first ``warmup`` entries (fewer when
    the run is short)."""
    if not times:
        return float("nan"), float("nan")
    kept = times[min(warmup, len(times) // 2):]
    return statistics.median(kept), relative_iqr(kept)


class PeakMemory:
    """Peak memory during a block of work.

    On CUDA: ``torch.cuda.max_memory_allocated`` (tensors only, allocator cache excluded).
    On CPU (Linux): growth of the process's resident-set high-water mark since ``start()``
    (VmHWM, reset through /proc/self/clear_refs): everything the process touched, tensors,
    allocator slack and Python objects alike. Memory the allocator already holds from earlier
    work is reused without growing the resident set, so with ``release=True`` free heap memory
    is first returned to the OS (glibc ``malloc_trim``) and the block's allocations count
    again. Elsewhere: not measured (NaN).
    """

    def __init__(self, device: torch.device, release: bool = False) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_rss_growth"
        self.release = release  # on CPU, hand free heap memory back to the OS before measuring
        self._base = 0.0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = 0.0
            return
        if self.release:
            release_free_memory()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
            self._base = _proc_kb("VmRSS")
        except OSError:
            self.kind = "unavailable"

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.kind == "unavailable":
            return float("nan")
        return max(_proc_kb("VmHWM") - self._base, 0.0) / 1024


def _proc_kb(field: str) -> float:
    with open(PROC_STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise OSError(f"{field} not in {PROC_STATUS}")


def release_free_memory() -> bool:
    """Return the C heap's free memory to the OS (glibc ``malloc_trim(0)``); False where
    there is no glibc."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


def subnormals_flushed(elements: int = 1 << 20) -> float:
    """The fraction of ``x * 1`` over ``elements`` subnormal float32 inputs that comes out zero,
    computed by torch's threads as it splits the work: 1.0 when all of them flush subnormals
    (``torch.set_flush_denormal``), 0.0 when none does."""
    import numpy as np

    x = torch.from_numpy(np.full(elements, 1e-39, dtype=np.float32))  # numpy: no torch op can flush it first
    return float((x * 1.0 == 0).float().mean())
