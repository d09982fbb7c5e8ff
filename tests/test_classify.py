"""lmcore.classify: the classifier built, frozen, fine-tuned on one view of each text, and its predictions."""

import re

import numpy as np
import pytest
import torch

from lmcore import bert as B
from lmcore import classify
from lmcore.classify import classification_loss, freeze_lower_layers, new_classifier, predict, predict_proba
from lmcore.encoding import TextView, average_views, encode_windows, length_bucketed_batches
from lmcore.outputs import ModelOutput
from lmcore.train import fit
from tests.reference import tiny_bert_config


def test_predict_averages_the_views_of_each_text(tokenizer):
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(tiny_bert_config(vocab_size=tokenizer.vocab_size), 3)
    texts = [" ".join(f"w{i}" for i in range(100)), "a short one"]
    view = TextView(12, "head+tail", windows=2)
    encodings, owners = encode_windows(tokenizer, texts, view)
    views = predict_proba(classifier, length_bucketed_batches(encodings, None, 8, seed=None))
    averaged = predict(classifier, tokenizer, texts, view)
    np.testing.assert_allclose(averaged[0], views[np.array(owners) == 0].mean(0), rtol=1e-6)
    np.testing.assert_allclose(averaged[1], views[1], rtol=1e-6)
    np.testing.assert_allclose(averaged.sum(1), 1.0, rtol=1e-6)
    # another head share reads other views of the long text (the one the model was trained on)
    half_view = TextView(12, "head+tail", head_share=0.5, windows=2)
    half_views, half_owners = encode_windows(tokenizer, texts, half_view)
    expected = average_views(
        predict_proba(classifier, length_bucketed_batches(half_views, None, 8, seed=None)), half_owners, 2
    )
    np.testing.assert_allclose(predict(classifier, tokenizer, texts, half_view), expected, rtol=1e-6)
    assert half_views[0] != encodings[0]  # the truncated view itself changed
    # without windows, one view per text: the training view
    one_view = predict(classifier, tokenizer, texts, TextView(12, "head+tail"))
    np.testing.assert_allclose(one_view, views[:2], rtol=1e-6)


def test_fine_tune_trains_and_validates_on_the_view_it_is_given(tokenizer, monkeypatch):
    seen = []
    real_encode_texts = classify.encode_texts

    def recording_encode_texts(tokenizer, texts, view):
        seen.append(view)
        return real_encode_texts(tokenizer, texts, view)

    monkeypatch.setattr(classify, "encode_texts", recording_encode_texts)
    torch.manual_seed(0)
    classifier = B.BertForSequenceClassification(tiny_bert_config(vocab_size=tokenizer.vocab_size), 2)
    texts, labels = [" ".join(f"w{i}" for i in range(60)), "a short one"], [0, 1]
    view = TextView(12, "head+tail", head_share=0.5)
    classify.fine_tune(
        classifier, tokenizer, texts, labels, view=view, epochs=1, batch_size=2, validation=(texts, labels)
    )
    assert seen == [view, view]  # the training texts, then the validation texts


def test_a_new_classifier_is_the_checkpoint_with_a_new_head(minilm):
    torch.manual_seed(0)
    classifier = new_classifier(5, pooling="cls")
    assert classifier.num_labels == 5 and classifier.pooling == "cls"
    reference = minilm.state_dict()
    assert all(torch.equal(value, reference[name]) for name, value in classifier.bert.state_dict().items())
    # the same seed gives the same head, and the head is not the encoder's
    torch.manual_seed(0)
    again = new_classifier(5, pooling="cls")
    assert torch.equal(again.classifier.weight, classifier.classifier.weight)
    assert all(
        module.p == 0.0
        for module in new_classifier(5, dropout=0.0).modules()
        if isinstance(module, torch.nn.Dropout)
    )


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


def _tiny_classifier(tokenizer, num_labels=3, layers=1):
    torch.manual_seed(0)
    config = tiny_bert_config(vocab_size=tokenizer.vocab_size, num_hidden_layers=layers)
    return B.BertForSequenceClassification(config, num_labels)


def test_a_new_classifier_reads_the_checkpoint_it_is_given_and_pools_the_mean(tiny_checkpoint):
    from safetensors.torch import load_file

    classifier = new_classifier(3, checkpoint=tiny_checkpoint)
    assert classifier.pooling == "mean" and classifier.num_labels == 3
    assert len(classifier.bert.encoder.layers) == 3  # the tiny checkpoint's, not MiniLM's 6
    stored = load_file(tiny_checkpoint / "model.safetensors")
    assert torch.equal(
        classifier.bert.embeddings.word_embeddings.weight, stored["embeddings.word_embeddings.weight"]
    )


def test_freezing_keeps_exactly_the_embeddings_and_the_lowest_layers(tokenizer):
    def frozen_parts(layers):
        classifier = freeze_lower_layers(_tiny_classifier(tokenizer, layers=3), layers)
        return {".".join(n.split(".")[:4]) for n, p in classifier.named_parameters() if not p.requires_grad}

    assert frozen_parts(0) == set()
    embeddings = {"bert.embeddings.word_embeddings.weight"}
    assert embeddings <= frozen_parts(1) and not any("layers.1" in part for part in frozen_parts(1))
    two = frozen_parts(2)
    assert {part.split(".")[1] for part in two} == {"embeddings", "encoder"}
    assert {part for part in two if part.startswith("bert.encoder")} == {
        "bert.encoder.layers.0",
        "bert.encoder.layers.1",
    }
    everything = frozen_parts(3)  # every encoder layer: only the head still trains
    assert "bert.encoder.layers.2" in everything and not any(p.startswith("classifier") for p in everything)
    with pytest.raises(ValueError, match="layers must be an int of at least 0; got -1"):
        freeze_lower_layers(_tiny_classifier(tokenizer), -1)


def test_the_loss_of_a_padded_batch_is_the_mean_of_each_texts_own_loss(tokenizer):
    classifier = _tiny_classifier(tokenizer).eval()
    short, long = [101, 7592, 102], [101, 7592, 2088, 999, 2003, 102]
    padded = torch.tensor([short + [0] * 3, long])
    batch = {"input_ids": padded, "attention_mask": (padded != 0).long(), "labels": torch.tensor([2, 0])}
    each = [
        classification_loss(classifier, {**one, "labels": torch.tensor([label])})
        for one, label in [
            ({"input_ids": torch.tensor([short]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}, 2),
            ({"input_ids": torch.tensor([long]), "attention_mask": torch.ones(1, 6, dtype=torch.long)}, 0),
        ]
    ]
    torch.testing.assert_close(classification_loss(classifier, batch), (each[0] + each[1]) / 2)


def test_progress_bars_only_when_asked(tokenizer, capsys):
    classifier, texts = _tiny_classifier(tokenizer, 2), ["one text", "and another one"]
    predict(classifier, tokenizer, texts)
    classify.fine_tune(classifier, tokenizer, texts, [0, 1], epochs=1, validation=(texts, [0, 1]))
    assert capsys.readouterr().err == ""
    predict(classifier, tokenizer, texts, progress=True)
    assert re.search(r"predicting: 100%.*(batch/s|s/batch)", capsys.readouterr().err)
    classify.fine_tune(classifier, tokenizer, texts, [0, 1], epochs=1, progress=True)
    assert "100%" in capsys.readouterr().err


def test_predictions_follow_the_autocast_they_are_given(tokenizer):
    classifier, texts = _tiny_classifier(tokenizer), ["a text to read in bfloat16", "short"]
    full = predict(classifier, tokenizer, texts)
    halved = predict(classifier, tokenizer, texts, autocast_dtype=torch.bfloat16)
    assert not np.allclose(full, halved, rtol=0, atol=1e-7)  # bfloat16 keeps 8 bits of mantissa
    np.testing.assert_allclose(full, halved, atol=0.02)


def test_fine_tune_hands_fit_its_batches_settings_and_a_validation_accuracy(tokenizer, monkeypatch):
    calls, predictions = [], []
    real_fit, real_predict_proba = classify.fit, classify.predict_proba

    def recording_fit(model, batches, loss_fn, **settings):
        calls.append((batches, loss_fn, settings))
        return real_fit(model, batches, loss_fn, **{**settings, "epochs": 1})

    def recording_predict_proba(model, batches, autocast_dtype=None, progress=False):
        predictions.append(autocast_dtype)
        return real_predict_proba(model, batches, autocast_dtype, progress)

    monkeypatch.setattr(classify, "fit", recording_fit)
    monkeypatch.setattr(classify, "predict_proba", recording_predict_proba)
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(40)]
    labels = [i % 3 for i in range(40)]
    classifier = _tiny_classifier(tokenizer)
    classify.fine_tune(classifier, tokenizer, texts, labels)
    batches, loss_fn, settings = calls[-1]
    assert loss_fn is classification_loss
    assert settings == dict(
        epochs=2,
        lr=1e-4,
        warmup_fraction=0.1,
        evaluate=None,
        autocast_dtype=None,
        progress=False,
        device=None,
    )
    expected = length_bucketed_batches(
        classify.encode_texts(tokenizer, texts, TextView()), labels, 16, seed=0
    )
    assert [b["index"].tolist() for b in batches] == [b["index"].tolist() for b in expected]
    assert sorted(len(b["index"]) for b in batches) == [8, 16, 16]
    classify.fine_tune(classifier, tokenizer, texts, labels, seed=1)
    reseeded = calls[-1][0]
    assert [b["index"].tolist() for b in reseeded] != [b["index"].tolist() for b in expected]

    val_texts, val_labels = texts[:3], [0, 1, 1]
    classify.fine_tune(
        classifier, tokenizer, texts, labels, epochs=3, batch_size=8, lr=0.01, warmup_fraction=0.2,
        validation=(val_texts, val_labels), autocast_dtype=torch.bfloat16, progress=False, device="cpu",
    )  # fmt: skip
    batches, _, settings = calls[-1]
    assert max(len(b["index"]) for b in batches) == 8
    evaluate = settings.pop("evaluate")
    assert settings == dict(
        epochs=3, lr=0.01, warmup_fraction=0.2, autocast_dtype=torch.bfloat16, progress=False, device="cpu"
    )
    predictions.clear()
    accuracy = evaluate(classifier)["val_accuracy"]
    assert predictions == [torch.bfloat16]  # validation reads the texts the way training does
    predicted = predict(classifier, tokenizer, val_texts, autocast_dtype=torch.bfloat16).argmax(1)
    assert accuracy == pytest.approx(np.mean(predicted == np.array(val_labels)))
    # the accuracy of known probabilities: each text's most probable class against its label
    known = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5]])  # classes 0, 1, 2; labels 0, 1, 1
    monkeypatch.setattr(classify, "predict_proba", lambda *args, **kwargs: known)
    assert evaluate(classifier) == {"val_accuracy": pytest.approx(2 / 3)}


def test_fine_tune_names_what_is_wrong_with_the_validation_set(tokenizer):
    classifier, texts, labels = _tiny_classifier(tokenizer), ["one", "two"], [0, 1]
    for validation, got in [
        ((texts, labels, labels), "tuple"),
        ([texts], "list"),
        ("texts", "str"),
    ]:
        with pytest.raises(TypeError, match=rf"validation must be a pair \(texts, labels\); got {got}$"):
            classify.fine_tune(classifier, tokenizer, texts, labels, validation=validation)
    with pytest.raises(
        TypeError, match=r"^validation texts must hold strings; got .* NoneType at position 1$"
    ):
        classify.fine_tune(classifier, tokenizer, texts, labels, validation=(["one", None], labels))
