"""The teacher: a sentence-transformers model (or cross-encoder) plus a stable fingerprint of what it computes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hf_nvr.common.models import resolve_model
from hf_nvr.mining.distributed import local_device

# Models handed in as instances, keyed by fingerprint, so a miner rebuilt from its pickled spec (datasets'
# fingerprinting, forked map workers) finds the same object instead of pickling a whole model.
_LIVE: dict[str, Any] = {}


def _path_fingerprint(path: str) -> str:
    root = Path(path)
    digest = hashlib.sha256()
    for meta in sorted(root.rglob("*.json")):
        digest.update(meta.relative_to(root).as_posix().encode())
        digest.update(meta.read_bytes())
    for weights in sorted([*root.rglob("*.safetensors"), *root.rglob("*.bin")]):
        stat = weights.stat()
        digest.update(f"{weights.relative_to(root).as_posix()}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def _module_fingerprint(model: Any) -> str:
    """Names, shapes, dtypes and ~4k strided values per tensor: any fine-tune changes it, a 7B model hashes fast."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(sample.tobytes())
    return digest.hexdigest()[:16]


def register_instance(model: Any) -> str:
    """A stable reference to a model object, for specs that must not pickle it."""
    ref = f"instance:{_module_fingerprint(model)}"
    _LIVE[ref] = model
    return ref


def live_instance(ref: str) -> Any:
    if ref not in _LIVE:
        raise RuntimeError(
            f"{ref} was a model object handed to a miner in another process; pass a hub id or a local path instead "
            "when mining with spawned workers"
        )
    return _LIVE[ref]


class Teacher:
    """Encodes queries and passages with prompts; ``ref`` is what a rebuilt miner loads it from."""

    def __init__(self, model: Any, *, max_length: int | None = None, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        if isinstance(model, (str, os.PathLike)):
            model = str(model)
            self.ref = model
            self.path = resolve_model(model)
            self.fingerprint = _path_fingerprint(self.path)
            self._model: SentenceTransformer | None = None
            self._device = device
        else:
            self._model = model
            self.ref = register_instance(model)
            self.fingerprint = self.ref.removeprefix("instance:")
            self.path = None
        self.max_length = max_length

    @classmethod
    def from_ref(cls, ref: str, max_length: int | None, device: str | None = None) -> Teacher:
        return cls(live_instance(ref) if ref.startswith("instance:") else ref, max_length=max_length, device=device)

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.path, device=self._device or local_device(), trust_remote_code=False)
        if self.max_length:
            self._model.max_seq_length = self.max_length
        return self._model

    def describe(self, prompts: tuple[str | None, str | None]) -> str:
        """What the store's fingerprint must capture: weights, prompts and truncation."""
        return json.dumps([self.fingerprint, prompts, self.max_length])

    def encode(self, texts: list[str], prompt: str | None, batch_size: int, progress: bool = False) -> np.ndarray:
        model = self.model
        embeddings = model.encode(
            texts,
            prompt=prompt,
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=progress,
            normalize_embeddings=getattr(model, "similarity_fn_name", "cosine") in (None, "cosine"),
        )
        return np.asarray(embeddings, dtype=np.float32)
