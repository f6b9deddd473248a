"""rglru (Hawk's RG-LRU recurrent block): parallel form == its recurrence, conformance, and the
same outputs as Google DeepMind's own PyTorch implementation (recurrentgemma, ``reference`` extra)."""
from __future__ import annotations

import pytest
import torch

from seqbench.cells.rglru import RecurrentBlockMixer, build_rglru
from seqbench.errors import UsageError
from seqbench.studies.conformance import assert_cell_conforms
from modern_forms import assert_forms_agree, one_thread  # noqa: F401 - autouse fixture
from outside_reference import load_module


@pytest.mark.parametrize("length, options", [(17, {}), (64, {"heads": 2, "expand": 1.5})])
def test_parallel_form_equals_recurrence(length, options):
    assert_forms_agree(lambda: build_rglru(3, 12, 2, **options), 3, length=length)


def test_conforms():
    assert_cell_conforms("rglru")


def test_state_is_conv_buffer_and_h():
    mixer = RecurrentBlockMixer(8, expand=1.5)
    _, (buffer, h) = mixer(torch.randn(2, 5, 8))
    assert buffer.shape == (2, 3, 12) and h.shape == (2, 12)


@pytest.mark.parametrize("options, message", [({"mode": "fast"}, "mode must be one of"),
                                              ({"heads": 5}, "not divisible by heads=5")])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UsageError, match=message):
        build_rglru(3, 12, **options)


def test_same_outputs_as_recurrentgemma():
    modules = load_module("recurrentgemma.torch.modules")
    torch.manual_seed(0)
    d, heads, length = 12, 2, 23
    ours = RecurrentBlockMixer(d, heads=heads)
    theirs = modules.RecurrentBlock(width=d, num_heads=heads, lru_width=d, conv1d_temporal_width=4)
    with torch.no_grad():
        for name in ("linear_x", "linear_y", "linear_out"):
            getattr(theirs, name).load_state_dict(getattr(ours, name).state_dict())
        theirs.conv_1d.w.copy_(ours.conv.conv.weight[:, 0].T)           # (width, channels), last tap = x_t
        theirs.conv_1d.b.copy_(ours.conv.conv.bias)
        theirs.rg_lru.a_param.copy_(-ours.rg_lru.Lambda)                 # a = exp(−c r softplus(a_param))
        for mine, gate in ((ours.rg_lru.input_gate, theirs.rg_lru.input_gate),
                           (ours.rg_lru.recurrence_gate, theirs.rg_lru.a_gate)):
            gate.w.copy_(mine.weight)
            gate.b.copy_(mine.bias)
    x = torch.randn(3, length, d)
    # positions from 4 on: no document boundary, so recurrentgemma neither resets h nor masks the conv
    segment_pos = torch.arange(4, 4 + length).expand(3, length)
    expected, cache = theirs(x, segment_pos)
    got, (buffer, h) = ours(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h, cache.rg_lru_state, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(buffer, cache.conv1d_state, rtol=1e-6, atol=1e-6)
