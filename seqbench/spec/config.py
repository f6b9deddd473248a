"""Run configuration and trial specs: plain, validated, JSON-serializable data.

A ``RunConfig`` is what the user asked for; ``RunConfig.trials()`` expands it into
``TrialSpec`` objects, one per cell × task × length × seed. A trial spec holds everything
needed to run that trial anywhere (another process, another machine), and its ``key``
identifies it in ``results.csv`` for --resume.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Iterable, Optional, Union

from seqbench.errors import UsageError

DEFAULT_TASKS = ("adding",)
DEFAULT_LENGTHS = (50,)
DEFAULT_STEPS = 1500  # used when neither --steps nor --budget is given
# A plain ``seqbench run`` compares models of one size: each cell's width is solved for this
# parameter budget unless a hidden size or another budget is given.
DEFAULT_PARAMS = "20k"
DEVICES = ("auto", "cpu", "cuda")
BACKBONES = ("plain", "block")  # seqbench.models.backbone

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


def parse_names(value: Union[str, Iterable[str], None], what: str = "names") -> Optional[list[str]]:
    """'lstm,gru' or ['lstm', 'gru'] → ['lstm', 'gru'] (order kept, duplicates dropped)."""
    if value is None:
        return None
    items = _items(what, value)
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


_SEED_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_seeds(value: Any) -> Union[int, str]:
    """``--seeds``: a count (``3``: seeds 0, 1, 2) or an inclusive range (``"3-5"``: seeds 3, 4,
    5), so that a second run can use fresh seeds. A range from 0 is kept as its count (``"0-2"``
    → 3), so that both spellings of one run's seeds are equal (and --resume accepts either)."""
    if isinstance(value, str):
        match = _SEED_RANGE.match(value)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if first > last:
                raise UsageError(f"seeds range {value!r} runs backwards: use FIRST-LAST with FIRST <= LAST, e.g. 3-5")
            return last + 1 if first == 0 else f"{first}-{last}"
    try:
        return positive_int("seeds", value)
    except UsageError:
        raise UsageError(f"seeds must be a count (e.g. 3: seeds 0-2) or a range FIRST-LAST (e.g. 3-5), "
                         f"got {value!r}") from None


def seed_list(seeds: Union[int, str]) -> list[int]:
    """The seeds of ``parse_seeds``' value: ``3`` → [0, 1, 2], ``"3-5"`` → [3, 4, 5]."""
    if isinstance(seeds, int):
        return list(range(seeds))
    first, last = (int(part) for part in seeds.split("-"))
    return list(range(first, last + 1))


def positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(number) or math.isinf(number) or number < 0 or (number == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise UsageError(f"{name} must be a {bound} number, got {value!r}")
    return number


def _items(what: str, value: Any) -> list:
    """A comma-separated string or a list (a tuple, any non-string iterable but a mapping) as a list;
    a single number as a list of one; anything else a UsageError."""
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    if not isinstance(value, (bytes, dict, bool)):
        try:
            return list(value)
        except TypeError:
            pass
    raise UsageError(f"{what} must be a comma-separated list or a list, got {value!r}")


def parse_int_list(name: str, value: Union[str, Iterable[Any]]) -> list[int]:
    items = _items(name, value)
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
    eval_examples: Optional[int] = None  # held-out examples per split; None: the task's default
    quick_eval: Optional[int] = None  # periodic evaluations on this many validation examples; None: all
    log_every: int = 20
    task_params: dict = field(default_factory=dict)
    cell_params: dict = field(default_factory=dict)
    save: bool = False  # keep a checkpoint of the trained model (seqbench.models.checkpoint)
    flush_denormal: bool = True  # on CPU, subnormal floats are flushed to zero (runner.flush_subnormals)
    params_budget: Optional[int] = None  # the parameter budget the width was solved for (--params)
    patience: Optional[int] = None  # early stopping: evaluations without improvement before stopping
    config: str = ""  # hash of everything but the seed (sweep.space: the configuration's identity)
    config_label: str = ""  # the swept options' values, e.g. "lr=0.003, forget_bias=1" ("" if none)
    stop_when_solved: bool = False  # stop training at the first evaluation that meets the task's criterion
    eval_lengths: list = field(default_factory=list)  # other lengths the trained model is evaluated at (test set)
    deterministic: bool = False  # torch's deterministic algorithms (train.determinism.seed_trial)
    backbone: str = "plain"  # plain: the cell as built; block: the shared residual blocks (models.backbone)
    state_budget: Optional[int] = None  # the state size (floats per sequence) the width was solved for (--state-size)
    weight_decay: float = 0.0  # decoupled weight decay (AdamW); 0: plain Adam, bit for bit as before the option
    train_examples: int = 0  # a finite training set of this many examples, trained on in epochs; 0: a fresh stream

    @property
    def key(self) -> str:
        """Identifies the trial within a run (results.csv column ``trial``): cell|task|length|seed,
        and the configuration's hash where a sweep gives this cell several."""
        base = f"{self.cell}|{self.task}|{self.length}|{self.seed}"
        return f"{base}|{self.config}" if self.config_label else base

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialSpec":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _int(name: str, value: Any) -> int:
    return positive_int(name, value)


def _float(name: str, value: Any) -> float:
    return positive_float(name, value)


def _dropout(name: str, value: Any) -> float:
    number = positive_float(name, value, allow_zero=True)
    if number >= 1:
        raise UsageError(f"dropout must be in [0, 1), got {value!r}")
    return number


def _non_negative(name: str, value: Any) -> float:
    return positive_float(name, value, allow_zero=True)


def _train_examples(name: str, value: Any) -> int:
    """A number of training examples; 0 (a fresh stream, as without the option) is allowed."""
    if not isinstance(value, bool) and str(value).strip() == "0":
        return 0
    try:
        return positive_int(name, value)
    except UsageError:
        raise UsageError(f"{name} must be a number of examples >= 1 (0: a fresh stream), got {value!r}") from None


def _params(name: str, value: Any) -> int:
    from seqbench.spec.sizes import parse_params

    return parse_params(value)


def _state_size(name: str, value: Any) -> int:
    from seqbench.spec.sizes import parse_count

    return parse_count(value, "state size", "floats such as 4096, 4k or 1.5M")


def _backbone(name: str, value: Any) -> str:
    text = str(value).strip()
    if text not in BACKBONES:
        raise UsageError(f"unknown backbone {value!r}; use {' or '.join(BACKBONES)}")
    return text


# Options that take a grid or a range: (check, integer range, log-uniform range)
SWEPT: dict[str, tuple[Callable[[str, Any], Any], bool, bool]] = {
    "hidden": (_int, True, False), "params": (_params, True, False), "layers": (_int, True, False),
    "batch": (_int, True, False), "lr": (_float, False, True), "dropout": (_dropout, False, False),
    "clip": (_float, False, True), "state_size": (_state_size, True, False), "backbone": (_backbone, False, False),
    "weight_decay": (_non_negative, False, True), "train_examples": (_train_examples, True, False),
}
# options added after runs were recorded: at this value they leave a configuration's hash (and key) as it was
NEUTRAL = {"weight_decay": 0.0, "train_examples": 0}
TASK_PREFIX, CELL_PREFIX = "task.", "cell."


@dataclass
class RunConfig:
    """What a run was asked to do (after validation). The options of ``SWEPT`` and every task and
    cell option may be a grid (a list) or a range (``"1e-4..1e-2"``, with ``samples`` draws);
    see ``seqbench.spec.space``."""

    cells: list[str]
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    lengths: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTHS))
    seeds: Union[int, str] = 1  # a count (seeds 0..n-1) or a range "3-5" (parse_seeds)
    steps: Optional[int] = None
    budget_s: Optional[float] = None
    hidden: Any = 64
    layers: Any = 1
    batch: Any = 64
    lr: Any = 3e-3
    params: Any = None  # parameter budget: each cell's width is solved to match it
    state_size: Any = None  # state-size budget (floats per sequence): each cell's width is solved to match it
    backbone: Any = "plain"  # plain or block (seqbench.models.backbone); a list is a grid
    dropout: Any = 0.0
    clip: Any = 1.0
    device: str = "auto"
    eval_every: int = 100
    # held-out examples of the validation and of the test set; None: the task's default (Task.held_out_examples)
    eval_examples: Optional[int] = None
    quick_eval: Optional[int] = None  # periodic evaluations on the first this many validation examples; None: all
    task_params: dict = field(default_factory=dict)  # task name → {parameter: value} (or a list of option sets)
    cell_params: dict = field(default_factory=dict)  # cell name → {parameter: value} (or a list of option sets)
    plugins: list[str] = field(default_factory=list)
    save: bool = False  # a checkpoint per trial in the run directory's checkpoints/
    sample: int = 0  # characters sampled from each saved charlm checkpoint after the tables
    # On CPU, flush subnormal floats to zero (torch.set_flush_denormal, for the whole process): vanishing
    # gradients otherwise reach the subnormal range, where x86 arithmetic is up to ~100x slower, and the
    # vanilla RNN's measured speed drops several-fold for a reason that is not the cell's.
    flush_denormal: bool = True
    samples: int = 1  # draws of the ranges (random search)
    sweep_seed: int = 0  # seed of those draws: the same seed draws the same configurations
    tune: bool = False  # report, per cell × task × length, the configuration best on validation
    patience: Optional[int] = None  # early stopping after this many evaluations without improvement
    # stop a trial at the first evaluation whose validation numbers meet the task's solved criterion
    # (what makes a horizon search affordable; off for a plain run: its numbers are after the full budget)
    stop_when_solved: bool = False
    # lengths each trained model is also evaluated at, on the test set: "2x" (times the trained T) or T
    eval_lengths: list = field(default_factory=list)
    # torch's deterministic algorithms in every trial (GPU runs: same seed, same numbers, at a cost)
    deterministic: bool = False
    # AdamW's decoupled weight decay (None: 0, Adam as before the option); a grid like lr
    weight_decay: Any = None
    # a finite training set: this many examples drawn once from the trial's seed, trained on in shuffled epochs
    # (None or 0: a fresh stream of examples, as before the option); a grid like lr (a difficulty axis of MAD)
    train_examples: Any = None

    def __post_init__(self) -> None:
        from seqbench.spec.space import has_ranges, owner_dimensions, parse_option_value, parse_value

        self.cells = parse_names(self.cells, "cells") or []
        self.tasks = parse_names(self.tasks, "tasks") or []
        self.lengths = parse_int_list("lengths", self.lengths)
        self.seeds = parse_seeds(self.seeds)
        if self.steps is not None:
            self.steps = positive_int("steps", self.steps)
        self.budget_s = parse_budget(self.budget_s)
        if self.steps is None and self.budget_s is None:
            self.steps = DEFAULT_STEPS
        for name, (check, integer, log) in SWEPT.items():
            if getattr(self, name) is not None:
                setattr(self, name, parse_value(name, getattr(self, name), check, integer, log))
        for name in ("eval_every", "samples"):
            setattr(self, name, positive_int(name, getattr(self, name)))
        for name in ("eval_examples", "quick_eval"):
            if getattr(self, name) is not None:
                setattr(self, name, positive_int(name, getattr(self, name)))
        if isinstance(self.sweep_seed, bool) or not isinstance(self.sweep_seed, int) or self.sweep_seed < 0:
            raise UsageError(f"sweep_seed must be an integer >= 0, got {self.sweep_seed!r}")
        if self.patience is not None:
            self.patience = positive_int("patience", self.patience)
        for kind in ("task_params", "cell_params"):
            owners = getattr(self, kind)
            if not isinstance(owners, dict):
                raise UsageError(f"{kind} must be a table of names, got {owners!r}")
            setattr(self, kind, {name: _owner_options(kind, name, options, parse_option_value)
                                 for name, options in owners.items()})
        from seqbench.spec.eval_lengths import parse_eval_lengths

        self.eval_lengths = parse_eval_lengths(self.eval_lengths)
        for name in ("save", "flush_denormal", "tune", "stop_when_solved", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.sample, bool) or not isinstance(self.sample, int) or self.sample < 0:
            raise UsageError(f"sample must be a number of characters >= 0, got {self.sample!r}")
        if self.device not in DEVICES:
            raise UsageError(f"unknown device '{self.device}'; use one of {', '.join(DEVICES)}")
        values = [getattr(self, name) for name in SWEPT]
        for owners, prefix in ((self.task_params, TASK_PREFIX), (self.cell_params, CELL_PREFIX)):
            values += [v for options in owners.values() for v in owner_dimensions(options, prefix).values()]
        if self.params is not None and self.state_size is not None:
            raise UsageError("give either a parameter budget (params) or a state size (state_size), not both")
        if self.samples > 1 and not has_ranges(values):
            raise UsageError(f"samples={self.samples} needs a range to draw from, e.g. --lr 1e-4..1e-2")

    def configurations(self, cell: str, task: str) -> list[dict[str, Any]]:
        """The configurations of ``cell`` on ``task``: flat dicts of the ``SWEPT`` options (``params``
        or ``state_size`` replaces ``hidden`` when given; ``backbone`` is left out where it is the
        default ``plain``, so configurations keep their hashes) and the task's and cell's options
        (prefixed ``task.`` and ``cell.``), the grids crossed and the ranges drawn ``samples`` times.
        The options every cell shares draw the same values for every cell."""
        import random

        from seqbench.spec.space import expand, owner_dimensions

        shared = self._shared()
        seed = self.sweep_seed
        return expand([(shared, random.Random(f"{seed}:shared")),
                       (owner_dimensions(self.task_params.get(task), TASK_PREFIX), random.Random(f"{seed}:{task}")),
                       (owner_dimensions(self.cell_params.get(cell), CELL_PREFIX),
                        random.Random(f"{seed}:{task}:{cell}"))], self.samples)

    def swept(self, cell: str, task: str) -> list[str]:
        """The options that vary across ``configurations(cell, task)``."""
        from seqbench.spec.space import owner_dimensions, swept_names

        dims = self._shared()
        dims.update(owner_dimensions(self.task_params.get(task), TASK_PREFIX))
        dims.update(owner_dimensions(self.cell_params.get(cell), CELL_PREFIX))
        return swept_names(dims)

    def _shared(self) -> dict[str, Any]:
        """The ``SWEPT`` options every cell of a configuration shares, as ``configurations`` expands them."""
        shared = {name: getattr(self, name) for name in SWEPT if getattr(self, name) is not None}
        if self.params is not None or self.state_size is not None:
            shared.pop("hidden", None)
        if shared.get("backbone") == "plain":
            shared.pop("backbone")
        return shared

    def trials(self, device: str = "cpu") -> list[TrialSpec]:
        """One spec per task × length × seed × configuration × cell, cells innermost so that an
        interrupted run still holds complete comparisons. A trial with a parameter budget gets
        ``hidden=0`` until ``runs.validate`` solves its width (as does one with a state-size budget)."""
        from seqbench.spec.space import label

        out = []
        for task in self.tasks:
            per_cell = {cell: self.configurations(cell, task) for cell in self.cells}
            swept = {cell: self.swept(cell, task) for cell in self.cells}
            for length in self.lengths:
                for seed in seed_list(self.seeds):
                    for j in range(max(len(c) for c in per_cell.values())):
                        for cell in self.cells:
                            if j < len(per_cell[cell]):
                                out.append(self._spec(cell, task, length, seed, per_cell[cell][j], swept[cell],
                                                      device, label))
        return out

    def _spec(self, cell: str, task: str, length: int, seed: int, config: dict, swept: list[str], device: str,
              label: Callable) -> TrialSpec:
        budget, state_budget = config.get("params"), config.get("state_size")
        hidden = 0 if budget is not None or state_budget is not None else config["hidden"]
        task_params = {k[len(TASK_PREFIX):]: v for k, v in config.items() if k.startswith(TASK_PREFIX)}
        cell_params = {k[len(CELL_PREFIX):]: v for k, v in config.items() if k.startswith(CELL_PREFIX)}
        train_examples = config.get("train_examples") or 0
        if 0 < train_examples < config["batch"]:
            raise UsageError(f"{task}: train_examples={train_examples} is smaller than the batch ({config['batch']}): "
                             f"every batch would repeat examples; use --batch {train_examples} or fewer, or more "
                             "training examples")
        kept = {k: v for k, v in config.items() if not (k in NEUTRAL and v == NEUTRAL[k])}
        identity = {"config": kept, "steps": self.steps, "budget_s": self.budget_s,
                    "eval_every": self.eval_every, "eval_examples": self.eval_examples, "patience": self.patience}
        if self.stop_when_solved:  # only when set, so the hashes of runs made before the option stay
            identity["stop_when_solved"] = True
        if self.quick_eval is not None:  # likewise
            identity["quick_eval"] = self.quick_eval
        if self.deterministic:  # likewise
            identity["deterministic"] = True
        digest = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:8]
        shown = label({k.split(".", 1)[-1] if k.startswith((TASK_PREFIX, CELL_PREFIX)) else k: v
                       for k, v in config.items()}, [s.split(".", 1)[-1] if s.startswith((TASK_PREFIX, CELL_PREFIX))
                                                     else s for s in swept])
        return TrialSpec(cell=cell, task=task, length=length, seed=seed, steps=self.steps, budget_s=self.budget_s,
                         hidden=hidden, layers=config["layers"], batch=config["batch"], lr=config["lr"],
                         dropout=config["dropout"], clip=config["clip"], device=device,
                         eval_every=self.eval_every, eval_examples=self.eval_examples, quick_eval=self.quick_eval,
                         task_params=task_params, cell_params=cell_params, save=self.save or bool(self.eval_lengths),
                         flush_denormal=self.flush_denormal, params_budget=budget, patience=self.patience,
                         config=digest, config_label=shown, stop_when_solved=self.stop_when_solved,
                         eval_lengths=resolve_eval_lengths(self.eval_lengths, length),
                         deterministic=self.deterministic, backbone=config.get("backbone", "plain"),
                         state_budget=state_budget, weight_decay=config.get("weight_decay") or 0.0,
                         train_examples=train_examples)

    def to_dict(self) -> dict[str, Any]:
        from seqbench.spec.space import to_plain

        data = asdict(self)
        for name in SWEPT:
            data[name] = to_plain(getattr(self, name))
        for kind in ("task_params", "cell_params"):
            data[kind] = {owner: ([dict(s) for s in options] if isinstance(options, list)
                                  else {k: to_plain(v) for k, v in options.items()})
                          for owner, options in getattr(self, kind).items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(f"unknown config key(s): {', '.join(unknown)}")
        return cls(**data)


def resolve_eval_lengths(requested: list, length: int) -> list[int]:
    """``["2x", 1000]`` at trained length ``length`` → ``[2·length, 1000]`` (order kept, the trained
    length itself and duplicates dropped)."""
    from seqbench.spec.eval_lengths import absolute_lengths

    return absolute_lengths(requested, length)


def _owner_options(kind: str, name: str, options: Any, parse: Callable[[Any], Any]) -> Any:
    """One cell's or task's options: a table of (possibly swept) values, or a list of option sets."""
    if isinstance(options, list) and options and all(isinstance(item, dict) for item in options):
        return [dict(item) for item in options]
    if not isinstance(options, dict):
        raise UsageError(f"{kind} of '{name}' must be a table of options or a list of option tables, got {options!r}")
    return {key: parse(value) for key, value in options.items()}


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
    """['copy.n_symbols=5', 'lstm.forget_bias=0,1'] → {'copy': {'n_symbols': 5}, 'lstm': {'forget_bias': [0, 1]}}.

    Values are read as int, float, true/false or else kept as strings; a comma list is a grid and
    ``LOW..HIGH`` a range (see ``seqbench.spec.space``).
    """
    from seqbench.spec.space import parse_option_value

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        match = re.match(r"^\s*([\w.-]+?)\.(\w+)\s*=\s*(.*?)\s*$", item)
        if not match or not match.group(3):
            raise UsageError(f"{flag} takes NAME.PARAMETER=VALUE (e.g. {flag} copy.n_symbols=5), got {item!r}")
        name, key, raw = match.groups()
        out.setdefault(name, {})[key] = parse_option_value(raw)
    return out
