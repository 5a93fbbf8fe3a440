"""Kernel features of image patches: the input of a convexified CNN layer.

A CCNN layer with a nonlinear activation replaces sigma(w^T z) by a function in the reproducing
kernel Hilbert space of a kernel k (Zhang, Liang & Wainwright 2017, Sec. 3.2). With a finite
feature map phi, k(z, z') ~ phi(z)^T phi(z'), the layer becomes linear in phi(z_p(x)) and the
convex program of the linear case applies unchanged. :class:`PatchKernelFeatures` turns images
into the pooled feature matrix Z(x) of that program, chunk by chunk, so that no more than one
chunk of features is ever held in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from lecturelib import _checks
from lecturelib.convex.patches import extract_patches, normalize_patches, zca_from_covariance

__all__ = ["rbf_kernel", "RandomFourierFeatures", "PatchKernelFeatures", "KERNELS"]

KERNELS = ("rbf", "linear")


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


def _evenly_spaced(count: int, total: int) -> torch.Tensor:
    """``count`` indices spread evenly over range(total): a deterministic sample for fitting."""
    return torch.linspace(0, total - 1, min(count, total)).round().long().unique()


class PatchKernelFeatures(nn.Module):
    """images (N, C, H, W) -> pooled patch features Z(x) of shape (N, Q, m).

    The steps of a CCNN layer's input (Zhang, Liang & Wainwright 2017, Algorithm 1, steps 1-2):

    1. the patches z_p(x) of size ``patch_size`` at stride 1, P = (H - s + 1)(W - s + 1) of them;
    2. optionally each patch contrast-normalised (:func:`normalize_patches`) and ZCA-whitened
       (:func:`zca_whitening_matrix`), as in the authors' code;
    3. the kernel features phi(z_p): random Fourier features of the RBF kernel
       (``kernel="rbf"``, m = ``n_features``), or the patch itself (``kernel="linear"``, the
       linear CNN of Sec. 3.1, m = C s^2);
    4. average pooling of phi over ``pool`` x ``pool`` windows of the P_H x P_W grid of patch
       positions (stride ``pool``), giving Q = floor(P_H / pool) floor(P_W / pool) rows;
    5. optionally centred and scaled so that a row has unit mean square norm.

    The whitening matrix and the centring statistics are fitted by :meth:`fit` on an evenly
    spaced sample of the training images, so features do not depend on how the data is chunked.
    """

    def __init__(self, in_channels: int, image_size: int | tuple[int, int], patch_size: int = 5,
                 pool: int = 2, kernel: str = "rbf", n_features: int = 200, bandwidth: float = 1.6,
                 normalize: bool = True, whiten: bool = True, standardize: bool = True, seed: int = 0):
        super().__init__()
        self.in_channels = _checks.check_int("in_channels", in_channels, minimum=1)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2:
            raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}")
        self.image_size = tuple(_checks.check_int("image_size", n, minimum=1) for n in size)
        self.patch_size = _checks.check_int("patch_size", patch_size, minimum=1)
        if self.patch_size > min(self.image_size):
            raise ValueError(f"patch_size must be at most the image's height and width {self.image_size}, "
                             f"got {patch_size}")
        self.grid = tuple(n - self.patch_size + 1 for n in self.image_size)
        self.pool = _checks.check_int("pool", pool, minimum=1)
        if self.pool > min(self.grid):
            raise ValueError(f"pool must be at most the patch grid {self.grid}, got {pool}")
        self.pooled_grid = tuple(n // self.pool for n in self.grid)
        self.kernel = _checks.check_choice("kernel", kernel, KERNELS)
        for name, flag in (("normalize", normalize), ("whiten", whiten), ("standardize", standardize)):
            _checks.check_type(name, flag, bool)
        self.normalize, self.whiten, self.standardize = normalize, whiten, standardize
        patch_dim = self.in_channels * self.patch_size ** 2
        if self.kernel == "rbf":
            self.random_features = RandomFourierFeatures(patch_dim, n_features, bandwidth, seed=seed)
            self.n_features = self.random_features.n_features
        else:
            self.random_features = None
            self.n_features = patch_dim
        self.register_buffer("whitening", torch.eye(patch_dim))
        self.register_buffer("mean", torch.zeros(self.n_features))
        self.register_buffer("scale", torch.ones(()))
        self.fitted = not (whiten or standardize)

    @property
    def n_positions(self) -> int:
        """Q, the number of pooled patch positions (rows of Z(x))."""
        return self.pooled_grid[0] * self.pooled_grid[1]

    def _check_images(self, images: torch.Tensor) -> torch.Tensor:
        return _checks.check_tensor("images", images, shape=(None, self.in_channels, *self.image_size),
                                    floating=True, finite=True)

    def _patch_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> the preprocessed patches (N, P, C s^2): the reference path, by unfold."""
        patches = extract_patches(images, self.patch_size)                  # (N, P, C s^2)
        if self.normalize:
            patches = normalize_patches(patches)
        if self.whiten:
            patches = patches @ self.whitening.to(patches)
        return patches

    def _random_feature_grid(self, images: torch.Tensor) -> torch.Tensor:
        """phi(z_p) / sqrt(2/m) = cos(W M z~_p + b) on the patch grid, (N, m, P_H, P_W), by one convolution.

        With z~ = (z - mu 1) / (||z - mu 1|| + 0.1) the contrast-normalised patch, mu its mean and
        M the whitening matrix, W M z~ = (W M z - mu W M 1) / (||z - mu 1|| + 0.1): the products
        W M z_p at every position are one ``conv2d`` with the m rows of W M as filters, and mu and
        ||z - mu 1||^2 = sum z^2 - d mu^2 are box filters of x and x^2. No patch matrix is formed.
        """
        rff, s = self.random_features, self.patch_size
        filters = rff.weight.to(images) @ self.whitening.to(images)          # (m, d): W M
        u = F.conv2d(images, filters.reshape(-1, self.in_channels, s, s))   # (N, m, P_H, P_W)
        if self.normalize:
            d = filters.shape[1]
            mean = F.avg_pool2d(images, s, stride=1).mean(dim=1, keepdim=True)            # (N, 1, P_H, P_W)
            square = F.avg_pool2d(images * images, s, stride=1).sum(dim=1, keepdim=True) * (s * s)
            norm = (square - d * mean * mean).clamp(min=0).sqrt()
            u.addcmul_(mean, filters.sum(dim=1).reshape(1, -1, 1, 1), value=-1).div_(norm + 0.1)
        # in place: the (N, m, P_H, P_W) grid is the largest tensor of a chunk, so keep only one of it
        return u.add_(rff.bias.to(images).reshape(1, -1, 1, 1)).cos_()

    def _pooled(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, Q, m), before standardisation."""
        n, (rows, cols) = len(images), self.grid
        if self.random_features is None:
            grid = self._patch_features(images).transpose(1, 2).reshape(n, self.n_features, rows, cols)
            scale = 1.0
        else:
            grid = self._random_feature_grid(images)                         # (N, m, P_H, P_W)
            scale = math.sqrt(2.0 / self.n_features)
        pooled = F.avg_pool2d(grid, self.pool)                              # (N, m, Q_H, Q_W)
        return pooled.flatten(2).transpose(1, 2) * scale                    # (N, Q, m)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, sample: int = 2000) -> "PatchKernelFeatures":
        """Fit the whitening matrix and the centring statistics on ``sample`` evenly spaced images."""
        self._check_images(images)
        sample = _checks.check_int("sample", sample, minimum=1)
        chosen = images[_evenly_spaced(sample, len(images)).to(images.device)]
        if self.whiten:
            # the patch covariance summed over chunks of images, so that fitting holds one chunk of patches
            d = self.whitening.shape[0]
            total, outer, count = torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64), 0
            for start in range(0, len(chosen), 250):
                patches = extract_patches(chosen[start:start + 250], self.patch_size).reshape(-1, d)
                if self.normalize:
                    patches = normalize_patches(patches)
                patches = patches.double().cpu()
                total, outer, count = total + patches.sum(dim=0), outer + patches.T @ patches, count + len(patches)
            mean = total / count
            self.whitening = zca_from_covariance(outer / count - torch.outer(mean, mean)).to(self.whitening)
        if self.standardize:
            self.mean.zero_()
            self.scale.fill_(1.0)
            # sums over chunks, so that fitting holds no more features than a chunk
            total, square, count = 0.0, 0.0, 0
            for start in range(0, len(chosen), 125):
                rows = self._pooled(chosen[start:start + 125]).reshape(-1, self.n_features).double()
                total, square, count = total + rows.sum(dim=0), square + rows.pow(2).sum(), count + len(rows)
            mean = total / count
            self.mean = mean.to(self.mean)
            self.scale = (square / count - mean.pow(2).sum()).clamp(min=0).sqrt().to(self.scale)
        self.fitted = True
        return self

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._check_images(images)
        if not self.fitted:
            raise RuntimeError("PatchKernelFeatures must be fitted first: call .fit(training_images)")
        pooled = self._pooled(images)
        if self.standardize:
            pooled = (pooled - self.mean.to(pooled)) / self.scale.to(pooled)
        return pooled

    def stream(self, images: torch.Tensor, chunk_size: int = 256) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield ``(rows, Z)`` for consecutive chunks of ``images``: the features of images[rows]."""
        self._check_images(images)
        chunk_size = _checks.check_int("chunk_size", chunk_size, minimum=1)
        for start in range(0, len(images), chunk_size):
            rows = slice(start, min(start + chunk_size, len(images)))
            yield rows, self(images[rows])

    def feature_bytes(self, n_images: int, dtype: torch.dtype = torch.float32) -> int:
        """Bytes that keeping the pooled features of ``n_images`` images in memory would take."""
        n_images = _checks.check_int("n_images", n_images, minimum=0)
        return n_images * self.n_positions * self.n_features * torch.empty((), dtype=dtype).element_size()

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, image_size={self.image_size}, patch_size={self.patch_size}, "
                f"pool={self.pool}, kernel={self.kernel!r}, n_features={self.n_features}, "
                f"positions={self.n_positions}")
