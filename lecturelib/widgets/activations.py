r"""Widgets of the activations chapter: see the function a small network fits, and its kinks.

The explorer must answer a slider in well under a second on a laptop, so nothing is trained
while it is used. Every network it can show is trained beforehand, all at once:
:class:`MLPFamily` stacks ``K`` independent networks of the same depth into padded
``(K, out, in)`` weight tensors and trains them with one batched forward and backward pass per
step. The loss is the sum of the members' losses, so each member's gradient is exactly the
gradient it would get alone, and Adam (Kingma & Ba 2015), being element-wise, updates each member
exactly as its own optimiser would. Padding is zero, and because every allowed activation has
:math:`\sigma(0) = 0` a padded unit outputs 0 and has zero outgoing weights, so its incoming and
outgoing weights get exactly zero gradient and never move: no mask is needed.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import cache, device, models, piecewise, plotting
from .._checks import check_positive
from ..data import DataSplit
from ..train import History
from . import interactive_figure

__all__ = ["MLPFamily", "train_kink_grid", "draw_fit", "kink_explorer", "GRID_ACTIVATIONS", "GRID_WIDTHS"]

GRID_ACTIVATIONS = ("leaky_relu", "relu", "elu", "tanh", "identity")
GRID_WIDTHS = (2, 3, 5, 8, 12)
_LABELS = {"leaky_relu": "LeakyReLU", "relu": "ReLU", "elu": "ELU", "tanh": "tanh", "identity": "identity",
           "sigmoid": "sigmoid", "prelu": "PReLU", "maxout": "maxout"}


class MLPFamily(nn.Module):
    r"""``K`` independent :class:`~lecturelib.models.MLP` networks trained side by side.

    Members must share their depth and input/output sizes; widths and (element-wise) activations
    may differ. Layer ``j`` of every member is stored zero-padded in ``weights[j]`` of shape
    ``(K, max_out, max_in)``; the forward pass computes, for all members at once,
    :math:`v_j = W_j z_j + b_j` (a batched matrix product) and :math:`z_{j+1} = \sigma^{(k)}(v_j)`
    with member ``k``'s own activation. Activations must satisfy :math:`\sigma(0) = 0`
    (identity, tanh, ReLU, LeakyReLU, PReLU, ELU), which keeps the zero padding inert.
    """

    def __init__(self, members):
        super().__init__()
        if not isinstance(members, (list, tuple)) or not members:
            raise ValueError(f"members must be a non-empty list of MLPs, got {members!r}")
        for k, member in enumerate(members):
            if not isinstance(member, models.MLP):
                raise TypeError(f"members[{k}] must be a lecturelib.models.MLP, got {type(member).__name__}")
            if member.activation in ("maxout", "sigmoid") or member.norm is not None or any(member.residual_mask) \
                    or member.dropout or any(layer.bias is None for layer in member.layers):
                raise ValueError(f"members[{k}] must be a plain MLP with biases and an activation with "
                                 f"sigma(0) = 0 (not maxout or sigmoid; no norm, residual or dropout), got {member!r}")
        first = members[0].widths
        for k, member in enumerate(members):
            w = member.widths
            if len(w) != len(first) or w[0] != first[0] or w[-1] != first[-1]:
                raise ValueError(f"members[{k}] has widths {w}; all members need depth {len(first)}, "
                                 f"input size {first[0]} and output size {first[-1]}")
        self.widths_list = [list(m.widths) for m in members]
        self.activation_list = [m.activation for m in members]
        n_layers = len(first) - 1
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        self.slopes = nn.ParameterList()  # PReLU slopes, (K, max_h) per hidden layer
        for j in range(n_layers):
            out_max = max(w[j + 1] for w in self.widths_list)
            in_max = max(w[j] for w in self.widths_list)
            weight = torch.zeros(len(members), out_max, in_max)
            bias = torch.zeros(len(members), out_max)
            for k, member in enumerate(members):
                o, i = member.layers[j].weight.shape
                weight[k, :o, :i] = member.layers[j].weight.detach()
                bias[k, :o] = member.layers[j].bias.detach()
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))
            if j < n_layers - 1 and "prelu" in self.activation_list:
                slope = torch.zeros(len(members), out_max)
                for k, member in enumerate(members):
                    if member.activation == "prelu":
                        slope[k, :member.widths[j + 1]] = member.activations[j].weight.detach()
                self.slopes.append(nn.Parameter(slope))
        # runs of consecutive members sharing an activation: [(name, start, stop), ...]
        self.runs = []
        for k, name in enumerate(self.activation_list):
            if self.runs and self.runs[-1][0] == name:
                self.runs[-1] = (name, self.runs[-1][1], k + 1)
            else:
                self.runs.append((name, k, k + 1))

    def _activate(self, v: torch.Tensor, layer: int) -> torch.Tensor:
        """Apply each member's activation to its slice of ``v``, ``(K, N, h)``."""
        if len(self.runs) == 1:
            blocks = [v]
        else:
            blocks = torch.split(v, [stop - start for _, start, stop in self.runs])  # views, one per run
        parts = []
        for (name, start, stop), block in zip(self.runs, blocks):  # block: (run, N, h)
            if name == "prelu":
                slope = self.slopes[layer][start:stop, None, :]  # (run, 1, h)
                parts.append(torch.where(block > 0, block, slope * block))
            else:
                parts.append(models.ACTIVATIONS[name].function(block))
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All members' outputs: ``x`` of shape ``(N, n_in)`` gives ``(K, N, n_out)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.widths_list[0][0]:
            raise ValueError(f"x must be a tensor of shape (N, {self.widths_list[0][0]}), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        z = x.expand(len(self.widths_list), *x.shape)  # (K, N, n_in)
        for j, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            v = torch.baddbmm(bias[:, None, :], z, weight.transpose(1, 2))  # (K, N, out)
            z = self._activate(v, j) if j < len(self.weights) - 1 else v
        return z

    def member_losses(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean squared error of every member, ``(K,)``."""
        return ((self(X) - y) ** 2).mean(dim=(1, 2))

    def fit(self, data: DataSplit, epochs: int = 2000, lr: float = 0.01, eval_every: int = 100) -> History:
        """Full-batch Adam on the summed mean-squared errors; returns a :class:`History` whose
        losses are the members' mean and whose ``extras`` hold every member's train/test loss."""
        if not isinstance(data, DataSplit) or data.is_classification:
            raise TypeError("data must be a regression DataSplit (float targets)")
        for name, value in (("epochs", epochs), ("eval_every", eval_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        check_positive("lr", lr)
        dtype = self.weights[0].dtype
        X, y = data.X_train.to(dtype), data.y_train.to(dtype)
        X_test, y_test = data.X_test.to(dtype), data.y_test.to(dtype)
        optimizer = torch.optim.Adam(self.parameters(), lr=lr, foreach=True)
        history = History()

        def record(epoch):
            with torch.no_grad():
                train, test = self.member_losses(X, y), self.member_losses(X_test, y_test)
            history.epoch.append(epoch)
            history.train_loss.append(float(train.mean()))
            history.test_loss.append(float(test.mean()))
            history.extras.setdefault("member_train_loss", []).append(train.tolist())
            history.extras.setdefault("member_test_loss", []).append(test.tolist())

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the matrices are tiny: extra threads only add synchronisation
        try:
            record(0)
            for epoch in range(1, epochs + 1):
                optimizer.zero_grad(set_to_none=True)
                self.member_losses(X, y).sum().backward()
                optimizer.step()
                history.steps += 1
                if epoch % eval_every == 0 or epoch == epochs:
                    record(epoch)
        finally:
            torch.set_num_threads(threads)
        return history

    def members(self) -> list[models.MLP]:
        """The trained members as ordinary :class:`~lecturelib.models.MLP` networks (eval mode)."""
        out = []
        for k, (widths, name) in enumerate(zip(self.widths_list, self.activation_list)):
            net = models.MLP(widths, activation=name).to(self.weights[0].dtype)
            with torch.no_grad():
                for j, layer in enumerate(net.layers):
                    o, i = layer.weight.shape
                    layer.weight.copy_(self.weights[j][k, :o, :i])
                    layer.bias.copy_(self.biases[j][k, :o])
                if name == "prelu":
                    for j, act in enumerate(net.activations):
                        act.weight.copy_(self.slopes[j][k, :widths[j + 1]])
            out.append(net.eval())
        return out


def _grid_members(activations, widths, depth, seed):
    members = []
    for name in activations:
        for width in widths:
            device.seed_everything(seed)  # each member starts as MLP(...) built right after seeding
            members.append(models.MLP([1] + [width] * depth + [1, 1], activation=name))
    return members


def train_kink_grid(data: DataSplit, activations=GRID_ACTIVATIONS, widths=GRID_WIDTHS, depth: int = 3,
                    epochs: int = 2000, lr: float = 0.01, seed: int = 0):
    """Train ``MLP([1] + [width] * depth + [1, 1], activation)`` for every pair at once (cached).

    Each network starts from the initialisation ``models.MLP`` gives right after
    ``device.seed_everything(seed)``, exactly as if it were built alone, and is trained by
    full-batch Adam on the mean squared error. Returns ``(networks, history)`` where
    ``networks[(activation, width)]`` is a trained ``MLP``; width 5 with depth 3 is the lecture's
    78-parameter network.
    """
    if not isinstance(data, DataSplit) or data.is_classification or data.n_features != 1:
        raise ValueError("data must be a 1-D regression DataSplit, e.g. lecturelib.data.regression_1d()")
    for name in activations:
        models.get_activation(name)  # raises ValueError listing the valid names
    if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ValueError(f"widths must be a non-empty list of positive ints, got {widths!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    config = {"activations": list(activations), "widths": list(widths), "depth": depth, "epochs": epochs,
              "lr": lr, "seed": seed, "data": data.description, "n_train": len(data.X_train),
              "x_sum": round(float(data.X_train.sum()), 6)}
    run = cache.cached_fit("activations-kink-grid", config,
                           build=lambda: MLPFamily(_grid_members(activations, widths, depth, seed)),
                           train=lambda family: family.fit(data, epochs=epochs, lr=lr), data=data)
    keys = [(name, width) for name in activations for width in widths]
    return dict(zip(keys, run.model.members())), run.history


def draw_fit(model: models.MLP, data: DataSplit, ax=None, lo: float = -1.5, hi: float = 1.5, title=None):
    """Plot the training points, the fitted function on ``[lo, hi]`` and, for piecewise-affine
    activations, its kinks as vertical lines. Returns the kinks (empty for smooth activations)."""
    if not isinstance(model, models.MLP):
        raise TypeError(f"model must be a lecturelib.models.MLP, got {type(model).__name__}")
    if ax is None:
        _, ax = plotting.subplots(width=6.0, height=3.4)
    grid = torch.linspace(lo, hi, 1001)[:, None]  # (1001, 1)
    with torch.no_grad():
        fitted = model.eval()(grid.to(next(model.parameters()).dtype)).double()
    piecewise_affine = model.activation in piecewise.PIECEWISE_AFFINE
    kinks = piecewise.locate_kinks(model, lo, hi) if piecewise_affine else torch.empty(0, dtype=torch.float64)
    for k, x in enumerate(kinks.tolist()):
        ax.axvline(x, color=plotting.PALETTE["sky"], linewidth=0.9, alpha=0.8, label="kink" if k == 0 else None)
    ax.plot(grid[:, 0], fitted[:, 0], color=plotting.PALETTE["blue"],
            label="network m(x; θ)")
    ax.scatter(data.X_train[:, 0], data.y_train[:, 0], s=14, color=plotting.PALETTE["vermillion"], zorder=3,
               label="training data")
    name = _LABELS.get(model.activation, model.activation)
    if title is None:
        shape = (f"{len(kinks)} kinks, piecewise affine" if model.activation != "identity"
                 else "one affine map, no kinks") if piecewise_affine else "smooth, no kinks"
        title = f"{name}, {models.count_parameters(model)} parameters: {shape}"
    plotting.label(ax, "input x", "output m(x; θ)", title)
    ax.legend(loc="upper left")
    return kinks


def kink_explorer(networks: dict, data: DataSplit):
    """Dropdowns for activation and width over the networks of :func:`train_kink_grid`; shows the
    fit and its kinks. Nothing is trained on interaction, so it redraws at once."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    if not isinstance(networks, dict) or not networks:
        raise ValueError("networks must be the non-empty dict returned by train_kink_grid")
    names = list(dict.fromkeys(name for name, _ in networks))
    widths = sorted({width for _, width in networks})
    start_name = "leaky_relu" if "leaky_relu" in names else names[0]
    start_width = 5 if 5 in widths else widths[0]
    controls = {
        "activation": widgets.Dropdown(options=[(_LABELS.get(n, n), n) for n in names], value=start_name,
                                       description="activation"),
        "width": widgets.SelectionSlider(options=widths, value=start_width, description="width"),
    }

    def draw(activation, width):
        fig, ax = plotting.subplots(width=6.5, height=3.6)
        draw_fit(networks[(activation, width)], data, ax=ax)
        plt.show()

    return interactive_figure(draw, controls, title="Pick an activation and a width (3 hidden layers of that "
                                                    "width, then 1 unit, then the output)")
