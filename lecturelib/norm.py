r"""Normalisation layers written out: batch, batch re-, layer, instance, group and weight normalisation.

Every activation normaliser here computes, over a set :math:`S` of positions that depends on
the method,

.. math::

    \mu = \frac{1}{|S|}\sum_{i\in S} x_i,\qquad
    \sigma^2 = \frac{1}{|S|}\sum_{i\in S} (x_i-\mu)^2,\qquad
    \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}},\qquad y_i = \gamma\,\hat x_i + \beta,

and they differ only in :math:`S`. For an input of shape ``(batch N, channels C, *spatial)``:

* batch norm (Ioffe & Szegedy 2015): per channel, over the batch and the spatial positions;
* layer norm (Ba et al. 2016): per sample, over all its features;
* instance norm (Ulyanov et al. 2016): per sample and channel, over the spatial positions;
* group norm (Wu & He 2018): per sample and group of ``C / G`` channels, over those channels
  and the spatial positions.

Batch renormalisation (Ioffe 2017, :class:`BatchRenorm`) keeps batch norm's :math:`S` but corrects
the batch statistics towards the running averages during training.
Weight normalisation (Salimans & Kingma 2016) instead reparameterises each weight vector as
:math:`w = g\,v/\lVert v\rVert`. Batch norm also has its backward pass written out
(:func:`batch_norm_backward`, :class:`BatchNormFunction`). The modules plug into
``models.MLP(..., norm=...)``: ``norm=BatchNorm``, ``norm=LayerNorm`` or
``norm=group_norm(4)``; :func:`weight_normalize` converts the linear layers of a model.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_int, check_module, check_nonnegative, check_positive, check_real, check_tensor

__all__ = ["batch_norm_forward", "batch_norm_backward", "BatchNormFunction", "BatchNorm", "BatchRenorm", "LayerNorm",
           "InstanceNorm", "GroupNorm", "group_norm", "WeightNormLinear", "weight_normalize",
           "normalized_axes"]


def _channel_view(param, x):
    """Reshape a per-channel ``(C,)`` vector so it broadcasts against ``x`` of shape ``(N, C, *)``."""
    return param.view(1, -1, *([1] * (x.dim() - 2)))


def _batch_axes(x):
    """Axes batch norm averages over: the batch axis and every spatial axis."""
    return (0,) + tuple(range(2, x.dim()))


def batch_norm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5):
    r"""Algorithm 1 of Ioffe & Szegedy (2015), with batch statistics.

    For ``x`` of shape ``(N, C)`` or ``(N, C, *spatial)`` and per channel :math:`c`, with
    :math:`m` values in the batch (``N`` times the spatial size):
    :math:`\mu_c = \frac1m\sum_i x_{ic}`, :math:`\sigma_c^2 = \frac1m\sum_i (x_{ic}-\mu_c)^2`
    (the biased variance), :math:`\hat x_{ic} = (x_{ic}-\mu_c)/\sqrt{\sigma_c^2+\epsilon}`,
    :math:`y_{ic} = \gamma_c\hat x_{ic} + \beta_c`.

    Returns ``(y, cache)``: ``y`` has the shape of ``x``; ``cache`` holds ``x_hat`` (shape of
    ``x``), ``mean``, ``var`` and ``inv_std`` (each ``(C,)``) and ``gamma``, for the backward pass.
    """
    check_tensor("x", x, min_ndim=2, floating=True)
    check_positive("eps", eps)
    channels = x.shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if not isinstance(p, torch.Tensor) or p.shape != (channels,):
            got = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
            raise ValueError(f"{name} must be a tensor of shape ({channels},) (one per channel), got {got}")
    axes = _batch_axes(x)
    m = x.numel() // channels
    if m < 2:
        raise ValueError(f"batch norm needs more than one value per channel in training mode, got input "
                         f"shape {tuple(x.shape)}: with batch size 1 the variance is 0 and every output is beta")
    mean = x.mean(dim=axes)  # (C,)
    var = x.var(dim=axes, unbiased=False)  # (C,)
    inv_std = torch.rsqrt(var + eps)  # (C,)
    x_hat = (x - _channel_view(mean, x)) * _channel_view(inv_std, x)  # (N, C, *)
    y = _channel_view(gamma, x) * x_hat + _channel_view(beta, x)
    return y, {"x_hat": x_hat, "mean": mean, "var": var, "inv_std": inv_std, "gamma": gamma}


def batch_norm_backward(grad_y: torch.Tensor, cache: dict):
    r"""The backward pass of batch norm (Ioffe & Szegedy 2015, Section 3), written out.

    With :math:`g_i = \partial\ell/\partial y_i` over the :math:`m` values of a channel,

    .. math::

        \frac{\partial\ell}{\partial\beta} = \sum_i g_i,\quad
        \frac{\partial\ell}{\partial\gamma} = \sum_i g_i\hat x_i,\quad
        \frac{\partial\ell}{\partial x_i} = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}
        \Big(g_i - \frac1m\sum_j g_j - \hat x_i\,\frac1m\sum_j g_j\hat x_j\Big).

    The last formula collects the paper's three chain-rule terms (through :math:`\hat x_i`,
    :math:`\sigma^2` and :math:`\mu`). Returns ``(grad_x, grad_gamma, grad_beta)``.
    """
    check_tensor("grad_y", grad_y, min_ndim=2, floating=True)
    if not isinstance(cache, dict) or not {"x_hat", "inv_std", "gamma"} <= set(cache):
        raise TypeError("cache must be the dict returned by batch_norm_forward (with x_hat, inv_std, gamma)")
    x_hat = cache["x_hat"]
    if grad_y.shape != x_hat.shape:
        raise ValueError(f"grad_y must have the input's shape {tuple(x_hat.shape)}, got {tuple(grad_y.shape)}")
    axes = _batch_axes(x_hat)
    grad_beta = grad_y.sum(dim=axes)  # (C,)
    grad_gamma = (grad_y * x_hat).sum(dim=axes)  # (C,)
    mean_g = _channel_view(grad_y.mean(dim=axes), x_hat)  # (1, C, 1...)
    mean_g_xhat = _channel_view((grad_y * x_hat).mean(dim=axes), x_hat)
    scale = _channel_view(cache["gamma"] * cache["inv_std"], x_hat)
    grad_x = scale * (grad_y - mean_g - x_hat * mean_g_xhat)  # (N, C, *)
    return grad_x, grad_gamma, grad_beta


class BatchNormFunction(torch.autograd.Function):
    """Batch norm with batch statistics as an autograd node whose backward is
    :func:`batch_norm_backward` (not autograd's own chain of elementary operations).

    ``BatchNormFunction.apply(x, gamma, beta, eps)`` returns ``(y, mean, var)``; ``mean`` and
    ``var`` are ``(C,)`` batch statistics without gradient, used for the running averages.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        y, cache = batch_norm_forward(x, gamma, beta, eps)
        ctx.save_for_backward(cache["x_hat"], cache["inv_std"], gamma)
        ctx.mark_non_differentiable(cache["mean"], cache["var"])
        return y, cache["mean"], cache["var"]

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        x_hat, inv_std, gamma = ctx.saved_tensors
        grad_x, grad_gamma, grad_beta = batch_norm_backward(grad_y, {"x_hat": x_hat, "inv_std": inv_std,
                                                                     "gamma": gamma})
        return grad_x, grad_gamma, grad_beta, None


class BatchNorm(nn.Module):
    r"""Batch normalisation (Ioffe & Szegedy 2015) for ``(N, C)`` or ``(N, C, *spatial)`` inputs.

    Training mode normalises with the batch statistics (through :class:`BatchNormFunction`) and
    updates the running averages
    :math:`\hat\mu \leftarrow (1-\rho)\hat\mu + \rho\,\mu_{\mathcal B}` and
    :math:`\hat\sigma^2 \leftarrow (1-\rho)\hat\sigma^2 + \rho\,\frac{m}{m-1}\sigma^2_{\mathcal B}`
    (momentum :math:`\rho`, unbiased variance as in the paper's inference step). Evaluation mode
    uses :math:`y = \gamma(x-\hat\mu)/\sqrt{\hat\sigma^2+\epsilon} + \beta`, a fixed affine map.
    Same conventions as ``torch.nn.BatchNorm1d``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        check_int("num_features", num_features, minimum=1)
        check_positive("eps", eps)
        check_real("momentum", momentum, 0.0, 1.0, open_min=True)
        self.num_features, self.eps, self.momentum, self.affine = num_features, float(eps), float(momentum), affine
        self.weight = nn.Parameter(torch.ones(num_features), requires_grad=affine)  # gamma, (C,)
        self.bias = nn.Parameter(torch.zeros(num_features), requires_grad=affine)  # beta, (C,)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=2, floating=True)
        if x.shape[1] != self.num_features:
            raise ValueError(f"input must have {self.num_features} channels in dimension 1, got shape {tuple(x.shape)}")
        if not self.training:
            scale = self.weight * torch.rsqrt(self.running_var + self.eps)  # (C,)
            shift = self.bias - self.running_mean * scale
            return x * _channel_view(scale, x) + _channel_view(shift, x)
        y, mean, var = BatchNormFunction.apply(x, self.weight, self.bias, self.eps)
        m = x.numel() // self.num_features
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * m / (m - 1))
            self.num_batches_tracked += 1
        return y

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchRenorm(BatchNorm):
    r"""Batch renormalisation (Ioffe 2017, Algorithm 1) for ``(N, C)`` or ``(N, C, *spatial)`` inputs.

    Training mode normalises with the batch statistics :math:`\mu_{\mathcal B}`,
    :math:`\sigma_{\mathcal B} = \sqrt{\sigma^2_{\mathcal B}+\epsilon}` (biased variance) and
    corrects them towards the running averages :math:`\mu`, :math:`\sigma = \sqrt{\hat\sigma^2+\epsilon}`:

    .. math::

        r = \operatorname{clip}_{[1/r_\max,\, r_\max]}\Big(\frac{\sigma_{\mathcal B}}{\sigma}\Big),\qquad
        d = \operatorname{clip}_{[-d_\max,\, d_\max]}\Big(\frac{\mu_{\mathcal B}-\mu}{\sigma}\Big),\qquad
        y = \gamma\Big(\frac{x-\mu_{\mathcal B}}{\sigma_{\mathcal B}}\,r + d\Big) + \beta,

    with :math:`r` and :math:`d` treated as constants by the gradient (stop-gradient). Without
    clipping, :math:`y = \gamma (x-\mu)/\sigma + \beta`: the layer computes in training what it
    computes in evaluation mode, which uses the running averages exactly as :class:`BatchNorm`
    does. :math:`r_\max = 1`, :math:`d_\max = 0` is batch norm. The running averages are updated
    after :math:`r, d` are computed, as in :class:`BatchNorm` (running mean and unbiased running
    variance with momentum :math:`\rho`; the paper averages :math:`\sigma` itself, which differs
    slightly).

    ``ramp_steps`` > 0 relaxes the clipping gradually, as the paper does: at the ``t``-th
    training call the bounds are :math:`1 + (r_\max-1)\min(1, t/\text{ramp\_steps})` and
    :math:`d_\max\min(1, t/\text{ramp\_steps})`, so the layer starts as batch norm while the
    running averages are still poor.
    """

    def __init__(self, num_features: int, rmax: float = 3.0, dmax: float = 5.0, ramp_steps: int = 0,
                 eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine)
        self.rmax = check_real("rmax", rmax, minimum=1.0)
        self.dmax = check_nonnegative("dmax", dmax)
        self.ramp_steps = check_int("ramp_steps", ramp_steps, minimum=0)

    def bounds(self) -> tuple[float, float]:
        """The clipping bounds ``(rmax, dmax)`` of the next training call (after the ramp)."""
        ramp = 1.0 if self.ramp_steps == 0 else min(1.0, int(self.num_batches_tracked) / self.ramp_steps)
        return 1.0 + (self.rmax - 1.0) * ramp, self.dmax * ramp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=2, floating=True)
        if x.shape[1] != self.num_features:
            raise ValueError(f"input must have {self.num_features} channels in dimension 1, got shape {tuple(x.shape)}")
        if not self.training:
            return super().forward(x)
        axes = _batch_axes(x)
        m = x.numel() // self.num_features
        if m < 2:
            raise ValueError(f"batch renorm needs more than one value per channel in training mode, got input "
                             f"shape {tuple(x.shape)}")
        mean = x.mean(dim=axes)  # (C,)
        var = x.var(dim=axes, unbiased=False)  # (C,)
        std = torch.sqrt(var + self.eps)  # sigma_B, (C,)
        rmax, dmax = self.bounds()
        with torch.no_grad():
            running_std = torch.sqrt(self.running_var + self.eps)  # sigma, (C,)
            r = (std / running_std).clamp(1.0 / rmax, rmax)  # (C,), no gradient
            d = ((mean - self.running_mean) / running_std).clamp(-dmax, dmax)  # (C,), no gradient
        x_hat = (x - _channel_view(mean, x)) / _channel_view(std, x) * _channel_view(r, x) + _channel_view(d, x)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * m / (m - 1))
            self.num_batches_tracked += 1
        return _channel_view(self.weight, x) * x_hat + _channel_view(self.bias, x)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rmax={self.rmax}, dmax={self.dmax}, ramp_steps={self.ramp_steps}"


def _normalize(x, axes, eps):
    """``(x - mean) / sqrt(var + eps)`` with statistics over ``axes`` (kept for broadcasting)."""
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, unbiased=False, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps)


class LayerNorm(nn.Module):
    r"""Layer normalisation (Ba et al. 2016): each sample is normalised over its last
    ``len(normalized_shape)`` axes, :math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}` with
    :math:`\mu,\sigma^2` over those axes, then :math:`y = \gamma\odot\hat x + \beta` with one
    :math:`\gamma,\beta` per element. Same in training and evaluation; no batch dependence.
    Same conventions as ``torch.nn.LayerNorm``.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
            raise ValueError(f"normalized_shape must be a positive int or tuple of them, got {normalized_shape!r}")
        check_positive("eps", eps)
        self.normalized_shape, self.eps, self.affine = shape, float(eps), affine
        self.weight = nn.Parameter(torch.ones(shape), requires_grad=affine)
        self.bias = nn.Parameter(torch.zeros(shape), requires_grad=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=1, floating=True)
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"input must end in shape {self.normalized_shape}, got {tuple(x.shape)}")
        x_hat = _normalize(x, tuple(range(x.dim() - k, x.dim())), self.eps)
        return self.weight * x_hat + self.bias

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, affine={self.affine}"


class GroupNorm(nn.Module):
    r"""Group normalisation (Wu & He 2018) for ``(N, C, *spatial)`` or ``(N, C)`` inputs.

    The ``C`` channels are split into ``num_groups`` groups of ``C / G`` consecutive channels;
    each sample's group is normalised over its channels and spatial positions, then
    :math:`y_{nc} = \gamma_c\hat x_{nc} + \beta_c` per channel. ``G = 1`` is layer norm over
    ``(C, *spatial)``; ``G = C`` is instance norm. Same conventions as ``torch.nn.GroupNorm``.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        check_int("num_groups", num_groups, minimum=1)
        check_int("num_channels", num_channels, minimum=1)
        check_positive("eps", eps)
        if num_channels % num_groups:
            raise ValueError(f"num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, float(eps), affine
        self.weight = nn.Parameter(torch.ones(num_channels), requires_grad=affine)
        self.bias = nn.Parameter(torch.zeros(num_channels), requires_grad=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=2, floating=True)
        if x.shape[1] != self.num_channels:
            raise ValueError(f"input must have {self.num_channels} channels in dimension 1, got shape {tuple(x.shape)}")
        grouped = x.reshape(x.shape[0], self.num_groups, -1)  # (N, G, C/G * spatial)
        x_hat = _normalize(grouped, (2,), self.eps).reshape(x.shape)
        return _channel_view(self.weight, x) * x_hat + _channel_view(self.bias, x)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class InstanceNorm(nn.Module):
    r"""Instance normalisation (Ulyanov et al. 2016) for ``(N, C, *spatial)`` inputs: each sample
    and channel is normalised over its spatial positions, then scaled and shifted per channel.

    It needs a spatial axis: on a fully connected layer's ``(N, C)`` output every "instance" is a
    single number, which normalises to 0, so such inputs raise ``ValueError``. Same as
    ``torch.nn.InstanceNorm1d(C, affine=True)`` (without running statistics).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        check_int("num_features", num_features, minimum=1)
        check_positive("eps", eps)
        self.num_features, self.eps, self.affine = num_features, float(eps), affine
        self.weight = nn.Parameter(torch.ones(num_features), requires_grad=affine)
        self.bias = nn.Parameter(torch.zeros(num_features), requires_grad=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=3, floating=True)
        if x.shape[1] != self.num_features:
            raise ValueError(f"input must have {self.num_features} channels in dimension 1, got shape {tuple(x.shape)}")
        if x[0, 0].numel() < 2:
            raise ValueError(f"instance norm needs more than one spatial position, got shape {tuple(x.shape)}")
        x_hat = _normalize(x, tuple(range(2, x.dim())), self.eps)
        return _channel_view(self.weight, x) * x_hat + _channel_view(self.bias, x)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


def group_norm(num_groups: int):
    """A ``width -> GroupNorm(num_groups, width)`` factory for ``models.MLP(..., norm=...)``."""
    check_int("num_groups", num_groups, minimum=1)

    def build(width: int) -> GroupNorm:
        return GroupNorm(num_groups, width)

    build.__name__ = f"group_norm({num_groups})"
    return build


def normalized_axes(method: str, shape) -> list[tuple[int, ...]]:
    """Which entries of a tensor of ``shape = (N, C, *spatial)`` share one mean and variance.

    Returns one group label per entry, as a nested list of the tensor's shape flattened to
    ``(N, C, S)`` (S = spatial size), for ``method`` in ``"batch"``, ``"layer"``, ``"instance"``,
    ``"group2"`` (groups of 2 channels ... any ``"groupK"`` with ``K`` dividing ``C``). Used to
    draw which entries each method pools.
    """
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) < 2:
        raise ValueError(f"shape must be (N, C, *spatial), got {shape!r}")
    n, c = int(shape[0]), int(shape[1])
    s = int(torch.tensor(shape[2:]).prod()) if len(shape) > 2 else 1
    index = torch.arange(n * c * s).reshape(n, c, s)
    sample, channel = index // (c * s), (index // s) % c
    if method == "batch":
        label = channel
    elif method == "layer":
        label = sample
    elif method == "instance":
        label = sample * c + channel
    elif isinstance(method, str) and method.startswith("group") and method[5:].isdigit() and int(method[5:]) > 0:
        per_group = int(method[5:])
        if c % per_group:
            raise ValueError(f"method {method!r}: {per_group} channels per group do not divide C={c}")
        label = sample * (c // per_group) + channel // per_group
    else:
        raise ValueError(f"method must be 'batch', 'layer', 'instance' or 'groupK', got {method!r}")
    return label.tolist()


class WeightNormLinear(nn.Module):
    r"""A linear layer with weight normalisation (Salimans & Kingma 2016):
    :math:`y = W x + b` with row :math:`k` of ``W`` equal to :math:`w_k = g_k\,v_k/\lVert v_k\rVert_2`.

    The parameters are ``weight_v`` ``(out, in)``, ``weight_g`` ``(out,)`` and ``bias``; the
    length :math:`g_k` and the direction :math:`v_k` of each weight vector are learned separately.
    Equals ``torch.nn.utils.parametrizations.weight_norm(nn.Linear(...))``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        check_int("in_features", in_features, minimum=1)
        check_int("out_features", out_features, minimum=1)
        linear = nn.Linear(in_features, out_features, bias=bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight_v = nn.Parameter(linear.weight.detach().clone())  # (out, in)
        self.weight_g = nn.Parameter(linear.weight.detach().norm(dim=1))  # (out,)
        self.bias = nn.Parameter(linear.bias.detach().clone()) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "WeightNormLinear":
        """The same function as ``linear``, reparameterised (``g = ||w||``, ``v = w``)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        weight = linear.weight.detach()  # (out, in)
        layer.weight_v = nn.Parameter(weight.clone())
        layer.weight_g = nn.Parameter(weight.norm(dim=1))
        if linear.bias is not None:
            layer.bias = nn.Parameter(linear.bias.detach().clone())
        return layer

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight matrix ``g * v / ||v||`` (row-wise), ``(out, in)``."""
        return self.weight_g.unsqueeze(1) * self.weight_v / self.weight_v.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("input", x, min_ndim=1, floating=True)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"input must end in {self.in_features} features, got shape {tuple(x.shape)}")
        return torch.nn.functional.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def weight_normalize(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` inside ``model`` (in place) by an equivalent
    :class:`WeightNormLinear`, so ``weight_normalize(models.MLP(...))`` is the weight-normalised
    network of Salimans & Kingma (2016) computing the same function at the start. Returns ``model``."""
    check_module("model", model)
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, WeightNormLinear.from_linear(child))
        else:
            weight_normalize(child)
    return model

