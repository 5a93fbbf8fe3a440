"""lecturelib.topology: sublevel-set components against hand-made grids, closed-form landscapes and an
independent breadth-first labelling; Dynamic String Sampling on toy losses with known geometry."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from lecturelib import models, params, topology


def _bfs_components(mask: np.ndarray) -> int:
    """Reference: count face-connected components of a boolean array by breadth-first search."""
    seen = np.zeros(mask.shape, dtype=bool)
    steps = [tuple(s if k == axis else 0 for k in range(mask.ndim)) for axis in range(mask.ndim) for s in (-1, 1)]
    count = 0
    for start in itertools.product(*map(range, mask.shape)):
        if not mask[start] or seen[start]:
            continue
        count += 1
        seen[start] = True
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for step in steps:
                nb = tuple(n + s for n, s in zip(node, step))
                if all(0 <= i < m for i, m in zip(nb, mask.shape)) and mask[nb] and not seen[nb]:
                    seen[nb] = True
                    queue.append(nb)
    return count


# --- hand-made grids with known answers, 1 to 4 dimensions ---------------------------------------

def test_one_dimension_counts_runs():
    values = np.array([0, 0, 5, 0, 5, 5, 0, 0, 0, 5, 0], dtype=float)
    assert topology.sublevel_components(values, 1) == 4
    assert topology.sublevel_components(values, 5) == 1
    assert topology.sublevel_components(values, -1) == 0


def test_two_dimensions_diagonals_do_not_connect():
    checker = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    assert topology.sublevel_components(checker, 0.5) == 5  # face adjacency: five isolated zeros
    ring = np.ones((5, 5))
    ring[1:4, 1:4] = 0
    ring[2, 2] = 2
    labels, count = topology.sublevel_labels(ring, 0.5)
    assert count == 1 and labels[2, 2] == 0 and labels.shape == (5, 5)
    assert topology.sublevel_components(ring, 1.5) == 1  # the ring and the border around the peak


def test_three_and_four_dimensions():
    cube = np.ones((4, 4, 4))
    cube[0, 0, 0] = cube[3, 3, 3] = cube[0, 3, 0] = 0
    assert topology.sublevel_components(cube, 0) == 3
    cube[0, 1:3, 0] = 0  # a corridor joins two corners along one axis
    assert topology.sublevel_components(cube, 0) == 2
    hyper = np.ones((3, 3, 3, 3))
    hyper[0, 0, 0, 0] = hyper[2, 2, 2, 2] = 0
    hyper[1, 1, 1, 1] = 0  # touches neither along a face
    assert topology.sublevel_components(hyper, 0.5) == 3
    hyper[1, 0, 0, 0] = hyper[1, 1, 0, 0] = hyper[1, 1, 1, 0] = 0  # a staircase of face steps
    assert topology.sublevel_components(hyper, 0.5) == 2


def test_double_well_has_two_components_below_one_and_one_above():
    x = np.linspace(-2, 2, 101)
    a, b = np.meshgrid(x, x, indexing="ij")
    values = (a ** 2 - 1) ** 2 + b ** 2  # minima at (+-1, 0), saddle at the origin with value 1
    assert topology.sublevel_components(values, 0.9) == 2
    assert topology.sublevel_components(values, 0.999) == 2
    assert topology.sublevel_components(values, 1.001) == 1
    assert topology.sublevel_components(values, 2.0) == 1
    counts = topology.component_counts(torch.tensor(values), [0.5, 1.5, -0.1, 0.99])
    assert counts.dtype == np.int64 and counts.tolist() == [2, 1, 0, 2]
    assert topology.spurious_valleys(values, 0.5) == 0  # both wells are global minima
    np.testing.assert_allclose(topology.component_minima(values, 0.5), [0.0, 0.0], atol=1e-12)


def test_tilted_double_well_has_one_spurious_valley_below_the_saddle():
    x = np.linspace(-2, 2, 201)
    a, b = np.meshgrid(x, x, indexing="ij")
    values = (a ** 2 - 1) ** 2 + b ** 2 + 0.3 * a  # the right well is raised
    minima = topology.component_minima(values, 0.5)
    assert len(minima) == 2 and minima[0] < minima[1]
    assert minima[0] == pytest.approx(values.min())
    # closed form of the raised well's minimum: 4a(a^2 - 1) + 0.3 = 0 near a = 1
    root = max(np.roots([4, 0, -4, 0.3]).real)
    assert minima[1] == pytest.approx((root ** 2 - 1) ** 2 + 0.3 * root, abs=2e-3)
    assert topology.spurious_valleys(values, 0.5) == 1
    assert topology.spurious_valleys(values, 3.0) == 0  # above the saddle the valleys merge
    assert topology.spurious_valleys(values, values.min() - 1) == 0
    assert len(topology.component_minima(values, values.min() - 1)) == 0


def test_made_up_field_minima_and_spurious_valleys():
    field = np.full((6, 6), 9.0)
    field[0, 0], field[0, 1] = -2.0, -1.0   # global basin
    field[4, 4] = 0.5                       # spurious valley
    field[2, 4], field[2, 5] = -2.0, 3.0    # a second global minimum, separate
    np.testing.assert_array_equal(topology.component_minima(field, 4.0), [-2.0, -2.0, 0.5])
    assert topology.spurious_valleys(field, 4.0) == 1
    assert topology.spurious_valleys(field, 0.0) == 0  # the valley at 0.5 is not in the set yet
    assert topology.spurious_valleys(field + np.eye(6) * 1e-12, 4.0, tol=1e-9) == 1
    field[4, 4] = -2.0 + 1e-12
    assert topology.spurious_valleys(field, 4.0) == 0
    assert topology.spurious_valleys(field, 4.0, tol=0.0) == 1


def test_mask_and_grid_are_float64_copies():
    values = torch.tensor([[0.0, 2.0], [1.0, 3.0]])
    np.testing.assert_array_equal(topology.sublevel_mask(values, 1.0), [[True, False], [True, False]])
    grid = topology.as_grid(np.array([1, 2], dtype=np.int32))
    assert grid.dtype == np.float64 and grid.tolist() == [1.0, 2.0]


def test_infinities_are_obstacles_and_torch_input_is_copied():
    values = torch.zeros(7)
    values[3] = float("inf")
    assert topology.sublevel_components(values, 1e9) == 2
    values[3] = -float("inf")
    assert topology.sublevel_components(values, -1e9) == 1
    assert values[3] == -float("inf")  # untouched


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
                  elements=st.floats(-1, 1)), st.floats(-1, 1))
def test_agrees_with_breadth_first_search_and_scipy(values, level):
    mask = values <= level
    count = topology.sublevel_components(values, level)
    assert count == _bfs_components(mask)
    assert count == ndimage.label(mask, structure=ndimage.generate_binary_structure(values.ndim, 1))[1]
    labels, n = topology.sublevel_labels(torch.from_numpy(values), level)
    assert n == count and set(np.unique(labels[mask])) == set(range(1, n + 1)) and not labels[~mask].any()
    minima = topology.component_minima(values, level)
    assert len(minima) == count and np.all(np.diff(minima) >= 0)
    assert np.all(minima <= level)


@pytest.mark.parametrize("values, error", [
    ([1.0, 2.0], TypeError), (np.array(1.0), ValueError), (np.zeros((0, 3)), ValueError),
    (np.array([1.0, np.nan]), ValueError), (np.array(["a"]), TypeError), (torch.zeros(2, dtype=torch.cfloat), TypeError),
])
def test_bad_values_are_refused(values, error):
    with pytest.raises(error, match="values"):
        topology.sublevel_components(values, 0.0)


def test_bad_levels_are_refused():
    grid = np.zeros(4)
    with pytest.raises(ValueError, match="level"):
        topology.sublevel_components(grid, float("nan"))
    with pytest.raises(TypeError, match="level"):
        topology.sublevel_components(grid, "0")
    with pytest.raises(TypeError, match="levels"):
        topology.component_counts(grid, 0.5)
    with pytest.raises(ValueError, match="levels"):
        topology.component_counts(grid, [])
    with pytest.raises(ValueError, match=r"levels\[1\]"):
        topology.component_counts(grid, [0.0, float("inf")])
    with pytest.raises(ValueError, match="tol"):
        topology.spurious_valleys(grid, 0.0, tol=-1.0)


# --- Dynamic String Sampling -----------------------------------------------------------------------

class _Plane(torch.nn.Module):
    """A 2-parameter "model": its output is its parameter vector, so a loss_fn of the output is any f(theta)."""

    def __init__(self):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x):
        return self.theta.expand(len(x), 2)


def _bowl(out, y):
    return (out.mean(0) ** 2).sum()


def _bump_value(theta):
    r2 = (theta ** 2).sum(-1)
    return 2 * torch.exp(-r2) + 0.02 * r2  # a bump of height 2 at the origin, low ground at radius > 1.2


def _bump(out, y):
    return _bump_value(out.mean(0))


def _wall(out, y):
    return (out.mean(0)[0] ** 2 - 1) ** 2  # two valleys x = -1 and x = +1, a wall of height 1 at x = 0 for every y


_X = torch.zeros(3, 1, dtype=torch.float64)
_Y = torch.zeros(3, dtype=torch.float64)
_A = torch.tensor([-2.0, 0.0], dtype=torch.float64)
_B = torch.tensor([2.0, 0.0], dtype=torch.float64)


def _dense_max(path, f, n=2001):
    points = path.vectors()
    t = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    return max(float(f(a + t * (b - a)).max()) for a, b in zip(points[:-1], points[1:]))


def test_convex_bowl_is_joined_by_the_straight_segment():
    a, b = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([0.8, -0.3], dtype=torch.float64)
    path = topology.dynamic_string_sampling(_Plane(), _X, _Y, a, b, threshold=1.3, loss_fn=_bowl, resolution=9)
    assert path.succeeded and path.inserted == 0 and path.attempts == 0 and len(path.points) == 2
    assert path.normalised_length == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(path.position, np.linspace(0, 1, 9), atol=1e-12)
    line = a + torch.from_numpy(path.position)[:, None] * (b - a)
    np.testing.assert_allclose(path.losses, (line ** 2).sum(1).numpy(), rtol=1e-12)  # closed form along the line
    assert path.max_loss == pytest.approx(max(float((a ** 2).sum()), float((b ** 2).sum())))
    torch.testing.assert_close(path.points[0]["theta"], a)
    torch.testing.assert_close(path.points[-1]["theta"], b)


def test_string_bends_around_a_bump():
    path = topology.dynamic_string_sampling(_Plane(), _X, _Y, _A, {"theta": _B}, threshold=0.5, loss_fn=_bump, lr=0.5)
    assert path.succeeded and path.inserted >= 1 and path.max_loss <= 0.5 and path.depth >= 1
    assert len(path.points) == path.inserted + 2 and len(path.segment_max) == path.inserted + 1
    assert len(path.losses) == len(path.position) == 16 * (path.inserted + 1) + 1
    assert np.all(np.diff(path.position) > 0) and path.position[-1] == pytest.approx(1.0)
    assert _dense_max(path, _bump_value) <= 0.5  # between the samples too (closed form)
    assert path.normalised_length > 1.0 + 1e-3  # the path had to bend
    vectors = path.vectors()
    np.testing.assert_allclose(path.pivot_losses, [float(_bump_value(v)) for v in vectors[1:-1]], rtol=1e-12)
    first = vectors[1]  # the first pivot lies in the bisecting hyperplane of [A, B], away from the bump
    assert float((first - _A).norm()) == pytest.approx(float((first - _B).norm()), rel=1e-9)
    assert float(first.norm()) > 1.18
    again = topology.dynamic_string_sampling(_Plane(), _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump, lr=0.5)
    torch.testing.assert_close(again.vectors(), vectors, rtol=0, atol=0)  # seeded


def test_without_a_kick_the_symmetric_bump_traps_the_pivot():
    path = topology.dynamic_string_sampling(_Plane(), _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump, jitter=0.0)
    assert not path.succeeded and path.inserted == 0 and path.attempts == 1
    assert path.max_loss == pytest.approx(2.0)  # the bump's top, sampled at the midpoint


def test_budget_and_walls_leave_the_path_unresolved():
    path = topology.dynamic_string_sampling(_Plane(), _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump, max_insertions=0)
    assert not path.succeeded and path.attempts == 0 and path.max_loss == pytest.approx(2.0)
    a, b = torch.tensor([-1.0, 0.3], dtype=torch.float64), torch.tensor([1.0, 0.3], dtype=torch.float64)
    wall = topology.dynamic_string_sampling(_Plane(), _X, _Y, a, b, threshold=0.5, loss_fn=_wall)
    assert not wall.succeeded and wall.inserted == 0 and wall.attempts == 1  # the bisector x = 0 lies at loss 1
    b = torch.tensor([1.0, -0.2], dtype=torch.float64)  # a tilted bisector: pivots land, the wall stays
    tilted = topology.dynamic_string_sampling(_Plane(), _X, _Y, a, b, threshold=0.5, loss_fn=_wall)
    assert not tilted.succeeded and tilted.inserted >= 1 and np.all(tilted.pivot_losses <= 0.5)
    assert _dense_max(tilted, lambda v: (v[..., 0] ** 2 - 1) ** 2) == pytest.approx(1.0, abs=1e-5)


def test_network_points_as_dicts_or_vectors_and_default_loss():
    torch.manual_seed(0)
    net = models.MLP([2, 8, 1], "tanh")
    X = torch.randn(20, 2)
    y = torch.randn(20, 1)
    first, second = params.copy_state(net), {k: v + 0.3 * torch.randn_like(v) for k, v in params.copy_state(net).items()}
    by_dict = topology.dynamic_string_sampling(net, X, y, first, second, threshold=50.0, resolution=5)
    by_vector = topology.dynamic_string_sampling(net, X, y, params.flatten(first), params.flatten(second),
                                                 threshold=50.0, resolution=5)
    torch.testing.assert_close(by_dict.vectors(), by_vector.vectors())
    with torch.no_grad():
        direct = torch.nn.functional.mse_loss(torch.func.functional_call(net, first, (X,)), y)
    assert by_dict.losses[0] == pytest.approx(float(direct), rel=1e-5)
    for name, value in params.state(net).items():  # the model's own weights are left alone
        torch.testing.assert_close(value, first[name], rtol=0, atol=0)


def test_dss_bad_input_is_refused():
    plane = _Plane()
    call = topology.dynamic_string_sampling
    with pytest.raises(ValueError, match="start has loss"):
        call(plane, _X, _Y, torch.zeros(2, dtype=torch.float64), _B, threshold=0.5, loss_fn=_bump)
    with pytest.raises(ValueError, match="same point"):
        call(plane, _X, _Y, _A, _A.clone(), threshold=0.5, loss_fn=_bump)
    with pytest.raises(ValueError, match="3 entries"):
        call(plane, _X, _Y, torch.zeros(3, dtype=torch.float64), _B, threshold=0.5, loss_fn=_bump)
    with pytest.raises(ValueError, match="missing"):
        call(plane, _X, _Y, {"other": _A}, _B, threshold=0.5, loss_fn=_bump)
    with pytest.raises(TypeError, match="start"):
        call(plane, _X, _Y, [-2.0, 0.0], _B, threshold=0.5, loss_fn=_bump)
    with pytest.raises(ValueError, match="resolution"):
        call(plane, _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump, resolution=2)
    with pytest.raises(ValueError, match="lr"):
        call(plane, _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump, lr=0.0)
    with pytest.raises(ValueError, match="target"):
        call(plane, _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump, target=0.6)
    with pytest.raises(ValueError, match="threshold"):
        call(plane, _X, _Y, _A, _B, threshold=float("nan"), loss_fn=_bump)
    with pytest.raises(TypeError, match="model"):
        call("net", _X, _Y, _A, _B, threshold=0.5, loss_fn=_bump)
    with pytest.raises(ValueError, match="same number"):
        call(plane, _X, _Y[:2], _A, _B, threshold=0.5, loss_fn=_bump)
    with pytest.raises(ValueError, match="NaN"):
        call(plane, _X, _Y, {"theta": torch.tensor([float("nan"), 0.0], dtype=torch.float64)}, _B, threshold=0.5,
             loss_fn=_bump)
