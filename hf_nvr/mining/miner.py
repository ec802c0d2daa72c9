"""`HardNegativeMiner`: positive-aware hard-negative mining as a ``datasets.map`` transform."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hf_nvr.common.text import text_hash, text_hashes
from hf_nvr.mining import filters
from hf_nvr.mining.config import MiningConfig
from hf_nvr.mining.corpus import Corpus
from hf_nvr.mining.distributed import (
    barrier,
    faiss_gpus,
    launched_world_size,
    local_device,
    process_info,
    row_slice,
    shared_run_id,
)
from hf_nvr.mining.report import MiningReport
from hf_nvr.mining.search import FaissIndex, default_pq_m, exact_rerank, recall_at_k, tiled_topk
from hf_nvr.mining.store import EmbeddingStore
from hf_nvr.mining.teacher import Teacher, live_instance, register_instance

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("negatives", "negative_ids", "negative_scores", "positive_scores", "short_reason")


class HardNegativeMiner:
    """Adds ``negatives``, ``negative_ids``, ``negative_scores``, ``positive_scores`` and ``short_reason``.

    Use it as ``ds.map(miner, batched=True)``: every input column and the row order are kept. A row with fewer
    than ``num_negatives`` says why in ``short_reason`` ("" otherwise); nothing is padded. The corpus is
    encoded once per (teacher, prompts, max length, corpus) into an on-disk store that later miners reuse.
    Pickling a miner (as ``datasets`` does to fingerprint a map) sends only a small spec, never the model.
    """

    def __init__(
        self,
        teacher: Any = None,
        corpus: Any = None,
        config: MiningConfig | None = None,
        *,
        teachers: Sequence[Any] | None = None,
        reranker: Any = None,
        show_progress: bool = True,
        _spec: dict | None = None,
    ) -> None:
        if _spec is not None:
            self._restore(_spec)
            return
        self.config = config or MiningConfig()
        refs = list(teachers) if teachers else [teacher]
        if not refs or any(r is None for r in refs):
            raise ValueError("HardNegativeMiner needs a teacher (hub id, local path or SentenceTransformer)")
        if corpus is None:
            raise ValueError("HardNegativeMiner needs a corpus (datasets.Dataset with 'text', or a list of str)")
        if self.config.faiss_shard and launched_world_size() > 1:
            raise ValueError("MiningConfig.faiss_shard splits one index over the GPUs of a single process; "
                             "mine with one process (--num-processes 1) or drop faiss_shard")
        self.show_progress = show_progress
        self.teachers = [Teacher(r, max_length=self.config.max_length, device=self.config.device) for r in refs]
        self.reranker_ref = reranker if reranker is None or isinstance(reranker, str) else register_instance(reranker)
        self._reranker = None if isinstance(reranker, str) else reranker
        self.corpus = Corpus.from_any(corpus, self.config.use_title)
        self._init_corpus(self.corpus.fingerprint())

    def _init_corpus(self, fingerprint: str) -> None:
        self.corpus_fingerprint = fingerprint
        self._stores: list[EmbeddingStore | None] = [None] * len(self.teachers)
        self._indexes: list[FaissIndex | None] = [None] * len(self.teachers)
        self.backend = ""
        self.report = self._new_report()

    def _new_report(self) -> MiningReport:
        return MiningReport(
            teacher=[t.ref for t in self.teachers] if len(self.teachers) > 1 else self.teachers[0].ref,
            method=self.config.method,
            config={**self.config.to_dict(), "method_params": self.config.method_params()},
            backend=self.backend,
        )

    # -- pickling: a cheap, stable spec instead of the model (datasets fingerprints maps by pickling) --------

    def _spec(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "teachers": [t.ref for t in self.teachers],
            "teacher_fingerprints": [t.fingerprint for t in self.teachers],
            "reranker": self.reranker_ref,
            "corpus_fingerprint": self.corpus_fingerprint,
            "corpus_file": str(self._corpus_file()),
            "show_progress": self.show_progress,
        }

    def __reduce__(self):
        self._corpus_file(write=True)
        return (_rebuild_miner, (json.dumps(self._spec(), sort_keys=True),))

    def _restore(self, spec: dict) -> None:
        self.config = MiningConfig(**spec["config"])
        self.show_progress = spec["show_progress"]
        self.teachers = [Teacher.from_ref(r, self.config.max_length, self.config.device) for r in spec["teachers"]]
        self.reranker_ref = spec["reranker"]
        self._reranker = live_instance(self.reranker_ref) if str(self.reranker_ref).startswith("instance:") else None
        self.corpus = Corpus.read(spec["corpus_file"])
        self._init_corpus(spec["corpus_fingerprint"])  # the file is named by it: no need to hash it again

    def _cache_root(self) -> Path:
        if self.config.cache_dir:
            return Path(self.config.cache_dir)
        hf_home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
        return Path(hf_home) / "hf_nvr" / "embeddings"

    def _corpus_file(self, write: bool = False) -> Path:
        path = self._cache_root() / f"corpus-{self.corpus_fingerprint}.arrow"
        if write and not path.exists():
            self.corpus.write(path)
        return path

    # -- the store --------------------------------------------------------------------------------------------

    def store(self, teacher_index: int = 0) -> EmbeddingStore:
        """The (built) corpus embedding store of one teacher."""
        store = self._stores[teacher_index]
        if store is None:
            teacher = self.teachers[teacher_index]
            cfg = self.config
            key = json.dumps(
                [teacher.describe((cfg.query_prompt, cfg.passage_prompt)), self.corpus_fingerprint, cfg.store_dtype]
            )
            fingerprint = hashlib.sha256(key.encode()).hexdigest()[:20]
            store = EmbeddingStore(self._cache_root() / fingerprint, fingerprint)
            rank, world = process_info()
            store.build(
                self.corpus.text_view(),
                lambda texts: teacher.encode(texts, cfg.passage_prompt, cfg.batch_size),
                shard_size=cfg.shard_size,
                dtype=cfg.store_dtype,
                show_progress=self.show_progress and rank == 0,
                rank=rank,
                world_size=world,
            )
            if world > 1:
                barrier()
                if rank == 0:
                    store.finalize(len(self.corpus))
                barrier()
            self._stores[teacher_index] = store
        return store

    def encode_corpus(self) -> None:
        """Build every teacher's store now (otherwise the first mapped batch does it)."""
        for i in range(len(self.teachers)):
            self.store(i)

    def _search(self, t: int, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        store = self.store(t)
        cfg = self.config
        use_faiss = cfg.backend.startswith("faiss")
        if cfg.backend == "auto":
            try:
                import faiss

                use_faiss = bool(faiss_gpus(cfg.device, 1, faiss.get_num_gpus()))
            except ImportError:
                use_faiss = False
        if not use_faiss:
            if self.backend != "torch-exact":
                logger.info("search backend: torch-exact (tiled matmul) over %d rows", len(store.order))
            self.backend = "torch-exact"
            scores, rows = tiled_topk(queries, store.iter_shards(), k, device=cfg.device or local_device())
        else:
            if self._indexes[t] is None:
                import faiss

                ivf = cfg.backend in ("faiss-ivf", "faiss-ivfpq")
                nlist = cfg.ivf_nlist or (max(16, int(4 * np.sqrt(len(store.order)))) if ivf else None)
                dim = next(store.iter_shards())[1].shape[1]
                _, world = process_info()
                gpus = faiss_gpus(cfg.device, world, faiss.get_num_gpus())
                pq_m = (cfg.pq_m or default_pq_m(dim, gpu=bool(gpus))) if cfg.backend == "faiss-ivfpq" else None
                self._indexes[t] = FaissIndex(store.iter_shards(), dim, ivf_nlist=nlist, ivf_nprobe=cfg.ivf_nprobe,
                                              pq_m=pq_m, num_rows=len(store.order), seed=cfg.seed, gpus=gpus,
                                              shard=cfg.faiss_shard)
            index = self._indexes[t]
            self.backend = index.kind
            if index.approximate_scores:
                _, rows = index.search(queries, min(len(store.order), k * cfg.pq_refine))
                scores, rows = exact_rerank(queries, rows, lambda r: store.get(store.order[r]), k)
            else:
                scores, rows = index.search(queries, k)
            if "ivf" in self.backend and self.report.search_recall is None:
                sample = slice(0, min(len(queries), 256))
                _, exact = tiled_topk(queries[sample], store.iter_shards(), k, device=cfg.device or local_device())
                self.report.search_recall = float(recall_at_k(rows[sample], exact).mean())
                logger.info("%s recall@%d against exact search: %.4f", self.backend, k, self.report.search_recall)
        positions = torch.where(rows >= 0, torch.from_numpy(store.order)[rows.clamp(min=0)], torch.full_like(rows, -1))
        scores = scores.masked_fill(rows < 0, float("-inf"))
        self.report.backend = self.backend
        return scores, positions

    # -- the transform ------------------------------------------------------------------------------------------

    def __call__(self, batch: dict[str, Any], indices: Any = None) -> dict[str, Any]:
        single = isinstance(batch.get(self.config.query_column), str)
        if single:
            batch = {k: [v] for k, v in batch.items()}
            indices = None if indices is None else [indices]
        queries, positives, positive_ids = self._parse(batch, indices)
        out = self._mine(queries, positives, positive_ids)
        result = {**batch, **out}
        return {k: v[0] for k, v in result.items()} if single else result

    def _parse(self, batch: dict[str, Any], indices: Any) -> tuple[list[str], list[list[str]], list[list[str]] | None]:
        cfg = self.config

        def where(j: int) -> str:
            return f"row {indices[j]}" if indices is not None else f"row {j} of the batch"

        for col in (cfg.query_column, cfg.positive_column):
            if col not in batch:
                raise KeyError(
                    f"column {col!r} is missing (columns: {sorted(batch)}); rename yours or set "
                    f"MiningConfig({'query' if col == cfg.query_column else 'positive'}_column=...)"
                )
        id_col = cfg.positive_id_column or next((c for c in ("positive_ids", "positive_id") if c in batch), None)
        if id_col is not None and id_col not in batch:
            raise KeyError(f"positive id column {id_col!r} is missing (columns: {sorted(batch)})")
        queries, positives, positive_ids = [], [], [] if id_col else None
        for j, (q, p) in enumerate(zip(batch[cfg.query_column], batch[cfg.positive_column])):
            if not isinstance(q, str) or not q.strip():
                raise ValueError(f"{where(j)}: column {cfg.query_column!r} is empty or not a string ({q!r}); fill or drop it")
            plist = [p] if isinstance(p, str) else p
            if not isinstance(plist, (list, tuple)) or not plist:
                raise ValueError(
                    f"{where(j)}: column {cfg.positive_column!r} must be a string or a non-empty list of strings, got {p!r}"
                )
            for text in plist:
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"{where(j)}: column {cfg.positive_column!r} holds an empty or non-string positive")
            queries.append(q)
            positives.append(list(plist))
            if id_col:
                ids = batch[id_col][j]
                ids = [ids] if not isinstance(ids, (list, tuple)) else ids
                if len(ids) != len(plist):
                    raise ValueError(
                        f"{where(j)}: {len(ids)} ids in {id_col!r} but {len(plist)} texts in {cfg.positive_column!r}"
                    )
                positive_ids.append([str(i) for i in ids])
        return queries, positives, positive_ids

    def _mine(self, queries: list[str], positives: list[list[str]], positive_ids: list[list[str]] | None) -> dict:
        cfg = self.config
        num_q = len(queries)
        width = max(len(p) for p in positives) if positives else 1
        pos_hash = torch.zeros(num_q, width, dtype=torch.long)
        pos_idx = torch.full((num_q, width), -1, dtype=torch.long)
        pos_mask = torch.zeros(num_q, width, dtype=torch.bool)
        for i, plist in enumerate(positives):
            for j, text in enumerate(plist):
                pos_hash[i, j] = text_hash(text)
                pos_mask[i, j] = True
        if positive_ids is not None:
            flat = [pid for ids in positive_ids for pid in ids]
            found = iter(self.corpus.positions_of_ids(flat).tolist())
            for i, ids in enumerate(positive_ids):
                for j in range(len(ids)):
                    pos_idx[i, j] = next(found)
        query_hash = torch.from_numpy(text_hashes(queries))
        seeds = [(cfg.seed * 1_000_003 + h) % (2**63) for h in query_hash.tolist()]
        k = min(len(self.corpus), cfg.range_max + width + 1)

        per_teacher = [self._mine_one(t, queries, positives, pos_idx, pos_hash, pos_mask, query_hash, seeds, k)
                       for t in range(len(self.teachers))]
        chosen = per_teacher[0] if len(per_teacher) == 1 else self._ensemble(per_teacher, seeds)

        out: dict[str, list] = {c: [] for c in OUTPUT_COLUMNS}
        for i in range(num_q):
            positions, scores, pos_scores, reason = chosen[i]
            out["short_reason"].append(reason)
            if reason:
                kind = reason.split(":", 1)[0]
                self.report.short_reasons[kind] = self.report.short_reasons.get(kind, 0) + 1
            out["negatives"].append(self.corpus.texts(positions))
            out["negative_ids"].append(self.corpus.ids(positions))
            out["negative_scores"].append([float(s) for s in scores])
            out["positive_scores"].append([float(s) for s in pos_scores])
            self.report.num_negatives_mined += len(positions)
            self.report.num_rows_short += len(positions) < cfg.num_negatives
            self.report.num_rows_empty += len(positions) == 0
            self.report.negative_scores.extend(float(s) for s in scores)
            self.report.positive_scores.extend(float(s) for s in pos_scores)
            if len(scores) and len(pos_scores):
                ref = min(pos_scores) if cfg.positive_aggregation == "min" else max(pos_scores)
                self.report.margins.extend(float(ref - s) for s in scores)
        self.report.num_queries += num_q
        return out

    def _positive_embeddings(self, t: int, positives: list[list[str]], pos_idx: torch.Tensor) -> list[np.ndarray]:
        """Corpus embeddings where the positive is in the corpus (by id or text), fresh encodings otherwise."""
        store = self.store(t)
        located: list[list[int]] = []
        missing: list[str] = []
        by_text = self.corpus.positions_of_hashes(np.array([text_hash(t) for plist in positives for t in plist], dtype=np.int64))
        flat_i = 0
        for i, plist in enumerate(positives):
            row = []
            for j, text in enumerate(plist):
                pos = int(pos_idx[i, j])
                if pos < 0:
                    pos = int(by_text[flat_i])
                flat_i += 1
                row.append(pos)
                if pos < 0:
                    missing.append(text)
            located.append(row)
        fresh = (
            self.teachers[t].encode(missing, self.config.passage_prompt, self.config.batch_size) if missing else None
        )
        flat = [p for row in located for p in row if p >= 0]
        from_store = store.get(np.asarray(flat, dtype=np.int64)) if flat else None
        result, s_i, f_i = [], 0, 0
        for row in located:
            vecs = []
            for pos in row:
                if pos >= 0:
                    vecs.append(from_store[s_i])
                    s_i += 1
                else:
                    vecs.append(fresh[f_i])
                    f_i += 1
            result.append(np.stack(vecs))
        return result

    def _mine_one(self, t, queries, positives, pos_idx, pos_hash, pos_mask, query_hash, seeds, k):
        cfg = self.config
        teacher = self.teachers[t]
        self.store(t)
        q_emb = torch.from_numpy(teacher.encode(queries, cfg.query_prompt, cfg.batch_size))
        cand_scores, cand_pos = self._search(t, q_emb, k)
        # A row sees its first range_max + own positives + 1 (the query) candidates, whatever else is in its
        # batch, so results do not depend on batch size or process count.
        beyond = torch.arange(k) >= cfg.range_max + pos_mask.sum(-1, keepdim=True) + 1
        cand_pos = cand_pos.masked_fill(beyond, -1)
        cand_scores = cand_scores.masked_fill(beyond, float("-inf"))
        pos_emb = self._positive_embeddings(t, positives, pos_idx)
        pos_scores = torch.zeros(pos_mask.shape)
        for i, emb in enumerate(pos_emb):
            pos_scores[i, : len(emb)] = torch.from_numpy(emb) @ q_emb[i]
        if self.reranker_ref is not None:
            cand_scores, cand_pos, pos_scores = self._rerank(queries, positives, cand_scores, cand_pos, pos_scores)

        cand_hash = torch.from_numpy(self.corpus.hashes)[cand_pos.clamp(min=0)]
        excluded = filters.exclusion_masks(cand_pos, cand_hash, pos_idx, pos_hash, query_hash)
        found = cand_pos >= 0
        valid = found.clone()
        for name, mask in excluded.items():
            self.report.dropped[name] += int((mask & found).sum())
            valid &= ~mask
        valid &= (valid.long().cumsum(-1) - 1) < cfg.range_max
        ref = filters.aggregate_positive_scores(pos_scores, pos_mask, cfg.positive_aggregation)
        keep = filters.method_mask(
            cfg.method, cand_scores, valid, ref, shift=cfg.shift, max_score=cfg.max_score, margin=cfg.margin, perc=cfg.perc
        )
        self.report.dropped["method_filter"] += int((valid & ~keep).sum())
        noise = None
        if cfg.sample_from_top is not None:
            noise = torch.stack(
                [torch.rand(k, generator=torch.Generator().manual_seed(s + t), dtype=torch.float64) for s in seeds]
            )
        cols = filters.select_negatives(
            cand_scores,
            keep,
            cfg.num_negatives,
            sample_from_top=cfg.sample_from_top,
            temperature=cfg.sample_temperature,
            keep_top1=cfg.keep_top1,
            noise=noise,
        )
        num_valid, num_kept = valid.sum(-1).tolist(), keep.sum(-1).tolist()
        rows = []
        for i in range(len(queries)):
            c = cols[i][cols[i] >= 0]
            reason = "" if len(c) >= cfg.num_negatives else self._short_reason(num_valid[i], num_kept[i])
            rows.append((cand_pos[i, c].tolist(), cand_scores[i, c].tolist(), pos_scores[i, pos_mask[i]].tolist(), reason))
        return rows

    def _short_reason(self, num_valid: int, num_kept: int) -> str:
        """Why a row got fewer than ``num_negatives``; the part before ':' is the report's category."""
        cfg = self.config
        if num_valid == 0:
            return "no_candidates: the corpus holds nothing but this row's positives and query"
        if num_valid < cfg.num_negatives:
            return f"few_candidates: only {num_valid} candidates besides the positives (corpus too small)"
        params = ", ".join(f"{k}={v}" for k, v in cfg.method_params().items())
        return (f"method_filter: {cfg.method} kept {num_kept} of the top {num_valid} candidates; "
                f"raise range_max" + (f" or relax {params}" if params else ""))

    def _rerank(self, queries, positives, cand_scores, cand_pos, pos_scores):
        """Replace teacher scores by cross-encoder scores for candidates and positives, batched over queries."""
        from sentence_transformers import CrossEncoder

        if self._reranker is None:
            from hf_nvr.common.models import resolve_model

            self._reranker = CrossEncoder(resolve_model(self.reranker_ref), trust_remote_code=False)
        pairs, where = [], []
        for i, q in enumerate(queries):
            for j, p in enumerate(cand_pos[i].tolist()):
                if p >= 0:
                    pairs.append((q, self.corpus.text(p)))
                    where.append((0, i, j))
            for j, text in enumerate(positives[i]):
                pairs.append((q, text))
                where.append((1, i, j))
        scores = self._reranker.predict(pairs, batch_size=self.config.rerank_batch_size, show_progress_bar=False)
        cand_scores = cand_scores.clone()
        pos_scores = pos_scores.clone()
        for (kind, i, j), s in zip(where, np.asarray(scores, dtype=np.float32).reshape(len(pairs), -1)[:, 0]):
            (pos_scores if kind else cand_scores)[i, j] = float(s)
        order = cand_scores.argsort(dim=-1, descending=True, stable=True)
        return cand_scores.gather(1, order), cand_pos.gather(1, order), pos_scores

    def _ensemble(self, per_teacher: list[list[tuple]], seeds: list[int]) -> list[tuple]:
        """Combine teachers (paper §4.2): one teacher per row, or interleaved lists (optionally de-duplicated)."""
        cfg = self.config
        num_t = len(per_teacher)
        combined = []
        for i, seed in enumerate(seeds):
            if cfg.ensemble == "cross_sample":
                pick = int(torch.randint(num_t, (1,), generator=torch.Generator().manual_seed(seed)))
                combined.append(per_teacher[pick][i])
                continue
            positions, scores, seen = [], [], set()
            for rank in range(cfg.num_negatives):
                for t in range(num_t):
                    cand, sc, _, _ = per_teacher[t][i]
                    if rank < len(cand) and len(positions) < cfg.num_negatives:
                        if cfg.ensemble == "intra_sample_dedup" and cand[rank] in seen:
                            continue
                        seen.add(cand[rank])
                        positions.append(cand[rank])
                        scores.append(sc[rank])
            reason = "" if len(positions) >= cfg.num_negatives else next(
                (per_teacher[t][i][3] for t in range(num_t) if per_teacher[t][i][3]),
                "duplicates: the teachers' lists overlap and dedup removed the repeats",
            )
            combined.append((positions, scores, per_teacher[0][i][2], reason))
        return combined

    # -- whole-dataset convenience ------------------------------------------------------------------------------

    def mine(self, dataset: Any, *, batch_size: int = 256, **map_kwargs: Any) -> Any:
        """``dataset.map(self, batched=True)`` with a fresh report, logged and stored in ``info.description``.

        Validates every row (of every split) before any encoding starts, so bad input fails in seconds, not after
        an hour. A ``DatasetDict`` is mined split by split, each split with its own report (``self.report`` ends
        as the last split's). The report counts rows mined in this process: a ``datasets`` cache hit mines
        nothing and keeps the cached rows' description; with ``num_proc > 1`` the counts stay in the workers.
        Under ``accelerate launch``/``torchrun`` the rows are split between the processes.
        """
        from datasets import Dataset, DatasetDict

        splits = dict(dataset) if isinstance(dataset, DatasetDict) else {"": dataset}
        for split in splits.values():
            if isinstance(split, Dataset):
                self.validate(split)
        mined = {name: self._mine_split(split, batch_size, map_kwargs) for name, split in splits.items()}
        return DatasetDict(mined) if isinstance(dataset, DatasetDict) else mined[""]

    def _mine_split(self, dataset: Any, batch_size: int, map_kwargs: dict) -> Any:
        from datasets import Dataset

        self.report = self._new_report()
        rank, world = process_info()
        if world > 1 and isinstance(dataset, Dataset):
            mined = self._mine_sharded(dataset, rank, world, batch_size, map_kwargs)
        else:
            mined = dataset.map(self, batched=True, batch_size=batch_size, with_indices=True, **map_kwargs)
        if self.report.num_queries:
            logger.info(self.report.summary())
            if isinstance(mined, Dataset):
                mined.info.description = self.report.to_json()
        else:
            logger.info("no row was mined in this process (a datasets cache hit, or num_proc workers)")
        return mined

    def _mine_sharded(self, dataset: Any, rank: int, world: int, batch_size: int, map_kwargs: dict) -> Any:
        """Each rank mines a contiguous slice; every rank returns the slices concatenated in order.

        The slices are handed over on disk and memory-mapped by every rank; rank 0 removes them when it exits
        (Linux keeps unlinked files readable for ranks that still map them).
        """
        import atexit
        import shutil

        from datasets import concatenate_datasets, load_from_disk

        self.encode_corpus()
        parts = self._cache_root() / "parts" / shared_run_id()
        if rank == 0:
            atexit.register(shutil.rmtree, parts, ignore_errors=True)
        rows = row_slice(len(dataset), rank, world, block=batch_size)
        parts.mkdir(parents=True, exist_ok=True)
        if len(rows):  # fewer batches than ranks leaves some ranks without rows
            mined = dataset.select(rows).map(self, batched=True, batch_size=batch_size, **map_kwargs)
            mined.save_to_disk(str(parts / f"rank{rank}"))
        (parts / f"report{rank}.json").write_text(json.dumps(self.report.state()))
        barrier()
        merged = MiningReport(**json.loads((parts / "report0.json").read_text()))
        for r in range(1, world):
            merged.merge(MiningReport(**json.loads((parts / f"report{r}.json").read_text())))
        self.report = merged
        slices = [parts / f"rank{r}" for r in range(world)]
        result = concatenate_datasets([load_from_disk(str(path)) for path in slices if path.exists()])
        barrier()
        return result

    def validate(self, dataset: Any) -> None:
        """Check columns and every row of an in-memory dataset (raises with the row number and the fix)."""
        columns = [self.config.query_column, self.config.positive_column]
        id_col = self.config.positive_id_column or next(
            (c for c in ("positive_ids", "positive_id") if c in dataset.column_names), None
        )
        if id_col and id_col in dataset.column_names:
            columns.append(id_col)
        if any(c not in dataset.column_names for c in columns[:2]):
            self._parse({c: [] for c in dataset.column_names}, None)
        self._parse(dataset.select_columns(columns).to_dict(), list(range(len(dataset))))


def _rebuild_miner(spec: str) -> HardNegativeMiner:
    return HardNegativeMiner(_spec=json.loads(spec))
