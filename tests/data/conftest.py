"""Hand-made classification, clustering and STS data for the data-recipe tests."""

from __future__ import annotations

import pytest
from datasets import ClassLabel, Dataset, Features, Value


@pytest.fixture
def multiclass() -> Dataset:
    """Four intents, three distinct examples each."""
    rows = []
    for label in ("card", "loan", "atm", "fee"):
        for k in range(3):
            rows.append({"text": f"{label} question number {k}", "label": label})
    return Dataset.from_list(rows)


@pytest.fixture
def binary() -> Dataset:
    """A ClassLabel sentiment set: names come from the feature."""
    features = Features({"text": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    texts = ["awful film", "loved it", "boring plot", "great acting", "fell asleep"]
    return Dataset.from_dict({"text": texts, "label": [0, 1, 0, 1, 0]}, features=features)


@pytest.fixture
def sts() -> Dataset:
    rows = [
        ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
        ("A woman is slicing an onion.", "Someone cuts an onion.", 4.2),
        ("A dog runs in the park.", "A cat sleeps on the sofa.", 0.4),
        ("Kids are playing football.", "Children play soccer.", 3.9),
        ("A man is playing a guitar.", "A person strums a guitar.", 4.0),
        ("The stock market fell today.", "A man plays the guitar.", 0.0),
    ]
    return Dataset.from_dict(
        {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] for r in rows]}
    )


def mined_rows(prefix: str, n: int, negatives: int = 2) -> Dataset:
    """Rows already in the mined-row contract."""
    return Dataset.from_list(
        [
            {
                "query": f"{prefix} query {i}",
                "positive": f"{prefix} positive {i}",
                "negatives": [f"{prefix} negative {i}.{j}" for j in range(negatives)],
            }
            for i in range(n)
        ]
    )
