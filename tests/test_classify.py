"""lmcore.classify: the classifier built, frozen, fine-tuned on one view of each text, and its predictions."""

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
