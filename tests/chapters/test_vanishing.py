"""The chapter *Vanishing and exploding gradients*: the gradient-norm profile against backprop and the
lecture's bound, its figure and widget, the Lipschitz checker against dense SVDs, and the cached runs
against the same training through train.fit."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import backprop, data, device, lipschitz, models, params, train  # noqa: E402
from lecturelib.exercises import vanishing as checks  # noqa: E402
from lecturelib.experiments import vanishing as experiments  # noqa: E402
from lecturelib.plotting.gradients import draw_gradient_norms  # noqa: E402
from lecturelib.widgets import vanishing as widget  # noqa: E402


def test_profile_matches_layer_gradient_norms_and_bound():
    measured, bounds = experiments.gradient_norm_profile(6, "tanh", 1.0, residual=True, width=8, batch=10)
    assert measured.shape == bounds.shape == (7,)
    assert torch.all(measured <= bounds * (1 + 1e-12))
    network = models.random_network([8] * 6 + [1], "tanh", residual=True, seed=0)
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(10, 8, generator=generator, dtype=torch.float64)
    y = torch.randn(10, 1, generator=generator, dtype=torch.float64)
    reference = backprop.layer_gradient_norms(network, X, y, "mse").delta_norms
    assert torch.equal(measured, reference)
    assert torch.allclose(bounds, lipschitz.delta_norm_bounds(network, float(reference[-1])), rtol=1e-15, atol=0)
    deep_sigmoid, _ = experiments.gradient_norm_profile(20, "sigmoid", 1.0, width=8, batch=10)
    assert deep_sigmoid[0] < 1e-6 * deep_sigmoid[-1]  # vanishing gradient
    with pytest.raises(ValueError, match="depth"):
        experiments.gradient_norm_profile(1)
    with pytest.raises(TypeError, match="width"):
        experiments.gradient_norm_profile(3, width=2.0)


def test_draw_gradient_norms_plots_measured_and_bound_in_one_colour():
    fig, ax = plt.subplots()
    line = draw_gradient_norms(ax, torch.tensor([1.0, 0.5, 0.0]), [2.0, 1.0, 1.0], label="measured")
    assert list(line.get_xdata()) == [1, 2, 3]
    assert line.get_ydata()[-1] == 1e-300  # an underflowed gradient stays on the log axis
    bound, = [other for other in ax.get_lines() if other is not line]
    assert bound.get_linestyle() == ":" and bound.get_color() == line.get_color()
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="bounds must have one entry per layer"):
        draw_gradient_norms(ax, [1.0, 0.5], [1.0])
    with pytest.raises(ValueError, match="measured"):
        draw_gradient_norms(ax, [])
    plt.close(fig)


def test_widget_redraws_the_profile_it_is_handed():
    calls = []

    def profile(depth, activation, weight_scale, residual):
        calls.append((depth, activation, weight_scale, residual))
        return torch.ones(depth + 1), torch.full((depth + 1,), 2.0)

    box = widget.gradient_norm_explorer(profile, depth=5, activation="tanh", weight_scale=2.0)
    assert calls == [(5, "tanh", 2.0, False)]
    box.children[1].children[3].value = True  # the residual switch
    assert calls[-1] == (5, "tanh", 2.0, True)
    plt.close("all")


def test_widget_rejects_bad_initial_values():
    profile = experiments.gradient_norm_profile
    with pytest.raises(ValueError, match="depth"):
        widget.gradient_norm_explorer(profile, depth=100)
    with pytest.raises(ValueError, match="activation"):
        widget.gradient_norm_explorer(profile, activation="maxout")
    with pytest.raises(ValueError, match="weight_scale"):
        widget.gradient_norm_explorer(profile, weight_scale=10.0)
    with pytest.raises(TypeError, match="profile"):
        widget.gradient_norm_explorer("profile")


def _lecture_bound(model):
    norms = [torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() for layer in model.layers]
    mask = list(model.residual_mask) + [False]
    result = 1.0
    for norm, residual in zip(norms, mask):
        result *= 1 + norm if residual else norm
    return result


def test_lipschitz_checker_accepts_the_bound_and_names_common_mistakes():
    assert checks.check_lipschitz_bound(_lecture_bound).passed
    frobenius = checks.check_lipschitz_bound(
        lambda m: float(torch.stack([layer.weight.detach().norm() for layer in m.layers]).prod()))
    assert not frobenius.passed and "Frobenius" in frobenius.message
    plain = checks.check_lipschitz_bound(
        lambda m: float(torch.stack([torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
                                     for layer in m.layers]).prod()))
    assert not plain.passed and "Residual hidden layers contribute" in plain.message
    crashed = checks.check_lipschitz_bound(lambda m: 1 / 0)
    assert not crashed.passed and "ZeroDivisionError" in crashed.message
    with pytest.raises(TypeError, match="lipschitz_bound must be a function"):
        checks.check_lipschitz_bound(3)


def test_lipschitz_checker_leaves_the_global_random_state_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    checks.check_lipschitz_bound(_lecture_bound)
    assert torch.equal(torch.rand(3), expected)


def test_regression_run_is_the_fit_it_describes():
    """The residual run is the lecture network's recipe (lecture_network.train_lecture_network) with
    residual connections, written out through train.fit."""
    regression = data.regression_1d()
    device.seed_everything(0)
    reference = models.MLP([1, 5, 5, 5, 1, 1], "leaky_relu", residual=True)
    history = train.fit(reference, regression, optimizer="adam", lr=0.01, epochs=3000, eval_every=500,
                        device="cpu")
    run = experiments.regression_run(regression)
    assert torch.equal(params.vector(run.model), params.vector(reference))
    assert run.history.train_loss == history.train_loss
    assert experiments.regression_run(regression, True).from_cache
    with pytest.raises(TypeError, match="residual"):
        experiments.regression_run(regression, 1)
    with pytest.raises(ValueError, match="train_lecture_network"):
        experiments.regression_run(regression, False)


def _written_out_growth(X, y, activation, alpha, seed, hidden_layers, width):
    """||delta_2|| / ||delta_n|| and ||z_n|| / ||z_2|| by autograd through the residual net written out."""
    widths = [X.shape[1]] + [width] * hidden_layers + [int(y.max()) + 1]
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(widths[k + 1], widths[k], generator=generator, dtype=torch.float64) / widths[k] ** 0.5
               for k in range(len(widths) - 1)]
    for W in weights:
        W.requires_grad_(True)
    sigma = torch.relu if activation == "relu" else torch.tanh
    z, states = X.double(), []
    for k, W in enumerate(weights[:-1]):
        h = alpha * sigma(z @ W.T)
        z = z + h if W.shape[0] == W.shape[1] else h
        z.retain_grad()
        states.append(z)
    loss = torch.nn.functional.cross_entropy(z @ weights[-1].T, y)
    loss.backward()
    batch = X.shape[0]
    delta = [(state.grad * batch).norm(dim=1).mean() for state in states]  # per-sample losses' deltas
    size = [state.detach().norm(dim=1).mean() for state in states]
    return float(delta[0] / delta[-1]), float(size[-1] / size[0])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_scaled_residual_growth_against_autograd(activation):
    digits = data.digits()
    X, y = digits.X_train[:40].double(), digits.y_train[:40]
    growth = experiments.scaled_residual_growth(X, y, activation, 0.3, seeds=(0, 5), hidden_layers=8, width=6)
    assert growth.gradient.shape == growth.forward.shape == growth.bound.shape == (2,)
    for i, seed in enumerate((0, 5)):
        gradient, forward = _written_out_growth(X, y, activation, 0.3, seed, 8, 6)
        assert growth.gradient[i].item() == pytest.approx(gradient, rel=1e-10)
        assert growth.forward[i].item() == pytest.approx(forward, rel=1e-10)
        net = models.random_network([64] + [6] * 8 + [10], models.scaled_activation(activation, 0.3), residual=True,
                                    seed=seed)
        norms = [torch.linalg.matrix_norm(W, ord=2) for W in net.weights[1:-1]]  # the 7 residual layers
        assert growth.bound[i].item() == pytest.approx(float(torch.stack([1 + 0.3 * n for n in norms]).prod()),
                                                       rel=1e-10)
    with pytest.raises(ValueError, match="activation"):
        experiments.scaled_residual_growth(X, y, "sigmoid", 0.5)
    with pytest.raises(ValueError, match="alpha"):
        experiments.scaled_residual_growth(X, y, "relu", 0.0)
    with pytest.raises(ValueError, match="seeds"):
        experiments.scaled_residual_growth(X, y, "relu", 0.5, seeds=())


def test_digits_run_is_the_fit_it_describes():
    digits = data.digits()
    device.seed_everything(0)
    reference = models.MLP([64, 32, 32, 10], "leaky_relu")
    history = train.fit(reference, digits, optimizer="adam", lr=1e-3, epochs=20, batch_size=64, eval_every=20,
                        device="cpu")
    run = experiments.digits_run(digits, 2)
    assert not run.from_cache
    assert torch.equal(params.vector(run.model), params.vector(reference))
    assert run.history.test_accuracy == history.test_accuracy
    with pytest.raises(ValueError, match="hidden_layers"):
        experiments.digits_run(digits, 0)
