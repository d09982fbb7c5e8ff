"""Checks for the chapters' exercises: each tells a student whether an answer is right.

Every check recomputes the expected answer from the exercise's own inputs (never from a stored
number) and behaves the same way:

* an answer still ``None`` (the student copies start that way) prints ``Not answered yet: set
  `your_...` ...`` and returns without raising, so "Run all" goes on;
* a right answer prints ``Correct: ...`` with the value, rounded as it is printed; an answer as
  precise as the printed value is accepted (one unit in its last printed digit);
* a wrong answer raises an ``AssertionError`` whose message says what is wrong and, after
  ``Hint:``, what to look at (a common mistake where the answer shows one). It does not give the
  expected value away.

The parameters that take a student's answer are named as the exercises name the variables
(``your_answer``, ``your_output``, ...), so the "not answered" message names the variable to set.
A check's other arguments are the exercise's data, never the way to the answer.

The checks live in one module per chapter (``lmcore.exercises.chapter1`` ...), their shared
reading of answers in ``lmcore.exercises._common``; every check is importable from here, as
``from lmcore.exercises import check_attention``, without importing the other chapters' modules.
"""

from __future__ import annotations

import importlib

from ._common import NOT_ANSWERED

# check name -> the chapter module that defines it (imported on first use)
CHECKS = {
    "check_attention": "chapter1",
    "check_attention_parameters": "chapter7",
    "check_causal_mask": "chapter6",
    "check_encoder_without_positions": "chapter2",
    "check_half_attention_context": "chapter7",
    "check_invented_words": "chapter6",
    "check_leaking_part": "chapter5",
    "check_longer_context_parameters": "chapter7",
    "check_macro_f1": "chapter5",
    "check_most_confused": "chapter4",
    "check_next_token_head": "chapter1",
    "check_parameter_count": "chapter7",
    "check_pe_distance": "chapter2",
    "check_permuted_attention": "chapter1",
    "check_pre_ln": "chapter2",
    "check_sep_head": "chapter3",
    "check_temperature_limits": "chapter1",
    "check_test_chosen_gain": "chapter5",
    "check_unmasked_leak": "chapter2",
    "check_unmasked_mean": "chapter4",
    "check_wordpiece": "chapter3",
    "check_zeroed_token": "chapter1",
}

__all__ = ["NOT_ANSWERED", *CHECKS]


def __getattr__(name: str):
    if name in CHECKS:
        return getattr(importlib.import_module(f".{CHECKS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
