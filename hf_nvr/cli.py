"""`hf-nvr`: a thin shell over the public API (mine, train, evaluate, push, quickstart)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any


def _load_rows(ref: str, split: str = "train") -> Any:
    """A local jsonl/json/parquet file or a Hub dataset id, as a ``datasets.Dataset``."""
    from datasets import load_dataset

    path = Path(ref)
    if path.exists():
        kind = "parquet" if path.suffix == ".parquet" else "json"
        return load_dataset(kind, data_files=str(path), split="train")
    return load_dataset(ref, split=split)


def _is_local(ref: str) -> bool:
    return ref.endswith((".jsonl", ".json", ".parquet"))


def _relaunch(num_processes: int) -> None:
    """Re-run this command under torchrun (what ``accelerate launch`` uses) with N processes."""
    import os
    import subprocess

    argv = sys.argv[1:]
    flag = next(i for i, a in enumerate(argv) if a.startswith("--num-processes"))
    del argv[flag : flag + (1 if "=" in argv[flag] else 2)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={num_processes}",
           "-m", "hf_nvr.cli", *argv]
    raise SystemExit(subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}))


def _mine(args: argparse.Namespace) -> None:
    from datasets import Dataset

    from hf_nvr import HardNegativeMiner, MiningConfig
    from hf_nvr.common.beir import load_beir
    from hf_nvr.mining.distributed import process_info

    if args.num_processes and args.num_processes > 1:
        _relaunch(args.num_processes)
    if args.beir:
        data = load_beir(args.beir, args.split)
        queries = Dataset.from_list(data.pairs())
        corpus = Dataset.from_list([{"_id": d, **v} for d, v in data.corpus.items()])
    elif args.queries and args.corpus:
        queries, corpus = _load_rows(args.queries), _load_rows(args.corpus)
    else:
        raise SystemExit("hf-nvr mine: give --queries and --corpus, or --beir DIR")

    names = {f.name for f in fields(MiningConfig)}
    config = MiningConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})
    teachers = args.teacher
    miner = HardNegativeMiner(teachers[0] if len(teachers) == 1 else None, corpus, config,
                              teachers=teachers if len(teachers) > 1 else None, reranker=args.reranker)
    mined = miner.mine(queries, batch_size=args.map_batch_size, load_from_cache_file=False)
    if process_info()[0] != 0:
        return
    print(miner.report.summary())
    if not _is_local(args.output):
        import tempfile

        from hf_nvr import push_dataset_to_hub

        with tempfile.TemporaryDirectory() as tmp:
            png = miner.report.plot_histogram(Path(tmp) / "mining_histogram.png")
            url = push_dataset_to_hub(mined, args.output, mining_report=miner.report.to_dict(), histogram_path=png)
        print(f"pushed {args.output} with its mining report as the dataset card: {url}")
        return
    if args.output.endswith(".parquet"):
        mined.to_parquet(args.output)
    else:
        mined.to_json(args.output, lines=True, force_ascii=False)
    stem = Path(args.output).with_suffix("")
    miner.report.to_json(f"{stem}.report.json")
    miner.report.plot_histogram(f"{stem}.histogram.png")
    print(f"wrote {args.output}, {stem}.report.json and {stem}.histogram.png")


def _train(args: argparse.Namespace) -> None:
    from hf_nvr.recipe import run_recipe

    run_recipe(args.recipe, overrides=args.overrides)


def _evaluate(args: argparse.Namespace) -> None:
    from hf_nvr import evaluate_retrieval

    results = evaluate_retrieval(args.model, tasks=args.tasks, data_dir=args.data_dir, split=args.split,
                                 output_dir=args.output_dir, use_mteb=not args.no_mteb)
    payload = [r.to_dict() for r in results]
    if args.output_dir:
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.output_dir) / "results.json").write_text(json.dumps(payload, indent=2))
    for r in results:
        print(f"{r.task_name} ({r.split}): {r.main_score_name} = {r.main_score:.4f}")


def _push(args: argparse.Namespace) -> None:
    from hf_nvr import push_to_hub

    results = json.loads(Path(args.results).read_text()) if args.results else None
    report = json.loads(Path(args.mining_report).read_text()) if args.mining_report else None
    print(push_to_hub(args.model_dir, args.repo_id, results=results, mining_report=report, private=args.private))


def _quickstart(args: argparse.Namespace) -> None:
    from hf_nvr.quickstart import QuickstartConfig, run_quickstart

    run_quickstart(QuickstartConfig(**{k: v for k, v in vars(args).items() if k in {f.name for f in fields(QuickstartConfig)} and v is not None}))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-nvr", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    mine = sub.add_parser("mine", help="mine hard negatives (jsonl in → jsonl out, one row per query)")
    mine.add_argument("--queries", help="rows with 'query' and 'positive' (jsonl/parquet or hub dataset id)")
    mine.add_argument("--corpus", help="passages with 'text' (+ 'title', '_id')")
    mine.add_argument("--beir", help="a BEIR folder instead of --queries/--corpus")
    mine.add_argument("--split", default="train")
    mine.add_argument("--teacher", nargs="+", required=True, help="one teacher, or several to ensemble")
    mine.add_argument("--reranker", help="optional cross-encoder to re-score candidates")
    mine.add_argument("--output", required=True, help=".jsonl/.parquet path, or a hub dataset id to push to")
    mine.add_argument("--keep-top1", dest="keep_top1", action="store_true", default=None)
    mine.add_argument("--map-batch-size", dest="map_batch_size", type=int, default=256,
                      help="query rows per mapped batch (and per unit of work split between processes)")
    mine.add_argument("--faiss-shard", dest="faiss_shard", action="store_true", default=None,
                      help="faiss-gpu: split the index over this process's GPUs instead of a copy on each")
    mine.add_argument("--num-processes", dest="num_processes", type=int,
                      help="shard encoding and search over N processes (same output as one)")
    for name, kind in [("method", str), ("num_negatives", int), ("range_max", int), ("shift", int),
                       ("max_score", float), ("margin", float), ("perc", float), ("sample_from_top", int),
                       ("sample_temperature", float), ("ensemble", str), ("query_prompt", str),
                       ("passage_prompt", str), ("max_length", int), ("batch_size", int), ("backend", str),
                       ("seed", int), ("cache_dir", str), ("positive_aggregation", str), ("shard_size", int),
                       ("ivf_nlist", int), ("ivf_nprobe", int), ("pq_m", int), ("device", str), ("store_dtype", str), ("query_column", str),
                       ("positive_column", str), ("positive_id_column", str)]:
        mine.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind)
    mine.set_defaults(func=_mine)

    train = sub.add_parser("train", help="train from a recipe YAML (same as recipes/train.py)")
    train.add_argument("recipe")
    train.add_argument("overrides", nargs="*", help="key=value overrides of the recipe")
    train.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="MTEB retrieval evaluation")
    ev.add_argument("model")
    ev.add_argument("--tasks", nargs="+", default=["SciFact"])
    ev.add_argument("--data-dir", dest="data_dir")
    ev.add_argument("--split", default="test")
    ev.add_argument("--output-dir", dest="output_dir")
    ev.add_argument("--no-mteb", action="store_true", help="use the built-in evaluator")
    ev.set_defaults(func=_evaluate)

    push = sub.add_parser("push", help="push a trained model with its card")
    push.add_argument("model_dir")
    push.add_argument("repo_id")
    push.add_argument("--results", help="results.json from hf-nvr evaluate")
    push.add_argument("--mining-report", dest="mining_report")
    push.add_argument("--private", action="store_true", default=None)
    push.set_defaults(func=_push)

    qs = sub.add_parser("quickstart", help="mine → train → evaluate → card on bundled SciFact")
    qs.add_argument("--output-dir", dest="output_dir", default="out")
    qs.add_argument("--data-dir", dest="data_dir")
    qs.add_argument("--teacher")
    qs.add_argument("--student")
    qs.add_argument("--push-to-hub", dest="push_to_hub")
    qs.add_argument("--max-train-queries", dest="max_train_queries", type=int)
    qs.add_argument("--max-corpus", dest="max_corpus", type=int)
    qs.add_argument("--epochs", type=float)
    qs.set_defaults(func=_quickstart)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except (ValueError, KeyError, FileNotFoundError, OSError) as err:
        print(f"hf-nvr {args.command}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from err


if __name__ == "__main__":
    main()
