"""Data-parallel training over processes and machines, on torch.distributed.

torchrun (or `lstmlab train --nproc N`, which calls it) starts one process per
share of the work and tells each its place through the environment (RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT). `join()` reads that
and opens the process group: gloo between CPU processes, NCCL between GPUs.

How the work is split (trainer.py does the splitting, with Group.share):
    every global batch      rank r takes rows share(B) of it: a fixed, contiguous
                            slice. For the language model's streams that makes
                            each rank the owner of the same streams every step,
                            carrying their recurrent state itself (Transformer-XL's
                            pattern; DataParallel's split of the state on the layer
                            dimension is the bug this avoids).
    gradients               DistributedDataParallel averages them; each rank's loss
                            is weighted by its share of the rows so the average is
                            the global batch's mean loss, even when shares differ.
    validation              each rank scores its share; the sums are all-reduced.
    decisions               the time budget, the step plan, Ctrl-C and NaN are
                            reduced or broadcast, so every rank stops at the same step.
    files                   only rank 0 writes checkpoints, metrics, plots and logs.

Every collective has a timeout (COLLECTIVE_TIMEOUT), so a rank that dies ends
the job instead of hanging it.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.distributed as dist

from .errors import LstmlabError

# Long enough for rank 0 to validate and write a large checkpoint while the
# others wait at the next collective; short enough that a lost rank ends the job.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=5)


# Set by `--nproc` in the workers' environment: the launcher reports a lost process itself.
LAUNCHED_BY_LSTMLAB = "LSTMLAB_LAUNCHER"


class FollowerStop(LstmlabError):
    """A rank other than 0 stops because rank 0 did (rank 0 prints the reason)."""


class RankError(LstmlabError):
    """An error of one rank other than 0 (its machine lacks the data, say): that rank prints it."""


@dataclass
class Group:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    # Collectives run on tensors of this device: the CPU for gloo, the GPU for NCCL.
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the only process that logs and writes files."""
        return self.rank == 0

    def share(self, rows: int) -> slice:
        """This rank's contiguous slice of `rows` rows: sizes differ by at most one,
        the first `rows % world` ranks taking one more (numpy.array_split's rule)."""
        return share_of(rows, self.rank, self.world)

    def rows_of(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """This rank's share of a batch: the same rows of each of its tensors (rows first)."""
        rows = self.share(batch[0].shape[0])
        return tuple(t[rows] for t in batch)

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over all ranks (float64)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def sum_array(self, tensor: torch.Tensor) -> torch.Tensor:
        """An array summed elementwise over all ranks (each rank fills its own rows, zeros elsewhere)."""
        if not self.active:
            return tensor
        reduced = tensor.to(self.device, torch.float64)
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced.cpu()

    def broadcast_number(self, value: float) -> float:
        """Rank 0's value, on every rank."""
        if not self.active:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=0)
        return tensor.item()

    def gather_rows(self, tensor: torch.Tensor, total: int) -> torch.Tensor:
        """Every rank's share of a (rows, ...) tensor, joined in rank order into the
        global (total, ...) tensor, on every rank."""
        if not self.active:
            return tensor
        size = -(-total // self.world)  # all_gather needs equal sizes: pad each share to the largest
        padded = torch.zeros((size, *tensor.shape[1:]), dtype=tensor.dtype, device=self.device)
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded)
        sizes = [len(range(total)[share_of(total, r, self.world)]) for r in range(self.world)]
        pieces = [part[:n] for part, n in zip(parts, sizes)]
        return torch.cat(pieces).to(tensor.device)

    def agree(self, failure: Optional[BaseException]) -> None:
        """A point every rank reaches: if rank 0 reports a failure, the others stop too."""
        if not self.active:
            return
        failed = self.broadcast_number(1.0 if (self.leader and failure is not None) else 0.0)
        if failed and not self.leader:
            raise FollowerStop("rank 0 stopped with an error")

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def leave(self) -> None:
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def share_of(rows: int, rank: int, world: int) -> slice:
    base, extra = divmod(rows, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def launched() -> bool:
    """Was this process started by torchrun (or lstmlab's --nproc) as one of several?"""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def environment_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def reports(error: BaseException) -> bool:
    """Does this process print `error`? Rank 0 speaks for all, except for an error of
    another rank's own (RankError); a lost peer is reported by lstmlab's launcher when it started us."""
    rank = environment_rank()
    if isinstance(error, FollowerStop):
        return False
    if isinstance(error, RankError):
        return True
    if getattr(error, "peer_lost", False) and os.environ.get(LAUNCHED_BY_LSTMLAB):
        return False
    return rank == 0


def join(device: torch.device) -> Group:
    """This process's Group; under torchrun, the process group is opened here."""
    if not launched():
        return Group(device=device)
    rank, world = environment_rank(), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device.type == "cuda":
        backend = "nccl"
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise LstmlabError(f"training on several processes runs on cpu or cuda, not {device.type}; "
                           "use --device cpu or drop --nproc")
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT,
                                    **({"device_id": device} if backend == "nccl" else {}))
        except (RuntimeError, ValueError) as exc:
            raise LstmlabError(f"could not join the other training processes ({str(exc).splitlines()[0]}); "
                               "check --rdzv-endpoint and that every machine runs the same command") from None
    return Group(rank, world, local_rank, local_world, device)
