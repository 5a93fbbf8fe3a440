r"""Function-preserving maps: new parameters for the same function.

* :func:`rescale_layers`: Dinh et al.'s (2017) rescaling of a positively homogeneous network.
* :func:`embed_residual`: a deeper residual network whose extra blocks are zero, hence identity
  maps (He et al. 2016), computing the same function.
"""

from __future__ import annotations

import copy
import numbers

import torch
from torch import nn

from .._checks import check_int, check_module, check_positive

__all__ = ["rescale_layers", "embed_residual"]

HOMOGENEOUS_ACTIVATIONS = ("relu", "leaky_relu", "identity")


def rescale_layers(model: nn.Module, factors, layer: int = 0) -> nn.Module:
    r"""Dinh et al.'s (2017) reparameterisation of a (leaky) ReLU network, returned as a new model.

    For every factor :math:`c_j > 0` (``factors`` is one number or a sequence), linear layer
    :math:`l = \text{layer} + j` becomes :math:`(c_j W_l,\ c_j b_l)` and the next one's weight
    :math:`W_{l+1} / c_j`, applied in order :math:`j = 0, 1, \ldots`. Positive homogeneity,

    .. math::

        \sigma(c\,u) = c\,\sigma(u) \quad (c > 0), \qquad
        \frac{1}{c}\,W_{l+1}\,\sigma(c\,W_l z + c\,b_l) = W_{l+1}\,\sigma(W_l z + b_l),

    keeps the function :math:`m(x)` exactly, yet the geometry of the loss changes: the Hessian
    block of layer :math:`l` is scaled by :math:`1/c^2` and that of layer :math:`l+1` by
    :math:`c^2`, so the curvature of one function can be made as large as one likes; naive
    landscape plots change too, filter-normalised ones do not (Li et al. 2018).

    Works for :class:`lecturelib.models.MLP` with activation ``"relu"``, ``"leaky_relu"`` or
    ``"identity"`` and no normalisation or residual layers, and for any model exposing an
    ``nn.ModuleList`` ``layers`` of ``nn.Linear`` with such activations between them. The model
    itself is not modified.
    """
    check_module("model", model)
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList) or not all(isinstance(m, nn.Linear) for m in layers):
        raise TypeError("model must have an nn.ModuleList `layers` of nn.Linear (e.g. lecturelib.models.MLP)")
    activation = getattr(model, "activation", "relu")
    if activation not in HOMOGENEOUS_ACTIVATIONS or getattr(model, "norm", None) is not None \
            or any(getattr(model, "residual_mask", [])):
        raise ValueError("rescaling keeps the function only for plain (leaky) ReLU or identity networks without "
                         f"normalisation or residual layers; got activation={activation!r}, "
                         f"norm={getattr(model, 'norm', None)!r}, residual={any(getattr(model, 'residual_mask', []))}")
    check_int("layer", layer, minimum=0)
    hidden = len(layers) - 1
    if layer >= hidden:
        raise ValueError(f"layer must be below the last linear layer (< {hidden}), got {layer}")
    if isinstance(factors, numbers.Real) and not isinstance(factors, bool):
        factors = [check_positive("factors", factors)]
    elif isinstance(factors, (tuple, list)) and 0 < len(factors) <= hidden - layer:
        factors = [check_positive(f"factors[{j}]", c) for j, c in enumerate(factors)]
    else:
        raise ValueError(f"factors must be one positive number or a sequence of 1 to {hidden - layer} positive "
                         f"numbers (one per hidden layer from layer {layer}), got {factors!r}")
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for j, c in enumerate(factors, start=layer):
            scaled.layers[j].weight.mul_(c)
            if scaled.layers[j].bias is not None:
                scaled.layers[j].bias.mul_(c)
            scaled.layers[j + 1].weight.div_(c)
    return scaled


def embed_residual(mlp: nn.Module, hidden: int) -> nn.Module:
    r"""A deeper residual network computing exactly the same function as the residual ``mlp``.

    ``mlp`` (a residual :class:`lecturelib.models.MLP`) has widths ``[n_in] + [w] * k + tail``; the
    result, of the same class, has ``[n_in] + [w] * hidden + tail`` (``hidden >= k``), the same
    weights in the layers they share and :math:`W_j = 0`, :math:`b_j = 0` in the ``hidden - k``
    extra blocks. With :math:`\sigma(0) = 0` each extra block computes
    :math:`z_{j+1} = z_j + \sigma(0\cdot z_j + 0) = z_j`: the lecture's argument that depth cannot
    hurt what a shallower residual net achieves (He et al. 2016).
    """
    check_module("mlp", mlp)
    if not getattr(mlp, "residual", False) or not isinstance(getattr(mlp, "layers", None), nn.ModuleList):
        raise TypeError(f"mlp must be a residual lecturelib.models.MLP, got {mlp!r:.80}")
    if getattr(mlp, "norm", None) is not None:
        raise ValueError(f"mlp has norm={mlp.norm!r}; a zero block followed by a normalisation is not the identity")
    widths = mlp.widths
    k = 1  # the first run of hidden layers of width w = widths[1]
    while k + 1 < len(widths) - 1 and widths[k + 1] == widths[1]:
        k += 1
    if check_int("hidden", hidden) < k:
        raise ValueError(f"hidden must be an int >= the {k} hidden layers of width {widths[1]} that mlp has, "
                         f"got {hidden!r}")
    weight = mlp.layers[0].weight
    with torch.no_grad():
        at_zero = mlp.activations[0](torch.zeros(1, weight.shape[0], dtype=weight.dtype, device=weight.device))
    if float(at_zero.abs().max()) != 0.0:
        raise ValueError(f"the embedding needs sigma(0) = 0, which {mlp.activation!r} does not satisfy")
    deeper = type(mlp)(widths[:1] + [widths[1]] * hidden + widths[1 + k:], activation=mlp.activation,
                       residual=True).to(device=weight.device, dtype=weight.dtype)
    targets = list(deeper.layers[:k]) + list(deeper.layers[hidden:])  # the shared layers, then the tail
    with torch.no_grad():
        for extra in deeper.layers[k:hidden]:
            extra.weight.zero_()
            extra.bias.zero_()
        for target, source in zip(targets, mlp.layers):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
    return deeper.eval()
