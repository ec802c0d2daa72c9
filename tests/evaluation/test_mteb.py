import json
import sys

import numpy as np
import pytest

from hf_nvr.evaluation import KNOWN_DATASETS, TaskResult, evaluate_retrieval, matches_official
from hf_nvr.evaluation.mteb_eval import beir_file_hashes, build_mteb_task

SCIFACT = KNOWN_DATASETS["SciFact"]


def _check_result(result: TaskResult) -> None:
    assert type(result.main_score) is float and 0.0 <= result.main_score <= 1.0
    assert result.metrics and all(type(v) is float for v in result.metrics.values())
    assert result.main_score == result.metrics[result.main_score_name] and result.main_score_name == "ndcg_at_10"
    assert result.split == "test" and result.subset == "default"


@pytest.fixture(scope="module")
def mteb_slice_run(tiny_st_dir, scifact_slice_dir, tmp_path_factory):
    """The tiny model on the SciFact slice through mteb (a custom local task), results kept on disk."""
    out = tmp_path_factory.mktemp("mteb_out")
    (result,) = evaluate_retrieval(tiny_st_dir, tasks=["SciFact"], data_dir=scifact_slice_dir, output_dir=out)
    return result, out


def test_custom_local_task_through_mteb(mteb_slice_run, scifact_slice_dir, tiny_st_dir):
    result, out = mteb_slice_run
    _check_result(result)
    assert result.task_name == "SciFactLocal" and not result.is_official
    assert result.dataset_id == f"local/{scifact_slice_dir.name}" and result.dataset_revision.startswith("sha256:")
    assert result.evaluator.startswith("mteb 2.")
    assert "nauc_ndcg_at_10_max" not in result.metrics and "ndcg_at_1000" in result.metrics
    (saved,) = out.rglob("SciFactLocal.json")
    assert saved.parent.parent.name == f"local__{tiny_st_dir.rsplit('/', 1)[-1]}"  # not no_model_name
    assert json.loads(saved.read_text())["scores"]["test"][0]["ndcg_at_10"] == pytest.approx(result.main_score)


def test_builtin_evaluator_matches_mteb(mteb_slice_run, tiny_st_dir, scifact_slice_dir, tmp_path):
    mteb_result, _ = mteb_slice_run
    (result,) = evaluate_retrieval(
        tiny_st_dir, tasks="SciFact", data_dir=scifact_slice_dir, use_mteb=False, output_dir=tmp_path
    )
    _check_result(result)
    assert (result.task_name, result.is_official, result.evaluator) == ("SciFactLocal", False, "hf_nvr")
    assert (result.dataset_id, result.dataset_revision) == (mteb_result.dataset_id, mteb_result.dataset_revision)
    assert set(result.metrics) == set(mteb_result.metrics)
    for name, value in mteb_result.metrics.items():
        assert result.metrics[name] == pytest.approx(value, abs=1e-4), name
    assert TaskResult.from_dict(json.loads((tmp_path / "SciFactLocal.json").read_text())) == result


def test_any_encoder_object_through_mteb(mteb_slice_run, tiny_st_dir, scifact_slice_dir):
    """A model known only by encode_query/encode_document (like hf_nvr's BiEncoder) runs through mteb too."""
    from sentence_transformers import SentenceTransformer

    class Encoder:
        def __init__(self, inner):
            self.inner = inner

        def encode_query(self, texts, **kwargs):
            return self.inner.encode_query(texts, **kwargs)

        def encode_document(self, texts, **kwargs):
            return self.inner.encode_document(texts, **kwargs)

    model = Encoder(SentenceTransformer(tiny_st_dir, device="cpu"))
    (result,) = evaluate_retrieval(model, data_dir=scifact_slice_dir, model_name="test/encoder")
    assert result.task_name == "SciFactLocal" and result.evaluator.startswith("mteb")
    assert result.metrics == pytest.approx(mteb_slice_run[0].metrics, abs=1e-4)


def test_official_identification(scifact_dir, scifact_test, scifact_slice_dir, tmp_path, write_beir):
    import mteb

    official = mteb.get_task("SciFact")
    # 1. the verified files, with or without mteb
    assert matches_official("SciFact", "test", beir_file_hashes(scifact_dir, "test"), scifact_test) == (
        True,
        "file sha256s match the verified copy",
    )
    # 2. the same data written differently: hashes differ, mteb's statistics still match
    copy = write_beir(tmp_path / "copy", scifact_test.corpus, scifact_test.queries, scifact_test.qrels)
    hashes = beir_file_hashes(copy, "test")
    assert hashes != dict(SCIFACT.sha256)
    assert matches_official("SciFact", "test", hashes, scifact_test, official) == (
        True,
        "counts match mteb's descriptive statistics",
    )
    assert matches_official("SciFact", "test", hashes, scifact_test, None)[0] is False
    # 3. a slice, an edited query, another split: not the official dataset
    from hf_nvr.common.beir import load_beir

    sliced = load_beir(scifact_slice_dir)
    ok, why = matches_official("SciFact", "test", beir_file_hashes(scifact_slice_dir, "test"), sliced, official)
    assert not ok and "num_documents" in why
    edited = load_beir(copy)
    first = next(iter(edited.queries))
    edited.queries[first] += "!"
    assert not matches_official("SciFact", "test", hashes, edited, official)[0]
    train = load_beir(scifact_dir, "train")
    ok, why = matches_official("SciFact", "train", beir_file_hashes(scifact_dir, "train"), train, official)
    assert not ok and "official evaluation splits" in why


def test_task_naming(scifact_slice_dir):
    import mteb
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    from hf_nvr.common.beir import load_beir

    data = load_beir(scifact_slice_dir)
    official = mteb.get_task("SciFact")
    task = build_mteb_task(
        "SciFact", data, "test", official=True, dataset_id=SCIFACT.dataset_id, revision=SCIFACT.revision,
        official_task=official,
    )  # fmt: skip
    assert task.metadata.name == "SciFact" and task.metadata.dataset["revision"] == SCIFACT.revision
    assert task.data_loaded and len(task.dataset["default"]["test"]["corpus"]) == 983

    local = build_mteb_task(
        "SciFact", data, "test", official=False, dataset_id="local/x", revision="sha256:0", official_task=official
    )
    assert local.metadata.name == "SciFactLocal" and local.metadata.dataset == {"path": "local/x", "revision": "sha256:0"}
    assert isinstance(local, type(official)) and local.k_values == official.k_values
    assert official.metadata.name == "SciFact"  # the registered task is untouched

    other = build_mteb_task("MyData", data, "dev", official=False, dataset_id="local/y", revision="sha256:1")
    assert other.metadata.name == "MyDataLocal" and isinstance(other, AbsTaskRetrieval)
    assert other.metadata.eval_splits == ["dev"] and other.metadata.main_score == "ndcg_at_10"


def test_fallback_without_mteb_installed(monkeypatch, tmp_path, write_beir):
    import torch

    vectors = {"T a": [1.0, 0.0], "b": [0.0, 1.0], "find a": [0.9, 0.1]}

    class Encoder:
        def encode_query(self, texts, **kwargs):
            return torch.tensor([vectors[t] for t in texts])

        encode_document = encode_query

    monkeypatch.setitem(sys.modules, "mteb", None)  # `import mteb` now raises ImportError
    corpus = {"a": {"title": "T", "text": "a"}, "b": {"title": "", "text": "b"}}
    data_dir = write_beir(tmp_path / "toy", corpus, {"q": "find a"}, {"q": {"a": 1}})
    (result,) = evaluate_retrieval(Encoder(), tasks=["Toy"], data_dir=data_dir, use_mteb=True)
    assert (result.task_name, result.evaluator, result.is_official) == ("ToyLocal", "hf_nvr", False)
    assert result.main_score == 1.0 and result.dataset_id == "local/toy"


def test_task_result_round_trip_and_floats():
    r = TaskResult(
        task_name="SciFact", split="test", main_score=np.float64(0.5), metrics={"ndcg_at_10": np.float32(0.5)},
        dataset_id="mteb/scifact", dataset_revision=SCIFACT.revision, is_official=True, evaluator="hf_nvr",
    )  # fmt: skip
    assert type(r.main_score) is float and type(r.metrics["ndcg_at_10"]) is float
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d and d["subset"] == "default" and d["main_score_name"] == "ndcg_at_10"
    assert TaskResult.from_dict({**d, "unknown": 1}) == r


@pytest.mark.slow
def test_official_scifact_end_to_end(tiny_st_dir, scifact_dir):
    """The verified SciFact keeps mteb's official name and revision, with mteb and with the built-in evaluator."""
    (with_mteb,) = evaluate_retrieval(tiny_st_dir, data_dir=scifact_dir, batch_size=64)
    (builtin,) = evaluate_retrieval(tiny_st_dir, data_dir=scifact_dir, batch_size=64, use_mteb=False)
    for r in (with_mteb, builtin):
        _check_result(r)
        assert (r.task_name, r.is_official, r.dataset_id, r.dataset_revision) == (
            "SciFact",
            True,
            "mteb/scifact",
            SCIFACT.revision,
        )
    assert builtin.metrics == pytest.approx(with_mteb.metrics, abs=1e-4)
