r"""The baseline CNNs of Zhang, Liang & Wainwright (2017, "Convexified convolutional neural
networks", Sec. 5): CNN-1 and CNN-2, the networks that CCNN-1 and CCNN-2 convexify.

Each layer :math:`\ell` is a convolution with :math:`r_\ell` filters of 5x5 pixels (unit stride, no
padding), an activation :math:`\sigma`, and 2x2 average pooling; a linear read-out follows the last
layer:

.. math::

    h^{(\ell)}_{j} = \mathrm{pool}\Big(\sigma\big(b^{(\ell)}_j + \textstyle\sum_c w^{(\ell)}_{j,c} \star h^{(\ell-1)}_c\big)\Big),
    \qquad H(x) = W\,\mathrm{vec}(h^{(L)}) + b,

with :math:`h^{(0)} = x`, :math:`\star` the (cross-)correlation of PyTorch's ``conv2d``,
:math:`\mathrm{pool}(u)_{i,k} = \frac14 \sum_{a, b \in \{0, 1\}} u_{2i + a,\, 2k + b}` and
:math:`\sigma(t) = \max(t, 0)` ("ReLU") or :math:`\sigma(t) = t^2` ("Quad", Table 1's
"CNN-2 (Quad)" row; the quadratic activation is the one whose kernel CCNN's analysis covers
exactly). The paper's first and second layers have 16 and 32 filters (:data:`PAPER_FILTERS`): on
28x28 images, CNN-1 maps 28 -> 24 -> 12 (16 x 12 x 12 features), CNN-2 goes on 12 -> 8 -> 4
(32 x 4 x 4 features).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_tensor

__all__ = ["ShallowCNN", "cnn1", "cnn2", "PAPER_FILTERS", "SHALLOW_ACTIVATIONS"]

PAPER_FILTERS = (16, 32)
SHALLOW_ACTIVATIONS = ("relu", "quad")


def _activation(name: str):
    return F.relu if name == "relu" else torch.square


class ShallowCNN(nn.Module):
    """Convolution -> activation -> 2x2 average pooling per layer, then a linear read-out (module
    docstring).

    Args:
        input_shape: ``(channels, height, width)`` of the images.
        num_classes: outputs of the read-out.
        filters: filters per layer, e.g. ``(16,)`` for CNN-1 or ``(16, 32)`` for CNN-2.
        activation: ``"relu"`` or ``"quad"`` (:math:`t^2`).
        kernel_size: side of the square filters (the paper's 5).
        pool: side and stride of the average pooling (the paper's 2).
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, filters=(16,), activation: str = "relu",
                 kernel_size: int = 5, pool: int = 2):
        super().__init__()
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
            raise ValueError(f"input_shape must be (channels, height, width) of positive ints, got {input_shape!r}")
        self.input_shape = tuple(check_int(f"input_shape[{i}]", s, minimum=1) for i, s in enumerate(input_shape))
        num_classes = check_int("num_classes", num_classes, minimum=1)
        if not isinstance(filters, (tuple, list)) or not filters:
            raise ValueError(f"filters must be a non-empty list of positive ints, got {filters!r}")
        self.filters = tuple(check_int(f"filters[{i}]", f, minimum=1) for i, f in enumerate(filters))
        self.activation = check_choice("activation", activation, SHALLOW_ACTIVATIONS)
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        self.pool = check_int("pool", pool, minimum=1)
        self.convs = nn.ModuleList()
        channels, height, width = self.input_shape
        for layer, n_filters in enumerate(self.filters):
            if min(height, width) < self.kernel_size + self.pool - 1:
                raise ValueError(f"layer {layer + 1} gets {height}x{width} maps, too small for {self.kernel_size}x"
                                 f"{self.kernel_size} filters and {self.pool}x{self.pool} pooling; use larger "
                                 f"images, fewer layers or smaller filters")
            self.convs.append(nn.Conv2d(channels, n_filters, self.kernel_size))
            channels = n_filters
            height, width = (height - self.kernel_size + 1) // self.pool, (width - self.kernel_size + 1) // self.pool
        self.feature_shape = (channels, height, width)
        self.readout = nn.Linear(math.prod(self.feature_shape), num_classes)

    def features(self, x: torch.Tensor, layers: int | None = None) -> torch.Tensor:
        """``h^{(layers)}``: the pooled maps after the first ``layers`` layers (all when ``None``),
        ``(N, r, h, w)``; ``x`` is ``(N, C, H, W)`` or flattened ``(N, C*H*W)``."""
        layers = len(self.convs) if layers is None else check_int("layers", layers, minimum=0, maximum=len(self.convs))
        z = self._images(x)
        sigma = _activation(self.activation)
        for conv in self.convs[:layers]:
            z = F.avg_pool2d(sigma(conv(z)), self.pool)  # (N, r, (h - k + 1) // pool, ...)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x).flatten(1))  # (N, num_classes)

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=2)
        if tuple(x.shape[1:]) == self.input_shape:
            return x
        if x.dim() == 2 and x.shape[1] == math.prod(self.input_shape):
            return x.reshape((x.shape[0],) + self.input_shape)
        raise ValueError(f"input must have shape (N, {', '.join(map(str, self.input_shape))}) or "
                         f"(N, {math.prod(self.input_shape)}), got {tuple(x.shape)}")

    def extra_repr(self) -> str:
        return f"filters={self.filters}, activation={self.activation!r}, features={self.feature_shape}"


def cnn1(activation: str = "relu", input_shape=(1, 28, 28), num_classes: int = 10) -> ShallowCNN:
    """The paper's CNN-1: one layer of 16 5x5 filters, 2x2 average pooling, a linear read-out."""
    return ShallowCNN(input_shape, num_classes, PAPER_FILTERS[:1], activation)


def cnn2(activation: str = "relu", input_shape=(1, 28, 28), num_classes: int = 10) -> ShallowCNN:
    """The paper's CNN-2: layers of 16 and 32 5x5 filters, each with 2x2 average pooling, a linear read-out."""
    return ShallowCNN(input_shape, num_classes, PAPER_FILTERS, activation)
