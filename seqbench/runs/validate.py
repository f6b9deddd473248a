"""Every configuration of a run built once, cheaply, before anything trains.

Each distinct task (name, length, options) is constructed; each distinct model is solved for its
parameter budget and built on the meta device (no memory, no compute). A configuration error —
an unknown option, a task parameter invalid at one of the lengths, a Transformer width that its
heads do not divide, a budget a cell cannot meet — is a UsageError naming the configuration, so
a sweep of 500 trials never dies at trial 312 over a typo. Errors that are a plugin's own bug
(anything but ValueError, TypeError and AssertionError from its factory) are left to the trial,
which isolates them as an ``error`` row.
"""
from __future__ import annotations

import json
from typing import Any

from seqbench.spec.config import TrialSpec
from seqbench.errors import UsageError
from seqbench.plugins.factories import build_task, check_params
from seqbench.plugins.registry import Registry

CONFIG_ERRORS = (ValueError, TypeError, AssertionError)
SPLITS = {"val": "validation", "test": "test"}


def where(spec: TrialSpec) -> str:
    """``lstm on adding T=100 (lr=0.01, hidden=30)``: the configuration, for error messages."""
    return f"{spec.cell} on {spec.task} T={spec.length}" + (f" ({spec.config_label})" if spec.config_label else "")


def validate(trials: list[TrialSpec], registry: Registry) -> dict[str, Any]:
    """Check every trial's configuration and solve the widths of parameter and state-size budgets
    (setting ``spec.hidden``); returns each task's description by ``"task|length"``."""

    tasks: dict[str, Any] = {}
    widths: dict[str, int] = {}
    models: set[str] = set()
    checked: set[str] = set()
    task_info: dict[str, Any] = {}
    for spec in trials:
        cell = registry.get("cell", spec.cell)
        options = _key(spec.cell, spec.cell_params, spec.backbone)
        if options not in checked:
            try:
                check_cell_params(cell, spec.cell_params, spec.backbone)
            except UsageError as exc:
                raise UsageError(f"{where(spec)}: {exc}") from None
            checked.add(options)
        task_key = _key(spec.task, spec.length, spec.task_params)
        if task_key not in tasks:
            try:
                tasks[task_key] = build_task(registry.get("task", spec.task), spec.length, spec.task_params)
            except UsageError as exc:
                raise UsageError(f"{where(spec)}: {exc}") from None
            task_info.setdefault(f"{spec.task}|{spec.length}", tasks[task_key].describe())
            _warn_small_splits(spec, tasks[task_key])
        task = tasks[task_key]
        _check_split_batch(spec, task)
        if spec.params_budget is not None or spec.state_budget is not None:
            spec.hidden = _solved_width(spec, task, cell, widths)
        model_key = _key(task_key, spec.cell, spec.hidden, spec.layers, spec.dropout, spec.cell_params, spec.backbone)
        if model_key not in models:
            _build(spec, task, cell, spec.hidden)
            models.add(model_key)
    return task_info


def check_cell_params(cell: Any, params: dict, backbone: str) -> None:
    """A UsageError when ``params`` holds an option the factory that receives them does not take:
    the cell's, or its mixer's under the block backbone (``models.model.options_factory``)."""
    from dataclasses import replace

    from seqbench.models.model import options_factory

    factory = options_factory(cell, backbone)
    if factory is cell.obj:
        check_params(cell, params, skip=4)
    else:
        try:
            check_params(replace(cell, obj=factory), params, skip=1)
        except UsageError as exc:
            raise UsageError(f"{exc} (with backbone block, the options go to its mixer)") from None


def _solved_width(spec: TrialSpec, task: Any, cell: Any, widths: dict[str, int]) -> int:
    """The width of ``spec``'s parameter budget or state size, solved once per distinct model shape."""
    from seqbench.models.budget import match_hidden
    from seqbench.models.model import cell_options
    from seqbench.models.state import match_state

    # a model's size depends on the task only through these (its state, also on the length)
    shape = [task.input_kind, task.input_size, task.output_size, cell_options(task, cell, spec.cell_params,
                                                                              spec.backbone)]
    if spec.state_budget is not None:
        shape.append(task.seq_len)
    width_key = _key(shape, spec.cell, spec.params_budget, spec.state_budget, spec.layers, spec.backbone)
    if width_key not in widths:
        try:
            if spec.state_budget is not None:
                widths[width_key], _ = match_state(task, cell, spec.state_budget, spec.layers, spec.cell_params,
                                                   spec.backbone)
            else:
                widths[width_key], _ = match_hidden(task, cell, spec.params_budget, spec.layers, spec.cell_params,
                                                    backbone=spec.backbone)
        except UsageError as exc:
            _build(spec, task, cell, 64)  # the cell's own reason, when its options are what fails
            raise UsageError(f"{where(spec)}: {exc}") from None
    return widths[width_key]


def _check_split_batch(spec: TrialSpec, task: Any) -> None:
    """A task with fixed held-out splits (``held_out_sizes``, e.g. charlm): a UsageError when one
    holds fewer windows than one batch."""
    sizes = getattr(task, "held_out_sizes", None)
    for split, (chars, count) in (sizes() if callable(sizes) else {}).items():
        if count < spec.batch:
            raise UsageError(f"{where(spec)}: the {SPLITS.get(split, split)} split has {chars:,} characters, "
                             f"{count:,} windows of T + 1 = {spec.length + 1}, fewer than one batch of {spec.batch}: "
                             f"use a larger corpus (or {split}_fraction), a shorter length or a smaller batch")


def _warn_small_splits(spec: TrialSpec, task: Any) -> None:
    from seqbench.errors import warn
    from seqbench.tasks.charlm import MIN_SPLIT_CHARS

    sizes = getattr(task, "held_out_sizes", None)
    small = {split: chars for split, (chars, _) in (sizes() if callable(sizes) else {}).items()
             if chars < MIN_SPLIT_CHARS}
    if small:
        shown = ", ".join(f"{SPLITS.get(s, s)} {c:,}" for s, c in small.items())
        warn(f"{spec.task} T={spec.length}: held-out splits below {MIN_SPLIT_CHARS:,} characters ({shown}): "
             "their numbers are noisy; use a larger corpus")


def _build(spec: TrialSpec, task: Any, cell: Any, hidden: int) -> None:
    """Build ``spec``'s cell at width ``hidden`` on the meta device; a UsageError naming the
    configuration when the factory rejects its options."""
    import torch

    from seqbench.models.model import build_cell, cell_options

    try:  # the cell alone: the embedding and head are the harness's own and cannot fail
        with torch.device("meta"):
            build_cell(cell, hidden if task.input_kind == "tokens" else task.input_size, hidden,
                       spec.layers, spec.dropout, cell_options(task, cell, spec.cell_params, spec.backbone),
                       spec.backbone)
    except CONFIG_ERRORS as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(f"{where(spec)}: cell '{spec.cell}' cannot be built with hidden={hidden}, "
                         f"layers={spec.layers}{_backbone(spec)}{_options(spec.cell_params)}: {message}") from None
    except Exception:  # noqa: BLE001 - a plugin's own failure: the trial reports and isolates it
        pass


def _key(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


def _backbone(spec: TrialSpec) -> str:
    return "" if spec.backbone == "plain" else f", backbone={spec.backbone}"


def _options(params: dict) -> str:
    return "".join(f", {k}={v}" for k, v in params.items())
