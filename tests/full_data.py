"""Synthetic MNIST and CIFAR-10 written in the real file formats, for the `full` paths' tests.

Real MNIST and CIFAR-10 are not available to the tests, and the loaders
(:func:`lecturelib.data.load_mnist`, :func:`lecturelib.data.load_cifar10`) must read the files as
they are distributed. These writers produce exactly those formats:

* MNIST: LeCun's IDX files ``magic 00 00 08 ndim | ndim big-endian uint32 sizes | unsigned bytes``,
  gzipped as on the original site, in ``<root>/mnist/``;
* CIFAR-10: the python batches ``data_batch_1..5`` and ``test_batch`` in
  ``<root>/cifar-10-batches-py/``, pickled with protocol 2 as Python 2 pickled the originals: a dict
  with ``b"data"`` (``(N, 3072)`` uint8, channel-major 3x32x32 rows), ``b"labels"`` (list of int),
  ``b"batch_label"`` and ``b"filenames"``.

Each class is a fixed random template plus noise, so the images are learnable (a network trained on
them does better than chance) but carry no real content.

    python -m tests.full_data <folder>     # writes both data sets into <folder>
"""

from __future__ import annotations

import gzip
import pickle
import struct
import sys
from pathlib import Path

import numpy as np

__all__ = ["write_mnist", "write_cifar10", "write_all", "CIFAR_BATCHES"]

CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _class_images(n: int, shape: tuple, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images of ``shape``: class template (one per label, from ``seed``) plus noise;
    labels cycle through 0..9 so every class appears."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(12345).uniform(0, 255, size=(classes, *shape))  # same for every split
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    noise = rng.normal(0.0, 40.0, size=(n, *shape))
    images = np.clip(templates[labels] * 0.7 + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def _idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(root: str | Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write the four gzipped IDX files of a synthetic MNIST (28x28 images, labels 0-9) into
    ``<root>/mnist/`` and return that folder."""
    folder = Path(root) / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, part_seed in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = _class_images(n, (28, 28), part_seed)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels)))
    return folder


def write_cifar10(root: str | Path, per_batch: int = 40, n_test: int = 100, seed: int = 0) -> Path:
    """Write the six python batches of a synthetic CIFAR-10 (``per_batch`` images in each of the
    five training batches, ``n_test`` in ``test_batch``) into ``<root>/cifar-10-batches-py/``."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(CIFAR_BATCHES):
        n = n_test if name == "test_batch" else per_batch
        images, labels = _class_images(n, (3, 32, 32), seed + index)
        batch = {b"batch_label": f"synthetic {name}".encode(), b"labels": [int(v) for v in labels],
                 b"data": images.reshape(n, 3072), b"filenames": [b"synthetic_%05d.png" % i for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def write_all(root: str | Path) -> Path:
    """Both synthetic data sets under ``root`` (the folder to put in ``LECTURELIB_DATA``)."""
    write_mnist(root)
    write_cifar10(root)
    return Path(root)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.full_data <folder>")
    print(write_all(sys.argv[1]))
