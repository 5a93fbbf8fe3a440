r"""The runs of the chapter *Batch normalisation* (``book/batchnorm``).

- :func:`ioffe_mlp`: the network of Ioffe & Szegedy (2015, Section 4.1), three sigmoid (or ReLU)
  layers of 100 units, with or without :class:`~lecturelib.norm.BatchNorm` (or another normalisation);
- :class:`UnitInputPercentiles`: a ``fit`` callback recording percentiles of one unit's sigmoid
  input (their Figure 1b,c); :func:`steps_to_accuracy`: the "steps to 72.2%" column of their Figure 3,
  :func:`seed_table`, :func:`format_seed_table`, :func:`mean_spread`: that table over seeds;
- :func:`run_ioffe_experiment`: their MNIST experiment at laptop scale (``mnist_experiment.ipynb``,
  ``learning_rates.ipynb``, ``other_normalisations.ipynb``), cached, with any activation,
  initialisation scale, schedule or normalisation; :func:`batch_statistics_accuracy`: accuracy
  when a trained normaliser uses the statistics of small test batches (training mode);
- :func:`smoothness_run`: Santurkar et al.'s (2018) loss landscape, gradient predictiveness and
  effective beta-smoothness along training (``smoothness.ipynb``), cached;
- :func:`running_statistics_trace`, :func:`running_statistics_traces`: what batch norm's running
  averages do over a run (Algorithm 2), for the chapter's widget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from .._checks import (check_choice, check_int, check_module, check_positive, check_real, check_same_rows, check_seed,
                       check_tensor, check_type)
from ..cache import CachedRun, RunSpec, cached_run
from ..data import DataSplit
from ..device import model_device
from ..models import MLP
from ..norm import BatchNorm
from ..smoothness import GradientStepProbe
from ..train import History

__all__ = ["ioffe_mlp", "UnitInputPercentiles", "steps_to_accuracy", "run_ioffe_experiment",
           "seed_table", "mean_spread", "format_seed_table", "batch_statistics_accuracy", "smoothness_run",
           "running_statistics_trace", "running_statistics_traces", "TRACE_BATCH_SIZES", "TRACE_MOMENTA"]


ACTIVATIONS = ("sigmoid", "relu")


def ioffe_mlp(n_in: int, n_classes: int, batch_norm: bool, init_std: float = 2.0, seed: int = 0,
              norm_layer=None, activation: str = "sigmoid") -> nn.Module:
    r"""The network of Ioffe & Szegedy (2015, Section 4.1): three fully connected hidden layers of
    100 sigmoid units, optionally with :class:`~lecturelib.norm.BatchNorm` before each sigmoid.
    ``activation="relu"`` puts ReLUs in place of the sigmoids (the nonlinearity of their Inception
    network, Section 4.2).

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
    check_choice("activation", activation, ACTIVATIONS)
    if norm_layer is not None and (batch_norm or not callable(norm_layer)):
        raise ValueError(f"norm_layer must be a callable width -> module, used with batch_norm=False; "
                         f"got norm_layer={norm_layer!r}, batch_norm={batch_norm}")
    torch.manual_seed(check_seed("seed", seed))
    layer = norm_layer if norm_layer is not None else (BatchNorm if batch_norm else None)
    model = MLP([n_in, 100, 100, 100, n_classes], activation=activation, norm=layer)
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


def seed_table(histories: dict, target: float, steps_per_epoch: int) -> dict:
    """Ioffe & Szegedy's Figure 3 columns over seeds: for ``histories = {name: [History per seed]}``,
    ``{name: {"steps": [steps to target or None per seed], "best": [best test accuracy per seed]}}``."""
    if not isinstance(histories, dict) or not histories:
        raise TypeError(f"histories must be a non-empty dict name -> list of History, got {type(histories).__name__}")
    table = {}
    for name, runs in histories.items():
        if not isinstance(runs, (list, tuple)) or not runs:
            raise TypeError(f"histories[{name!r}] must be a non-empty list of History (one per seed)")
        table[name] = {"steps": [steps_to_accuracy(h, target, steps_per_epoch) for h in runs],
                       "best": [max(h.test_accuracy) for h in runs]}
    return table


def mean_spread(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of the finite numbers ``values``."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"values must be a non-empty sequence of finite numbers, got {list(values)!r}")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def format_seed_table(table: dict, rates: dict, label: str = "lr") -> str:
    """:func:`seed_table` as text, one row per model: the learning rate ``rates[name]`` (or
    another setting, headed ``label``), the steps
    to the target as mean ± standard deviation over the seeds that reach it (with how many do) and
    per seed, and the best test accuracy as mean ± standard deviation."""
    lines = [f"{'model':18s} {label:>5s}  {'steps to target':>22s} {'per seed':>19s}  {'best accuracy':>15s}"]
    for name, row in table.items():
        reached = [s for s in row["steps"] if s is not None]
        if not reached:
            steps = "never"
        else:
            mean, sd = mean_spread(reached)
            steps = f"{mean:.0f} ± {sd:.0f}" + ("" if len(reached) == len(row["steps"])
                                                 else f" ({len(reached)}/{len(row['steps'])} seeds)")
        per_seed = ", ".join("never" if s is None else str(s) for s in row["steps"])
        mean, sd = mean_spread(row["best"])
        lines.append(f"{name:18s} {rates[name]:5.2f}  {steps:>22s} {per_seed:>19s}  {mean:9.3f} ± {sd:.3f}")
    return "\n".join(lines)


def run_ioffe_experiment(split: DataSplit, batch_norm: bool, lr: float, epochs: int, batch_size: int = 60,
                         unit: int = 0, seed: int = 0, device="cpu", activation: str = "sigmoid",
                         init_std: float = 2.0, schedule=None, norm_layer=None) -> CachedRun:
    r"""Train :func:`ioffe_mlp` on ``split`` with minibatch SGD (cross-entropy, evaluated every
    epoch) and record the 15th/50th/85th percentiles of unit ``unit`` of the last hidden layer's
    sigmoid input over the test inputs (:class:`UnitInputPercentiles`), as in Ioffe & Szegedy
    (2015, Figure 1). Cached; ``history.extras`` holds ``p15``, ``p50``, ``p85`` per epoch. Small
    nets train fastest on the CPU; ``device=None`` trains on :func:`lecturelib.device.get_device`.

    ``activation``, ``init_std`` and ``norm_layer`` go to :func:`ioffe_mlp` (``norm_layer`` must be
    describable for the cache key: a class or a ``functools.partial`` of one, such as
    ``partial(norm.GroupNorm, 4)``); ``schedule`` (e.g. :class:`lecturelib.optim.WarmupLinearDecay`) to ``train.fit``.
    """
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    extra = {}  # only non-default settings enter the network's description, so earlier keys stay valid
    if activation != "sigmoid":
        extra["activation"] = activation
    if init_std != 2.0:
        extra["init_std"] = init_std
    if norm_layer is not None:
        extra["norm_layer"] = norm_layer
    return cached_run(RunSpec(
        name="bn-ioffe", data=split,
        model=partial(ioffe_mlp, split.n_features, split.n_classes, batch_norm, seed=seed, **extra),
        lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, schedule=schedule,
        callback=UnitInputPercentiles(split.X_test, unit=unit), device=device))


def batch_statistics_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Accuracy of ``model`` on ``X`` ``(N, features)``, labels ``y`` ``(N,)``, in *training* mode, fed
    in consecutive batches of ``batch_size`` (the remainder dropped), so every batch-norm layer
    normalises with the statistics of those few samples as it does during training. The running
    averages (which training mode updates) and the model's mode are restored afterwards."""
    check_module("model", model)
    check_tensor("X", X, ndim=2, floating=True)
    check_tensor("y", y, ndim=1)
    check_same_rows(("X", "y"), X, y)
    batch_size = check_int("batch_size", batch_size, minimum=2, maximum=len(X))
    was_training = model.training
    saved = {name: buffer.clone() for name, buffer in model.named_buffers()}
    model.train()
    correct, seen = 0, 0
    with torch.no_grad():
        for start in range(0, len(X) - batch_size + 1, batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            correct += int((model(xb).argmax(1) == yb).sum())
            seen += len(yb)
        for name, buffer in model.named_buffers():
            buffer.copy_(saved[name])
    model.train(was_training)
    return correct / seen


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
