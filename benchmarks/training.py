"""Training benchmark: hf_nvr ``NVRetrieverTrainer`` vs ``SentenceTransformerTrainer`` + MNRL, same run.

What is compared: one epoch of contrastive fine-tuning of all-MiniLM-L6-v2 (the offline PyPI copy) on the
*same* rows of SciFact train mined by hf_nvr (TopK-PercPos 95 %, 4 negatives, ``range_max=50``), with the
same batches, the same loss and the same hyper-parameters on both sides:

- **hf_nvr**: ``BiEncoder.from_pretrained`` + ``NVRetrieverTrainer`` with ``temperature=0.05``,
  ``num_hard_negatives=4``, ``in_batch_negatives=True``, ``query_max_length = passage_max_length =
  --max-length``; columns ``query``, ``positive``, ``negatives``.
- **sentence-transformers**: ``SentenceTransformer`` + ``SentenceTransformerTrainer`` +
  ``MultipleNegativesRankingLoss(scale=20)`` (``scale = 1 / temperature``), ``max_seq_length = --max-length``;
  n-tuple columns ``anchor``, ``positive``, ``negative_1`` … ``negative_4``.

Both losses are InfoNCE of each query against every passage of the batch (its positive, its own hard
negatives, and all other rows' positives and hard negatives) with cosine similarity. One difference is
inherent to hf_nvr: a passage whose text equals the query's positive is masked out of the negatives (a
false negative), which MNRL does not do; it only changes the loss when such a duplicate is in the batch (the
script counts them). Without duplicates the two losses are the same number: ``info_nce_loss`` and
``MultipleNegativesRankingLoss.compute_loss_from_embeddings`` agree to 1e-6 on identical embeddings.

Identical data and batches: rows with fewer than 4 negatives are dropped (from both), the remaining rows are
shuffled once with ``--seed`` and the first ``--rows`` are kept; both trainers then read them in order
(``train_sampling_strategy="sequential"`` for the ``transformers.Trainer``, a ``SequentialSampler`` batch
sampler for sentence-transformers), so step *i* sees the same 16 rows on both sides. The step losses still
differ: both models train with dropout on (MiniLM's 0.1), and the two trainers draw different dropout masks,
so even the first step's loss differs by a few hundredths; the loss functions themselves agree to 1e-6 on
identical embeddings (tested). Same learning rate, linear schedule, no warm-up, AdamW, fp32, seed, CPU threads.

Each side runs in its own process (see ``_common.py``); "samples/s" is rows × epochs divided by the wall time
of ``trainer.train()`` (model loading and trainer construction are reported apart); "peak RSS" is that
process's ``ru_maxrss``. The mined rows come from ``--mined`` (a ``save_to_disk`` folder with ``query``,
``positive`` and ``negatives``) or are mined once with hf_nvr into ``--cache-dir`` and reused afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C


def _sequential_batches(dataset, batch_size, drop_last, **_):
    """sentence-transformers batch sampler that reads rows in order (the same batches as the other side)."""
    from sentence_transformers import DefaultBatchSampler
    from torch.utils.data import SequentialSampler

    return DefaultBatchSampler(SequentialSampler(dataset), batch_size=batch_size, drop_last=drop_last)


# -- sides (each runs in its own process) -------------------------------------------------------------------------


def side_prep(p: dict) -> dict:
    """Mine (once, cached) or load the mined rows; write the identical hf and ST training sets."""
    from datasets import Dataset, load_from_disk

    mined_dir = Path(p["mined"])
    mined_now = False
    if not (mined_dir / "dataset_info.json").exists():
        if p["mined_given"]:
            raise FileNotFoundError(f"--mined {mined_dir} is not a datasets save_to_disk folder")
        from sentence_transformers import SentenceTransformer

        from hf_nvr import HardNegativeMiner, MiningConfig

        pairs, corpus = C.load_scifact(p["data_dir"], p["max_queries"], p["max_corpus"])
        model = SentenceTransformer(p["model"], device="cpu")
        config = MiningConfig(method="topk_percpos", perc=0.95, num_negatives=p["num_negatives"], range_max=50,
                              cache_dir=str(Path(p["cache_dir"]) / "embeddings"))
        started = time.perf_counter()
        mined = HardNegativeMiner(model, corpus, config).mine(Dataset.from_list(pairs))
        print(f"mined {len(mined)} rows in {time.perf_counter() - started:.1f} s -> {mined_dir}")
        mined.save_to_disk(str(mined_dir))
        mined_now = True
    mined = load_from_disk(str(mined_dir))
    for col in ("query", "positive", "negatives"):
        if col not in mined.column_names:
            raise ValueError(f"{mined_dir} has no {col!r} column (columns: {mined.column_names})")
    n = p["num_negatives"]
    queries, positives, negatives = list(mined["query"]), list(mined["positive"]), list(mined["negatives"])
    rows = [
        (q, pos if isinstance(pos, str) else pos[0], list(negs)[:n])
        for q, pos, negs in zip(queries, positives, negatives)
        if len(negs) >= n
    ]
    full = len(rows)
    random.Random(p["seed"]).shuffle(rows)
    rows = rows[: p["rows"]]
    duplicates = _in_batch_positive_copies(rows, p["batch_size"])
    work = Path(p["work_dir"])
    Dataset.from_dict({
        "query": [r[0] for r in rows], "positive": [r[1] for r in rows], "negatives": [r[2] for r in rows],
    }).save_to_disk(str(work / "hf"))
    Dataset.from_dict({
        "anchor": [r[0] for r in rows], "positive": [r[1] for r in rows],
        **{f"negative_{i + 1}": [r[2][i] for r in rows] for i in range(n)},
    }).save_to_disk(str(work / "st"))
    return {"mined_rows": len(mined), "rows_with_enough_negatives": full, "rows_used": len(rows),
            "mined_dir": str(mined_dir), "mined_now": mined_now, "in_batch_positive_copies": duplicates}


def _in_batch_positive_copies(rows: list[tuple], batch_size: int) -> dict:
    """Per batch, (query, other row's passage) pairs whose passage *is* the query's positive (same text).

    hf_nvr masks those false negatives out of the loss, MNRL scores them as negatives; where a batch has any,
    the two losses of that step legitimately differ.
    """
    per_batch = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        count = 0
        for i, (_, positive, _) in enumerate(batch):
            for j, (_, other_pos, other_negs) in enumerate(batch):
                if i != j:
                    count += sum(text == positive for text in (other_pos, *other_negs))
        per_batch.append(count)
    return {"total": sum(per_batch), "batches_with_any": sum(c > 0 for c in per_batch), "batches": len(per_batch),
            "first_batch": per_batch[0] if per_batch else 0}


def _losses(log_history: list[dict]) -> list[float]:
    return [float(h["loss"]) for h in log_history if "loss" in h]


def _common_args(p: dict, output_dir: str) -> dict:
    return {
        "output_dir": output_dir, "num_train_epochs": p["epochs"], "per_device_train_batch_size": p["batch_size"],
        "learning_rate": p["learning_rate"], "warmup_steps": 0, "lr_scheduler_type": "linear", "weight_decay": 0.0,
        "seed": p["seed"], "data_seed": p["seed"], "save_strategy": "no", "logging_steps": 1, "use_cpu": True,
        "report_to": "none", "dataloader_num_workers": 0, "disable_tqdm": False,
    }


def side_hf(p: dict) -> dict:
    from datasets import load_from_disk

    from hf_nvr import BiEncoder, NVRetrieverConfig, NVRetrieverTrainer

    data = load_from_disk(str(Path(p["work_dir"]) / "hf"))
    started = time.perf_counter()
    model = BiEncoder.from_pretrained(p["model"])
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        args = NVRetrieverConfig(
            **_common_args(p, out), train_sampling_strategy="sequential", temperature=p["temperature"],
            num_hard_negatives=p["num_negatives"], in_batch_negatives=True,
            query_max_length=p["max_length"], passage_max_length=p["max_length"],
        )
        trainer = NVRetrieverTrainer(model=model, args=args, train_dataset=data)
        init_s = time.perf_counter() - started
        started = time.perf_counter()
        output = trainer.train()
        wall = time.perf_counter() - started
    losses = _losses(trainer.state.log_history)
    return {"train_s": wall, "load_s": load_s, "init_s": init_s, "rows": len(data), "steps": trainer.state.global_step,
            "samples_per_s": len(data) * p["epochs"] / wall, "trainer_samples_per_s": output.metrics.get("train_samples_per_second"),
            "mean_loss": output.training_loss, "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None, "losses": losses}


def side_st(p: dict) -> dict:
    import sentence_transformers
    from datasets import load_from_disk
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    data = load_from_disk(str(Path(p["work_dir"]) / "st"))
    started = time.perf_counter()
    model = SentenceTransformer(p["model"], device="cpu")
    model.max_seq_length = p["max_length"]
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        args = SentenceTransformerTrainingArguments(**_common_args(p, out), batch_sampler=_sequential_batches)
        loss = MultipleNegativesRankingLoss(model, scale=1.0 / p["temperature"])
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)
        init_s = time.perf_counter() - started
        started = time.perf_counter()
        output = trainer.train()
        wall = time.perf_counter() - started
    losses = _losses(trainer.state.log_history)
    return {"train_s": wall, "load_s": load_s, "init_s": init_s, "rows": len(data), "steps": trainer.state.global_step,
            "samples_per_s": len(data) * p["epochs"] / wall, "trainer_samples_per_s": output.metrics.get("train_samples_per_second"),
            "mean_loss": output.training_loss, "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None, "losses": losses, "version": sentence_transformers.__version__}


SIDES = {"prep": side_prep, "hf": side_hf, "st": side_st}


# -- the parent -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for details.")
    parser.add_argument("--mined", default=None, help="a save_to_disk folder of mined rows (query/positive/negatives)")
    parser.add_argument("--cache-dir", default=str(C.CACHE_DIR), help="where rows are mined once and reused")
    parser.add_argument("--data-dir", default=None, help="BEIR SciFact folder (default: ../shared/data/scifact, else bundled)")
    parser.add_argument("--model", default=None, help="model path (default: the offline all-MiniLM-L6-v2 copy)")
    parser.add_argument("--max-queries", type=int, default=None, help="mine only the first N train queries (smoke tests)")
    parser.add_argument("--max-corpus", type=int, default=None, help="mine against a smaller corpus (smoke tests)")
    parser.add_argument("--rows", type=int, default=256, help="training rows, both sides (default 256)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-negatives", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256, help="max tokens for queries and passages, both sides")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--temperature", type=float, default=0.05, help="hf_nvr τ; ST gets scale = 1/τ")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; medians are reported (default 1)")
    parser.add_argument("--skip-st", action="store_true")
    parser.add_argument("--rss-limit-gb", type=float, default=C.default_rss_limit_gb(),
                        help="kill a side whose resident set passes this (default: 75%% of RAM)")
    parser.add_argument("--output", default=str(C.RESULTS_DIR / "training.json"))
    args = parser.parse_args(argv)

    data_dir = args.data_dir or C.default_scifact_dir()
    sliced = f"-q{args.max_queries or 'all'}-c{args.max_corpus or 'all'}"
    mined = args.mined or str(Path(args.cache_dir) / f"mined-scifact-train-minilm-percpos095-n{args.num_negatives}{sliced}")
    work = tempfile.mkdtemp(prefix="hf-nvr-bench-train-")
    params = {
        "data_dir": data_dir, "model": args.model or C.minilm_path(), "max_queries": args.max_queries,
        "max_corpus": args.max_corpus, "mined": mined, "mined_given": bool(args.mined), "cache_dir": args.cache_dir,
        "work_dir": work, "rows": args.rows, "batch_size": args.batch_size, "num_negatives": args.num_negatives,
        "max_length": args.max_length, "epochs": args.epochs, "learning_rate": args.learning_rate,
        "temperature": args.temperature, "seed": args.seed,
    }
    script = Path(__file__).resolve()
    runs: dict[str, list[dict]] = {"hf": [], "st": []}
    try:
        prep = C.run_side(script, "prep", params, rss_limit_gb=args.rss_limit_gb, label="prepare identical rows")
        if "error" in prep:
            raise SystemExit(f"could not prepare the training rows: {prep['error']}")
        print(f"rows: {prep['rows_used']} used of {prep['rows_with_enough_negatives']} with >= {args.num_negatives} "
              f"negatives ({prep['mined_rows']} mined, {prep['mined_dir']})")
        for rep in range(args.repeats):
            tag = f" {rep + 1}/{args.repeats}" if args.repeats > 1 else ""
            runs["hf"].append(C.run_side(script, "hf", params, rss_limit_gb=args.rss_limit_gb,
                                         label=f"hf_nvr NVRetrieverTrainer{tag}"))
            if not args.skip_st:
                runs["st"].append(C.run_side(script, "st", params, rss_limit_gb=args.rss_limit_gb,
                                             label=f"SentenceTransformerTrainer + MNRL{tag}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def summary(group: list[dict]) -> dict:
        ok = [r for r in group if "error" not in r]
        keys = ("samples_per_s", "train_s", "peak_rss_mb", "peak_rss_anon_mb", "load_s", "init_s",
                "first_loss", "final_loss", "mean_loss", "steps")
        out = {f"median_{k}": C.median([r.get(k) for r in ok]) for k in keys}
        return {**out, "runs": len(group), "failed": len(group) - len(ok)}

    hf, st = summary(runs["hf"]), summary(runs["st"])
    rows = [["hf_nvr NVRetrieverTrainer", *(hf[f"median_{k}"] for k in
             ("samples_per_s", "train_s", "peak_rss_mb", "peak_rss_anon_mb", "steps", "first_loss", "final_loss", "mean_loss"))]]
    if runs["st"]:
        rows.append(["ST Trainer + MNRL", *(st[f"median_{k}"] for k in
                     ("samples_per_s", "train_s", "peak_rss_mb", "peak_rss_anon_mb", "steps", "first_loss", "final_loss", "mean_loss"))])
    title = (f"Training: {prep['rows_used']} rows x {args.epochs:g} epoch, batch {args.batch_size}, {args.num_negatives} "
             f"hard negatives, max {args.max_length} tokens, tau {args.temperature}; median of {args.repeats} run(s)")
    C.print_table(title, ["side", "samples/s", "train s", "peak RSS MiB", "RssAnon MiB", "steps", "first loss",
                          "final loss", "mean loss"], rows, digits=3)
    dup = prep["in_batch_positive_copies"]
    print(f"in-batch copies of a query's positive among its negatives (hf_nvr masks them, MNRL does not): "
          f"{dup['total']} in {dup['batches_with_any']} of {dup['batches']} batches ({dup['first_batch']} in the first); "
          "step losses also differ by the trainers' dropout draws")
    if hf["median_steps"] is not None and st["median_steps"] is not None and hf["median_steps"] != st["median_steps"]:
        print(f"WARNING: the sides ran a different number of steps ({hf['median_steps']} vs {st['median_steps']})")
    ratios = {
        "hf_over_st_samples_per_s": C.ratio(hf["median_samples_per_s"], st["median_samples_per_s"]),
        "hf_over_st_peak_rss": C.ratio(hf["median_peak_rss_mb"], st["median_peak_rss_mb"]),
    }
    C.print_table("Ratios (throughput > 1 and RSS < 1 favour hf_nvr)", ["ratio", "value"],
                  [[k, v] for k, v in ratios.items()], digits=3)
    for name, group in runs.items():
        for r in group:
            if "error" in r:
                print(f"WARNING: a {name} run failed: {r['error']}")
    C.write_json(args.output, {
        "benchmark": "training",
        "settings": {k: v for k, v in params.items() if k not in ("work_dir", "mined_given")} | {"repeats": args.repeats},
        "data": prep,
        "environment": C.environment(),
        "summary": {"hf_nvr": hf, "sentence_transformers": st},
        "ratios": ratios,
        "runs": runs,
    })


if __name__ == "__main__":
    if "--side" in sys.argv:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        C.child_main(SIDES, sys.argv[1:])
    else:
        main()
