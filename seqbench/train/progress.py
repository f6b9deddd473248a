"""Live progress on stderr while a run trains: a built-in reporter plugin that uses only the
lifecycle hooks, like any third-party logger would."""
from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seqbench.hookspecs import hookimpl
from seqbench.words import plural


class RichProgress:
    """One ``rich.progress.Progress`` for the run: an overall bar and one bar per running trial
    (several at once with ``--jobs`` or Ray) showing cell, task, step, loss and tokens/s."""

    def __init__(self, console: Optional[Console] = None) -> None:
        self.console = console or Console(stderr=True, log_path=False)
        self.progress: Optional[Progress] = None
        self.overall: Any = None
        self.running: dict[str, Any] = {}  # trial key → its bar

    @hookimpl
    def seqbench_run_start(self, run_dir: str, trials: list) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 console=self.console)
        self.progress.start()
        self.progress.console.log(f"run directory: {run_dir} ({plural(len(trials), 'trial')} to run)")
        self.overall = self.progress.add_task("[bold]all trials", total=len(trials), info="")

    @hookimpl
    def seqbench_trial_start(self, trial: Any, params: int) -> None:
        if self.progress is None:
            return
        label = f"{trial.cell} · {trial.task} T={trial.length} · seed {trial.seed}"
        self.running[trial.key] = self.progress.add_task(label, total=trial.steps, info=f"{params:,} params")

    @hookimpl
    def seqbench_trial_log(self, trial: Any, step: int, metrics: Mapping[str, float]) -> None:
        bar = self.running.get(trial.key)
        if self.progress is None or bar is None or "loss" not in metrics:
            return
        info = f"step {step:>6,}  loss {metrics['loss']:.4g}  {metrics['tok_s']:>9,.0f} tok/s"
        self.progress.update(bar, completed=step, info=info)

    @hookimpl
    def seqbench_trial_end(self, trial: Any, row: Mapping[str, Any]) -> None:
        if self.progress is None:
            return
        bar = self.running.pop(trial.key, None)
        if bar is not None:
            self.progress.remove_task(bar)
        status = str(row["status"])
        if status == "ok":
            mark = "[green]✓[/]" if row.get("solved") else "[yellow]·[/]"
            loss = row.get("loss")
            detail = (f"loss {loss:.4g}" if loss is not None else "done") + (" solved" if row.get("solved") else "")
        else:
            mark, detail = "[red]✗[/]", status
        self.progress.console.log(f"{mark} {trial.cell} · {trial.task} T={trial.length} · seed {trial.seed}: "
                                  f"{detail} ({plural(row['steps'], 'step')}, {row['wall_s']:.1f}s)", markup=True,
                                  highlight=False)
        self.progress.advance(self.overall)

    @hookimpl
    def seqbench_run_end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def speed_line(row: Mapping[str, Any]) -> str:
    """One line on stderr for a measured ``seqbench speed`` row."""

    def num(v: Any, spec: str) -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    return (f"{row['cell']} T={row['length']}: train {num(row['train_tok_s'], ',.0f')} tok/s, infer "
            f"{num(row['infer_tok_s'], ',.0f')} tok/s, generate {num(row['gen_ms_per_tok'], '.3g')} ms/token "
            f"({row['wall_s']:.1f} s){'' if row['status'] == 'ok' else ' · ' + row['status']}")
