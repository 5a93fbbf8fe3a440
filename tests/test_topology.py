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

from lecturelib import topology


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
