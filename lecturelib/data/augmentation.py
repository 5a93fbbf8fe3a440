r"""Data augmentation for small images such as the bundled 8x8 digits: shifts, rotations, noise.

Each map takes images as ``(N, H, W)``, ``(N, C, H, W)`` or, for square single-channel images,
flattened ``(N, H*W)`` (the digits' ``(N, 64)``), and returns a new tensor of the same shape and
dtype. The random versions draw one transformation per image from a ``torch.Generator``, so they
repeat exactly; labels are never touched.

* :func:`shift_by` / :func:`shift`: move the image by whole pixels, filling with zeros (the
  digits' background): :math:`\tilde x_{i,j} = x_{i - d_y,\ j - d_x}` (0 outside the image).
* :func:`rotate_by` / :func:`rotate`: rotate about the image centre by :math:`\alpha` degrees
  (counter-clockwise as displayed, row 0 at the top), sampling bilinearly with zero fill:
  :math:`\tilde x(p) = x(c + R_{-\alpha}(p - c))`, computed in float64 with
  ``torch.nn.functional.grid_sample`` so that a rotation by 0 or 90 degrees moves pixel centres
  onto pixel centres and equals the identity or ``torch.rot90`` after rounding to float32.
* :func:`add_noise`: :math:`\tilde x = x + \sigma\,\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I)`.
* :func:`augment`: a rotation, a shift and noise, in that order, on a tensor or on a
  :class:`DataSplit`'s training inputs.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from .._checks import check_int, check_nonnegative, check_real, check_seed, check_tensor, check_type
from .splits import DataSplit

__all__ = ["shift_by", "shift", "rotate_by", "rotate", "add_noise", "augment"]


def _as_images(images: torch.Tensor, name: str = "images"):
    """``(N, C, H, W)`` view of ``images`` and a function that restores the original shape."""
    check_tensor(name, images, ndim=(2, 3, 4), floating=True)
    shape = images.shape
    if images.dim() == 2:
        side = math.isqrt(shape[1])
        if side * side != shape[1]:
            raise ValueError(f"{name} of shape {tuple(shape)} are flattened, so each row must hold a square image "
                             f"(64 = 8x8 for the digits); {shape[1]} is not a square number. Pass (N, H, W) or "
                             "(N, C, H, W) images instead")
        out = images.reshape(shape[0], 1, side, side)
    elif images.dim() == 3:
        out = images.unsqueeze(1)
    else:
        out = images
    return out, (lambda result: result.reshape(shape))


def _check_generator(generator):
    if generator is not None:
        check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    return generator


def _per_image(name: str, value, n: int, integer: bool) -> torch.Tensor:
    """A number or a length-``n`` tensor as a length-``n`` tensor (int64 or float64)."""
    if isinstance(value, torch.Tensor):
        check_tensor(name, value, shape=(n,), finite=True)
        if integer and torch.is_floating_point(value):
            raise TypeError(f"{name} must hold whole pixels (an integer tensor), got dtype {value.dtype}")
        return value.to(torch.int64 if integer else torch.float64).cpu()
    value = check_int(name, value) if integer else check_real(name, value)
    return torch.full((n,), value, dtype=torch.int64 if integer else torch.float64)


def shift_by(images: torch.Tensor, dx, dy) -> torch.Tensor:
    """Shift every image ``dx`` pixels right and ``dy`` pixels down (negative: left, up), zero fill.

    ``dx`` and ``dy`` are ints or int tensors with one entry per image.
    """
    x, restore = _as_images(images)
    n, _, height, width = x.shape
    dx, dy = _per_image("dx", dx, n, True), _per_image("dy", dy, n, True)
    out = torch.zeros_like(x)
    for i in range(n):
        sx, sy = int(dx[i]), int(dy[i])
        if abs(sx) >= width or abs(sy) >= height:
            continue  # shifted out of the frame: all background
        out[i, :, max(sy, 0):height + min(sy, 0), max(sx, 0):width + min(sx, 0)] = \
            x[i, :, max(-sy, 0):height + min(-sy, 0), max(-sx, 0):width + min(-sx, 0)]
    return restore(out)


def shift(images: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by a whole number of pixels drawn uniformly from ``[-max_shift, max_shift]``,
    independently in x and y (:func:`shift_by`); ``max_shift = 0`` is the identity."""
    x, _ = _as_images(images)
    max_shift = check_int("max_shift", max_shift, minimum=0)
    generator = _check_generator(generator)
    n = len(x)
    offsets = torch.randint(-max_shift, max_shift + 1, (2, n), generator=generator)
    return shift_by(images, offsets[0], offsets[1])


def rotate_by(images: torch.Tensor, degrees) -> torch.Tensor:
    """Rotate every image by ``degrees`` (a number or one per image) counter-clockwise about its
    centre, bilinear with zero fill (module docstring). Square images keep their content's scale."""
    x, restore = _as_images(images)
    n, _, height, width = x.shape
    angles = torch.deg2rad(_per_image("degrees", degrees, n, False))
    cos, sin = torch.cos(angles), torch.sin(angles)
    # affine_grid maps output coordinates (x right, y down, in [-1, 1]) to input coordinates. With y
    # pointing down, the output pixel at p shows the input at R(-alpha) p for a counter-clockwise turn.
    aspect = height / width  # normalised coordinates stretch a non-square image; undo that
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * aspect
    theta[:, 1, 0], theta[:, 1, 1] = sin / aspect, cos
    grid = F.affine_grid(theta, [n, x.shape[1], height, width], align_corners=False).to(x.device)
    out = F.grid_sample(x.to(torch.float64), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return restore(out.to(x.dtype))


def rotate(images: torch.Tensor, max_degrees: float = 15.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate each image by an angle drawn uniformly from ``[-max_degrees, max_degrees]`` (:func:`rotate_by`);
    ``max_degrees = 0`` is the identity."""
    x, _ = _as_images(images)
    max_degrees = check_real("max_degrees", max_degrees, minimum=0.0, maximum=180.0)
    generator = _check_generator(generator)
    u = torch.rand(len(x), generator=generator, dtype=torch.float64)
    return rotate_by(images, (2 * u - 1) * max_degrees)


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""``x + std * N(0, I)`` with the noise drawn from ``generator`` (on the CPU, then moved to ``x``'s
    device); any shape. ``std = 0`` returns a copy of ``x``."""
    check_tensor("x", x, floating=True)
    std = check_nonnegative("std", std)
    generator = _check_generator(generator)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return x + std * noise.to(x.device)


def augment(data, max_shift: int = 0, max_degrees: float = 0.0, noise_std: float = 0.0, copies: int = 1,
            include_original: bool = False, seed: int = 0):
    """Augmented copies of images: :func:`rotate`, then :func:`shift`, then :func:`add_noise`, seeded.

    ``data`` is an image tensor (see the module docstring) or a :class:`DataSplit`, of which only the
    training inputs are augmented. Returns ``copies`` augmented copies stacked along the first axis
    (the originals first when ``include_original``): a tensor of ``(copies + include_original) * N``
    rows, or a DataSplit whose ``y_train`` is repeated to match and whose test split is untouched.
    With the defaults (one copy, no original) shapes are preserved. All maps at 0 give the identity.
    """
    max_shift = check_int("max_shift", max_shift, minimum=0)
    max_degrees = check_real("max_degrees", max_degrees, minimum=0.0, maximum=180.0)
    noise_std = check_nonnegative("noise_std", noise_std)
    copies = check_int("copies", copies, minimum=1)
    check_type("include_original", include_original, bool, "True or False")
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    if isinstance(data, DataSplit):
        X, y = data.X_train, data.y_train
    elif isinstance(data, torch.Tensor):
        X, y = data, None
    else:
        raise TypeError(f"data must be a DataSplit or an image tensor, got {type(data).__name__}")
    _as_images(X, "data" if y is None else "data.X_train")
    parts = [X] if include_original else []
    for _ in range(copies):
        out = rotate(X, max_degrees, generator) if max_degrees > 0 else X
        out = shift(out, max_shift, generator) if max_shift > 0 else out
        parts.append(add_noise(out, noise_std, generator) if noise_std > 0 else out.clone())
    X_new = torch.cat(parts)
    if y is None:
        return X_new
    y_new = y.repeat(len(parts), *([1] * (y.dim() - 1)))
    description = f"{data.description} + augmented (shift {max_shift}, rotate {max_degrees:g} deg, noise {noise_std:g})"
    return replace(data, X_train=X_new, y_train=y_new, description=description)
