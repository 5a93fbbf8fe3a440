r"""How ``engine="auto"`` chooses between the per-point and the vectorised path: by measurement.

Which path is faster depends on the model, the data, the device and the machine, not on one
threshold of multiply-adds: the vectorised path wins where per-point overhead dominates (tiny
models, many points), the per-point path as soon as one point is a real amount of work. So the
first grid points are evaluated by each candidate in turn — the vectorised path at its default
chunk size and a quarter of it, then the per-point path — each candidate timed per point on its
own slice of the grid (for at least :data:`MEASURE_SECONDS`, or until it is plainly slower, at
more than twice the best time per point so far), and the rest of the grid goes to the fastest. No point is
evaluated twice: the measured slices are part of the result. The decision is remembered per
model class, parameter shapes and dtypes, data shape, number of directions, batch size and
device (:func:`decision_key`), so later surfaces of the same model skip the measurement.
"""

from __future__ import annotations

import time

import torch

__all__ = ["MEASURE_SECONDS", "decision_key", "cached_decision", "clear_decisions", "choose_and_evaluate"]

MEASURE_SECONDS = 0.05  # least time each candidate is timed for (where the grid has points enough): on a
# loaded machine 0.02 s let noise pick a path 1.3x slower than the best
_DECISIONS: dict = {}


def decision_key(model, base: dict, X: torch.Tensor, n_directions: int, batch_size, device) -> tuple:
    """What the choice depends on: model class, parameter names/shapes/dtypes, data, K, batch, device."""
    shapes = tuple((name, tuple(value.shape), str(value.dtype)) for name, value in base.items())
    return (type(model).__qualname__, shapes, tuple(X.shape), str(X.dtype), n_directions, batch_size, str(device))


def cached_decision(key: tuple):
    """The ``(engine, chunk_size)`` measured earlier for ``key``, or ``None``."""
    return _DECISIONS.get(key)


def clear_decisions() -> None:
    """Forget every measured decision (the next ``"auto"`` surface measures again)."""
    _DECISIONS.clear()


def _clock(device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _timed_slices(evaluate, coefficients, start, device, pieces, least_points, give_up):
    """Evaluate growing slices from ``start`` until ``MEASURE_SECONDS`` have passed (at least
    ``least_points`` points), or until the time per point exceeds ``give_up``; append results to
    ``pieces``; return ``(seconds per point, next start)``."""
    points, seconds, size = 0, 0.0, max(1, least_points)
    while start < len(coefficients) and (seconds < MEASURE_SECONDS or points < least_points):
        if points and seconds / points > give_up:
            break
        stop = min(start + size, len(coefficients))
        began = _clock(device)
        pieces.append(evaluate(coefficients[start:stop]))
        seconds += _clock(device) - began
        points += stop - start
        start, size = stop, 2 * size
    return (seconds / points if points else float("inf")), start


def choose_and_evaluate(coefficients, candidates: dict, key: tuple, device):
    """Evaluate every row of ``coefficients`` ``(P, K)``, choosing the candidate by measurement.

    ``candidates`` maps ``(engine, chunk_size or variant)`` to a zero-argument factory of its evaluator
    (``evaluate(c) -> (loss, accuracy)``); the per-point path (engine ``"loop"``) is warmed up on
    one point first, which is kept but not timed.
    Returns ``(loss, accuracy, (engine, chunk_size))``.
    """
    decision = _DECISIONS.get(key)
    if decision in candidates:
        loss, acc = candidates[decision]()(coefficients)
        return loss, acc, decision
    pieces, start, timings, evaluators = [], 0, {}, {}
    for choice, factory in candidates.items():
        if start >= len(coefficients):
            break
        evaluators[choice] = evaluate = factory()
        if choice[0] == "loop":  # its first point pays the allocations (and kernel set-up): kept, not timed
            pieces.append(evaluate(coefficients[start:start + 1]))
            start += 1
        least = choice[1] if choice[0] == "vmap" and choice[1] else 1  # a vectorised one: at least a full chunk
        give_up = 2 * min(timings.values()) if timings else float("inf")
        timings[choice], start = _timed_slices(evaluate, coefficients, start, device, pieces, least, give_up)
    best = min(timings, key=timings.get) if timings else next(iter(candidates))
    if len(timings) == len(candidates):
        _DECISIONS[key] = best
    if start < len(coefficients):
        evaluate = evaluators.get(best) or candidates[best]()
        pieces.append(evaluate(coefficients[start:]))
    loss = torch.cat([piece[0] for piece in pieces])
    acc = torch.cat([piece[1] for piece in pieces])
    return loss, acc, best
