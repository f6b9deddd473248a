"""The hooks of the built-in cells, kept free of torch so that listing names, ``--help`` and an
unknown-name error stay instant: each cell is registered as an import path
(``"seqbench.cells.recurrent:build_lstm"``, a ``registry.LazyFactory``) and its module, with
torch, is imported only when the cell is built or its parameters are read.

Each class is one plugin, registered under the name of the module holding its cells
(``registry.BUILTIN_HOOKS``), so ``-p no:seqbench.cells.transformer`` still blocks it.
"""
from __future__ import annotations

from typing import Any, Callable

from seqbench.hookspecs import hookimpl

# the four cells the project compares: group ``classic`` and the default set of a run
CLASSIC = {"group": "classic", "default": True}


class Recurrent:
    """Plugin ``seqbench.cells.recurrent``: torch's fused rnn, lstm and gru."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("rnn", "seqbench.cells.recurrent:build_rnn", description="vanilla RNN, tanh (torch nn.RNN, fused)",
                 **CLASSIC)
        register("lstm", "seqbench.cells.recurrent:build_lstm",
                 description="LSTM, forget bias 1 (torch nn.LSTM, fused)", **CLASSIC)
        register("gru", "seqbench.cells.recurrent:build_gru", description="GRU (torch nn.GRU, fused)", **CLASSIC)


class Transformer:
    """Plugin ``seqbench.cells.transformer``: the causal decoder-only Transformer."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("transformer", "seqbench.cells.transformer:CausalTransformer",
                 description="causal decoder-only Transformer (pre-norm, sinusoidal positions, SDPA, KV cache)",
                 **CLASSIC)


class Reference:
    """Plugin ``seqbench.cells.reference``: the gate-by-gate reference cells and their internals."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        for kind, what in (("rnn", "vanilla tanh RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
            register(f"{kind}-ref", f"seqbench.cells.reference:build_{kind}_ref",
                     description=f"{what} written gate by gate (reference for {kind})", fused_twin=kind)

    @staticmethod
    @hookimpl
    def seqbench_inspect_cell(cell: Any, x: Any, state: Any) -> Any:
        """The reference LSTM's and GRU's gates (``reference.record_internals``); None for any other cell."""
        if type(cell).__module__ != "seqbench.cells.reference":
            return None  # not ours: answered without importing the reference cells
        from seqbench.cells.reference import INTERNALS, ReferenceRecurrent, record_internals

        if isinstance(cell, ReferenceRecurrent) and cell.kind in INTERNALS:
            return record_internals(cell, x, state)
        return None


# xLSTM's cells (Beck et al. 2024): group ``modern``, not in the default set
MODERN = {"group": "modern"}
# their bare mixers, for ``--backbone block`` (``register(..., mixer=...)``)
MLSTM_MIXER = "seqbench.cells.mlstm:mixer"
SLSTM_MIXER = "seqbench.cells.slstm:mixer"


class MLSTM:
    """Plugin ``seqbench.cells.mlstm``: xLSTM's mLSTM (matrix memory; chunkwise parallel form)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("mlstm", "seqbench.cells.mlstm:build_mlstm",
                 description="xLSTM mLSTM block: matrix memory, exponential gates (Beck et al. 2024; chunkwise "
                             "parallel)", mixer=MLSTM_MIXER, **MODERN)


class SLSTM:
    """Plugin ``seqbench.cells.slstm``: xLSTM's sLSTM (scalar memory, memory mixing; step loop only)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("slstm", "seqbench.cells.slstm:build_slstm",
                 description="xLSTM sLSTM block: exponential gates, normalizer, memory mixing (Beck et al. 2024; "
                             "sequential only)", mixer=SLSTM_MIXER, **MODERN)
