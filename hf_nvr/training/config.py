"""`NVRetrieverConfig`: `TrainingArguments` plus the contrastive knobs, so `HfArgumentParser` reads it all."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class NVRetrieverConfig(TrainingArguments):
    """Defaults follow NV-Retriever; the paper does not report τ, so ``temperature=0.02`` is our choice."""

    temperature: float = field(default=0.02, metadata={"help": "InfoNCE temperature τ (> 0)."})
    num_hard_negatives: int = field(default=4, metadata={"help": "Mined negatives per row per step."})
    in_batch_negatives: bool = field(default=True, metadata={"help": "Use other rows' passages as negatives."})
    cross_device_negatives: bool = field(
        default=False, metadata={"help": "All-gather passages from every process as extra negatives."}
    )
    similarity: str = field(
        default="cosine", metadata={"help": "'cosine' or 'dot' (dot equals cosine while the model normalises)."}
    )
    query_prompt: str | None = field(default=None, metadata={"help": "Instruction prefixed to queries."})
    passage_prompt: str | None = field(default=None, metadata={"help": "Prefix for passages."})
    query_max_length: int = field(default=192)
    passage_max_length: int = field(default=512)
    query_column: str = field(default="query")
    positive_column: str = field(default="positive")
    negatives_column: str = field(default="negatives")
    homogeneous_batches: bool = field(
        default=False,
        metadata={"help": "Every batch from one source dataset (its 'dataset' column): in-batch negatives of one task."},
    )
    save_merged_lora: bool = field(
        default=True, metadata={"help": "save_model() merges LoRA into the backbone; False saves the adapter alone."}
    )
    remove_unused_columns: bool = field(default=False)
    report_to: str | list[str] = field(default="none")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.num_hard_negatives < 0:
            raise ValueError(f"num_hard_negatives must be >= 0, got {self.num_hard_negatives}")
        if self.similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {self.similarity!r}")
        if self.cross_device_negatives and not self.in_batch_negatives:
            raise ValueError("cross_device_negatives needs in_batch_negatives=True (they are in-batch negatives from other devices)")
        if self.remove_unused_columns:
            raise ValueError("remove_unused_columns must stay False: the collator reads the text columns")
