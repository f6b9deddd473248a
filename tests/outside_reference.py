"""Load a pure-PyTorch module from an outside package (the ``reference`` extra) for a test.

Some packages' top-level ``__init__`` imports what a CPU test does not have (recurrentgemma
imports jax, flash-linear-attention's ``fla`` imports triton kernels), while the file the test
needs imports only torch. ``load_module`` runs that file and the package files it imports, with
placeholder parent packages whose ``__init__`` is never run; it skips the test when the
package is not installed, and leaves ``sys.modules`` as it found it.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from types import ModuleType

import pytest


def load_module(dotted: str) -> ModuleType:
    """``dotted`` (e.g. ``"fla.ops.delta_rule.naive"``) without running its packages' ``__init__``."""
    top = dotted.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"outside reference {top!r} is not installed (pip install -e '.[reference]')")
    before = set(sys.modules)
    saved = {name: sys.modules.get(name) for name in _parents(dotted)}
    try:
        root = Path(next(iter(spec.submodule_search_locations)))
        for name in _parents(dotted):
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
            sys.modules[name] = package
        return importlib.import_module(dotted)
    except ImportError as exc:  # a dependency of the reference file is missing
        pytest.skip(f"outside reference {dotted} does not import: {exc}")
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]
        for name, module in saved.items():
            if module is not None:
                sys.modules[name] = module


def _parents(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]
