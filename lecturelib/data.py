"""Data sets of the book: bundled, generated, or read from a local folder. Nothing is downloaded.

Every loader returns a :class:`DataSplit`. Classification targets are ``int64`` class indices of
shape ``(N,)``; regression targets are ``float32`` of shape ``(N, 1)``; inputs are ``float32``.

* :func:`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 64 features).
* :func:`mnist1d`: MNIST-1D (Greydanus 2020), generated offline with the ``mnist1d`` package's
  own generator and cached on disk.
* :func:`regression_1d`: the lectures' one-dimensional regression problem.
* :func:`toy_2d`: two-dimensional classification sets (moons, circles, spirals, blobs).
* :func:`load_mnist`, :func:`load_cifar10`: the real data sets, from ``$LECTURELIB_DATA``.
* :func:`center`, :func:`standardize`, :func:`pca`, :func:`whiten`: preprocessing fitted on the
  training inputs and applied to both splits.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import storage
from ._checks import check_choice, check_fraction, check_int, check_nonnegative, check_positive, check_seed, check_type

__all__ = [
    "DataSplit", "digits", "mnist1d", "regression_1d", "regression_target", "toy_2d", "TOY_KINDS",
    "center", "standardize", "pca", "whiten", "data_root", "load_mnist", "load_cifar10",
]


@dataclass(frozen=True)
class DataSplit:
    """A train/test split: ``X_train (N, ...)``, ``y_train (N,)`` or ``(N, 1)``, and the same for test."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    description: str = ""

    def __post_init__(self):
        for name in ("X_train", "y_train", "X_test", "y_test"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"DataSplit.{name} must be a torch.Tensor, got {type(value).__name__}")
        if len(self.X_train) != len(self.y_train):
            raise ValueError(f"X_train has {len(self.X_train)} rows but y_train has {len(self.y_train)}")
        if len(self.X_test) != len(self.y_test):
            raise ValueError(f"X_test has {len(self.X_test)} rows but y_test has {len(self.y_test)}")
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(f"X_train rows have shape {tuple(self.X_train.shape[1:])}, "
                             f"X_test rows {tuple(self.X_test.shape[1:])}")

    @property
    def is_classification(self) -> bool:
        """True when targets are integer class labels."""
        return not torch.is_floating_point(self.y_train)

    @property
    def n_classes(self) -> int | None:
        """Number of classes (``None`` for regression)."""
        if not self.is_classification:
            return None
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def n_features(self) -> int:
        """Number of input features per sample (product of the non-batch dimensions)."""
        return int(np.prod(self.X_train.shape[1:]))

    def to(self, device) -> "DataSplit":
        """The same split with every tensor on ``device``."""
        return replace(self, X_train=self.X_train.to(device), y_train=self.y_train.to(device),
                       X_test=self.X_test.to(device), y_test=self.y_test.to(device))

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "DataSplit":
        """The first ``n_train`` training and ``n_test`` test samples (all when ``None``)."""
        for name, n in (("n_train", n_train), ("n_test", n_test)):
            if n is not None:
                check_int(name, n, minimum=1)
        return replace(self, X_train=self.X_train[:n_train], y_train=self.y_train[:n_train],
                       X_test=self.X_test[:n_test], y_test=self.y_test[:n_test])

    def __repr__(self) -> str:
        kind = f"{self.n_classes} classes" if self.is_classification else "regression"
        return (f"DataSplit({self.description!r}: train {tuple(self.X_train.shape)}, "
                f"test {tuple(self.X_test.shape)}, {kind})")


# mnist1d (below) validates with these three names; they are lecturelib._checks under data.py's old signatures.
def _check_fraction(name, value):
    check_fraction(name, value)


def _check_positive_int(name, value, minimum=1):
    check_int(name, value, minimum=minimum)


def _check_seed(seed):
    check_seed("seed", seed)


def _split(X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int, description: str,
           stratify: bool = True) -> DataSplit:
    """Shuffle with ``seed`` and cut off the last ``test_fraction`` (stratified by class); neither
    part may come out empty."""
    rng = np.random.default_rng(seed)
    if stratify:
        test_idx = []
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            test_idx.append(members[: int(round(test_fraction * len(members)))])
        test_mask = np.zeros(len(y), dtype=bool)
        test_mask[np.concatenate(test_idx)] = True
        train_idx = rng.permutation(np.flatnonzero(~test_mask))
        test_idx = rng.permutation(np.flatnonzero(test_mask))
    else:
        order = rng.permutation(len(y))
        n_test = int(round(test_fraction * len(y)))
        train_idx, test_idx = order[n_test:], order[:n_test]
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"test_fraction={test_fraction} splits the {len(y)} samples into {len(test_idx)} test and "
                         f"{len(train_idx)} training samples; choose a test_fraction that leaves both non-empty")
    as_y = (lambda a: torch.as_tensor(a, dtype=torch.int64)) if stratify else \
        (lambda a: torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1))
    return DataSplit(torch.as_tensor(X[train_idx], dtype=torch.float32), as_y(y[train_idx]),
                     torch.as_tensor(X[test_idx], dtype=torch.float32), as_y(y[test_idx]), description)


def digits(test_fraction: float = 0.25, seed: int = 0) -> DataSplit:
    """Scikit-learn's bundled handwritten digits: 1,797 8x8 images, pixels scaled to [0, 1].

    The split is stratified by class and fixed by ``seed``. Inputs have shape ``(N, 64)``.
    """
    from sklearn.datasets import load_digits

    check_fraction("test_fraction", test_fraction)
    check_seed("seed", seed)
    bunch = load_digits()
    X = bunch.data.astype(np.float32) / 16.0  # pixel values 0..16 -> [0, 1]
    return _split(X, bunch.target, test_fraction, seed, "digits (8x8, 10 classes)")


def mnist1d(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42) -> DataSplit:
    """MNIST-1D (Greydanus 2020): 40-sample 1-D signals of ten digit templates, 10 classes.

    Generated with ``mnist1d.data.make_dataset`` and the package's default arguments (with the
    given size, split and seed), never downloaded. The arrays are cached on disk with a checksum;
    a corrupted cache file is reported and regenerated, and a cache that cannot be written (see
    :mod:`lecturelib.storage`) is reported once while the data are generated and returned.
    """
    _check_positive_int("num_samples", num_samples, minimum=20)
    _check_fraction("train_split", train_split)
    _check_seed(seed)
    path = storage.cache_dir() / f"mnist1d-n{num_samples}-s{train_split}-seed{seed}.pt"
    arrays = None
    try:
        arrays = storage.load_tensors(path)
        if not isinstance(arrays, dict) or set(arrays) != {"X_train", "y_train", "X_test", "y_test"}:
            raise storage.CorruptCacheError(f"{path}: unexpected contents")
    except FileNotFoundError:
        pass
    except storage.CorruptCacheError as error:
        import warnings
        warnings.warn(f"{error}; regenerating MNIST-1D", stacklevel=2)
        arrays = None
    if arrays is None:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples, args.train_split, args.seed = int(num_samples), float(train_split), int(seed)
        import random

        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            raw = make_dataset(args)  # seeds the global generators itself
        finally:  # leave the caller's random streams untouched
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        arrays = {
            "X_train": torch.as_tensor(raw["x"], dtype=torch.float32),
            "y_train": torch.as_tensor(raw["y"], dtype=torch.int64),
            "X_test": torch.as_tensor(raw["x_test"], dtype=torch.float32),
            "y_test": torch.as_tensor(raw["y_test"], dtype=torch.int64),
        }
        storage.save_if_writable(path, arrays)
    return DataSplit(arrays["X_train"], arrays["y_train"], arrays["X_test"], arrays["y_test"],
                     "MNIST-1D (40 samples per signal, 10 classes)")


def regression_target(x: torch.Tensor) -> torch.Tensor:
    r"""The noiseless function of the 1-D regression problem, :math:`f(x) = \sin(3x) + 0.3x`."""
    return torch.sin(3.0 * x) + 0.3 * x


def regression_1d(n_train: int = 30, n_test: int = 200, noise: float = 0.1, seed: int = 0) -> DataSplit:
    r"""The lectures' one-dimensional regression problem.

    Inputs :math:`x \sim U[-1.5, 1.5]`, targets :math:`y = \sin(3x) + 0.3x + \varepsilon` with
    :math:`\varepsilon \sim N(0, \text{noise}^2)`. Shapes ``(N, 1)`` for both. The training inputs
    are sorted, which makes plots of the fit simple.
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
    return _split(np.asarray(X, dtype=np.float32), np.asarray(y), test_fraction, seed, f"2-D {kind}")


# ---------------------------------------------------------------------------- preprocessing

def _check_split(split):
    check_type("split", split, DataSplit, "a DataSplit")


def _flat(split):
    return split.X_train.reshape(len(split.X_train), -1), split.X_test.reshape(len(split.X_test), -1)


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


def _principal_axes(X_train):
    """Eigen-decomposition of the training covariance, largest variance first (float64)."""
    Xc = (X_train - X_train.mean(dim=0, keepdim=True)).double()
    covariance = Xc.T @ Xc / len(Xc)
    variances, axes = torch.linalg.eigh(covariance)
    order = torch.argsort(variances, descending=True)
    return variances[order], axes[:, order]


def pca(split: DataSplit, n_components: int | None = None) -> DataSplit:
    r"""Project centred inputs on the top ``n_components`` principal axes: :math:`U_k^T (x - \mu)`."""
    _check_split(split)
    X_train, X_test = _flat(split)
    if n_components is not None:
        check_int("n_components", n_components, minimum=1, maximum=X_train.shape[1])
    mean = X_train.mean(dim=0, keepdim=True)
    _, axes = _principal_axes(X_train)
    axes = axes[:, :n_components].float()
    return replace(split, X_train=(X_train - mean) @ axes, X_test=(X_test - mean) @ axes,
                   description=f"{split.description}, PCA")


def whiten(split: DataSplit, n_components: int | None = None, eps: float = 1e-5) -> DataSplit:
    r"""PCA-whitening: :math:`\Lambda_k^{-1/2} U_k^T (x - \mu)`, so the training covariance is
    (nearly) the identity. ``eps > 0`` is added to the eigenvalues to keep flat directions finite."""
    _check_split(split)
    check_positive("eps", eps)
    X_train, X_test = _flat(split)
    if n_components is not None:
        check_int("n_components", n_components, minimum=1, maximum=X_train.shape[1])
    mean = X_train.mean(dim=0, keepdim=True)
    variances, axes = _principal_axes(X_train)
    transform = (axes[:, :n_components] / torch.sqrt(variances[:n_components].clamp_min(0) + eps)).float()
    return replace(split, X_train=(X_train - mean) @ transform, X_test=(X_test - mean) @ transform,
                   description=f"{split.description}, whitened")


# ---------------------------------------------------------------------------- real data, local only

def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder real data sets are read from: ``root`` if given, else ``$LECTURELIB_DATA``."""
    if root is None:
        root = os.environ.get("LECTURELIB_DATA")
        if not root:
            raise FileNotFoundError(
                "No data folder given. Set LECTURELIB_DATA to a folder holding mnist/ (the four IDX "
                "files, e.g. train-images-idx3-ubyte.gz) and/or cifar-10-batches-py/ (the python "
                "batches), or pass root=...; lecturelib never downloads data.")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, got {type(root).__name__}")
    return Path(root)


_MNIST_FILES = {
    "X_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an ``ndim``-D IDX file (LeCun's MNIST format), optionally gzipped:

        magic 0x00 0x00 0x08 ndim | ndim big-endian uint32 sizes | prod(sizes) unsigned bytes

    Anything else (a short header, a ``.gz`` that is not gzip or is cut short, another ``ndim``
    than expected, too few or too many bytes) is a ``ValueError`` naming the file.
    """
    import math
    import zlib

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except gzip.BadGzipFile as error:
        raise ValueError(f"{path} is not a valid gzip file ({error}); unpack it or fix its name") from error
    except (EOFError, zlib.error) as error:
        raise ValueError(f"{path}: gzip data truncated or corrupt ({error})") from error
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic bytes {raw[:4]!r})")
    if raw[3] != ndim:
        kind, other = ("images", "label") if ndim == 3 else ("labels", "image")
        raise ValueError(f"{path} holds a {raw[3]}-D IDX array (magic {raw[:4].hex()}) but MNIST {kind} are "
                         f"{ndim}-D: is an {other} file in the place of an {kind[:-1]} file?")
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"{path}: IDX header truncated ({len(raw)} bytes; a {ndim}-D header has {start})")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    size, expected = len(raw) - start, math.prod(shape)
    if size < expected:
        raise ValueError(f"{path}: header promises shape {shape} but holds {size} bytes (truncated?)")
    if size > expected:
        raise ValueError(f"{path}: {size - expected} bytes after the {shape} array the header promises")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(shape).copy()  # frombuffer is read-only


def load_mnist(root: str | os.PathLike | None = None, flatten: bool = True) -> DataSplit:
    """Real MNIST from ``<root>/mnist/`` (or ``<root>`` itself) holding the four IDX files
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each optionally ``.gz``). Pixels are scaled to [0, 1]; images
    have shape ``(N, 784)`` when ``flatten`` else ``(N, 1, 28, 28)``. Images must be 28x28,
    labels 0 to 9 and one per image; anything else is a ``ValueError`` naming the file."""
    base = data_root(root)
    folder = base / "mnist" if (base / "mnist").is_dir() else base
    arrays, paths = {}, {}
    for key, stem in _MNIST_FILES.items():
        candidates = [folder / stem, folder / (stem + ".gz")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"MNIST file {stem}[.gz] not found in {folder}. Put the four IDX files "
                f"({', '.join(_MNIST_FILES.values())}) in {base / 'mnist'}/; lecturelib never downloads data.")
        arrays[key], paths[key] = _read_idx(found, ndim=3 if key.startswith("X") else 1), found
    for part in ("train", "test"):
        images, labels = arrays[f"X_{part}"], arrays[f"y_{part}"]
        image_file, label_file = paths[f"X_{part}"], paths[f"y_{part}"]
        if images.shape[1:] != (28, 28):
            raise ValueError(f"{image_file} holds {images.shape[1]}x{images.shape[2]} images; MNIST's are 28x28")
        if len(images) != len(labels):
            raise ValueError(f"{image_file} holds {len(images)} images but {label_file} holds {len(labels)} labels")
        if labels.size and int(labels.max()) > 9:
            raise ValueError(f"{label_file} holds the label {int(labels.max())}; MNIST labels lie in 0 to 9")
    images = {k: torch.as_tensor(arrays[k], dtype=torch.float32) / 255.0 for k in ("X_train", "X_test")}
    shape = (-1, 784) if flatten else (-1, 1, 28, 28)
    return DataSplit(images["X_train"].reshape(shape), torch.as_tensor(arrays["y_train"], dtype=torch.int64),
                     images["X_test"].reshape(shape), torch.as_tensor(arrays["y_test"], dtype=torch.int64),
                     "MNIST (28x28, 10 classes)")


class _Refused(pickle.UnpicklingError):
    """A global a CIFAR-10 batch does not hold."""


def _latin1(text, encoding):
    """``_codecs.encode`` as Python 3 pickles bytes with protocol 2, for ``latin1`` only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r}) is not bytes")
    return text.encode("latin1")


def _cifar_globals() -> dict:
    """The globals a CIFAR-10 python batch needs: numpy's array and dtype reconstructors, under the
    ``numpy.core`` names the original (Python 2) files use and the ``numpy._core`` names of numpy 2."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    allowed = {("_codecs", "encode"): _latin1, ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer  # pickle protocol 5
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR-10 batch holds (dicts, lists, bytes, str, ints, numpy arrays and
    dtypes) and refuses every other global, so a crafted batch cannot run code."""

    def __init__(self, handle, path: Path):
        super().__init__(handle, encoding="bytes")  # the batches were pickled by Python 2
        self.path, self.allowed = path, _cifar_globals()

    def find_class(self, module, name):
        found = self.allowed.get((module, name))
        if found is None:
            raise _Refused(f"{self.path}: refused to unpickle the global {module}.{name}; a CIFAR-10 batch holds "
                           "only dicts, lists, bytes, ints and numpy arrays (is the file crafted?)")
        return found


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a dict whose ``b"data"`` is an ``(N, 3072)`` uint8 array (3x32x32
    per row) and whose ``b"labels"`` are N ints in 0..9; anything else is a ``ValueError``."""
    with open(path, "rb") as handle:
        try:
            batch = _CifarUnpickler(handle, path).load()
        except _Refused as error:
            raise ValueError(str(error)) from error
        except OSError:
            raise
        except Exception as error:  # whatever a malformed pickle raises
            raise ValueError(f"{path} is not a pickle of a CIFAR-10 batch ({type(error).__name__}: {error})") from error
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR-10 batch is a dict, this pickle holds a {type(batch).__name__}")
    missing = [key for key in (b"data", b"labels") if key not in batch]
    if missing:
        raise ValueError(f"{path}: a CIFAR-10 batch has the keys b'data' and b'labels'; this one lacks "
                         f"{' and '.join(map(repr, missing))} (it has {sorted(map(repr, batch))[:6]})")
    images, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise ValueError(f"{path}: b'data' must be a uint8 numpy array, got "
                         f"{getattr(images, 'dtype', type(images).__name__)}")
    if images.ndim != 2 or images.shape[1] != 3072:
        raise ValueError(f"{path}: b'data' must hold one row of 3072 bytes (3x32x32) per image, "
                         f"got shape {images.shape}")
    if isinstance(labels, np.ndarray):
        integers = labels.ndim == 1 and labels.dtype.kind in "iu"
    else:
        integers = isinstance(labels, (list, tuple)) and all(type(v) is int for v in labels)
    if not integers:
        raise ValueError(f"{path}: b'labels' must be a list of integers, got {type(labels).__name__}")
    if len(labels) != len(images):
        raise ValueError(f"{path}: {len(labels)} labels for {len(images)} images")
    if len(labels) and not (0 <= min(labels) and max(labels) <= 9):
        raise ValueError(f"{path}: labels must lie in 0 to 9, found {min(labels)} to {max(labels)}")
    return images.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def load_cifar10(root: str | os.PathLike | None = None) -> DataSplit:
    """Real CIFAR-10 from ``<root>/cifar-10-batches-py/`` (the python version: ``data_batch_1`` ...
    ``data_batch_5`` and ``test_batch``). Images have shape ``(N, 3, 32, 32)``, scaled to [0, 1].

    The batches are pickles, read by an unpickler that builds only dicts, lists, bytes, ints and
    numpy arrays, never other objects or code; a batch that is not one is a ``ValueError``."""
    base = data_root(root)
    folder = base / "cifar-10-batches-py" if (base / "cifar-10-batches-py").is_dir() else base
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 batches {missing} not found in {folder}. Unpack the python version "
            f"(cifar-10-python.tar.gz) so that {base / 'cifar-10-batches-py'}/ holds data_batch_1..5 "
            "and test_batch; lecturelib never downloads data.")

    train = [_read_cifar_batch(folder / n) for n in names[:5]]
    test_images, test_labels = _read_cifar_batch(folder / "test_batch")
    X_train = torch.as_tensor(np.concatenate([t[0] for t in train]), dtype=torch.float32) / 255.0
    y_train = torch.as_tensor(np.concatenate([t[1] for t in train]))
    return DataSplit(X_train, y_train, torch.as_tensor(test_images, dtype=torch.float32) / 255.0,
                     torch.as_tensor(test_labels), "CIFAR-10 (3x32x32, 10 classes)")
