"""Readers for the BEIR layout (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), local or bundled."""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hf_nvr.common.text import passage_text


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _find(root: Path, name: str) -> Path:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root} has no {name} (or {name}.gz); expected the BEIR layout")


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a (possibly gzipped) jsonl file, with the line number in errors."""
    path = Path(path)
    rows = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
    return rows


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` from a BEIR qrels TSV (header ``query-id corpus-id score``)."""
    qrels: dict[str, dict[str, int]] = {}
    with _open_text(Path(path)) as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if header is None or len(header) < 3:
            raise ValueError(f"{path}: expected a header 'query-id<TAB>corpus-id<TAB>score'")
        for row in reader:
            if row:
                qrels.setdefault(str(row[0]), {})[str(row[1])] = int(float(row[2]))
    return qrels


@dataclass
class BeirDataset:
    """One BEIR split in memory: ids are strings, documents keep title and text apart."""

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def documents(self, use_title: bool = True) -> tuple[list[str], list[str]]:
        """Corpus ids and the texts a retriever encodes (``title + " " + text``)."""
        ids = list(self.corpus)
        return ids, [passage_text(self.corpus[i].get("title"), self.corpus[i]["text"], use_title) for i in ids]

    def with_corpus_subset(self, max_docs: int, keep: set[str] = frozenset()) -> BeirDataset:
        """A smaller corpus for smoke runs: the ``keep`` ids (e.g. every judged document) plus the first others."""
        ids = [d for d in self.corpus if d in keep]
        ids += [d for d in self.corpus if d not in keep][: max(0, max_docs - len(ids))]
        return BeirDataset(corpus={d: self.corpus[d] for d in ids}, queries=self.queries, qrels=self.qrels)

    def judged_ids(self) -> set[str]:
        """Every document some query of this split is judged relevant to."""
        return {d for rels in self.qrels.values() for d, r in rels.items() if r > 0}

    def pairs(self) -> list[dict[str, object]]:
        """One row per judged query: ``query``, ``positive`` (list), ``query_id``, ``positive_ids`` (the mining input)."""
        rows = []
        for qid, rels in self.qrels.items():
            pos_ids = [d for d, r in rels.items() if r > 0 and d in self.corpus]
            if qid not in self.queries or not pos_ids:
                continue
            rows.append(
                {
                    "query_id": qid,
                    "query": self.queries[qid],
                    "positive_ids": pos_ids,
                    "positive": [passage_text(self.corpus[d].get("title"), self.corpus[d]["text"]) for d in pos_ids],
                }
            )
        return rows


def load_beir(data_dir: str | Path, split: str = "test") -> BeirDataset:
    """Load a BEIR folder; queries are restricted to those judged in ``split``."""
    root = Path(data_dir)
    corpus = {
        str(r["_id"]): {"title": r.get("title") or "", "text": r.get("text") or ""}
        for r in read_jsonl(_find(root, "corpus.jsonl"))
    }
    qrels = read_qrels(_find(root / "qrels", f"{split}.tsv"))
    queries = {str(r["_id"]): r["text"] for r in read_jsonl(_find(root, "queries.jsonl")) if str(r["_id"]) in qrels}
    return BeirDataset(corpus=corpus, queries=queries, qrels=qrels)


def bundled_scifact_dir() -> Path:
    """The SciFact copy shipped as package data (claims CC BY 4.0, abstracts ODC-By 1.0; see its SOURCE.md)."""
    return Path(str(resources.files("hf_nvr.resources") / "scifact"))
