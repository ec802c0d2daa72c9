"""Shared inputs for the Hub tests: result/report dicts shaped like the evaluation and mining outputs."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

# A 1x1 PNG: the card only needs the histogram file to exist and be uploaded.
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SCIFACT_REVISION = "d56462d0e63a25450459c4f213e49ffdb866f7f9"


def scifact_result(ndcg: float = 0.6451, **overrides) -> dict:
    out = {
        "task_name": "SciFact",
        "split": "test",
        "subset": "default",
        "main_score_name": "ndcg_at_10",
        "main_score": np.float64(ndcg),
        "metrics": {
            "ndcg_at_10": np.float64(ndcg),
            "recall_at_100": np.float64(0.925),
            "mrr_at_10": np.float64(0.6123),
            "map_at_100": np.float64(0.6001),
        },
        "dataset_id": "mteb/scifact",
        "dataset_revision": SCIFACT_REVISION,
        "is_official": True,
        "evaluator": "mteb 2.26.24",
    }
    out.update(overrides)
    return out


def mining_report(histogram: str | None = "mining_histogram.png") -> dict:
    report = {
        "teacher": "sentence-transformers/all-MiniLM-L6-v2",
        "teacher_revision": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
        "method": "topk_percpos",
        "config": {
            "method": "topk_percpos", "num_negatives": 4, "range_max": 50, "shift": 10, "max_score": 0.7,
            "margin": 0.05, "perc": 0.95, "seed": 42, "cache_dir": "/home/someone/.cache/hf_nvr",
        },
        "num_queries": 809,
        "num_rows_short": 136,
        "dropped": {"positive_id": 919, "positive_text": 7, "query_text": 2, "method_filter": 1234},
        "quantiles": {
            "positive": {"p05": 0.41, "p50": 0.62, "p95": 0.81},
            "negative": {"p05": 0.33, "p50": 0.47, "p95": 0.58},
            "margin": {"p05": 0.02, "p50": 0.15, "p95": 0.33},
        },
    }
    if histogram:
        report["histogram_png"] = histogram
    return report


@pytest.fixture()
def model_dir(tiny_st_dir, tmp_path) -> Path:
    """A private copy of the tiny ST model with the mining histogram next to it."""
    out = tmp_path / "model"
    shutil.copytree(tiny_st_dir, out)
    (out / "mining_histogram.png").write_bytes(PNG_1x1)
    return out


@pytest.fixture()
def repo_id() -> str:
    return f"hf-nvr-tests/tiny-{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def make_result():
    return scifact_result


@pytest.fixture()
def make_report():
    return mining_report


@pytest.fixture()
def token() -> str:
    return os.environ["HF_TOKEN"]


@pytest.fixture()
def histogram_png(tmp_path) -> Path:
    path = tmp_path / "mining_histogram.png"
    path.write_bytes(PNG_1x1)
    return path
