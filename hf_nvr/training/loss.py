"""InfoNCE (NV-Retriever Eq. 1) with explicit negative pools and in-loss false-negative masking. Pure maths."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce_logits(
    queries: torch.Tensor,
    passages: torch.Tensor,
    passage_valid: torch.Tensor,
    passage_hash: torch.Tensor,
    positive_hash: torch.Tensor,
    *,
    query_offset: int = 0,
    temperature: float = 0.02,
    in_batch_negatives: bool = True,
    row_in_batch: torch.Tensor | None = None,
    passage_id_hash: torch.Tensor | None = None,
    positive_id_hash: torch.Tensor | None = None,
    similarity: str = "cosine",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked logits ``[B, G·S]`` and labels ``[B]`` for ``B`` local queries against ``G`` rows of passages.

    ``passages`` is ``[G, S, d]``: row ``g`` holds query ``g``'s positive at slot 0 and its hard negatives after
    it; ``G`` is the global batch (all ranks) when cross-device negatives are on, and query ``i`` owns row
    ``query_offset + i``. ``passage_valid`` ``[G, S]`` marks real (not padded) slots. Any candidate whose
    ``passage_hash`` equals one of the query's ``positive_hash`` (``[B, P]``, 0 = padding) is a false negative and
    gets ``-inf``, except the query's own positive. Without ``in_batch_negatives`` only the query's own row counts;
    ``row_in_batch`` (``[B]`` bool) switches in-batch negatives off for single queries (blended multi-task batches).
    ``passage_id_hash``/``positive_id_hash`` (same shapes, 0 = unknown) mask candidates whose *id* is a positive's.
    """
    num_q, dim = queries.shape
    num_rows, slots, _ = passages.shape
    flat = passages.reshape(num_rows * slots, dim)
    if similarity == "cosine":
        queries, flat = F.normalize(queries, dim=-1), F.normalize(flat, dim=-1)
    elif similarity != "dot":
        raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
    logits = (queries @ flat.T) / temperature

    owner = torch.arange(num_rows, device=queries.device).repeat_interleave(slots)
    own_row = torch.arange(num_q, device=queries.device) + query_offset
    labels = own_row * slots
    column = torch.arange(num_rows * slots, device=queries.device)
    blocked = ~passage_valid.reshape(-1)[None, :].expand(num_q, -1)
    other_rows = owner[None, :] != own_row[:, None]
    if not in_batch_negatives:
        blocked = blocked | other_rows
    elif row_in_batch is not None:
        blocked = blocked | (other_rows & ~row_in_batch[:, None])
    same = _matches(passage_hash, positive_hash)
    if passage_id_hash is not None and positive_id_hash is not None:
        same = same | _matches(passage_id_hash, positive_id_hash)
    blocked = (blocked | same) & (column[None, :] != labels[:, None])
    return logits.masked_fill(blocked, float("-inf")), labels


def _matches(candidates: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """``[B, G·S]``: candidate equals one of the query's (non-zero) positive keys."""
    flat = candidates.reshape(-1)
    return ((flat[None, :, None] == positives[:, None, :]) & (positives[:, None, :] != 0)).any(-1)


def info_nce_loss(queries: torch.Tensor, passages: torch.Tensor, passage_valid: torch.Tensor,
                  passage_hash: torch.Tensor, positive_hash: torch.Tensor, **kwargs) -> torch.Tensor:
    """Mean over queries of ``-log exp(s⁺/τ) / Σ_i exp(s_i/τ)`` (see :func:`info_nce_logits`)."""
    logits, labels = info_nce_logits(queries, passages, passage_valid, passage_hash, positive_hash, **kwargs)
    return F.cross_entropy(logits, labels)
