"""Recipes: one YAML → `HfArgumentParser` dataclasses → (optional mining) → `NVRetrieverTrainer`.

This is what ``accelerate launch recipes/train.py recipes/<recipe>.yaml [key=value ...]`` runs, on one CPU or
many GPUs alike: Accelerate sets up the processes, the Trainer does DDP/FSDP/DeepSpeed.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    model_name_or_path: str = "sentence-transformers/all-MiniLM-L6-v2"
    pooling: str = "mean"
    normalize: bool = True
    bidirectional: bool = False
    torch_dtype: str | None = None
    lora_r: int = field(default=0, metadata={"help": "LoRA rank; 0 trains all weights."})
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


@dataclass
class DataArguments:
    train_data: str | None = field(default=None, metadata={"help": "Mined rows: jsonl/parquet, save_to_disk dir or hub id."})
    beir_dir: str | None = field(
        default=None, metadata={"help": "Mine from this BEIR folder ('bundled:scifact' = the shipped copy) if no train_data."}
    )
    beir_split: str = "train"
    teacher: str | None = None
    mining_method: str = "topk_percpos"
    mining_perc: float = 0.95
    mining_num_negatives: int = 4
    max_train_queries: int | None = None
    eval_beir_dir: str | None = field(default=None, metadata={"help": "BEIR folder for retrieval metrics at eval."})
    eval_split: str = "test"


def _train_rows(data: DataArguments, model: ModelArguments, args: Any) -> Any:
    from datasets import Dataset, load_dataset, load_from_disk

    if data.train_data:
        path = Path(data.train_data)
        if path.is_dir():
            return load_from_disk(str(path))
        if path.exists():
            return load_dataset("parquet" if path.suffix == ".parquet" else "json", data_files=str(path), split="train")
        return load_dataset(data.train_data, split="train")
    if not data.beir_dir:
        raise ValueError("the recipe needs data.train_data (mined rows) or data.beir_dir (to mine from)")
    from hf_nvr import HardNegativeMiner, MiningConfig
    from hf_nvr.common.beir import bundled_scifact_dir, load_beir

    beir = load_beir(bundled_scifact_dir() if data.beir_dir == "bundled:scifact" else data.beir_dir, data.beir_split)
    pairs = beir.pairs()[: data.max_train_queries] if data.max_train_queries else beir.pairs()
    corpus = Dataset.from_list([{"_id": d, **v} for d, v in beir.corpus.items()])
    config = MiningConfig(method=data.mining_method, perc=data.mining_perc, num_negatives=data.mining_num_negatives,
                          seed=args.seed, cache_dir=str(Path(args.output_dir) / "embeddings"))
    # Under accelerate/torchrun every rank calls mine(): ranks split the encoding and the queries between them.
    miner = HardNegativeMiner(data.teacher or model.model_name_or_path, corpus, config,
                              show_progress=args.process_index == 0)
    return miner.mine(Dataset.from_list(pairs))


def parse_recipe(path: str | Path, overrides: list[str] | None = None) -> tuple[ModelArguments, DataArguments, Any]:
    """YAML (sections flattened: ``model:``, ``data:``, ``training:`` or top-level keys) plus ``key=value`` overrides."""
    from transformers import HfArgumentParser

    from hf_nvr import NVRetrieverConfig

    raw = yaml.safe_load(Path(path).read_text()) or {}
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("model", "data", "training") and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        flat[key.lstrip("-")] = yaml.safe_load(value)
    parser = HfArgumentParser((ModelArguments, DataArguments, NVRetrieverConfig))
    return parser.parse_dict(flat, allow_extra_keys=False)


def run_recipe(path: str | Path, overrides: list[str] | None = None) -> Any:
    """Build model, data and trainer from a recipe; train, save and (if asked) push."""
    from hf_nvr import BiEncoder, NVRetrieverTrainer, RetrievalEvaluator

    model_args, data_args, args = parse_recipe(path, overrides)
    lora = None
    if model_args.lora_r:
        from peft import LoraConfig

        lora = LoraConfig(r=model_args.lora_r, lora_alpha=model_args.lora_alpha, lora_dropout=model_args.lora_dropout,
                          target_modules=model_args.lora_target_modules)
    model = BiEncoder.from_pretrained(
        model_args.model_name_or_path, pooling=model_args.pooling, normalize=model_args.normalize,
        bidirectional=model_args.bidirectional, lora=lora, torch_dtype=model_args.torch_dtype,
    )
    train = _train_rows(data_args, model_args, args)
    evaluator = (
        RetrievalEvaluator.from_beir(data_args.eval_beir_dir, data_args.eval_split) if data_args.eval_beir_dir else None
    )
    trainer = NVRetrieverTrainer(model=model, args=args, train_dataset=train, evaluator=evaluator)
    if args.process_index == 0:
        print(f"training on {args.world_size} process(es), {len(train)} rows, output {args.output_dir}")
    resume = args.resume_from_checkpoint or (any(Path(args.output_dir).glob("checkpoint-*")) or None)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    return trainer


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or not argv[0].endswith((".yaml", ".yml")):
        raise SystemExit("usage: train.py RECIPE.yaml [key=value ...]")
    logging.basicConfig(level=logging.INFO)
    run_recipe(argv[0], argv[1:])
