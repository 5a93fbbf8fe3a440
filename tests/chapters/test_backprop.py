"""The chapter *Backpropagation, derived*: its exercise checkers against autograd-built right and
wrong answers, and its cached run against the same training through train.fit."""

import pytest
import torch

from lecturelib import data, device, models, params, train
from lecturelib.exercises import backprop as checks
from lecturelib.experiments import backprop as experiments


def test_bias_gradient_checker_accepts_the_sum_and_names_the_missing_slope():
    assert checks.check_bias_gradient(lambda d, v, s: (d * s(v)).sum(0)).passed
    wrong = checks.check_bias_gradient(lambda d, v, s: d.sum(0))
    assert not wrong.passed and "slope" in wrong.message
    per_sample = checks.check_bias_gradient(lambda d, v, s: d * s(v))
    assert not per_sample.passed and "sum over dim 0" in per_sample.message
    averaged = checks.check_bias_gradient(lambda d, v, s: (d * s(v)).mean(0))
    assert not averaged.passed and "do not average" in averaged.message
    with pytest.raises(TypeError, match="must be a function"):
        checks.check_bias_gradient(3)


def test_residual_delta_checker_accepts_the_skip_term_and_names_common_mistakes():
    assert checks.check_residual_delta(lambda d, W, v, s: (d * s(v)) @ W + d).passed
    wrong = checks.check_residual_delta(lambda d, W, v, s: (d * s(v)) @ W)
    assert not wrong.passed and "skip connection" in wrong.message
    transposed = checks.check_residual_delta(lambda d, W, v, s: (d * s(v)) @ W.T + d)
    assert not transposed.passed and "g @ W_j" in transposed.message
    crashed = checks.check_residual_delta(lambda d, W, v, s: 1 / 0)
    assert not crashed.passed and "ZeroDivisionError" in crashed.message


def test_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_bias_gradient(lambda d, v, s: (d * s(v)).sum(0))
    checks.check_residual_delta(lambda d, W, v, s: (d * s(v)) @ W + d)
    assert torch.equal(torch.rand(3), expected)


def test_digits_tanh_run_is_the_fit_it_describes_and_loads_from_the_cache():
    digits = data.digits()
    device.seed_everything(0)
    reference = models.MLP([64, 64, 64, 64, 10], activation="tanh")
    history = train.fit(reference, digits, lr=0.1, epochs=30, batch_size=64, device="cpu")
    run = experiments.digits_tanh_run(digits)
    assert not run.from_cache and not run.model.training
    assert torch.equal(params.vector(run.model), params.vector(reference))
    assert run.history.test_accuracy == history.test_accuracy
    again = experiments.digits_tanh_run(digits)
    assert again.from_cache and torch.equal(params.vector(again.model), params.vector(reference))
