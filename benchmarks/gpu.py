"""GPU path check and timings: mining, exact search, bf16 training and LoRA on a decoder, on one CUDA device.

Run on a machine with a GPU (nothing here runs in CI): ``python benchmarks/gpu.py --model-config DIR``, where
``DIR`` is a sentence-transformers folder of all-MiniLM-L6-v2 (weights optional: without them the same
architecture is built with random weights, which costs exactly the same time, so timings hold; negatives then
are not meaningful, only their GPU/CPU agreement is). Steps, each timed and recorded even when another fails:

1. **mining** (naive top-k: random weights rank nothing above anything) the bundled SciFact train split (809 queries, 5,183 passages) with ``HardNegativeMiner`` on the GPU
   (teacher encoding and exact search both there), then the same rows with ``MiningConfig(device="cpu")`` over
   the same store: the negatives must agree (up to float rounding ties).
2. **exact search** ``tiled_topk`` of ``--queries`` against ``--rows`` synthetic 384-d float16 vectors, on the
   GPU and on all CPU cores, with the top-k agreement between the two.
3. **faiss-gpu** (when faiss has GPU support, else recorded as skipped) ``FaissIndex`` flat, IVF and IVF-PQ on
   every visible GPU, replicated and sharded, ``--faiss-rows`` synthetic vectors: build and search time, and
   recall@50 against the exact CPU index.
4. **bf16 training** ``NVRetrieverTrainer`` steps on the mined rows with a BERT-base-sized encoder (random
   weights, 110M parameters): samples/s and peak GPU memory.
5. **LoRA decoder** a small random Llama made bidirectional, mean pooling with the instruction masked, LoRA,
   bf16: the loss must stay finite and the base weights frozen.

Prints one JSON document and writes it to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _model_dir(config_dir: Path, work: Path, **overrides: int) -> str:
    """The folder as given when it has weights; else the same architecture (with ``overrides``), random."""
    from transformers import AutoConfig, AutoModel

    if (config_dir / "model.safetensors").exists() and not overrides:
        return str(config_dir)
    out = work / ("random-" + "-".join(f"{k}{v}" for k, v in overrides.items()) if overrides else "random")
    shutil.copytree(config_dir, out, dirs_exist_ok=True)
    (out / "2_Normalize").mkdir(exist_ok=True)
    config = AutoConfig.from_pretrained(config_dir)
    for key, value in overrides.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(out)
    return str(out)


def step_mining(args, work: Path) -> dict:
    from datasets import Dataset

    from hf_nvr import HardNegativeMiner, MiningConfig
    from hf_nvr.common.beir import bundled_scifact_dir

    pairs, passages = C.load_scifact(str(bundled_scifact_dir()), args.max_queries, args.max_corpus)
    corpus, rows = Dataset.from_list(passages), Dataset.from_list(pairs)
    teacher = _model_dir(Path(args.model_config), work)
    base = {"method": "naive_topk", "num_negatives": 4, "cache_dir": str(work / "emb"), "max_length": 256,
            "batch_size": 256}
    t = time.perf_counter()
    gpu_miner = HardNegativeMiner(teacher, corpus, MiningConfig(**base), show_progress=False)
    gpu_miner.encode_corpus()
    _sync()
    encode_s = time.perf_counter() - t
    t = time.perf_counter()
    on_gpu = gpu_miner.mine(rows)
    mine_s = time.perf_counter() - t
    t = time.perf_counter()
    cpu_miner = HardNegativeMiner(teacher, corpus, MiningConfig(**base, device="cpu"), show_progress=False)
    on_cpu = cpu_miner.mine(rows)
    cpu_mine_s = time.perf_counter() - t
    same = [a == b for a, b in zip(on_gpu["negative_ids"], on_cpu["negative_ids"])]
    overlap = [len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(on_gpu["negative_ids"], on_cpu["negative_ids"])]
    on_gpu.save_to_disk(str(work / "mined"))
    return {
        "teacher_device": str(gpu_miner.teachers[0].model.device),
        "corpus_encode_s": round(encode_s, 2), "passages_per_s": round(len(corpus) / encode_s, 1),
        "mine_queries_gpu_s": round(mine_s, 2), "mine_queries_cpu_search_s": round(cpu_mine_s, 2),
        "rows": len(rows), "identical_negative_lists": float(np.mean(same)), "mean_overlap": float(np.mean(overlap)),
        "report": gpu_miner.report.summary(),
    }


def step_search(args, work: Path) -> dict:
    from hf_nvr.mining.search import tiled_topk

    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((args.rows, 384), dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    corpus = corpus.astype(np.float16)
    shards = [(i, corpus[i : i + 4096]) for i in range(0, args.rows, 4096)]
    queries = torch.from_numpy(corpus[rng.choice(args.rows, args.queries, replace=False)].astype(np.float32))
    out = {"rows": args.rows, "queries": args.queries, "k": 50, "cpu_threads": torch.get_num_threads()}
    results = {}
    for name, device, tile in (("gpu", "cuda", 262144), ("gpu_default_tile", "cuda", 16384), ("cpu", "cpu", 16384)):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        tiled_topk(queries[:64], shards[:4], 50, device=device, corpus_tile=tile)  # warm-up
        _sync()
        t = time.perf_counter()
        _, rows = tiled_topk(queries, shards, 50, device=device, corpus_tile=tile)
        _sync()
        out[f"{name}_s"] = round(time.perf_counter() - t, 3)
        results[name] = rows
    if "gpu" in results:
        out["gpu_cpu_identical_rows"] = float((results["gpu"] == results["cpu"]).all(dim=1).float().mean())
        out["cpu_over_gpu"] = round(out["cpu_s"] / out["gpu_s"], 1)
    return out


def step_faiss_gpu(args, work: Path) -> dict:
    import faiss

    from hf_nvr.mining.search import FaissIndex, recall_at_k

    ngpu = faiss.get_num_gpus()
    if not ngpu:
        return {"skipped": "this faiss has no GPU support (pip install 'hf-nvr[gpu]')"}
    rows, dim, k = args.faiss_rows, 384, 50
    rng = np.random.default_rng(1)
    corpus = rng.standard_normal((rows, dim), dtype=np.float32)
    corpus = (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).astype(np.float16)
    shards = [(i, corpus[i : i + 4096]) for i in range(0, rows, 4096)]
    queries = torch.from_numpy(corpus[rng.choice(rows, 2000, replace=False)].astype(np.float32))
    _, exact = FaissIndex(shards, dim, num_rows=rows).search(queries, k)
    gpus = tuple(range(ngpu)) if ngpu > 1 else (0, 0)  # one GPU: two placements on it still go through faiss's
    out: dict = {"gpus": gpus, "rows": rows, "queries": len(queries), "k": k}  # multi-GPU replicas and shards
    nlist = max(16, int(4 * np.sqrt(rows)))
    ivf = {"ivf_nlist": nlist, "ivf_nprobe": 64}
    for name, kw in (("flat", {}), ("flat_sharded", {"shard": True}), ("ivf", ivf), ("ivf_sharded", {**ivf, "shard": True}),
                     ("ivfpq", {**ivf, "pq_m": 48}), ("ivfpq_sharded", {**ivf, "pq_m": 48, "shard": True})):
        t = time.perf_counter()
        index = FaissIndex(shards, dim, num_rows=rows, gpus=gpus, **kw)
        built = time.perf_counter() - t
        t = time.perf_counter()
        _, found = index.search(queries, k)
        out[name] = {"kind": index.kind, "build_s": round(built, 2), "search_s": round(time.perf_counter() - t, 3),
                     "recall_vs_cpu_flat_before_rescoring": round(float(recall_at_k(found, exact).mean()), 4)}
    return out


def _train(model, mined, work: Path, name: str, steps: int, batch: int, **extra) -> dict:
    from hf_nvr import NVRetrieverConfig, NVRetrieverTrainer

    args = NVRetrieverConfig(
        output_dir=str(work / name), max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-5,
        warmup_steps=0, logging_steps=1, save_strategy="no", report_to=[], bf16=torch.cuda.is_available(),
        num_hard_negatives=4, query_max_length=64, passage_max_length=256, seed=42, dataloader_num_workers=2,
        **extra,
    )
    trainer = NVRetrieverTrainer(model=model, args=args, train_dataset=mined)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    trainer.train()
    _sync()
    wall = time.perf_counter() - t
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"steps": steps, "batch": batch, "wall_s": round(wall, 2), "samples_per_s": round(steps * batch / wall, 1),
            "first_loss": losses[0], "last_loss": losses[-1], "losses_finite": bool(np.isfinite(losses).all()),
            "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None}


def step_train(args, work: Path) -> dict:
    from datasets import load_from_disk

    from hf_nvr import BiEncoder

    mined = load_from_disk(str(work / "mined"))
    path = _model_dir(Path(args.model_config), work, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072)
    model = BiEncoder.from_pretrained(path)
    out = _train(model, mined, work, "bert", args.train_steps, args.train_batch)
    out["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 1)
    return out


def step_lora(args, work: Path) -> dict:
    from datasets import load_from_disk
    from peft import LoraConfig
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    from hf_nvr import BiEncoder

    tok = AutoTokenizer.from_pretrained(args.model_config)
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                         num_attention_heads=16, num_key_value_heads=8, max_position_embeddings=512,
                         pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    path = work / "llama"
    LlamaModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    model = BiEncoder.from_pretrained(
        str(path), pooling="mean", bidirectional=True, torch_dtype=torch.bfloat16,
        lora=LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
        query_prompt="Given a scientific claim, retrieve documents that support or refute the claim: ",
    )
    before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    mined = load_from_disk(str(work / "mined"))
    out = _train(model, mined, work, "llama", args.train_steps, args.train_batch // 2)
    frozen = all(torch.equal(before[n].to(p.device), p) for n, p in model.named_parameters() if n in before)
    out.update({"base_frozen": frozen, "trainable_m": round(sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6, 2),
                "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-config", required=True, help="all-MiniLM-L6-v2 sentence-transformers folder")
    parser.add_argument("--max-queries", type=int, default=None, help="SciFact train queries (default: all 809)")
    parser.add_argument("--max-corpus", type=int, default=None, help="SciFact passages, positives kept (default: all)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--train-batch", type=int, default=64, help="encoder batch; the decoder takes half")
    parser.add_argument("--faiss-rows", type=int, default=200_000, help="passages for the faiss-gpu step")
    parser.add_argument("--steps", default="mining,search,faiss_gpu,train,lora")
    parser.add_argument("--output", default="gpu_check.json")
    args = parser.parse_args()
    import transformers

    result = {"torch": torch.__version__, "transformers": transformers.__version__, "cuda": torch.version.cuda,
              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    steps = {"mining": step_mining, "search": step_search, "faiss_gpu": step_faiss_gpu, "train": step_train,
             "lora": step_lora}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.steps.split(","):
            t = time.perf_counter()
            try:
                result[name] = steps[name](args, Path(tmp))
            except Exception as err:  # one broken path must not hide the others' figures
                traceback.print_exc()
                result[name] = {"error": f"{type(err).__name__}: {err}"}
            result[name]["step_s"] = round(time.perf_counter() - t, 1)
            print(json.dumps({name: result[name]}), flush=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    sys.exit(0 if all("error" not in v for v in result.values() if isinstance(v, dict)) else 1)


if __name__ == "__main__":
    main()
