r"""Checkers for the exercises of the chapter *Vanishing and exploding gradients*.

The reference for the Lipschitz bound comes from dense singular values of random float64
:class:`lecturelib.models.MLP` weights, never from :mod:`lecturelib.lipschitz` or the reader's formulas.
"""

from __future__ import annotations

import torch

from ..models import MLP
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["check_lipschitz_bound"]


def check_lipschitz_bound(lipschitz_bound) -> ExerciseResult:
    r"""Check ``lipschitz_bound(model) -> float`` for MLPs with 1-Lipschitz activations.

    The answer must be the lecture's bound :math:`\prod_j c_j` with :math:`c_j = \|W_j\|_2`, replaced by
    :math:`1 + \|W_j\|_2` for residual hidden layers (``model.residual_mask``), computed here from
    dense singular values (Bartlett et al. 2017).
    """
    require_function(lipschitz_bound, "lipschitz_bound")
    for number, (widths, residual, seed) in enumerate([([2, 6, 6, 1], False, 0), ([3, 4, 4, 4, 2], True, 1),
                                                       ([2, 5, 5, 5, 5, 1], True, 2)], 1):
        with torch.random.fork_rng(devices=[]):  # seeded here, the reader's random state is left as it was
            torch.manual_seed(seed)
            model = MLP(widths, activation="relu", residual=residual).double()
        norms = [torch.linalg.svdvals(layer.weight.detach())[0].item() for layer in model.layers]
        factors = [1 + s if k < len(model.residual_mask) and model.residual_mask[k] else s
                   for k, s in enumerate(norms)]
        expected = torch.tensor(factors, dtype=torch.float64).prod()
        what = f"Lipschitz bound of network {number} ({'residual' if residual else 'plain'}, widths {widths})"
        got, failure = call_answer(lipschitz_bound, (model,), what)
        if failure is not None:
            return failure
        result = check_close(got, expected, what, rtol=1e-8)
        if not result.passed:
            hint = ""
            try:
                value = float(got)
            except (TypeError, ValueError):
                value = None
            frobenius = float(torch.tensor([layer.weight.detach().norm() for layer in model.layers],
                                           dtype=torch.float64).prod())
            if value is not None and abs(value - frobenius) <= 1e-8 * frobenius:
                hint = "That uses Frobenius norms; the spectral norm is the largest singular value (ord=2)."
            elif value is not None and abs(value - float(torch.tensor(norms).double().prod())) < 1e-6 * value:
                hint = "Residual hidden layers contribute 1 + ||W_j||_2, not ||W_j||_2 (see model.residual_mask)."
            return ExerciseResult(False, f"{result.message} {hint}".strip())
    return ExerciseResult(True, "your bound equals prod_j ||W_j||_2 (1 + ||W_j||_2 for residual layers) on 3 networks.")
