"""A writable, Hub-compatible HTTP server for tests (stdlib ``ThreadingHTTPServer`` + PyYAML).

The real Hub cannot be reached from tests, and no package ships a writable local Hub, so this speaks the
subset of the Hub API that ``huggingface_hub`` 2.x, ``sentence-transformers``, ``transformers`` and
``datasets`` really call: repo create/delete, model/dataset info, tree, paths-info, refs, commits,
preupload, ndjson commits, the LFS batch API with a PUT upload URL, and ``resolve`` downloads (HEAD/GET with
ranges). Every commit gets a new sha and keeps its full file table, so any earlier revision stays
resolvable. ``POST /_test/fail-next-commit`` makes the next commit answer HTTP 500 without changing anything,
which lets tests prove that a failed push leaves the previous revision intact.

Writes need an ``Authorization`` header; its value is never logged or echoed.

Usage: ``python tests/hub_server.py --port 8765 --root /tmp/hub``
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

USER = "test-user"
TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
LFS_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".npy", ".npz", ".pkl",
    ".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".gz", ".zip", ".tar", ".zst", ".model", ".gguf",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()
SHA_RE = re.compile(r"^[0-9a-f]{40}$")


class HubError(Exception):
    """An HTTP error answer, with the Hub's ``X-Error-Code`` when the client dispatches on it."""

    def __init__(
        self, status: int, message: str, code: str | None = None, commit: str | None = None, **extra: Any
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.commit, self.extra = status, message, code, commit, extra


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def front_matter(text: str) -> dict | None:
    """The README's YAML header as the Hub's ``cardData`` (None when there is none)."""
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not m:
        return None
    data = yaml.safe_load(m.group(1))
    if data is not None and not isinstance(data, dict):
        raise ValueError("README.md metadata must be a YAML mapping")
    return data or None


class Store:
    """Repos on disk: ``repos/<type>/<ns>/<name>.json`` (refs + commits) and content-addressed blobs."""

    def __init__(self, root: Path):
        self.root = root
        self.blobs = root / "_blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.uploads: dict[str, tuple[str, int]] = {}
        self.fail_next_commit = False

    def _path(self, repo_type: str, repo_id: str) -> Path:
        ns, name = repo_id.split("/", 1)
        return self.root / "repos" / repo_type / ns / f"{name}.json"

    def load(self, repo_type: str, repo_id: str, authed: bool = True) -> dict:
        p = self._path(repo_type, repo_id)
        if not p.exists():
            raise HubError(404, f"Repository Not Found for {repo_type} '{repo_id}'.", "RepoNotFound")
        repo = json.loads(p.read_text())
        if repo["private"] and not authed:
            raise HubError(404, f"Repository Not Found for {repo_type} '{repo_id}'.", "RepoNotFound")
        return repo

    def save(self, repo: dict) -> None:
        p = self._path(repo["type"], repo["id"])
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(repo, f)
        os.replace(tmp, p)

    def exists(self, repo_type: str, repo_id: str) -> bool:
        return self._path(repo_type, repo_id).exists()

    def delete(self, repo_type: str, repo_id: str) -> None:
        self.load(repo_type, repo_id)
        self._path(repo_type, repo_id).unlink()

    def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        p = self.blobs / sha
        if not p.exists():
            fd, tmp = tempfile.mkstemp(dir=self.blobs)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        return sha

    def has_blob(self, sha: str) -> bool:
        return (self.blobs / sha).exists()

    def blob(self, sha: str) -> bytes:
        return (self.blobs / sha).read_bytes()

    def file_entry(self, data: bytes, path: str) -> dict:
        sha = self.put_blob(data)
        lfs = path.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN_SIZE
        return self.lfs_entry(sha, len(data)) if lfs else {"sha256": sha, "size": len(data), "oid": git_blob_oid(data)}

    @staticmethod
    def lfs_entry(sha: str, size: int) -> dict:
        pointer = lfs_pointer(sha, size)
        return {"sha256": sha, "size": size, "lfs": True, "oid": git_blob_oid(pointer), "pointerSize": len(pointer)}

    def create(self, repo_type: str, repo_id: str, private: bool) -> dict:
        repo = {"id": repo_id, "type": repo_type, "private": private, "createdAt": _now(), "refs": {}, "commits": {}}
        self.commit(repo, "main", "initial commit", "", {".gitattributes": self.file_entry(GITATTRIBUTES, ".gitattributes")}, [])
        return repo

    @staticmethod
    def commit(repo: dict, branch: str, title: str, message: str, files: dict, deleted: list[str]) -> str:
        parent = repo["refs"].get(branch)
        table = dict(repo["commits"][parent]["files"]) if parent else {}
        for path in deleted:
            table = {p: e for p, e in table.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
        table.update(files)
        date = _now()
        seed = json.dumps([parent, title, message, date, sorted(table.items()), secrets.token_hex(8)])
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo["commits"][sha] = {
            "id": sha, "parents": [parent] if parent else [], "title": title, "message": message,
            "date": date, "files": table,
        }
        repo["refs"][branch] = sha
        return sha

    @staticmethod
    def resolve(repo: dict, revision: str) -> str:
        if revision in repo["refs"]:
            return repo["refs"][revision]
        if revision in repo["commits"]:
            return revision
        if re.fullmatch(r"[0-9a-f]{7,39}", revision):
            hits = [sha for sha in repo["commits"] if sha.startswith(revision)]
            if len(hits) == 1:
                return hits[0]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    @staticmethod
    def history(repo: dict, sha: str) -> list[dict]:
        out = []
        while sha:
            c = repo["commits"][sha]
            out.append(c)
            sha = c["parents"][0] if c["parents"] else None
        return out


def _tree_entry(path: str, entry: dict) -> dict:
    out: dict[str, Any] = {"type": "file", "path": path, "size": entry["size"], "oid": entry["oid"]}
    if entry.get("lfs"):
        out["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": entry["pointerSize"]}
    return out


def _folder_entry(path: str, files: dict) -> dict:
    inside = sorted((p, e["oid"]) for p, e in files.items() if p.startswith(path + "/"))
    return {"type": "directory", "path": path, "oid": hashlib.sha1(json.dumps(inside).encode()).hexdigest()}


def _folders(files: dict) -> set[str]:
    out = set()
    for p in files:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


class Handler(BaseHTTPRequestHandler):
    """Routes one request; all state lives in the server's :class:`Store`."""

    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.command} {self.path.split('?')[0]} -> {args[1] if len(args) > 1 else ''}\n")

    # ---- plumbing -------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def base(self) -> str:
        return f"http://{self.headers.get('Host', '127.0.0.1')}"

    @property
    def authed(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and len(auth) > len("Bearer ")

    def require_auth(self) -> None:
        if not self.authed:
            raise HubError(401, "Invalid credentials in Authorization header")

    def body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status: int, payload: Any = None, headers: dict | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        if raw is None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if not (headers and "Content-Length" in headers):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self) -> None:
        parts = urlsplit(self.path)
        self.query = parse_qs(parts.query)
        segs = [unquote(s) for s in parts.path.split("/")[1:]]
        try:
            if self.command not in ("GET", "HEAD"):
                self._pending_body = True
            self.route(segs)
        except HubError as e:
            self._drain()
            headers = {"X-Error-Message": e.message}
            if e.code:
                headers["X-Error-Code"] = e.code
            if e.commit:
                headers["X-Repo-Commit"] = e.commit
            self.send(e.status, {"error": e.message, **e.extra}, headers)
        except (ValueError, KeyError, yaml.YAMLError) as e:
            self._drain()
            self.send(400, {"error": f"Bad request: {type(e).__name__}: {e}"})

    def _drain(self) -> None:
        if getattr(self, "_pending_body", False):
            self._pending_body = False
            self.body()

    def read_body(self) -> bytes:
        self._pending_body = False
        return self.body()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = dispatch

    # ---- routing --------------------------------------------------------------------------------
    def route(self, s: list[str]) -> None:
        m = self.command
        if s == ["health"]:
            return self.send(200, {"status": "ok"})
        if s[:1] == ["_test"] and m == "POST" and s[1:] == ["fail-next-commit"]:
            self.read_body()
            self.store.fail_next_commit = True
            return self.send(200, {"armed": True})
        if s[:1] == ["_lfs"] and m == "PUT" and len(s) == 3:
            return self.lfs_put(s[2])
        if s[:1] == ["api"]:
            return self.api(s[1:])
        repo_type, rest = "model", s
        if s and s[0] in ("datasets", "spaces"):
            repo_type, rest = PLURAL[s[0]], s[1:]
        if len(rest) >= 2 and rest[1].endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"]:
            return self.lfs_batch(repo_type, f"{rest[0]}/{rest[1][:-4]}")
        if len(rest) >= 5 and rest[2] == "resolve" and m in ("GET", "HEAD"):
            return self.resolve(repo_type, f"{rest[0]}/{rest[1]}", rest[3], "/".join(rest[4:]))
        raise HubError(404, "Not Found")

    def api(self, s: list[str]) -> None:
        m = self.command
        if s == ["whoami-v2"] and m == "GET":
            self.require_auth()
            return self.send(200, {
                "type": "user", "id": "0" * 24, "name": USER, "fullname": "Test User", "email": None,
                "emailVerified": False, "isPro": False, "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
            })
        if s == ["validate-yaml"] and m == "POST":
            return self.validate_yaml()
        if s == ["repos", "create"] and m == "POST":
            return self.create_repo()
        if s == ["repos", "delete"] and m == "DELETE":
            return self.delete_repo()
        if len(s) >= 3 and s[0] in PLURAL:
            repo_type, repo_id, rest = PLURAL[s[0]], f"{s[1]}/{s[2]}", s[3:]
            if not rest and m == "GET":
                return self.info(repo_type, repo_id, "main")
            action, args = rest[0], rest[1:]
            if action == "revision" and args and m == "GET":
                return self.info(repo_type, repo_id, "/".join(args))
            if action == "tree" and args and m == "GET":
                return self.tree(repo_type, repo_id, args[0], "/".join(args[1:]))
            if action == "paths-info" and args and m == "POST":
                return self.paths_info(repo_type, repo_id, "/".join(args))
            if action == "preupload" and args and m == "POST":
                return self.preupload(repo_type, repo_id, "/".join(args))
            if action == "commit" and args and m == "POST":
                return self.commit(repo_type, repo_id, "/".join(args))
            if action == "commits" and args and m == "GET":
                return self.commits(repo_type, repo_id, "/".join(args))
            if action == "refs" and not args and m == "GET":
                return self.refs(repo_type, repo_id)
            if action == "branch" and args and m == "POST":
                return self.create_branch(repo_type, repo_id, "/".join(args))
        raise HubError(404, "Not Found")

    # ---- account / repos ------------------------------------------------------------------------
    def validate_yaml(self) -> None:
        payload = json.loads(self.read_body() or b"{}")
        try:
            front_matter(payload.get("content", ""))
        except (yaml.YAMLError, ValueError) as e:
            return self.send(400, {"errors": [{"message": f"Invalid YAML: {e}"}], "warnings": []})
        return self.send(200, {"errors": [], "warnings": []})

    def create_repo(self) -> None:
        payload = json.loads(self.read_body() or b"{}")
        self.require_auth()
        repo_type = payload.get("type") or "model"
        name = payload.get("name") or ""
        repo_id = f"{payload.get('organization') or USER}/{name}"
        if repo_type not in TYPE_PREFIX or not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
            raise HubError(400, f"Invalid repo id or type: {repo_type} {repo_id}")
        url = f"{self.base}/{TYPE_PREFIX[repo_type]}{repo_id}"
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        with self.store.lock:
            if self.store.exists(repo_type, repo_id):
                raise HubError(409, f"You already created this {repo_type} repo: {repo_id}", url=url)
            self.store.save(self.store.create(repo_type, repo_id, private))
        return self.send(200, {"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self) -> None:
        payload = json.loads(self.read_body() or b"{}")
        self.require_auth()
        repo_id = f"{payload.get('organization') or USER}/{payload.get('name')}"
        with self.store.lock:
            self.store.delete(payload.get("type") or "model", repo_id)
        return self.send(200, {})

    def create_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        payload = json.loads(self.read_body() or b"{}")
        self.require_auth()
        with self.store.lock:
            repo = self.store.load(repo_type, repo_id)
            if branch in repo["refs"]:
                raise HubError(409, f"Reference already exists: {branch}")
            repo["refs"][branch] = self.store.resolve(repo, payload.get("startingPoint") or "main")
            self.store.save(repo)
        return self.send(200, {})

    # ---- reads ----------------------------------------------------------------------------------
    def _repo_at(self, repo_type: str, repo_id: str, revision: str) -> tuple[dict, str, dict]:
        repo = self.store.load(repo_type, repo_id, self.authed)
        sha = self.store.resolve(repo, revision)
        return repo, sha, repo["commits"][sha]["files"]

    def info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo, sha, files = self._repo_at(repo_type, repo_id, revision)
        card = None
        if "README.md" in files:
            try:
                card = front_matter(self.store.blob(files["README.md"]["sha256"]).decode("utf-8"))
            except (yaml.YAMLError, ValueError, UnicodeDecodeError):
                card = None
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, e in sorted(files.items()):
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=e["size"], blobId=e["oid"])
                if e.get("lfs"):
                    sib["lfs"] = {"sha256": e["sha256"], "size": e["size"], "pointerSize": e["pointerSize"]}
            siblings.append(sib)
        tags = list((card or {}).get("tags") or [])
        out: dict[str, Any] = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
            "sha": sha, "lastModified": repo["commits"][sha]["date"], "createdAt": repo["createdAt"],
            "private": repo["private"], "disabled": False, "gated": False, "downloads": 0, "likes": 0,
            "tags": tags, "siblings": siblings, "cardData": card, "usedStorage": sum(e["size"] for e in files.values()),
        }
        if repo_type == "model":
            out["modelId"] = repo_id
            if card:
                out["library_name"] = card.get("library_name")
                out["pipeline_tag"] = card.get("pipeline_tag")
                if card.get("model-index"):
                    out["model-index"] = card["model-index"]
            if "config.json" in files:
                try:
                    cfg = json.loads(self.store.blob(files["config.json"]["sha256"]))
                    out["config"] = {k: cfg[k] for k in ("architectures", "model_type") if k in cfg}
                except ValueError:
                    pass
        elif repo_type == "dataset":
            out.update(paperswithcode_id=None, description=None, citation=None)
        return self.send(200, out)

    def _entries(self, files: dict, path: str, recursive: bool) -> list[dict]:
        path = path.strip("/")
        folders = _folders(files)
        if path and path not in folders:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        out = []
        for f in sorted(folders):
            if f.startswith(prefix) and (recursive or "/" not in f[len(prefix):]):
                out.append(_folder_entry(f, files))
        for p, e in sorted(files.items()):
            if p.startswith(prefix) and (recursive or "/" not in p[len(prefix):]):
                out.append(_tree_entry(p, e))
        return out

    def _expand(self, repo: dict, sha: str, entries: list[dict]) -> list[dict]:
        history = self.store.history(repo, sha)
        for entry in entries:
            last = history[-1]
            for c, parent in zip(history, [*history[1:], None]):
                now = {p: e["oid"] for p, e in c["files"].items() if p == entry["path"] or p.startswith(entry["path"] + "/")}
                before = {} if parent is None else {
                    p: e["oid"] for p, e in parent["files"].items() if p == entry["path"] or p.startswith(entry["path"] + "/")
                }
                if now != before:
                    last = c
                    break
            entry["lastCommit"] = {"id": last["id"], "title": last["title"], "date": last["date"]}
            if entry["type"] == "file":
                entry["securityFileStatus"] = {"status": "safe", "avScan": None, "pickleImportScan": None}
        return entries

    def tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo, sha, files = self._repo_at(repo_type, repo_id, revision)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        entries = self._entries(files, path, recursive)
        if self.query.get("expand", ["false"])[0].lower() in ("1", "true"):
            entries = self._expand(repo, sha, entries)
        return self.send(200, entries)

    def paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        raw = self.read_body()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = json.loads(raw or b"{}")
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(raw.decode())
            paths = form.get("paths", [])
            expand = form.get("expand", ["False"])[0].lower() in ("1", "true")
        repo, sha, files = self._repo_at(repo_type, repo_id, revision)
        folders = _folders(files)
        out = []
        for p in paths:
            p = p.strip("/")
            if p in files:
                out.append(_tree_entry(p, files[p]))
            elif p in folders:
                out.append(_folder_entry(p, files))
        if expand:
            out = self._expand(repo, sha, out)
        return self.send(200, out)

    def commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo, sha, _ = self._repo_at(repo_type, repo_id, revision)
        out = [
            {"id": c["id"], "title": c["title"], "message": c["message"], "date": c["date"],
             "authors": [{"user": USER, "avatar": None}]}
            for c in self.store.history(repo, sha)
        ]
        return self.send(200, out)

    def refs(self, repo_type: str, repo_id: str) -> None:
        repo = self.store.load(repo_type, repo_id, self.authed)
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo["refs"].items()]
        return self.send(200, {"branches": branches, "tags": [], "converts": []})

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        _, sha, files = self._repo_at(repo_type, repo_id, revision)
        if path not in files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit=sha)
        e = files[path]
        headers: dict[str, Any] = {
            "X-Repo-Commit": sha, "ETag": f'"{e["oid"]}"', "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.split('/')[-1])}",
        }
        if e.get("lfs"):
            headers.update({"X-Linked-Etag": f'"{e["sha256"]}"', "X-Linked-Size": e["size"], "ETag": f'"{e["sha256"]}"'})
        data = b"" if self.command == "HEAD" else self.store.blob(e["sha256"])
        size = e["size"]
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip()) if rng else None
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(size - int(m.group(2)), 0), size - 1
            if start >= size:
                return self.send(416, raw=b"", headers={"Content-Range": f"bytes */{size}", **headers})
            headers.update({"Content-Range": f"bytes {start}-{end}/{size}", "Content-Length": end - start + 1})
            return self.send(206, raw=data[start : end + 1], headers=headers)
        headers["Content-Length"] = size
        return self.send(200, raw=data, headers=headers)

    # ---- writes ---------------------------------------------------------------------------------
    def preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        payload = json.loads(self.read_body() or b"{}")
        self.require_auth()
        repo = self.store.load(repo_type, repo_id)
        files = repo["commits"][repo["refs"][revision]]["files"] if revision in repo["refs"] else {}
        out = []
        for f in payload.get("files", []):
            path, size = f["path"], int(f["size"])
            lfs = path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE
            if not lfs:
                sample = base64.b64decode(f.get("sample") or "")
                lfs = b"\0" in sample
            remote = files.get(path)
            oid = None
            if remote is not None:
                oid = remote["sha256"] if lfs else (None if remote.get("lfs") else remote["oid"])
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return self.send(200, {"files": out, "commitOid": repo["refs"].get(revision)})

    def lfs_batch(self, repo_type: str, repo_id: str) -> None:
        payload = json.loads(self.read_body() or b"{}")
        self.require_auth()
        self.store.load(repo_type, repo_id)
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not self.store.has_blob(oid):
                ticket = secrets.token_urlsafe(16)
                with self.store.lock:
                    self.store.uploads[ticket] = (oid, size)
                item["actions"] = {"upload": {"href": f"{self.base}/_lfs/{oid}/{ticket}", "header": {}}}
            objects.append(item)
        headers = {"Content-Type": "application/vnd.git-lfs+json"}
        return self.send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, headers)

    def lfs_put(self, ticket: str) -> None:
        data = self.read_body()
        with self.store.lock:
            expected = self.store.uploads.pop(ticket, None)
        if expected is None:
            raise HubError(403, "Unknown or used upload URL")
        oid, size = expected
        if hashlib.sha256(data).hexdigest() != oid or len(data) != size:
            raise HubError(400, "Uploaded content does not match its sha256/size")
        self.store.put_blob(data)
        return self.send(200, raw=b"", headers={"ETag": f'"{oid}"'})

    def commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        raw = self.read_body()
        self.require_auth()
        with self.store.lock:
            if self.store.fail_next_commit:
                self.store.fail_next_commit = False
                raise HubError(500, "Internal Error (injected by /_test/fail-next-commit)")
            repo = self.store.load(repo_type, repo_id)
            if "create_pr" in self.query:
                raise HubError(400, "Pull requests are not supported by the test hub")
            if revision not in repo["refs"]:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            header: dict = {}
            files: dict[str, dict] = {}
            deleted: list[str] = []
            for line in raw.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    header = value
                elif key == "file":
                    content = value["content"]
                    data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                    files[value["path"]] = self.store.file_entry(data, value["path"])
                elif key == "lfsFile":
                    if not self.store.has_blob(value["oid"]):
                        raise HubError(422, f"LFS object {value['oid']} was not uploaded")
                    size = (self.store.blobs / value["oid"]).stat().st_size
                    files[value["path"]] = self.store.lfs_entry(value["oid"], size)
                elif key in ("deletedFile", "deletedFolder"):
                    deleted.append(value["path"])
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            parent = header.get("parentCommit")
            if parent and not repo["refs"][revision].startswith(parent):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            if "README.md" in files:
                try:
                    front_matter(self.store.blob(files["README.md"]["sha256"]).decode("utf-8"))
                except (yaml.YAMLError, ValueError, UnicodeDecodeError) as e:
                    raise HubError(400, f"Invalid metadata in README.md: {e}") from e
            sha = self.store.commit(repo, revision, header.get("summary") or "commit", header.get("description") or "", files, deleted)
            self.store.save(repo)
        url = f"{self.base}/{TYPE_PREFIX[repo_type]}{repo_id}/commit/{sha}"
        return self.send(200, {"success": True, "commitOid": sha, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None})


class HubServer(ThreadingHTTPServer):
    """Carries the store and verbosity to handlers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: Store, verbose: bool = False):
        super().__init__(address, Handler)
        self.store = store
        self.verbose = verbose


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log method, path and status (never headers)")
    args = parser.parse_args(argv)
    server = HubServer((args.host, args.port), Store(args.root), args.verbose)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
