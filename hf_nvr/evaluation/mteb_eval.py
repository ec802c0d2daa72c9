"""Benchmark a model on retrieval tasks with mteb when it is installed, else with the built-in evaluator.

A result may carry an official MTEB task name and dataset revision only when the data really is that dataset, so a
model card never claims a leaderboard-comparable score for other data. Local BEIR data counts as the official
dataset when either

1. the sha256 of its (decompressed) corpus, queries and qrels files equals a copy verified by hand
   (:data:`KNOWN_DATASETS`; works without mteb), or
2. with mteb installed, its counts equal the statistics mteb ships for that task and split: documents, queries,
   non-zero judgements, distinct judged documents, and the queries' total characters.

Anything else runs as a custom task named ``"<Name>Local"`` whose dataset id is ``local/<folder>`` and whose
revision is a hash of the files, so it can never be mistaken for the official one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from hf_nvr.common.beir import BeirDataset, bundled_scifact_dir, load_beir
from hf_nvr.common.models import resolve_model
from hf_nvr.evaluation.evaluator import RetrievalEvaluator, _as_float_tensor, _similarity
from hf_nvr.evaluation.metrics import MAIN_SCORE

logger = logging.getLogger(__name__)

# mteb's own retrieval cut-offs, so the built-in fallback reports the same metric set.
MTEB_K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 20, 100, 1000)
LOCAL_SUFFIX = "Local"


@dataclass(frozen=True)
class KnownDataset:
    """A BEIR copy checked against the official MTEB dataset: file sha256s (decompressed) per relative path."""

    task_name: str
    dataset_id: str
    revision: str
    splits: tuple[str, ...]
    sha256: Mapping[str, str]


KNOWN_DATASETS: dict[str, KnownDataset] = {
    "SciFact": KnownDataset(
        task_name="SciFact",
        dataset_id="mteb/scifact",
        revision="d56462d0e63a25450459c4f213e49ffdb866f7f9",
        splits=("test",),
        # hf_nvr/resources/scifact/SOURCE.md: same counts as BEIR, MiniLM scores MTEB's published 0.6451.
        sha256={
            "corpus.jsonl": "ae39e2b331413acd6c58c262e3d2c1bf2b4afb5407ccfa6d06dd3f06e5da1f28",
            "queries.jsonl": "f33f85a3944794c2a2af28df24dcbfb883614c1e3ac566efc997a74e51e89c57",
            "qrels/test.tsv": "18a49075af697c9bcdb3cf7b3618a12b32be0697a7e15f10a07de09d914d59b2",
        },
    )
}


@dataclass(kw_only=True)
class TaskResult:
    """One task/split/subset score, JSON-friendly: every metric is a plain float in [0, 1] (not x100).

    ``metrics`` holds the ranking metrics under mteb's names (``ndcg_at_10``, ``recall_at_100``, ...,
    ``accuracy`` = ``recall_at_1``); ``evaluator`` is ``"mteb <version>"`` or ``"hf_nvr"``.
    """

    task_name: str
    split: str
    subset: str = "default"
    main_score_name: str = MAIN_SCORE
    main_score: float
    metrics: dict[str, float] = field(default_factory=dict)
    dataset_id: str
    dataset_revision: str
    is_official: bool
    evaluator: str

    def __post_init__(self) -> None:
        self.main_score = float(self.main_score)
        self.metrics = {str(k): float(v) for k, v in self.metrics.items()}

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskResult:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so older readers accept newer files."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------- data identity


def _find_file(root: Path, rel: str) -> Path | None:
    for candidate in (root / rel, root / f"{rel}.gz"):
        if candidate.exists():
            return candidate
    return None


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's content, decompressing ``.gz`` so a gzipped copy hashes like the plain one."""
    path = Path(path)
    digest = hashlib.sha256()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def beir_file_hashes(data_dir: str | Path, split: str) -> dict[str, str]:
    """sha256 of ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` (each possibly gzipped)."""
    out = {}
    for rel in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        path = _find_file(Path(data_dir), rel)
        if path is None:
            raise FileNotFoundError(f"{data_dir} has no {rel}(.gz); expected the BEIR layout")
        out[rel] = file_sha256(path)
    return out


def local_revision(hashes: Mapping[str, str]) -> str:
    """A short content revision for local data: a hash over the file hashes."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(hashes.items()))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def split_statistics(data: BeirDataset) -> dict[str, int]:
    """The counts mteb's descriptive statistics record for a retrieval split."""
    return {
        "num_documents": len(data.corpus),
        "num_queries": len(data.queries),
        "num_relevant_docs": sum(1 for rels in data.qrels.values() for g in rels.values() if g != 0),
        "unique_relevant_docs": len({d for rels in data.qrels.values() for d in rels}),
        "queries_total_text_length": sum(len(t) for t in data.queries.values()),
    }


def _official_statistics(task: Any, split: str) -> dict[str, int] | None:
    stats = (task.metadata.descriptive_stats or {}).get(split)
    if not stats or "hf_subset_descriptive_stats" in stats:
        return None
    try:
        return {
            "num_documents": stats["num_documents"],
            "num_queries": stats["num_queries"],
            "num_relevant_docs": stats["relevant_docs_statistics"]["num_relevant_docs"],
            "unique_relevant_docs": stats["relevant_docs_statistics"]["unique_relevant_docs"],
            "queries_total_text_length": stats["queries_text_statistics"]["total_text_length"],
        }
    except (KeyError, TypeError):
        return None


def matches_official(
    task_name: str, split: str, hashes: Mapping[str, str], data: BeirDataset, official_task: Any | None = None
) -> tuple[bool, str]:
    """Whether local data is the official dataset of ``task_name``/``split``, and why (see the module docstring)."""
    known = KNOWN_DATASETS.get(task_name)
    if known and split in known.splits and all(hashes.get(k) == v for k, v in known.sha256.items()):
        return True, "file sha256s match the verified copy"
    if official_task is None:
        return False, "no verified copy has these files (statistics are only compared through mteb)"
    if split not in official_task.metadata.eval_splits:
        return False, f"split {split!r} is not one of the official evaluation splits"
    expected = _official_statistics(official_task, split)
    if expected is None:
        return False, "mteb ships no single-subset statistics for this task"
    found = split_statistics(data)
    diff = {k: (found[k], v) for k, v in expected.items() if found[k] != v}
    if diff:
        return False, "statistics differ from the official dataset (found, expected): " + json.dumps(diff)
    return True, "counts match mteb's descriptive statistics"


# --------------------------------------------------------------------------- model handling


def _load_model(model: Any, device: str | None, model_name: str | None) -> Any:
    """A SentenceTransformer for a path/hub id; other objects pass through. Names the model for mteb's cache."""
    if isinstance(model, str | Path):
        from sentence_transformers import SentenceTransformer

        ref = str(model)
        path = resolve_model(ref)
        loaded = SentenceTransformer(path, device=device)
        is_local = Path(ref).expanduser().exists()
        default_name = f"local/{Path(path).name}" if is_local else ref
        card = loaded.model_card_data
        card.model_name = model_name or card.model_name or default_name
        return loaded
    card = getattr(model, "model_card_data", None)
    if card is not None and (model_name or not getattr(card, "model_name", None)):
        card.model_name = model_name or getattr(card, "base_model", None) or "local/unnamed-model"
    return model


def _model_label(model: Any, model_name: str | None) -> str:
    card = getattr(model, "model_card_data", None)
    return (
        model_name
        or getattr(card, "model_name", None)
        or getattr(model, "name", None)
        or "local/unnamed-model"
    )


def _mteb_model(model: Any, model_name: str | None) -> Any:
    """mteb takes SentenceTransformers as they are; any other ``encode_query``/``encode_document`` model is wrapped."""
    from sentence_transformers import SentenceTransformer

    if isinstance(model, SentenceTransformer) or hasattr(model, "mteb_model_meta"):
        return model
    return _adapter_class()(model, _model_label(model, model_name))


def _adapter_class() -> type:
    from mteb.models import ModelMeta
    from mteb.models.abs_encoder import AbsEncoder
    from mteb.models.model_meta import ScoringFunction
    from mteb.types import PromptType

    class MtebEncoderAdapter(AbsEncoder):
        """mteb's encoder protocol on top of ``encode_query``/``encode_document`` (e.g. hf_nvr's BiEncoder)."""

        def __init__(self, model: Any, name: str) -> None:
            self.model = model
            name_or_enum = getattr(model, "similarity_fn_name", None) or "cosine"
            self.similarity_fn_name = str(getattr(name_or_enum, "value", name_or_enum))
            self.mteb_model_meta = ModelMeta.create_empty(
                overwrites={
                    "name": name,
                    "framework": ["PyTorch"],
                    "similarity_fn_name": ScoringFunction(self.similarity_fn_name),
                }
            )

        def encode(
            self,
            inputs: Any,
            *,
            task_metadata: Any,
            hf_split: str,
            hf_subset: str,
            prompt_type: Any = None,
            **kwargs: Any,
        ) -> np.ndarray:
            texts = [text for batch in inputs for text in batch["text"]]
            kind = "query" if prompt_type == PromptType.query else "document"
            fn = getattr(self.model, f"encode_{kind}", None) or self.model.encode
            out = fn(
                texts,
                batch_size=kwargs.get("batch_size", 32),
                convert_to_tensor=True,
                show_progress_bar=kwargs.get("show_progress_bar", False),
            )
            return _as_float_tensor(out).detach().cpu().numpy()

        def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
            import torch

            a, b = (torch.as_tensor(np.asarray(e, dtype=np.float32)) for e in (embeddings1, embeddings2))
            if self.similarity_fn_name == "cosine":
                a, b = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
            return _similarity(a, b, self.similarity_fn_name)

    return MtebEncoderAdapter


# --------------------------------------------------------------------------- task building


def _split_data(data: BeirDataset) -> dict[str, Any]:
    from datasets import Dataset

    ids = list(data.corpus)
    corpus = Dataset.from_dict(
        {
            "id": ids,
            "title": [data.corpus[i].get("title") or "" for i in ids],
            "text": [data.corpus[i].get("text") or "" for i in ids],
        }
    )
    queries = Dataset.from_dict({"id": list(data.queries), "text": list(data.queries.values())})
    qrels = {q: dict(r) for q, r in data.qrels.items() if q in data.queries}
    return {"corpus": corpus, "queries": queries, "relevant_docs": qrels, "top_ranked": None}


def local_task_name(task_name: str) -> str:
    """The custom name for data that is not (proven to be) the official dataset."""
    return task_name if task_name.endswith(LOCAL_SUFFIX) else task_name + LOCAL_SUFFIX


def build_mteb_task(
    task_name: str,
    data: BeirDataset,
    split: str,
    *,
    official: bool,
    dataset_id: str,
    revision: str,
    official_task: Any | None = None,
) -> Any:
    """An mteb retrieval task holding ``data`` in memory.

    ``official``: the registered task with its metadata untouched (only the rows come from local files).
    Otherwise a subclass of the official task class when there is one (keeping its cut-offs, identical-id rule and
    language), or of ``AbsTaskRetrieval``, with its own ``TaskMetadata`` name, dataset id and revision.
    """
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    if official:
        if official_task is None:
            raise ValueError("an official task needs the registered mteb task")
        task = official_task
    else:
        name = local_task_name(task_name)
        dataset = {"path": dataset_id, "revision": revision}
        if official_task is not None:
            metadata = official_task.metadata.model_copy(
                update={
                    "name": name,
                    "dataset": dataset,
                    "eval_splits": [split],
                    "description": f"{task_name} on local data",
                }
            )
            base: type = type(official_task)
        else:
            metadata = TaskMetadata(
                name=name,
                dataset=dataset,
                description=f"Retrieval on local BEIR data ({dataset_id}).",
                type="Retrieval",
                category="t2t",
                modalities=["text"],
                eval_splits=[split],
                eval_langs=["eng-Latn"],
                main_score=MAIN_SCORE,
            )
            base = AbsTaskRetrieval

        def load_data(self: Any, *args: Any, **kwargs: Any) -> None:  # rows are set below, never downloaded
            self.data_loaded = True

        task = type(name, (base,), {"metadata": metadata, "load_data": load_data})()
    task.dataset = {"default": {split: _split_data(data)}}
    task.data_loaded = True
    return task


_RANKING_METRIC = re.compile(r"^((ndcg|map|recall|precision|mrr|hit_rate)_at_\d+|accuracy)$")


def _mteb_scores(task_result: Any, split: str) -> tuple[dict[str, float], float, str]:
    """Ranking metrics of the default subset as floats; mteb's nAUC abstention diagnostics are left out."""
    entry = next(s for s in task_result.scores[split] if s.get("hf_subset", "default") == "default")
    metrics = {k: float(v) for k, v in entry.items() if _RANKING_METRIC.match(k)}
    return metrics, float(entry["main_score"]), entry.get("hf_subset", "default")


# --------------------------------------------------------------------------- entry point


def _data_dir_for(task_name: str, data_dir: Any, n_tasks: int) -> Path | None:
    if isinstance(data_dir, Mapping):
        chosen = data_dir.get(task_name)
    elif data_dir is not None and n_tasks > 1:
        raise ValueError("with several tasks pass data_dir as {task_name: folder}")
    else:
        chosen = data_dir
    if chosen is None and task_name == "SciFact":
        chosen = bundled_scifact_dir()  # the verified copy shipped with hf_nvr: offline and official
    return None if chosen is None else Path(chosen)


def _mteb_available() -> bool:
    try:
        import mteb  # noqa: F401
    except ImportError:
        return False
    return True


def evaluate_retrieval(
    model: Any,
    tasks: Sequence[str] | str = ("SciFact",),
    data_dir: str | Path | Mapping[str, str | Path] | None = None,
    split: str = "test",
    output_dir: str | Path | None = None,
    use_mteb: bool = True,
    batch_size: int = 32,
    *,
    model_name: str | None = None,
    device: str | None = None,
    show_progress_bar: bool = False,
) -> list[TaskResult]:
    """Score ``model`` on retrieval ``tasks``: mteb when installed and ``use_mteb``, else the built-in evaluator.

    ``model``: a path or hub id (loaded as a SentenceTransformer via :func:`resolve_model`), a SentenceTransformer,
    or any object with ``encode_query``/``encode_document``. ``data_dir``: a BEIR folder (or ``{task: folder}``);
    without one SciFact uses the bundled verified copy and other tasks load from the Hub through mteb.
    ``model_name`` names the model in mteb's cache (default: the hub id, ``local/<folder>``, or the card's name).
    ``output_dir`` keeps mteb's results JSON (its ResultCache layout) or, for the built-in evaluator,
    ``<task_name>.json``; without it mteb writes to a temporary cache that is deleted.
    """
    task_names = [tasks] if isinstance(tasks, str) else list(tasks)
    model = _load_model(model, device, model_name)
    run_mteb = use_mteb and _mteb_available()
    if use_mteb and not run_mteb:
        logger.info("mteb is not installed; using the built-in evaluator (pip install 'hf_nvr[mteb]')")
    results = []
    for name in task_names:
        folder = _data_dir_for(name, data_dir, len(task_names))
        if run_mteb:
            result = _evaluate_with_mteb(
                model, name, folder, split, output_dir, batch_size, model_name, show_progress_bar
            )
        else:
            result = _evaluate_builtin(model, name, folder, split, batch_size, show_progress_bar)
            if output_dir is not None:
                out = Path(output_dir)
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{result.task_name}.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        logger.info(
            "%s (%s, %s): %s = %.4f",
            result.task_name,
            split,
            result.evaluator,
            result.main_score_name,
            result.main_score,
        )
        results.append(result)
    return results


def _identify(
    name: str, folder: Path, split: str, official_task: Any | None
) -> tuple[BeirDataset, bool, str, str]:
    data = load_beir(folder, split)
    hashes = beir_file_hashes(folder, split)
    official, why = matches_official(name, split, hashes, data, official_task)
    logger.info("%s from %s: %s data (%s)", name, folder, "official" if official else "local", why)
    if official and official_task is not None:
        meta = official_task.metadata.dataset
        return data, True, meta["path"], meta["revision"]
    if official:  # without mteb only the sha256 route can prove it, so the task is a known one
        known = KNOWN_DATASETS[name]
        return data, True, known.dataset_id, known.revision
    return data, False, f"local/{folder.resolve().name}", local_revision(hashes)


def _evaluate_builtin(
    model: Any, name: str, folder: Path | None, split: str, batch_size: int, show_progress_bar: bool
) -> TaskResult:
    if folder is None:
        raise ValueError(f"the built-in evaluator needs data_dir for {name!r} (only SciFact is bundled)")
    data, official, dataset_id, revision = _identify(name, folder, split, None)
    evaluator = RetrievalEvaluator(
        data.queries,
        data.corpus,
        data.qrels,
        k_values=MTEB_K_VALUES,
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
    )
    metrics = evaluator.compute_metrics(model)
    metrics["accuracy"] = metrics["recall_at_1"]  # mteb's alias, so both evaluators report the same keys
    return TaskResult(
        task_name=name if official else local_task_name(name),
        split=split,
        main_score_name=evaluator.main_score,
        main_score=metrics[evaluator.main_score],
        metrics=metrics,
        dataset_id=dataset_id,
        dataset_revision=revision,
        is_official=official,
        evaluator="hf_nvr",
    )


def _evaluate_with_mteb(
    model: Any,
    name: str,
    folder: Path | None,
    split: str,
    output_dir: str | Path | None,
    batch_size: int,
    model_name: str | None,
    show_progress_bar: bool,
) -> TaskResult:
    import mteb

    try:
        official_task = mteb.get_task(name)
    except (KeyError, ValueError):
        official_task = None
    if folder is None:
        if official_task is None:
            raise ValueError(f"{name!r} is not an mteb task; pass data_dir with its BEIR files")
        task = mteb.get_task(name, eval_splits=[split])  # the Hub dataset itself
        meta = task.metadata.dataset
        official, dataset_id, revision = True, meta["path"], meta["revision"]
    else:
        data, official, dataset_id, revision = _identify(name, folder, split, official_task)
        if official:
            official_task = mteb.get_task(name, eval_splits=[split])
        task = build_mteb_task(
            name,
            data,
            split,
            official=official,
            dataset_id=dataset_id,
            revision=revision,
            official_task=official_task,
        )
    with tempfile.TemporaryDirectory(prefix="hf_nvr_mteb_") as tmp:
        cache = mteb.ResultCache(cache_path=str(output_dir) if output_dir is not None else tmp)
        model_result = mteb.evaluate(
            _mteb_model(model, model_name),
            task,
            cache=cache,
            overwrite_strategy="always",
            encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
            show_progress_bar=show_progress_bar,
        )
    task_result = model_result.task_results[0]
    metrics, main_score, subset = _mteb_scores(task_result, split)
    return TaskResult(
        task_name=task_result.task_name,
        split=split,
        subset=subset,
        main_score_name=task.metadata.main_score,
        main_score=main_score,
        metrics=metrics,
        dataset_id=dataset_id,
        dataset_revision=str(task_result.dataset_revision or revision),
        is_official=official,
        evaluator=f"mteb {mteb.__version__}",
    )
