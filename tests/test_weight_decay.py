"""--weight-decay: AdamW's decoupled weight decay; 0 is today's Adam, bit for bit."""
from __future__ import annotations

import pandas as pd
import pytest

import seqbench
from seqbench.cli import main
from seqbench.errors import UsageError

from conftest import TINY


def _trained(optimizer_factory, cell: str = "lstm") -> list:
    """The parameters of a small model after 8 steps of ``optimizer_factory(params)``."""
    import torch

    from seqbench.models.model import build_model
    from seqbench.plugins.factories import build_task
    from seqbench.plugins.registry import Registry

    registry = Registry()
    task = build_task(registry.get("task", "copy"), 6, {})
    torch.manual_seed(0)
    model = build_model(task, registry.get("cell", cell), 16, 2, 0.0, {})
    optimizer = optimizer_factory(list(model.parameters()))
    generator = torch.Generator().manual_seed(0)
    for _ in range(8):
        x, y = task.sample(8, generator, torch.device("cpu"))
        loss = task.loss(model(x)[0], y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("cell", ["lstm", "transformer"])
def test_weight_decay_is_torch_adamw_bit_for_bit_and_zero_is_torch_adam(cell):
    import torch

    from seqbench.train.loop import Adam

    decayed = _trained(lambda p: Adam(p, lr=3e-3, weight_decay=0.1), cell)
    adamw = _trained(lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=0.1), cell)
    assert all(torch.equal(a, b) for a, b in zip(decayed, adamw))
    plain = _trained(lambda p: Adam(p, lr=3e-3, weight_decay=0.0), cell)
    adam = _trained(lambda p: torch.optim.Adam(p, lr=3e-3), cell)
    assert all(torch.equal(a, b) for a, b in zip(plain, adam))
    assert not all(torch.equal(a, b) for a, b in zip(plain, decayed))  # the decay does act


def test_a_weight_decay_of_zero_changes_neither_numbers_nor_trial_keys(tmp_path):
    plain = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "a", **TINY)
    zero = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "b", weight_decay=0, **TINY)
    decayed = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path / "c", weight_decay=0.5, **TINY)
    assert list(plain["trial"]) == list(zero["trial"])  # a resumable run keeps its keys
    assert plain["val_loss"].tolist() == zero["val_loss"].tolist()
    assert decayed["val_loss"].tolist() != plain["val_loss"].tolist()
    assert zero["weight_decay"].tolist() == [0.0] and decayed["weight_decay"].tolist() == [0.5]


def test_weight_decay_is_a_grid_like_lr(tmp_path):
    frame = seqbench.run(["lstm"], ["adding"], [6], out=tmp_path, weight_decay="0,0.1", lr=[1e-3, 3e-3], **TINY)
    assert len(frame) == 4 and frame["config"].nunique() == 4
    assert sorted(set(pd.to_numeric(frame["weight_decay"]))) == [0.0, 0.1]
    assert frame["config_label"].str.contains("weight_decay=0.1").sum() == 2


@pytest.mark.parametrize("value, message", [("-0.1", "weight_decay must be a non-negative number, got '-0.1'"),
                                            ("lots", "weight_decay must be a number, got 'lots'"),
                                            ("nan", "weight_decay must be a non-negative number")])
def test_bad_weight_decay_is_one_line_and_exit_2(value, message, tmp_path, capsys):
    code = main(["run", "--out", str(tmp_path), "--cells", "lstm", "--weight-decay", value])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_optimizer_refuses_a_negative_decay():
    from seqbench.train.loop import Adam

    with pytest.raises(ValueError, match="weight_decay"):
        Adam([], lr=1e-3, weight_decay=-1.0)
    with pytest.raises(UsageError, match="weight_decay"):
        seqbench.run(["lstm"], ["adding"], [6], out="unused", weight_decay=-1, dry_run=True, **TINY)
