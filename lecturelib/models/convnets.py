r"""Small convolutional networks and residual networks (He et al. 2016) for landscape studies.

A residual block computes

.. math::

    z_{j+1} = \mathrm{ReLU}\big(S(z_j) + \mathrm{BN}(C_2\,\mathrm{ReLU}(\mathrm{BN}(C_1 z_j)))\big),

with :math:`C_1, C_2` 3-wide convolutions and :math:`S` the identity (or a 1x1 convolution with
batch norm where the shape changes, He et al.'s option B). ``skip=False`` drops :math:`S`, giving
the "noshort" networks of Li et al. (2018, fig. 5). The same classes build 1-D networks (MNIST-1D,
inputs ``(N, 40)`` or ``(N, 1, 40)``) and 2-D ones (digits 8x8, inputs ``(N, 64)`` or
``(N, 1, 8, 8)``; CIFAR-10, ``(N, 3, 32, 32)``).

:func:`cifar_resnet` gives the CIFAR-10 ResNet-20/56/110 of He et al.: three stages of 16, 32, 64
channels with :math:`n` blocks each, depth :math:`6n + 2`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_tensor, check_type

__all__ = ["BasicBlock", "ResNet", "SmallCNN", "cifar_resnet", "CIFAR_DEPTHS", "VGG", "VGG9_LAYERS", "vgg9"]

CIFAR_DEPTHS = (20, 32, 44, 56, 110)


def _conv(dims, c_in, c_out, kernel, stride=1):
    layer = nn.Conv1d if dims == 1 else nn.Conv2d
    return layer(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)


def _bn(dims, channels):
    return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)


def _check_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) not in (2, 3):
        raise ValueError(f"input_shape must be (channels, length) or (channels, height, width) of positive ints, "
                         f"got {input_shape!r}")
    return tuple(check_int(f"input_shape[{i}]", s, minimum=1) for i, s in enumerate(input_shape)), len(input_shape) - 1


def _check_sizes(name, values):
    """A non-empty list of positive ints (channels or widths per stage)."""
    if not isinstance(values, (tuple, list)) or not values:
        raise ValueError(f"{name} must be a non-empty list of positive ints, got {values!r}")
    return [check_int(f"{name}[{i}]", v, minimum=1) for i, v in enumerate(values)]


def _reshape_input(x, input_shape):
    check_tensor("input", x)
    if tuple(x.shape[1:]) == input_shape:
        return x
    if x.dim() >= 2 and x[0].numel() == math.prod(input_shape):
        return x.reshape((x.shape[0],) + input_shape)  # flat (N, c*h*w) -> (N, c, h, w)
    raise ValueError(f"input must have shape (N, {', '.join(map(str, input_shape))}) or (N, "
                     f"{math.prod(input_shape)}), got {tuple(x.shape)}")


class BasicBlock(nn.Module):
    """He et al.'s basic block: two 3-wide convolutions with batch norm, optional skip."""

    def __init__(self, dims: int, c_in: int, c_out: int, stride: int = 1, skip: bool = True):
        super().__init__()
        self.skip = skip
        self.conv1, self.bn1 = _conv(dims, c_in, c_out, 3, stride), _bn(dims, c_out)
        self.conv2, self.bn2 = _conv(dims, c_out, c_out, 3), _bn(dims, c_out)
        self.shortcut = nn.Identity()
        if skip and (stride != 1 or c_in != c_out):
            self.shortcut = nn.Sequential(_conv(dims, c_in, c_out, 1, stride), _bn(dims, c_out))

    def forward(self, z):  # z: (batch, c_in, *spatial)
        h = F.relu(self.bn1(self.conv1(z)))
        h = self.bn2(self.conv2(h))  # (batch, c_out, *spatial / stride)
        return F.relu(h + self.shortcut(z) if self.skip else h)


class ResNet(nn.Module):
    r"""A residual network: stem convolution, stages of :class:`BasicBlock`, global average
    pooling, linear classifier (He et al. 2016, CIFAR version).

    Args:
        input_shape: ``(channels, length)`` for 1-D signals or ``(channels, height, width)``.
        num_classes: outputs of the classifier.
        blocks_per_stage: blocks :math:`n` in every stage (depth :math:`2 n \cdot \text{stages} + 2`).
        widths: channels per stage; each stage after the first halves the resolution.
        skip: ``False`` removes every shortcut (Li et al.'s "noshort" networks).
        width_multiplier: multiplies every width (Li et al.'s wide ResNets, :math:`k`).
    """

    def __init__(self, input_shape, num_classes: int = 10, blocks_per_stage: int = 1, widths=(8, 16),
                 skip: bool = True, width_multiplier: int = 1):
        super().__init__()
        self.input_shape, dims = _check_shape(input_shape)
        check_int("num_classes", num_classes, minimum=1)
        check_int("blocks_per_stage", blocks_per_stage, minimum=1)
        check_int("width_multiplier", width_multiplier, minimum=1)
        check_type("skip", skip, bool, "True or False")
        widths = [w * width_multiplier for w in _check_sizes("widths", widths)]
        self.skip, self.blocks_per_stage, self.widths = skip, blocks_per_stage, widths
        self.stem = nn.Sequential(_conv(dims, self.input_shape[0], widths[0], 3), _bn(dims, widths[0]), nn.ReLU())
        blocks, c_in = [], widths[0]
        for stage, width in enumerate(widths):
            for b in range(blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(dims, c_in, width, stride, skip))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(c_in, num_classes)

    @property
    def depth(self) -> int:
        """Weighted layers: the stem, two per block, and the classifier."""
        return 2 + 2 * self.blocks_per_stage * len(self.widths)

    def forward(self, x):
        z = self.blocks(self.stem(_reshape_input(x, self.input_shape)))  # (batch, c, *spatial)
        return self.classifier(z.flatten(2).mean(dim=2))  # (batch, num_classes)

    def extra_repr(self) -> str:
        return f"depth={self.depth}, widths={self.widths}, skip={self.skip}"


class SmallCNN(nn.Module):
    r"""A plain convolutional network: ``layers_per_stage`` 3-wide conv + ReLU per stage (no
    batch norm), max pooling by 2 between stages, global average pooling, linear classifier.
    With ``skip=True`` every conv layer whose input and output shapes agree adds its input,
    :math:`z_{j+1} = z_j + \mathrm{ReLU}(C_j z_j + b_j)`."""

    def __init__(self, input_shape, num_classes: int = 10, channels=(8, 16), layers_per_stage: int = 1,
                 skip: bool = False):
        super().__init__()
        self.input_shape, dims = _check_shape(input_shape)
        check_int("num_classes", num_classes, minimum=1)
        check_int("layers_per_stage", layers_per_stage, minimum=1)
        check_type("skip", skip, bool, "True or False")
        channels = _check_sizes("channels", channels)
        self.skip, self.dims = skip, dims
        self.convs = nn.ModuleList()
        c_in = self.input_shape[0]
        for c_out in channels:
            for _ in range(layers_per_stage):
                conv = _conv(dims, c_in, c_out, 3)
                conv.bias = nn.Parameter(torch.zeros(c_out))
                self.convs.append(conv)
                c_in = c_out
        self.stage_ends = {(s + 1) * layers_per_stage - 1 for s in range(len(channels) - 1)}
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x):
        z = _reshape_input(x, self.input_shape)
        pool = F.max_pool1d if self.dims == 1 else F.max_pool2d
        for j, conv in enumerate(self.convs):
            h = F.relu(conv(z))
            z = z + h if self.skip and h.shape == z.shape else h
            if j in self.stage_ends:
                z = pool(z, 2)
        return self.classifier(z.flatten(2).mean(dim=2))


def cifar_resnet(depth: int = 56, skip: bool = True, width_multiplier: int = 1, num_classes: int = 10) -> ResNet:
    """He et al.'s CIFAR-10 ResNet-``depth`` (``depth = 6n + 2``: 20, 32, 44, 56, 110, ...), with
    ``skip=False`` for Li et al.'s ResNet-noshort and ``width_multiplier`` for their wide ResNets."""
    if check_int("depth", depth) < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 for a positive int n (e.g. {CIFAR_DEPTHS}), got {depth!r}")
    return ResNet((3, 32, 32), num_classes, blocks_per_stage=(depth - 2) // 6, widths=(16, 32, 64), skip=skip,
                  width_multiplier=width_multiplier)


VGG9_LAYERS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M")  # Li et al.'s VGG-9: 7 convolutions


class VGG(nn.Module):
    r"""A VGG network with batch normalisation (Simonyan & Zisserman 2015), as Li et al. (2018) train
    it on CIFAR-10: for each entry of ``layers`` a 3x3 convolution (padding 1) with batch norm and
    ReLU, or, for ``"M"``, max pooling by 2; then one fully connected layer of as many units as the
    last convolution has channels, with batch norm and ReLU, and a linear classifier. With
    :data:`VGG9_LAYERS` on 32x32 images that is their VGG-9 (7 convolutions and 2 linear layers).
    Inputs ``(N, C, H, W)`` or flat ``(N, C*H*W)``."""

    def __init__(self, input_shape=(3, 32, 32), layers=VGG9_LAYERS, num_classes: int = 10):
        super().__init__()
        self.input_shape, dims = _check_shape(input_shape)
        if dims != 2:
            raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")
        check_int("num_classes", num_classes, minimum=1)
        if not isinstance(layers, (tuple, list)) or not any(entry != "M" for entry in layers):
            raise ValueError(f"layers must list channel counts and 'M' for pooling, got {layers!r}")
        modules, c_in, (height, width) = [], self.input_shape[0], self.input_shape[1:]
        for i, entry in enumerate(layers):
            if entry == "M":
                modules.append(nn.MaxPool2d(2, ceil_mode=True))
                height, width = -(-height // 2), -(-width // 2)
                continue
            c_out = check_int(f"layers[{i}]", entry, minimum=1)
            modules += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*modules)
        self.fc = nn.Sequential(nn.Linear(c_in * height * width, c_in), nn.BatchNorm1d(c_in), nn.ReLU())
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x):
        z = self.features(_reshape_input(x, self.input_shape))  # (N, c, h, w)
        return self.classifier(self.fc(z.flatten(1)))


def vgg9(num_classes: int = 10) -> VGG:
    """Li et al.'s (2018) VGG-9 with batch normalisation for 32x32 colour images (CIFAR-10)."""
    return VGG((3, 32, 32), VGG9_LAYERS, num_classes)
