"""``--deterministic``: torch's deterministic algorithms in every trial, recorded in the trial's
configuration (a new hash only when set), the same numbers as without it on CPU."""
from __future__ import annotations

import pytest
import torch

import seqbench
from seqbench.cli import main
from seqbench.errors import UsageError
from seqbench.plugins.registry import Registry
from seqbench.spec.config import RunConfig, TrialSpec

from conftest import TINY


class ModeAtStart:
    def __init__(self) -> None:
        self.modes: list[bool] = []

    @seqbench.hookimpl
    def seqbench_trial_start(self, trial):
        self.modes.append(torch.are_deterministic_algorithms_enabled())


def run_with(tmp_path, **options):
    registry, watch = Registry(), ModeAtStart()
    registry.pm.register(watch)
    frame = seqbench.run(["gru", "lstm"], "adding", [6], out=tmp_path, registry=registry, **TINY, **options)
    return frame, watch.modes


def test_each_trial_runs_in_the_mode_it_asks_for_and_cpu_numbers_do_not_change(tmp_path):
    plain, plain_modes = run_with(tmp_path / "plain")
    strict, strict_modes = run_with(tmp_path / "strict", deterministic=True)
    assert plain_modes == [False, False] and strict_modes == [True, True]
    assert list(strict["loss"]) == list(plain["loss"])  # CPU kernels are deterministic already
    again, modes = run_with(tmp_path / "again")  # a later plain run in the same process is not strict
    assert modes == [False, False]


def test_the_flag_is_part_of_the_configuration_only_when_set():
    plain = RunConfig(cells=["gru"], tasks=["adding"], lengths=[6], hidden=8).trials("cpu")[0]
    off = RunConfig(cells=["gru"], tasks=["adding"], lengths=[6], hidden=8, deterministic=False).trials("cpu")[0]
    on = RunConfig(cells=["gru"], tasks=["adding"], lengths=[6], hidden=8, deterministic=True).trials("cpu")[0]
    assert plain.config == off.config != on.config  # runs made before the option keep their hashes
    assert on.deterministic and TrialSpec.from_dict(on.to_dict()).deterministic
    with pytest.raises(UsageError, match="deterministic must be true or false"):
        RunConfig(cells=["gru"], deterministic="yes")


def test_the_cli_flag_is_recorded_with_the_run(tmp_path, capsys):
    import json

    assert main(["run", "-q", "--cells", "gru", "--lengths", "6", "--deterministic", "--steps", "5",
                 "--eval-every", "5", "--hidden", "8", "--out", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "config.json").read_text())["configs"][0]["deterministic"] is True
