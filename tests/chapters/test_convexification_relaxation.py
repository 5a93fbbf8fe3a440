"""The convexification chapter's relaxation runs and its widget."""

import numpy as np
import pytest
import torch


from lecturelib.experiments.convexification import relaxation
from lecturelib.experiments.convexification.relaxation import KernelPoint
from lecturelib.widgets import convexification as w


@pytest.fixture(scope="module")
def small_split():
    split = relaxation.digit_images()
    return type(split)(split.X_train[:300], split.y_train[:300], split.X_test[:100], split.y_test[:100], "small")


def test_step_size_is_below_one_over_the_dense_lipschitz_constant(small_split):
    features = relaxation.patch_features(small_split.X_train)
    Z = features(small_split.X_train).reshape(300, -1)
    exact = 2.0 / float(torch.linalg.eigvalsh(Z.T @ Z / 300).max())
    step = relaxation.step_size(features, small_split.X_train)
    assert exact / 1.06 < step <= exact


def test_radius_sweep_rank_grows_and_the_ball_binds(small_split):
    features = relaxation.patch_features(small_split.X_train)
    points = relaxation.radius_sweep(features, small_split, [0.5, 4.0, 28.5], steps=150)
    ranks = [p.rank for p in points]
    assert ranks == sorted(ranks) and ranks[0] < ranks[-1]
    for p in points:
        assert p.singular_values.sum() <= p.radius * (1 + 1e-9)
    assert points[-1].train_error < points[0].train_error


def test_cnn_radius_bound_and_random_cnns_inside_it():
    assert relaxation.cnn_radius_bound(2.0, 3.0, 4, 9) == pytest.approx(72.0)
    ratios = relaxation.random_cnn_nuclear_ratios(draws=20)
    assert ratios.max() <= 1.0 and ratios.min() > 0.5


def _kernel_points():
    return {(r, m): KernelPoint(r, m, np.linspace(r, 0, m), 0.1 / r, 0.2 / r) for r in (1.0, 4.0) for m in (8, 16)}


def test_ccnn_records_show_the_largest_singular_values_and_the_errors():
    points = _kernel_points()
    spectrum, caption = w.ccnn_records(points, 4.0, 16)
    assert np.array_equal(spectrum["y"], np.sort(points[(4.0, 16)].singular_values)[::-1])
    assert list(spectrum["x"]) == list(range(1, 17))
    assert "train error 2.5 %" in caption["text"] and "test error 5.0 %" in caption["text"]


def test_ccnn_widget_and_twin_refuse_an_incomplete_grid():
    points = _kernel_points()
    del points[(4.0, 8)]
    with pytest.raises(ValueError, match="whole grid"):
        w.ccnn_twin(points)
    with pytest.raises(TypeError, match="points"):
        w.ccnn_widget([])
    assert w.ccnn_twin(_kernel_points()) is not None


def test_kernel_grid_covers_the_grid_and_its_features_are_reused(small_split):
    grid = relaxation.kernel_grid(small_split, [1.0, 8.0], [8, 16], steps=5)
    assert set(grid) == {(1.0, 8), (8.0, 8), (1.0, 16), (8.0, 16)}
    assert all(isinstance(p, KernelPoint) and len(p.singular_values) == min(10 * 9, m) for (r, m), p in grid.items())
