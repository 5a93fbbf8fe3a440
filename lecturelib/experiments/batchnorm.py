r"""The runs of the chapter *Batch normalisation* (``book/batchnorm``).

- :func:`ioffe_mlp`: the network of Ioffe & Szegedy (2015, Section 4.1), three sigmoid layers of
  100 units, with or without :class:`~lecturelib.norm.BatchNorm` (or another normalisation);
- :class:`UnitInputPercentiles`: a ``fit`` callback recording percentiles of one unit's sigmoid
  input (their Figure 1b,c); :func:`steps_to_accuracy`: the "steps to 72.2%" column of their Figure 3;
- :func:`run_ioffe_experiment`: their MNIST experiment at laptop scale (``mnist_experiment.ipynb``,
  ``learning_rates.ipynb``), cached;
- :func:`smoothness_run`: Santurkar et al.'s (2018) loss landscape, gradient predictiveness and
  effective beta-smoothness along training (``smoothness.ipynb``), cached;
- :func:`running_statistics_trace`, :func:`running_statistics_traces`: what batch norm's running
  averages do over a run (Algorithm 2), for the chapter's widget.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
from torch import nn

from .._checks import check_int, check_positive, check_real, check_seed, check_tensor, check_type
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..device import model_device
from ..models import MLP
from ..norm import BatchNorm
from ..smoothness import GradientStepProbe
from ..train import History

__all__ = ["ioffe_mlp", "UnitInputPercentiles", "steps_to_accuracy", "run_ioffe_experiment", "smoothness_run",
           "running_statistics_trace", "running_statistics_traces", "TRACE_BATCH_SIZES", "TRACE_MOMENTA"]


def ioffe_mlp(n_in: int, n_classes: int, batch_norm: bool, init_std: float = 2.0, seed: int = 0,
              norm_layer=None) -> nn.Module:
    r"""The network of Ioffe & Szegedy (2015, Section 4.1): three fully connected hidden layers of
    100 sigmoid units, optionally with :class:`~lecturelib.norm.BatchNorm` before each sigmoid.

    Weights are small random Gaussians, :math:`W_{ij}\sim N(0, \text{init\_std}^2/n_\text{in})`,
    biases zero, drawn from ``torch.manual_seed(seed)``, so both variants start from the same
    weights. Returns a ``models.MLP([n_in, 100, 100, 100, n_classes], "sigmoid", norm=...)``;
    ``norm_layer`` (a ``width -> module`` callable such as :class:`~lecturelib.norm.LayerNorm`)
    replaces batch norm when given, for comparing normalisations from the same weights.
    """
    check_int("n_in", n_in, minimum=1)
    check_int("n_classes", n_classes, minimum=1)
    check_positive("init_std", init_std)
    check_type("batch_norm", batch_norm, bool, "True or False")
    if norm_layer is not None and (batch_norm or not callable(norm_layer)):
        raise ValueError(f"norm_layer must be a callable width -> module, used with batch_norm=False; "
                         f"got norm_layer={norm_layer!r}, batch_norm={batch_norm}")
    torch.manual_seed(check_seed("seed", seed))
    layer = norm_layer if norm_layer is not None else (BatchNorm if batch_norm else None)
    model = MLP([n_in, 100, 100, 100, n_classes], activation="sigmoid", norm=layer)
    with torch.no_grad():
        for linear in model.layers:
            linear.weight.normal_(0.0, init_std / linear.in_features ** 0.5)
            linear.bias.zero_()
    return model


class UnitInputPercentiles:
    r"""A ``fit`` callback recording percentiles of one unit's sigmoid input (Ioffe & Szegedy 2015,
    Figure 1b,c): the ``q``-th percentiles over ``X_probe`` of ``pre[layer][:, unit]``, the
    (normalised, if the net has BN) pre-activation of hidden layer ``layer``, in evaluation mode.

    Called as ``callback(model, epoch)``, it returns ``{"p15": float, ...}``; the model's mode is
    restored. It holds no state, so one object can serve several runs.
    """

    def __init__(self, X_probe: torch.Tensor, layer: int = -1, unit: int = 0, q=(15, 50, 85)):
        check_tensor("X_probe", X_probe, ndim=2, floating=True)
        if not isinstance(q, (tuple, list)) or not q:
            raise ValueError(f"q must be a non-empty tuple of percentiles in [0, 100], got {q!r}")
        for value in q:
            check_real("q", value, 0.0, 100.0)
        self.X_probe, self.q = X_probe, tuple(q)
        self.layer, self.unit = check_int("layer", layer), check_int("unit", unit, minimum=0)

    def describe(self) -> dict:
        return {"X_probe": self.X_probe, "layer": self.layer, "unit": self.unit, "q": list(self.q)}

    def __call__(self, model: nn.Module, epoch: int) -> dict:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            states = model.forward_with_states(self.X_probe.to(model_device(model)))
        model.train(was_training)
        pre = states["pre"][self.layer][:, self.unit]  # (probe,)
        levels = torch.tensor([v / 100 for v in self.q], dtype=torch.float64)
        values = torch.quantile(pre.double().cpu(), levels)
        return {f"p{v}": float(x) for v, x in zip(self.q, values)}


def steps_to_accuracy(history: History, target: float, steps_per_epoch: int):
    """The first training step (``epoch * steps_per_epoch``) at which ``history.test_accuracy``
    reaches ``target``, or ``None`` if it never does (the "steps to 72.2%" column of Ioffe &
    Szegedy 2015, Figure 3)."""
    check_type("history", history, History, "a lecturelib.train.History")
    check_real("target", target, 0.0, 1.0, open_min=True)
    check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    for epoch, accuracy in zip(history.epoch, history.test_accuracy):
        if accuracy >= target:
            return epoch * steps_per_epoch
    return None


def run_ioffe_experiment(split: DataSplit, batch_norm: bool, lr: float, epochs: int, batch_size: int = 60,
                         unit: int = 0, seed: int = 0, device="cpu") -> CachedRun:
    r"""Train :func:`ioffe_mlp` on ``split`` with minibatch SGD (cross-entropy, evaluated every
    epoch) and record the 15th/50th/85th percentiles of unit ``unit`` of the last hidden layer's
    sigmoid input over the test inputs (:class:`UnitInputPercentiles`), as in Ioffe & Szegedy
    (2015, Figure 1). Cached; ``history.extras`` holds ``p15``, ``p50``, ``p85`` per epoch. Small
    nets train fastest on the CPU; ``device=None`` trains on :func:`lecturelib.device.get_device`.
    """
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    return cached_run(RunSpec(
        name="bn-ioffe", data=split,
        model=partial(ioffe_mlp, split.n_features, split.n_classes, batch_norm, seed=seed),
        lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
        callback=UnitInputPercentiles(split.X_test, unit=unit), device=device))


def smoothness_run(split: DataSplit, batch_norm: bool, step_sizes, lr: float = 0.5, steps: int = 690,
                   measure_every: int = 23, batch_size: int = 60, seed: int = 0) -> dict:
    r"""Train :func:`ioffe_mlp` on ``split`` with minibatch SGD for ``steps`` steps and measure,
    every ``measure_every`` steps (step 0 included), the loss and gradient along the gradient at
    each of ``step_sizes`` (:class:`lecturelib.smoothness.GradientStepProbe`; Santurkar et al. 2018,
    Figure 4). Cached; trains on the CPU.

    Returns NumPy arrays indexed by measurement: ``"step"``, ``"train_loss"`` (minibatch loss),
    ``"loss_min"``, ``"loss_max"``, ``"grad_change_min"``, ``"grad_change_max"``,
    ``"effective_beta"``, and ``"loss"``, ``"grad_change"`` of shape ``(measurements, len(step_sizes))``.
    """
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=2, maximum=len(split.X_train))
    probe = GradientStepProbe(split.X_train, split.y_train, step_sizes, every=measure_every,
                              batch_size=batch_size, seed=seed)
    epochs = math.ceil(steps / math.ceil(len(split.X_train) / batch_size))
    run = cached_run(RunSpec(
        name="bn-santurkar", data=split,
        model=partial(ioffe_mlp, split.n_features, split.n_classes, batch_norm, seed=seed),
        lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, max_steps=steps, eval_every=epochs,
        on_step=probe, device="cpu"))
    return {key: np.array(values) for key, values in run.history.extras.items()}


def running_statistics_trace(features: torch.Tensor, batch_size: int, momentum: float, steps: int = 200,
                             seed: int = 0) -> dict:
    r"""Feed ``steps`` random minibatches of ``features`` ``(N, C)`` through a
    :class:`~lecturelib.norm.BatchNorm` and record, per step, the batch mean of channel 0, the
    running mean :math:`\hat\mu\leftarrow(1-\rho)\hat\mu+\rho\mu_\mathcal{B}` and the running
    variance (Ioffe & Szegedy 2015, Algorithm 2).

    Returns ``{"batch_mean", "running_mean", "running_var"}`` (lists of floats) plus the
    population values ``"mean"`` and ``"var"`` of channel 0 over all ``N`` rows.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        raise TypeError(f"features must be a (samples, channels) tensor, got {type(features).__name__}")
    check_int("batch_size", batch_size, minimum=2, maximum=len(features))
    check_int("steps", steps, minimum=1)
    layer = BatchNorm(features.shape[1], momentum=momentum).to(features.dtype)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    record = {"batch_mean": [], "running_mean": [], "running_var": []}
    with torch.no_grad():
        for _ in range(steps):
            batch = features[torch.randperm(len(features), generator=generator)[:batch_size]]  # (batch, C)
            layer(batch)
            record["batch_mean"].append(float(batch[:, 0].mean()))
            record["running_mean"].append(float(layer.running_mean[0]))
            record["running_var"].append(float(layer.running_var[0]))
    record["mean"] = float(features[:, 0].mean())
    record["var"] = float(features[:, 0].var())
    return record


TRACE_BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
TRACE_MOMENTA = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def running_statistics_traces(features: torch.Tensor, batch_sizes=TRACE_BATCH_SIZES, momenta=TRACE_MOMENTA,
                              steps: int = 200, seed: int = 0) -> dict:
    """:func:`running_statistics_trace` for every pair of ``batch_sizes`` and ``momenta`` (those
    at most ``len(features)``): ``{(batch_size, momentum): trace}``, what the chapter's widget draws."""
    return {(b, m): running_statistics_trace(features, b, m, steps, seed)
            for b in batch_sizes if b <= len(features) for m in momenta}
