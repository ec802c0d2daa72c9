"""Contrastive fine-tuning (NV-Retriever §3): config, BiEncoder, collator, InfoNCE, trainer."""

from hf_nvr.training.collator import NVRetrieverCollator
from hf_nvr.training.config import NVRetrieverConfig
from hf_nvr.training.loss import info_nce_loss
from hf_nvr.training.model import BiEncoder
from hf_nvr.training.trainer import NVRetrieverTrainer

__all__ = ["BiEncoder", "NVRetrieverCollator", "NVRetrieverConfig", "NVRetrieverTrainer", "info_nce_loss"]
