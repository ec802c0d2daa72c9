"""`MiningConfig`: every knob of positive-aware hard-negative mining, validated up front."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from hf_nvr.mining.filters import METHODS

ENSEMBLES = ("cross_sample", "intra_sample", "intra_sample_dedup")
BACKENDS = ("auto", "torch", "faiss", "faiss-ivf", "faiss-ivfpq")


@dataclass
class MiningConfig:
    """Configuration of :class:`~hf_nvr.HardNegativeMiner`; defaults are the paper's best (TopK-PercPos 95%)."""

    method: str = "topk_percpos"
    num_negatives: int = 4
    range_max: int = 50
    """Candidates considered per query after excluding positives (the search depth)."""
    shift: int = 10
    max_score: float = 0.7
    margin: float = 0.05
    perc: float = 0.95
    sample_from_top: int | None = None
    sample_temperature: float = 1.0
    keep_top1: bool = False
    positive_aggregation: Literal["min", "max"] = "min"
    ensemble: str = "cross_sample"
    query_column: str = "query"
    positive_column: str = "positive"
    positive_id_column: str | None = None
    """Defaults to ``positive_ids`` or ``positive_id`` when such a column exists."""
    use_title: bool = True
    query_prompt: str | None = None
    passage_prompt: str | None = None
    max_length: int | None = None
    batch_size: int = 64
    store_dtype: Literal["float16", "float32"] = "float16"
    shard_size: int = 4096
    backend: str = "auto"
    """``auto``: exact faiss on the GPUs when faiss-gpu sees any and ``device`` allows, else exact tiled torch."""
    ivf_nlist: int | None = None
    ivf_nprobe: int = 16
    pq_m: int | None = None
    """IVF-PQ bytes per vector (``backend="faiss-ivfpq"``); defaults to about dim/8."""
    pq_refine: int = 4
    """IVF-PQ fetches ``pq_refine × k`` candidates, re-scores them exactly from the store and keeps the best k."""
    faiss_shard: bool = False
    """faiss-gpu, with a ``faiss*`` backend: split the index over the GPUs of one process instead of a full copy on
    each (for an index bigger than one GPU's memory)."""
    device: str | None = None
    """Teacher encoding and exact search; defaults to this rank's GPU when one is visible, else the CPU."""
    seed: int = 42
    cache_dir: str | None = None
    """Where the corpus embedding store lives; defaults to ``$HF_HOME/hf_nvr/embeddings``."""
    rerank_batch_size: int = 64

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"MiningConfig.method={self.method!r} is unknown; choose one of {', '.join(METHODS)}")
        if self.num_negatives <= 0:
            raise ValueError(f"MiningConfig.num_negatives must be > 0, got {self.num_negatives}")
        if self.range_max < self.num_negatives:
            raise ValueError(
                f"MiningConfig.range_max ({self.range_max}) must be >= num_negatives ({self.num_negatives})"
            )
        if not 0.0 < self.perc <= 1.0:
            raise ValueError(f"MiningConfig.perc must be in (0, 1], got {self.perc} (0.95 keeps negatives < 95% of pos)")
        if self.shift < 0 or self.margin < 0:
            raise ValueError("MiningConfig.shift and margin must be >= 0")
        if self.sample_from_top is not None and self.sample_from_top < self.num_negatives:
            raise ValueError(
                f"MiningConfig.sample_from_top ({self.sample_from_top}) must be >= num_negatives ({self.num_negatives})"
            )
        if self.keep_top1 and self.sample_from_top is None:
            raise ValueError("MiningConfig.keep_top1 needs sample_from_top (it keeps the best and samples the rest)")
        if self.store_dtype not in ("float16", "float32"):
            raise ValueError(f"MiningConfig.store_dtype must be 'float16' or 'float32', got {self.store_dtype!r}")
        if self.sample_temperature <= 0:
            raise ValueError("MiningConfig.sample_temperature must be > 0")
        if self.positive_aggregation not in ("min", "max"):
            raise ValueError("MiningConfig.positive_aggregation must be 'min' or 'max'")
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"MiningConfig.ensemble={self.ensemble!r} is unknown; choose one of {', '.join(ENSEMBLES)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"MiningConfig.backend={self.backend!r} is unknown; choose one of {', '.join(BACKENDS)}")
        if self.pq_m is not None and self.pq_m <= 0:
            raise ValueError(f"MiningConfig.pq_m must be > 0, got {self.pq_m}")
        if self.faiss_shard and not self.backend.startswith("faiss"):
            raise ValueError("MiningConfig.faiss_shard needs a faiss backend (backend='faiss', 'faiss-ivf' or 'faiss-ivfpq')")
        if self.pq_refine < 1:
            raise ValueError(f"MiningConfig.pq_refine must be >= 1, got {self.pq_refine}")
        if self.batch_size <= 0 or self.shard_size <= 0:
            raise ValueError("MiningConfig.batch_size and shard_size must be > 0")

    def method_params(self) -> dict[str, float | int]:
        """Only the parameter the chosen method uses (for reports and cards)."""
        name = {"topk_shifted": "shift", "topk_abs": "max_score", "topk_marginpos": "margin", "topk_percpos": "perc"}
        key = name.get(self.method)
        return {key: getattr(self, key)} if key else {}

    def to_dict(self) -> dict:
        return asdict(self)
