"""lmcore.train: the learning-rate schedule, weight-decay groups and the training loop."""

import pytest
import torch
from torch import nn

from lmcore.train import History, fit, parameter_groups, warmup_then_decay


def test_warmup_then_decay_schedule():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_then_decay(optimizer, warmup_steps=4, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert rates[4] > rates[5] > rates[9] > 0
    with pytest.raises(ValueError, match="warmup_steps must be in"):
        warmup_then_decay(optimizer, 11, 10)


def test_parameter_groups_do_not_decay_biases_and_norms():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    decay, no_decay = parameter_groups(model, 0.1)
    assert len(decay["params"]) == 1 and len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0


def regression_problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def test_fit_learns_evaluates_and_is_reproducible():
    batches = regression_problem()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        history = fit(
            model,
            batches,
            mse,
            epochs=20,
            lr=0.1,
            weight_decay=0.0,
            device="cpu",
            progress=False,
            log_every=1,
            evaluate=lambda m: {"mse": mse(m, batches[0]).item()},
        )
        runs.append(history)
    history = runs[0]
    assert isinstance(history, History) and history.step[-1] == 160
    assert history.loss[-1] < 0.01 * history.loss[0]
    assert len(history.metric("mse")) == 20 and history.metric("mse")[-1] < 0.05
    assert runs[0].loss == runs[1].loss
    with pytest.raises(
        ValueError, match=r"no evaluation metric 'accuracy'; the evaluations have \['epoch', 'mse', 'step'\]"
    ):
        history.metric("accuracy")


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="train_batches is empty"):
        fit(nn.Linear(1, 1), [], mse, progress=False)
    with pytest.raises(ValueError, match="must have a length"):
        fit(nn.Linear(1, 1), iter(regression_problem()), mse, progress=False)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        fit(nn.Linear(4, 1), regression_problem(), mse, epochs=0, progress=False)


def test_fit_stops_on_a_diverging_loss():
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(nn.Linear(4, 1), regression_problem(), lambda m, b: torch.tensor(float("nan")), progress=False)


def test_fit_takes_exactly_the_steps_of_a_hand_written_loop():
    """AdamW with decay on weight matrices only, a linear warm-up then decay, gradient clipping,
    no autocast unless asked: fit's weights, logged losses and learning rates equal those of the
    loop written out by hand, and evaluations come every eval_every steps and at the end."""
    batches = regression_problem()[:4]  # 4 steps per epoch, 2 epochs: 8 steps, warm-up 2
    torch.manual_seed(0)
    model, reference = nn.Linear(4, 1), nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    seen_modes = []

    def evaluate(m):
        seen_modes.append(m.training)
        return {"w0": float(m.weight[0, 0])}

    history = fit(
        model,
        batches,
        mse,
        epochs=2,
        lr=0.05,
        weight_decay=0.1,
        warmup_fraction=0.25,
        max_grad_norm=0.5,
        log_every=1,
        eval_every=3,
        evaluate=evaluate,
        progress=False,
    )

    optimizer = torch.optim.AdamW(
        [
            {"params": [reference.weight], "weight_decay": 0.1},
            {"params": [reference.bias], "weight_decay": 0.0},
        ],
        lr=0.05,
        fused=True,  # as fit uses on a CPU: the same update as the default loop, rounded differently
    )
    factors = [1 / 2, 2 / 2] + [(8 - step) / 6 for step in range(2, 8)]
    losses, rates = [], []
    for step, batch in enumerate(batches * 2):
        for group in optimizer.param_groups:
            group["lr"] = 0.05 * factors[step]
        loss = mse(reference, batch)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())
        rates.append(0.05 * factors[step + 1] if step + 1 < 8 else 0.0)

    torch.testing.assert_close(model.weight, reference.weight, rtol=0, atol=1e-7)
    torch.testing.assert_close(model.bias, reference.bias, rtol=0, atol=1e-7)
    assert history.step == list(range(1, 9))
    assert history.loss == pytest.approx(losses, abs=1e-7)
    assert history.learning_rate == pytest.approx(rates, abs=1e-12)
    assert [row["step"] for row in history.evaluations] == [3, 6, 8]
    assert [row["epoch"] for row in history.evaluations] == [1, 2, 2]
    assert seen_modes == [False, False, False] and not model.training
    assert history.seconds > 0


def test_fit_without_clipping_and_without_warm_up():
    batches = regression_problem()[:2]
    torch.manual_seed(1)
    model, reference = nn.Linear(4, 1), nn.Linear(4, 1)
    reference.load_state_dict(model.state_dict())
    history = fit(
        model,
        batches,
        mse,
        epochs=1,
        lr=0.5,
        weight_decay=0.0,
        warmup_fraction=0.0,
        max_grad_norm=None,
        evaluate=lambda m: {"done": 1.0},
        progress=False,
    )
    optimizer = torch.optim.AdamW(reference.parameters(), lr=0.5, weight_decay=0.0)
    for step, batch in enumerate(batches):
        optimizer.param_groups[0]["lr"] = 0.5 * (2 - step) / 2
        optimizer.zero_grad()
        mse(reference, batch).backward()  # large steps, no clipping
        optimizer.step()
    torch.testing.assert_close(model.weight, reference.weight, rtol=0, atol=1e-6)
    assert [row["epoch"] for row in history.evaluations] == [1]  # once per epoch without eval_every
