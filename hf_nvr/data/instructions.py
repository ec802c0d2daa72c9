"""The instruction library: E5-Mistral / NV-Embed style task definitions and the ``Instruct: …\\nQuery: `` form.

The instruction is a prefix of the query (and, for symmetric STS data, of the passages too). Blended rows carry it
in a per-row ``query_prompt`` column rather than inside ``query``, so that the trainer can tokenise it separately
and mask its tokens out of mean pooling (NV-Embed §4, NV-Retriever §B): the instruction conditions the encoding
through attention but is not itself averaged into the embedding.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

_SUFFIXES = ("classification", "retrieval")


def _key(name: str) -> str:
    """Case-, space-, '-' and '_'-insensitive key, so 'MS MARCO', 'ms-marco' and 'msmarco' are one name."""
    return re.sub(r"[\s\-_]+", "", name).casefold()


@lru_cache(maxsize=1)
def _library() -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``({canonical: entry}, {key: canonical})`` from the bundled JSON (read once)."""
    text = (resources.files("hf_nvr.resources") / "instructions.json").read_text(encoding="utf-8")
    entries: dict[str, dict[str, Any]] = json.loads(text)["instructions"]
    index: dict[str, str] = {}
    for canonical, entry in entries.items():
        for alias in (canonical, *entry.get("aliases", [])):
            index.setdefault(_key(alias), canonical)
    return entries, index


def _canonical(name: str) -> str | None:
    index = _library()[1]
    key = _key(name)
    if key in index:
        return index[key]
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in index:
            return index[key[: -len(suffix)]]
    return None


def list_instructions() -> dict[str, str]:
    """``{name: instruction}`` for every bundled task definition."""
    return {name: entry["instruction"] for name, entry in _library()[0].items()}


def instruction_task(name: str) -> str | None:
    """The task kind of a library name (retrieval, classification, clustering, sts), or None if unknown."""
    canonical = _canonical(name)
    return _library()[0][canonical]["task"] if canonical else None


def get_instruction(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """The task definition for ``name`` (case-insensitive); ``overrides`` win over, or add to, the library.

    Raises ValueError with the closest known names for a typo, because a silently wrong instruction would only
    show up as a worse model days later.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"instruction name must be a non-empty string, got {name!r}")
    for key, text in (overrides or {}).items():
        if _key(key) == _key(name):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"instruction override for {key!r} must be a non-empty string, got {text!r}")
            return text
    canonical = _canonical(name)
    if canonical is not None:
        return _library()[0][canonical]["instruction"]
    entries, index = _library()
    known = {**{_key(k): k for k in overrides or {}}, **index}
    close = difflib.get_close_matches(_key(name), list(known), n=5, cutoff=0.6)
    hints = sorted({known[c] for c in close})
    suggestion = f"; did you mean {', '.join(hints)}?" if hints else ""
    raise ValueError(
        f"unknown instruction name {name!r}{suggestion} Pass the instruction text itself, add it with "
        f"overrides={{{name!r}: '...'}}, or pick one of list_instructions() ({len(entries)} bundled)"
    )


def format_query(instruction: str | None, query: str) -> str:
    """``"Instruct: {instruction}\\nQuery: {query}"`` (E5-Mistral / NV-Embed form); the bare query without one."""
    return f"Instruct: {instruction}\nQuery: {query}" if instruction else query


def instruction_prompt(instruction: str | None) -> str | None:
    """The prefix alone (``format_query(instruction, "")``), as stored in a row's ``query_prompt`` column.

    None without an instruction, which the trainer reads as "use the model's default prompt".
    """
    return format_query(instruction, "") if instruction else None
