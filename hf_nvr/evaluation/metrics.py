"""Retrieval metrics computed exactly as mteb 2.x reports them, vectorised over queries, with no I/O.

mteb scores a run with pytrec_eval (``ndcg_cut``, ``map_cut``, ``recall``, ``P``, ``success``) plus its own MRR.
Reimplementing those definitions here lets a training loop score thousands of queries in a few array operations and
still report the numbers a leaderboard would, so "before/after training" figures are comparable with MTEB's:

- ranking order is trec_eval's: score descending, ties broken by doc id descending (string order);
- a document is relevant when its qrels grade is > 0; NDCG gains are the grades (linear, log2 discount), negative
  grades count as 0, and the ideal ranking is built from *all* judged documents, retrieved or not;
- ``map_at_k`` and ``recall_at_k`` divide by the number of relevant documents (not ``min(k, R)``),
  ``precision_at_k`` by ``k`` even when fewer than ``k`` documents were retrieved;
- the averages are over queries that are both ranked and judged (pytrec_eval's rule); a judged query whose
  grades are all 0 counts as 0 everywhere;
- like mteb, every average except MRR is rounded to 5 decimals.

Metric names are mteb's: ``ndcg_at_10``, ``map_at_100``, ``recall_at_100``, ``precision_at_1``, ``mrr_at_10``,
``hit_rate_at_5``; the main score is ``ndcg_at_10``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

MAIN_SCORE = "ndcg_at_10"
DEFAULT_K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 100)
# mteb rounds every pytrec_eval average to this many decimals; its MRR is left unrounded.
MTEB_DECIMALS = 5

Qrels = Mapping[str, Mapping[str, int]]


def _check_k_values(k_values: Sequence[int]) -> list[int]:
    ks = sorted({int(k) for k in k_values})
    if not ks or ks[0] < 1:
        raise ValueError(f"k_values must be positive integers, got {list(k_values)}")
    return ks


def ideal_gains(qrels_rows: Sequence[Mapping[str, int]], depth: int) -> np.ndarray:
    """``[Q, depth]`` positive grades of each query's judged documents, best first (the ideal ranking)."""
    out = np.zeros((len(qrels_rows), depth), dtype=np.float64)
    for i, rels in enumerate(qrels_rows):
        grades = sorted((g for g in rels.values() if g > 0), reverse=True)[:depth]
        out[i, : len(grades)] = grades
    return out


def num_relevant(qrels_rows: Sequence[Mapping[str, int]]) -> np.ndarray:
    """``[Q]`` number of documents graded > 0 per query (the denominator of recall and MAP)."""
    return np.fromiter(
        (sum(1 for g in rels.values() if g > 0) for rels in qrels_rows), np.float64, len(qrels_rows)
    )


def per_query_scores(
    gains: np.ndarray, ideal: np.ndarray, n_relevant: np.ndarray, k_values: Sequence[int] = DEFAULT_K_VALUES
) -> dict[str, np.ndarray]:
    """Per-query metric vectors from the grades of the retrieved documents in rank order.

    ``gains`` is ``[Q, K]`` (grade of the document at each rank; 0 for unjudged documents and padding),
    ``ideal`` the matching :func:`ideal_gains`, ``n_relevant`` the :func:`num_relevant` vector.
    Ranks beyond ``K`` count as not retrieved, so ``k`` may exceed the list length.
    """
    gains = np.clip(np.asarray(gains, dtype=np.float64), 0.0, None)
    ideal = np.clip(np.asarray(ideal, dtype=np.float64), 0.0, None)
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    ks = _check_k_values(k_values)
    depth = ks[-1]
    n_queries = gains.shape[0]

    def pad(a: np.ndarray) -> np.ndarray:
        a = a[:, :depth]
        return np.pad(a, ((0, 0), (0, depth - a.shape[1]))) if a.shape[1] < depth else a

    gains, ideal = pad(gains.reshape(n_queries, -1)), pad(ideal.reshape(n_queries, -1))
    discount = 1.0 / np.log2(np.arange(2, depth + 2, dtype=np.float64))
    dcg = np.cumsum(gains * discount, axis=1)
    idcg = np.cumsum(ideal * discount, axis=1)
    hits = (gains > 0).astype(np.float64)
    hits_cum = np.cumsum(hits, axis=1)
    ranks = np.arange(1, depth + 1, dtype=np.float64)
    ap_cum = np.cumsum(hits * hits_cum / ranks, axis=1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, depth + 1)
    safe_rel = np.where(n_rel > 0, n_rel, 1.0)

    out: dict[str, np.ndarray] = {}
    for k in ks:
        c = k - 1
        out[f"ndcg_at_{k}"] = np.divide(dcg[:, c], idcg[:, c], out=np.zeros(n_queries), where=idcg[:, c] > 0)
        out[f"map_at_{k}"] = np.where(n_rel > 0, ap_cum[:, c] / safe_rel, 0.0)
        out[f"recall_at_{k}"] = np.where(n_rel > 0, hits_cum[:, c] / safe_rel, 0.0)
        out[f"precision_at_{k}"] = hits_cum[:, c] / k
        out[f"mrr_at_{k}"] = np.where(first_hit <= k, 1.0 / first_hit, 0.0)
        out[f"hit_rate_at_{k}"] = (hits_cum[:, c] > 0).astype(np.float64)
    return out


def aggregate(per_query: Mapping[str, np.ndarray], decimals: int | None = MTEB_DECIMALS) -> dict[str, float]:
    """Mean over queries as plain floats, rounded like mteb (all but MRR); ``decimals=None`` keeps full precision."""
    out: dict[str, float] = {}
    for name, values in per_query.items():
        mean = float(np.mean(values)) if len(values) else 0.0
        out[name] = mean if decimals is None or name.startswith("mrr_") else round(mean, decimals)
    return out


def gains_for_rankings(
    rankings: Sequence[Sequence[str]], qrels_rows: Sequence[Mapping[str, int]], depth: int
) -> np.ndarray:
    """``[Q, depth]`` grades of the ranked documents (string ids), 0 where unjudged or past the list's end."""
    out = np.zeros((len(rankings), depth), dtype=np.float64)
    for i, (ranked, rels) in enumerate(zip(rankings, qrels_rows, strict=True)):
        for j, doc_id in enumerate(ranked[:depth]):
            out[i, j] = rels.get(doc_id, 0)
    return out


def score_rankings(
    rankings: Mapping[str, Sequence[str]],
    qrels: Qrels,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    decimals: int | None = MTEB_DECIMALS,
) -> dict[str, float]:
    """mteb's retrieval scores for ``{query_id: [doc ids, best first]}`` against ``{query_id: {doc_id: grade}}``.

    Each list must already be in rank order (use :func:`rank_run` for scored runs so ties follow trec_eval).
    Queries missing from either side are ignored, as pytrec_eval does.
    """
    qids = [q for q in rankings if q in qrels]
    depth = max(_check_k_values(k_values))
    rows = [qrels[q] for q in qids]
    gains = gains_for_rankings([rankings[q] for q in qids], rows, depth)
    return aggregate(
        per_query_scores(gains, ideal_gains(rows, depth), num_relevant(rows), k_values), decimals
    )


def rank_run(run: Mapping[str, Mapping[str, float]], depth: int | None = None) -> dict[str, list[str]]:
    """Order each query's ``{doc_id: score}`` as trec_eval does: score descending, then doc id descending."""
    return {
        qid: [d for d, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:depth]]
        for qid, scores in run.items()
    }


def score_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Qrels,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    decimals: int | None = MTEB_DECIMALS,
) -> dict[str, float]:
    """mteb's retrieval scores for a scored run ``{query_id: {doc_id: score}}`` (the shape mteb and pytrec_eval take)."""
    return score_rankings(rank_run(run, max(_check_k_values(k_values))), qrels, k_values, decimals)


def doc_order_keys(doc_ids: Sequence[str]) -> np.ndarray:
    """``[N]`` int64 rank of each doc id in ascending string order, so ties can be broken by id without strings."""
    order = sorted(range(len(doc_ids)), key=doc_ids.__getitem__)
    keys = np.empty(len(doc_ids), dtype=np.int64)
    keys[np.asarray(order, dtype=np.int64)] = np.arange(len(doc_ids), dtype=np.int64)
    return keys


def sort_candidates(
    indices: np.ndarray, scores: np.ndarray, order_keys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sort ``[Q, C]`` candidate (index, score) rows the trec_eval way: score desc, then doc id desc.

    ``order_keys`` comes from :func:`doc_order_keys`; entries with index ``-1`` (padding) sort last.
    """
    indices = np.asarray(indices, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    valid = indices >= 0
    keys = np.where(valid, order_keys[np.where(valid, indices, 0)], -1)
    primary = np.where(valid, scores, -np.inf)
    perm = np.lexsort((-keys, -primary), axis=-1)
    return np.take_along_axis(indices, perm, axis=1), np.take_along_axis(scores, perm, axis=1)


def gains_for_indices(
    indices: np.ndarray, qrels_rows: Sequence[Mapping[str, int]], doc_index: Mapping[str, int]
) -> np.ndarray:
    """``[Q, C]`` grades for retrieved corpus indices, via one sorted lookup of (query, doc) keys.

    Judged documents missing from ``doc_index`` cannot be retrieved but still count in the ideal ranking.
    """
    indices = np.asarray(indices, dtype=np.int64)
    n_docs = max(len(doc_index), 1)
    pairs = [
        (i * n_docs + doc_index[d], g)
        for i, rels in enumerate(qrels_rows)
        for d, g in rels.items()
        if d in doc_index
    ]
    if not pairs:
        return np.zeros(indices.shape, dtype=np.float64)
    keys, grades = (np.asarray(c) for c in zip(*pairs, strict=True))
    order = np.argsort(keys)
    keys, grades = keys[order], grades[order].astype(np.float64)
    run_keys = np.arange(indices.shape[0], dtype=np.int64)[:, None] * n_docs + indices
    pos = np.clip(np.searchsorted(keys, run_keys), 0, len(keys) - 1)
    found = (keys[pos] == run_keys) & (indices >= 0)
    return np.where(found, grades[pos], 0.0)


def score_topk(
    indices: np.ndarray,
    scores: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    qrels: Qrels,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    decimals: int | None = MTEB_DECIMALS,
    order_keys: np.ndarray | None = None,
) -> dict[str, float]:
    """mteb's retrieval scores for a ``[Q, C]`` top-k result (corpus indices and their scores, any order).

    Rows follow ``query_ids``, indices point into ``doc_ids``; index ``-1`` marks padding. Ties are re-ordered by
    doc id as trec_eval does, so ``C`` should exceed ``max(k_values)`` a little when exact ties are likely.
    """
    keep = [i for i, q in enumerate(query_ids) if q in qrels]
    keys = doc_order_keys(doc_ids) if order_keys is None else order_keys
    indices, _ = sort_candidates(np.asarray(indices)[keep], np.asarray(scores)[keep], keys)
    rows = [qrels[query_ids[i]] for i in keep]
    depth = max(_check_k_values(k_values))
    gains = gains_for_indices(indices[:, :depth], rows, {d: j for j, d in enumerate(doc_ids)})
    return aggregate(
        per_query_scores(gains, ideal_gains(rows, depth), num_relevant(rows), k_values), decimals
    )
