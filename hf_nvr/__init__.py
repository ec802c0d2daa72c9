"""hf_nvr: NV-Retriever's positive-aware hard-negative mining and contrastive fine-tuning."""

__version__ = "0.1.0"
