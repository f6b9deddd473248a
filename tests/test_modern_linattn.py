"""linattn: the chunked form == its recurrence, conformance, and the same outputs as
flash-linear-attention's plain-torch reference (``fla.ops.linear_attn.naive``, ``reference`` extra)."""
from __future__ import annotations

import pytest
import torch

from seqbench.cells.linattn import (LinearAttentionMixer, build_linattn, feature_map, linear_attention_chunked,
                                    linear_attention_step)
from seqbench.errors import UsageError
from seqbench.studies.conformance import assert_cell_conforms
from modern_forms import assert_forms_agree, one_thread  # noqa: F401 - autouse fixture
from outside_reference import load_module


@pytest.mark.parametrize("length, options", [(17, {"chunk": 8}), (64, {"heads": 2, "chunk": 16}), (40, {})])
def test_parallel_form_equals_recurrence(length, options):
    assert_forms_agree(lambda: build_linattn(3, 12, 2, **options), 3, length=length)


def test_conforms():
    assert_cell_conforms("linattn")


def test_state_is_kv_sum_and_normalizer():
    _, (S, z) = LinearAttentionMixer(12, heads=3)(torch.randn(2, 5, 12))
    assert S.shape == (2, 3, 4, 4) and z.shape == (2, 3, 4)


@pytest.mark.parametrize("options, message", [({"mode": "fft"}, "mode must be one of"),
                                              ({"heads": 5}, "not divisible by heads=5")])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UsageError, match=message):
        build_linattn(3, 12, **options)


def test_same_outputs_as_flash_linear_attention():
    naive = load_module("fla.ops.linear_attn.naive")
    g = torch.Generator().manual_seed(0)
    batch, length, heads, d_k, d_v = 2, 45, 3, 8, 6
    q, k = (feature_map(torch.randn(batch, length, heads, d_k, generator=g)) for _ in range(2))
    v = torch.randn(batch, length, heads, d_v, generator=g)
    S, z = torch.randn(batch, heads, d_k, d_v, generator=g), torch.rand(batch, heads, d_k, generator=g) * 5
    scale = d_k ** -0.5  # fla scales numerator and normalizer alike: only its ε (1e-10) sees it
    expected, (expected_S, expected_z) = naive.naive_recurrent_linear_attn(
        q, k, v, scale=scale, initial_state=(S, z[:, None]), output_final_state=True, normalize=True)
    heads_first = [t.transpose(1, 2) for t in (q, k, v)]
    got, got_S, got_z = linear_attention_chunked(*heads_first, S, z, chunk=16, eps=1e-10 / scale)
    torch.testing.assert_close(got.transpose(1, 2), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_S, expected_S, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_z, expected_z[:, 0], rtol=1e-5, atol=1e-5)
    state, steps = (S, z), []
    for t in range(length):
        o, *state = linear_attention_step(q[:, t], k[:, t], v[:, t], *state, eps=1e-10 / scale)
        steps.append(o)
    torch.testing.assert_close(torch.stack(steps, 1), expected, rtol=1e-5, atol=1e-5)
