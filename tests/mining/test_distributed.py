import json
import os
import subprocess
import sys

import pytest

from hf_nvr.mining.distributed import faiss_gpus, row_slice


def test_row_slices_cover_rows_once():
    slices = [row_slice(11, r, 3) for r in range(3)]
    assert [list(s) for s in slices] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    batched = [row_slice(809, r, 2, block=256) for r in range(2)]
    assert batched == [range(0, 512), range(512, 809)]  # whole map batches: the same encode calls as one process
    assert [row_slice(3, r, 4, block=2) for r in range(4)] == [range(0, 2), range(2, 3), range(3, 3), range(3, 3)]


def _mine_command(tmp_path, teacher: str, num_docs: int, num_queries: int, *flags: str) -> list[str]:
    """Writes a small corpus and query file; returns the ``hf-nvr mine`` command over them (output flags left out)."""
    text = "passage {i} about topic {t} and {u}"
    with open(tmp_path / "corpus.jsonl", "w") as fh:
        fh.writelines(json.dumps({"_id": f"d{i}", "text": text.format(i=i, t=i % 7, u=i % 3)}) + "\n" for i in range(num_docs))
    with open(tmp_path / "queries.jsonl", "w") as fh:
        fh.writelines(json.dumps({"query": f"topic {i % 7} and {i}", "positive": text.format(i=i, t=i % 7, u=i % 3)}) + "\n"
                      for i in range(num_queries))
    return [sys.executable, "-m", "hf_nvr.cli", "mine", "--queries", str(tmp_path / "queries.jsonl"),
            "--corpus", str(tmp_path / "corpus.jsonl"), "--teacher", teacher, *flags]


def _run_one_and_two(tmp_path, command: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, extra in (("one", []), ("two", ["--num-processes", "2"])):
        run = subprocess.run([*command, "--output", str(tmp_path / f"{name}.jsonl"), "--cache-dir", str(tmp_path / name),
                              *extra], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.slow
def test_two_processes_give_the_single_process_output(tiny_st_dir, tmp_path):
    _run_one_and_two(tmp_path, _mine_command(tmp_path, tiny_st_dir, 90, 13, "--method", "topk_marginpos", "--num-negatives", "3",
                                             "--sample-from-top", "8", "--shard-size", "16", "--map-batch-size", "4"))
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()
    r1 = json.loads((tmp_path / "one.report.json").read_text())
    r2 = json.loads((tmp_path / "two.report.json").read_text())
    assert r1["dropped"] == r2["dropped"] and r1["num_queries"] == r2["num_queries"] == 13
    shards1 = sorted((tmp_path / "one").rglob("shard_*.npy"))
    shards2 = sorted((tmp_path / "two").rglob("shard_*.npy"))
    assert len(shards1) == len(shards2) == 6
    assert [p.read_bytes() for p in shards1] == [p.read_bytes() for p in shards2]
    assert not any((tmp_path / "two" / "parts").iterdir())  # the ranks' hand-over slices are gone after exit


@pytest.mark.slow
def test_cross_encoder_rescoring_shards_the_same_way(tiny_st_dir, tiny_bert_dir, tmp_path):
    from sentence_transformers import CrossEncoder

    reranker = tmp_path / "reranker"
    CrossEncoder(tiny_bert_dir, num_labels=1, device="cpu").save_pretrained(str(reranker))  # its head fixed on disk
    # 9 rows are one map batch: rank 1 gets none and must still hand over
    _run_one_and_two(tmp_path, _mine_command(tmp_path, tiny_st_dir, 40, 9, "--reranker", str(reranker), "--method", "naive_topk",
                                             "--num-negatives", "3", "--shard-size", "8"))
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()
    rows = [json.loads(line) for line in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert all(r["negative_scores"] == sorted(r["negative_scores"], reverse=True) for r in rows)


def test_faiss_gpus_follow_the_device_and_the_launcher(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert faiss_gpus(None, 1, 0) == () and faiss_gpus("cuda", 1, 0) == ()
    assert faiss_gpus("cpu", 1, 4) == ()
    assert faiss_gpus(None, 1, 4) == faiss_gpus("cuda", 1, 4) == (0, 1, 2, 3)
    assert faiss_gpus("cuda:2", 1, 4) == (2,)
    assert faiss_gpus(None, 2, 2) == faiss_gpus("cuda", 2, 2) == (1,)
    assert faiss_gpus("cuda:0", 2, 2) == (0,)  # named, as the teacher's device is
    with pytest.raises(ValueError, match=r"device='cuda:5', but faiss sees 2 GPU\(s\) \(cuda:0 to cuda:1\)"):
        faiss_gpus("cuda:5", 1, 2)
