r"""The evaluation engine behind :mod:`lecturelib.landscape`: loss at many points of one affine family.

It evaluates the mean loss (and accuracy) at many parameter vectors of one affine family,

.. math::

    \theta_p = \theta^* + \sum_{k=1}^{K} c_{pk}\, \delta_k, \qquad p = 1, \dots, P,

which covers 1-D lines and interpolations (:math:`K = 1`), 2-D planes (:math:`K = 2`) and the
curves of :mod:`lecturelib.connectivity` (a Bezier curve or polychain is the family with origin
:math:`w_1` and directions :math:`\theta - w_1, w_2 - w_1`). It runs where the model is unless
``device=`` is given (:func:`lecturelib.device.model_device`). Both paths compute the first
layer's pre-activation from products taken once (:mod:`lecturelib.landscape.precompute`):

* ``"vmap"`` (:mod:`~lecturelib.landscape.engine_vmap`): many points per forward pass,
  ``torch.func.functional_call`` vectorised with ``torch.func.vmap`` over a chunk of points.
  For small models this turns thousands of tiny matrix products into a few batched ones.
* ``"loop"`` (:mod:`~lecturelib.landscape.engine_pointwise`): one point at a time through one
  private copy of the model whose parameters are rewritten in place, for models where one
  point is already a real amount of work.

``"auto"`` (:mod:`~lecturelib.landscape.strategy`) times both on the first points of the grid
(and, for a model with 2-D convolutions on the CPU, the per-point path in the channels-last
memory format) and keeps the fastest, remembering the choice per model shape, data shape and
device.
"""


from __future__ import annotations

import copy

import torch
from torch import nn

from .. import params
from .._checks import (check_callable, check_choice, check_finite_tensor, check_int, check_module, check_targets,
                       check_tensor)
from ..device import model_device
from ..losses import vmap_loss
from . import strategy
from .engine_pointwise import has_conv2d, pointwise_evaluator
from .engine_vmap import CPU_CHUNK_BUDGET, ELEMENT_BUDGET, MAX_CHUNK, default_chunk, vmap_evaluator

__all__ = ["ENGINES", "ELEMENT_BUDGET", "CPU_CHUNK_BUDGET", "MAX_CHUNK", "evaluate_affine", "forward_macs",
           "first_linear_layer"]

ENGINES = ("auto", "vmap", "loop")
_LINEAR_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _probe(model, X):
    """Run one forward on two samples; return per-sample MACs, activation elements, and the
    name of a first layer that is linear in its weights and reads ``X`` directly (or ``None``)."""
    sample = X[:2].contiguous()
    calls, order = {}, []
    macs = [0]
    elements = [sample[:1].numel()]
    hooks = []

    def hook(module, inputs, output, name=None):
        calls[name] = calls.get(name, 0) + 1
        order.append((name, inputs[0] if inputs else None))
        if isinstance(output, torch.Tensor):
            elements[0] += output[:1].numel()
            if isinstance(module, nn.Linear):
                macs[0] += output[:1].numel() * module.in_features
            elif isinstance(module, _LINEAR_TYPES[1:]):
                macs[0] += output[:1].numel() * module.weight[0].numel()

    for name, module in model.named_modules():
        if name and not list(module.children()):
            hooks.append(module.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)))
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for h in hooks:
            h.remove()
    first = None
    if order:
        name, inp = order[0]
        module = model.get_submodule(name)
        shared = [n for n, p in model.named_parameters(remove_duplicate=False)
                  if any(p is q for q in module.parameters()) and not n.startswith(name + ".")]
        if (isinstance(module, _LINEAR_TYPES) and calls[name] == 1 and not shared and inp is not None
                and inp.data_ptr() == sample.data_ptr() and inp.numel() == sample.numel()):
            first = (name, tuple(inp.shape[1:]))
    return macs[0], elements[0], first


def forward_macs(model: nn.Module, X: torch.Tensor) -> int:
    """Multiply-adds of one forward pass over all of ``X`` in the linear and conv layers."""
    macs, _, _ = _probe(model, X)
    return int(macs) * len(X)


def first_linear_layer(model: nn.Module, X: torch.Tensor):
    """Name of the first layer if it is linear in its weights and reads ``X`` directly, else ``None``."""
    _, _, first = _probe(model, X)
    return None if first is None else first[0]


def _check_inputs(model, X, y, directions, coefficients, origin, loss_fn, engine, chunk_size, batch_size):
    check_module("model", model)
    check_tensor("X", X, min_ndim=1)
    check_tensor("y", y, min_ndim=1)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must hold the same positive number of samples, got {len(X)} and {len(y)}")
    check_finite_tensor("X", X)
    check_finite_tensor("y", y)
    if not isinstance(directions, (list, tuple)) or not directions or not all(isinstance(d, dict) for d in directions):
        raise TypeError("directions must be a non-empty list of dicts name -> tensor")
    if not isinstance(coefficients, torch.Tensor) or coefficients.dim() != 2 or coefficients.shape[1] != len(directions):
        shape = tuple(coefficients.shape) if isinstance(coefficients, torch.Tensor) else type(coefficients).__name__
        raise ValueError(f"coefficients must be a tensor of shape (points, {len(directions)}), got {shape}")
    check_finite_tensor("coefficients", coefficients)
    if origin is not None and not isinstance(origin, dict):
        raise TypeError(f"origin must be a dict name -> tensor or None, got {type(origin).__name__}")
    if loss_fn is not None:
        check_callable("loss_fn", loss_fn)
    check_choice("engine", engine, ENGINES)
    for name, value in (("chunk_size", chunk_size), ("batch_size", batch_size)):
        if value is not None:
            check_int(name, value, minimum=1)


def evaluate_affine(model: nn.Module, X: torch.Tensor, y: torch.Tensor, directions, coefficients,
                    origin: dict | None = None, loss_fn=None, engine: str = "auto", chunk_size: int | None = None,
                    batch_size: int | None = None, device=None):
    r"""Mean loss and accuracy at :math:`\theta_p = \theta^* + \sum_k c_{pk}\delta_k` for every row ``p``.

    Args:
        model: the network, evaluated in evaluation mode on a private copy (the model itself is
            never modified), where its parameters are unless ``device`` is given.
        X, y: data; integer ``y`` gives cross-entropy and accuracy, float ``y`` mean squared error.
        directions: list of ``K`` dicts ``name -> tensor``; names are parameters or floating
            buffers of ``model``; a name missing from a dict does not move along it.
        coefficients: ``(P, K)`` tensor of coefficients :math:`c_{pk}`.
        origin: dict overriding entries of :math:`\theta^*` (default: the model's own state).
        loss_fn: ``loss_fn(output, y) -> mean loss`` (must work under ``vmap`` for that engine).
        engine, chunk_size, batch_size, device: see the module docstring and
            :func:`lecturelib.landscape.plane`.

    Returns:
        ``(loss, accuracy)``: NumPy ``float64`` arrays of shape ``(P,)``; ``accuracy`` is ``None``
        for float targets.
    """
    _check_inputs(model, X, y, directions, coefficients, origin, loss_fn, engine, chunk_size, batch_size)
    device = model_device(model, device)
    work = copy.deepcopy(model).to(device).eval()
    base = params.state(work, include_buffers=True)
    dtype = next(iter(base.values())).dtype if base else torch.float32
    names = set()
    for k, direction in enumerate(directions):
        for name, d in direction.items():
            if name not in base:
                raise ValueError(f"directions[{k}] has {name!r}, which is neither a parameter nor a floating "
                                 f"buffer of the model")
            if tuple(d.shape) != tuple(base[name].shape):
                raise ValueError(f"directions[{k}][{name!r}] has shape {tuple(d.shape)}, the model's "
                                 f"{tuple(base[name].shape)}")
            names.add(name)
    if origin:
        for name, value in origin.items():
            if name not in base or tuple(value.shape) != tuple(base[name].shape):
                raise ValueError(f"origin[{name!r}] does not match a parameter or floating buffer of the model")
            base[name] = value.detach().to(device=device, dtype=base[name].dtype)
    moving = [n for n in base if n in names]  # model order
    # stacked directions: name -> (K, *shape), zeros where a direction omits the name
    stacked = {n: torch.stack([d[n].detach().to(device=device, dtype=base[n].dtype) if n in d
                               else torch.zeros_like(base[n]) for d in directions]) for n in moving}
    X = X.to(device=device, dtype=dtype if torch.is_floating_point(X) else X.dtype)
    y = y.to(device)
    classify = not torch.is_floating_point(y)
    if loss_fn is None:  # the logsumexp form: faster than F.cross_entropy on the CPU, in a loop (3x) and under vmap
        with torch.no_grad():  # labels or target shapes must fit the outputs, checked on one sample
            check_targets("y", y, work(X[:1]))
        loss_fn = vmap_loss(y)
    coefficients = coefficients.to(device=device, dtype=dtype)
    _, elements, first = _probe(work, X)

    def pointwise(channels_last=False):
        return pointwise_evaluator(work, X, y, base, stacked, len(directions), loss_fn, classify, batch_size,
                                   first, channels_last)

    def vectorised(chunk):
        return vmap_evaluator(work, X, y, base, stacked, len(directions), loss_fn, classify, batch_size, chunk,
                              elements, first)[0]

    if engine == "loop":
        loss, acc = pointwise()(coefficients)
    elif engine == "vmap":
        loss, acc = vectorised(chunk_size)(coefficients)
    else:
        channels_last = device.type == "cpu" and has_conv2d(work)
        loss, acc, _ = strategy.choose_and_evaluate(coefficients, _candidates(pointwise, vectorised, chunk_size, X,
                                                                              elements, batch_size, channels_last),
                                                    strategy.decision_key(model, base, X, len(directions), batch_size,
                                                                          device), device)
    loss = loss.double().cpu().numpy()
    return loss, (acc.double().cpu().numpy() if classify else None)


def _candidates(pointwise, vectorised, chunk_size, X, elements, batch_size, channels_last=False) -> dict:
    """``(engine, variant) -> factory``: the vectorised path at the given chunk (or at its default
    chunk and a quarter of it), then the per-point path, and with ``channels_last`` (a model with
    2-D convolutions on the CPU) the per-point path in the channels-last memory format."""
    if chunk_size is None:
        samples = min(len(X), batch_size or len(X))
        default = default_chunk(X.device.type, samples, elements)
        chunks = [default] + ([default // 4] if default >= 8 else [])
    else:
        chunks = [chunk_size]
    candidates = {("vmap", chunk): (lambda chunk=chunk: vectorised(chunk)) for chunk in chunks}
    candidates[("loop", None)] = pointwise
    if channels_last:
        candidates[("loop", "channels_last")] = lambda: pointwise(channels_last=True)
    return candidates
