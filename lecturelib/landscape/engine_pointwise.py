r"""The per-point path of :mod:`lecturelib.landscape.engine`: one grid point per forward pass.

For models where one point is already a real amount of work, batching points buys nothing and
costs memory traffic; this path runs the plain model once per point, with no per-point
overhead beyond the forward pass itself:

* one private copy of the model, whose moving parameters and buffers are views into one flat
  buffer :math:`\theta \in \mathbb{R}^M`, rewritten in place per point as
  :math:`\theta = \theta^* + \sum_k c_{pk}\delta_k` (no model copy, no state dict, no
  ``functional_call``; along a row of a grid one multiply-add over :math:`M` entries, the sum of
  the other :math:`K - 1` terms being kept for the row);
* the first layer replaced by its pre-activation, assembled per point in a preallocated buffer
  from the :math:`K + 1` products computed once (:mod:`lecturelib.landscape.precompute`), where
  its fan-in makes that cheaper than the layer (:func:`~lecturelib.landscape.precompute.first_layer_pays`),
  again with one multiply-add per point along a row of a grid;
* every forward pass in ``torch.inference_mode()``;
* for the library's losses (cross-entropy, squared error), the outputs of up to
  :data:`LOSS_BLOCK` points are kept and their losses (and, for cross-entropy, correct counts,
  :func:`lecturelib.losses.cross_entropy_and_correct`) computed together: a dozen small
  reductions per point become a dozen per block (on the 9,010-parameter digits MLP of
  ``benchmarks/``, 2 threads: 0.32 ms per point with the loss per point, 0.24 ms in blocks);
* optionally (``channels_last=True``, one of the candidates ``engine="auto"`` times for a model
  with 2-D convolutions on the CPU) every 2-D convolution's output, and the assembled first layer,
  in the channels-last memory format, where PyTorch's CPU kernels for pooling and convolution
  are several times faster at small spatial sizes (on the digits CNN of ``benchmarks/``, one
  thread: 15.7 ms per point in the contiguous format, 9.8 ms channels-last, 6.8 ms channels-last
  with the first convolution assembled, which this variant therefore does at any fan-in; most
  of the difference is ``max_pool2d``). The values are the same; only the order in memory changes.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..losses import cross_entropy, cross_entropy_and_correct, mean_squared_error
from .precompute import batches, first_layer_pays, first_layer_terms, kept, without_first_layer

__all__ = ["pointwise_evaluator", "has_conv2d", "LOSS_BLOCK", "LOSS_BLOCK_ELEMENTS"]

LOSS_BLOCK = 64  # points whose outputs are kept for one batched loss, at most ...
LOSS_BLOCK_ELEMENTS = 2 ** 22  # ... and at most this many output elements (16 MiB in float32)


def _aliases(model: nn.Module) -> dict[str, list[str]]:
    """Every name of a parameter or buffer -> all names of the same tensor (tied weights)."""
    groups: dict[int, list[str]] = {}
    named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    for name, tensor in named:
        groups.setdefault(id(tensor), []).append(name)
    return {name: groups[id(tensor)] for name, tensor in named}


def _install(model: nn.Module, names: list[str], view: torch.Tensor) -> None:
    """Make every name in ``names`` (one tied tensor) refer to ``view``, a slice of the flat buffer."""
    replacement = None
    for name in names:
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        if attr in module._parameters:
            replacement = replacement if isinstance(replacement, nn.Parameter) else nn.Parameter(view, False)
            module._parameters[attr] = replacement
        else:
            module._buffers[attr] = view


def _flat_state(model: nn.Module, base: dict, stacked: dict, moving: list[str], n_directions: int):
    """Write ``base`` into ``model`` and point its ``moving`` tensors into one flat buffer.

    Returns ``(flat, flat_base, flat_directions)``: shapes ``(M,)``, ``(M,)``, ``(K, M)``."""
    aliases = _aliases(model)
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    with torch.no_grad():  # the origin, where it overrides the model's own state
        for name, value in base.items():
            if name in tensors and name not in moving:
                tensors[name].copy_(value)
    if not moving:
        return None, None, None
    flat_base = torch.cat([base[name].reshape(-1) for name in moving])  # (M,)
    flat_directions = torch.cat([stacked[name].reshape(n_directions, -1) for name in moving], dim=1)  # (K, M)
    flat = torch.empty_like(flat_base)
    offset = 0
    for name in moving:
        size = base[name].numel()
        _install(model, aliases[name], flat[offset:offset + size].view(base[name].shape))
        offset += size
    return flat, flat_base, flat_directions


class _PointSum:
    r"""``out = base + sum_k row[k] * directions[k]`` in place, point after point.

    The sum over all coefficients but the last is kept while consecutive points share them: along
    a row of a grid only the last coefficient changes, so a point then costs one multiply-add over
    the buffer instead of :math:`K` (the same operations in the same order as the whole sum)."""

    def __init__(self, out: torch.Tensor, base: torch.Tensor, directions: torch.Tensor):
        self.out, self.base, self.directions = out, base, directions  # (...), (...), (K, ...)
        self.partial = base.clone() if len(directions) > 1 else base
        self.head = None

    def at(self, row: list[float]) -> None:
        head = row[:-1]
        if head and head != self.head:  # a new row: the sum of all terms but the last
            torch.add(self.base, self.directions[0], alpha=head[0], out=self.partial)
            for k in range(1, len(head)):
                self.partial.add_(self.directions[k], alpha=head[k])
            self.head = head
        torch.add(self.partial, self.directions[-1], alpha=row[-1], out=self.out)


def _channels_last_outputs(module, inputs, output):
    """A forward hook: a 2-D convolution's batched output in the channels-last memory format."""
    return output.contiguous(memory_format=torch.channels_last) if output.dim() == 4 else output


def _channels_last_terms(terms: torch.Tensor) -> torch.Tensor:
    """``(K + 1, b, C, H, W)`` first-layer products with every ``terms[k]`` channels-last."""
    return terms.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)


def _blocked_loss(loss_fn, classify):
    """For the library's losses, ``losses(outputs, y) -> (mean loss, correct count or None)`` over a
    block of outputs ``(p, b, ...)``; ``None`` for any other loss (evaluated point by point)."""
    if classify and loss_fn is cross_entropy:
        return cross_entropy_and_correct
    if not classify and loss_fn is mean_squared_error:
        return lambda outputs, target: (((outputs - target) ** 2).flatten(1).mean(dim=1), None)
    return None


def has_conv2d(model: nn.Module) -> bool:
    """Whether ``model`` has a 2-D convolution (the models ``channels_last`` is for)."""
    return any(isinstance(module, nn.Conv2d) for module in model.modules())


def pointwise_evaluator(work, X, y, base, stacked, n_directions, loss_fn, classify, batch_size, first,
                        channels_last: bool = False):
    """Set up the per-point path; returns ``evaluate(c)`` mapping coefficient rows ``(p, K)`` to
    ``(mean loss, accuracy)``, float64 ``(p,)`` each."""
    first_name, input_shape = first if first is not None and first[0] else (None, None)
    if first_name is not None and not first_layer_pays(work.get_submodule(first_name), n_directions) and not (
            channels_last and isinstance(work.get_submodule(first_name), nn.Conv2d)):
        first_name = None  # channels-last: assembling a 2-D convolution beat computing it even at fan-in 9
    if first_name is not None:
        first_module = work.get_submodule(first_name)
        model = without_first_layer(work, first_name)
        stand_in = model.get_submodule(first_name)
        first_moves = any(f"{first_name}.{p}" in stacked for p in ("weight", "bias"))
    else:
        model = copy.deepcopy(work)
    first_keys = {f"{first_name}.weight", f"{first_name}.bias"} if first_name else set()
    moving = [name for name in stacked if name not in first_keys]
    flat, flat_base, flat_directions = _flat_state(model, {k: v for k, v in base.items() if k not in first_keys},
                                                   stacked, moving, n_directions)
    spans = batches(len(X), batch_size)
    if channels_last:
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.register_forward_hook(_channels_last_outputs)
    blocked = _blocked_loss(loss_fn, classify)

    def compute_terms(start, stop):
        x_in = X[start:stop].reshape((stop - start,) + input_shape)
        terms = first_layer_terms(first_module, first_name, base, stacked, n_directions, x_in)
        if channels_last and terms.dim() == 5:
            terms = _channels_last_terms(terms)
        return terms if first_moves else terms[:1]  # (K + 1, b, ...) or (1, b, ...)

    span_terms = kept(compute_terms)

    @torch.inference_mode()
    def evaluate(coefficients):
        rows = coefficients.tolist()  # Python floats: the in-place updates take them as scalars
        loss = torch.zeros(len(rows), dtype=torch.float64, device=X.device)
        correct = torch.zeros(len(rows), dtype=torch.float64, device=X.device)
        flat_sum = _PointSum(flat, flat_base, flat_directions) if flat is not None else None
        for start, stop in spans:
            xb, yb = X[start:stop], y[start:stop]
            span_loss = torch.zeros(len(rows), dtype=torch.float64, device=X.device)
            span_correct = torch.zeros(len(rows), dtype=torch.int64, device=X.device)
            first_sum = None
            if first_name is not None:
                terms = span_terms(start, stop)
                pre = terms[0].clone()
                stand_in._buffers["value"] = pre
                if len(terms) > 1:
                    first_sum = _PointSum(pre, terms[0], terms[1:])
            outputs, block = None, 1
            for p, row in enumerate(rows):
                if flat_sum is not None:
                    flat_sum.at(row)
                if first_sum is not None:
                    first_sum.at(row)
                out = model(xb)
                if blocked is None:
                    span_loss[p] = loss_fn(out, yb)
                    if classify:
                        span_correct[p] = (out.argmax(dim=1) == yb).sum()
                    continue
                if outputs is None:  # (block, b, ...): the outputs waiting for their loss
                    block = max(1, min(LOSS_BLOCK, len(rows), LOSS_BLOCK_ELEMENTS // max(1, out.numel())))
                    outputs = out.new_empty((block,) + tuple(out.shape))
                outputs[p % block].copy_(out)
                if p % block == block - 1 or p == len(rows) - 1:
                    first_point = p - p % block
                    block_loss, block_correct = blocked(outputs[:p - first_point + 1], yb)
                    span_loss[first_point:p + 1] = block_loss
                    if block_correct is not None:
                        span_correct[first_point:p + 1] = block_correct
            loss += span_loss.double() * (stop - start)
            correct += span_correct.double()
        return loss / len(X), correct / len(X)

    return evaluate

