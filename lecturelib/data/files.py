"""The real data sets, read from a local folder (``$LECTURELIB_DATA``); nothing is downloaded.

* :func:`load_mnist`: LeCun's IDX files, optionally gzipped, checked byte by byte.
* :func:`load_cifar10`: the python batches, which are pickles, read by an unpickler that
  builds only dicts, lists, bytes, ints and numpy arrays (a crafted batch cannot run code).
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .splits import DataSplit

__all__ = ["data_root", "load_mnist", "load_cifar10"]


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
