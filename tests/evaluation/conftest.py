"""Evaluation fixtures: a small, real slice of SciFact written in the BEIR layout."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hf_nvr.common.beir import load_beir


def _write_beir(root: Path, corpus: dict, queries: dict, qrels: dict, split: str = "test") -> Path:
    """Write a BEIR folder (plain jsonl + qrels tsv)."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, doc in corpus.items():
            fh.write(json.dumps({"_id": doc_id, "title": doc["title"], "text": doc["text"]}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (root / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, rels in qrels.items():
            for doc_id, grade in rels.items():
                fh.write(f"{qid}\t{doc_id}\t{grade}\n")
    return root


@pytest.fixture(scope="session")
def write_beir():
    """``write_beir(root, corpus, queries, qrels, split="test") -> root``: a BEIR folder from dicts."""
    return _write_beir


@pytest.fixture(scope="session")
def scifact_test(scifact_dir):
    return load_beir(scifact_dir, "test")


@pytest.fixture(scope="session")
def scifact_slice_dir(tmp_path_factory, scifact_test) -> Path:
    """All 300 SciFact test queries, their 283 judged abstracts and 700 other abstracts (seeded)."""
    judged = {d for rels in scifact_test.qrels.values() for d in rels}
    others = set(random.Random(0).sample(sorted(set(scifact_test.corpus) - judged), 700))
    corpus = {d: v for d, v in scifact_test.corpus.items() if d in judged or d in others}
    return _write_beir(tmp_path_factory.mktemp("scifact_slice"), corpus, scifact_test.queries, scifact_test.qrels)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """The ~1M-parameter test model encodes ~4x faster on one thread here (2 threads oversubscribe); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
