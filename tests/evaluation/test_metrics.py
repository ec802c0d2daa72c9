import math
import random

import numpy as np
import pytest

from hf_nvr.evaluation.metrics import (
    doc_order_keys,
    per_query_scores,
    rank_run,
    score_rankings,
    score_run,
    score_topk,
    sort_candidates,
)

L3, L5 = math.log2(3), math.log2(5)


def test_binary_relevance_by_hand_with_k_beyond_the_list():
    # relevant: a, b, c (c never retrieved); ranking x a y b -> hits at ranks 2 and 4
    m = score_rankings({"q": ["x", "a", "y", "b"]}, {"q": {"a": 1, "b": 1, "c": 1}}, k_values=(1, 3, 5), decimals=None)
    idcg3 = 1 + 1 / L3 + 1 / 2
    assert m["ndcg_at_1"] == 0.0
    assert m["ndcg_at_3"] == pytest.approx((1 / L3) / idcg3)
    assert m["ndcg_at_5"] == pytest.approx((1 / L3 + 1 / L5) / (idcg3 + 0))  # ideal has 3 docs only
    assert m["recall_at_1"] == 0.0
    assert m["recall_at_3"] == pytest.approx(1 / 3)
    assert m["recall_at_5"] == pytest.approx(2 / 3)
    assert m["map_at_3"] == pytest.approx((1 / 2) / 3)  # divided by all 3 relevant, not min(k, R)
    assert m["map_at_5"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert m["mrr_at_1"] == 0.0
    assert m["mrr_at_3"] == m["mrr_at_5"] == pytest.approx(1 / 2)
    assert m["precision_at_5"] == pytest.approx(2 / 5)  # divided by k although only 4 were retrieved
    assert m["hit_rate_at_1"] == 0.0 and m["hit_rate_at_3"] == 1.0


def test_graded_relevance_uses_linear_gains():
    m = score_rankings({"q": ["b", "a", "z"]}, {"q": {"a": 2, "b": 1, "z": -1}}, k_values=(2,), decimals=None)
    assert m["ndcg_at_2"] == pytest.approx((1 + 2 / L3) / (2 + 1 / L3))
    assert m["map_at_2"] == pytest.approx((1 + 1) / 2)


def test_no_relevant_retrieved_and_averaging_rules():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    rankings = {"q1": ["a"], "q2": ["x", "y"], "q3": ["c"], "unjudged": ["a"]}
    m = score_rankings(rankings, qrels, k_values=(1, 10), decimals=None)
    # q1 perfect, q2 misses, q3 has no relevant document: all count, the unjudged query does not
    for name in ("ndcg_at_10", "recall_at_10", "mrr_at_10", "map_at_10", "hit_rate_at_1"):
        assert m[name] == pytest.approx(1 / 3), name
    assert m["precision_at_10"] == pytest.approx(0.1 / 3)


def test_ties_break_by_doc_id_descending_like_trec_eval():
    run = {"q": {"d1": 0.5, "d2": 0.5, "d0": 0.9}}
    assert rank_run(run) == {"q": ["d0", "d2", "d1"]}
    m = score_run(run, {"q": {"d1": 1}}, k_values=(2, 3))
    assert m["mrr_at_2"] == 0.0 and m["mrr_at_3"] == pytest.approx(1 / 3)


def test_mteb_rounding_spares_mrr():
    m = score_rankings({"q": ["x", "y", "a"]}, {"q": {"a": 1}}, k_values=(3,))
    assert m["ndcg_at_3"] == round(0.5, 5) and m["mrr_at_3"] == 1 / 3
    assert m["recall_at_3"] == 1.0
    m = score_rankings({"q": ["x", "a"]}, {"q": {"a": 1, "b": 1, "c": 1}}, k_values=(2,))
    assert m["ndcg_at_2"] == round((1 / L3) / (1 + 1 / L3), 5)


def test_per_query_vectors_pad_short_lists():
    out = per_query_scores(np.array([[0, 1]]), np.array([[1]]), np.array([1]), k_values=(5,))
    assert out["recall_at_5"].tolist() == [1.0] and out["precision_at_5"].tolist() == [0.2]


def test_sort_candidates_orders_ties_and_padding():
    doc_ids = ["b", "a", "c"]
    idx, _ = sort_candidates(np.array([[-1, 1, 0, 2]]), np.array([[9.0, 0.5, 0.5, 0.7]]), doc_order_keys(doc_ids))
    assert [doc_ids[i] for i in idx[0, :3]] == ["c", "b", "a"] and idx[0, 3] == -1


def _random_case(seed: int):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 6))}
        scored = rng.sample(docs, rng.randint(1, 30))
        run[qid] = {d: rng.randint(0, 8) / 8 for d in scored}  # coarse scores: many ties
    return docs, qrels, run


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_mteb_scoring_exactly(seed):
    """Random graded runs with many ties: identical to mteb's own scorer (pytrec_eval + its MRR)."""
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores

    docs, qrels, run = _random_case(seed)
    k_values = [1, 3, 5, 10, 20]
    ref = calculate_retrieval_scores(run, qrels, k_values)
    expected = {}
    for k in k_values:
        expected.update({
            f"ndcg_at_{k}": ref.ndcg[f"NDCG@{k}"], f"map_at_{k}": ref.map[f"MAP@{k}"],
            f"recall_at_{k}": ref.recall[f"Recall@{k}"], f"precision_at_{k}": ref.precision[f"P@{k}"],
            f"mrr_at_{k}": ref.mrr[f"MRR@{k}"], f"hit_rate_at_{k}": ref.hit_rate[f"HitRate@{k}"],
        })  # fmt: skip
    assert score_run(run, qrels, k_values) == pytest.approx(expected, abs=1e-12)

    # the array path (corpus indices, -1 padding, unsorted rows) gives the same numbers
    qids = list(run)
    width = max(len(v) for v in run.values())
    idx = -np.ones((len(qids), width), dtype=np.int64)
    val = np.zeros((len(qids), width))
    for i, q in enumerate(qids):
        for j, (d, s) in enumerate(reversed(list(run[q].items()))):
            idx[i, j], val[i, j] = docs.index(d), s
    assert score_topk(idx, val, qids, docs, qrels, k_values) == pytest.approx(expected, abs=1e-12)


def test_results_are_python_floats():
    m = score_rankings({"q": ["a"]}, {"q": {"a": 1}}, k_values=(1,))
    assert all(type(v) is float for v in m.values())
