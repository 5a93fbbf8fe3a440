"""The topology chapter's sublevel-set runs (lecturelib.experiments.topology.sublevel) against closed forms,
scipy.ndimage.label, a brute-force minimum on a fine grid and autograd; its figures and widget."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy import ndimage  # noqa: E402

from lecturelib.experiments.topology import sublevel  # noqa: E402
from lecturelib.plotting import subplots  # noqa: E402
from lecturelib.plotting.topology import component_colors, draw_component_counts, draw_sublevel_set  # noqa: E402
from lecturelib.widgets.topology import sublevel_widget  # noqa: E402


def test_double_well_critical_values_against_a_fine_grid():
    critical = sublevel.double_well_critical_values(0.3)
    u = np.linspace(-2, 2, 400001)
    profile = sublevel.double_well_loss(u, 0.0, 0.3)
    left, right = profile[u < 0], profile[u > 0.6]
    assert critical["global minimum"] == pytest.approx(left.min(), abs=1e-9)
    assert critical["spurious minimum"] == pytest.approx(right.min(), abs=1e-9)
    middle = profile[(u > -0.5) & (u < 0.6)]
    assert critical["saddle"] == pytest.approx(middle.max(), abs=1e-9)
    with pytest.raises(ValueError, match="tilt"):
        sublevel.double_well_critical_values(1.6)


def test_double_well_grid_counts_two_components_between_minimum_and_saddle():
    grid = sublevel.double_well_grid(0.3, points=161)
    c = sublevel.double_well_critical_values(0.3)
    mid = (c["spurious minimum"] + c["saddle"]) / 2
    assert ndimage.label(grid.values <= mid)[1] == 2
    assert ndimage.label(grid.values <= c["saddle"] + 0.1)[1] == 1
    assert grid.values[80, 80] == pytest.approx(1.0)  # the centre (0, 0)


def test_linear_grids_against_their_formula():
    g1 = sublevel.linear_grid(1, target=1.5, bound=2.0, points=5)
    assert g1.values[4, 4] == pytest.approx((4 - 1.5) ** 2) and g1.values[0, 4] == pytest.approx((-4 - 1.5) ** 2)
    g2 = sublevel.linear_grid(2, target=1.0, bound=1.0, points=3)
    # (w11, w12, w21, w22) = (1, -1, 1, 1): w2 . w1 = 1 - 1 = 0
    assert g2.values[2, 0, 2, 2] == pytest.approx(1.0) and g2.values[2, 1, 2, 1] == pytest.approx(0.0)
    assert ndimage.label(sublevel.linear_grid(1, points=101).values <= 0.5)[1] == 2
    with pytest.raises(ValueError, match="width"):
        sublevel.linear_grid(3)


def test_relu_data_and_valley_floors_against_a_brute_force_minimum():
    split = sublevel.relu_data(20, -1.0, 2.0)
    x = split.X_train.numpy().ravel()
    assert len(x) == 20 and not np.any(x == 0) and split.X_train.dtype == torch.float64
    floors = sublevel.relu_valley_values(split)
    y = split.y_train.numpy().ravel()
    assert floors["w > 0"] == pytest.approx((y[x < 0] ** 2).sum() / 20)
    assert floors["w = 0"] == pytest.approx((y ** 2).mean())
    slopes = np.linspace(-4, 4, 8001)  # the loss at w = +1 and w = -1 over a and compare with the floors
    assert sublevel.relu_loss(slopes, 1.0, x, y).min() == pytest.approx(floors["w > 0"], abs=1e-6)
    assert sublevel.relu_loss(slopes, -1.0, x, y).min() == pytest.approx(floors["w < 0"], abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        sublevel.relu_data(7)


def test_scaled_relu_starts_and_per_start_loss_against_autograd_of_one_model():
    model = sublevel.ScaledReLUStarts(5, seed=3)
    assert torch.all(model.a > 0)
    split = sublevel.relu_data(10)
    out = model(split.X_train)
    assert out.shape == (10, 5)
    loss = sublevel.per_start_mse(out, split.y_train)
    loss.backward()
    a, w = model.a.detach()[2].clone().requires_grad_(), model.w.detach()[2].clone().requires_grad_()
    single = ((a * torch.relu(w * split.X_train) - split.y_train) ** 2).mean()
    single.backward()
    torch.testing.assert_close(model.a.grad[2], a.grad)
    torch.testing.assert_close(model.w.grad[2], w.grad)


def test_relu_descent_ends_at_the_two_floors():
    split = sublevel.relu_data(20)
    floors = sublevel.relu_valley_values(split)
    end = sublevel.relu_descent(split, n_starts=40, seed=1, lr=0.1, steps=3000)
    near = np.minimum(np.abs(end["loss"] - floors["w > 0"]), np.abs(end["loss"] - floors["w < 0"]))
    assert np.all(near < 1e-6)
    assert np.all(np.sign(end["w"]) == np.sign(end["start_w"]))  # never crosses the ridge w = 0


def test_sublevel_panels_match_scipy_and_refuse_4d():
    grid = sublevel.double_well_grid(points=81)
    panels = sublevel.sublevel_panels(grid, [0.0, 0.7])
    labels, count = panels[0.7]
    ref, ref_count = ndimage.label(grid.values <= 0.7)
    assert count == ref_count == 2 and np.array_equal(labels, ref)
    with pytest.raises(ValueError, match="2-D"):
        sublevel.sublevel_panels(sublevel.linear_grid(2, points=5), [0.5])


def test_least_squares_loss_against_numpy():
    split = sublevel.deep_linear_data(n=30, seed=2)
    X = np.c_[split.X_train.double().numpy(), np.ones(30)]
    Y = split.y_train.double().numpy()
    coef = np.linalg.lstsq(X, Y, rcond=None)[0]
    assert sublevel.least_squares_loss(split) == pytest.approx(((X @ coef - Y) ** 2).mean(), rel=1e-10)


def test_figures_and_widget():
    labels = np.array([[0, 1], [2, 9]])
    image = component_colors(labels)
    assert image[0, 0, 3] == 0 and image[0, 1, 3] > 0 and not np.allclose(image[0, 1], image[1, 0])
    with pytest.raises(ValueError, match="labels"):
        component_colors(np.zeros(3, dtype=int))
    grid = sublevel.double_well_grid(points=41)
    panels = sublevel.sublevel_panels(grid, [0.0, 0.7])
    fig, (a, b) = subplots(1, 2)
    draw_sublevel_set(a, grid.values, *panels[0.7], 0.7, grid.axes, grid.names)
    assert "N_\\lambda$ = 2" in a.get_title()
    draw_component_counts(b, [0.0, 0.5], [1, 2], {"saddle": 0.4})
    with pytest.raises(ValueError, match="axes"):
        draw_sublevel_set(a, grid.values, *panels[0.7], 0.7, (grid.axes[0],), grid.names)
    box = sublevel_widget({"well": grid}, {"well": panels})
    assert len(box.children) == 3
    with pytest.raises(ValueError, match="panels"):
        sublevel_widget({"well": grid}, {"other": panels})
