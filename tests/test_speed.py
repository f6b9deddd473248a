"""seqbench speed: FLOP formulas against hand counts, the scaling fit, the CSV schema, bad input."""
from __future__ import annotations

import json
import math
import random
import textwrap

import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from seqbench.studies import speed as bench
from seqbench.models import flops
from seqbench.cells.reference import ReferenceRecurrent
from seqbench.cells.transformer import CausalTransformer
from seqbench.cli import main
from seqbench.studies.scaling import fit_power_law, local_exponent

FAST = dict(repeats=2, warmup=1, min_time=0.0, gen_steps=2)  # API runs: as few calls as possible

# --------------------------------------------------------------------------- FLOPs


def test_recurrent_flops_match_a_hand_count():
    # input 2, hidden 3: W_ih is 3×2 (6 multiply-adds per gate block), W_hh 3×3 (9): 15 per block
    assert flops.recurrent(1, hidden=3, layers=1, input_size=2) == 2 * 15  # rnn: one block
    assert flops.recurrent(4, hidden=3, layers=1, input_size=2) == 2 * 4 * 15  # lstm: i, f, g, o
    assert flops.recurrent(3, hidden=3, layers=1, input_size=2) == 2 * 3 * 15  # gru: r, z, n
    # a second layer reads the hidden state: 3×3 + 3×3 = 18 multiply-adds per block
    assert flops.recurrent(1, hidden=3, layers=2, input_size=2) == 2 * (15 + 18)


def test_transformer_flops_match_a_hand_count():
    # hidden 4, input 2, T = 3, one layer, MLP ratio 4
    inp = 2 * 4  # input projection 2 → 4
    dense = 4 * 12 + 4 * 4 + 4 * 16 + 16 * 4  # qkv, output projection, MLP up and down
    keys = 1 + 2 + 3  # causal: positions 1, 2, 3 see 1, 2, 3 keys
    attention = keys * (4 + 4) / 3  # per key: q·k (4) and the weighted value (4), averaged per token
    assert flops.transformer(hidden=4, layers=1, length=3, input_size=2) == 2 * (inp + dense + attention)
    # only the attention term grows with T, linearly
    grow = [flops.transformer(4, 2, T, 2) for T in (10, 20, 30)]
    assert grow[1] - grow[0] == grow[2] - grow[1] == 2 * 2 * 4 * 10


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_recurrent_flops_match_torch_flop_counter_on_the_reference_cell(kind, layers):
    cell = ReferenceRecurrent(kind, 3, 5, layers, mode="eager")
    with FlopCounterMode(display=False) as counter:
        cell(torch.randn(2, 7, 3))
    assert counter.get_total_flops() / (2 * 7) == flops.recurrent(flops.GATES[kind], 5, layers, 3)


def test_transformer_dense_flops_match_torch_flop_counter():
    """FlopCounterMode counts the matmuls; SDPA on CPU goes uncounted, so the difference is
    exactly the attention term."""
    B, T, d, H, L = 2, 5, 3, 8, 2
    with FlopCounterMode(display=False) as counter:
        CausalTransformer(d, H, L)(torch.randn(B, T, d))
    attention = L * 2 * H * (T + 1)
    assert counter.get_total_flops() / (B * T) == flops.transformer(H, L, T, d) - attention


def test_reference_cells_count_as_their_fused_twin_and_plugins_bring_their_own(registry):
    for ref, twin in (("rnn-ref", "rnn"), ("lstm-ref", "lstm"), ("gru-ref", "gru")):
        assert flops.flops_per_token(registry.get("cell", ref), 16, 2, 50, 16) == \
            flops.flops_per_token(registry.get("cell", twin), 16, 2, 50, 16) > 0
    lstm = registry.get("cell", "lstm")
    plugin = type(lstm)("cell", "mine", lstm.obj, "my_plugin")
    assert math.isnan(flops.flops_per_token(plugin, 16, 1, 50, 16))
    counted = type(lstm)("cell", "mine", lstm.obj, "my_plugin",
                         extra={"flops_per_token": lambda h, layers, length, d: h * layers + length + d})
    assert flops.flops_per_token(counted, 16, 2, 50, 3) == 16 * 2 + 50 + 3
    assert flops.probe_shape(registry.get("cell", "lstm-ref"), 32, 128, 64) == (32, 128, 512)
    assert flops.probe_shape(registry.get("cell", "transformer"), 32, 128, 4096)[0] == flops.PROBE_MAX_ROWS


# --------------------------------------------------------------------------- scaling fit


@pytest.mark.parametrize("true_exponent", [1.0, 2.0])
def test_scaling_fit_recovers_the_exponent_from_noisy_timings(true_exponent):
    rng = random.Random(0)
    lengths = [64, 128, 256, 512, 1024, 2048, 4096]
    times = [3e-6 * T ** true_exponent * math.exp(rng.gauss(0, 0.05)) for T in lengths]
    fit = fit_power_law(lengths, times)
    assert abs(fit.exponent - true_exponent) < 0.05
    assert fit.r2 > 0.99 and 0 < fit.stderr < 0.05 and fit.points == 7
    exact = fit_power_law(lengths, [2.0 * T ** true_exponent for T in lengths])
    assert exact.exponent == pytest.approx(true_exponent) and exact.coefficient == pytest.approx(2.0)
    assert exact.r2 == pytest.approx(1.0)


def test_scaling_fit_edge_cases_and_the_longest_lengths():
    two = fit_power_law([10, 100], [1.0, 10.0])
    assert two.exponent == pytest.approx(1.0) and math.isnan(two.r2)  # two points: no R²
    assert math.isnan(fit_power_law([10], [1.0]).exponent)
    assert fit_power_law([10, 20, 40, float("nan")], [1, 2, math.nan, 8]).points == 2  # NaNs dropped
    # linear plus quadratic: the overall fit lies between, the longest pair approaches 2
    lengths = [64, 256, 1024, 4096, 16384]
    times = [T + T * T / 1000 for T in lengths]
    overall, longest = fit_power_law(lengths, times).exponent, local_exponent(lengths, times)
    assert 1.0 < overall < longest < 2.0 and longest > 1.8


# --------------------------------------------------------------------------- end to end


def test_speed_cli_end_to_end_writes_csv_environment_and_tables(tmp_path, capsys, monkeypatch):
    import functools

    # the command line end to end, with the API runs' fast timing settings (the CLI has no flags for them)
    monkeypatch.setattr(bench, "speed", functools.partial(bench.speed, **{k: v for k, v in FAST.items()
                                                                          if k != "repeats"}))
    code = main(["speed", "--cells", "lstm,transformer", "--lengths", "8,16", "--batch", "2", "--hidden", "8",
                 "--repeats", "2", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    run_dir = next(tmp_path.iterdir())
    frame = pd.read_csv(run_dir / "speed.csv")
    assert list(frame.columns) == list(bench.COLUMNS)
    assert sorted(zip(frame["cell"], frame["length"])) == [("lstm", 8), ("lstm", 16),
                                                           ("transformer", 8), ("transformer", 16)]
    assert (frame["status"] == "ok").all()
    for column in ("train_tok_s", "infer_tok_s", "gen_ms_per_tok", "peak_gflops", "infer_pct_peak", "params"):
        assert (frame[column] > 0).all(), column
    assert (frame["threads"] == torch.get_num_threads()).all()
    lstm = frame[frame["cell"] == "lstm"].iloc[0]
    assert lstm["flops_per_tok"] == flops.recurrent(4, 8, 1, 8) and lstm["probe_shape"] == "2x8x32"
    assert lstm["infer_gflops"] == pytest.approx(lstm["flops_per_tok"] * lstm["infer_tok_s"] / 1e9)
    assert lstm["params"] == sum(p.numel() for p in torch.nn.LSTM(8, 8).parameters())
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["torch_threads"] == torch.get_num_threads() and env["device"] == "cpu"
    scaling = pd.read_csv(run_dir / "scaling.csv")
    assert list(scaling["cell"]) == ["lstm", "transformer"] and scaling["train_exponent"].notna().all()
    assert "speed · T=8" in out and "speed · T=16" in out and "scaling with length" in out
    assert "gen ms/tok ↓" in out and "infer % peak ↑" in out
    assert "lstm T=16: train" in err and "speed.csv" in err

    # seqbench report reads a speed run back: the same tables, and every export format
    assert main(["report", str(run_dir)]) == 0
    assert "speed · T=16" in capsys.readouterr().out
    assert main(["report", str(run_dir), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "### speed · T=8" in markdown and "### speed · scaling with length" in markdown and "torch" in markdown
    assert main(["report", str(run_dir), "-o", str(tmp_path / "speed.json")]) == 0
    records = json.loads((tmp_path / "speed.json").read_text())
    assert [(r["cell"], r["length"]) for r in records] == list(zip(frame["cell"], frame["length"]))


def test_speed_api_orders_reference_cells_beside_their_twins(registry, tmp_path):
    assert bench.order_cells(["lstm-ref", "gru", "lstm", "rnn-ref"], registry) == ["gru", "lstm", "lstm-ref", "rnn-ref"]
    frame = bench.speed("gru-ref,lstm,gru", [4], batch=2, hidden=4, out=tmp_path, registry=registry,
                        cell_params={"gru-ref": {"mode": "eager"}}, **FAST)
    assert list(frame["cell"]) == ["lstm", "gru", "gru-ref"] and (frame["status"] == "ok").all()
    assert frame["flops_per_tok"].iloc[1] == frame["flops_per_tok"].iloc[2]
    assert frame.attrs["run_dir"].startswith(str(tmp_path))


def test_parameter_budget_solves_each_cells_width(registry):
    lstm = registry.get("cell", "lstm")
    assert bench.cell_param_count(lstm, 32, 1, {}) == 8 * 32 * 32 + 8 * 32  # 4 blocks of W_ih, W_hh, 2 biases
    assert bench.match_width(lstm, 8 * 32 * 32 + 8 * 32, 1, {}) == 32
    width = bench.match_width(registry.get("cell", "transformer"), 100_000, 1, {})
    assert abs(bench.cell_param_count(registry.get("cell", "transformer"), width, 1, {}) - 100_000) <= 3_000


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args, message", [
    (["--cells", "lsmt"], "unknown cell 'lsmt' (did you mean 'lstm'?)"),
    (["--lengths", "0"], "lengths must be a positive integer, got '0'"),
    (["--lengths", "8,x"], "lengths must be a positive integer, got 'x'"),
    (["--batch", "-1"], "batch must be a positive integer"),
    (["--repeats", "two"], "repeats must be a positive integer, got 'two'"),
    (["--hidden", "0"], "hidden must be a positive integer"),
    (["--hidden", "8", "--params", "10k"], "either --hidden or --params"),
    (["--params", "lots"], "malformed parameter budget 'lots'"),
    (["--dtype", "float16"], "unknown dtype 'float16'; use one of float32, bfloat16"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--cell-opt", "lstm.mode=jit"], "cell 'lstm' has no parameter 'mode'"),
    (["--cells", "lstm", "--cell-opt", "gru.x=1"], "options given for cell 'gru', which is not in this run"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    code = main(["speed", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # refused before any run directory


def test_bfloat16_without_support_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "bf16_supported", lambda device: (False, "no bfloat16 on this test device"))
    code = main(["speed", "--cells", "lstm", "--dtype", "bfloat16", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--dtype bfloat16 is not supported on cpu: no bfloat16 on this test device; use --dtype float32" in err


def test_absurd_length_gets_a_memory_message_with_a_smaller_size(tmp_path, capsys):
    code = main(["speed", "--cells", "lstm", "--lengths", "64,1000000000000", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cell 'lstm' at T=1,000,000,000,000, batch 32, hidden 128 needs at least" in err
    assert "memory available; try --lengths" in err and "or less" in err
    assert not any(tmp_path.iterdir())


OOM_PLUGIN = '''
    import seqbench
    from torch import nn

    class Greedy(nn.Module):
        """A GRU that runs out of memory beyond 8 steps, as a too-large trial would."""

        def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0):
            super().__init__()
            self.rnn = nn.GRU(input_size, hidden_size, num_layers, batch_first=True)

        def forward(self, x, state=None):
            if x.shape[1] > 8:
                raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough "
                                   "memory: you tried to allocate 1099511627776 bytes.")
            return self.rnn(x, state)

    def build(input_size, hidden_size, num_layers=1, dropout=0.0):
        return Greedy(input_size, hidden_size, num_layers, dropout)

    build.flops_per_token = lambda hidden, layers, length, input_size: 1234.0

    @seqbench.hookimpl
    def seqbench_register_cells(register):
        register("greedy", build, description="runs out of memory beyond T=8")
'''


def test_out_of_memory_is_a_row_status_and_the_rest_continue(tmp_path, monkeypatch):
    (tmp_path / "oom_plugin.py").write_text(textwrap.dedent(OOM_PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    frame = bench.speed("greedy,lstm", [4, 16], batch=4, hidden=4, out=tmp_path / "out", plugins=["oom_plugin"], **FAST)
    status = dict(zip(zip(frame["cell"], frame["length"]), frame["status"]))
    assert status[("greedy", 4)] == status[("lstm", 4)] == status[("lstm", 16)] == "ok"
    assert status[("greedy", 16)] == "out of memory at batch 4, T=16: try --batch 2 or --lengths 8 or less"
    assert (frame[frame["cell"] == "greedy"]["flops_per_tok"] == 1234.0).all()  # the plugin's own formula
    saved = pd.read_csv(next((tmp_path / "out").iterdir()) / "speed.csv")
    assert len(saved) == 4


def test_ctrl_c_keeps_the_rows_done(tmp_path, monkeypatch, capsys):
    real, calls = bench.measure, []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "measure", interrupted_second_time)
    code = main(["speed", "-q", "--cells", "rnn,gru", "--lengths", "4", "--batch", "2", "--hidden", "4",
                 "--repeats", "2", "--out", str(tmp_path)])
    assert code == 130 and "finished rows are saved" in capsys.readouterr().err
    saved = pd.read_csv(next(tmp_path.iterdir()) / "speed.csv")
    assert list(saved["cell"]) == ["rnn"] and saved["status"].iloc[0] == "ok"


def test_cpu_peak_memory_counts_a_large_temporary():
    from seqbench.train.measure import PeakMemory

    memory = PeakMemory(torch.device("cpu"), release=True)
    memory.start()
    if memory.kind == "unavailable":
        pytest.skip("no /proc/self/clear_refs here")
    block = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
    del block
    assert 56 < memory.peak_mb() < 200
