"""lecturelib.optim.optimizers against torch.optim, the known minima, and bad hyperparameters."""

import copy
import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lecturelib import optim

# (name, ours, torch's, shared keyword settings, keywords only torch needs to match ours)
SETTINGS = [
    ("sgd", optim.SGD, torch.optim.SGD, dict(lr=0.05), {}),
    ("sgd-momentum", optim.SGD, torch.optim.SGD, dict(lr=0.03, momentum=0.9), {}),
    ("sgd-nesterov", optim.SGD, torch.optim.SGD, dict(lr=0.03, momentum=0.8, nesterov=True), {}),
    ("sgd-decay", optim.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=0.1), {}),
    ("sgd-nesterov-decay", optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.95, nesterov=True,
                                                            weight_decay=0.05), {}),
    ("adagrad", optim.AdaGrad, torch.optim.Adagrad, dict(lr=0.1), dict(lr_decay=0, initial_accumulator_value=0)),
    ("adagrad-eps", optim.AdaGrad, torch.optim.Adagrad, dict(lr=0.3, eps=1e-3), {}),
    ("rmsprop", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.01), dict(centered=False, momentum=0)),
    ("rmsprop-alpha", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.003, alpha=0.9, eps=1e-6), {}),
    ("rmsprop-alpha0", optim.RMSProp, torch.optim.RMSprop, dict(lr=0.001, alpha=0.0), {}),
    ("adam", optim.Adam, torch.optim.Adam, dict(lr=0.01), {}),
    ("adam-betas", optim.Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4), {}),
    ("adam-beta0", optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.0, 0.99)), {}),
    ("adam-l2", optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.3), {}),
    ("adamw", optim.AdamW, torch.optim.AdamW, dict(lr=0.01), {}),
    ("adamw-decay", optim.AdamW, torch.optim.AdamW, dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.5), {}),
    ("adamw-nodecay", optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.0), {}),
]
IDS = [s[0] for s in SETTINGS]
STEPS = 50


def _quadratic(seed):
    """A random positive-definite quadratic 1/2 x'Ax - b'x in 6 dimensions and a start."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    A = q @ torch.diag(torch.logspace(-1, 1, 6, dtype=torch.float64)) @ q.T
    b = torch.randn(6, generator=g, dtype=torch.float64)
    start = torch.randn(6, generator=g, dtype=torch.float64)

    def build():
        return [start.clone().requires_grad_(True)]

    def loss(params):
        x = params[0]
        return 0.5 * x @ A @ x - b @ x
    return build, loss


def _mlp(seed):
    """A 3-16-16-2 tanh MLP on 32 random points (float64)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(32, 3, generator=g, dtype=torch.float64)
    y = torch.randn(32, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)).double()

    def build():
        return list(copy.deepcopy(net).parameters())

    def loss(params):
        h = X
        for i, (w, bias) in enumerate(zip(params[0::2], params[1::2])):
            h = h @ w.T + bias
            if i < 2:
                h = torch.tanh(h)
        return ((h - y) ** 2).mean()
    return build, loss


def _run(make, build, loss, steps=STEPS):
    params = build()
    opt = make(params)
    for _ in range(steps):
        opt.zero_grad()
        loss(params).backward()
        opt.step()
    return torch.cat([p.detach().reshape(-1) for p in params])


def _relative_error(ours, theirs):
    return float(torch.linalg.vector_norm(ours - theirs) / torch.linalg.vector_norm(theirs))


@pytest.mark.parametrize("problem", [_quadratic, _mlp], ids=["quadratic", "mlp"])
@pytest.mark.parametrize("name, ours, theirs, kwargs, extra", SETTINGS, ids=IDS)
def test_equals_torch_optim(problem, name, ours, theirs, kwargs, extra):
    """50 float64 steps from the same start give the same parameters as torch.optim (rel. error <= 1e-6)."""
    build, loss = problem(3)
    mine = _run(functools.partial(ours, **kwargs), build, loss)
    reference = _run(functools.partial(theirs, **kwargs, **extra), build, loss)
    start = torch.cat([p.detach().reshape(-1) for p in build()])
    assert _relative_error(reference, start) > 1e-3, "the run must move the parameters for the test to bite"
    assert _relative_error(mine, reference) <= 1e-6


@pytest.mark.parametrize("name, ours, theirs, kwargs, extra", SETTINGS[::3], ids=IDS[::3])
def test_param_groups_and_missing_gradients(name, ours, theirs, kwargs, extra):
    """Per-group rates and a parameter without a gradient (skipped, left unchanged) match torch."""
    build, loss = _mlp(5)

    def grouped(cls, params, **extra_kwargs):
        first, rest = params[:2], params[2:-2]  # the output layer gets no gradient
        return cls([{"params": first, "lr": kwargs["lr"] / 2}, {"params": rest}, {"params": params[-2:]}],
                   **kwargs, **extra_kwargs)

    def partial_loss(params):
        return loss(params[:-2] + [p.detach() for p in params[-2:]])

    mine = _run(functools.partial(grouped, ours), build, partial_loss)
    reference = _run(functools.partial(grouped, theirs, **extra), build, partial_loss)
    start = torch.cat([p.detach().reshape(-1) for p in build()])
    assert _relative_error(mine, reference) <= 1e-6
    tail = sum(p.numel() for p in build()[-2:])
    assert torch.equal(mine[-tail:], start[-tail:])


@pytest.mark.parametrize("name, ours, theirs, kwargs, extra", SETTINGS, ids=IDS)
def test_state_dict_resumes(name, ours, theirs, kwargs, extra):
    """Saving after 20 steps and loading into a fresh optimiser continues exactly the same run."""
    build, loss = _quadratic(7)
    straight = _run(functools.partial(ours, **kwargs), build, loss, steps=40)
    params = build()
    first = ours(params, **kwargs)
    for _ in range(20):
        first.zero_grad()
        loss(params).backward()
        first.step()
    second = ours(params, **kwargs)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    for _ in range(20):
        second.zero_grad()
        loss(params).backward()
        second.step()
    assert torch.equal(params[0].detach(), straight)


def test_closure_is_evaluated_and_returned():
    x = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = optim.SGD([x], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (x ** 2).sum()
        loss.backward()
        return loss
    assert float(opt.step(closure)) == 5.0
    assert torch.allclose(x.detach(), torch.tensor([0.8, -1.6], dtype=torch.float64), rtol=0, atol=1e-15)


# Every optimiser with a rate that suits it reaches the known minimum: (make, steps, tolerance on the distance)
REACHES = {
    "ravine": [
        (functools.partial(optim.SGD, lr=0.035), 600, 1e-6),
        (functools.partial(optim.SGD, lr=0.02, momentum=0.9), 600, 1e-6),
        (functools.partial(optim.SGD, lr=0.02, momentum=0.9, nesterov=True), 600, 1e-6),
        (functools.partial(optim.AdaGrad, lr=0.5), 3000, 1e-6),
        (functools.partial(optim.RMSProp, lr=0.01), 3000, 1e-2),
        (functools.partial(optim.Adam, lr=0.05), 3000, 1e-4),
        (functools.partial(optim.AdamW, lr=0.05, weight_decay=0.0), 3000, 1e-4),
    ],
}
