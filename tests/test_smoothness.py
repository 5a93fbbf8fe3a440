"""lecturelib.smoothness against closed forms on a quadratic loss (dense Hessian, float64)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lecturelib import data, norm, smoothness


def _linear_problem():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(20, 1, generator=generator, dtype=torch.float64)
    torch.manual_seed(0)
    model = nn.Linear(3, 1).double()
    return model, X, y


def test_profile_matches_quadratic_closed_form():
    model, X, y = _linear_problem()
    steps = np.array([0.1, 0.5, 1.0])
    profile = smoothness.gradient_step_profile(model, X, y, steps)
    # dense Hessian and gradient of the mean squared error in theta = (w, b)
    theta0 = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])

    def loss_of(theta):
        return ((X @ theta[:3].unsqueeze(1) + theta[3] - y) ** 2).mean()

    g = torch.autograd.functional.jacobian(loss_of, theta0)
    H = torch.autograd.functional.hessian(loss_of, theta0)
    expected_loss = [float(loss_of(theta0) - eta * g @ g + 0.5 * eta**2 * g @ H @ g) for eta in steps]
    np.testing.assert_allclose(profile["loss"], expected_loss, rtol=1e-10)
    np.testing.assert_allclose(profile["grad_change"], steps * float((H @ g).norm()), rtol=1e-10)
    # on a quadratic the effective beta is ||Hg|| / ||g|| at every step size, at most lambda_max(H)
    np.testing.assert_allclose(profile["beta"], float((H @ g).norm() / g.norm()), rtol=1e-10)
    assert profile["effective_beta"] <= float(torch.linalg.eigvalsh(H).max()) + 1e-12
    assert profile["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-12)
    assert profile["loss_range"] == pytest.approx(max(expected_loss + [float(loss_of(theta0))])
                                                  - min(expected_loss + [float(loss_of(theta0))]), rel=1e-10)


def test_profile_leaves_model_and_running_statistics_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), norm.BatchNorm(6), nn.Tanh(), nn.Linear(6, 3)).double().eval()
    before = copy.deepcopy(model.state_dict())
    X = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    profile = smoothness.gradient_step_profile(model, X, y, [0.1, 0.2])
    assert not model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert np.all(np.isfinite(profile["loss"])) and profile["effective_beta"] > 0


def test_measure_during_training_trains_like_sgd():
    split = data.toy_2d("blobs", n_samples=120, seed=0)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    reference = copy.deepcopy(model)
    record = smoothness.measure_during_training(model, split, lr=0.2, steps=7, measure_every=3,
                                                step_sizes=[0.1, 0.4], batch_size=20, seed=5)
    assert list(record["step"]) == [0, 3, 6]
    assert record["loss"].shape == (3, 2)
    assert np.all(record["loss_min"] <= record["loss_max"])
    # replay the same minibatches with torch.optim.SGD
    generator = torch.Generator().manual_seed(5)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.2)
    order = torch.randperm(len(split.X_train), generator=generator)
    for step in range(7):
        if step % 3 == 0 and step:
            order = torch.randperm(len(split.X_train), generator=generator)
        index = order[(step % 3) * 20:(step % 3 + 1) * 20]
        optimizer.zero_grad()
        nn.functional.cross_entropy(reference(split.X_train[index]), split.y_train[index]).backward()
        optimizer.step()
    for ours, ref in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-7)


def test_bad_inputs():
    model, X, y = _linear_problem()
    with pytest.raises(ValueError, match="step_sizes"):
        smoothness.gradient_step_profile(model, X, y, [0.1, -1.0])
    with pytest.raises(ValueError, match="step_sizes"):
        smoothness.gradient_step_profile(model, X, y, [])
    with pytest.raises(TypeError, match="model"):
        smoothness.gradient_step_profile("net", X, y, [0.1])
    with pytest.raises(ValueError, match="same number"):
        smoothness.gradient_step_profile(model, X, y[:5], [0.1])
    split = data.toy_2d("blobs", n_samples=60, seed=0)
    net = nn.Linear(2, 3)
    with pytest.raises(ValueError, match="lr"):
        smoothness.measure_during_training(net, split, lr=0, steps=2, measure_every=1, step_sizes=[0.1])
    with pytest.raises(ValueError, match="measure_every"):
        smoothness.measure_during_training(net, split, lr=0.1, steps=2, measure_every=0, step_sizes=[0.1])
    with pytest.raises(ValueError, match="batch_size"):
        smoothness.measure_during_training(net, split, lr=0.1, steps=2, measure_every=1, step_sizes=[0.1],
                                           batch_size=1000)
    with pytest.raises(TypeError, match="DataSplit"):
        smoothness.measure_during_training(net, (X, y), lr=0.1, steps=2, measure_every=1, step_sizes=[0.1])


@pytest.mark.parametrize("kwargs, error, name", [
    ({"lr": float("inf")}, ValueError, "lr"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"seed": "x"}, TypeError, "seed"),
    ({"steps": 2.0}, TypeError, "steps"),
    ({"step_sizes": [0.1, float("inf")]}, ValueError, "step_sizes"),
])
def test_measure_during_training_checks_numbers_nan_safely(kwargs, error, name):
    split = data.toy_2d("blobs", n_samples=60, seed=0)
    arguments = dict(lr=0.1, steps=2, measure_every=1, step_sizes=[0.1], batch_size=10)
    arguments.update(kwargs)
    with pytest.raises(error, match=name):
        smoothness.measure_during_training(nn.Linear(2, 3), split, **arguments)


def test_gradient_step_profile_refuses_nan_inputs():
    model, X, y = _linear_problem()
    with pytest.raises(ValueError, match="X holds"):
        smoothness.gradient_step_profile(model, torch.full_like(X, float("nan")), y, [0.1])
