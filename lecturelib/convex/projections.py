"""Euclidean projections onto the l1 ball and the nuclear-norm ball: the projection step of the
convexified CNN's projected stochastic gradient (Zhang, Liang & Wainwright 2017, Algorithm 1)."""

from __future__ import annotations

import torch

from lecturelib import _checks

__all__ = ["project_l1_ball", "project_nuclear_ball", "nuclear_norm"]


def _l1_threshold(u: torch.Tensor, radius: float) -> torch.Tensor:
    """theta with sum_i max(u_i - theta, 0) = radius, for u >= 0 with sum(u) > radius > 0."""
    s, _ = torch.sort(u, descending=True)
    cumulative = torch.cumsum(s, 0)
    index = torch.arange(1, len(s) + 1, dtype=s.dtype, device=s.device)
    positive = s - (cumulative - radius) / index > 0
    positive[0] = True  # u_1 - (u_1 - radius) = radius > 0 exactly; rounding may lose a tiny radius
    rho = int(torch.nonzero(positive).max())
    return (cumulative[rho] - radius) / (rho + 1)


def project_l1_ball(v: torch.Tensor, radius: float) -> torch.Tensor:
    """The Euclidean projection of a vector onto the l1 ball {w : ||w||_1 <= radius}.

    The sorting algorithm of Duchi, Shalev-Shwartz, Singer & Chandra (2008), "Efficient projections
    onto the l1-ball for learning in high dimensions", Fig. 1: for a nonnegative v with
    sum(v) > radius, sort u = sort(v, descending), take
    rho = max{j : u_j - (sum_{i<=j} u_i - radius) / j > 0}, theta = (sum_{i<=rho} u_i - radius) / rho,
    and return w_i = max(v_i - theta, 0). A vector with signs is projected through |v| with its
    signs restored. A vector already in the ball is returned unchanged (as a copy).
    """
    _checks.check_tensor("v", v, ndim=1, floating=True, finite=True)
    radius = _checks.check_nonnegative("radius", radius)
    magnitude = v.abs()
    if float(magnitude.sum()) <= radius:
        return v.clone()
    if radius == 0.0:
        return torch.zeros_like(v)
    theta = _l1_threshold(magnitude, radius)
    return torch.sign(v) * torch.clamp(magnitude - theta, min=0)


def project_nuclear_ball(A: torch.Tensor, radius: float) -> torch.Tensor:
    """The Euclidean (Frobenius) projection of a matrix onto {P : ||P||_* <= radius}.

    With the SVD A = U diag(s) V^T, the projection is U diag(w) V^T where w is the projection of
    the singular values s onto the l1 ball of the given radius (:func:`project_l1_ball`; Duchi et
    al. 2008): w_i = max(s_i - theta, 0) with sum_i w_i = radius. This is the step of projected
    stochastic gradient in Zhang, Liang & Wainwright (2017), Algorithm 1, whose nuclear-norm ball
    ||A||_* <= B_1 B_2 r sqrt(n) relaxes the rank constraint. A matrix already inside is returned
    unchanged (as a copy).
    """
    _checks.check_tensor("A", A, ndim=2, floating=True, finite=True)
    radius = _checks.check_nonnegative("radius", radius)
    # The singular vectors of the short side come from the eigendecomposition of the smaller
    # Gram matrix, in float64: A A^T = U diag(s^2) U^T, and then U diag(w) V^T = U diag(w / s) U^T A.
    # One small symmetric eigenproblem is several times cheaper than an SVD of A.
    wide = A.shape[0] <= A.shape[1]
    A64 = A.double()
    gram = A64 @ A64.T if wide else A64.T @ A64
    eigenvalues, vectors = torch.linalg.eigh(gram)
    s = eigenvalues.clamp(min=0).sqrt()
    if float(s.sum()) <= radius:
        return A.clone()
    w = project_l1_ball(s, radius)
    kept = w > 0                                 # w_i > 0 only where s_i > theta >= 0
    basis, factor = vectors[:, kept], w[kept] / s[kept]
    projected = (basis * factor) @ (basis.T @ A64) if wide else (A64 @ basis * factor) @ basis.T
    return projected.to(A.dtype)


def nuclear_norm(A: torch.Tensor) -> float:
    """||A||_* = sum_i sigma_i(A), the sum of the singular values (the Schatten-1 norm)."""
    _checks.check_tensor("A", A, ndim=2, floating=True, finite=True)
    return float(torch.linalg.matrix_norm(A, ord="nuc"))
