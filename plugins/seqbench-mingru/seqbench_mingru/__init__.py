"""seqbench-mingru: the minGRU and minLSTM cells of Feng et al. 2024 as a seqbench plugin.

Both cells take ``mode`` (``auto``, ``sequential``, ``parallel``), ``expand`` and ``residual``
options: ``seqbench run --cells mingru --cell-opt mingru.mode=sequential``.
"""
from __future__ import annotations

import seqbench

from .cells import MinRNN, minlstm, mingru
from .scan import g, log_g, log_scan

__version__ = "0.1.0"
__all__ = ["MinRNN", "mingru", "minlstm", "g", "log_g", "log_scan"]


@seqbench.hookimpl
def seqbench_register_cells(register):
    register("mingru", mingru, description="minGRU (Feng et al. 2024): gates from x_t only, parallel log-space scan")
    register("minlstm", minlstm, description="minLSTM (Feng et al. 2024): normalized forget/input gates, "
             "parallel log-space scan")
