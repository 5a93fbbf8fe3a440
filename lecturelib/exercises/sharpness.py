"""Checkers for the exercises of the chapter on sharpness and flat minima."""

from __future__ import annotations

import torch

from . import ExerciseResult, check_close

__all__ = ["check_power_iteration"]


def _test_matrices():
    """Symmetric test matrices with known spectra: a dominant positive, a dominant negative
    eigenvalue, and a 50 x 50 random one."""
    generator = torch.Generator().manual_seed(7)
    cases = []
    for spectrum in ([5.0, 2.0, 1.0, -0.5], [1.0, -6.0, 2.5, 0.1, 0.2]):
        Q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), generator=generator, dtype=torch.float64))
        cases.append(Q @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ Q.T)
    B = torch.randn(50, 50, generator=generator, dtype=torch.float64)
    cases.append((B + B.T) / 2 + 8 * torch.eye(50, dtype=torch.float64))
    return cases


def check_power_iteration(power_iteration, iterations: int = 500) -> ExerciseResult:
    r"""Check a reader's ``power_iteration(matvec, size, iterations) -> float``.

    It must return the eigenvalue of largest magnitude, with its sign, of the symmetric matrix
    behind ``matvec`` (a function ``v -> A v`` on float64 vectors of length ``size``), using only
    products with ``A``: :math:`v \leftarrow Av/\|Av\|`, then the Rayleigh quotient :math:`v^TAv`.
    Compared with ``torch.linalg.eigvalsh`` to a relative tolerance of 1e-4.
    """
    if not callable(power_iteration):
        raise TypeError(f"power_iteration must be a function, got {type(power_iteration).__name__}")
    for number, A in enumerate(_test_matrices(), 1):
        products = []

        def matvec(v, A=A):
            if not isinstance(v, torch.Tensor) or v.shape != (A.shape[0],):
                raise ValueError(f"matvec expects a tensor of shape ({A.shape[0]},), got {getattr(v, 'shape', v)!r}")
            products.append(1)
            return A @ v.to(torch.float64)

        eigenvalues = torch.linalg.eigvalsh(A)
        expected = float(eigenvalues[eigenvalues.abs().argmax()])
        try:
            answer = power_iteration(matvec, A.shape[0], iterations)
        except Exception as error:  # the reader's code failed: explain, do not crash the notebook
            return ExerciseResult(False, f"test matrix {number}: your function raised {type(error).__name__}: {error}")
        if not products:
            return ExerciseResult(False, f"test matrix {number}: your function never called matvec; the point is to "
                                         "find the eigenvalue from products A v alone.")
        if isinstance(answer, torch.Tensor):
            answer = answer.detach().reshape(-1)[0] if answer.numel() == 1 else answer
        hint = ("Normalise v after every product and return the Rayleigh quotient v @ matvec(v), not the norm "
                "||A v||: the norm loses the sign of a negative dominant eigenvalue.")
        result = check_close(answer, expected, f"dominant eigenvalue of test matrix {number}", rtol=1e-4, atol=0.0,
                             hint=hint)
        if not result.passed:
            return result
    return ExerciseResult(True, "your power iteration finds the dominant eigenvalue, sign included, of all "
                                f"{number} test matrices.")
