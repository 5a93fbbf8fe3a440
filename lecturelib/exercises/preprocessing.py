"""Checker for the data-preprocessing chapter: PCA whitening of a data matrix."""

from __future__ import annotations

import torch

from . import ExerciseResult, call_answer, require_function

__all__ = ["check_whitening"]


def _cases():
    generator = torch.Generator().manual_seed(7)
    cases = []
    for n, d in ((500, 2), (400, 4), (300, 6)):
        mixing = torch.randn(d, d, generator=generator, dtype=torch.float64)
        offset = 3.0 * torch.randn(d, generator=generator, dtype=torch.float64)
        cases.append(torch.randn(n, d, generator=generator, dtype=torch.float64) @ mixing + offset)
    return cases


def check_whitening(candidate, atol: float = 1e-6) -> ExerciseResult:
    r"""Check ``candidate(X) -> Z``, a whitening of the ``(N, d)`` matrix ``X``.

    Whitening is unique only up to a rotation, so the checker tests the defining properties:
    ``Z`` has ``X``'s shape, zero mean, covariance :math:`\frac1N Z^T Z = I` (to ``atol``), and is an
    affine function of ``X`` (:math:`Z = (X - \mu) A`; LeCun et al. 2012, section 4.3).
    """
    require_function(candidate)
    for number, X in enumerate(_cases(), 1):
        Z, failure = call_answer(candidate, (X.clone(),), f"test case {number}")
        if failure is not None:
            return failure
        if not isinstance(Z, torch.Tensor):
            return ExerciseResult(False, f"return a torch.Tensor, got {type(Z).__name__}")
        Z = Z.detach().double()
        if Z.shape != X.shape:
            return ExerciseResult(False, f"test case {number}: expected shape {tuple(X.shape)}, got {tuple(Z.shape)}; "
                                         "keep every component (no dimension reduction here).")
        if not torch.isfinite(Z).all():
            return ExerciseResult(False, f"test case {number}: the result contains NaN or inf.")
        mean = Z.mean(dim=0)
        if mean.abs().max() > atol:
            return ExerciseResult(False, f"test case {number}: the columns have mean up to {float(mean.abs().max()):.3g}; "
                                         "subtract the mean of X first.")
        covariance = Z.T @ Z / len(Z)
        identity = torch.eye(X.shape[1], dtype=torch.float64)
        diagonal_ok = torch.allclose(covariance.diagonal(), identity.diagonal(), atol=1e-4)
        off_diagonal = (covariance - torch.diag(covariance.diagonal())).abs().max()
        if off_diagonal > 1e-4 and diagonal_ok:
            return ExerciseResult(False, f"test case {number}: every column has variance 1 but they are still "
                                         f"correlated (largest covariance {float(off_diagonal):.3g}). That is "
                                         "standardisation; rotate onto the eigenvectors of the covariance first.")
        if off_diagonal <= 1e-4 and not diagonal_ok:
            return ExerciseResult(False, f"test case {number}: the columns are uncorrelated but their variances are "
                                         f"{[round(float(v), 3) for v in covariance.diagonal()]}; divide each "
                                         "principal component by the square root of its eigenvalue (use 1/N, not 1/(N-1)).")
        if (covariance - identity).abs().max() > 1e-4:
            return ExerciseResult(False, f"test case {number}: the covariance of the result differs from the identity "
                                         f"by up to {float((covariance - identity).abs().max()):.3g}.")
        centred = X - X.mean(dim=0)
        A = torch.linalg.lstsq(centred, Z).solution  # (d, d)
        if (centred @ A - Z).abs().max() > 1e-6:
            return ExerciseResult(False, f"test case {number}: the result is white but not a linear map of the "
                                         "centred data; whitening must be Z = (X - mu) A.")
    return ExerciseResult(True, "the result is centred, has identity covariance and is a linear map of the "
                                "centred data on all three test matrices.")
