import pytest
import torch
from peft import LoraConfig
from sentence_transformers import SentenceTransformer
from transformers import AutoModel

from hf_nvr.training import BiEncoder
from hf_nvr.training.model import prompt_token_count

TEXTS = ["a short one", "a somewhat longer sentence about proteins and cells", "x"]


@pytest.mark.parametrize("pooling", ["mean", "cls", "last_token"])
def test_saved_model_matches_sentence_transformers_and_automodel(tiny_bert_dir, tmp_path, pooling):
    model = BiEncoder.from_pretrained(tiny_bert_dir, pooling=pooling, query_prompt="query: ", passage_prompt="passage: ")
    model.save_pretrained(tmp_path)
    st = SentenceTransformer(str(tmp_path), device="cpu")
    assert torch.allclose(st.encode_query(TEXTS, convert_to_tensor=True), model.encode_query(TEXTS, convert_to_tensor=True), atol=1e-5)
    assert torch.allclose(st.encode_document(TEXTS, convert_to_tensor=True), model.encode_document(TEXTS, convert_to_tensor=True), atol=1e-5)
    auto = AutoModel.from_pretrained(tmp_path)
    ref = AutoModel.from_pretrained(tiny_bert_dir)
    assert all(torch.equal(a, b) for a, b in zip(auto.state_dict().values(), ref.state_dict().values()))
    assert not list(tmp_path.glob("*.bin"))


def test_prompt_tokens_are_excluded_from_mean_pooling(tiny_bert_dir):
    model = BiEncoder.from_pretrained(tiny_bert_dir, query_prompt="represent this claim for retrieval: ")
    n = prompt_token_count(model.tokenizer, model.query_prompt)
    batch = model.tokenize(["some claim"], "query")
    assert int(batch["prompt_length"]) == n > 0
    with torch.no_grad():
        hidden = model.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        expected = torch.nn.functional.normalize(hidden[0, n:].mean(0), dim=-1)
        assert torch.allclose(model(**batch)[0], expected, atol=1e-6)


def test_prompt_that_fills_everything_is_an_error(tiny_bert_dir):
    model = BiEncoder.from_pretrained(tiny_bert_dir, query_prompt="word " * 40)
    model.query_max_length = 16
    with pytest.raises(ValueError, match="leaves nothing to pool"):
        model.encode_query(["claim"])


def _first_token_state(model, ids):
    with torch.no_grad():
        return model.backbone(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0, 0]


def test_bidirectional_attention_for_decoder_llms(tiny_llama_dir):
    a = torch.tensor([[5, 6, 7, 8]])
    b = torch.tensor([[5, 6, 7, 9]])
    causal = BiEncoder.from_pretrained(tiny_llama_dir)
    assert torch.allclose(_first_token_state(causal, a), _first_token_state(causal, b))
    bidi = BiEncoder.from_pretrained(tiny_llama_dir, bidirectional=True)
    assert not torch.allclose(_first_token_state(bidi, a), _first_token_state(bidi, b))
    padded = bidi.tokenize(["one two", "one two three four five"], "passage")
    assert padded["attention_mask"][0, -1] == 0 and bidi(**padded).shape == (2, 32)


def test_lora_adapter_alone_or_merged(tiny_bert_dir, tmp_path):
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0)
    model = BiEncoder.from_pretrained(tiny_bert_dir, lora=lora)
    assert model.is_peft
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if "lora_B" in name:
                p.add_(0.1)
    model.save_pretrained(tmp_path / "adapter", merge_lora=False)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    model.save_pretrained(tmp_path / "merged")
    st = SentenceTransformer(str(tmp_path / "merged"), device="cpu")
    assert torch.allclose(st.encode(TEXTS, convert_to_tensor=True), model.encode_document(TEXTS, convert_to_tensor=True), atol=1e-5)
    fresh = BiEncoder.from_pretrained(tiny_bert_dir, lora=lora)
    fresh.load_weights(tmp_path / "adapter")
    assert torch.allclose(fresh.encode_document(TEXTS, convert_to_tensor=True), model.encode_document(TEXTS, convert_to_tensor=True), atol=1e-6)


def test_saved_settings_come_back(tiny_llama_dir, tmp_path):
    model = BiEncoder.from_pretrained(tiny_llama_dir, pooling="last_token", bidirectional=True, query_prompt="Q: ")
    model.save_pretrained(tmp_path)
    again = BiEncoder.from_pretrained(str(tmp_path))
    assert (again.pooling, again.query_prompt, again.backbone.config.is_causal) == ("last_token", "Q: ", False)
    assert all(not m.is_causal for m in again.backbone.modules() if hasattr(m, "is_causal"))
    ids = torch.tensor([[5, 6, 7]])
    assert torch.allclose(_first_token_state(again, ids), _first_token_state(model, ids), atol=1e-6)
    assert torch.allclose(again.encode_query(["one text"], convert_to_tensor=True),
                          model.encode_query(["one text"], convert_to_tensor=True), atol=1e-5)
