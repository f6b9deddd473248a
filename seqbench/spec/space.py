"""Search spaces: grid values and seeded ranges, expanded into concrete configurations.

A value of a swept option is one of
- a single value (``3e-3``),
- a grid: a list of values (``[1e-3, 3e-3]``, on the command line ``1e-3,3e-3``),
- a range ``LOW..HIGH`` for random search (``1e-4..1e-2``): ``samples`` values drawn from a
  seeded generator, log-uniform for positive real options (learning rate, clipping), uniform
  for dropout and uniform integers for sizes (hidden, layers, batch, params).

A cell's or task's options may also be a list of option *sets*, one dimension whose choices
are whole sets (``[{forget_bias = 0}, {forget_bias = 1}, {init = "chrono"}]``), for options
that only make sense together. The run is the cartesian product of the grids, times
``samples`` draws of the ranges, times seeds; the same seed draws the same configurations.
"""
from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Union

from seqbench.errors import UsageError

_RANGE = re.compile(r"^\s*([^.\s][^\s]*?)\s*\.\.\s*([^\s]+)\s*$")


@dataclass(frozen=True)
class Range:
    """``low..high`` for random search; ``integer`` draws uniform integers, ``log`` draws
    log-uniformly, else uniformly."""

    low: float
    high: float
    integer: bool = False
    log: bool = False

    def draw(self, rng: random.Random) -> Union[int, float]:
        if self.integer:
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"{_short(self.low)}..{_short(self.high)}"


Value = Union[Any, list, Range]


def is_range_text(value: Any) -> bool:
    return isinstance(value, str) and _RANGE.match(value) is not None


def parse_range(name: str, text: str, convert: Callable[[str, Any], Any], integer: bool, log: bool) -> Range:
    """``'1e-4..1e-2'`` → a Range whose ends pass ``convert`` (the option's own check)."""
    match = _RANGE.match(text)
    if not match:
        raise UsageError(f"{name}: malformed range {text!r}; use LOW..HIGH, e.g. 1e-4..1e-2")
    low, high = (convert(name, end) for end in match.groups())
    if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, (int, float)) \
            or not isinstance(high, (int, float)):
        raise UsageError(f"{name}: a range needs numbers at both ends, got {text!r}")
    if not low < high:
        raise UsageError(f"{name}: range {text!r} must have LOW < HIGH")
    return Range(low, high, integer=integer, log=log and low > 0)


def parse_value(name: str, value: Any, convert: Callable[[str, Any], Any], integer: bool = False,
                log: bool = False) -> Value:
    """An option given as a value, a comma list or list (a grid) or a range, each value checked by
    ``convert(name, raw)``; a grid of one value is that value."""
    if isinstance(value, Range):
        return value
    if is_range_text(value):
        return parse_range(name, value, convert, integer, log)
    items = value.split(",") if isinstance(value, str) and "," in value else value
    if isinstance(items, (list, tuple)):
        values = [convert(name, item) for item in items if str(item).strip()]
        if not values:
            raise UsageError(f"{name} is empty")
        values = list(dict.fromkeys(values))
        return values if len(values) > 1 else values[0]
    return convert(name, value)


def to_plain(value: Value) -> Any:
    """JSON form: a range as its ``LOW..HIGH`` text (parsed back by ``parse_value``)."""
    return str(value) if isinstance(value, Range) else value


def is_swept(value: Value) -> bool:
    return isinstance(value, (list, Range))


# --------------------------------------------------------------------------- options of cells and tasks


def parse_option_value(raw: Any) -> Value:
    """A ``--cell-opt`` / ``--task-opt`` value or a suite's: a literal, a comma list (grid), a
    numeric range, or a list of option sets (dicts)."""
    if isinstance(raw, list):
        if raw and all(isinstance(item, dict) for item in raw):
            return [dict(item) for item in raw]
        values = list(dict.fromkeys(_hashable(literal(item) if isinstance(item, str) else item) for item in raw))
        return values if len(values) > 1 else values[0]
    if isinstance(raw, str):
        if is_range_text(raw):
            low, high = (literal(end) for end in _RANGE.match(raw).groups())
            if all(isinstance(end, (int, float)) and not isinstance(end, bool) for end in (low, high)):
                integer = isinstance(low, int) and isinstance(high, int)
                return parse_range("option", raw, lambda name, end: literal(end), integer, log=not integer)
        if "," in raw:
            return parse_option_value([item.strip() for item in raw.split(",") if item.strip()])
        return literal(raw)
    return raw


def _hashable(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise UsageError(f"an option's grid takes plain values or option sets, got {value!r}")
    return value


def literal(raw: str) -> Any:
    """'5' → 5, '1e-3' → 0.001, 'true' → True, else the text itself."""
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


SETS = "__sets__"  # the dimension name of a list of option sets


def owner_dimensions(options: Any, prefix: str = "") -> dict[str, Value]:
    """A cell's or task's options as dimensions named ``prefix + option``: a dict of (possibly
    swept) values, or a list of option sets, which becomes the one dimension ``prefix + SETS``."""
    if isinstance(options, list):
        return {prefix + SETS: [{prefix + k: v for k, v in item.items()} for item in options]}
    return {prefix + name: value for name, value in (options or {}).items()}


# --------------------------------------------------------------------------- expansion


def expand(groups: list[tuple[Mapping[str, Value], random.Random]], samples: int) -> list[dict[str, Any]]:
    """The configurations of some groups of dimensions: the cartesian product of every grid,
    each point paired with each of ``samples`` joint draws of the ranges. Each group draws its
    ranges from its own generator, in order, so a group shared by several expansions (the
    options every cell shares) draws the same values in each. An option set (a dict choice) is
    merged into the configuration."""
    grids: list[tuple[str, list]] = []
    fixed: dict[str, Any] = {}
    draws: list[dict[str, Any]] = []
    for dimensions, rng in groups:
        ranges = [(name, value) for name, value in dimensions.items() if isinstance(value, Range)]
        grids += [(name, value) for name, value in dimensions.items() if isinstance(value, list)]
        fixed.update({name: value for name, value in dimensions.items() if not is_swept(value)})
        if ranges:
            group_draws = [{name: value.draw(rng) for name, value in ranges} for _ in range(samples)]
            draws = [{**(draws[j] if draws else {}), **group_draws[j]} for j in range(samples)]
    out: list[dict[str, Any]] = []
    for point in itertools.product(*(values for _, values in grids)):
        for draw in draws or [{}]:
            config = dict(fixed)
            for (name, _), choice in zip(grids, point):
                config.update(choice if name.endswith(SETS) else {name: choice})
            config.update(draw)
            if config not in out:
                out.append(config)
    return out


def has_ranges(values: Iterable[Value]) -> bool:
    return any(isinstance(value, Range) for value in values)


def swept_names(dimensions: Mapping[str, Value]) -> list[str]:
    """The options that vary across the configurations of ``dimensions``."""
    names: list[str] = []
    for name, value in dimensions.items():
        if name.endswith(SETS) and isinstance(value, list):
            names += [key for choice in value for key in choice]
        elif is_swept(value):
            names.append(name)
    return list(dict.fromkeys(names))


def label(config: Mapping[str, Any], swept: Iterable[str]) -> str:
    """``lr=0.003, hidden=64`` for the options in ``swept`` (those that differ across the run);
    ``defaults`` for a configuration that sets none of them (an empty option set)."""
    swept = list(swept)
    text = ", ".join(f"{name}={_short(config[name])}" for name in swept if name in config)
    return text or ("defaults" if swept else "")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
