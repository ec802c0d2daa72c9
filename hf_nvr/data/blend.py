"""Blends: several sources of mined rows → one training set that says, per row, which instruction and source it has.

Output rows follow the mined-row contract (``query``, ``positive`` as a list of strings, ``negatives``; plus
``negative_ids``/``negative_scores``/``positive_scores`` when every source has them) and add:

``query_prompt``        the row's instruction prefix ``"Instruct: …\\nQuery: "`` (None: the model's default prompt);
                        the trainer prefixes it and masks its tokens out of mean pooling;
``passage_prompt``      the same prefix for symmetric (STS) sources, where the instruction goes on both sides,
                        else None;
``dataset``             the source's name (what homogeneous batching groups by);
``in_batch_negatives``  False for rows whose positives collide across rows (classification, clustering).

Everything that can be checked without loading (names, sizes, weights, instructions, builder arguments) is checked
first; then every source is loaded and checked (columns, rows, labels, scores); only then do builders that mine
(STS) run. Sampling and ordering are seeded and deterministic.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, DatasetInfo

from hf_nvr.common.text import text_hash
from hf_nvr.data.builders import (
    build_example_pairs,
    build_label_pairs,
    build_sts_pairs,
    sts_positive_pairs,
)
from hf_nvr.data.instructions import get_instruction, instruction_prompt, instruction_task

logger = logging.getLogger(__name__)

BUILDERS = {"examples": build_example_pairs, "labels": build_label_pairs, "sts": build_sts_pairs}
"""Builder names usable in a :class:`BlendSource` (``builder:`` in YAML)."""

OPTIONAL_COLUMNS = {
    "negative_ids": pa.list_(pa.string()),
    "negative_scores": pa.list_(pa.float64()),
    "positive_scores": pa.list_(pa.float64()),
}
_DESCRIPTION_KEY = "hf_nvr_blend"
_FILE_FORMATS = {".jsonl": "json", ".json": "json", ".gz": "json", ".parquet": "parquet", ".csv": "csv",
                 ".tsv": "csv", ".arrow": "arrow"}


@dataclass
class BlendSource:
    """One dataset of a blend.

    ``data`` is a Hub id (needs Hub access), a local path (``save_to_disk`` folder, a data folder, or a
    jsonl/json/parquet/csv file) or an in-memory ``Dataset``/``DatasetDict``. ``instruction`` is a library name
    (see :func:`~hf_nvr.data.list_instructions`) or, when it contains a space, the instruction text itself.
    ``size`` is the number of rows to draw (default: all; larger than the data repeats rows); ``weight`` is used
    with ``proportions="weight"``. ``columns`` renames ``{source_column: contract_column}`` before anything else.
    ``builder`` (``examples`` | ``labels`` | ``sts``) turns raw classification/clustering/STS data into rows,
    with ``builder_args`` passed to that builder. ``in_batch_negatives``/``symmetric`` left None take the rows'
    own column or the task's default.
    """

    name: str
    data: Any
    split: str = "train"
    subset: str | None = None
    revision: str | None = None
    instruction: str | None = None
    size: int | None = None
    weight: float | None = None
    in_batch_negatives: bool | None = None
    symmetric: bool | None = None
    columns: dict[str, str] = field(default_factory=dict)
    builder: str | None = None
    builder_args: dict[str, Any] = field(default_factory=dict)
    require_negatives: bool = True
    hub_id: str | None = None
    """Provenance: the public Hub dataset the rows derive from (e.g. the raw pairs ``data`` was mined from)."""
    note: str | None = None
    """Free text ("size approximate", …); carried into the blend description with ``hub_id``."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a blend source needs a non-empty name, got {self.name!r}")
        where = f"blend source {self.name!r}"
        if self.data is None:
            raise ValueError(f"{where} has no data: give a Hub id, a local path or a Dataset")
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1):
            raise ValueError(f"{where}: size must be a positive integer (rows to draw), got {self.size!r}")
        if self.weight is not None and (not isinstance(self.weight, (int, float)) or not self.weight > 0
                                        or not math.isfinite(self.weight)):
            raise ValueError(f"{where}: weight must be a positive number, got {self.weight!r}")
        if self.builder is not None and self.builder not in BUILDERS:
            raise ValueError(f"{where}: builder {self.builder!r} is unknown; choose one of {', '.join(BUILDERS)}")
        if not isinstance(self.columns, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.columns.items()
        ):
            raise ValueError(f"{where}: columns must map source column names to contract names, got {self.columns!r}")
        if not isinstance(self.builder_args, Mapping):
            raise ValueError(f"{where}: builder_args must be a mapping, got {self.builder_args!r}")


@dataclass
class BlendSpec:
    """A named list of sources plus the blending knobs (what :func:`load_blend` reads from YAML)."""

    sources: list[BlendSource]
    name: str = "blend"
    seed: int = 42
    proportions: str | dict[str, float] | list[float] = "size"
    homogeneous_batches: bool = False
    batch_size: int = 32
    num_rows: int | None = None
    instructions: dict[str, str] = field(default_factory=dict)
    """Instruction overrides/additions by name, used for every source."""
    note: str | None = None


def _check_keys(given: Mapping[str, Any], cls: type, where: str) -> None:
    known = [f.name for f in dataclasses.fields(cls)]
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ValueError(f"{where}: unknown key {key!r}{hint}")


def _source(item: BlendSource | Mapping[str, Any], index: int) -> BlendSource:
    if isinstance(item, BlendSource):
        return item
    if not isinstance(item, Mapping):
        raise ValueError(f"blend source #{index} must be a mapping or a BlendSource, got {type(item).__name__}")
    _check_keys(item, BlendSource, f"blend source #{index} ({item.get('name', '?')!r})")
    return BlendSource(**item)


def _as_spec(sources: BlendSpec | Sequence[BlendSource | Mapping[str, Any]]) -> BlendSpec:
    if isinstance(sources, BlendSpec):
        return dataclasses.replace(sources, sources=[_source(s, i) for i, s in enumerate(sources.sources)])
    if isinstance(sources, (str, Path)) or not isinstance(sources, Sequence):
        raise ValueError("build_blend takes a BlendSpec or a list of BlendSource; use load_blend(path) for YAML")
    return BlendSpec(sources=[_source(s, i) for i, s in enumerate(sources)])


def load_blend(path: str | Path) -> BlendSpec:
    """Read a blend YAML: either a list of sources or a mapping with ``sources:`` and the blending knobs.

    Unknown keys are errors (a typo such as ``instuction:`` would otherwise silently drop the instruction).
    Relative ``data:`` paths are resolved against the working directory, like the training recipes'.
    A bare name such as ``"nv_retriever_v1_stage1"`` finds ``recipes/blends/<name>.yaml`` in a source checkout.
    """
    import yaml

    path = Path(path)
    if not path.exists() and not path.suffix:
        candidate = Path(__file__).resolve().parents[2] / "recipes" / "blends" / f"{path.name}.yaml"
        path = candidate if candidate.exists() else path
    if not path.exists():
        raise FileNotFoundError(f"blend file {path} does not exist")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, list):
        raw = {"sources": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sources"), list) or not raw["sources"]:
        raise ValueError(f"{path}: expected a list of sources or a mapping with a non-empty 'sources:' list")
    _check_keys(raw, BlendSpec, str(path))
    spec = {**raw, "sources": [_source(s, i) for i, s in enumerate(raw["sources"])]}
    spec.setdefault("name", path.stem)
    return BlendSpec(**spec)


# -- planning: everything checkable without loading data ------------------------------------------------------------


@dataclass
class _Plan:
    source: BlendSource
    instruction: str | None
    prompt: str | None
    symmetric: bool
    builder_kwargs: dict[str, Any]


def _resolve_instruction(source: BlendSource, overrides: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(text, library task)``: a value with whitespace is the text itself, anything else a library name."""
    value = source.instruction
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if not isinstance(value, str):
        raise ValueError(f"blend source {source.name!r}: instruction must be a name or a text, got {value!r}")
    if any(ch.isspace() for ch in value.strip()):
        return value.strip(), None
    try:
        return get_instruction(value, overrides), instruction_task(value)
    except ValueError as err:
        raise ValueError(f"blend source {source.name!r}: {err}") from None


def _builder_kwargs(source: BlendSource, seed: int, instruction: str | None) -> dict[str, Any]:
    if source.builder is None:
        if source.builder_args:
            raise ValueError(f"blend source {source.name!r} has builder_args but no builder; set builder: or drop them")
        return {}
    fn = BUILDERS[source.builder]
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("dataset", "name", "instruction")]
    for key in source.builder_args:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(allowed)}"
            raise ValueError(f"blend source {source.name!r}: builder {source.builder!r} has no argument {key!r}; {hint}")
    kwargs = {**({"seed": seed} if "seed" in allowed else {}), **source.builder_args, "name": source.name}
    if source.builder == "sts":
        kwargs["instruction"] = instruction
        mining = kwargs.get("mining_config")
        if isinstance(mining, Mapping):
            from hf_nvr import MiningConfig

            try:
                kwargs["mining_config"] = MiningConfig(**mining)
            except TypeError as err:
                raise ValueError(f"blend source {source.name!r}: bad mining_config ({err})") from None
    return kwargs


def _plan(spec: BlendSpec, seed: int, overrides: Mapping[str, str]) -> list[_Plan]:
    names = [s.name for s in spec.sources]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ValueError(f"blend source name {dup!r} is used twice; names must be unique (they fill 'dataset')")
    plans = []
    for source in spec.sources:
        text, task = _resolve_instruction(source, overrides)
        symmetric = source.symmetric if source.symmetric is not None else (source.builder == "sts" or task == "sts")
        plans.append(_Plan(source, text, instruction_prompt(text), symmetric, _builder_kwargs(source, seed, text)))
    return plans


def _shares(spec: BlendSpec, proportions: Any) -> list[float] | None:
    """Per-source weights for weighted blending, or None for ``"size"`` (checked before loading)."""
    names = [s.name for s in spec.sources]
    if proportions == "size":
        return None
    if proportions == "weight":
        missing = [s.name for s in spec.sources if s.weight is None]
        if missing:
            raise ValueError(f"proportions='weight' but blend sources {missing} have no weight; give each a weight:")
        return [float(s.weight) for s in spec.sources]
    if isinstance(proportions, Mapping):
        unknown = [k for k in proportions if k not in names]
        missing = [n for n in names if n not in proportions]
        if unknown or missing:
            raise ValueError(f"proportions must give a weight for exactly the sources {names}; unknown: {unknown}, "
                             f"missing: {missing}")
        weights = [proportions[n] for n in names]
    elif isinstance(proportions, Sequence) and not isinstance(proportions, str):
        if len(proportions) != len(names):
            raise ValueError(f"proportions has {len(proportions)} weights for {len(names)} sources")
        weights = list(proportions)
    else:
        raise ValueError(f"proportions must be 'size', 'weight', a {{name: weight}} mapping or a list, got {proportions!r}")
    for n, w in zip(names, weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0 or not math.isfinite(w):
            raise ValueError(f"proportions: weight of {n!r} must be a finite number >= 0, got {w!r}")
    if not sum(weights) > 0:
        raise ValueError("proportions: the weights sum to 0")
    return [float(w) for w in weights]


# -- loading and checking -------------------------------------------------------------------------------------------


def _load(source: BlendSource) -> Dataset:
    data = source.data
    if isinstance(data, Dataset):
        return data
    if isinstance(data, DatasetDict):
        if source.split not in data:
            raise ValueError(f"blend source {source.name!r} has no split {source.split!r} (splits: {list(data)})")
        return data[source.split]
    if isinstance(data, list):
        return Dataset.from_list(data)
    if not isinstance(data, (str, Path)):
        raise ValueError(f"blend source {source.name!r}: data must be a Hub id, a path or a Dataset, got {type(data)}")
    from datasets import load_dataset, load_from_disk

    path = Path(data).expanduser()
    try:
        if path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
            loaded = load_from_disk(str(path))
            return _load(dataclasses.replace(source, data=loaded)) if isinstance(loaded, DatasetDict) else loaded
        if path.is_dir():
            return load_dataset(str(path), source.subset, split=source.split)
        if path.is_file():
            fmt = _FILE_FORMATS.get(path.suffix)
            if fmt is None:
                raise ValueError(f"blend source {source.name!r}: cannot read {path.suffix!r} files; use jsonl/parquet/csv")
            return load_dataset(fmt, data_files=str(path), split="train", **({"delimiter": "\t"} if path.suffix == ".tsv" else {}))
        return load_dataset(str(data), source.subset, split=source.split, revision=source.revision)
    except ValueError:
        raise
    except Exception as err:
        raise RuntimeError(
            f"blend source {source.name!r}: could not load {str(data)!r} (subset {source.subset!r}, split "
            f"{source.split!r}); it is neither a local dataset nor reachable on the Hub (Hub ids need Hub access) "
            f"— {type(err).__name__}: {err}"
        ) from err


def _rename(source: BlendSource, dataset: Dataset) -> Dataset:
    if not source.columns:
        return dataset
    for column in source.columns:
        if column not in dataset.column_names:
            raise ValueError(
                f"blend source {source.name!r}: columns maps {column!r}, which the dataset does not have "
                f"(columns: {dataset.column_names}); fix the columns: mapping"
            )
    clash = [v for k, v in source.columns.items() if v in dataset.column_names and v not in source.columns]
    if clash:
        dataset = dataset.remove_columns(clash)
    return dataset.rename_columns(dict(source.columns))


def _string_problem(values: pa.Array) -> pa.Array:
    """Boolean mask of null, non-string-ish or blank entries."""
    if pa.types.is_null(values.type):  # what an all-empty list column flattens to
        return pa.array(np.ones(len(values), dtype=bool))
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
    return pc.fill_null(pc.or_(pc.is_null(values), blank), True)


def _first(mask: pa.Array) -> int | None:
    hits = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
    return int(hits[0]) if hits.size else None


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_text_list(t: pa.DataType) -> bool:
    """A list of strings (or of nothing: an all-empty column infers ``list<null>``)."""
    return (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
        _is_text(t.value_type) or pa.types.is_null(t.value_type)
    )


def _check_text_column(name: str, column: str, values: pa.Array, *, allow_list: bool, allow_empty_list: bool) -> None:
    where = f"blend source {name!r}, column {column!r}"
    if _is_text(values.type):
        row = _first(_string_problem(values))
        if row is not None:
            raise ValueError(f"{where}, row {row}: empty or missing text ({values[row].as_py()!r}); fill or drop the row")
        return
    if not (allow_list and _is_text_list(values.type)):
        expected = "a string or a list of strings" if allow_list else "a string"
        raise ValueError(f"{where} has type {values.type}; expected {expected} (fix the column or its columns: mapping)")
    lengths = pc.list_value_length(values)
    bad = pc.is_null(lengths) if allow_empty_list else pc.fill_null(pc.equal(lengths, 0), True)
    row = _first(bad)
    if row is not None:
        raise ValueError(f"{where}, row {row}: {'missing' if allow_empty_list else 'empty or missing'} list; fill or drop the row")
    flat = pc.list_flatten(values)
    item = _first(_string_problem(flat))
    if item is not None:
        row = pc.list_parent_indices(values)[item].as_py()
        raise ValueError(f"{where}, row {row}: holds an empty or missing text; fill or drop it")


def _column(dataset: Dataset, column: str) -> pa.Array:
    return dataset.with_format("arrow")[column].combine_chunks()


def _in_batch(plan: _Plan, dataset: Dataset) -> pa.Array:
    """The per-row in-batch switch: the source's setting, else the rows' own column, else True."""
    n = len(dataset)
    if plan.source.in_batch_negatives is not None:
        return pa.array([bool(plan.source.in_batch_negatives)] * n, pa.bool_())
    if "in_batch_negatives" in dataset.column_names:
        return pc.fill_null(_column(dataset, "in_batch_negatives").cast(pa.bool_()), True)
    return pa.array([True] * n, pa.bool_())


def _check_rows(plan: _Plan, dataset: Dataset) -> None:
    """Columns and rows of one source against the mined-row contract (Arrow compute: no Python row loop)."""
    name = plan.source.name
    if len(dataset) == 0:
        raise ValueError(f"blend source {name!r} has no rows (check its split and filters)")
    required = ["query", "positive"] + (["negatives"] if plan.source.require_negatives else [])
    for column in required:
        if column not in dataset.column_names:
            if column == "negatives":
                fix = ("mine it first (hf_nvr.HardNegativeMiner or `hf-nvr mine`) and point data: at the mined rows, "
                       "map an existing column with columns:, or set require_negatives: false to train this source "
                       "on in-batch negatives only")
            else:
                fix = f"map yours with columns: {{<your column>: {column}}} in the blend source"
            raise ValueError(
                f"blend source {name!r} has no column {column!r} (columns: {dataset.column_names}); {fix}"
            )
    _check_text_column(name, "query", _column(dataset, "query"), allow_list=False, allow_empty_list=False)
    _check_text_column(name, "positive", _column(dataset, "positive"), allow_list=True, allow_empty_list=False)
    in_batch = _in_batch(plan, dataset)
    if "negatives" in dataset.column_names:
        negatives = _column(dataset, "negatives")
        _check_text_column(name, "negatives", negatives, allow_list=True, allow_empty_list=True)
        counts = pc.list_value_length(negatives) if _is_text_list(negatives.type) else pa.array([1] * len(dataset))
    else:
        counts = pa.array([0] * len(dataset))
    row = _first(pc.and_(pc.invert(in_batch), pc.equal(counts, 0)))
    if row is not None:
        raise ValueError(
            f"blend source {name!r}, row {row}: no negatives and in_batch_negatives is False, so the row has "
            "nothing to contrast against; mine negatives for it or set in_batch_negatives: true"
        )


# -- conversion, sampling, ordering -----------------------------------------------------------------------------------


def _as_list(values: pa.Array) -> pa.Array:
    if _is_text(values.type):
        offsets = pa.array(np.arange(len(values) + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, values.cast(pa.string()))
    return values.cast(pa.list_(pa.string()))


def _prompt_column(value: str | None, dataset: Dataset, column: str) -> pa.Array:
    if value is not None:
        return pa.array([value] * len(dataset), pa.string())
    if column in dataset.column_names:
        return _column(dataset, column).cast(pa.string())
    return pa.nulls(len(dataset), pa.string())


def _contract_table(plan: _Plan, dataset: Dataset, optional: Sequence[str]) -> pa.Table:
    n = len(dataset)
    columns: dict[str, pa.Array] = {
        "query": _column(dataset, "query").cast(pa.string()),
        "positive": _as_list(_column(dataset, "positive")),
        "negatives": _as_list(_column(dataset, "negatives")) if "negatives" in dataset.column_names
        else pa.array([[] for _ in range(n)], pa.list_(pa.string())),
    }
    for column in optional:
        columns[column] = _column(dataset, column).cast(OPTIONAL_COLUMNS[column])
    columns["query_prompt"] = _prompt_column(plan.prompt, dataset, "query_prompt")
    columns["passage_prompt"] = _prompt_column(plan.prompt if plan.symmetric else None, dataset, "passage_prompt")
    columns["dataset"] = pa.array([plan.source.name] * n, pa.string())
    columns["in_batch_negatives"] = _in_batch(plan, dataset)
    return pa.table(columns)


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Integer counts summing to ``total`` in proportion to ``weights`` (ties go to the earlier source)."""
    exact = [total * w / sum(weights) for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _draw(rng: np.random.Generator, available: int, count: int) -> np.ndarray:
    """``count`` row indices in random order: without replacement, whole permutations again when upsampling."""
    full, rest = divmod(count, available)
    parts = [rng.permutation(available) for _ in range(full)] + [rng.permutation(available)[:rest]]
    return np.concatenate(parts).astype(np.int64)


def _source_rng(seed: int, name: str) -> np.random.Generator:
    """Per-source stream keyed by name, so adding or reordering sources does not change another's rows."""
    return np.random.default_rng([seed, text_hash(name) & 0xFFFF_FFFF])


def build_blend(
    sources: BlendSpec | Sequence[BlendSource | Mapping[str, Any]],
    *,
    seed: int | None = None,
    proportions: str | Mapping[str, float] | Sequence[float] | None = None,
    homogeneous_batches: bool | None = None,
    batch_size: int | None = None,
    num_rows: int | None = None,
    instructions: Mapping[str, str] | None = None,
) -> Dataset:
    """Load, check, build and blend sources into one in-memory ``Dataset`` of mined rows (see the module doc).

    ``proportions="size"`` (default) draws each source's ``size`` (or all its rows); ``"weight"``, a
    ``{name: weight}`` mapping or a list draws ``num_rows`` (default: all available rows) split by weight.
    Arguments left None come from a :class:`BlendSpec`, else: seed 42, "size", not homogeneous, batch 32.

    ``homogeneous_batches=True`` orders rows so that every consecutive ``batch_size`` chunk comes from one
    source: rows are shuffled within a source, cut into chunks (a source's last incomplete chunk is dropped), and
    the chunks are shuffled — so a plain sequential sampler yields homogeneous batches. Pass the per-device batch
    size. A shuffling sampler would undo this; ``NVRetrieverTrainer`` with ``homogeneous_batches=True`` regroups
    by the ``dataset`` column itself each epoch. The choice is recorded in ``info.description`` (see
    :func:`blend_info`). With False, rows of all sources are shuffled together.
    """
    spec = _as_spec(sources)
    seed = spec.seed if seed is None else seed
    proportions = spec.proportions if proportions is None else proportions
    homogeneous = spec.homogeneous_batches if homogeneous_batches is None else homogeneous_batches
    batch_size = spec.batch_size if batch_size is None else batch_size
    num_rows = spec.num_rows if num_rows is None else num_rows
    overrides = {**spec.instructions, **(instructions or {})}
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if num_rows is not None and (isinstance(num_rows, bool) or not isinstance(num_rows, int) or num_rows < 1):
        raise ValueError(f"num_rows must be a positive integer, got {num_rows!r}")
    weights = _shares(spec, proportions)
    plans = _plan(spec, seed, overrides)
    if homogeneous and weights is None and num_rows is None:
        small = [s.name for s in spec.sources if s.size is not None and s.size < batch_size]
        if small:
            raise ValueError(
                f"blend sources {small} have size < batch_size={batch_size}, so homogeneous batching would drop "
                "them entirely; raise their size or lower batch_size"
            )

    datasets = [_rename(plan.source, _load(plan.source)) for plan in plans]
    for i, (plan, dataset) in enumerate(zip(plans, datasets)):
        builder = plan.source.builder
        if builder in ("examples", "labels"):
            datasets[i] = BUILDERS[builder](dataset, **plan.builder_kwargs)
            _check_rows(plan, datasets[i])
        elif builder == "sts":
            args = {k: v for k, v in plan.builder_kwargs.items() if k in inspect.signature(sts_positive_pairs).parameters}
            sts_positive_pairs(dataset, **args)
        else:
            _check_rows(plan, dataset)
    for i, plan in enumerate(plans):
        if plan.source.builder == "sts":
            datasets[i] = build_sts_pairs(datasets[i], **plan.builder_kwargs)
            _check_rows(plan, datasets[i])

    optional = [c for c in OPTIONAL_COLUMNS if all(c in d.column_names for d in datasets)]
    tables = [_contract_table(plan, d, optional) for plan, d in zip(plans, datasets)]
    available = [t.num_rows for t in tables]
    if weights is None:
        wanted = [p.source.size or a for p, a in zip(plans, available)]
        counts = wanted if num_rows is None else _largest_remainder(num_rows, wanted)
    else:
        counts = _largest_remainder(num_rows or sum(available), weights)

    offsets = np.cumsum([0, *available[:-1]])
    picks = []
    for plan, offset, have, count in zip(plans, offsets, available, counts):
        rows = _draw(_source_rng(seed, plan.source.name), have, count) + offset
        if count > have:
            logger.warning("blend source %r: %d rows drawn from %d available (repeated)", plan.source.name, count, have)
        if homogeneous and 0 < count < batch_size:
            raise ValueError(
                f"blend source {plan.source.name!r} gives {count} rows, fewer than batch_size={batch_size}, so "
                "homogeneous batching would drop it entirely; raise its size/weight or lower batch_size"
            )
        picks.append(rows)
    rng = np.random.default_rng(seed)
    dropped = 0
    if homogeneous:
        chunks = []
        for rows in picks:
            usable = len(rows) - len(rows) % batch_size
            dropped += len(rows) - usable
            chunks.extend(np.split(rows[:usable], usable // batch_size) if usable else [])
        order = np.concatenate([chunks[j] for j in rng.permutation(len(chunks))]) if chunks else np.empty(0, np.int64)
    else:
        order = np.concatenate(picks)
        order = order[rng.permutation(len(order))]
    if len(order) == 0:
        raise ValueError("the blend is empty: every source was given 0 rows")
    table = pa.concat_tables(tables).take(pa.array(order))
    summary = {
        "name": spec.name,
        "seed": seed,
        "homogeneous_batches": bool(homogeneous),
        "batch_size": batch_size,
        "proportions": proportions if isinstance(proportions, (str, Mapping)) else list(proportions),
        "num_rows": len(order),
        "dropped_incomplete_batch_rows": dropped,
        "sources": [
            {
                "name": p.source.name,
                "data": p.source.data if isinstance(p.source.data, str) else f"<{type(p.source.data).__name__}>",
                "split": p.source.split,
                "instruction": p.instruction,
                "symmetric": p.symmetric,
                "builder": p.source.builder,
                "hub_id": p.source.hub_id,
                "rows_available": have,
                "rows_drawn": count,
                "note": p.source.note,
            }
            for p, have, count in zip(plans, available, counts)
        ],
    }
    logger.info("blend %r: %d rows from %d sources (homogeneous=%s)", spec.name, len(order), len(plans), homogeneous)
    return Dataset(table, info=DatasetInfo(description=json.dumps({_DESCRIPTION_KEY: summary}, default=str)))


def blend_info(dataset: Dataset) -> dict[str, Any] | None:
    """What :func:`build_blend` recorded in ``info.description`` (homogeneous_batches, batch_size, sources…)."""
    try:
        data = json.loads(dataset.info.description or "")
    except (json.JSONDecodeError, TypeError):
        return None
    return data.get(_DESCRIPTION_KEY) if isinstance(data, dict) else None
