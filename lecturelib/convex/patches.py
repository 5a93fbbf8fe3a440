"""The patch matrix Z(x) of a convolutional layer, and the patch preprocessing of a CCNN layer."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lecturelib import _checks

__all__ = ["extract_patches", "normalize_patches", "zca_whitening_matrix", "zca_from_covariance"]


def extract_patches(images: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """The patch matrix Z(x) of each image (Zhang, Liang & Wainwright 2017, Sec. 3.1).

    ``images`` of shape (N, C, H, W) become (N, P, C * size * size): row p of Z(x) is the patch
    z_p(x) = x[:, i s : i s + size, j s : j s + size] flattened in (channel, row, column) order,
    with p = i * P_W + j running over patch positions in row-major order, P = P_H * P_W and
    P_H = (H - size) // s + 1 for stride s (no padding). Computed by ``torch.nn.functional.unfold``.
    """
    _checks.check_tensor("images", images, ndim=4, floating=True, finite=True)
    size = _checks.check_int("size", size, minimum=1)
    stride = _checks.check_int("stride", stride, minimum=1)
    height, width = images.shape[-2:]
    if size > height or size > width:
        raise ValueError(f"size must be at most the image's height and width {(height, width)}, got {size}")
    return F.unfold(images, kernel_size=size, stride=stride).transpose(1, 2)


def normalize_patches(patches: torch.Tensor, offset: float = 0.1) -> torch.Tensor:
    """Local contrast normalisation of each patch: z <- (z - mean(z)) / (||z - mean(z)|| + offset).

    The patch preprocessing of Zhang, Liang & Wainwright's CCNN code: every row of ``patches``
    (..., d) loses its mean and is scaled to norm just under 1; ``offset`` keeps flat patches
    (norm 0) at zero instead of dividing by zero.
    """
    _checks.check_tensor("patches", patches, min_ndim=1, floating=True, finite=True)
    offset = _checks.check_positive("offset", offset)
    centred = patches - patches.mean(dim=-1, keepdim=True)
    return centred / (centred.norm(dim=-1, keepdim=True) + offset)


def zca_whitening_matrix(patches: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """The ZCA whitening matrix M = U diag(1 / sqrt(s + epsilon)) U^T of the rows of ``patches``.

    With the covariance Sigma = (1/n) sum_i (z_i - mu)(z_i - mu)^T = U diag(s) U^T of the (n, d)
    rows, M z whitens z while staying as close to it as possible (Bell & Sejnowski 1997);
    ``epsilon`` damps the directions of small variance. Returns the symmetric (d, d) matrix.
    """
    _checks.check_tensor("patches", patches, ndim=2, floating=True, finite=True, nonempty=True)
    epsilon = _checks.check_positive("epsilon", epsilon)
    centred = patches.double() - patches.double().mean(dim=0)
    return zca_from_covariance(centred.T @ centred / len(patches), epsilon).to(patches.dtype)


def zca_from_covariance(covariance: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    """U diag(1 / sqrt(s + epsilon)) U^T for the symmetric ``covariance`` = U diag(s) U^T (float64)."""
    s, U = torch.linalg.eigh(covariance.double())
    return (U / torch.sqrt(s.clamp(min=0) + epsilon)) @ U.T
