r"""Backpropagation written out, without autograd, for fully connected networks.

The lecture (Giselsson, *Deep Learning*, "Backpropagation"; Rumelhart, Hinton & Williams 1986)
writes the per-sample loss with states :math:`z_1 = x`, :math:`z_{j+1} = \sigma_j(v_j)`,
:math:`v_j = W_j z_j + b_j` for :math:`j = 1, \dots, n` and :math:`\sigma_n = \mathrm{Id}`. Then

.. math::

    \delta_{n+1} = \nabla_{z_{n+1}} L, \qquad
    \delta_j = W_j^\top(\delta_{j+1} \odot \sigma_j'(v_j)), \qquad
    \frac{\partial L}{\partial W_j} = (\delta_{j+1} \odot \sigma_j'(v_j))\, z_j^\top, \qquad
    \frac{\partial L}{\partial b_j} = \delta_{j+1} \odot \sigma_j'(v_j).

A residual layer :math:`z_{j+1} = z_j + \sigma_j(v_j)` adds :math:`\delta_{j+1}` to
:math:`\delta_j` (He et al. 2016). Python lists are 0-based: ``states[k]`` is :math:`z_{k+1}`,
``deltas[k]`` is :math:`\delta_{k+1}`, ``weights[k]`` is :math:`W_{k+1}`.

Two forms are given: :func:`backprop_sample` follows the lecture literally for one sample with
column vectors; :func:`forward` / :func:`backward` process a batch stored as rows, so
:math:`V_j = Z_j W_j^\top + b_j` and :math:`\partial L/\partial W_j = G_j^\top Z_j` with
:math:`G_j = \Delta_{j+1} \odot \sigma_j'(V_j)`. Every function takes a :class:`~lecturelib.models.MLP`
or its functional view :class:`~lecturelib.models.Network` (:mod:`lecturelib.models.functional`), and
runs where the model is: inputs are moved to its device and dtype (:mod:`lecturelib.device`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._checks import check_int, check_labels, check_module, check_real, check_seed, check_tensor, check_type
from .device import model_device
from .models.functional import Network, as_network, network_from_mlp
from .models.mlp import MLP

__all__ = ["ForwardPass", "BackwardPass", "GradientCheck", "LayerGradientNorms", "forward", "output_gradient",
           "backward", "backprop_sample", "gradients", "network_gradients", "gradient_check",
           "layer_gradient_norms", "stored_activation_bytes", "autograd_saved_bytes", "LOSSES"]

LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class ForwardPass:
    """What the forward pass stores: ``states`` :math:`z_1..z_{n+1}` ``(batch, n_j)`` and
    ``pre_activations`` :math:`v_1..v_n` ``(batch, n_{j+1})``."""

    states: list
    pre_activations: list

    @property
    def output(self) -> torch.Tensor:
        return self.states[-1]


@dataclass(frozen=True)
class BackwardPass:
    """``deltas`` :math:`\\delta_1..\\delta_{n+1}` ``(batch, n_j)`` (rows: per-sample
    :math:`\\partial L/\\partial z_j` of the batch loss), ``weight_grads`` and ``bias_grads`` in
    layer order (``None`` for a layer without bias)."""

    deltas: list
    weight_grads: list
    bias_grads: list


def _check_inputs(network: Network, X) -> torch.Tensor:
    check_tensor("X", X)
    if X.dim() > 2:
        X = X.flatten(1)  # images (batch, c, h, w) -> (batch, c*h*w)
    n_in = network.weights[0].shape[1]
    if X.dim() != 2 or X.shape[1] != n_in:
        raise ValueError(f"X must have shape (batch, {n_in}), got {tuple(X.shape)}")
    return X.to(device=network.weights[0].device, dtype=network.weights[0].dtype)  # inputs go to the model


def forward(model, X: torch.Tensor) -> ForwardPass:
    r"""Batched forward pass storing every :math:`z_j` and :math:`v_j = W_j z_j + b_j`.

    Rows are samples: :math:`V_j = Z_j W_j^\top + b_j`, then :math:`Z_{j+1} = \sigma_j(V_j)`
    (plus :math:`Z_j` in a residual layer); the last layer is affine.
    """
    network = as_network(model)
    z = _check_inputs(network, X)  # (batch, n_1)
    states, pre = [z], []
    with torch.no_grad():
        for k, (W, b) in enumerate(zip(network.weights, network.biases)):
            v = z @ W.T  # (batch, n_{k+2})
            if b is not None:
                v = v + b
            pre.append(v)
            if k == network.depth - 1:
                z = v  # sigma_n = Id
            else:
                h = network.activations[k].function(v)
                z = z + h if network.residual[k] else h
            states.append(z)
    return ForwardPass(states, pre)


def output_gradient(output: torch.Tensor, target: torch.Tensor, loss: str = "mse"):
    r"""The batch loss and :math:`\delta_{n+1} = \partial L/\partial z_{n+1}`, row per sample.

    Matches PyTorch's default ``reduction="mean"``: ``"mse"`` is
    :math:`L = \frac{1}{BK}\sum_{i}\|u_i - y_i\|^2` (mean over batch *and* outputs; the lecture's
    :math:`\frac12\|u-y\|^2` differs by the constant :math:`2/K`), so :math:`\delta = \frac{2}{BK}(u - y)`;
    ``"cross_entropy"`` is :math:`L = \frac1B\sum_i(\log\sum_k e^{u_{ik}} - u_{iy_i})`, so
    :math:`\delta = \frac1B(\mathrm{softmax}(u) - e_{y})`. Returns ``(loss_value, delta)``.
    """
    if not isinstance(output, torch.Tensor) or output.dim() != 2:
        raise ValueError(f"output must be a (batch, outputs) tensor, got "
                         f"{tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__}")
    check_tensor("target", target)
    batch, n_out = output.shape
    if loss == "mse":
        if not torch.is_floating_point(target):
            raise TypeError(f"loss='mse' needs floating-point targets, got dtype {target.dtype}")
        if target.dim() == 1 and n_out == 1:
            target = target[:, None]
        if tuple(target.shape) != (batch, n_out):
            raise ValueError(f"target must have shape ({batch}, {n_out}) for loss='mse', got {tuple(target.shape)}")
        residual = output - target.to(device=output.device, dtype=output.dtype)  # (batch, K)
        return (residual ** 2).mean(), 2.0 * residual / residual.numel()
    if loss == "cross_entropy":
        if torch.is_floating_point(target) or target.dim() != 1 or len(target) != batch:
            raise ValueError(f"target must be ({batch},) integer class labels for loss='cross_entropy', got "
                             f"{tuple(target.shape)} of dtype {target.dtype}")
        target = check_labels("target", target, n_out).to(output.device)
        log_probs = torch.log_softmax(output, dim=1)  # (batch, K)
        value = -log_probs.gather(1, target[:, None]).mean()
        delta = log_probs.exp()
        delta[torch.arange(batch, device=output.device), target] -= 1.0
        return value, delta / batch
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def backward(model, forward_pass: ForwardPass, delta_out: torch.Tensor) -> BackwardPass:
    r"""Batched backward pass from :math:`\Delta_{n+1}` ``(batch, n_{n+1})``.

    :math:`G_j = \Delta_{j+1} \odot \sigma_j'(V_j)` ``(batch, n_{j+1})``, :math:`\partial L/\partial W_j = G_j^\top Z_j`,
    :math:`\partial L/\partial b_j = \mathbf 1^\top G_j`, :math:`\Delta_j = G_j W_j` (:math:`+\Delta_{j+1}` if residual).
    Only vector-times-matrix products: the 3-D tensor :math:`\partial z_{j+1}/\partial W_j` is never formed.
    """
    network = as_network(model)
    if not isinstance(forward_pass, ForwardPass) or len(forward_pass.states) != network.depth + 1:
        raise ValueError(f"forward_pass must be the ForwardPass of this network ({network.depth + 1} states)")
    output = forward_pass.output
    if not isinstance(delta_out, torch.Tensor) or tuple(delta_out.shape) != tuple(output.shape):
        raise ValueError(f"delta_out must have the output's shape {tuple(output.shape)}, got "
                         f"{tuple(delta_out.shape) if isinstance(delta_out, torch.Tensor) else type(delta_out).__name__}")
    n = network.depth
    deltas = [None] * (n + 1)
    weight_grads, bias_grads = [None] * n, [None] * n
    deltas[n] = delta_out.detach()
    with torch.no_grad():
        for k in range(n - 1, -1, -1):
            delta_next = deltas[k + 1]  # (batch, n_{k+2})
            if k == n - 1:
                g = delta_next  # sigma_n = Id, sigma_n' = 1
            else:
                g = delta_next * network.activations[k].derivative(forward_pass.pre_activations[k])
            weight_grads[k] = g.T @ forward_pass.states[k]  # (n_{k+2}, n_{k+1})
            bias_grads[k] = g.sum(0) if network.biases[k] is not None else None
            delta = g @ network.weights[k].detach()  # (batch, n_{k+1})
            if k < n - 1 and network.residual[k]:
                delta = delta + delta_next
            deltas[k] = delta
    return BackwardPass(deltas, weight_grads, bias_grads)


def backprop_sample(model, x: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> dict:
    r"""The lecture's per-sample recursion with column vectors, one sample at a time.

    ``x`` has shape ``(n_1,)``; ``y`` is ``(n_{n+1},)`` for ``"mse"`` or a class index for
    ``"cross_entropy"``. Loops over layers computing :math:`v_j = W_j z_j + b_j`, then
    :math:`\delta_j = W_j^\top(\delta_{j+1}\odot\sigma_j'(v_j))` (:math:`+\delta_{j+1}` if residual),
    :math:`\partial L/\partial W_j = (\delta_{j+1}\odot\sigma_j'(v_j)) z_j^\top` (an outer product) and
    :math:`\partial L/\partial b_j = \delta_{j+1}\odot\sigma_j'(v_j)`. Returns
    ``{"loss", "states", "deltas", "weight_grads", "bias_grads"}`` for the one-sample loss.
    """
    network = as_network(model)
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.shape[0] != network.widths[0]:
        raise ValueError(f"x must be one sample of shape ({network.widths[0]},), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    check_tensor("y", y)
    n = network.depth
    z, states, pre = x.to(device=network.weights[0].device, dtype=network.weights[0].dtype), [], []
    with torch.no_grad():
        for k in range(n):  # forward pass, storing z_j and v_j
            W, b = network.weights[k], network.biases[k]
            v = W @ z + (b if b is not None else 0.0)  # (n_{k+2},)
            states.append(z)
            pre.append(v)
            if k == n - 1:
                z = v  # sigma_n = Id
            else:
                h = network.activations[k].function(v)  # (n_{k+2},)
                z = z + h if network.residual[k] else h
        states.append(z)
        target = y.reshape(1) if loss == "cross_entropy" else y.reshape(1, -1)  # a batch of one
        value, delta = output_gradient(z[None], target, loss)
        delta = delta[0]  # delta_{n+1}, (n_{n+1},)
        deltas, weight_grads, bias_grads = [delta], [], []
        for k in range(n - 1, -1, -1):  # backward pass
            sigma_prime = 1.0 if k == n - 1 else network.activations[k].derivative(pre[k])
            g = delta * sigma_prime  # delta_{j+1} ⊙ sigma_j'(v_j), (n_{k+2},)
            weight_grads.append(torch.outer(g, states[k]))  # (n_{k+2}, n_{k+1})
            bias_grads.append(g if network.biases[k] is not None else None)
            new_delta = network.weights[k].T @ g  # (n_{k+1},)
            if k < n - 1 and network.residual[k]:
                new_delta = new_delta + delta
            delta = new_delta
            deltas.append(delta)
    return {"loss": value, "states": states, "deltas": deltas[::-1],
            "weight_grads": weight_grads[::-1], "bias_grads": bias_grads[::-1]}


def network_gradients(model, X: torch.Tensor, y: torch.Tensor, loss: str = "mse"):
    """Batched loss, :class:`ForwardPass` and :class:`BackwardPass` of ``model`` (MLP or Network)."""
    network = as_network(model)
    forward_pass = forward(network, X)
    value, delta_out = output_gradient(forward_pass.output, y, loss)
    return value, forward_pass, backward(network, forward_pass, delta_out)


def gradients(model: MLP, X: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> dict:
    r"""Gradients of the batch loss for every parameter of an MLP, computed by backpropagation.

    Returns ``{name: tensor}`` with the names and shapes of ``model.named_parameters()``,
    equal (to rounding) to what ``loss_fn(model(X), y).backward()`` leaves in ``.grad`` with
    ``F.mse_loss`` / ``F.cross_entropy`` at their default ``reduction="mean"``. Rumelhart et al. (1986).
    """
    network = network_from_mlp(model)
    _, _, back = network_gradients(network, X, y, loss)
    result = {}
    for k in range(network.depth):
        result[f"layers.{k}.weight"] = back.weight_grads[k]
        if network.biases[k] is not None:
            result[f"layers.{k}.bias"] = back.bias_grads[k]
    return {name: result[name] for name, _ in model.named_parameters()}


@dataclass(frozen=True)
class GradientCheck:
    """Relative errors :math:`\\|g - g_{fd}\\| / \\max(\\|g\\|, \\|g_{fd}\\|, \\text{tiny})` per parameter."""

    relative_errors: dict
    eps: float

    @property
    def max_relative_error(self) -> float:
        return max(self.relative_errors.values())

    def passed(self, tolerance: float = 1e-6) -> bool:
        return self.max_relative_error <= tolerance

    def __repr__(self) -> str:
        rows = "\n".join(f"  {name:<16} {err:.2e}" for name, err in self.relative_errors.items())
        return f"GradientCheck(eps={self.eps:g}, max relative error {self.max_relative_error:.2e})\n{rows}"


def gradient_check(model: MLP, X: torch.Tensor, y: torch.Tensor, loss: str = "mse", grads: dict | None = None,
                   eps: float = 1e-6, max_entries: int | None = None, seed: int = 0) -> GradientCheck:
    r"""Compare ``grads`` (default: :func:`gradients`) with central finite differences in float64.

    For each checked entry :math:`\theta_i`,
    :math:`g_i^{fd} = (L(\theta + \epsilon e_i) - L(\theta - \epsilon e_i)) / 2\epsilon`, whose error is
    :math:`O(\epsilon^2)`. The model is evaluated in float64 on a copy; ``max_entries`` checks a
    random subset of that many entries per parameter (all when ``None``).
    """
    check_type("model", model, MLP, "a lecturelib.models.MLP")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    eps = check_real("eps", eps, 0.0, 1.0, open_min=True, open_max=True)
    if max_entries is not None:
        check_int("max_entries", max_entries, minimum=1)
    seed = check_seed("seed", seed)
    grads = gradients(model, X, y, loss) if grads is None else grads
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict name -> tensor, got {type(grads).__name__}")
    model64 = copy.deepcopy(model).double()
    where = model_device(model64)  # inputs go to the model
    X64 = X.to(device=where, dtype=torch.float64)
    y64 = y.to(device=where, dtype=torch.float64) if torch.is_floating_point(y) else y.to(where)
    loss_fn = F.mse_loss if loss == "mse" else F.cross_entropy
    generator = torch.Generator().manual_seed(seed)
    errors = {}
    with torch.no_grad():
        for name, param in model64.named_parameters():
            if name not in grads:
                raise ValueError(f"grads has no entry {name!r}; it must hold every parameter of the model")
            g = grads[name].detach().double().reshape(-1).cpu()
            if g.numel() != param.numel():
                raise ValueError(f"grads[{name!r}] has {g.numel()} entries, the parameter has {param.numel()}")
            flat = param.view(-1)
            index = torch.arange(flat.numel())
            if max_entries is not None and flat.numel() > max_entries:
                index = torch.randperm(flat.numel(), generator=generator)[:max_entries]
            fd = torch.empty(len(index), dtype=torch.float64)
            for pos, i in enumerate(index.tolist()):
                original = flat[i].item()
                flat[i] = original + eps
                up = loss_fn(model64(X64), y64).item()
                flat[i] = original - eps
                down = loss_fn(model64(X64), y64).item()
                flat[i] = original
                fd[pos] = (up - down) / (2 * eps)
            ours = g[index]
            scale = max(ours.norm().item(), fd.norm().item(), 1e-300)
            errors[name] = (ours - fd).norm().item() / scale
    return GradientCheck(errors, eps)


@dataclass(frozen=True)
class LayerGradientNorms:
    r"""Per-layer gradient sizes. ``delta_norms[k]``: mean over samples of the per-sample
    :math:`\|\partial \ell_i/\partial z_{k+1}\|_2` (:math:`k = 0..n`, the last is :math:`\delta_{n+1}`);
    ``weight_grad_norms[k]``: Frobenius norm of :math:`\partial L/\partial W_{k+1}` for the batch loss."""

    delta_norms: torch.Tensor
    weight_grad_norms: torch.Tensor
    loss: float


def layer_gradient_norms(model, X: torch.Tensor, y: torch.Tensor, loss: str = "mse") -> LayerGradientNorms:
    r"""Measure :math:`\|\delta_j\|` and :math:`\|\partial L/\partial W_j\|_F` layer by layer.

    Per-sample deltas are those of each sample's own loss (the batch deltas times the batch
    size), the quantity bounded by :math:`\|\delta_j\| \le (L_\sigma\|W_j\|_2)\,\|\delta_{j+1}\|` in
    the lecture (Glorot & Bengio 2010 measure the same per-layer statistics).
    """
    value, _, back = network_gradients(model, X, y, loss)
    batch = back.deltas[0].shape[0]
    delta_norms = torch.stack([(d * batch).norm(dim=1).mean() for d in back.deltas])
    weight_norms = torch.stack([g.norm() for g in back.weight_grads])
    return LayerGradientNorms(delta_norms, weight_norms, float(value))


def stored_activation_bytes(forward_pass: ForwardPass, include_input: bool = False) -> int:
    r"""Bytes the backward pass needs from the forward pass: every :math:`z_j` and :math:`v_j`.

    The input :math:`z_1 = x` is already in memory and is not counted unless ``include_input``.
    """
    check_type("forward_pass", forward_pass, ForwardPass, "a ForwardPass")
    tensors = forward_pass.states[0 if include_input else 1:] + forward_pass.pre_activations
    seen, total = set(), 0
    for t in tensors:  # the output state is the last pre-activation: count shared storage once
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), t.numel())
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
    return total


def autograd_saved_bytes(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor | None = None,
                         loss: str = "mse") -> int:
    """Bytes of the tensors autograd saves for the backward pass of ``loss(model(X), y)``.

    Counted with ``torch.autograd.graph.saved_tensors_hooks``; tensors sharing storage are counted
    once, and parameters and the input ``X`` (which exist anyway) are not counted.
    """
    check_module("model", model)
    check_tensor("X", X)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    X = X.to(model_device(model))  # inputs go to the model
    y = y.to(X.device) if isinstance(y, torch.Tensor) else y
    exclude = {p.untyped_storage().data_ptr() for p in model.parameters()} | {X.untyped_storage().data_ptr()}
    seen, total = set(), [0]
    kept = []  # keep saved tensors alive so that storage addresses are not reused while counting

    def pack(tensor):
        key = tensor.untyped_storage().data_ptr()
        if key not in exclude and key not in seen:
            seen.add(key)
            total[0] += tensor.untyped_storage().nbytes()
        kept.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = model(X)
        if y is not None:
            (F.mse_loss if loss == "mse" else F.cross_entropy)(output, y)
    return total[0]
