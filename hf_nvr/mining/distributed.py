"""Mining across processes: ``accelerate launch`` / ``torchrun`` start them, we only split and merge the work.

Corpus shards are encoded round-robin by rank (see :class:`~hf_nvr.mining.store.EmbeddingStore`); query rows are
split into contiguous slices, each rank mines its slice against the whole store, and rank 0 concatenates the
slices in order. Per-row results do not depend on batching (sampling is seeded per row), so the output equals the
single-process run.
"""

from __future__ import annotations

import os

import torch


def process_info() -> tuple[int, int]:
    """``(rank, world_size)``, joining the process group when launched by accelerate/torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    ):
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def local_device() -> str:
    """This process's accelerator: one GPU per rank (``LOCAL_RANK``) when GPUs are visible, else the CPU."""
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    return "cpu"


def barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def row_slice(num_rows: int, rank: int, world_size: int) -> range:
    """The contiguous block of rows a rank mines (sizes differ by at most one)."""
    base, extra = divmod(num_rows, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


def shared_run_id() -> str:
    """A fresh id chosen by rank 0 and broadcast, naming where this run's ranks hand over their slices."""
    import uuid

    ids = [uuid.uuid4().hex[:16]]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(ids, src=0)
    return ids[0]
