r"""Directions for loss-landscape slices (Li et al. 2018, *Visualizing the Loss Landscape of Neural Nets*).

A direction is a point in the language of :mod:`lecturelib.params`: a dict keyed like
``model.named_parameters()`` (and, for "state" directions, floating-point buffers such as
batch-norm running statistics). Random directions follow Li et al.'s public code
(``net_plotter.py``): a Gaussian :math:`\delta \sim N(0, I)` per parameter, then

* ``norm="filter"``: every slice along dimension 0 (a conv filter, a row of a linear layer) is
  rescaled to the norm of the same slice of the weights,
  :math:`\delta_{i} \leftarrow \delta_{i}\,\|\theta_{i}\| / (\|\delta_{i}\| + 10^{-10})`;
* ``norm="layer"``: the whole parameter tensor is rescaled to the norm of the weights;
* ``norm="weight"``: :math:`\delta \leftarrow \delta \odot \theta` element-wise;
* ``norm=None``: the raw Gaussian (the "naive" direction, not invariant to rescaling);

and one-dimensional parameters (biases, normalisation :math:`\gamma, \beta`) are zeroed with
``ignore="biasbn"`` or set equal to the weights otherwise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import params
from .._checks import check_choice, check_module, check_seed

__all__ = ["DIRECTION_NORMS", "IGNORES", "KINDS", "random_direction", "normalize_direction", "direction_between",
           "weight_values", "make_generator"]

DIRECTION_NORMS = ("filter", "layer", "weight", None)
IGNORES = ("biasbn", None)
KINDS = ("weights", "states")


def make_generator(generator) -> torch.Generator | None:
    """``generator`` as a ``torch.Generator``: one is passed through, an int seeds a new one, ``None`` stays."""
    if generator is None:
        return None
    if isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(check_seed("generator", generator))
    raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")


def normalize_direction(direction: dict, weights: dict, norm="filter", ignore="biasbn") -> dict:
    r"""Rescale a raw direction like Li et al.'s ``normalize_directions_for_weights``.

    For each name, with :math:`d` the direction and :math:`w` the weights:

    * if :math:`d` has at most one dimension: :math:`d \leftarrow 0` (``ignore="biasbn"``) or
      :math:`d \leftarrow w` (``ignore=None``);
    * else ``"filter"``: :math:`d_i \leftarrow d_i \|w_i\| / (\|d_i\| + 10^{-10})` for every slice
      :math:`i` along dim 0; ``"layer"``: :math:`d \leftarrow d \|w\| / (\|d\| + 10^{-10})`;
      ``"weight"``: :math:`d \leftarrow d \odot w`; ``None``: unchanged.

    Returns a new dict; the inputs are not modified.
    """
    check_choice("norm", norm, DIRECTION_NORMS)
    check_choice("ignore", ignore, IGNORES)
    if not isinstance(direction, dict) or not isinstance(weights, dict):
        raise TypeError("direction and weights must be dicts name -> tensor, got "
                        f"{type(direction).__name__} and {type(weights).__name__}")
    out = {}
    for name, d in direction.items():
        if name not in weights:
            raise ValueError(f"direction has {name!r}, which the weights lack; weights have {sorted(weights)}")
        w = weights[name].detach()
        if d.shape != w.shape:
            raise ValueError(f"direction[{name!r}] has shape {tuple(d.shape)}, weights {tuple(w.shape)}")
        d = d.detach().clone()
        if d.dim() <= 1:
            d = torch.zeros_like(d) if ignore == "biasbn" else w.clone()
        elif norm == "filter":
            # one norm per slice along dim 0: (out, rest...) -> (out, 1, ..., 1)
            shape = (-1,) + (1,) * (d.dim() - 1)
            d_norm = d.flatten(1).norm(dim=1).view(shape)
            w_norm = w.flatten(1).norm(dim=1).view(shape)
            d = d * (w_norm / (d_norm + 1e-10))
        elif norm == "layer":
            d = d * (w.norm() / (d.norm() + 1e-10))
        elif norm == "weight":
            d = d * w
        out[name] = d
    return out


def random_direction(model: nn.Module, norm="filter", ignore="biasbn", generator=None,
                     kind: str = "weights") -> dict:
    r"""A random direction for loss-landscape plots, following Li et al. (2018) exactly.

    Draws :math:`\delta \sim N(0, I)` for every parameter (in ``model.named_parameters()`` order,
    with ``generator``: a ``torch.Generator``, an int seed, or ``None`` for torch's global
    stream), then applies :func:`normalize_direction` with ``norm`` (``"filter"``, ``"layer"``,
    ``"weight"`` or ``None``) and ``ignore`` (``"biasbn"`` zeroes 1-D parameters, ``None`` copies
    the weights into them).

    ``kind="states"`` also covers the model's floating-point buffers (batch-norm running mean and
    variance), as Li et al.'s ``dir_type="states"``; being 1-D, they follow the ``ignore`` rule.

    Returns a dict ``name -> tensor`` with each tensor shaped like the parameter, on its device.
    """
    check_module("model", model)
    check_choice("norm", norm, DIRECTION_NORMS)
    check_choice("ignore", ignore, IGNORES)
    check_choice("kind", kind, KINDS)
    gen = make_generator(generator)
    weights = params.state(model, include_buffers=(kind == "states"))
    raw = {}
    for name, w in weights.items():
        # sampled on the CPU so a seed gives the same direction on every device
        raw[name] = torch.randn(w.shape, generator=gen, dtype=torch.float64).to(dtype=w.dtype, device=w.device)
    return normalize_direction(raw, weights, norm=norm, ignore=ignore)


def direction_between(model_a: nn.Module, model_b: nn.Module, kind: str = "weights") -> dict:
    r"""The direction :math:`\theta_b - \theta_a` from ``model_a`` to ``model_b``.

    ``kind="weights"`` moves every parameter (Li et al.'s ``dir_type="weights"``);
    ``kind="states"`` moves the whole state, floating-point buffers such as batch-norm running
    statistics included (``dir_type="states"``). Both models must have the same architecture.
    """
    check_module("model_a", model_a)
    check_module("model_b", model_b)
    check_choice("kind", kind, KINDS)
    state_a = params.state(model_a, include_buffers=(kind == "states"))
    state_b = params.state(model_b, include_buffers=(kind == "states"))
    if list(state_a) != list(state_b):
        raise ValueError(f"model_a and model_b differ in their {kind}: {sorted(set(state_a) ^ set(state_b))}")
    out = {}
    for name, a in state_a.items():
        b = state_b[name]
        if a.shape != b.shape:
            raise ValueError(f"{name!r} has shape {tuple(a.shape)} in model_a but {tuple(b.shape)} in model_b")
        out[name] = (b.to(a.device) - a).detach()
    return out


def weight_values(model: nn.Module) -> np.ndarray:
    """All entries of the parameters with more than one dimension (weight matrices and conv
    kernels, not biases), as one flat NumPy array: what Li et al.'s weight histograms count."""
    check_module("model", model)
    chunks = [p.detach().cpu().double().flatten() for p in model.parameters() if p.dim() > 1]
    if not chunks:
        raise ValueError("model has no parameter with more than one dimension")
    return torch.cat(chunks).numpy()
