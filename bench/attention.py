"""lmcore attention against PyTorch's fused scaled_dot_product_attention, in the same run.

    python bench/attention.py            # or: make bench

For each size it times, forward and forward + backward:
  * lmcore with need_weights=True  (the readable path: scores, softmax, weighted sum, and the
    (L, S) weight matrix kept for plotting),
  * lmcore with need_weights=False (hands the work to PyTorch's fused kernel),
  * torch.nn.functional.scaled_dot_product_attention (the reference),
and prints each time as a ratio to the reference measured in the same run. Expect the fused
path at about 1.0x and the readable path slower, by more as sequences grow, because it writes
the whole weight matrix to memory; that is the price of being able to look at the weights.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import median_seconds

import lmcore

SIZES = [  # (batch, heads, seq, d_head)
    (8, 12, 64, 32),
    (8, 12, 128, 32),
    (4, 12, 256, 64),
    (2, 12, 512, 64),
]


def implementations(q, k, v):
    """The three ways to compute the same attention, as functions of nothing."""
    return {
        "reference": lambda: F.scaled_dot_product_attention(q, k, v),
        "lmcore fused": lambda: lmcore.scaled_dot_product_attention(q, k, v, need_weights=False)[0],
        "lmcore weights": lambda: lmcore.scaled_dot_product_attention(q, k, v)[0],
    }


def forward_only(function):
    def run():
        with torch.inference_mode():
            function()

    return run


def forward_backward(function):
    return lambda: function().sum().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-run-time", type=float, default=0.5, help="seconds per measurement")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    print("times of lmcore as a ratio to torch's scaled_dot_product_attention, same run\n")
    header = (
        f"{'batch x heads x seq x d_head':>28} | {'pass':>16} | {'reference':>10} "
        f"| {'lmcore fused':>12} | {'lmcore weights':>14}"
    )
    print(header)
    print("-" * len(header))
    for shape in SIZES:
        q, k, v = (torch.randn(*shape, requires_grad=True) for _ in range(3))
        for label, wrap in (("forward", forward_only), ("forward+backward", forward_backward)):
            seconds = {
                name: median_seconds(wrap(f), args.min_run_time)
                for name, f in implementations(q, k, v).items()
            }
            base = seconds["reference"]
            print(
                f"{' x '.join(map(str, shape)):>28} | {label:>16} | {base * 1e3:>7.2f} ms "
                f"| {seconds['lmcore fused'] / base:>11.2f}x | {seconds['lmcore weights'] / base:>13.2f}x"
            )


if __name__ == "__main__":
    main()
