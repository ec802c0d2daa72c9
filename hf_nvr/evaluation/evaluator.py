"""A fast exact-search retrieval evaluator for training loops that reports mteb's numbers.

mteb is the reference but takes seconds to import and re-encodes the corpus on every call; a training loop wants the
same figures cheaply, and "before training" wants to reuse a teacher's corpus embeddings. This evaluator encodes with
the model's own ``encode_query``/``encode_document`` (so prompts and progress bars are the model's), searches with a
tiled matmul + top-k (memory grows with the tile, not with queries × corpus), and scores with
:mod:`hf_nvr.evaluation.metrics`, which reproduces mteb 2.x's definitions, tie-breaking and rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_nvr.common.beir import load_beir
from hf_nvr.common.text import passage_text
from hf_nvr.evaluation.metrics import DEFAULT_K_VALUES, MAIN_SCORE, doc_order_keys, score_topk

try:  # sentence-transformers >= 6
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator as _STEvaluator
except ImportError:  # sentence-transformers 5.x
    from sentence_transformers.evaluation import SentenceEvaluator as _STEvaluator

logger = logging.getLogger(__name__)

SIMILARITY_FNS = ("cosine", "dot", "euclidean", "manhattan")
# Extra candidates kept past max(k) so that documents tied at the cut are ordered by id as trec_eval/mteb do.
TIE_MARGIN = 16


def _as_float_tensor(embeddings: Any) -> torch.Tensor:
    """A float32 (or float64) tensor: half-precision scores would create spurious ties."""
    tensor = embeddings if isinstance(embeddings, torch.Tensor) else torch.as_tensor(np.asarray(embeddings))
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def _prepare(embeddings: torch.Tensor, similarity_fn_name: str) -> torch.Tensor:
    return (
        torch.nn.functional.normalize(embeddings, p=2, dim=-1)
        if similarity_fn_name == "cosine"
        else embeddings
    )


def _similarity(queries: torch.Tensor, docs: torch.Tensor, similarity_fn_name: str) -> torch.Tensor:
    """Scores of prepared embeddings, the same maths as sentence-transformers' similarity functions."""
    if similarity_fn_name in {"cosine", "dot"}:
        return queries @ docs.T
    return -torch.cdist(queries, docs, p=2.0 if similarity_fn_name == "euclidean" else 1.0)


def exact_search(
    query_embeddings: Any,
    corpus_embeddings: Any,
    top_k: int,
    similarity_fn_name: str = "cosine",
    *,
    query_chunk_size: int = 1024,
    corpus_chunk_size: int = 16384,
    exclude: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k corpus indices and scores per query (``[Q, min(top_k, N)]``, best first, on CPU).

    Scores one ``query_chunk × corpus_chunk`` tile at a time and merges running top-k lists, so peak memory does not
    depend on Q × N. ``exclude[i]`` is a corpus index query ``i`` may not retrieve (``-1`` for none): mteb's
    ``ignore_identical_ids``. Excluded or missing slots come back as index ``-1``.
    """
    if similarity_fn_name not in SIMILARITY_FNS:
        raise ValueError(f"similarity_fn_name must be one of {SIMILARITY_FNS}, got {similarity_fn_name!r}")
    queries = _prepare(_as_float_tensor(query_embeddings), similarity_fn_name)
    docs = _prepare(_as_float_tensor(corpus_embeddings), similarity_fn_name).to(queries.device, queries.dtype)
    n_queries, n_docs = queries.shape[0], docs.shape[0]
    k = max(0, min(int(top_k), n_docs))
    excl = (
        None
        if exclude is None
        else torch.as_tensor(np.asarray(exclude, dtype=np.int64), device=queries.device)
    )
    all_idx = torch.full((n_queries, k), -1, dtype=torch.long)
    all_val = torch.full((n_queries, k), -float("inf"), dtype=queries.dtype)
    if k == 0:
        return all_idx, all_val
    for qs in range(0, n_queries, query_chunk_size):
        q = queries[qs : qs + query_chunk_size]
        best_val = torch.empty((q.shape[0], 0), dtype=q.dtype, device=q.device)
        best_idx = torch.empty((q.shape[0], 0), dtype=torch.long, device=q.device)
        for ds in range(0, n_docs, corpus_chunk_size):
            scores = _similarity(q, docs[ds : ds + corpus_chunk_size], similarity_fn_name)
            if excl is not None:
                local = excl[qs : qs + q.shape[0]] - ds
                rows = torch.nonzero((local >= 0) & (local < scores.shape[1])).squeeze(1)
                scores[rows, local[rows]] = -float("inf")
            val, idx = torch.topk(scores, min(k, scores.shape[1]), dim=1)
            best_val, pos = torch.topk(
                torch.cat([best_val, val], dim=1), min(k, best_val.shape[1] + val.shape[1]), dim=1
            )
            best_idx = torch.gather(torch.cat([best_idx, idx + ds], dim=1), 1, pos)
        best_idx[torch.isneginf(best_val)] = -1
        all_idx[qs : qs + q.shape[0], : best_idx.shape[1]] = best_idx.cpu()
        all_val[qs : qs + q.shape[0], : best_val.shape[1]] = best_val.cpu()
    return all_idx, all_val


def _encode(
    model: Any, texts: list[str], kind: str, batch_size: int, show_progress_bar: bool
) -> torch.Tensor:
    """Encode with ``encode_query``/``encode_document`` (sentence-transformers >= 5 and our BiEncoder), else ``encode``."""
    fn = getattr(model, f"encode_{kind}", None) or model.encode
    with torch.inference_mode():
        out = fn(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=show_progress_bar)
    return _as_float_tensor(out)


class RetrievalEvaluator(_STEvaluator):
    """Exact-search retrieval evaluation of any model with ``encode_query``/``encode_document``; mteb's numbers.

    ``evaluator(model)`` returns a flat ``{metric: float}`` dict. Metric names are mteb's (``ndcg_at_10``,
    ``recall_at_100``, ``mrr_at_10``, ``map_at_100``, ``precision_at_1``, ``hit_rate_at_5``) prefixed with
    ``f"{name}_"`` when ``name`` is set — the sentence-transformers evaluator convention, so the trainer logs
    ``eval_{name}_ndcg_at_10`` and can select checkpoints on :attr:`primary_metric`.

    Documents are encoded as ``title + " " + text`` (stripped), as mteb does. Pass ``corpus_embeddings`` (rows in
    :attr:`corpus_ids` order) to skip corpus encoding, e.g. to reuse a teacher's embeddings. Only judged queries
    (non-empty qrels) are evaluated, as in mteb.
    """

    def __init__(
        self,
        queries: Mapping[str, str],
        corpus: Mapping[str, str | Mapping[str, str]],
        qrels: Mapping[str, Mapping[str, int]],
        *,
        k_values: Sequence[int] = DEFAULT_K_VALUES,
        batch_size: int = 32,
        name: str = "",
        corpus_embeddings: Any | None = None,
        similarity_fn_name: str | None = None,
        ignore_identical_ids: bool = False,
        show_progress_bar: bool = False,
        query_chunk_size: int = 1024,
        corpus_chunk_size: int = 16384,
    ) -> None:
        super().__init__()
        self.k_values = tuple(sorted({int(k) for k in k_values}))
        self.batch_size = batch_size
        self.name = name
        self.similarity_fn_name = similarity_fn_name
        self.ignore_identical_ids = ignore_identical_ids
        self.show_progress_bar = show_progress_bar
        self.query_chunk_size = query_chunk_size
        self.corpus_chunk_size = corpus_chunk_size
        self.qrels = {str(q): {str(d): int(g) for d, g in rels.items()} for q, rels in qrels.items() if rels}
        self.query_ids = [str(q) for q in queries if str(q) in self.qrels]
        self.query_texts = [queries[q] for q in queries if str(q) in self.qrels]
        self.corpus_ids = [str(d) for d in corpus]
        self.corpus_texts = [
            (doc if isinstance(doc, str) else passage_text(doc.get("title"), doc.get("text") or "")).strip()
            for doc in corpus.values()
        ]
        if not self.query_ids:
            raise ValueError("no query has relevance judgements: nothing to evaluate")
        self._order_keys = doc_order_keys(self.corpus_ids)
        self.corpus_embeddings = corpus_embeddings
        self.main_score = MAIN_SCORE if 10 in self.k_values else f"ndcg_at_{self.k_values[-1]}"
        self.primary_metric = self.main_score

    @classmethod
    def from_beir(cls, data_dir: str | Path, split: str = "test", **kwargs: Any) -> RetrievalEvaluator:
        """Build from a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``); name defaults to the folder's."""
        data = load_beir(data_dir, split)
        kwargs.setdefault("name", Path(data_dir).name)
        return cls(data.queries, data.corpus, data.qrels, **kwargs)

    @property
    def corpus_embeddings(self) -> torch.Tensor | None:
        """Precomputed corpus embeddings (rows in :attr:`corpus_ids` order), or None to encode with the model."""
        return self._corpus_embeddings

    @corpus_embeddings.setter
    def corpus_embeddings(self, embeddings: Any | None) -> None:
        self._corpus_embeddings = None if embeddings is None else self._check_corpus(embeddings)

    def _check_corpus(self, embeddings: Any) -> torch.Tensor:
        tensor = _as_float_tensor(embeddings)
        if tensor.ndim != 2 or tensor.shape[0] != len(self.corpus_ids):
            raise ValueError(
                f"corpus_embeddings must be [{len(self.corpus_ids)}, dim] in corpus_ids order, got {tuple(tensor.shape)}"
            )
        return tensor

    def _similarity_name(self, model: Any | None) -> str:
        name = self.similarity_fn_name or getattr(model, "similarity_fn_name", None) or "cosine"
        return str(getattr(name, "value", name))

    def encode_queries(self, model: Any) -> torch.Tensor:
        """Query embeddings (rows in :attr:`query_ids` order) from ``model.encode_query``."""
        return _encode(model, self.query_texts, "query", self.batch_size, self.show_progress_bar)

    def encode_corpus(self, model: Any) -> torch.Tensor:
        """Corpus embeddings (rows in :attr:`corpus_ids` order) from ``model.encode_document``; cache them to reuse."""
        return _encode(model, self.corpus_texts, "document", self.batch_size, self.show_progress_bar)

    def search(
        self, query_embeddings: Any, corpus_embeddings: Any, similarity_fn_name: str = "cosine"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``[Q, C]`` top candidate corpus indices and scores (C = max(k) + a tie margin), rows in query_ids order."""
        exclude = None
        if self.ignore_identical_ids:
            doc_pos = {d: i for i, d in enumerate(self.corpus_ids)}
            exclude = [doc_pos.get(q, -1) for q in self.query_ids]
        idx, val = exact_search(
            query_embeddings,
            corpus_embeddings,
            max(self.k_values) + TIE_MARGIN,
            similarity_fn_name,
            query_chunk_size=self.query_chunk_size,
            corpus_chunk_size=self.corpus_chunk_size,
            exclude=exclude,
        )
        return idx.numpy(), val.double().numpy()

    def evaluate_embeddings(
        self,
        query_embeddings: Any,
        corpus_embeddings: Any | None = None,
        similarity_fn_name: str | None = None,
    ) -> dict[str, float]:
        """Scores for precomputed embeddings (unprefixed mteb names); corpus defaults to the constructor's."""
        corpus = (
            self.corpus_embeddings if corpus_embeddings is None else self._check_corpus(corpus_embeddings)
        )
        if corpus is None:
            raise ValueError("no corpus embeddings: pass corpus_embeddings or build the evaluator with them")
        queries = _as_float_tensor(query_embeddings)
        if queries.shape[0] != len(self.query_ids):
            raise ValueError(f"query_embeddings must have {len(self.query_ids)} rows (query_ids order)")
        sim = similarity_fn_name or self.similarity_fn_name or "cosine"
        idx, val = self.search(queries, corpus, sim)
        return score_topk(
            idx, val, self.query_ids, self.corpus_ids, self.qrels, self.k_values, order_keys=self._order_keys
        )

    def compute_metrics(self, model: Any) -> dict[str, float]:
        """Encode with ``model`` (the corpus only when no embeddings were given) and score, unprefixed.

        A module in training mode is switched to eval mode (no dropout noise) for the call and switched back.
        """
        was_training = bool(getattr(model, "training", False)) and callable(getattr(model, "train", None))
        if was_training:
            model.train(False)
        try:
            corpus = (
                self.corpus_embeddings if self.corpus_embeddings is not None else self.encode_corpus(model)
            )
            queries = self.encode_queries(model)
        finally:
            if was_training:
                model.train(True)
        return self.evaluate_embeddings(queries, corpus, self._similarity_name(model))

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Evaluate ``model``; keys are ``f"{name}_{metric}"`` (plain metric names when ``name`` is empty)."""
        metrics = self.compute_metrics(model)
        where = f" after epoch {epoch}" if epoch != -1 else ""
        where += f" at step {steps}" if steps != -1 else ""
        logger.info(
            "Retrieval evaluation %s%s: %s=%.4f", self.name, where, self.main_score, metrics[self.main_score]
        )
        self.primary_metric = self.main_score
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        card = getattr(model, "model_card_data", None)
        if card is not None and hasattr(card, "set_evaluation_metrics"):
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in a sentence-transformers model card."""
        return {"k_values": list(self.k_values), "ignore_identical_ids": self.ignore_identical_ids}
