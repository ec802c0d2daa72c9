"""push_to_hub against the local Hub server with the real clients: round trip, one commit, atomicity, secrets."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import HfApi, hf_hub_download

from hf_nvr.hub import HubPushError, push_to_hub

SENTENCES = ["Vitamin D deficiency increases fracture risk.", "The mitochondria is the powerhouse of the cell."]


def _fail_next_commit(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_test/fail-next-commit", method="POST", data=b""))


def _commits(repo_id: str) -> list[str]:
    return [c.commit_id for c in HfApi().list_repo_commits(repo_id)]


def test_push_then_load_back_with_sentence_transformers_and_transformers(
    hub_server, model_dir, repo_id, make_result, make_report
):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    url = push_to_hub(
        model_dir, repo_id, results=[make_result()], mining_report=make_report(),
        training_args={"learning_rate": 2e-5, "per_device_train_batch_size": 16},
        base_model="sentence-transformers/all-MiniLM-L6-v2", datasets=["mteb/scifact"], license="apache-2.0",
        language="en",
    )
    info = HfApi().model_info(repo_id)
    assert url == f"{hub_server}/{repo_id}/commit/{info.sha}" and url.oid == info.sha
    files = {s.rfilename for s in info.siblings}
    assert {"modules.json", "model.safetensors", "README.md", "mining_histogram.png", ".eval_results/SciFact.yaml"} <= files

    local = SentenceTransformer(str(model_dir), device="cpu")
    remote = SentenceTransformer(repo_id, device="cpu")
    np.testing.assert_allclose(remote.encode(SENTENCES), local.encode(SENTENCES), atol=1e-5)

    tok = AutoTokenizer.from_pretrained(repo_id)
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        remote_hidden = AutoModel.from_pretrained(repo_id)(**batch).last_hidden_state
        local_hidden = AutoModel.from_pretrained(str(model_dir))(**batch).last_hidden_state
    torch.testing.assert_close(remote_hidden, local_hidden, atol=1e-5, rtol=0)

    card = info.card_data
    assert card.library_name == "sentence-transformers" and card.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert {"mteb", "hard-negative-mining", "nv-retriever", "topk_percpos"} <= set(card.tags)
    assert card.model_name == repo_id
    by_metric = {r.metric_type: r for r in card.eval_results}
    assert by_metric["ndcg_at_10"].metric_value == pytest.approx(64.51)
    assert by_metric["ndcg_at_10"].dataset_name == "MTEB SciFact (default)"
    assert by_metric["ndcg_at_10"].dataset_type == "mteb/scifact"
    entries = yaml.safe_load(Path(hf_hub_download(repo_id, ".eval_results/SciFact.yaml")).read_text())
    assert entries[0]["dataset"]["task_id"] == "SciFact_default_test" and entries[0]["value"] == pytest.approx(64.51)
    assert (model_dir / "README.md").read_text() != Path(hf_hub_download(repo_id, "README.md")).read_text()


def test_repush_is_exactly_one_new_commit_and_old_revision_stays(hub_server, model_dir, repo_id, make_result):
    first = push_to_hub(model_dir, repo_id, results=[make_result(0.60)])
    before = _commits(repo_id)
    second = push_to_hub(model_dir, repo_id, results=[make_result(0.65)], commit_message="better model")
    after = _commits(repo_id)
    assert after[1:] == before and len(after) == len(before) + 1
    assert after[0] == second.oid != first.oid
    assert HfApi().list_repo_commits(repo_id)[0].title == "better model"
    old = Path(hf_hub_download(repo_id, ".eval_results/SciFact.yaml", revision=first.oid)).read_text()
    new = Path(hf_hub_download(repo_id, ".eval_results/SciFact.yaml")).read_text()
    assert "value: 60.0" in old and "value: 65.0" in new


def test_failed_commit_raises_and_leaves_previous_revision_intact(
    hub_server, model_dir, repo_id, make_result, token, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    push_to_hub(model_dir, repo_id, results=[make_result(0.60)], token=token)
    api = HfApi()
    info = api.model_info(repo_id, files_metadata=True)
    readme = Path(hf_hub_download(repo_id, "README.md", revision=info.sha)).read_text()

    _fail_next_commit(hub_server)
    (model_dir / "extra.json").write_text("{}")
    with pytest.raises(HubPushError) as excinfo:
        push_to_hub(model_dir, repo_id, results=[make_result(0.70)], token=token)
    assert "500" in str(excinfo.value) and hub_server in str(excinfo.value) and repo_id in str(excinfo.value)
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__

    after = api.model_info(repo_id, files_metadata=True)
    assert after.sha == info.sha
    assert [(s.rfilename, s.blob_id) for s in after.siblings] == [(s.rfilename, s.blob_id) for s in info.siblings]
    assert Path(hf_hub_download(repo_id, "README.md", force_download=True)).read_text() == readme
    out = capsys.readouterr()
    for text in (str(excinfo.value), repr(excinfo.value), caplog.text, out.out, out.err, readme):
        assert token not in text


def test_failed_first_push_leaves_no_repo(hub_server, model_dir, repo_id):
    _fail_next_commit(hub_server)
    with pytest.raises(HubPushError, match="uploading"):
        push_to_hub(model_dir, repo_id)
    assert not HfApi().repo_exists(repo_id)


def test_token_never_reaches_card_logs_or_output(hub_server, model_dir, repo_id, make_result, token, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    push_to_hub(
        model_dir, repo_id, results=[make_result()], token=token,
        training_args={"hub_token": token, "run_name": f"run-{token}", "learning_rate": 1e-5},
    )
    readme = Path(hf_hub_download(repo_id, "README.md")).read_text()
    out = capsys.readouterr()
    for text in (readme, caplog.text, out.out, out.err):
        assert token not in text
    assert "learning_rate" in readme


def test_push_to_a_branch_leaves_main_alone(hub_server, model_dir, repo_id):
    main = push_to_hub(model_dir, repo_id)
    dev = push_to_hub(model_dir, repo_id, revision="dev", results=None, license="mit")
    assert HfApi().model_info(repo_id).sha == main.oid
    assert HfApi().model_info(repo_id, revision="dev").sha == dev.oid != main.oid
    assert "license: mit" in Path(hf_hub_download(repo_id, "README.md", revision="dev")).read_text()


def _closed_port_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_unreachable_endpoint_is_named_and_token_is_scrubbed(model_dir, repo_id, token):
    endpoint = _closed_port_endpoint()
    with pytest.raises(HubPushError) as excinfo:
        push_to_hub(model_dir, repo_id, endpoint=endpoint, token=token)
    assert f"could not reach the Hub endpoint {endpoint}" in str(excinfo.value)
    assert token not in str(excinfo.value)


def _bin_only(model_dir: Path) -> Path:
    st = model_dir / "model.safetensors"
    st.rename(model_dir / "pytorch_model.bin")
    return model_dir


def _not_sentence_transformers(model_dir: Path) -> Path:
    (model_dir / "modules.json").unlink()
    return model_dir


def _module_with_pickle_only(model_dir: Path) -> Path:
    dense = model_dir / "3_Dense"
    dense.mkdir()
    (dense / "pytorch_model.bin").write_bytes(b"pickle")
    return model_dir


@pytest.mark.parametrize(
    ("repo", "prepare", "results", "error", "match"),
    [
        ("no-namespace", None, None, ValueError, "namespace/name"),
        ("a/b/c", None, None, ValueError, "namespace/name"),
        ("ns/bad name", None, None, ValueError, "namespace/name"),
        ("ns/x--y", None, None, ValueError, "not allowed"),
        ("ns/ok", "missing", None, FileNotFoundError, "does not exist"),
        ("ns/ok", _not_sentence_transformers, None, ValueError, "modules.json"),
        ("ns/ok", _bin_only, None, ValueError, "safetensors"),
        ("ns/ok", _module_with_pickle_only, None, ValueError, "3_Dense"),
        ("ns/ok", None, [{"task_name": "SciFact", "main_score": 0.5}], ValueError, "dataset_id"),
    ],
)
def test_bad_inputs_fail_before_any_network_call(model_dir, repo, prepare, results, error, match):
    target = model_dir.parent / "nope" if prepare == "missing" else (prepare(model_dir) if prepare else model_dir)
    with pytest.raises(error, match=match):
        push_to_hub(target, repo, results=results, endpoint=_closed_port_endpoint())


def test_pickles_beside_safetensors_are_not_uploaded(hub_server, model_dir, repo_id):
    shutil.copy(model_dir / "model.safetensors", model_dir / "pytorch_model.bin")
    (model_dir / "checkpoint-10").mkdir()
    (model_dir / "checkpoint-10" / "optimizer.pt").write_bytes(b"x")
    push_to_hub(model_dir, repo_id)
    files = set(HfApi().list_repo_files(repo_id))
    assert "model.safetensors" in files and "pytorch_model.bin" not in files
    assert not any(f.startswith("checkpoint-") for f in files)
    assert json.loads(Path(hf_hub_download(repo_id, "modules.json")).read_text())
    assert os.path.exists(model_dir / "pytorch_model.bin")
