"""seqbench: compare recurrent cells and a Transformer on long-dependency sequence tasks.

``seqbench.run(...)`` is the Python API behind ``seqbench run`` and returns a pandas
DataFrame, as ``seqbench.speed(...)`` does for ``seqbench speed`` and ``seqbench.compare([...])``
for ``seqbench compare``; ``seqbench.hookimpl``
marks plugin hook implementations (see ``hookspecs``).
"""
from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl", "run", "horizon", "load_run", "speed", "compare", "generate", "evaluate"]


def run(*args: Any, **kwargs: Any) -> Any:
    """Run a comparison; see :func:`seqbench.runner.run` (imported lazily: it needs torch)."""
    from .runner import run as _run

    return _run(*args, **kwargs)


def horizon(*args: Any, **kwargs: Any) -> Any:
    """Each cell's memory horizon, a DataFrame; see :func:`seqbench.sweep.horizon.horizon` (lazy: torch)."""
    from .sweep.horizon import horizon as _horizon

    return _horizon(*args, **kwargs)


def speed(*args: Any, **kwargs: Any) -> Any:
    """Measure cells' speed, memory and scaling; see :func:`seqbench.bench.speed` (imported lazily)."""
    from .bench import speed as _speed

    return _speed(*args, **kwargs)


def compare(runs: Any) -> Any:
    """Compare run directories side by side, a DataFrame; see :func:`seqbench.comparison.compare`."""
    from .comparison import compare as _compare

    return _compare(runs)


def load_run(path: Any) -> Any:
    """A run directory's results as a DataFrame; see :func:`seqbench.store.load_run`."""
    from .store import load_run as _load

    return _load(path)


def generate(*args: Any, **kwargs: Any) -> str:
    """Text sampled from a charlm checkpoint; see :func:`seqbench.sampling.generate` (lazy: torch)."""
    from .sampling import generate as _generate

    return _generate(*args, **kwargs)


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """Perplexity and bits/char of a charlm checkpoint, a DataFrame; see
    :func:`seqbench.lmeval.evaluate_checkpoint`."""
    from .lmeval import evaluate_checkpoint

    return evaluate_checkpoint(*args, **kwargs)
