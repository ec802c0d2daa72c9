import numpy as np
import pytest
import torch

from hf_nvr.evaluation import RetrievalEvaluator, exact_search


class ToyEncoder:
    """A model known only by the two encode methods: each text maps to a fixed vector."""

    def __init__(self, vectors: dict[str, list[float]], similarity_fn_name: str | None = None):
        self.vectors = vectors
        self.calls = {"query": 0, "document": 0}
        if similarity_fn_name:
            self.similarity_fn_name = similarity_fn_name

    def _encode(self, kind, texts, batch_size=32, convert_to_tensor=True, show_progress_bar=False):
        self.calls[kind] += 1
        return torch.tensor([self.vectors[t] for t in texts], dtype=torch.float32)

    def encode_query(self, texts, **kwargs):
        return self._encode("query", texts, **kwargs)

    def encode_document(self, texts, **kwargs):
        return self._encode("document", texts, **kwargs)


CORPUS = {"d1": {"title": "T1", "text": "one"}, "d2": "two", "d3": {"title": "", "text": "three"}}
QUERIES = {"q1": "first", "q2": "second", "q3": "unjudged"}
QRELS = {"q1": {"d2": 1}, "q2": {"d3": 1, "d1": 1}}
VECTORS = {
    "T1 one": [1.0, 0.0], "two": [0.0, 1.0], "three": [10.0, 10.0],
    "first": [0.1, 1.0], "second": [1.0, 0.05], "unjudged": [1.0, 1.0],
}  # fmt: skip


def test_encodes_documents_with_titles_and_scores_by_hand():
    ev = RetrievalEvaluator(QUERIES, CORPUS, QRELS, k_values=(1, 2, 3))
    assert ev.query_ids == ["q1", "q2"] and ev.corpus_texts == ["T1 one", "two", "three"]
    m = ev(ToyEncoder(VECTORS))
    # cosine: q1 -> d2, d3, d1 (hit at 1); q2 -> d1, d3, d2 (hits at 1 and 2)
    assert m["ndcg_at_1"] == 1.0 and m["recall_at_1"] == pytest.approx(0.75)
    assert m["mrr_at_3"] == 1.0 and m["map_at_3"] == 1.0
    assert set(m) == {f"{n}_at_{k}" for n in ("ndcg", "map", "recall", "precision", "mrr", "hit_rate") for k in (1, 2, 3)}
    assert all(type(v) is float for v in m.values())


def test_uses_the_models_similarity_function():
    ev = RetrievalEvaluator(QUERIES, CORPUS, QRELS, k_values=(1,))
    # dot: the long vector d3 wins for both queries
    m = ev(ToyEncoder(VECTORS, similarity_fn_name="dot"))
    assert m["mrr_at_1"] == pytest.approx(0.5)
    assert ev(ToyEncoder(VECTORS))["mrr_at_1"] == 1.0


def test_precomputed_corpus_embeddings_skip_document_encoding():
    model = ToyEncoder(VECTORS)
    docs = torch.tensor([VECTORS[t] for t in ["T1 one", "two", "three"]])
    ev = RetrievalEvaluator(QUERIES, CORPUS, QRELS, corpus_embeddings=docs.numpy(), name="toy")
    m = ev(model)
    assert model.calls == {"query": 1, "document": 0}
    assert ev.primary_metric == "toy_ndcg_at_10" and m["toy_ndcg_at_10"] == 1.0
    queries = torch.tensor([VECTORS["first"], VECTORS["second"]])
    assert ev.evaluate_embeddings(queries) == {k.removeprefix("toy_"): v for k, v in m.items()}
    with pytest.raises(ValueError, match="corpus_ids order"):
        ev.corpus_embeddings = docs[:2]


def test_ignore_identical_ids():
    corpus = {"a": "A", "b": "B"}
    vectors = {"A": [1.0, 0.0], "B": [0.8, 0.6]}
    ev = RetrievalEvaluator({"a": "A"}, corpus, {"a": {"b": 1}}, k_values=(1,), ignore_identical_ids=True)
    assert ev(ToyEncoder(vectors))["mrr_at_1"] == 1.0
    ev = RetrievalEvaluator({"a": "A"}, corpus, {"a": {"b": 1}}, k_values=(1,))
    assert ev(ToyEncoder(vectors))["mrr_at_1"] == 0.0


@pytest.mark.parametrize("sim", ["cosine", "dot", "euclidean", "manhattan"])
def test_tiled_search_equals_full_sort(sim):
    gen = torch.Generator().manual_seed(0)
    q, d = torch.randn(37, 8, generator=gen), torch.randn(101, 8, generator=gen)
    idx, val = exact_search(q, d, 12, sim, query_chunk_size=5, corpus_chunk_size=7)
    if sim == "cosine":
        full = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(d, dim=-1).T
    elif sim == "dot":
        full = q @ d.T
    else:
        full = -torch.cdist(q, d, p=2.0 if sim == "euclidean" else 1.0)
    ref_val, ref_idx = full.topk(12, dim=1)
    assert torch.equal(idx, ref_idx) and torch.allclose(val, ref_val, atol=1e-6)


def test_search_pads_when_everything_is_excluded():
    idx, val = exact_search(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), 5, exclude=[0, -1])
    assert idx.shape == (2, 2) and idx[0].tolist() == [1, -1] and torch.isneginf(val[0, 1])


def test_rejects_unjudged_data():
    with pytest.raises(ValueError, match="no query"):
        RetrievalEvaluator({"q": "x"}, {"d": "y"}, {})


def test_from_beir_with_a_sentence_transformer(tiny_st_dir, scifact_slice_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_st_dir, device="cpu")
    ev = RetrievalEvaluator.from_beir(scifact_slice_dir, batch_size=64)
    assert ev.name == scifact_slice_dir.name and len(ev.query_ids) == 300
    corpus = ev.encode_corpus(model)
    by_embeddings = ev.evaluate_embeddings(ev.encode_queries(model), corpus)
    ev.corpus_embeddings = corpus  # reuse: the call below encodes only the queries
    model.train()  # as inside a training loop: evaluated without dropout, then left in training mode
    m = ev(model, epoch=1, steps=10)
    assert model.training
    assert ev.primary_metric == f"{ev.name}_ndcg_at_10" and 0.0 <= m[ev.primary_metric] <= 1.0
    assert m == {f"{ev.name}_{k}": v for k, v in by_embeddings.items()}
    assert model.model_card_data.eval_results_dict[ev] == m
