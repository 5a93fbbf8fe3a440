r"""Parameters as data: a network's weights as a dict ``{name: tensor}`` or as one flat vector.

Every function that moves weights speaks this language. A *point* is a dict of tensors keyed by
the names of ``model.named_parameters()``, in that order; its flat form is the concatenation

.. math::

    \theta = (\operatorname{vec} W_1, b_1, \ldots, \operatorname{vec} W_n, b_n) \in \mathbb{R}^P,

which :func:`flatten` builds and :func:`unflatten` cuts back into the shapes of a template point.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from ._checks import check_module, check_tensor

__all__ = ["state", "copy_state", "flatten", "unflatten", "vector", "norm", "fingerprint"]


def state(model: nn.Module, include_buffers: bool = False) -> dict[str, torch.Tensor]:
    """The parameters of ``model``, detached (sharing its storage), keyed by name; with
    ``include_buffers``, its floating-point buffers (batch-norm statistics) too."""
    check_module("model", model)
    point = {name: p.detach() for name, p in model.named_parameters()}
    if include_buffers:
        point.update({name: b.detach() for name, b in model.named_buffers() if torch.is_floating_point(b)})
    return point


def copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the parameters of ``model``: a point that later training leaves alone."""
    return {name: value.clone() for name, value in state(model).items()}


def _check_point(name: str, point) -> None:
    if not isinstance(point, dict) or not point or not all(isinstance(v, torch.Tensor) for v in point.values()):
        raise TypeError(f"{name} must be a non-empty parameter dict {{name: tensor}}, got {type(point).__name__}")


def flatten(point: dict[str, torch.Tensor], dtype: torch.dtype | None = None) -> torch.Tensor:
    """The entries of ``point`` concatenated in its order, detached: ``(P,)``, in ``dtype`` if given."""
    _check_point("point", point)
    parts = [v.detach().reshape(-1) for v in point.values()]
    return torch.cat([p.to(dtype) for p in parts] if dtype is not None else parts)


def unflatten(vector: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cut ``vector`` ``(P,)`` into the names, shapes and dtypes of the point ``like``."""
    _check_point("like", like)
    check_tensor("vector", vector, ndim=1)
    total = sum(v.numel() for v in like.values())
    if vector.numel() != total:
        raise ValueError(f"vector has {vector.numel()} entries but the point it should fill holds {total}")
    out, offset = {}, 0
    for name, value in like.items():
        out[name] = vector[offset:offset + value.numel()].reshape(value.shape).to(value.dtype)
        offset += value.numel()
    return out


def vector(model: nn.Module) -> torch.Tensor:
    """The trainable parameters of ``model`` as one detached vector ``(P,)``, in
    ``named_parameters()`` order (frozen parameters are left out)."""
    check_module("model", model)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def norm(point) -> float:
    r"""Euclidean norm :math:`\|\theta\|_2` over every entry of a model's parameters or of a point
    (summed in float64)."""
    if isinstance(point, nn.Module):
        values = [p.detach() for p in point.parameters()]
    else:
        _check_point("point", point)
        values = list(point.values())
    return float(torch.sqrt(sum((v.double() ** 2).sum() for v in values)))


def fingerprint(point) -> str:
    """16 hex digits of sha256 over the names and bytes of a model's parameters (or of a point):
    names a trained network, e.g. in a cache key."""
    if isinstance(point, nn.Module):
        point = state(point)
    _check_point("point", point)
    digest = hashlib.sha256()
    for name, value in point.items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
