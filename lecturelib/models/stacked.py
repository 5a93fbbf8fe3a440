r"""``K`` fully connected networks stored as one, evaluated and trained with one batched step.

A depth experiment (the lecture's 5- to 47-layer LeakyReLU nets, plain and residual, several
seeds) or an activation-by-width grid is dozens of tiny networks. Trained one after the other,
each step costs a few hundred PyTorch calls on tensors of a few hundred numbers, so the time
goes into call overhead, not arithmetic. :class:`StackedMLP` stacks the members along a leading
axis and runs one batched matrix product per layer for all of them.

Member ``m`` is a :class:`~lecturelib.models.MLP` with its own ``widths``, activation
:math:`\sigma_m` and residual flag :math:`r_m`; all members share the input and output sizes.
Members are zero-padded to common layer shapes: narrower layers in *width*, shallower members in
*depth*. A shallower member is padded with *inactive* layers, inserted after its first run of
layers of its first hidden width (``[n_in] + [w] * k + tail`` gets them after the ``k`` width-``w``
layers), whose output is their input. Every padded hidden layer :math:`j` computes

.. math::

    z_{j+1} = c_{mj}\, z_j + a_{mj}\, \sigma_m(W_j z_j + b_j),

with :math:`a_{mj} = 1` for an active layer and :math:`0` for padding, and :math:`c_{mj} = 1`
for padding, :math:`c_{mj} = r_m` for an active layer whose input and output widths agree, else
:math:`0`. An active residual layer is He et al.'s (2016) :math:`z_{j+1} = z_j + \sigma(W_j z_j +
b_j)`, an active plain layer :math:`z_{j+1} = \sigma(W_j z_j + b_j)`, a padding layer
:math:`z_{j+1} = z_j`. Padding stays inert: padded weights are zero, a padded unit has
:math:`v = 0` and, as every member padded in width must have :math:`\sigma_m(0) = 0`, outputs 0,
so the weights into and out of it get exactly zero gradient and never move.

The loss of member ``m`` is its own mean squared error, so a step on :math:`\sum_m L_m` is ``K``
independent steps. Gradients come from autograd, or from :meth:`StackedMLP.loss_and_gradient`,
the lecture's backward recursion (Rumelhart et al. 1986) batched over members:

.. math::

    \delta_j = c_{mj}\,\delta_{j+1} + W_j^\top\big(a_{mj}\,\delta_{j+1}\odot\sigma_m'(v_j)\big),\qquad
    \frac{\partial L}{\partial W_j} = \big(a_{mj}\,\delta_{j+1}\odot\sigma_m'(v_j)\big) z_j^\top .

:func:`lecturelib.train.fit_stacked` trains a stack.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_int, check_real, check_seed, check_tensor, check_type
from .mlp import MLP, get_activation, square_hidden_layers

__all__ = ["StackedMLP", "repeated_layers"]

# sigma'(v) from the sign of v for the piecewise-linear activations (cheaper than the registry)
_SLOPES = {"relu": (1.0, 0.0), "leaky_relu": (1.0, 0.01), "identity": (1.0, 1.0)}


def _per_member(name, value, count, kind):
    """Broadcast one value to ``count`` entries, or check a sequence has ``count`` entries."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(values) != count:
        raise ValueError(f"{name} must be one {kind} or {count} of them (one per member), got {len(values)}")
    return values


def repeated_layers(widths) -> int:
    """How many hidden layers of the first hidden width ``widths[1]`` come first: ``k`` of
    ``[n_in] + [w] * k + tail`` (3 for the lecture's ``[1, 5, 5, 5, 1, 1]``)."""
    k = 1
    while k + 1 < len(widths) - 1 and widths[k + 1] == widths[1]:
        k += 1
    return k


class StackedMLP(nn.Module):
    """``K`` networks ``widths[m]`` with activations ``activation[m]``, stored stacked (see the module docstring).

    Args:
        widths: one ``widths`` list per member, as :class:`~lecturelib.models.MLP` takes it, each
            with at least one hidden layer and the same input and output sizes.
        activation: one element-wise activation name of :data:`~lecturelib.models.ACTIVATIONS`
            (not maxout), or one per member.
        residual: one bool, or one per member: whether a member's layers of equal input and output
            width add their input, as ``MLP(..., residual=True)`` does (harmless without such layers).
        dtype: ``torch.float32`` or ``torch.float64``.

    All parameters live in one tensor :attr:`theta` of shape ``(K, P)``: per padded layer a weight
    ``(K, in, out)`` (the transpose of ``nn.Linear.weight``) and a bias ``(K, 1, out)``, then the
    PReLU slopes ``(K, 1, out)`` of the hidden layers if a member uses PReLU. Freshly built, all
    parameters are zero: use :meth:`from_mlps` or :meth:`from_seeds` to fill them.
    """

    def __init__(self, widths, activation="leaky_relu", residual=False, dtype: torch.dtype = torch.float32):
        super().__init__()
        if not isinstance(widths, (list, tuple)) or not widths:
            raise ValueError(f"widths must be a non-empty list of widths lists, one per member, got {widths!r}")
        self.widths = []
        for m, member in enumerate(widths):
            if not isinstance(member, (list, tuple)) or len(member) < 3:
                raise ValueError(f"widths[{m}] must list at least an input, a hidden and an output size, "
                                 f"got {member!r}")
            self.widths.append([check_int(f"widths[{m}] entries", w, minimum=1) for w in member])
            if member[0] != widths[0][0] or member[-1] != widths[0][-1]:
                raise ValueError(f"widths[{m}] = {list(member)}: every member needs input size {widths[0][0]} "
                                 f"and output size {widths[0][-1]}")
        count = len(self.widths)
        specs = [get_activation(name) for name in _per_member("activation", activation, count, "name")]
        if any(spec.function is None for spec in specs):
            raise ValueError("every activation must be element-wise; maxout is not supported")
        self.activations = [spec.name for spec in specs]
        self.residual = _per_member("residual", residual, count, "bool")
        if not all(isinstance(flag, bool) for flag in self.residual):
            raise TypeError(f"residual must hold True/False values, got {self.residual!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.n_members, self.n_in = count, self.widths[0][0]
        n_layers = max(len(w) for w in self.widths) - 1
        # Per member and padded layer: (in, out, active, square); its own layers at `positions`.
        self._positions, table = [], []
        for m, w in enumerate(self.widths):
            k, pad = repeated_layers(w), n_layers - (len(w) - 1)
            self._positions.append(list(range(k)) + list(range(k + pad, n_layers)))
            rows = [(w[j], w[j + 1], 1.0, w[j] == w[j + 1]) for j in range(len(w) - 1)]
            table.append(rows[:k] + [(w[k], w[k], 0.0, True)] * pad + rows[k:])
        self._shapes = [(max(t[p][0] for t in table), max(t[p][1] for t in table)) for p in range(n_layers)]
        gates, carries = [], []
        for p, (fan_in, fan_out) in enumerate(self._shapes[:-1]):
            gate = [t[p][2] for t in table]
            carry = [1.0 if not t[p][2] or (t[p][3] and r) else 0.0 for t, r in zip(table, self.residual)]
            if any(carry) and fan_in != fan_out:
                raise ValueError(f"members cannot share layer {p}: it carries its input for some member but its "
                                 f"padded shape {fan_in} -> {fan_out} is not square")
            for m, (spec, t) in enumerate(zip(specs, table)):
                if t[p][2] and t[p][1] < fan_out and float(spec.function(torch.zeros(1))) != 0.0:
                    raise ValueError(f"member {m} is padded in width at layer {p} but sigma(0) != 0 for "
                                     f"{spec.name!r}: padded units would not stay inert")
            gates.append(gate)
            carries.append(carry)
        self._all_active = [all(g == 1 for g in gate) for gate in gates]
        self._no_carry = [not any(c) for c in carries]
        self.register_buffer("gates", torch.tensor(gates, dtype=dtype).view(len(gates), -1, 1, 1), persistent=False)
        self.register_buffer("carries", torch.tensor(carries, dtype=dtype).view(len(gates), -1, 1, 1),
                             persistent=False)
        sizes = [i * o + o for i, o in self._shapes]
        self._offsets = [sum(sizes[:p]) for p in range(n_layers)]
        self._prelu = "prelu" in self.activations
        slope_sizes = [o for _, o in self._shapes[:-1]] if self._prelu else []
        self._slope_offsets = [sum(sizes) + sum(slope_sizes[:p]) for p in range(len(slope_sizes))]
        self.theta = nn.Parameter(torch.zeros(count, sum(sizes) + sum(slope_sizes), dtype=dtype))  # (K, P)
        # runs of consecutive members sharing an activation: [(name, start, stop), ...]
        self._runs = []
        for m, name in enumerate(self.activations):
            if self._runs and self._runs[-1][0] == name:
                self._runs[-1] = (name, self._runs[-1][1], m + 1)
            else:
                self._runs.append((name, m, m + 1))
        self._cache = (None, None)  # (theta's storage, what _prepared makes): views rebuilt after .to() or .double()

    # ----------------------------------------------------------------------------------- layout
    def _views(self, flat):
        """Per padded layer ``(weight (K, in, out), bias (K, 1, out))`` viewing ``flat`` ``(K, P)``."""
        out = []
        for (fan_in, fan_out), start in zip(self._shapes, self._offsets):
            weight = flat[:, start:start + fan_in * fan_out].view(-1, fan_in, fan_out)
            bias = flat[:, start + fan_in * fan_out:start + fan_in * fan_out + fan_out].view(-1, 1, fan_out)
            out.append((weight, bias))
        return out

    def _slope_views(self, flat):
        return [flat[:, s:s + o].view(-1, 1, o) for s, (_, o) in zip(self._slope_offsets, self._shapes)]

    def _prepared(self):
        """Views of theta, a gradient buffer and its views, the gates, carries and slope constants,
        made once per storage of theta (the step of a deep stack is mostly call overhead)."""
        key = (self.theta.data_ptr(), self.theta.dtype, self.theta.device)
        if self._cache[0] != key:
            gradient = torch.zeros_like(self.theta, requires_grad=False)
            constants = {name: tuple(torch.tensor(s, dtype=self.theta.dtype, device=self.theta.device) for s in slopes)
                         for name, slopes in _SLOPES.items()}
            self._cache = (key, (self._views(self.theta.detach()), gradient, self._views(gradient),
                                 list(self.gates), list(self.carries), constants))
        return self._cache[1]

    @property
    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``[(weight (K, in, out), bias (K, 1, out)), ...]``: views into :attr:`theta`."""
        if torch.is_grad_enabled() and self.theta.requires_grad:
            return self._views(self.theta)  # fresh views, so autograd reaches theta
        return self._prepared()[0]

    def n_parameters(self) -> list[int]:
        """Parameters of each member without padding, e.g. 78 for ``[1, 5, 5, 5, 1, 1]``."""
        return [sum(i * o + o for i, o in zip(w[:-1], w[1:])) + (sum(w[1:-1]) if name == "prelu" else 0)
                for w, name in zip(self.widths, self.activations)]

    def _check_member(self, member):
        if not 0 <= check_int("member", member) < self.n_members:
            raise ValueError(f"member must be an index in [0, {self.n_members}), got {member!r}")

    # ------------------------------------------------------------------------------- conversion
    @classmethod
    def from_mlps(cls, mlps, dtype: torch.dtype | None = None) -> "StackedMLP":
        """Stack :class:`~lecturelib.models.MLP` networks (biases, no norm or dropout), copying their weights."""
        mlps = list(mlps) if isinstance(mlps, (list, tuple)) else mlps
        if not isinstance(mlps, list) or not mlps:
            raise ValueError(f"mlps must be a non-empty list of lecturelib.models.MLP, got {mlps!r:.80}")
        for m, mlp in enumerate(mlps):
            check_type(f"mlps[{m}]", mlp, MLP, "a lecturelib.models.MLP")
            if mlp.norm is not None or mlp.dropout or any(layer.bias is None for layer in mlp.layers):
                raise ValueError(f"mlps[{m}] must have biases and no normalisation or dropout, got {mlp!r:.120}")
        stack = cls([m.widths for m in mlps], [m.activation for m in mlps], [m.residual for m in mlps],
                    dtype or next(mlps[0].parameters()).dtype)
        for m, mlp in enumerate(mlps):
            stack.load_mlp(m, mlp)
        return stack

    @classmethod
    def from_seeds(cls, widths, activation="leaky_relu", residual=False, seeds=0,
                   dtype: torch.dtype = torch.float32) -> "StackedMLP":
        """Members initialised exactly as ``torch.manual_seed(seed); MLP(widths, activation, residual)``
        (a residual flag without a square hidden layer builds a plain MLP)."""
        if not isinstance(widths, (list, tuple)) or not widths:
            raise ValueError(f"widths must be a non-empty list of widths lists, got {widths!r}")
        stack = cls(widths, activation, residual, dtype)
        for m, seed in enumerate(_per_member("seeds", seeds, stack.n_members, "int")):
            torch.manual_seed(check_seed("every entry of seeds", seed))
            stack.load_mlp(m, MLP(stack.widths[m], activation=stack.activations[m],
                                  residual=stack.residual[m] and any(square_hidden_layers(stack.widths[m]))).to(dtype))
        return stack

    def load_mlp(self, member: int, mlp: MLP) -> None:
        """Copy ``mlp``'s weights into slot ``member`` (its widths and activation must match that slot)."""
        self._check_member(member)
        if not isinstance(mlp, MLP) or mlp.widths != self.widths[member] or mlp.activation != self.activations[member]:
            raise ValueError(f"mlp must be an MLP with widths {self.widths[member]} and activation "
                             f"{self.activations[member]!r}, got {getattr(mlp, 'widths', type(mlp).__name__)}")
        with torch.no_grad():
            self.theta[member].zero_()
            views = self._views(self.theta)
            for linear, p in zip(mlp.layers, self._positions[member]):
                fan_out, fan_in = linear.weight.shape
                views[p][0][member, :fan_in, :fan_out].copy_(linear.weight.T)  # nn.Linear stores (out, in)
                views[p][1][member, 0, :fan_out].copy_(linear.bias)
            if mlp.activation == "prelu":
                slopes = self._slope_views(self.theta)
                for act, p in zip(mlp.activations, self._positions[member]):
                    slopes[p][member, 0, :act.weight.numel()].copy_(act.weight)

    def to_mlp(self, member: int) -> MLP:
        """Member ``member`` as a :class:`~lecturelib.models.MLP` (same dtype, eval mode), e.g. for plotting."""
        self._check_member(member)
        widths, name = self.widths[member], self.activations[member]
        residual = self.residual[member] and any(square_hidden_layers(widths))
        mlp = MLP(widths, activation=name, residual=residual).to(device=self.theta.device, dtype=self.theta.dtype)
        with torch.no_grad():
            views = self._views(self.theta)
            for linear, p in zip(mlp.layers, self._positions[member]):
                fan_out, fan_in = linear.weight.shape
                linear.weight.copy_(views[p][0][member, :fan_in, :fan_out].T)
                linear.bias.copy_(views[p][1][member, 0, :fan_out])
            if name == "prelu":
                slopes = self._slope_views(self.theta)
                for act, p in zip(mlp.activations, self._positions[member]):
                    act.weight.copy_(slopes[p][member, 0, :act.weight.numel()])
        return mlp.eval()

    def to_mlps(self) -> list[MLP]:
        """Every member as an :class:`~lecturelib.models.MLP`, in order."""
        return [self.to_mlp(m) for m in range(self.n_members)]

    # ---------------------------------------------------------------------------- computation
    def _activate(self, v, p, slopes):
        """Each member's activation on its slice of ``v`` ``(K, N, h)``: one call per run of equal activations."""
        blocks = [v] if len(self._runs) == 1 else torch.split(v, [stop - start for _, start, stop in self._runs])
        parts = []
        for (name, start, stop), block in zip(self._runs, blocks):  # block: (run, N, h)
            if name == "prelu":
                parts.append(torch.where(block > 0, block, slopes[p][start:stop] * block))
            else:
                parts.append(get_activation(name).function(block))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _derivative(self, v, constants):
        """sigma_m'(v) of every member, ``(K, N, h)`` (element-wise activations without parameters)."""
        blocks = [v] if len(self._runs) == 1 else torch.split(v, [stop - start for _, start, stop in self._runs])
        parts = []
        for (name, _, _), block in zip(self._runs, blocks):
            if name in constants:
                positive, negative = constants[name]  # 0-d tensors of v's dtype
                parts.append(torch.where(block > 0, positive, negative))
            else:
                parts.append(get_activation(name).derivative(block))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def forward(self, X: torch.Tensor, keep: bool = False):
        """Outputs ``(K, N, n_out)`` of every member on the shared inputs ``X`` ``(N, n_in)``.

        With ``keep=True`` also returns the states ``z_j`` and derivatives ``sigma'(v_j)`` that
        :meth:`loss_and_gradient` needs.
        """
        X = check_tensor("X", X, shape=(None, self.n_in)).to(self.theta.device, self.theta.dtype)  # to the stack
        z = X.expand(self.n_members, *X.shape)  # (K, N, n_in)
        layers = self.layers
        _, _, _, gates, carries, constants = self._prepared()
        slopes = self._slope_views(self.theta) if self._prelu else None
        states, derivatives = [], []
        for p, (weight, bias) in enumerate(layers[:-1]):
            v = torch.bmm(z, weight) + bias  # (K, N, out)
            h = self._activate(v, p, slopes)
            if keep:
                states.append(z)
                derivatives.append(self._derivative(v, constants))
            h = h if self._all_active[p] else gates[p] * h
            z = h if self._no_carry[p] else torch.addcmul(h, carries[p], z)
        weight, bias = layers[-1]
        out = torch.bmm(z, weight) + bias  # (K, N, n_out)
        return (out, states + [z], derivatives) if keep else out

    def _check_targets(self, y, out):
        if not isinstance(y, torch.Tensor) or y.shape != out.shape[1:]:
            raise ValueError(f"y must be a tensor of shape {tuple(out.shape[1:])}, got "
                             f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
        return y.to(self.theta.device, self.theta.dtype)

    def losses(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-member mean squared error ``(K,)``, as ``F.mse_loss(member(X), y)`` computes it."""
        out = self.forward(X)
        return ((out - self._check_targets(y, out)) ** 2).mean(dim=(1, 2))

    def loss_and_gradient(self, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Per-member loss ``(K,)`` and its gradient ``(K, P)`` by the batched backward recursion.

        The loss is :math:`L_m = \frac{1}{N d}\sum_{i}\|m_m(x_i) - y_i\|_2^2` (``F.mse_loss``);
        :math:`\partial L_m/\partial u_i = 2(u_i - y_i)/(N d)` starts the recursion of the module
        docstring. Padding gets zero gradient. PReLU members need autograd instead.
        """
        if self._prelu:
            raise ValueError("loss_and_gradient covers activations without parameters; PReLU members need autograd")
        with torch.no_grad():
            out, states, derivatives = self.forward(X, keep=True)
            residual = out - self._check_targets(y, out)  # (K, N, d)
            losses = (residual ** 2).mean(dim=(1, 2))
            layers, gradient, grads, gates, carries, _ = self._prepared()
            delta = residual * (2.0 / residual[0].numel())  # dL/d(out): (K, N, d)
            grads[-1][0].copy_(torch.bmm(states[-1].transpose(1, 2), delta))
            grads[-1][1].copy_(delta.sum(1, keepdim=True))
            delta = torch.bmm(delta, layers[-1][0].transpose(1, 2))  # dL/dz of the last hidden state
            for p in range(len(layers) - 2, -1, -1):
                dv = delta * derivatives[p]  # (K, N, out): delta_{j+1} * sigma'(v_j)
                if not self._all_active[p]:
                    dv = dv * gates[p]
                grads[p][0].copy_(torch.bmm(states[p].transpose(1, 2), dv))
                grads[p][1].copy_(dv.sum(1, keepdim=True))
                if p == 0:
                    break
                back = torch.bmm(dv, layers[p][0].transpose(1, 2))
                delta = back if self._no_carry[p] else torch.addcmul(back, carries[p], delta)
            return losses, gradient.clone()

    def scale_blocks(self, factors) -> None:
        r"""Multiply the weights and biases of member ``m``'s repeated ``w x w`` layers after its first
        (``[n_in] + [w] * k + tail`` has ``k - 1``) by ``factors[m]`` (one number or ``K``), e.g.
        :math:`1/\sqrt{B}` for ``B`` residual blocks, which keeps a deep residual stack near the
        identity at initialisation (as Fixup, Zhang et al. 2019, does by rescaling residual branches)."""
        values = [check_real(f"factors[{m}]", v) for m, v in
                  enumerate(_per_member("factors", factors, self.n_members, "number"))]
        blocks = [repeated_layers(w) - 1 for w in self.widths]
        with torch.no_grad():
            for p, (weight, bias) in enumerate(self._views(self.theta)[1:1 + max(blocks)], start=1):
                factor = torch.tensor([v if p <= b else 1.0 for v, b in zip(values, blocks)],
                                      dtype=self.theta.dtype, device=self.theta.device).view(-1, 1, 1)
                weight.mul_(factor)
                bias.mul_(factor)

    def first_layer_gradient_norm(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""Per-member :math:`\|\partial L/\partial W_1\|_F` ``(K,)``: how much signal reaches the first layer."""
        _, gradient = self.loss_and_gradient(X, y)
        return self._views(gradient)[0][0].flatten(1).norm(dim=1)

    def parameter_norms(self) -> torch.Tensor:
        r"""Euclidean norm :math:`\|\theta_m\|_2` of each member's parameters ``(K,)`` (padding is zero)."""
        return self.theta.detach().norm(dim=1)

    def extra_repr(self) -> str:
        return (f"members={self.n_members}, widths={self.widths}, activations={self.activations}, "
                f"residual={self.residual}")
