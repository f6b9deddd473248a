"""S4D (seqbench/cells/s4d.py): the FFT convolution equals the diagonal recurrence (values and
gradients, from a carried state), the kernel is the Vandermonde sum, and the cell conforms.
No pip package offers a pure-PyTorch S4D to compare with (the paper's s4d.py is not packaged)."""
from __future__ import annotations

import pytest
import torch

from fixtures.modern_equivalence import assert_parallel_equals_steps, relative_error
from seqbench.cells.s4d import S4D, build_s4d
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import assert_cell_conforms


@pytest.mark.parametrize("init", ["lin", "inv"])
def test_layer_parallel_form_equals_its_recurrence(init):
    assert_parallel_equals_steps(lambda mode: S4D(6, d_state=8, init=init, mode=mode), 6, length=45)


def test_cell_parallel_form_equals_its_recurrence():
    assert_parallel_equals_steps(lambda mode: build_s4d(3, 8, 2, mode=mode, d_state=4), 3, length=17)


def test_fft_convolution_is_the_direct_causal_convolution_with_the_vandermonde_kernel():
    torch.manual_seed(0)
    layer = S4D(3, d_state=6).double()
    u = torch.randn(2, 20, 3, dtype=torch.float64)
    a_bar, c_b, _ = layer.discrete()
    kernel = torch.stack([2 * (c_b * a_bar ** l).sum(-1).real for l in range(20)], -1)  # (d, T)
    direct = torch.stack([(kernel[:, :t + 1].flip(-1) * u[:, :t + 1].transpose(1, 2)).sum(-1)
                          for t in range(20)], 1) + layer.D * u
    with torch.no_grad():
        got, _ = layer(u)
        assert relative_error(got, layer._out(direct)) < 1e-10


def test_state_is_a_real_view_of_the_complex_modes():
    _, (state,) = build_s4d(2, 8, 1, d_state=64)(torch.randn(1, 5, 2))
    assert state.shape == (1, 8, 32, 2) and not state.is_complex()  # d·N floats


def test_conformance():
    # mode auto: the checks' whole sequences take the FFT form, their single steps the recurrence
    assert_cell_conforms("s4d", registry=Registry(entry_points=False))


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="d_state must be an even number"):
        build_s4d(2, 8, d_state=5)
    with pytest.raises(ValueError, match="init must be one of lin, inv"):
        build_s4d(2, 8, init="legs")
