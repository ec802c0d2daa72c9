"""Every bad input fails fast with a ValueError that names the dataset, the column, the row and the fix."""

import pytest
from conftest import mined_rows
from datasets import Dataset

from hf_nvr.data import BlendSource, build_blend, build_example_pairs, build_label_pairs, build_sts_pairs


class _Exploding:
    """A teacher that must never be touched: bad input has to fail before any mining starts."""

    def __getattr__(self, name):
        raise AssertionError("mining started before validation")


def test_blend_source_missing_a_column():
    pairs = Dataset.from_dict({"query": ["q"], "positive": ["p"]})
    with pytest.raises(ValueError, match=r"blend source 'nq' has no column 'negatives'.*mine it first.*require_negatives"):
        build_blend([BlendSource(name="nq", data=pairs)])
    with pytest.raises(ValueError, match=r"'raw' has no column 'query'.*columns:"):
        build_blend([BlendSource(name="raw", data=Dataset.from_dict({"anchor": ["q"], "positive": ["p"], "negatives": [["n"]]}))])
    with pytest.raises(ValueError, match=r"columns maps 'question'"):
        build_blend([BlendSource(name="m", data=pairs, columns={"question": "query"})])


def test_blend_rows_are_checked():
    rows = mined_rows("a", 3).to_list()
    rows[2]["query"] = "  "
    with pytest.raises(ValueError, match=r"blend source 'a', column 'query', row 2: empty"):
        build_blend([BlendSource(name="a", data=Dataset.from_list(rows))])
    rows = mined_rows("a", 3).to_list()
    rows[1]["negatives"] = ["ok", ""]
    with pytest.raises(ValueError, match=r"column 'negatives', row 1"):
        build_blend([BlendSource(name="a", data=Dataset.from_list(rows))])
    rows = mined_rows("a", 3).to_list()
    rows[0]["negatives"] = []
    with pytest.raises(ValueError, match=r"row 0: no negatives and in_batch_negatives is False"):
        build_blend([BlendSource(name="a", data=Dataset.from_list(rows), in_batch_negatives=False)])
    with pytest.raises(ValueError, match=r"'e' has no rows"):
        build_blend([BlendSource(name="e", data=mined_rows("e", 1).select([]))])


def test_unknown_instruction_name_fails_before_loading():
    with pytest.raises(ValueError, match=r"blend source 'x': unknown instruction name 'msmarcoo'.*MSMARCO"):
        build_blend([BlendSource(name="x", data="/nonexistent/never/loaded", instruction="msmarcoo")])


def test_blend_configuration_errors():
    a = BlendSource(name="a", data=mined_rows("a", 4))
    with pytest.raises(ValueError, match="used twice"):
        build_blend([a, a])
    with pytest.raises(ValueError, match=r"missing: \['a'\]"):
        build_blend([a], proportions={"b": 1})
    with pytest.raises(ValueError, match="have no weight"):
        build_blend([a], proportions="weight")
    with pytest.raises(ValueError, match="batch_size"):
        build_blend([a], batch_size=0)
    with pytest.raises(ValueError, match="fewer than batch_size"):
        build_blend([a], homogeneous_batches=True, batch_size=8)
    with pytest.raises(ValueError, match="size must be a positive integer"):
        BlendSource(name="a", data=[], size=0)
    with pytest.raises(ValueError, match="builder 'sorting' is unknown"):
        BlendSource(name="a", data=[], builder="sorting")
    with pytest.raises(ValueError, match=r"has no argument 'num_negative'; did you mean 'num_negatives'"):
        build_blend([BlendSource(name="c", data=[], builder="examples", builder_args={"num_negative": 2})])
    with pytest.raises(ValueError, match=r"unknown key 'instuction'; did you mean 'instruction'"):
        build_blend([{"name": "a", "data": mined_rows("a", 4), "instuction": "NQ"}])


def test_blend_load_failure_says_what_and_where(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # fail at once instead of retrying the Hub
    with pytest.raises(RuntimeError, match=r"blend source 'hub': could not load 'no-such-org/no-such-dataset'.*Hub access"):
        build_blend([BlendSource(name="hub", data="no-such-org/no-such-dataset")])
    with pytest.raises(RuntimeError, match=r"blend source 'file': could not load 'missing/rows.jsonl'"):
        build_blend([BlendSource(name="file", data="missing/rows.jsonl")])


def test_label_column_with_one_class(multiclass, binary):
    one = multiclass.filter(lambda r: r["label"] == "card")
    with pytest.raises(ValueError, match=r"dataset 'intents', column 'label' has 1 class \(only 'card'\)"):
        build_example_pairs(one, name="intents")
    with pytest.raises(ValueError, match=r"column 'label' has 1 class"):
        build_label_pairs(binary.filter(lambda r: r["label"] == 0))
    with pytest.raises(ValueError, match=r"dataset 'intents', column 'label' has 1 class"):
        build_blend([BlendSource(name="intents", data=one, builder="examples")])


def test_classification_inputs(multiclass):
    with pytest.raises(ValueError, match=r"dataset 'd' has no column 'label'.*label_column="):
        build_example_pairs(multiclass.rename_column("label", "intent"), name="d")
    bad = multiclass.to_list()
    bad[4]["label"] = None
    with pytest.raises(ValueError, match=r"dataset 'd', row 4, column 'label': label is missing"):
        build_example_pairs(Dataset.from_list(bad), name="d")
    bad = multiclass.to_list()
    bad[3]["text"] = ""
    with pytest.raises(ValueError, match=r"row 3, column 'text': empty"):
        build_label_pairs(Dataset.from_list(bad), name="d")
    ints = Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    with pytest.raises(ValueError, match="ids without names; pass labels="):
        build_label_pairs(ints)
    with pytest.raises(ValueError, match=r"row 1, column 'label': label 1 has no text"):
        build_label_pairs(ints, labels={0: "zero"})
    with pytest.raises(ValueError, match="share the text"):
        build_label_pairs(ints, labels=["same", "same"])
    with pytest.raises(ValueError, match="no label has two distinct examples"):
        build_example_pairs(ints)


def test_sts_score_outside_scale_fails_before_mining(sts):
    rows = sts.to_list()
    rows[3]["score"] = 5.5
    with pytest.raises(ValueError, match=r"dataset 'STSB', row 3, column 'score': score 5.5 is outside the scale \[0.0, 5.0\].*scale="):
        build_sts_pairs(Dataset.from_list(rows), teacher=_Exploding(), name="STSB")
    with pytest.raises(ValueError, match=r"row 3.*outside"):
        build_blend([BlendSource(name="STSB", data=Dataset.from_list(rows), builder="sts",
                                 builder_args={"teacher": _Exploding()})])
    rows[3]["score"] = float("nan")
    with pytest.raises(ValueError, match="not a finite number"):
        build_sts_pairs(Dataset.from_list(rows))
    with pytest.raises(ValueError, match=r"threshold 4\.0 lies outside"):
        build_sts_pairs(sts, scale=(0, 3))
    with pytest.raises(ValueError, match="no pair of distinct sentences scores >= 5"):
        build_sts_pairs(sts, threshold=5.0)
    with pytest.raises(ValueError, match=r"has no column 'score'"):
        build_sts_pairs(sts.rename_column("score", "similarity"))


def test_a_bad_source_stops_the_blend_before_another_source_mines(sts):
    bad = Dataset.from_dict({"query": ["q"], "positive": [""], "negatives": [["n"]]})
    with pytest.raises(ValueError, match=r"'bad', column 'positive', row 0"):
        build_blend([
            BlendSource(name="sts", data=sts, builder="sts", builder_args={"teacher": _Exploding()}),
            BlendSource(name="bad", data=bad),
        ])
