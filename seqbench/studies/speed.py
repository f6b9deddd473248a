"""``seqbench speed``: how fast each cell trains, infers and generates, what memory it takes,
how close it comes to the machine's matmul peak and how its cost grows with length.

``speed(...)`` is the Python API behind the command and returns one row per cell × length
as a pandas DataFrame (``frame.attrs["scaling"]``: one row per cell with the fitted
exponents). (This module is not called ``speed.py``: importing a submodule
``seqbench.speed`` would replace the function ``seqbench.speed``.)

Each cell is measured alone, as registered: input of width ``hidden`` (random normal, fixed),
no embedding and no head, training loss the mean square of its output. Per length T:

- training: forward, backward and an Adam step on a (batch, T, hidden) input;
- inference: a forward pass over the whole sequence under ``torch.inference_mode``;
- generation: after a prompt of length T, ``gen_steps`` steps of one token each, every
  output fed back as the next input, the state carried (the Transformer's key/value cache);
- peak memory of a training step and of an inference pass (see ``PEAK_KINDS``);
- forward FLOPs per token (``seqbench.models.flops``) and the GFLOP/s achieved, next to a matmul
  of the cell's shape timed in the same run (``flops.probe_shape``): the "% of peak".

Every timing is a median over at least ``repeats`` calls after ``warmup`` calls (and at least
``min_time`` seconds in all), with its interquartile range; CUDA is synchronized around each
call. Rows are written to ``<out>/<run-id>/speed.csv`` as each finishes, with
``environment.json`` and ``config.json``; ``scaling.csv`` holds the exponents. A trial that
runs out of memory gets the status ``out of memory: …`` with a smaller size to try, and the
others go on.
"""
from __future__ import annotations

import gc
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional, Union

from seqbench.spec.config import parse_int_list, parse_names, positive_float, positive_int, resolve_device
from seqbench.errors import UsageError
from seqbench.plugins.registry import Entry, Registry
from seqbench.store import SCALING_CSV, SPEED_CSV

DEFAULT_LENGTHS = (64, 256, 1024, 4096)
DEFAULT_BATCH = 32
DEFAULT_HIDDEN = 128
DTYPES = ("float32", "bfloat16")
PEAK_KINDS = {
    "cuda_max_allocated": "torch.cuda.max_memory_allocated during the step: every tensor on the GPU "
                          "(parameters, Adam state, input, activations, gradients), allocator cache excluded",
    "cpu_rss_growth+state": "bytes of the parameters, Adam state and input, plus the growth of the "
                            "process's peak resident set during the step after free heap memory was "
                            "returned to the OS (activations, gradients, temporaries and allocator slack)",
    "unavailable": "not measured on this platform",
}
COLUMNS = ("cell", "length", "batch", "hidden", "layers", "params", "state_floats", "device", "dtype", "threads",
           "train_tok_s", "train_iqr", "infer_tok_s", "infer_iqr", "gen_ms_per_tok", "gen_iqr",
           "train_peak_mb", "infer_peak_mb", "peak_mem_kind", "flops_per_tok", "train_gflops",
           "infer_gflops", "peak_gflops", "probe_shape", "train_pct_peak", "infer_pct_peak",
           "wall_s", "status")


@dataclass
class SpeedConfig:
    """What a speed run measures (after validation)."""

    cells: list[str]
    lengths: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTHS))
    batch: int = DEFAULT_BATCH
    hidden: Optional[int] = None  # DEFAULT_HIDDEN unless a parameter budget is given
    params: Optional[int] = None  # parameter budget of the cell alone
    layers: int = 1
    device: str = "auto"
    dtype: str = "float32"
    repeats: int = 5
    warmup: int = 2
    min_time: float = 0.2
    gen_steps: int = 16
    cell_params: dict = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from seqbench.spec.sizes import parse_params

        self.lengths = parse_int_list("lengths", self.lengths)
        for name in ("batch", "layers", "repeats", "gen_steps"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        self.warmup = positive_int("warmup", self.warmup + 1) - 1  # zero allowed
        self.min_time = positive_float("min_time", self.min_time, allow_zero=True)
        self.params = parse_params(self.params)
        if self.hidden is not None and self.params is not None:
            raise UsageError("give either --hidden or --params, not both")
        if self.hidden is not None:
            self.hidden = positive_int("hidden", self.hidden)
        elif self.params is None:
            self.hidden = DEFAULT_HIDDEN
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype '{self.dtype}'; use one of {', '.join(DTYPES)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UsageError(f"unknown device '{self.device}'; use one of auto, cpu, cuda")


# --------------------------------------------------------------------------- the Python API


def speed(cells: Union[str, Iterable[str], None] = None, lengths: Union[str, Iterable[int], None] = None, *,
          out: Any = "results", plugins: Iterable[str] = (), registry: Optional[Registry] = None,
          run_id: Optional[str] = None, progress: bool = False, **options: Any) -> Any:
    """Measure cells × lengths; one row per pair as a DataFrame (the columns of speed.csv).

    ``options`` are the fields of ``SpeedConfig``: ``batch`` (32), ``hidden`` (128) or
    ``params`` (a parameter budget for the cell alone, e.g. ``"100k"``), ``layers``,
    ``device`` (auto, cpu, cuda), ``dtype`` (float32, bfloat16), ``repeats``, ``warmup``,
    ``min_time``, ``gen_steps`` and ``cell_params`` ({cell: {param: value}}). Without
    ``cells``: the registry's default cells (the ``*-ref`` reference cells aside; name them
    to put them beside their fused twins). ``frame.attrs`` holds ``run_dir``, ``scaling``
    (exponents per cell) and ``notes``. Raises UsageError on bad input, before any
    measurement, and KeyboardInterrupt (rows saved) on Ctrl-C.
    """
    import pandas as pd

    from seqbench.runs.environment import collect
    from seqbench.train.progress import speed_line
    from seqbench.store import CONFIG_JSON, ENVIRONMENT_JSON, RunDir, atomic_write_text
    from seqbench.plugins.factories import check_params

    registry = registry or Registry(plugins)
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(SpeedConfig.__dataclass_fields__) - {"cells"})
    if unknown:
        raise UsageError(f"unknown speed option(s): {', '.join(unknown)}")
    names = registry.select_cells(parse_names(cells, "cells"))
    for name in names:
        registry.get("cell", name)  # unknown → UsageError with a suggestion
    names = order_cells(names, registry)
    if lengths is not None:
        options["lengths"] = lengths.split(",") if isinstance(lengths, str) else list(lengths)
    config = SpeedConfig(cells=names, plugins=list(plugins), **options)
    for name in config.cell_params:
        if name not in names:
            raise UsageError(f"options given for cell '{name}', which is not in this run")
    for name in names:
        check_params(registry.get("cell", name), config.cell_params.get(name, {}), skip=4)
    device = resolve_device(config.device)
    notes = check_dtype(config.dtype, device)
    widths = {name: config.hidden or match_width(registry.get("cell", name), config.params, config.layers,
                                                  config.cell_params.get(name, {})) for name in names}
    check_memory(config, widths, registry, device)

    rundir = RunDir.create(out, run_id)
    rundir.write_json(CONFIG_JSON, {"command": "speed", "config": asdict(config), "hidden": widths,
                                    "notes": notes, "peak_mem_kinds": PEAK_KINDS})
    plugin_versions = {name: info.version for name, info in registry.plugins.items()}
    rundir.write_json(ENVIRONMENT_JSON, collect(device, plugin_versions))
    probes: dict[tuple, float] = {}
    interrupted = False
    try:
        for length in config.lengths:  # lengths outermost: Ctrl-C keeps complete comparisons
            for name in names:
                row = measure(registry.get("cell", name), length, widths[name], config, device, probes)
                rundir.append(row, SPEED_CSV)
                if progress:
                    print(speed_line(row), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
    frame = pd.DataFrame(rundir.rows, columns=COLUMNS)
    scaling = scaling_frame(frame)
    if rundir.rows:
        atomic_write_text(rundir.path / SCALING_CSV, scaling.to_csv(index=False))
    frame.attrs.update(run_dir=str(rundir.path), scaling=scaling, notes=notes)
    if interrupted:
        raise KeyboardInterrupt(str(rundir.path))
    return frame


def order_cells(names: list[str], registry: Registry) -> list[str]:
    """``names`` with each ``*-ref`` cell moved right after its fused twin when both are named."""
    twin = {n: registry.cells[n].extra.get("fused_twin") for n in names}
    ordered: list[str] = []
    for name in names:
        if twin[name] in names or name in ordered:
            continue
        ordered += [name] + [ref for ref in names if twin[ref] == name]
    return ordered


# --------------------------------------------------------------------------- checks before measuring


def check_dtype(dtype: str, device: str) -> list[str]:
    """UsageError when ``device`` cannot run ``dtype``; returns notes worth printing."""
    if dtype != "bfloat16":
        return []
    ok, reason = bf16_supported(device)
    if not ok:
        raise UsageError(f"--dtype bfloat16 is not supported on {device}: {reason}; use --dtype float32")
    if device == "cpu" and not cpu_has_native_bf16():
        return ["bfloat16 runs without native instructions on this CPU (no avx512_bf16 or amx_bf16 flag): "
                "expect it to be slower than float32"]
    return []


def bf16_supported(device: str) -> tuple[bool, str]:
    """Whether torch can run bfloat16 matmuls and an LSTM (forward and backward) on ``device``."""
    import torch

    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return True, ""
        return False, f"{torch.cuda.get_device_name()} has no bfloat16 support (torch.cuda.is_bf16_supported())"
    try:
        a = torch.randn(4, 4, dtype=torch.bfloat16, requires_grad=True)
        lstm = torch.nn.LSTM(4, 4, batch_first=True).to(torch.bfloat16)
        y, _ = lstm((a @ a).unsqueeze(0))
        y.float().sum().backward()
    except Exception as exc:  # noqa: BLE001 - any failure means "not supported here"
        return False, f"torch {torch.__version__} failed a bfloat16 test ({type(exc).__name__}: {exc})"
    return True, ""


def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def estimate_train_bytes(entry: Entry, batch: int, length: int, hidden: int, layers: int, element: int) -> int:
    """A lower bound of the memory a training step needs: input, output and the activations
    kept for backward (``KEPT_PER_UNIT``; 2 for a plugin cell)."""
    from seqbench.models.flops import builtin_name
    from seqbench.models.memory import PLUGIN_KEPT, KEPT_PER_UNIT, activation_bytes

    kept = KEPT_PER_UNIT.get(builtin_name(entry) or "", PLUGIN_KEPT)
    return activation_bytes(kept, batch, length, hidden, layers, element)


def available_bytes(device: str) -> Optional[int]:
    """Free memory on ``device`` (MemAvailable on a Linux CPU), or None when unknown."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(config: SpeedConfig, widths: dict[str, int], registry: Registry, device: str) -> None:
    """UsageError, with a size that would fit, when a cell × length obviously cannot fit."""
    free = available_bytes(device)
    if free is None:
        return
    element = 2 if config.dtype == "bfloat16" else 4
    for length in config.lengths:
        for name in config.cells:
            need = estimate_train_bytes(registry.get("cell", name), config.batch, length, widths[name],
                                        config.layers, element)
            if need <= free:
                continue
            fit_length, fit_batch = length * free // need, config.batch * free // need
            hints = [f"--lengths {fit_length:,} or less" if fit_length >= 1 else "a smaller --hidden"]
            if fit_batch >= 1:
                hints.append(f"--batch {fit_batch:,} or less")
            raise UsageError(f"cell '{name}' at T={length:,}, batch {config.batch:,}, hidden {widths[name]:,} needs at "
                             f"least {_gb(need)} to train (input, output and activations kept for backward), more "
                             f"than the {_gb(free)} of {device} memory available; try {' or '.join(hints)}")


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"


def match_width(entry: Entry, budget: int, layers: int, params: dict) -> int:
    """The hidden size whose cell alone (input width = hidden) has the parameter count closest
    to ``budget`` (``budget.solve_width``); UsageError when none is within its tolerance."""
    from seqbench.models.budget import solve_width

    hidden, _ = solve_width(entry.name, lambda h: cell_param_count(entry, h, layers, params), budget)
    return hidden


def cell_param_count(entry: Entry, hidden: int, layers: int, params: dict) -> Optional[int]:
    """Parameters of the cell alone at width ``hidden`` (None where it rejects that width)."""
    from seqbench.models.budget import count_built

    return count_built(lambda: build_cell(entry, hidden, layers, params))


def build_cell(entry: Entry, hidden: int, layers: int, params: Optional[dict] = None) -> Any:
    """The cell alone, as speed measures it: input width = hidden, no dropout."""
    from seqbench.models.model import build_cell as build

    return build(entry, hidden, hidden, layers, 0.0, params)


# --------------------------------------------------------------------------- one cell × length


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, MemoryError) or isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "not enough memory", "DefaultCPUAllocator", "Cannot allocate memory"))


def measure(entry: Entry, length: int, hidden: int, config: SpeedConfig, device: str,
            probes: dict[tuple, float]) -> dict[str, Any]:
    """Every measurement of one cell at one length; always returns its row."""
    import torch

    from seqbench.models import flops

    started = time.perf_counter()
    dev, dtype = torch.device(device), getattr(torch, config.dtype)
    B, T, L = config.batch, length, config.layers
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(cell=entry.name, length=T, batch=B, hidden=hidden, layers=L, device=device, dtype=config.dtype,
               threads=torch.get_num_threads(), status="ok")
    timing = dict(device=dev, warmup=config.warmup, repeats=config.repeats, min_time=config.min_time)
    cell_opts = config.cell_params.get(entry.name, {})
    cell = x = None
    try:
        fpt = flops.flops_per_token(entry, hidden, L, T, hidden, cell_opts)
        row["flops_per_tok"] = fpt
        m, k, n = flops.probe_shape(entry, B, hidden, T)
        row["probe_shape"] = f"{m}x{k}x{n}"
        if (m, k, n, config.dtype) not in probes:
            probes[m, k, n, config.dtype] = matmul_peak_gflops(m, k, n, dev, dtype, config.min_time)
        row["peak_gflops"] = probes[m, k, n, config.dtype]

        torch.manual_seed(0)
        from seqbench.models.state import measure_state

        cell = build_cell(entry, hidden, L, cell_opts).to(device=dev, dtype=dtype)
        row["params"] = sum(p.numel() for p in cell.parameters())
        if math.isnan(fpt):
            fpt = row["flops_per_tok"] = flops.flops_per_token(entry, hidden, L, T, hidden, cell_opts, cell)
        x = torch.randn(B, T, hidden, device=dev, dtype=dtype)
        check_output(entry, cell, x[:, :2], hidden)
        row["state_floats"] = measure_state(cell, hidden, T)
        time_training(cell, x, row, timing)
        time_inference(cell, x, row, timing)
        time_generation(cell, x, row, timing, config)

        peak = row["peak_gflops"]
        row["train_gflops"] = flops.TRAIN_FACTOR * fpt * row["train_tok_s"] / 1e9
        row["infer_gflops"] = fpt * row["infer_tok_s"] / 1e9
        row["train_pct_peak"] = 100 * row["train_gflops"] / peak if peak else math.nan
        row["infer_pct_peak"] = 100 * row["infer_gflops"] / peak if peak else math.nan
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - isolate the trial; the others go on
        row["status"] = failure_status(exc, B, T)
    finally:
        del cell, x
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    row["wall_s"] = time.perf_counter() - started
    return row


def time_training(cell: Any, x: Any, row: dict[str, Any], timing: dict[str, Any]) -> None:
    """``train_tok_s``, ``train_iqr``, ``train_peak_mb`` and ``peak_mem_kind``: forward, backward
    and an Adam step on ``x`` (the optimizer and its state are gone when this returns)."""
    import torch

    from seqbench.train.measure import median_seconds

    optimizer = torch.optim.Adam(cell.parameters(), lr=1e-4)
    cell.train()

    def train_step() -> None:
        y, _ = cell(x)
        loss = y.float().square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds, row["train_iqr"] = median_seconds(train_step, **timing)
    row["train_tok_s"] = x.shape[0] * x.shape[1] / seconds
    row["train_peak_mb"], row["peak_mem_kind"] = peak_mb(train_step, timing["device"], [x, *cell.parameters()],
                                                         optimizer)
    optimizer.zero_grad(set_to_none=True)


def time_inference(cell: Any, x: Any, row: dict[str, Any], timing: dict[str, Any]) -> None:
    """``infer_tok_s``, ``infer_iqr`` and ``infer_peak_mb``: a forward pass over all of ``x``."""
    import torch

    from seqbench.train.measure import median_seconds

    cell.eval()

    def infer() -> None:
        with torch.inference_mode():
            cell(x)

    seconds, row["infer_iqr"] = median_seconds(infer, **timing)
    row["infer_tok_s"] = x.shape[0] * x.shape[1] / seconds
    row["infer_peak_mb"], _ = peak_mb(infer, timing["device"], [x, *cell.parameters()])


def time_generation(cell: Any, x: Any, row: dict[str, Any], timing: dict[str, Any], config: SpeedConfig) -> None:
    """``gen_ms_per_tok`` and ``gen_iqr``: after the prompt ``x``, ``gen_steps`` steps of one token
    each, every output fed back as the next input, the state carried."""
    import torch

    from seqbench.train.measure import median_seconds

    with torch.inference_mode():
        y, state = cell(x)  # the prompt: T tokens, then generate from its state
        first = y[:, -1:].clone()

        def generate() -> None:
            xt, s = first, state
            for _ in range(config.gen_steps):
                xt, s = cell(xt, s)

        seconds, row["gen_iqr"] = median_seconds(generate, **{**timing, "warmup": min(config.warmup, 1)})
    row["gen_ms_per_tok"] = 1000 * seconds / config.gen_steps


def failure_status(exc: BaseException, batch: int, length: int) -> str:
    """The status of a trial that raised ``exc``: out of memory (with a smaller size to try) or the error."""
    if is_out_of_memory(exc):
        hints = (([f"--batch {batch // 2}"] if batch > 1 else [])
                 + ([f"--lengths {length // 2} or less"] if length > 1 else []))
        return f"out of memory at batch {batch}, T={length}: try {' or '.join(hints) or 'a smaller --hidden'}"
    return f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"[:300]


def check_output(entry: Entry, cell: Any, x: Any, hidden: int) -> None:
    """PluginError unless the cell maps (B, T, hidden) to ((B, T, hidden), state)."""
    import torch

    from seqbench.models.model import check_cell_output

    with torch.no_grad():
        check_cell_output(entry.name, entry.provider, x, cell(x), hidden)


def peak_mb(fn: Any, device: Any, tensors: list, optimizer: Any = None) -> tuple[float, str]:
    """Peak memory of one call of ``fn`` in MB and its kind (see ``PEAK_KINDS``)."""
    from seqbench.train.measure import PeakMemory, synchronize

    memory = PeakMemory(device, release=True)
    memory.start()
    fn()
    synchronize(device)
    peak = memory.peak_mb()
    if memory.kind != "cpu_rss_growth":
        return peak, memory.kind
    state = [t for s in (optimizer.state.values() if optimizer else []) for t in s.values() if hasattr(t, "numel")]
    resident = sum(t.numel() * t.element_size() for t in [*tensors, *state])
    return peak + resident / 2**20, "cpu_rss_growth+state"


def matmul_peak_gflops(m: int, k: int, n: int, device: Any, dtype: Any, min_time: float = 0.2) -> float:
    """GFLOP/s of back-to-back (m, k)×(k, n) matmuls into a preallocated output: the best a
    cell made of this matmul can do on this machine, in this run."""
    import torch

    from seqbench.train.measure import median_seconds

    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    c = torch.empty(m, n, device=device, dtype=dtype)
    flops = 2.0 * m * k * n
    calls = max(1, min(1000, int(2e8 // flops)))  # enough work per timed call to hide the timer

    def run() -> None:
        for _ in range(calls):
            torch.mm(a, b, out=c)

    seconds, _ = median_seconds(run, device, warmup=2, repeats=5, min_time=min_time)
    return calls * flops / seconds / 1e9


# --------------------------------------------------------------------------- scaling


def scaling_frame(frame: Any) -> Any:
    """Per cell, the exponent b of time ∝ T^b for a training step, an inference pass and a
    generated token (after a prompt of length T), fitted over every length (with R² and the
    standard error of b), and b between the two longest lengths."""
    import pandas as pd

    from seqbench.studies.scaling import fit_power_law, local_exponent

    records = []
    for cell, group in frame.groupby("cell", sort=False):
        ok = group[group["train_tok_s"].notna() | group["infer_tok_s"].notna()]
        lengths = ok["length"].astype(float).tolist()
        record: dict[str, Any] = {"cell": cell, "lengths": len(lengths)}
        times = {
            "train": (ok["batch"] * ok["length"] / ok["train_tok_s"]).tolist(),
            "infer": (ok["batch"] * ok["length"] / ok["infer_tok_s"]).tolist(),
            "gen": ok["gen_ms_per_tok"].astype(float).tolist(),
        }
        for what, values in times.items():
            fit = fit_power_law(lengths, values)
            record[f"{what}_exponent"], record[f"{what}_r2"] = fit.exponent, fit.r2
            record[f"{what}_stderr"] = fit.stderr
            record[f"{what}_exponent_longest"] = local_exponent(lengths, values)
        records.append(record)
    return pd.DataFrame(records)
