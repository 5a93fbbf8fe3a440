r"""Checkers for the mode-connectivity chapter's exercises.

* :func:`check_bezier_point`: the reader's quadratic Bezier point
  :math:`\phi_\theta(t) = (1-t)^2 w_1 + 2t(1-t)\,\theta + t^2 w_2` (Garipov et al. 2018).
* :func:`check_permutation`: the reader's function that permutes the hidden units of a network's
  first hidden layer. The permuted network computes the same function with different weights,
  which is why two minima found from different seeds need not lie in one convex basin
  (Freeman & Bruna 2017; Garipov et al. 2018).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models import MLP
from . import ExerciseResult, check_function

__all__ = ["check_bezier_point", "check_permutation"]


def _reference_bezier(w1, theta, w2, t):
    """Garipov et al.'s quadratic Bezier point, written out independently of lecturelib.connectivity."""
    return (1 - t) ** 2 * w1 + 2 * t * (1 - t) * theta + t ** 2 * w2


def check_bezier_point(bezier_point) -> ExerciseResult:
    """Check ``bezier_point(w1, theta, w2, t)`` (flat tensors and a number ``t`` in [0, 1])."""
    generator = torch.Generator().manual_seed(7)
    w1, theta, w2 = (torch.randn(6, generator=generator, dtype=torch.float64) for _ in range(3))
    inputs = [(w1, theta, w2, t) for t in (0.0, 0.25, 0.5, 0.8, 1.0)]
    return check_function(bezier_point, _reference_bezier, inputs, "phi(t)", rtol=1e-10, atol=1e-12,
                          hint="phi(t) = (1-t)^2 w1 + 2t(1-t) theta + t^2 w2; at t=0 it must return w1, "
                               "at t=1 w2.")


def _reference_permutation(model: nn.Module, permutation: torch.Tensor) -> nn.Module:
    """New hidden unit ``i`` is old unit ``permutation[i]``: rows of layer 0, columns of layer 1."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.layers[0].weight.copy_(model.layers[0].weight[permutation])
        out.layers[0].bias.copy_(model.layers[0].bias[permutation])
        out.layers[1].weight.copy_(model.layers[1].weight[:, permutation])
    return out


def check_permutation(permute_hidden_units) -> ExerciseResult:
    """Check ``permute_hidden_units(model, permutation) -> new model`` on a small ReLU MLP.

    The answer must (1) leave the network's outputs unchanged, (2) put old unit
    ``permutation[i]`` at position ``i`` of the first hidden layer, (3) not modify ``model``.
    """
    if not callable(permute_hidden_units):
        raise TypeError(f"the answer must be a function, got {type(permute_hidden_units).__name__}")
    with torch.random.fork_rng(devices=[]):  # leave the reader's random stream untouched
        torch.manual_seed(11)
        model = MLP([6, 5, 4, 3], "relu").double()
    permutation = torch.tensor([3, 0, 4, 1, 2])
    X = torch.randn(20, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    original = copy.deepcopy(model)
    try:
        answer = permute_hidden_units(model, permutation.clone())
    except Exception as error:  # the reader's code failed: report it, keep the notebook running
        return ExerciseResult(False, f"calling your function raised {type(error).__name__}: {error}")
    if not isinstance(answer, nn.Module):
        return ExerciseResult(False, f"return the permuted network (an nn.Module), got {type(answer).__name__}")
    for (name, p), q in zip(original.named_parameters(), model.parameters()):
        if not torch.equal(p, q):
            return ExerciseResult(False, f"your function changed the input model's {name}; work on a copy "
                                         "(copy.deepcopy(model)) and return it")
    reference = _reference_permutation(original, permutation)
    with torch.no_grad():
        same_function = torch.allclose(answer(X), original(X), rtol=1e-10, atol=1e-12)
        rows = answer.layers[0].weight
        if not same_function:
            if torch.equal(rows, reference.layers[0].weight) and torch.equal(answer.layers[1].weight,
                                                                            original.layers[1].weight):
                return ExerciseResult(False, "the outputs changed: you permuted the rows of layers[0], but the "
                                             "next layer still reads the units in the old order; permute the "
                                             "columns of layers[1].weight the same way")
            return ExerciseResult(False, "the permuted network computes a different function; permute the rows of "
                                         "layers[0].weight and layers[0].bias and the columns of layers[1].weight "
                                         "with the same permutation")
        if all(torch.equal(p, q) for p, q in zip(answer.parameters(), original.parameters())):
            return ExerciseResult(False, "the weights are unchanged: the function is the same, but nothing was "
                                         "permuted")
        for (name, p), q in zip(answer.named_parameters(), reference.parameters()):
            if not torch.allclose(p, q, rtol=0, atol=1e-14):
                return ExerciseResult(False, f"the function is right but {name} is not in the expected order: new unit "
                                             "i must be old unit permutation[i] (index with permutation, do not "
                                             "invert it)")
    return ExerciseResult(True, "the permuted network computes the same outputs with different weights.")
