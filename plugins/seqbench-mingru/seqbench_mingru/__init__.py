"""seqbench-mingru: the minGRU and minLSTM cells of Feng et al. 2024 as a seqbench plugin.

Both cells take ``mode`` (``auto``, ``sequential``, ``parallel``), ``expand`` and ``residual``
options: ``seqbench run --cells mingru --cell-opt mingru.mode=sequential``.

The cells are registered as import paths, so loading the plugin (``seqbench list``, a typo in
``--cells``) does not import torch; ``seqbench_mingru.mingru`` and the other names below are
imported from ``cells`` and ``scan`` on first access.
"""
from __future__ import annotations

import importlib
from typing import Any

import seqbench

__version__ = "0.1.0"
__all__ = ["MinRNN", "mingru", "minlstm", "g", "log_g", "log_scan"]
_HOME = {"MinRNN": "cells", "mingru": "cells", "minlstm": "cells", "g": "scan", "log_g": "scan", "log_scan": "scan"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@seqbench.hookimpl
def seqbench_register_cells(register):
    register("mingru", "seqbench_mingru.cells:mingru",
             description="minGRU (Feng et al. 2024): gates from x_t only, parallel log-space scan")
    register("minlstm", "seqbench_mingru.cells:minlstm", description="minLSTM (Feng et al. 2024): normalized "
             "forget/input gates, parallel log-space scan")
