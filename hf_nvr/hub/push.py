"""Push a trained model (with its card) or a mined dataset (with its card) to the Hub, all-or-nothing.

A model push validates everything locally first (repo id, folder layout, safetensors weights, result
names), renders the card into a staging copy, then makes exactly one commit (``upload_folder``), so a
re-push is one new revision and a failed push leaves the previous one untouched. Error messages name the
endpoint and repo and never contain the token: every exception raised from here is re-raised as
:class:`HubPushError` with secrets scrubbed and without chaining the original exception.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hf_nvr.hub.card import (
    EVAL_RESULTS_DIR,
    as_dict,
    build_dataset_card,
    build_model_card,
    normalize_results,
    write_eval_results,
)

logger = logging.getLogger(__name__)

PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt")
NEVER_UPLOAD = ["checkpoint-*", "runs", ".cache", ".git", "__pycache__"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class HubPushError(RuntimeError):
    """A push to the Hub failed; the message names the endpoint and repo and never contains a token."""


def validate_repo_id(repo_id: str) -> str:
    """``namespace/name`` with the Hub's allowed characters; checked before any network call."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id):
        raise ValueError(
            f"repo_id must look like 'namespace/name' (letters, digits, '-', '_', '.'), got {repo_id!r}"
        )
    name = repo_id.split("/")[1]
    if "--" in repo_id or ".." in repo_id or name.endswith((".git", ".")) or len(name) > 96:
        raise ValueError(f"repo_id {repo_id!r} is not allowed on the Hub ('--', '..', trailing '.git' or > 96 chars)")
    return repo_id


def validate_model_dir(model_dir: str | Path) -> Path:
    """A sentence-transformers folder (``modules.json``) whose weights are all safetensors.

    Pickled weights are refused: a folder where some module only has ``*.bin``/``*.pt`` weights would push
    a model that either cannot load without pickle or silently lacks those weights.
    """
    root = Path(model_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"model directory {str(root)!r} does not exist or is not a directory")
    if not (root / "modules.json").is_file():
        raise ValueError(
            f"{str(root)!r} is not a sentence-transformers folder (no modules.json); save it with "
            "SentenceTransformer.save() first"
        )
    dirs = {p.parent for pattern in PICKLE_WEIGHTS for p in root.rglob(pattern) if not _excluded(p, root)}
    pickle_only = sorted(str(d.relative_to(root)) or "." for d in dirs if not any(d.glob("*.safetensors")))
    if pickle_only:
        raise ValueError(
            f"{str(root)!r} has pickled weights without safetensors in {', '.join(pickle_only)}: weights are "
            "pushed as safetensors only; re-save with safe_serialization=True"
        )
    if not any(not _excluded(p, root) for p in root.rglob("*.safetensors")):
        raise ValueError(f"{str(root)!r} has no *.safetensors weights")
    return root


def _excluded(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(p in NEVER_UPLOAD or p.startswith("checkpoint-") for p in parts)


def _secrets(token: str | None) -> list[str]:
    from huggingface_hub import get_token

    found = [token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")]
    try:
        found.append(get_token())
    except Exception:
        logger.debug("no stored Hub token to scrub")
    return sorted({s for s in found if isinstance(s, str) and len(s) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret, and anything shaped like a bearer or ``hf_`` user token, with ``***``."""
    for s in secrets:
        text = text.replace(s, "***")
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    return re.sub(r"\bhf_[A-Za-z0-9]{30,}\b", "***", text)


def _is_network_error(err: BaseException) -> bool:
    names = {cls.__name__ for cls in type(err).__mro__}
    return isinstance(err, (ConnectionError, TimeoutError)) or bool(
        names & {"TransportError", "ConnectError", "TimeoutException", "NetworkError"}
    )


def _fail(what: str, err: BaseException, endpoint: str, secrets: list[str]) -> HubPushError:
    if _is_network_error(err):
        msg = f"{what}: could not reach the Hub endpoint {endpoint} ({type(err).__name__}: {err})"
    else:
        msg = f"{what} on {endpoint} failed: {type(err).__name__}: {err}"
    return HubPushError(scrub(msg, secrets))


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _stage(root: Path, dest: Path) -> Path:
    """A copy of the model folder (hard links where possible) without pickles, checkpoints or old cards."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        skip = {n for n in names if n in NEVER_UPLOAD or n.startswith("checkpoint-")}
        skip |= {n for n in names if any(Path(n).match(p) for p in PICKLE_WEIGHTS) and (here / n).is_file()}
        if here == root:
            skip |= {"README.md", EVAL_RESULTS_DIR}
        return skip

    shutil.copytree(root, dest, ignore=ignore, copy_function=_link_or_copy)
    return dest


def push_to_hub(
    model_dir: str | Path,
    repo_id: str,
    *,
    results: Iterable[Any] | None = None,
    mining_report: Any = None,
    training_args: Any = None,
    base_model: str | None = None,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    datasets: str | Sequence[str] | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    prompts: Mapping[str, str] | None = None,
    is_adapter: bool | None = None,
    endpoint: str | None = None,
) -> str:
    """Push a sentence-transformers folder plus its model card and ``.eval_results`` in one commit.

    Returns the commit URL (a ``huggingface_hub.CommitInfo``, a ``str`` whose ``.oid`` is the sha).
    Raises ``ValueError``/``FileNotFoundError`` before any network call when the inputs are wrong, and
    :class:`HubPushError` when the Hub fails; a repo this call created is deleted again on failure.
    """
    validate_repo_id(repo_id)
    root = validate_model_dir(model_dir)
    rows = normalize_results(results)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    secrets = _secrets(token)
    card = build_model_card(
        root, repo_id=repo_id, base_model=base_model, results=rows, mining_report=mining_report,
        training_args=training_args, datasets=datasets, license=license, language=language, prompts=prompts,
        is_adapter=is_adapter,
    )
    card_text = scrub(str(card), secrets)
    with tempfile.TemporaryDirectory(prefix="hf_nvr_push_") as tmp:
        staging = _stage(root, Path(tmp) / "model")
        (staging / "README.md").write_text(card_text, encoding="utf-8")
        write_eval_results(staging, rows)
        return _upload(api, staging, repo_id, secrets, private, revision, commit_message)


def _upload(
    api: Any, staging: Path, repo_id: str, secrets: list[str], private: bool | None, revision: str | None,
    commit_message: str | None,
) -> str:
    endpoint = api.endpoint
    try:
        existed = api.repo_exists(repo_id)
        api.create_repo(repo_id, exist_ok=True, private=private)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
    except Exception as err:
        raise _fail(f"preparing {repo_id}", err, endpoint, secrets) from None
    try:
        commit = api.upload_folder(
            folder_path=str(staging),
            repo_id=repo_id,
            revision=revision,
            commit_message=commit_message or "Upload model trained with hf_nvr (NV-Retriever hard negatives)",
            delete_patterns=[f"{EVAL_RESULTS_DIR}/*.yaml"],
        )
    except Exception as err:
        failure = _fail(f"uploading {repo_id}", err, endpoint, secrets)
        if not existed:
            try:
                api.delete_repo(repo_id, missing_ok=True)
            except Exception:
                logger.warning("could not delete the empty repo %s after a failed upload", repo_id)
        raise failure from None
    logger.info("pushed %s to %s/%s (commit %s)", staging.name, endpoint, repo_id, getattr(commit, "oid", ""))
    return commit


def push_dataset_to_hub(
    dataset: Any,
    repo_id: str,
    *,
    mining_report: Any = None,
    token: str | None = None,
    private: bool | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    source_datasets: str | Sequence[str] | None = None,
    histogram_path: str | Path | None = None,
    commit_message: str | None = None,
) -> str:
    """``Dataset.push_to_hub`` (or ``DatasetDict``), then one commit with the mined-data card.

    The card keeps the ``dataset_info``/``configs`` metadata ``datasets`` wrote, so ``load_dataset`` sees
    the same splits. ``histogram_path`` (the report's PNG) is uploaded next to the card and shown in it.
    Returns the URL of the last commit (the card's, or the data's when there is no report).
    """
    validate_repo_id(repo_id)
    report = as_dict(mining_report, "mining_report") if mining_report is not None else None
    histogram = Path(histogram_path) if histogram_path is not None else None
    if histogram is not None and not histogram.is_file():
        raise FileNotFoundError(f"histogram {str(histogram)!r} does not exist")
    from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi

    api = HfApi(token=token)
    secrets = _secrets(token)
    try:
        data_commit = dataset.push_to_hub(repo_id, token=token, private=private, commit_message=commit_message)
        if report is None:
            return data_commit
        existing = DatasetCard.load(repo_id, repo_type="dataset", token=token).data.to_dict()
        card = build_dataset_card(
            report, repo_id=repo_id, existing=existing, license=license, language=language,
            source_datasets=source_datasets, histogram=histogram.name if histogram else None,
        )
        ops = [CommitOperationAdd("README.md", scrub(str(card), secrets).encode("utf-8"))]
        if histogram is not None:
            ops.append(CommitOperationAdd(histogram.name, str(histogram)))
        commit = api.create_commit(
            repo_id, ops, repo_type="dataset", commit_message="Add dataset card with hf_nvr mining provenance"
        )
    except Exception as err:
        raise _fail(f"pushing dataset {repo_id}", err, api.endpoint, secrets) from None
    return commit
