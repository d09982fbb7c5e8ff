"""lmcore.encoding: one view of a text, its token ids and windows, and length-bucketed batches."""

import numpy as np
import pytest
import torch

from lmcore.encoding import TextView, average_views, encode_texts, encode_windows, length_bucketed_batches


def test_encode_texts_truncates_head_or_head_and_tail(tokenizer):
    text = " ".join(f"w{i}" for i in range(300))
    head = encode_texts(tokenizer, [text], TextView(20))[0]
    both = encode_texts(tokenizer, [text], TextView(20, "head+tail"))[0]
    assert len(head) == len(both) == 20
    assert head[0] == tokenizer.cls_token_id and head[-1] == tokenizer.sep_token_id
    full = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert head[1:-1] == full[:18]
    assert both[1:5] == full[:4] and both[5:-1] == full[-14:]
    half = encode_texts(tokenizer, [text], TextView(20, "head+tail", head_share=0.5))[0]
    assert half[1:10] == full[:9] and half[10:-1] == full[-9:]
    assert len(encode_texts(tokenizer, ["short text"], TextView(20))[0]) == 4
    assert encode_texts(tokenizer, [text]) == encode_texts(tokenizer, [text], TextView(128, "head"))


def test_a_view_checks_every_field():
    with pytest.raises(ValueError, match="truncation must be one of"):
        TextView(20, truncation="tail")
    with pytest.raises(ValueError, match="max_length must be at least 8"):
        TextView(4)
    with pytest.raises(ValueError, match="head_share"):
        TextView(20, "head+tail", head_share=1.0)
    with pytest.raises(ValueError, match="windows must be an int of at least 0"):
        TextView(20, windows=-1)
    with pytest.raises(TypeError, match="view must be a TextView"):
        encode_texts(None, ["x"], 20)
    assert TextView(20).budget == 18 and TextView(20, "head+tail").head == 4


def test_encode_windows_cover_a_long_text_from_first_to_last_token(tokenizer):
    long_text, short_text = " ".join(f"w{i}" for i in range(300)), "short text"
    full = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    encodings, owners = encode_windows(
        tokenizer, [long_text, short_text], TextView(20, "head+tail", windows=3)
    )
    # first the views encode_texts gives, then the long text's three windows; the short one fits
    assert encodings[:2] == encode_texts(tokenizer, [long_text, short_text], TextView(20, "head+tail"))
    assert owners == [0, 1, 0, 0, 0]
    windows = [ids[1:-1] for ids in encodings[2:]]
    assert all(len(ids) == 18 for ids in windows)
    assert windows[0] == full[:18] and windows[-1] == full[-18:]
    # the head share changes the truncated view only
    shared, _ = encode_windows(tokenizer, [long_text], TextView(20, "head+tail", 0.5, windows=3))
    assert shared[0] != encodings[0] and shared[1:] == encodings[2:]
    middle = (len(full) - 18) // 2
    assert windows[1] == full[middle : middle + 18] or windows[1] == full[middle + 1 : middle + 19]
    # never more windows than it takes to cover the text
    _, owners = encode_windows(tokenizer, [" ".join(f"w{i}" for i in range(12))], TextView(20, windows=5))
    assert owners.count(0) <= 1 + 2
    assert encode_windows(tokenizer, [long_text], TextView(20)) == (
        encode_texts(tokenizer, [long_text], TextView(20)),
        [0],
    )


def test_average_views_names_what_does_not_add_up():
    views = np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(average_views(views, [0, 1, 0], 2), [[0.3, 0.7], [0.6, 0.4]])
    with pytest.raises(ValueError, match="owners must name every text"):
        average_views(views, [0, 1, 0], 3)
    with pytest.raises(ValueError, match="rows of probabilities but"):
        average_views(views, [0, 1], 2)


def test_length_buckets_pad_little_and_keep_every_text_once():
    encodings = [[101] + [5] * n + [102] for n in np.random.default_rng(0).integers(1, 200, 500)]
    batches = length_bucketed_batches(encodings, list(range(500)), batch_size=16, seed=0)
    seen = torch.cat([b["index"] for b in batches]).tolist()
    assert sorted(seen) == list(range(500))
    padded = sum(b["input_ids"].numel() for b in batches)
    real = sum(len(e) for e in encodings)
    assert padded < 1.15 * real  # naive padding to the longest text would cost far more
    for b in batches:
        assert b["labels"].tolist() == b["index"].tolist()
        assert (b["attention_mask"].sum(1) == torch.tensor([len(encodings[i]) for i in b["index"]])).all()
    with pytest.raises(ValueError, match="got 2 texts but 1 labels"):
        length_bucketed_batches([[1], [2]], [0], 4)
