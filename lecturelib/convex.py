"""The core of a convexified convolutional network (CCNN; Zhang, Liang & Wainwright 2017,
"Convexified convolutional neural networks", arXiv 1609.01000).

A two-layer linear CNN computes H(x)_k = tr(Z(x) A_k), where Z(x) stacks the patches z_p(x) of
the image as rows and A_k has rank at most r. Relaxing the rank constraint to a nuclear-norm ball
{||A||_* <= R} makes training convex; this module holds the pieces that relaxation needs:

* :func:`extract_patches`, the patch matrix Z(x);
* :func:`project_l1_ball` (Duchi et al. 2008) and :func:`project_nuclear_ball`, the Euclidean
  projections used by projected stochastic gradient;
* :class:`RandomFourierFeatures` (Rahimi & Recht 2007), kernel features for the nonlinear CCNN.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lecturelib import _checks

__all__ = ["extract_patches", "project_l1_ball", "project_nuclear_ball", "rbf_kernel",
           "RandomFourierFeatures"]


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
    U, s, Vh = torch.linalg.svd(A, full_matrices=False)
    if float(s.sum()) <= radius:
        return A.clone()
    w = project_l1_ball(s, radius)
    return (U * w) @ Vh


def rbf_kernel(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """The Gaussian (RBF) kernel k(x, y) = exp(-||x - y||^2 / (2 bandwidth^2)) between rows.

    ``x`` of shape (N, d) and ``y`` of shape (M, d) give the (N, M) Gram matrix.
    """
    _checks.check_tensor("x", x, ndim=2, floating=True, finite=True)
    _checks.check_tensor("y", y, ndim=2, floating=True, finite=True)
    bandwidth = _checks.check_positive("bandwidth", bandwidth)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"y must have x's {x.shape[1]} columns, got shape {tuple(y.shape)}")
    return torch.exp(-torch.cdist(x, y).pow(2) / (2 * bandwidth ** 2))


class RandomFourierFeatures(nn.Module):
    """Random Fourier features for the RBF kernel k(x, y) = exp(-||x - y||^2 / (2 bandwidth^2)).

    Rahimi & Recht (2007), "Random features for large-scale kernel machines":
    phi(x) = sqrt(2 / D) cos(W x + b) with the D rows of W drawn from N(0, I / bandwidth^2) (the
    Fourier transform of the kernel) and b ~ U[0, 2 pi], so that E[phi(x)^T phi(y)] = k(x, y).
    W and b are drawn once, from a generator seeded with ``seed``, and kept as buffers (no
    gradient); the features replace the kernel in the nonlinear CCNN (Zhang, Liang & Wainwright
    2017, Sec. 3.2). Called on a tensor of shape (..., in_features), returns (..., n_features).
    """

    def __init__(self, in_features: int, n_features: int, bandwidth: float, seed: int = 0,
                 dtype: torch.dtype | None = None):
        super().__init__()
        self.in_features = _checks.check_int("in_features", in_features, minimum=1)
        self.n_features = _checks.check_int("n_features", n_features, minimum=1)
        self.bandwidth = _checks.check_positive("bandwidth", bandwidth)
        self.seed = _checks.check_seed("seed", seed)
        if dtype is not None:
            _checks.check_type("dtype", dtype, torch.dtype)
            if not dtype.is_floating_point:
                raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        dtype = dtype or torch.get_default_dtype()
        generator = torch.Generator().manual_seed(self.seed)
        weight = torch.randn(self.n_features, self.in_features, generator=generator, dtype=torch.float64)
        bias = torch.rand(self.n_features, generator=generator, dtype=torch.float64) * (2 * math.pi)
        self.register_buffer("weight", (weight / self.bandwidth).to(dtype))
        self.register_buffer("bias", bias.to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _checks.check_tensor("x", x, min_ndim=1, floating=True, finite=True)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features in its last axis, "
                             f"got shape {tuple(x.shape)}")
        weight, bias = self.weight.to(x), self.bias.to(x)
        return math.sqrt(2.0 / self.n_features) * torch.cos(x @ weight.T + bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, n_features={self.n_features}, "
                f"bandwidth={self.bandwidth}, seed={self.seed}")
