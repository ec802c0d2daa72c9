"""Text identity: when are two passages "the same" for false-negative exclusion."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

import numpy as np


def normalize_text(text: str) -> str:
    """NFKC, casefold and collapse whitespace, so trivially different copies of a passage compare equal."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def text_hash(text: str) -> int:
    """A stable, non-zero 63-bit hash of the normalised text (0 is left free as a padding sentinel)."""
    digest = hashlib.blake2b(normalize_text(text).encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF) or 1


def text_hashes(texts: Iterable[str]) -> np.ndarray:
    """Vector of :func:`text_hash` values (int64)."""
    return np.fromiter((text_hash(t) for t in texts), dtype=np.int64)


def passage_text(title: str | None, text: str, use_title: bool = True) -> str:
    """The BEIR/MTEB convention for encoding a document: ``title + " " + text`` when a title exists."""
    if use_title and title:
        return f"{title} {text}"
    return text
