"""The news project's command line: ``python -m lmcore.news`` (also ``python -m lmcore.project``).
Every argument is checked before anything is loaded or trained."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
from pathlib import Path

from .. import checkpoints
from .config import RECIPES, SETTINGS, ProjectConfig
from .pipeline import run_project
from .splits import load_project_data
from .store import FinishedRunExists, check_output_folder, publish_run, shown

__all__ = ["main"]


def _flag(message: str) -> str:
    """A ProjectConfig error, worded for the command line: ``train_limit ...`` -> ``--train-limit ...``."""
    name, _, rest = message.partition(" ")
    return (
        f"--{name.replace('_', '-')} {rest}" if name in {f.name for f in fields(ProjectConfig)} else message
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lmcore.news",
        description="The 20 Newsgroups project (chapter 5), or the same recipe on labelled texts of your own.",
        epilog="Options left out take the book's recipe for the setting (RECIPES).",
    )
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="full")
    parser.add_argument(
        "--checkpoint", help="a local BERT checkpoint folder (default: the bundled all-MiniLM-L6-v2)"
    )
    parser.add_argument("--max-length", type=int)
    parser.add_argument("--truncation", choices=["head", "head+tail"])
    parser.add_argument(
        "--head-share", type=float, help='of the tokens "head+tail" keeps, the share from the start (0.25)'
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--pooling", choices=["cls", "mean"])
    parser.add_argument(
        "--freeze-layers", type=int, help="keep the embeddings and this many lowest layers as pretrained"
    )
    parser.add_argument(
        "--test-windows",
        type=int,
        help="average predictions over up to this many extra windows of each long message",
    )
    parser.add_argument("--dropout", type=float)
    parser.add_argument(
        "--bf16",
        action="store_true",
        default=None,
        help="bf16 autocast (GPUs, CPUs with AMX; measure before using it on a CPU)",
    )
    parser.add_argument("--train-limit", type=int)
    parser.add_argument("--test-limit", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--data-file",
        help="your own labelled texts instead of 20 Newsgroups: a .csv file with the "
        'columns text,label or a .jsonl file of {"text": ..., "label": ...} lines',
    )
    parser.add_argument(
        "--test-file",
        help="the test set for --data-file, in the same format (default: a stratified "
        "20%% of --data-file held out, the same for every seed)",
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for the run's files")
    parser.add_argument("--again", action="store_true", help="train even if --output holds this run already")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a finished run of another configuration in --output"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also copy the results (not the weights) to book/results/news/<setting> for chapter 5",
    )
    args = parser.parse_args(argv)
    given = {
        f.name: getattr(args, f.name)
        for f in fields(ProjectConfig)
        if getattr(args, f.name, None) is not None
    }
    try:  # every argument is checked before anything is loaded or trained
        config = replace(RECIPES[args.setting], **given)
        # the whole checkpoint, weights and tokenizer included: a damaged one is found in seconds,
        # not after the data, the baseline and the tokenising
        limit = checkpoints.check_checkpoint(config.checkpoint).max_position_embeddings
        if config.max_length > limit:
            raise ValueError(
                f"max_length must be at most {limit}, the model's limit; got {config.max_length}"
            )
        if config.data_file is not None:
            if args.publish:
                raise ValueError(
                    "--publish copies 20 Newsgroups runs into the book; a run on --data-file stays in --output"
                )
        if config.data_file is not None or config.train_limit is not None:
            load_project_data(config)  # every line of the data files, and enough texts for the splits
        check_output_folder(args.output, config, args.overwrite)
    except (ValueError, TypeError, OSError, FinishedRunExists) as error:
        parser.error(_flag(str(error)))
    run = run_project(config, args.output, reuse=not args.again, overwrite=args.overwrite)
    for name, row in run.test.items():
        print(f"{name:10} accuracy {row['accuracy']:.4f}  macro F1 {row['macro_f1']:.4f}")
    if config.test_windows:
        print(f"bert from the truncated view alone: accuracy {run.test_one_view['bert']['accuracy']:.4f}")
    timings = run.timings
    print(
        f"fine-tuning {timings['fine_tuning_seconds'] / 60:.1f} min, whole run {timings['total_seconds'] / 60:.1f} min "
        f"on {run.hardware}; results in {shown(args.output)}"
    )
    if args.publish:
        print(f"published to {shown(publish_run(args.output))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
