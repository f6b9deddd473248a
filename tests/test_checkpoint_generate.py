"""Checkpoints (run --save), text generation and checkpoint evaluation on tiny models."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

import seqbench
from seqbench import cli
from seqbench.models.checkpoint import load_checkpoint, rebuild_model, save_checkpoint
from seqbench.errors import UsageError
from seqbench.studies.sampling import generate
from seqbench.studies.lm_eval import evaluate_checkpoint

PROSE = ("The quick brown fox jumps over the lazy dog. A recurrent network reads one character at a "
         "time and keeps a summary of the past in its state; a transformer looks back at every "
         "position it has seen.\n")
T = 16


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run with --save: lstm and transformer on charlm (a small text file), lstm on adding."""
    root = tmp_path_factory.mktemp("ckpt")
    text = root / "prose.txt"
    text.write_text(PROSE * 40, encoding="utf-8")
    frame = seqbench.run(cells=["lstm", "transformer"], tasks=["charlm", "adding"], lengths=[T], hidden=16,
                         batch=8, steps=12, eval_every=6, eval_examples=24, save=True, out=root / "results",
                         task_params={"charlm": {"corpus": str(text)}})
    assert (frame["status"] == "ok").all()
    return Path(frame.attrs["run_dir"]), frame, text


def ckpt(run, cell="lstm", task="charlm"):
    return run[0] / "checkpoints" / f"{cell}-{task}-{T}-0.pt"


def test_save_writes_one_complete_checkpoint_per_trial(run):
    run_dir, frame, text = run
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == [f"{c}-{t}-{T}-0.pt" for c in ("lstm", "transformer") for t in ("adding", "charlm")]
    data = load_checkpoint(ckpt(run))
    row = frame.set_index("trial").loc[f"lstm|charlm|{T}|0"]
    assert row["checkpoint"] == f"checkpoints/lstm-charlm-{T}-0.pt"
    assert data["model"]["cell"] == "lstm" and data["model"]["hidden"] == 16
    assert data["task"] == {"name": "charlm", "length": T, "params": {"corpus": str(text)}}
    assert data["vocab"] == sorted(set(PROSE))
    assert data["corpus"]["sha256"] == __import__("hashlib").sha256((PROSE * 40).encode()).hexdigest()
    assert data["versions"]["torch"] == str(torch.__version__) and data["versions"]["seqbench"]
    assert data["row"]["loss"] == pytest.approx(row["loss"], rel=1e-12)
    assert all(isinstance(v, torch.Tensor) for v in data["state_dict"].values())


def test_rebuilt_model_computes_what_the_trial_model_did(run):
    data = load_checkpoint(ckpt(run, "transformer"))
    model = rebuild_model(data)
    again = rebuild_model(load_checkpoint(ckpt(run, "transformer")))
    x = torch.randint(0, len(data["vocab"]), (2, T))
    assert torch.equal(model(x)[0], again(x)[0]) and not model.training


def test_checkpoint_written_on_a_gpu_loads_on_the_cpu(run, tmp_path, monkeypatch):
    import torch.serialization as ser

    data = load_checkpoint(ckpt(run))
    path = tmp_path / "gpu.pt"
    with monkeypatch.context() as m:  # tag every tensor as a CUDA tensor, as a GPU run writes them
        m.setattr(ser, "location_tag", lambda storage: "cuda:0")
        torch.save(data, path)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # what a plain load does on a CPU-only machine
    loaded = load_checkpoint(path)
    assert all(t.device.type == "cpu" for t in loaded["state_dict"].values())
    assert generate(loaded, "The ", 30, seed=1) == generate(ckpt(run), "The ", 30, seed=1)


def test_save_is_atomic_and_leaves_no_temporary_file(run, tmp_path):
    data = load_checkpoint(ckpt(run))
    model = rebuild_model(data)
    spec = seqbench.spec.config.TrialSpec.from_dict(data["spec"])
    from seqbench.plugins.factories import build_task
    from seqbench.plugins.registry import Registry

    task = build_task(Registry().get("task", "charlm"), T, spec.task_params)
    path = save_checkpoint(tmp_path / "sub" / "x.pt", model, spec, task, {"loss": 1.0})
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.pt"]
    assert load_checkpoint(path)["row"] == {"loss": 1.0}


@pytest.mark.parametrize("cell", ["lstm", "transformer"])
def test_same_seed_same_text_other_seed_other_text(run, cell):
    path = ckpt(run, cell)
    first = generate(path, "The ", 3 * T + 5, seed=7)  # past the Transformer's trained context
    assert len(first) == 3 * T + 5 and set(first) <= set(PROSE)
    assert generate(path, "The ", 3 * T + 5, seed=7) == first
    assert generate(path, "The ", 3 * T + 5, seed=8) != first
    assert generate(path, "The ", 20, seed=7, temperature=0.5, top_k=3) != generate(path, "The ", 20, seed=7)


def test_recurrent_state_is_carried_exactly(run):
    """Greedy generation one character at a time equals re-running the whole text each step."""
    path = ckpt(run, "lstm")
    data = load_checkpoint(path)
    model, stoi = rebuild_model(data), {c: i for i, c in enumerate(data["vocab"])}
    text = "The "
    with torch.no_grad():
        for _ in range(25):
            logits, _ = model(torch.tensor([[stoi[c] for c in text]]))
            text += data["vocab"][int(logits[0, -1].argmax())]
    assert "The " + generate(path, "The ", 25, temperature=0) == text


def test_transformer_uses_its_cache_within_the_window(run):
    path = ckpt(run, "transformer")
    data = load_checkpoint(path)
    model, stoi = rebuild_model(data), {c: i for i, c in enumerate(data["vocab"])}
    text = "The "
    with torch.no_grad():
        for _ in range(T - len(text)):  # stays within the trained context: no window refresh
            logits, _ = model(torch.tensor([[stoi[c] for c in text]]))
            text += data["vocab"][int(logits[0, -1].argmax())]
    assert "The " + generate(path, "The ", T - 4, temperature=0) == text


def test_prompt_outside_the_vocabulary_is_a_usage_error(run, capsys):
    with pytest.raises(UsageError, match=r"'Z', '日'.*not in the model's vocabulary"):
        generate(ckpt(run), "The Z日", 10)
    assert cli.main(["generate", str(ckpt(run)), "--prompt", "日"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'日'" in err


def test_generate_refuses_a_checkpoint_of_another_task(run):
    with pytest.raises(UsageError, match="task 'adding'.*charlm"):
        generate(ckpt(run, "lstm", "adding"), "x", 5)
    with pytest.raises(UsageError, match="does not exist"):
        generate(ckpt(run).with_name("missing.pt"), "x", 5)


def test_cli_generate_streams_the_same_text_and_reports_speed(run, capsys):
    assert cli.main(["generate", str(ckpt(run)), "--prompt", "The ", "--length", "40", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert out == "The " + generate(ckpt(run), "The ", 40, seed=3) + "\n"
    assert "40 characters in" in err and "chars/s" in err
    assert seqbench.generate(ckpt(run), "The ", 40, seed=3) == out[4:-1]  # the package-level API


def test_eval_reproduces_the_trials_validation_loss(run):
    run_dir, frame, _ = run
    for cell in ("lstm", "transformer"):
        row = frame.set_index("trial").loc[f"{cell}|charlm|{T}|0"]
        val = evaluate_checkpoint(ckpt(run, cell), split="val")
        assert isinstance(val, pd.DataFrame) and len(val) == 1
        assert val["loss"][0] == pytest.approx(row["loss"], rel=1e-6)
        assert val["accuracy"][0] == pytest.approx(row["accuracy"], rel=1e-6)
        assert val["bits_per_char"][0] == pytest.approx(row["bits_per_token"], rel=1e-6)
        assert val["perplexity"][0] == pytest.approx(math.exp(row["loss"]), rel=1e-6)
        test = seqbench.evaluate(ckpt(run, cell))
        assert test["split"][0] == "test" and test["chars"][0] > 0 and test["oov_chars"][0] == 0


def test_eval_on_another_file_drops_and_counts_unknown_characters(run, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("the lazy fox sees a dog. ÆØÅ " * 20, encoding="utf-8")
    result = evaluate_checkpoint(ckpt(run), corpus=str(other))
    assert result["oov_chars"][0] == 3 * 20 and result["split"][0] == "whole file"
    assert result["windows"][0] == (len("the lazy fox sees a dog.  " * 20) - 1) // T
    assert cli.main(["eval", str(ckpt(run)), "--corpus", str(other)]) == 0
    assert "bits/char" in capsys.readouterr().out
    with pytest.raises(UsageError, match="charlm"):
        evaluate_checkpoint(ckpt(run, "lstm", "adding"))


def test_eval_refuses_a_changed_corpus(run, tmp_path):
    run_dir, _, text = run
    data = load_checkpoint(ckpt(run))
    data["corpus"]["sha256"] = "0" * 64
    with pytest.raises(UsageError, match="not the text this model was trained on"):
        evaluate_checkpoint(data)


def test_textgen_suite_matches_the_lstm128_budget():
    from seqbench.models.budget import count_model_params
    from seqbench.plugins.registry import Registry
    from seqbench.spec.suite import load_suite
    from seqbench.tasks.charlm import CharLMTask

    _, configs = load_suite("textgen")
    assert [c.cells for c in configs] == [["lstm"], ["gru", "rnn", "transformer"]]
    assert all(c.save and c.sample > 0 and c.tasks == ["charlm"] and c.steps for c in configs)
    assert configs[0].hidden == 128 and configs[0].layers == 1
    lstm128 = count_model_params(CharLMTask(64), Registry().get("cell", "lstm"), 128, 1, {})
    assert abs(configs[1].params - lstm128) <= 0.03 * lstm128


def test_run_prints_samples_when_the_config_asks(tmp_path, capsys):
    text = tmp_path / "prose.txt"
    text.write_text(PROSE * 40, encoding="utf-8")
    suite = tmp_path / "tiny.toml"
    suite.write_text(f'[defaults]\ntasks = ["charlm"]\nlengths = [{T}]\nsteps = 4\nhidden = 8\nbatch = 4\n'
                     f'eval_examples = 8\nsave = true\nsample = 30\n'
                     f'task_params = {{ charlm = {{ corpus = "{text}" }} }}\n[[part]]\ncells = ["gru"]\n')
    assert cli.main(["run", "--suite", str(suite), "--out", str(tmp_path / "r"), "-q"]) == 0
    out = capsys.readouterr().out
    heading = f"gru · charlm T={T} · seed 0: a 30-character sample"
    assert heading in out  # after the tables: the trial, then its sample
    tail = out.split(heading)[-1].split("\n", 1)[-1]
    assert tail.startswith("The ") and len(tail.rstrip("\n")) >= len("The ") + 30
