"""Top-k search of query embeddings against an embedding store: exact tiled torch, or faiss."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    import faiss

logger = logging.getLogger(__name__)


def merge_topk(
    scores: torch.Tensor, rows: torch.Tensor, new_scores: torch.Tensor, new_rows: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Running top-k: the best ``k`` of two scored candidate sets."""
    all_scores = torch.cat([scores, new_scores], dim=1)
    all_rows = torch.cat([rows, new_rows], dim=1)
    top = all_scores.topk(min(k, all_scores.shape[1]), dim=1, sorted=True)
    return top.values, all_rows.gather(1, top.indices)


def _blocks(shards: Iterable[tuple[int, np.ndarray]], size: int) -> Iterator[tuple[int, np.ndarray]]:
    """float32 blocks of ``size`` consecutive store rows, read across shard boundaries (shards are contiguous)."""
    parts: list[np.ndarray] = []
    start = buffered = 0
    for offset, shard in shards:
        for c0 in range(0, shard.shape[0], size):
            piece = shard[c0 : c0 + size]
            if not parts:
                start = offset + c0
            parts.append(piece)
            buffered += piece.shape[0]
            if buffered >= size:
                yield start, np.concatenate(parts, dtype=np.float32)
                parts, buffered = [], 0
    if parts:
        yield start, np.concatenate(parts, dtype=np.float32)


def tiled_topk(
    queries: torch.Tensor,
    shards: Iterable[tuple[int, np.ndarray]],
    k: int,
    *,
    query_tile: int = 1024,
    corpus_tile: int = 65536,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact inner-product top-k with memory ``O(query_tile·corpus_tile + Q·k)`` whatever the corpus size.

    Shards are visited once (memory-mapped shards are read once from disk); queries are tiled inside. On a GPU
    ``device`` the corpus tiles stream to it and only the running top-k stays there. Returns
    ``(scores, store_rows)`` on the CPU, each ``[Q, k]`` in descending score order.
    """
    queries = queries.float().to(device)
    num_q = queries.shape[0]
    best_scores = torch.full((num_q, 0), float("-inf"), device=device)
    best_rows = torch.zeros((num_q, 0), dtype=torch.long, device=device)
    for start, block in _blocks(shards, corpus_tile):
        block = torch.from_numpy(block).to(device)
        kk = min(k, block.shape[0])
        tile_scores, tile_rows = [], []
        for q0 in range(0, num_q, query_tile):
            top = (queries[q0 : q0 + query_tile] @ block.T).topk(kk, dim=1, sorted=True)
            tile_scores.append(top.values)
            tile_rows.append(top.indices + start)
        best_scores, best_rows = merge_topk(best_scores, best_rows, torch.cat(tile_scores), torch.cat(tile_rows), k)
    return best_scores.cpu(), best_rows.cpu()


def exact_rerank(
    queries: torch.Tensor,
    rows: torch.Tensor,
    vectors: Callable[[np.ndarray], np.ndarray],
    k: int,
    *,
    query_tile: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Re-score approximate candidates exactly and keep the best ``k`` (the refinement step of IVF-PQ).

    ``rows`` are ``[Q, K]`` store rows (-1: none), ``vectors(store_rows)`` returns their float32 embeddings.
    """
    scores, kept = [], []
    for q0 in range(0, queries.shape[0], query_tile):
        part = rows[q0 : q0 + query_tile]
        found = part >= 0
        vecs = torch.from_numpy(vectors(part.clamp(min=0).reshape(-1).numpy())).view(*part.shape, -1)
        exact = torch.einsum("qkd,qd->qk", vecs, queries[q0 : q0 + query_tile].float()).masked_fill(~found, float("-inf"))
        top = exact.topk(min(k, exact.shape[1]), dim=1, sorted=True)
        scores.append(top.values)
        kept.append(part.gather(1, top.indices).masked_fill(top.values == float("-inf"), -1))
    return torch.cat(scores), torch.cat(kept)


def recall_at_k(found: torch.Tensor | np.ndarray, exact: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per query, the share of the exact top-k rows an approximate search found (``-1`` padding, left when the
    corpus has fewer than k rows, counts on neither side; nothing to find is full recall)."""
    found, exact = np.asarray(found), np.asarray(exact)
    return np.array([len(set(a[a >= 0].tolist()) & set(b[b >= 0].tolist())) / int((b >= 0).sum())
                     if (b >= 0).any() else 1.0 for a, b in zip(found, exact)])


GPU_PQ_M = (1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96)
"""Sub-quantiser counts faiss-gpu's IVF-PQ implements."""
GPU_MAX_K = 2048
"""faiss-gpu's largest k (and nprobe) per search."""


def default_pq_m(dim: int, *, gpu: bool = False) -> int:
    """Product-quantiser sub-vectors: about 8 dimensions each (dim 384 → 48 bytes a vector), dividing ``dim``;
    on GPUs the largest such count faiss-gpu implements."""
    allowed = GPU_PQ_M if gpu else range(1, max(1, dim // 8) + 1)
    return max(m for m in allowed if dim % m == 0 and m <= max(1, dim // 8))


def to_gpus(index: faiss.Index, gpus: Sequence[int], *, shard: bool = False, float16: bool = False) -> faiss.Index:
    """Place a CPU faiss index on ``gpus``: one full copy each (each copy searches a slice of the queries) or,
    with ``shard``, one slice of the vectors each, for an index bigger than one GPU's memory; faiss merges.
    ``float16`` halves IVF-PQ lookup tables, which past 48 sub-quantisers outgrow a GPU block's shared memory."""
    import faiss

    options = faiss.GpuClonerOptions() if len(gpus) == 1 else faiss.GpuMultipleClonerOptions()
    options.useFloat16 = float16
    if len(gpus) == 1:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), gpus[0], index, options)
    options.shard = shard
    return faiss.index_cpu_to_gpus_list(index, co=options, gpus=list(gpus))


class FaissIndex:
    """A faiss inner-product index over the store: flat, IVF-Flat, or IVF-PQ (``pq_m`` bytes a vector).

    ``gpus`` (faiss-gpu) places it with :func:`to_gpus`: one process replicates or shards it over all its GPUs;
    under a launcher each rank passes its own GPU, since every rank searches its own query slice.
    IVF-PQ holds compressed codes only, for corpora whose float32 vectors do not fit in RAM or GPU memory.
    """

    def __init__(
        self,
        shards: Iterable[tuple[int, np.ndarray]],
        dim: int,
        *,
        ivf_nlist: int | None = None,
        ivf_nprobe: int = 16,
        pq_m: int | None = None,
        num_rows: int,
        seed: int = 42,
        gpus: Sequence[int] = (),
        shard: bool = False,
    ) -> None:
        import faiss

        shards = list(shards)
        self.gpus = tuple(gpus)
        if pq_m is not None and (not ivf_nlist or dim % pq_m):
            raise ValueError(f"IVF-PQ needs ivf_nlist and pq_m dividing dim={dim} (got pq_m={pq_m}); "
                             f"try {default_pq_m(dim, gpu=bool(self.gpus))}")
        if self.gpus:
            self._check_gpu_limits(dim, num_rows, ivf_nlist and ivf_nprobe, pq_m)
        if ivf_nlist:
            self._quantizer = faiss.IndexFlatIP(dim)  # faiss does not own it: keep it alive with the index
            sample = self._training_sample(shards, num_rows, max(ivf_nlist * 40, 256 * 40, 10_000), seed)
            if pq_m:
                bits = min(8, max(1, len(sample).bit_length() - 1))  # 256 codes a sub-vector, fewer on tiny corpora
                index = faiss.IndexIVFPQ(self._quantizer, dim, ivf_nlist, pq_m, bits, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFFlat(self._quantizer, dim, ivf_nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(sample)
            index.nprobe = ivf_nprobe
        else:
            index = faiss.IndexFlatIP(dim)
        shard = shard and len(self.gpus) > 1
        fill_first = shard and not ivf_nlist  # faiss shards a flat index under successive ids: one add only
        if self.gpus and not fill_first:
            index = to_gpus(index, self.gpus, shard=shard, float16=bool(pq_m and pq_m > 48))
        for _, vectors in shards:
            for c0 in range(0, vectors.shape[0], 65536):
                index.add(np.ascontiguousarray(vectors[c0 : c0 + 65536], dtype=np.float32))
        if fill_first:
            index = to_gpus(index, self.gpus, shard=True)
        self.index = index
        structure = ("ivfpq" if pq_m else "ivf") if ivf_nlist else "flat"
        placement = ("gpu-sharded" if shard else "gpu") if self.gpus else "cpu"
        self.kind = f"faiss-{structure}-{placement}"
        self.approximate_scores = bool(pq_m)
        logger.info("search backend: %s over %d rows", self.kind, num_rows)

    @staticmethod
    def _check_gpu_limits(dim: int, num_rows: int, nprobe: int | None, pq_m: int | None) -> None:
        """What faiss-gpu refuses, said before the index is trained and filled rather than by a CUDA error after."""
        if nprobe and nprobe > GPU_MAX_K:
            raise ValueError(f"faiss-gpu searches at most {GPU_MAX_K} IVF lists; ivf_nprobe={nprobe} is more")
        if pq_m and pq_m not in GPU_PQ_M:
            raise ValueError(f"faiss-gpu IVF-PQ implements pq_m in {GPU_PQ_M}, not {pq_m}; "
                             f"try {default_pq_m(dim, gpu=True)} for dim={dim}")
        if pq_m and num_rows < 256:
            raise ValueError(f"faiss-gpu IVF-PQ needs 8-bit codes, trained on >= 256 passages (the corpus has "
                             f"{num_rows}); use backend='faiss' or device='cpu'")

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
        if self.gpus and k > GPU_MAX_K:
            raise ValueError(f"faiss-gpu returns at most {GPU_MAX_K} neighbours a query, {k} were asked for "
                             "(range_max, x pq_refine for IVF-PQ); lower them or search with device='cpu'")
        scores, rows = self.index.search(np.ascontiguousarray(queries.float().numpy()), k)
        return torch.from_numpy(scores), torch.from_numpy(rows.astype(np.int64))
