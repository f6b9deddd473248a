"""``--seeds`` as a count (``3``: seeds 0, 1, 2) or an inclusive range (``3-5``), through the
Python API: the trials' seeds, the JSON round trip of the configuration, resume's comparison."""
from __future__ import annotations

import pytest

from seqbench.errors import UsageError
from seqbench.spec.config import RunConfig, parse_seeds, seed_list


@pytest.mark.parametrize("given, stored, seeds", [
    (3, 3, [0, 1, 2]), ("3", 3, [0, 1, 2]), ("3-5", "3-5", [3, 4, 5]), (" 2 - 4 ", "2-4", [2, 3, 4]),
    ("0-2", 3, [0, 1, 2]), ("7-7", "7-7", [7])])
def test_a_count_or_a_range(given, stored, seeds):
    config = RunConfig(cells=["rnn", "gru"], lengths=[8], seeds=given, steps=5)
    assert config.seeds == stored and seed_list(config.seeds) == seeds
    assert sorted({spec.seed for spec in config.trials()}) == seeds
    assert len(config.trials()) == 2 * len(seeds)
    again = RunConfig.from_dict(config.to_dict())  # config.json's round trip (resume reads it back)
    assert again == config and again.to_dict() == config.to_dict()
    assert [s.key for s in again.trials()] == [s.key for s in config.trials()]


def test_fresh_seeds_keep_the_configuration_hash():
    first = RunConfig(cells=["rnn"], lengths=[8], seeds=3, steps=5).trials()
    second = RunConfig(cells=["rnn"], lengths=[8], seeds="3-5", steps=5).trials()
    assert {s.config for s in first} == {s.config for s in second}  # the same configuration ...
    assert not {s.key for s in first} & {s.key for s in second}  # ... on other seeds


@pytest.mark.parametrize("bad", ["5-3", "0", "-1", "a", "3-", "1.5", 0, True, "1,2"])
def test_bad_seeds_are_one_line_usage_errors(bad):
    with pytest.raises(UsageError) as raised:
        parse_seeds(bad)
    assert "\n" not in str(raised.value) and "seeds" in str(raised.value)


def test_resume_accepts_either_spelling_and_names_a_change():
    from seqbench.runs.resume import check_resume

    saved = [RunConfig(cells=["rnn"], lengths=[8], seeds=3, steps=5)]
    check_resume(saved, {"seeds": "0-2"})  # the same seeds
    with pytest.raises(UsageError, match=r"seeds differs from the saved run \(3 → 3-5\)"):
        check_resume(saved, {"seeds": "3-5"})
