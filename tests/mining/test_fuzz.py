"""Fuzzing the mining transform: every row gets negatives or a recorded reason; bad input fails before output."""

import pytest
from datasets import Dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_nvr import HardNegativeMiner, MiningConfig

TEXT = st.one_of(
    st.text(min_size=0, max_size=40),
    st.sampled_from(["", "   ", "\u200b", "ﬁne Ｔｅｘｔ", "e\u0301", "🙂" * 30, "x" * 5000, "Ünïcödé  text"]),
)
IDS = st.one_of(st.integers(0, 30), st.text(min_size=1, max_size=3))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    corpus=st.lists(st.fixed_dictionaries({"_id": IDS, "text": TEXT}), min_size=0, max_size=25),
    rows=st.one_of(  # a column holds strings or lists, never both (arrow's rule)
        st.lists(st.fixed_dictionaries({"query": TEXT, "positive": TEXT}), min_size=1, max_size=8),
        st.lists(st.fixed_dictionaries({"query": TEXT, "positive": st.lists(TEXT, max_size=3)}), min_size=1, max_size=8),
    ),
    num_negatives=st.integers(1, 6),
)
def test_mining_never_crashes_half_way(tiny_st_dir, tmp_path_factory, corpus, rows, num_negatives):
    cfg = MiningConfig(method="topk_percpos", num_negatives=num_negatives, range_max=max(num_negatives, 10),
                       cache_dir=str(tmp_path_factory.mktemp("emb")))
    try:
        miner = HardNegativeMiner(tiny_st_dir, corpus, cfg, show_progress=False)
    except ValueError as err:
        assert "corpus" in str(err)
        return
    try:
        out = miner.mine(Dataset.from_list(rows))
    except (ValueError, KeyError) as err:
        assert "row " in str(err)
        assert miner.report.num_queries == 0  # refused before any row was mined
        return
    assert len(out) == len(rows)
    short = 0
    for row in out:
        assert len(row["negatives"]) <= num_negatives
        assert len(row["negatives"]) == len(row["negative_ids"]) == len(row["negative_scores"])
        short += len(row["negatives"]) < num_negatives
        assert bool(row["short_reason"]) == (len(row["negatives"]) < num_negatives)
    assert miner.report.num_rows_short == short == sum(miner.report.short_reasons.values())
    assert miner.report.num_queries == len(rows)


def test_mixed_id_types_that_collide_are_refused(tiny_st_dir):
    with pytest.raises(ValueError, match="corpus id '1' occurs more than once"):
        HardNegativeMiner(tiny_st_dir, [{"_id": 1, "text": "a"}, {"_id": "1", "text": "b"}])
