"""Run configuration and trial specs: plain, validated, JSON-serializable data.

A ``RunConfig`` is what the user asked for; ``RunConfig.trials()`` expands it into
``TrialSpec`` objects, one per cell × task × length × seed. A trial spec holds everything
needed to run that trial anywhere (another process, another machine), and its ``key``
identifies it in ``results.csv`` for --resume.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Optional, Union

from .errors import UsageError

DEFAULT_TASKS = ("adding",)
DEFAULT_LENGTHS = (50,)
DEFAULT_STEPS = 400  # used when neither --steps nor --budget is given
DEVICES = ("auto", "cpu", "cuda")

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)?\s*$")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_budget(value: Union[str, float, int, None]) -> Optional[float]:
    """'30s', '2m', '1.5h' or a number of seconds → seconds (positive)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _BUDGET.match(str(value))
        if not match:
            raise UsageError(f"malformed budget {value!r}: use a duration such as 30s, 2m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0 or math.isinf(seconds):
        raise UsageError(f"budget must be a positive duration, got {value!r}")
    return seconds


def parse_names(value: Union[str, Iterable[str], None]) -> Optional[list[str]]:
    """'lstm,gru' or ['lstm', 'gru'] → ['lstm', 'gru'] (order kept, duplicates dropped)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    if not names:
        raise UsageError(f"empty list {value!r}")
    return names


def positive_int(name: str, value: Any) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise UsageError(f"{name} must be a positive integer, got {value!r}") from None
    if isinstance(number, bool) or number < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return number


def positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(number) or math.isinf(number) or number < 0 or (number == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise UsageError(f"{name} must be a {bound} number, got {value!r}")
    return number


def parse_int_list(name: str, value: Union[str, Iterable[Any]]) -> list[int]:
    items = value.split(",") if isinstance(value, str) else list(value)
    numbers = [positive_int(name, item) for item in items if str(item).strip()]
    if not numbers:
        raise UsageError(f"{name} is empty")
    return list(dict.fromkeys(numbers))


@dataclass
class TrialSpec:
    """Everything one trial needs; plain data, so it can be saved, sent or resumed."""

    cell: str
    task: str
    length: int
    seed: int
    steps: Optional[int]
    budget_s: Optional[float]
    hidden: int
    layers: int
    batch: int
    lr: float
    dropout: float = 0.0
    clip: float = 1.0
    device: str = "cpu"
    eval_every: int = 100
    eval_examples: int = 1024
    log_every: int = 20
    task_params: dict = field(default_factory=dict)
    cell_params: dict = field(default_factory=dict)
    save: bool = False  # keep a checkpoint of the trained model (seqbench.checkpoint)
    flush_denormal: bool = True  # on CPU, subnormal floats are flushed to zero (runner.flush_subnormals)

    @property
    def key(self) -> str:
        """Identifies the trial within a run (results.csv column ``trial``)."""
        return f"{self.cell}|{self.task}|{self.length}|{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialSpec":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RunConfig:
    """What a run was asked to do (after validation)."""

    cells: list[str]
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    lengths: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTHS))
    seeds: int = 1
    steps: Optional[int] = None
    budget_s: Optional[float] = None
    hidden: int = 64
    layers: int = 1
    batch: int = 64
    lr: float = 3e-3
    params: Optional[int] = None  # parameter budget: each cell's width is solved to match it
    dropout: float = 0.0
    clip: float = 1.0
    device: str = "auto"
    eval_every: int = 100
    eval_examples: int = 1024
    task_params: dict = field(default_factory=dict)  # task name → {parameter: value}
    cell_params: dict = field(default_factory=dict)  # cell name → {parameter: value}
    plugins: list[str] = field(default_factory=list)
    save: bool = False  # a checkpoint per trial in the run directory's checkpoints/
    sample: int = 0  # characters sampled from each saved charlm checkpoint after the tables
    # On CPU, flush subnormal floats to zero (torch.set_flush_denormal, for the whole process): vanishing
    # gradients otherwise reach the subnormal range, where x86 arithmetic is up to ~100x slower, and the
    # vanilla RNN's measured speed drops several-fold for a reason that is not the cell's.
    flush_denormal: bool = True

    def __post_init__(self) -> None:
        self.cells = parse_names(self.cells) or []
        self.tasks = parse_names(self.tasks) or []
        self.lengths = parse_int_list("lengths", self.lengths)
        self.seeds = positive_int("seeds", self.seeds)
        if self.steps is not None:
            self.steps = positive_int("steps", self.steps)
        self.budget_s = parse_budget(self.budget_s)
        from .budget import parse_params

        self.params = parse_params(self.params)
        if self.steps is None and self.budget_s is None:
            self.steps = DEFAULT_STEPS
        for name in ("hidden", "layers", "batch", "eval_every", "eval_examples"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        self.lr = positive_float("lr", self.lr)
        self.clip = positive_float("clip", self.clip)
        self.dropout = positive_float("dropout", self.dropout, allow_zero=True)
        if self.dropout >= 1:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("save", "flush_denormal"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.sample, bool) or not isinstance(self.sample, int) or self.sample < 0:
            raise UsageError(f"sample must be a number of characters >= 0, got {self.sample!r}")
        if self.device not in DEVICES:
            raise UsageError(f"unknown device '{self.device}'; use one of {', '.join(DEVICES)}")

    def trials(self, device: str = "cpu", widths: Optional[dict] = None) -> list[TrialSpec]:
        """One spec per task × length × seed × cell, cells innermost so that an interrupted
        run still holds complete comparisons. ``widths`` maps (cell, task, length) to the
        hidden size solved for a parameter budget."""
        widths = widths or {}
        return [
            TrialSpec(cell=cell, task=task, length=length, seed=seed, steps=self.steps,
                      budget_s=self.budget_s, hidden=widths.get((cell, task, length), self.hidden), layers=self.layers,
                      batch=self.batch, lr=self.lr, dropout=self.dropout, clip=self.clip,
                      device=device, eval_every=self.eval_every, eval_examples=self.eval_examples,
                      task_params=dict(self.task_params.get(task, {})),
                      cell_params=dict(self.cell_params.get(cell, {})), save=self.save,
                      flush_denormal=self.flush_denormal)
            for task in self.tasks for length in self.lengths
            for seed in range(self.seeds) for cell in self.cells
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(f"unknown config key(s): {', '.join(unknown)}")
        return cls(**data)


def resolve_device(requested: str) -> str:
    """'auto' → 'cuda' when available, else 'cpu'; 'cuda' without CUDA is a usage error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda requested but CUDA is not available (torch "
                         f"{torch.__version__}); use --device cpu or install a CUDA build of torch")
    return requested


def parse_options(flag: str, items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """['copy.n_symbols=5', 'copy.alphabet=4'] → {'copy': {'n_symbols': 5, 'alphabet': 4}}.

    Values are read as int, float, true/false or else kept as strings.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        match = re.match(r"^\s*([\w.-]+?)\.(\w+)\s*=\s*(.*?)\s*$", item)
        if not match or not match.group(3):
            raise UsageError(f"{flag} takes NAME.PARAMETER=VALUE (e.g. {flag} copy.n_symbols=5), got {item!r}")
        name, key, raw = match.groups()
        out.setdefault(name, {})[key] = _literal(raw)
    return out


def _literal(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw
