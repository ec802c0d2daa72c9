"""The corpus embedding store: encode once, memory-map forever, resume after a crash.

Rows are encoded in length-sorted order (padding waste is the main cost of transformer encoding) and written
as fixed-size ``.npy`` shards. Every write is atomic (temp file + rename) and the manifest records each
finished shard with its sha256, so a killed job resumes at the first missing shard and a truncated or corrupt
shard is detected and re-encoded instead of being used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_PROGRESS_CHUNK = 512  # rows per encode call: the bar moves while a large shard encodes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write {path}: {err.strerror or err}") from err


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


class EmbeddingStore:
    """Embeddings of one corpus under one teacher configuration, identified by ``fingerprint``."""

    def __init__(self, directory: str | Path, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self._order: np.ndarray | None = None
        self._rank: np.ndarray | None = None
        self._shards: list[np.ndarray] | None = None

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    @property
    def complete(self) -> bool:
        """Whether a sealed store for this fingerprint is on disk, reusable without encoding anything."""
        manifest = self._read_manifest()
        return bool(manifest and manifest["complete"])

    def _read_manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            return None
        manifest = json.loads(self.manifest_path.read_text())
        if manifest.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"{self.directory} holds embeddings for another corpus/teacher "
                f"(fingerprint {manifest.get('fingerprint')}, expected {self.fingerprint}); use another cache_dir"
            )
        return manifest

    def build(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], np.ndarray],
        *,
        shard_size: int = 4096,
        dtype: str = "float16",
        show_progress: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> EmbeddingStore:
        """Encode what is missing (all of it the first time, the unfinished shards after a crash).

        With ``world_size > 1`` each rank encodes the shards ``i ≡ rank (mod world_size)``; every shard carries
        its own checksum file, so ranks never write the same file, and :meth:`finalize` (rank 0, after a barrier)
        seals the manifest. A single process finalizes itself.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        existing = self._read_manifest()
        if existing is not None and existing["num_rows"] != len(texts):
            raise ValueError(f"{self.directory}: manifest has {existing['num_rows']} rows, corpus has {len(texts)}")
        if existing is not None:
            shard_size, dtype = existing["shard_size"], existing["dtype"]
        elif rank == 0:
            header = {"fingerprint": self.fingerprint, "num_rows": len(texts), "shard_size": shard_size,
                      "dtype": dtype, "dim": None, "shards": {}, "complete": False}
            atomic_write_bytes(self.manifest_path, json.dumps(header, indent=1).encode())
        self.shard_size, self.dtype = shard_size, dtype
        order = self._order_for(texts)
        starts = list(range(0, len(texts), shard_size))[rank::world_size]
        todo = [s for s in starts if not self._shard_ok(s, shard_size)]
        mine = sum(min(shard_size, len(texts) - s) for s in starts)
        done = mine - sum(min(shard_size, len(texts) - s) for s in todo)
        if done and todo:
            logger.info("resuming embedding store %s: %d of %d rows already encoded", self.directory, done, mine)
        bar = tqdm(total=mine, initial=done, desc="Encoding corpus", unit="doc", disable=not show_progress or not todo)
        for start in todo:
            rows = order[start : start + shard_size]
            parts = []
            for c0 in range(0, len(rows), _PROGRESS_CHUNK):
                parts.append(np.asarray(encode([texts[i] for i in rows[c0 : c0 + _PROGRESS_CHUNK]]), dtype=np.float32))
                bar.update(len(parts[-1]))
            embeddings = np.concatenate(parts).astype(dtype)
            path = self._shard_path(start, shard_size)
            _save_npy(path, embeddings)
            meta = {"rows": len(rows), "dim": int(embeddings.shape[1]), "sha256": _sha256(path)}
            atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta).encode())
        bar.close()
        if world_size == 1 and (todo or not (existing or {}).get("complete")):
            self.finalize(len(texts))
        return self

    def finalize(self, num_rows: int) -> None:
        """Verify every shard and write the complete manifest (idempotent); call :meth:`build` first."""
        shard_size, dtype = self.shard_size, self.dtype
        shards = {}
        for start in range(0, num_rows, shard_size):
            if not self._shard_ok(start, shard_size):
                raise RuntimeError(f"embedding shard {self._shard_path(start, shard_size)} is missing or corrupt")
            meta = json.loads(self._shard_path(start, shard_size).with_suffix(".json").read_text())
            shards[str(start)] = {"file": self._shard_path(start, shard_size).name, **meta}
        dim = next(iter(shards.values()))["dim"]
        manifest = {"fingerprint": self.fingerprint, "num_rows": num_rows, "shard_size": shard_size, "dtype": dtype,
                    "dim": dim, "shards": shards, "complete": True}
        atomic_write_bytes(self.manifest_path, json.dumps(manifest, indent=1).encode())
        self._shards = None

    def _order_for(self, texts: Sequence[str]) -> np.ndarray:
        path = self.directory / "order.npy"
        if not path.exists():
            lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
            _save_npy(path, np.argsort(-lengths, kind="stable"))
        return np.load(path)

    def _shard_path(self, start: int, shard_size: int) -> Path:
        return self.directory / f"shard_{start // shard_size:06d}.npy"

    def _shard_ok(self, start: int, shard_size: int) -> bool:
        path = self._shard_path(start, shard_size)
        meta_path = path.with_suffix(".json")
        if not meta_path.exists():
            return False
        if not path.exists() or _sha256(path) != json.loads(meta_path.read_text())["sha256"]:
            logger.warning("embedding shard %s is missing or corrupt (checksum mismatch); re-encoding it", path)
            meta_path.unlink(missing_ok=True)
            return False
        return True

    def _load(self) -> None:
        manifest = self._read_manifest()
        if not manifest or not manifest["complete"]:
            raise RuntimeError(f"embedding store {self.directory} is not complete; call build() first")
        self._order = np.load(self.directory / "order.npy")
        self._rank = np.empty_like(self._order)
        self._rank[self._order] = np.arange(len(self._order))
        shard_size = manifest["shard_size"]
        self._shards = [
            np.load(self.directory / manifest["shards"][str(s)]["file"], mmap_mode="r")
            for s in range(0, manifest["num_rows"], shard_size)
        ]
        self._shard_size = shard_size

    @property
    def order(self) -> np.ndarray:
        """Corpus position of each store row."""
        if self._order is None:
            self._load()
        return self._order

    def iter_shards(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_store_row, memory-mapped embeddings)`` for each shard, in store order."""
        if self._shards is None:
            self._load()
        for i, shard in enumerate(self._shards):
            yield i * self._shard_size, shard

    def get(self, positions: np.ndarray) -> np.ndarray:
        """float32 embeddings of the given corpus positions."""
        if self._shards is None:
            self._load()
        rows = self._rank[np.asarray(positions, dtype=np.int64)]
        out = np.empty((len(rows), self._shards[0].shape[1]), dtype=np.float32)
        shard_of, within = np.divmod(rows, self._shard_size)
        for shard in np.unique(shard_of):
            here = shard_of == shard
            out[here] = self._shards[shard][within[here]]
        return out
