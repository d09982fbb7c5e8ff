"""lmcore.gpt: the character tokenizer, the decoder-only model, sampling and its training windows."""

import math

import pytest
import torch

from lmcore import gpt


@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(0)
    return gpt.DecoderOnlyLM(vocab_size=11, context=16, d_model=32, num_heads=4, num_layers=2).eval()


def test_char_tokenizer_round_trip_and_unknowns():
    tokenizer = gpt.CharTokenizer("hello world")
    assert tokenizer.decode(tokenizer.encode("hello")) == "hello"
    assert tokenizer.decode(tokenizer.encode("hex!")) == "he??"  # unseen characters become '?'
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tokenizer.decode([len(tokenizer)])


def test_decoder_only_model_is_causal(tiny_lm):
    ids = torch.randint(0, 11, (2, 12))
    changed = ids.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 11
    with torch.no_grad():
        torch.testing.assert_close(tiny_lm(ids).logits[:, :7], tiny_lm(changed).logits[:, :7])
        assert not torch.allclose(tiny_lm(ids).logits[:, 7:], tiny_lm(changed).logits[:, 7:])


def test_output_layer_is_tied_to_the_embedding(tiny_lm):
    assert tiny_lm.output.weight is tiny_lm.token_embedding.weight


def test_decoder_only_model_checks_its_input(tiny_lm):
    with pytest.raises(ValueError, match=r"ids has length 17, longer than the model allows \(context=16\)"):
        tiny_lm(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(
        TypeError, match=r"ids must hold integer token ids \(int64 or int32\); got dtype torch.float32"
    ):
        tiny_lm(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 11\)"):
        tiny_lm(torch.full((1, 4), 11))


def test_top_k_keeps_exactly_k_and_greedy_is_top_1(tiny_lm):
    logits = torch.tensor([0.1, 2.0, -1.0, 3.0, 0.5])
    kept = gpt.top_k_filter(logits, 2)
    assert torch.isfinite(kept).sum() == 2 and set(torch.isfinite(kept).nonzero().flatten().tolist()) == {
        1,
        3,
    }
    prompt = torch.tensor([1, 2, 3])
    greedy = gpt.generate(tiny_lm, prompt, 6, temperature=0.0)
    top1 = gpt.generate(
        tiny_lm, prompt, 6, temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(greedy, top1) and len(greedy) == 9


def test_sampling_is_reproducible_with_a_generator(tiny_lm):
    prompt = torch.tensor([4])
    a = gpt.generate(tiny_lm, prompt, 10, generator=torch.Generator().manual_seed(1))
    b = gpt.generate(tiny_lm, prompt, 10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="temperature must be a finite number at least 0"):
        gpt.generate(tiny_lm, prompt, 1, temperature=-1)


def test_a_short_training_run_lowers_the_loss():
    from lmcore.train import fit

    torch.manual_seed(0)
    text = "abcabcabcabd" * 40
    tokenizer = gpt.CharTokenizer(text)
    model = gpt.DecoderOnlyLM(len(tokenizer), context=8, d_model=32, num_heads=2, num_layers=1)
    batches = gpt.random_windows(tokenizer.encode(text), 8, 16, 150, torch.Generator().manual_seed(0))
    history = fit(model, batches, gpt.next_token_loss, epochs=1, lr=1e-2, progress=False, log_every=5)
    # the text is periodic: after a few characters of context the next one is nearly certain
    assert history.loss[-1] < 0.5 * math.log(len(tokenizer))


def test_random_windows_shift_targets_by_one():
    ids = torch.arange(50)
    inputs, targets = gpt.random_windows(ids, 10, 4, 1, torch.Generator().manual_seed(0))[0]
    assert inputs.shape == targets.shape == (4, 10)
    assert torch.equal(targets, inputs + 1)


def test_attentions_are_none_unless_asked_for(tiny_lm):
    ids = torch.randint(0, 11, (2, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert tiny_lm(ids).attentions is None
        weights = tiny_lm(ids, need_weights=True).attentions
    assert [w.shape for w in weights] == [(2, 4, 6, 6)] * 2
