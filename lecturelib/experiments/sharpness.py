r"""The runs of the sharpness chapter: minima compared at the same training loss, and the curves
behind its rescaling widget.

* :class:`LossSnapshot`: a training ``callback`` that keeps the parameters where the training loss
  first reaches a target (and measures the top Hessian eigenvalue or the per-sample gradient norms
  on the way), so that minima found by different batch sizes are compared at equal loss;
* :func:`curvature_at_target`, :func:`gradient_norms_at_target`: SGD on digits to that target
  (Keskar et al. 2017; the lecture's "individually flat" minima), for any seed;
* :class:`DescendTo`, :func:`minimum_at_loss`: the same runs continued by full-batch descent to a
  lower, common loss, where the mean gradient is small: near-stationary points compared as minima;
* the lecture's 78-parameter network is the book's one shared run,
  :func:`lecturelib.experiments.lecture_network.train_lecture_network`;
* :func:`rescaling_curves`, :func:`rescaling_sweep`: Dinh et al.'s (2017) rescaling seen by the loss
  along a random direction and by the top eigenvalue.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from .. import hessian
from .._checks import check_int, check_positive, check_tensor
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..models import MLP, rescale_layers
from ..train import History, fit

__all__ = ["TARGET", "MINIMUM_LOSS", "LossSnapshot", "DescendTo", "minimum_at_loss", "curvature_at_target", "gradient_norms_at_target",
           "rescaling_curves", "rescaling_sweep", "SWEEP_LOG10_ALPHAS"]

TARGET = 0.05  # the training loss at which the chapter compares minima
MINIMUM_LOSS = 0.012  # the lower loss to which full-batch descent continues both runs
SWEEP_LOG10_ALPHAS = tuple(k / 4 for k in range(-4, 5))  # alpha from 0.1 to 10, four per decade


class LossSnapshot:
    r"""A ``callback`` for :func:`lecturelib.train.fit` that keeps a copy of the parameters at the first
    evaluation where the mean training loss :math:`f(\theta)` on ``(X, y)`` is at most ``target``,
    so that minima reached by different optimisers can be compared *at the same training loss*.

    It returns the loss at every evaluation (``history.extras["loss"]``); with ``measure_top=True``
    also the top Hessian eigenvalue (Lanczos with a residual tolerance of 1e-2; the Ritz value's
    error is of the order of the residual squared), from the same
    :class:`~lecturelib.hessian.HessianOperator` (``extras["top_eigenvalue"]``); with
    ``measure_gradient_norms=True`` the mean per-sample gradient norm
    :math:`\frac1N\sum_i\|\nabla f_i(\theta)\|_2` (``extras["mean_gradient_norm"]``). As a
    :class:`~lecturelib.cache.RunSpec`'s ``finish``, :meth:`finish` loads the snapshot into the
    model and records its epoch; :meth:`restore` does the loading alone.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, target: float, loss_fn=None, measure_top: bool = False,
                 measure_gradient_norms: bool = False):
        check_tensor("X", X)
        check_tensor("y", y)
        check_positive("target", target)
        self.X, self.y, self.target, self.loss_fn = X, y, float(target), loss_fn
        self.measure_top, self.measure_gradient_norms = bool(measure_top), bool(measure_gradient_norms)
        self.state, self.epoch, self.loss = None, None, None

    def describe(self) -> dict:
        """What the snapshot measures, for a run's cache key."""
        return {"X": self.X, "y": self.y, "target": self.target, "loss_fn": self.loss_fn,
                "measure_top": self.measure_top, "measure_gradient_norms": self.measure_gradient_norms}

    def __call__(self, model: nn.Module, epoch: int) -> dict:
        if epoch == 0:  # a new run: forget an earlier one's snapshot
            self.state, self.epoch, self.loss = None, None, None
        operator = hessian.HessianOperator(model, self.X, self.y, self.loss_fn)
        loss = operator.loss()
        if self.state is None and loss <= self.target:
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.epoch, self.loss = epoch, loss
        measured = {"loss": loss}
        if self.measure_top:
            measured["top_eigenvalue"] = float(hessian.operator_top_eigenvalues(operator, tol=1e-2)[0])
        if self.measure_gradient_norms:
            norms = hessian.per_sample_gradient_norms(model, self.X, self.y, self.loss_fn)
            measured["mean_gradient_norm"] = float(norms.mean())
        return measured

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the snapshot into ``model`` (in place) and return it; ``RuntimeError`` if training
        never reached the target loss."""
        if self.state is None:
            raise RuntimeError(f"the training loss never reached target={self.target}; train longer or raise it")
        model.load_state_dict(self.state)
        return model

    def finish(self, model: nn.Module, history: History) -> None:
        """After training: record the snapshot's epoch as ``history.extras["snapshot_epoch"]`` and restore it."""
        history.extras["snapshot_epoch"] = [self.epoch]
        self.restore(model)


def _to_target(name: str, split: DataSplit, batch_size: int, epochs: int, eval_every: int,
               snapshot: LossSnapshot, seed: int = 0, finish=None) -> CachedRun:
    """``MLP([64, 64, 64, 10], "relu")`` by SGD (lr 0.05, momentum 0.9), kept where ``snapshot`` says."""
    name = name if seed == 0 else f"{name}-seed{seed}"
    return cached_run(RunSpec(name, split, functools.partial(MLP, [64, 64, 64, 10], "relu"), lr=0.05, momentum=0.9,
                              epochs=epochs, batch_size=batch_size, eval_every=eval_every, callback=snapshot,
                              finish=snapshot.finish if finish is None else finish, seed=seed))


def curvature_at_target(split: DataSplit, batch_size: int, epochs: int, eval_every: int,
                        target: float = TARGET, seed: int = 0, measure_top: bool = True) -> CachedRun:
    """SGD with batches of ``batch_size`` until the training loss is ``target``, with the loss and
    (``measure_top``) the top Hessian eigenvalue at every evaluation (``history.extras``)."""
    snapshot = LossSnapshot(split.X_train, split.y_train, target, measure_top=measure_top)
    suffix = "" if measure_top else "-plain"
    return _to_target(f"sharpness-digits-bs{batch_size}{suffix}", split, batch_size, epochs, eval_every, snapshot,
                      seed)


def gradient_norms_at_target(split: DataSplit, batch_size: int, epochs: int, eval_every: int,
                             target: float = TARGET) -> CachedRun:
    """SGD with batches of ``batch_size`` until the training loss is ``target``, with the loss and
    the mean per-sample gradient norm at every evaluation (``history.extras``)."""
    snapshot = LossSnapshot(split.X_train, split.y_train, target, measure_gradient_norms=True)
    return _to_target(f"sharpness-flat-bs{batch_size}", split, batch_size, epochs, eval_every, snapshot)


class DescendTo:
    r"""A :class:`~lecturelib.cache.RunSpec` ``finish``: restore ``snapshot`` (the point where the
    first run reached its target), then continue with full-batch gradient descent (SGD on the whole
    training set, lr 0.05, momentum 0.9, one step per epoch) for at most ``epochs`` steps, and keep
    the parameters where the training loss first reaches ``loss``.

    Cross-entropy has no stationary point at a positive loss, so two runs cannot both be brought to
    :math:`
abla f = 0` at the same loss. Descent to a common, lower loss is the next best thing:
    there the mean gradient :math:`\|
abla f\|` is small against the per-sample gradients
    :math:`\|
abla f_i\|`, which the chapter checks. Records ``history.extras["descent_epoch"]``
    (steps of descent) and ``["descent_loss"]`` (the loss at every step).
    """

    def __init__(self, snapshot: LossSnapshot, loss: float, epochs: int):
        check_positive("loss", loss)
        self.snapshot, self.loss, self.epochs = snapshot, float(loss), check_int("epochs", epochs, minimum=1)

    def describe(self) -> dict:
        """The snapshot, the loss and the step budget, for the run's cache key."""
        return {"snapshot": self.snapshot.describe(), "loss": self.loss, "epochs": self.epochs}

    def __call__(self, model: nn.Module, history: History) -> None:
        self.snapshot.finish(model, history)
        X, y = self.snapshot.X, self.snapshot.y
        second = LossSnapshot(X, y, self.loss)
        descent = fit(model, DataSplit(X, y, X[:1], y[:1], "training set"), lr=0.05, momentum=0.9,
                      epochs=self.epochs, eval_every=1, callback=second)
        second.restore(model)
        history.extras["descent_epoch"] = [second.epoch]
        history.extras["descent_loss"] = list(descent.extras["loss"])


def minimum_at_loss(split: DataSplit, batch_size: int, epochs: int, eval_every: int, seed: int = 0,
                    loss: float = MINIMUM_LOSS, descent_epochs: int = 700) -> CachedRun:
    """SGD with batches of ``batch_size`` to :data:`TARGET` (seeded by ``seed``), then full-batch
    descent to the training loss ``loss`` (:class:`DescendTo`): a near-stationary point."""
    snapshot = LossSnapshot(split.X_train, split.y_train, TARGET)
    return _to_target(f"sharpness-minimum-bs{batch_size}", split, batch_size, epochs, eval_every, snapshot, seed,
                      DescendTo(snapshot, loss, descent_epochs))


def rescaling_curves(model: nn.Module, X: torch.Tensor, y: torch.Tensor, alpha: float, layer: int = 0,
                     radius: float = 1.0, points: int = 41, seed: int = 0) -> dict:
    r"""For one :math:`\alpha` of :func:`lecturelib.models.rescale_layers`: the loss along one random
    unit direction :math:`d` (the same for every :math:`\alpha`) through the original and the
    rescaled parameters, :math:`f(\theta + t d)` for :math:`t \in [-r, r]`, and both top Hessian
    eigenvalues.

    Returns ``{"alpha", "t", "original", "rescaled"}`` (``(points,)`` tensors) and ``"top_original"``,
    ``"top_rescaled"``, ``"output_change"`` (the largest change of the network's outputs on ``X``).
    """
    check_int("points", points, minimum=3)
    check_positive("radius", radius)
    scaled = rescale_layers(model, alpha, layer)
    t = torch.linspace(-radius, radius, points, dtype=torch.float64)
    curves = {"alpha": float(alpha), "t": t}
    for key, net in (("original", model), ("rescaled", scaled)):
        operator = hessian.HessianOperator(net, X, y)
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(operator.size, generator=generator, dtype=torch.float64)
        direction = (direction / direction.norm()).to(operator.theta)
        curves[key] = torch.tensor([operator.loss(operator.theta + float(s) * direction) for s in t])
        curves[f"top_{key}"] = float(hessian.operator_top_eigenvalues(operator, tol=1e-8)[0])
    with torch.no_grad():
        curves["output_change"] = float((scaled(X) - model(X)).abs().max())
    return curves


def rescaling_sweep(model: nn.Module, X: torch.Tensor, y: torch.Tensor, log10_alphas=SWEEP_LOG10_ALPHAS,
                    layer: int = 0, radius: float = 1.0) -> dict:
    r""":func:`rescaling_curves` for every :math:`\alpha = 10^a`, ``a`` in ``log10_alphas``: what
    :func:`lecturelib.widgets.sharpness.rescaling_widget` shows, keyed by ``a``."""
    return {a: rescaling_curves(model, X, y, 10 ** a, layer, radius) for a in log10_alphas}
