from pathlib import Path

import pytest

from hf_nvr import NVRetrieverConfig
from hf_nvr.recipe import parse_recipe

CPU = ["bf16=false"]  # the GPU recipes ask for bf16, which TrainingArguments refuses on a CPU-only machine
RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_parse(path):
    model, data, args = parse_recipe(path, CPU)
    assert isinstance(args, NVRetrieverConfig) and model.model_name_or_path
    assert data.train_data or data.beir_dir


def test_paper_settings_in_stage_recipes():
    model, _, args = parse_recipe(RECIPES[0].parent / "nv_retriever_v1_stage1.yaml", CPU)
    assert (model.model_name_or_path, model.bidirectional, model.lora_r, model.lora_alpha) == ("mistralai/Mistral-7B-v0.1", True, 16, 32)
    assert (args.query_max_length, args.passage_max_length, args.learning_rate, args.warmup_steps) == (192, 512, 1e-5, 100)
    assert (args.num_hard_negatives, args.per_device_train_batch_size * args.gradient_accumulation_steps) == (1, 128)
    _, _, stage2 = parse_recipe(RECIPES[0].parent / "nv_retriever_v1_stage2.yaml", CPU)
    assert stage2.num_hard_negatives == 5 and stage2.num_train_epochs == 12


def test_overrides_and_unknown_keys(tmp_path):
    recipe = RECIPES[0].parent / "scifact_cpu.yaml"
    _, _, args = parse_recipe(recipe, ["temperature=0.1", f"output_dir={tmp_path}"])
    assert args.temperature == 0.1
    with pytest.raises(ValueError):
        parse_recipe(recipe, ["no_such_key=1"])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        parse_recipe(recipe, ["temperature=0"])
