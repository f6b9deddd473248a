"""The MNIST-1D dataset (Greydanus 2020, arXiv:2011.14439), built procedurally by the optional
``mnist1d`` package (``pip install 'seqbench[mnist1d]'``) and never downloaded.

``make_dataset(get_dataset_args())`` with the paper's arguments: 5,000 examples (500 per digit)
of ``final_seq_length`` = 40 steps from the paper's data seed (42), centred and scaled to unit
standard deviation over the whole set, the first 4,000 the training part and the last 1,000 the
test part. ``shuffle_seq`` applies one fixed permutation of the time steps to every example (the
paper's "shuffled" variant; the examples are otherwise the same). The build takes a few seconds
and happens once per process and setting (``load_mnist1d``).

The package seeds numpy's and Python's global generators; they are restored afterwards, so
building the dataset changes no other draw in the process.
"""
from __future__ import annotations

from typing import Any

from seqbench.errors import UsageError

DATA_SEED = 42  # the paper's (mnist1d.data.get_dataset_args)
PAPER_LENGTH = 40  # the paper's final_seq_length
INSTALL_HINT = "mnist1d needs the mnist1d package: pip install 'seqbench[mnist1d]'"

_built: dict[tuple[int, bool], dict[str, Any]] = {}  # (length, shuffle_seq) → arrays, once per process


def _package() -> Any:
    """``mnist1d.data``, or a one-line UsageError saying how to install it."""
    try:
        import mnist1d.data
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing is None or missing == "mnist1d" or missing.startswith("mnist1d."):
            raise UsageError(INSTALL_HINT) from None
        raise UsageError(f"{INSTALL_HINT} (importing it failed: {exc})") from None
    return mnist1d.data


def build_mnist1d(length: int = PAPER_LENGTH, shuffle_seq: bool = False) -> dict[str, Any]:
    """The dataset as numpy arrays: ``x`` (4000, length) and ``y`` (4000,) for training,
    ``x_test`` (1000, length) and ``y_test`` (1000,). Not cached: see ``load_mnist1d``."""
    import random

    import numpy as np

    data = _package()
    args = data.get_dataset_args()
    args.seed, args.final_seq_length, args.shuffle_seq = DATA_SEED, length, shuffle_seq
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        built = data.make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return {name: built[name] for name in ("x", "y", "x_test", "y_test")}


def load_mnist1d(length: int = PAPER_LENGTH, shuffle_seq: bool = False) -> dict[str, Any]:
    """``build_mnist1d``, built once per process and setting."""
    key = (length, bool(shuffle_seq))
    if key not in _built:
        _built[key] = build_mnist1d(length, bool(shuffle_seq))
    return _built[key]
