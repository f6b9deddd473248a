"""One trial, in this process: build the task and model from a ``TrialSpec``, train, evaluate on
the validation and test splits, time inference, and return the row. Every executor (serial,
``--jobs`` worker processes, Ray workers) runs a trial through ``run_trial``."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from seqbench.spec.config import TrialSpec
from seqbench.plugins.factories import build_task
from seqbench.plugins.registry import Registry
from seqbench.train.determinism import seed_trial


def empty_row(spec: TrialSpec, registry: Registry) -> dict[str, Any]:
    """A trial's row before it runs: its configuration, every result column empty. Executors
    fill the status of trials that never ran to the end (``error: worker died …``) from it."""
    row: dict[str, Any] = {
        "trial": spec.key, "cell": spec.cell, "task": spec.task, "length": spec.length,
        "seed": spec.seed, "config": spec.config, "config_label": spec.config_label, "hidden": spec.hidden,
        "layers": spec.layers, "batch": spec.batch, "lr": spec.lr, "weight_decay": spec.weight_decay,
        "dropout": spec.dropout, "clip": spec.clip, "train_examples": spec.train_examples or None,
        "params_budget": spec.params_budget, "cell_opts": _options_json(spec.cell_params),
        "task_opts": _options_json(spec.task_params), "device": spec.device, "params": None,
        "backbone": spec.backbone, "state_budget": spec.state_budget, "state_floats": None,
    }
    row.update(dict.fromkeys(registry.metrics))  # on the test split
    row.update(dict.fromkeys(f"val_{name}" for name in registry.metrics))  # on the validation split
    row.update({"baseline": None, "optimum": None, "solved": False, "steps_to_solve": None,
                "train_tok_s": None, "infer_tok_s": None, "train_iqr": None, "infer_iqr": None,
                "peak_mem_mb": None, "peak_mem_kind": None, "steps": 0, "epochs": None, "best_step": None,
                "stopped_early": False, "train_s": None, "wall_s": None, "threads": None,
                "worker": "main", "attempts": 1, "status": "ok"})
    return row


def run_trial(spec: TrialSpec, registry: Registry, checkpoint_dir: Optional[Path] = None,
              notify: Optional[Callable[..., None]] = None) -> dict[str, Any]:
    """Train and evaluate one trial; always returns its row (status ok, diverged or error).
    With ``spec.save`` the trained model is saved in ``checkpoint_dir`` (seqbench.models.checkpoint).
    ``notify(hook_name, **kwargs)`` receives the trial's lifecycle events (default:
    ``registry.notify``; a worker process forwards them to the driver instead)."""
    import torch

    from seqbench.train.measure import PeakMemory, median_after_warmup
    from seqbench.models.model import build_model, count_params
    from seqbench.train.loop import EvalSet, evaluate, train

    notify = notify or registry.notify
    started = time.perf_counter()
    row = empty_row(spec, registry)
    row["threads"] = torch.get_num_threads()
    model = None
    try:
        device = torch.device(spec.device)
        if device.type == "cpu":
            torch.set_flush_denormal(spec.flush_denormal)  # this thread; see run() for the others
        task = build_task(registry.get("task", spec.task), spec.length, spec.task_params)
        row["baseline"], row["optimum"] = task.baseline, task.optimum
        seed_trial(spec)
        model = build_model(task, registry.get("cell", spec.cell), spec.hidden, spec.layers,
                            spec.dropout, spec.cell_params, spec.backbone).to(device)
        row["params"] = count_params(model)
        notify("seqbench_trial_start", trial=spec, params=row["params"])

        eval_set = EvalSet.draw(task, spec.eval_examples, spec.batch, device)
        memory = PeakMemory(device)
        memory.start()
        outcome = train(model, task, spec, device, eval_set,
                        log=lambda step, metrics: notify("seqbench_trial_log", trial=spec, step=step, metrics=metrics))
        row["peak_mem_mb"], row["peak_mem_kind"] = memory.peak_mb(), memory.kind
        row["steps"], row["train_s"], row["epochs"] = outcome.steps, outcome.train_s, outcome.epochs
        row["steps_to_solve"] = outcome.steps_to_solve
        row["best_step"], row["stopped_early"] = outcome.best_step, outcome.stopped_early
        step_s, row["train_iqr"] = median_after_warmup(outcome.step_seconds)
        row["train_tok_s"] = spec.batch * task.seq_len / step_s

        # the last periodic evaluation, when it saw the final model on the whole validation set
        val_stats = outcome.final_eval if outcome.final_eval is not None else evaluate(model, task, eval_set)
        stats = evaluate(model, task, EvalSet.draw(task, spec.eval_examples, spec.batch, device, split="test"))
        for name, metric in registry.metrics.items():
            for prefix, values in (("", stats), ("val_", val_stats)):
                value = metric.obj(values)
                row[prefix + name] = None if value is None else float(value)
        diverged = outcome.status == "diverged" or not all(math.isfinite(v) for v in stats.values())
        row["val_solved"] = not diverged and bool(task.solved(val_stats))  # what a horizon search decides on
        row["status"] = "diverged" if diverged else "ok"
        row["solved"] = not diverged and bool(task.solved(stats))
        if not row["solved"]:  # solved on validation during training, not on test: not a solve
            row["steps_to_solve"] = None
        elif row["steps_to_solve"] is None:
            row["steps_to_solve"] = outcome.steps

        row["infer_tok_s"], row["infer_iqr"] = inference_speed(model, task, eval_set, spec.batch, device)
        row["state_floats"] = trial_state(model, task)
        if spec.save and checkpoint_dir is not None:
            from seqbench.models.checkpoint import checkpoint_name, save_checkpoint

            save_checkpoint(checkpoint_dir / checkpoint_name(spec.key), model, spec, task, row)
            row["checkpoint"] = f"{checkpoint_dir.name}/{checkpoint_name(spec.key)}"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - isolate the trial; the run goes on
        message = " ".join(str(exc).split())
        row["status"] = f"error: {type(exc).__name__}: {message}"[:500]
    finally:
        del model
        if spec.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()
    row["wall_s"] = time.perf_counter() - started
    return row


def inference_speed(model: Any, task: Any, eval_set: Any, batch: int, device: Any) -> tuple[float, float]:
    """Tokens per second of the model's forward pass in inference mode (median of timed repeats)
    and the repeats' relative IQR, timed at the training batch size (not the evaluation slice)."""
    import torch

    from seqbench.train.measure import median_seconds

    x = eval_set.batches[0][0][:batch]

    def infer() -> None:
        with torch.inference_mode():
            model(x)

    model.eval()
    seconds, iqr = median_seconds(infer, device)
    return x.shape[0] * task.seq_len / seconds, iqr


def trial_state(model: Any, task: Any) -> Optional[int]:
    """The floats of state ``model``'s cell carries per sequence after the task's whole sequence
    (``seqbench.models.state``), measured in eval mode after training; None when the cell cannot
    run a batch of one (the trial's results stand)."""
    from seqbench.models.state import measure_state

    model.eval()
    width = model.hidden_size if task.input_kind == "tokens" else task.input_size
    try:
        return measure_state(model.cell, width, task.seq_len)
    except Exception:  # noqa: BLE001 - a size to report, not a reason to fail the trial
        return None


def _options_json(options: dict) -> str:
    return json.dumps(options, sort_keys=True, default=str) if options else ""


class SerialExecutor:
    """Trials one after another in this process (``--jobs 1``, the default)."""

    def __init__(self, registry: Registry, checkpoint_dir: Path, threads: Optional[int] = None) -> None:
        self.registry, self.checkpoint_dir, self.threads = registry, checkpoint_dir, threads

    def run(self, specs: list[TrialSpec], notify: Callable[..., None],
            expected: Optional[Callable[[TrialSpec], float]] = None) -> Iterator[tuple[TrialSpec, dict[str, Any]]]:
        """The trials in plan order (``expected``, which orders parallel executors, changes nothing here)."""
        import torch

        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            for spec in specs:
                yield spec, run_trial(spec, self.registry, self.checkpoint_dir, notify)
        finally:
            torch.set_num_threads(before)  # the caller's process keeps its own setting

    def close(self) -> None:
        pass
