r"""The MNIST variations of Larochelle et al. (2007), generated offline and seeded: the data sets of
Table 1 of Zhang, Liang & Wainwright (2017, "Convexified convolutional neural networks").

Five variants of a clean digit image :math:`x \in [0, 1]^{s \times s}`:

* ``basic``: the digit itself;
* ``rand``: the digit over a background of uniform noise, :math:`\tilde x = C(x, u)` with
  :math:`u_{ij} \sim U[0, 1]` independent;
* ``rot``: the digit rotated about the image centre by :math:`\alpha \sim U[0, 2\pi)`;
* ``img``: the digit over a patch :math:`b` of a grey photograph, :math:`\tilde x = C(x, b)`;
* ``img+rot``: the rotated digit over a photograph patch.

The compositing takes the brighter of digit and background at each pixel,

.. math::

    C(x, b)_{ij} = \max(x_{ij}, b_{ij}),

so the background shows wherever the digit is black (:math:`x_{ij} = 0`), the digit's strokes
(:math:`x_{ij} = 1`) are kept, and no dark halo surrounds them. Larochelle et al. describe the
backgrounds (pixels uniform in 0..255 for ``rand``; random patches of 20 photographs, patches of
low variance rejected, for ``img``) but not how digit and background are combined; "keep every
pixel the digit touches" (:math:`x_{ij} > 0`) would paste the blurred 8x8 digit's dark square
around each stroke onto the photograph. The photographs here are the two that scikit-learn ships
(``load_sample_images``: a temple in China, a flower), turned grey (ITU-R 601 luma), shrunk by a
factor ``2 * 28 / size`` so that a patch shows texture at the digit's scale, with patches of
standard deviation under 0.05 drawn again.

Sources of the clean digits:

* ``"digits"`` (the default scale): scikit-learn's bundled 1,797 8x8 digits, resized bilinearly
  into the central 20x20 box of a 28x28 image (for ``size = 28``; the box scales with ``size``),
  as MNIST centres its digits in a 20x20 box. They are *not* MNIST: 43 writers instead of
  about 500, 17 grey levels upsampled from 8x8 (so strokes are blurred and thick, with no fine
  detail), and only 1,797 distinct images, so large requests repeat digit images (with a fresh
  rotation or background each time).
* ``"mnist"`` (chosen under ``LECTURELIB_SCALE=full``): real MNIST from ``$LECTURELIB_DATA``
  (:func:`~lecturelib.data.files.load_mnist`), its 70,000 images pooled as Larochelle et al. pooled
  them, and resized by area averaging when ``size != 28``.

Train and test images come from disjoint digit images: a seeded permutation of the pool gives the
first ``n_train`` images to training and the next ``n_test`` to testing when the pool holds
``n_train + n_test`` images. When it does not, the pool is cut into a training part and a test part
in proportion to ``n_train : n_test`` (the test part held between a fifth and a half of the pool),
and each part is drawn in fresh permutations, one after another, so that every image of a part
is used either :math:`\lfloor n / m \rfloor` or :math:`\lceil n / m \rceil` times.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int, check_seed, check_tensor, check_type
from ..device import is_full_scale
from .augmentation import rotate_by
from .files import load_mnist
from .splits import DataSplit

__all__ = ["VARIANTS", "SOURCES", "mnist_variation", "vary", "composite", "noise_backgrounds",
           "photo_backgrounds", "digit_pool", "disjoint_indices"]

VARIANTS = ("basic", "rand", "rot", "img", "img+rot")
SOURCES = ("digits", "mnist")
_MIN_PATCH_STD = 0.05  # photograph patches flatter than this are drawn again (Larochelle et al.)
_ANGLE_STREAM, _BACKGROUND_STREAM = 1, 2  # independent random streams of vary()


def composite(digits: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """``C(x, b) = max(x, b)`` pixel by pixel: the background wherever the digit is black (module docstring)."""
    check_tensor("digits", digits, floating=True)
    check_tensor("backgrounds", backgrounds, shape=tuple(digits.shape), floating=True)
    return torch.maximum(digits, backgrounds.to(digits.dtype))


def noise_backgrounds(n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``(n, 1, size, size)`` float32 pixels drawn independently from U[0, 1)."""
    return torch.from_numpy(rng.random((n, 1, size, size), dtype=np.float32))


@functools.lru_cache(maxsize=8)
def _grey_photographs(size: int) -> tuple[np.ndarray, ...]:
    """scikit-learn's two sample photographs in grey, [0, 1], shrunk by ``2 * 28 / size`` (area)."""
    from sklearn.datasets import load_sample_images

    photos = []
    for rgb in load_sample_images().images:  # (427, 640, 3) uint8 each
        grey = torch.from_numpy(rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0)
        shape = [max(size, round(d * size / 56)) for d in grey.shape]
        photos.append(F.interpolate(grey[None, None], size=shape, mode="area")[0, 0].numpy())
    return tuple(photos)


def photo_backgrounds(n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``(n, 1, size, size)`` patches cut at random places of a random grey photograph; patches whose
    pixel standard deviation is under 0.05 (sky, say) are drawn again."""
    photos = _grey_photographs(size)
    out = np.empty((n, 1, size, size), dtype=np.float32)
    todo = np.arange(n)
    while len(todo):
        which = rng.integers(len(photos), size=len(todo))
        rows = rng.random(len(todo))
        cols = rng.random(len(todo))
        for slot, k, r, c in zip(todo, which, rows, cols):
            photo = photos[k]
            i = int(r * (photo.shape[0] - size + 1))
            j = int(c * (photo.shape[1] - size + 1))
            out[slot, 0] = photo[i:i + size, j:j + size]
        todo = todo[out[todo].reshape(len(todo), -1).std(axis=1) < _MIN_PATCH_STD]
    return torch.from_numpy(out)


def vary(images: torch.Tensor, variant: str, seed: int = 0, *, angles: torch.Tensor | None = None) -> torch.Tensor:
    r"""The ``variant`` of clean digit images ``(N, 1, s, s)`` in [0, 1] (module docstring).

    ``seed`` fixes the rotation angles and the backgrounds, each from its own stream, so that
    ``img+rot`` rotates as ``rot`` and has the backgrounds of ``img`` for the same seed. ``angles``
    (radians, shape ``(N,)``, counter-clockwise as displayed) replace the drawn angles of ``rot`` and
    ``img+rot``. Returns a new float32 tensor of the same shape.
    """
    check_tensor("images", images, ndim=4, floating=True, finite=True)
    if images.shape[1] != 1 or images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be (N, 1, s, s) grey square images, got shape {tuple(images.shape)}")
    check_choice("variant", variant, VARIANTS)
    seed = check_seed("seed", seed)
    if angles is not None:
        check_tensor("angles", angles, shape=(images.shape[0],), floating=True, finite=True)
        if "rot" not in variant:
            raise ValueError(f"angles are only used by the rotated variants 'rot' and 'img+rot', not {variant!r}")
    return _vary(images, variant, (seed,), angles)


def _vary(images: torch.Tensor, variant: str, entropy: tuple[int, ...], angles: torch.Tensor | None) -> torch.Tensor:
    """:func:`vary` with its random streams seeded by ``entropy + (stream,)``; arguments checked."""
    n, size = images.shape[0], images.shape[-1]
    out = images.to(torch.float32).clone()
    if "rot" in variant:
        if angles is None:
            angles = torch.from_numpy(np.random.default_rng([*entropy, _ANGLE_STREAM]).uniform(0, 2 * math.pi, n))
        out = rotate_by(out, torch.rad2deg(angles.to(torch.float64))).clamp(0.0, 1.0)
    background_rng = np.random.default_rng([*entropy, _BACKGROUND_STREAM])
    if variant == "rand":
        out = composite(out, noise_backgrounds(n, size, background_rng))
    elif variant.startswith("img"):
        out = composite(out, photo_backgrounds(n, size, background_rng))
    return out


def _resize_digits(images: torch.Tensor, size: int) -> torch.Tensor:
    """8x8 digits ``(N, 1, 8, 8)`` bilinearly resized into the central ``round(20 size / 28)`` box of
    a ``size x size`` image (MNIST's 20x20 box in 28x28), zero outside."""
    inner = max(1, round(20 * size / 28))
    resized = F.interpolate(images, size=(inner, inner), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    before = (size - inner) // 2
    return F.pad(resized, (before, size - inner - before, before, size - inner - before))


@functools.lru_cache(maxsize=4)
def _bundled_digits(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 digits resized to ``size`` (:func:`_resize_digits`), and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    return _resize_digits(images, size), torch.as_tensor(bunch.target, dtype=torch.int64)


def digit_pool(source: str = "digits", size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """All clean digit images of ``source`` as ``(N, 1, size, size)`` float32 in [0, 1] and their
    ``int64`` labels: the 1,797 bundled digits resized (module docstring), or MNIST's 70,000."""
    check_choice("source", source, SOURCES)
    size = check_int("size", size, minimum=8)
    if source == "digits":
        images, labels = _bundled_digits(size)
        return images.clone(), labels.clone()
    mnist = load_mnist(flatten=False)
    images = torch.cat([mnist.X_train, mnist.X_test])
    if size != 28:
        mode = "area" if size < 28 else "bilinear"
        images = F.interpolate(images, size=(size, size), mode=mode).clamp(0.0, 1.0)
    return images, torch.cat([mnist.y_train, mnist.y_test])


def _cycled(part: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` entries of ``part``: fresh permutations of it, one after another, cut at ``n``."""
    rounds = -(-n // len(part))
    return np.concatenate([rng.permutation(part) for _ in range(rounds)])[:n]


def disjoint_indices(pool_size: int, n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices into a pool of ``pool_size`` images for ``n_train`` training and ``n_test`` test
    images, no index in both (module docstring: a permutation, or two parts drawn in cycles)."""
    pool_size = check_int("pool_size", pool_size, minimum=2)
    n_train = check_int("n_train", n_train, minimum=1)
    n_test = check_int("n_test", n_test, minimum=1)
    rng = np.random.default_rng([check_seed("seed", seed), 0])
    order = rng.permutation(pool_size)
    if n_train + n_test <= pool_size:
        return order[:n_train], order[n_train:n_train + n_test]
    share = min(max(n_test / (n_train + n_test), 0.2), 0.5)
    n_test_part = min(max(1, round(share * pool_size)), pool_size - 1)
    test_part, train_part = order[:n_test_part], order[n_test_part:]
    return _cycled(train_part, n_train, rng), _cycled(test_part, n_test, rng)


def mnist_variation(variant: str, n_train: int, n_test: int, *, size: int = 28, seed: int = 0,
                    source: str | None = None) -> DataSplit:
    """The ``variant`` of MNIST (one of :data:`VARIANTS`) with ``n_train`` training and ``n_test``
    test images of shape ``(1, size, size)``, float32 in [0, 1], ``int64`` labels 0 to 9.

    ``source`` is ``"digits"`` or ``"mnist"``; ``None`` means ``"mnist"`` under
    ``LECTURELIB_SCALE=full`` and ``"digits"`` otherwise (module docstring: how the digits differ
    from MNIST, and how train and test images are kept disjoint). The paper's sets have 10,000
    training, 2,000 validation and 50,000 test images. ``seed`` fixes everything: which digits,
    their order, the angles and the backgrounds; the same seed picks the same digits for every
    variant, so ``basic`` shows the clean digits of ``rot``, ``rand`` and ``img``.
    """
    check_choice("variant", variant, VARIANTS)
    n_train = check_int("n_train", n_train, minimum=1)
    n_test = check_int("n_test", n_test, minimum=1)
    size = check_int("size", size, minimum=8)
    seed = check_seed("seed", seed)
    if source is not None:
        check_type("source", source, str, "'digits', 'mnist' or None")
        check_choice("source", source, SOURCES)
    source = source or ("mnist" if is_full_scale() else "digits")
    images, labels = digit_pool(source, size)
    train_rows, test_rows = disjoint_indices(len(images), n_train, n_test, seed)
    train_rows, test_rows = torch.from_numpy(train_rows), torch.from_numpy(test_rows)
    X_train = _vary(images[train_rows], variant, (seed, 1), None)
    X_test = _vary(images[test_rows], variant, (seed, 2), None)
    origin = f"8x8 digits resized to {size}x{size}" if source == "digits" else f"MNIST at {size}x{size}"
    return DataSplit(X_train, labels[train_rows], X_test, labels[test_rows],
                     f"MNIST-{variant} variation ({origin}, 10 classes)")
