"""Fused ``lstm`` inference at batch 32, hidden 128 against the matmul-peak probe on CPU (goal ≥ 70 %).

Runs ``seqbench.speed`` for ``lstm``: its inference GFLOP/s (analytic forward FLOPs per
token × tokens/s) and, in the same run, the GFLOP/s of back-to-back (32, 128)×(128, 512)
matmuls, the shape of the LSTM's recurrent step. Prints the fraction per length.

    python benchmarks/peak_fraction.py [--lengths 64,256,1024] [--batch 32] [--hidden 128] [--repeats 10]
"""
from __future__ import annotations

import argparse
import tempfile

import torch

import seqbench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="64,256,1024")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fused lstm inference, batch {args.batch}, "
          f"hidden {args.hidden}, float32, CPU")
    with tempfile.TemporaryDirectory() as tmp:
        frame = seqbench.speed("lstm", args.lengths, batch=args.batch, hidden=args.hidden, device="cpu",
                               repeats=args.repeats, min_time=0.5, out=tmp)
    for _, row in frame.iterrows():
        print(f"  T={row['length']:<6} {row['infer_gflops']:7.2f} GFLOP/s inference vs {row['peak_gflops']:7.2f} "
              f"GFLOP/s matmul probe {row['probe_shape']}: {row['infer_pct_peak']:5.1f} % of peak "
              f"(IQR {row['infer_iqr']:.0%}; training {row['train_pct_peak']:.1f} %)  "
              f"{'ok' if row['infer_pct_peak'] >= 70 else 'MISSED'}")
    print(f"median {frame['infer_pct_peak'].median():.1f} % of peak (goal ≥ 70 %)")


if __name__ == "__main__":
    main()
