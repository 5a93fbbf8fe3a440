"""The chapters' live twins show what their widgets show: each state's records against the data
or the compute function the widget is handed, recomputed independently here."""

import math

import numpy as np
import pytest
import torch

from lecturelib import conditioning, landscape, models, optim
from lecturelib.data import preprocess_matrix
from lecturelib.experiments.optimisers import descent
from lecturelib.experiments.topology import sublevel
from lecturelib.widgets import batchnorm, initialisation, optimisers, preprocessing, sharpness, static, topology
from lecturelib.widgets import landscape as landscape_widgets
from lecturelib.widgets import vanishing


def _rows_at(twin, **point):
    return [row for row in twin.spec["data"]["values"] if all(row.get(k) == v for k, v in point.items())]


def _sweep():
    t = torch.linspace(-1, 1, 5, dtype=torch.float64)
    return {a: {"alpha": 10 ** a, "t": t, "original": t ** 2 + 1, "rescaled": 10 ** abs(a) * t ** 2 + 1,
                "output_change": 1e-9, "top_rescaled": 2 + abs(a)} for a in (-0.5, 0.0, 0.5)}


def test_rescaling_twin_shows_each_alphas_curves_and_every_top_eigenvalue():
    sweep = _sweep()
    twin = sharpness.rescaling_twin(sweep)
    for a, curves in sweep.items():
        rows = {(r["panel"], r.get("series", "")): r for r in _rows_at(twin, log10_alpha=a)}
        rescaled = next(r for (panel, s), r in rows.items() if panel == "loss" and s.startswith("rescaled"))
        np.testing.assert_allclose(rescaled["y"], curves["rescaled"].numpy(), rtol=5e-4)
        assert rows[("top", "λmax")]["y"] == [2.5, 2.0, 2.5]
        assert rows[("selected", "")]["y"] == pytest.approx(curves["top_rescaled"])
    assert twin.spec["params"][0]["value"] == 0.5  # starts where the widget does


def test_running_statistics_twin_keeps_every_other_step_of_each_trace():
    g = torch.Generator().manual_seed(0)
    traces = {(b, m): {"batch_mean": torch.randn(9, generator=g), "running_mean": torch.randn(9, generator=g),
                       "running_var": torch.rand(9, generator=g), "mean": 0.5, "var": 2.0}
              for b in (4, 8) for m in (0.1, 0.5)}
    twin = batchnorm.running_statistics_twin(traces)
    for (b, m), trace in traces.items():
        running = next(r for r in _rows_at(twin, batch_size=b, momentum=m) if r.get("series") == "running mean")
        assert running["x"] == [0, 2, 4, 6, 8]
        np.testing.assert_allclose(running["y"], trace["running_mean"][::2].numpy(), rtol=5e-4, atol=1e-6)
    assert {p["name"]: p["value"] for p in twin.spec["params"]} == {"batch_size": 8, "momentum": 0.1}


def test_gradient_norm_twin_calls_the_profile_it_is_handed_at_every_point():
    calls = []

    def profile(depth, activation, weight_scale, residual):
        calls.append((depth, activation, weight_scale, residual))
        layers = torch.arange(1, depth + 2, dtype=torch.float64)
        return weight_scale ** layers, 2 * weight_scale ** layers

    twin = vanishing.gradient_norm_twin(profile, depths=(10, 20), weight_scales=(0.5, 1.0))
    assert len(calls) == 2 * len(vanishing.WIDGET_ACTIVATIONS) * 2 * 2
    rows = _rows_at(twin, depth=10, activation="tanh", weight_scale=0.5, residual=True)
    measured = next(r for r in rows if r.get("series", "").startswith("measured"))
    np.testing.assert_allclose(measured["y"], 0.5 ** np.arange(1, 12), rtol=5e-4)


def test_deeper_networks_share_their_first_layers_so_the_twin_may_slice_them():
    X = torch.randn(20, 16, generator=torch.Generator().manual_seed(1))
    deep = initialisation.layer_records(X, 0.3, "tanh", 6, seed=0)
    shallow = initialisation.layer_records(X, 0.3, "tanh", 3, seed=0)
    for a, b in zip(deep[:3], shallow):
        torch.testing.assert_close(a.activations, b.activations, rtol=0, atol=0)


def test_activation_histogram_twin_histograms_are_densities_of_the_layers():
    twin = initialisation.activation_histogram_twin(n_samples=40, width=20, gains=(1.0,), depths=(2, 3))
    scale = twin.spec["params"][0]["value"]
    X = initialisation._inputs(40, 20, 0)
    layers = initialisation.layer_records(X, scale, "relu", 3, seed=0)
    rows = [r for r in _rows_at(twin, scale=scale, activation="relu", depth=3) if r["panel"] == "hist"]
    assert len(rows) == 3
    for row, layer in zip(rows, layers):
        values = layer.activations.flatten().numpy()
        counts = [((values >= lo) & (values < lo + 1 / 30)).sum() for lo in np.arange(30) / 30]
        counts[-1] += (values == 1.0).sum()
        # a density over the values inside the drawn range, as the widget's histograms are
        np.testing.assert_allclose(row["y"], np.array(counts) / (sum(counts) / 30), rtol=5e-3)  # 3 digits


def test_trajectory_twin_draws_the_compute_functions_iterates_inside_the_domain():
    functions = {"rosenbrock": optim.FUNCTIONS["rosenbrock"]}
    names = ["GD", "Adam"]
    twin = optimisers.trajectory_twin(descent.compare_trajectories, functions, names, lrs=(0.002, 0.05),
                                      momenta=(0.9,), steps=20)
    for lr in (0.002, 0.05):
        runs = descent.compare_trajectories(functions["rosenbrock"], names, lr=lr, momentum=0.9, steps=20)
        for name in names:
            row = next(r for r in _rows_at(twin, lr=lr) if r["panel"] == "path" and r["series"] == name)
            points = runs[name].points[::4].numpy()
            (x0, x1), (y0, y1) = functions["rosenbrock"].domain
            inside = (x0 <= points[:, 0]) & (points[:, 0] <= x1) & (y0 <= points[:, 1]) & (points[:, 1] <= y1)
            got = np.array([np.nan if v is None else v for v in row["x"][:len(points)]], dtype=float)
            np.testing.assert_allclose(got, np.where(inside, points[:, 0], np.nan), rtol=5e-4, atol=1e-9)
    backgrounds = [r for r in twin.spec["data"]["values"] if r.get("shared")]
    assert [r["background"] for r in backgrounds] == ["rosenbrock"]


def test_preprocessing_records_follow_gradient_descent_on_the_preprocessed_cloud():
    records = preprocessing.preprocessing_records(4.0, 5.0, 30.0, "whitened")
    X, y = conditioning.gaussian_cloud(n=400, mean=(4.0, 2.0), stds=(5.0, 1.0), angle_degrees=30.0, seed=0)
    Z = preprocess_matrix(X, "whitened")
    run = conditioning.gradient_descent_steps(Z, y, tol=1e-6, max_steps=3000)
    steps = conditioning.exact_steps(Z, y, tol=1e-6)
    row = next(r for r in records if r["panel"] == "descent" and r["series"].startswith("whitened"))
    assert row["series"].endswith(f"{steps} steps")
    np.testing.assert_allclose(np.maximum(run.relative_excess, 1e-16)[::25], row["y"][:len(run.relative_excess[::25])])


def test_landscape_records_hold_the_plane_of_the_widget():
    torch.manual_seed(0)
    net = models.MLP([1, 4, 1], "tanh")
    X, y = torch.randn(16, 1), torch.randn(16, 1)
    record = landscape_widgets.landscape_records({"net": net}, X, y, 5, "net", 1, 0.5)[0]
    plane = landscape.plane(net, X, y, steps=5, span=(-0.5, 0.5), seed=1)
    np.testing.assert_allclose(record["z"], plane.loss.ravel())
    np.testing.assert_allclose(np.unique(record["x"]), plane.alphas)


def test_sublevel_records_hold_exactly_the_labelled_cells():
    grid = sublevel.linear_grid(1, points=21)
    panels = {"linear": sublevel.sublevel_panels(grid, np.linspace(grid.values.min() + 0.02, 1.6, 5))}
    level = sorted(panels["linear"])[2]
    labels, count = panels["linear"][level]
    cells = next(r for r in topology.sublevel_records({"linear": grid}, panels, "linear", 2, every=1)
                 if r["panel"] == "set")
    assert len(cells["component"]) == int((np.asarray(labels) > 0).sum())
    assert set(cells["component"]) == set(range(1, count + 1))
    twin = topology.sublevel_twin({"linear": grid}, panels)
    assert [p["name"] for p in twin.spec["params"]] == ["loss", "step"]


def test_twins_refuse_what_their_widgets_refuse():
    with pytest.raises(ValueError, match="sweep must be"):
        sharpness.rescaling_twin({0.0: {}})
    with pytest.raises(TypeError, match="traces must be"):
        batchnorm.running_statistics_twin([])
    with pytest.raises(TypeError, match="profile must be callable"):
        vanishing.gradient_norm_twin(3)
    with pytest.raises(TypeError, match="functions must be"):
        optimisers.trajectory_twin(descent.compare_trajectories, {}, ["GD"])
    with pytest.raises(ValueError, match="steps must be"):
        landscape_widgets.landscape_twin({"a": None}, None, None, steps=2)
    with pytest.raises(ValueError, match="level_step"):
        grid = sublevel.linear_grid(1, points=11)
        topology.sublevel_twin({"g": grid}, {"g": sublevel.sublevel_panels(grid, [0.5])}, level_step=0)
    assert math.isclose(static.FILTER_TOLERANCE, 1e-6)


def test_regulariser_twin_shows_each_fit_and_the_norms_of_its_regulariser():
    from lecturelib import data
    from lecturelib.widgets import regularisation

    split = data.regression_1d(noise=0.3)
    grid_x = np.linspace(-1, 1, 6)

    def entry(k):
        return {"grid": grid_x, "prediction": k * grid_x, "weight_norm": 10.0 - k, "zero_weights": 0,
                "train_mse": 0.1, "test_mse": 0.2}

    grid = {("none", 0.0): entry(0), ("l2", 0.01): entry(1), ("l2", 0.1): entry(2), ("l1", 0.01): entry(3),
            ("l1", 0.1): entry(4)}
    twin = regularisation.regulariser_twin(grid, split)
    rows = _rows_at(twin, kind="l1", level=1)
    fit = next(r for r in rows if r.get("series") == "regularised fit")
    np.testing.assert_allclose(fit["y"], static.every(4 * grid_x, 2), rtol=5e-4)
    norms = [(r["strength"], r["y"], r["series"]) for r in rows if r["panel"] == "norms"]
    assert norms == [("0.01", 7.0, "other"), ("0.1", 6.0, "selected")]
    assert {p["name"]: p["value"] for p in twin.spec["params"]} == {"kind": "l2", "level": 1}


def test_depth_twin_shows_the_fits_of_the_chosen_configuration_and_both_loss_curves():
    from types import SimpleNamespace

    from lecturelib import data
    from lecturelib.widgets import residual

    grid = torch.linspace(-1, 1, 5).unsqueeze(1)
    labels, depths = ["plain", "residual", "plain", "residual"], [2, 2, 4, 4]
    outputs = torch.stack([m * grid for m in range(4)])  # (members, points, 1): member m draws m x
    fits = SimpleNamespace(grid=grid, outputs=outputs, epochs=[0, 1, 2], depths=depths, labels=labels,
                           train_loss=torch.tensor([[1.0, 2.0, 3.0, 4.0]] * 3, dtype=torch.float64))
    twin = residual.depth_twin(fits, data.regression_1d(noise=0.3))
    rows = _rows_at(twin, depth=4, architecture="residual")
    fits_shown = [r for r in rows if r["panel"] == "fit"]
    assert len(fits_shown) == 1 and fits_shown[0]["y"] == [-3.0, 0.0, 3.0]  # member 3, every other point
    assert sorted(r["net"] for r in rows if r["panel"] == "loss") == ["plain", "residual"]
    assert {p["name"]: p["value"] for p in twin.spec["params"]} == {"depth": 4, "architecture": "plain"}
