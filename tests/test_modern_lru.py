"""lru: the parallel scan == its recurrence, conformance, and the same outputs as the ``lru-pytorch``
package's LRU (``reference`` extra), a step loop written from the paper."""
from __future__ import annotations

import pytest
import torch

from seqbench.cells.lru import LRUMixer, build_lru
from seqbench.errors import UsageError
from seqbench.studies.conformance import assert_cell_conforms
from modern_forms import assert_forms_agree, one_thread  # noqa: F401 - autouse fixture
from outside_reference import load_module


@pytest.mark.parametrize("length, options", [(17, {}), (64, {"d_state": 7, "max_phase": 6.28})])
def test_parallel_form_equals_recurrence(length, options):
    assert_forms_agree(lambda: build_lru(3, 12, 2, **options), 3, length=length)


def test_conforms():
    assert_cell_conforms("lru")


def test_state_is_complex_x_as_real_pairs():
    _, state = LRUMixer(12, d_state=5)(torch.randn(2, 5, 12))
    assert state.shape == (2, 5, 2) and state.dtype == torch.float32


def test_initial_eigenvalues_on_the_ring_with_gamma_normalization():
    mixer = LRUMixer(16, d_state=400, r_min=0.5, r_max=0.8, max_phase=1.0)
    radius, phase = mixer.eigenvalues().abs(), mixer.eigenvalues().angle()
    assert 0.5 <= radius.min() and radius.max() <= 0.8 and 0 <= phase.min() and phase.max() <= 1.0
    torch.testing.assert_close(torch.exp(mixer.gamma_log), torch.sqrt(1 - radius ** 2))


@pytest.mark.parametrize("options, message", [({"mode": "scan"}, "mode must be one of"),
                                              ({"r_min": 0.99, "r_max": 0.9}, "r_min < r_max")])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(UsageError, match=message):
        build_lru(3, 12, **options)


def test_same_outputs_as_lru_pytorch():
    reference = load_module("LRU_pytorch.LRU")
    torch.manual_seed(0)
    d, n = 6, 9
    ours, theirs = LRUMixer(d, d_state=n, r_min=0.3, max_phase=6.28), reference.LRU(d, d, n)
    with torch.no_grad():
        for name in ("nu_log", "theta_log", "gamma_log"):
            getattr(theirs, name).copy_(getattr(ours, name))
        theirs.B.copy_(torch.complex(ours.B_re, ours.B_im))
        theirs.C.copy_(torch.complex(ours.C_re, ours.C_im))
        theirs.D.copy_(torch.diag(ours.D))                          # theirs is a full matrix, the paper's diagonal
    u = torch.randn(3, 30, d)
    with torch.no_grad():
        torch.testing.assert_close(ours(u)[0], theirs(u), rtol=1e-5, atol=1e-5)
