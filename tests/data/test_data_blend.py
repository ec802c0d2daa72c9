from collections import Counter

import pytest
from conftest import mined_rows
from datasets import Dataset

from hf_nvr.data import BlendSource, BlendSpec, blend_info, build_blend, get_instruction, load_blend


def _sources(**kw):
    return [
        BlendSource(name="a", data=mined_rows("a", 40), instruction="MSMARCO", **kw),
        BlendSource(name="b", data=mined_rows("b", 20), instruction="Given a claim, find counter-arguments", **kw),
        BlendSource(name="c", data=mined_rows("c", 10), **kw),
    ]


def test_rows_follow_the_contract_with_per_row_columns():
    blend = build_blend(_sources(), seed=0)
    assert len(blend) == 70
    assert set(blend.column_names) == {"query", "positive", "negatives", "query_prompt", "passage_prompt", "dataset",
                                       "in_batch_negatives"}
    row = next(r for r in blend if r["dataset"] == "a")
    assert row["query"].startswith("a query") and row["positive"] == [row["query"].replace("query", "positive")]
    assert row["query_prompt"] == f"Instruct: {get_instruction('MSMARCO')}\nQuery: "
    assert row["passage_prompt"] is None and row["in_batch_negatives"] is True
    b = next(r for r in blend if r["dataset"] == "b")
    assert b["query_prompt"] == "Instruct: Given a claim, find counter-arguments\nQuery: "
    assert next(r for r in blend if r["dataset"] == "c")["query_prompt"] is None  # the model's default prompt
    assert Counter(blend["dataset"]) == {"a": 40, "b": 20, "c": 10}


def test_sizes_and_weights_set_the_proportions():
    sized = build_blend(
        [BlendSource(name="a", data=mined_rows("a", 40), size=10), BlendSource(name="b", data=mined_rows("b", 20), size=30)],
        seed=1,
    )
    counts = Counter(sized["dataset"])
    assert counts == {"a": 10, "b": 30}
    b_queries = [q for q, d in zip(sized["query"], sized["dataset"]) if d == "b"]
    assert len(set(b_queries)) == 20  # upsampled: every row once, then 10 repeats
    weighted = build_blend(_sources(), seed=1, proportions={"a": 1, "b": 1, "c": 2}, num_rows=100)
    assert Counter(weighted["dataset"]) == {"a": 25, "b": 25, "c": 50}
    listed = build_blend(_sources(), seed=1, proportions=[3, 1, 0])
    assert Counter(listed["dataset"]) == {"a": 53, "b": 17}  # 70 rows split 3:1 by largest remainder
    scaled = build_blend(_sources(), seed=1, num_rows=7)
    assert Counter(scaled["dataset"]) == {"a": 4, "b": 2, "c": 1}


def test_blend_is_deterministic_under_seed_and_mixed_without_homogeneity():
    a = build_blend(_sources(), seed=3)
    assert a.to_list() == build_blend(_sources(), seed=3).to_list()
    assert a["query"] != build_blend(_sources(), seed=4)["query"]
    runs = sum(1 for i in range(1, len(a)) if a["dataset"][i] != a["dataset"][i - 1])
    assert runs > 20  # well mixed, not source blocks
    info = blend_info(a)
    assert info["homogeneous_batches"] is False and info["num_rows"] == 70
    assert [s["rows_drawn"] for s in info["sources"]] == [40, 20, 10]


def test_source_rows_do_not_depend_on_other_sources():
    one = build_blend([BlendSource(name="a", data=mined_rows("a", 40), size=15)], seed=5)
    two = build_blend([BlendSource(name="z", data=mined_rows("z", 9)), BlendSource(name="a", data=mined_rows("a", 40), size=15)], seed=5)
    assert sorted(one["query"]) == sorted(q for q, d in zip(two["query"], two["dataset"]) if d == "a")


@pytest.mark.parametrize("batch_size", [4, 8])
def test_homogeneous_batches(batch_size):
    blend = build_blend(_sources(), seed=2, homogeneous_batches=True, batch_size=batch_size)
    names = blend["dataset"]
    assert len(names) % batch_size == 0
    chunks = [names[i : i + batch_size] for i in range(0, len(names), batch_size)]
    assert all(len(set(chunk)) == 1 for chunk in chunks)
    assert len({tuple(c) for c in chunks}) == 3 and chunks != sorted(chunks)  # batches of all sources, shuffled
    info = blend_info(blend)
    assert info["homogeneous_batches"] is True and info["batch_size"] == batch_size
    assert info["dropped_incomplete_batch_rows"] == sum(n % batch_size for n in (40, 20, 10))
    assert blend.to_list() == build_blend(_sources(), seed=2, homogeneous_batches=True, batch_size=batch_size).to_list()


def test_builders_in_a_blend_set_in_batch_flags_and_symmetric_prompts(multiclass, sts):
    blend = build_blend(
        [
            BlendSource(name="retrieval", data=mined_rows("r", 12), instruction="NQ"),
            BlendSource(name="intents", data=multiclass, instruction="Banking77", builder="examples",
                        builder_args={"num_negatives": 2}),
            BlendSource(name="sts", data=sts, instruction="STSBenchmark", builder="sts"),
        ],
        seed=0,
    )
    by_source = {name: [r for r in blend if r["dataset"] == name] for name in ("retrieval", "intents", "sts")}
    assert all(r["in_batch_negatives"] for r in by_source["retrieval"] + by_source["sts"])
    assert not any(r["in_batch_negatives"] for r in by_source["intents"])
    assert all(r["passage_prompt"] == r["query_prompt"] for r in by_source["sts"])
    assert all(r["passage_prompt"] is None for r in by_source["intents"])
    assert len(by_source["sts"][0]["positive"]) >= 1 and len(by_source["intents"][0]["negatives"]) == 2


def test_optional_mined_columns_survive_only_when_every_source_has_them():
    scored = mined_rows("s", 5).map(lambda r: {"negative_ids": ["1", "2"], "negative_scores": [0.5, 0.4],
                                               "positive_scores": [0.9]})
    both = build_blend([BlendSource(name="s", data=scored), BlendSource(name="t", data=scored)], seed=0)
    assert {"negative_ids", "negative_scores", "positive_scores"} <= set(both.column_names)
    mixed = build_blend([BlendSource(name="s", data=scored), BlendSource(name="u", data=mined_rows("u", 3))], seed=0)
    assert "negative_scores" not in mixed.column_names


def test_a_mined_source_whose_rows_all_came_up_empty_still_blends():
    empty = Dataset.from_list([{"query": f"q{i}", "positive": [f"p{i}"], "negatives": [], "negative_ids": [],
                                "negative_scores": [], "positive_scores": [0.5]} for i in range(3)])
    assert str(empty.features["negatives"].feature) == "Value('null')"  # what arrow infers for all-empty lists
    blend = build_blend([BlendSource(name="e", data=empty), BlendSource(name="s", data=mined_rows("s", 3))], seed=0)
    rows = {r["query"]: r for r in blend}
    assert rows["q0"]["negatives"] == [] and rows["q0"]["dataset"] == "e"
    assert str(blend.features["negatives"].feature) == "Value('string')"


def test_columns_mapping_and_local_files(tmp_path):
    raw = Dataset.from_dict({"anchor": ["q1", "q2"], "answer": ["p1", "p2"], "hard": [["n1"], ["n2"]]})
    raw.to_json(tmp_path / "rows.jsonl")
    raw.save_to_disk(tmp_path / "saved")
    mapping = {"anchor": "query", "answer": "positive", "hard": "negatives"}
    for data in (str(tmp_path / "rows.jsonl"), str(tmp_path / "saved")):
        blend = build_blend([BlendSource(name="x", data=data, columns=mapping)], seed=0)
        assert sorted(blend["query"]) == ["q1", "q2"] and sorted(blend["negatives"]) == [["n1"], ["n2"]]


def test_in_batch_only_sources_and_single_string_negatives():
    pairs = Dataset.from_dict({"query": ["q1", "q2"], "positive": ["p1", "p2"]})
    blend = build_blend([BlendSource(name="p", data=pairs, require_negatives=False)], seed=0)
    assert blend["negatives"] == [[], []]
    triplets = pairs.add_column("negatives", ["n1", "n2"])
    assert sorted(build_blend([BlendSource(name="t", data=triplets)], seed=0)["negatives"]) == [["n1"], ["n2"]]


def test_yaml_round_trip(tmp_path, multiclass):
    multiclass.save_to_disk(tmp_path / "intents")
    mined_rows("m", 16).save_to_disk(tmp_path / "mined")
    (tmp_path / "blend.yaml").write_text(
        f"""
name: tiny
seed: 9
homogeneous_batches: true
batch_size: 4
instructions: {{MyTask: Find my passages}}
sources:
  - {{name: mined, data: {tmp_path / 'mined'}, instruction: mytask, size: 8, note: approximate}}
  - name: intents
    data: {tmp_path / 'intents'}
    instruction: Banking77
    builder: examples
    builder_args: {{num_negatives: 2}}
"""
    )
    spec = load_blend(tmp_path / "blend.yaml")
    assert isinstance(spec, BlendSpec) and spec.name == "tiny" and spec.sources[0].size == 8
    blend = build_blend(spec)
    assert Counter(blend["dataset"]) == {"mined": 8, "intents": 12}
    assert blend_info(blend)["seed"] == 9 and blend_info(blend)["sources"][0]["note"] == "approximate"
    assert {p for p, d in zip(blend["query_prompt"], blend["dataset"]) if d == "mined"} == {
        "Instruct: Find my passages\nQuery: "
    }
    (tmp_path / "list.yaml").write_text(f"- {{name: mined, data: {tmp_path / 'mined'}}}\n")
    assert load_blend(tmp_path / "list.yaml").name == "list"


@pytest.mark.parametrize("stage", ["nv_retriever_v1_stage1", "nv_retriever_v1_stage2"])
def test_shipped_recipes_parse_and_name_known_instructions(stage):
    from hf_nvr.data.blend import _plan, _shares

    spec = load_blend(stage)
    assert spec.name == stage and spec.homogeneous_batches
    _shares(spec, spec.proportions)
    plans = _plan(spec, spec.seed, spec.instructions)  # resolves every instruction name and builder argument
    assert all(p.instruction for p in plans)
    if stage.endswith("2"):
        assert {p.source.name for p in plans if p.symmetric} == {"STS12", "STS22", "STSBenchmark"}


def test_trainer_collator_consumes_blended_rows(tiny_bert_dir, multiclass):
    """The contract end to end: per-row prompts and in-batch switches reach the collated batch."""
    from hf_nvr.training import BiEncoder
    from hf_nvr.training.collator import NVRetrieverCollator
    from hf_nvr.training.model import prompt_token_count

    blend = build_blend(
        [BlendSource(name="r", data=mined_rows("r", 4), instruction="NQ"),
         BlendSource(name="c", data=multiclass, instruction="Banking77", builder="examples", builder_args={"num_negatives": 1})],
        seed=0, homogeneous_batches=True, batch_size=4,
    )
    model = BiEncoder.from_pretrained(tiny_bert_dir)
    rows = blend.select(range(8)).to_list()
    for chunk in (rows[:4], rows[4:]):
        batch = NVRetrieverCollator(model, num_hard_negatives=1)(chunk)
        assert batch["row_in_batch"].tolist() == [r["in_batch_negatives"] for r in chunk]
        expected = prompt_token_count(model.tokenizer, chunk[0]["query_prompt"])
        assert batch["query_prompt_length"].tolist() == [expected] * 4
