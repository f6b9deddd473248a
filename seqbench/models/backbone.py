"""Backbones: how a trial's cell becomes the sequence model between the input adapter and the head.

- ``plain`` (the default): the cell as its factory builds it, ``num_layers`` deep (torch's stacked
  LSTM, the Transformer's own blocks, a modern layer's paper block).
- ``block``: the shared residual stack of ``cells/blocks.py``, the same for every cell, so that a
  comparison isolates the sequence mixer (as Zoology and MAD do)::

      BlockStack(input, d, num_layers, lambda i: Block(d, mixer_i, GatedMLP(d), dropout))

  The mixer is the cell's bare mixer when it registered one (``register(..., mixer=
  "module:factory")``, ``factory(d, **options)``: the Transformer's causal self-attention,
  a modern layer's SSM or recurrence), otherwise the cell itself built as a one-layer cell of
  width ``d`` (input ``d``, hidden ``d``): the fused rnn, lstm and gru, and any plugin cell.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from seqbench.cells.blocks import Block, BlockStack, GatedMLP
from seqbench.errors import PluginError

BACKBONES = ("plain", "block")


def mixer_factory(entry: Any) -> Any:
    """The factory ``factory(d, **options)`` of the mixer ``entry`` registered, or None."""
    return entry.extra.get("mixer")


def build_block_stack(entry: Any, input_size: int, d: int, num_layers: int, dropout: float,
                      options: dict) -> BlockStack:
    """The block backbone of cell ``entry``: ``num_layers`` pre-norm residual blocks of width ``d``
    around its mixer (see the module docstring), each followed by a SwiGLU MLP."""
    factory = mixer_factory(entry)

    def make_mixer() -> nn.Module:
        mixer = factory(d, **options) if factory is not None else entry.obj(d, d, 1, 0.0, **options)
        if not isinstance(mixer, nn.Module):
            what = "mixer factory" if factory is not None else "factory"
            raise PluginError(f"cell '{entry.name}' {what} returned {type(mixer).__name__}, not a torch.nn.Module")
        return mixer

    return BlockStack(input_size, d, num_layers, lambda i: Block(d, make_mixer(), GatedMLP(d), dropout))
