"""All-gather across processes that keeps gradients, for cross-device negatives (uneven batches allowed)."""

from __future__ import annotations

import torch
import torch.distributed as dist


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_rows(*tensors: torch.Tensor) -> tuple[list[torch.Tensor], int]:
    """Concatenate each tensor's rows over all ranks; return them and this rank's row offset.

    Rows are padded to the largest local batch before gathering (``all_gather`` needs equal shapes) and the
    padding is cut off again, so a short last batch on one rank is handled. Float tensors keep gradients for
    the local slice through ``torch.distributed.nn``'s autograd-aware all-gather.
    """
    rank, world = _world()
    if world == 1:
        return list(tensors), 0
    from torch.distributed.nn.functional import all_gather as all_gather_grad

    size = torch.tensor([tensors[0].shape[0]], device=tensors[0].device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    gathered = []
    for tensor in tensors:
        is_bool = tensor.dtype == torch.bool
        tensor = tensor.to(torch.uint8) if is_bool else tensor
        pad = [0, 0] * (tensor.dim() - 1) + [0, longest - tensor.shape[0]]
        padded = torch.nn.functional.pad(tensor, pad) if longest > tensor.shape[0] else tensor
        if tensor.is_floating_point() and tensor.requires_grad:
            parts = list(all_gather_grad(padded))
        else:
            parts = [torch.zeros_like(padded) for _ in range(world)]
            dist.all_gather(parts, padded.contiguous())
        joined = torch.cat([p[:n] for p, n in zip(parts, sizes)])
        gathered.append(joined.bool() if is_bool else joined)
    return gathered, sum(sizes[:rank])
