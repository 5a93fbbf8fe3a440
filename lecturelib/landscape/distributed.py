r"""Landscape grids split across processes with :mod:`torch.distributed` (Li et al. 2018 split
theirs over GPUs with MPI).

When a process group is initialised - the script was started with ``torchrun`` and called
``torch.distributed.init_process_group`` (``"gloo"`` on the CPU, ``"nccl"`` on CUDA, one GPU per
process) - :func:`lecturelib.landscape.plane`, :func:`~lecturelib.landscape.line` and
:func:`~lecturelib.landscape.interpolate` hand their ``P`` grid points here. With ``W`` ranks and
:math:`m = \lceil P / W \rceil`, rank :math:`r` evaluates the contiguous rows

.. math::

    [\min(rm, P),\ \min((r+1)m, P))

of the coefficient table through :func:`lecturelib.landscape.engine.evaluate_affine` (whatever
engine strategy it picks), pads its losses and accuracies to :math:`m` values, and one
``all_gather`` of those equal-size chunks gives every rank the whole surface, in grid order.
A rank whose share is empty evaluates one point and discards it, so that an argument error is
raised on every rank alike instead of leaving the others waiting.

Every rank must hold the same model, data, directions and grid: before evaluating, a fingerprint
of them (index-weighted float64 sums) is compared across ranks, and a mismatch - directions drawn
without a shared seed, a model loaded differently - is a ``ValueError`` on every rank.
Without a process group, or with one rank, nothing is split.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from . import engine

__all__ = ["is_distributed", "shard", "evaluate_split"]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def shard(n_points: int, rank: int, world_size: int) -> tuple[int, int]:
    r"""``(start, stop)`` of the rows rank ``rank`` of ``world_size`` evaluates: contiguous chunks of
    :math:`\lceil P / W \rceil` rows, the last ones shorter or empty, together covering ``range(P)`` once."""
    per = -(-n_points // world_size)
    start = min(rank * per, n_points)
    return start, min(start + per, n_points)


def _communication_device() -> torch.device:
    """NCCL moves CUDA tensors only; every other backend (gloo, or gloo for CPU tensors in a mixed group) the CPU's."""
    if str(dist.get_backend()) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _weighted_sum(tensors) -> list[float]:
    """``[sum_i (i + 1) * sum(t_i), total elements]``: changes when a tensor's values or order change."""
    total = 0.0
    for index, tensor in enumerate(tensors):
        total += (index + 1) * float(tensor.detach().sum(dtype=torch.float64))
    return [total, float(sum(t.numel() for t in tensors))]


def _fingerprint(model, X, y, directions, coefficients, origin) -> list[float]:
    state = [t for t in model.state_dict().values() if isinstance(t, torch.Tensor) and t.is_floating_point()]
    moved = [d[name] for d in directions for name in sorted(d)]
    parts = [state, [X], [y], moved, [coefficients], [origin[name] for name in sorted(origin or {})]]
    return [value for part in parts for value in _weighted_sum(part)]


def _check_same_on_every_rank(fingerprint: list[float], device: torch.device) -> None:
    names = ("the model's state", "X", "y", "the directions", "the grid", "origin")
    low = torch.tensor(fingerprint, dtype=torch.float64, device=device)
    high = low.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    differ = ~torch.isclose(low, high, rtol=1e-9, atol=0.0)
    if bool(differ.any()):
        which = sorted({names[i // 2] for i in torch.nonzero(differ).flatten().tolist()})
        raise ValueError(f"the ranks of the process group disagree on {', '.join(which)}; every rank must "
                         "evaluate the same landscape (seed the directions, load the same model and data)")


def evaluate_split(model, X, y, directions, coefficients, origin=None, **options):
    r""":func:`lecturelib.landscape.engine.evaluate_affine` with the rows of ``coefficients`` split
    across the ranks of the process group (see the module docstring); without one, that function itself.

    Args:
        model, X, y, directions, coefficients, origin: as for ``evaluate_affine``; the same on every rank.
        **options: ``loss_fn``, ``engine``, ``chunk_size``, ``batch_size``, ``device``, passed on.

    Returns:
        ``(loss, accuracy)`` for all ``P`` rows on every rank: NumPy ``float64`` arrays of shape
        ``(P,)``, ``accuracy`` ``None`` for float targets.
    """
    if not is_distributed() or not isinstance(coefficients, torch.Tensor) or coefficients.dim() != 2:
        return engine.evaluate_affine(model, X, y, directions, coefficients, origin=origin, **options)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    device = _communication_device()
    n_points = len(coefficients)
    _check_same_on_every_rank(_fingerprint(model, X, y, directions, coefficients, origin), device)
    start, stop = shard(n_points, rank, world_size)
    rows = coefficients[start:stop] if stop > start else coefficients[:1]  # an empty share still checks its arguments
    loss, accuracy = engine.evaluate_affine(model, X, y, directions, rows, origin=origin, **options)
    count, per = stop - start, -(-n_points // world_size)
    chunk = torch.zeros(2, per, dtype=torch.float64, device=device)  # (loss, accuracy) x padded share
    chunk[0, :count] = torch.as_tensor(loss[:count], device=device)
    if accuracy is not None:
        chunk[1, :count] = torch.as_tensor(accuracy[:count], device=device)
    gathered = [torch.empty_like(chunk) for _ in range(world_size)]
    dist.all_gather(gathered, chunk)
    whole = torch.cat(gathered, dim=1)[:, :n_points].cpu().numpy()  # shares are contiguous, in rank order
    return whole[0], (None if accuracy is None else whole[1])
