"""S6 (seqbench/cells/s6.py) and its scans (seqbench/cells/scan.py): the Blelloch scans equal the
recurrence (values and gradients), the Mamba block's parallel form equals its step form, the
same weights give mambapy's MambaBlock outputs, and the cell conforms."""
from __future__ import annotations

import pytest
import torch

from fixtures.modern_equivalence import assert_parallel_equals_steps, relative_error
from seqbench.cells.s6 import S6, build_s6
from seqbench.cells.scan import linear_scan, selective_scan
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import assert_cell_conforms


@pytest.mark.parametrize("length", [1, 7, 16])
def test_linear_scan_equals_the_recurrence_and_has_exact_gradients(length):
    generator = torch.Generator().manual_seed(length)
    a, b = torch.rand(1, length, 2, 2, generator=generator, dtype=torch.float64), torch.randn(
        1, length, 2, 2, generator=generator, dtype=torch.float64)
    h0 = torch.randn(1, 2, 2, generator=generator, dtype=torch.float64)
    h, expected = h0, []
    for t in range(length):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    assert relative_error(linear_scan(a, b, h0), torch.stack(expected, 1)) < 1e-12
    assert torch.autograd.gradcheck(linear_scan, [t.requires_grad_() for t in (a, b, h0)])


@pytest.mark.parametrize("length", [1, 6])
def test_selective_scan_gradients_are_exact(length):
    generator = torch.Generator().manual_seed(length)
    shapes = [(1, length, 2), (2, 3), (1, length, 3), (1, length, 3), (1, length, 2), (1, 2, 3)]
    args = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
    args[0], args[1] = args[0].abs(), -args[1].abs()  # Δ > 0, A < 0
    assert torch.autograd.gradcheck(selective_scan, [t.requires_grad_() for t in args])


@pytest.mark.parametrize("d_conv", [4, 1])
def test_mixer_parallel_form_equals_its_recurrence(d_conv):
    assert_parallel_equals_steps(lambda mode: S6(8, d_state=4, d_conv=d_conv, mode=mode), 8, length=24)


def test_cell_parallel_form_equals_its_recurrence():
    assert_parallel_equals_steps(lambda mode: build_s6(3, 8, 2, mode=mode, d_state=4), 3, length=17)


def test_state_is_the_conv_buffer_and_h():
    cell = build_s6(2, 8, 1, d_state=16)
    _, ((buffer, h),) = cell(torch.randn(1, 5, 2))
    assert buffer.shape == (1, 16, 3) and h.shape == (1, 16, 16)  # E = 2·d, d_conv − 1, N


def test_conformance():
    # mode auto: the checks' whole sequences take the parallel form, their single steps the step form
    assert_cell_conforms("s6", registry=Registry(entry_points=False))


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        build_s6(2, 8, mode="fast")
    with pytest.raises(ValueError, match="dt_min <= dt_max"):
        S6(8, dt_min=0.5, dt_max=0.1)


def test_equals_mambapy_mamba_block_with_the_same_weights():
    """mambapy's MambaBlock (pip install --no-deps mambapy; pure PyTorch, its own pscan) loads our
    mixer's weights as they are and gives the same outputs, and its step gives our step's."""
    mamba = pytest.importorskip("mambapy.mamba")
    torch.manual_seed(0)
    ref = mamba.MambaBlock(mamba.MambaConfig(d_model=16, n_layers=1)).double()
    mine = S6(16).double()
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(2, 64, 16, dtype=torch.float64)
    with torch.no_grad():
        assert relative_error(mine(x)[0], ref(x)) < 1e-9
        state, cache = mine.initial_state(x), (None, torch.zeros(2, mine.inner, 3, dtype=torch.float64))
        for t in range(3):
            y, state = mine(x[:, t:t + 1], state)
            expected, cache = ref.step(x[:, t], cache)
            assert relative_error(y[:, 0], expected) < 1e-9


@pytest.mark.parametrize("block", [1, 24, 72])
def test_selective_scan_in_chunks_equals_one_chunk_with_exact_gradients(block):
    """Blocks of B·L·E·N = ``block`` elements: chunks of 1, 2 and 3 steps (the last one short)."""
    generator = torch.Generator().manual_seed(block)
    shapes = [(2, 7, 3), (3, 4), (2, 7, 4), (2, 7, 4), (2, 7, 3), (2, 3, 4)]
    args = [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]
    args[0], args[1] = args[0].abs(), -args[1].abs()  # Δ > 0, A < 0
    for got, expected in zip(selective_scan(*args, block=block), selective_scan(*args, block=10**6)):
        assert relative_error(got, expected) < 1e-12
    assert torch.autograd.gradcheck(lambda *t: selective_scan(*t, block=block), [t.requires_grad_() for t in args])
