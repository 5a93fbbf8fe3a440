"""The optimisers chapter, adaptive part: its exercise checkers (against planted mistakes, each named
by its hint) and its runs (lecturelib.experiments.optimisers.adaptive) against torch.optim, closed
forms and plain lecturelib.train.fit."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib.exercises import optimisers as checkers  # noqa: E402


# ------------------------------------------------------------------ check_nesterov_update

def nesterov_right(x, v, grad_fn, lr, momentum):
    v = momentum * v - lr * grad_fn(x + momentum * v)
    return x + v, v


def nesterov_at_x(x, v, grad_fn, lr, momentum):
    v = momentum * v - lr * grad_fn(x)
    return x + v, v


def nesterov_plus_gradient(x, v, grad_fn, lr, momentum):
    v = momentum * v + lr * grad_fn(x + momentum * v)
    return x + v, v


def nesterov_minus_velocity(x, v, grad_fn, lr, momentum):
    v = momentum * v - lr * grad_fn(x + momentum * v)
    return x - v, v


def nesterov_old_velocity(x, v, grad_fn, lr, momentum):
    x_new = x + v
    return x_new, momentum * v - lr * grad_fn(x + momentum * v)


def nesterov_momentum_after(x, v, grad_fn, lr, momentum):
    v = momentum * (v - lr * grad_fn(x + momentum * v))
    return x + v, v


def nesterov_numpy_in_place(x, v, grad_fn, lr, momentum):
    # a right answer written with in-place operations and numpy outputs
    grad = grad_fn(x + momentum * v)
    v.mul_(momentum).sub_(lr * grad)
    x.add_(v)
    return x.numpy(), v.numpy()


def test_check_nesterov_update_passes_right_answers():
    for answer in (nesterov_right, nesterov_numpy_in_place):
        result = checkers.check_nesterov_update(answer)
        assert result.passed, result.message
        assert repr(result).startswith("Correct:")


@pytest.mark.parametrize("answer, hint", [
    (nesterov_at_x, "look-ahead point"),
    (nesterov_plus_gradient, "wrong sign"),
    (nesterov_minus_velocity, "against the velocity"),
    (nesterov_old_velocity, "old velocity"),
    (nesterov_momentum_after, "applied after"),
])
def test_check_nesterov_update_names_each_planted_mistake(answer, hint):
    result = checkers.check_nesterov_update(answer)
    assert not result.passed and hint in result.message, result.message
    assert repr(result).startswith("Not yet:")


def test_check_nesterov_update_reports_shapes_failures_and_misuse():
    result = checkers.check_nesterov_update(lambda x, v, g, lr, rho: nesterov_right(x, v, g, lr, rho)[0])
    assert not result.passed and "tuple (x_new, v_new)" in result.message
    result = checkers.check_nesterov_update(lambda x, v, g, lr, rho: (x[:1], v))
    assert not result.passed and "shape" in result.message
    result = checkers.check_nesterov_update(lambda x, v, g, lr, rho: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    result = checkers.check_nesterov_update(lambda x, v, g, lr, rho: (x + 1e-6, v))  # unknown mistake
    assert not result.passed and "x_new" in result.message and "grad_fn(x + momentum * v)" in result.message
    with pytest.raises(TypeError, match="nesterov_step"):
        checkers.check_nesterov_update("v = rho v - lr g")


# ------------------------------------------------------------------ check_adam_update

def adam_right(theta, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return theta - lr * m_hat / (v_hat.sqrt() + eps), m, v


def adam_numpy(theta, grad, m, v, t, lr, beta1, beta2, eps):
    theta, grad, m, v = (a.numpy() for a in (theta, grad, m, v))
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * np.square(grad)
    step = lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return theta - step, m, v


def adam_uncorrected(theta, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return theta - lr * m / (v.sqrt() + eps), m, v


def adam_first_uncorrected(theta, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return theta - lr * m / ((v / (1 - beta2 ** t)).sqrt() + eps), m, v


def adam_eps_inside(theta, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return theta - lr * (m / (1 - beta1 ** t)) / (v / (1 - beta2 ** t) + eps).sqrt(), m, v


def adam_from_zero(theta, grad, m, v, t, lr, beta1, beta2, eps):
    t = t - 1  # the lecture's `for t in range(num_iterations)`
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return theta - lr * m_hat / (v_hat.sqrt() + eps), m, v


def adam_t_plus_one(theta, grad, m, v, t, lr, beta1, beta2, eps):
    return adam_right(theta, grad, m, v, t + 1, lr, beta1, beta2, eps)


def adam_not_squared(theta, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad
    return theta - lr * (m / (1 - beta1 ** t)) / ((v / (1 - beta2 ** t)).sqrt() + eps), m, v


def test_check_adam_update_passes_right_answers():
    for answer in (adam_right, adam_numpy):
        result = checkers.check_adam_update(answer)
        assert result.passed, result.message


def test_check_adam_update_uses_torch_adam_as_the_reference():
    # the checker's reference iterates are torch.optim.Adam's; the written-out step reproduces them
    grad_fn, generator = checkers._quadratic(3, 5)
    theta0 = torch.randn(3, generator=generator, dtype=torch.float64)
    iterates = checkers._adam_reference(theta0, grad_fn, 20, 0.1, 0.9, 0.99, 1e-3)
    theta, m, v = theta0, torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for t in range(1, 21):
        theta, m, v = adam_right(theta, grad_fn(theta), m, v, t, 0.1, 0.9, 0.99, 1e-3)
        torch.testing.assert_close(theta, iterates[t], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("answer, hint", [
    (adam_uncorrected, "bias correction is missing"),
    (adam_first_uncorrected, "m is not bias-corrected"),
    (adam_eps_inside, "eps is inside the square root"),
    (adam_from_zero, "counted from 0"),
    (adam_t_plus_one, "beta**(t + 1)"),
    (adam_not_squared, "not its square"),
])
def test_check_adam_update_names_each_planted_mistake(answer, hint):
    result = checkers.check_adam_update(answer)
    assert not result.passed and hint in result.message, result.message


def test_check_adam_update_reports_shapes_failures_and_misuse():
    result = checkers.check_adam_update(lambda *args: adam_right(*args)[:2])
    assert not result.passed and "tuple (theta, m, v)" in result.message
    result = checkers.check_adam_update(lambda *args: (adam_right(*args)[0], "m", "v"))
    assert not result.passed and "m is not a number" in result.message
    result = checkers.check_adam_update(lambda *args: 1 / 0)
    assert not result.passed and "ZeroDivisionError" in result.message
    with pytest.raises(TypeError, match="adam_step"):
        checkers.check_adam_update(None)


# ------------------------------------------------------------------ the runs: adaptive methods

import functools  # noqa: E402
import math  # noqa: E402

from lecturelib import data, models, optim, train  # noqa: E402
from lecturelib.experiments.optimisers import adaptive as experiments  # noqa: E402
from lecturelib.experiments.optimisers import schedules as schedule_experiments  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return data.digits()


def test_torch_agreement_is_tiny_for_every_pair(digits):
    agreement = experiments.torch_agreement(digits, steps=5)
    assert set(agreement) == {"AdaGrad", "RMSProp", "Adam", "Adam + L2", "AdamW"}
    assert max(agreement.values()) < 1e-12
    with pytest.raises(ValueError, match="steps"):
        experiments.torch_agreement(digits, steps=0)


def test_effective_step_against_a_hand_computation():
    # the reference: lr / (sqrt(sum of squared gradients) + eps), computed by hand
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    adagrad = optim.AdaGrad([p], lr=0.5)
    hook = experiments.EffectiveStep(adagrad)
    first = hook(None, 0)
    assert math.isnan(first["median_step"]) and first["grew"] == 0  # no gradient seen yet
    for g in ([1.0, 2.0], [2.0, 0.0]):
        p.grad = torch.tensor(g, dtype=torch.float64)
        adagrad.step()
        record = hook(None, 1)
    expected = 0.5 / (torch.tensor([5.0, 4.0], dtype=torch.float64).sqrt() + 1e-10)
    assert record["median_step"] == pytest.approx(float(expected.median()), rel=1e-12) and record["grew"] == 0
    q = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    rmsprop = optim.RMSProp([q], lr=0.1)
    hook = experiments.EffectiveStep(rmsprop)
    for g in (2.0, 0.01):
        q.grad = torch.full_like(q, g)
        rmsprop.step()
        record = hook(None, 1)
    assert record["grew"] == 1  # a small gradient after a large one raises RMSProp's effective step


def test_effective_step_run_records_every_step(digits):
    history = experiments.effective_step_run(digits, "AdaGrad", lr=0.05, epochs=1)
    assert len(history.extras["median_step"]) == history.steps + 1 and sum(history.extras["grew"]) == 0
    with pytest.raises(ValueError, match="method"):
        experiments.effective_step_run(digits, "Adam", lr=0.05)


def test_stall_runs_give_both_methods_the_same_first_step():
    runs = experiments.stall_runs(seeds=(3,), steps=5, first_step=0.1)
    first = {k: (runs[3][k].points[1] - runs[3][k].points[0]).abs() for k in ("AdaGrad", "RMSProp")}
    torch.testing.assert_close(first["AdaGrad"], torch.full((2,), 0.1, dtype=torch.float64), rtol=1e-8, atol=0)
    torch.testing.assert_close(first["RMSProp"], torch.full((2,), 0.1, dtype=torch.float64), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="first_step"):
        experiments.stall_runs(first_step=-1.0)


def test_adam_first_step_closed_form():
    lr, (b1, b2), eps, g = 0.01, (0.8, 0.99), 1e-3, 0.3
    assert experiments.adam_first_step(lr, (b1, b2), eps, True, g) == pytest.approx(lr * g / (g + eps), rel=1e-12)
    assert experiments.adam_first_step(lr, (b1, b2), eps, False, g) == pytest.approx(
        lr * (1 - b1) * g / ((1 - b2) ** 0.5 * g + eps), rel=1e-12)


@pytest.mark.parametrize("name, make, expected", [
    ("SGD", functools.partial(torch.optim.SGD, lr=0.1), (False, False, False, False)),
    ("momentum", functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9), (True, False, False, False)),
    ("AdaGrad", functools.partial(torch.optim.Adagrad, lr=0.1), (False, True, False, False)),
    ("RMSProp", functools.partial(torch.optim.RMSprop, lr=0.1), (False, True, True, False)),
    ("Adam", functools.partial(torch.optim.Adam, lr=0.1), (True, True, True, True)),
    ("uncorrected Adam", functools.partial(optim.Adam, lr=0.1, bias_correction=False), (True, True, True, False)),
])
def test_optimiser_properties_reproduce_the_lecture_table_on_torch_optim(name, make, expected):
    properties = experiments.optimiser_properties(make)
    assert tuple(properties[p] for p in experiments.PROPERTY_NAMES) == expected, name


# ------------------------------------------------------------------ the runs: weight decay

def test_decay_iterates_sgd_equal_adam_not(digits):
    sgd = experiments.decay_iterates(digits, "SGD", steps=4)
    base = sgd["L2 in the loss"]
    for run in sgd.values():
        torch.testing.assert_close(run, base, rtol=1e-12, atol=1e-14)
    adam = experiments.decay_iterates(digits, "Adam", lr=0.005, steps=4)
    torch.testing.assert_close(adam["weight_decay argument"], adam["L2 in the loss"], rtol=1e-12, atol=1e-14)
    assert float((adam["decoupled"] - adam["L2 in the loss"]).abs().max()) > 1e-4
    with pytest.raises(ValueError, match="momentum"):
        experiments.decay_iterates(digits, "Adam", momentum=0.9)
    with pytest.raises(ValueError, match="method"):
        experiments.decay_iterates(digits, "AdaGrad")


def test_shrinkage_by_history_follows_the_first_order_formula():
    shrink = experiments.shrinkage_by_history([0.05, 0.5, 5.0], lam=1e-5, lr=1e-3, history=50, seed=1)
    torch.testing.assert_close(shrink["decoupled"], torch.full((3,), 1e-8, dtype=torch.float64), rtol=1e-6, atol=0)
    torch.testing.assert_close(shrink["l2"], shrink["predicted_l2"], rtol=0.05, atol=0)
    assert bool((shrink["l2"][1:] < shrink["l2"][:-1]).all())
    with pytest.raises(ValueError, match="scales"):
        experiments.shrinkage_by_history([1.0, -1.0])


def test_dead_pixel_weights_by_hand():
    X = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])
    model = models.MLP([3, 2, 1], "relu")
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    record = experiments.DeadPixelWeights(X)(model, 0)
    assert record["dead_rms"] == pytest.approx(math.sqrt((1 + 16) / 2))
    assert record["live_rms"] == pytest.approx(math.sqrt((4 + 9 + 25 + 36) / 4))


def test_decay_run_is_cached_and_adamw_decays_dead_weights_geometrically(digits):
    first = experiments.decay_run(digits, "AdamW", lam=0.1, lr=0.01, epochs=1)
    second = experiments.decay_run(digits, "AdamW", lam=0.1, lr=0.01, epochs=1)
    assert second.from_cache and first.history.extras == second.history.extras
    dead = first.history.extras["dead_rms"]
    assert dead[-1] / dead[0] == pytest.approx((1 - 1e-3) ** first.history.steps, rel=1e-4)
    with pytest.raises(ValueError, match="kind"):
        experiments.decay_run(digits, "SGD")


# ------------------------------------------------------------------ the runs: schedules

def test_schedule_run_equals_a_plain_fit(digits):
    schedule = optim.StepDecay(every=10, factor=0.5)
    run = schedule_experiments.schedule_run(digits, schedule, lr=0.5, epochs=1)
    torch.manual_seed(0)
    model = models.MLP([64, 64, 10], "relu")
    history = train.fit(model, digits, lr=0.5, epochs=1, batch_size=32, schedule=schedule, seed=0, device="cpu")
    assert history.train_loss == run.history.train_loss


def test_halving_search_stops_at_the_first_rate_that_does_not_diverge(digits):
    records = schedule_experiments.halving_search(digits, start=16.0, steps=20, n_train=200)
    assert [r["lr"] for r in records] == [16.0 / 2 ** i for i in range(len(records))]
    assert all(r["diverged"] for r in records[:-1]) and not records[-1]["diverged"]
    assert records[-1]["final_loss"] < records[-1]["initial_loss"]
    with pytest.raises(RuntimeError, match="diverged"):
        schedule_experiments.halving_search(digits, start=64.0, steps=20, n_train=200, smallest=32.0)
    with pytest.raises(ValueError, match="start"):
        schedule_experiments.halving_search(digits, start=0.0)


def test_recipe_run_builds_the_named_network(digits):
    run = schedule_experiments.recipe_run(digits, "SGD + momentum + BN + dropout", epochs=1)
    assert run.model.norms is not None and len(run.history.epoch) == 2
    with pytest.raises(ValueError, match="recipe"):
        schedule_experiments.recipe_run(digits, "LBFGS")
