"""lmcore.bert: BERT against Hugging Face's, its heads, pooling and losses."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from lmcore import bert as B
from lmcore import checkpoints
from tests.reference import tiny_bert_config


def test_matches_transformers_on_a_padded_batch(minilm, tokenizer):
    reference = checkpoints.load_reference_model()
    sentences = [
        "Hello world.",
        "A rather longer sentence, with commas, to force some padding in the batch.",
        "Segment A.",
        "Three.",
    ]
    batch = tokenizer(sentences, ["Segment B follows.", "x", "y", "z"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = minilm(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], need_weights=True)
        theirs = reference(**batch, output_attentions=True)
    real = batch["attention_mask"].bool()
    assert (ours.last_hidden_state - theirs.last_hidden_state)[real].abs().max() < 1e-4
    assert (ours.pooler_output - theirs.pooler_output).abs().max() < 1e-4
    assert len(ours.attentions) == 6 and ours.attentions[0].shape == (4, 12, real.shape[1], real.shape[1])
    for a, b in zip(ours.attentions, theirs.attentions):
        assert ((a - b) * real[:, None, :, None]).abs().max() < 1e-4
    fused = minilm(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    assert fused.attentions is None
    assert (fused.last_hidden_state - ours.last_hidden_state)[real].abs().max() < 1e-4


def test_padding_does_not_change_real_tokens(minilm, tokenizer):
    alone = tokenizer(["The cat sat."], return_tensors="pt")
    padded = tokenizer(
        ["The cat sat.", "a much longer sentence that forces padding of the first one"],
        padding=True,
        return_tensors="pt",
    )
    n = alone["input_ids"].shape[1]
    with torch.no_grad():
        a = minilm(**alone).last_hidden_state[0]
        b = minilm(**padded).last_hidden_state[0, :n]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def classifier_on(bert: B.BertModel, num_labels: int, pooling: str) -> B.BertForSequenceClassification:
    """A classifier whose encoder holds ``bert``'s weights (a new head, seeded by the caller)."""
    classifier = B.BertForSequenceClassification(bert.config, num_labels, pooling)
    classifier.bert.load_state_dict(bert.state_dict())
    return classifier.eval()


def test_attentions_are_none_unless_asked_for_and_the_encoder_has_no_logits():
    config = tiny_bert_config()
    ids = torch.randint(1, 60, (2, 5), generator=torch.Generator().manual_seed(0))
    for model in (
        B.BertModel(config),
        B.BertForPreTraining(config),
        B.BertForSequenceClassification(config, 2),
    ):
        with torch.no_grad():
            assert model.eval()(ids).attentions is None
            assert [a.shape for a in model(ids, need_weights=True).attentions] == [(2, 2, 5, 5)]
    assert not hasattr(B.BertModel(config).eval()(ids), "logits")  # the encoder alone predicts nothing


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_classifier_prediction_is_padding_invariant(minilm, tokenizer, pooling):
    torch.manual_seed(0)
    classifier = classifier_on(minilm, 3, pooling)
    alone = tokenizer(["Padding must not change a prediction."], return_tensors="pt")
    padded = tokenizer(
        ["Padding must not change a prediction.", "short", "a " * 40], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        torch.testing.assert_close(
            classifier(**alone).logits[0], classifier(**padded).logits[0], atol=1e-5, rtol=1e-5
        )


def test_pretraining_heads_shapes_and_weight_tying():
    config = tiny_bert_config(vocab_size=100, num_hidden_layers=2, max_position_embeddings=20)
    model = B.BertForPreTraining(config)
    assert model.mlm_head.word_embeddings.weight is model.bert.embeddings.word_embeddings.weight
    ids = torch.randint(5, 100, (3, 7))
    output = model(ids)
    assert output.logits.shape == (3, 7, 100) and output.seq_relationship_logits.shape == (3, 2)
    assert output.loss is None and output.attentions is None
    assert model.bert.embeddings.word_embeddings.weight.std() < 0.05  # BERT's N(0, 0.02) init


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m: m(torch.ones(2, 513, dtype=torch.long)),
            r"input_ids has length 513, longer than the model allows \(max_position_embeddings=512\)",
        ),
        (
            lambda m: m(torch.full((1, 3), 40_000)),
            r"input_ids must lie in \[0, 30522\); got values from 40000",
        ),
        (lambda m: m(torch.ones(1, 3)), r"integer token ids \(int64 or int32\); got dtype torch.float32"),
        (
            lambda m: m(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 4)),
            r"attention_mask must have the shape of input_ids \(1, 3\); got \(1, 4\)",
        ),
        (lambda m: m(torch.ones(1, 0, dtype=torch.long)), r"empty sequence"),
        (lambda m: m(torch.ones(3, dtype=torch.long)), r"input_ids must have 2 dimensions"),
        (
            lambda m: m(torch.ones(1, 3, dtype=torch.long), None, torch.full((1, 3), 2)),
            r"token_type_ids must lie in \[0, 2\)",
        ),
    ],
)
def test_bad_inputs(minilm, call, message):
    with pytest.raises(TypeError if "dtype" in message else ValueError, match=message):
        call(minilm)


def test_classifier_rejects_bad_options(minilm):
    with pytest.raises(ValueError, match="pooling must be 'cls' or 'mean'"):
        B.BertForSequenceClassification(minilm.config, 2, pooling="max")
    with pytest.raises(ValueError, match="num_labels must be an int of at least 2"):
        B.BertForSequenceClassification(minilm.config, 1)


def test_matches_transformers_in_float64_with_random_non_zero_parameters(tmp_path):
    """A tiny random BERT (every bias and LayerNorm gain random, not 0 or 1) saved as a checkpoint
    and read by load_pretrained equals transformers' BertModel in float64: a bias or LayerNorm in
    the wrong place cannot hide behind default initial values or float32 tolerances."""
    from tests.reference import randomize_parameters

    transformers = checkpoints._transformers()
    config = transformers.BertConfig(
        vocab_size=64,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=32,
        max_position_embeddings=24,
        layer_norm_eps=1e-6,
    )
    theirs = randomize_parameters(transformers.BertModel(config, add_pooling_layer=True), seed=3)
    theirs = theirs.double().eval()
    state = {
        name: tensor.float().contiguous()
        for name, tensor in theirs.state_dict().items()
        if name != "embeddings.position_ids"
    }
    tmp_path.joinpath("tiny").mkdir()
    save_file(state, str(tmp_path / "tiny" / "model.safetensors"))
    (tmp_path / "tiny" / "config.json").write_text(config.to_json_string())
    ours = checkpoints.load_pretrained(tmp_path / "tiny", dtype=torch.float64)
    theirs.load_state_dict(
        {k: v.double() for k, v in state.items()}, strict=False
    )  # same float32-rounded values
    ids = torch.randint(0, 64, (3, 10), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 6:] = 0
    types = (torch.arange(10) >= 5).long().expand(3, 10)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
        got = ours(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(
        got.last_hidden_state[real], expected.last_hidden_state[real], rtol=1e-9, atol=1e-9
    )
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, rtol=1e-9, atol=1e-9)


def test_classifier_features_are_the_pooled_or_masked_mean_vectors():
    from tests.reference import randomize_parameters

    config = tiny_bert_config()
    bert = randomize_parameters(B.BertModel(config), seed=2).eval()
    ids = torch.randint(1, 60, (2, 6), generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        output = bert(ids, mask, types)
        mean = classifier_on(bert, 3, "mean").features(ids, mask, types)
        cls = classifier_on(bert, 3, "cls").features(ids, mask, types)
    torch.testing.assert_close(cls, output.pooler_output)
    torch.testing.assert_close(mean[0], output.last_hidden_state[0].mean(0))
    torch.testing.assert_close(mean[1], output.last_hidden_state[1, :3].mean(0))  # padding left out
    with torch.no_grad():
        without_types = classifier_on(bert, 3, "mean").features(ids, mask)
    assert not torch.allclose(without_types, mean)  # segment ids are passed through


def test_heads_compute_what_they_say_with_random_non_zero_parameters():
    """The MLM head is LayerNorm(GELU(dense(h))) @ E^T + b with the token embeddings E tied, the
    NSP head reads the pooled vector; with every bias random a sign or a missing term shows."""
    from tests.reference import randomize_parameters

    config = tiny_bert_config(vocab_size=40, max_position_embeddings=16, layer_norm_eps=1e-06)
    model = randomize_parameters(B.BertForPreTraining(config), seed=4).eval()
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(0))  # the longest allowed
    with torch.no_grad():
        prediction = model(ids)
        mlm, nsp = prediction.logits, prediction.seq_relationship_logits
        output = model.bert(ids)
        head = model.mlm_head
        transformed = torch.nn.functional.layer_norm(
            torch.nn.functional.gelu(head.dense(output.last_hidden_state)),
            (16,),
            head.norm.weight,
            head.norm.bias,
            1e-6,
        )
        expected = transformed @ model.bert.embeddings.word_embeddings.weight.T + head.bias
    torch.testing.assert_close(mlm, expected)
    torch.testing.assert_close(nsp, model.nsp_head(output.pooler_output))


def test_every_bert_model_computes_its_loss_from_labels():
    """``model(..., labels=...).loss`` is the cross-entropy a reader would write by hand; the
    pretraining model scores the masked positions only, in the labels' order."""
    config = tiny_bert_config(vocab_size=50)
    torch.manual_seed(0)
    ids = torch.randint(5, 50, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[2, 8:] = 0
    labels = torch.full((3, 12), B.IGNORE_INDEX)
    labels[0, 3], labels[1, 5], labels[2, 1] = 7, 9, 11
    next_sentence = torch.tensor([0, 1, 0])
    model = B.BertForPreTraining(config).eval()
    with torch.no_grad():
        full = model(ids, mask)
        trained = model(ids, mask, labels=labels, next_sentence_label=next_sentence, need_weights=True)
    picked = labels != B.IGNORE_INDEX
    torch.testing.assert_close(trained.logits, full.logits[picked])
    expected_mlm = F.cross_entropy(full.logits[picked], labels[picked])
    expected_nsp = F.cross_entropy(full.seq_relationship_logits, next_sentence)
    torch.testing.assert_close(trained.mlm_loss, expected_mlm)
    torch.testing.assert_close(trained.loss, expected_mlm + expected_nsp)
    assert len(trained.attentions) == 1 and trained.attentions[0].shape == (3, 2, 12, 12)

    classifier = B.BertForSequenceClassification(config, num_labels=4, pooling="mean").eval()
    classes = torch.tensor([0, 3, 2])
    with torch.no_grad():
        output = classifier(ids, mask, labels=classes)
    torch.testing.assert_close(output.loss, F.cross_entropy(output.logits, classes))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        classifier(ids, mask, labels=torch.tensor([0, 4, 1]))


def test_masked_mean_ignores_padding():
    hidden = torch.arange(24.0).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    mean = B.masked_mean(hidden, mask)
    torch.testing.assert_close(mean[0], hidden[0, :2].mean(0))
    torch.testing.assert_close(mean[1], hidden[1].mean(0))
    torch.testing.assert_close(B.masked_mean(hidden, None), hidden.mean(1))


def test_a_forward_pass_never_reads_a_value_back_from_the_device():
    """On an accelerator, reading a tensor's value on the host (``bool(t)``, ``t.item()``) makes
    the host wait for the device at every call. Meta tensors have shapes but no values, so a
    forward pass on them, input checks included, shows that none is read."""
    from lmcore.gpt import DecoderOnlyLM

    with torch.device("meta"):
        classifier = B.BertForSequenceClassification(tiny_bert_config(), 2, pooling="mean")
        language_model = DecoderOnlyLM(vocab_size=11, context=8, d_model=16, num_heads=2, num_layers=1)
        ids, mask = torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)
    output = classifier(ids, mask, labels=ids[:, 0])
    assert output.logits.shape == (2, 2) and output.loss.device.type == "meta"
    assert language_model(ids, labels=ids).logits.shape == (2, 5, 11)
