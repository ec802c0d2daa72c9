"""Large-store benchmark: searching a 1M-row (or 5M-row) embedding store in bounded memory.

What is compared: 10,000 queries against a synthetic corpus of ``--rows`` 384-d unit vectors (no model: the
point is the search path at a scale where encoding would take days on this machine).

- **build**: hf_nvr's ``EmbeddingStore.build`` fills float16 ``.npy`` shards through an ``encode`` callable
  that returns seeded random unit vectors (so the store is written exactly as the miner writes it: atomic
  shards, checksums, manifest). Built once per run, or reused from ``--store-dir``.
- **hf_nvr torch exact**: ``search.tiled_topk(queries, store.iter_shards(), k)`` over the memory-mapped
  shards, the miner's CPU backend. Target: peak RSS under 4 GB at 1M rows.
- **hf_nvr faiss IVF**: ``search.FaissIndex(store.iter_shards(), dim, ivf_nlist=..., ivf_nprobe=...)``, the
  miner's ``backend="faiss-ivf"`` (``nlist`` defaults to the miner's rule ``max(16, 4·sqrt(rows))``), searched at
  each ``--nprobe``; recall@k is measured against the exact top-k.
- **hf_nvr faiss IVF-PQ**: the same with ``pq_m=default_pq_m(dim)`` (48 bytes a vector at dim 384), the miner's
  ``backend="faiss-ivfpq"`` for corpora whose float32 vectors do not fit in RAM (the miner then re-scores the
  candidates exactly from the store): the index returns ``4·k`` candidates, re-scored exactly with
  ``search.exact_rerank`` from the memory-mapped store, best ``k`` kept, as the miner's default ``pq_refine=4``
  (``--pq-refine 4,16`` searches the same index at several depths).
- **the peer**: sentence-transformers has no on-disk store; ``mine_hard_negatives`` and ``util.semantic_search``
  take the whole corpus as one in-memory float32 matrix (``rows × dim × 4`` bytes), and ``mine_hard_negatives``
  without faiss also materialises a ``min(queries, faiss_batch_size=16384) × rows`` float32 similarity block.
  Both figures are computed and printed. With ``--with-st`` the script also runs
  ``sentence_transformers.util.semantic_search`` (defaults ``query_chunk_size=100``, ``corpus_chunk_size=500000``)
  on the in-memory float32 matrix (loaded from the same store) in its own process, for time and RSS.

Synthetic data: by default a mixture of ``--clusters`` random unit centres plus Gaussian noise of norm
``--noise`` (cosine ≈ 0.5 between two members of a cluster), re-normalised; queries are drawn the same way.
Exact search cost and memory do not depend on the data; IVF recall does, strongly: real embeddings are
clustered, uniform random vectors (``--clusters 0``) are IVF's worst case. So IVF recall here is a property of
this synthetic set, not a prediction for a real corpus.

Every step runs in its own process (see ``_common.py``) and reports ``ru_maxrss``, which counts the pages of
the memory-mapped store that the process has touched (file-backed, reclaimable), and the sampled peak of
``RssAnon`` (heap only); "RSS after imports" is each process's resident set before its work starts (the
sentence-transformers step imports transformers, the hf_nvr search steps only torch/faiss), so the work's
own footprint is the difference. The parent kills any step whose resident set passes ``--rss-limit-gb``; steps whose
estimated memory does not fit in the available RAM are skipped, so the machine never swaps.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

GIB = 2**30


class _PositionTexts:
    """A sequence of ``str(position)`` without a million-string list: the store only needs len and items."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return str(i)

    def __iter__(self):
        return (str(i) for i in range(self.n))


def _centres(p: dict):
    import numpy as np

    if not p["clusters"]:
        return None
    c = np.random.default_rng([p["seed"], 0]).standard_normal((p["clusters"], p["dim"])).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def _sample(rng, n: int, p: dict, centres):
    import numpy as np

    v = rng.standard_normal((n, p["dim"]), dtype=np.float32)
    if centres is not None:
        v *= p["noise"] / math.sqrt(p["dim"])
        v += centres[rng.integers(len(centres), size=n)]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _queries(p: dict):
    import numpy as np
    import torch

    return torch.from_numpy(_sample(np.random.default_rng([p["seed"], 2]), p["queries"], p, _centres(p)))


def _fingerprint(p: dict) -> str:
    return f"synthetic-r{p['rows']}-d{p['dim']}-c{p['clusters']}-n{p['noise']}-s{p['seed']}"


def _store(p: dict):
    from hf_nvr.mining.store import EmbeddingStore

    return EmbeddingStore(p["store_dir"], _fingerprint(p))


# -- sides (each runs in its own process) -------------------------------------------------------------------------


def side_build(p: dict) -> dict:
    import numpy as np

    store = _store(p)
    if store.complete:
        return {"reused": True, "build_s": None}
    centres = _centres(p)

    def encode(texts: list[str]):
        rng = np.random.default_rng([p["seed"], 1, int(texts[0])])
        return _sample(rng, len(texts), p, centres)

    started = time.perf_counter()
    store.build(_PositionTexts(p["rows"]), encode, shard_size=p["shard_size"], dtype="float16", show_progress=True)
    return {"reused": False, "build_s": time.perf_counter() - started}


def side_torch(p: dict) -> dict:
    import numpy as np

    from hf_nvr.mining.search import tiled_topk

    queries = _queries(p)
    baseline = C.current_rss_mb()
    started = time.perf_counter()
    store = _store(p)
    _, rows = tiled_topk(queries, store.iter_shards(), p["k"])
    wall = time.perf_counter() - started
    np.save(Path(p["out_dir"]) / "torch.npy", rows.numpy())
    return {"search_s": wall, "queries_per_s": p["queries"] / wall, "shards": sum(1 for _ in store.iter_shards()),
            "rss_after_imports_mb": baseline}


def _side_faiss(p: dict, pq_m: int | None) -> dict:
    import faiss
    import numpy as np

    from hf_nvr.mining.search import FaissIndex, exact_rerank

    queries = _queries(p)
    store = _store(p)
    baseline = C.current_rss_mb()
    started = time.perf_counter()
    index = FaissIndex(store.iter_shards(), p["dim"], ivf_nlist=p["nlist"], ivf_nprobe=p["nprobe"][0],
                       pq_m=pq_m, num_rows=p["rows"], seed=p["seed"])
    prefix = "ivfpq" if pq_m else "ivf"
    build_s = time.perf_counter() - started
    searches = {}
    for nprobe in p["nprobe"]:
        faiss.ParameterSpace().set_index_parameter(index.index, "nprobe", nprobe)
        for refine in p["pq_refine"] if pq_m else [None]:
            started = time.perf_counter()
            if refine:  # what the miner does: fetch pq_refine x k codes' best, re-score them exactly from the store
                _, rows = index.search(queries, p["k"] * refine)
                _, rows = exact_rerank(queries, rows, lambda r: store.get(store.order[r]), p["k"])
            else:
                _, rows = index.search(queries, p["k"])
            wall = time.perf_counter() - started
            key = f"{nprobe}x{refine}" if refine else str(nprobe)
            np.save(Path(p["out_dir"]) / f"{prefix}-{key}.npy", rows.numpy())
            searches[key] = {"search_s": wall, "queries_per_s": p["queries"] / wall}
    return {"index_build_s": build_s, "kind": index.kind, "nlist": p["nlist"], "pq_m": pq_m, "searches": searches,
            "faiss_threads": faiss.omp_get_max_threads(), "rss_after_imports_mb": baseline}


def side_ivf(p: dict) -> dict:
    return _side_faiss(p, None)


def side_ivfpq(p: dict) -> dict:
    from hf_nvr.mining.search import default_pq_m

    return _side_faiss(p, default_pq_m(p["dim"]))


def side_st(p: dict) -> dict:
    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers.util import semantic_search

    queries = _queries(p)
    store = _store(p)
    baseline = C.current_rss_mb()
    started = time.perf_counter()
    matrix = np.empty((p["rows"], p["dim"]), dtype=np.float32)  # what ST holds: the whole corpus, float32, in RAM
    for offset, shard in store.iter_shards():
        matrix[offset : offset + len(shard)] = shard
    corpus = torch.from_numpy(matrix)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    hits = semantic_search(queries, corpus, top_k=p["k"])
    wall = time.perf_counter() - started
    rows = np.array([[h["corpus_id"] for h in sorted(q, key=lambda h: -h["score"])] for q in hits], dtype=np.int64)
    np.save(Path(p["out_dir"]) / "st.npy", rows)
    return {"load_s": load_s, "search_s": wall, "queries_per_s": p["queries"] / wall,
            "version": sentence_transformers.__version__, "rss_after_imports_mb": baseline}


SIDES = {"build": side_build, "torch": side_torch, "ivf": side_ivf, "ivfpq": side_ivfpq, "st": side_st}


# -- the parent -------------------------------------------------------------------------------------------------


def _recall(found, exact) -> dict:
    import numpy as np

    from hf_nvr.mining.search import recall_at_k

    per_query = recall_at_k(found, exact)
    return {"mean": float(per_query.mean()), "median": float(np.median(per_query)), "min": float(per_query.min())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for details.")
    parser.add_argument("--rows", type=int, default=1_000_000, help="store rows (1M default; 5000000 for 5M)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=50, help="top-k per query (the miner's range_max)")
    parser.add_argument("--shard-size", type=int, default=4096, help="rows per store shard (MiningConfig default)")
    parser.add_argument("--clusters", type=int, default=1024, help="synthetic cluster centres; 0 = uniform random")
    parser.add_argument("--noise", type=float, default=1.0, help="norm of the noise added to a centre")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ivf-nlist", type=int, default=None, help="IVF lists (default: the miner's max(16, 4*sqrt(rows)))")
    parser.add_argument("--nprobe", default="16,64", help="comma-separated IVF nprobe values (first: MiningConfig default)")
    parser.add_argument("--pq-refine", default="4", help="comma-separated IVF-PQ pq_refine values (first: MiningConfig default)")
    parser.add_argument("--ivf-kinds", default="ivf,ivfpq", help="faiss steps to run: ivf (IVF-Flat), ivfpq, or both")
    parser.add_argument("--skip-ivf", action="store_true", help="same as --ivf-kinds ''")
    parser.add_argument("--with-st", action="store_true", help="also run ST semantic_search on the in-memory fp32 matrix")
    parser.add_argument("--store-dir", default=None, help="keep/reuse the store here (default: a temp dir, deleted after)")
    parser.add_argument("--rss-limit-gb", type=float, default=C.default_rss_limit_gb(),
                        help="kill a step whose resident set passes this (default: 75%% of RAM)")
    parser.add_argument("--target-gb", type=float, default=4.0, help="hf_nvr torch-exact peak RSS target")
    parser.add_argument("--output", default=str(C.RESULTS_DIR / "large_store.json"))
    args = parser.parse_args(argv)

    nprobe = [int(x) for x in args.nprobe.split(",") if x.strip()]
    nlist = args.ivf_nlist or max(16, int(4 * math.sqrt(args.rows)))
    store_dir = args.store_dir or tempfile.mkdtemp(prefix="hf-nvr-bench-large-store-")
    out_dir = tempfile.mkdtemp(prefix="hf-nvr-bench-large-out-")
    p = {"rows": args.rows, "dim": args.dim, "queries": args.queries, "k": args.k, "shard_size": args.shard_size,
         "clusters": args.clusters, "noise": args.noise, "seed": args.seed, "nlist": nlist, "nprobe": nprobe,
         "pq_refine": [int(x) for x in args.pq_refine.split(",") if x.strip()],
         "store_dir": store_dir, "out_dir": out_dir}

    n, d, q = args.rows, args.dim, args.queries
    figures = {
        "store_fp16_on_disk_gb": n * d * 2 / GIB,
        "st_fp32_matrix_gb": n * d * 4 / GIB,
        "st_mine_hard_negatives_similarity_block_gb": min(q, 16384) * n * 4 / GIB,
        "st_semantic_search_extra_gb": (min(n, 500_000) * d * 4 + 100 * min(n, 500_000) * 4) / GIB,
        "faiss_ivf_index_gb": n * d * 4 / GIB,
        "faiss_ivfpq_index_gb": n * (d // 8 + 8) / GIB,
    }
    figures["st_mine_hard_negatives_total_gb"] = figures["st_fp32_matrix_gb"] + figures["st_mine_hard_negatives_similarity_block_gb"]
    figures["st_semantic_search_total_gb"] = figures["st_fp32_matrix_gb"] + figures["st_semantic_search_extra_gb"]
    C.print_table(f"Memory the peer's in-memory path needs at {n:,} x {d} ({q:,} queries)", ["item", "GiB"], [
        ["hf_nvr store, float16 on disk (memory-mapped)", figures["store_fp16_on_disk_gb"]],
        ["ST: corpus as one float32 matrix in RAM", figures["st_fp32_matrix_gb"]],
        ["ST mine_hard_negatives (no faiss): + similarity block min(Q,16384) x N fp32",
         figures["st_mine_hard_negatives_similarity_block_gb"]],
        ["ST mine_hard_negatives (no faiss): total", figures["st_mine_hard_negatives_total_gb"]],
        ["ST semantic_search: matrix + normalised 500k chunk + 100 x 500k scores", figures["st_semantic_search_total_gb"]],
        ["faiss IVF-Flat index (float32 copy of every vector)", figures["faiss_ivf_index_gb"]],
        ["faiss IVF-PQ index (dim/8 code bytes + 8-byte id per vector)", figures["faiss_ivfpq_index_gb"]],
    ])

    script = Path(__file__).resolve()
    steps: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    free = C.available_gb()

    def fits(name: str, need_gb: float) -> bool:
        budget = min(args.rss_limit_gb, 0.8 * free) if free else args.rss_limit_gb
        if need_gb > budget:
            skipped[name] = f"needs ~{need_gb:.1f} GiB, budget {budget:.1f} GiB (available RAM / --rss-limit-gb)"
            print(f"skipping {name}: {skipped[name]}")
            return False
        return True

    try:
        steps["build"] = C.run_side(script, "build", p, rss_limit_gb=args.rss_limit_gb,
                                    label=f"build EmbeddingStore ({n:,} x {d} float16)")
        if "error" in steps["build"]:
            raise SystemExit(f"store build failed: {steps['build']['error']}")
        steps["torch"] = C.run_side(script, "torch", p, rss_limit_gb=args.rss_limit_gb,
                                    label="hf_nvr tiled_topk (torch exact) over memory-mapped shards")
        kinds = set() if args.skip_ivf else {k.strip() for k in args.ivf_kinds.split(",")}
        if "ivf" in kinds and fits("faiss IVF", figures["faiss_ivf_index_gb"] + figures["store_fp16_on_disk_gb"] + 1.0):
            steps["ivf"] = C.run_side(script, "ivf", p, rss_limit_gb=args.rss_limit_gb,
                                      label=f"hf_nvr FaissIndex IVF (nlist {nlist}, nprobe {args.nprobe})")
        if "ivfpq" in kinds and fits("faiss IVF-PQ", figures["faiss_ivfpq_index_gb"] + 1.0):
            steps["ivfpq"] = C.run_side(script, "ivfpq", p, rss_limit_gb=args.rss_limit_gb,
                                        label=f"hf_nvr FaissIndex IVF-PQ (nlist {nlist}, nprobe {args.nprobe})")
        if args.with_st and fits("ST semantic_search", figures["st_semantic_search_total_gb"] + 1.0):
            steps["st"] = C.run_side(script, "st", p, rss_limit_gb=args.rss_limit_gb,
                                     label="sentence-transformers semantic_search on the in-memory fp32 matrix")

        import numpy as np

        exact = np.load(Path(out_dir) / "torch.npy") if "error" not in steps["torch"] else None
        recalls = {}
        for kind in ("ivf", "ivfpq"):
            if exact is not None and kind in steps and "error" not in steps[kind]:
                for key in steps[kind]["searches"]:
                    recalls[f"{kind}_nprobe{key}"] = _recall(np.load(Path(out_dir) / f"{kind}-{key}.npy"), exact)
        if exact is not None and "st" in steps and "error" not in steps["st"]:
            recalls["st_semantic_search"] = _recall(np.load(Path(out_dir) / "st.npy"), exact)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        if not args.store_dir:
            shutil.rmtree(store_dir, ignore_errors=True)

    build, torch_step = steps["build"], steps["torch"]
    rows = [["build EmbeddingStore (fp16 shards)", "reused" if build.get("reused") else build.get("build_s"), None,
             build.get("peak_rss_mb"), build.get("peak_rss_anon_mb"), None, None]]
    rows.append(["hf_nvr tiled_topk, torch exact", None, torch_step.get("search_s"), torch_step.get("peak_rss_mb"),
                 torch_step.get("peak_rss_anon_mb"), torch_step.get("rss_after_imports_mb"),
                 1.0 if "error" not in torch_step else None])
    for kind, label in (("ivf", "IVF"), ("ivfpq", "IVF-PQ")):
        step = steps.get(kind)
        if step and "error" not in step:
            for key, search in step["searches"].items():
                probes, _, refine = key.partition("x")
                rows.append([f"hf_nvr faiss {label} nlist {nlist}, nprobe {probes}" + (f", {refine}·k re-scored" if refine else ""),
                             step["index_build_s"], search["search_s"], step["peak_rss_mb"], step["peak_rss_anon_mb"],
                             step["rss_after_imports_mb"], recalls.get(f"{kind}_nprobe{key}", {}).get("mean")])
    st = steps.get("st")
    if st and "error" not in st:
        rows.append(["ST semantic_search, fp32 in RAM", st["load_s"], st["search_s"], st["peak_rss_mb"],
                     st["peak_rss_anon_mb"], st["rss_after_imports_mb"], recalls.get("st_semantic_search", {}).get("mean")])
    C.print_table(f"Large store: {q:,} queries x {n:,} rows x {d}, top-{args.k}; one run per step",
                  ["step", "build/load s", "search s", "peak RSS MiB", "RssAnon MiB", "RSS after imports", f"recall@{args.k}"], rows, digits=3)
    for name, step in steps.items():
        if "error" in step:
            print(f"WARNING: step {name} failed: {step['error']}")

    target_met = None
    if "error" not in torch_step:
        target_met = torch_step["peak_rss_mb"] < args.target_gb * 1024
        print(f"\nhf_nvr torch-exact peak RSS {torch_step['peak_rss_mb']:,.0f} MiB vs target < {args.target_gb:g} GiB "
              f"at {n:,} rows: {'met' if target_met else 'NOT met'}")
    ratios = {}
    if st and "error" not in st and "error" not in torch_step:
        ratios = {"hf_torch_over_st_search_s": C.ratio(torch_step["search_s"], st["search_s"]),
                  "hf_torch_over_st_peak_rss": C.ratio(torch_step["peak_rss_mb"], st["peak_rss_mb"])}
    for kind in ("ivf", "ivfpq"):
        step = steps.get(kind)
        if step and "error" not in step and "error" not in torch_step:
            for key, search in step["searches"].items():
                ratios[f"{kind}_nprobe{key}_over_torch_search_s"] = C.ratio(search["search_s"], torch_step["search_s"])
    if ratios:
        C.print_table("Ratios", ["ratio", "value"], [[k, v] for k, v in ratios.items()], digits=3)

    C.write_json(args.output, {
        "benchmark": "large_store",
        "settings": {k: v for k, v in p.items() if k not in ("store_dir", "out_dir")} | {"store_dir": args.store_dir},
        "environment": C.environment(),
        "memory_figures_gib": figures,
        "steps": steps,
        "skipped": skipped,
        "recall": recalls,
        "ratios": ratios,
        "target": {"peak_rss_gb": args.target_gb, "met": target_met},
    })


if __name__ == "__main__":
    if "--side" in sys.argv:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        C.child_main(SIDES, sys.argv[1:])
    else:
        main()
