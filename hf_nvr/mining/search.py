"""Top-k search of query embeddings against an embedding store: exact tiled torch, or faiss."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import torch

logger = logging.getLogger(__name__)


def merge_topk(
    scores: torch.Tensor, rows: torch.Tensor, new_scores: torch.Tensor, new_rows: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Running top-k: the best ``k`` of two scored candidate sets."""
    all_scores = torch.cat([scores, new_scores], dim=1)
    all_rows = torch.cat([rows, new_rows], dim=1)
    top = all_scores.topk(min(k, all_scores.shape[1]), dim=1, sorted=True)
    return top.values, all_rows.gather(1, top.indices)


def tiled_topk(
    queries: torch.Tensor,
    shards: Iterable[tuple[int, np.ndarray]],
    k: int,
    *,
    query_tile: int = 1024,
    corpus_tile: int = 16384,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact inner-product top-k with memory ``O(query_tile·corpus_tile + Q·k)`` whatever the corpus size.

    Shards are visited once (memory-mapped shards are read once from disk); queries are tiled inside.
    Returns ``(scores, store_rows)``, each ``[Q, k]`` in descending score order.
    """
    queries = queries.float()
    num_q = queries.shape[0]
    best_scores = torch.full((num_q, 0), float("-inf"))
    best_rows = torch.zeros((num_q, 0), dtype=torch.long)
    for offset, shard in shards:
        for c0 in range(0, shard.shape[0], corpus_tile):
            block = torch.from_numpy(np.array(shard[c0 : c0 + corpus_tile], dtype=np.float32))
            kk = min(k, block.shape[0])
            tile_scores, tile_rows = [], []
            for q0 in range(0, num_q, query_tile):
                top = (queries[q0 : q0 + query_tile] @ block.T).topk(kk, dim=1, sorted=True)
                tile_scores.append(top.values)
                tile_rows.append(top.indices + offset + c0)
            best_scores, best_rows = merge_topk(best_scores, best_rows, torch.cat(tile_scores), torch.cat(tile_rows), k)
    return best_scores, best_rows


class FaissIndex:
    """A faiss inner-product index over the store (flat or IVF), on all visible GPUs when faiss-gpu has one."""

    def __init__(
        self,
        shards: Iterable[tuple[int, np.ndarray]],
        dim: int,
        *,
        ivf_nlist: int | None = None,
        ivf_nprobe: int = 16,
        num_rows: int,
        seed: int = 42,
    ) -> None:
        import faiss

        shards = list(shards)
        if ivf_nlist:
            self._quantizer = faiss.IndexFlatIP(dim)  # faiss does not own it: keep it alive with the index
            index = faiss.IndexIVFFlat(self._quantizer, dim, ivf_nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(self._training_sample(shards, num_rows, max(ivf_nlist * 40, 10_000), seed))
            index.nprobe = ivf_nprobe
        else:
            index = faiss.IndexFlatIP(dim)
        self.gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        if self.gpus:
            index = faiss.index_cpu_to_all_gpus(index)
        for _, shard in shards:
            for c0 in range(0, shard.shape[0], 65536):
                index.add(np.ascontiguousarray(shard[c0 : c0 + 65536], dtype=np.float32))
        self.index = index
        self.kind = f"faiss-{'ivf' if ivf_nlist else 'flat'}-{'gpu' if self.gpus else 'cpu'}"
        logger.info("search backend: %s over %d rows", self.kind, num_rows)

    @staticmethod
    def _training_sample(shards: Iterable[tuple[int, np.ndarray]], num_rows: int, size: int, seed: int) -> np.ndarray:
        shards = list(shards)
        take = np.sort(np.random.default_rng(seed).choice(num_rows, size=min(size, num_rows), replace=False))
        bounds = np.array([off for off, _ in shards] + [num_rows])
        parts = []
        for i, (off, shard) in enumerate(shards):
            local = take[(take >= bounds[i]) & (take < bounds[i + 1])] - off
            parts.append(np.asarray(shard[local], dtype=np.float32))
        return np.ascontiguousarray(np.concatenate(parts))

    def search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        scores, rows = self.index.search(np.ascontiguousarray(queries.float().numpy()), k)
        return torch.from_numpy(scores), torch.from_numpy(rows.astype(np.int64))
