r"""The runs of the optimisers chapter on adaptive methods and weight decay
(``book/optimisers/adaptive_methods.ipynb``, ``weight_decay.ipynb``).

- :func:`torch_agreement`: the written-out AdaGrad, RMSProp and Adam against ``torch.optim`` on a
  float64 digits network;
- :class:`EffectiveStep` and :func:`effective_step_run`: the per-coordinate effective step
  :math:`\alpha/(\sqrt{G_t}+\epsilon)` of AdaGrad (Duchi et al. 2011) or RMSProp (Tieleman & Hinton
  2012) along a digits run;
- :func:`stall_runs`: AdaGrad against RMSProp from the same first step on Rosenbrock's valley;
- :func:`adam_first_step`, :func:`optimiser_properties`: Adam's first step with and without bias
  correction (Kingma & Ba 2015), and the lecture's comparison table probed from behaviour;
- :func:`decay_iterates`, :func:`shrinkage_by_history`, :func:`decay_run`: L2 regularisation
  against decoupled weight decay (Loshchilov & Hutter 2019).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ... import optim
from ..._checks import check_choice, check_int, check_nonnegative, check_positive, check_seed, check_tensor
from ...cache import CachedRun, RunSpec, cached_run
from ...data import DataSplit
from ...device import preserved_torch_state, seed_everything
from ...models import MLP
from ...train import History, fit

__all__ = ["DIGITS_WIDTHS", "torch_agreement", "EffectiveStep", "effective_step_run", "stall_runs",
           "adam_first_step", "PROPERTY_NAMES", "optimiser_properties", "decay_iterates", "shrinkage_by_history",
           "DeadPixelWeights", "decay_run"]

DIGITS_WIDTHS = [64, 32, 10]

_PAIRS = {
    "AdaGrad": (functools.partial(optim.AdaGrad, lr=0.05), functools.partial(torch.optim.Adagrad, lr=0.05)),
    "RMSProp": (functools.partial(optim.RMSProp, lr=0.002), functools.partial(torch.optim.RMSprop, lr=0.002)),
    "Adam": (functools.partial(optim.Adam, lr=0.005), functools.partial(torch.optim.Adam, lr=0.005)),
    "Adam + L2": (functools.partial(optim.Adam, lr=0.005, weight_decay=0.1),
                  functools.partial(torch.optim.Adam, lr=0.005, weight_decay=0.1)),
    "AdamW": (functools.partial(optim.AdamW, lr=0.005, weight_decay=0.1),
              functools.partial(torch.optim.AdamW, lr=0.005, weight_decay=0.1)),
}


def _full_batch_steps(model, X, y, optimizer, steps, l2=0.0, decoupled=0.0):
    """``steps`` full-batch steps of cross-entropy (+ ``l2/2 |theta|^2`` in the loss; decoupled decay
    ``theta <- (1 - lr decoupled) theta`` before each step); the iterates as flat vectors."""
    params = list(model.parameters())
    iterates = [torch.cat([p.detach().reshape(-1) for p in params])]
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(X), y)
        if l2:
            loss = loss + 0.5 * l2 * sum((p * p).sum() for p in params)
        loss.backward()
        if decoupled:
            with torch.no_grad():
                for group in optimizer.param_groups:
                    for p in group["params"]:
                        p.mul_(1 - group["lr"] * decoupled)
        optimizer.step()
        iterates.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return torch.stack(iterates)


def _digits_net(split: DataSplit, seed: int):
    seed_everything(seed)
    return MLP([split.n_features, 32, split.n_classes], "relu").double()


def torch_agreement(split: DataSplit, steps: int = 50, seed: int = 0) -> dict[str, float]:
    """For AdaGrad, RMSProp, Adam, Adam with L2 and AdamW: the largest relative difference
    ``max_t |theta_t - theta_t^torch| / max_t |theta_t^torch|`` between the written-out optimiser of
    :mod:`lecturelib.optim` and ``torch.optim`` over ``steps`` full-batch steps of a float64 digits net
    (first 256 training images) from the same initialisation."""
    steps = check_int("steps", steps, minimum=1)
    X, y = split.X_train[:256].double(), split.y_train[:256]
    out = {}
    with preserved_torch_state():
        for name, (ours, theirs) in _PAIRS.items():
            runs = []
            for make in (ours, theirs):
                model = _digits_net(split, check_seed("seed", seed))
                runs.append(_full_batch_steps(model, X, y, make(model.parameters()), steps))
            out[name] = float((runs[0] - runs[1]).abs().max() / runs[1].abs().max())
    return out


class EffectiveStep:
    r"""An ``on_step`` hook for :func:`~lecturelib.train.fit`: the effective step
    :math:`\alpha/(\sqrt{s}+\epsilon)` of every coordinate of an AdaGrad (``s = G``, state ``sum``) or
    RMSProp (``s`` = state ``square_avg``) optimiser. Returns its median over the coordinates that have
    seen a nonzero gradient (``s > 0``; the weights of always-blank pixels never do) and the number of
    coordinates whose effective step grew since the previous call (0 at every step for AdaGrad)."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer, self.previous = optimizer, None

    def _steps(self):
        parts, seen = [], []
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                state = self.optimizer.state.get(p, {})
                s = state.get("sum", state.get("square_avg"))
                s = torch.zeros_like(p) if s is None else s
                parts.append(group["lr"] / (s.sqrt() + group["eps"]).reshape(-1))
                seen.append((s > 0).reshape(-1))
        return torch.cat(parts), torch.cat(seen)

    def __call__(self, model, step):
        current, seen = self._steps()
        grew = 0 if self.previous is None else int((current > self.previous).sum())
        self.previous = current
        return {"median_step": float(current[seen].median()) if bool(seen.any()) else math.nan, "grew": grew}


def effective_step_run(split: DataSplit, method: str, lr: float, epochs: int = 10, batch_size: int = 64,
                       seed: int = 0) -> History:
    """A digits net (:data:`DIGITS_WIDTHS`) trained with ``method`` (``"AdaGrad"`` or ``"RMSProp"``)
    while :class:`EffectiveStep` records its effective steps (``history.extras``: ``median_step``,
    ``grew``, one entry per step, step 0 included). Short and not cached."""
    classes = {"AdaGrad": optim.AdaGrad, "RMSProp": optim.RMSProp}
    check_choice("method", method, classes)
    seed_everything(check_seed("seed", seed))
    model = MLP([split.n_features, *DIGITS_WIDTHS[1:-1], split.n_classes], "relu")
    optimizer = classes[method](model.parameters(), lr=check_positive("lr", lr))
    return fit(model, split, optimizer=optimizer, epochs=epochs, batch_size=batch_size, seed=seed, device="cpu",
               on_step=EffectiveStep(optimizer), progress=False)


def stall_runs(seeds=(0, 1, 2), steps: int = 3000, first_step: float = 0.1) -> dict:
    r"""AdaGrad and RMSProp on Rosenbrock's valley from starts ``(-1.5, 1.5) + 0.5 N(0, I)`` (one per
    seed), with the same first step ``first_step`` per coordinate: AdaGrad's first step is its ``lr``
    (:math:`g/\sqrt{g^2}`), RMSProp's is ``lr / sqrt(1 - alpha) = 10 lr``. Returns
    ``{seed: {"start": ..., "AdaGrad": Trajectory, "RMSProp": Trajectory}}``."""
    steps = check_int("steps", steps, minimum=1)
    first_step = check_positive("first_step", first_step)
    function = optim.rosenbrock()
    out = {}
    for seed in seeds:
        generator = torch.Generator().manual_seed(check_seed("seed", seed))
        start = tuple((torch.tensor([-1.5, 1.5], dtype=torch.float64)
                       + 0.5 * torch.randn(2, generator=generator, dtype=torch.float64)).tolist())
        out[seed] = {"start": start,
                     "AdaGrad": optim.trajectory(function, functools.partial(optim.AdaGrad, lr=first_step), start,
                                                 steps),
                     "RMSProp": optim.trajectory(function, functools.partial(optim.RMSProp, lr=first_step / 10),
                                                 start, steps)}
    return out


def adam_first_step(lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, bias_correction: bool = True,
                    gradient: float = 1.0) -> float:
    """The size of :class:`lecturelib.optim.Adam`'s first step on one float64 parameter whose gradient
    is ``gradient``: about ``lr`` with bias correction, ``lr (1 - beta1)/sqrt(1 - beta2)`` without."""
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = optim.Adam([parameter], lr=check_positive("lr", lr), betas=betas, eps=eps,
                           bias_correction=bias_correction)
    parameter.grad = torch.full_like(parameter, float(gradient))
    optimizer.step()
    return float(parameter.detach().abs())


PROPERTY_NAMES = ("tracks first moments (momentum)", "tracks second moments (adaptive rates)",
                  "leaky second moments", "bias correction")


def _steps_for(make_optimizer, gradients):
    """Each step's displacement of one float64 parameter fed the given gradients."""
    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([parameter])
    moves = []
    for g in gradients:
        before = parameter.detach().clone()
        parameter.grad = torch.full_like(parameter, float(g))
        optimizer.step()
        moves.append(float(parameter.detach() - before))
    return moves


def optimiser_properties(make_optimizer, memory: int = 5000) -> dict[str, bool]:
    """The lecture's comparison table for one optimiser, probed from its steps on one parameter:

    * first moments: after a gradient of 1 and then 0 it still moves (a velocity or ``m``);
    * second moments: its first step is the same for gradients 1 and 100 (scale-free);
    * leaky: adaptive, and after ``memory`` gradients of 10 followed by ``memory`` gradients of 1 its
      step is at least half the step after ``memory`` gradients of 1 alone (old gradients forgotten);
    * bias correction: it tracks a moment, and under a constant gradient its step is the same from the
      first step on (the estimates start unbiased instead of at 0).
    """
    memory = check_int("memory", memory, minimum=10)
    first = _steps_for(make_optimizer, [1.0, 0.0])[1] != 0.0
    small, large = _steps_for(make_optimizer, [1.0])[0], _steps_for(make_optimizer, [100.0])[0]
    adaptive = math.isclose(small, large, rel_tol=1e-6)
    leaky = False
    if adaptive:
        fresh = _steps_for(make_optimizer, [1.0] * memory)[-1]
        after = _steps_for(make_optimizer, [10.0] * memory + [1.0] * memory)[-1]
        leaky = abs(after) >= 0.5 * abs(fresh)
    constant = _steps_for(make_optimizer, [1.0] * 20)
    unbiased = (first or adaptive) and all(math.isclose(s, constant[0], rel_tol=1e-6) for s in constant)
    return dict(zip(PROPERTY_NAMES, (first, adaptive, leaky, unbiased)))


# ------------------------------------------------------------------ L2 regularisation and weight decay

def decay_iterates(split: DataSplit, method: str, lam: float = 0.05, lr: float = 0.05, momentum: float = 0.0,
                   steps: int = 30, seed: int = 0) -> dict[str, torch.Tensor]:
    r"""The iterates ``(steps + 1, P)`` of a float64 digits net (first 256 training images, full batch)
    under three ways of shrinking the weights with coefficient ``lam`` :math:`=\lambda`:

    * ``"L2 in the loss"``: the penalty :math:`\tfrac\lambda2\|\theta\|^2` added to the loss (autograd);
    * ``"weight_decay argument"``: the optimiser's own ``weight_decay=lam`` (``optim.SGD`` or
      ``optim.Adam``: :math:`g \leftarrow g + \lambda\theta`);
    * ``"decoupled"``: :math:`\theta \leftarrow (1 - \alpha\lambda)\theta` before each step of the
      undecayed optimiser (SGDW, or ``optim.AdamW``, Loshchilov & Hutter 2019).

    ``method`` is ``"SGD"`` (with ``momentum``) or ``"Adam"`` (``momentum`` must be 0).
    """
    check_choice("method", method, ("SGD", "Adam"))
    lam, lr = check_positive("lam", lam), check_positive("lr", lr)
    momentum, steps = check_nonnegative("momentum", momentum), check_int("steps", steps, minimum=1)
    if method == "Adam" and momentum:
        raise ValueError(f"momentum={momentum} applies to SGD only; Adam's betas set its averaging")
    X, y = split.X_train[:256].double(), split.y_train[:256]
    plain = (functools.partial(optim.SGD, lr=lr, momentum=momentum) if method == "SGD"
             else functools.partial(optim.Adam, lr=lr))
    ways = {"L2 in the loss": (plain, lam, 0.0),
            "weight_decay argument": (functools.partial(plain, weight_decay=lam), 0.0, 0.0),
            "decoupled": ((plain, 0.0, lam) if method == "SGD"
                          else (functools.partial(optim.AdamW, lr=lr, weight_decay=lam), 0.0, 0.0))}
    out = {}
    with preserved_torch_state():
        for name, (make, l2, decoupled) in ways.items():
            model = _digits_net(split, check_seed("seed", seed))
            out[name] = _full_batch_steps(model, X, y, make(model.parameters()), steps, l2=l2, decoupled=decoupled)
    return out


def shrinkage_by_history(scales, lam: float = 1e-4, lr: float = 1e-3, history: int = 200, seed: int = 0) -> dict:
    r"""How much one step of Adam + L2 and of AdamW shrinks each weight, by its gradient history.

    Coordinate ``i`` of a float64 parameter (all ones) first sees ``history`` steps of gradients
    :math:`N(0, s_i^2)` (``scales``) under plain Adam. Then one more step with gradient
    :math:`N(0, s_i^2)` is taken three ways from that state: without decay, with L2 (gradient
    :math:`+\lambda\theta`) and with decoupled decay (AdamW). The shrinkage of a way is the
    difference of its step and the undecayed one, per unit weight. To first order in
    :math:`\lambda`, AdamW's is :math:`\alpha\lambda` for every weight and L2's is
    :math:`\alpha\lambda (1-\beta_1)/(1-\beta_1^t) / (\sqrt{\hat v_i}+\epsilon)`: a large gradient
    history (large :math:`\hat v_i`) means less decay. Returns ``scales``, ``v_hat`` (after the last
    step, without decay), ``l2``, ``decoupled`` and ``predicted_l2``, each a float64 tensor.
    """
    scales = torch.as_tensor(scales, dtype=torch.float64)
    check_tensor("scales", scales, ndim=1, nonempty=True)
    if not bool((scales > 0).all()):
        raise ValueError(f"scales must be positive, got {scales.tolist()}")
    lam, lr = check_positive("lam", lam), check_positive("lr", lr)
    history = check_int("history", history, minimum=1)
    generator = torch.Generator().manual_seed(check_seed("seed", seed))
    gradients = scales * torch.randn(history + 1, len(scales), generator=generator, dtype=torch.float64)
    parameter = torch.ones(len(scales), dtype=torch.float64, requires_grad=True)
    adam = optim.Adam([parameter], lr=lr)
    for g in gradients[:-1]:
        parameter.grad = g.clone()
        adam.step()
    start, state = parameter.detach().clone(), adam.state_dict()
    after = {}
    for way, make in (("none", functools.partial(optim.Adam, lr=lr)),
                      ("l2", functools.partial(optim.Adam, lr=lr, weight_decay=lam)),
                      ("decoupled", functools.partial(optim.AdamW, lr=lr, weight_decay=lam))):
        probe = start.clone().requires_grad_(True)
        optimizer = make([probe])
        loaded = {"state": {0: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state["state"][0].items()}},
                  "param_groups": optimizer.state_dict()["param_groups"]}
        optimizer.load_state_dict(loaded)
        probe.grad = gradients[-1].clone()
        optimizer.step()
        after[way] = (probe.detach(), optimizer.state[probe])
    t = after["none"][1]["step"]
    t = int(t.item()) if isinstance(t, torch.Tensor) else int(t)
    beta1, beta2 = 0.9, 0.999
    v_hat = after["none"][1]["exp_avg_sq"] / (1 - beta2 ** t)
    return {"scales": scales, "v_hat": v_hat,
            "l2": (after["none"][0] - after["l2"][0]) / start,
            "decoupled": (after["none"][0] - after["decoupled"][0]) / start,
            "predicted_l2": lr * lam * (1 - beta1) / (1 - beta1 ** t) / (v_hat.sqrt() + 1e-8)}


class DeadPixelWeights:
    """A ``fit`` callback: the root-mean-square first-layer weight on the input pixels that are 0 in
    every training image (``dead``, their data gradient is exactly 0) and on the others (``live``)."""

    def __init__(self, X_train: torch.Tensor):
        check_tensor("X_train", X_train, ndim=2, floating=True)
        self.dead = (X_train == 0).all(dim=0)

    def describe(self) -> dict:
        return {"dead": self.dead}

    def __call__(self, model, epoch):
        weight = model.layers[0].weight.detach()
        return {"dead_rms": float(weight[:, self.dead].pow(2).mean().sqrt()),
                "live_rms": float(weight[:, ~self.dead].pow(2).mean().sqrt()),
                "weight_norm": float(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).norm())}


DECAY_KINDS = ("Adam", "Adam + L2", "AdamW")


def decay_run(split: DataSplit, kind: str, lam: float = 0.1, lr: float = 0.01, epochs: int = 20,
              batch_size: int = 64, seed: int = 0) -> CachedRun:
    """A digits net (:data:`DIGITS_WIDTHS`) trained with plain Adam, Adam with L2 (``weight_decay=lam``
    in the gradient) or AdamW (decoupled ``weight_decay=lam``), recording :class:`DeadPixelWeights`
    every epoch. Cached."""
    check_choice("kind", kind, DECAY_KINDS)
    makers = {"Adam": functools.partial(optim.Adam, lr=lr),
              "Adam + L2": functools.partial(optim.Adam, lr=lr, weight_decay=check_positive("lam", lam)),
              "AdamW": functools.partial(optim.AdamW, lr=lr, weight_decay=lam)}
    return cached_run(RunSpec(
        f"optimisers-decay-{kind.replace(' + ', '-')}", split,
        functools.partial(MLP, [split.n_features, *DIGITS_WIDTHS[1:-1], split.n_classes], "relu"),
        optimizer=makers[kind], lr=check_positive("lr", lr), epochs=check_int("epochs", epochs, minimum=1),
        batch_size=batch_size, seed=check_seed("seed", seed), callback=DeadPixelWeights(split.X_train),
        device="cpu"))
