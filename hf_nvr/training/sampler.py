"""Homogeneous batches for blended data: each batch holds rows of one source dataset (NV-Retriever-v1 §B)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class HomogeneousBatchSampler(Sampler[int]):
    """Yields indices so that every consecutive ``batch_size`` chunk comes from a single dataset.

    Rows are shuffled within each dataset and the chunks are shuffled across datasets, with a generator seeded by
    ``seed + epoch``: reproducible, and resumable (the Trainer skips the already-seen batches of that order).
    A dataset's last incomplete chunk is dropped, so that no batch mixes tasks.
    """

    def __init__(self, dataset_names: Sequence[str], batch_size: int, seed: int = 0) -> None:
        self.names = list(dataset_names)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.names):
            groups.setdefault(name, []).append(i)
        self.groups = groups

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _chunks(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        chunks = []
        for name in sorted(self.groups):
            rows = self.groups[name]
            order = torch.randperm(len(rows), generator=generator).tolist()
            shuffled = [rows[i] for i in order]
            chunks += [shuffled[i : i + self.batch_size] for i in range(0, len(shuffled) - self.batch_size + 1, self.batch_size)]
        return [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]

    def __iter__(self) -> Iterator[int]:
        for chunk in self._chunks():
            yield from chunk

    def __len__(self) -> int:
        return sum(len(rows) // self.batch_size * self.batch_size for rows in self.groups.values())
