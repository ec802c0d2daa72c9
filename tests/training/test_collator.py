import torch

from hf_nvr.common.text import text_hash
from hf_nvr.training import BiEncoder, NVRetrieverCollator
from hf_nvr.training.collator import rotate_negatives


def test_rotation_walks_the_list_and_wraps():
    negs = list("abcde")
    assert rotate_negatives(negs, 2, 0) == ["a", "b"]
    assert rotate_negatives(negs, 2, 1) == ["c", "d"]
    assert rotate_negatives(negs, 2, 2) == ["e", "a"]
    assert rotate_negatives(["a"], 3, 5) == ["a"]


def test_short_rows_are_masked_not_padded_with_repeats(tiny_bert_dir):
    model = BiEncoder.from_pretrained(tiny_bert_dir)
    collator = NVRetrieverCollator(model, num_hard_negatives=3)
    batch = collator([
        {"query": "q1", "positive": "p1", "negatives": ["n1", "n2", "n3", "n4"]},
        {"query": "q2", "positive": ["p2", "p2b"], "negatives": ["m1"]},
        {"query": "q3", "positive": "p3", "negatives": []},
    ])
    assert batch["passage_valid"].tolist() == [[True] * 4, [True, True, False, False], [True, False, False, False]]
    assert batch["passage_input_ids"].shape[0] == 12
    assert batch["positive_hash"].tolist()[1] == [text_hash("p2"), text_hash("p2b")]
    assert batch["positive_hash"].tolist()[0][1] == 0
    assert batch["passage_hash"][1, 2].item() == 0
    collator.epoch = 1
    assert collator([{"query": "q", "positive": "p", "negatives": ["n1", "n2", "n3", "n4"]}])["passage_hash"][0, 1:].tolist() == [
        text_hash("n4"), text_hash("n1"), text_hash("n2")
    ]
    assert isinstance(batch["query_prompt_length"], torch.Tensor)


def test_ids_ride_along_for_id_based_masking(tiny_bert_dir):
    from hf_nvr.training.collator import _id_hash

    collator = NVRetrieverCollator(BiEncoder.from_pretrained(tiny_bert_dir), num_hard_negatives=2)
    batch = collator([{"query": "q", "positive": ["p"], "positive_ids": ["7"], "negatives": ["a", "b"], "negative_ids": ["1", "2"]},
                      {"query": "r", "positive": "s", "negatives": ["c"]}])
    assert batch["passage_id_hash"].tolist() == [[_id_hash("7"), _id_hash("1"), _id_hash("2")], [0, 0, 0]]
    assert batch["positive_id_hash"].tolist() == [[_id_hash("7")], [0]]
    assert _id_hash("7") != text_hash("7")
