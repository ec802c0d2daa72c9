import numpy as np
import pytest
import torch

from hf_nvr.mining.search import FaissIndex, default_pq_m, exact_rerank, recall_at_k, tiled_topk


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


def test_tiled_topk_returns_cpu_tensors_for_any_device():
    rng = np.random.default_rng(3)
    corpus = rng.normal(size=(200, 8)).astype(np.float32)
    queries = torch.from_numpy(rng.normal(size=(5, 8)).astype(np.float32))
    scores, rows = tiled_topk(queries, _shards(corpus, 64), 7, device=torch.device("cpu"))
    assert scores.device.type == rows.device.type == "cpu"
    assert torch.equal(rows, (queries @ torch.from_numpy(corpus).T).topk(7, dim=1).indices)


def test_default_pq_m_divides_dim_at_about_eight_dims_each():
    assert default_pq_m(384) == 48
    assert default_pq_m(768) == 96
    assert 1024 % default_pq_m(1024) == 0 and default_pq_m(1024) == 128
    assert default_pq_m(30) == 3 and default_pq_m(7) == 1


def test_faiss_ivfpq_finds_clustered_neighbours_in_a_fraction_of_the_memory():
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(40, 32)).astype(np.float32)
    corpus = centres[rng.integers(0, 40, 12000)] + 0.3 * rng.normal(size=(12000, 32)).astype(np.float32)
    queries = torch.from_numpy(centres[:20] + 0.3 * rng.normal(size=(20, 32)).astype(np.float32))
    index = FaissIndex(_shards(corpus, 4096), 32, num_rows=12000, ivf_nlist=40, ivf_nprobe=40, pq_m=8)
    assert index.kind == "faiss-ivfpq-cpu" and index.approximate_scores
    assert index.index.code_size == 8  # 8 bytes a vector instead of 128
    _, rows = index.search(queries, 10)
    ref = (queries @ torch.from_numpy(corpus).T).topk(10, dim=1).indices
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows.tolist(), ref.tolist())])
    assert recall > 0.3  # approximate: the miner re-scores exactly and reports the measured recall


def test_faiss_ivfpq_refuses_sub_vectors_that_do_not_divide_dim():
    corpus = np.zeros((300, 10), dtype=np.float32)
    with pytest.raises(ValueError, match=r"pq_m dividing dim=10.*try 1"):
        FaissIndex(_shards(corpus, 100), 10, num_rows=300, ivf_nlist=4, pq_m=4)


def test_exact_rerank_rescores_and_keeps_the_best_k():
    rng = np.random.default_rng(5)
    corpus = rng.normal(size=(300, 8)).astype(np.float32)
    queries = torch.from_numpy(rng.normal(size=(9, 8)).astype(np.float32))
    exact = (queries @ torch.from_numpy(corpus).T).topk(5, dim=1)
    worst = (queries @ torch.from_numpy(corpus).T).topk(10, dim=1, largest=False).indices
    candidates = torch.cat([exact.indices.flip(1), worst, torch.full((9, 2), -1)], dim=1)
    scores, rows = exact_rerank(queries, candidates, lambda r: corpus[r], 5, query_tile=4)
    assert torch.equal(rows, exact.indices) and torch.allclose(scores, exact.values, atol=1e-5)
    few = torch.tensor([[3, -1, -1]])
    s, r = exact_rerank(queries[:1], few, lambda x: corpus[x], 3)
    assert r.tolist() == [[3, -1, -1]] and s[0, 1] == float("-inf")


@pytest.mark.parametrize("ivf_nlist", [None, 8])
@pytest.mark.parametrize(("gpus", "shard", "kind", "call"), [
    ((0, 1), False, "gpu", "replicate"),
    ((0, 1), True, "gpu-sharded", "shard"),
    ((1,), True, "gpu", "one"),
])
def test_faiss_index_on_gpus_finds_what_the_cpu_index_finds(stand_in_gpus, ivf_nlist, gpus, shard, kind, call):
    rng = np.random.default_rng(5)
    corpus = rng.normal(size=(900, 8)).astype(np.float32)
    queries = torch.from_numpy(rng.normal(size=(30, 8)).astype(np.float32))
    cpu = FaissIndex(_shards(corpus, 256), 8, num_rows=900, ivf_nlist=ivf_nlist, ivf_nprobe=8)
    placed = FaissIndex(_shards(corpus, 256), 8, num_rows=900, ivf_nlist=ivf_nlist, ivf_nprobe=8, gpus=gpus, shard=shard)
    filled_first = call == "shard" and not ivf_nlist  # a sharded flat index takes one add: placed once filled
    assert stand_in_gpus == [(call, gpus[0] if call == "one" else gpus, 900 if filled_first else 0, False)]
    assert placed.kind == f"faiss-{'ivf' if ivf_nlist else 'flat'}-{kind}" and placed.index.ntotal == 900
    expected, got = cpu.search(queries, 10), placed.search(queries, 10)
    assert torch.equal(got[1], expected[1]) and torch.allclose(got[0], expected[0])


def test_default_pq_m_on_gpus_is_one_faiss_gpu_implements():
    assert default_pq_m(384, gpu=True) == 48 and default_pq_m(768, gpu=True) == 96
    assert default_pq_m(1024, gpu=True) == 64 and default_pq_m(4096, gpu=True) == 64
    assert default_pq_m(30, gpu=True) == 3


def test_faiss_gpu_limits_fail_before_training_with_the_fix(stand_in_gpus):
    corpus = np.random.default_rng(6).normal(size=(300, 128)).astype(np.float32)
    with pytest.raises(ValueError, match=r"implements pq_m in .*not 128; try 16 for dim=128"):
        FaissIndex(_shards(corpus, 100), 128, num_rows=300, ivf_nlist=2, pq_m=128, gpus=(0,))
    with pytest.raises(ValueError, match="at most 2048 IVF lists; ivf_nprobe=4096"):
        FaissIndex(_shards(corpus, 100), 128, num_rows=300, ivf_nlist=2, ivf_nprobe=4096, gpus=(0,))
    with pytest.raises(ValueError, match=r"trained on >= 256 passages \(the corpus has 200\)"):
        FaissIndex(_shards(corpus[:200], 100), 128, num_rows=200, ivf_nlist=2, pq_m=16, gpus=(0,))
    assert stand_in_gpus == []
    flat = FaissIndex(_shards(corpus, 100), 128, num_rows=300, gpus=(0,))
    with pytest.raises(ValueError, match="at most 2048 neighbours a query, 3000 were asked for"):
        flat.search(torch.from_numpy(corpus[:2]), 3000)


def test_faiss_gpu_ivfpq_past_48_sub_quantisers_uses_float16_lookup_tables(stand_in_gpus):
    corpus = np.random.default_rng(7).normal(size=(300, 96)).astype(np.float32)
    FaissIndex(_shards(corpus, 100), 96, num_rows=300, ivf_nlist=2, pq_m=48, gpus=(0,))
    FaissIndex(_shards(corpus, 100), 96, num_rows=300, ivf_nlist=2, pq_m=96, gpus=(0, 1))
    assert [call[-1] for call in stand_in_gpus] == [False, True]


def test_recall_at_k_counts_shared_rows_per_query_and_ignores_padding():
    exact = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    found = torch.tensor([[4, 3, 9, -1], [5, 6, 7, 8]])
    assert recall_at_k(found, exact).tolist() == [0.5, 1.0]
    assert recall_at_k(np.array([[0, -1], [-1, -1], [-1, -1]]), np.array([[0, -1], [-1, 0], [-1, -1]])).tolist() == [1.0, 0.0, 1.0]
