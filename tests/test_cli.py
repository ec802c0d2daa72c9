import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hf_nvr.cli import main


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mine_jsonl_in_jsonl_out(tiny_st_dir, tmp_path):
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "title": "", "text": f"passage number {i} on {i % 5}"} for i in range(60)])
    queries = _write_jsonl(tmp_path / "queries.jsonl", [{"query": f"about {i}", "positive": f"passage number {i} on {i % 5}", "extra": i} for i in range(6)])
    out = tmp_path / "mined.jsonl"
    main(["mine", "--queries", str(queries), "--corpus", str(corpus), "--teacher", tiny_st_dir, "--method", "naive_topk",
          "--num-negatives", "3", "--output", str(out), "--cache-dir", str(tmp_path / "emb")])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and [r["extra"] for r in rows] == list(range(6))
    assert all(len(r["negatives"]) == 3 and set(r) >= {"query", "positive", "negative_ids", "negative_scores"} for r in rows)
    report = json.loads((tmp_path / "mined.report.json").read_text())
    assert report["num_queries"] == 6 and report["method"] == "naive_topk"
    assert (tmp_path / "mined.histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_mine_with_a_compressed_index_on_a_chosen_device(tiny_st_dir, tmp_path):
    corpus = _write_jsonl(tmp_path / "corpus.jsonl", [{"_id": f"d{i}", "text": f"passage number {i} on {i % 5}"} for i in range(80)])
    queries = _write_jsonl(tmp_path / "queries.jsonl", [{"query": f"about {i}", "positive": f"passage number {i} on {i % 5}"} for i in range(5)])
    out = tmp_path / "mined.jsonl"
    main(["mine", "--queries", str(queries), "--corpus", str(corpus), "--teacher", tiny_st_dir, "--method", "naive_topk",
          "--backend", "faiss-ivfpq", "--ivf-nlist", "2", "--pq-m", "4", "--device", "cpu", "--output", str(out),
          "--cache-dir", str(tmp_path / "emb")])
    report = json.loads((tmp_path / "mined.report.json").read_text())
    assert report["backend"] == "faiss-ivfpq-cpu" and 0 < report["search_recall"] <= 1
    assert report["config"]["pq_m"] == 4 and report["config"]["device"] == "cpu"
    assert all(r["short_reason"] == "" for r in map(json.loads, out.read_text().splitlines()))


def test_mine_bad_input_is_a_clear_error(tiny_st_dir, tmp_path, capsys):
    corpus = _write_jsonl(tmp_path / "c.jsonl", [{"text": "x"}])
    queries = _write_jsonl(tmp_path / "q.jsonl", [{"question": "q", "positive": "x"}])
    with pytest.raises(SystemExit) as exit_info:
        main(["mine", "--queries", str(queries), "--corpus", str(corpus), "--teacher", tiny_st_dir, "--output", str(tmp_path / "o.jsonl")])
    assert exit_info.value.code == 2
    assert "column 'query' is missing" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_end_to_end_on_a_slice(tmp_path, scifact_dir):
    from huggingface_hub import ModelCard
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "qs"
    main(["quickstart", "--output-dir", str(out), "--max-train-queries", "24", "--max-corpus", "400", "--data-dir", str(scifact_dir)])
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["ndcg_at_10_before"] <= 1 and 0 < summary["ndcg_at_10_after"] <= 1
    model = SentenceTransformer(str(out / "model"), device="cpu")
    assert model.encode(["a claim"]).shape == (1, 384)
    card = ModelCard.load(out / "model" / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and "topk_percpos" in card.data.tags
    assert json.loads((out / "mining_report.json").read_text())["num_queries"] == 24
    assert (out / "mining_histogram.png").exists()
    # A re-run reuses every stage: nothing is mined, trained or evaluated again.
    before = {p: p.stat().st_mtime for p in [out / "scores.json", out / "model" / "model.safetensors"]}
    main(["quickstart", "--output-dir", str(out), "--max-train-queries", "24", "--max-corpus", "400", "--data-dir", str(scifact_dir)])
    assert {p: p.stat().st_mtime for p in before} == before


@pytest.mark.slow
def test_cpu_recipe_under_accelerate_with_two_processes(tmp_path, tiny_st_dir, scifact_dir):
    """The shipped CPU recipe, launched by accelerate on 2 gloo processes, on a tiny model for a few steps."""
    from hf_nvr.common.beir import load_beir

    root = Path(__file__).resolve().parents[1]
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    train = load_beir(scifact_dir, "train")  # the shared copy (plain jsonl) or the bundled one (gzipped)
    ids = list(train.corpus)[:300]
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, **train.corpus[d]}) + "\n" for d in ids))
    keep = [(q, d, r) for q, rels in train.qrels.items() for d, r in rels.items() if d in set(ids)]
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in keep))
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in train.queries.items()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(root / "recipes/accelerate/cpu.yaml"),
           "--num_processes", "2", str(root / "recipes/train.py"), str(root / "recipes/scifact_cpu.yaml"),
           f"model_name_or_path={tiny_st_dir}", f"beir_dir={beir}", f"output_dir={tmp_path / 'run'}", "max_steps=3",
           "per_device_train_batch_size=4", "save_steps=3", "passage_max_length=32"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training on 2 process(es)" in proc.stdout
    assert (tmp_path / "run" / "modules.json").exists()
    state = json.loads((tmp_path / "run" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_mine_reads_and_writes_hub_datasets(tiny_st_dir, tmp_path, hub_server):
    from datasets import Dataset, load_dataset

    Dataset.from_list([{"_id": f"d{i}", "text": f"passage number {i}"} for i in range(30)]).push_to_hub("tester/corpus")
    Dataset.from_list([{"query": f"number {i}", "positive": f"passage number {i}"} for i in range(4)]).push_to_hub("tester/queries")
    main(["mine", "--queries", "tester/queries", "--corpus", "tester/corpus", "--teacher", tiny_st_dir,
          "--num-negatives", "2", "--method", "naive_topk", "--output", "tester/mined", "--cache-dir", str(tmp_path)])
    mined = load_dataset("tester/mined", split="train")
    assert len(mined) == 4 and all(len(n) == 2 for n in mined["negatives"])
