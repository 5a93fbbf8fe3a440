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
