import json

import numpy as np
import pytest

from hf_nvr.mining.store import EmbeddingStore


def _encoder(calls):
    def encode(texts):
        calls.append(len(texts))
        return np.stack([[len(t), t.count("a"), 1.0] for t in texts]).astype(np.float32)
    return encode


TEXTS = [f"text {'a' * i}" for i in range(10)]


def test_build_sorts_by_length_and_maps_back(tmp_path):
    calls = []
    store = EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder(calls), shard_size=4, dtype="float32", show_progress=False)
    assert calls == [4, 4, 2]
    assert store.get(np.arange(10))[:, 0].tolist() == [len(t) for t in TEXTS]
    rows = np.concatenate([s for _, s in store.iter_shards()])
    assert rows[:, 0].tolist() == sorted((len(t) for t in TEXTS), reverse=True)


def test_second_build_encodes_nothing(tmp_path):
    EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder([]), shard_size=4, show_progress=False)
    calls = []
    EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder(calls), shard_size=4, show_progress=False)
    assert calls == []


def test_resume_after_crash_is_byte_identical(tmp_path):
    full = tmp_path / "full"
    EmbeddingStore(full, "fp").build(TEXTS, _encoder([]), shard_size=4, show_progress=False)

    crashed = tmp_path / "crashed"
    calls_so_far = []

    def dying(texts):
        calls_so_far.append(1)
        if len(calls_so_far) == 2:
            raise KeyboardInterrupt
        return _encoder([])(texts)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingStore(crashed, "fp").build(TEXTS, dying, shard_size=4, show_progress=False)
    calls = []
    EmbeddingStore(crashed, "fp").build(TEXTS, _encoder(calls), shard_size=4, show_progress=False)
    assert calls == [4, 2]
    for name in ("shard_000000.npy", "shard_000001.npy", "shard_000002.npy", "order.npy"):
        assert (crashed / name).read_bytes() == (full / name).read_bytes()


def test_corrupt_shard_is_detected_and_reencoded(tmp_path):
    EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder([]), shard_size=4, show_progress=False)
    shard = tmp_path / "shard_000001.npy"
    shard.write_bytes(shard.read_bytes()[:-8])
    calls = []
    store = EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder(calls), shard_size=4, show_progress=False)
    assert calls == [4]
    assert store.get(np.arange(10))[:, 0].tolist() == [len(t) for t in TEXTS]


def test_other_fingerprint_is_refused(tmp_path):
    EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder([]), shard_size=4, show_progress=False)
    with pytest.raises(ValueError, match="another corpus"):
        EmbeddingStore(tmp_path, "other").build(TEXTS, _encoder([]), show_progress=False)


def test_manifest_records_checksums(tmp_path):
    EmbeddingStore(tmp_path, "fp").build(TEXTS, _encoder([]), shard_size=4, show_progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] and all(len(s["sha256"]) == 64 for s in manifest["shards"].values())
