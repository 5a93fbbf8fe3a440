r"""The lecture's optimisers written out from their update formulas, equal to ``torch.optim``.

Each class is a :class:`torch.optim.Optimizer` with PyTorch's hyperparameter names and
conventions, so that with the same arguments it produces the same iterates as its counterpart:

=================  ============================================================================
``SGD``            ``torch.optim.SGD`` (``dampening=0``)
``AdaGrad``        ``torch.optim.Adagrad`` (``lr_decay=0``, ``initial_accumulator_value=0``, no decay)
``RMSProp``        ``torch.optim.RMSprop`` (``centered=False``, ``momentum=0``, no decay)
``Adam``           ``torch.optim.Adam`` (``amsgrad=False``); ``bias_correction=False`` is the
                   lecture's incomplete form, which torch does not offer
``AdamW``          ``torch.optim.AdamW`` (``amsgrad=False``)
=================  ============================================================================

Throughout, :math:`g_t = \nabla f(x_{t-1})` is the gradient that ``backward()`` left in ``p.grad``
before step :math:`t = 1, 2, \dots`, :math:`\alpha` is the group's ``lr`` *at that step* (a
schedule may change it) and every operation is element-wise. Parameters whose ``grad`` is
``None`` are skipped, as in torch; sparse gradients are refused. Hyperparameters are checked for
every parameter group (``lr > 0``, ``eps > 0``, ``momentum >= 0``, ``weight_decay >= 0``, each of
``betas`` and ``alpha`` in ``[0, 1)``, NaN and infinities refused).
"""

from __future__ import annotations

import math

import torch

from .._checks import check_nonnegative, check_positive, check_real, check_type

__all__ = ["SGD", "AdaGrad", "RMSProp", "Adam", "AdamW"]


def _check_rate(name: str, value) -> float:
    """A decay rate in ``[0, 1)``: ``beta1``, ``beta2``, ``alpha``."""
    return check_real(name, value, minimum=0.0, maximum=1.0, open_max=True)


class _WrittenOut(torch.optim.Optimizer):
    """Shared plumbing: per-group checks, the closure, the loop over parameters with a gradient.

    A subclass defines ``_check_group(group)`` (checks and normalises the group's
    hyperparameters in place) and ``_update(param, grad, state, group)`` (one step of one tensor).
    """

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            for param in group["params"]:
                if torch.is_complex(param) or not torch.is_floating_point(param):
                    raise TypeError(f"{type(self).__name__} needs real floating-point parameters, got one of dtype "
                                    f"{param.dtype} and shape {tuple(param.shape)}")
            self._check_group(group)
        except (TypeError, ValueError):
            self.param_groups.pop()
            raise

    def _check_group(self, group: dict) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _update(self, param, grad, state, group) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise TypeError(f"{type(self).__name__} got a sparse gradient (parameter of shape "
                                    f"{tuple(param.shape)}); it works on dense gradients only: use a dense layer "
                                    "(e.g. nn.Embedding(sparse=False)) or torch.optim.SparseAdam")
                self._update(param, param.grad, self.state[param], group)
        return loss


class SGD(_WrittenOut):
    r"""Stochastic gradient descent with Polyak (heavy-ball) or Nesterov momentum, as ``torch.optim.SGD``.

    With ``weight_decay`` :math:`\lambda` the gradient first gets the L2 term,
    :math:`g_t \leftarrow g_t + \lambda x_{t-1}` (the gradient of :math:`\tfrac{\lambda}{2}\|x\|^2`).
    Then, with momentum :math:`\mu` and the velocity :math:`b_0 = 0`:

    .. math::

        b_t &= \mu\, b_{t-1} + g_t \\
        x_t &= x_{t-1} - \alpha\, b_t                      &&\text{(Polyak, ``nesterov=False``)} \\
        x_t &= x_{t-1} - \alpha\, (g_t + \mu\, b_t)        &&\text{(Nesterov, ``nesterov=True``)}

    and with :math:`\mu = 0` plain gradient descent :math:`x_t = x_{t-1} - \alpha g_t`.

    **The lecture's notation.** Its ``rho`` is ``momentum`` :math:`\mu` and its ``vx`` is the
    buffer :math:`b` (``vx = rho * vx + dx; x -= learning_rate * vx``), so the Polyak form is
    the lecture's line by line. Polyak (1964) writes the same recursion with the velocity in
    parameter units, :math:`v_t = \mu v_{t-1} - \alpha g_t`, :math:`x_t = x_{t-1} + v_t` (that is,
    :math:`x_t = x_{t-1} - \alpha g_t + \mu (x_{t-1} - x_{t-2})`); with a constant rate
    :math:`v = -\alpha b` and the iterates agree. Under a schedule they differ: here a change of
    rate rescales the whole accumulated velocity at once, there only the new gradients.

    Nesterov's accelerated gradient (Nesterov 1983), in the form of Sutskever et al. (2013) that the
    lecture uses, evaluates the gradient at the look-ahead
    point, :math:`v_{t+1} = \rho v_t - \alpha\nabla f(x_t + \rho v_t)`,
    :math:`x_{t+1} = x_t + v_{t+1}`, and the change of variables
    :math:`\tilde x_t = x_t + \rho v_t` turns it into an update in terms of the gradient at the
    iterate itself:

    .. math::

        v_{t+1} = \rho v_t - \alpha \nabla f(\tilde x_t), \qquad
        \tilde x_{t+1} = \tilde x_t - \rho v_t + (1 + \rho) v_{t+1}
                       = \tilde x_t + v_{t+1} + \rho (v_{t+1} - v_t).

    The parameters held here are :math:`\tilde x`. With a constant rate write
    :math:`v = -\alpha b`; then :math:`b_{t+1} = \rho b_t + \nabla f(\tilde x_t)` and
    :math:`\tilde x_{t+1} = \tilde x_t - \alpha[(1+\rho) b_{t+1} - \rho b_t]`, and
    :math:`(1+\rho) b_{t+1} - \rho b_t = b_{t+1} + \rho b_{t+1} - \rho b_t = \nabla f(\tilde x_t) + \rho b_{t+1}`,
    which is torch's Nesterov line above: the two forms give identical iterates.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay))

    def _check_group(self, group):
        group["lr"] = check_positive("lr", group["lr"])
        group["momentum"] = check_nonnegative("momentum", group["momentum"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        check_type("nesterov", group["nesterov"], bool)
        if group["nesterov"] and not group["momentum"] > 0:
            raise ValueError(f"nesterov=True needs momentum > 0, got momentum={group['momentum']}")

    def _update(self, param, grad, state, group):
        if group["weight_decay"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        mu = group["momentum"]
        if mu:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.clone()  # b_1 = mu * 0 + g_1
            else:
                state["momentum_buffer"].mul_(mu).add_(grad)
            buffer = state["momentum_buffer"]
            grad = grad.add(buffer, alpha=mu) if group["nesterov"] else buffer
        param.add_(grad, alpha=-group["lr"])


class AdaGrad(_WrittenOut):
    r"""AdaGrad (Duchi, Hazan & Singer 2011, diagonal form), as ``torch.optim.Adagrad``.

    Each coordinate's rate is divided by the root of the sum of all its squared gradients so
    far (:math:`G_0 = 0`):

    .. math::

        G_t = G_{t-1} + g_t^2, \qquad x_t = x_{t-1} - \alpha\, \frac{g_t}{\sqrt{G_t} + \epsilon}.

    The effective step :math:`\alpha / (\sqrt{G_t} + \epsilon)` can only shrink: on a long run
    it stalls. The lecture's code is the same with ``grad_squared`` for :math:`G` and
    :math:`\epsilon = 10^{-7}` (torch's default is ``1e-10``); the paper's diagonal update
    :math:`x_t = x_{t-1} - \alpha\, \mathrm{diag}(G_t)^{-1/2} g_t` has no :math:`\epsilon`, which
    only keeps the first division finite where a gradient is exactly 0.
    """

    def __init__(self, params, lr: float, eps: float = 1e-10):
        super().__init__(params, dict(lr=lr, eps=eps))

    def _check_group(self, group):
        group["lr"] = check_positive("lr", group["lr"])
        group["eps"] = check_positive("eps", group["eps"])

    def _update(self, param, grad, state, group):
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        state["sum"].addcmul_(grad, grad, value=1.0)
        param.addcdiv_(grad, state["sum"].sqrt().add_(group["eps"]), value=-group["lr"])


class RMSProp(_WrittenOut):
    r"""RMSProp (Tieleman & Hinton 2012), as ``torch.optim.RMSprop`` with ``centered=False, momentum=0``.

    AdaGrad with a leaky sum: the squared gradients are averaged with an exponential forgetting
    factor :math:`a` (``alpha``), :math:`s_0 = 0`:

    .. math::

        s_t = a\, s_{t-1} + (1 - a)\, g_t^2, \qquad x_t = x_{t-1} - \alpha\, \frac{g_t}{\sqrt{s_t} + \epsilon}.

    The lecture's ``decay_rate`` is ``alpha`` :math:`a` and its ``grad_squared`` is :math:`s`
    (with :math:`\epsilon = 10^{-7}`); the lecture's learning rate is this ``lr``. Because old
    gradients are forgotten, the effective step :math:`\alpha/(\sqrt{s_t}+\epsilon)` follows the
    recent gradient scale instead of only shrinking as AdaGrad's does.
    """

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))

    def _check_group(self, group):
        group["lr"] = check_positive("lr", group["lr"])
        group["alpha"] = _check_rate("alpha", group["alpha"])
        group["eps"] = check_positive("eps", group["eps"])

    def _update(self, param, grad, state, group):
        if "square_avg" not in state:
            state["step"] = 0
            state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        square_avg = state["square_avg"]
        square_avg.mul_(group["alpha"]).addcmul_(grad, grad, value=1 - group["alpha"])
        param.addcdiv_(grad, square_avg.sqrt().add_(group["eps"]), value=-group["lr"])


def _adam_moments(grad, state, betas):
    """Update and return Adam's moment estimates ``m_t``, ``v_t`` and the step count ``t``."""
    beta1, beta2 = betas
    if "exp_avg" not in state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(grad, memory_format=torch.preserve_format)
    state["step"] += 1
    state["exp_avg"].lerp_(grad, 1 - beta1)  # m + (1 - beta1)(g - m) = beta1 m + (1 - beta1) g
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    return state["exp_avg"], state["exp_avg_sq"], state["step"]


def _adam_step(param, m, v, t, lr, betas, eps, bias_correction=True):
    """``param -= lr * m_hat / (sqrt(v_hat) + eps)`` (or with ``m, v`` uncorrected)."""
    if bias_correction:
        beta1, beta2 = betas
        denom = (v.sqrt() / math.sqrt(1 - beta2 ** t)).add_(eps)
        param.addcdiv_(m, denom, value=-lr / (1 - beta1 ** t))
    else:
        param.addcdiv_(m, v.sqrt().add_(eps), value=-lr)


def _check_betas(betas) -> tuple[float, float]:
    check_type("betas", betas, (tuple, list), "a pair (beta1, beta2)")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {len(betas)} values: {tuple(betas)!r}")
    return _check_rate("betas[0] (beta1)", betas[0]), _check_rate("betas[1] (beta2)", betas[1])


class Adam(_WrittenOut):
    r"""Adam (Kingma & Ba 2015, Algorithm 1), as ``torch.optim.Adam``; weight decay as an L2 term.

    With ``weight_decay`` :math:`\lambda`, :math:`g_t \leftarrow g_t + \lambda x_{t-1}` (L2
    regularisation: the decay then passes through the adaptive scaling). Then, with
    :math:`m_0 = v_0 = 0`:

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
        v_t  = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t) \\
        x_t &= x_{t-1} - \alpha\, \hat m_t / (\sqrt{\hat v_t} + \epsilon).

    ``betas`` is the lecture's ``(beta1, beta2)``; its ``first_moment``/``second_moment`` are
    :math:`m, v` and ``first_unbias``/``second_unbias`` are :math:`\hat m, \hat v` (its
    :math:`\epsilon` is ``1e-7``). Torch computes :math:`\alpha/(1-\beta_1^t)\cdot m_t /
    (\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon)`, the same number: :math:`\epsilon` is added after
    the correction, as in the paper's Algorithm 1 (not its "efficient" variant with
    :math:`\hat\epsilon`).

    ``bias_correction=False`` gives the lecture's "incomplete, but close" form
    :math:`x_t = x_{t-1} - \alpha\, m_t / (\sqrt{v_t} + \epsilon)`. Since the moments start at 0
    its first step is :math:`\alpha (1-\beta_1) g_1 / (\sqrt{1-\beta_2}\,|g_1| + \epsilon)`, about
    :math:`\alpha (1-\beta_1)/\sqrt{1-\beta_2} \approx 3.16\,\alpha` per coordinate for the default
    betas, whereas the corrected first step is :math:`\alpha\, g_1/(|g_1| + \epsilon) \approx \alpha`.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 bias_correction: bool = True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      bias_correction=bias_correction))

    def _check_group(self, group):
        group["lr"] = check_positive("lr", group["lr"])
        group["betas"] = _check_betas(group["betas"])
        group["eps"] = check_positive("eps", group["eps"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])
        check_type("bias_correction", group["bias_correction"], bool)

    def _update(self, param, grad, state, group):
        if group["weight_decay"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        m, v, t = _adam_moments(grad, state, group["betas"])
        _adam_step(param, m, v, t, group["lr"], group["betas"], group["eps"], group["bias_correction"])


class AdamW(_WrittenOut):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 2), as ``torch.optim.AdamW``.

    The decay shrinks the weights directly instead of entering the gradient, so it does not pass
    through Adam's per-coordinate scaling:

    .. math::

        x_t = (1 - \alpha\lambda)\, x_{t-1} - \alpha\, \hat m_t / (\sqrt{\hat v_t} + \epsilon),

    with :math:`m, v, \hat m, \hat v` from the data gradient :math:`g_t` alone, as in :class:`Adam`.
    The paper writes :math:`x_t = x_{t-1} - \eta_t (\alpha \hat m_t/(\sqrt{\hat v_t}+\epsilon)
    + \lambda' x_{t-1})` with a schedule multiplier :math:`\eta_t`; torch (and this class) ties the
    decay to the learning rate, :math:`\lambda' = \alpha\lambda`, so ``weight_decay`` is
    :math:`\lambda = \lambda'/\alpha` and a schedule scales the decay with the rate, as
    :math:`\eta_t` does in the paper. The lecture's weight decay, :math:`s_t = \text{optimizer}(g_t)
    + 2\lambda w_t`, :math:`w_{t+1} = w_t - \alpha s_t`, is this with ``weight_decay`` :math:`= 2\lambda`.
    For SGD this is the same as L2 regularisation (:class:`SGD` with ``weight_decay``); for Adam
    it is not: under L2 (:class:`Adam` with ``weight_decay``) a weight with a large gradient
    history has a large :math:`\hat v` and so decays less.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group):
        group["lr"] = check_positive("lr", group["lr"])
        group["betas"] = _check_betas(group["betas"])
        group["eps"] = check_positive("eps", group["eps"])
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"])

    def _update(self, param, grad, state, group):
        if group["weight_decay"]:
            param.mul_(1 - group["lr"] * group["weight_decay"])
        m, v, t = _adam_moments(grad, state, group["betas"])
        _adam_step(param, m, v, t, group["lr"], group["betas"], group["eps"])
