"""`BiEncoder`: any `AutoModel` as a shared query/passage encoder, encoder or (bidirectional) decoder LLM."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from hf_nvr.common.models import resolve_model

logger = logging.getLogger(__name__)

Pooling = Literal["mean", "cls", "last_token"]
_ST_POOLING = {"mean": "mean", "cls": "cls", "last_token": "lasttoken"}
_HF_STATE = "hf_nvr_biencoder.json"
_DEFAULTS = {
    "pooling": "mean",
    "normalize": True,
    "bidirectional": False,
    "query_prompt": None,
    "passage_prompt": None,
    "exclude_prompt_from_pooling": True,
    "similarity": "cosine",
}


def prompt_token_count(tokenizer: Any, prompt: str | None) -> int:
    """Tokens a prompt occupies at the start of an encoded text, counted as sentence-transformers counts them.

    The tokenised prompt's trailing special token (SEP/EOS) is not part of the prefix, so it is not counted.
    """
    if not prompt:
        return 0
    ids = tokenizer(prompt)["input_ids"]
    if ids and ids[-1] in set(tokenizer.all_special_ids):
        return len(ids) - 1
    return len(ids)


def make_bidirectional(model: nn.Module) -> None:
    """Let every token attend to every other token (NV-Retriever §3.1: the causal mask is removed).

    ``config.is_causal = False`` makes transformers build a bidirectional padding mask; attention modules'
    ``is_causal`` flag is what SDPA falls back to when no mask is materialised, so it is cleared too.
    """
    model.config.is_causal = False
    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False


class BiEncoder(nn.Module):
    """A shared encoder with pooling, optional L2 normalisation, query/passage prompts and optional LoRA."""

    def __init__(
        self,
        backbone: nn.Module,
        tokenizer: Any,
        *,
        pooling: Pooling = "mean",
        normalize: bool = True,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        exclude_prompt_from_pooling: bool = True,
        similarity: str = "cosine",
        base_model: str | None = None,
    ) -> None:
        super().__init__()
        if pooling not in _ST_POOLING:
            raise ValueError(f"pooling must be one of {list(_ST_POOLING)}, got {pooling!r}")
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.exclude_prompt_from_pooling = exclude_prompt_from_pooling
        self.similarity = similarity
        self.base_model = base_model
        self.query_max_length = 512
        self.passage_max_length = 512

    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str,
        *,
        pooling: Pooling | None = None,
        normalize: bool | None = None,
        bidirectional: bool | None = None,
        lora: Any = None,
        torch_dtype: str | torch.dtype | None = None,
        trust_remote_code: bool = False,
        **kwargs: Any,
    ) -> BiEncoder:
        """Load a backbone by hub id or path (offline copies resolved); ``lora`` is a ``peft.LoraConfig``.

        A folder written by :meth:`save_pretrained` brings back its pooling, normalisation, prompts, similarity
        and attention direction; arguments given here override them (defaults: mean pooling, normalised, causal).
        """
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model(model_name_or_path)
        state = Path(path) / _HF_STATE
        saved = json.loads(state.read_text()) if state.exists() else {}
        given = {"pooling": pooling, "normalize": normalize, "bidirectional": bidirectional}
        options = {**_DEFAULTS, **{k: v for k, v in saved.items() if k in _DEFAULTS},
                   **{k: v for k, v in given.items() if v is not None}, **kwargs}
        bidirectional = options.pop("bidirectional")
        dtype = getattr(torch, torch_dtype) if isinstance(torch_dtype, str) else torch_dtype
        backbone = AutoModel.from_pretrained(path, dtype=dtype, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        tokenizer.padding_side = "right"
        if bidirectional:
            make_bidirectional(backbone)
        if lora is not None:
            from peft import get_peft_model

            backbone = get_peft_model(backbone, lora)
        base_model = saved.get("base_model") or model_name_or_path
        return cls(backbone, tokenizer, base_model=base_model, **options)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """What the Trainer calls for ``gradient_checkpointing=True``; delegated to the backbone."""
        self.backbone.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs=gradient_checkpointing_kwargs or {"use_reentrant": False}
        )

    # -- encoding -------------------------------------------------------------------------------------------------

    def tokenize(
        self, texts: list[str], kind: Literal["query", "passage"], prompts: list[str | None] | None = None
    ) -> dict[str, torch.Tensor]:
        """Prompt, truncate and pad a batch; ``prompt_length`` (per row) rides along for instruction-masked pooling.

        ``prompts`` gives each row its own instruction (blended multi-task data); by default every row gets the
        model's query or passage prompt.
        """
        default = self.query_prompt if kind == "query" else self.passage_prompt
        prompts = [default] * len(texts) if prompts is None else [p if p is not None else default for p in prompts]
        max_length = self.query_max_length if kind == "query" else self.passage_max_length
        batch = self.tokenizer(
            [f"{p}{t}" if p else t for p, t in zip(prompts, texts)],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        counts = {p: prompt_token_count(self.tokenizer, p) if self.exclude_prompt_from_pooling else 0 for p in set(prompts)}
        batch["prompt_length"] = torch.tensor([counts[p] for p in prompts], dtype=torch.long)
        return batch

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_length: torch.Tensor | int = 0, **_: Any
    ) -> torch.Tensor:
        """Pooled (and optionally normalised) embeddings ``[B, d]``."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask
        if self.pooling == "mean":
            n_prompt = torch.as_tensor(prompt_length, device=mask.device).expand(mask.shape[0])
            if bool((n_prompt > 0).any()):
                positions = torch.arange(mask.shape[1], device=mask.device)
                mask = mask * (positions[None, :] >= n_prompt[:, None])
                if (mask.sum(1) == 0).any():
                    raise ValueError(
                        f"the prompt takes {int(n_prompt.max())} tokens and leaves nothing to pool in some texts; "
                        "shorten the prompt or raise query_max_length/passage_max_length"
                    )
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        elif self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            last = attention_mask.sum(1) - 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled

    def _encode(self, texts: list[str] | str, kind: str, batch_size: int, convert_to_tensor: bool,
                show_progress_bar: bool | None) -> torch.Tensor | np.ndarray:
        from tqdm.auto import tqdm

        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        chunks = []
        with torch.inference_mode():
            starts = range(0, len(texts), batch_size)
            for start in tqdm(starts, desc=f"Encoding {kind}s", disable=not show_progress_bar):
                batch = self.tokenize([texts[i] for i in order[start : start + batch_size]], kind)
                chunks.append(self(**{k: v.to(device) for k, v in batch.items()}).float().cpu())
        self.train(was_training)
        out = torch.empty(len(texts), chunks[0].shape[1]) if chunks else torch.empty(0, 0)
        if chunks:
            out[torch.from_numpy(order)] = torch.cat(chunks)
        out = out[0] if single else out
        return out if convert_to_tensor else out.numpy()

    def encode_query(self, texts: list[str] | str, batch_size: int = 32, convert_to_tensor: bool = False,
                     show_progress_bar: bool | None = None, **_: Any) -> torch.Tensor | np.ndarray:
        """Same call shape as ``SentenceTransformer.encode_query``, so evaluators take either."""
        return self._encode(texts, "query", batch_size, convert_to_tensor, show_progress_bar)

    def encode_document(self, texts: list[str] | str, batch_size: int = 32, convert_to_tensor: bool = False,
                        show_progress_bar: bool | None = None, **_: Any) -> torch.Tensor | np.ndarray:
        return self._encode(texts, "passage", batch_size, convert_to_tensor, show_progress_bar)

    @property
    def similarity_fn_name(self) -> str:
        return self.similarity

    # -- saving ---------------------------------------------------------------------------------------------------

    @property
    def is_peft(self) -> bool:
        return hasattr(self.backbone, "peft_config")

    def save_pretrained(
        self, output_dir: str | os.PathLike, *, merge_lora: bool = True, state_dict: dict | None = None
    ) -> None:
        """Write a sentence-transformers folder that ``SentenceTransformer`` and ``AutoModel`` both load.

        LoRA runs are merged into the backbone by default; ``merge_lora=False`` saves the adapter alone
        (``adapter_config.json`` + ``adapter_model.safetensors``), which sentence-transformers and PEFT load on
        top of the base model. ``state_dict`` (keys as in this module) is what FSDP/ZeRO-3 hand over gathered.
        A bidirectional decoder reloads bidirectional through :meth:`from_pretrained`; plain
        ``SentenceTransformer``/``AutoModel`` loading restores ``config.is_causal=False`` but not the attention
        modules' flags, so use ``BiEncoder`` to encode with such models.
        """
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.models import Normalize, Transformer
        from sentence_transformers.models import Pooling as StPooling

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        backbone = self.backbone
        if state_dict is not None:
            prefix = "backbone."
            backbone.load_state_dict({k.removeprefix(prefix): v for k, v in state_dict.items()})
        if self.is_peft and merge_lora:
            import copy

            backbone = copy.deepcopy(backbone).merge_and_unload()
        backbone.save_pretrained(out, safe_serialization=True)
        self.tokenizer.save_pretrained(out)
        if self.is_peft and not merge_lora:
            self._write_state(out)
            return
        encoder = Transformer(str(out), max_seq_length=max(self.query_max_length, self.passage_max_length))
        modules: list[nn.Module] = [
            encoder,
            StPooling(
                encoder.get_embedding_dimension(),
                _ST_POOLING[self.pooling],
                include_prompt=not (self.exclude_prompt_from_pooling and self.pooling == "mean"),
            ),
        ]
        if self.normalize:
            modules.append(Normalize())
        prompts = {k: v for k, v in (("query", self.query_prompt), ("document", self.passage_prompt)) if v}
        st = SentenceTransformer(modules=modules, prompts=prompts, similarity_fn_name=self.similarity, device="cpu")
        st.save(str(out))
        self._write_state(out)

    def _write_state(self, out: Path) -> None:
        state = {
            "pooling": self.pooling,
            "normalize": self.normalize,
            "query_prompt": self.query_prompt,
            "passage_prompt": self.passage_prompt,
            "exclude_prompt_from_pooling": self.exclude_prompt_from_pooling,
            "similarity": self.similarity,
            "base_model": self.base_model,
            "bidirectional": not getattr(self.backbone.config, "is_causal", True),
        }
        (out / _HF_STATE).write_text(json.dumps(state, indent=2))

    def load_weights(self, checkpoint_dir: str | os.PathLike) -> None:
        """Restore backbone (or adapter) weights from a folder written by :meth:`save_pretrained`."""
        from safetensors.torch import load_file

        folder = Path(checkpoint_dir)
        if self.is_peft:
            from peft import set_peft_model_state_dict

            adapter = folder / "adapter_model.safetensors"
            if not adapter.exists():
                raise FileNotFoundError(f"{adapter} missing: LoRA checkpoints are saved with merge_lora=False")
            set_peft_model_state_dict(self.backbone, load_file(adapter))
            return
        weights = folder / "model.safetensors"
        if not weights.exists():
            raise FileNotFoundError(f"{weights} missing: not a checkpoint written by BiEncoder.save_pretrained")
        missing, unexpected = self.backbone.load_state_dict(load_file(weights), strict=False)
        params = dict(self.backbone.named_parameters())
        missing = [k for k in missing if k in params]
        if missing or unexpected:
            raise ValueError(f"{weights} does not match the backbone (missing {missing[:3]}, unexpected {unexpected[:3]})")
