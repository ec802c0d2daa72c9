"""The main job end to end — mine → train → evaluate → card — on bundled SciFact with an offline model.

Written against the public API only, so it doubles as the reference example. Every stage leaves its result
in ``output_dir`` and is skipped when re-run (embeddings, mined data, checkpoints, scores), so an interrupted
run picks up where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class QuickstartConfig:
    """Defaults sized for a 2-core laptop: under 10 minutes, a measurable gain over the zero-shot model."""

    output_dir: str = "out"
    data_dir: str | None = None
    teacher: str = DEFAULT_MODEL
    student: str = DEFAULT_MODEL
    method: str = "topk_percpos"
    perc: float = 0.95
    num_negatives: int = 4
    num_hard_negatives: int = 1
    max_train_queries: int | None = None
    max_corpus: int | None = None
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 3e-5
    temperature: float = 0.05
    query_max_length: int = 64
    passage_max_length: int = 128
    eval_max_length: int = 256
    seed: int = 42
    push_to_hub: str | None = None
    extra_training_args: dict[str, Any] = field(default_factory=dict)


def _load_data(cfg: QuickstartConfig):
    from hf_nvr.common.beir import bundled_scifact_dir, load_beir

    root = Path(cfg.data_dir) if cfg.data_dir else bundled_scifact_dir()
    train, test = load_beir(root, "train"), load_beir(root, "test")
    if cfg.max_corpus:
        keep = train.judged_ids() | test.judged_ids()
        train, test = train.with_corpus_subset(cfg.max_corpus, keep), test.with_corpus_subset(cfg.max_corpus, keep)
    pairs = train.pairs()[: cfg.max_train_queries] if cfg.max_train_queries else train.pairs()
    return root, pairs, train.corpus, test


def run_quickstart(cfg: QuickstartConfig) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns the summary also written to ``summary.json``."""
    import numpy as np
    from datasets import Dataset, load_from_disk
    from sentence_transformers import SentenceTransformer

    from hf_nvr import (
        BiEncoder,
        HardNegativeMiner,
        MiningConfig,
        NVRetrieverConfig,
        NVRetrieverTrainer,
        RetrievalEvaluator,
        save_model_card,
    )
    from hf_nvr.common.models import resolve_model

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    root, pairs, corpus, test = _load_data(cfg)
    corpus_rows = [{"_id": d, "title": v["title"], "text": v["text"]} for d, v in corpus.items()]
    print(f"[1/4] data: {len(pairs)} train queries, {len(corpus_rows)} passages, {len(test.queries)} test queries ({root})")

    mining = MiningConfig(
        method=cfg.method, perc=cfg.perc, num_negatives=cfg.num_negatives, seed=cfg.seed,
        store_dtype="float32", cache_dir=str(out / "embeddings"), max_length=cfg.eval_max_length,
    )
    miner = HardNegativeMiner(cfg.teacher, Dataset.from_list(corpus_rows), mining)
    mined_dir = out / "mined"
    if (mined_dir / "dataset_info.json").exists():
        mined = load_from_disk(str(mined_dir))
        report = json.loads(mined.info.description)
        print(f"[2/4] mining: reusing {mined_dir}")
    else:
        mined = miner.mine(Dataset.from_list(pairs))
        mined.save_to_disk(str(mined_dir))
        miner.report.to_json(out / "mining_report.json")
        miner.report.plot_histogram(out / "mining_histogram.png")
        report = miner.report.to_dict()
        print(f"[2/4] mining: {miner.report.summary()}")
    timings["mining_s"] = time.perf_counter() - t0

    scores_path = out / "scores.json"
    scores = json.loads(scores_path.read_text()) if scores_path.exists() else {}
    if "before" not in scores:
        t = time.perf_counter()
        reuse = None
        if cfg.teacher == cfg.student:
            miner.encode_corpus()
            reuse = miner.store().get(np.arange(len(corpus_rows)))
        evaluator = RetrievalEvaluator(test.queries, test.corpus, test.qrels, name="scifact", corpus_embeddings=reuse,
                                       show_progress_bar=True)
        zero_shot = SentenceTransformer(resolve_model(cfg.student), device="cpu")
        zero_shot.max_seq_length = cfg.eval_max_length
        scores["before"] = evaluator(zero_shot)
        scores_path.write_text(json.dumps(scores, indent=2))
        timings["eval_before_s"] = time.perf_counter() - t

    t = time.perf_counter()
    model_dir = out / "model"
    if not (model_dir / "modules.json").exists():
        model = BiEncoder.from_pretrained(cfg.student)
        args = NVRetrieverConfig(
            output_dir=str(out / "checkpoints"), num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate, warmup_steps=5, temperature=cfg.temperature,
            num_hard_negatives=cfg.num_hard_negatives, query_max_length=cfg.query_max_length,
            passage_max_length=cfg.passage_max_length, seed=cfg.seed, data_seed=cfg.seed, save_strategy="steps",
            save_steps=5, save_total_limit=1, logging_steps=5, use_cpu=True, **cfg.extra_training_args,
        )
        trainer = NVRetrieverTrainer(model=model, args=args, train_dataset=mined)
        resume = any((out / "checkpoints").glob("checkpoint-*"))
        print(f"[3/4] training {args.num_train_epochs} epoch(s) on {len(mined)} rows" + (" (resuming)" if resume else ""))
        trainer.train(resume_from_checkpoint=True if resume else None)
        model.query_max_length = model.passage_max_length = cfg.eval_max_length
        trainer.save_model(str(model_dir))
        timings["train_s"] = time.perf_counter() - t
    if "after" not in scores:
        t = time.perf_counter()
        model = BiEncoder.from_pretrained(str(model_dir))
        model.query_max_length = model.passage_max_length = cfg.eval_max_length
        evaluator = RetrievalEvaluator(test.queries, test.corpus, test.qrels, name="scifact", show_progress_bar=True)
        scores["after"] = evaluator(model)
        scores_path.write_text(json.dumps(scores, indent=2))
        timings["eval_after_s"] = time.perf_counter() - t

    key = "scifact_ndcg_at_10"
    results = [_task_result(scores["after"], root, bool(cfg.max_corpus))]
    if (out / "mining_histogram.png").exists():
        import shutil

        shutil.copy(out / "mining_histogram.png", model_dir / "mining_histogram.png")
        report = {**report, "histogram_png": "mining_histogram.png"}
    save_model_card(
        model_dir, base_model=cfg.student, results=results, mining_report=report,
        training_args={"epochs": cfg.epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
                       "temperature": cfg.temperature, "num_hard_negatives": cfg.num_hard_negatives,
                       "query_max_length": cfg.query_max_length, "passage_max_length": cfg.passage_max_length,
                       "seed": cfg.seed},
        datasets=["mteb/scifact"],
    )
    summary = {
        "ndcg_at_10_before": scores["before"][key],
        "ndcg_at_10_after": scores["after"][key],
        "gain": scores["after"][key] - scores["before"][key],
        "rows_mined": len(mined),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "wall_s": round(time.perf_counter() - t0, 1),
        "output_dir": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"[4/4] NDCG@10 on the SciFact test split: {summary['ndcg_at_10_before']:.4f} → "
          f"{summary['ndcg_at_10_after']:.4f} ({summary['gain']:+.4f}); model and card in {model_dir}")
    if cfg.push_to_hub:
        from hf_nvr import push_to_hub

        url = push_to_hub(model_dir, cfg.push_to_hub, results=results, mining_report=report, base_model=cfg.student)
        print(f"pushed to {url}")
    return summary


def _task_result(scores: dict[str, float], root: Path, sliced: bool) -> dict[str, Any]:
    """The built-in evaluator's scores as a card-ready result; MTEB's official naming only for the verified files."""
    from hf_nvr.common.beir import load_beir
    from hf_nvr.evaluation.mteb_eval import KNOWN_DATASETS, beir_file_hashes, local_revision, matches_official

    hashes = beir_file_hashes(root, "test")
    official = not sliced and matches_official("SciFact", "test", hashes, load_beir(root, "test"))[0]
    known = KNOWN_DATASETS["SciFact"]
    metrics = {k.removeprefix("scifact_"): float(v) for k, v in scores.items()}
    return {
        "task_name": "SciFact" if official else "SciFactLocal",
        "split": "test",
        "subset": "default",
        "main_score_name": "ndcg_at_10",
        "main_score": metrics["ndcg_at_10"],
        "metrics": metrics,
        "dataset_id": known.dataset_id if official else f"local/{root.name}",
        "dataset_revision": known.revision if official else local_revision(hashes),
        "is_official": official,
        "evaluator": "hf_nvr",
    }
