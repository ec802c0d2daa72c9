import pickle

import pytest
from datasets import Dataset, DatasetDict, IterableDataset, load_from_disk
from sentence_transformers import SentenceTransformer

from hf_nvr import HardNegativeMiner, MiningConfig
from hf_nvr.mining.store import EmbeddingStore

TOPICS = ["protein", "cell", "gene", "virus", "brain", "heart", "lung", "liver", "bone", "skin"]
CORPUS = [
    {"_id": f"d{i}", "title": f"Study {i}", "text": f"The {TOPICS[i % 10]} {TOPICS[(i * 3) % 10]} result number {i} in trial {i % 7}."}
    for i in range(120)
]


def _rows(n=12):
    return [
        {
            "qid": i,
            "query": f"what about {TOPICS[i % 10]} {TOPICS[(i * 3) % 10]} number {i}",
            "positive": [f"Study {i} {CORPUS[i]['text']}"],
            "positive_ids": [f"d{i}"],
        }
        for i in range(n)
    ]


@pytest.fixture()
def corpus():
    return Dataset.from_list(CORPUS)


@pytest.fixture()
def config(tmp_path):
    return MiningConfig(num_negatives=3, range_max=20, cache_dir=str(tmp_path / "emb"), method="naive_topk")


def test_map_adds_columns_and_keeps_everything(tiny_st_dir, corpus, config):
    ds = Dataset.from_list(_rows())
    out = ds.map(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False), batched=True, batch_size=5)
    assert out.column_names == [*ds.column_names, "negatives", "negative_ids", "negative_scores", "positive_scores",
                                "short_reason"]
    assert set(out["short_reason"]) == {""}
    assert out["qid"] == ds["qid"] and out["query"] == ds["query"]
    for row in out:
        assert len(row["negatives"]) == len(row["negative_ids"]) == len(row["negative_scores"]) == 3
        assert row["negative_scores"] == sorted(row["negative_scores"], reverse=True)
        assert row["positive_ids"][0] not in row["negative_ids"]
        assert len(row["positive_scores"]) == 1


def test_batched_unbatched_iterable_and_dict_agree(tiny_st_dir, corpus, config):
    miner = HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False)
    ds = Dataset.from_list(_rows())
    batched = ds.map(miner, batched=True, batch_size=4)["negative_ids"]
    single = ds.map(miner, batched=False)["negative_ids"]
    iterable = [r["negative_ids"] for r in IterableDataset.from_generator(lambda: iter(_rows())).map(miner, batched=True, batch_size=3)]
    split = DatasetDict(train=ds, dev=ds.select(range(3))).map(miner, batched=True)
    assert batched == single == iterable
    assert split["dev"]["negative_ids"] == batched[:3]


def test_duplicate_positive_text_under_other_id_and_query_text_excluded(tiny_st_dir, config):
    rows = _rows(3)
    corpus = [*CORPUS, {"_id": "dup", "title": "Study 0", "text": CORPUS[0]["text"].upper() + "  "},
              {"_id": "q", "title": "", "text": rows[1]["query"]}]
    miner = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "range_max": 125, "num_negatives": 125}),
                              show_progress=False)
    out = Dataset.from_list(rows).map(miner, batched=True)
    assert "dup" not in out[0]["negative_ids"] and "d0" not in out[0]["negative_ids"]
    assert "q" not in out[1]["negative_ids"]
    assert miner.report.dropped["positive_text"] >= 1 and miner.report.dropped["query_text"] >= 1


def test_positives_without_ids_are_excluded_by_text(tiny_st_dir, corpus, config):
    rows = [{"query": r["query"], "positive": r["positive"][0]} for r in _rows(4)]
    out = Dataset.from_list(rows).map(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False), batched=True)
    for i, row in enumerate(out):
        assert f"d{i}" not in row["negative_ids"]


def test_percpos_keeps_only_below_threshold_and_reports_short_rows(tiny_st_dir, corpus, tmp_path):
    cfg = MiningConfig(method="topk_percpos", perc=0.9, num_negatives=5, range_max=30, cache_dir=str(tmp_path))
    miner = HardNegativeMiner(tiny_st_dir, corpus, cfg, show_progress=False)
    out = Dataset.from_list(_rows()).map(miner, batched=True)
    for row in out:
        pos = row["positive_scores"][0]
        assert all(s < pos - abs(pos) * 0.1 + 1e-6 for s in row["negative_scores"])
    short = sum(len(r["negatives"]) < 5 for r in out)
    assert miner.report.num_rows_short == short > 0
    for row in out:
        assert bool(row["short_reason"]) == (len(row["negatives"]) < 5)
        if row["short_reason"]:
            assert row["short_reason"].startswith("method_filter: topk_percpos kept ")
            assert "relax perc=0.9" in row["short_reason"]
    assert miner.report.short_reasons == {"method_filter": short}
    assert "method_filter: " in miner.report.summary()
    assert miner.report.num_queries == 12
    png = miner.report.plot_histogram(tmp_path / "hist.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_second_miner_reuses_the_store(tiny_st_dir, corpus, config, monkeypatch):
    from hf_nvr.mining.teacher import Teacher

    HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False).encode_corpus()
    encoded = []
    original = Teacher.encode
    monkeypatch.setattr(Teacher, "encode", lambda self, texts, *a, **k: encoded.append(len(texts)) or original(self, texts, *a, **k))
    other = MiningConfig(**{**config.to_dict(), "method": "topk_marginpos"})
    Dataset.from_list(_rows(3)).map(HardNegativeMiner(tiny_st_dir, corpus, other, show_progress=False), batched=True)
    assert encoded == [3]  # the three queries; the corpus and the in-corpus positives come from the store


def test_pickle_is_small_stable_and_a_datasets_cache_hit(tiny_st_dir, corpus, config, tmp_path):
    miner = HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False)
    blob = pickle.dumps(miner)
    assert len(blob) < 5000
    assert pickle.dumps(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False)) == blob
    Dataset.from_list(_rows()).save_to_disk(tmp_path / "ds")
    ds = load_from_disk(tmp_path / "ds")
    first = ds.map(miner, batched=True)
    again = ds.map(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False), batched=True)
    changed = ds.map(HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "num_negatives": 2}),
                                       show_progress=False), batched=True)
    assert first.cache_files == again.cache_files
    assert changed.cache_files != first.cache_files


def test_sampling_is_seeded_and_independent_of_batching(tiny_st_dir, corpus, tmp_path):
    cfg = MiningConfig(method="naive_topk", num_negatives=3, sample_from_top=10, sample_temperature=0.05, seed=7,
                       cache_dir=str(tmp_path))
    ds = Dataset.from_list(_rows())
    a = ds.map(HardNegativeMiner(tiny_st_dir, corpus, cfg, show_progress=False), batched=True, batch_size=2)
    b = ds.map(HardNegativeMiner(tiny_st_dir, corpus, cfg, show_progress=False), batched=True, batch_size=12)
    c = ds.map(HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**cfg.to_dict(), "seed": 8}), show_progress=False),
               batched=True)
    assert a["negative_ids"] == b["negative_ids"]
    assert a["negative_ids"] != c["negative_ids"]


def test_faiss_backend_matches_torch(tiny_st_dir, corpus, config):
    ds = Dataset.from_list(_rows())
    torch_out = ds.map(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False), batched=True)
    miner = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "faiss"}),
                              show_progress=False)
    faiss_out = ds.map(miner, batched=True)
    assert faiss_out["negative_ids"] == torch_out["negative_ids"]
    assert miner.report.backend == "faiss-flat-cpu"


def test_faiss_gpu_placement_follows_the_config(tiny_st_dir, corpus, config, stand_in_gpus):
    ds = Dataset.from_list(_rows())
    exact = ds.map(HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "torch"}),
                                     show_progress=False), batched=True)
    sharded = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "faiss",
                                                                     "faiss_shard": True}), show_progress=False)
    assert ds.map(sharded, batched=True)["negative_ids"] == exact["negative_ids"]
    assert sharded.report.backend == "faiss-flat-gpu-sharded" and stand_in_gpus == [("shard", (0, 1), len(CORPUS), False)]
    on_cpu = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "faiss", "device": "cpu"}),
                               show_progress=False)
    assert ds.map(on_cpu, batched=True)["negative_ids"] == exact["negative_ids"]
    assert on_cpu.report.backend == "faiss-flat-cpu" and len(stand_in_gpus) == 1
    auto_on_cpu = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "device": "cpu"}),
                                    show_progress=False)
    ds.map(auto_on_cpu, batched=True)
    assert auto_on_cpu.report.backend == "torch-exact" and len(stand_in_gpus) == 1
    with pytest.raises(ValueError, match="faiss_shard needs a faiss backend"):
        MiningConfig(backend="auto", faiss_shard=True)


def test_faiss_shard_under_a_launcher_fails_before_any_encoding(tiny_st_dir, corpus, config, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"single process; mine with one process \(--num-processes 1\)"):
        HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "faiss", "faiss_shard": True}))


def test_ivf_backend_reports_its_recall(tiny_st_dir, corpus, config):
    miner = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "faiss-ivf", "ivf_nlist": 4,
                                                                   "ivf_nprobe": 4}), show_progress=False)
    Dataset.from_list(_rows()).map(miner, batched=True)
    assert miner.report.backend == "faiss-ivf-cpu"
    assert miner.report.search_recall == 1.0  # nprobe = nlist visits every list: exact


def test_ivfpq_backend_rescores_candidates_exactly(tiny_st_dir, corpus, config):
    ds = Dataset.from_list(_rows())
    exact = ds.map(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False), batched=True)
    miner = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "backend": "faiss-ivfpq", "ivf_nlist": 2,
                                                                   "ivf_nprobe": 2, "pq_m": 4}), show_progress=False)
    approx = ds.map(miner, batched=True)
    assert miner.report.backend == "faiss-ivfpq-cpu"
    assert 0.0 < miner.report.search_recall <= 1.0
    assert f"faiss-ivfpq-cpu recall@k vs exact search {miner.report.search_recall:.3f}" in miner.report.summary()
    compared = 0
    for row_a, row_e in zip(approx, exact):
        assert row_a["negative_scores"] == sorted(row_a["negative_scores"], reverse=True)
        assert row_a["positive_scores"] == pytest.approx(row_e["positive_scores"], abs=1e-5)
        by_id = dict(zip(row_e["negative_ids"], row_e["negative_scores"]))
        compared += len(set(by_id) & set(row_a["negative_ids"]))
        for nid, score in zip(row_a["negative_ids"], row_a["negative_scores"]):
            if nid in by_id:  # same passage, same (exact, store-read) teacher score as the exact backend
                assert score == pytest.approx(by_id[nid], abs=1e-4)
    assert compared > 0


def test_rows_short_of_negatives_say_why(tiny_st_dir, tmp_path):
    tiny_corpus = [{"_id": "a", "text": "alpha passage"}, {"_id": "b", "text": "beta passage"}]
    cfg = MiningConfig(method="naive_topk", num_negatives=3, range_max=5, cache_dir=str(tmp_path))
    rows = [{"query": "alpha?", "positive": "alpha passage", "positive_id": "a"},
            {"query": "both?", "positive": ["alpha passage", "beta passage"], "positive_id": ["a", "b"]}]
    rows = [{**r, "positive": [r["positive"]] if isinstance(r["positive"], str) else r["positive"],
             "positive_id": [r["positive_id"]] if isinstance(r["positive_id"], str) else r["positive_id"]} for r in rows]
    miner = HardNegativeMiner(tiny_st_dir, tiny_corpus, cfg, show_progress=False)
    out = miner.mine(Dataset.from_list(rows))
    assert out[0]["negative_ids"] == ["b"]
    assert out[0]["short_reason"].startswith("few_candidates: only 1 candidates")
    assert out[1]["negatives"] == []
    assert out[1]["short_reason"].startswith("no_candidates:")
    assert miner.report.short_reasons == {"few_candidates": 1, "no_candidates": 1}


def test_device_config_reaches_the_teacher(tiny_st_dir, corpus, config):
    miner = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(**{**config.to_dict(), "device": "cpu"}),
                              show_progress=False)
    assert str(miner.teachers[0].model.device) == "cpu"
    rebuilt = pickle.loads(pickle.dumps(miner))
    assert rebuilt.teachers[0]._device == "cpu"


def test_teacher_ensembles(tiny_st_dir, corpus, config):
    import torch

    second = SentenceTransformer(tiny_st_dir, device="cpu")
    with torch.no_grad():
        for p in second.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    ds = Dataset.from_list(_rows())
    per_teacher = [
        ds.map(HardNegativeMiner(t, corpus, config, show_progress=False), batched=True)["negative_ids"]
        for t in (tiny_st_dir, second)
    ]
    for mode in ("cross_sample", "intra_sample", "intra_sample_dedup"):
        cfg = MiningConfig(**{**config.to_dict(), "ensemble": mode})
        out = ds.map(HardNegativeMiner(teachers=[tiny_st_dir, second], corpus=corpus, config=cfg, show_progress=False),
                     batched=True)["negative_ids"]
        for i, row in enumerate(out):
            if mode == "cross_sample":
                assert row in (per_teacher[0][i], per_teacher[1][i])
            else:
                assert row[0] == per_teacher[0][i][0] and row[1] == per_teacher[1][i][0]
                assert set(row) <= set(per_teacher[0][i]) | set(per_teacher[1][i])
            if mode == "intra_sample_dedup":
                assert len(set(row)) == len(row)


def test_cross_encoder_rescoring(tiny_st_dir, tiny_bert_dir, corpus, config):
    from sentence_transformers import CrossEncoder

    reranker = CrossEncoder(tiny_bert_dir, num_labels=1, device="cpu")
    ds = Dataset.from_list(_rows(4))
    plain = ds.map(HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False), batched=True)
    reranked = ds.map(HardNegativeMiner(tiny_st_dir, corpus, config, reranker=reranker, show_progress=False), batched=True)
    for a, b in zip(plain, reranked):
        assert b["negative_scores"] == sorted(b["negative_scores"], reverse=True)
        assert a["positive_scores"] != b["positive_scores"]


def test_mine_records_report_in_dataset_info(tiny_st_dir, corpus, config):
    miner = HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False)
    out = miner.mine(Dataset.from_list(_rows()))
    assert '"num_queries": 12' in out.info.description


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([{"question": "q", "positive": "p"}], "column 'query' is missing"),
        ([{"query": "q", "positive": 5}], "row 0: column 'positive' must be a string or a non-empty list"),
        ([{"query": "ok", "positive": "p"}, {"query": "", "positive": "p"}], "row 1: column 'query' is empty"),
        ([{"query": "q", "positive": ["p", ""]}], "row 0: column 'positive' holds an empty"),
        ([{"query": "q", "positive": ["a", "b"], "positive_ids": ["1"]}], "1 ids in 'positive_ids' but 2 texts"),
    ],
)
def test_bad_rows_fail_before_encoding(tiny_st_dir, corpus, config, rows, match, monkeypatch):
    monkeypatch.setattr(EmbeddingStore, "build", lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded")))
    with pytest.raises((ValueError, KeyError), match=match):
        HardNegativeMiner(tiny_st_dir, corpus, config, show_progress=False).mine(Dataset.from_list(rows))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_negatives": 0}, "num_negatives must be > 0"),
        ({"perc": 1.5}, r"perc must be in \(0, 1\]"),
        ({"perc": 0.0}, r"perc must be in \(0, 1\]"),
        ({"method": "top_k"}, "unknown; choose one of naive_topk"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MiningConfig(**kwargs)


def test_bad_corpus(tiny_st_dir):
    with pytest.raises(ValueError, match="corpus is empty"):
        HardNegativeMiner(tiny_st_dir, [])
    with pytest.raises(ValueError, match=r"corpus row 1 \(id '1'\) has an empty or missing text"):
        HardNegativeMiner(tiny_st_dir, ["fine", None])
