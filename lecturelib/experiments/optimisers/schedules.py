r"""The runs of the optimisers chapter on learning-rate schedules and the lecture's recipe
(``book/optimisers/schedules.ipynb``).

- :func:`schedule_run`: a digits network trained by SGD under a schedule (step, exponential, 1/t decay,
  cosine with warm restarts; :mod:`lecturelib.optim.schedules`), cached;
- :func:`halving_search`: the lecture's recipe, "start with a large learning rate and divide by 2 until
  the loss does not diverge", on a subset of the data;
- :func:`recipe_run`: the lecture's closing advice, SGD with momentum, batch normalisation and dropout,
  against plain SGD and Adam, cached.
"""

from __future__ import annotations

import functools
import math

import torch

from ... import optim
from ..._checks import check_choice, check_int, check_nonnegative, check_positive, check_seed, check_type
from ...cache import CachedRun, RunSpec, cached_run
from ...data import DataSplit
from ...device import seed_everything
from ...models import MLP
from ...train import fit

__all__ = ["WIDTHS", "schedule_run", "halving_search", "RECIPES", "recipe_run"]

WIDTHS = [64, 64, 10]


def _net(split: DataSplit, **options):
    return functools.partial(MLP, [split.n_features, *WIDTHS[1:-1], split.n_classes], "relu", **options)


def schedule_run(split: DataSplit, schedule=None, lr: float = 0.5, epochs: int = 15, batch_size: int = 32,
                 momentum: float = 0.0, seed: int = 0) -> CachedRun:
    """A 64-64-10 ReLU net (:data:`WIDTHS`) trained on ``split`` by minibatch SGD at initial rate ``lr``
    times ``schedule(step)`` (``None``: constant), evaluated every epoch. Cached."""
    name = "constant" if schedule is None else type(schedule).__name__
    return cached_run(RunSpec(
        f"optimisers-schedule-{name}", split, _net(split), optimizer="sgd", lr=check_positive("lr", lr),
        momentum=check_nonnegative("momentum", momentum), schedule=schedule,
        epochs=check_int("epochs", epochs, minimum=1), batch_size=batch_size, seed=check_seed("seed", seed),
        device="cpu"))


def halving_search(split: DataSplit, start: float = 64.0, steps: int = 50, n_train: int = 300,
                   batch_size: int = 32, seed: int = 0, smallest: float = 1e-4) -> list[dict]:
    """The lecture's rate picker: train fresh nets (:data:`WIDTHS`) on the first ``n_train`` training
    images for ``steps`` SGD steps at ``start``, ``start/2``, ``start/4``, ... and stop at the first
    rate whose final training loss is finite and below the initial one (the loss "does not diverge").

    Returns one record per rate tried, ``{"lr", "initial_loss", "final_loss", "diverged"}``; the last
    is the picked rate. Raises ``RuntimeError`` if every rate down to ``smallest`` diverges.
    """
    check_type("split", split, DataSplit, "a lecturelib.data.DataSplit")
    lr, steps = check_positive("start", start), check_int("steps", steps, minimum=1)
    subset = split.subset(n_train=check_int("n_train", n_train, minimum=1))
    records = []
    while lr >= check_positive("smallest", smallest):
        seed_everything(check_seed("seed", seed))
        model = _net(subset)()
        with torch.no_grad():
            initial = float(torch.nn.functional.cross_entropy(model(subset.X_train), subset.y_train))
        history = fit(model, subset, optimizer="sgd", lr=lr, epochs=math.ceil(steps * batch_size / n_train) + 1,
                      batch_size=batch_size, max_steps=steps, seed=seed, device="cpu", progress=False,
                      eval_every=10 ** 6)
        final = history.train_loss[-1]
        diverged = not math.isfinite(final) or final >= initial
        records.append({"lr": lr, "initial_loss": initial, "final_loss": final, "diverged": diverged})
        if not diverged:
            return records
        lr /= 2
    raise RuntimeError(f"every rate from {start} down to {smallest} diverged")


RECIPES = ("SGD", "SGD + momentum", "SGD + momentum + BN + dropout", "Adam")


def recipe_run(split: DataSplit, recipe: str, epochs: int = 15, seed: int = 0, decay: bool = True) -> CachedRun:
    """The lecture's closing comparison on a 64-64-10 ReLU net: plain SGD (rate 0.5), SGD with momentum
    0.9 (rate 0.05, the same effective rate), the same with batch normalisation and dropout 0.1, and Adam
    (rate 5e-3), each at
    batch 32 for ``epochs`` epochs; with ``decay`` the rate falls exponentially by 100x over the run (the
    recipe's "decay by a factor of ~100 by the end"). Cached."""
    check_choice("recipe", recipe, RECIPES)
    epochs = check_int("epochs", epochs, minimum=1)
    steps = epochs * math.ceil(len(split.X_train) / 32)
    schedule = optim.ExponentialDecay(math.log(100) / steps) if decay else None
    options = {"SGD": ("sgd", 0.5, 0.0, {}), "SGD + momentum": ("sgd", 0.05, 0.9, {}),
               "SGD + momentum + BN + dropout": ("sgd", 0.05, 0.9, {"norm": "batch", "dropout": 0.1}),
               "Adam": ("adam", 5e-3, 0.0, {})}
    optimizer, lr, momentum, net = options[recipe]
    return cached_run(RunSpec(
        "optimisers-recipe-" + recipe.replace(" + ", "-").replace(" ", ""), split, _net(split, **net),
        optimizer=optimizer, lr=lr, momentum=momentum, schedule=schedule, epochs=epochs, batch_size=32,
        seed=check_seed("seed", seed), device="cpu"))
