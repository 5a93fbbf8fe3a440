"""Data sets of the book: bundled, generated, or read from a local folder. Nothing is downloaded.

Every loader returns a :class:`DataSplit`. Classification targets are ``int64`` class indices of
shape ``(N,)``; regression targets are ``float32`` of shape ``(N, 1)``; inputs are ``float32``.

* :mod:`~lecturelib.data.splits`: :class:`DataSplit` and the seeded, stratified split.
* :mod:`~lecturelib.data.synthetic`: :func:`digits` (scikit-learn's bundled 8x8 digits),
  :func:`mnist1d` (Greydanus 2020, generated offline), :func:`regression_1d`, :func:`toy_2d`.
* :mod:`~lecturelib.data.files`: :func:`load_mnist`, :func:`load_cifar10`, the real data sets,
  from ``$LECTURELIB_DATA``.
* :mod:`~lecturelib.data.preprocessing`: :func:`center`, :func:`standardize`, :func:`pca`,
  :func:`whiten` (fitted on the training inputs, applied to both splits) and
  :func:`preprocess_matrix` (the same maps for a bare matrix).
* :mod:`~lecturelib.data.augmentation`: seeded shifts, rotations and noise for small images
  (``data.augmentation.augment(data.digits(), max_shift=1, ...)``).
* :mod:`~lecturelib.data.variations`: :func:`mnist_variation`, the MNIST variations of
  Larochelle et al. (2007) (basic, rand, rot, img, img+rot), generated offline and seeded.
"""

from . import augmentation
from .files import data_root, load_cifar10, load_mnist
from .preprocessing import PREPROCESSINGS, center, pca, preprocess_matrix, standardize, whiten
from .splits import DataSplit, split_arrays
from .synthetic import TOY_KINDS, digits, mnist1d, regression_1d, regression_target, toy_2d
from .variations import VARIANTS, mnist_variation

__all__ = [
    "DataSplit", "split_arrays", "digits", "mnist1d", "regression_1d", "regression_target", "toy_2d", "TOY_KINDS",
    "center", "standardize", "pca", "whiten", "PREPROCESSINGS", "preprocess_matrix", "data_root", "load_mnist",
    "load_cifar10", "mnist_variation", "VARIANTS",
]
