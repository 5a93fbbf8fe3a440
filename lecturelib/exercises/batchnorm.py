r"""Checkers for the batch-normalisation chapter.

:func:`check_batch_norm_backward` tests a reader's backward pass of batch norm,
``backward(grad_y, x, gamma, eps) -> (grad_x, grad_gamma, grad_beta)``, against
:func:`lecturelib.norm.batch_norm_backward` (Ioffe & Szegedy 2015, Section 3).
"""

from __future__ import annotations

import torch

from .. import norm
from . import ExerciseResult, call_answer, check_close, require_function

__all__ = ["check_batch_norm_backward", "reference_batch_norm_backward"]


def reference_batch_norm_backward(grad_y, x, gamma, eps=1e-5):
    r"""The reference answer: :math:`\partial\ell/\partial x`, :math:`\partial\ell/\partial\gamma`,
    :math:`\partial\ell/\partial\beta` for batch norm of ``x`` ``(N, C)`` with batch statistics."""
    _, cache = norm.batch_norm_forward(x, gamma, torch.zeros_like(gamma), eps)
    return norm.batch_norm_backward(grad_y, cache)


def _cases():
    generator = torch.Generator().manual_seed(12)
    cases = []
    for n, c in ((4, 3), (32, 5), (2, 1)):
        x = 3.0 + 2.0 * torch.randn(n, c, generator=generator, dtype=torch.float64)
        gamma = 1.0 + torch.rand(c, generator=generator, dtype=torch.float64)
        grad_y = torch.randn(n, c, generator=generator, dtype=torch.float64)
        cases.append((grad_y, x, gamma, 1e-5))
    return cases


def check_batch_norm_backward(backward) -> ExerciseResult:
    """Check ``backward(grad_y, x, gamma, eps)`` returning ``(grad_x, grad_gamma, grad_beta)``.

    Float64 inputs of shapes ``(4, 3)``, ``(32, 5)`` and ``(2, 1)``; tolerance ``1e-8`` relative.
    The message says which of the three gradients is wrong and gives a hint about the usual mistake.
    """
    require_function(backward, "backward")
    hints = ("grad_x: remember that mu and sigma^2 depend on every x_i; the result is "
             "gamma/sqrt(var+eps) * (g - mean(g) - x_hat * mean(g * x_hat)), means over the batch axis.",
             "grad_gamma: sum over the batch of grad_y * x_hat.",
             "grad_beta: sum over the batch of grad_y.")
    names = ("grad_x", "grad_gamma", "grad_beta")
    for number, args in enumerate(_cases(), 1):
        answer, failure = call_answer(backward, tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args),
                                      f"test case {number}")
        if failure is not None:
            return failure
        if not isinstance(answer, (tuple, list)) or len(answer) != 3:
            return ExerciseResult(False, "return a tuple of three tensors (grad_x, grad_gamma, grad_beta)")
        for name, got, expected, hint in zip(names, answer, reference_batch_norm_backward(*args), hints):
            result = check_close(got, expected, f"{name} (test case {number}, x of shape {tuple(args[1].shape)})",
                                 rtol=1e-8, atol=1e-10, hint=hint)
            if not result.passed:
                return result
    return ExerciseResult(True, "all three gradients match the reference on 3 test cases, batch size 2 included.")
