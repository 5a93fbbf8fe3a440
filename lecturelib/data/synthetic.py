"""Data sets that need no download: scikit-learn's bundled digits, and sets generated here.

* :func:`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 64 features).
* :func:`mnist1d`: MNIST-1D (Greydanus 2020), generated offline with the ``mnist1d`` package's
  own generator and cached on disk.
* :func:`regression_1d`: the book's one-dimensional regression problem (the lecture does not give its data).
* :func:`toy_2d`: two-dimensional classification sets (moons, circles, spirals, blobs).
"""

from __future__ import annotations

import random
import warnings

import numpy as np
import torch

from .. import storage
from .._checks import check_choice, check_fraction, check_int, check_nonnegative, check_seed
from .splits import DataSplit, split_arrays

__all__ = ["digits", "mnist1d", "regression_target", "regression_1d", "TOY_KINDS", "toy_2d"]


def digits(test_fraction: float = 0.25, seed: int = 0) -> DataSplit:
    """Scikit-learn's bundled handwritten digits: 1,797 8x8 images, pixels scaled to [0, 1].

    The split is stratified by class and fixed by ``seed``. Inputs have shape ``(N, 64)``.
    """
    from sklearn.datasets import load_digits

    check_fraction("test_fraction", test_fraction)
    check_seed("seed", seed)
    bunch = load_digits()
    X = bunch.data.astype(np.float32) / 16.0  # pixel values 0..16 -> [0, 1]
    return split_arrays(X, bunch.target, test_fraction, seed, "digits (8x8, 10 classes)")


_MNIST1D_KEYS = {"X_train", "y_train", "X_test", "y_test"}


def mnist1d(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42) -> DataSplit:
    """MNIST-1D (Greydanus 2020): 40-sample 1-D signals of ten digit templates, 10 classes.

    Generated with ``mnist1d.data.make_dataset`` and the package's default arguments (with the
    given size, split and seed), never downloaded. The arrays are cached on disk with a checksum;
    a corrupted cache file is reported and regenerated, and a cache that cannot be written (see
    :mod:`lecturelib.storage`) is reported once while the data are generated and returned.
    """
    check_int("num_samples", num_samples, minimum=20)
    check_fraction("train_split", train_split)
    check_seed("seed", seed)
    path = storage.cache_dir() / f"mnist1d-n{num_samples}-s{train_split}-seed{seed}.pt"
    arrays = None
    try:
        arrays = storage.load_tensors(path)
        if not isinstance(arrays, dict) or set(arrays) != _MNIST1D_KEYS:
            raise storage.CorruptCacheError(f"{path}: unexpected contents")
    except FileNotFoundError:
        pass
    except storage.CorruptCacheError as error:
        warnings.warn(f"{error}; regenerating MNIST-1D", stacklevel=2)
        arrays = None
    if arrays is None:
        arrays = _generate_mnist1d(num_samples, train_split, seed)
        storage.save_if_writable(path, arrays)
    return DataSplit(arrays["X_train"], arrays["y_train"], arrays["X_test"], arrays["y_test"],
                     "MNIST-1D (40 samples per signal, 10 classes)")


def _generate_mnist1d(num_samples: int, train_split: float, seed: int) -> dict:
    """``mnist1d.data.make_dataset`` with the package's defaults, leaving the caller's random streams alone."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = int(num_samples), float(train_split), int(seed)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(args)  # seeds the global generators itself
    finally:  # leave the caller's random streams untouched
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "X_train": torch.as_tensor(raw["x"], dtype=torch.float32),
        "y_train": torch.as_tensor(raw["y"], dtype=torch.int64),
        "X_test": torch.as_tensor(raw["x_test"], dtype=torch.float32),
        "y_test": torch.as_tensor(raw["y_test"], dtype=torch.int64),
    }


def regression_target(x: torch.Tensor) -> torch.Tensor:
    r"""The noiseless function of the book's 1-D regression problem, :math:`f(x) = \sin(3x) + 0.3x`
    (the book's choice; the lecture does not give its data)."""
    return torch.sin(3.0 * x) + 0.3 * x


def regression_1d(n_train: int = 30, n_test: int = 200, noise: float = 0.1, seed: int = 0) -> DataSplit:
    r"""The book's one-dimensional regression problem.

    Inputs :math:`x \sim U[-1.5, 1.5]`, targets :math:`y = \sin(3x) + 0.3x + \varepsilon` with
    :math:`\varepsilon \sim N(0, \text{noise}^2)`. Shapes ``(N, 1)`` for both. The training inputs
    are sorted, which makes plots of the fit simple.

    The function, the input range, the noise and the 30 points are the book's own choice: the
    lecture trains its 1-D regression networks (widths 5, 5, 5, 1, 1; the residual depth sweep)
    on data it shows only in figures and does not give, so the book's runs reproduce the
    lecture's experiments on a problem of the same kind, not on the lecture's data.
    """
    check_int("n_train", n_train, minimum=1)
    check_int("n_test", n_test, minimum=1)
    check_nonnegative("noise", noise)
    seed = check_seed("seed", seed)
    generator = torch.Generator().manual_seed(int(seed))

    def sample(n):
        x = torch.sort(torch.rand(n, 1, generator=generator) * 3.0 - 1.5, dim=0).values
        y = regression_target(x) + noise * torch.randn(n, 1, generator=generator)
        return x, y

    X_train, y_train = sample(n_train)
    X_test, y_test = sample(n_test)
    return DataSplit(X_train, y_train, X_test, y_test, f"1-D regression, sin(3x)+0.3x, noise {noise}")


TOY_KINDS = ("moons", "circles", "spirals", "blobs")


def toy_2d(kind: str = "moons", n_samples: int = 400, noise: float = 0.15, test_fraction: float = 0.5,
           seed: int = 0) -> DataSplit:
    """Two-dimensional classification sets: ``moons``, ``circles`` (2 classes), ``spirals`` (3
    interleaved arms), ``blobs`` (3 Gaussian clusters). Inputs have shape ``(N, 2)``.

    ``noise`` is the standard deviation of Gaussian noise added to the coordinates (moons,
    circles), to the angle in radians (spirals: 0 puts every point on its arm), or added to the
    clusters' standard deviation as ``1 + 5 * noise`` (blobs). Exactly ``n_samples`` points.
    """
    from sklearn import datasets

    check_choice("kind", kind, TOY_KINDS)
    n_samples = check_int("n_samples", n_samples, minimum=10)
    noise = check_nonnegative("noise", noise)
    check_fraction("test_fraction", test_fraction)
    seed = check_seed("seed", seed)
    if kind == "moons":
        X, y = datasets.make_moons(n_samples, noise=noise, random_state=seed)
    elif kind == "circles":
        X, y = datasets.make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
    elif kind == "blobs":
        X, y = datasets.make_blobs(n_samples, centers=3, cluster_std=1.0 + 5 * noise, random_state=seed)
    else:
        rng = np.random.default_rng(seed)
        arms = 3
        per_arm = [n_samples // arms + (k < n_samples % arms) for k in range(arms)]  # the remainder to the first
        radius = np.concatenate([np.linspace(0.05, 1.0, count) for count in per_arm])
        y = np.repeat(np.arange(arms), per_arm)
        angle = 4.0 * radius + 2 * np.pi * y / arms + rng.normal(0, noise, len(y))
        X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return split_arrays(np.asarray(X, dtype=np.float32), np.asarray(y), test_fraction, seed, f"2-D {kind}")
