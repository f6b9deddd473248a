"""deltanet: the chunked (WY) form == its delta-rule recurrence, conformance, and the same outputs
as flash-linear-attention's plain-torch reference (``fla.ops.delta_rule.naive``, ``reference`` extra)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from seqbench.cells.deltanet import DeltaNetMixer, build_deltanet, delta_rule_chunked, delta_rule_step
from seqbench.errors import UsageError
from seqbench.studies.conformance import assert_cell_conforms
from modern_forms import assert_forms_agree, one_thread  # noqa: F401 - autouse fixture
from outside_reference import load_module


@pytest.mark.parametrize("length, options", [(17, {"chunk": 8}), (64, {"heads": 2, "chunk": 16}), (40, {})])
def test_parallel_form_equals_recurrence(length, options):
    assert_forms_agree(lambda: build_deltanet(3, 12, 2, **options), 3, length=length)


def test_conforms():
    assert_cell_conforms("deltanet")


def test_state_is_one_matrix_per_head():
    _, state = DeltaNetMixer(12, heads=3)(torch.randn(2, 5, 12))
    assert state.shape == (2, 3, 4, 4)


@pytest.mark.parametrize("options, message", [({"mode": "chunked"}, "mode must be one of"),
                                              ({"heads": 5}, "not divisible by heads=5"),
                                              ({"chunk": 0}, "chunk must be at least 1")])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UsageError, match=message):
        build_deltanet(3, 12, **options)


def _inputs(batch=2, heads=3, length=45, d_k=8, d_v=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k = (F.normalize(torch.randn(batch, heads, length, d_k, generator=g), dim=-1) for _ in range(2))
    v = torch.randn(batch, heads, length, d_v, generator=g)
    beta = torch.rand(batch, heads, length, generator=g)
    S = torch.randn(batch, heads, d_k, d_v, generator=g)
    return q, k, v, beta, S


def test_same_outputs_as_flash_linear_attention():
    naive = load_module("fla.ops.delta_rule.naive")
    q, k, v, beta, S = _inputs()
    scale = q.shape[-1] ** -0.5  # fla scales q by 1/√d_k inside; ours gets q already scaled
    expected, expected_S = naive.delta_rule_recurrence(q, k, v, beta, initial_state=S.clone())
    got, got_S = delta_rule_chunked(q * scale, k, v, beta, S, chunk=16)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_S, expected_S, rtol=1e-5, atol=1e-5)
    steps, state = [], S
    for t in range(q.shape[2]):
        o, state = delta_rule_step(q[:, :, t] * scale, k[:, :, t], v[:, :, t], beta[:, :, t], state)
        steps.append(o)
    torch.testing.assert_close(torch.stack(steps, 2), expected, rtol=1e-5, atol=1e-5)
    # and fla's own chunkwise form (no initial state, length a multiple of its chunk)
    q, k, v, beta, _ = _inputs(length=64, seed=1)
    expected, expected_S = naive.delta_rule_chunkwise(q, k, v, beta, chunk_size=32)
    got, got_S = delta_rule_chunked(q * scale, k, v, beta, torch.zeros_like(expected_S), chunk=64)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_S, expected_S, rtol=1e-5, atol=1e-5)

