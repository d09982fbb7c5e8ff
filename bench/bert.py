"""lmcore's BertModel against transformers.BertModel on the same MiniLM weights, same run.

    python bench/bert.py                 # or: make bench

Both models get the bundled all-MiniLM-L6-v2 weights and the same padded batch of token ids;
the script times a training step's forward and backward pass (and inference) and prints the
ratio lmcore / transformers. lmcore takes PyTorch's fused attention kernel when attention
weights are not requested; transformers uses its "sdpa" attention, its default.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from common import median_seconds

from lmcore import checkpoints

SIZES = [(32, 128), (16, 256), (8, 512)]  # batch, sequence length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-run-time", type=float, default=1.0)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from transformers import BertModel as HuggingFaceBertModel
    ours = checkpoints.load_pretrained()
    theirs = HuggingFaceBertModel.from_pretrained(
        str(checkpoints.default_checkpoint()), local_files_only=True
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, all-MiniLM-L6-v2 "
        f"(attention: transformers {theirs.config._attn_implementation!r})"
    )
    print("ratio = lmcore time / transformers time, same weights, same batch\n")
    header = f"{'batch x seq':>12} | {'case':>24} | {'transformers':>12} | {'ratio':>6}"
    print(header)
    print("-" * len(header))
    generator = torch.Generator().manual_seed(0)
    for batch, length in SIZES:
        ids = torch.randint(1000, 30000, (batch, length), generator=generator)
        mask = torch.ones_like(ids)
        mask[batch // 2 :, length * 3 // 4 :] = 0  # half the batch padded by a quarter
        types = torch.zeros_like(ids)
        cases = {
            "train: forward+backward": (
                lambda: ours(ids, mask, types).last_hidden_state.sum().backward(),
                lambda: (
                    theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
                    .last_hidden_state.sum()
                    .backward()
                ),
                True,
            ),
            "inference": (
                lambda: ours(ids, mask, types),
                lambda: theirs(input_ids=ids, attention_mask=mask, token_type_ids=types),
                False,
            ),
        }
        for case, (run_ours, run_theirs, training) in cases.items():
            ours.train(training), theirs.train(training)
            with torch.set_grad_enabled(training):
                base = median_seconds(run_theirs, args.min_run_time)
                ratio = median_seconds(run_ours, args.min_run_time) / base
            print(f"{f'{batch} x {length}':>12} | {case:>24} | {base * 1e3:9.0f} ms | {ratio:5.2f}x")


if __name__ == "__main__":
    main()
