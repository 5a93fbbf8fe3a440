r"""What both evaluation paths of :mod:`lecturelib.landscape.engine` share: data batches and the
first layer's products computed once.

When the network's first layer is linear in its weights (``nn.Linear``, ``nn.Conv1d/2d/3d``) and
reads the input directly, its pre-activation at :math:`\theta_p = \theta^* + \sum_k c_{pk}\delta_k`
is affine in the coefficients,

.. math::

    W_p x + b_p = (W^* x + b^*) + \sum_{k=1}^{K} c_{pk} (D_k x + d_k),

so the :math:`K + 1` products are computed once per batch of data and every point pays only a
weighted sum of them instead of a full first-layer product.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call

__all__ = ["Precomputed", "batches", "first_layer_terms", "without_first_layer", "kept", "KEPT_ELEMENTS",
           "FAN_IN_PER_DIRECTION", "first_layer_pays"]

KEPT_ELEMENTS = 2 ** 26  # first-layer products kept between calls, at most (256 MiB in float32)
# One point at a time, assembling the pre-activation costs K memory-bound multiply-adds per output
# element, computing it costs fan-in compute-bound ones. Measured on the CPU: a fan-in of 64 with
# K = 2 made the per-point path 1.9x faster, a 3x3 convolution of one channel (fan-in 9) made it
# slower than computing the layer; so the per-point path assembles it only from 8 per direction.
FAN_IN_PER_DIRECTION = 8


class Precomputed(nn.Module):
    """Stands in for the first layer: returns the pre-activation handed in as buffer ``value``."""

    def __init__(self):
        super().__init__()
        self.register_buffer("value", torch.zeros(0))

    def forward(self, x):  # noqa: ARG002 - the input was used when ``value`` was computed
        return self.value


def batches(n: int, batch_size: int | None) -> list[tuple[int, int]]:
    """``(start, stop)`` spans of at most ``batch_size`` samples covering ``range(n)`` (one span if ``None``)."""
    size = n if batch_size is None else min(batch_size, n)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def first_layer_pays(module: nn.Module, n_directions: int) -> bool:
    """Whether assembling ``module``'s pre-activation from its products beats computing it per point:
    its fan-in (inputs per output element) is at least ``FAN_IN_PER_DIRECTION`` times ``K``."""
    return module.weight[0].numel() >= FAN_IN_PER_DIRECTION * n_directions


def without_first_layer(model: nn.Module, first_name: str) -> nn.Module:
    """A copy of ``model`` whose module ``first_name`` is a :class:`Precomputed` stand-in."""
    model = copy.deepcopy(model)
    parent_name, _, child = first_name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, Precomputed())
    return model


def first_layer_terms(first_module: nn.Module, first_name: str, base: dict, stacked: dict, n_directions: int,
                      x_in: torch.Tensor) -> torch.Tensor:
    r"""The first layer's :math:`K + 1` products on one batch, stacked ``(K + 1, b, ...)``:
    :math:`W^*x + b^*`, then :math:`D_k x + d_k` (zero where direction ``k`` leaves the layer alone)."""
    w0, b0 = base[first_name + ".weight"], base.get(first_name + ".bias")
    terms = [functional_call(first_module, {"weight": w0, **({"bias": b0} if b0 is not None else {})}, (x_in,))]
    for k in range(n_directions):
        dw = stacked[first_name + ".weight"][k] if first_name + ".weight" in stacked else torch.zeros_like(w0)
        layer_params = {"weight": dw}
        if b0 is not None:
            layer_params["bias"] = (stacked[first_name + ".bias"][k] if first_name + ".bias" in stacked
                                    else torch.zeros_like(b0))
        terms.append(functional_call(first_module, layer_params, (x_in,)))
    return torch.stack(terms)


def kept(compute, budget: int = KEPT_ELEMENTS):
    """``compute(start, stop)`` remembered per span while the results kept stay within ``budget``
    elements, so that evaluating a grid slice by slice takes the first-layer products once."""
    cache, used = {}, [0]

    def get(start, stop):
        if (start, stop) in cache:
            return cache[start, stop]
        value = compute(start, stop)
        if value is not None and used[0] + value.numel() <= budget:
            cache[start, stop] = value
            used[0] += value.numel()
        return value

    return get
