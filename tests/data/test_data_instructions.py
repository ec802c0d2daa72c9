import json
from importlib import resources

import pytest

from hf_nvr.data import format_query, get_instruction, instruction_prompt, instruction_task, list_instructions

REQUIRED = [
    "MSMARCO", "NQ", "HotpotQA", "FEVER", "FiQA", "SQuAD", "StackExchange", "ArguAna", "BioASQ", "SciFact",
    "NFCorpus", "Quora", "TriviaQA", "ELI5", "PAQ", "AmazonCounterfactual", "AmazonReviews", "Banking77", "Emotion",
    "IMDB", "MTOPIntent", "ToxicConversations", "TweetSentimentExtraction", "ArxivClustering", "BiorxivClustering",
    "MedrxivClustering", "RedditClustering", "StackExchangeClustering", "TwentyNewsgroups", "STS12", "STS22",
    "STSBenchmark",
]


def test_library_covers_the_recipe_and_says_where_it_comes_from():
    raw = json.loads((resources.files("hf_nvr.resources") / "instructions.json").read_text())
    assert "style" in raw["_source"] and "not verbatim" in raw["_source"].lower()
    library = list_instructions()
    for name in REQUIRED:
        assert name in library and library[name].strip()
    assert get_instruction("FEVER") == "Given a claim, retrieve documents that support or refute the claim"


@pytest.mark.parametrize("alias", ["msmarco", "MS MARCO", "ms-marco", "Ms_Marco", "msmarco-passage"])
def test_names_are_case_and_separator_insensitive(alias):
    assert get_instruction(alias) == get_instruction("MSMARCO")


def test_mteb_task_names_resolve():
    assert get_instruction("Banking77Classification") == get_instruction("banking77")
    assert get_instruction("FiQA2018") == get_instruction("FiQA")
    assert get_instruction("ArxivClusteringP2P") == get_instruction("ArxivClustering")
    assert instruction_task("STSBenchmark") == "sts" and instruction_task("IMDB") == "classification"
    assert instruction_task("nope") is None


def test_overrides_win_and_can_add_names():
    assert get_instruction("msmarco", {"MSMARCO": "Find passages"}) == "Find passages"
    assert get_instruction("my-task", {"My Task": "Do my task"}) == "Do my task"
    assert get_instruction("NQ", {"MSMARCO": "other"}) == get_instruction("NQ")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown instruction name 'hotpotqs'.*HotpotQA"):
        get_instruction("hotpotqs")
    with pytest.raises(ValueError, match="overrides="):
        get_instruction("completely-unrelated-zzz")
    with pytest.raises(ValueError, match="non-empty"):
        get_instruction("")
    with pytest.raises(ValueError, match="override"):
        get_instruction("x", {"x": "  "})


def test_query_format_and_prompt_prefix():
    assert format_query("Given a claim, find documents", "the sky is green") == (
        "Instruct: Given a claim, find documents\nQuery: the sky is green"
    )
    assert format_query(None, "q") == "q"
    prompt = instruction_prompt("Retrieve semantically similar text")
    assert prompt == "Instruct: Retrieve semantically similar text\nQuery: "
    assert prompt + "q" == format_query("Retrieve semantically similar text", "q")
    assert instruction_prompt(None) is None and instruction_prompt("") is None
