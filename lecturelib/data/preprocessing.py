r"""Input preprocessing: centre, standardise, rotate onto the principal axes, whiten.

Each transform is an affine map of the inputs, fitted on data (LeCun et al., *Efficient
BackProp*, 1998/2012, section 4.3): with the mean :math:`\mu`, the per-feature standard
deviations :math:`\sigma` and the eigen-decomposition :math:`\Sigma = U\Lambda U^T` of the
covariance (eigenvalues in decreasing order),

================  ==========================================
``centred``       :math:`x - \mu`
``standardised``  :math:`(x - \mu) / (\sigma + \epsilon)`
``PCA``           :math:`U_k^T (x - \mu)`
``whitened``      :math:`(\Lambda_k + \epsilon)^{-1/2} U_k^T (x - \mu)`
================  ==========================================

Two faces share these formulas:

* :func:`preprocess_matrix` transforms a bare ``(N, d)`` matrix with its own statistics, in
  float64 (the chapters' 2-D clouds);
* :func:`center`, :func:`standardize`, :func:`pca`, :func:`whiten` transform a
  :class:`DataSplit`: fitted on the training inputs, applied to both splits, in the inputs' dtype.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .._checks import check_choice, check_int, check_positive, check_tensor, check_type
from .splits import DataSplit

__all__ = ["PREPROCESSINGS", "preprocess_matrix", "center", "standardize", "pca", "whiten"]

PREPROCESSINGS = ("raw", "centred", "standardised", "PCA", "whitened")


def _principal_axes(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of the covariance of ``X`` ``(N, d)``, largest variance first (float64):
    variances ``(d,)`` and axes ``(d, d)``, one per column."""
    Xc = (X - X.mean(dim=0, keepdim=True)).double()  # (N, d)
    covariance = Xc.T @ Xc / len(Xc)
    variances, axes = torch.linalg.eigh(covariance)
    order = torch.argsort(variances, descending=True)
    return variances[order], axes[:, order]


def preprocess_matrix(X: torch.Tensor, how: str, eps: float = 1e-12) -> torch.Tensor:
    r"""Apply one of :data:`PREPROCESSINGS` to a ``(N, d)`` matrix using its own statistics:
    :math:`x - \mu`, :math:`(x-\mu)/(\sigma+\epsilon)`, :math:`U^T(x-\mu)` or
    :math:`(\Lambda+\epsilon)^{-1/2}U^T(x-\mu)`, keeping every component. Returns float64."""
    check_choice("how", how, PREPROCESSINGS)
    check_tensor("X", X, ndim=2, floating=True)
    check_positive("eps", eps)
    X = X.double()
    if how == "raw":
        return X
    centred = X - X.mean(dim=0)  # (N, d)
    if how == "centred":
        return centred
    if how == "standardised":
        return centred / (centred.std(dim=0, unbiased=False) + eps)
    variances, axes = _principal_axes(X)
    rotated = centred @ axes  # (N, d)
    return rotated if how == "PCA" else rotated / torch.sqrt(variances.clamp_min(0) + eps)


# ---------------------------------------------------------------------------- DataSplit wrappers

def _check_split(split):
    check_type("split", split, DataSplit, "a DataSplit")


def _flat_inputs(split: DataSplit, n_components: int | None):
    """Both splits' inputs as ``(N, d)`` matrices, after checking ``1 <= n_components <= d``."""
    X_train = split.X_train.reshape(len(split.X_train), -1)
    X_test = split.X_test.reshape(len(split.X_test), -1)
    if n_components is not None:
        check_int("n_components", n_components, minimum=1, maximum=X_train.shape[1])
    return X_train, X_test


def center(split: DataSplit) -> DataSplit:
    r"""Subtract the training mean :math:`\mu = \frac1N\sum_i x_i` from both splits."""
    _check_split(split)
    mean = split.X_train.mean(dim=0, keepdim=True)
    return replace(split, X_train=split.X_train - mean, X_test=split.X_test - mean,
                   description=f"{split.description}, centred")


def standardize(split: DataSplit, eps: float = 1e-8) -> DataSplit:
    r"""Centre, then divide each feature by its training standard deviation:
    :math:`(x - \mu) / (\sigma + \epsilon)` with :math:`\epsilon > 0`. Constant features stay at zero."""
    _check_split(split)
    check_positive("eps", eps)
    mean = split.X_train.mean(dim=0, keepdim=True)
    std = split.X_train.std(dim=0, unbiased=False, keepdim=True)
    return replace(split, X_train=(split.X_train - mean) / (std + eps), X_test=(split.X_test - mean) / (std + eps),
                   description=f"{split.description}, standardised")


def pca(split: DataSplit, n_components: int | None = None) -> DataSplit:
    r"""Project centred inputs on the top ``n_components`` principal axes: :math:`U_k^T (x - \mu)`."""
    _check_split(split)
    X_train, X_test = _flat_inputs(split, n_components)
    mean = X_train.mean(dim=0, keepdim=True)
    _, axes = _principal_axes(X_train)
    axes = axes[:, :n_components].to(X_train.dtype)  # (d, k)
    return replace(split, X_train=(X_train - mean) @ axes, X_test=(X_test - mean) @ axes,
                   description=f"{split.description}, PCA")


def whiten(split: DataSplit, n_components: int | None = None, eps: float = 1e-5) -> DataSplit:
    r"""PCA-whitening: :math:`(\Lambda_k + \epsilon)^{-1/2} U_k^T (x - \mu)`, so the training
    covariance is (nearly) the identity. ``eps > 0`` keeps flat directions finite."""
    _check_split(split)
    check_positive("eps", eps)
    X_train, X_test = _flat_inputs(split, n_components)
    mean = X_train.mean(dim=0, keepdim=True)
    variances, axes = _principal_axes(X_train)
    transform = (axes[:, :n_components] / torch.sqrt(variances[:n_components].clamp_min(0) + eps))  # (d, k)
    transform = transform.to(X_train.dtype)
    return replace(split, X_train=(X_train - mean) @ transform, X_test=(X_test - mean) @ transform,
                   description=f"{split.description}, whitened")
