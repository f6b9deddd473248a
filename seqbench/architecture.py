"""The layers of seqbench, lowest first, stated once.

A module imports only from its own layer or from the layers below it — relative or absolute,
at module level or inside a function (``tests/test_layers.py`` reads every import and fails
on one that points up). A module belongs to the layer of the longest prefix that names it.
``docs/architecture.md`` describes each layer and draws them from the code
(``python docs/architecture.py`` regenerates its picture).
"""
from __future__ import annotations

from typing import Optional

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("basics", ("seqbench._version", "seqbench.architecture", "seqbench.errors", "seqbench.words",
                "seqbench.stats")),
    ("specs", ("seqbench.hookspecs", "seqbench.spec", "seqbench.plugins")),
    ("models and data", ("seqbench.data", "seqbench.tasks", "seqbench.cells", "seqbench.models")),
    ("running", ("seqbench.train", "seqbench.store", "seqbench.execute")),
    ("studies", ("seqbench.runs", "seqbench.sweep", "seqbench.studies", "seqbench.inspect")),
    ("reporting", ("seqbench.reporting",)),
    ("commands", ("seqbench.commands",)),
    ("cli", ("seqbench.cli", "seqbench.__main__", "seqbench")),
]


def layer_of(module: str) -> Optional[int]:
    """Index in ``LAYERS`` of ``module`` (a dotted name under ``seqbench``), or None outside it."""
    best: Optional[tuple[int, int]] = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0] if best else None
