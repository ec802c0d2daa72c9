"""Stage-2 builders: classification, clustering and STS data as mined rows (NV-Embed §4.2, NV-Retriever App. B).

Each builder validates everything first (columns, labels, scores) and raises a ValueError naming the dataset, the
column, the row and the fix before any heavy work (the STS builder's mining) starts. Sampling is seeded with a
NumPy generator walked in row order, so the same data and seed always give the same rows.

* multi-class classification and clustering → :func:`build_example_pairs` (query: an example, positive: another
  example of its label, negatives: examples of other labels);
* binary / few-label classification → :func:`build_label_pairs` (positive: the verbalised label, negatives: the
  other labels' texts);
* STS → :func:`build_sts_pairs` (pairs scoring ≥ threshold in both directions, negatives mined by
  :class:`hf_nvr.HardNegativeMiner` over all sentences, the instruction on both sides).

Classification rows get ``in_batch_negatives=False``: another row's positive is often a text of the same label
(or the very same label text), so in-batch "negatives" would be false negatives. STS rows get True.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
from datasets import ClassLabel, Dataset, Value
from datasets import Sequence as HFSequence

from hf_nvr.common.text import normalize_text
from hf_nvr.data.instructions import instruction_prompt

if TYPE_CHECKING:
    from hf_nvr import MiningConfig

logger = logging.getLogger(__name__)


def _where(name: str, row: int | None = None, column: str | None = None) -> str:
    parts = [f"dataset {name!r}"]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def require_columns(dataset: Dataset, columns: Sequence[str], name: str, fix: str) -> None:
    """ValueError naming the dataset, the missing column, the columns it has and ``fix``."""
    for column in columns:
        if column not in dataset.column_names:
            raise ValueError(
                f"{_where(name)} has no column {column!r} (columns: {dataset.column_names}); {fix}"
            )


def _texts(dataset: Dataset, column: str, name: str) -> list[str]:
    texts = dataset[column]
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{_where(name, i, column)}: empty or not a string ({text!r}); drop or fill the row first")
    return texts


def _labels(dataset: Dataset, column: str, name: str) -> list[Any]:
    values = dataset[column]
    for i, value in enumerate(values):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if missing or isinstance(value, (list, dict)):
            kind = "missing" if missing else f"not a single class id ({value!r})"
            raise ValueError(
                f"{_where(name, i, column)}: label is {kind}; labels must be one int or string per row "
                "(drop unlabelled rows; split multi-label rows)"
            )
    return values


def _require_classes(values: Sequence[Any], name: str, column: str) -> None:
    distinct = set(values)
    if len(distinct) < 2:
        only = f" (only {next(iter(distinct))!r})" if distinct else ""
        raise ValueError(
            f"{_where(name, column=column)} has {len(distinct)} class{only}: contrastive rows need examples of at "
            "least two labels; check the label column and the split, or leave this dataset out of the blend"
        )


def flatten_clustering(
    dataset: Dataset, *, sentences_column: str = "sentences", labels_column: str = "labels", name: str = "dataset"
) -> Dataset:
    """MTEB clustering layout (one row = a list of sentences and a list of labels) → one ``text``/``label`` row each."""
    require_columns(dataset, [sentences_column, labels_column], name, "pass sentences_column=/labels_column=")
    texts: list[str] = []
    labels: list[str] = []
    for i, (sentences, labs) in enumerate(zip(dataset[sentences_column], dataset[labels_column])):
        if not isinstance(sentences, list) or not isinstance(labs, list) or len(sentences) != len(labs):
            raise ValueError(
                f"{_where(name, i)}: {sentences_column!r} and {labels_column!r} must be lists of equal length "
                "(the MTEB clustering layout)"
            )
        texts.extend(sentences)
        labels.extend(str(label) for label in labs)
    return Dataset.from_dict({"text": texts, "label": labels})


def _label_name(feature: Any, value: Any) -> str:
    return feature.int2str(value) if isinstance(feature, ClassLabel) and isinstance(value, int) else str(value)


def build_example_pairs(
    dataset: Dataset,
    *,
    text_column: str = "text",
    label_column: str = "label",
    num_negatives: int = 4,
    seed: int = 42,
    name: str = "dataset",
) -> Dataset:
    """Example-based rows for multi-class classification and clustering (NV-Embed's best variant, §5.2.4).

    Each example becomes a query; its positive is another example of the same label and its ``num_negatives``
    negatives are examples of other labels (distinct labels while there are enough). Examples whose label has no
    other example with a different text are skipped. MTEB clustering rows (lists of sentences and labels) are
    flattened first. Columns: ``query``, ``positive`` (str), ``negatives``, ``label`` (str), ``in_batch_negatives``.
    """
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
    fix = "pass text_column=/label_column= or rename the columns"
    require_columns(dataset, [text_column, label_column], name, fix)
    feature = dataset.features[label_column]
    if len(dataset) and isinstance(dataset[0][text_column], list):
        dataset = flatten_clustering(dataset, sentences_column=text_column, labels_column=label_column, name=name)
        text_column, label_column, feature = "text", "label", None
    texts = _texts(dataset, text_column, name)
    labels = _labels(dataset, label_column, name)
    _require_classes(labels, name, label_column)

    groups: dict[Any, list[int]] = {}
    position = np.empty(len(texts), dtype=np.int64)
    for i, label in enumerate(labels):
        members = groups.setdefault(label, [])
        position[i] = len(members)
        members.append(i)
    keys = list(groups)
    key_index = {k: j for j, k in enumerate(keys)}
    norm = [normalize_text(t) for t in texts]
    rng = np.random.default_rng(seed)

    out: dict[str, list] = {"query": [], "positive": [], "negatives": [], "label": [], "in_batch_negatives": []}
    skipped = 0
    for i, label in enumerate(labels):
        group = groups[label]
        positive = None
        if len(group) > 1:
            for _ in range(8):
                k = int(rng.integers(len(group) - 1))
                k += k >= position[i]
                if norm[group[k]] != norm[i]:
                    positive = group[k]
                    break
        if positive is None:
            skipped += 1
            continue
        out["query"].append(texts[i])
        out["positive"].append(texts[positive])
        out["negatives"].append(_other_label_examples(rng, groups, keys, key_index[label], num_negatives, texts, norm,
                                                      {norm[i], norm[positive]}))
        out["label"].append(_label_name(feature, label))
        out["in_batch_negatives"].append(False)
    if not out["query"]:
        raise ValueError(
            f"{_where(name, column=label_column)}: no label has two distinct examples, so no example can have a "
            "positive; use build_label_pairs for this dataset instead"
        )
    if skipped:
        logger.info("%s: skipped %d examples with no other example of their label", name, skipped)
    return Dataset.from_dict(out)


def _other_label_examples(
    rng: np.random.Generator,
    groups: dict[Any, list[int]],
    keys: list[Any],
    own: int,
    count: int,
    texts: list[str],
    norm: list[str],
    exclude: set[str],
) -> list[str]:
    """``count`` examples of labels other than ``keys[own]``: distinct labels first, then labels again."""
    others = len(keys) - 1
    if others >= count:
        picks = rng.choice(others, count, replace=False)
    else:
        rounds = math.ceil(count / others)
        picks = np.concatenate([rng.permutation(others) for _ in range(rounds)])[:count]
    per_label: dict[int, int] = {}
    for p in picks.tolist():
        j = p + (p >= own)
        per_label[j] = per_label.get(j, 0) + 1
    chosen: list[str] = []
    for j in dict.fromkeys(p + (p >= own) for p in picks.tolist()):
        members = groups[keys[j]]
        take = min(per_label[j], len(members))
        for m in rng.choice(len(members), take, replace=False).tolist():
            idx = members[m]
            if norm[idx] not in exclude:
                exclude.add(norm[idx])
                chosen.append(texts[idx])
    return chosen


def _verbaliser(
    feature: Any, labels: Sequence[str] | Mapping[Any, str] | None, values: Sequence[Any], name: str, column: str
) -> tuple[dict[Any, str], list[str]]:
    """``({label value: label text}, all label texts in order)``; raises for values it cannot verbalise."""
    if isinstance(labels, Mapping):
        universe = list(labels.values())
        lookup = lambda v: labels.get(v, labels.get(str(v)))  # noqa: E731  (YAML keys are often strings)
    elif labels is not None:
        universe = list(labels)
        lookup = lambda v: (  # noqa: E731
            universe[v] if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(universe)
            else v if isinstance(v, str) and v in universe else None
        )
    elif isinstance(feature, ClassLabel):
        universe = list(feature.names)
        lookup = lambda v: feature.int2str(v) if isinstance(v, int) and 0 <= v < len(universe) else None  # noqa: E731
    elif all(isinstance(v, str) for v in values):
        universe = list(dict.fromkeys(values))
        lookup = lambda v: v  # noqa: E731
    else:
        raise ValueError(
            f"{_where(name, column=column)} holds ids without names; pass labels=[...] (texts by id) or a "
            "{id: text} mapping, or point label_column at a text column such as 'label_text'"
        )
    for text in universe:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{_where(name, column=column)}: label text {text!r} is empty or not a string")
    if len(set(universe)) != len(universe):
        dup = next(t for t in universe if universe.count(t) > 1)
        raise ValueError(f"{_where(name, column=column)}: two labels share the text {dup!r}; label texts must differ")
    mapping: dict[Any, str] = {}
    for i, value in enumerate(values):
        if value not in mapping:
            text = lookup(value)
            if text is None:
                raise ValueError(
                    f"{_where(name, i, column)}: label {value!r} has no text among {universe}; add it to labels="
                )
            mapping[value] = text
    return mapping, universe


def build_label_pairs(
    dataset: Dataset,
    *,
    labels: Sequence[str] | Mapping[Any, str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    num_negatives: int | None = None,
    seed: int = 42,
    name: str = "dataset",
) -> Dataset:
    """Label-text rows for binary / few-label classification: the verbalised label is the positive document.

    ``labels`` verbalises the label column: a list (text by integer id) or a ``{label: text}`` mapping; by
    default the ``ClassLabel`` names, or the values themselves when they are strings. Negatives are the other
    labels' texts (all of them shuffled, or ``num_negatives`` sampled). Columns as :func:`build_example_pairs`.
    """
    if num_negatives is not None and num_negatives < 1:
        raise ValueError(f"num_negatives must be None (all other labels) or >= 1, got {num_negatives}")
    require_columns(dataset, [text_column, label_column], name, "pass text_column=/label_column= or rename them")
    texts = _texts(dataset, text_column, name)
    values = _labels(dataset, label_column, name)
    _require_classes(values, name, label_column)
    mapping, universe = _verbaliser(dataset.features[label_column], labels, values, name, label_column)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"query": [], "positive": [], "negatives": [], "label": [], "in_batch_negatives": []}
    for text, value in zip(texts, values):
        positive = mapping[value]
        others = [t for t in universe if t != positive]
        if num_negatives is None or num_negatives >= len(others):
            negatives = [others[j] for j in rng.permutation(len(others)).tolist()]
        else:
            negatives = [others[j] for j in rng.choice(len(others), num_negatives, replace=False).tolist()]
        out["query"].append(text)
        out["positive"].append(positive)
        out["negatives"].append(negatives)
        out["label"].append(positive)
        out["in_batch_negatives"].append(False)
    return Dataset.from_dict(out)


def _check_scale(scale: Sequence[float], threshold: float) -> tuple[float, float]:
    if len(scale) != 2 or not all(isinstance(s, Real) for s in scale) or not scale[0] < scale[1]:
        raise ValueError(f"scale must be (low, high) with low < high, got {scale!r}")
    low, high = float(scale[0]), float(scale[1])
    if not low <= threshold <= high:
        raise ValueError(f"threshold {threshold} lies outside the score scale [{low}, {high}]; set it on that scale")
    return low, high


def sts_positive_pairs(
    dataset: Dataset,
    *,
    sentence1_column: str = "sentence1",
    sentence2_column: str = "sentence2",
    score_column: str = "score",
    threshold: float = 4.0,
    scale: Sequence[float] = (0.0, 5.0),
    name: str = "dataset",
) -> tuple[list[dict[str, Any]], list[str]]:
    """The validated, pure half of :func:`build_sts_pairs`: ``(rows, corpus)`` with no model involved.

    Rows are ``{query, positive, positive_ids}``: each pair scoring ≥ ``threshold`` gives (a→b) and (b→a);
    ``positive`` lists the target first, then the query's other ≥-threshold partners, so that mining and the
    trainer's false-negative mask never treat a known paraphrase as a negative. The corpus is every distinct
    sentence of the dataset (all scores), ids ``s0, s1, …`` in order of first appearance.
    """
    low, high = _check_scale(scale, threshold)
    require_columns(
        dataset, [sentence1_column, sentence2_column, score_column], name,
        "pass sentence1_column=/sentence2_column=/score_column= or rename them",
    )
    first = _texts(dataset, sentence1_column, name)
    second = _texts(dataset, sentence2_column, name)
    scores = dataset[score_column]
    for i, score in enumerate(scores):
        if isinstance(score, bool) or not isinstance(score, Real) or not math.isfinite(score):
            raise ValueError(f"{_where(name, i, score_column)}: score {score!r} is not a finite number")
        if not low <= score <= high:
            raise ValueError(
                f"{_where(name, i, score_column)}: score {score} is outside the scale [{low}, {high}]; pass "
                "scale=(low, high) matching this dataset (e.g. (1, 4) for STS22) or rescale the scores"
            )
    corpus_ids: dict[str, str] = {}
    for text in (*first, *second):
        corpus_ids.setdefault(text, f"s{len(corpus_ids)}")
    partners: dict[str, dict[str, None]] = {}
    pairs: list[tuple[str, str]] = []
    for a, b, score in zip(first, second, scores):
        if score >= threshold and normalize_text(a) != normalize_text(b):
            for q, p in ((a, b), (b, a)):
                partners.setdefault(q, {})[p] = None
                pairs.append((q, p))
    if not pairs:
        raise ValueError(
            f"{_where(name, column=score_column)}: no pair of distinct sentences scores >= {threshold}; lower the "
            "threshold or check the scale"
        )
    rows, seen = [], set()
    for q, p in pairs:
        key = (normalize_text(q), normalize_text(p))
        if key in seen:
            continue
        seen.add(key)
        positives = [p, *(o for o in partners[q] if o != p)]
        rows.append({"query": q, "positive": positives, "positive_ids": [corpus_ids[t] for t in positives]})
    return rows, list(corpus_ids)


def build_sts_pairs(
    dataset: Dataset,
    *,
    sentence1_column: str = "sentence1",
    sentence2_column: str = "sentence2",
    score_column: str = "score",
    threshold: float = 4.0,
    scale: Sequence[float] = (0.0, 5.0),
    instruction: str | None = None,
    teacher: Any = None,
    mining_config: MiningConfig | Mapping[str, Any] | None = None,
    show_progress: bool = False,
    name: str = "dataset",
) -> Dataset:
    """Symmetric STS rows (NV-Embed §4.2): pairs scoring ≥ ``threshold`` become (a→b) and (b→a).

    With a ``teacher`` (hub id, path or SentenceTransformer), negatives are mined by :class:`hf_nvr.HardNegativeMiner`
    from a corpus of every sentence in the dataset, with ``instruction`` (text, not a name) prefixed on both the
    query and the passages since the task is symmetric. Without a teacher ``negatives`` is empty (in-batch only).
    Columns: ``query``, ``positive`` (list: target first, then the query's other paraphrases), ``positive_ids``,
    ``negatives`` (+ the miner's ``negative_ids``/``negative_scores``/``positive_scores``), ``in_batch_negatives``
    (True) and, with an instruction, ``query_prompt`` = ``passage_prompt`` = ``"Instruct: …\\nQuery: "``.
    """
    rows, corpus = sts_positive_pairs(
        dataset, sentence1_column=sentence1_column, sentence2_column=sentence2_column, score_column=score_column,
        threshold=threshold, scale=scale, name=name,
    )
    prompt = instruction_prompt(instruction)
    pairs = Dataset.from_list(rows)
    if teacher is not None:
        from hf_nvr import HardNegativeMiner, MiningConfig

        config = MiningConfig(**dict(mining_config)) if isinstance(mining_config, Mapping) else mining_config
        config = dataclasses.replace(
            config or MiningConfig(), query_column="query", positive_column="positive", positive_id_column="positive_ids"
        )
        if prompt is not None:
            config = dataclasses.replace(config, query_prompt=prompt, passage_prompt=prompt)
        corpus_ds = Dataset.from_dict({"_id": [f"s{i}" for i in range(len(corpus))], "text": corpus})
        miner = HardNegativeMiner(teacher, corpus_ds, config, show_progress=show_progress)
        pairs = miner.mine(pairs)
    else:
        pairs = pairs.add_column("negatives", [[] for _ in range(len(pairs))], feature=HFSequence(Value("string")))
    pairs = pairs.add_column("in_batch_negatives", [True] * len(pairs))
    if prompt is not None:
        pairs = pairs.add_column("query_prompt", [prompt] * len(pairs))
        pairs = pairs.add_column("passage_prompt", [prompt] * len(pairs))
    return pairs
