"""The mode-connectivity chapter: its runs against direct training with train.fit, its exercise
checkers against their references and named mistakes, its figures and its widget."""

import copy

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecturelib import connectivity as cn  # noqa: E402
from lecturelib.data import DataSplit  # noqa: E402
from lecturelib.experiments import connectivity as runs  # noqa: E402
from lecturelib.models import MLP  # noqa: E402
from lecturelib.train import fit  # noqa: E402
from tests.test_connectivity import batch, nets, perturb_bend  # noqa: E402, F401 (fixtures)


@pytest.fixture
def split():
    generator = torch.Generator().manual_seed(5)
    X, y = torch.randn(40, 3, generator=generator), torch.randint(0, 4, (40,), generator=generator)
    return DataSplit(X[:32], y[:32], X[32:], y[32:], "toy")


# ------------------------------------------------------------------------------- the runs

def test_endpoints_train_exactly_like_fit_with_the_seeded_recipe_and_come_back_from_the_cache(split):
    recipe = dict(widths=(3, 8, 4), epochs=6, lr=0.05, momentum=0.9, batch_size=8)
    first = runs.train_endpoints(split, seeds=(1, 2), **recipe)
    for seed, run in zip((1, 2), first):
        torch.manual_seed(seed)
        reference = MLP([3, 8, 4], "relu")
        history = fit(reference, split, lr=0.05, momentum=0.9, epochs=6, batch_size=8, seed=seed, eval_every=1)
        assert not run.from_cache and not run.model.training
        for p, q in zip(run.model.parameters(), reference.parameters()):
            assert torch.equal(p, q)
        assert run.history.train_loss == history.train_loss
    again = runs.train_endpoints(split, seeds=(1, 2), **recipe)
    assert all(run.from_cache for run in again)
    for a, b in zip(first, again):
        for p, q in zip(a.model.parameters(), b.model.parameters()):
            assert torch.equal(p, q)


def test_curve_trains_exactly_like_fit_on_a_curve(split):
    start, end = MLP([3, 6, 4], "tanh"), MLP([3, 6, 4], "tanh")
    run = runs.train_curve(start, end, split, kind="polychain", epochs=4, lr=0.01, batch_size=8, seed=3)
    reference = cn.Curve(start, end, "polychain", seed=3)
    history = fit(reference, split, optimizer="adam", lr=0.01, epochs=4, batch_size=8, seed=3, eval_every=1)
    for p, q in zip(run.model.bend, reference.bend):
        assert torch.equal(p, q)
    assert run.history.train_loss == history.train_loss
    assert runs.train_curve(start, end, split, kind="polychain", epochs=4, lr=0.01, batch_size=8, seed=3).from_cache
    # other endpoints are another run
    assert not runs.train_curve(end, start, split, kind="polychain", epochs=4, lr=0.01, batch_size=8, seed=3).from_cache


def test_runs_refuse_bad_arguments(nets, batch, split):
    X, y = batch
    with pytest.raises(TypeError, match="data must be"):
        runs.train_endpoints((X, y))
    with pytest.raises(ValueError, match="nothing to train"):
        runs.train_curve(*nets, split, kind="line")
    with pytest.raises(ValueError, match="kind"):
        runs.curve_spec(*nets, split, kind="spline")
    with pytest.raises(ValueError, match="seeds"):
        runs.train_endpoints(split, seeds=())
    with pytest.raises(TypeError, match="seeds"):
        runs.train_endpoints(split, seeds=("a",))


# ------------------------------------------------------------------------------- exercises

def test_permutation_checker_accepts_the_right_answer_and_explains_wrong_ones():
    from lecturelib.exercises.connectivity import _reference_permutation, check_permutation

    assert check_permutation(_reference_permutation).passed

    def rows_only(model, permutation):
        out = copy.deepcopy(model)
        with torch.no_grad():
            out.layers[0].weight.copy_(model.layers[0].weight[permutation])
            out.layers[0].bias.copy_(model.layers[0].bias[permutation])
        return out

    def inverted(model, permutation):
        return _reference_permutation(model, torch.argsort(permutation))

    def in_place(model, permutation):
        with torch.no_grad():
            model.layers[0].bias.add_(1.0)
        return model

    result = check_permutation(rows_only)
    assert not result.passed and "columns of layers[1].weight" in result.message
    result = check_permutation(inverted)
    assert not result.passed and "do not invert" in result.message
    result = check_permutation(in_place)
    assert not result.passed and "copy" in result.message
    assert not check_permutation(lambda model, permutation: copy.deepcopy(model)).passed
    assert not check_permutation(lambda model, permutation: None).passed
    with pytest.raises(TypeError, match="must be a function"):
        check_permutation("answer")


def test_bezier_checker_agrees_with_the_curve_and_names_the_straight_line():
    from lecturelib.exercises.connectivity import _reference_bezier, check_bezier_point

    assert check_bezier_point(lambda w1, theta, w2, t: (1 - t) ** 2 * w1 + 2 * t * (1 - t) * theta + t ** 2 * w2)
    wrong = check_bezier_point(lambda w1, theta, w2, t: (1 - t) * w1 + t * w2)
    assert not wrong.passed and "phi(t)" in wrong.message
    # the checker's private reference is the library's Bezier curve
    w1, theta, w2 = torch.randn(3, 5, dtype=torch.float64)
    for t in (0.0, 0.3, 1.0):
        c1, c_theta, c2 = (float(c) for c in cn.curve_coefficients("bezier", t))
        torch.testing.assert_close(_reference_bezier(w1, theta, w2, t), c1 * w1 + c_theta * theta + c2 * w2,
                                   rtol=1e-15, atol=1e-15)


# ------------------------------------------------------------------------------- figures and widget

def test_path_figures_and_explorer_build_and_plot(nets, batch):
    import ipywidgets
    import matplotlib.pyplot as plt

    from lecturelib.landscape import LandscapeResult
    from lecturelib.plotting.paths import PATH_COLORS, plot_plane, plot_profiles
    from lecturelib.widgets.connectivity import path_explorer

    X, y = batch
    t = np.linspace(0, 1, 5)
    curve = cn.Curve(*nets, kind="bezier")
    perturb_bend(curve)
    paths = {"line": cn.Curve(*nets, kind="line"), "bezier": curve}
    profiles = {name: cn.path_profile(path, X, y, t=t) for name, path in paths.items()}
    start, end = curve.endpoints()
    basis = cn.plane_basis(start, end, curve.bend_point())
    coordinates = {name: cn.curve_plane_coordinates(path, t=t, basis=basis) for name, path in paths.items()}
    plane = LandscapeResult(np.linspace(-1, 5, 4), np.linspace(-1, 3, 3), np.random.default_rng(0).random((4, 3)) + 0.1)
    box = path_explorer(profiles, profiles, plane, coordinates)
    assert isinstance(box, ipywidgets.VBox)
    fig, ax = plt.subplots()
    plot_profiles(ax, profiles, "error")
    assert len(ax.lines) == 2 and ax.lines[0].get_color() == PATH_COLORS["line"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 100 * profiles["bezier"].error)
    with pytest.raises(ValueError, match="metric"):
        plot_profiles(ax, profiles, "accuracy")
    with pytest.raises(TypeError, match="profiles"):
        plot_profiles(ax, {"line": 3}, "loss")
    with pytest.raises(ValueError, match="shape"):
        plot_plane(ax, plane, {"line": np.zeros(3)})
    with pytest.raises(ValueError, match="same paths"):
        path_explorer(profiles, profiles, plane, {"line": coordinates["line"]})
    plt.close("all")
