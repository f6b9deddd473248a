"""Reference cells (rnn-ref, lstm-ref, gru-ref): with the fused cells' weights, the same outputs,
states and gradients; weights load both ways; every execution mode agrees with eager."""
from __future__ import annotations

import inspect
import warnings

import pytest
import torch
import torch.nn.functional as F

from seqbench.cells import reference, reference_bptt
from seqbench.plugins.registry import Registry
from seqbench.studies.conformance import check_cell

KINDS = ["rnn", "lstm", "gru"]
TOL = dict(rtol=1e-10, atol=1e-10)  # float64; far tighter than seqbench check's 1e-5
IN, HID, BATCH = 5, 7, 3


@pytest.fixture(scope="module")
def reg():
    # -p form; keeps working once the module is a built-in plugin
    return Registry(["seqbench.cells.reference"], on_problem=print)


def build_pair(reg, kind, layers=2, mode="eager", dropout=0.0):
    """(reference, fused) in float64 with the fused cell's weights, from different seeds."""
    torch.manual_seed(1)
    fused = reg.cells[kind].obj(IN, HID, layers, dropout).double()
    torch.manual_seed(2)
    ref = reg.cells[f"{kind}-ref"].obj(IN, HID, layers, dropout, mode=mode).double()
    ref.load_state_dict(fused.state_dict())
    return ref, fused


def states(state):
    return list(state) if isinstance(state, tuple) else [state]


def run(cell, x, state, seed=3):
    """Output, final state and the gradients of a random projection of both w.r.t. the input,
    the initial state and every parameter (by name)."""
    x = x.clone().requires_grad_(True)
    state = None if state is None else tuple(s.clone().requires_grad_(True) for s in state)
    initial = None if state is None else (state if len(state) == 2 else state[0])
    y, final = cell(x, initial)
    g = torch.Generator().manual_seed(seed)
    loss = (y * torch.randn(y.shape, generator=g, dtype=y.dtype)).sum()
    for s in states(final):
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    cell.zero_grad()
    loss.backward()
    grads = {"x": x.grad, **{f"state{i}": s.grad for i, s in enumerate(state or ())}}
    grads.update({name: p.grad for name, p in cell.named_parameters()})
    return y.detach(), [s.detach() for s in states(final)], grads


def assert_same(a, b):
    (ya, sa, ga), (yb, sb, gb) = a, b
    torch.testing.assert_close(ya, yb, **TOL)
    assert len(sa) == len(sb)
    for s, t in zip(sa, sb):
        torch.testing.assert_close(s, t, **TOL)
    assert ga.keys() == gb.keys()
    for name in ga:
        assert ga[name] is not None and gb[name] is not None, name
        torch.testing.assert_close(ga[name], gb[name], **TOL, msg=lambda m: f"gradient of {name}: {m}")


def inputs(kind, length, layers, with_state, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, length, IN, generator=g, dtype=torch.float64)
    if not with_state:
        return x, None
    n = 2 if kind == "lstm" else 1
    return x, tuple(torch.randn(layers, BATCH, HID, generator=g, dtype=torch.float64) for _ in range(n))


# --------------------------------------------------------------------------- equal to the fused cells


@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("length", [1, 9])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["eager", "auto"])
def test_outputs_and_gradients_equal_fused(reg, mode, kind, layers, length, with_state):
    ref, fused = build_pair(reg, kind, layers, mode=mode)
    x, state = inputs(kind, length, layers, with_state)
    assert_same(run(ref, x, state), run(fused, x, state))


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_between_layers_only(reg, kind):
    # dropout 1 zeroes the first layer's output: deterministic, and the last layer's output
    # would be all zero if dropout also followed it
    ref, fused = build_pair(reg, kind, layers=2, dropout=1.0)
    ref.train(), fused.train()
    x, _ = inputs(kind, 6, 2, False)
    y, _ = ref(x)
    torch.testing.assert_close(y, fused(x)[0], **TOL)
    assert y.abs().min() > 0
    one = reg.cells[f"{kind}-ref"].obj(IN, HID, 1, 0.5).train()
    assert one.dropout == 0.0  # torch ignores dropout for a single layer


def test_comparison_catches_swapped_gates(reg, monkeypatch):
    """The test above has teeth: an LSTM with input and forget gates swapped, or a GRU applying
    the reset gate before the hidden projection, fails it."""
    def swapped_lstm(x_proj, h, c, w_hh, b_hh):
        f, i, g, o = (x_proj + F.linear(h, w_hh, b_hh)).chunk(4, 1)  # i and f swapped
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def reset_before_projection(x_proj, h, w_hh, b_hh):
        x_r, x_z, x_n = x_proj.chunk(3, 1)
        (w_r, w_z, w_n), (b_r, b_z, b_n) = w_hh.chunk(3, 0), b_hh.chunk(3, 0)
        r = torch.sigmoid(x_r + F.linear(h, w_r, b_r))
        z = torch.sigmoid(x_z + F.linear(h, w_z, b_z))
        n = torch.tanh(x_n + F.linear(r * h, w_n, b_n))
        return (1 - z) * n + z * h

    for kind, name, wrong in (("lstm", "lstm_cell", swapped_lstm), ("gru", "gru_cell", reset_before_projection)):
        ref, fused = build_pair(reg, kind, layers=1)
        x, state = inputs(kind, 4, 1, True)
        assert_same(run(ref, x, state), run(fused, x, state))
        with monkeypatch.context() as m:
            m.setattr(reference, name, wrong)
            with pytest.raises(AssertionError):
                assert_same(run(ref, x, state), run(fused, x, state))


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_weights_load_both_ways(reg, kind, layers):
    torch.manual_seed(4)
    fused = reg.cells[kind].obj(IN, HID, layers, 0.0).double()
    ref = reg.cells[f"{kind}-ref"].obj(IN, HID, layers, 0.0).double()
    assert list(ref.state_dict()) == list(fused.state_dict())  # names and order
    assert [p.shape for p in ref.parameters()] == [p.shape for p in fused.parameters()]
    fused.load_state_dict(ref.state_dict())  # reference -> fused, strict
    x, _ = inputs(kind, 5, layers, False)
    torch.testing.assert_close(ref(x)[0], fused(x)[0], **TOL)
    torch.manual_seed(5)
    ref.load_state_dict(reg.cells[kind].obj(IN, HID, layers, 0.0).double().state_dict())  # fused -> reference
    assert not torch.allclose(ref(x)[0], fused(x)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_initial_weights_as_torch(reg, kind):
    torch.manual_seed(6)
    fused = reg.cells[kind].obj(IN, HID, 2, 0.0)
    torch.manual_seed(6)
    ref = reg.cells[f"{kind}-ref"].obj(IN, HID, 2, 0.0)
    for (name, p), q in zip(ref.named_parameters(), fused.parameters()):
        assert torch.equal(p, q), name
        if kind == "lstm" and name.startswith("rnn.bias_hh"):  # forget_bias 1 added to the f block
            p = torch.cat([p[:HID], p[HID:2 * HID] - 1, p[2 * HID:]])
        assert p.abs().max() <= HID ** -0.5 and p.std() > 0.2 * HID ** -0.5
    assert ref.hidden_size == HID


# --------------------------------------------------------------------------- cell properties


@pytest.mark.parametrize("kind", KINDS)
def test_step_by_step_equals_full_sequence(reg, kind):
    ref, _ = build_pair(reg, kind, layers=2)
    x, _ = inputs(kind, 8, 2, False)
    full, final = ref(x)
    state, steps = None, []
    for t in range(x.shape[1]):
        y, state = ref(x[:, t : t + 1], state)
        steps.append(y)
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=0, atol=1e-12)
    head, state = ref(x[:, :3])
    tail, state = ref(x[:, 3:], state)
    torch.testing.assert_close(torch.cat((head, tail), 1), full, rtol=0, atol=1e-12)
    for s, t in zip(states(state), states(final)):
        torch.testing.assert_close(s, t, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_causal(reg, kind):
    ref, _ = build_pair(reg, kind, layers=2)
    x, _ = inputs(kind, 8, 2, False)
    y, _ = ref(x)
    x2 = x.clone()
    x2[:, 5] += 1.0
    y2, _ = ref(x2)
    assert torch.equal(y2[:, :5], y[:, :5])
    assert not torch.allclose(y2[:, 5:], y[:, 5:])


# --------------------------------------------------------------------------- execution modes


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["jit", "compile"])
def test_every_available_mode_agrees_with_eager(reg, mode, kind):
    if mode == "compile" and kind != "gru":  # 4 s per cell, 15 s on a cold inductor cache
        pytest.skip("torch.compile is run on the GRU only (every kind of op), to keep this file fast")
    eager, _ = build_pair(reg, kind, layers=2)
    x, state = inputs(kind, 4, 2, True)
    with warnings.catch_warnings(record=True) as caught:  # a fallback warns when built or first run
        warnings.simplefilter("always")
        cell, _ = build_pair(reg, kind, layers=2, mode=mode)
        got = run(cell, x, state)
    if cell.mode != mode:
        pytest.skip(f"mode {mode} is not available here: {caught[0].message if caught else '?'}")
    assert_same(got, run(eager, x, state))
    assert_same(run(cell, x[:, :1], state), run(eager, x[:, :1], state))  # another length


@pytest.mark.parametrize("chunk", [25, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_compile_mode_code_path(reg, kind, chunk, monkeypatch):
    """The compile mode's hand-derived backward (reference_bptt.py), with torch.compile made a
    no-op: outputs, final states and every gradient equal the fused cell's, with a carried
    state, 2 layers, whole chunks and a remainder run step by step."""
    monkeypatch.setattr(reference, "_BUILT", {})
    monkeypatch.setattr(reference_bptt, "CHUNK", chunk)
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)
    cell, fused = build_pair(reg, kind, layers=2, mode="compile")
    for length, with_state in ((7, True), (7, False), (1, True)):
        x, state = inputs(kind, length, 2, with_state)
        assert_same(run(cell, x, state), run(fused, x, state))
    assert cell.mode == "compile"


@pytest.mark.parametrize("kind", KINDS)
def test_hand_derived_backward_has_teeth(reg, kind, monkeypatch):
    """A slip in one backward equation (a gate's derivative) breaks the gradients, not the outputs."""
    wrong = {"rnn": ("(1 - h[t] * h[t])", "(1 - h[t])"), "lstm": ("d_f = dc * c_prev[t] * f * (1 - f)", "d_f = dc * f * (1 - f)"),
             "gru": ("d_r = d_n * h_n[t] * r * (1 - r)", "d_r = d_n * r * (1 - r)")}[kind]
    source = inspect.getsource(reference_bptt.STEPS[kind][1])
    assert wrong[0] in source
    namespace = dict(vars(reference_bptt))
    exec(source.replace(*wrong), namespace)  # noqa: S102 - the real function with one term changed
    monkeypatch.setitem(reference_bptt.STEPS, kind, (reference_bptt.STEPS[kind][0], namespace[f"{kind}_backward_steps"]))
    monkeypatch.setattr(reference, "_BUILT", {})
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: fn)
    cell, fused = build_pair(reg, kind, layers=1, mode="compile")
    x, state = inputs(kind, 5, 1, True)
    (y, s, g), (y2, s2, g2) = run(cell, x, state), run(fused, x, state)
    torch.testing.assert_close(y, y2, **TOL)
    with pytest.raises(AssertionError):
        assert_same((y, s, g), (y2, s2, g2))


def test_failed_compiled_backward_runs_uncompiled_once(reg, monkeypatch):
    def compile_forward_only(fn, **kwargs):
        if fn.__name__.endswith("_backward_steps"):
            def compiled(*args):
                raise RuntimeError("inductor: backward broke\nsecond line")
            return compiled
        return fn

    monkeypatch.setattr(reference, "_BUILT", {})
    monkeypatch.setattr(torch, "compile", compile_forward_only)
    cell, fused = build_pair(reg, "lstm", mode="compile")
    x, state = inputs("lstm", 3, 2, True)
    with pytest.warns(RuntimeWarning, match="compiled backward failed .*backward broke\\); running it uncompiled") as caught:
        got = run(cell, x, state)
    assert len(caught) == 1 and cell.mode == "compile"
    assert_same(got, run(fused, x, state))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(cell, x, state)  # no second warning


def test_auto_mode_and_bad_mode(reg):
    cell = reg.cells["lstm-ref"].obj(IN, HID)
    assert inspect.signature(reg.cells["lstm-ref"].obj).parameters["mode"].default == "auto"
    assert cell.mode in ("eager", "jit", "compile")
    with pytest.raises(ValueError, match="mode must be one of"):
        reg.cells["lstm-ref"].obj(IN, HID, mode="fast")


@pytest.mark.parametrize("mode", ["jit", "auto"])
def test_failed_script_falls_back_to_eager(reg, monkeypatch, mode):
    def broken(fn):
        raise RuntimeError("no TorchScript here\nsecond line")

    monkeypatch.setattr(reference, "_BUILT", {})
    monkeypatch.setattr(torch.jit, "script", broken)
    with pytest.warns(RuntimeWarning, match="mode 'jit' failed .*no TorchScript here\\); running eager") as caught:
        cell, fused = build_pair(reg, "gru", mode=mode)
    assert len(caught) == 1 and "second line" not in str(caught[0].message)
    assert cell.mode == "eager"
    x, _ = inputs("gru", 3, 2, False)
    torch.testing.assert_close(cell(x)[0], fused(x)[0], **TOL)


def test_failed_compile_falls_back_to_eager_once(reg, monkeypatch):
    def broken_compile(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("inductor: no C++ compiler")
        return compiled

    monkeypatch.setattr(reference, "_BUILT", {})
    monkeypatch.setattr(torch, "compile", broken_compile)
    cell, fused = build_pair(reg, "lstm", mode="compile")
    x, state = inputs("lstm", 3, 2, True)
    with pytest.warns(RuntimeWarning, match="mode 'compile' failed") as caught:
        got = run(cell, x, state)
    assert len(caught) == 1 and cell.mode == "eager"
    assert_same(got, run(fused, x, state))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cell(x)  # no second warning
    # a genuine error is raised, not swallowed
    cell2, _ = build_pair(reg, "lstm", mode="compile")
    with pytest.raises(RuntimeError, match="shape|size"):
        cell2(torch.randn(2, 3, IN + 1, dtype=torch.float64))


# --------------------------------------------------------------------------- plugin


def test_plugin_registers_the_three_reference_cells(reg):
    for kind in KINDS:
        entry = reg.cells[f"{kind}-ref"]
        assert entry.extra == {"fused_twin": kind} and entry.provider == "seqbench.cells.reference"
        assert entry.description
        params = list(inspect.signature(entry.obj).parameters)
        assert params[:5] == ["input_size", "hidden_size", "num_layers", "dropout", "mode"]
        fused = list(inspect.signature(reg.cells[kind].obj).parameters)
        assert params[5:] == fused[4:]  # the fused cell's options, in the same order


@pytest.mark.parametrize("kind", KINDS)
def test_conformance_kit_passes_including_fused_twin(reg, kind):
    results = check_cell(f"{kind}-ref", reg)
    assert "fused_twin" in {r.check for r in results}
    assert all(r.passed for r in results), [r for r in results if not r.passed]
