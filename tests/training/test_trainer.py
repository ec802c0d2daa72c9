import pytest
import torch
from datasets import Dataset
from transformers import TrainerCallback

from hf_nvr.training import BiEncoder, NVRetrieverConfig, NVRetrieverTrainer


def _rows(n=8):
    return [
        {"query": f"question {i} about topic {i % 3}", "positive": f"answer {i} on topic {i % 3}",
         "negatives": [f"wrong {i} {j}" for j in range(1 + i % 4)], "extra": i}
        for i in range(n)
    ]


def _args(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=2, learning_rate=1e-3,
                use_cpu=True, seed=13, data_seed=13, save_strategy="steps", save_steps=1, logging_steps=1,
                query_max_length=16, passage_max_length=16, num_hard_negatives=2, temperature=0.05)
    return NVRetrieverConfig(**{**base, **kw})


class _KillAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _weights(model):
    return {k: v.clone() for k, v in model.backbone.state_dict().items()}


def test_training_lowers_loss_and_changes_weights(tiny_bert_dir, tmp_path):
    model = BiEncoder.from_pretrained(tiny_bert_dir)
    before = _weights(model)
    trainer = NVRetrieverTrainer(model=model, args=_args(tmp_path, num_train_epochs=6, save_strategy="no"),
                                 train_dataset=Dataset.from_list(_rows()))
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses[-1] < losses[0]
    assert any(not torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


def test_resume_after_kill_ends_with_identical_weights(tiny_bert_dir, tmp_path):
    ds = Dataset.from_list(_rows())
    full = BiEncoder.from_pretrained(tiny_bert_dir)
    NVRetrieverTrainer(model=full, args=_args(tmp_path / "full"), train_dataset=ds).train()

    killed = BiEncoder.from_pretrained(tiny_bert_dir)
    trainer = NVRetrieverTrainer(model=killed, args=_args(tmp_path / "run"), train_dataset=ds, callbacks=[_KillAt(3)])
    trainer.train()
    assert trainer.state.global_step == 3

    resumed = BiEncoder.from_pretrained(tiny_bert_dir)
    NVRetrieverTrainer(model=resumed, args=_args(tmp_path / "run"), train_dataset=ds).train(resume_from_checkpoint=True)
    for k, v in full.backbone.state_dict().items():
        assert torch.allclose(v, resumed.backbone.state_dict()[k], atol=1e-6), k


def test_evaluator_metrics_join_evaluation(tiny_bert_dir, tmp_path):
    calls = []

    def evaluator(model):
        calls.append(type(model).__name__)
        return {"ndcg_at_10": 0.5}

    trainer = NVRetrieverTrainer(model=BiEncoder.from_pretrained(tiny_bert_dir), args=_args(tmp_path, save_strategy="no"),
                                 train_dataset=Dataset.from_list(_rows()), eval_dataset=Dataset.from_list(_rows(4)),
                                 evaluator=evaluator)
    metrics = trainer.evaluate()
    assert metrics["eval_ndcg_at_10"] == 0.5 and "eval_loss" in metrics and calls == ["BiEncoder"]


def test_final_save_loads_in_sentence_transformers(tiny_bert_dir, tmp_path):
    from sentence_transformers import SentenceTransformer

    model = BiEncoder.from_pretrained(tiny_bert_dir)
    trainer = NVRetrieverTrainer(model=model, args=_args(tmp_path, save_strategy="no", query_prompt="q: "),
                                 train_dataset=Dataset.from_list(_rows()))
    trainer.train()
    trainer.save_model(str(tmp_path / "final"))
    st = SentenceTransformer(str(tmp_path / "final"), device="cpu")
    assert st.prompts["query"] == "q: "
    assert torch.allclose(st.encode_query(["hi there"], convert_to_tensor=True),
                          model.encode_query(["hi there"], convert_to_tensor=True), atol=1e-5)


@pytest.mark.parametrize(
    ("rows", "kwargs", "match"),
    [
        ([{"question": "q", "positive": "p"}], {}, "has no 'query' column"),
        ([{"query": "q", "positive": "p", "negatives": []}], {"in_batch_negatives": False}, "gives no negatives at all"),
        ([{"query": "q", "positive": "p"}], {"in_batch_negatives": False}, "gives no negatives at all"),
    ],
)
def test_bad_training_input(tiny_bert_dir, tmp_path, rows, kwargs, match):
    with pytest.raises(ValueError, match=match):
        NVRetrieverTrainer(model=BiEncoder.from_pretrained(tiny_bert_dir), args=_args(tmp_path, **kwargs),
                           train_dataset=Dataset.from_list(rows))


def test_bad_config(tmp_path):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        _args(tmp_path, temperature=0.0)
    with pytest.raises(ValueError, match="cross_device_negatives needs in_batch_negatives"):
        _args(tmp_path, cross_device_negatives=True, in_batch_negatives=False)


def test_push_to_hub_at_the_end_of_training(tiny_bert_dir, tmp_path, hub_server):
    from huggingface_hub import HfApi
    from sentence_transformers import SentenceTransformer

    model = BiEncoder.from_pretrained(tiny_bert_dir)
    args = _args(tmp_path / "out", save_strategy="no", num_train_epochs=1, push_to_hub=True, hub_model_id="tester/tiny-nvr")
    NVRetrieverTrainer(model=model, args=args, train_dataset=Dataset.from_list(_rows())).train()
    info = HfApi().model_info("tester/tiny-nvr")
    assert info.card_data.library_name == "sentence-transformers"
    loaded = SentenceTransformer("tester/tiny-nvr", device="cpu")
    assert torch.allclose(loaded.encode(["x y"], convert_to_tensor=True), model.encode_document(["x y"], convert_to_tensor=True), atol=1e-5)


def test_prompt_that_fills_the_length_limit_is_refused_before_training(tiny_bert_dir, tmp_path):
    model = BiEncoder.from_pretrained(tiny_bert_dir)
    with pytest.raises(ValueError, match="every token would be an instruction token"):
        NVRetrieverTrainer(model=model, args=_args(tmp_path, query_prompt="word " * 20), train_dataset=Dataset.from_list(_rows()))


def test_length_grouped_batching(tiny_bert_dir, tmp_path):
    trainer = NVRetrieverTrainer(model=BiEncoder.from_pretrained(tiny_bert_dir),
                                 args=_args(tmp_path, save_strategy="no", train_sampling_strategy="group_by_length"),
                                 train_dataset=Dataset.from_list(_rows()))
    assert "length" in trainer.train_dataset.column_names
    trainer.train()
