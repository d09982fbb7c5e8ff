"""fit() under DDP with 2 CPU processes (gloo) takes exactly the steps of a single process."""

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lmcore.train import fit, shard_batch


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


def train_once():
    model = make_model()
    history = fit(model, regression_batches(), mse, epochs=3, lr=0.05, device="cpu", progress=False, log_every=1)
    return model, history


def worker(rank, world_size, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    try:
        model, history = train_once()
        results[rank] = ({k: v.clone() for k, v in model.state_dict().items()}, history.loss)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one_process():
    single_model, single_history = train_once()
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(worker, args=(2, free_port(), results), nprocs=2, join=True)
    for rank in (0, 1):
        state, losses = results[rank]
        for name, tensor in single_model.state_dict().items():
            torch.testing.assert_close(state[name], tensor, atol=1e-6, rtol=1e-5)
        assert losses == single_history.loss or torch.allclose(torch.tensor(losses), torch.tensor(single_history.loss))


def test_shard_batch_splits_evenly_and_refuses_uneven_batches():
    batch = {"x": torch.arange(8).reshape(4, 2), "y": torch.arange(4)}
    assert shard_batch(batch, 1, 2)["y"].tolist() == [2, 3]
    try:
        shard_batch(torch.zeros(5, 2), 0, 2)
    except ValueError as error:
        assert "cannot be split evenly over 2 processes" in str(error)
    else:
        raise AssertionError("an uneven batch must be refused")
