"""MLM masking proportions and label alignment, NSP pairs, and the pretraining objective."""

import pytest
import torch

from lmcore.bert import BertForPreTraining
from lmcore.pretraining import (
    IGNORE_INDEX,
    PretrainingObjective,
    make_nsp_pairs,
    mask_tokens,
    split_sentences,
)
from tests.reference import tiny_bert_config

SPECIAL = [0, 1, 2, 3]  # pad, cls, sep, mask
MASK = 3


def sample_ids(generator, batch=400, length=64, vocab=1000):
    ids = torch.randint(10, vocab, (batch, length), generator=generator)
    ids[:, 0], ids[:, -1] = 1, 2
    attention = torch.ones_like(ids)
    for row in range(batch):
        cut = int(torch.randint(8, length, (1,), generator=generator))
        ids[row, cut:] = 0
        attention[row, cut:] = 0
        ids[row, cut - 1] = 2
    return ids, attention


def test_mlm_proportions_over_many_draws():
    """Sized so that a rate off by 2 points fails: about 135,000 real tokens and 20,000 picked
    ones give standard errors of 0.1 and 0.3 points, and every window is at most 1 point wide."""
    generator = torch.Generator().manual_seed(0)
    ids, attention = sample_ids(generator, batch=4000)
    corrupted, labels = mask_tokens(
        ids, mask_id=MASK, special_ids=SPECIAL, vocab_size=1000, attention_mask=attention, generator=generator
    )
    real = (attention == 1) & ~torch.isin(ids, torch.tensor(SPECIAL))
    picked = labels != IGNORE_INDEX
    n_real, n_picked = int(real.sum()), int(picked.sum())
    assert n_real > 130_000 and n_picked > 19_000
    assert abs(n_picked / n_real - 0.15) < 0.005
    masked = (corrupted[picked] == MASK).float().mean()
    unchanged = (corrupted[picked] == ids[picked]).float().mean()
    assert (
        abs(masked - 0.8) < 0.01
        and abs(unchanged - 0.1) < 0.008
        and abs(1 - masked - unchanged - 0.1) < 0.008
    )
    assert not picked[~real].any()  # special tokens and padding never chosen
    assert torch.equal(labels[picked], ids[picked])  # labels line up with positions
    assert torch.equal(corrupted[~picked], ids[~picked])  # nothing else changes
    random_ones = picked & (corrupted != MASK) & (corrupted != ids)
    assert not torch.isin(corrupted[random_ones], torch.tensor(SPECIAL)).any()


def test_masking_is_reproducible_with_a_seed():
    ids, attention = sample_ids(torch.Generator().manual_seed(1), batch=4)
    a = mask_tokens(
        ids, mask_id=MASK, special_ids=SPECIAL, vocab_size=1000, generator=torch.Generator().manual_seed(5)
    )
    b = mask_tokens(
        ids, mask_id=MASK, special_ids=SPECIAL, vocab_size=1000, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"probability": 0.0}, r"probability must be in \(0, 1\)"),
        ({"attention_mask": torch.ones(2, 3)}, r"attention_mask must have the shape of input_ids"),
    ],
)
def test_mask_tokens_bad_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mask_tokens(
            torch.ones(2, 5, dtype=torch.long), mask_id=MASK, special_ids=SPECIAL, vocab_size=10, **kwargs
        )


def test_nsp_pairs_are_balanced_and_negatives_come_from_other_documents():
    # 40,000 pairs: a standard error of 0.25 points, so a share off by 2 points falls outside +-1
    documents = [[f"doc{d} sentence {s} here" for s in range(41)] for d in range(1000)]
    pairs = make_nsp_pairs(documents, seed=0)
    assert len(pairs) == 1000 * 40
    share_next = sum(label == 0 for _, _, label in pairs) / len(pairs)
    assert abs(share_next - 0.5) < 0.01
    for a, b, label in pairs:
        doc_a, doc_b = a.split()[0], b.split()[0]
        if label == 0:
            assert doc_a == doc_b and int(b.split()[2]) == int(a.split()[2]) + 1
        else:
            assert doc_a != doc_b
    with pytest.raises(ValueError, match="at least 2 documents"):
        make_nsp_pairs([["one sentence only"]])


def test_split_sentences():
    text = "Hello there my friend. This is a test of it! Short. And a final sentence here?"
    assert split_sentences(text) == [
        "Hello there my friend.",
        "This is a test of it!",
        "And a final sentence here?",
    ]


class TinyTokenizer:
    mask_token_id = MASK
    all_special_ids = SPECIAL

    def __len__(self):
        return 50


def test_objective_trains_a_tiny_bert():
    torch.manual_seed(0)
    config = tiny_bert_config(vocab_size=50, max_position_embeddings=16)
    model = BertForPreTraining(config)
    ids = torch.randint(10, 50, (8, 12))
    ids[:, 0] = 1
    batch = {
        "input_ids": ids,
        "token_type_ids": torch.zeros_like(ids),
        "attention_mask": torch.ones_like(ids),
        "nsp_labels": torch.randint(0, 2, (8,)),
    }
    objective = PretrainingObjective(TinyTokenizer(), seed=0)
    masks = objective.fixed_masks([batch])
    before = objective.evaluate(model, [batch], masks)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        objective(model, batch).backward()
        optimizer.step()
    after = objective.evaluate(model, [batch], masks)
    assert after["mlm_loss"] < before["mlm_loss"] and after["nsp_loss"] < before["nsp_loss"]
    assert 0.0 <= after["mlm_accuracy"] <= 1.0


def tiny_pretraining_model(seed=0):
    torch.manual_seed(seed)
    config = tiny_bert_config(vocab_size=50, max_position_embeddings=16)
    return BertForPreTraining(config).eval()


def test_losses_respect_padding_and_segments_and_evaluate_counts_right():
    """A padded batch scores exactly what its examples score alone (the padding mask is used),
    segment ids matter, and evaluate's accuracies are the share of correct argmaxes."""
    from tests.reference import randomize_parameters

    model = randomize_parameters(tiny_pretraining_model(), seed=1)  # sharp attention: padding would show
    objective = PretrainingObjective(TinyTokenizer(), seed=0)
    lengths = [12, 7]
    ids = torch.randint(10, 50, (2, 12), generator=torch.Generator().manual_seed(3))
    ids[:, 0] = 1
    mask = (torch.arange(12)[None] < torch.tensor(lengths)[:, None]).long()
    ids = ids * mask
    types = (torch.arange(12)[None] >= 5).long() * mask
    batch = {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "nsp_labels": torch.tensor([0, 1]),
    }
    corrupted, labels = objective.mask(batch)
    labels[:, 1] = ids[:, 1]  # at least one picked position in each example
    with torch.no_grad():
        together = objective.losses(model, batch, corrupted, labels, counts=True)
        alone = [
            objective.losses(
                model,
                {k: v[i : i + 1, : lengths[i]] if v.dim() == 2 else v[i : i + 1] for k, v in batch.items()},
                corrupted[i : i + 1, : lengths[i]],
                labels[i : i + 1, : lengths[i]],
                counts=True,
            )
            for i in range(2)
        ]
        flat = objective.losses(
            model, {**batch, "token_type_ids": torch.zeros_like(types)}, corrupted, labels
        )
    picked = [int((labels[i] != IGNORE_INDEX).sum()) for i in range(2)]
    expected_mlm = sum(a["mlm_loss"] * n for a, n in zip(alone, picked)) / sum(picked)
    torch.testing.assert_close(together["mlm_loss"], expected_mlm, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        together["nsp_loss"], (alone[0]["nsp_loss"] + alone[1]["nsp_loss"]) / 2, rtol=1e-5, atol=1e-6
    )
    assert not torch.allclose(flat["mlm_loss"], together["mlm_loss"])  # segment embeddings are used
    assert int(together["mlm_count"]) == sum(picked) and int(together["nsp_count"]) == 2
    assert int(together["mlm_correct"]) == sum(int(a["mlm_correct"]) for a in alone)
    with torch.no_grad():
        output = model.bert(corrupted, mask, types)
        nsp_right = (model.nsp_head(output.pooler_output).argmax(-1) == batch["nsp_labels"]).sum()
        mlm_right = (
            model.mlm_head(output.last_hidden_state[labels != IGNORE_INDEX]).argmax(-1)
            == labels[labels != IGNORE_INDEX]
        ).sum()
    assert int(together["nsp_correct"]) == int(nsp_right) and int(together["mlm_correct"]) == int(mlm_right)
    scores = objective.evaluate(model, [batch], [(corrupted, labels)])
    assert scores["nsp_accuracy"] == int(nsp_right) / 2 and scores["mlm_accuracy"] == int(mlm_right) / sum(
        picked
    )
