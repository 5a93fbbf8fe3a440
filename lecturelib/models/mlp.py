r"""Networks of the book: the fully connected model of the lectures and its activation registry.

The lectures' model (Giselsson, *Deep Learning*; Erdem, COMP541 lecture 4) is

.. math::

    m(x;\theta) = W_n\,\sigma_{n-1}(W_{n-1}\cdots\sigma_1(W_1x + b_1)\cdots + b_{n-1}) + b_n,

with no activation after the last affine map (softmax belongs to the loss). With residual
connections, a hidden layer whose input and output widths agree computes
:math:`z_{j+1} = z_j + \sigma_j(W_j z_j + b_j)` instead of :math:`z_{j+1} = \sigma_j(W_j z_j + b_j)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_module, check_probability
from .dropout import dropout as _dropout

__all__ = ["ACTIVATIONS", "ActivationSpec", "Maxout", "MLP", "MLP_NORMS", "activation_names", "get_activation",
           "count_parameters", "square_hidden_layers"]


class Maxout(nn.Module):
    r"""Maxout (Goodfellow et al. 2013): :math:`\max_k (W_k x + b_k)` over ``pieces`` affine maps.

    Takes the ``(batch, pieces * width)`` output of one linear layer, viewed as
    ``(batch, width, pieces)``, and returns the maximum over the last axis: ``(batch, width)``.
    """

    def __init__(self, pieces: int = 2):
        super().__init__()
        self.pieces = check_int("pieces", pieces, minimum=2)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if v.shape[-1] % self.pieces:
            raise ValueError(f"Maxout input width {v.shape[-1]} is not divisible by pieces={self.pieces}")
        return v.unflatten(-1, (v.shape[-1] // self.pieces, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


def _relu_derivative(u):
    return (u > 0).to(u.dtype)


def _leaky_derivative(u, slope=0.01):
    return torch.where(u > 0, torch.ones_like(u), torch.full_like(u, slope))


def _elu_derivative(u, alpha=1.0):
    return torch.where(u > 0, torch.ones_like(u), alpha * torch.exp(u))


@dataclass(frozen=True)
class ActivationSpec:
    """One entry of the activation registry.

    ``module(width)`` builds the layer; ``function`` and ``derivative`` are the element-wise
    :math:`\\sigma` and :math:`\\sigma'` (``None`` for maxout, which is not element-wise);
    ``pieces`` is how many pre-activations per unit the preceding linear layer must produce.
    """

    name: str
    formula: str
    module: Callable[[int], nn.Module]
    function: Callable[[torch.Tensor], torch.Tensor] | None
    derivative: Callable[[torch.Tensor], torch.Tensor] | None
    pieces: int = 1


ACTIVATIONS: dict[str, ActivationSpec] = {
    spec.name: spec
    for spec in [
        ActivationSpec("identity", r"u", lambda w: nn.Identity(), lambda u: u, torch.ones_like),
        ActivationSpec("sigmoid", r"1/(1+e^{-u})", lambda w: nn.Sigmoid(), torch.sigmoid,
                       lambda u: torch.sigmoid(u) * (1 - torch.sigmoid(u))),
        ActivationSpec("tanh", r"\tanh u", lambda w: nn.Tanh(), torch.tanh, lambda u: 1 - torch.tanh(u) ** 2),
        ActivationSpec("relu", r"\max(u, 0)", lambda w: nn.ReLU(), torch.relu, _relu_derivative),
        ActivationSpec("leaky_relu", r"\max(u, 0.01u)", lambda w: nn.LeakyReLU(0.01),
                       lambda u: F.leaky_relu(u, 0.01), _leaky_derivative),
        # PReLU learns one slope per unit (He et al. 2015); 0.25 is the paper's initial slope.
        ActivationSpec("prelu", r"\max(u, a u),\ a \text{ learned}", lambda w: nn.PReLU(w, init=0.25),
                       lambda u: F.leaky_relu(u, 0.25), lambda u: _leaky_derivative(u, 0.25)),
        ActivationSpec("elu", r"u \text{ if } u>0 \text{ else } e^u - 1", lambda w: nn.ELU(1.0), F.elu,
                       _elu_derivative),
        ActivationSpec("maxout", r"\max(w_1^Tx+b_1,\ w_2^Tx+b_2)", lambda w: Maxout(2), None, None, pieces=2),
    ]
}


def activation_names() -> list[str]:
    """Names accepted wherever an activation is asked for."""
    return list(ACTIVATIONS)


def get_activation(name: str) -> ActivationSpec:
    """The registry entry for ``name``; an unknown name raises ``ValueError`` listing valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid names are {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[key]


MLP_NORMS = (None, "batch", "layer")  # the normalisation layers MLP(norm=...) accepts by name


def square_hidden_layers(widths) -> list[bool]:
    """For each hidden layer of an MLP with these ``widths``: does it map a width to itself, so that
    it can add its input (a residual layer)?"""
    return [widths[j] == widths[j + 1] for j in range(len(widths) - 2)]


class MLP(nn.Module):
    """The lectures' fully connected network.

    ``widths`` lists every layer's size from input to output, so
    ``MLP([1, 5, 5, 5, 1, 1], activation="leaky_relu")`` has three hidden layers of 5 units, one
    of 1 unit and a scalar output: the lecture's 78-parameter network.

    Args:
        widths: ``[n_in, h_1, ..., h_k, n_out]``, at least two entries.
        activation: a name from :data:`ACTIVATIONS`, applied after every hidden affine map.
        residual: if True, hidden layers whose input and output widths agree add their input,
            :math:`z_{j+1} = z_j + \\sigma(W_j z_j + b_j)`.
        norm: ``None``, ``"batch"``, ``"layer"``, or a callable ``width -> nn.Module``; applied to
            the pre-activation :math:`W_j z_j + b_j` as in Ioffe & Szegedy (2015).
        dropout: probability ``1 - keep`` of zeroing a hidden unit during training (Srivastava et al.
            2014), inverted dropout through :func:`lecturelib.models.dropout.dropout`, which draws
            and rounds exactly as ``F.dropout`` does on the CPU.
        bias: whether affine maps have biases.

    Parameters are named ``layers.{j}.weight`` / ``layers.{j}.bias`` (and ``norms.{j}.*``,
    ``activations.{j}.weight`` for PReLU), in layer order.
    """

    def __init__(self, widths, activation: str = "relu", residual: bool = False, norm=None,
                 dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if not isinstance(widths, (list, tuple)) or len(widths) < 2:
            raise ValueError(f"widths must be a list of at least two layer sizes, got {widths!r}")
        if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
            raise ValueError(f"widths must be positive ints, got {widths!r}")
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be True or False, got {residual!r}")
        if not (norm in MLP_NORMS or callable(norm)):
            raise ValueError(f"norm must be one of {MLP_NORMS} or a callable width -> module, got {norm!r}")
        check_probability("dropout", dropout, allow_one=False)
        if residual and not any(square_hidden_layers(widths)):
            example = [widths[0], widths[0], widths[1]] if len(widths) == 2 else [*widths[:2], *widths[1:]]
            raise ValueError(f"residual=True, but no hidden layer of widths={list(widths)} maps a width to itself, "
                             "so none can add its input; a residual layer needs two equal consecutive widths before "
                             f"the output, e.g. {example}, or use residual=False")
        spec = get_activation(activation)
        self.widths = list(widths)
        self.activation = spec.name
        self.residual = residual
        self.norm = norm if isinstance(norm, str) or norm is None else getattr(norm, "__name__", "custom")
        self.dropout = float(dropout)
        n_hidden = len(widths) - 2
        self.layers = nn.ModuleList()
        for j in range(len(widths) - 1):
            out = widths[j + 1] * (spec.pieces if j < n_hidden else 1)
            self.layers.append(nn.Linear(widths[j], out, bias=bias))
        self.activations = nn.ModuleList(spec.module(widths[j + 1]) for j in range(n_hidden))
        self.norms = nn.ModuleList(self._make_norm(norm, widths[j + 1] * spec.pieces) for j in range(n_hidden))
        # residual_mask[j]: does hidden layer j add its input? Only where the shapes allow it.
        self.residual_mask = [residual and square for square in square_hidden_layers(widths)]

    @staticmethod
    def _make_norm(norm, width):
        if norm is None:
            return nn.Identity()
        if norm == "batch":
            return nn.BatchNorm1d(width)
        if norm == "layer":
            return nn.LayerNorm(width)
        return norm(width)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() > 2:
            x = x.flatten(1)  # images (batch, c, h, w) -> (batch, c*h*w)
        if x.dim() != 2 or x.shape[1] != self.widths[0]:
            raise ValueError(f"input must have shape (batch, {self.widths[0]}), got {tuple(x.shape)}")
        return x

    def forward_with_states(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Forward pass that keeps every hidden pre-activation ``v_j`` and state ``z_{j+1}``.

        Returns ``{"pre": [v_1, ...], "post": [z_2, ...], "output": m(x)}`` with ``v_j`` of shape
        ``(batch, pieces * h_j)`` and ``z_{j+1}`` of shape ``(batch, h_j)``.
        """
        z = self._prepare(x)
        pre, post = [], []
        for j, (linear, norm, act) in enumerate(zip(self.layers[:-1], self.norms, self.activations)):
            v = norm(linear(z))
            h = _dropout(act(v), keep=1.0 - self.dropout, training=self.training) if self.dropout else act(v)
            z = z + h if self.residual_mask[j] else h
            pre.append(v)
            post.append(z)
        return {"pre": pre, "post": post, "output": self.layers[-1](z)}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r"""The learned feature vector :math:`\phi(x;\theta)`: the last hidden state, ``(batch, h_k)``."""
        states = self.forward_with_states(x)
        return states["post"][-1] if states["post"] else self._prepare(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_states(x)["output"]

    def extra_repr(self) -> str:
        return (f"widths={self.widths}, activation={self.activation!r}, residual={self.residual}, "
                f"norm={self.norm!r}, dropout={self.dropout}")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters, e.g. 78 for ``MLP([1, 5, 5, 5, 1, 1], "leaky_relu")``."""
    check_module("model", model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

