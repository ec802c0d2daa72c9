import numpy as np
import torch

from hf_nvr.mining.search import FaissIndex, tiled_topk


def _shards(emb, size):
    return [(i, emb[i : i + size]) for i in range(0, len(emb), size)]


def test_tiled_topk_equals_brute_force():
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(1000, 16)).astype(np.float32)
    queries = torch.from_numpy(rng.normal(size=(37, 16)).astype(np.float32))
    scores, rows = tiled_topk(queries, _shards(corpus, 300), 10, query_tile=8, corpus_tile=64)
    full = queries @ torch.from_numpy(corpus).T
    ref = full.topk(10, dim=1)
    assert torch.equal(rows, ref.indices)
    assert torch.allclose(scores, ref.values, atol=1e-5)


def test_faiss_flat_equals_brute_force():
    rng = np.random.default_rng(1)
    corpus = rng.normal(size=(500, 8)).astype(np.float32)
    queries = torch.from_numpy(rng.normal(size=(20, 8)).astype(np.float32))
    index = FaissIndex(_shards(corpus, 128), 8, num_rows=500)
    _, rows = index.search(queries, 5)
    ref = (queries @ torch.from_numpy(corpus).T).topk(5, dim=1)
    assert torch.equal(rows, ref.indices)
    assert index.kind == "faiss-flat-cpu"


def test_faiss_ivf_recall_is_high_with_enough_probes():
    rng = np.random.default_rng(2)
    corpus = rng.normal(size=(2000, 8)).astype(np.float32)
    queries = torch.from_numpy(rng.normal(size=(50, 8)).astype(np.float32))
    index = FaissIndex(_shards(corpus, 512), 8, num_rows=2000, ivf_nlist=16, ivf_nprobe=16)
    _, rows = index.search(queries, 10)
    ref = (queries @ torch.from_numpy(corpus).T).topk(10, dim=1).indices
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), ref.tolist())])
    assert recall == 1.0
