import pytest

from hf_nvr.common.models import resolve_model


def test_local_paths_pass_through(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_offline_copy_of_minilm(monkeypatch, minilm_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == minilm_path


def test_unreachable_hub_falls_back_to_the_offline_copy(minilm_path):
    # HF_ENDPOINT points at a port nothing listens on unless the hub_server fixture runs: a real connection error.
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == minilm_path


def test_unknown_model_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="cannot load model 'nobody/nothing'"):
        resolve_model("nobody/nothing")
