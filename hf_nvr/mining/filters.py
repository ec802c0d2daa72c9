"""The mining maths: pure, vectorised functions over candidate score matrices (no I/O, no models).

Shapes: ``Q`` queries, ``K`` candidates per query sorted by descending teacher score, ``P`` positives per
query (padded). Boolean masks are ``True`` where a candidate is *kept*, except the exclusion masks, which
are ``True`` where a candidate is excluded.
"""

from __future__ import annotations

from typing import Literal

import torch

METHODS = ("naive_topk", "topk_shifted", "topk_abs", "topk_marginpos", "topk_percpos")
Method = Literal["naive_topk", "topk_shifted", "topk_abs", "topk_marginpos", "topk_percpos"]


def exclusion_masks(
    cand_idx: torch.Tensor,
    cand_hash: torch.Tensor,
    pos_idx: torch.Tensor,
    pos_hash: torch.Tensor,
    query_hash: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Which candidates are a positive (by corpus index or by normalised text) or the query itself.

    ``pos_idx`` is ``-1`` where a positive is not in the corpus (or is padding); ``pos_hash`` is ``0`` for padding.
    Returns disjoint masks ``positive_id``, ``positive_text`` and ``query_text`` in that order of precedence.
    """
    by_id = ((cand_idx[:, :, None] == pos_idx[:, None, :]) & (pos_idx[:, None, :] >= 0)).any(-1)
    by_text = ((cand_hash[:, :, None] == pos_hash[:, None, :]) & (pos_hash[:, None, :] != 0)).any(-1) & ~by_id
    by_query = (cand_hash == query_hash[:, None]) & ~by_id & ~by_text
    return {"positive_id": by_id, "positive_text": by_text, "query_text": by_query}


def aggregate_positive_scores(
    pos_scores: torch.Tensor, pos_mask: torch.Tensor, how: Literal["min", "max"] = "min"
) -> torch.Tensor:
    """One reference score per query: the weakest (``min``, the conservative default) or strongest positive."""
    fill = torch.finfo(pos_scores.dtype).max if how == "min" else torch.finfo(pos_scores.dtype).min
    filled = pos_scores.masked_fill(~pos_mask, fill)
    return filled.min(-1).values if how == "min" else filled.max(-1).values


def naive_topk(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Keep every valid candidate: the baseline that admits false negatives."""
    return valid.clone()


def topk_shifted(scores: torch.Tensor, valid: torch.Tensor, shift: int = 10) -> torch.Tensor:
    """Skip the first ``shift`` valid candidates, where false negatives concentrate."""
    rank = valid.long().cumsum(-1) - 1
    return valid & (rank >= shift)


def topk_abs(scores: torch.Tensor, valid: torch.Tensor, max_score: float = 0.7) -> torch.Tensor:
    """Keep candidates scoring below an absolute threshold, whatever the positive scores."""
    return valid & (scores < max_score)


def topk_marginpos(
    scores: torch.Tensor, valid: torch.Tensor, pos_score: torch.Tensor, margin: float = 0.05
) -> torch.Tensor:
    """Keep candidates at least ``margin`` below the positive's score."""
    return valid & (scores < (pos_score - margin)[:, None])


def topk_percpos(
    scores: torch.Tensor, valid: torch.Tensor, pos_score: torch.Tensor, perc: float = 0.95
) -> torch.Tensor:
    """Keep candidates below ``perc`` of the positive's score; ``pos - |pos|·(1-perc)`` keeps it sign-safe."""
    threshold = pos_score - pos_score.abs() * (1.0 - perc)
    return valid & (scores < threshold[:, None])


def method_mask(
    method: Method,
    scores: torch.Tensor,
    valid: torch.Tensor,
    pos_score: torch.Tensor,
    *,
    shift: int = 10,
    max_score: float = 0.7,
    margin: float = 0.05,
    perc: float = 0.95,
) -> torch.Tensor:
    """Dispatch to the named filter with its parameter."""
    if method == "naive_topk":
        return naive_topk(scores, valid)
    if method == "topk_shifted":
        return topk_shifted(scores, valid, shift)
    if method == "topk_abs":
        return topk_abs(scores, valid, max_score)
    if method == "topk_marginpos":
        return topk_marginpos(scores, valid, pos_score, margin)
    if method == "topk_percpos":
        return topk_percpos(scores, valid, pos_score, perc)
    raise ValueError(f"unknown mining method {method!r}; choose one of {', '.join(METHODS)}")


def select_negatives(
    scores: torch.Tensor,
    keep: torch.Tensor,
    num_negatives: int,
    *,
    sample_from_top: int | None = None,
    temperature: float = 1.0,
    keep_top1: bool = False,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Column indices of the chosen negatives, ``[Q, num_negatives]``, ``-1`` where a row falls short.

    Without ``sample_from_top`` the first ``num_negatives`` survivors are taken. With it, ``num_negatives`` of
    the top-``sample_from_top`` survivors are drawn without replacement, weighted by ``softmax(score / T)``;
    ``keep_top1`` always keeps the best survivor and samples the rest (the paper's "Top-1 + sampled").
    ``noise`` is the ``[Q, K]`` uniform(0, 1) draw behind the sampling, passed in so that callers control
    seeding per row (results then do not depend on how rows were batched). Chosen columns come back in
    descending score order.
    """
    num_q, num_k = scores.shape
    rank = keep.long().cumsum(-1) - 1
    if sample_from_top is None:
        chosen = keep & (rank < num_negatives)
        return _columns(chosen, num_negatives)

    pool = keep & (rank < sample_from_top)
    logits = (scores / temperature).masked_fill(~pool, float("-inf"))
    if keep_top1:
        logits = logits.masked_fill(pool & (rank == 0), float("inf"))
    # Gumbel-top-k: sampling without replacement proportional to softmax(logits), vectorised over rows.
    uniform = (torch.rand(num_q, num_k, dtype=torch.float64) if noise is None else noise.double()).clamp(1e-12, 1 - 1e-12)
    perturbed = logits.double() - torch.log(-torch.log(uniform))
    order = perturbed.argsort(-1, descending=True)[:, :num_negatives]
    picked = torch.zeros_like(keep)
    picked.scatter_(1, order, True)
    return _columns(picked & pool, num_negatives)


def _columns(chosen: torch.Tensor, width: int) -> torch.Tensor:
    """Indices of ``True`` columns per row in ascending column order, right-padded with ``-1`` to ``width``."""
    num_k = chosen.shape[1]
    positions = torch.arange(num_k, device=chosen.device).expand_as(chosen)
    keyed = torch.where(chosen, positions, num_k + positions)
    cols = keyed.sort(-1).values[:, :width]
    cols = torch.where(cols < num_k, cols, torch.full_like(cols, -1))
    if cols.shape[1] < width:
        cols = torch.nn.functional.pad(cols, (0, width - cols.shape[1]), value=-1)
    return cols
