"""One AdamW update of MiniLM's 23 million parameters: loops over the tensors against the fused kernel.

    python bench/optimizer_step.py      # or: make bench

``lmcore.train.fit`` uses ``fused=True`` on CPUs and CUDA GPUs. PyTorch's default on a CPU is a
loop over the parameter tensors, one operation at a time (``foreach`` groups the tensors per
operation). All three compute the same update up to float rounding; the fused kernel reads and
writes each parameter, its gradient and the two moment estimates in a single pass instead of one
pass per operation, and memory traffic is what an update of this size is limited by. Printed:
milliseconds per update for each, measured in the same run, the ratio of the loop to the fused
kernel, and the largest difference between their updates.
"""

from __future__ import annotations

import argparse

import torch
from common import median_seconds

from lmcore.classify import new_classifier
from lmcore.train import parameter_groups


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-run-time", type=float, default=2.0, help="seconds per measurement")
    args = parser.parse_args()
    times, updated = {}, {}
    implementations = {
        "per-tensor loop": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }
    for name, options in implementations.items():
        torch.manual_seed(0)  # the same classification head for each, so the updates can be compared
        model = new_classifier(20)
        for parameter in model.parameters():
            parameter.grad = torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)) * 1e-3
        optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4, **options)
        optimizer.step()  # first update allocates the moment estimates
        updated[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
        times[name] = median_seconds(optimizer.step, args.min_run_time)
    count = sum(p.numel() for p in model.parameters())
    print(f"AdamW update of {count / 1e6:.1f} million parameters, {torch.get_num_threads()} threads:")
    for name, seconds in times.items():
        print(f"  {name:15s} {seconds * 1e3:7.1f} ms")
    print(f"  fused is {times['per-tensor loop'] / times['fused']:.1f} times faster than the loop")
    difference = (updated["fused"] - updated["per-tensor loop"]).abs().max().item()
    print(f"  largest difference after one update: {difference:.1e}")


if __name__ == "__main__":
    main()
