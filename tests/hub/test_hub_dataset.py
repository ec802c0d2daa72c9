"""push_dataset_to_hub: Dataset.push_to_hub + the mining card, read back with load_dataset and DatasetCard."""

from __future__ import annotations

import logging

import pytest
from datasets import Dataset, DatasetDict, load_dataset
from huggingface_hub import DatasetCard, HfApi

from hf_nvr.hub import push_dataset_to_hub

ROWS = {
    "query": ["does vitamin d reduce fractures?", "is the mitochondria the powerhouse?"],
    "positive": ["Vitamin D supplementation lowers fracture risk.", "Mitochondria produce ATP."],
    "negative_1": ["Calcium intake is unrelated.", "Ribosomes make proteins."],
}


def test_mined_dataset_round_trips_with_its_card(
    hub_server, repo_id, make_report, histogram_png, token, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    url = push_dataset_to_hub(
        Dataset.from_dict(ROWS), repo_id, mining_report=make_report(), token=token, license="cc-by-4.0",
        language="en", source_datasets=["mteb/scifact"], histogram_path=histogram_png,
    )
    info = HfApi().dataset_info(repo_id)
    assert url == f"{hub_server}/datasets/{repo_id}/commit/{info.sha}"
    files = {s.rfilename for s in info.siblings}
    assert {"README.md", "mining_histogram.png"} <= files
    assert any(f.startswith("data/train-") and f.endswith(".parquet") for f in files)

    loaded = load_dataset(repo_id)
    assert list(loaded) == ["train"] and loaded["train"].to_dict() == ROWS

    card = DatasetCard.load(repo_id, repo_type="dataset")
    data = card.data.to_dict()
    assert data["dataset_info"]["splits"][0]["num_examples"] == 2
    assert {"hard-negative-mining", "nv-retriever", "topk_percpos"} <= set(data["tags"])
    assert data["license"] == "cc-by-4.0" and data["source_datasets"] == ["mteb/scifact"]
    assert "| method_filter | 1234 |" in card.text and "(mining_histogram.png)" in card.text
    assert info.card_data.pretty_name == repo_id.split("/")[1]
    out = capsys.readouterr()
    for text in (str(card), caplog.text, out.out, out.err):
        assert token not in text


def test_dataset_dict_without_report_is_pushed_as_is(hub_server, repo_id):
    url = push_dataset_to_hub(DatasetDict(train=Dataset.from_dict(ROWS), dev=Dataset.from_dict(ROWS)), repo_id)
    assert url.endswith(HfApi().dataset_info(repo_id).sha)
    loaded = load_dataset(repo_id)
    assert sorted(loaded) == ["dev", "train"] and loaded["dev"]["query"] == ROWS["query"]


def test_dataset_push_validates_before_network(repo_id, tmp_path):
    with pytest.raises(ValueError, match="namespace/name"):
        push_dataset_to_hub(Dataset.from_dict(ROWS), "nonamespace")
    with pytest.raises(FileNotFoundError, match="histogram"):
        push_dataset_to_hub(Dataset.from_dict(ROWS), repo_id, histogram_path=tmp_path / "missing.png")
