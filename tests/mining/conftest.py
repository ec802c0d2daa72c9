"""Mining fixtures."""

from __future__ import annotations

import faiss
import pytest


def _shards_like_faiss_gpu(index: faiss.Index, parts: int) -> faiss.Index:
    """What faiss's ``ToGpuClonerMultiple::clone_Index_to_shards`` builds (GpuCloner.cpp), with CPU sub-indexes:
    a flat index is split in ranges under successive ids (which take a single ``add``), an IVF index by id
    modulo (the default ``shard_type``) with the ids kept."""
    flat = isinstance(index, faiss.IndexFlat)
    group = faiss.IndexShards(index.d, False, flat)
    for i in range(parts):
        sub = faiss.clone_index(index)
        sub.reset()
        if flat:
            i0, i1 = index.ntotal * i // parts, index.ntotal * (i + 1) // parts
            sub.add(faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(-1, index.d)[i0:i1])
        else:
            index.copy_subset_to(sub, faiss.InvertedLists.SUBSET_TYPE_ID_MOD, parts, i)
        group.add_shard(sub)
    return group


@pytest.fixture
def stand_in_gpus(monkeypatch) -> list[tuple]:
    """Two "GPUs" for faiss-cpu: faiss-gpu cannot run on this machine, so its cloner entry points are replaced by
    what they build, with CPU parts (``IndexReplicas`` of clones, ``IndexShards``), and every call is recorded."""
    calls: list[tuple] = []

    def to_gpu(resources, device, index, co=None):
        calls.append(("one", device, index.ntotal, co.useFloat16))
        return faiss.clone_index(index)

    def to_gpus_list(index, co=None, gpus=None, ngpu=-1):
        calls.append(("shard" if co.shard else "replicate", tuple(gpus), index.ntotal, co.useFloat16))
        if co.shard:
            return _shards_like_faiss_gpu(index, len(gpus))
        group = faiss.IndexReplicas(index.d)
        for _ in gpus:
            group.addIndex(faiss.clone_index(index))
        return group

    class ClonerOptions:  # slots: a misspelt option fails here as it does on faiss's SWIG object
        __slots__ = ("useFloat16",)

        def __init__(self) -> None:
            self.useFloat16 = False

    class MultipleClonerOptions(ClonerOptions):
        __slots__ = ("shard",)

        def __init__(self) -> None:
            super().__init__()
            self.shard = False

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 2)
    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "GpuClonerOptions", ClonerOptions, raising=False)
    monkeypatch.setattr(faiss, "GpuMultipleClonerOptions", MultipleClonerOptions, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpus_list", to_gpus_list)
    return calls
