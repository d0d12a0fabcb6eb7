"""Process groups: start torch.distributed through DeepSpeed, and name the ranks a trainer needs.

With AutoEP every rank is data-parallel for the dense weights (dp_size = world size, each rank reads its own rows);
one layer's experts are split over `ep_size` consecutive ranks, and each expert's gradients are averaged over the
world_size / ep_size ranks that hold a copy (DeepSpeed's expert-data-parallel group).
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass

import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed() -> None:
    """Join the process group the launcher described (RANK, WORLD_SIZE, MASTER_ADDR/PORT), or make a
    one-rank group when run alone; nccl on CUDA, gloo on CPU."""
    import deepspeed

    if torch.distributed.is_initialized():
        return
    init_method = None
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(_free_port()))
        # alone: rendezvous through a file, not the port (another process may take a free port before we bind it)
        fd, path = tempfile.mkstemp(prefix="s1-dist-")
        os.close(fd)
        os.unlink(path)
        init_method = f"file://{path}"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo", init_method=init_method,
                               rank=0 if init_method else -1, world_size=1 if init_method else -1)


@dataclass(frozen=True)
class ParallelLayout:
    """Where this rank sits: data-parallel rank/size for the dense weights and the expert-parallel split."""

    rank: int
    world_size: int
    dp_rank: int
    dp_size: int
    ep_size: int
    ep_rank: int
    expert_dp_size: int

    @classmethod
    def current(cls, ep_size: int) -> "ParallelLayout":
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        if world % ep_size:
            raise ValueError(f"ep_size={ep_size} must divide world size {world}; change ep_size or the GPU count.")
        return cls(rank=rank, world_size=world, dp_rank=rank, dp_size=world, ep_size=ep_size,
                   ep_rank=rank % ep_size, expert_dp_size=world // ep_size)


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over all ranks (for logged metrics; training gradients are DeepSpeed's business)."""
    if torch.distributed.get_world_size() == 1:
        return t
    t = t.clone()
    torch.distributed.all_reduce(t)
    return t / torch.distributed.get_world_size()
