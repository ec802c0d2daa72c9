"""Mining across processes: ``accelerate launch`` / ``torchrun`` start them, we only split and merge the work.

Corpus shards are encoded round-robin by rank (see :class:`~hf_nvr.mining.store.EmbeddingStore`); query rows are
split into contiguous slices of whole batches, each rank mines its slice against the whole store, and rank 0
concatenates the slices in order. Sampling is seeded per row and every rank encodes the same query batches as one
process would, so the output equals the single-process run (bit for bit when each process uses as many threads).
"""

from __future__ import annotations

import os

import torch


def launched_world_size() -> int:
    """The world size a launcher announced, known before any process group is joined."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_info() -> tuple[int, int]:
    """``(rank, world_size)``, joining the process group when launched by accelerate/torchrun."""
    if launched_world_size() > 1 and not (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    ):
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available())
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def rank_gpu(count: int) -> int:
    """This rank's GPU among ``count``: ``LOCAL_RANK`` wrapped, so more ranks than GPUs share them round-robin."""
    return int(os.environ.get("LOCAL_RANK", "0")) % count


def local_device() -> str:
    """This process's accelerator: one GPU per rank (``LOCAL_RANK``) when GPUs are visible, else the CPU."""
    if torch.cuda.is_available():
        return f"cuda:{rank_gpu(torch.cuda.device_count())}"
    return "cpu"


def faiss_gpus(requested: str | None, world_size: int, available: int) -> tuple[int, ...]:
    """GPUs a faiss index goes on, following the teacher's device: none when ``requested`` is not CUDA, the one
    named by ``cuda:N``, this rank's own under a launcher (each rank searches its own queries), else every GPU."""
    if not available or (requested and not requested.startswith("cuda")):
        return ()
    if requested and ":" in requested:
        gpu = int(requested.split(":")[1])
        if gpu >= available:
            raise ValueError(f"device={requested!r}, but faiss sees {available} GPU(s) (cuda:0 to cuda:{available - 1})")
        return (gpu,)
    if world_size > 1:
        return (rank_gpu(available),)
    return tuple(range(available))


def barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def row_slice(num_rows: int, rank: int, world_size: int, block: int = 1) -> range:
    """The contiguous rows a rank mines: whole ``block``s (the map's batch size), counts differing by at most one.

    Cutting at batch boundaries gives every rank the very batches one process would encode, so the query
    embeddings (which depend on a batch's padding) and hence the scores are bit-for-bit the same.
    """
    blocks = -(-num_rows // block)
    base, extra = divmod(blocks, world_size)
    start = rank * base + min(rank, extra)
    stop = start + base + (rank < extra)
    return range(min(start * block, num_rows), min(stop * block, num_rows))


def shared_run_id() -> str:
    """A fresh id chosen by rank 0 and broadcast, naming where this run's ranks hand over their slices."""
    import uuid

    ids = [uuid.uuid4().hex[:16]]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(ids, src=0)
    return ids[0]
