"""Positive-aware hard-negative mining (NV-Retriever §3): pure filters, search, the embedding store, the transform."""

from hf_nvr.mining.config import MiningConfig
from hf_nvr.mining.miner import HardNegativeMiner
from hf_nvr.mining.report import MiningReport
from hf_nvr.mining.store import EmbeddingStore

__all__ = ["EmbeddingStore", "HardNegativeMiner", "MiningConfig", "MiningReport"]
