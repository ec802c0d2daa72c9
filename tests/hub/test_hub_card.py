"""Model/dataset cards: YAML that reloads, MTEB naming, .eval_results, ModelMeta, provenance, no secrets."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from huggingface_hub import DatasetCard, ModelCard, parse_eval_result_entries

from hf_nvr.hub import (
    build_dataset_card,
    build_model_card,
    eval_results_yaml,
    model_meta_snippet,
    normalize_results,
    save_model_card,
)


def _front_matter(text: str) -> dict:
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL).group(1))


def test_card_yaml_round_trips_through_model_card_load(model_dir, make_result, make_report):
    path = save_model_card(
        model_dir,
        repo_id="ns/tiny-nvr",
        base_model="sentence-transformers/all-MiniLM-L6-v2",
        results=[make_result()],
        mining_report=make_report(),
        training_args={"learning_rate": 2e-5, "per_device_train_batch_size": 16, "num_train_epochs": 1},
        datasets=["mteb/scifact"],
        license="apache-2.0",
        language="en",
    )
    text = path.read_text()
    meta = _front_matter(text)
    assert meta["library_name"] == "sentence-transformers"
    assert meta["pipeline_tag"] == "sentence-similarity"
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "base_model_relation" not in meta
    assert meta["license"] == "apache-2.0" and meta["language"] == ["en"] and meta["datasets"] == ["mteb/scifact"]
    for tag in ("sentence-transformers", "mteb", "hard-negative-mining", "nv-retriever", "topk_percpos"):
        assert tag in meta["tags"]
    (entry,) = meta["model-index"][0]["results"]
    assert meta["model-index"][0]["name"] == "ns/tiny-nvr"
    assert entry["task"] == {"type": "Retrieval"}
    assert entry["dataset"] == {
        "name": "MTEB SciFact (default)", "type": "mteb/scifact", "config": "default", "split": "test",
        "revision": "d56462d0e63a25450459c4f213e49ffdb866f7f9",
    }
    metrics = {m["type"]: m["value"] for m in entry["metrics"]}
    assert metrics["ndcg_at_10"] == pytest.approx(64.51) and metrics["main_score"] == pytest.approx(64.51)
    assert metrics["recall_at_100"] == pytest.approx(92.5)
    assert all(type(v) is float for v in metrics.values())

    card = ModelCard.load(path)
    assert card.data.to_dict() == meta
    assert ModelCard(str(card)).data.to_dict() == meta
    results = card.data.eval_results
    assert {r.metric_type for r in results} >= {"ndcg_at_10", "recall_at_100", "mrr_at_10", "map_at_100"}
    assert all(r.dataset_name == "MTEB SciFact (default)" and r.task_type == "Retrieval" for r in results)


def test_card_body_has_usage_results_provenance_versions_and_citation(model_dir, make_result, make_report):
    text = str(build_model_card(
        model_dir, repo_id="ns/tiny-nvr", base_model="sentence-transformers/all-MiniLM-L6-v2",
        results=[make_result()], mining_report=make_report(), training_args={"learning_rate": 2e-5},
    ))
    assert 'SentenceTransformer("ns/tiny-nvr")' in text
    assert 'prompt_name="query"' in text and 'prompt_name="document"' in text
    assert "| SciFact | test | default | **64.51** | 92.50 | 61.23 | 60.01 | mteb 2.26.24 |" in text
    assert "sentence-transformers/all-MiniLM-L6-v2" in text and "c9745ed1d9f207416be6d2e6f8de32d1f16199bf" in text
    assert "`topk_percpos` (perc = 0.95)" in text
    for row in ("| positive_id | 919 |", "| positive_text | 7 |", "| query_text | 2 |", "| method_filter | 1234 |"):
        assert row in text
    assert "| positive | 0.4100 | 0.6200 | 0.8100 |" in text
    assert "![Teacher scores of positives and mined negatives](mining_histogram.png)" in text
    assert "/home/someone" not in text
    assert "| `learning_rate` | 2e-05 |" in text
    for dist in ("torch", "transformers", "sentence-transformers", "datasets", "hf_nvr"):
        assert f"- {dist}: " in text
    assert "NV-Retriever: Improving text embedding models with effective hard-negative mining" in text
    assert "Moreira" in text and "Oldridge" in text and "2407.15831" in text


def test_histogram_left_out_when_file_missing_and_prompts_fall_back_to_literals(model_dir, make_report):
    (model_dir / "mining_histogram.png").unlink()
    cfg_path = model_dir / "config_sentence_transformers.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["prompts"] = {}
    cfg_path.write_text(json.dumps(cfg))
    text = str(build_model_card(model_dir, repo_id="ns/x", mining_report=make_report(), prompts={"query": "query: "}))
    assert "mining_histogram.png" not in text
    assert "model.encode(queries, prompt='query: ')" in text
    assert "model.encode(documents)" in text
    assert "mteb" not in _front_matter(text)["tags"]


def test_training_args_never_publish_secrets(model_dir, token):
    text = str(build_model_card(
        model_dir, repo_id="ns/x", training_args={"hub_token": token, "push_to_hub_token": token, "api_key": "k1",
                                                  "learning_rate": 1e-5},
    ))
    assert token not in text and "hub_token" not in text and "k1" not in text
    assert "learning_rate" in text


def test_adapter_card_declares_base_model_relation(model_dir):
    (model_dir / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "base_model_name_or_path": "sentence-transformers/all-MiniLM-L6-v2", "r": 8,
    }))
    meta = _front_matter(str(build_model_card(model_dir, repo_id="ns/lora")))
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["base_model_relation"] == "adapter"
    assert {"peft", "lora"} <= set(meta["tags"])
    explicit = _front_matter(str(build_model_card(model_dir, repo_id="ns/lora", base_model="org/base", is_adapter=True)))
    assert explicit["base_model"] == "org/base" and explicit["base_model_relation"] == "adapter"


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"task_name": None}, "has no task_name"),
        ({"dataset_id": ""}, "has no dataset_id"),
        ({"task_name": "", "dataset_id": None}, "task_name and dataset_id"),
        ({"main_score": 64.51}, r"outside \[-1, 1\]"),
        ({"main_score": float("nan")}, "must be finite"),
    ],
)
def test_unnameable_or_malformed_results_raise(make_result, override, match):
    with pytest.raises(ValueError, match=match):
        normalize_results([make_result(**override)])


def test_duplicate_results_raise_and_to_dict_objects_are_accepted(make_result):
    class Result:
        def to_dict(self):
            return make_result()

    assert normalize_results([Result()])[0]["main_score"] == pytest.approx(0.6451)
    with pytest.raises(ValueError, match="duplicate"):
        normalize_results([make_result(), Result()])


def test_eval_results_files_follow_mteb_2_format(model_dir, make_result):
    results = [
        make_result(),
        make_result(0.5, split="dev"),
        make_result(0.3, task_name="MyCustomTask", dataset_id="me/custom", is_official=False),
    ]
    files = eval_results_yaml(results)
    assert set(files) == {"SciFact.yaml"}
    entries = yaml.safe_load(files["SciFact.yaml"])
    assert entries[0]["dataset"] == {
        "id": "mteb/scifact", "task_id": "SciFact_default_test", "revision": "d56462d0e63a25450459c4f213e49ffdb866f7f9",
    }
    assert entries[0]["value"] == pytest.approx(64.51) and type(entries[0]["value"]) is float
    assert entries[1]["dataset"]["task_id"] == "SciFact_default_dev" and entries[1]["value"] == pytest.approx(50.0)
    assert "mteb 2.26.24" in entries[0]["notes"]
    parsed = parse_eval_result_entries(entries)
    assert parsed[0].dataset_id == "mteb/scifact" and parsed[0].task_id == "SciFact_default_test"

    save_model_card(model_dir, repo_id="ns/x", results=results)
    assert sorted(p.name for p in (model_dir / ".eval_results").iterdir()) == ["SciFact.yaml"]
    meta = _front_matter((model_dir / "README.md").read_text())
    assert {r["dataset"]["name"] for r in meta["model-index"][0]["results"]} == {
        "MTEB SciFact (default)", "MTEB MyCustomTask (default)",
    }
    save_model_card(model_dir, repo_id="ns/x", results=[results[2]])
    assert list((model_dir / ".eval_results").glob("*.yaml")) == []


def test_model_meta_snippet_is_valid_python_and_builds_a_model_meta(model_dir, make_result):
    snippet = model_meta_snippet(
        model_dir, "ns/tiny-nvr", results=[make_result()], datasets=["mteb/scifact"], license="apache-2.0",
        language="en", base_model="sentence-transformers/all-MiniLM-L6-v2", revision="0" * 40,
    )
    compile(snippet, "<model_meta>", "exec")
    assert "training_datasets={'SciFact'}" in snippet
    pytest.importorskip("mteb")
    namespace: dict = {}
    exec(snippet, namespace)
    meta = namespace["tiny_nvr"]
    assert meta.name == "ns/tiny-nvr" and meta.training_datasets == {"SciFact"}
    assert meta.embed_dim == 32 and meta.max_tokens == 64 and meta.languages == ["eng-Latn"]
    assert meta.adapted_from == "sentence-transformers/all-MiniLM-L6-v2" and meta.n_parameters > 0


def test_dataset_card_keeps_existing_metadata(make_report):
    existing = {
        "dataset_info": {"features": [{"name": "query", "dtype": "string"}], "splits": [{"name": "train"}]},
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
        "tags": ["mine"],
    }
    card = build_dataset_card(
        make_report(), repo_id="ns/mined", existing=existing, license="cc-by-4.0", language="en",
        histogram="mining_histogram.png",
    )
    reloaded = DatasetCard(str(card))
    data = reloaded.data.to_dict()
    assert data["dataset_info"] == existing["dataset_info"] and data["configs"] == existing["configs"]
    assert data["tags"][0] == "mine" and "hard-negative-mining" in data["tags"] and "topk_percpos" in data["tags"]
    assert data["license"] == "cc-by-4.0" and data["language"] == ["en"]
    assert "| method_filter | 1234 |" in reloaded.text and "(mining_histogram.png)" in reloaded.text
    assert 'load_dataset("ns/mined")' in reloaded.text
