"""The exercise checks of chapter 3 (pretraining BERT)."""

from __future__ import annotations

import torch

from ._common import as_boolean, as_integer, passed, require, unanswered


def check_wordpiece(tokenizer, sentence: str, your_count, your_split_words) -> None:
    """Chapter 3, exercise 1: how many WordPiece tokens ``sentence`` takes (without [CLS] and
    [SEP]) and which of its words are split into more than one piece."""
    if unanswered(your_count=your_count, your_split_words=your_split_words):
        return
    pieces = tokenizer.tokenize(sentence)
    words = sentence.split()
    split = sorted({w.lower() for w in words if len(tokenizer.tokenize(w)) > 1})
    count = as_integer("your_count", your_count)
    hint = "count the pieces tokenizer.tokenize(sentence) returns."
    if count == len(words):
        hint = "that is the number of words; " + hint
    elif count == len(pieces) + 2:
        hint = "leave out [CLS] and [SEP], which tokenizer(...) adds; " + hint
    require(count == len(pieces), f"the sentence does not take {count} WordPiece tokens.", hint)
    if isinstance(your_split_words, str):
        your_split_words = your_split_words.split()
    given = sorted({str(w).lower().strip(" ,.") for w in your_split_words})
    require(
        given == split,
        f"{given} are not the words that are split.",
        "tokenize each word alone (tokenizer.tokenize(word)): a word is split when it gives more than "
        "one piece; the pieces after the first start with ##.",
    )
    passed(f"{len(pieces)} tokens, {pieces}; split into pieces: {split}")


def check_sep_head(attention, tokens, your_sep_layer, your_sep_head, your_same_head) -> None:
    """Chapter 3, exercise 3: the (layer, head) whose weight on [SEP], averaged over the word
    queries (between [CLS] and the last [SEP]), is largest, and whether it is also the [CLS] head."""
    if unanswered(your_sep_layer=your_sep_layer, your_sep_head=your_sep_head, your_same_head=your_same_head):
        return
    your_same_head = as_boolean("your_same_head", your_same_head)
    attention = torch.as_tensor(attention).double()
    heads = attention.shape[1]
    sep = [i for i, t in enumerate(tokens) if t == "[SEP]"]
    cls = [i for i, t in enumerate(tokens) if t == "[CLS]"]
    if not sep or not cls:
        raise ValueError("tokens must contain [CLS] and [SEP]")

    def best(columns, rows):
        score = attention[:, :, rows][..., columns].sum(-1).mean(-1)  # (layers, heads)
        return divmod(int(score.argmax()), heads), score

    words = slice(1, len(tokens) - 1)
    (sep_best, sep_score), (cls_best, _) = best(sep, words), best(cls, words)
    accepted = {sep_best, best(sep, slice(None))[0]}  # averaging over every query also counts
    answer = (as_integer("your_sep_layer", your_sep_layer), as_integer("your_sep_head", your_sep_head))
    hint = (
        "average, for every (layer, head), the weight the word queries put on the [SEP] column "
        f"(position {sep[-1]}), and take the largest; attention has shape (layers, heads, queries, keys)."
    )
    if answer == cls_best and cls_best not in accepted:
        hint = "that is the head that attends most to [CLS] (column 0); " + hint
    elif answer[::-1] in accepted:
        hint = (
            "layer and head are the wrong way round: divmod(flat index, number of heads) gives (layer, head). "
            + hint
        )
    require(answer in accepted, f"layer {answer[0]}, head {answer[1]} is not the [SEP] head.", hint)
    same = sep_best == cls_best
    require(
        bool(your_same_head) == same,
        f"it is {'' if same else 'not '}the same head as the one that attends most to [CLS].",
        "find the [CLS] head the same way, with column 0, and compare the two (layer, head) pairs.",
    )
    passed(
        f"layer {sep_best[0]}, head {sep_best[1]} puts {sep_score[sep_best].item():.2f} of each word's "
        f"attention on [SEP]; the [CLS] head is layer {cls_best[0]}, head {cls_best[1]}: "
        f"{'the same' if same else 'a different'} head"
    )
