r"""The runs of the regularisation chapter's pages on multi-task learning, ensembles, averaging and dropout.

- :class:`TwoHeadNet`, :func:`multitask_loss`, :func:`multitask_split`, :func:`multitask_run`: a shared
  trunk with a head for the digit and a head for an auxiliary label of every image (Caruana 1997),
  when only a few digit labels are known; ``aux_weight=0`` is the single-task net on the same steps;
- :func:`classifier_run`: one cached MLP on a classification split (an ensemble member, or a net with
  dropout); :func:`ensemble_probabilities` stacks the members' softmax outputs;
- :func:`regression_ensemble`: ``K`` nets on the 1-D regression, trained together as one
  :class:`~lecturelib.models.StackedMLP`;
- :func:`ema_run`: constant-rate SGD with an exponential moving average of the weights kept beside it
  (:class:`lecturelib.regularization.EMAHook`); :func:`noisy_quadratic` simulates the same on
  :math:`f(x) = \tfrac h2 x^2` with noisy gradients, and :func:`ema_variance_ratio` is the predicted
  shrinkage of the stationary variance;
- :func:`regulariser_run`, :func:`regulariser_grid`: the 1-D regression fitted with no regulariser, L2,
  L1 (proximal steps), dropout or input noise at several strengths, for the chapter's widget.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..._checks import check_choice, check_int, check_nonnegative, check_positive, check_real, check_seed, check_type
from ...cache import CachedRun, RunSpec, cached_run
from ...data import DataSplit, augmentation
from ...models import MLP, StackedMLP
from ...params import norm as parameter_norm
from ...regularization import EMAHook, ExponentialMovingAverage, l1_proximal_step
from ...train import fit_stacked

__all__ = ["AUXILIARY_TASKS", "TwoHeadNet", "multitask_loss", "multitask_split", "multitask_run", "main_task_accuracy",
           "classifier_run", "ensemble_probabilities", "monte_carlo_probabilities", "regression_ensemble", "ema_run", "noisy_quadratic",
           "ema_variance_ratio", "REGULARISERS", "STRENGTHS", "L1ProximalHook", "NoisyInputMLP", "regulariser_run",
           "regulariser_grid"]


# ------------------------------------------------------------------ multi-task learning

def _greater_than_four(y: torch.Tensor) -> torch.Tensor:
    return (y > 4).long()


def _parity(y: torch.Tensor) -> torch.Tensor:
    return y % 2


AUXILIARY_TASKS = {"greater_than_4": (_greater_than_four, 2), "parity": (_parity, 2)}  # name -> (labels, classes)


class TwoHeadNet(nn.Module):
    r"""A shared trunk :math:`h = \mathrm{ReLU}(W_2\,\mathrm{ReLU}(W_1 x + b_1) + b_2)` (two layers of
    ``width`` units) and two linear heads on it, the main task's ``n_main`` logits and the auxiliary
    task's ``n_aux``; ``forward`` returns both, concatenated, shape ``(batch, n_main + n_aux)``. The
    trunk and the main head are one ``MLP([n_in, width, width, n_main], "relu")`` (``self.net``), so
    without the auxiliary head this is the single-task net."""

    def __init__(self, n_in: int, width: int, n_main: int, n_aux: int):
        super().__init__()
        self.n_main = check_int("n_main", n_main, minimum=2)
        width = check_int("width", width, minimum=1)
        self.net = MLP([check_int("n_in", n_in, minimum=1), width, width, n_main], "relu")
        self.aux = nn.Linear(width, check_int("n_aux", n_aux, minimum=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = self.net.forward_with_states(x)
        return torch.cat([states["output"], self.aux(states["post"][-1])], dim=1)


def multitask_loss(outputs: torch.Tensor, targets: torch.Tensor, n_main: int, aux_weight: float) -> torch.Tensor:
    r"""Cross-entropy of the main head on the samples whose main label is known, plus ``aux_weight``
    times the auxiliary head's cross-entropy on every sample:
    :math:`\frac1{|M|}\sum_{i\in M} L(u_i^{\text{main}}, y_i) + w\,\frac1N\sum_i L(u_i^{\text{aux}}, a_i)`.
    ``targets`` is ``(N, 2)`` float: the main label (``-1`` where unknown) and the auxiliary label."""
    main, aux = targets[:, 0].long(), targets[:, 1].long()
    known = main >= 0
    loss = F.cross_entropy(outputs[known, :n_main], main[known]) if bool(known.any()) else outputs.sum() * 0.0
    if aux_weight:
        loss = loss + aux_weight * F.cross_entropy(outputs[:, n_main:], aux)
    return loss


def multitask_split(split: DataSplit, labels_per_class: int, seed: int = 0,
                    auxiliary: str = "greater_than_4") -> DataSplit:
    """``split`` with ``(N, 2)`` float targets: the digit, kept for ``labels_per_class`` training images
    of each class drawn with ``seed`` (``-1`` elsewhere, every test label kept), and the auxiliary label
    of every image (:data:`AUXILIARY_TASKS`)."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    if not split.is_classification:
        raise ValueError("multitask_split needs a classification split (integer labels)")
    labels_per_class = check_int("labels_per_class", labels_per_class, minimum=1)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    task, _ = AUXILIARY_TASKS[check_choice("auxiliary", auxiliary, AUXILIARY_TASKS)]
    main = split.y_train.clone()
    known = torch.zeros(len(main), dtype=torch.bool)
    for label in torch.unique(main):
        members = torch.nonzero(main == label).flatten()
        known[members[torch.randperm(len(members), generator=generator)[:labels_per_class]]] = True
    main[~known] = -1

    def targets(y_main, y):
        return torch.stack([y_main, task(y)], dim=1).float()

    return DataSplit(split.X_train, targets(main, split.y_train), split.X_test, targets(split.y_test, split.y_test),
                     f"{split.description}, {labels_per_class} digit labels per class, auxiliary {auxiliary}")


def multitask_run(split: DataSplit, labels_per_class: int, aux_weight: float, seed: int = 0,
                  auxiliary: str = "greater_than_4", width: int = 64, epochs: int = 30, lr: float = 3e-3,
                  batch_size: int = 128) -> CachedRun:
    """Train :class:`TwoHeadNet` with Adam on :func:`multitask_split` (the labels drawn with ``seed``,
    which also seeds the weights and the batches) and :func:`multitask_loss`; cached. ``aux_weight=0``
    trains the single-task net: the same network and steps, the auxiliary head never used."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    aux_weight = check_nonnegative("aux_weight", aux_weight)
    tasks = multitask_split(split, labels_per_class, seed, auxiliary)
    n_main = split.n_classes
    return cached_run(RunSpec(
        name="reg-multitask", data=tasks,
        model=partial(TwoHeadNet, split.n_features, width, n_main, AUXILIARY_TASKS[auxiliary][1]),
        optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, eval_every=max(epochs, 1),
        loss_fn=partial(multitask_loss, n_main=n_main, aux_weight=aux_weight), device="cpu"))


@torch.no_grad()
def main_task_accuracy(model: TwoHeadNet, X: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of ``X`` whose main-head prediction equals the label ``y``."""
    check_type("model", model, TwoHeadNet, "a TwoHeadNet")
    model.eval()
    return float((model(X)[:, :model.n_main].argmax(1) == y).double().mean())


# ------------------------------------------------------------------ ensembles

def classifier_run(split: DataSplit, widths, seed: int = 0, dropout: float = 0.0, epochs: int = 40,
                   lr: float = 1e-3, batch_size: int = 50, activation: str = "relu") -> CachedRun:
    """One ``MLP(widths, activation, dropout=dropout)`` trained with Adam (cross-entropy); ``seed``
    sets the initial weights, the batch order and the dropout masks. Cached."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    return cached_run(RunSpec(
        name="reg-classifier", data=split, model=partial(MLP, list(widths), activation, dropout=dropout),
        optimizer="adam", lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, eval_every=max(epochs, 1), device="cpu"))


@torch.no_grad()
def ensemble_probabilities(members, X: torch.Tensor) -> torch.Tensor:
    """Each member's softmax output on ``X`` in evaluation mode, stacked: ``(members, N, classes)``, float64."""
    if not members:
        raise ValueError("members must be a non-empty list of networks")
    out = []
    for member in members:
        member.eval()
        out.append(torch.softmax(member(X).double(), dim=1))
    return torch.stack(out)


@torch.no_grad()
def monte_carlo_probabilities(model: nn.Module, X: torch.Tensor, masks: int = 100, seed: int = 0) -> torch.Tensor:
    """Softmax outputs of ``masks`` forward passes of ``model`` in training mode, each with fresh dropout
    masks drawn after ``torch.manual_seed(seed)``: ``(masks, N, classes)``, float64. Their mean is the
    Monte Carlo estimate of the ensemble over masks (Srivastava et al. 2014); the caller's random
    stream and the model's mode are left as they were."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    masks = check_int("masks", masks, minimum=1)
    was_training = model.training
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_seed("seed", seed))
        model.train()
        out = torch.stack([torch.softmax(model(X).double(), dim=1) for _ in range(masks)])
    model.train(was_training)
    return out


def regression_ensemble(split: DataSplit, members: int = 8, widths=(1, 64, 64, 1), first_seed: int = 0,
                        epochs: int = 1500, lr: float = 0.01, activation: str = "tanh") -> CachedRun:
    """``members`` nets ``widths`` with seeds ``first_seed, first_seed + 1, ...``, trained together
    (full-batch Adam, each on its own squared error) as one :class:`~lecturelib.models.StackedMLP`
    in float64; cached. ``run.model.to_mlps()`` gives the members."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    members = check_int("members", members, minimum=2)
    seeds = [check_seed("first_seed", first_seed) + m for m in range(members)]
    data64 = DataSplit(split.X_train.double(), split.y_train.double(), split.X_test.double(), split.y_test.double(),
                       split.description)
    return cached_run(RunSpec(
        name="reg-regression-ensemble", data=data64,
        model=partial(StackedMLP.from_seeds, [list(widths)] * members, activation, seeds=seeds, dtype=torch.float64),
        optimizer="adam", lr=lr, epochs=epochs, seed=first_seed, eval_every=max(epochs, 1), trainer=fit_stacked,
        device="cpu"))


# ------------------------------------------------------------------ averaging the weights

def ema_run(split: DataSplit, widths, lr: float = 0.2, decay: float = 0.995, seed: int = 0, epochs: int = 30,
            batch_size: int = 16) -> CachedRun:
    """Constant-rate minibatch SGD on ``MLP(widths, "relu")`` with the lecture's running average
    :math:`x_{\\text{test}} \\leftarrow \\beta x_{\\text{test}} + (1-\\beta)x` after every step
    (:class:`~lecturelib.regularization.EMAHook`). Cached; the stored model is the last iterate, and
    ``history.extras["ema_test_loss"]``/``["ema_test_accuracy"]`` hold the average's test results at
    the end of every epoch (the last entry is the end of training)."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    steps_per_epoch = -(-len(split.X_train) // batch_size)
    hook = EMAHook(decay, data=split, every=steps_per_epoch)
    return cached_run(RunSpec(
        name="reg-ema", data=split, model=partial(MLP, list(widths), "relu"), lr=lr, epochs=epochs,
        batch_size=batch_size, seed=seed, eval_every=1, on_step=hook, device="cpu"))


def ema_variance_ratio(curvature: float, lr: float, decay: float) -> float:
    r"""The stationary variance of the averaged iterate over that of the SGD iterate on
    :math:`f(x) = \tfrac h2 x^2` with gradient noise: with :math:`a = 1 - \eta h`,

    .. math:: \frac{\operatorname{Var} \bar x}{\operatorname{Var} x} = \frac{(1-\beta)(1 + a\beta)}{(1+\beta)(1 - a\beta)}.

    Needs :math:`0 < \eta h < 2` (a stable iteration)."""
    a = 1.0 - check_positive("lr", lr) * check_positive("curvature", curvature)
    if not -1.0 < a < 1.0:
        raise ValueError(f"lr * curvature must lie in (0, 2) for SGD to have a stationary distribution, got "
                         f"{lr * curvature}")
    beta = check_real("decay", decay, minimum=0.0, maximum=1.0, open_max=True)
    return (1 - beta) * (1 + a * beta) / ((1 + beta) * (1 - a * beta))


@torch.no_grad()
def noisy_quadratic(curvature: float = 1.0, lr: float = 0.1, noise: float = 1.0, decay: float = 0.995,
                    chains: int = 4000, steps: int = 3000, seed: int = 0) -> dict:
    r"""SGD on :math:`f(x) = \tfrac h2 x^2` with noisy gradients :math:`g = h x + \sigma\xi`,
    :math:`\xi\sim N(0, 1)`, in ``chains`` independent copies (float64, from :math:`x_0 = 0`), each with
    an :class:`~lecturelib.regularization.ExponentialMovingAverage` of its iterate. Returns the
    variances over the chains of the iterate and of the average after ``steps`` steps, the predicted
    stationary variance of the iterate :math:`\eta\sigma^2 / (h(2 - \eta h))`, and their ratio's
    prediction :func:`ema_variance_ratio`."""
    curvature, lr, noise = check_positive("curvature", curvature), check_positive("lr", lr), check_positive("noise", noise)
    predicted_ratio = ema_variance_ratio(curvature, lr, decay)
    chains, steps = check_int("chains", chains, minimum=2), check_int("steps", steps, minimum=1)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    iterate = nn.Module()
    iterate.x = nn.Parameter(torch.zeros(chains, dtype=torch.float64))
    average = ExponentialMovingAverage(iterate, decay)
    x = iterate.x.data
    for _ in range(steps):
        gradient = curvature * x + noise * torch.randn(chains, generator=generator, dtype=torch.float64)
        x.sub_(lr * gradient)
        average.update(iterate)
    var_x, var_avg = float(x.var()), float(average.averaged.x.var())
    return {"var_iterate": var_x, "var_average": var_avg, "ratio": var_avg / var_x,
            "predicted_var_iterate": lr * noise ** 2 / (curvature * (2 - lr * curvature)),
            "predicted_ratio": predicted_ratio}


# ------------------------------------------------------------------ the regulariser explorer

REGULARISERS = ("none", "l2", "l1", "dropout", "noise")
# the strengths the widget offers: L2 and L1 penalty lambda, dropout's drop probability, input-noise std
STRENGTHS = {"none": (0.0,), "l2": (1e-4, 1e-3, 1e-2, 1e-1), "l1": (1e-4, 1e-3, 1e-2, 1e-1),
             "dropout": (0.1, 0.2, 0.3, 0.5), "noise": (0.05, 0.1, 0.2, 0.4)}


class L1ProximalHook:
    r"""An ``on_step`` hook that follows every optimiser step with the L1 proximal step on the weight
    matrices (not the biases), :math:`W \leftarrow \operatorname{sign}(W)\max(|W| - \eta\lambda, 0)`
    (:func:`lecturelib.regularization.l1_proximal_step`); with plain SGD this is proximal gradient descent
    on :math:`L + \lambda\sum\|W\|_1`."""

    def __init__(self, lam: float, lr: float):
        self.lam, self.lr = check_nonnegative("lam", lam), check_positive("lr", lr)

    def __call__(self, model: nn.Module, step: int):
        if step == 0:
            return None
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("weight"):
                    parameter.copy_(l1_proximal_step(parameter, self.lr * self.lam))
        return None

    def describe(self) -> dict:
        return {"lam": self.lam, "lr": self.lr}


class NoisyInputMLP(MLP):
    """An :class:`~lecturelib.models.MLP` that adds Gaussian noise of standard deviation ``noise_std`` to
    its input in training mode (:func:`lecturelib.data.augmentation.add_noise`), and none in evaluation."""

    def __init__(self, widths, activation: str = "tanh", noise_std: float = 0.1):
        super().__init__(widths, activation)
        self.noise_std = check_nonnegative("noise_std", noise_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise_std:
            x = augmentation.add_noise(x, self.noise_std)
        return super().forward(x)


def regulariser_run(split: DataSplit, kind: str, strength: float, widths=(1, 64, 64, 1), activation: str = "tanh",
                    epochs: int = 1500, lr: float = 0.01, seed: int = 0) -> CachedRun:
    """Full-batch SGD with momentum 0.9 on the regression ``split`` with one regulariser (cached):
    ``"none"``; ``"l2"``, the penalty :math:`\\tfrac\\lambda2\\|\\theta\\|^2` as weight decay;
    ``"l1"``, :class:`L1ProximalHook`; ``"dropout"`` with drop probability ``strength``; ``"noise"``,
    input noise of standard deviation ``strength`` (:class:`NoisyInputMLP`)."""
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    kind = check_choice("kind", kind, REGULARISERS)
    strength = check_nonnegative("strength", strength)
    widths = list(widths)
    model = partial(MLP, widths, activation)
    weight_decay, on_step = 0.0, None
    if kind == "l2":
        weight_decay = strength
    elif kind == "l1":
        on_step = L1ProximalHook(strength, lr)
    elif kind == "dropout":
        model = partial(MLP, widths, activation, dropout=strength)
    elif kind == "noise":
        model = partial(NoisyInputMLP, widths, activation, noise_std=strength)
    return cached_run(RunSpec(
        name=f"reg-explorer-{kind}", data=split, model=model, lr=lr, momentum=0.9, weight_decay=weight_decay,
        epochs=epochs, seed=seed, eval_every=max(epochs, 1), on_step=on_step, device="cpu"))


def regulariser_grid(split: DataSplit, strengths: dict | None = None, points: int = 200, **run_options) -> dict:
    """:func:`regulariser_run` for every regulariser and strength (:data:`STRENGTHS` by default): a dict
    ``(kind, strength) -> {"grid", "prediction", "weight_norm", "zero_weights", "train_mse", "test_mse"}``
    (NumPy arrays and floats, what the widget draws). ``grid`` spans the data's inputs, ``points`` of them."""
    strengths = STRENGTHS if strengths is None else strengths
    points = check_int("points", points, minimum=2)
    low = float(min(split.X_train.min(), split.X_test.min()))
    high = float(max(split.X_train.max(), split.X_test.max()))
    grid = torch.linspace(low, high, points).reshape(-1, 1)
    results = {}
    for kind, values in strengths.items():
        for strength in values:
            run = regulariser_run(split, kind, strength, **run_options)
            model = run.model.eval()
            weights = torch.cat([p.detach().flatten() for name, p in model.named_parameters() if name.endswith("weight")])
            with torch.no_grad():
                prediction = model(grid).flatten().numpy()
            results[(kind, strength)] = {
                "grid": grid.flatten().numpy(), "prediction": prediction,
                "weight_norm": parameter_norm(model), "zero_weights": int((weights == 0).sum()),
                "train_mse": run.history.train_loss[-1], "test_mse": run.history.test_loss[-1]}
    return results
