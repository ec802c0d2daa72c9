"""Scaling benchmark: ``hf-nvr mine`` in 1 process vs ``--num-processes N`` (torchrun, gloo on CPU).

What is compared: the same CLI command on SciFact train (all 809 queries by default, the corpus capped at
``--max-corpus`` passages with every positive kept), MiniLM as teacher, each run with a fresh embedding store:

- **1 process**: ``hf-nvr mine --queries Q --corpus C --teacher T --output O.jsonl``, torch on every core;
- **N processes**: the same plus ``--num-processes N``; torchrun gives each rank ``OMP_NUM_THREADS=1``, each rank
  encodes every N-th store shard and mines a contiguous slice of the queries, rank 0 writes the output;
- **1 process, 1 thread** (``OMP_NUM_THREADS=1``): the single-process run with the ranks' arithmetic.

Reported per run: wall time (interpreter start to exit), the peak resident set summed over the whole process
tree (sampled every 0.25 s), and how the outputs compare: byte-identical files, identical negative ids per row,
largest score difference. A matrix product summed by 2 threads rounds differently from one summed by 1, so
only runs with the same per-process thread count can be byte-identical, which the third run checks. On a 2-core machine N = 2 gains nothing: the point is what the distributed path costs
(each rank holds its own teacher and corpus texts) and that it changes no result; on N GPUs encoding splits
N ways.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C


def _compare(a: list[dict], b: list[dict]) -> dict:
    same_ids = sum(x["negative_ids"] == y["negative_ids"] for x, y in zip(a, b))
    diffs = [abs(s - t) for x, y in zip(a, b) for s, t in zip(x["negative_scores"] + x["positive_scores"],
                                                            y["negative_scores"] + y["positive_scores"])]
    return {"byte_identical": a == b, "rows": len(a), "rows_with_identical_negative_ids": same_ids,
            "max_abs_score_diff": max(diffs, default=0.0)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for details.")
    parser.add_argument("--data-dir", default=None, help="BEIR SciFact folder (default: ../shared/data/scifact, else bundled)")
    parser.add_argument("--model", default=None, help="teacher path (default: the offline all-MiniLM-L6-v2 copy)")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--max-corpus", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rss-limit-gb", type=float, default=C.default_rss_limit_gb())
    parser.add_argument("--output", default=str(C.RESULTS_DIR / "scaling.json"))
    args = parser.parse_args(argv)

    pairs, corpus = C.load_scifact(args.data_dir or C.default_scifact_dir(), args.max_queries, args.max_corpus)
    teacher = args.model or C.minilm_path()
    n = args.processes
    configs = {"1 process": ([], None), f"{n} processes": (["--num-processes", str(n)], None),
               "1 process, 1 thread": ([], {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})}
    runs, outputs = {}, {}
    with tempfile.TemporaryDirectory(prefix="hf-nvr-bench-scaling-") as tmp:
        root = Path(tmp)
        for name, rows in (("queries", pairs), ("corpus", corpus)):
            with open(root / f"{name}.jsonl", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
        for i, (label, (extra, env)) in enumerate(configs.items()):
            out = root / f"mined-{i}.jsonl"
            cmd = [sys.executable, "-m", "hf_nvr.cli", "mine", "--queries", str(root / "queries.jsonl"),
                   "--corpus", str(root / "corpus.jsonl"), "--teacher", teacher, "--output", str(out),
                   "--cache-dir", str(root / f"emb-{i}"), *extra]
            runs[label] = C.run_command(cmd, rss_limit_gb=args.rss_limit_gb, label=f"hf-nvr mine, {label}", env=env)
            outputs[label] = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    single, multi, matched = (runs[k] for k in configs)
    comparisons = {
        f"{n} processes vs 1 process": _compare(outputs[f"{n} processes"], outputs["1 process"]),
        f"{n} processes vs 1 process, 1 thread": _compare(outputs[f"{n} processes"], outputs["1 process, 1 thread"]),
    }
    C.print_table(
        f"hf-nvr mine: {len(pairs)} queries x {len(corpus)} passages (one run each)",
        ["run", "wall s", "peak RSS of the tree MiB", "exit"],
        [[k, r["wall_s"], r["peak_tree_rss_mb"], r["code"]] for k, r in runs.items()],
    )
    C.print_table("outputs", ["comparison", "byte-identical", "rows with identical negative ids", "max |score diff|"],
                  [[k, v["byte_identical"], f"{v['rows_with_identical_negative_ids']} / {v['rows']}", v["max_abs_score_diff"]]
                   for k, v in comparisons.items()], digits=8)
    ratios = {"wall": C.ratio(multi["wall_s"], single["wall_s"]),
              "peak_rss": C.ratio(multi["peak_tree_rss_mb"], single["peak_tree_rss_mb"]),
              "wall_vs_one_thread": C.ratio(multi["wall_s"], matched["wall_s"])}
    print(f"\n{n} processes / 1 process: wall {C.fmt(ratios['wall'])}x, peak RSS {C.fmt(ratios['peak_rss'])}x")
    C.write_json(args.output, {
        "benchmark": "scaling",
        "settings": {"queries": len(pairs), "corpus": len(corpus), "processes": n},
        "environment": C.environment(),
        "runs": runs,
        "comparisons": comparisons,
        "ratios": ratios,
    })


if __name__ == "__main__":
    main()
