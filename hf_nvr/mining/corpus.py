"""`Corpus`: passage ids and texts as Arrow columns, so millions of passages cost no Python objects.

A ``datasets.Dataset`` corpus stays in its (memory-mapped) Arrow buffers; lists and dicts are converted once.
The lookups mining needs (id → position, normalised-text hash → first position) are sorted ``int64`` arrays
searched with ``np.searchsorted``, not dicts of millions of entries.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hf_nvr.common.text import passage_text, text_hashes

_CHUNK = 65_536


def _key(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def _keys(values: Iterator[str], count: int) -> np.ndarray:
    return np.fromiter((_key(v) for v in values), dtype=np.int64, count=count)


class _TextView(Sequence):
    """``Sequence[str]`` over the texts, what :class:`~hf_nvr.mining.store.EmbeddingStore` reads."""

    def __init__(self, corpus: Corpus) -> None:
        self._corpus = corpus

    def __len__(self) -> int:
        return len(self._corpus)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return self._corpus.text(i)

    def __iter__(self) -> Iterator[str]:
        return self._corpus.iter_texts()


class Corpus:
    """Ids (strings, unique) and passage texts (non-blank) of a mining corpus."""

    def __init__(self, ids: pa.ChunkedArray | pa.Array, texts: pa.ChunkedArray | pa.Array, *, validate: bool = True) -> None:
        self._ids = pa.chunked_array([ids]) if isinstance(ids, pa.Array) else ids
        self._texts = pa.chunked_array([texts]) if isinstance(texts, pa.Array) else texts
        self._id_index: tuple[np.ndarray, np.ndarray] | None = None
        self._hash_index: tuple[np.ndarray, np.ndarray] | None = None
        self._hashes: np.ndarray | None = None
        if validate:
            self._validate()

    # -- construction -----------------------------------------------------------------------------------------

    @classmethod
    def from_any(cls, corpus: Any, use_title: bool = True) -> Corpus:
        """From a ``datasets.Dataset`` (``text``, optional ``title``, ``_id``/``id``), a list of dicts, an
        ``{id: text}`` dict or a list of strings."""
        if isinstance(corpus, Corpus):
            return corpus
        if isinstance(corpus, dict):
            return cls(pa.array([str(k) for k in corpus], pa.string()), pa.array(list(corpus.values()), pa.string()))
        if hasattr(corpus, "column_names"):
            cols = corpus.column_names
            if "text" not in cols:
                raise ValueError(f"corpus has no 'text' column (columns: {cols}); rename the passage column to 'text'")
            table = corpus.with_format("arrow")
            texts = pc.cast(table["text"], pa.string())
            if use_title and "title" in cols:
                titles = pc.cast(table["title"], pa.string())
                has_title = pc.fill_null(pc.greater(pc.utf8_length(titles), 0), False)
                texts = pc.if_else(has_title, pc.binary_join_element_wise(titles, texts, " "), texts)
            id_col = "_id" if "_id" in cols else "id" if "id" in cols else None
            ids = pc.cast(table[id_col], pa.string()) if id_col else pa.array(np.arange(len(corpus)).astype(str))
            return cls(ids, texts)
        if not len(corpus):
            raise ValueError("the corpus is empty: mining needs passages to search")
        if isinstance(corpus[0], dict):
            ids = [str(r.get("_id", r.get("id", i))) for i, r in enumerate(corpus)]
            texts = [passage_text(r.get("title"), r["text"], use_title) if isinstance(r.get("text"), str) else None
                     for r in corpus]
        else:
            ids, texts = [str(i) for i in range(len(corpus))], [t if isinstance(t, str) else None for t in corpus]
        return cls(pa.array(ids, pa.string()), pa.array(texts, pa.string()))

    @classmethod
    def read(cls, path: str | Path) -> Corpus:
        """A corpus written by :meth:`write` (validated then), memory-mapped: nothing is read until used."""
        import pyarrow.feather as feather

        table = feather.read_table(str(path), memory_map=True)
        return cls(table.column("id"), table.column("text"), validate=False)

    def write(self, path: str | Path) -> None:
        """Uncompressed Arrow IPC (so :meth:`read` maps it), written atomically."""
        import pyarrow.feather as feather

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        feather.write_feather(pa.table({"id": self._ids, "text": self._texts}), str(tmp), compression="uncompressed")
        os.replace(tmp, path)

    def _validate(self) -> None:
        if len(self._texts) == 0:
            raise ValueError("the corpus is empty: mining needs passages to search")
        blank = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(self._texts)), 0), True)
        bad = np.flatnonzero(np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"corpus row {i} (id {self.id(i)!r}) has an empty or missing text; drop or fill it first")
        keys, order = self._ids_sorted()
        for j in np.flatnonzero(keys[1:] == keys[:-1]):
            a, b = self.id(int(order[j])), self.id(int(order[j + 1]))
            if a == b:
                raise ValueError(f"corpus id {a!r} occurs more than once; ids must be unique")

    # -- access -----------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._texts)

    def text(self, i: int) -> str:
        return self._texts[i].as_py()

    def id(self, i: int) -> str:
        return self._ids[i].as_py()

    def texts(self, positions: Sequence[int]) -> list[str]:
        return self._texts.take(pa.array(positions, pa.int64())).to_pylist() if len(positions) else []

    def ids(self, positions: Sequence[int]) -> list[str]:
        return self._ids.take(pa.array(positions, pa.int64())).to_pylist() if len(positions) else []

    def iter_texts(self) -> Iterator[str]:
        for start in range(0, len(self), _CHUNK):
            yield from self._texts.slice(start, _CHUNK).to_pylist()

    def iter_ids(self) -> Iterator[str]:
        for start in range(0, len(self), _CHUNK):
            yield from self._ids.slice(start, _CHUNK).to_pylist()

    def text_view(self) -> Sequence[str]:
        return _TextView(self)

    def fingerprint(self) -> str:
        """Changes with any id or text (same digest as hashing ``id\\0text\\0`` for every passage in order)."""
        digest = hashlib.sha256()
        for start in range(0, len(self), _CHUNK):
            ids = self._ids.slice(start, _CHUNK).to_pylist()
            texts = self._texts.slice(start, _CHUNK).to_pylist()
            digest.update(b"".join(cid.encode() + b"\0" + text.encode() + b"\0" for cid, text in zip(ids, texts)))
        return digest.hexdigest()[:16]

    # -- lookups ----------------------------------------------------------------------------------------------

    @property
    def hashes(self) -> np.ndarray:
        """Normalised-text hash of every passage (what positives and queries are excluded by)."""
        if self._hashes is None:
            self._hashes = text_hashes(self.iter_texts())
        return self._hashes

    def _ids_sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._id_index is None:
            keys = _keys(self.iter_ids(), len(self))
            order = np.argsort(keys, kind="stable")
            self._id_index = keys[order], order
        return self._id_index

    def positions_of_ids(self, ids: Sequence[str]) -> np.ndarray:
        """Corpus position of each id, -1 where the corpus has no such id."""
        keys, order = self._ids_sorted()
        out = np.full(len(ids), -1, dtype=np.int64)
        for i, cid in enumerate(ids):
            key = _key(cid)
            j = int(np.searchsorted(keys, key))
            while j < len(keys) and keys[j] == key:
                if self.id(int(order[j])) == cid:
                    out[i] = order[j]
                    break
                j += 1
        return out

    def positions_of_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """First corpus position whose text hash equals each given hash, -1 where none does."""
        if self._hash_index is None:
            order = np.argsort(self.hashes, kind="stable")
            self._hash_index = self.hashes[order], order
        keys, order = self._hash_index
        hashes = np.asarray(hashes, dtype=np.int64)
        j = np.searchsorted(keys, hashes).clip(max=len(keys) - 1)
        return np.where(keys[j] == hashes, order[j], -1)
