"""Fine-tuning throughput and time-to-accuracy: lmcore against transformers, same weights, same run.

    LMCORE_DATA=../shared/data python bench/finetune.py      # or: make bench

1. Throughput: training steps (forward + backward + AdamW) of a MiniLM sequence classifier on a
   batch of 32 sequences of 256 tokens, in float32 (and with ``--bf16``, bf16 autocast, which is
   only fast on CPUs with avx512_bf16/AMX and on GPUs), for lmcore's
   BertForSequenceClassification and transformers' BertForSequenceClassification (both with a
   [CLS]-pooler head, the one transformers has). Printed as sequences per second and the ratio.
2. Time to accuracy: both fine-tuned with the same data order and hyperparameters on four
   newsgroups (512 labelled messages, 128 tokens); validation accuracy is measured every 8 steps
   and the wall time until it first reaches the target is printed for each.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from lmcore import checkpoints
from lmcore.classify import new_classifier
from lmcore.encoding import TextView, encode_texts, length_bucketed_batches
from lmcore.newsgroups import load_20newsgroups
from lmcore.outputs import ModelOutput
from lmcore.train import parameter_groups


def hugging_face_classifier(num_labels: int):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        from transformers import BertForSequenceClassification
        from transformers.utils import logging

        logging.set_verbosity_error()  # "some weights were newly initialised": the head, as intended
        return BertForSequenceClassification.from_pretrained(
            str(checkpoints.default_checkpoint()), num_labels=num_labels, local_files_only=True
        )


class HuggingFaceAdapter(torch.nn.Module):
    """Same call signature as lmcore's classifier: (input_ids, attention_mask) -> ModelOutput."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return ModelOutput(logits=self.model(input_ids=input_ids, attention_mask=attention_mask).logits)


def lmcore_classifier(num_labels: int):
    return new_classifier(num_labels, pooling="cls")


def train_step(model, optimizer, batch, autocast):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(batch["input_ids"], batch["attention_mask"]).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def throughput(make_model, batch, autocast, steps):
    torch.manual_seed(0)
    model = make_model(20).train()
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-5)
    train_step(model, optimizer, batch, autocast)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, batch, autocast)
    return steps * batch["input_ids"].shape[0] / (time.perf_counter() - start)


def time_to_accuracy(make_model, train_batches, val_batches, val_labels, target, max_steps):
    torch.manual_seed(0)
    model = make_model(4).train()
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4)
    elapsed, step = 0.0, 0
    while step < max_steps:
        for batch in train_batches:
            start = time.perf_counter()
            train_step(model, optimizer, batch, autocast=False)
            elapsed += time.perf_counter() - start
            step += 1
            if step % 8 == 0:
                model.eval()
                with torch.no_grad():
                    predicted = torch.cat(
                        [model(b["input_ids"], b["attention_mask"]).logits.argmax(-1) for b in val_batches]
                    )
                model.train()
                accuracy = (predicted.numpy() == val_labels).mean()
                if accuracy >= target:
                    return elapsed, step, accuracy
            if step >= max_steps:
                break
    return float("nan"), step, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per measurement")
    parser.add_argument("--target", type=float, default=0.85, help="validation accuracy to reach")
    parser.add_argument("--bf16", action="store_true", help="also measure bf16 autocast")
    parser.add_argument("--max-steps", type=int, default=120, help="give up time-to-accuracy after this")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, all-MiniLM-L6-v2\n")
    tokenizer = checkpoints.load_tokenizer()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (32, 256), generator=generator)
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": torch.randint(0, 20, (32,), generator=generator),
    }
    print(
        f"{'training throughput, 32 x 256 tokens':>40} | {'lmcore':>10} | {'transformers':>12} | ratio (lmcore/transformers speed)"
    )
    for autocast in (False, True) if args.bf16 else (False,):
        ours = throughput(lmcore_classifier, batch, autocast, args.steps)
        theirs = throughput(
            lambda n: HuggingFaceAdapter(hugging_face_classifier(n)), batch, autocast, args.steps
        )
        label = "bf16 autocast" if autocast else "float32"
        print(f"{label:>40} | {ours:6.1f} seq/s | {theirs:8.1f} seq/s | {ours / theirs:.2f}x")

    categories = ["comp.graphics", "rec.autos", "sci.med", "talk.politics.guns"]
    data = load_20newsgroups("train", categories=categories, remove=("headers", "footers", "quotes"))
    train_texts, val_texts, train_labels, val_labels = train_test_split(
        data.texts, data.labels, train_size=512, test_size=400, random_state=0, stratify=data.labels
    )
    train_batches = length_bucketed_batches(
        encode_texts(tokenizer, train_texts, TextView(128)), train_labels, 16, seed=0
    )
    val_batches = length_bucketed_batches(
        encode_texts(tokenizer, val_texts, TextView(128)), None, 64, seed=None
    )
    order = torch.cat([b["index"] for b in val_batches]).numpy()
    val_in_batch_order = np.asarray(val_labels)[order]
    print(f"\ntime to {args.target:.0%} validation accuracy (4 newsgroups, 512 labels, 128 tokens, float32):")
    for name, make in (
        ("lmcore", lmcore_classifier),
        ("transformers", lambda n: HuggingFaceAdapter(hugging_face_classifier(n))),
    ):
        seconds, steps, accuracy = time_to_accuracy(
            make, train_batches, val_batches, val_in_batch_order, args.target, args.max_steps
        )
        print(f"{name:>14}: {seconds:6.1f} s of training, {steps} steps (accuracy {accuracy:.3f})")


if __name__ == "__main__":
    main()
