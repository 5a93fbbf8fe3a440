"""The convexification chapter's first two pages: a linear CNN as a low-rank matrix, and the
nuclear-norm relaxation trained by projected gradient, against SGD on the non-convex CNN.

Every run here uses scikit-learn's 8x8 digits as 1-channel images, 3x3 patches (P = 36) and
2x2 pooling of the patch grid (Q = 9). The linear layer's features are the whitened,
standardised patches themselves (m = 9), so that projected gradient converges in a few hundred
steps; the kernel layer uses random Fourier features of the same patches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lecturelib import _checks, convex, data, models, train

__all__ = ["PATCH", "POOL", "digit_images", "patch_features", "step_size", "projected_gradient",
           "random_starts", "cnn1_losses", "RadiusPoint", "radius_sweep", "cnn_radius_bound",
           "random_cnn_nuclear_ratios", "KernelPoint", "kernel_layer", "kernel_grid"]

PATCH, POOL = 3, 2


def digit_images(dtype: torch.dtype = torch.float64) -> data.DataSplit:
    """The bundled digits as (N, 1, 8, 8) images (1,347 for training, 450 for testing)."""
    split = data.digits()
    shape = (-1, 1, 8, 8)
    return data.DataSplit(split.X_train.reshape(shape).to(dtype), split.y_train,
                          split.X_test.reshape(shape).to(dtype), split.y_test, "digits as 1x8x8 images")


def patch_features(images: torch.Tensor, kernel: str = "linear", n_features: int = 100,
                   seed: int = 0) -> convex.PatchKernelFeatures:
    """The chapter's layer input: 3x3 patches, contrast-normalised, whitened, pooled 2x2, fitted on ``images``."""
    return convex.PatchKernelFeatures(1, 8, patch_size=PATCH, pool=POOL, kernel=kernel, n_features=n_features,
                                      bandwidth=1.0, seed=seed).fit(images.float()).to(images.dtype)


def step_size(features: convex.PatchKernelFeatures, images: torch.Tensor, iterations: int = 100) -> float:
    """1 / L for the mean logistic loss, with L = lambda_max(Z^T Z / n) / 2.

    The Hessian of the softmax cross-entropy in the scores has eigenvalues at most 1/2, so with
    the features as an (n, Qm) matrix Z the gradient of L(A) is Lipschitz with this constant, and
    projected gradient with step 1/L never increases the objective. lambda_max comes from
    ``iterations`` power iterations, enlarged by 5 % so that the step stays below 1/L.
    """
    Z = features(images).reshape(len(images), -1).double()
    v = torch.ones(Z.shape[1], dtype=torch.float64)
    for _ in range(iterations):
        v = Z.T @ (Z @ v)
        v = v / v.norm()
    largest = float(v @ (Z.T @ (Z @ v))) / len(images)
    return 2.0 / (1.05 * largest)


def projected_gradient(features, split: data.DataSplit, radius: float, steps: int = 300,
                       init: torch.Tensor | None = None, dtype: torch.dtype = torch.float64,
                       lr: float | None = None) -> convex.CCNNFit:
    """Full-batch projected gradient on the ball of ``radius``, features kept in memory, at step
    ``lr``: by default 1/L from :func:`step_size`, which depends only on the features and the
    training images, so runs on the same ones pass it in once computed."""
    lr = step_size(features, split.X_train) if lr is None else lr
    return convex.fit_ccnn(features, split.X_train, split.y_train, radius=radius, lr=lr,
                           epochs=steps, batch_size=None, init=init, in_memory=True, chunk_size=2048,
                           device="cpu", dtype=dtype)


def random_starts(features, split: data.DataSplit, radius: float, starts: int = 5, steps: int = 300,
                  scale: float = 1.0) -> list[convex.CCNNFit]:
    """Projected gradient from ``starts`` random points A_0 ~ N(0, scale^2) (seeds 0, 1, ...)."""
    shape = (10, features.n_positions, features.n_features)
    lr = step_size(features, split.X_train)
    return [projected_gradient(features, split, radius, steps,
                               init=scale * torch.randn(shape, generator=torch.Generator().manual_seed(seed),
                                                        dtype=torch.float64), lr=lr)
            for seed in range(_checks.check_int("starts", starts, minimum=1))]


def cnn1_losses(split: data.DataSplit, seeds=range(5), filters: int = 9, epochs: int = 60,
                lr: float = 0.1) -> list[float]:
    """Final training losses of a ReLU CNN-1 (``filters`` 3x3 filters, 2x2 pooling, linear read-out)
    trained by minibatch SGD (batch 64) from each seed: the non-convex counterpart of the CCNN."""
    losses = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = models.ShallowCNN((1, 8, 8), 10, (filters,), "relu", kernel_size=PATCH, pool=POOL).double()
        history = train.fit(model, split, optimizer="sgd", lr=lr, momentum=0.9, epochs=epochs, batch_size=64,
                            seed=seed, eval_every=epochs, device="cpu")
        losses.append(history.train_loss[-1])
    return losses


@dataclass
class RadiusPoint:
    radius: float
    rank: int
    singular_values: np.ndarray
    train_error: float
    test_error: float
    objective: float


def _numerical_rank(singular_values: torch.Tensor, tolerance: float = 1e-8) -> int:
    return int((singular_values > tolerance * max(float(singular_values.max()), 1e-300)).sum())


def radius_sweep(features, split: data.DataSplit, radii, steps: int = 300) -> list[RadiusPoint]:
    """Solve the relaxed program at each radius: rank of A, its singular values, the errors."""
    points, lr = [], step_size(features, split.X_train)
    for radius in radii:
        fit = projected_gradient(features, split, float(radius), steps, lr=lr)
        s = fit.singular_values()
        points.append(RadiusPoint(float(radius), _numerical_rank(s), s.numpy(), fit.error(split.X_train, split.y_train),
                                  fit.error(split.X_test, split.y_test), fit.objective[-1]))
    return points


def cnn_radius_bound(filter_bound: float, readout_bound: float, rank: int, outputs: int) -> float:
    """B_1 B_2 r sqrt(n): the nuclear norm of any CNN with r filters ||w_j|| <= B_1 and read-out
    rows ||alpha_{k,j}|| <= B_2 for n outputs (Zhang, Liang & Wainwright 2017, Sec. 3.1)."""
    return filter_bound * readout_bound * rank * math.sqrt(outputs)


def random_cnn_nuclear_ratios(draws: int = 200, rank: int = 4, outputs: int = 10, positions: int = 36,
                              seed: int = 0) -> np.ndarray:
    """||A||_* / (B_1 B_2 r sqrt(n)) for random linear CNNs with filters and read-out rows on the
    unit spheres (B_1 = B_2 = 1): every ratio is at most 1."""
    g = torch.Generator().manual_seed(seed)
    ratios = []
    for _ in range(draws):
        filters = torch.randn(rank, 1, PATCH, PATCH, generator=g, dtype=torch.float64)
        filters /= filters.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        readout = torch.randn(outputs, rank, positions, generator=g, dtype=torch.float64)
        readout /= readout.norm(dim=2, keepdim=True)
        A = convex.linear_cnn_weight(filters, readout).reshape(outputs * positions, -1)
        ratios.append(convex.nuclear_norm(A) / cnn_radius_bound(1.0, 1.0, rank, outputs))
    return np.array(ratios)


@dataclass
class KernelPoint:
    radius: float
    n_features: int
    singular_values: np.ndarray
    train_error: float
    test_error: float


def kernel_layer(split: data.DataSplit, radius: float, n_features: int, steps: int = 40,
                 features: convex.PatchKernelFeatures | None = None, lr: float | None = None) -> KernelPoint:
    """A CCNN-1 on random Fourier features of the patches, ``steps`` of projected gradient in float32:
    the widget's computation."""
    features = features or patch_features(split.X_train, "rbf", n_features)
    fit = projected_gradient(features, split, radius, steps, dtype=torch.float32, lr=lr)
    return KernelPoint(radius, n_features, fit.singular_values().numpy(), fit.error(split.X_train, split.y_train),
                       fit.error(split.X_test, split.y_test))


def kernel_grid(split: data.DataSplit, radii, feature_counts, steps: int = 40) -> dict:
    """``{(radius, n_features): KernelPoint}`` over the grid, the features and the step built once per count."""
    points = {}
    for n_features in feature_counts:
        features = patch_features(split.X_train, "rbf", int(n_features))
        lr = step_size(features, split.X_train)
        for radius in radii:
            points[(float(radius), int(n_features))] = kernel_layer(split, float(radius), int(n_features), steps,
                                                                    features, lr)
    return points
