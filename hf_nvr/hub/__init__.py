"""Publishing to the Hugging Face Hub: model cards with MTEB results and mining provenance, and pushes.

- :func:`push_to_hub` uploads a sentence-transformers folder with its card and mteb 2.x ``.eval_results``
  in a single commit, after validating everything locally; :func:`push_dataset_to_hub` does the same for a
  mined dataset.
- :func:`build_model_card` / :func:`save_model_card` render ``model_card/template.md`` through
  ``huggingface_hub.ModelCard.from_template`` (YAML front matter with MTEB's legacy ``model-index``);
  :func:`eval_results_yaml` / :func:`write_eval_results` produce mteb 2.x's ``.eval_results/<Task>.yaml``;
  :func:`model_meta_snippet` prints an ``mteb.ModelMeta(...)`` for mteb's model registry;
  :func:`build_dataset_card` renders a mining report as a dataset card.

Inputs (evaluation results, mining reports, training arguments) are dicts or objects with ``to_dict()``,
so this package does not depend on the mining or training code.
"""

from hf_nvr.hub.card import (
    build_dataset_card,
    build_model_card,
    eval_results_yaml,
    model_meta_snippet,
    normalize_results,
    save_model_card,
    write_eval_results,
)
from hf_nvr.hub.push import (
    HubPushError,
    push_dataset_to_hub,
    push_to_hub,
    validate_model_dir,
    validate_repo_id,
)

__all__ = [
    "HubPushError",
    "build_dataset_card",
    "build_model_card",
    "eval_results_yaml",
    "model_meta_snippet",
    "normalize_results",
    "push_dataset_to_hub",
    "push_to_hub",
    "save_model_card",
    "validate_model_dir",
    "validate_repo_id",
    "write_eval_results",
]
