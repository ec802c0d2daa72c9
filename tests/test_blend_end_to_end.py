"""A small CPU blend — SciFact mined rows plus a classification set from local data — trained end to end."""

import torch
from datasets import Dataset

from hf_nvr import BiEncoder, HardNegativeMiner, MiningConfig, NVRetrieverConfig, NVRetrieverTrainer
from hf_nvr.common.beir import load_beir
from hf_nvr.data import BlendSource, blend_info, build_blend


def test_scifact_plus_classification_blend_trains_with_homogeneous_batches(scifact_dir, tiny_st_dir, tiny_bert_dir, tmp_path):
    train = load_beir(scifact_dir, "train")
    train = train.with_corpus_subset(300, train.judged_ids())
    pairs = train.pairs()[:24]
    corpus = Dataset.from_list([{"_id": d, **v} for d, v in list(train.corpus.items())])
    mined = HardNegativeMiner(tiny_st_dir, corpus, MiningConfig(method="naive_topk", num_negatives=2, cache_dir=str(tmp_path)),
                              show_progress=False).mine(Dataset.from_list(pairs))
    mined.to_json(tmp_path / "scifact_mined.jsonl", lines=True)
    topics = ["protein folding", "heart disease", "river ecology"]
    classification = Dataset.from_list(
        [{"text": f"note {i} about {topics[i % 3]}", "label": i % 3} for i in range(24)]
    )
    blend = build_blend(
        [
            BlendSource(name="scifact", data=str(tmp_path / "scifact_mined.jsonl"), instruction="SciFact"),
            BlendSource(name="topics", data=classification, instruction="Banking77", builder="examples",
                        builder_args={"num_negatives": 2}),
        ],
        seed=3, homogeneous_batches=True, batch_size=4,
    )
    assert set(blend["dataset"]) == {"scifact", "topics"}
    assert all(p.startswith("Instruct: ") for p in blend["query_prompt"])
    assert not any(f for f, d in zip(blend["in_batch_negatives"], blend["dataset"]) if d == "topics")

    model = BiEncoder.from_pretrained(tiny_bert_dir)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    args = NVRetrieverConfig(output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, num_train_epochs=1,
                             homogeneous_batches=True, num_hard_negatives=2, use_cpu=True, save_strategy="no",
                             query_max_length=48, passage_max_length=48, learning_rate=1e-3)
    trainer = NVRetrieverTrainer(model=model, args=args, train_dataset=blend)
    for batch in trainer.get_train_dataloader():
        assert len(set(batch["row_in_batch"].tolist())) == 1
    trainer.train()
    assert any(not torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    assert blend_info(blend)["homogeneous_batches"] is True
