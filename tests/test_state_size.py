"""State size (seqbench.models.state): measured per cell, recorded per trial, matched by --state-size."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import seqbench
from seqbench import cli
from seqbench.errors import UsageError
from seqbench.models.model import build_cell
from seqbench.models.state import count_model_state, count_state, match_state, measure_state, state_floats
from seqbench.plugins.registry import Registry
from seqbench.reporting.formats import STATE_NOTE, compact
from seqbench.reporting.run_tables import tables

from conftest import TINY

REGISTRY = Registry(entry_points=False)
INPUT, H, L = 3, 12, 2


def task(length: int) -> SimpleNamespace:
    return SimpleNamespace(input_kind="continuous", input_size=INPUT, output_size=1, seq_len=length)


@pytest.mark.parametrize("backbone", ["plain", "block"])
@pytest.mark.parametrize("cell, expected", [("rnn", H * L), ("gru", H * L), ("lstm", 2 * H * L),
                                            ("transformer", 2 * L * H * 40)])
def test_each_classic_cell_carries_its_textbook_state(cell, expected, backbone):
    built = build_cell(REGISTRY.get("cell", cell), INPUT, H, L, 0.0, {}, backbone)
    assert measure_state(built, INPUT, 40) == expected  # T = 40: the KV cache holds 40 keys and values
    # the cheap count (meta build, zeroed memory, probes extrapolated) agrees at a length past its probes
    assert count_model_state(task(40), REGISTRY.get("cell", cell), H, L, {}, backbone) == expected


def test_the_transformer_state_grows_with_the_length_and_the_extrapolation_is_exact():
    entry = REGISTRY.get("cell", "transformer")
    sizes = [count_state(lambda: build_cell(entry, INPUT, 8, 1, 0.0), INPUT, t) for t in (5, 100, 1000)]
    assert sizes == [2 * 8 * 5, 2 * 8 * 100, 2 * 8 * 1000]
    assert measure_state(build_cell(entry, INPUT, 8, 1, 0.0), INPUT, 1000) == sizes[-1]


def test_state_floats_counts_nested_tensors_and_skips_numbers():
    state = (7, [(torch.zeros(1, 2, 3), torch.zeros(4)), {"c": torch.zeros(5)}], None)
    assert state_floats(state) == 6 + 4 + 5


@pytest.mark.parametrize("cell, budget, width", [("lstm", 400, 200), ("gru", 300, 300), ("rnn", 250, 250),
                                                  ("transformer", 400, 10)])
def test_state_size_matching_lands_within_tolerance(cell, budget, width):
    hidden, floats = match_state(task(20), REGISTRY.get("cell", cell), budget, 1)
    assert abs(floats - budget) <= 0.03 * budget
    assert hidden == width  # 2·H, H, H and 2·d·T = 40·d


def test_state_size_matching_works_in_the_block_backbone_too():
    hidden, floats = match_state(task(20), REGISTRY.get("cell", "lstm"), 2 * 21, 1, backbone="block")
    assert (hidden, floats) == (21, 42)


def test_a_state_that_does_not_grow_with_the_width_is_one_line():
    class Constant(torch.nn.Module):
        def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0):
            super().__init__()
            self.proj = torch.nn.Linear(input_size, hidden_size)

        def forward(self, x, state=None):
            return self.proj(x), torch.zeros(x.shape[0], 4)

    entry = SimpleNamespace(name="constant", obj=Constant, extra={})
    with pytest.raises(UsageError, match="does not depend on its width") as caught:
        match_state(task(20), entry, 400, 1)
    assert "\n" not in str(caught.value)


def test_an_unreachable_or_conflicting_state_size_is_one_line_and_exit_2(capsys):
    # the transformer's 40·d floats at T = 20 jump from 240 to 280 around 256: out of ±3 %
    assert cli.main(["run", "--cells", "transformer", "--lengths", "20", "--state-size", "256", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot match 256 floats within ±3% for cell 'transformer'" in err and "\n" not in err
    assert cli.main(["run", "--state-size", "4k", "--params", "20k", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not params and state_size" in err and "\n" not in err
    assert cli.main(["run", "--state-size", "4q", "--dry-run"]) == 2
    assert "malformed state size '4q'" in capsys.readouterr().err


def test_a_state_size_run_solves_the_widths_records_the_state_and_shows_it(tmp_path):
    options = {**{k: v for k, v in TINY.items() if k != "hidden"}, "steps": 2, "eval_every": 2}
    frame = seqbench.run(["lstm", "transformer"], ["adding"], [10], out=tmp_path, state_size=320, **options)
    by_cell = frame.set_index("cell")
    assert list(by_cell.loc[["lstm", "transformer"], "hidden"]) == [160, 16]  # 2·H and 2·d·T
    assert (frame["state_floats"] == 320).all() and (frame["state_budget"] == 320).all()  # measured after training
    assert (frame["backbone"] == "plain").all()
    table = tables(frame)[-1]
    assert "state" in table.headers and STATE_NOTE in table.caption


def test_compact_sizes():
    assert [compact(v) for v in (64, 2100, 131072, 4.2e6, None)] == ["64", "2.1k", "131k", "4.2M", "–"]
