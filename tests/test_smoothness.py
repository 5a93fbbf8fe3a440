"""lecturelib.smoothness against closed forms on a quadratic loss (dense Hessian, float64)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lecturelib import data, norm, smoothness, train


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


def _blobs_net():
    split = data.toy_2d("blobs", n_samples=120, seed=0)
    torch.manual_seed(1)
    return split, nn.Sequential(nn.Linear(2, 8), norm.BatchNorm(8), nn.Tanh(), nn.Linear(8, 3))


def test_probe_measures_the_profile_on_its_minibatch_every_few_steps():
    # the reference: gradient_step_profile itself on the minibatch the probe names for that step
    split, model = _blobs_net()
    probe = smoothness.GradientStepProbe(split.X_train, split.y_train, [0.1, 0.4], every=3, batch_size=20, seed=5)
    assert probe(model, 1) is None and probe(model, 4) is None
    record = probe(model, 3)
    expected = smoothness.gradient_step_profile(model, *probe.minibatch(3), [0.1, 0.4])
    assert record["step"] == 3 and record["loss"] == expected["loss"].tolist()
    assert record["grad_change"] == expected["grad_change"].tolist()
    assert record["train_loss"] == expected["loss0"] and record["effective_beta"] == expected["effective_beta"]
    losses = expected["loss"].tolist() + [expected["loss0"]]
    assert record["loss_min"] == min(losses) and record["loss_max"] == max(losses)
    assert record["grad_change_min"] == float(expected["grad_change"].min())
    X3, y3 = probe.minibatch(3)
    X3_again, _ = probe.minibatch(3)
    assert X3.shape == (20, 2) and len(y3) == 20 and torch.equal(X3, X3_again)
    assert not torch.equal(X3, probe.minibatch(6)[0])
    rows = {tuple(row.tolist()) for row in split.X_train}
    assert all(tuple(row.tolist()) in rows for row in X3) and len({tuple(r.tolist()) for r in X3}) == 20


def test_probe_leaves_training_with_fit_unchanged():
    # the reference: the same fit without the probe, compared exactly
    split, model = _blobs_net()
    reference = copy.deepcopy(model)
    probe = smoothness.GradientStepProbe(split.X_train, split.y_train, [0.1, 0.4], every=3, batch_size=20, seed=5)
    history = train.fit(model, split, lr=0.2, epochs=2, batch_size=20, seed=5, max_steps=7, on_step=probe,
                        device="cpu")
    train.fit(reference, split, lr=0.2, epochs=2, batch_size=20, seed=5, max_steps=7, device="cpu")
    assert history.extras["step"] == [0, 3, 6] and len(history.extras["loss"][0]) == 2
    for ours, ref in zip(model.state_dict().values(), reference.state_dict().values()):
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_probe_describes_itself_for_the_cache_key():
    split, _ = _blobs_net()
    probe = smoothness.GradientStepProbe(split.X_train, split.y_train, np.array([0.1, 0.4]), every=3, batch_size=20)
    description = probe.describe()
    assert description["step_sizes"] == [0.1, 0.4] and description["every"] == 3 and description["seed"] == 0
    assert description["X"] is split.X_train and description["loss_fn"] is None


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
    with pytest.raises(ValueError, match="every"):
        smoothness.GradientStepProbe(split.X_train, split.y_train, [0.1], every=0)
    with pytest.raises(ValueError, match="batch_size"):
        smoothness.GradientStepProbe(split.X_train, split.y_train, [0.1], every=1, batch_size=1000)
    with pytest.raises(ValueError, match="step_sizes"):
        smoothness.GradientStepProbe(split.X_train, split.y_train, [], every=1, batch_size=10)
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        smoothness.GradientStepProbe(split.X_train.numpy(), split.y_train, [0.1], every=1, batch_size=10)
    with pytest.raises(ValueError, match="one entry per row of X"):
        smoothness.GradientStepProbe(split.X_train, split.y_train[:5], [0.1], every=1, batch_size=10)


@pytest.mark.parametrize("kwargs, error, name", [
    ({"seed": "x"}, TypeError, "seed"),
    ({"seed": -1}, ValueError, "seed"),
    ({"every": 2.0}, TypeError, "every"),
    ({"batch_size": float("nan")}, TypeError, "batch_size"),
    ({"step_sizes": [0.1, float("inf")]}, ValueError, "step_sizes"),
    ({"step_sizes": [0.1, float("nan")]}, ValueError, "step_sizes"),
    ({"loss_fn": "mse"}, TypeError, "loss_fn"),
])
def test_probe_checks_numbers_nan_safely(kwargs, error, name):
    split = data.toy_2d("blobs", n_samples=60, seed=0)
    arguments = dict(step_sizes=[0.1], every=1, batch_size=10)
    arguments.update(kwargs)
    with pytest.raises(error, match=name):
        smoothness.GradientStepProbe(split.X_train, split.y_train, **arguments)


def test_probe_refuses_non_finite_inputs():
    split = data.toy_2d("blobs", n_samples=60, seed=0)
    X = split.X_train.clone()
    X[0, 0] = float("nan")
    with pytest.raises(ValueError, match="X holds"):
        smoothness.GradientStepProbe(X, split.y_train, [0.1], every=1, batch_size=10)


def test_gradient_step_profile_refuses_nan_inputs():
    model, X, y = _linear_problem()
    with pytest.raises(ValueError, match="X holds"):
        smoothness.gradient_step_profile(model, torch.full_like(X, float("nan")), y, [0.1])
