"""xLSTM's mLSTM and sLSTM (seqbench/cells/mlstm.py, slstm.py): the parallel form equals the step
recurrence in float64 (outputs and gradients), the cells conform, and, where the ``xlstm`` package
is installed (the ``reference`` extra), the same weights give the same outputs as its PyTorch code."""
from __future__ import annotations

import math

import pytest
import torch

from seqbench.cells.mlstm import MLSTMLayer, build_mlstm, mlstm_parallel, mlstm_sequential
from seqbench.cells.slstm import SLSTMLayer, build_slstm
from seqbench.studies.conformance import assert_cell_conforms

DT = torch.float64
TOL = 1e-6


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def randomize(module: torch.nn.Module, seed: int, std: float = 0.3) -> None:
    """Random weights everywhere (the initialization zeroes some gates and the sLSTM's R)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)


def cell_inputs(B=2, H=3, T=41, dh=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, H, T, dh, generator=g, dtype=DT) for _ in range(3))
    i_pre = torch.randn(B, H, T, generator=g, dtype=DT)
    f_pre = torch.randn(B, H, T, generator=g, dtype=DT) + 2
    state = (torch.randn(B, H, dh, dh, generator=g, dtype=DT), torch.randn(B, H, dh, generator=g, dtype=DT),
             torch.randn(B, H, generator=g, dtype=DT))
    return [q, k, v, i_pre, f_pre], state


@pytest.mark.parametrize("T, chunk", [(17, 64), (41, 8), (64, 16)])
def test_mlstm_parallel_equals_recurrence_with_gradients(T, chunk):
    """Chunkwise form vs step loop from a nonzero (C, n, m): outputs, final state, and gradients w.r.t.
    q, k, v, both gates and the initial state."""
    inputs, state = cell_inputs(T=T)
    leaves = [t.requires_grad_() for t in (*inputs, *state)]
    results = []
    for form in (lambda *a: mlstm_parallel(*a, chunk=chunk), mlstm_sequential):
        h, final = form(*leaves[:5], tuple(leaves[5:]))
        weights = torch.linspace(-1, 1, h.numel(), dtype=DT).view_as(h)
        grads = torch.autograd.grad((h * weights).sum() + sum(s.sum() for s in final), leaves)
        results.append((h, final, grads))
    (hp, fp, gp), (hs, fs, gs) = results
    assert rel_err(hp, hs) <= TOL
    assert all(rel_err(a, b) <= TOL for a, b in zip(fp, fs))
    assert all(rel_err(a, b) <= TOL for a, b in zip(gp, gs))


def run_with_prefix(model: torch.nn.Module, x: torch.Tensor, prefix: int):
    """Outputs on x[:, prefix:] from the state left by x[:, :prefix] (a nonzero initial state)."""
    _, state = model(x[:, :prefix])
    return model(x[:, prefix:], state)


def test_mlstm_model_parallel_equals_sequential_with_parameter_gradients():
    torch.manual_seed(0)
    models = {mode: build_mlstm(3, 12, num_layers=2, chunk=8, mode=mode).double() for mode in ("parallel",
                                                                                          "sequential")}
    randomize(models["parallel"], seed=1)
    models["sequential"].load_state_dict(models["parallel"].state_dict())
    x = torch.randn(2, 30, 3, dtype=DT)
    out = {}
    for mode, model in models.items():
        xi = x.clone().requires_grad_()
        y, state = run_with_prefix(model, xi, prefix=7)
        (y.pow(2).sum() + sum(s.sum() for layer in state for s in layer)).backward()
        out[mode] = (y, [xi.grad] + [p.grad for p in model.parameters()])
    assert rel_err(out["parallel"][0], out["sequential"][0]) <= TOL
    assert all(rel_err(a, b) <= TOL for a, b in zip(out["parallel"][1], out["sequential"][1]))


def test_mlstm_chunk_by_chunk_equals_whole_sequence():
    torch.manual_seed(0)
    layer = MLSTMLayer(10, chunk=4, mode="parallel").double()
    randomize(layer, seed=2)
    x = torch.randn(2, 23, 10, dtype=DT)
    whole, _ = layer(x)
    state, parts = None, []
    for piece in x.split(7, dim=1):
        y, state = layer(piece, state)
        parts.append(y)
    assert rel_err(torch.cat(parts, 1), whole) <= TOL


def test_slstm_sequence_equals_step_by_step_with_parameter_gradients():
    """sLSTM has no parallel form: its training form (input projections for the whole sequence, then the
    step loop) must equal calling it one step at a time, gradients included; 18 units in 4 uneven heads."""
    torch.manual_seed(0)
    model = build_slstm(3, 18, num_layers=2).double()
    randomize(model, seed=3)
    x = torch.randn(2, 12, 3, dtype=DT)
    results = []
    for stepwise in (False, True):
        model.zero_grad()
        xi = x.clone().requires_grad_()
        if stepwise:
            state, ys = None, []
            for t in range(x.shape[1]):
                y, state = model(xi[:, t:t + 1], state)
                ys.append(y)
            y = torch.cat(ys, 1)
        else:
            y, state = model(xi)
        (y.pow(2).sum() + sum(s.sum() for layer in state for s in layer)).backward()
        results.append((y, [xi.grad] + [p.grad.clone() for p in model.parameters()]))
    assert rel_err(results[0][0], results[1][0]) <= TOL
    assert all(rel_err(a, b) <= TOL for a, b in zip(results[0][1], results[1][1]))


def test_slstm_sequence_backward_equals_autograd_through_its_steps():
    """The sLSTM steps run as one autograd node with a written-out backward pass (slstm.py's
    _SLSTMSequence); outputs and every gradient (inputs, R, and the four carried states, the final
    states in the loss too) equal autograd through slstm_step at every step, in float64."""
    from seqbench.cells.slstm import slstm_sequence, slstm_sequence_reference

    def outputs_and_grads(sequence):
        torch.manual_seed(1)
        wx = (2 * torch.randn(3, 17, 4, 10, dtype=DT)).requires_grad_()
        R = (0.5 * torch.randn(4, 10, 10, dtype=DT)).requires_grad_()
        state = [torch.randn(3, 10, dtype=DT), torch.randn(3, 10, dtype=DT), torch.rand(3, 10, dtype=DT) + 0.5,
                 torch.randn(3, 10, dtype=DT)]
        state = [s.requires_grad_() for s in state]
        h, final = sequence(wx, R, tuple(state))
        (h * torch.randn_like(h)).sum().add(sum((k + 1) * s.sum() for k, s in enumerate(final))).backward()
        return [h, *final, wx.grad, R.grad, *(s.grad for s in state)]

    for got, expected in zip(outputs_and_grads(slstm_sequence), outputs_and_grads(slstm_sequence_reference)):
        assert rel_err(got, expected) <= 1e-12


def test_slstm_refuses_a_parallel_form_and_bad_options():
    with pytest.raises(ValueError, match="no parallel form"):
        build_slstm(2, 8, mode="parallel")
    with pytest.raises(ValueError, match="mode must be one of"):
        build_mlstm(2, 8, mode="fast")
    with pytest.raises(ValueError, match="heads"):
        build_slstm(2, 8, heads=0)


@pytest.mark.parametrize("build", [build_mlstm, build_slstm])
def test_parameters_grow_with_width(build):
    """Every width builds and parameters grow with it, so ``--params`` can match a budget."""
    with torch.device("meta"):
        counts = [sum(p.numel() for p in build(2, d).parameters()) for d in range(1, 70)]
    assert all(a < b for a, b in zip(counts, counts[1:]))


def test_state_is_what_carries_the_sequence():
    x = torch.randn(1, 9, 16)
    _, (mlstm_state,) = build_mlstm(16, 16)(x)
    assert [tuple(s.shape) for s in mlstm_state] == [(1, 4, 8, 8), (1, 4, 8), (1, 4), (1, 3, 32)]
    _, (slstm_state,) = build_slstm(16, 16)(x)
    assert [tuple(s.shape) for s in slstm_state] == [(1, 16)] * 4 + [(1, 3, 16)]


@pytest.mark.parametrize("name", ["mlstm", "slstm"])
def test_conforms(name):
    assert_cell_conforms(name)


def test_registered_in_group_modern_not_default():
    from seqbench.plugins.registry import Registry

    registry = Registry([])
    groups = registry.cell_groups()
    assert {"mlstm", "slstm"} <= set(groups["modern"])
    assert not {"mlstm", "slstm"} & set(groups["default"])
    assert registry.get("cell", "mlstm").extra["mixer"].path == "seqbench.cells.mlstm:mixer"


# ------------------------------------------------------------------ the xlstm package's PyTorch code


def test_mlstm_cell_equals_xlstm_backends():
    """Our step and chunkwise forms vs xLSTM's recurrent_step_stabilized_simple (zero state) and
    chunkwise_simple (nonzero state; it scales q, not k, by 1/√dh, so its C and n are ours × √dh)."""
    backends = pytest.importorskip("xlstm.blocks.mlstm.backends")
    (q, k, v, i_pre, f_pre), state = cell_inputs(T=32)
    B, H, T, dh = q.shape
    c, n, m = torch.zeros(B, H, dh, dh, dtype=DT), torch.zeros(B, H, dh, 1, dtype=DT), torch.zeros(B, H, 1, 1, dtype=DT)
    steps = []
    for t in range(T):
        h, (c, n, m) = backends.recurrent_step_stabilized_simple(
            c, n, m, q[:, :, t:t + 1].clone(), k[:, :, t:t + 1].clone(), v[:, :, t:t + 1].clone(),
            i_pre[:, :, t, None, None], f_pre[:, :, t, None, None])
        steps.append(h)
    zero = (c.new_zeros(B, H, dh, dh), c.new_zeros(B, H, dh), c.new_zeros(B, H))
    ours, _ = mlstm_parallel(q, k, v, i_pre, f_pre, zero, chunk=8)
    assert rel_err(ours, torch.cat(steps, 2)) <= TOL
    scale = math.sqrt(dh)
    theirs, (C, N, M) = backends.chunkwise_simple(q, k, v, i_pre, f_pre, initial_C=state[0] * scale,
                                                  initial_n=state[1] * scale, initial_m=state[2].clone(),
                                                  chunk_size=8, return_last_state=True)
    ours, (C2, N2, M2) = mlstm_parallel(q, k, v, i_pre, f_pre, state, chunk=16)
    assert rel_err(ours, theirs) <= TOL
    assert rel_err(C2 * scale, C) <= TOL and rel_err(N2 * scale, N) <= TOL and rel_err(M2, M.flatten(2)[..., 0]) <= TOL


def test_mlstm_layer_equals_xlstm_layer():
    """The whole mLSTM layer (up-projection, conv, q/k/v, gates, group norm, skip, output gate, down-
    projection) with xLSTM's weights: equal to its step form; to its parallel form within 1e-6 (that one
    starts from m = −∞ where the recurrence starts from m = 0, which only moves the normalizer's floor)."""
    pytest.importorskip("xlstm")
    from xlstm.blocks.mlstm.layer import mLSTMLayer, mLSTMLayerConfig

    torch.manual_seed(0)
    d, T = 32, 20
    ref = mLSTMLayer(mLSTMLayerConfig(embedding_dim=d, num_heads=4, context_length=T)).double()
    randomize(ref, seed=4)
    sd = ref.state_dict()
    ours = MLSTMLayer(d, heads=4).double()
    ours.load_state_dict({
        "proj_up.weight": sd["proj_up.weight"], "conv.weight": sd["conv1d.conv.weight"],
        "conv.bias": sd["conv1d.conv.bias"], "q_proj.weight": sd["q_proj.weight"], "k_proj.weight": sd["k_proj.weight"],
        "v_proj.weight": sd["v_proj.weight"], "igate.weight": sd["mlstm_cell.igate.weight"],
        "igate.bias": sd["mlstm_cell.igate.bias"], "fgate.weight": sd["mlstm_cell.fgate.weight"],
        "fgate.bias": sd["mlstm_cell.fgate.bias"], "outnorm": 1 + sd["mlstm_cell.outnorm.weight"],
        "skip": sd["learnable_skip"], "proj_down.weight": sd["proj_down.weight"]})
    x = torch.randn(2, T, d, dtype=DT)
    with torch.no_grad():
        y, _ = ours(x)
        state, steps = {"mlstm_state": None, "conv_state": None}, []
        for t in range(T):
            out, state = ref.step(x[:, t:t + 1], **state)
            steps.append(out)
        assert rel_err(y, torch.cat(steps, 1)) <= 1e-12
        assert rel_err(y, ref(x)) <= TOL


def test_slstm_layer_equals_xlstm_vanilla_backend():
    """The sLSTM layer (conv on the i/f branch, headwise W, block-diagonal R, exponential gating, group norm)
    with xLSTM's weights equals its pure-PyTorch ("vanilla") backend."""
    pytest.importorskip("xlstm")
    from xlstm.blocks.slstm.layer import sLSTMLayer, sLSTMLayerConfig

    torch.manual_seed(0)
    d, heads, T = 16, 4, 20
    dh = d // heads
    ref = sLSTMLayer(sLSTMLayerConfig(embedding_dim=d, num_heads=heads, backend="vanilla")).double()
    randomize(ref, seed=5, std=0.5)
    sd = ref.state_dict()
    W = torch.stack([sd["fgate.weight"], sd["igate.weight"], sd["zgate.weight"], sd["ogate.weight"]])  # its i is "fgate"
    R = sd["slstm_cell._recurrent_kernel_"].view(heads, 4, dh, dh)          # [head, gate, out, in]
    ours = SLSTMLayer(d, heads=heads).double()
    ours.load_state_dict({"conv.weight": sd["conv1d.conv.weight"], "conv.bias": sd["conv1d.conv.bias"],
                          **{f"W.{h}": W[:, h] for h in range(heads)}, **{f"R.{h}": R[h] for h in range(heads)},
                          "bias": sd["slstm_cell._bias_"].view(4, d), "outnorm": 1 + sd["group_norm.weight"]})
    x = torch.randn(2, T, d, dtype=DT)
    with torch.no_grad():
        assert rel_err(ours(x)[0], ref(x)) <= 1e-12
