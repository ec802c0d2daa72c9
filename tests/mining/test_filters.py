import pytest
import torch

from hf_nvr.mining import filters


def _valid(n_rows: int, n_cols: int) -> torch.Tensor:
    return torch.ones(n_rows, n_cols, dtype=torch.bool)


def test_exclusion_by_id_text_and_query():
    cand_idx = torch.tensor([[5, 7, 9, 11]])
    cand_hash = torch.tensor([[50, 70, 90, 110]])
    pos_idx = torch.tensor([[5, -1]])
    pos_hash = torch.tensor([[50, 90]])
    masks = filters.exclusion_masks(cand_idx, cand_hash, pos_idx, pos_hash, torch.tensor([110]))
    assert masks["positive_id"].tolist() == [[True, False, False, False]]
    assert masks["positive_text"].tolist() == [[False, False, True, False]]
    assert masks["query_text"].tolist() == [[False, False, False, True]]


def test_padding_positives_never_match():
    masks = filters.exclusion_masks(
        torch.tensor([[-1, 3]]), torch.tensor([[0, 30]]), torch.tensor([[-1]]), torch.tensor([[0]]), torch.tensor([99])
    )
    assert not any(m.any() for m in masks.values())


def test_aggregate_min_max_with_padding():
    scores = torch.tensor([[0.8, 0.6, 0.0], [0.5, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert filters.aggregate_positive_scores(scores, mask, "min").tolist() == pytest.approx([0.6, 0.5])
    assert filters.aggregate_positive_scores(scores, mask, "max").tolist() == pytest.approx([0.8, 0.5])


def test_topk_shifted_counts_rank_among_valid_only():
    valid = torch.tensor([[False, True, True, True, True]])
    keep = filters.topk_shifted(torch.zeros(1, 5), valid, shift=2)
    assert keep.tolist() == [[False, False, False, True, True]]


def test_topk_abs():
    scores = torch.tensor([[0.9, 0.7, 0.69, 0.1]])
    assert filters.topk_abs(scores, _valid(1, 4), 0.7).tolist() == [[False, False, True, True]]


def test_marginpos():
    scores = torch.tensor([[0.9, 0.76, 0.74, 0.2]])
    keep = filters.topk_marginpos(scores, _valid(1, 4), torch.tensor([0.8]), margin=0.05)
    assert keep.tolist() == [[False, False, True, True]]


def test_percpos_positive_and_negative_scores_are_sign_safe():
    scores = torch.tensor([[0.80, 0.76, 0.75], [-0.50, -0.52, -0.53]])
    pos = torch.tensor([0.8, -0.5])
    keep = filters.topk_percpos(scores, _valid(2, 3), pos, perc=0.95)
    # 0.8 * 0.95 = 0.76 (strict), and for -0.5 the threshold is -0.5 - 0.025 = -0.525 (stricter, not looser)
    assert keep.tolist() == [[False, False, True], [False, False, True]]


def test_percpos_one_keeps_everything_below_positive():
    keep = filters.topk_percpos(torch.tensor([[0.5, 0.49]]), _valid(1, 2), torch.tensor([0.5]), perc=1.0)
    assert keep.tolist() == [[False, True]]


def test_ties_with_threshold_are_dropped():
    keep = filters.topk_abs(torch.tensor([[0.7, 0.7, 0.5]]), _valid(1, 3), 0.7)
    assert keep.tolist() == [[False, False, True]]


def test_method_mask_unknown_name():
    with pytest.raises(ValueError, match="unknown mining method"):
        filters.method_mask("topk_bogus", torch.zeros(1, 2), _valid(1, 2), torch.zeros(1))


def test_select_first_survivors_and_short_rows():
    keep = torch.tensor([[True, False, True, True, True], [False, False, False, False, False], [False, True, False, False, False]])
    cols = filters.select_negatives(torch.zeros(3, 5), keep, 3)
    assert cols.tolist() == [[0, 2, 3], [-1, -1, -1], [1, -1, -1]]


def test_select_pads_when_fewer_columns_than_asked():
    cols = filters.select_negatives(torch.zeros(1, 2), torch.tensor([[True, True]]), 4)
    assert cols.tolist() == [[0, 1, -1, -1]]


def test_sampling_without_replacement_within_top_k_and_seeded():
    scores = torch.linspace(1, 0, 20).repeat(4, 1)
    keep = torch.ones(4, 20, dtype=torch.bool)
    keep[:, 3] = False
    noise = torch.rand(4, 20, generator=torch.Generator().manual_seed(0))
    a = filters.select_negatives(scores, keep, 4, sample_from_top=8, noise=noise)
    b = filters.select_negatives(scores, keep, 4, sample_from_top=8, noise=noise)
    assert torch.equal(a, b)
    for row in a.tolist():
        assert len(set(row)) == 4 and 3 not in row
        assert all(c <= 8 for c in row)  # the top-8 survivors are columns 0-2 and 4-8
        assert row == sorted(row)


def test_sampling_weights_follow_softmax():
    scores = torch.tensor([[2.0, 0.0]]).repeat(4000, 1)
    keep = torch.ones(4000, 2, dtype=torch.bool)
    cols = filters.select_negatives(scores, keep, 1, sample_from_top=2, temperature=1.0,
                                    noise=torch.rand(4000, 2, generator=torch.Generator().manual_seed(1)))
    share = (cols[:, 0] == 0).float().mean().item()
    assert share == pytest.approx(torch.softmax(torch.tensor([2.0, 0.0]), 0)[0].item(), abs=0.03)


def test_keep_top1_always_keeps_the_best_survivor():
    scores = torch.linspace(1, 0, 10).repeat(50, 1)
    keep = torch.ones(50, 10, dtype=torch.bool)
    keep[:, 0] = False
    cols = filters.select_negatives(scores, keep, 3, sample_from_top=8, keep_top1=True,
                                    noise=torch.rand(50, 10, generator=torch.Generator().manual_seed(2)))
    assert (cols[:, 0] == 1).all()
