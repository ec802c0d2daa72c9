"""The local Hub server speaks what huggingface_hub expects: errors, auth, history, tree, ranges, quiet logs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

SERVER = Path(__file__).resolve().parents[1] / "hub_server.py"


def _request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, method=method, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture()
def repo(hub_server, repo_id) -> str:
    api = HfApi()
    api.create_repo(repo_id)
    api.create_commit(
        repo_id,
        [
            CommitOperationAdd("a.txt", b"first"),
            CommitOperationAdd("dir/b.json", b'{"x": 1}'),
            CommitOperationAdd("dir/w.safetensors", b"\0" * 64),
        ],
        commit_message="add files",
    )
    return repo_id


def test_create_twice_is_409_unless_exist_ok(repo):
    api = HfApi()
    with pytest.raises(HfHubHTTPError) as excinfo:
        api.create_repo(repo)
    assert excinfo.value.response.status_code == 409
    assert api.create_repo(repo, exist_ok=True).repo_id == repo


def test_not_found_errors_carry_the_hub_error_codes(repo):
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("nobody/nothing")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo, "a.txt", revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "missing.txt")


def test_writes_need_authorization_and_agent_harnesses_is_404(hub_server):
    status, _, _ = _request(
        f"{hub_server}/api/repos/create", "POST", json.dumps({"name": "x", "organization": "ns"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 401
    status, _, _ = _request(f"{hub_server}/api/agent-harnesses")
    assert status == 404


def test_history_tree_paths_info_lfs_and_deletes(repo):
    api = HfApi()
    first = api.model_info(repo).sha
    api.create_commit(
        repo, [CommitOperationAdd("a.txt", b"second"), CommitOperationDelete("dir/b.json")], commit_message="edit"
    )
    assert [c.title for c in api.list_repo_commits(repo)] == ["edit", "add files", "initial commit"]
    assert Path(hf_hub_download(repo, "a.txt", revision=first)).read_text() == "first"
    assert Path(hf_hub_download(repo, "a.txt")).read_text() == "second"
    assert sorted(api.list_repo_files(repo)) == [".gitattributes", "a.txt", "dir/w.safetensors"]
    tree = {e.path: e for e in api.list_repo_tree(repo, recursive=True, expand=True)}
    assert tree["dir/w.safetensors"].lfs.size == 64 and tree["a.txt"].last_commit.title == "edit"
    assert {e.path for e in api.list_repo_tree(repo)} == {".gitattributes", "a.txt", "dir"}
    info = {e.path: e for e in api.get_paths_info(repo, ["a.txt", "dir", "nope"])}
    assert set(info) == {"a.txt", "dir"}
    branches = api.list_repo_refs(repo).branches
    assert [b.name for b in branches] == ["main"] and branches[0].target_commit == api.model_info(repo).sha
    api.delete_repo(repo)
    assert not api.repo_exists(repo)


def test_resolve_headers_and_ranges(hub_server, repo):
    sha = HfApi().model_info(repo).sha
    status, headers, _ = _request(f"{hub_server}/{repo}/resolve/main/dir/w.safetensors", "HEAD")
    assert status == 200 and headers["X-Repo-Commit"] == sha
    assert headers["X-Linked-Size"] == "64" and len(headers["X-Linked-Etag"].strip('"')) == 64
    status, headers, body = _request(f"{hub_server}/{repo}/resolve/{sha}/a.txt", headers={"Range": "bytes=1-3"})
    assert status == 206 and body == b"irs" and headers["Content-Range"] == "bytes 1-3/5"


def test_verbose_server_log_never_contains_the_token(tmp_path, token):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--port", str(port), "--root", str(tmp_path / "hub"), "--verbose"],
            stdout=err, stderr=err,
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{endpoint}/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            api = HfApi(endpoint=endpoint, token=token)
            api.create_repo("ns/logged")
            api.upload_file(path_or_fileobj=b"hello", path_in_repo="f.txt", repo_id="ns/logged")
            assert api.whoami()["name"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text = log.read_text()
    assert "POST /api/models/ns/logged/commit/main" in text
    assert token not in text
