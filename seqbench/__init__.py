"""seqbench: compare recurrent cells and a Transformer on long-dependency sequence tasks.

``seqbench.run(...)`` is the Python API behind ``seqbench run`` and returns a pandas
DataFrame, as ``seqbench.speed(...)`` does for ``seqbench speed`` and ``seqbench.compare([...])``
for ``seqbench compare``; ``seqbench.hookimpl``
marks plugin hook implementations (see ``hookspecs``).
"""
from __future__ import annotations

from typing import Any

from seqbench._version import __version__
from seqbench.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl", "run", "plan_run", "horizon", "load_run", "speed", "compare", "generate",
           "evaluate", "plots"]


def run(*args: Any, **kwargs: Any) -> Any:
    """Run a comparison; see :func:`seqbench.runs.runner.run` (imported lazily: it needs torch)."""
    from seqbench.runs.runner import run as _run

    return _run(*args, **kwargs)


def plan_run(*args: Any, **kwargs: Any) -> Any:
    """The plan of ``run`` with the same arguments, one row per trial with its estimated seconds,
    nothing trained; see :func:`seqbench.runs.runner.plan_run` (lazy: torch)."""
    from seqbench.runs.runner import plan_run as _plan_run

    return _plan_run(*args, **kwargs)


def horizon(*args: Any, **kwargs: Any) -> Any:
    """Each cell's memory horizon, a DataFrame; see :func:`seqbench.sweep.horizon.horizon` (lazy: torch)."""
    from seqbench.sweep.horizon import horizon as _horizon

    return _horizon(*args, **kwargs)


def speed(*args: Any, **kwargs: Any) -> Any:
    """Measure cells' speed, memory and scaling; see :func:`seqbench.studies.speed.speed` (imported lazily)."""
    from seqbench.studies.speed import speed as _speed

    return _speed(*args, **kwargs)


def compare(runs: Any, **kwargs: Any) -> Any:
    """Compare run directories side by side, a DataFrame; see :func:`seqbench.studies.comparison.compare`."""
    from seqbench.studies.comparison import compare as _compare

    return _compare(runs, **kwargs)


def load_run(path: Any) -> Any:
    """A run directory's results as a DataFrame; see :func:`seqbench.store.load_run`."""
    from seqbench.store import load_run as _load

    return _load(path)


def generate(*args: Any, **kwargs: Any) -> str:
    """Text sampled from a charlm checkpoint; see :func:`seqbench.studies.sampling.generate` (lazy: torch)."""
    from seqbench.studies.sampling import generate as _generate

    return _generate(*args, **kwargs)


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """Perplexity and bits/char of a charlm checkpoint, a DataFrame; see
    :func:`seqbench.studies.lm_eval.evaluate_checkpoint`."""
    from seqbench.studies.lm_eval import evaluate_checkpoint

    return evaluate_checkpoint(*args, **kwargs)


def __getattr__(name: str) -> Any:
    """``seqbench.plots``: the figures module (``seqbench.reporting.plots``), imported on first use."""
    if name == "plots":
        import importlib

        return importlib.import_module("seqbench.reporting.plots")
    raise AttributeError(f"module 'seqbench' has no attribute {name!r}")
