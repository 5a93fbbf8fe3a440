r"""The evaluation engine behind :mod:`lecturelib.landscape`: loss at many points of one affine family.

It evaluates the mean loss (and accuracy) at many parameter vectors of one affine family,

.. math::

    \theta_p = \theta^* + \sum_{k=1}^{K} c_{pk}\, \delta_k, \qquad p = 1, \dots, P,

which covers 1-D lines and interpolations (:math:`K = 1`), 2-D planes (:math:`K = 2`) and the
curves of :mod:`lecturelib.connectivity` (a Bezier curve or polychain is the family with origin
:math:`w_1` and directions :math:`\theta - w_1, w_2 - w_1`). It runs where the model is unless
``device=`` is given (:func:`lecturelib.device.model_device`). Two strategies:

* ``"vmap"``: many points per forward pass, ``torch.func.functional_call`` vectorised with
  ``torch.func.vmap`` over a chunk of points. For small models this turns thousands of tiny
  matrix products into a few batched ones. When the network's first layer is linear in its
  weights (``nn.Linear``, ``nn.Conv1d/2d/3d``) and reads the input directly, its
  pre-activation is affine in the coefficients too,

  .. math::

      W_p x + b_p = (W^* x + b^*) + \sum_k c_{pk} (D_k x + d_k),

  so the :math:`K + 1` products are computed once and every point pays only a weighted sum
  instead of a full first-layer product.
* ``"loop"``: one point at a time, for models where a single forward pass already saturates the
  device.

``"auto"`` picks ``"loop"`` when one point costs more multiply-adds than
:data:`LOOP_THRESHOLD_MACS` (on the CPU; 25 times that on a GPU), else ``"vmap"``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, vmap

from .. import params
from .._checks import (check_callable, check_choice, check_finite_tensor, check_int, check_module, check_targets,
                       check_tensor)
from ..device import model_device
from ..losses import vmap_loss

__all__ = ["ENGINES", "LOOP_THRESHOLD_MACS", "ELEMENT_BUDGET", "evaluate_affine", "forward_macs",
           "first_linear_layer"]

ENGINES = ("auto", "vmap", "loop")
LOOP_THRESHOLD_MACS = 2e8
ELEMENT_BUDGET = 2 ** 24  # activation elements per vectorised forward (64 MiB in float32)
# On the CPU, grid points are chunked so that a chunk's activations stay near the caches: the
# element-wise work (bias, activation, loss) is memory-bound, and a 4x smaller chunk measured
# 1.2-1.3x faster on the benchmarks' 9k-parameter MLP.
CPU_CHUNK_BUDGET = 2 ** 22
MAX_CHUNK = 4096
_LINEAR_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class _Precomputed(nn.Module):
    """Stands in for the first layer: returns the pre-activation handed in as buffer ``value``."""

    def __init__(self):
        super().__init__()
        self.register_buffer("value", torch.zeros(0))

    def forward(self, x):  # noqa: ARG002 - the input was used when ``value`` was computed
        return self.value


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
    if loss_fn is None:
        with torch.no_grad():  # labels or target shapes must fit the outputs, checked on one sample
            check_targets("y", y, work(X[:1]))
        loss_fn = vmap_loss(y)
    coefficients = coefficients.to(device=device, dtype=dtype)
    macs, elements, first = _probe(work, X)
    if engine == "auto":
        threshold = LOOP_THRESHOLD_MACS * (25 if device.type == "cuda" else 1)
        engine = "loop" if macs * len(X) > threshold else "vmap"
    if engine == "loop":
        loss, acc = _evaluate_loop(work, X, y, base, stacked, coefficients, loss_fn, classify, batch_size)
    else:
        loss, acc = _evaluate_vmap(work, X, y, base, stacked, coefficients, loss_fn, classify, batch_size,
                                   chunk_size, elements, first)
    loss = loss.double().cpu().numpy()
    return loss, (acc.double().cpu().numpy() if classify else None)


def _batches(n, batch_size):
    size = n if batch_size is None else min(batch_size, n)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


@torch.no_grad()
def _evaluate_loop(work, X, y, base, stacked, coefficients, loss_fn, classify, batch_size):
    n_points = len(coefficients)
    loss = torch.zeros(n_points, dtype=torch.float64)
    acc = torch.zeros(n_points, dtype=torch.float64)
    spans = _batches(len(X), batch_size)
    for p in range(n_points):
        c = coefficients[p]  # (K,)
        state = dict(base)
        for name, d in stacked.items():
            state[name] = base[name] + torch.tensordot(c, d, dims=1)
        total, correct = 0.0, 0.0
        for start, stop in spans:
            out = functional_call(work, state, (X[start:stop],))
            total += float(loss_fn(out, y[start:stop])) * (stop - start)
            if classify:
                correct += float((out.argmax(dim=1) == y[start:stop]).sum())
        loss[p], acc[p] = total / len(X), correct / len(X)
    return loss, acc


@torch.no_grad()
def _evaluate_vmap(work, X, y, base, stacked, coefficients, loss_fn, classify, batch_size, chunk_size,
                   elements, first):
    n = len(X)
    if batch_size is None:
        # whole data set per forward if one point's activations fit the budget
        batch_size = n if n * elements <= ELEMENT_BUDGET else max(1, ELEMENT_BUDGET // max(elements, 1))
    spans = _batches(n, batch_size)
    biggest = spans[0][1] - spans[0][0]
    if chunk_size is None:
        budget = ELEMENT_BUDGET if X.device.type == "cuda" else CPU_CHUNK_BUDGET
        chunk_size = int(max(1, min(MAX_CHUNK, budget // max(biggest * elements, 1))))
    model = work
    first_name = None
    if first is not None and first[0] and any(first[0] + "." + p in stacked for p in ("weight", "bias")):
        first_name, input_shape = first
        first_module = work.get_submodule(first_name)
        model = copy.deepcopy(work)
        parent_name, _, child = first_name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, _Precomputed())
    first_keys = {f"{first_name}.weight", f"{first_name}.bias"} if first_name else set()
    fixed = {k: v for k, v in base.items() if k not in stacked and k not in first_keys}
    moving_names = [k for k in stacked if k not in first_keys]

    def point(c, xb, yb, pre_terms):
        # c: (K,); xb: (b, ...); pre_terms: (K + 1, b, ...) first-layer products or None
        state = dict(fixed)
        for name in moving_names:
            state[name] = base[name] + torch.tensordot(c, stacked[name], dims=1)
        if pre_terms is not None:
            state[first_name + ".value"] = pre_terms[0] + torch.tensordot(c, pre_terms[1:], dims=1)
        out = functional_call(model, state, (xb,))
        loss = loss_fn(out, yb)
        correct = (out.argmax(dim=1) == yb).sum().to(loss.dtype) if classify else torch.zeros_like(loss)
        return loss, correct

    batched = vmap(point, in_dims=(0, None, None, None))
    loss = torch.zeros(len(coefficients), dtype=torch.float64, device=X.device)
    acc = torch.zeros(len(coefficients), dtype=torch.float64, device=X.device)
    for start, stop in spans:
        xb, yb = X[start:stop], y[start:stop]
        pre_terms = None
        if first_name is not None:
            x_in = xb.reshape((stop - start,) + input_shape)
            w0, b0 = base[first_name + ".weight"], base.get(first_name + ".bias")
            terms = [functional_call(first_module, {"weight": w0, **({"bias": b0} if b0 is not None else {})}, (x_in,))]
            for k in range(coefficients.shape[1]):
                dw = stacked[first_name + ".weight"][k] if first_name + ".weight" in stacked else torch.zeros_like(w0)
                layer_params = {"weight": dw}
                if b0 is not None:
                    layer_params["bias"] = (stacked[first_name + ".bias"][k] if first_name + ".bias" in stacked
                                            else torch.zeros_like(b0))
                terms.append(functional_call(first_module, layer_params, (x_in,)))
            pre_terms = torch.stack(terms)  # (K + 1, b, ...)
        for c_start in range(0, len(coefficients), chunk_size):
            c = coefficients[c_start:c_start + chunk_size]
            chunk_loss, chunk_correct = batched(c, xb, yb, pre_terms)
            loss[c_start:c_start + len(c)] += chunk_loss.double() * (stop - start)
            acc[c_start:c_start + len(c)] += chunk_correct.double()
    return loss / n, acc / n
