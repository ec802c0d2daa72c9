import torch
from datasets import Dataset

from hf_nvr.training import BiEncoder, NVRetrieverConfig, NVRetrieverTrainer
from hf_nvr.training.loss import info_nce_logits
from hf_nvr.training.model import prompt_token_count
from hf_nvr.training.sampler import HomogeneousBatchSampler


def test_per_row_prompts_are_masked_row_by_row(tiny_bert_dir):
    model = BiEncoder.from_pretrained(tiny_bert_dir, query_prompt="default: ")
    prompts = ["Instruct: find the claim\nQuery: ", None]
    batch = model.tokenize(["a claim", "another claim"], "query", prompts)
    assert batch["prompt_length"].tolist() == [prompt_token_count(model.tokenizer, prompts[0]),
                                               prompt_token_count(model.tokenizer, "default: ")]
    with torch.no_grad():
        pooled = model(**batch)
        alone = model(**model.tokenize(["a claim"], "query", prompts[:1]))
    assert torch.allclose(pooled[0], alone[0], atol=1e-5)


def test_row_in_batch_switch_masks_other_rows_for_that_query_only():
    q = torch.eye(2)
    p = torch.eye(2)[:, None, :].repeat(1, 2, 1)
    valid = torch.ones(2, 2, dtype=torch.bool)
    hashes = torch.arange(1, 5).reshape(2, 2)
    logits, _ = info_nce_logits(q, p, valid, hashes, hashes[:, :1], row_in_batch=torch.tensor([False, True]))
    assert torch.isinf(logits[0, 2:]).all() and torch.isfinite(logits[1]).all()


def test_homogeneous_sampler_chunks_are_single_dataset_and_seeded():
    names = ["a"] * 10 + ["b"] * 7 + ["c"] * 4
    sampler = HomogeneousBatchSampler(names, batch_size=3, seed=5)
    order = list(sampler)
    assert len(order) == len(sampler) == 9 + 6 + 3
    assert all(len({names[i] for i in order[k : k + 3]}) == 1 for k in range(0, len(order), 3))
    assert order == list(HomogeneousBatchSampler(names, batch_size=3, seed=5))
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_trainer_with_blended_rows(tiny_bert_dir, tmp_path):
    rows = [{"query": f"q{i}", "positive": f"p{i}", "negatives": [f"n{i}"], "dataset": "ab"[i % 2],
             "query_prompt": "Instruct: task " + "ab"[i % 2] + "\nQuery: ", "in_batch_negatives": i % 2 == 0}
            for i in range(16)]
    batches = []
    trainer = NVRetrieverTrainer(
        model=BiEncoder.from_pretrained(tiny_bert_dir),
        args=NVRetrieverConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4, use_cpu=True,
                               homogeneous_batches=True, save_strategy="no", num_hard_negatives=1),
        train_dataset=Dataset.from_list(rows),
    )
    for batch in trainer.get_train_dataloader():
        batches.append(batch["row_in_batch"].tolist())
    assert all(len(set(b)) == 1 for b in batches) and len(batches) == 4
    trainer.train()
