"""`NVRetrieverTrainer`: `transformers.Trainer` with the InfoNCE loss; Accelerate does devices, DDP and resume."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from hf_nvr.training.collator import NVRetrieverCollator
from hf_nvr.training.config import NVRetrieverConfig
from hf_nvr.training.gather import gather_rows
from hf_nvr.training.loss import info_nce_loss
from hf_nvr.training.model import BiEncoder
from hf_nvr.training.sampler import HomogeneousBatchSampler

logger = logging.getLogger(__name__)


class _EpochToCollator(TrainerCallback):
    """Tells the collator the epoch, which picks each row's window of negatives (resume-safe)."""

    def __init__(self, collator: NVRetrieverCollator) -> None:
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = int(state.epoch or 0)


def _check_dataset(dataset: Any, args: NVRetrieverConfig, name: str) -> None:
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        return
    for col in (args.query_column, args.positive_column):
        if col not in columns:
            raise ValueError(f"{name} has no {col!r} column (columns: {columns}); mine it first or set {col!r} in the config")
    has_negatives = args.negatives_column in columns and args.num_hard_negatives > 0
    if has_negatives and hasattr(dataset, "__len__") and len(dataset) and sum(map(len, dataset[args.negatives_column])) == 0:
        has_negatives = False
    if not args.in_batch_negatives and not has_negatives:
        raise ValueError(
            f"{name} gives no negatives at all: the {args.negatives_column!r} column is missing or empty and "
            "in_batch_negatives=False; mine negatives or turn in_batch_negatives on"
        )


def _with_lengths(dataset: Any, args: NVRetrieverConfig) -> Any:
    """Length-grouped batching needs a length per row: characters of query + positive, computed once."""
    if args.train_sampling_strategy != "group_by_length" or args.length_column_name in (dataset.column_names or []):
        return dataset

    def lengths(batch: dict) -> dict:
        positives = [p if isinstance(p, str) else p[0] for p in batch[args.positive_column]]
        return {args.length_column_name: [len(q) + len(p) for q, p in zip(batch[args.query_column], positives)]}

    return dataset.map(lengths, batched=True, desc="Measuring lengths")


def _check_prompts(model: BiEncoder, args: NVRetrieverConfig) -> None:
    """A prompt as long as the length limit leaves no token to pool: refuse before training starts."""
    from hf_nvr.training.model import prompt_token_count

    for kind, prompt, limit in (("query", model.query_prompt, args.query_max_length),
                                ("passage", model.passage_prompt, args.passage_max_length)):
        if model.exclude_prompt_from_pooling and prompt and prompt_token_count(model.tokenizer, prompt) + 1 >= limit:
            raise ValueError(
                f"the {kind} prompt takes {prompt_token_count(model.tokenizer, prompt)} tokens of {kind}_max_length="
                f"{limit}: every token would be an instruction token; shorten the prompt or raise {kind}_max_length"
            )


class NVRetrieverTrainer(Trainer):
    """Contrastive fine-tuning of a :class:`BiEncoder` on mined rows.

    ``evaluator`` is any callable ``evaluator(model) -> dict[str, float]`` (e.g. ``hf_nvr.RetrievalEvaluator``);
    its metrics join the eval loss whenever the Trainer evaluates.
    """

    def __init__(
        self,
        model: BiEncoder,
        args: NVRetrieverConfig,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        evaluator: Callable[[Any], dict[str, float]] | None = None,
        data_collator: NVRetrieverCollator | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(args, NVRetrieverConfig):
            raise TypeError("args must be an NVRetrieverConfig")
        if train_dataset is not None:
            _check_dataset(train_dataset, args, "train_dataset")
            train_dataset = _with_lengths(train_dataset, args)
        model.query_prompt = args.query_prompt if args.query_prompt is not None else model.query_prompt
        model.passage_prompt = args.passage_prompt if args.passage_prompt is not None else model.passage_prompt
        model.query_max_length, model.passage_max_length = args.query_max_length, args.passage_max_length
        model.similarity = args.similarity
        _check_prompts(model, args)
        collator = data_collator or NVRetrieverCollator(
            model,
            num_hard_negatives=args.num_hard_negatives,
            query_column=args.query_column,
            positive_column=args.positive_column,
            negatives_column=args.negatives_column,
        )
        super().__init__(
            model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, data_collator=collator,
            **kwargs,
        )
        self.evaluator = evaluator
        self.add_callback(_EpochToCollator(collator))
        collator.seed = args.seed
        self._final_save = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        args: NVRetrieverConfig = self.args
        q = model(inputs["query_input_ids"], inputs["query_attention_mask"], inputs["query_prompt_length"])
        p = model(inputs["passage_input_ids"], inputs["passage_attention_mask"], inputs["passage_prompt_length"])
        valid, passage_hash, id_hash = inputs["passage_valid"], inputs["passage_hash"], inputs["passage_id_hash"]
        p = p.reshape(valid.shape[0], valid.shape[1], -1)
        offset = 0
        if args.cross_device_negatives and self.accelerator.num_processes > 1:
            (p, valid, passage_hash, id_hash), offset = gather_rows(p, valid, passage_hash, id_hash)
        loss = info_nce_loss(
            q, p, valid, passage_hash, inputs["positive_hash"],
            query_offset=offset, temperature=args.temperature, in_batch_negatives=args.in_batch_negatives,
            row_in_batch=inputs["row_in_batch"], passage_id_hash=id_hash, positive_id_hash=inputs["positive_id_hash"],
            similarity=args.similarity,
        )
        return (loss, {"query_embeddings": q}) if return_outputs else loss

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if not self.args.homogeneous_batches:
            return super()._get_train_sampler(train_dataset)
        if "dataset" not in getattr(dataset, "column_names", []):
            raise ValueError("homogeneous_batches=True needs a 'dataset' column naming each row's source dataset")
        return HomogeneousBatchSampler(
            dataset["dataset"], self.args.per_device_train_batch_size, seed=self.args.data_seed or self.args.seed
        )

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        metrics: dict[str, float] = {}
        if eval_dataset is not None or self.eval_dataset is not None:
            metrics.update(super().evaluate(eval_dataset, ignore_keys, metric_key_prefix))
        if self.evaluator is not None:
            scores = self.evaluator(self.accelerator.unwrap_model(self.model))
            scores = {f"{metric_key_prefix}_{k}": float(v) for k, v in scores.items()}
            self.log(scores)
            metrics.update(scores)
        return metrics

    # -- the Hub: one push at the end, with the same card as hf_nvr.push_to_hub ------------------------------

    def train(self, *args: Any, **kwargs: Any):
        output = super().train(*args, **kwargs)
        if self.args.push_to_hub:
            self.push_to_hub()
        return output

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, private: bool | None = None,
                    results: Any = None, mining_report: Any = None, **kwargs: Any) -> str:
        """Save the final model to ``output_dir`` and push it with its model card (results and mining provenance)."""
        from hf_nvr.hub import push_to_hub

        if not self.is_world_process_zero():
            return ""
        self._final_save = True  # not save_model(): the Trainer's save_model itself pushes when push_to_hub is set
        self._save(self.args.output_dir)
        self._final_save = False
        model: BiEncoder = self.accelerator.unwrap_model(self.model)
        keys = ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "temperature", "num_hard_negatives",
                "in_batch_negatives", "cross_device_negatives", "query_max_length", "passage_max_length", "seed")
        return push_to_hub(
            self.args.output_dir, self.args.hub_model_id or Path(self.args.output_dir).name,
            results=results, mining_report=mining_report, base_model=model.base_model,
            training_args={k: getattr(self.args, k) for k in keys},
            token=token or self.args.hub_token, private=private if private is not None else self.args.hub_private_repo,
            commit_message=commit_message, revision=revision or self.args.hub_revision,
        )

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """Repos are created by the single end-of-training push (validated first), not at start-up."""

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """Checkpoints stay local; the end-of-training push uploads the finished model with its card."""

    # -- saving and resuming: checkpoints are the same sentence-transformers folders as the final model -------

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        self._final_save = not _internal_call
        push, self.args.push_to_hub = self.args.push_to_hub, False  # our push (end of train) carries the card
        try:
            super().save_model(output_dir, _internal_call)
        finally:
            self.args.push_to_hub = push

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        if not self.args.should_save:  # every rank calls _save; one writes
            return
        output_dir = output_dir or self.args.output_dir
        model: BiEncoder = self.accelerator.unwrap_model(self.model)
        merge = self._final_save and self.args.save_merged_lora
        model.save_pretrained(output_dir, merge_lora=merge, state_dict=state_dict)
        (Path(output_dir) / "training_args.json").write_text(self.args.to_json_string())

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        (model or self.accelerator.unwrap_model(self.model)).load_weights(resume_from_checkpoint)

    def _load_best_model(self) -> None:
        self.accelerator.unwrap_model(self.model).load_weights(self.state.best_model_checkpoint)
