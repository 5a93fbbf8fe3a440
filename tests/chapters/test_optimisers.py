"""The optimisers chapter, notebooks 1-2: lecturelib.experiments.optimisers.descent against
optim.trajectory, torch.optim, autograd, closed forms and models.MLP; plotting.trajectories; the
trajectory explorer widget."""

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lecturelib import models, optim, plotting  # noqa: E402
from lecturelib.experiments.optimisers import descent  # noqa: E402
from lecturelib.plotting import trajectories as figures  # noqa: E402

DTYPE = torch.float64


# ------------------------------------------------------------------ many starts, basins

@pytest.mark.parametrize("make", [functools.partial(torch.optim.SGD, lr=1e-3, momentum=0.9, nesterov=True),
                                  functools.partial(torch.optim.Adam, lr=0.05),
                                  functools.partial(optim.RMSProp, lr=0.01)])
def test_descend_many_equals_one_trajectory_per_start(make):
    # the reference: optim.trajectory run once per start
    function = optim.rosenbrock()
    starts = torch.tensor([[-1.2, 1.0], [0.5, -0.5], [1.5, 2.0]], dtype=DTYPE)
    many = descent.descend_many(function, make, starts, 40)
    assert many.points.shape == (41, 3, 2) and many.values.shape == (41, 3)
    for i in range(3):
        one = optim.trajectory(function, make, tuple(starts[i].tolist()), 40)
        torch.testing.assert_close(many.points[:, i], one.points, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(many.values[:, i], one.values, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="starts"):
        descent.descend_many(function, make, torch.zeros(3, 1, dtype=DTYPE), 5)
    with pytest.raises(ValueError, match="steps"):
        descent.descend_many(function, make, starts, -1)


def test_basin_limits_follow_the_maxima():
    # the reference: the basins are the intervals between the known maxima -1 and 1.5
    basins = optim.basins_1d()
    starts = torch.tensor([[-2.4], [-1.1], [-0.9], [1.4], [1.6], [2.9], [-1.0]], dtype=DTYPE)
    finals, limits = descent.basin_limits(basins, starts, lr=0.01, steps=3000)
    assert limits.tolist() == [0, 0, 1, 1, 2, 2, -1]  # a start on the maximum stays there
    assert abs(float(finals[2, 0]) - 0.5) < 1e-6 and float(finals[-1, 0]) == -1.0
    with pytest.raises(ValueError, match="lr"):
        descent.basin_limits(basins, starts, lr=-0.1)
    with pytest.raises(TypeError, match="function"):
        descent.basin_limits("basins", starts)


# ------------------------------------------------------------------ critical points

def _double_well(theta):
    return (theta[0] ** 2 - 1) ** 2 + theta[1] ** 2


def test_critical_points_of_a_double_well_are_two_minima_and_a_saddle():
    # closed form: minima (+-1, 0) with Hessian diag(8, 2), saddle (0, 0) with diag(-4, 2)
    found = descent.critical_points(_double_well, 2, n_starts=60, scale=1.5, iterations=60, seed=0)
    assert found.starts == 60 and len(found.kind) > 40
    for point, kind, eigenvalues in zip(found.points, found.kind, found.eigenvalues):
        if kind == "minimum":
            assert abs(abs(float(point[0])) - 1) < 1e-8
            torch.testing.assert_close(eigenvalues, torch.tensor([2.0, 8.0], dtype=DTYPE), rtol=1e-6, atol=1e-6)
        else:
            assert kind == "saddle" and float(point.abs().max()) < 1e-8
            torch.testing.assert_close(eigenvalues, torch.tensor([-4.0, 2.0], dtype=DTYPE), rtol=1e-6, atol=1e-6)
    assert found.count("minimum") > 0 and found.count("saddle") > 0 and found.levels("saddle") == [1.0]
    assert set(found.index.tolist()) == {0, 1}


def test_a_flat_minimum_is_degenerate():
    found = descent.critical_points(lambda t: t[0] ** 4 + t[1] ** 2, 2, n_starts=5, iterations=200,
                                    grad_tol=1e-6)
    assert found.kind and set(found.kind) == {"degenerate"}
    with pytest.raises(ValueError, match="n_starts"):
        descent.critical_points(_double_well, 2, n_starts=0)


def test_tiny_network_loss_equals_the_mlp():
    # the reference: models.MLP([1, 2, 1], "tanh") with the same weights, in float64
    network = descent.tiny_network()
    theta = torch.randn(network.n_params, generator=torch.Generator().manual_seed(3), dtype=DTYPE)
    mlp = models.MLP([1, 2, 1], "tanh").double()
    with torch.no_grad():
        mlp.layers[0].weight.copy_(theta[:2, None]), mlp.layers[0].bias.copy_(theta[2:4])
        mlp.layers[1].weight.copy_(theta[None, 4:6]), mlp.layers[1].bias.copy_(theta[6:])
        expected = F.mse_loss(mlp(network.X[:, None]), network.y[:, None])
    assert network.n_params == 7 and len(network.X) == 12
    torch.testing.assert_close(network.loss(theta), expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------------ plateaux of units

def test_plateau_networks():
    x = torch.linspace(-1.5, 1.5, 50)[:, None]
    torch.manual_seed(0)
    dead = descent.plateau_network("dead")
    with torch.no_grad():
        assert float(dead.layers[0](x).max()) < 0  # every unit's input negative on the data's range
    torch.manual_seed(0)
    healthy = descent.plateau_network("healthy")
    torch.manual_seed(0)
    saturated = descent.plateau_network("saturated")
    torch.testing.assert_close(saturated.layers[0].weight, 30 * healthy.layers[0].weight)
    with pytest.raises(ValueError, match="kind"):
        descent.plateau_network("asleep")


# ------------------------------------------------------------------ minibatch noise

def test_per_example_gradients_equal_autograd():
    torch.manual_seed(0)
    model = models.MLP([5, 4, 3], "relu")
    X = torch.randn(6, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    grads = descent.per_example_gradients(model, X, y, F.cross_entropy)
    assert grads.shape == (6, sum(p.numel() for p in model.parameters()))
    for i in range(6):
        loss = F.cross_entropy(model(X[i:i + 1]), y[i:i + 1])
        expected = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(model.parameters()))])
        torch.testing.assert_close(grads[i], expected, rtol=1e-5, atol=1e-7)


def test_minibatch_gradient_noise_matches_trace_over_b():
    # the reference: tr(Sigma) computed directly; the measured mean within 10 % for 4000 draws
    G = torch.randn(300, 7, generator=torch.Generator().manual_seed(0), dtype=DTYPE) * torch.arange(1, 8)
    trace = float(torch.cov(G.T, correction=0).trace())
    noise = descent.minibatch_gradient_noise(G, [1, 4, 16], draws=4000, seed=1)
    assert noise["batch_size"] == [1, 4, 16]
    np.testing.assert_allclose(noise["exact"], [trace, trace / 4, trace / 16], rtol=1e-12)
    np.testing.assert_allclose(noise["measured"], noise["exact"], rtol=0.1)
    assert descent.loglog_slope(noise["batch_size"], noise["exact"]) == pytest.approx(-1.0, abs=1e-12)
    with pytest.raises(ValueError, match="draws"):
        descent.minibatch_gradient_noise(G, [1], draws=1)


# ------------------------------------------------------------------ the ravine race

def test_steps_to_reach_and_tune():
    values = torch.tensor([[1.0, 1.0], [0.5, 1.0], [1e-7, 0.9]], dtype=DTYPE)
    assert descent.steps_to_reach(values, 1e-6).tolist() == [2, 3]  # 3 = never within the run
    # closed form: GD on the ravine converges fastest at lr = 2 / (1 + kappa)
    ravine = optim.ravine(50.0)
    starts = torch.tensor([[2.0, 1.0], [-1.0, 0.5]], dtype=DTYPE)
    best, needed = descent.tune(ravine, lambda lr: functools.partial(optim.SGD, lr=lr),
                                {"lr": [0.01, 2 / 51, 0.041]}, starts, 400)
    assert best == {"lr": 2 / 51} and bool((needed < 400).all())


def test_the_two_nesterov_forms_agree_with_torch_and_differ_from_heavy_ball():
    function = optim.rosenbrock()
    x0 = torch.tensor([-1.2, 1.0], dtype=DTYPE)
    look_x, look_v = descent.nesterov_lookahead(function.gradient, x0, 1e-3, 0.9, 100)
    tilde_x, tilde_v = descent.nesterov_rewritten(function.gradient, x0, 1e-3, 0.9, 100)
    torch.testing.assert_close(tilde_x, look_x + 0.9 * look_v, rtol=0, atol=1e-12)
    torch.testing.assert_close(tilde_v, look_v, rtol=0, atol=1e-12)
    reference = optim.trajectory(function, functools.partial(torch.optim.SGD, lr=1e-3, momentum=0.9, nesterov=True),
                                 x0, 100)
    torch.testing.assert_close(tilde_x, reference.points, rtol=0, atol=1e-12)
    heavy = optim.trajectory(function, functools.partial(torch.optim.SGD, lr=1e-3, momentum=0.9), x0, 100)
    assert float((heavy.points - tilde_x).abs().max()) > 1e-4


def test_compare_trajectories_equals_torch_optim():
    function = optim.ravine()
    runs = descent.compare_trajectories(function, ["GD", "momentum", "Adam", "RMSProp"], lr=0.02, momentum=0.8,
                                        betas=(0.8, 0.99), start=(-2.0, 1.0), steps=30)
    references = {"GD": functools.partial(torch.optim.SGD, lr=0.02),
                  "momentum": functools.partial(torch.optim.SGD, lr=0.02, momentum=0.8),
                  "Adam": functools.partial(torch.optim.Adam, lr=0.02, betas=(0.8, 0.99)),
                  "RMSProp": functools.partial(torch.optim.RMSprop, lr=0.02, alpha=0.99)}
    for name, make in references.items():
        expected = optim.trajectory(function, make, (-2.0, 1.0), 30)
        torch.testing.assert_close(runs[name].points, expected.points, rtol=1e-9, atol=1e-12)
    default = descent.compare_trajectories(function, ["Nesterov"], steps=3)["Nesterov"]
    assert default.points[0].tolist() == pytest.approx([-2.4, 0.75])
    with pytest.raises(ValueError, match="unknown optimiser"):
        descent.compare_trajectories(function, ["LBFGS"])


# ------------------------------------------------------------------ figures and the widget

def test_trajectory_figures_draw_what_they_are_handed():
    function = optim.ravine()
    paths = {"GD": np.array([[-2.0, 1.0], [-1.0, 0.0]]), "mine": optim.trajectory(
        function, functools.partial(optim.SGD, lr=0.01), (-2.0, 1.0), 5)}
    fig, (a, b, c) = plotting.subplots(1, 3)
    figures.plot_trajectories(a, function, paths, title="t")
    assert [line.get_label() for line in a.get_lines() if not line.get_label().startswith("_")][-2:] == ["GD", "mine"]
    figures.plot_values(b, {"mine": paths["mine"]}, function=function)
    np.testing.assert_allclose(b.get_lines()[0].get_ydata(), paths["mine"].values.numpy(), rtol=1e-12)
    figures.plot_basins(c, optim.basins_1d(), np.array([-2.0, 0.0, 2.0]), np.array([0, 1, 2]))
    plt.close(fig)
    with pytest.raises(ValueError, match="1-D"):
        figures.plot_basins(c, function, np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="2-D"):
        figures.plot_contours(a, optim.basins_1d())
    with pytest.raises(TypeError, match="trajectories"):
        figures.plot_trajectories(a, function, [])
    with pytest.raises(ValueError, match="limits"):
        figures.plot_basins(c, optim.basins_1d(), np.zeros(3), np.zeros(2))


def test_trajectory_explorer_recomputes_when_a_control_changes():
    from lecturelib.widgets.optimisers import trajectory_explorer

    calls = []

    def compute(function, names, **kwargs):
        calls.append((function.name, tuple(names), kwargs))
        return descent.compare_trajectories(function, names, steps=5, **{k: v for k, v in kwargs.items()
                                                                          if k != "steps"})

    functions = {name: optim.FUNCTIONS[name] for name in ("ravine", "rosenbrock")}
    box = trajectory_explorer(compute, functions, ["GD", "momentum", "Adam"], lr=0.01, steps=20)
    controls = box.children[1].children
    assert calls[-1] == ("ravine", ("GD", "momentum", "Adam"),
                         {"lr": 0.01, "momentum": 0.9, "betas": (0.9, 0.999), "steps": 20})
    controls[0].value = "rosenbrock"
    assert calls[-1][0] == "rosenbrock" and len(calls) == 2
    controls[2].value = 0.001
    assert calls[-1][2]["lr"] == pytest.approx(0.001) and len(calls) == 3
    controls[1].value = ()
    assert len(calls) == 3  # nothing ticked: nothing computed, a hint is drawn
    plt.close("all")
    with pytest.raises(TypeError, match="functions"):
        trajectory_explorer(compute, {"basins": optim.basins_1d()}, ["GD"])
    with pytest.raises(ValueError, match="selected"):
        trajectory_explorer(compute, functions, ["GD"], selected=["Adam"])
