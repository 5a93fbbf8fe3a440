r"""Train many small fully connected networks at once, one batched step for all of them.

A depth experiment (the lecture's 5- to 47-layer LeakyReLU nets, plain and residual, several
seeds) is dozens of tiny networks. Trained one after the other, each step costs a few hundred
PyTorch calls on tensors of a few hundred numbers, so the time goes into call overhead, not
arithmetic. :class:`MLPEnsemble` stacks ``M`` networks along a leading model axis and runs one
batched matrix product per layer for all of them.

The networks have the shape of :class:`lecturelib.models.MLP` with widths
``[n_in] + [width] * k_m + tail``: the number of hidden layers of width ``width``, ``k_m``, and
the residual flag :math:`r_m` may differ between models. Models shallower than the deepest are
padded with *inactive* blocks whose output is their input. Every hidden layer computes

.. math::

    z_{j+1} = c_{mj}\, z_j + a_{mj}\, \sigma(W_j z_j + b_j),

with :math:`a_{mj} = 1` for an active layer and :math:`0` for padding, and
:math:`c_{mj} = 1 - a_{mj}(1 - r_m)` where the layer's input and output widths agree (else
:math:`c_{mj} = 0`). An active residual layer is He et al.'s (2016) :math:`z_{j+1} = z_j +
\sigma(W_j z_j + b_j)`, an active plain layer :math:`z_{j+1} = \sigma(W_j z_j + b_j)` and a padding
layer :math:`z_{j+1} = z_j`. Gradients come from the lecture's backward recursion
(Rumelhart et al. 1986), batched over models:

.. math::

    \delta_j = c_{mj}\,\delta_{j+1} + W_j^\top\big(a_{mj}\,\delta_{j+1}\odot\sigma'(v_j)\big),\qquad
    \frac{\partial L}{\partial W_j} = \big(a_{mj}\,\delta_{j+1}\odot\sigma'(v_j)\big) z_j^\top .

The loss of model ``m`` is its own mean squared error, so one step on :math:`\sum_m L_m` is
``M`` independent steps. The optimisers (SGD with momentum, Adam of Kingma & Ba 2015) follow
``torch.optim``'s update formulas element by element, with one learning rate per model, and
padding weights (zero, with zero gradient) never move. :func:`vmap_forward` is the
``torch.func`` way (``stack_module_state`` + ``functional_call`` + ``vmap``) to evaluate models
of one identical architecture; it serves as an independent check.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch.func import functional_call, stack_module_state, vmap

from ._checks import (check_finite_tensor, check_int, check_nonnegative, check_positive, check_probability,
                      check_real, check_seed, check_tensor, check_type)
from .data import DataSplit
from .models import MLP, get_activation, square_hidden_layers

__all__ = ["MLPEnsemble", "EnsembleHistory", "train_ensemble", "vmap_forward", "final_loss_summary", "embed_residual",
           "ENSEMBLE_OPTIMIZERS"]

ENSEMBLE_OPTIMIZERS = ("sgd", "adam")


def _per_model(name, value, count, kind):
    """Broadcast a scalar to ``count`` entries, or check a sequence has ``count`` entries."""
    values = [value] * count if isinstance(value, (int, float, bool)) else list(value)
    if len(values) != count:
        raise ValueError(f"{name} must be one {kind} or {count} of them (one per model), got {len(values)}")
    return values


class MLPEnsemble:
    """``M`` fully connected networks ``[n_in] + [width] * hidden[m] + tail``, stored stacked.

    Args:
        n_in: input size.
        width: size of the repeated hidden layers.
        tail: the sizes after them, ending with the output size, e.g. ``[1, 1]`` for the lecture's
            nets (a hidden layer of 1 unit, then a scalar output).
        hidden: per model, how many hidden layers of size ``width`` it has (>= 1).
        residual: per model (or one bool for all), whether layers of equal input and output width
            add their input, as :class:`lecturelib.models.MLP` with ``residual=True`` does.
        activation: an element-wise activation name from :data:`lecturelib.models.ACTIVATIONS`.
        dtype: ``torch.float32`` or ``torch.float64``.

    The parameters live in one tensor ``theta`` of shape ``(M, P)``; :attr:`layers` gives, per
    layer, views of its weight ``(M, in, out)`` (the transpose of ``nn.Linear.weight``) and bias
    ``(M, 1, out)``. Freshly built, all weights are zero: use :meth:`from_mlps` or
    :meth:`from_seeds` to fill them.
    """

    def __init__(self, n_in: int, width: int, tail, hidden, residual=False, activation: str = "leaky_relu",
                 dtype: torch.dtype = torch.float32):
        check_int("n_in", n_in, minimum=1)
        check_int("width", width, minimum=1)
        if not isinstance(tail, (list, tuple)) or not tail:
            raise ValueError(f"tail must be a non-empty list of layer sizes ending with the output size, got {tail!r}")
        for size in tail:
            check_int("every tail size", size, minimum=1)
        hidden = list(hidden) if isinstance(hidden, (list, tuple)) else hidden
        if not isinstance(hidden, list) or not hidden:
            raise ValueError(f"hidden must be a non-empty list of hidden-layer counts, one per model, got {hidden!r}")
        for count in hidden:
            check_int("every entry of hidden", count, minimum=1)
        residual = _per_model("residual", residual, len(hidden), "bool")
        if not all(isinstance(flag, bool) for flag in residual):
            raise TypeError(f"residual must hold True/False values, got {residual!r}")
        spec = get_activation(activation)
        if spec.function is None or spec.name == "prelu":
            raise ValueError(f"activation must be element-wise without parameters, got {activation!r}; "
                             "maxout and prelu are not supported")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.n_in, self.width, self.tail = n_in, width, list(tail)
        self.hidden, self.residual, self.activation = hidden, residual, spec.name
        self.sigma, self.sigma_prime = spec.function, spec.derivative
        self.n_models = len(hidden)
        n_blocks = max(hidden) - 1  # padded repeated layers after the first hidden layer
        # Hidden layers in order: first (n_in -> width), blocks (width -> width), tail hidden layers.
        shapes = [(n_in, width)] + [(width, width)] * n_blocks + list(zip([width] + self.tail[:-2], self.tail[:-1]))
        self._shapes = shapes + [((self.tail[-2] if len(self.tail) > 1 else width), self.tail[-1])]
        sizes = [i * o + o for i, o in self._shapes]
        self.n_params_padded = sum(sizes)
        self.theta = torch.zeros(self.n_models, self.n_params_padded, dtype=dtype)  # (M, P)
        self._offsets = [sum(sizes[:k]) for k in range(len(sizes))]
        models = torch.arange(self.n_models)
        # gate[l] and carry[l]: (M, 1, 1) coefficients a and c of hidden layer l (see module docstring).
        self.gate, self.carry = [], []
        residual_t = torch.tensor(residual, dtype=dtype)
        hidden_t = torch.tensor(hidden)
        for index, (fan_in, fan_out) in enumerate(shapes):
            block = index - 1  # position among the padded blocks, for 0 <= block < n_blocks
            active = ((block < hidden_t - 1) if 0 <= block < n_blocks else torch.ones_like(hidden_t, dtype=torch.bool))
            active = active.to(dtype)
            carry = (1 - active * (1 - residual_t)) if fan_in == fan_out else torch.zeros_like(active)
            self.gate.append(active.view(-1, 1, 1))
            self.carry.append(carry.view(-1, 1, 1))
        self._all_active = [bool((g == 1).all()) for g in self.gate]
        self._no_carry = [bool((c == 0).all()) for c in self.carry]
        self._n_params = [self._count(m) for m in models.tolist()]
        self._theta_views = self._views(self.theta)
        self._grad = torch.zeros_like(self.theta)  # (M, P), reused by every gradient evaluation
        self._grad_views = self._views(self._grad)
        # sigma'(v) from the sign of v for the piecewise-linear activations (cheaper than the registry).
        slopes = {"relu": (1.0, 0.0), "leaky_relu": (1.0, 0.01), "identity": (1.0, 1.0)}.get(spec.name)
        self._slopes = None if slopes is None else tuple(torch.tensor(s, dtype=dtype) for s in slopes)

    # ----------------------------------------------------------------------------------- layout
    @property
    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[(weight (M, in, out), bias (M, 1, out)), ...]``: views into :attr:`theta`."""
        return self._theta_views

    def _views(self, flat):
        out = []
        for (fan_in, fan_out), start in zip(self._shapes, self._offsets):
            weight = flat[:, start:start + fan_in * fan_out].view(-1, fan_in, fan_out)
            bias = flat[:, start + fan_in * fan_out:start + fan_in * fan_out + fan_out].view(-1, 1, fan_out)
            out.append((weight, bias))
        return out

    def widths(self, model: int) -> list[int]:
        """The ``widths`` list of model ``model``, as :class:`lecturelib.models.MLP` takes it."""
        self._check_model(model)
        return [self.n_in] + [self.width] * self.hidden[model] + self.tail

    def _count(self, model):
        widths = self.widths(model)
        return sum(i * o + o for i, o in zip(widths[:-1], widths[1:]))

    def n_parameters(self) -> list[int]:
        """Parameters of each model without padding, e.g. 78 for ``[1, 5, 5, 5, 1, 1]``."""
        return list(self._n_params)

    def _check_model(self, model):
        if not 0 <= check_int("model", model) < self.n_models:
            raise ValueError(f"model must be an index in [0, {self.n_models}), got {model!r}")

    def _layer_map(self, model):
        """Which padded layer holds each of the model's ``nn.Linear`` layers, in order."""
        n_blocks = len(self._shapes) - len(self.tail) - 1
        used_blocks = list(range(1, 1 + self.hidden[model] - 1))
        return [0] + used_blocks + list(range(1 + n_blocks, len(self._shapes)))

    # ------------------------------------------------------------------------------- conversion
    @classmethod
    def from_mlps(cls, mlps, dtype: torch.dtype | None = None) -> "MLPEnsemble":
        """Stack trained or fresh :class:`lecturelib.models.MLP` models of the form
        ``[n_in] + [width] * k + tail`` (same ``n_in``, ``width``, ``tail``, activation; no norm,
        dropout or PReLU), copying their weights."""
        mlps = list(mlps) if isinstance(mlps, (list, tuple)) else mlps
        if not isinstance(mlps, list) or not mlps or not all(isinstance(m, MLP) for m in mlps):
            raise TypeError("mlps must be a non-empty list of lecturelib.models.MLP")
        first = mlps[0]
        if len(first.widths) < 3:
            raise ValueError(f"each MLP needs at least one hidden layer, got widths {first.widths}")
        n_in, width = first.widths[0], first.widths[1]
        hidden, tails = [], []
        for mlp in mlps:
            if mlp.norm is not None or mlp.dropout or mlp.activation != first.activation:
                raise ValueError("mlps must share the activation and have no normalisation or dropout")
            k = 1
            while k + 1 < len(mlp.widths) - 1 and mlp.widths[k + 1] == width:
                k += 1
            if mlp.widths[0] != n_in or mlp.widths[1] != width:
                raise ValueError(f"mlps must share n_in and width: {mlp.widths} vs {first.widths}")
            hidden.append(k)
            tails.append(mlp.widths[1 + k:])
        if any(tail != tails[0] for tail in tails) or not tails[0]:
            raise ValueError(f"mlps must share the layers after the repeated width-{width} layers, got {tails}")
        param = next(first.parameters())
        ensemble = cls(n_in, width, tails[0], hidden, [m.residual for m in mlps], first.activation,
                       dtype or param.dtype)
        for index, mlp in enumerate(mlps):
            ensemble.load_mlp(index, mlp)
        return ensemble

    @classmethod
    def from_seeds(cls, n_in: int, width: int, tail, hidden, residual, seeds, activation: str = "leaky_relu",
                   dtype: torch.dtype = torch.float32) -> "MLPEnsemble":
        """Models initialised exactly as ``torch.manual_seed(seed); MLP(widths, activation, residual)``."""
        count = len(hidden) if isinstance(hidden, (list, tuple)) else None
        if count is None:
            raise ValueError(f"hidden must be a list of hidden-layer counts, got {hidden!r}")
        seeds = _per_model("seeds", seeds, count, "int")
        residual = _per_model("residual", residual, count, "bool")
        mlps = []
        for k, flag, seed in zip(hidden, residual, seeds):
            torch.manual_seed(check_seed("every entry of seeds", seed))
            mlps.append(_mlp([n_in] + [width] * k + list(tail), activation, flag).to(dtype))
        return cls.from_mlps(mlps, dtype)

    def load_mlp(self, model: int, mlp: MLP) -> None:
        """Copy ``mlp``'s weights into slot ``model`` (its widths must match that slot)."""
        self._check_model(model)
        if not isinstance(mlp, MLP) or mlp.widths != self.widths(model):
            raise ValueError(f"mlp must be an MLP with widths {self.widths(model)}, got "
                             f"{getattr(mlp, 'widths', type(mlp).__name__)}")
        views = self.layers
        with torch.no_grad():
            self.theta[model].zero_()
            for linear, padded in zip(mlp.layers, self._layer_map(model)):
                weight, bias = views[padded]
                weight[model].copy_(linear.weight.T)  # nn.Linear stores (out, in)
                bias[model, 0].copy_(linear.bias)

    def to_mlp(self, model: int) -> MLP:
        """Model ``model`` as a :class:`lecturelib.models.MLP` (same dtype), e.g. for plotting."""
        self._check_model(model)
        mlp = _mlp(self.widths(model), self.activation, self.residual[model]).to(self.theta.dtype)
        views = self.layers
        with torch.no_grad():
            for linear, padded in zip(mlp.layers, self._layer_map(model)):
                weight, bias = views[padded]
                linear.weight.copy_(weight[model].T)
                linear.bias.copy_(bias[model, 0])
        return mlp.eval()

    # ---------------------------------------------------------------------------- computation
    def _check_inputs(self, X):
        return check_tensor("X", X, shape=(None, self.n_in)).to(self.theta.dtype)

    def forward(self, X: torch.Tensor, keep: bool = False):
        """Outputs ``(M, N, n_out)`` of every model on the shared inputs ``X`` ``(N, n_in)``.

        With ``keep=True`` also returns the states ``z_j`` and derivatives ``sigma'(v_j)`` that
        :meth:`loss_and_gradient` needs.
        """
        z = self._check_inputs(X).expand(self.n_models, *X.shape)  # (M, N, n_in)
        layers = self.layers
        states, slopes = [], []
        for index, (weight, bias) in enumerate(layers[:-1]):
            v = torch.bmm(z, weight) + bias  # (M, N, out)
            h = self.sigma(v)
            if keep:
                states.append(z)
                slopes.append(self._derivative(v))
            h = h if self._all_active[index] else self.gate[index] * h
            z = h if self._no_carry[index] else torch.addcmul(h, self.carry[index], z)
        weight, bias = layers[-1]
        out = torch.bmm(z, weight) + bias  # (M, N, n_out)
        return (out, states + [z], slopes) if keep else out

    def _derivative(self, v):
        if self._slopes is None:
            return self.sigma_prime(v)
        positive, negative = self._slopes
        return torch.where(v > 0, positive, negative)  # 0-d tensors of v's dtype

    def losses(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-model mean squared error ``(M,)``, as ``F.mse_loss(model(X), y)`` computes it."""
        with torch.no_grad():
            out = self.forward(X)
            return ((out - self._check_targets(y, out)) ** 2).mean(dim=(1, 2))

    def _check_targets(self, y, out):
        if not isinstance(y, torch.Tensor) or y.shape != out.shape[1:]:
            raise ValueError(f"y must be a tensor of shape {tuple(out.shape[1:])}, got "
                             f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
        return y.to(self.theta.dtype)

    def loss_and_gradient(self, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Per-model loss ``(M,)`` and its gradient ``(M, P)`` by the batched backward recursion.

        The loss is :math:`L_m = \frac{1}{N d}\sum_{i}\|m_m(x_i) - y_i\|_2^2` (``F.mse_loss``);
        :math:`\partial L_m/\partial u_i = 2(u_i - y_i)/(N d)` starts the recursion of the module
        docstring. Padding layers get zero gradient.
        """
        with torch.no_grad():
            out, states, slopes = self.forward(X, keep=True)
            residual = out - self._check_targets(y, out)  # (M, N, d)
            losses = (residual ** 2).mean(dim=(1, 2))
            grad_flat, grads = self._grad, self._grad_views
            delta = residual * (2.0 / residual[0].numel())  # dL/d(out): (M, N, d)
            weight, _ = self.layers[-1]
            grads[-1][0].copy_(torch.bmm(states[-1].transpose(1, 2), delta))
            grads[-1][1].copy_(delta.sum(1, keepdim=True))
            delta = torch.bmm(delta, weight.transpose(1, 2))  # dL/dz of the last hidden state
            layers = self.layers
            for index in range(len(layers) - 2, -1, -1):
                weight, _ = layers[index]
                dv = delta * slopes[index]  # (M, N, out): delta_{j+1} * sigma'(v_j)
                if not self._all_active[index]:
                    dv = dv * self.gate[index]
                grads[index][0].copy_(torch.bmm(states[index].transpose(1, 2), dv))
                grads[index][1].copy_(dv.sum(1, keepdim=True))
                if index == 0:
                    break
                back = torch.bmm(dv, weight.transpose(1, 2))
                delta = back if self._no_carry[index] else torch.addcmul(back, self.carry[index], delta)
            return losses, grad_flat.clone()

    def scale_blocks(self, factors) -> None:
        r"""Multiply the weights and biases of the repeated ``width x width`` blocks of model ``m``
        by ``factors[m]`` (one number or ``M``), e.g. :math:`1/\sqrt{B}` for ``B`` residual blocks,
        which keeps a deep residual stack near the identity at initialisation (as Fixup,
        Zhang et al. 2019, does by rescaling residual branches)."""
        values = [check_real(f"factors[{m}]", v) for m, v in
                  enumerate(_per_model("factors", factors, self.n_models, "number"))]
        factor = torch.tensor(values, dtype=self.theta.dtype).view(-1, 1, 1)  # (M, 1, 1)
        n_blocks = len(self._shapes) - len(self.tail) - 1
        with torch.no_grad():
            for weight, bias in self.layers[1:1 + n_blocks]:
                weight.mul_(factor)
                bias.mul_(factor)

    def first_layer_gradient_norm(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Per-model :math:`\|\partial L/\partial W_1\|_F` ``(M,)``: how much signal reaches the first layer."""
        _, gradient = self.loss_and_gradient(X, y)
        return self._views(gradient)[0][0].flatten(1).norm(dim=1)

    def parameter_norms(self) -> torch.Tensor:
        r"""Euclidean norm :math:`\|\theta_m\|_2` of each model's parameters ``(M,)`` (padding is zero)."""
        return self.theta.norm(dim=1)


@dataclass
class EnsembleHistory:
    """Training record of an :class:`MLPEnsemble`.

    ``train_loss[t, m]`` is model ``m``'s training loss after ``t`` steps (``t = 0 .. epochs``);
    ``test_loss[i, m]`` is its test loss at epoch ``test_epochs[i]``.
    """

    train_loss: torch.Tensor
    test_epochs: list[int]
    test_loss: torch.Tensor


def train_ensemble(ensemble: MLPEnsemble, data: DataSplit, optimizer: str = "adam", lr=1e-3, epochs: int = 100,
                   momentum: float = 0.0, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                   weight_decay: float = 0.0, test_every: int = 100) -> EnsembleHistory:
    r"""Full-batch training of every model of ``ensemble`` in place, one batched step per epoch.

    The updates are ``torch.optim``'s, applied to the stacked parameters with a learning rate
    per model (``lr`` is one number or ``M`` of them); with gradient
    :math:`g = \nabla L_m + \lambda\theta` (``weight_decay`` :math:`\lambda`):

    * ``"sgd"``: :math:`b \leftarrow \mu b + g`, :math:`\theta \leftarrow \theta - \eta b` (``momentum`` :math:`\mu`);
    * ``"adam"`` (Kingma & Ba 2015): :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`,
      :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`,
      :math:`\theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\, m / (\sqrt{v/(1-\beta_2^t)} + \epsilon)`.

    Test losses are recorded every ``test_every`` epochs and after the last. Training runs on
    one thread with subnormal numbers flushed to zero (``torch.set_flush_denormal``); afterwards
    the thread count is restored and flushing is switched off again.
    """
    check_type("ensemble", ensemble, MLPEnsemble, "an MLPEnsemble")
    check_type("data", data, DataSplit, "a lecturelib.data.DataSplit")
    if not isinstance(optimizer, str) or optimizer.lower() not in ENSEMBLE_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {ENSEMBLE_OPTIMIZERS}, got {optimizer!r}")
    check_int("epochs", epochs, minimum=0)
    check_int("test_every", test_every, minimum=1)
    rates = _per_model("lr", lr, ensemble.n_models, "number")
    for m, rate in enumerate(rates):
        check_positive(f"lr[{m}]" if isinstance(lr, (list, tuple)) else "lr", rate)
    check_nonnegative("momentum", momentum)
    check_nonnegative("weight_decay", weight_decay)
    check_nonnegative("eps", eps)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    for k, beta in enumerate(betas):
        check_probability(f"betas[{k}]", beta, allow_one=False)
    for name in ("X_train", "y_train", "X_test", "y_test"):
        check_finite_tensor(name, getattr(data, name))
    # The tensors are tiny: extra threads only add synchronisation, and subnormal numbers (tiny
    # gradients of deep plain nets squared by Adam) are flushed to zero to keep the CPU fast.
    threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    try:
        return _train(ensemble, data, optimizer.lower(), rates, epochs, momentum, betas, eps, weight_decay,
                      test_every)
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)


def _train(ensemble, data, optimizer, rates, epochs, momentum, betas, eps, weight_decay, test_every):
    theta = ensemble.theta
    rate = torch.tensor(rates, dtype=theta.dtype).view(-1, 1)  # (M, 1)
    X, y = data.X_train, data.y_train
    first_moment = torch.zeros_like(theta)
    second_moment = torch.zeros_like(theta)
    train_loss = torch.empty(epochs + 1, ensemble.n_models, dtype=theta.dtype)
    test_epochs, test_loss = [], []
    beta1, beta2 = betas
    adam = optimizer == "adam"
    for step in range(1, epochs + 1):
        if (step - 1) % test_every == 0:
            test_epochs.append(step - 1)
            test_loss.append(ensemble.losses(data.X_test, data.y_test))
        loss, grad = ensemble.loss_and_gradient(X, y)
        train_loss[step - 1] = loss
        if weight_decay:
            grad.add_(theta, alpha=weight_decay)
        if adam:
            first_moment.lerp_(grad, 1 - beta1)
            second_moment.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (second_moment.sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
            theta.addcdiv_(first_moment, denom * ((1 - beta1 ** step) / rate), value=-1.0)
        else:
            if momentum:
                grad = first_moment.mul_(momentum).add_(grad)
            theta.sub_(rate * grad)
    train_loss[epochs] = ensemble.losses(X, y)
    test_epochs.append(epochs)
    test_loss.append(ensemble.losses(data.X_test, data.y_test))
    return EnsembleHistory(train_loss, test_epochs, torch.stack(test_loss))


def vmap_forward(mlps, X: torch.Tensor) -> torch.Tensor:
    """Outputs ``(M, N, n_out)`` of models of one identical architecture, evaluated in one call by
    ``torch.func``: ``vmap(functional_call(base, stack_module_state(mlps), X))``."""
    mlps = list(mlps) if isinstance(mlps, (list, tuple)) else mlps
    if not isinstance(mlps, list) or not mlps or not all(isinstance(m, torch.nn.Module) for m in mlps):
        raise TypeError("mlps must be a non-empty list of torch.nn.Module")
    check_tensor("X", X)
    names = [[n for n, _ in m.named_parameters()] for m in mlps]
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in mlps]
    if any(n != names[0] or s != shapes[0] for n, s in zip(names, shapes)) or any(
            getattr(m, "residual", None) != getattr(mlps[0], "residual", None) for m in mlps):
        raise ValueError("mlps must share one architecture (same parameter names, shapes and residual flag)")
    params, buffers = stack_module_state(mlps)
    base = copy.deepcopy(mlps[0]).to("meta")

    def one(parameters, buffer_values):
        return functional_call(base, (parameters, buffer_values), (X,))

    with torch.no_grad():
        return vmap(one)(params, buffers)


def _mlp(widths, activation, residual) -> MLP:
    """The ensemble's model as an MLP: a residual flag without a square hidden layer is plain."""
    return MLP(widths, activation=activation, residual=residual and any(square_hidden_layers(widths)))


def final_loss_summary(ensemble: MLPEnsemble, history: EnsembleHistory, labels=None) -> list[dict]:
    """Group the models and summarise their final training losses ``history.train_loss[-1]``.

    Models are grouped by ``labels`` (one string per model, e.g. ``"plain"``/``"residual"``) and
    their number of hidden layers. Returns one dict per group, in order of first appearance,
    with keys ``label``, ``hidden``, ``depth`` (number of affine layers), ``parameters``,
    ``models`` (indices), ``median``, ``min`` and ``max``.
    """
    check_type("ensemble", ensemble, MLPEnsemble, "an MLPEnsemble")
    if not isinstance(history, EnsembleHistory) or history.train_loss.shape[1] != ensemble.n_models:
        raise ValueError(f"history must be the EnsembleHistory of this ensemble ({ensemble.n_models} models)")
    if labels is None:
        labels = ["residual" if flag else "plain" for flag in ensemble.residual]
    labels = list(labels) if isinstance(labels, (list, tuple)) else labels
    if not isinstance(labels, list) or len(labels) != ensemble.n_models or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"labels must be {ensemble.n_models} strings, one per model, got {labels!r:.80}")
    final = history.train_loss[-1]  # (M,)
    groups: dict[tuple[str, int], list[int]] = {}
    for index, key in enumerate(zip(labels, ensemble.hidden)):
        groups.setdefault(key, []).append(index)
    rows = []
    for (label, hidden), members in groups.items():
        values = final[members].double()
        rows.append({"label": label, "hidden": hidden, "depth": len(ensemble.widths(members[0])) - 1,
                     "parameters": ensemble.n_parameters()[members[0]], "models": members,
                     "median": float(torch.quantile(values, 0.5)), "min": float(values.min()),
                     "max": float(values.max())})
    return rows


def embed_residual(mlp: MLP, hidden: int) -> MLP:
    r"""A deeper residual network computing exactly the same function as the residual ``mlp``.

    ``mlp`` has widths ``[n_in] + [w] * k + tail``; the result has ``[n_in] + [w] * hidden + tail``
    (``hidden >= k``), the same weights in the layers they share and :math:`W_j = 0`,
    :math:`b_j = 0` in the ``hidden - k`` extra blocks. With :math:`\sigma(0) = 0` each extra block
    computes :math:`z_{j+1} = z_j + \sigma(0\cdot z_j + 0) = z_j`: the lecture's argument that depth
    cannot hurt what a shallower residual net achieves (He et al. 2016).
    """
    if not isinstance(mlp, MLP) or not mlp.residual:
        raise TypeError(f"mlp must be a residual lecturelib.models.MLP, got {mlp!r:.80}")
    single = MLPEnsemble.from_mlps([mlp], dtype=next(mlp.parameters()).dtype)
    if check_int("hidden", hidden) < single.hidden[0]:
        raise ValueError(f"hidden must be an int >= the {single.hidden[0]} hidden layers of width "
                         f"{single.width} that mlp has, got {hidden!r}")
    if float(single.sigma(torch.zeros(1, dtype=torch.float64))) != 0.0:
        raise ValueError(f"the embedding needs sigma(0) = 0, which {mlp.activation!r} does not satisfy")
    deeper = MLP(single.widths(0)[:1] + [single.width] * hidden + single.tail, activation=mlp.activation,
                 residual=True).to(single.theta.dtype)
    shared = single.hidden[0]  # the first `shared` hidden layers, then the tail, keep their weights
    targets = list(deeper.layers[:shared]) + list(deeper.layers[hidden:])
    sources = list(mlp.layers[:shared]) + list(mlp.layers[shared:])
    with torch.no_grad():
        for extra in deeper.layers[shared:hidden]:
            extra.weight.zero_()
            extra.bias.zero_()
        for target, source in zip(targets, sources):
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
    return deeper.eval()
