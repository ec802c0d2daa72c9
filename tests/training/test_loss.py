import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from hf_nvr.training.loss import info_nce_logits, info_nce_loss

Q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
P = torch.tensor([[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [0.8, 0.6]]])  # [rows, slots(pos, neg), d]
VALID = torch.ones(2, 2, dtype=torch.bool)
HASH = torch.tensor([[1, 2], [3, 4]])
POS_HASH = torch.tensor([[1], [3]])


def _hand(scores, tau):
    return -scores[0] / tau + math.log(sum(math.exp(s / tau) for s in scores))


def test_loss_matches_hand_computed_value_with_in_batch_negatives():
    loss = info_nce_loss(Q, P, VALID, HASH, POS_HASH, temperature=0.5, similarity="dot")
    q0 = [1.0, 0.6, 0.0, 0.8]  # own positive first, then own negative and row 1's passages
    q1 = [1.0, 0.6, 0.0, 0.8]
    expected = (_hand(q0, 0.5) + _hand([1.0, 0.8, 0.0, 0.6], 0.5)) / 2
    assert q1  # q1's own positive is (0,1)·(0,1)=1, own negative 0.6, row 0's passages 0.0 and 0.8
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_without_in_batch_only_own_row_counts():
    loss = info_nce_loss(Q, P, VALID, HASH, POS_HASH, temperature=0.5, similarity="dot", in_batch_negatives=False)
    expected = (_hand([1.0, 0.6], 0.5) + _hand([1.0, 0.6], 0.5)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_false_negatives_are_masked_by_hash():
    dup_hash = torch.tensor([[1, 2], [3, 1]])  # row 1's negative is a copy of row 0's positive
    logits, labels = info_nce_logits(Q, P, VALID, dup_hash, POS_HASH, temperature=1.0, similarity="dot")
    assert labels.tolist() == [0, 2]
    assert logits[0, 3] == float("-inf") and logits[0, 0] == 1.0
    assert torch.isfinite(logits[1]).all()


def test_padded_slots_are_masked_and_cosine_normalises():
    valid = torch.tensor([[True, False], [True, True]])
    logits, _ = info_nce_logits(Q * 3, P, valid, HASH, POS_HASH, temperature=1.0)
    assert logits[0, 1] == float("-inf") and logits[1, 1] == float("-inf")
    assert logits[0, 0].item() == pytest.approx(1.0)


def test_gradients_flow_to_queries_and_passages():
    q = Q.clone().requires_grad_()
    p = P.clone().requires_grad_()
    info_nce_loss(q, p, VALID, HASH, POS_HASH).backward()
    assert q.grad.abs().sum() > 0 and p.grad.abs().sum() > 0


def _worker(rank, world, port, q, p, valid, h, ph, out):
    import torch.distributed as dist

    from hf_nvr.training.gather import gather_rows

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    sl = slice(0, 3) if rank == 0 else slice(3, 5)  # uneven local batches
    local_q = q[sl].clone().requires_grad_()
    local_p = p[sl].clone().requires_grad_()
    (gp, gv, gh), offset = gather_rows(local_p, valid[sl], h[sl])
    loss = info_nce_loss(local_q, gp, gv, gh, ph[sl], query_offset=offset, temperature=0.1)
    (loss * local_q.shape[0]).backward()
    total = loss.detach() * local_q.shape[0]
    dist.all_reduce(total)
    out[rank] = torch.cat([total.view(1), local_p.grad.abs().sum().view(1)])
    dist.destroy_process_group()


def test_two_process_gathering_equals_one_process_loss():
    torch.manual_seed(0)
    q, p = torch.randn(5, 8), torch.randn(5, 3, 8)
    valid = torch.ones(5, 3, dtype=torch.bool)
    valid[4, 2] = False
    h = torch.arange(1, 16).reshape(5, 3)
    ph = h[:, :1].clone()
    single = info_nce_loss(q, p, valid, h, ph, temperature=0.1).item()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = torch.zeros(2, 2).share_memory_()
    mp.spawn(_worker, args=(2, port, q, p, valid, h, ph, out), nprocs=2, join=True)
    assert (out[0, 0] / 5).item() == pytest.approx(single, rel=1e-5)
    assert out[0, 1] > 0 and out[1, 1] > 0


def test_false_negatives_are_masked_by_id_too():
    ids = torch.tensor([[11, 12], [13, 11]])  # row 1's negative has row 0's positive id (different text)
    logits, _ = info_nce_logits(Q, P, VALID, HASH, POS_HASH, passage_id_hash=ids, positive_id_hash=torch.tensor([[11], [13]]),
                                temperature=1.0, similarity="dot")
    assert logits[0, 3] == float("-inf") and torch.isfinite(logits[0, :3]).all()


def test_equals_sentence_transformers_mnrl_on_identical_embeddings():
    """The peer's InfoNCE: MultipleNegativesRankingLoss with scale = 1/τ over n-tuples (no duplicates to mask)."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    torch.manual_seed(0)
    rows, negatives, dim, tau = 6, 3, 16, 0.05
    queries = torch.randn(rows, dim)
    passages = torch.randn(rows, 1 + negatives, dim)
    hashes = torch.arange(rows * (1 + negatives)).view(rows, 1 + negatives)
    ours = info_nce_loss(queries, passages, torch.ones(rows, 1 + negatives, dtype=torch.bool), hashes,
                         hashes[:, :1], temperature=tau, similarity="cosine")
    mnrl = MultipleNegativesRankingLoss(model=None, scale=1 / tau)
    theirs = mnrl.compute_loss_from_embeddings([queries, *passages.unbind(1)], labels=None)
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-6)
