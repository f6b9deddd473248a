"""The model every trial trains: task input adapter → cell → linear head.

Token inputs go through an embedding of width ``hidden``; continuous inputs go to the cell
as they are. The head reads every step, or only the last one for a task that reads nothing else
(``Task.reads_last_step_only``: outputs of shape (batch, 1, output_size)). The cell is whatever a plugin registered; its output is checked once, so a
cell with the wrong output shape fails with a message naming it.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from seqbench.errors import PluginError


class SequenceModel(nn.Module):
    def __init__(self, task: Any, cell: nn.Module, hidden_size: int, cell_name: str = "cell",
                 provider: str = "") -> None:
        super().__init__()
        self.cell_name = cell_name
        self.provider = provider  # the plugin that registered the cell, named in errors
        self.hidden_size = hidden_size
        if task.input_kind == "tokens":
            self.embed: Optional[nn.Embedding] = nn.Embedding(task.input_size, hidden_size)
        else:
            self.embed = None
        self.cell = cell
        self.head = nn.Linear(hidden_size, task.output_size)
        # a task that reads only the last step (Task.reads_last_step_only) gets the head applied there alone
        self.last_step_only = bool(getattr(task, "reads_last_step_only", False))
        self._checked = False

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        h = self.embed(x) if self.embed is not None else x
        result = self.cell(h, state)
        if not self._checked:
            self._check(x, result)
        y, state = result
        return self.head(y[:, -1:] if self.last_step_only else y), state

    def _check(self, x: torch.Tensor, result: Any) -> None:
        check_cell_output(self.cell_name, self.provider, x, result, self.hidden_size)
        self._checked = True


def check_cell_output(name: str, provider: str, x: torch.Tensor, result: Any, hidden: int) -> None:
    """PluginError, naming the cell and its plugin, unless ``result`` is ``(y, state)`` with ``y`` of
    shape (batch, time, hidden) for the input ``x``."""
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.Tensor)):
        raise PluginError(f"cell '{name}' must return (output, state), got {type(result).__name__}"
                          f"{_plugin(provider)}")
    expected = (x.shape[0], x.shape[1], hidden)
    if tuple(result[0].shape) != expected:
        raise PluginError(f"cell '{name}' returned output of shape {tuple(result[0].shape)}, "
                          f"expected (batch, time, hidden) = {expected}{_plugin(provider)}")


def build_cell(cell_entry: Any, input_size: int, hidden: int, layers: int, dropout: float,
               cell_params: Optional[dict] = None, backbone: str = "plain") -> nn.Module:
    """The cell, through its registered factory, in ``backbone`` (``plain``: as the factory builds it;
    ``block``: ``seqbench.models.backbone``); PluginError when that is not a torch module."""
    if backbone == "block":
        from seqbench.models.backbone import build_block_stack

        return build_block_stack(cell_entry, input_size, hidden, layers, dropout, cell_params or {})
    cell = cell_entry.obj(input_size, hidden, layers, dropout, **(cell_params or {}))
    if not isinstance(cell, nn.Module):
        raise PluginError(f"cell '{cell_entry.name}' factory returned {type(cell).__name__}, not a torch.nn.Module"
                          f"{_plugin(cell_entry.provider)}")
    return cell


def build_model(task: Any, cell_entry: Any, hidden: int, layers: int, dropout: float,
                cell_params: Optional[dict] = None, backbone: str = "plain") -> SequenceModel:
    """Build the cell through its registered factory, in ``backbone``, and wrap it for ``task``. A
    factory that takes ``t_max`` (the longest dependency, e.g. for chrono initialization) gets the
    task's sequence length unless the options set it."""
    input_size = hidden if task.input_kind == "tokens" else task.input_size
    cell = build_cell(cell_entry, input_size, hidden, layers, dropout,
                      cell_options(task, cell_entry, cell_params, backbone), backbone)
    return SequenceModel(task, cell, hidden, cell_entry.name, cell_entry.provider)


def options_factory(cell_entry: Any, backbone: str = "plain") -> Any:
    """The factory that receives the cell's options: its mixer's under ``block`` when it registered
    one, else the cell's own."""
    mixer = cell_entry.extra.get("mixer") if backbone == "block" else None
    return mixer if mixer is not None else cell_entry.obj


def cell_options(task: Any, cell_entry: Any, cell_params: Optional[dict], backbone: str = "plain") -> dict:
    """``cell_params`` plus ``t_max=task.seq_len`` for a factory that takes ``t_max`` and was not given it."""
    options = dict(cell_params or {})
    if "t_max" not in options and _takes(options_factory(cell_entry, backbone), "t_max"):
        options["t_max"] = task.seq_len
    return options


def _takes(factory: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _plugin(provider: str) -> str:
    return f" (plugin '{provider}')" if provider else ""


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
