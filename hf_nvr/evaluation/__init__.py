"""Evaluation: judges any retrieval model the way MTEB does; imports neither mining nor training.

- :mod:`~hf_nvr.evaluation.metrics`: pure, vectorised NDCG/MAP/Recall/Precision/MRR/hit-rate@k that reproduce
  mteb 2.x (pytrec_eval definitions, trec_eval tie-breaking, mteb's rounding and names such as ``ndcg_at_10``).
- :class:`RetrievalEvaluator`: fast exact-search evaluator for training loops (any model with
  ``encode_query``/``encode_document``; optional precomputed corpus embeddings).
- :func:`evaluate_retrieval`: benchmark runs through mteb when installed (official task name only for the
  official data), else the built-in evaluator; returns :class:`TaskResult` rows.
"""

from hf_nvr.evaluation.evaluator import RetrievalEvaluator, exact_search
from hf_nvr.evaluation.metrics import (
    MAIN_SCORE,
    per_query_scores,
    rank_run,
    score_rankings,
    score_run,
    score_topk,
)
from hf_nvr.evaluation.mteb_eval import KNOWN_DATASETS, TaskResult, evaluate_retrieval, matches_official

__all__ = [
    "KNOWN_DATASETS",
    "MAIN_SCORE",
    "RetrievalEvaluator",
    "TaskResult",
    "evaluate_retrieval",
    "exact_search",
    "matches_official",
    "per_query_scores",
    "rank_run",
    "score_rankings",
    "score_run",
    "score_topk",
]
