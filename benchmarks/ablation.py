"""The paper's Table 3 at small scale: which hard-negative mining method trains the best retriever?

Same student, teacher, data, seed and training budget for every run; only the mining method changes. Runs:
zero-shot, in-batch negatives only, naive top-k, top-k shifted by 10, TopK-Abs 0.7, TopK-MarginPos 0.05,
TopK-PercPos 95% and TopK-PercPos 95% sampled from the top 10. Each is evaluated on the SciFact test split
(NDCG@10); for each method we also measure a false-negative proxy: the share of mined negatives that are
judged positives of *another* query (train or test qrels) — passages the qrels say are relevant to something,
which a naive miner picks up — and the share that duplicate the row's positive after text normalisation.
The corpus is encoded once for all methods (the miners share the embedding store).

    python benchmarks/ablation.py --output-dir benchmarks/results/ablation [--seeds 42 43] [--max-train-queries N]

Writes ``ablation.md`` (the table), ``ablation.png`` (bar chart) and ``ablation.json`` (all figures).
Uses only the public API, so it doubles as an example.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from datasets import Dataset
from sentence_transformers import SentenceTransformer

from hf_nvr import (
    BiEncoder,
    HardNegativeMiner,
    MiningConfig,
    NVRetrieverConfig,
    NVRetrieverTrainer,
    RetrievalEvaluator,
)
from hf_nvr.common.beir import bundled_scifact_dir, load_beir
from hf_nvr.common.models import resolve_model
from hf_nvr.common.text import normalize_text

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
METHODS: dict[str, dict] = {
    "naive_topk": {"method": "naive_topk"},
    "topk_shifted (N=10)": {"method": "topk_shifted", "shift": 10},
    "topk_abs (0.7)": {"method": "topk_abs", "max_score": 0.7},
    "topk_marginpos (0.05)": {"method": "topk_marginpos", "margin": 0.05},
    "topk_percpos (95%)": {"method": "topk_percpos", "perc": 0.95},
    "topk_percpos (95%) sampled top-10": {"method": "topk_percpos", "perc": 0.95, "sample_from_top": 10,
                                          "sample_temperature": 0.05},
}


def false_negative_proxy(mined: Dataset, judged: dict[str, set[str]]) -> dict[str, float]:
    """Share of negatives that are judged-relevant to another query, and share duplicating the row's positive."""
    total = other_positive = duplicate = 0
    for row in mined:
        positives = {normalize_text(p) for p in row["positive"]}
        for neg_id, neg in zip(row["negative_ids"], row["negatives"]):
            total += 1
            other_positive += bool(judged.get(neg_id, set()) - {row["query_id"]})
            duplicate += normalize_text(neg) in positives
    return {"negatives": total, "other_query_positive": other_positive / max(total, 1),
            "duplicate_of_positive": duplicate / max(total, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(bundled_scifact_dir()))
    parser.add_argument("--output-dir", default="benchmarks/results/ablation")
    parser.add_argument("--teacher", default=MODEL)
    parser.add_argument("--student", default=MODEL)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--max-train-queries", type=int)
    parser.add_argument("--num-hard-negatives", type=int, default=1)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--max-length", type=int, default=128, help="passage tokens, training and evaluation alike")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--max-corpus", type=int, help="smoke runs only: judged documents plus the first others")
    args = parser.parse_args()

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, test = load_beir(args.data_dir, "train"), load_beir(args.data_dir, "test")
    if args.max_corpus:
        keep = train.judged_ids() | test.judged_ids()
        train, test = train.with_corpus_subset(args.max_corpus, keep), test.with_corpus_subset(args.max_corpus, keep)
    pairs = train.pairs()[: args.max_train_queries] if args.max_train_queries else train.pairs()
    judged: dict[str, set[str]] = {}
    for qrels in (train.qrels, test.qrels):
        for qid, rels in qrels.items():
            for doc in rels:
                judged.setdefault(doc, set()).add(qid)
    corpus = Dataset.from_list([{"_id": d, **v} for d, v in train.corpus.items()])
    evaluator = RetrievalEvaluator(test.queries, test.corpus, test.qrels, name="scifact", show_progress_bar=True)
    results: dict[str, dict] = {}
    started = time.perf_counter()

    def record(name: str, seed: int, ndcg: float) -> None:
        results.setdefault(name, {"ndcg_at_10": []})["ndcg_at_10"].append(ndcg)
        print(f"{name:40s} seed {seed}: NDCG@10 = {ndcg:.4f}", flush=True)

    zero_shot = SentenceTransformer(resolve_model(args.student), device="cpu")
    zero_shot.max_seq_length = args.max_length
    record("zero-shot", 0, evaluator(zero_shot)["scifact_ndcg_at_10"])

    def train_and_score(rows: Dataset, name: str, seed: int, in_batch_only: bool = False) -> None:
        model = BiEncoder.from_pretrained(args.student)
        config = NVRetrieverConfig(
            output_dir=str(out / "runs" / f"{name}-{seed}".replace(" ", "_")), num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate, warmup_steps=5,
            temperature=args.temperature, num_hard_negatives=0 if in_batch_only else args.num_hard_negatives,
            query_max_length=64, passage_max_length=args.max_length, seed=seed, data_seed=seed, save_strategy="no",
            logging_steps=10, use_cpu=True,
        )
        NVRetrieverTrainer(model=model, args=config, train_dataset=rows).train()
        model.query_max_length = model.passage_max_length = args.max_length
        record(name, seed, evaluator(model)["scifact_ndcg_at_10"])

    rows = Dataset.from_list(pairs)
    for seed in args.seeds:
        train_and_score(rows, "in-batch negatives only", seed, in_batch_only=True)
    for name in args.methods:
        config = MiningConfig(**METHODS[name], num_negatives=4, seed=args.seeds[0],
                              cache_dir=str(out / "embeddings"), max_length=256)
        miner = HardNegativeMiner(args.teacher, corpus, config, show_progress=True)
        mined = miner.mine(rows)
        proxy = {**false_negative_proxy(mined, judged), "rows_short": miner.report.num_rows_short}
        for seed in args.seeds:
            train_and_score(mined, name, seed)
        results[name].update(proxy)

    table = ["| run | NDCG@10 (mean ± sd over seeds) | negatives that are another query's positive | duplicates of the positive | rows short of 4 |",
             "|---|---|---|---|---|"]
    for name, entry in results.items():
        scores = entry["ndcg_at_10"]
        spread = f" ± {statistics.stdev(scores):.4f}" if len(scores) > 1 else ""
        proxy = (f"{100 * entry['other_query_positive']:.2f}%", f"{100 * entry['duplicate_of_positive']:.2f}%",
                 str(entry["rows_short"])) if "negatives" in entry else ("—", "—", "—")
        table.append(f"| {name} | {statistics.mean(scores):.4f}{spread} | {' | '.join(proxy)} |")
    summary = {
        "settings": {k: v for k, v in vars(args).items()},
        "train_queries": len(pairs),
        "wall_s": round(time.perf_counter() - started, 1),
        "results": results,
    }
    (out / "ablation.json").write_text(json.dumps(summary, indent=2))
    (out / "ablation.md").write_text("\n".join(table) + "\n")
    _plot(results, out / "ablation.png")
    print("\n".join(table))
    print(f"wrote {out}/ablation.md, ablation.png, ablation.json in {summary['wall_s']} s")


def _plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    means = [statistics.mean(results[n]["ndcg_at_10"]) for n in names]
    errors = [statistics.stdev(results[n]["ndcg_at_10"]) if len(results[n]["ndcg_at_10"]) > 1 else 0 for n in names]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    bars = ax.barh(names, means, xerr=errors, color=["#999"] * 2 + ["#4c72b0"] * (len(names) - 2))
    ax.bar_label(bars, labels=[f"{m:.4f}" for m in means], padding=3)
    ax.set_xlim(min(means) - 0.03, max(means) + 0.02)
    ax.invert_yaxis()
    ax.set_xlabel("NDCG@10, SciFact test split")
    ax.set_title("Hard-negative mining methods (same student, teacher, data, seed, budget)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
