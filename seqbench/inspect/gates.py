"""The gates at work: every gate of an LSTM or GRU (or a plugin cell's internals) along task examples.

A checkpoint of ``lstm`` or ``gru`` (fused) has its weights loaded into the gate-by-gate
reference cell ``lstm-ref`` / ``gru-ref`` (same parameter names); ``-ref`` checkpoints and
plugin cells are used as they are. The internals come from the ``seqbench_inspect_cell`` hook
(the reference cells answer it themselves): name → (batch, time, hidden) tensor.

Examples are those of the trial's held-out set (``EVAL_SEED``), drawn in batches of 64 as
evaluation draws them: example N is the same sequence whatever else is asked. The gates are
recorded on the whole batch holding example N; the summary gives each recorded tensor's mean
over example N and over that batch, and, on the adding problem, its mean at the two marked
steps against the unmarked ones (``marked_steps``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from seqbench.errors import PluginError, UsageError

if TYPE_CHECKING:
    import pandas as pd
    import torch

EXAMPLE_BATCH = 64
REFERENCE = {"lstm": "lstm-ref", "gru": "gru-ref"}  # fused cell → its gate-by-gate twin
SUMMARY_COLUMNS = ("gate", "mean", "example_mean", "marked", "unmarked", "marked_minus_unmarked")


@dataclass
class GateRecord:
    """The internals of a cell along a batch of task examples, and what they were recorded on."""

    cell: str  # the checkpoint's cell
    source: str  # the checkpoint path
    task: str
    length: int
    params: int
    example: int  # index of the example shown, in the held-out set
    row: int  # its row in ``x`` and in each gate tensor
    x: Any  # the task input of the batch (batch, time[, features])
    gates: dict[str, Any] = field(default_factory=dict)  # name → (batch, time, hidden) tensor
    marked: Any = None  # bool (batch, time): the task's marked steps, or None where the task has none


def reference_model(checkpoint: dict, registry: Any) -> Any:
    """The checkpoint's model with a fused ``lstm``/``gru`` cell replaced by its reference twin
    (eager mode, the same weights); other cells, and any cell in the block backbone, as they are."""
    from seqbench.models.checkpoint import rebuild_model

    info = checkpoint["model"]
    if info["cell"] in REFERENCE and info.get("backbone", "plain") == "plain":
        info = {**info, "cell": REFERENCE[info["cell"]], "cell_params": {"mode": "eager"}}
    return rebuild_model({**checkpoint, "model": info}, registry)


def cell_internals(registry: Any, cell: Any, x: "torch.Tensor", state: Any = None) -> Optional[dict]:
    """The first non-None answer of the ``seqbench_inspect_cell`` hook for ``cell`` on input ``x``,
    checked: a dict of name → tensor (batch, time, ...) matching ``x``; None when no plugin answers."""
    import torch

    for impl in reversed(registry.pm.hook.seqbench_inspect_cell.get_hookimpls()):  # pluggy's call order
        args = {"cell": cell, "x": x, "state": state}
        try:
            answer = impl.function(**{name: args[name] for name in impl.argnames})
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is one line naming it
            raise PluginError(f"plugin '{impl.plugin_name}' raised in seqbench_inspect_cell: "
                              f"{type(exc).__name__}: {exc}") from None
        if answer is None:
            continue
        bad = [name for name, value in dict(answer).items()
               if not (isinstance(value, torch.Tensor) and value.dim() == 3 and value.shape[:2] == x.shape[:2])]
        if bad or not answer:
            raise PluginError(f"plugin '{impl.plugin_name}': seqbench_inspect_cell must return name → tensor "
                              f"(batch, time, hidden) for input {tuple(x.shape)}; bad: {', '.join(bad) or 'empty'}")
        return dict(answer)
    return None


def held_out_batch(task: Any, example: int) -> tuple[Any, int]:
    """``(x, row)``: the held-out batch of ``EXAMPLE_BATCH`` examples holding example ``example``."""
    from seqbench.inspect.options import non_negative_int

    example = non_negative_int("example", example)
    batches = task.eval_batches((example // EXAMPLE_BATCH + 1) * EXAMPLE_BATCH, EXAMPLE_BATCH, "cpu")
    return batches[example // EXAMPLE_BATCH][0], example % EXAMPLE_BATCH


def marked_steps(task_name: str, x: Any) -> Optional[Any]:
    """Bool (batch, time) of the steps carrying what the task asks about: on ``adding``, the two
    marked values (marker channel 1); None for other tasks."""
    if task_name == "adding":
        return x[..., 1] > 0
    return None


def record_gates(path: Union[str, Path], example: int = 0, registry: Any = None) -> GateRecord:
    """The internals of checkpoint ``path``'s cell along held-out example ``example`` (and its batch).

    UsageError when the cell exposes none (only ``lstm``/``gru``, their ``-ref`` twins and plugin
    cells implementing ``seqbench_inspect_cell`` do)."""
    import torch

    from seqbench.models.checkpoint import load_checkpoint
    from seqbench.models.model import count_params
    from seqbench.plugins.registry import Registry
    from seqbench.plugins.factories import build_task

    registry = registry or Registry()
    data = load_checkpoint(path)
    cell = data["model"]["cell"]
    task_name, length = data["task"]["name"], int(data["task"]["length"])
    task = build_task(registry.get("task", task_name), length, data["task"]["params"])
    x, row = held_out_batch(task, example)
    model = reference_model(data, registry)
    with torch.no_grad():
        inputs = model.embed(x) if model.embed is not None else x
        gates = cell_internals(registry, model.cell, inputs)
    if gates is None:
        raise UsageError(f"cell '{cell}' exposes no gates: inspect gates takes an lstm or gru checkpoint "
                         "(fused or -ref), or a plugin cell implementing seqbench_inspect_cell")
    return GateRecord(cell, str(path), task_name, length, count_params(model), example, row, x,
                      {name: value.detach() for name, value in gates.items()}, marked_steps(task_name, x))


def summarize_gates(record: GateRecord) -> "pd.DataFrame":
    """One row per recorded tensor (``SUMMARY_COLUMNS``): its mean over the batch (all steps and
    units), over example ``record.example`` alone, and, where the task marks steps, its mean at
    the marked steps and at the unmarked ones (over the batch) and their difference."""
    import pandas as pd

    rows = []
    for name, value in record.gates.items():
        value = value.double()
        row = {"gate": name, "mean": value.mean().item(), "example_mean": value[record.row].mean().item(),
               "marked": float("nan"), "unmarked": float("nan"), "marked_minus_unmarked": float("nan")}
        if record.marked is not None:
            per_step = value.mean(-1)  # (batch, time): mean over units
            row["marked"] = per_step[record.marked].mean().item()
            row["unmarked"] = per_step[~record.marked].mean().item()
            row["marked_minus_unmarked"] = row["marked"] - row["unmarked"]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def write_gate(record: GateRecord) -> Optional[tuple[str, "torch.Tensor", "torch.Tensor"]]:
    """``(name, write, keep)``: how much each step writes into the state and keeps of it — the LSTM's
    input and forget gates, the GRU's 1 − z and z — or None for other internals."""
    gates = record.gates
    if "input" in gates and "forget" in gates:
        return "input gate", gates["input"], gates["forget"]
    if "update" in gates:
        return "1 − update gate", 1 - gates["update"], gates["update"]
    return None


def unit_selectivity(record: GateRecord) -> Optional["torch.Tensor"]:
    """Per unit: the write gate's mean at the marked steps minus at the unmarked ones (over the
    batch); None without marked steps or a write gate."""
    found = write_gate(record)
    if found is None or record.marked is None:
        return None
    write = found[1].double()
    return write[record.marked].mean(0) - write[~record.marked].mean(0)


def headline(record: GateRecord) -> str:
    """What the gates do on the task, in two sentences (adding: the write gate at the marked steps
    against elsewhere, the keep gate's mean, and the same for the most selective unit); empty where
    nothing applies."""
    found, selectivity = write_gate(record), unit_selectivity(record)
    if found is None or selectivity is None:
        return ""
    name, write, keep = found
    write, keep, marked = write.double(), keep.double(), record.marked
    unit = int(selectivity.argmax())
    on, off = write[marked].mean().item(), write[~marked].mean().item()
    keep_name = "forget gate" if name == "input gate" else "update gate"
    return (f"{name}: {on:.3f} at the marked steps vs {off:.3f} elsewhere ({on / off:.2f}×); {keep_name}: "
            f"{keep.mean().item():.3f} on average. Most selective unit, #{unit}: {name} "
            f"{write[marked][:, unit].mean().item():.3f} vs {write[~marked][:, unit].mean().item():.3f}, "
            f"{keep_name} {keep[..., unit].mean().item():.3f} on average.")
