"""Seeding a trial, and torch's deterministic algorithms when it asks for them (``--deterministic``).

On CPU, seqbench's trials already give the same numbers for the same seed, machine and
configuration. On CUDA some kernels (scatter/index-add backward, cuBLAS split-K reductions, some
cuDNN RNN paths) are not deterministic; ``--deterministic`` makes torch use deterministic ones
(``torch.use_deterministic_algorithms``) and sets cuBLAS's fixed workspace
(``CUBLAS_WORKSPACE_CONFIG=:4096:8``, needed before cuBLAS starts: set it in the environment of
a process that already ran CUDA code). An operation with no deterministic kernel then raises,
and the trial gets an error row naming it. The cost is speed on the GPU (typically a few to
tens of per cent, more for cells whose backward scatters); on CPU it is none.
"""
from __future__ import annotations

import os
from typing import Any

CUBLAS_WORKSPACE = ":4096:8"


def seed_trial(spec: Any) -> None:
    """Seed torch for ``spec`` and set torch's deterministic mode to ``spec.deterministic`` (each
    trial sets it, so trials run one after another in a process never inherit another's mode)."""
    import torch

    if spec.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if bool(spec.deterministic) != torch.are_deterministic_algorithms_enabled():  # the setter imports torch._dynamo
        torch.use_deterministic_algorithms(bool(spec.deterministic))
    torch.manual_seed(spec.seed)
