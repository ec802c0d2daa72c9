"""Turns mined rows (``query``, ``positive``, ``negatives``) into padded, masked tensors for the InfoNCE loss."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hf_nvr.common.text import text_hash


def rotate_negatives(negatives: list[Any], count: int, epoch: int, seed: int = 0) -> list[Any]:
    """The ``count`` negatives a row uses in ``epoch``: a window that walks through a longer list, wrapping.

    The window starts at ``(seed + epoch) · count``: a function of seed and epoch only, so a resumed run sees
    exactly the negatives an uninterrupted one would.
    """
    if len(negatives) <= count:
        return list(negatives)
    start = ((seed + epoch) * count) % len(negatives)
    return [negatives[(start + j) % len(negatives)] for j in range(count)]


def _id_hash(doc_id: str | None) -> int:
    """Ids hash in their own namespace, so an id never collides with a text."""
    return 0 if doc_id is None else text_hash(f"\0id\0{doc_id}")


@dataclass
class NVRetrieverCollator:
    """Tokenises queries and passages through the model's own ``tokenize`` (prompts, truncation, padding).

    Rows with fewer negatives than ``num_hard_negatives`` get masked slots (``passage_valid``), never repeats.
    With ``positive_ids``/``negative_ids`` columns (the mining output), candidates are also matched by id.
    Optional per-row columns from blended data: ``query_prompt`` (that row's instruction), ``passage_prompt``
    (symmetric tasks such as STS put the instruction on both sides) and
    ``in_batch_negatives`` (False for rows whose positives collide across rows, e.g. classification).
    """

    model: Any
    num_hard_negatives: int = 4
    query_column: str = "query"
    positive_column: str = "positive"
    negatives_column: str = "negatives"
    epoch: int = 0
    seed: int = 0

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        slots = 1 + self.num_hard_negatives
        queries, passages, valid, hashes, positive_hashes, id_hashes, positive_id_hashes = [], [], [], [], [], [], []
        for row in rows:
            positive = row[self.positive_column]
            positive_list = [positive] if isinstance(positive, str) else list(positive)
            negatives = rotate_negatives(list(row.get(self.negatives_column) or []), self.num_hard_negatives, self.epoch, self.seed)
            negative_ids = rotate_negatives(list(row.get("negative_ids") or []), self.num_hard_negatives, self.epoch, self.seed)
            positive_ids = [str(i) for i in (row.get("positive_ids") or [])]
            texts = [positive_list[0], *negatives]
            ids = [positive_ids[0] if positive_ids else None, *(negative_ids if len(negative_ids) == len(negatives) else [None] * len(negatives))]
            id_hashes.append([_id_hash(i) for i in ids] + [0] * (slots - len(ids)))
            positive_id_hashes.append([_id_hash(i) for i in positive_ids] or [0])
            queries.append(row[self.query_column])
            passages.extend(texts + [""] * (slots - len(texts)))
            valid.append([True] * len(texts) + [False] * (slots - len(texts)))
            hashes.append([text_hash(t) for t in texts] + [0] * (slots - len(texts)))
            positive_hashes.append([text_hash(p) for p in positive_list])
        width = max(len(p) for p in positive_hashes)
        id_width = max(len(p) for p in positive_id_hashes)
        prompts = [row.get("query_prompt") for row in rows]
        q = self.model.tokenize(queries, "query", prompts if any(p is not None for p in prompts) else None)
        passage_prompts = [row.get("passage_prompt") for row in rows for _ in range(slots)]
        p = self.model.tokenize(passages, "passage", passage_prompts if any(passage_prompts) else None)
        return {
            "query_input_ids": q["input_ids"],
            "query_attention_mask": q["attention_mask"],
            "query_prompt_length": q["prompt_length"],
            "passage_input_ids": p["input_ids"],
            "passage_attention_mask": p["attention_mask"],
            "passage_prompt_length": p["prompt_length"],
            "passage_valid": torch.tensor(valid),
            "passage_hash": torch.tensor(hashes, dtype=torch.long),
            "positive_hash": torch.tensor([h + [0] * (width - len(h)) for h in positive_hashes], dtype=torch.long),
            "row_in_batch": torch.tensor([bool(row.get("in_batch_negatives", True)) for row in rows]),
            "passage_id_hash": torch.tensor(id_hashes, dtype=torch.long),
            "positive_id_hash": torch.tensor([h + [0] * (id_width - len(h)) for h in positive_id_hashes], dtype=torch.long),
        }
