"""fit() under DDP with 2 CPU processes (gloo) takes exactly the steps of a single process:
for a small regression network and for BERT pretraining (both losses through the model's own
forward, so the DDP wrapper is all the loss function sees)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lmcore.bert import IGNORE_INDEX, BertForPreTraining
from lmcore.pretraining import PretrainingObjective
from lmcore.train import fit, shard_batch
from tests.reference import tiny_bert_config


def regression_batches():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(192, 6, generator=generator)
    y = torch.sin(x @ torch.randn(6, 1, generator=generator))
    return [(x[i : i + 32], y[i : i + 32]) for i in range(0, 192, 32)]


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))


def mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def pretraining_batches():
    """Pre-masked batches with the same number of masked tokens in every row: the MLM loss is a
    mean over masked positions, and only then is the mean of two half-batches the whole batch's."""
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(3):
        ids = torch.randint(5, 60, (4, 10), generator=generator)
        labels = torch.full_like(ids, IGNORE_INDEX)
        for row in range(4):
            picked = torch.randperm(9, generator=generator)[:2] + 1
            labels[row, picked] = ids[row, picked]
        masked = ids.masked_fill(labels != IGNORE_INDEX, 4)  # 4 plays [MASK]
        batches.append(
            {
                "input_ids": ids,
                "masked_ids": masked,
                "labels": labels,
                "attention_mask": torch.ones_like(ids),
                "token_type_ids": (torch.arange(10) >= 5).long().expand(4, 10),
                "nsp_labels": torch.tensor([0, 1, 1, 0]),
            }
        )
    return batches


def make_bert():
    torch.manual_seed(0)
    config = tiny_bert_config(num_hidden_layers=2, max_position_embeddings=10)
    return BertForPreTraining(config)


def pretraining_loss(model, batch):
    losses = PretrainingObjective.losses(model, batch, batch["masked_ids"], batch["labels"])
    return losses["mlm_loss"] + losses["nsp_loss"]


WORKLOADS = {
    "regression": (make_model, regression_batches, mse, 0.05),
    "bert pretraining": (make_bert, pretraining_batches, pretraining_loss, 1e-3),
}


def train_once(workload="regression"):
    make, batches, loss_fn, lr = WORKLOADS[workload]
    model = make()
    history = fit(model, batches(), loss_fn, epochs=3, lr=lr, device="cpu", progress=False, log_every=1)
    return model, history


def worker(rank, world_size, port, results, workload):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size)
    )
    torch.set_num_threads(1)
    try:
        model, history = train_once(workload)
        results[rank] = ({k: v.clone() for k, v in model.state_dict().items()}, history.loss)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_two_gloo_processes_match_one_process(workload):
    single_model, single_history = train_once(workload)
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(worker, args=(2, free_port(), results, workload), nprocs=2, join=True)
    for rank in (0, 1):
        state, losses = results[rank]
        for name, tensor in single_model.state_dict().items():
            torch.testing.assert_close(state[name], tensor, atol=1e-6, rtol=1e-5)
        assert losses == single_history.loss or torch.allclose(
            torch.tensor(losses), torch.tensor(single_history.loss)
        )


def test_shard_batch_splits_evenly_and_refuses_uneven_batches():
    batch = {"x": torch.arange(8).reshape(4, 2), "y": torch.arange(4)}
    assert shard_batch(batch, 1, 2)["y"].tolist() == [2, 3]
    try:
        shard_batch(torch.zeros(5, 2), 0, 2)
    except ValueError as error:
        assert "cannot be split evenly over 2 processes" in str(error)
    else:
        raise AssertionError("an uneven batch must be refused")
