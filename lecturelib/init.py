r"""Weight initialisation schemes and the statistics of activations and gradients they produce.

A fully connected layer :math:`s = W h` with ``W`` of shape ``(fan_out, fan_in)`` (PyTorch's
``nn.Linear`` layout) and i.i.d. zero-mean weights of variance :math:`\sigma_w^2` has
:math:`\operatorname{Var}[s_i] = \text{fan\_in}\,\sigma_w^2\,\mathbb E[h_j^2]`, and the gradient
it passes back has :math:`\operatorname{Var}[\partial L/\partial h_j] =
\text{fan\_out}\,\sigma_w^2\,\operatorname{Var}[\partial L/\partial s_i]`. The schemes below
choose :math:`\sigma_w` to keep one or both of these variances constant from layer to layer:

==================  ==============================================  ================================
name                distribution                                     source
==================  ==============================================  ================================
``gaussian``        :math:`N(0, \text{scale}^2)` (give a float)      the lecture's ``0.01 * randn``
``standard``        :math:`U[-1/\sqrt{n_{in}},\ 1/\sqrt{n_{in}}]`     Glorot & Bengio (2010), eq. (1)
``xavier_normal``   :math:`N(0,\ 2/(n_{in}+n_{out}))`                Glorot & Bengio (2010)
``xavier_uniform``  :math:`U[\pm\sqrt{6/(n_{in}+n_{out})}]`          Glorot & Bengio (2010), eq. (16)
``lecun_normal``    :math:`N(0,\ 1/n_{in})`                          LeCun et al. (1998/2012)
``he_normal``       :math:`N(0,\ 2/n_{in})`                          He et al. (2015), eq. (10)
``he_uniform``      :math:`U[\pm\sqrt{6/n_{in}}]`                    He et al. (2015)
``orthogonal``      Haar-random semi-orthogonal :math:`W`             Saxe et al. (2014)
``zero``            all weights 0                                     (the symmetry problem)
==================  ==============================================  ================================

:func:`jacobian_singular_values` measures what Glorot & Bengio (2010, section 4.2.1) single out:
the singular values of each layer's Jacobian :math:`\partial h_l/\partial h_{l-1}`, and of the
whole network's, which they argue should stay close to 1.

``xavier`` and ``glorot`` mean ``xavier_normal``; ``he`` and ``kaiming`` mean ``he_normal``. A
plain float is read as the standard deviation of a ``gaussian`` scheme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ._checks import check_int, check_module, check_real, check_seed, check_tensor, check_type
from .models import get_activation

__all__ = ["SCHEMES", "scheme_names", "resolve_scheme", "weight_std", "init_weight_", "initialize",
           "LayerStatistics", "activation_statistics", "statistics_table", "hidden_layer_statistics",
           "random_network_weights", "layer_jacobians", "JacobianSpectra", "jacobian_singular_values"]

SCHEMES = ("gaussian", "standard", "xavier_normal", "xavier_uniform", "lecun_normal", "he_normal",
           "he_uniform", "orthogonal", "zero")
_ALIASES = {"xavier": "xavier_normal", "glorot": "xavier_normal", "glorot_normal": "xavier_normal",
            "glorot_uniform": "xavier_uniform", "he": "he_normal", "kaiming": "he_normal",
            "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform", "lecun": "lecun_normal",
            "zeros": "zero", "normalized": "xavier_uniform", "normalised": "xavier_uniform"}


def scheme_names() -> list[str]:
    """Every name :func:`init_weight_` accepts (canonical names first, then aliases)."""
    return list(SCHEMES) + sorted(_ALIASES)


def resolve_scheme(scheme) -> tuple[str, float | None]:
    """Turn ``scheme`` into ``(canonical_name, scale)``; ``scale`` is set only for ``gaussian``.

    Accepts a name (see :data:`SCHEMES`, aliases allowed, case-insensitive), a positive float
    (a Gaussian of that standard deviation) or ``("gaussian", scale)``.
    """
    if isinstance(scheme, bool):
        raise TypeError(f"init scheme must be a name or a positive float, got {scheme!r}")
    if isinstance(scheme, (int, float)):
        if not math.isfinite(scheme) or scheme <= 0:
            raise ValueError(f"a Gaussian init scale must be a positive finite number, got {scheme!r}")
        return "gaussian", float(scheme)
    if isinstance(scheme, tuple) and len(scheme) == 2 and scheme[0] == "gaussian":
        return resolve_scheme(scheme[1])
    if not isinstance(scheme, str):
        raise TypeError(f"init scheme must be a name (one of {', '.join(SCHEMES)}) or a positive float, "
                        f"got {type(scheme).__name__}")
    key = scheme.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key == "gaussian":
        raise ValueError("the 'gaussian' scheme needs a scale: pass a float such as 0.01 instead of the name")
    if key not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; valid names are {', '.join(scheme_names())}, "
                         "or a positive float for a Gaussian of that standard deviation")
    return key, None


def weight_std(scheme, fan_in: int, fan_out: int) -> float:
    r"""The standard deviation of a weight under ``scheme`` for a layer ``fan_in -> fan_out``.

    For a uniform :math:`U[-a, a]` it is :math:`a/\sqrt3`, e.g. Xavier-uniform gives
    :math:`\sqrt{2/(n_{in}+n_{out})}`, the same as Xavier-normal (Glorot & Bengio 2010). A
    semi-orthogonal :math:`W` has :math:`\min(n_{in}, n_{out})` unit singular values, so
    :math:`\sum_{ij} W_{ij}^2 = \min(n_{in}, n_{out})` and its root-mean-square entry is
    :math:`1/\sqrt{\max(n_{in}, n_{out})}`.
    """
    check_int("fan_in", fan_in, minimum=1)
    check_int("fan_out", fan_out, minimum=1)
    name, scale = resolve_scheme(scheme)
    return {
        "gaussian": lambda: scale,
        "standard": lambda: 1.0 / math.sqrt(3.0 * fan_in),
        "xavier_normal": lambda: math.sqrt(2.0 / (fan_in + fan_out)),
        "xavier_uniform": lambda: math.sqrt(2.0 / (fan_in + fan_out)),
        "lecun_normal": lambda: math.sqrt(1.0 / fan_in),
        "he_normal": lambda: math.sqrt(2.0 / fan_in),
        "he_uniform": lambda: math.sqrt(2.0 / fan_in),
        "orthogonal": lambda: math.sqrt(1.0 / max(fan_in, fan_out)),
        "zero": lambda: 0.0,
    }[name]()


@torch.no_grad()
def init_weight_(weight: torch.Tensor, scheme, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Fill a ``(fan_out, fan_in)`` weight matrix in place from ``scheme`` and return it.

    Normal schemes draw :math:`N(0, \sigma^2)` with :math:`\sigma` from :func:`weight_std`;
    uniform ones draw :math:`U[-a, a]` with :math:`a = \sqrt3\,\sigma`, i.e.
    :math:`a = 1/\sqrt{n_{in}}` (``standard``), :math:`\sqrt{6/(n_{in}+n_{out})}`
    (``xavier_uniform``) or :math:`\sqrt{6/n_{in}}` (``he_uniform``). ``orthogonal`` is the
    Q factor of a Gaussian matrix (``torch.nn.init.orthogonal_``'s construction, Saxe et al. 2014):
    orthonormal rows when :math:`n_{out} \le n_{in}`, orthonormal columns otherwise. ``generator``
    makes the draw reproducible without touching the global random stream.
    """
    check_tensor("weight", weight, ndim=2, floating=True)
    if generator is not None:
        check_type("generator", generator, torch.Generator, "a torch.Generator or None")
    fan_out, fan_in = weight.shape
    name, _ = resolve_scheme(scheme)
    std = weight_std(scheme, int(fan_in), int(fan_out))
    if name == "zero":
        return weight.zero_()
    if name == "orthogonal":
        return weight.copy_(_haar_semi_orthogonal(int(fan_out), int(fan_in), weight.dtype, generator))
    if name in ("standard", "xavier_uniform", "he_uniform"):
        bound = math.sqrt(3.0) * std
        return weight.uniform_(-bound, bound, generator=generator)
    return weight.normal_(0.0, std, generator=generator)


def _haar_semi_orthogonal(rows: int, cols: int, dtype, generator) -> torch.Tensor:
    """``Q`` of ``G = QR`` for Gaussian ``G``, with the signs of ``diag(R)`` folded into ``Q`` so that
    ``Q`` is Haar-distributed (Mezzadri 2007), shaped ``(rows, cols)``."""
    gaussian = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=dtype)
    q, r = torch.linalg.qr(gaussian)  # q: (max, min), orthonormal columns
    q = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(dtype)
    return q if rows >= cols else q.T


def initialize(model: nn.Module, scheme, bias: float = 0.0, seed: int | None = None) -> nn.Module:
    """Re-initialise every ``nn.Linear`` of ``model`` (e.g. a :class:`lecturelib.models.MLP`) in place.

    Weights follow ``scheme`` (see :func:`init_weight_`), biases are set to the constant ``bias``
    (Glorot & Bengio 2010 use 0). With ``seed`` the draws come from a private generator, so the
    result does not depend on the global random state. Returns ``model``.
    """
    check_module("model", model)
    check_real("bias", bias)
    if seed is not None:
        check_seed("seed", seed)
    resolve_scheme(scheme)  # fail early, before touching any layer
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear layers to initialise")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        for layer in linears:
            init_weight_(layer.weight, scheme, generator)
            if layer.bias is not None:
                layer.bias.fill_(float(bias))
    return model


# ---------------------------------------------------------------------------- statistics

@dataclass
class LayerStatistics:
    """Statistics of one hidden layer ``l`` (1-based) of :func:`activation_statistics`.

    ``mean``/``std``: of the activations :math:`h_l`; ``saturated_fraction``: share of units with
    :math:`|h| > 0.99` (tanh) or :math:`h \\notin [0.01, 0.99]` (sigmoid), NaN for unbounded
    activations; ``zero_fraction``: share of exact zeros (dead ReLU outputs);
    ``grad_mean``/``grad_std``: of the back-propagated gradient :math:`\\partial L/\\partial s_l`
    at the pre-activation; ``weight_grad_std``: of :math:`\\partial L/\\partial W_l`.
    ``activations`` and ``gradients`` hold the ``(N, width)`` values when asked for.
    """

    layer: int
    mean: float
    std: float
    saturated_fraction: float
    zero_fraction: float
    grad_mean: float
    grad_std: float
    weight_grad_std: float
    activations: torch.Tensor | None = field(default=None, repr=False)
    gradients: torch.Tensor | None = field(default=None, repr=False)


def _saturated_fraction(name: str, h: torch.Tensor, threshold: float) -> float:
    if name == "tanh":
        return float((h.abs() > threshold).double().mean())
    if name == "sigmoid":
        return float(((h > threshold) | (h < 1.0 - threshold)).double().mean())
    return float("nan")


def activation_statistics(X: torch.Tensor, depth: int, width: int, activation: str, init, seed: int = 0,
                          output_gradient: torch.Tensor | None = None, keep_values: bool = False,
                          saturation_threshold: float = 0.99) -> list[LayerStatistics]:
    r"""Push ``X`` through ``depth`` bias-free layers of ``width`` units and measure every layer.

    The forward pass is the lecture's experiment (CS231n-style, after Glorot & Bengio 2010):
    :math:`s_l = h_{l-1} W_l^T`, :math:`h_l = \sigma(s_l)`, :math:`h_0 = X`, with each
    :math:`W_l` (``(width, fan_in)``) drawn from ``init`` (a scheme name or a Gaussian scale)
    by a generator seeded with ``seed``. The backward pass feeds a gradient
    :math:`G = \partial L/\partial h_{depth}` into the top layer (``output_gradient``, default
    i.i.d. :math:`N(0, 1)` from the same generator, the loss :math:`L = \sum G \odot h_{depth}`)
    and runs the recursion

    .. math::
        \delta_l = \partial L/\partial s_l = (\delta_{l+1} W_{l+1}) \odot \sigma'(s_l),\qquad
        \partial L/\partial W_l = \delta_l^T h_{l-1},

    whose per-layer spread is what Glorot & Bengio's figure 7 histograms. Computed in float64.

    Returns one :class:`LayerStatistics` per hidden layer, input side first.
    """
    check_tensor("X", X, ndim=2, floating=True, finite=True)
    if X.shape[0] < 2 or X.shape[1] < 1:
        raise ValueError(f"X must be a (samples, features) matrix with at least 2 rows, got shape {tuple(X.shape)}")
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    check_seed("seed", seed)
    check_real("saturation_threshold", saturation_threshold, 0.5, 1.0, open_min=True, open_max=True)
    spec = get_activation(activation)
    if spec.derivative is None:
        raise ValueError(f"activation {activation!r} is not element-wise; use one of identity, sigmoid, tanh, "
                         "relu, leaky_relu, prelu, elu")
    resolve_scheme(init)
    n = X.shape[0]
    if output_gradient is not None:
        if not isinstance(output_gradient, torch.Tensor) or tuple(output_gradient.shape) != (n, width):
            got = tuple(output_gradient.shape) if isinstance(output_gradient, torch.Tensor) else type(output_gradient).__name__
            raise ValueError(f"output_gradient must be a tensor of shape ({n}, {width}), got {got}")

    generator = torch.Generator().manual_seed(seed)
    h = X.detach().double()  # (N, n_0)
    weights, pre, post = [], [], []
    for _ in range(depth):
        W = init_weight_(torch.empty(width, h.shape[1], dtype=torch.float64), init, generator)  # (width, fan_in)
        s = h @ W.T  # (N, width)
        h = spec.function(s)
        weights.append(W)
        pre.append(s)
        post.append(h)
    if output_gradient is None:
        G = torch.randn(n, width, generator=generator, dtype=torch.float64)  # dL/dh_depth, (N, width)
    else:
        G = output_gradient.detach().double()

    deltas = [None] * depth
    upstream = G  # dL/dh_l, (N, width)
    for l in reversed(range(depth)):
        deltas[l] = upstream * spec.derivative(pre[l])  # dL/ds_l, (N, width)
        upstream = deltas[l] @ weights[l]  # dL/dh_{l-1}, (N, fan_in)

    records = []
    for l in range(depth):
        h_l, d_l = post[l], deltas[l]
        h_prev = X.detach().double() if l == 0 else post[l - 1]
        weight_grad = d_l.T @ h_prev  # (width, fan_in)
        records.append(LayerStatistics(
            layer=l + 1,
            mean=float(h_l.mean()), std=float(h_l.std(unbiased=False)),
            saturated_fraction=_saturated_fraction(spec.name, h_l, saturation_threshold),
            zero_fraction=float((h_l == 0).double().mean()),
            grad_mean=float(d_l.mean()), grad_std=float(d_l.std(unbiased=False)),
            weight_grad_std=float(weight_grad.std(unbiased=False)),
            activations=h_l if keep_values else None, gradients=d_l if keep_values else None))
    return records


def statistics_table(records: list[LayerStatistics], columns=("mean", "std"), digits: int = 4) -> str:
    """A plain-text table, one row per layer, of the chosen :class:`LayerStatistics` fields,
    each printed to ``digits`` significant digits (``-`` for NaN)."""
    if not isinstance(records, (list, tuple)) or not records or \
            not all(isinstance(r, LayerStatistics) for r in records):
        raise TypeError("records must be a non-empty list of LayerStatistics (from activation_statistics)")
    valid = [f for f in LayerStatistics.__dataclass_fields__ if f not in ("layer", "activations", "gradients")]
    for column in columns:
        if column not in valid:
            raise ValueError(f"unknown column {column!r}; choose from {', '.join(valid)}")
    check_int("digits", digits, minimum=1, maximum=10)
    cell = 12 if digits <= 5 else digits + 8
    lines = ["layer" + "".join(f"{c:>{max(cell, len(c) + 2)}}" for c in columns)]
    for record in records:
        values = []
        for c in columns:
            v = getattr(record, c)
            text = "-" if math.isnan(v) else f"{v:.{digits}g}"
            values.append(f"{text:>{max(cell, len(c) + 2)}}")
        lines.append(f"{record.layer:>5}" + "".join(values))
    return "\n".join(lines)


@torch.no_grad()
def hidden_layer_statistics(model: nn.Module, X: torch.Tensor) -> dict[str, list[float]]:
    """Mean and standard deviation of each hidden layer's activations of a
    :class:`lecturelib.models.MLP` on ``X``: ``{"mean": [...], "std": [...]}``, input side first.

    The statistics over all units and samples that Glorot & Bengio (2010, figure 2) follow during
    training. The model's train/eval mode is left as it was.
    """
    if not hasattr(model, "forward_with_states"):
        raise TypeError(f"model must be a lecturelib.models.MLP (with forward_with_states), got {type(model).__name__}")
    check_tensor("X", X)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            states = model.forward_with_states(X)["post"]  # each (N, h_j)
    finally:
        model.train(was_training)
    return {"mean": [float(h.mean()) for h in states], "std": [float(h.std(unbiased=False)) for h in states]}


# ---------------------------------------------------------------------------- Jacobians

def random_network_weights(depth: int, width: int, n_in: int, init, seed: int = 0) -> list[torch.Tensor]:
    """The float64 weights ``W_1 (width, n_in), W_2 (width, width), ...`` of ``depth`` bias-free
    layers drawn from ``init`` by a generator seeded with ``seed``, in the order
    :func:`activation_statistics` draws them (so the same ``seed`` gives the same network)."""
    check_int("depth", depth, minimum=1)
    check_int("width", width, minimum=1)
    check_int("n_in", n_in, minimum=1)
    check_seed("seed", seed)
    resolve_scheme(init)
    generator = torch.Generator().manual_seed(seed)
    fans = [n_in] + [width] * depth
    return [init_weight_(torch.empty(width, fan_in, dtype=torch.float64), init, generator) for fan_in in fans[:-1]]


def layer_jacobians(X: torch.Tensor, weights, activation: str) -> list[torch.Tensor]:
    r"""Per sample, the Jacobian of every layer :math:`h_l = \sigma(W_l h_{l-1})` (:math:`h_0 = x`):

    .. math::
        J_l(x) = \frac{\partial h_l}{\partial h_{l-1}} = \operatorname{diag}\big(\sigma'(s_l)\big)\,W_l,
        \qquad s_l = W_l h_{l-1},

    the matrices whose singular values Glorot & Bengio (2010, section 4.2.1) want close to 1.
    ``weights`` are ``(fan_out, fan_in)`` matrices (e.g. :func:`random_network_weights`), ``X`` is
    ``(N, n_in)``. Returns one float64 tensor ``(N, fan_out, fan_in)`` per layer, input side first.
    """
    check_tensor("X", X, ndim=2, floating=True, finite=True)
    if not isinstance(weights, (list, tuple)) or not weights:
        raise TypeError("weights must be a non-empty list of (fan_out, fan_in) tensors")
    fan_in = X.shape[1]
    for l, W in enumerate(weights):
        check_tensor(f"weights[{l}]", W, ndim=2, floating=True, finite=True)
        if W.shape[1] != fan_in:
            raise ValueError(f"weights[{l}] has {W.shape[1]} columns, but its input has {fan_in} features")
        fan_in = W.shape[0]
    spec = get_activation(activation)
    if spec.derivative is None:
        raise ValueError(f"activation {activation!r} is not element-wise")
    h, jacobians = X.detach().double(), []
    for W in weights:
        W = W.detach().double()
        s = h @ W.T  # (N, fan_out)
        jacobians.append(spec.derivative(s).unsqueeze(2) * W)  # diag(sigma'(s)) W, (N, fan_out, fan_in)
        h = spec.function(s)
    return jacobians


@dataclass
class JacobianSpectra:
    """Singular values from :func:`jacobian_singular_values`, each row in descending order.

    ``layers[l]``: ``(N, min(fan_out, fan_in))`` for layer ``l + 1``'s Jacobian :math:`J_{l+1}(x)`;
    ``input_output``: ``(N, min(width, n_in))`` for :math:`J_L(x)\\cdots J_1(x) = \\partial h_L/\\partial x`.
    """

    layers: list[torch.Tensor]
    input_output: torch.Tensor


def jacobian_singular_values(X: torch.Tensor, depth: int, width: int, activation: str, init,
                             seed: int = 0) -> JacobianSpectra:
    r"""Singular values of the layer-to-layer Jacobians :math:`J_l(x)` (:func:`layer_jacobians`) and
    of the input-output Jacobian :math:`J_L(x)\cdots J_1(x)` of the network of
    :func:`random_network_weights` (``depth`` bias-free layers of ``width`` units, ``init``, ``seed``)
    at every row ``x`` of ``X``, from ``torch.linalg.svdvals`` in float64.

    For a square layer in the linear regime (:math:`\sigma' \approx 1`) with i.i.d. entries of
    variance :math:`\sigma_w^2`, the singular values follow the quarter-circle law on
    :math:`[0, 2\sqrt n\,\sigma_w]` with mean :math:`\tfrac{8}{3\pi}\sqrt n\,\sigma_w`: about 0.49 for
    the standard :math:`n\sigma_w^2 = 1/3` and 0.85 for the normalised :math:`n\sigma_w^2 = 1`;
    an orthogonal :math:`W` has them all at 1, so only :math:`\sigma'(s)` pulls them below.
    """
    check_tensor("X", X, ndim=2, floating=True, finite=True)
    weights = random_network_weights(depth, width, X.shape[1], init, seed)
    jacobians = layer_jacobians(X, weights, activation)
    through = jacobians[0]
    for J in jacobians[1:]:
        through = J @ through  # (N, width, n_in)
    return JacobianSpectra(layers=[torch.linalg.svdvals(J) for J in jacobians],
                           input_output=torch.linalg.svdvals(through))
