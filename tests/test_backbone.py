"""The block backbone (seqbench.models.backbone): any cell's mixer in the shared residual blocks."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from seqbench import cli
from seqbench.cells.blocks import BlockStack
from seqbench.cells.transformer import AttentionMixer
from seqbench.errors import UsageError
from seqbench.inspect import gradient_flow, record_gates
from seqbench.models.budget import match_hidden
from seqbench.models.checkpoint import rebuild_model, save_checkpoint
from seqbench.models.model import build_cell, build_model, count_params
from seqbench.plugins.registry import LazyFactory, Registry
from seqbench.spec.config import RunConfig, TrialSpec
from seqbench.studies.conformance import check_cell
from seqbench.tasks.adding import AddingTask

REGISTRY = Registry(entry_points=False)
CLASSIC = ("rnn", "lstm", "gru", "transformer")
PLUGIN = "fixtures.modern_block"


@pytest.mark.parametrize("cell", CLASSIC)
def test_block_backbone_of_each_classic_cell_is_causal_and_steps_like_the_whole_sequence(cell):
    results = {r.check: r for r in check_cell(cell, REGISTRY, backbone="block")}
    for check in ("shapes", "causal", "step_by_step", "deterministic", "param_count"):
        assert results[check].passed, (check, results[check].detail)


@pytest.mark.parametrize("cell", CLASSIC)
def test_the_blocks_hold_the_cells_bare_mixer(cell):
    stack = build_cell(REGISTRY.get("cell", cell), 3, 16, 2, 0.0, {}, "block")
    assert isinstance(stack, BlockStack) and len(stack.blocks) == 2
    mixer = stack.blocks[0].mixer
    if cell == "transformer":  # its registered mixer: attention alone, the block brings norms and MLP
        assert isinstance(mixer, AttentionMixer)
    else:  # the cell itself, one layer of width d
        assert mixer.rnn.num_layers == 1 and mixer.rnn.input_size == mixer.rnn.hidden_size == 16
    assert stack.blocks[0].mlp is not None


@pytest.mark.parametrize("backbone", ["plain", "block"])
@pytest.mark.parametrize("cell", CLASSIC)
def test_parameter_matching_lands_within_3_percent_for_every_cell_and_backbone(cell, backbone):
    task = AddingTask(20)
    entry = REGISTRY.get("cell", cell)
    hidden, params = match_hidden(task, entry, 20_000, 1, backbone=backbone)
    assert abs(params - 20_000) <= 600
    assert count_params(build_model(task, entry, hidden, 1, 0.0, {}, backbone)) == params  # the real model's


def test_the_mixer_is_registered_lazily_and_takes_the_cells_options():
    assert isinstance(REGISTRY.get("cell", "transformer").extra["mixer"], LazyFactory)
    stack = build_cell(REGISTRY.get("cell", "transformer"), 3, 16, 1, 0.0, {"n_heads": 2}, "block")
    assert stack.blocks[0].mixer.attn.n_heads == 2
    with pytest.raises(UsageError, match="no parameter 'mlp_ratio'.*its mixer"):
        from seqbench.runs.validate import check_cell_params

        check_cell_params(REGISTRY.get("cell", "transformer"), {"mlp_ratio": 2}, "block")


def test_backbone_is_a_trial_option_that_keeps_plain_hashes():
    plain = RunConfig(cells=["lstm"], hidden=8).trials()
    both = RunConfig(cells=["lstm"], hidden=8, backbone="plain,block").trials()
    assert [t.backbone for t in both] == ["plain", "block"] and plain[0].backbone == "plain"
    assert plain[0].config == RunConfig(cells=["lstm"], hidden=8, backbone="plain").trials()[0].config
    assert both[1].config_label == "backbone=block"
    with pytest.raises(UsageError, match="unknown backbone 'blocks'"):
        RunConfig(cells=["lstm"], backbone="blocks")


def test_a_block_checkpoint_rebuilds_with_its_backbone(tmp_path):
    task = AddingTask(10)
    model = build_model(task, REGISTRY.get("cell", "gru"), 8, 1, 0.0, {}, "block")
    spec = TrialSpec(cell="gru", task="adding", length=10, seed=0, steps=1, budget_s=None, hidden=8, layers=1,
                     batch=4, lr=1e-3, backbone="block")
    path = save_checkpoint(tmp_path / "gru.pt", model, spec, task, {})
    from seqbench.models.checkpoint import load_checkpoint

    again = rebuild_model(load_checkpoint(path), REGISTRY)
    x = torch.randn(2, 10, 2)
    assert isinstance(again.cell, BlockStack)
    torch.testing.assert_close(again(x)[0], model.eval()(x)[0])


def test_cells_modern_selects_the_modern_group_and_an_empty_one_is_one_line():
    registry = Registry([PLUGIN], entry_points=False)
    modern = registry.select_cells(["modern"])
    assert modern[-1] == "leaky-block" and {"s6", "mingru"} <= set(modern)  # the built-in modern cells, then the plugin's
    assert "leaky-block" not in registry.default_cells()
    built_in = {REGISTRY.cells[name].provider for name in REGISTRY.select_cells(["modern"])}
    without = Registry([f"no:{provider}" for provider in sorted(built_in)], entry_points=False)
    with pytest.raises(UsageError, match="cell group 'modern' has no cells"):
        without.select_cells(["modern"])


def test_inspect_gradients_and_gates_take_a_cell_with_per_layer_tuple_states(tmp_path, capsys):
    registry = Registry([PLUGIN], entry_points=False)
    task = AddingTask(12)
    model = build_model(task, registry.get("cell", "leaky-block"), 6, 2, 0.0)
    _, state = model(torch.randn(2, 12, 2))
    assert isinstance(state, tuple) and len(state) == 2  # one state per layer
    frame = gradient_flow(["leaky-block"], "adding", 12, hidden=6, batch=4, registry=registry)
    assert set(frame["cell"]) == {"leaky-block"} and frame["grad_norm"].notna().all()
    spec = TrialSpec(cell="leaky-block", task="adding", length=12, seed=0, steps=1, budget_s=None, hidden=6,
                     layers=2, batch=4, lr=1e-3)
    path = save_checkpoint(tmp_path / "leaky.pt", model, spec, task, {})
    with pytest.raises(UsageError, match="exposes no gates"):
        record_gates(path, registry=registry)
    assert cli.main(["inspect", "gates", str(path), "-p", PLUGIN]) == 2  # one line, no traceback
    assert "exposes no gates" in capsys.readouterr().err


def test_a_plugin_mixer_goes_into_the_blocks():
    registry = Registry([PLUGIN], entry_points=False)
    stack = build_cell(registry.get("cell", "leaky-block"), 3, 8, 1, 0.0, {"decay": 1.0}, "block")
    assert type(stack.blocks[0].mixer).__name__ == "LeakyMixer"
    assert torch.equal(stack.blocks[0].mixer.logit, torch.full((8,), 1.0))
