"""lecturelib.optim.optimizers against torch.optim, the known minima, and bad hyperparameters."""

import copy
import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lecturelib import cache, data, models, optim

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
    assert float(opt.step(closure).detach()) == 5.0
    assert torch.allclose(x.detach(), torch.tensor([0.8, -1.6], dtype=torch.float64), rtol=0, atol=1e-15)


# Every optimiser, with a rate that suits it, reaches the known minimum from the same start:
# (function, start, make, steps, tolerance on the final distance to the minimum). Momentum,
# AdaGrad and Adam converge linearly here, so their tolerances are tight; RMSProp with a constant
# rate ends in a cycle of about its rate around the minimum (its step is ~ lr * sign(g) near it),
# so its tolerance is the rate; plain SGD and AdaGrad crawl along Rosenbrock's valley and get the
# most steps.
P = functools.partial
REACHES = [
    ("ravine", (-2.5, 1.0), P(optim.SGD, lr=0.035), 1000, 1e-9),
    ("ravine", (-2.5, 1.0), P(optim.SGD, lr=0.02, momentum=0.9), 1000, 1e-9),
    ("ravine", (-2.5, 1.0), P(optim.SGD, lr=0.02, momentum=0.9, nesterov=True), 1000, 1e-9),
    ("ravine", (-2.5, 1.0), P(optim.AdaGrad, lr=0.5), 1000, 1e-9),
    ("ravine", (-2.5, 1.0), P(optim.RMSProp, lr=1e-3), 4000, 1e-3),
    ("ravine", (-2.5, 1.0), P(optim.Adam, lr=0.05), 1000, 1e-9),
    ("ravine", (-2.5, 1.0), P(optim.AdamW, lr=0.05, weight_decay=0.0), 1000, 1e-9),
    ("rosenbrock", (-1.5, 2.0), P(optim.SGD, lr=1.5e-3), 20000, 1e-4),
    ("rosenbrock", (-1.5, 2.0), P(optim.SGD, lr=1e-3, momentum=0.9), 4000, 1e-5),
    ("rosenbrock", (-1.5, 2.0), P(optim.SGD, lr=1e-3, momentum=0.9, nesterov=True), 4000, 1e-5),
    ("rosenbrock", (-1.5, 2.0), P(optim.AdaGrad, lr=1.0), 20000, 1e-4),
    ("rosenbrock", (-1.5, 2.0), P(optim.RMSProp, lr=1e-3, alpha=0.999), 20000, 1e-3),
    ("rosenbrock", (-1.5, 2.0), P(optim.Adam, lr=0.02), 5000, 1e-6),
    ("rosenbrock", (-1.5, 2.0), P(optim.AdamW, lr=0.02, weight_decay=0.0), 5000, 1e-6),
]


@pytest.mark.parametrize("function, start, make, steps, tolerance", REACHES,
                         ids=[f"{r[0]}-{r[2].func.__name__}-{i}" for i, r in enumerate(REACHES)])
def test_reaches_the_known_minimum(function, start, make, steps, tolerance):
    f = optim.FUNCTIONS[function]
    path = optim.trajectory(f, make, start, steps)
    distance = path.distance_to(f.minima[0])
    assert float(distance[0]) > 1.0
    assert float(distance[-1]) <= tolerance


X = torch.zeros(3, dtype=torch.float64, requires_grad=True)
BAD = [
    (optim.SGD, dict(lr=0.0), ValueError, "lr"),
    (optim.SGD, dict(lr=-0.1), ValueError, "lr"),
    (optim.SGD, dict(lr=math.nan), ValueError, "lr"),
    (optim.SGD, dict(lr=math.inf), ValueError, "lr"),
    (optim.SGD, dict(lr="0.1"), TypeError, "lr"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), ValueError, "momentum"),
    (optim.SGD, dict(lr=0.1, momentum=math.nan), ValueError, "momentum"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    (optim.SGD, dict(lr=0.1, nesterov=True), ValueError, "nesterov"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov"),
    (optim.AdaGrad, dict(lr=0.1, eps=0.0), ValueError, "eps"),
    (optim.AdaGrad, dict(lr=-1.0), ValueError, "lr"),
    (optim.RMSProp, dict(lr=0.1, alpha=1.0), ValueError, "alpha"),
    (optim.RMSProp, dict(lr=0.1, alpha=-0.1), ValueError, "alpha"),
    (optim.RMSProp, dict(lr=0.1, alpha=math.nan), ValueError, "alpha"),
    (optim.RMSProp, dict(lr=0.1, eps=-1e-8), ValueError, "eps"),
    (optim.Adam, dict(lr=0.1, betas=(1.0, 0.999)), ValueError, "beta1"),
    (optim.Adam, dict(lr=0.1, betas=(0.9, 1.0)), ValueError, "beta2"),
    (optim.Adam, dict(lr=0.1, betas=(-0.1, 0.999)), ValueError, "beta1"),
    (optim.Adam, dict(lr=0.1, betas=(math.nan, 0.999)), ValueError, "beta1"),
    (optim.Adam, dict(lr=0.1, betas=(0.9,)), ValueError, "betas"),
    (optim.Adam, dict(lr=0.1, betas=0.9), TypeError, "betas"),
    (optim.Adam, dict(lr=0.1, eps=0.0), ValueError, "eps"),
    (optim.Adam, dict(lr=0.1, weight_decay=-0.1), ValueError, "weight_decay"),
    (optim.Adam, dict(lr=0.1, bias_correction="no"), TypeError, "bias_correction"),
    (optim.AdamW, dict(lr=0.1, weight_decay=math.inf), ValueError, "weight_decay"),
    (optim.AdamW, dict(lr=0.1, betas=(0.9, 1.5)), ValueError, "beta2"),
    (optim.AdamW, dict(lr=math.nan), ValueError, "lr"),
]


@pytest.mark.parametrize("cls, kwargs, error, name", BAD, ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_hyperparameters_are_refused(cls, kwargs, error, name):
    with pytest.raises(error, match=name):
        cls([X], **kwargs)


def test_a_bad_group_override_is_refused_and_leaves_no_group():
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([{"params": [X], "lr": -1.0}], lr=0.1)
    opt = optim.SGD([X], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "momentum": -1.0})
    assert len(opt.param_groups) == 1


def test_integer_parameters_and_sparse_gradients_are_refused():
    with pytest.raises(TypeError, match="floating-point"):
        optim.SGD([torch.zeros(3, dtype=torch.long)], lr=0.1)
    embedding = nn.Embedding(5, 2, sparse=True)
    opt = optim.Adam(embedding.parameters(), lr=0.1)
    embedding(torch.tensor([1, 3])).sum().backward()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()


finite = st.floats(-10, 10, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(finite, min_size=3, max_size=3), min_size=1, max_size=12),
       st.floats(1e-3, 1.0))
def test_adagrad_effective_rate_only_shrinks(gradients, lr):
    """lr / (sqrt(G_t) + eps) is non-increasing in t, for any gradients (its stall on long runs)."""
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = optim.AdaGrad([x], lr=lr)
    previous = torch.full((3,), math.inf, dtype=torch.float64)
    for g in gradients:
        x.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        rate = lr / (opt.state[x]["sum"].sqrt() + 1e-10)
        assert bool((rate <= previous).all())
        previous = rate


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=4, max_size=4), st.floats(1e-3, 1.0), st.floats(0.0, 0.99), st.floats(0.0, 0.9999))
def test_adam_first_step(gradient, lr, beta1, beta2):
    """Corrected: lr g / (|g| + eps), about lr; uncorrected: lr (1 - b1) g / (sqrt(1 - b2) |g| + eps)."""
    g = torch.tensor(gradient, dtype=torch.float64)
    steps = {}
    for corrected in (True, False):
        x = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        opt = optim.Adam([x], lr=lr, betas=(beta1, beta2), bias_correction=corrected)
        x.grad = g.clone()
        opt.step()
        steps[corrected] = -x.detach()
    torch.testing.assert_close(steps[True], lr * g / (g.abs() + 1e-8), rtol=1e-12, atol=0)
    expected = lr * (1 - beta1) * g / (math.sqrt(1 - beta2) * g.abs() + 1e-8)
    torch.testing.assert_close(steps[False], expected, rtol=1e-12, atol=0)
    if (beta1, beta2) == (0.9, 0.999):
        assert abs(float(steps[False].abs().max()) / lr - 0.1 / math.sqrt(0.001)) < 1e-4


@settings(max_examples=30, deadline=None)
@given(st.floats(1e-3, 0.1), st.floats(0.0, 0.95), st.booleans(), st.floats(0.0, 1.0))
def test_sgd_weight_decay_is_l2_regularisation(lr, momentum, nesterov, decay):
    """SGD's weight_decay=lambda gives the iterates of SGD on f + lambda/2 |x|^2 (the lecture's equivalence)."""
    nesterov = nesterov and momentum > 0
    build, loss = _quadratic(11)
    decayed = _run(P(optim.SGD, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=decay), build, loss, 30)
    l2 = _run(P(optim.SGD, lr=lr, momentum=momentum, nesterov=nesterov),
              build, lambda params: loss(params) + decay / 2 * (params[0] ** 2).sum(), 30)
    torch.testing.assert_close(decayed, l2, rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(1e-3, 0.1), st.floats(0.0, 2.0), st.integers(1, 20))
def test_adamw_decay_without_gradient_is_geometric(lr, decay, steps):
    """With a zero data gradient AdamW only decays: x_t = (1 - lr * weight_decay)^t x_0."""
    x0 = torch.tensor([1.5, -0.5], dtype=torch.float64)
    x = x0.clone().requires_grad_(True)
    opt = optim.AdamW([x], lr=lr, weight_decay=decay)
    for _ in range(steps):
        x.grad = torch.zeros_like(x)
        opt.step()
    torch.testing.assert_close(x.detach(), (1 - lr * decay) ** steps * x0, rtol=1e-12, atol=0)


def _lecture_loop(update, steps=STEPS, seed=3):
    """Iterates of the lecture's pseudocode ``x, state = update(x, grad(x), state, t)`` on the quadratic."""
    build, loss = _quadratic(seed)
    x = build()[0].detach()
    state = {}
    for t in range(1, steps + 1):
        xg = x.clone().requires_grad_(True)
        (dx,) = torch.autograd.grad(loss([xg]), xg)
        x = update(x, dx, state, t)
    return x


def _lecture_momentum(x, dx, s, t, rho=0.9, lr=0.03):
    s["vx"] = rho * s.get("vx", 0) + dx
    return x - lr * s["vx"]


def _lecture_nesterov(x, dx, s, t, rho=0.8, lr=0.03):
    old_v = s.get("v", torch.zeros_like(x))
    s["v"] = rho * old_v - lr * dx
    return x - rho * old_v + (1 + rho) * s["v"]


def _lecture_adagrad(x, dx, s, t, lr=0.1):
    s["g2"] = s.get("g2", 0) + dx * dx
    return x - lr * dx / (s["g2"].sqrt() + 1e-7)


def _lecture_rmsprop(x, dx, s, t, decay_rate=0.9, lr=0.003):
    s["g2"] = decay_rate * s.get("g2", 0) + (1 - decay_rate) * dx * dx
    return x - lr * dx / (s["g2"].sqrt() + 1e-7)


def _lecture_adam(x, dx, s, t, beta1=0.9, beta2=0.999, lr=0.01, unbias=True):
    s["m"] = beta1 * s.get("m", 0) + (1 - beta1) * dx
    s["v"] = beta2 * s.get("v", 0) + (1 - beta2) * dx * dx
    m, v = (s["m"] / (1 - beta1 ** t), s["v"] / (1 - beta2 ** t)) if unbias else (s["m"], s["v"])
    return x - lr * m / (v.sqrt() + 1e-7)


LECTURE = [
    ("momentum", _lecture_momentum, P(optim.SGD, lr=0.03, momentum=0.9)),
    ("nesterov", _lecture_nesterov, P(optim.SGD, lr=0.03, momentum=0.8, nesterov=True)),
    ("adagrad", _lecture_adagrad, P(optim.AdaGrad, lr=0.1, eps=1e-7)),
    ("rmsprop", _lecture_rmsprop, P(optim.RMSProp, lr=0.003, alpha=0.9, eps=1e-7)),
    ("adam", _lecture_adam, P(optim.Adam, lr=0.01, eps=1e-7)),
    ("adam-incomplete", P(_lecture_adam, unbias=False), P(optim.Adam, lr=0.01, eps=1e-7, bias_correction=False)),
]


@pytest.mark.parametrize("name, update, make", LECTURE, ids=[entry[0] for entry in LECTURE])
def test_equals_the_lecture_code(name, update, make):
    """The lecture's pseudocode (its names, its eps = 1e-7) gives the same iterates as the class."""
    build, loss = _quadratic(3)
    assert _relative_error(_run(make, build, loss), _lecture_loop(update)) <= 1e-12


def test_nesterov_equals_sutskevers_look_ahead_form():
    """v <- rho v - lr grad f(x + rho v), x <- x + v, seen through x~ = x + rho v, is torch's Nesterov."""
    build, loss = _quadratic(3)
    rho, lr = 0.8, 0.03
    x = build()[0].detach()
    v = torch.zeros_like(x)
    for _ in range(STEPS):
        ahead = (x + rho * v).requires_grad_(True)
        (g,) = torch.autograd.grad(loss([ahead]), ahead)
        v = rho * v - lr * g
        x = x + v
    ours = _run(P(optim.SGD, lr=lr, momentum=rho, nesterov=True), build, loss)
    assert _relative_error(ours, x + rho * v) <= 1e-12


def test_a_cached_run_with_lecturelib_optimisers_is_keyed_by_their_hyperparameters():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, generator=g), torch.randn(40, 1, generator=g)
    split = data.DataSplit(X[:30], y[:30], X[30:], y[30:])

    def spec(decay):
        return cache.RunSpec("optim-key", split, P(models.MLP, [3, 8, 1], "tanh"),
                             optimizer=P(optim.AdamW, lr=0.01, weight_decay=decay),
                             schedule=optim.CosineWarmRestarts(period=3), epochs=4, batch_size=10)
    first = cache.cached_run(spec(0.1))
    again = cache.cached_run(spec(0.1))
    other = cache.cached_run(spec(0.2))
    assert not first.from_cache and again.from_cache and not other.from_cache
    assert again.history.train_loss == first.history.train_loss
    assert cache.run_key(spec(0.1)) != cache.run_key(spec(0.2))
    assert "lecturelib.optim.optimizers.AdamW" in str(spec(0.1).describe()["optimizer"])
