r"""Learning-rate schedules: ``schedule(step) -> factor`` on the initial rate.

Each schedule is a frozen dataclass; ``schedule(step)`` is the factor :math:`\eta_t` by which
every initial learning rate :math:`\alpha_0` is multiplied before optimiser step ``step``
(0-based), so the rate of step :math:`t` is :math:`\alpha_t = \alpha_0\,\eta_t` with
:math:`\eta_0 = 1`. These are the semantics of ``torch.optim.lr_scheduler.LambdaLR`` stepped
once per optimiser step, and of ``lecturelib.train.fit(schedule=...)`` and
``cache.RunSpec(schedule=...)`` (``describe()`` gives the key).

=========================  =====================================================================
``StepDecay``              :math:`\eta_t = \text{factor}^{\lfloor t / \text{every} \rfloor}` (torch ``StepLR``)
``ExponentialDecay``       :math:`\eta_t = e^{-k t}`, the lecture's :math:`\alpha_0 e^{-kt}` (``ExponentialLR``,
                           ``gamma`` :math:`= e^{-k}`)
``InverseTimeDecay``       :math:`\eta_t = 1 / (1 + k t)`, the lecture's :math:`\alpha_0 / (1 + kt)`
``CosineWarmRestarts``     SGDR (Loshchilov & Hutter 2017), torch ``CosineAnnealingWarmRestarts``
``MultiStepDecay``         :math:`\eta_t = \text{factor}^{\#\{m \in \text{milestones}: m \le t\}}` (``MultiStepLR``)
``WarmupLinearDecay``      :math:`\eta_t = \min(1, \frac{t+1}{w})\max(0, 1 - \frac{t}{T})`, torch ``LinearLR``
                           warm-up chained with a ``LinearLR`` decay
=========================  =====================================================================
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .._checks import check_int, check_nonnegative, check_real

__all__ = ["StepDecay", "MultiStepDecay", "ExponentialDecay", "InverseTimeDecay", "CosineWarmRestarts",
           "WarmupLinearDecay"]


def _check_step(step) -> int:
    return check_int("step", step, minimum=0)


class _Schedule:
    """``describe()`` for the cache key: the class's fields as a dict."""

    def describe(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class StepDecay(_Schedule):
    r"""Step decay: multiply the rate by ``factor`` every ``every`` steps,
    :math:`\eta_t = \text{factor}^{\lfloor t/\text{every} \rfloor}`.

    The lecture's "decay learning rate by half every few epochs" is ``factor=0.5`` with
    ``every`` = a few epochs' worth of steps. Equals ``StepLR(step_size=every, gamma=factor)``.
    """

    every: int
    factor: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "every", check_int("every", self.every, minimum=1))
        object.__setattr__(self, "factor", check_real("factor", self.factor, minimum=0.0, maximum=1.0,
                                                      open_min=True))

    def __call__(self, step: int) -> float:
        return self.factor ** (_check_step(step) // self.every)


@dataclass(frozen=True)
class MultiStepDecay(_Schedule):
    r"""Multiply the rate by ``factor`` at each of the steps ``milestones``,
    :math:`\eta_t = \text{factor}^{\#\{m \in \text{milestones}:\, m \le t\}}`.

    The schedule of most CIFAR-10 training scripts: He et al. (2016) divide the rate by 10 at 32k
    and 48k steps, Li et al.'s (2018) script at epochs 150, 225 and 275 of 300. Equals
    ``MultiStepLR(milestones=milestones, gamma=factor)``.
    """

    milestones: tuple
    factor: float = 0.1

    def __post_init__(self):
        if not isinstance(self.milestones, (tuple, list)) or not self.milestones:
            raise ValueError(f"milestones must be a non-empty list of increasing step counts, got {self.milestones!r}")
        milestones = tuple(check_int(f"milestones[{i}]", m, minimum=1) for i, m in enumerate(self.milestones))
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"milestones must increase, got {milestones!r}")
        object.__setattr__(self, "milestones", milestones)
        object.__setattr__(self, "factor", check_real("factor", self.factor, minimum=0.0, maximum=1.0,
                                                      open_min=True))

    def __call__(self, step: int) -> float:
        step = _check_step(step)
        return self.factor ** sum(1 for m in self.milestones if m <= step)


@dataclass(frozen=True)
class ExponentialDecay(_Schedule):
    r"""Exponential decay :math:`\eta_t = e^{-k t}` with ``rate`` :math:`k \ge 0`: the lecture's
    :math:`\alpha = \alpha_0 e^{-kt}`. Equals ``ExponentialLR(gamma=math.exp(-rate))``.

    A decay by a factor :math:`D` over :math:`T` steps is ``rate = math.log(D) / T``.
    """

    rate: float

    def __post_init__(self):
        object.__setattr__(self, "rate", check_nonnegative("rate", self.rate))

    def __call__(self, step: int) -> float:
        return math.exp(-self.rate * _check_step(step))


@dataclass(frozen=True)
class InverseTimeDecay(_Schedule):
    r"""1/t decay :math:`\eta_t = 1/(1 + k t)` with ``rate`` :math:`k \ge 0`: the lecture's
    :math:`\alpha = \alpha_0/(1 + kt)`.

    Its rates sum to infinity while their squares do not (:math:`\sum 1/t = \infty`,
    :math:`\sum 1/t^2 < \infty`), the Robbins–Monro conditions under which SGD converges.
    """

    rate: float

    def __post_init__(self):
        object.__setattr__(self, "rate", check_nonnegative("rate", self.rate))

    def __call__(self, step: int) -> float:
        return 1.0 / (1.0 + self.rate * _check_step(step))


@dataclass(frozen=True)
class CosineWarmRestarts(_Schedule):
    r"""Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017, eq. 5).

    Cycle :math:`i = 0, 1, \dots` lasts :math:`T_i = T_0 \cdot T_\text{mult}^{\,i}` steps
    (``period`` :math:`T_0`, ``multiplier`` :math:`T_\text{mult}`); :math:`T_\text{cur}` steps into
    a cycle the factor is

    .. math::

        \eta_t = \eta_\min + \tfrac12 (1 - \eta_\min)\left(1 + \cos\frac{\pi T_\text{cur}}{T_i}\right),

    falling from 1 towards ``minimum`` :math:`\eta_\min` (a fraction of the initial rate) and
    jumping back to 1 at each restart. The paper's :math:`\eta^i_\max`, :math:`\eta^i_\min` are
    :math:`\alpha_0` and :math:`\eta_\min\alpha_0`. Equals
    ``CosineAnnealingWarmRestarts(T_0=period, T_mult=multiplier, eta_min=minimum * lr)``
    stepped once per optimiser step.
    """

    period: int
    multiplier: int = 1
    minimum: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "period", check_int("period", self.period, minimum=1))
        object.__setattr__(self, "multiplier", check_int("multiplier", self.multiplier, minimum=1))
        object.__setattr__(self, "minimum", check_real("minimum", self.minimum, minimum=0.0, maximum=1.0))

    def cycle(self, step: int) -> tuple[int, int]:
        """``(T_cur, T_i)``: how far into its cycle ``step`` is, and that cycle's length."""
        step = _check_step(step)
        if self.multiplier == 1:
            return step % self.period, self.period
        length, start = self.period, 0
        while step >= start + length:  # cycles grow geometrically: a few dozen iterations at most
            start, length = start + length, length * self.multiplier
        return step - start, length

    def __call__(self, step: int) -> float:
        into, length = self.cycle(step)
        return self.minimum + 0.5 * (1.0 - self.minimum) * (1.0 + math.cos(math.pi * into / length))


@dataclass(frozen=True)
class WarmupLinearDecay(_Schedule):
    r"""A linear warm-up over ``warmup`` steps, then a linear decay to zero at step ``total``,

    .. math::

        \eta_t = \min\Big(1, \frac{t+1}{\text{warmup}}\Big)\,\max\Big(0, 1-\frac{t}{\text{total}}\Big).

    The warm-up keeps the first steps at a high rate from throwing the untrained network far;
    Ioffe & Szegedy (2015, Section 4.2.1) decay the rate faster when they raise it. Equals
    ``ChainedScheduler([LinearLR(start_factor=1/warmup, total_iters=warmup - 1),
    LinearLR(start_factor=1, end_factor=0, total_iters=total)])``.
    """

    warmup: int
    total: int

    def __post_init__(self):
        object.__setattr__(self, "warmup", check_int("warmup", self.warmup, minimum=1))
        object.__setattr__(self, "total", check_int("total", self.total, minimum=1))

    def __call__(self, step: int) -> float:
        step = _check_step(step)
        return min(1.0, (step + 1) / self.warmup) * max(0.0, 1.0 - step / self.total)
