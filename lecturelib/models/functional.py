r"""The functional view of the lectures' fully connected network: its parameters as plain tensors.

:class:`Network` holds the weights :math:`W_j`, biases :math:`b_j`, element-wise activations
:math:`\sigma_j` and residual switches of

.. math::

    z_1 = x, \qquad v_j = W_j z_j + b_j, \qquad
    z_{j+1} = \begin{cases} z_j + \sigma_j(v_j) & \text{residual hidden layer (He et al. 2016)}\\
    \sigma_j(v_j) & \text{plain hidden layer}\\ v_n & \text{last layer } (\sigma_n = \mathrm{Id}),\end{cases}

with no ``nn.Module`` around them (Giselsson, *Deep Learning*, "Backpropagation"). The written-out
backpropagation (:mod:`lecturelib.backprop`) and the Lipschitz bounds (:mod:`lecturelib.lipschitz`)
read a network in this form: :func:`as_network` takes a :class:`~lecturelib.models.mlp.MLP` (sharing
its tensors) or a :class:`Network`; :func:`random_network` draws one at a given weight scale, and
:func:`scaled_activation` gives the activations :math:`\alpha\sigma` that an ``MLP`` cannot hold.
Python lists are 0-based: ``weights[k]`` is :math:`W_{k+1}`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .._checks import check_nonnegative, check_positive, check_seed, check_tensor, check_type
from .mlp import ACTIVATIONS, MLP, ActivationSpec, get_activation, square_hidden_layers

__all__ = ["Network", "as_network", "network_from_mlp", "random_network", "scaled_activation"]


@dataclass(frozen=True)
class Network:
    r"""The parameters of :math:`m(x;\theta)` as plain tensors.

    ``weights[k]`` is :math:`W_{k+1}` of shape ``(n_{k+2}, n_{k+1})``; ``biases[k]`` is
    :math:`b_{k+1}` of shape ``(n_{k+2},)`` (or ``None``); ``activations`` and ``residual`` have one
    entry per *hidden* layer (the last layer is affine, :math:`\sigma_n = \mathrm{Id}`).
    Calling it, ``network(X)``, is the forward pass on a batch of rows, differentiable in ``X``.
    """

    weights: tuple
    biases: tuple
    activations: tuple
    residual: tuple

    def __post_init__(self):
        n = len(self.weights)
        if n < 1:
            raise ValueError("weights must hold at least one matrix")
        if len(self.biases) != n:
            raise ValueError(f"biases must have one entry per weight matrix ({n}), got {len(self.biases)}")
        if len(self.activations) != n - 1 or len(self.residual) != n - 1:
            raise ValueError(f"activations and residual need one entry per hidden layer ({n - 1}), got "
                             f"{len(self.activations)} and {len(self.residual)}")
        for k, W in enumerate(self.weights):
            if not isinstance(W, torch.Tensor) or W.dim() != 2:
                raise ValueError(f"weights[{k}] must be a 2-D tensor, got "
                                 f"{tuple(W.shape) if isinstance(W, torch.Tensor) else type(W).__name__}")
            if k and W.shape[1] != self.weights[k - 1].shape[0]:
                raise ValueError(f"weights[{k}] has {W.shape[1]} columns but weights[{k - 1}] has "
                                 f"{self.weights[k - 1].shape[0]} rows; consecutive widths must agree")
            b = self.biases[k]
            if b is not None and tuple(b.shape) != (W.shape[0],):
                raise ValueError(f"biases[{k}] must have shape ({W.shape[0]},), got {tuple(b.shape)}")
        for k, (spec, res) in enumerate(zip(self.activations, self.residual)):
            if not isinstance(spec, ActivationSpec) or spec.function is None or spec.derivative is None:
                raise ValueError(f"activations[{k}] must be an element-wise ActivationSpec, got {spec!r}")
            if res and self.weights[k].shape[0] != self.weights[k].shape[1]:
                raise ValueError(f"hidden layer {k} is residual but maps width {self.weights[k].shape[1]} "
                                 f"to {self.weights[k].shape[0]}; a residual layer must be square")

    @property
    def widths(self) -> list[int]:
        """``[n_1, ..., n_{n+1}]``: the width of every state :math:`z_j`."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def depth(self) -> int:
        """Number of affine maps :math:`n`."""
        return len(self.weights)

    def detach(self) -> Network:
        """The same network with every tensor detached from autograd (sharing storage)."""
        return replace(self, weights=tuple(W.detach() for W in self.weights),
                       biases=tuple(b.detach() if b is not None else None for b in self.biases))

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        r"""The output :math:`m(x)` for every row of ``X`` ``(batch, n_1)``: ``(batch, n_{n+1})``.

        Rows are samples, so :math:`V_j = Z_j W_j^\top + b_j`; autograd may track ``X`` (and the
        tensors, unless :meth:`detach` was called).
        """
        check_tensor("X", X)
        z = X  # (batch, n_1)
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            v = z @ W.T + (b if b is not None else 0.0)  # (batch, n_{k+2})
            if k == self.depth - 1:
                z = v  # sigma_n = Id
            else:
                h = self.activations[k].function(v)
                z = z + h if self.residual[k] else h
        return z


def network_from_mlp(model: MLP) -> Network:
    """The :class:`Network` view of a :class:`lecturelib.models.MLP` (sharing its tensors).

    Accepts plain and residual MLPs with element-wise activations; rejects what the lecture's
    recursion does not cover (normalisation layers, maxout, PReLU's learned slope, dropout).
    """
    check_type("model", model, MLP, "a lecturelib.models.MLP")
    if model.norm is not None:
        raise ValueError(f"model has norm={model.norm!r}; backprop supports MLPs with norm=None only")
    if model.dropout:
        raise ValueError(f"model has dropout={model.dropout}; backprop supports dropout=0 only")
    if model.activation in ("maxout", "prelu"):
        raise ValueError(f"model activation {model.activation!r} is not supported; use one of "
                         f"{', '.join(k for k in ACTIVATIONS if k not in ('maxout', 'prelu'))}")
    spec = ACTIVATIONS[model.activation]
    weights = tuple(layer.weight for layer in model.layers)
    biases = tuple(layer.bias for layer in model.layers)
    return Network(weights, biases, tuple(spec for _ in model.activations), tuple(model.residual_mask))


def as_network(model) -> Network:
    """``model`` itself if it is a :class:`Network`, else the view :func:`network_from_mlp` of an MLP."""
    if isinstance(model, Network):
        return model
    if isinstance(model, MLP):
        return network_from_mlp(model)
    raise TypeError(f"model must be a lecturelib.models.MLP or a models.Network, got {type(model).__name__}")


def scaled_activation(name: str, alpha: float) -> ActivationSpec:
    r"""The activation :math:`\alpha\,\sigma(u)` with derivative :math:`\alpha\,\sigma'(u)`.

    The lecture's remedy for exploding residual gradients: with :math:`\alpha < 1` an
    :math:`L`-Lipschitz :math:`\sigma` becomes :math:`\alpha L`-Lipschitz. Its name reads
    ``"0.5*relu"``, which :mod:`lecturelib.lipschitz` turns into the constant :math:`\alpha L`.
    """
    spec = get_activation(name)
    if spec.function is None:
        raise ValueError(f"activation {name!r} is not element-wise; scaled_activation needs one that is")
    alpha = check_positive("alpha", alpha)
    function, derivative = spec.function, spec.derivative
    return replace(spec, name=f"{alpha:g}*{spec.name}", formula=rf"{alpha:g}\,({spec.formula})",
                   function=lambda u: alpha * function(u), derivative=lambda u: alpha * derivative(u))


def random_network(widths, activation="relu", residual: bool = False, weight_scale: float = 1.0,
                   seed: int = 0, dtype=torch.float64) -> Network:
    r"""A random :class:`Network` with :math:`(W_j)_{ik} \sim N(0, \text{weight_scale}^2 / n_j)`, :math:`b_j = 0`.

    ``weight_scale = 1`` gives LeCun's variance :math:`1/n_j` (LeCun et al. 2012); ``sqrt(2)`` is He et
    al. (2015). ``activation`` is a name or an :class:`ActivationSpec` (e.g. from
    :func:`scaled_activation`). With ``residual``, every hidden layer that maps a width to itself adds
    its input, as in :class:`~lecturelib.models.mlp.MLP`; widths without such a layer are refused.
    """
    if not isinstance(widths, (list, tuple)) or len(widths) < 2 or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"widths must be a list of at least two positive ints, got {widths!r}")
    check_nonnegative("weight_scale", weight_scale)
    check_type("residual", residual, bool, "True or False")
    square = square_hidden_layers(widths)
    if residual and not any(square):
        raise ValueError(f"residual=True, but no hidden layer of widths={list(widths)} maps a width to itself, "
                         "so none can add its input; use two equal consecutive widths before the output, "
                         "or residual=False")
    spec = activation if isinstance(activation, ActivationSpec) else get_activation(activation)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    weights = tuple(torch.randn(widths[k + 1], widths[k], generator=generator, dtype=dtype)
                    * (weight_scale / widths[k] ** 0.5) for k in range(len(widths) - 1))
    biases = tuple(torch.zeros(widths[k + 1], dtype=dtype) for k in range(len(widths) - 1))
    mask = tuple(residual and is_square for is_square in square)
    return Network(weights, biases, tuple(spec for _ in square), mask)
