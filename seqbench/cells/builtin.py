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
# modern layers (issue 25): group ``modern``, in a run only when named (``--cells modern``, ``all``);
# each also registers its bare mixer (``mixer=``, an import path) for the block backbone
MODERN = {"group": "modern"}


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
                 mixer="seqbench.cells.transformer:build_attention_mixer", **CLASSIC)


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


class MinRNN:
    """Plugin ``seqbench.cells.mingru``: minGRU and minLSTM (Feng et al. 2024), parallel scan."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("mingru", "seqbench.cells.mingru:build_mingru", mixer="seqbench.cells.mingru:mixer", **MODERN,
                 description="minGRU (Feng et al. 2024): gates from x_t only; parallel scan (scan=linear, or log: Heinsen); + gated MLP")
        register("minlstm", "seqbench.cells.mingru:build_minlstm", mixer="seqbench.cells.mingru:minlstm_mixer", **MODERN,
                 description="minLSTM (Feng et al. 2024): normalized forget/input gates; parallel scan (linear or log); + gated MLP")


class S6:
    """Plugin ``seqbench.cells.s6``: the Mamba block's selective SSM (Gu & Dao 2023)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("s6", "seqbench.cells.s6:build_s6", mixer="seqbench.cells.s6:mixer", **MODERN,
                 description="S6, Mamba's selective SSM (Gu & Dao 2023) in the Mamba block; Blelloch scan")


class S4D:
    """Plugin ``seqbench.cells.s4d``: a diagonal linear time-invariant SSM (Gu et al. 2022)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("s4d", "seqbench.cells.s4d:build_s4d", mixer="seqbench.cells.s4d:mixer", **MODERN,
                 description="S4D (Gu et al. 2022): diagonal LTI SSM, FFT convolution; step = recurrence")


class ModernRGLRU:
    """Plugin ``seqbench.cells.rglru``: Hawk's RG-LRU recurrent block (De et al. 2024)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("rglru", "seqbench.cells.rglru:build_rglru", mixer="seqbench.cells.rglru:mixer",
                 description="Hawk (De et al. 2024): RG-LRU recurrent block + gated MLP, parallel scan", **MODERN)


class ModernLRU:
    """Plugin ``seqbench.cells.lru``: the Linear Recurrent Unit (Orvieto et al. 2023)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("lru", "seqbench.cells.lru:build_lru", mixer="seqbench.cells.lru:mixer",
                 description="LRU (Orvieto et al. 2023): complex diagonal recurrence + gated MLP, parallel scan",
                 **MODERN)


class ModernDeltaNet:
    """Plugin ``seqbench.cells.deltanet``: DeltaNet, the delta rule trained chunkwise (Yang et al. 2024)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("deltanet", "seqbench.cells.deltanet:build_deltanet", mixer="seqbench.cells.deltanet:mixer",
                 description="DeltaNet (Yang et al. 2024): delta-rule fast weights, chunked WY form + SwiGLU",
                 **MODERN)


class ModernLinAttn:
    """Plugin ``seqbench.cells.linattn``: linear attention (Katharopoulos et al. 2020)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("linattn", "seqbench.cells.linattn:build_linattn", mixer="seqbench.cells.linattn:mixer",
                 description="linear attention (Katharopoulos et al. 2020): elu+1 features, chunked + SwiGLU",
                 **MODERN)


class MLSTM:
    """Plugin ``seqbench.cells.mlstm``: xLSTM's mLSTM (matrix memory; chunkwise parallel form)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("mlstm", "seqbench.cells.mlstm:build_mlstm", mixer="seqbench.cells.mlstm:mixer", **MODERN,
                 description="xLSTM mLSTM block (Beck et al. 2024): matrix memory, exponential gates; chunkwise parallel")


class SLSTM:
    """Plugin ``seqbench.cells.slstm``: xLSTM's sLSTM (scalar memory, memory mixing; step loop only)."""

    __file__ = __file__

    @staticmethod
    @hookimpl
    def seqbench_register_cells(register: Callable[..., None]) -> None:
        register("slstm", "seqbench.cells.slstm:build_slstm", mixer="seqbench.cells.slstm:mixer", **MODERN,
                 description="xLSTM sLSTM block (Beck et al. 2024): exponential gating, normalizer; step loop only")
