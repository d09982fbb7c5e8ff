"""lmcore's EncoderLayer against torch.nn.TransformerEncoderLayer, in the same run.

    python bench/transformer.py          # or: make bench

Both layers get the same weights and the same batch. Times are medians from
torch.utils.benchmark and are printed as the ratio lmcore / PyTorch:

* training step (forward + backward, dropout 0.1): both run ordinary PyTorch ops;
* inference (eval mode, no gradients): PyTorch takes its fused "fast path" kernel here, and
  lmcore is run with need_weights=False, which uses the fused attention kernel but keeps the
  rest of the layer readable;
* inference with attention weights: what the chapters do to draw heatmaps; PyTorch's layer
  cannot return weights, so its fast path is the reference.
"""

from __future__ import annotations

import argparse

import torch
from common import median_seconds
from torch import nn

import lmcore
from lmcore import transformer as T

SIZES = [  # batch, seq, d_model, heads, d_ff
    (32, 64, 256, 4, 1024),
    (16, 128, 384, 12, 1536),
    (8, 256, 512, 8, 2048),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-run-time", type=float, default=0.5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    print("ratio = lmcore time / torch.nn.TransformerEncoderLayer time, same weights, same batch\n")
    header = f"{'batch x seq x d_model (heads)':>30} | {'case':>24} | {'PyTorch':>9} | {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for batch, seq, d_model, heads, d_ff in SIZES:
        theirs = nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.1, batch_first=True)
        ours = T.copy_from_torch_encoder_layer(T.EncoderLayer(d_model, heads, d_ff, dropout=0.1), theirs)
        x = torch.randn(batch, seq, d_model)
        padding = torch.ones(batch, seq, dtype=torch.long)
        padding[batch // 2 :, seq * 3 // 4 :] = 0
        our_mask, their_mask = lmcore.padding_mask(padding), ~padding.bool()

        def train_theirs():
            theirs(x, src_key_padding_mask=their_mask).sum().backward()

        def train_ours():
            ours(x, our_mask, need_weights=False)[0].sum().backward()

        def infer_theirs():
            with torch.inference_mode():
                theirs(x, src_key_padding_mask=their_mask)

        def infer_ours():
            with torch.inference_mode():
                ours(x, our_mask, need_weights=False)

        def infer_ours_weights():
            with torch.inference_mode():
                ours(x, our_mask, need_weights=True)

        name = f"{batch} x {seq} x {d_model} ({heads})"
        theirs.train(), ours.train()
        base = median_seconds(train_theirs, args.min_run_time)
        print(
            f"{name:>30} | {'train: forward+backward':>24} | {base * 1e3:6.1f} ms | "
            f"{median_seconds(train_ours, args.min_run_time) / base:5.2f}x"
        )
        theirs.eval(), ours.eval()
        base = median_seconds(infer_theirs, args.min_run_time)
        for case, function in (("inference", infer_ours), ("inference + weights", infer_ours_weights)):
            print(
                f"{name:>30} | {case:>24} | {base * 1e3:6.1f} ms | "
                f"{median_seconds(function, args.min_run_time) / base:5.2f}x"
            )


if __name__ == "__main__":
    main()
