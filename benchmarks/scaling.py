"""Scaling benchmark: ``hf-nvr mine`` in 1 process vs ``--num-processes N`` (torchrun, gloo on CPU).

What is compared: the same CLI command on SciFact train (all 809 queries by default, the corpus capped at
``--max-corpus`` passages with every positive kept), MiniLM as teacher, each run with a fresh embedding store:

- **1 process**: ``hf-nvr mine --queries Q --corpus C --teacher T --output O1.jsonl``, torch using every core;
- **N processes**: the same plus ``--num-processes N``; torchrun gives each rank ``OMP_NUM_THREADS=1``, each rank
  encodes every N-th store shard and mines a contiguous slice of the queries, rank 0 writes the output.

Reported per run: wall time (interpreter start to exit), the peak resident set summed over the whole process
tree (sampled every 0.25 s), and whether the two outputs are identical row for row (they must be). On a 2-core
machine N = 2 gains little: the point is that the distributed path costs no correctness and what it costs in
memory (each rank holds its own copy of the teacher and the corpus texts); on N GPUs encoding splits N ways.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C


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
    runs, outputs = {}, {}
    with tempfile.TemporaryDirectory(prefix="hf-nvr-bench-scaling-") as tmp:
        root = Path(tmp)
        for name, rows in (("queries", pairs), ("corpus", corpus)):
            with open(root / f"{name}.jsonl", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
        for n in (1, args.processes):
            out = root / f"mined-{n}.jsonl"
            cmd = [sys.executable, "-m", "hf_nvr.cli", "mine", "--queries", str(root / "queries.jsonl"),
                   "--corpus", str(root / "corpus.jsonl"), "--teacher", teacher, "--output", str(out),
                   "--cache-dir", str(root / f"emb-{n}")]
            if n > 1:
                cmd += ["--num-processes", str(n)]
            runs[n] = C.run_command(cmd, rss_limit_gb=args.rss_limit_gb,
                                    label=f"hf-nvr mine, {n} process{'es' if n > 1 else ''}")
            outputs[n] = out.read_text().splitlines() if out.exists() else None
    single, multi = runs[1], runs[args.processes]
    identical = outputs[1] is not None and outputs[1] == outputs[args.processes]
    C.print_table(
        f"hf-nvr mine: {len(pairs)} queries x {len(corpus)} passages, 1 vs {args.processes} processes (one run each)",
        ["processes", "wall s", "peak RSS of the tree MiB", "exit"],
        [[n, r["wall_s"], r["peak_tree_rss_mb"], r["code"]] for n, r in runs.items()],
    )
    ratios = {"wall": C.ratio(multi["wall_s"], single["wall_s"]),
              "peak_rss": C.ratio(multi["peak_tree_rss_mb"], single["peak_tree_rss_mb"])}
    print(f"\n{args.processes} processes / 1 process: wall {C.fmt(ratios['wall'])}x, peak RSS {C.fmt(ratios['peak_rss'])}x; "
          f"outputs identical: {identical}")
    C.write_json(args.output, {
        "benchmark": "scaling",
        "settings": {"queries": len(pairs), "corpus": len(corpus), "processes": args.processes},
        "environment": C.environment(),
        "runs": {str(k): v for k, v in runs.items()},
        "ratios": ratios,
        "identical_outputs": identical,
    })
    if not identical:
        raise SystemExit("the multi-process output differs from the single-process one")


if __name__ == "__main__":
    main()
