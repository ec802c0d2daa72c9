"""Model and dataset cards for NV-Retriever-style models, built from results, mining reports and folders.

Everything goes through ``huggingface_hub`` (``ModelCardData``/``EvalResult``/``EvalResultEntry``,
``ModelCard.from_template``, ``DatasetCard``) so the YAML is always the library's own serialisation and
reloads with ``ModelCard.load``. The inputs are plain dicts (or objects with ``to_dict()``) because this
package must not import the mining or training code.

Score conventions: inputs are fractions in [0, 1] (mteb's convention); the card, ``model-index`` and
``.eval_results`` carry them ×100, as MTEB publishes them.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import importlib.resources
import json
import logging
import math
import platform
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import (
    DatasetCard,
    DatasetCardData,
    EvalResult,
    EvalResultEntry,
    ModelCard,
    ModelCardData,
    eval_result_entries_to_yaml,
)

logger = logging.getLogger(__name__)

MTEB_URL = "https://github.com/embeddings-benchmark/mteb/"
HUB_URL = "https://huggingface.co"
EVAL_RESULTS_DIR = ".eval_results"
DEFAULT_TASK_TYPE = "Retrieval"
PREFERRED_METRICS = ("ndcg_at_10", "recall_at_100", "mrr_at_10", "map_at_100")
METHOD_PARAM = {"topk_shifted": "shift", "topk_abs": "max_score", "topk_marginpos": "margin", "topk_percpos": "perc"}
SECRET_KEY = re.compile(r"token|secret|password|passwd|api[_-]?key|credential", re.IGNORECASE)
PRIVATE_CONFIG_KEYS = frozenset({"cache_dir", "output_dir", "logging_dir"})

NV_RETRIEVER_BIBTEX = """@misc{moreira2024nvretriever,
    title = {NV-Retriever: Improving text embedding models with effective hard-negative mining},
    author = {Gabriel de Souza P. Moreira and Radek Osmulski and Mengyao Xu and Ronay Ak and Benedikt Schifferer and Even Oldridge},
    year = {2024},
    eprint = {2407.15831},
    archivePrefix = {arXiv},
    primaryClass = {cs.IR},
    url = {https://arxiv.org/abs/2407.15831}
}"""

SBERT_BIBTEX = """@inproceedings{reimers-2019-sentence-bert,
    title = {Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks},
    author = {Reimers, Nils and Gurevych, Iryna},
    booktitle = {Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing},
    year = {2019},
    publisher = {Association for Computational Linguistics},
    url = {https://arxiv.org/abs/1908.10084}
}"""

ISO_639_1_TO_MTEB = {
    "en": "eng-Latn", "de": "deu-Latn", "fr": "fra-Latn", "es": "spa-Latn", "it": "ita-Latn", "pt": "por-Latn",
    "nl": "nld-Latn", "pl": "pol-Latn", "sv": "swe-Latn", "da": "dan-Latn", "no": "nob-Latn", "fi": "fin-Latn",
    "tr": "tur-Latn", "vi": "vie-Latn", "id": "ind-Latn", "cs": "ces-Latn", "ru": "rus-Cyrl", "uk": "ukr-Cyrl",
    "ar": "ara-Arab", "fa": "fas-Arab", "hi": "hin-Deva", "bn": "ben-Beng", "zh": "zho-Hans", "ja": "jpn-Jpan",
    "ko": "kor-Hang", "th": "tha-Thai", "el": "ell-Grek", "he": "heb-Hebr",
}

MINING_SECTION_TEMPLATE = """- **Teacher:** {% for t in mining.teachers %}`{{ t }}`{% if not loop.last %}, {% endif %}{% endfor %}{% if mining.teacher_revision %} (revision `{{ mining.teacher_revision }}`){% endif %}
- **Method:** `{{ mining.method }}`{% if mining.method_params %} ({% for k, v in mining.method_params %}{{ k }} = {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}){% endif %}
{%- if mining.num_queries is not none %}
- **Queries mined:** {{ mining.num_queries }}
{%- endif %}
{%- if mining.num_negatives_mined is not none %}
- **Negatives kept:** {{ mining.num_negatives_mined }}
{%- endif %}
{%- if mining.num_rows_short is not none %}
- **Rows with fewer negatives than requested:** {{ mining.num_rows_short }}
{%- endif %}
{%- if mining.dropped %}

Candidates removed, per filter:

| Filter | Dropped |
|---|---:|
{%- for name, count in mining.dropped %}
| {{ name }} | {{ count }} |
{%- endfor %}
{%- endif %}
{%- if mining.quantiles %}

Teacher score quantiles:

| Score | {{ mining.quantile_names | join(" | ") }} |
|---|{% for q in mining.quantile_names %}---:|{% endfor %}
{%- for name, cells in mining.quantiles %}
| {{ name }} | {{ cells | join(" | ") }} |
{%- endfor %}
{%- endif %}
{%- if mining.histogram %}

![Teacher scores of positives and mined negatives]({{ mining.histogram }})
{%- endif %}
{%- if mining.config %}

<details><summary>Full mining configuration</summary>

| Parameter | Value |
|---|---|
{%- for k, v in mining.config %}
| `{{ k }}` | {{ v }} |
{%- endfor %}

</details>
{%- endif %}
"""

DATASET_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

Retrieval training data with hard negatives mined by `hf_nvr` using the positive-aware method of
[NV-Retriever](https://arxiv.org/abs/2407.15831) (`{{ mining.method }}`). Each row pairs a query with its positive passage
and negatives that the teacher scores high, but not too close to the positive (likely false negatives are
filtered out).

## Mining provenance

{{ mining_section }}

## Usage

```python
from datasets import load_dataset

dataset = load_dataset("{{ repo_id }}")
```

## Citation

```bibtex
{{ nv_retriever_bibtex }}
```
"""


# ---- input normalisation ------------------------------------------------------------------------------
def as_dict(obj: Any, what: str) -> dict:
    """Accept a mapping, an object with ``to_dict()`` or a dataclass, so callers can pass their own types."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if callable(getattr(obj, "to_dict", None)):
        out = obj.to_dict()
        if isinstance(out, Mapping):
            return dict(out)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"{what} must be a dict or have a to_dict() method, got {type(obj).__name__}")


def _finite(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be a number, got {value!r}") from err
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def normalize_results(results: Iterable[Any] | None) -> list[dict]:
    """Validate evaluation results and convert numpy scalars to floats.

    Raises ``ValueError`` for a result the card cannot name on the Hub (no ``task_name`` or no
    ``dataset_id``), for scores that look already ×100, and for duplicate (task, split, subset) rows.
    """
    out: list[dict] = []
    seen: set[tuple[str, str, str]] = set()
    for i, raw in enumerate(results or []):
        r = as_dict(raw, "an evaluation result")
        task = str(r.get("task_name") or "").strip()
        dataset_id = str(r.get("dataset_id") or "").strip()
        if not task or not dataset_id:
            missing = " and ".join(k for k, v in (("task_name", task), ("dataset_id", dataset_id)) if not v)
            raise ValueError(
                f"evaluation result #{i} ({r.get('task_name') or 'unnamed'}) has no {missing}: the model card's "
                "model-index and .eval_results need both to name the benchmark on the Hub"
            )
        split = str(r.get("split") or "test")
        subset = str(r.get("subset") or "default")
        key = (task, split, subset)
        if key in seen:
            raise ValueError(f"duplicate evaluation result for task {task!r}, split {split!r}, subset {subset!r}")
        seen.add(key)
        metrics: dict[str, float] = {}
        for name, value in (r.get("metrics") or {}).items():
            try:
                metrics[str(name)] = _finite(value, f"{task} metric {name}")
            except ValueError:
                logger.warning("dropping non-numeric or non-finite metric %s=%r of %s", name, value, task)
        main_name = str(r.get("main_score_name") or ("ndcg_at_10" if "ndcg_at_10" in metrics else ""))
        if not main_name:
            raise ValueError(f"evaluation result for {task!r} has no main_score_name")
        main_raw = r.get("main_score", metrics.get(main_name))
        if main_raw is None:
            raise ValueError(f"evaluation result for {task!r} has no main_score")
        main = _finite(main_raw, f"{task} main_score")
        metrics.setdefault(main_name, main)
        for name, value in [("main_score", main), *metrics.items()]:
            if not -1.0 <= value <= 1.0:
                raise ValueError(
                    f"{task} metric {name}={value} is outside [-1, 1]: pass scores as fractions (mteb's "
                    "convention); the card multiplies them by 100"
                )
        revision = r.get("dataset_revision")
        out.append({
            "task_name": task, "split": split, "subset": subset, "main_score_name": main_name,
            "main_score": main, "metrics": metrics, "dataset_id": dataset_id,
            "dataset_revision": str(revision) if revision else None,
            "is_official": bool(r.get("is_official", False)),
            "evaluator": str(r.get("evaluator") or "hf_nvr"),
            "task_type": str(r.get("task_type") or DEFAULT_TASK_TYPE),
        })
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _public_items(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Key/value rows safe to publish: secrets (``hub_token``…) and local paths are left out."""
    return [
        (str(k), _fmt(v))
        for k, v in data.items()
        if not SECRET_KEY.search(str(k)) and str(k) not in PRIVATE_CONFIG_KEYS
    ]


def _quantile_sort_key(name: str) -> tuple[float, str]:
    m = re.search(r"(\d+(?:\.\d+)?)", name)
    return (float(m.group(1)) if m else math.inf, name)


def normalize_mining_report(report: Any, histogram: str | None = None) -> dict | None:
    """The mining report shaped for the card templates (None when no report is given)."""
    if report is None:
        return None
    r = as_dict(report, "mining_report")
    config = dict(r.get("config") or {})
    method = str(r.get("method") or config.get("method") or "unknown")
    teacher = r.get("teacher") or config.get("teacher") or "unknown"
    teachers = [str(t) for t in teacher] if isinstance(teacher, (list, tuple)) else [str(teacher)]
    params = config.get("method_params")
    if not isinstance(params, Mapping):
        key = METHOD_PARAM.get(method)
        params = {key: config[key]} if key and key in config else {}
    revision = r.get("teacher_revision")
    if isinstance(revision, (list, tuple)):
        revision = ", ".join(str(x) for x in revision)
    quantiles_in = {k: v for k, v in (r.get("quantiles") or {}).items() if isinstance(v, Mapping) and v}
    names = sorted({q for v in quantiles_in.values() for q in v}, key=_quantile_sort_key)
    quantiles = [
        (str(kind), [f"{float(v[q]):.4f}" if q in v and v[q] is not None else "–" for q in names])
        for kind, v in quantiles_in.items()
    ]

    def _count(name: str) -> int | None:
        value = r.get(name)
        return None if value is None else int(value)

    return {
        "teachers": teachers,
        "teacher_revision": str(revision) if revision else None,
        "method": method,
        "method_params": [(str(k), _fmt(v)) for k, v in params.items()],
        "num_queries": _count("num_queries"),
        "num_negatives_mined": _count("num_negatives_mined"),
        "num_rows_short": _count("num_rows_short"),
        "dropped": [(str(k), int(v)) for k, v in (r.get("dropped") or {}).items()],
        "quantile_names": names,
        "quantiles": quantiles,
        "histogram": histogram,
        "config": _public_items({k: v for k, v in config.items() if k != "method_params"}),
    }


def render_mining_section(mining: Mapping[str, Any] | None) -> str:
    """Markdown for a normalised mining report, shared by the model and the dataset card."""
    if not mining:
        return ""
    import jinja2

    return jinja2.Template(MINING_SECTION_TEMPLATE).render(mining=mining)


# ---- model folder facts (read without importing torch) ----------------------------------------------
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _safetensors_stats(path: Path) -> tuple[int, int]:
    """(parameters, bytes) from a safetensors header, without loading tensors."""
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    params = sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return params, path.stat().st_size


def model_details(model_dir: str | Path) -> dict:
    """Embedding size, max tokens, similarity, prompts, parameter count and adapter facts of a ST folder."""
    root = Path(model_dir)
    modules = _read_json(root / "modules.json") or []
    embed_dim = None
    for module in modules:
        sub = str(module.get("path") or "")
        cfg = _read_json(root / sub / "config.json") if sub else None
        if isinstance(cfg, dict):
            for key in ("out_features", "embedding_dimension", "word_embedding_dimension"):
                if isinstance(cfg.get(key), int):
                    embed_dim = cfg[key]
                    break
    hf_config = _read_json(root / "config.json") or {}
    if embed_dim is None and isinstance(hf_config.get("hidden_size"), int):
        embed_dim = hf_config["hidden_size"]
    st_config = _read_json(root / "sentence_bert_config.json") or {}
    max_tokens = st_config.get("max_seq_length")
    if not isinstance(max_tokens, int):
        tok = _read_json(root / "tokenizer_config.json") or {}
        value = tok.get("model_max_length")
        max_tokens = value if isinstance(value, int) and value < 1_000_000 else None
    st_meta = _read_json(root / "config_sentence_transformers.json") or {}
    params = size = 0
    for f in sorted(root.rglob("*.safetensors")):
        p, s = _safetensors_stats(f)
        params, size = params + p, size + s
    adapter_config = _read_json(root / "adapter_config.json")
    return {
        "embed_dim": embed_dim,
        "max_tokens": max_tokens,
        "similarity_fn_name": st_meta.get("similarity_fn_name") or "cosine",
        "prompts": dict(st_meta.get("prompts") or {}),
        "n_parameters": params or None,
        "weights_bytes": size or None,
        "is_adapter": isinstance(adapter_config, dict),
        "adapter_base_model": (adapter_config or {}).get("base_model_name_or_path"),
    }


def framework_versions() -> list[tuple[str, str]]:
    """Versions that decide whether the card's numbers reproduce."""
    from hf_nvr import __version__

    out = [("Python", platform.python_version()), ("hf_nvr", __version__)]
    for dist in ("sentence-transformers", "transformers", "torch", "datasets", "huggingface_hub", "peft"):
        try:
            out.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


# ---- metadata --------------------------------------------------------------------------------------
def _metric_label(key: str) -> str:
    name, _, k = key.partition("_at_")
    label = {"ndcg": "NDCG", "mrr": "MRR", "map": "MAP", "recall": "Recall", "precision": "P"}.get(name, name)
    return f"{label}@{k}" if k else label


def eval_results(results: Sequence[Mapping]) -> list[EvalResult]:
    """``EvalResult`` objects in MTEB 1.x's legacy ``model-index`` naming (one entry per task and metric)."""
    out: list[EvalResult] = []
    for r in results:
        ordered = [r["main_score_name"]]
        ordered += [m for m in PREFERRED_METRICS if m in r["metrics"] and m not in ordered]
        ordered += sorted(m for m in r["metrics"] if m not in ordered)
        pairs = [(m, r["metrics"][m]) for m in ordered] + [("main_score", r["main_score"])]
        for metric, value in pairs:
            out.append(EvalResult(
                task_type=r["task_type"],
                dataset_type=r["dataset_id"],
                dataset_name=f"MTEB {r['task_name']} ({r['subset']})",
                dataset_config=r["subset"],
                dataset_split=r["split"],
                dataset_revision=r["dataset_revision"],
                metric_type=metric,
                metric_value=round(float(value) * 100, 5),
                source_name="MTEB" if r["is_official"] else "hf_nvr",
                source_url=MTEB_URL,
            ))
    return out


def eval_results_yaml(results: Iterable[Any]) -> dict[str, str]:
    """mteb 2.x's ``.eval_results/<Task>.yaml`` files (file name → YAML text), official results only.

    Only official MTEB tasks are written: these files feed the benchmark dataset's Hub leaderboard, where a
    score on a re-defined task would mislead. Custom tasks still appear in the card and ``model-index``.
    """
    by_task: dict[str, list[EvalResultEntry]] = {}
    for r in normalize_results(results):
        if not r["is_official"]:
            continue
        notes = f"Obtained using {r['evaluator']}"
        by_task.setdefault(r["task_name"], []).append(EvalResultEntry(
            dataset_id=r["dataset_id"],
            task_id=f"{r['task_name']}_{r['subset']}_{r['split']}",
            value=round(r["main_score"] * 100, 5),
            dataset_revision=r["dataset_revision"],
            source_url=MTEB_URL,
            source_name=notes,
            notes=notes,
        ))
    return {
        _task_file(task): yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False)
        for task, entries in by_task.items()
    }


def _task_file(task: str) -> str:
    return re.sub(r"[^\w.-]", "_", task) + ".yaml"


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else [str(v) for v in value]
    return items or None


def _encode_args(var: str, name: str, model_prompts: Mapping[str, str], prompts: Mapping[str, str]) -> str:
    """``prompt_name=`` when the saved config holds that prompt, else the literal prompt the caller gave."""
    given = prompts.get(name)
    if given and model_prompts.get(name) != given:
        return f"{var}, prompt={given!r}"
    if name in model_prompts:
        return f'{var}, prompt_name="{name}"'
    return var


def build_model_card(
    model_dir: str | Path,
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
    results: Iterable[Any] | None = None,
    mining_report: Any = None,
    training_args: Any = None,
    datasets: str | Sequence[str] | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    prompts: Mapping[str, str] | None = None,
    is_adapter: bool | None = None,
) -> ModelCard:
    """Render the model card (``model_card/template.md``) for a sentence-transformers folder.

    ``is_adapter`` and ``base_model`` default to what ``adapter_config.json`` says, so a LoRA adapter repo
    gets ``base_model_relation: adapter`` without the caller repeating it.
    """
    root = Path(model_dir)
    details = model_details(root)
    is_adapter = details["is_adapter"] if is_adapter is None else is_adapter
    base_model = base_model or (details["adapter_base_model"] if is_adapter else None)
    if is_adapter and not base_model:
        raise ValueError("a LoRA adapter card needs base_model (not given and not in adapter_config.json)")
    rows = normalize_results(results)
    name = repo_id or root.resolve().name
    histogram = None
    report = as_dict(mining_report, "mining_report") if mining_report is not None else None
    if report and report.get("histogram_png"):
        candidate = str(report["histogram_png"])
        if (root / candidate).is_file():
            histogram = candidate
        else:
            logger.warning("mining histogram %s is not in %s; the card will not show it", candidate, root)
    mining = normalize_mining_report(report, histogram)
    train = as_dict(training_args, "training_args") if training_args is not None else {}
    language_list = _as_list(language)
    dataset_list = _as_list(datasets)

    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction"]
    if rows:
        tags.append("mteb")
    tags += ["hard-negative-mining", "nv-retriever"]
    if mining:
        tags.append(mining["method"])
    if is_adapter:
        tags += ["peft", "lora"]
    extra: dict[str, Any] = {"base_model_relation": "adapter"} if is_adapter else {}
    card_data = ModelCardData(
        model_name=name if rows else None,
        base_model=base_model,
        datasets=dataset_list,
        language=language_list,
        license=license,
        library_name="sentence-transformers",
        pipeline_tag="sentence-similarity",
        tags=tags,
        eval_results=eval_results(rows) if rows else None,
        **extra,
    )

    prompts = dict(prompts or {})
    model_prompts = details["prompts"]
    shown_prompts = {**{k: v for k, v in model_prompts.items() if v}, **{k: v for k, v in prompts.items() if v}}
    metric_columns = [m for m in PREFERRED_METRICS if any(m in r["metrics"] for r in rows)]
    metric_columns += sorted({r["main_score_name"] for r in rows} - set(metric_columns))
    table = [
        {
            "task": r["task_name"], "split": r["split"], "subset": r["subset"], "official": r["is_official"],
            "evaluator": _fmt(r["evaluator"]), "main_score_name": _metric_label(r["main_score_name"]),
            "cells": [
                (f"**{r['metrics'][m] * 100:.2f}**" if m == r["main_score_name"] else f"{r['metrics'][m] * 100:.2f}")
                if m in r["metrics"] else "–"
                for m in metric_columns
            ],
        }
        for r in rows
    ]
    template = importlib.resources.files("hf_nvr._model_card") / "template.md"
    with importlib.resources.as_file(template) as template_path:
        return ModelCard.from_template(
            card_data,
            template_path=str(template_path),
            title=name,
            repo_id=name,
            hub_url=HUB_URL,
            base_model=base_model,
            is_adapter=is_adapter,
            details=details,
            datasets=dataset_list or [],
            language=language_list or [],
            license=license,
            example_query="What causes the seasons on Earth?",
            example_document="Seasons are caused by the tilt of Earth's rotational axis relative to its orbit.",
            query_encode_args=_encode_args("queries", "query", model_prompts, prompts),
            document_encode_args=_encode_args("documents", "document", model_prompts, prompts),
            prompts=[(k, f"`{_fmt(v)}`") for k, v in shown_prompts.items()],
            results=table,
            any_unofficial=any(not r["is_official"] for r in rows),
            metric_columns=[{"key": m, "label": _metric_label(m)} for m in metric_columns],
            mining=mining,
            mining_section=render_mining_section(mining),
            training_args=_public_items(train),
            versions=framework_versions(),
            nv_retriever_bibtex=NV_RETRIEVER_BIBTEX,
            sbert_bibtex=SBERT_BIBTEX,
        )


def write_eval_results(directory: str | Path, results: Iterable[Any] | None) -> list[Path]:
    """Write ``.eval_results/<Task>.yaml`` under ``directory``, replacing stale files from an earlier save."""
    out_dir = Path(directory) / EVAL_RESULTS_DIR
    files = eval_results_yaml(results or [])
    if out_dir.is_dir():
        for old in out_dir.glob("*.yaml"):
            old.unlink()
    written = []
    if files:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = out_dir / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def save_model_card(
    model_dir: str | Path,
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
    results: Iterable[Any] | None = None,
    mining_report: Any = None,
    training_args: Any = None,
    datasets: str | Sequence[str] | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    prompts: Mapping[str, str] | None = None,
    is_adapter: bool | None = None,
) -> Path:
    """Write ``README.md`` and ``.eval_results/`` into ``model_dir`` (arguments as :func:`build_model_card`)."""
    rows = normalize_results(results)
    card = build_model_card(
        model_dir, repo_id=repo_id, base_model=base_model, results=rows, mining_report=mining_report,
        training_args=training_args, datasets=datasets, license=license, language=language, prompts=prompts,
        is_adapter=is_adapter,
    )
    path = Path(model_dir) / "README.md"
    card.save(path)
    write_eval_results(model_dir, rows)
    return path


def _mteb_languages(language: str | Sequence[str] | None) -> list[str] | None:
    out = []
    for code in _as_list(language) or []:
        if re.fullmatch(r"[a-z]{3}-[A-Z][a-z]{3}", code):
            out.append(code)
        elif code.lower() in ISO_639_1_TO_MTEB:
            out.append(ISO_639_1_TO_MTEB[code.lower()])
    return out or None


def model_meta_snippet(
    model_dir: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    base_model: str | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    datasets: str | Sequence[str] | None = None,
    results: Iterable[Any] | None = None,
    training_datasets: Iterable[str] | None = None,
    prompts: Mapping[str, str] | None = None,
    release_date: str | None = None,
) -> str:
    """Python source for an ``mteb.ModelMeta`` describing the model, for a PR to mteb's model registry.

    ``training_datasets`` are MTEB task names whose training data the model saw (mteb uses them to flag
    zero-shot scores). By default they are the evaluated tasks whose dataset id is also in ``datasets``.
    """
    if "/" not in repo_id:
        raise ValueError(f"mteb ModelMeta names must be 'organization/model_name', got {repo_id!r}")
    details = model_details(model_dir)
    if training_datasets is None:
        trained_on = set(_as_list(datasets) or [])
        training = sorted({r["task_name"] for r in normalize_results(results) if r["dataset_id"] in trained_on})
    else:
        training = sorted(set(training_datasets))
    similarity = {"cosine": "COSINE", "dot": "DOT_PRODUCT", "euclidean": "EUCLIDEAN", "manhattan": "MANHATTAN"}.get(
        str(details["similarity_fn_name"]), "COSINE"
    )
    prompts = {k: v for k, v in (prompts or {}).items() if v}
    is_adapter = details["is_adapter"]
    base_model = base_model or details["adapter_base_model"]
    fields: list[tuple[str, str]] = [("loader", "SentenceTransformerEncoderWrapper")]
    if prompts:
        fields.append(("loader_kwargs", repr({"model_prompts": prompts})))
    memory = round(details["weights_bytes"] / 2**20) if details["weights_bytes"] and not is_adapter else None
    fields += [
        ("name", repr(repo_id)),
        ("revision", repr(revision)),
        ("release_date", repr(release_date or _dt.date.today().isoformat())),
        ("languages", repr(_mteb_languages(language))),
        ("n_parameters", repr(None if is_adapter else details["n_parameters"])),
        ("memory_usage_mb", repr(memory)),
        ("max_tokens", repr(details["max_tokens"])),
        ("embed_dim", repr(details["embed_dim"])),
        ("license", repr(license)),
        ("open_weights", "True"),
        ("public_training_code", repr(None)),
        ("public_training_data", repr(None)),
        ("framework", repr(["Sentence Transformers", "PyTorch", "safetensors"])),
        ("reference", repr(f"{HUB_URL}/{repo_id}")),
        ("similarity_fn_name", f"ScoringFunction.{similarity}"),
        ("use_instructions", repr(bool(prompts or {k: v for k, v in details["prompts"].items() if v}))),
        ("training_datasets", "{" + ", ".join(repr(t) for t in training) + "}" if training else "set()"),
        ("adapted_from", repr(base_model)),
        ("citation", repr(NV_RETRIEVER_BIBTEX)),
    ]
    var = re.sub(r"\W", "_", repo_id.split("/")[-1]).lower() or "model"
    if var[0].isdigit():
        var = f"model_{var}"
    body = "\n".join(f"    {k}={v}," for k, v in fields)
    return (
        "from mteb.models.model_meta import ModelMeta, ScoringFunction\n"
        "from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper\n\n"
        f"{var} = ModelMeta(\n{body}\n)\n"
    )


# ---- dataset card ------------------------------------------------------------------------------------
def build_dataset_card(
    mining_report: Any,
    *,
    repo_id: str,
    existing: Mapping[str, Any] | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    source_datasets: str | Sequence[str] | None = None,
    histogram: str | None = None,
    pretty_name: str | None = None,
) -> DatasetCard:
    """A dataset card for mined training data; ``existing`` metadata (``dataset_info``, ``configs`` written
    by ``Dataset.push_to_hub``) is kept so ``load_dataset`` still sees the same splits and features."""
    mining = normalize_mining_report(mining_report, histogram)
    if mining is None:
        raise ValueError("build_dataset_card needs a mining_report")
    data = dict(existing or {})
    if "train-eval-index" in data:
        data["train_eval_index"] = data.pop("train-eval-index")
    tags = list(_as_list(data.pop("tags", None)) or [])
    for tag in ("sentence-transformers", "hard-negative-mining", "nv-retriever", mining["method"]):
        if tag not in tags:
            tags.append(tag)
    data.update(
        tags=tags,
        task_categories=_as_list(data.get("task_categories")) or ["sentence-similarity", "text-retrieval"],
        pretty_name=pretty_name or data.get("pretty_name") or repo_id.split("/")[-1],
    )
    if license:
        data["license"] = license
    if language:
        data["language"] = _as_list(language)
    if source_datasets:
        data["source_datasets"] = _as_list(source_datasets)
    card_data = DatasetCardData(**data)
    return DatasetCard.from_template(
        card_data,
        template_str=DATASET_CARD_TEMPLATE,
        title=data["pretty_name"],
        repo_id=repo_id,
        mining=mining,
        mining_section=render_mining_section(mining),
        nv_retriever_bibtex=NV_RETRIEVER_BIBTEX,
    )
