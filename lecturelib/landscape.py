r"""Loss landscapes along random and chosen directions (Li et al. 2018, *Visualizing the Loss
Landscape of Neural Nets*).

A landscape slice evaluates the loss at parameters moved away from a point :math:`\theta^*`
along one or two directions,

.. math::

    f(\alpha) = L(\theta^* + \alpha\,\delta), \qquad
    f(\alpha, \beta) = L(\theta^* + \alpha\,\delta + \beta\,\eta),

on data ``X, y`` with the model in evaluation mode. Directions are dicts keyed like
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

The fast evaluation engine lives in :mod:`lecturelib.landscape_engine`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._checks import check_choice, check_int, check_module, check_positive, check_real, check_seed, check_type
from .landscape_engine import evaluate_affine, model_state

__all__ = ["NORMS", "IGNORES", "LandscapeResult", "random_direction", "normalize_direction",
           "direction_between", "direction_norm", "plane", "line", "interpolate", "evaluate_affine",
           "rescale_relu_layers", "parameter_norm", "weight_values"]

NORMS = ("filter", "layer", "weight", None)
IGNORES = ("biasbn", None)
KINDS = ("weights", "states")


@dataclass
class LandscapeResult:
    """Loss (and accuracy) on a 1-D or 2-D grid of coefficients.

    For a plane, ``loss[i, j]`` is the loss at ``alphas[i]`` along the first direction and
    ``betas[j]`` along the second, so ``loss`` has shape ``(len(alphas), len(betas))``; to draw it
    with ``alpha`` on the x axis, pass ``loss.T`` to matplotlib (see
    :mod:`lecturelib.landscape_plots`). For a line or an interpolation, ``betas`` is ``None`` and
    ``loss`` has shape ``(len(alphas),)``. ``accuracy`` (a fraction in [0, 1], same shape) is
    ``None`` for regression targets. All arrays are NumPy ``float64``.
    """

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    accuracy: np.ndarray | None = None

    @property
    def is_plane(self) -> bool:
        """True for a 2-D slice."""
        return self.betas is not None

    def at_origin(self) -> float:
        """Loss at the grid point nearest to the origin (the trained model itself, for a plane or line)."""
        i = int(np.argmin(np.abs(self.alphas)))
        if self.betas is None:
            return float(self.loss[i])
        return float(self.loss[i, int(np.argmin(np.abs(self.betas)))])


# ----------------------------------------------------------------------------- directions

def _make_generator(generator):
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
    check_choice("norm", norm, NORMS)
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
    check_choice("norm", norm, NORMS)
    check_choice("ignore", ignore, IGNORES)
    check_choice("kind", kind, KINDS)
    gen = _make_generator(generator)
    weights = model_state(model, include_buffers=(kind == "states"))
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
    state_a = model_state(model_a, include_buffers=(kind == "states"))
    state_b = model_state(model_b, include_buffers=(kind == "states"))
    if list(state_a) != list(state_b):
        raise ValueError(f"model_a and model_b differ in their {kind}: {sorted(set(state_a) ^ set(state_b))}")
    out = {}
    for name, a in state_a.items():
        b = state_b[name]
        if a.shape != b.shape:
            raise ValueError(f"{name!r} has shape {tuple(a.shape)} in model_a but {tuple(b.shape)} in model_b")
        out[name] = (b.to(a.device) - a).detach()
    return out


def direction_norm(direction: dict) -> float:
    r"""Euclidean norm :math:`\|\delta\|_2` of a direction dict over all its entries."""
    if not isinstance(direction, dict) or not direction:
        raise TypeError("direction must be a non-empty dict name -> tensor")
    return float(torch.sqrt(sum((d.double() ** 2).sum() for d in direction.values())))


# ----------------------------------------------------------------------------- slices

def _grid_axis(name, steps, span):
    check_int("steps", steps, minimum=2)
    if not isinstance(span, (tuple, list)) or len(span) != 2:
        raise ValueError(f"{name} span must be a pair (low, high) with low < high, got {span!r}")
    low, high = (check_real(f"span ({name} axis)", v) for v in span)
    if not low < high:
        raise ValueError(f"{name} span must be a pair (low, high) with low < high, got {span!r}")
    return np.linspace(low, high, int(steps))


def _pair(value, name):
    """``steps``/``span`` may be given once for both axes or as a pair (alpha, beta)."""
    if name == "steps":
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise ValueError(f"steps must be an int or a pair (n_alpha, n_beta), got {value!r}")
            return value[0], value[1]
        return value, value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (tuple, list)) for v in value):
        return value[0], value[1]
    return value, value


def _default_directions(model, count, norm, ignore, seed, kind):
    generator = _make_generator(seed if seed is not None else 0)
    return [random_direction(model, norm=norm, ignore=ignore, generator=generator, kind=kind) for _ in range(count)]


def plane(model: nn.Module, X: torch.Tensor, y: torch.Tensor, directions=None, steps=51,
          span=(-1.0, 1.0), origin: dict | None = None, loss_fn=None, norm="filter", ignore="biasbn",
          seed: int = 0, kind: str = "weights", engine: str = "auto", chunk_size: int | None = None,
          batch_size: int | None = None, device=None) -> LandscapeResult:
    r"""The 2-D slice :math:`f(\alpha, \beta) = L(\theta^* + \alpha\delta + \beta\eta)` (Li et al. 2018).

    Args:
        model: the network; its parameters give :math:`\theta^*` unless ``origin`` is given.
        X, y: the data the loss is averaged over (integer ``y``: cross-entropy and accuracy;
            float ``y``: mean squared error), evaluated with the model in evaluation mode.
        directions: a pair ``(delta, eta)`` of direction dicts (any keys among the parameters
            and floating buffers; missing keys do not move). ``None`` draws two
            :func:`random_direction` with ``norm``, ``ignore``, ``kind`` from ``seed``.
        steps: grid points per axis, an int or a pair ``(n_alpha, n_beta)``; default 51 x 51.
        span: ``(low, high)`` for both axes or ``((a_low, a_high), (b_low, b_high))``.
        origin: optional dict ``name -> tensor`` replacing :math:`\theta^*` entries.
        loss_fn: ``loss_fn(output, y) -> mean loss``; defaults as in :func:`lecturelib.train.default_loss`.
        engine: ``"auto"``, ``"vmap"`` (many grid points per vectorised forward) or ``"loop"``
            (one point at a time); see :func:`lecturelib.landscape_engine.evaluate_affine`.
        chunk_size: grid points per vectorised forward (``None``: chosen from a memory budget).
        batch_size: samples per forward (``None``: all at once when they fit).
        device: where to evaluate; defaults to :func:`lecturelib.device.get_device`.

    Returns:
        :class:`LandscapeResult` with ``loss[i, j]`` at ``(alphas[i], betas[j])``.
    """
    check_module("model", model)
    steps_a, steps_b = _pair(steps, "steps")
    span_a, span_b = _pair(span, "span")
    alphas = _grid_axis("alpha", steps_a, span_a)
    betas = _grid_axis("beta", steps_b, span_b)
    if directions is None:
        directions = _default_directions(model, 2, norm, ignore, seed, kind)
    if not isinstance(directions, (tuple, list)) or len(directions) != 2:
        raise ValueError(f"directions must be a pair of direction dicts or None, got {type(directions).__name__}"
                         f"{'' if not isinstance(directions, (tuple, list)) else f' of length {len(directions)}'}")
    # (n_alpha * n_beta, 2) coefficients, alpha-major so that a reshape gives loss[i, j]
    grid_a, grid_b = np.meshgrid(alphas, betas, indexing="ij")
    coefficients = torch.as_tensor(np.stack([grid_a.ravel(), grid_b.ravel()], axis=1))
    loss, accuracy = evaluate_affine(model, X, y, list(directions), coefficients, origin=origin,
                                     loss_fn=loss_fn, engine=engine, chunk_size=chunk_size,
                                     batch_size=batch_size, device=device)
    shape = (len(alphas), len(betas))
    return LandscapeResult(alphas, betas, loss.reshape(shape),
                           None if accuracy is None else accuracy.reshape(shape))


def line(model: nn.Module, X: torch.Tensor, y: torch.Tensor, direction: dict | None = None, steps: int = 51,
         span=(-1.0, 1.0), origin: dict | None = None, loss_fn=None, norm="filter", ignore="biasbn",
         seed: int = 0, kind: str = "weights", engine: str = "auto", chunk_size: int | None = None,
         batch_size: int | None = None, device=None) -> LandscapeResult:
    r"""The 1-D slice :math:`f(\alpha) = L(\theta^* + \alpha\delta)` along one direction.

    ``direction=None`` draws a :func:`random_direction` (``norm``, ``ignore``, ``kind``) from
    ``seed``. The other arguments are those of :func:`plane`. Returns a
    :class:`LandscapeResult` with ``betas=None`` and ``loss[i]`` at ``alphas[i]``.
    """
    check_module("model", model)
    alphas = _grid_axis("alpha", steps, span)
    if direction is None:
        direction = _default_directions(model, 1, norm, ignore, seed, kind)[0]
    if not isinstance(direction, dict):
        raise TypeError(f"direction must be a dict name -> tensor or None, got {type(direction).__name__}")
    coefficients = torch.as_tensor(alphas).unsqueeze(1)  # (steps, 1)
    loss, accuracy = evaluate_affine(model, X, y, [direction], coefficients, origin=origin, loss_fn=loss_fn,
                                     engine=engine, chunk_size=chunk_size, batch_size=batch_size, device=device)
    return LandscapeResult(alphas, None, loss, accuracy)


def interpolate(model_a: nn.Module, model_b: nn.Module, X: torch.Tensor, y: torch.Tensor, alphas=None,
                loss_fn=None, kind: str = "weights", engine: str = "auto", chunk_size: int | None = None,
                batch_size: int | None = None, device=None) -> LandscapeResult:
    r"""Loss along the straight line :math:`\theta(\alpha) = (1-\alpha)\theta_a + \alpha\theta_b`
    (Goodfellow et al. 2015; Keskar et al. 2017; Li et al. 2018, fig. 2).

    ``alphas`` defaults to :math:`-0.5, -0.45, \dots, 1.5` (41 points, 0 and 1 exactly included).
    ``kind="states"`` also interpolates batch-norm running statistics. The model is evaluated in
    evaluation mode on ``X, y``. Returns a :class:`LandscapeResult` with ``betas=None``.
    """
    check_module("model_a", model_a)
    check_module("model_b", model_b)
    if alphas is None:
        alphas = np.arange(-10, 31) / 20.0
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size < 1 or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty 1-D array of finite numbers, got shape {alphas.shape}")
    direction = direction_between(model_a, model_b, kind=kind)
    coefficients = torch.as_tensor(alphas).unsqueeze(1)  # (steps, 1)
    loss, accuracy = evaluate_affine(model_a, X, y, [direction], coefficients, loss_fn=loss_fn, engine=engine,
                                     chunk_size=chunk_size, batch_size=batch_size, device=device)
    return LandscapeResult(alphas, None, loss, accuracy)


def rescale_relu_layers(model: nn.Module, factors) -> nn.Module:
    r"""A copy of a ReLU/LeakyReLU MLP computing the *same function* with rescaled layers.

    Positive homogeneity :math:`\sigma(cu) = c\,\sigma(u)` for :math:`c > 0` means multiplying
    layer :math:`j`'s weights and bias by :math:`c_j` and dividing the next layer's weights by
    :math:`c_j` leaves :math:`m(x)` unchanged (Dinh et al. 2017). ``factors`` gives one positive
    :math:`c_j` per hidden layer of a :class:`lecturelib.models.MLP` without normalisation.
    Naive (``norm=None``) landscape plots of the copy differ from the original; filter-normalised
    ones do not, which is Li et al.'s argument for filter normalisation.
    """
    import copy

    from .models import MLP

    check_type("model", model, MLP, "a lecturelib.models.MLP")
    if model.activation not in ("relu", "leaky_relu", "identity") or model.norm is not None or any(model.residual_mask):
        raise ValueError("rescale_relu_layers needs a plain MLP with activation 'relu', 'leaky_relu' or "
                         f"'identity' and no normalisation or residual layers; got activation={model.activation!r}, "
                         f"norm={model.norm!r}, residual={model.residual}")
    hidden = len(model.layers) - 1
    if not isinstance(factors, (tuple, list)) or len(factors) != hidden:
        raise ValueError(f"factors must hold {hidden} positive numbers (one per hidden layer), got {factors!r}")
    factors = [check_positive(f"factors[{j}]", c) for j, c in enumerate(factors)]
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for j, c in enumerate(factors):
            scaled.layers[j].weight.mul_(c)
            if scaled.layers[j].bias is not None:
                scaled.layers[j].bias.mul_(c)
            scaled.layers[j + 1].weight.div_(c)
    return scaled


def parameter_norm(model: nn.Module) -> float:
    r"""Euclidean norm :math:`\|\theta\|_2` of all parameters (Li et al. 2018, fig. 2b/e)."""
    check_module("model", model)
    return float(torch.sqrt(sum((p.detach().double() ** 2).sum() for p in model.parameters())))


def weight_values(model: nn.Module) -> np.ndarray:
    """All entries of the parameters with more than one dimension (weight matrices and conv
    kernels, not biases), as one flat NumPy array: what Li et al.'s weight histograms count."""
    check_module("model", model)
    chunks = [p.detach().cpu().double().flatten() for p in model.parameters() if p.dim() > 1]
    if not chunks:
        raise ValueError("model has no parameter with more than one dimension")
    return torch.cat(chunks).numpy()
