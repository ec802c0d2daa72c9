"""hf_nvr: NV-Retriever's positive-aware hard-negative mining and contrastive fine-tuning for 🤗 users.

The public API (everything else is private):

Mining (``hf_nvr.mining``)
    ``MiningConfig``        every mining knob: method (naive_topk | topk_shifted | topk_abs | topk_marginpos |
                            topk_percpos), num_negatives, sampling, teacher ensembling, prompts, backend.
    ``HardNegativeMiner``   the ``datasets.map`` transform: ``ds.map(miner, batched=True)`` adds ``negatives``,
                            ``negative_ids``, ``negative_scores``, ``positive_scores`` and ``short_reason``
                            (why a row has fewer than asked, else ""); ``miner.report``.
    ``MiningReport``        provenance: counts dropped per filter, score quantiles, histogram.
Training (``hf_nvr.training``)
    ``BiEncoder``           any AutoModel with pooling, prompts, bidirectional attention for LLMs, LoRA.
    ``NVRetrieverConfig``   a ``TrainingArguments`` subclass with the InfoNCE switches.
    ``NVRetrieverTrainer``  a ``transformers.Trainer`` with the InfoNCE loss; runs under ``accelerate launch``.
Evaluation (``hf_nvr.evaluation``)
    ``RetrievalEvaluator``  fast NDCG/Recall/MRR/MAP for training loops; ``evaluate_retrieval`` runs MTEB.
Hub (``hf_nvr.hub``)
    ``save_model_card``, ``push_to_hub``, ``push_dataset_to_hub``.

Names load lazily, so ``import hf_nvr`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "MiningConfig": "hf_nvr.mining",
    "HardNegativeMiner": "hf_nvr.mining",
    "MiningReport": "hf_nvr.mining",
    "BiEncoder": "hf_nvr.training",
    "NVRetrieverConfig": "hf_nvr.training",
    "NVRetrieverTrainer": "hf_nvr.training",
    "RetrievalEvaluator": "hf_nvr.evaluation",
    "evaluate_retrieval": "hf_nvr.evaluation",
    "TaskResult": "hf_nvr.evaluation",
    "save_model_card": "hf_nvr.hub",
    "push_to_hub": "hf_nvr.hub",
    "push_dataset_to_hub": "hf_nvr.hub",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hf_nvr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
