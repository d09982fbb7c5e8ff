"""lmcore.classify: encoding and views, length buckets, the classifier (build, fine-tune, freeze,
predict), the TF-IDF baseline, the ensemble and the metrics."""

import numpy as np
import pytest
import torch

from lmcore import bert as B
from lmcore import classify
from lmcore.classify import (
    average_views,
    classification_loss,
    encode_texts,
    encode_windows,
    freeze_lower_layers,
    geometric_ensemble,
    length_bucketed_batches,
    most_confused_pairs,
    new_classifier,
    predict_proba,
    predict_texts,
    scores,
    tfidf_baseline,
)
from lmcore.outputs import ModelOutput
from lmcore.train import fit


def test_encode_texts_truncates_head_or_head_and_tail(tokenizer):
    text = " ".join(f"w{i}" for i in range(300))
    head = encode_texts(tokenizer, [text], max_length=20)[0]
    both = encode_texts(tokenizer, [text], max_length=20, truncation="head+tail")[0]
    assert len(head) == len(both) == 20
    assert head[0] == tokenizer.cls_token_id and head[-1] == tokenizer.sep_token_id
    full = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert head[1:-1] == full[:18]
    assert both[1:5] == full[:4] and both[5:-1] == full[-14:]
    half = encode_texts(tokenizer, [text], max_length=20, truncation="head+tail", head_share=0.5)[0]
    assert half[1:10] == full[:9] and half[10:-1] == full[-9:]
    assert len(encode_texts(tokenizer, ["short text"], max_length=20)[0]) == 4
    with pytest.raises(ValueError, match="truncation must be one of"):
        encode_texts(tokenizer, ["x"], 20, truncation="tail")


def test_encode_windows_cover_a_long_text_from_first_to_last_token(tokenizer):
    long_text, short_text = " ".join(f"w{i}" for i in range(300)), "short text"
    full = tokenizer(long_text, add_special_tokens=False)["input_ids"]
    encodings, owners = encode_windows(tokenizer, [long_text, short_text], 20, "head+tail", windows=3)
    # first the views encode_texts gives, then the long text's three windows; the short one fits
    assert encodings[:2] == encode_texts(tokenizer, [long_text, short_text], 20, "head+tail")
    assert owners == [0, 1, 0, 0, 0]
    windows = [ids[1:-1] for ids in encodings[2:]]
    assert all(len(ids) == 18 for ids in windows)
    assert windows[0] == full[:18] and windows[-1] == full[-18:]
    # the head share changes the truncated view only
    shared, _ = encode_windows(tokenizer, [long_text], 20, "head+tail", windows=3, head_share=0.5)
    assert shared[0] != encodings[0] and shared[1:] == encodings[2:]
    middle = (len(full) - 18) // 2
    assert windows[1] == full[middle : middle + 18] or windows[1] == full[middle + 1 : middle + 19]
    # never more windows than it takes to cover the text
    _, owners = encode_windows(tokenizer, [" ".join(f"w{i}" for i in range(12))], 20, windows=5)
    assert owners.count(0) <= 1 + 2
    assert encode_windows(tokenizer, [long_text], 20, windows=0) == (
        encode_texts(tokenizer, [long_text], 20),
        [0],
    )
    with pytest.raises(ValueError, match="windows must be a non-negative integer"):
        encode_windows(tokenizer, [long_text], 20, windows=-1)


def test_predict_texts_averages_the_views_of_each_text(tokenizer):
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(
        B.BertModel(
            B.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        ),
        3,
    )
    texts = [" ".join(f"w{i}" for i in range(100)), "a short one"]
    encodings, owners = encode_windows(tokenizer, texts, 24, "head+tail", windows=2)
    views = predict_proba(classifier, length_bucketed_batches(encodings, None, 8, seed=None))
    averaged = predict_texts(classifier, tokenizer, texts, 24, "head+tail", windows=2)
    np.testing.assert_allclose(averaged[0], views[np.array(owners) == 0].mean(0), rtol=1e-6)
    np.testing.assert_allclose(averaged[1], views[1], rtol=1e-6)
    np.testing.assert_allclose(averaged.sum(1), 1.0, rtol=1e-6)
    # another head share reads other views of the long text (the one the model was trained on)
    half_views, half_owners = encode_windows(tokenizer, texts, 24, "head+tail", windows=2, head_share=0.5)
    half = predict_texts(classifier, tokenizer, texts, 24, "head+tail", windows=2, head_share=0.5)
    expected = average_views(
        predict_proba(classifier, length_bucketed_batches(half_views, None, 8, seed=None)), half_owners, 2
    )
    np.testing.assert_allclose(half, expected, rtol=1e-6)
    assert half_views[0] != encodings[0]  # the truncated view itself changed
    with pytest.raises(ValueError, match="owners must name every text"):
        average_views(views, owners, 3)
    with pytest.raises(ValueError, match="rows of probabilities but"):
        average_views(views, owners[:-1], 2)


def test_fine_tune_trains_and_validates_on_views_of_the_head_share_it_is_given(tokenizer, monkeypatch):
    shares = []
    real_encode_texts = classify.encode_texts

    def recording_encode_texts(tokenizer, texts, max_length, truncation="head", head_share=0.25):
        shares.append(head_share)
        return real_encode_texts(tokenizer, texts, max_length, truncation, head_share)

    monkeypatch.setattr(classify, "encode_texts", recording_encode_texts)
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(
        B.BertModel(
            B.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
        ),
        2,
    )
    texts, labels = [" ".join(f"w{i}" for i in range(60)), "a short one"], [0, 1]
    classify.fine_tune(
        classifier,
        tokenizer,
        texts,
        labels,
        max_length=24,
        truncation="head+tail",
        head_share=0.5,
        epochs=1,
        batch_size=2,
        validation=(texts, labels),
    )
    assert shares == [0.5, 0.5]  # the training texts, then the validation texts


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


def test_predict_proba_restores_order():
    class Echo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask):
            logits = torch.stack([attention_mask.sum(1).float(), torch.zeros(len(input_ids))], 1)
            return ModelOutput(logits=logits)

    encodings = [[1] * n for n in (5, 2, 9, 3)]
    probabilities = predict_proba(Echo(), length_bucketed_batches(encodings, None, 2, seed=3))
    expected = torch.tensor([[5.0, 0], [2, 0], [9, 0], [3, 0]]).softmax(-1).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-6)


def test_geometric_ensemble_and_scores():
    a = np.array([[0.9, 0.1], [0.4, 0.6]])
    b = np.array([[0.6, 0.4], [0.9, 0.1]])
    np.testing.assert_allclose(geometric_ensemble(a, b, 1.0), a)
    np.testing.assert_allclose(geometric_ensemble(a, b, 0.0), b)
    mixed = geometric_ensemble(a, b, 0.5)
    np.testing.assert_allclose(mixed.sum(1), 1.0)
    assert scores([0, 1, 1], [0, 1, 0])["accuracy"] == pytest.approx(2 / 3)


def test_tfidf_baseline_learns_a_toy_task():
    texts = ["rocket orbit launch"] * 20 + ["goalie puck ice"] * 20
    labels = [0] * 20 + [1] * 20
    predictions, probabilities, _ = tfidf_baseline(texts, labels, ["orbit of the rocket", "puck on ice"])
    assert predictions.tolist() == [0, 1] and probabilities.shape == (2, 2)


def test_frozen_layers_keep_their_pretrained_weights():
    classifier = freeze_lower_layers(new_classifier(4, dropout=0.0), 2)
    frozen = {n: p.detach().clone() for n, p in classifier.named_parameters() if not p.requires_grad}
    assert frozen and all(
        n.startswith(("bert.embeddings.", "bert.encoder.layers.0.", "bert.encoder.layers.1.")) for n in frozen
    )
    trainable = [n for n, p in classifier.named_parameters() if p.requires_grad]
    assert any(n.startswith("bert.encoder.layers.2.") for n in trainable) and "classifier.weight" in trainable
    ids = torch.randint(1000, 2000, (4, 12), generator=torch.Generator().manual_seed(0))
    batches = [
        {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1, 2, 3])}
    ]

    before = {n: p.detach().clone() for n, p in classifier.named_parameters() if p.requires_grad}
    fit(classifier, batches, classification_loss, epochs=2, lr=1e-3, progress=False)
    after = dict(classifier.named_parameters())
    assert all(torch.equal(after[n], value) for n, value in frozen.items())
    assert any(not torch.equal(after[n], value) for n, value in before.items())
    with pytest.raises(ValueError, match="layers must be at most the model's 6 encoder layers; got 7"):
        freeze_lower_layers(new_classifier(4), 7)


def test_most_confused_pairs():
    matrix = np.array([[5, 3, 0], [1, 6, 0], [0, 4, 2]])
    pairs = most_confused_pairs(matrix, ["a", "b", "c"], top=2)
    assert pairs[["true class", "predicted as", "messages"]].values.tolist() == [["c", "b", 4], ["a", "b", 3]]
    assert pairs["share of the true class"].tolist() == [4 / 6, 3 / 8]
    with pytest.raises(ValueError, match="must be 3 x 3"):
        most_confused_pairs(matrix[:2], ["a", "b", "c"])
