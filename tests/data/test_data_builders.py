from collections import Counter

from datasets import Dataset

from hf_nvr import MiningConfig
from hf_nvr.common.text import normalize_text
from hf_nvr.data import (
    build_example_pairs,
    build_label_pairs,
    build_sts_pairs,
    flatten_clustering,
    sts_positive_pairs,
)

# -- example-based rows (multi-class classification, clustering) -----------------------------------------------------


def test_example_pairs_positive_shares_the_label_negatives_do_not(multiclass):
    label_of = dict(zip(multiclass["text"], multiclass["label"]))
    rows = build_example_pairs(multiclass, num_negatives=3, seed=0)
    assert len(rows) == len(multiclass)
    assert set(rows.column_names) == {"query", "positive", "negatives", "label", "in_batch_negatives"}
    for row in rows:
        assert row["positive"] != row["query"] and label_of[row["positive"]] == label_of[row["query"]] == row["label"]
        assert len(row["negatives"]) == 3
        negative_labels = [label_of[n] for n in row["negatives"]]
        assert row["label"] not in negative_labels
        assert len(set(negative_labels)) == 3  # enough other labels: one example of each
        assert row["in_batch_negatives"] is False


def test_example_pairs_are_seeded(multiclass):
    a = build_example_pairs(multiclass, num_negatives=2, seed=7).to_list()
    assert a == build_example_pairs(multiclass, num_negatives=2, seed=7).to_list()
    assert a != build_example_pairs(multiclass, num_negatives=2, seed=8).to_list()


def test_example_pairs_with_more_negatives_than_other_labels_reuse_labels(multiclass):
    rows = build_example_pairs(multiclass, num_negatives=7, seed=0)
    # 3 other labels × 3 examples = 9 candidates: 7 distinct negatives, labels repeated
    assert all(len(n) == 7 and len(set(n)) == 7 for n in rows["negatives"])


def test_example_pairs_skip_singletons_and_duplicates():
    data = Dataset.from_dict({"text": ["a1", "a2", "b1", "c1", "c1 "], "label": [0, 0, 1, 2, 2]})
    rows = build_example_pairs(data, num_negatives=1, seed=0)
    # b1 has no partner, c1/"c1 " are the same text once normalised
    assert sorted(rows["query"]) == ["a1", "a2"]
    assert all(normalize_text(n) not in {"a1", "a2"} for negs in rows["negatives"] for n in negs)


def test_clustering_layout_is_flattened(multiclass):
    nested = Dataset.from_dict({"sentences": [multiclass["text"][:6], multiclass["text"][6:]],
                                "labels": [multiclass["label"][:6], multiclass["label"][6:]]})
    flat = flatten_clustering(nested)
    assert flat["text"] == multiclass["text"] and flat["label"] == multiclass["label"]
    rows = build_example_pairs(nested, text_column="sentences", label_column="labels", num_negatives=2, seed=1)
    assert len(rows) == 12


# -- label-text rows (binary / few-label classification) --------------------------------------------------------------


def test_label_pairs_use_classlabel_names(binary):
    rows = build_label_pairs(binary, seed=0)
    assert rows["positive"] == ["negative", "positive", "negative", "positive", "negative"]
    assert all(n == [("positive" if p == "negative" else "negative")] for p, n in zip(rows["positive"], rows["negatives"]))
    assert rows["in_batch_negatives"] == [False] * 5


def test_label_pairs_with_a_list_or_mapping(binary):
    listed = build_label_pairs(binary, labels=["bad movie", "good movie"])
    assert listed["positive"][:2] == ["bad movie", "good movie"]
    data = Dataset.from_dict({"text": ["x", "y", "z"], "label": ["pos", "neg", "neu"]})
    mapping = {"pos": "positive", "neg": "negative", "neu": "neutral"}
    rows = build_label_pairs(data, labels=mapping, num_negatives=1, seed=3)
    assert rows["positive"] == ["positive", "negative", "neutral"]
    assert all(len(n) == 1 and n[0] != p and n[0] in mapping.values() for p, n in zip(rows["positive"], rows["negatives"]))
    full = build_label_pairs(data, labels=mapping, seed=3)
    assert all(sorted([p, *n]) == sorted(mapping.values()) for p, n in zip(full["positive"], full["negatives"]))
    assert full.to_list() == build_label_pairs(data, labels=mapping, seed=3).to_list()


def test_label_pairs_with_string_labels_need_no_names():
    data = Dataset.from_dict({"text": ["t1", "t2"], "label_text": ["toxic", "not toxic"]})
    rows = build_label_pairs(data, label_column="label_text")
    assert rows["positive"] == ["toxic", "not toxic"] and rows["negatives"] == [["not toxic"], ["toxic"]]


# -- STS ----------------------------------------------------------------------------------------------------------------


def test_sts_pairs_both_directions_and_threshold(sts):
    rows, corpus = sts_positive_pairs(sts)
    pairs = {(r["query"], r["positive"][0]) for r in rows}
    expected = {("A man is playing a guitar.", "A man plays the guitar."),
                ("A woman is slicing an onion.", "Someone cuts an onion."),
                ("A man is playing a guitar.", "A person strums a guitar.")}
    assert pairs == expected | {(b, a) for a, b in expected}
    assert len(rows) == 6
    # the other paraphrase of the query rides along as a known positive (false-negative protection)
    guitar = [r for r in rows if r["query"] == "A man is playing a guitar."]
    assert sorted(len(r["positive"]) for r in guitar) == [2, 2]
    assert len(corpus) == len(set(sts["sentence1"]) | set(sts["sentence2"]))
    assert all(corpus[int(i[1:])] == t for r in rows for i, t in zip(r["positive_ids"], r["positive"]))
    lower, _ = sts_positive_pairs(sts, threshold=3.5)
    assert len(lower) == 8  # the 3.9 pair joins, both ways
    assert ("Children play soccer.", "Kids are playing football.") in {(r["query"], r["positive"][0]) for r in lower}


def test_sts_without_teacher_gives_in_batch_rows(sts):
    rows = build_sts_pairs(sts, instruction="Retrieve semantically similar text")
    assert rows["negatives"] == [[]] * len(rows) and all(rows["in_batch_negatives"])
    assert set(rows["query_prompt"]) == set(rows["passage_prompt"]) == {
        "Instruct: Retrieve semantically similar text\nQuery: "
    }


def test_sts_negatives_are_mined_with_the_instruction_on_both_sides(sts, tiny_st_dir, tmp_path):
    config = MiningConfig(cache_dir=str(tmp_path), num_negatives=2, range_max=8, perc=1.0, batch_size=8)
    rows = build_sts_pairs(sts, teacher=tiny_st_dir, mining_config=config, instruction="Retrieve semantically similar text")
    assert {"negatives", "negative_ids", "negative_scores", "positive_scores"} <= set(rows.column_names)
    corpus = set(sts["sentence1"]) | set(sts["sentence2"])
    for row in rows:
        assert row["negatives"], "the tiny corpus still has candidates"
        assert set(row["negatives"]) <= corpus
        banned = {normalize_text(t) for t in [row["query"], *row["positive"]]}
        assert not banned & {normalize_text(n) for n in row["negatives"]}
    again = build_sts_pairs(sts, teacher=tiny_st_dir, mining_config=config, instruction="Retrieve semantically similar text")
    assert again["negatives"] == rows["negatives"]
    no_prompt = build_sts_pairs(sts, teacher=tiny_st_dir, mining_config=config)
    # the prompt changes the teacher's scores (it encodes both sides with it)
    assert no_prompt["positive_scores"] != rows["positive_scores"]
    assert Counter(rows["in_batch_negatives"]) == {True: len(rows)}
