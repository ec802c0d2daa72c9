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


_KILL_SCRIPT = """
import sys, time
import numpy as np
from hf_nvr.mining.store import EmbeddingStore
texts = [f"text {'a' * (i % 37)} {i}" for i in range(200)]
def encode(batch):
    if sys.argv[2] == "slow":
        time.sleep(0.4)
    return np.stack([[len(t), t.count("a"), sum(map(ord, t)) % 97, 1.0] for t in batch]).astype(np.float32)
EmbeddingStore(sys.argv[1], "fp").build(texts, encode, shard_size=20, show_progress=False)
"""


def test_sigkill_half_way_resumes_to_a_byte_identical_store(tmp_path):
    import subprocess
    import sys
    import time

    script = tmp_path / "build.py"
    script.write_text(_KILL_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path / "full"), "fast"], check=True, timeout=120)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "slow"])
    deadline = time.time() + 60
    while len(list((tmp_path / "killed").glob("shard_*.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = len(list((tmp_path / "killed").glob("shard_*.json")))
    assert 3 <= done < 10
    assert not json.loads((tmp_path / "killed" / "manifest.json").read_text())["complete"]
    subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), "fast"], check=True, timeout=120)
    full = sorted(p.name for p in (tmp_path / "full").iterdir())
    assert full == sorted(p.name for p in (tmp_path / "killed").iterdir())
    for name in full:
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes(), name


def test_write_errors_name_the_path(tmp_path):
    from hf_nvr.mining.store import atomic_write_bytes

    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OSError, match="not_a_dir"):
        EmbeddingStore(blocker / "store", "fp").build(TEXTS, _encoder([]), show_progress=False)
    with pytest.raises(OSError, match=r"could not write .*missing/file\.npy"):
        atomic_write_bytes(tmp_path / "missing" / "file.npy", b"data")


def test_disk_full_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    from hf_nvr.mining import store as store_module

    target = tmp_path / "manifest.json"
    store_module.atomic_write_bytes(target, b"old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", full_disk)  # a full disk cannot be made here without root mounts
    with pytest.raises(OSError, match=r"could not write .*manifest\.json: No space left on device"):
        store_module.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left behind
