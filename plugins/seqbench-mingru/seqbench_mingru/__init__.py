"""seqbench-mingru: the example plugin package of this repository; its cell is ``indrnn``
(Li et al. 2018). (minGRU and minLSTM, which it held first, are built into seqbench now:
``seqbench.cells.mingru``; the package keeps its name so installs and entry points stay valid.)

The cell is registered as an import path, so loading the plugin (``seqbench list``, a typo in
``--cells``) does not import torch.
"""
from __future__ import annotations

import seqbench

__version__ = "0.2.0"


@seqbench.hookimpl
def seqbench_register_cells(register):
    register("indrnn", "seqbench_mingru.indrnn:indrnn",
             description="IndRNN (Li et al. 2018): one recurrent weight per unit, h = relu(Wx + u*h + b)")
