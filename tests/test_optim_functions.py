"""lecturelib.optim.functions and .trajectory: closed-form values and gradients, critical points, iterates."""

import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lecturelib import optim

F64 = torch.float64


def _basins_derivative(x):
    return (x + 2) * (x + 1) * (x - 0.5) * (x - 1.5) * (x - 2.5)


# (function, closed-form value, closed-form gradient), both of x, y as float64 tensors (x only for 1-D)
CLOSED = [
    (optim.ravine(), lambda x, y: 0.5 * (x ** 2 + 50 * y ** 2), lambda x, y: (x, 50 * y)),
    (optim.ravine(kappa=8.0), lambda x, y: 0.5 * (x ** 2 + 8 * y ** 2), lambda x, y: (x, 8 * y)),
    (optim.rosenbrock(), lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
     lambda x, y: (-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2))),
    (optim.rosenbrock(a=-0.5, b=10.0), lambda x, y: (-0.5 - x) ** 2 + 10 * (y - x ** 2) ** 2,
     lambda x, y: (-2 * (-0.5 - x) - 40 * x * (y - x ** 2), 20 * (y - x ** 2))),
    (optim.saddle(), lambda x, y: x ** 2 - y ** 2, lambda x, y: (2 * x, -2 * y)),
    (optim.monkey_saddle(), lambda x, y: x ** 3 - 3 * x * y ** 2, lambda x, y: (3 * x ** 2 - 3 * y ** 2, -6 * x * y)),
    (optim.plateau(), lambda x, y: torch.tanh((x - 1) ** 2) + 0.5 * y ** 2,
     lambda x, y: (2 * (x - 1) / torch.cosh((x - 1) ** 2) ** 2, y)),
]


@pytest.mark.parametrize("function, value, gradient", CLOSED, ids=[c[0].name for c in CLOSED])
def test_values_and_gradients_match_closed_forms(function, value, gradient):
    g = torch.Generator().manual_seed(0)
    low = torch.tensor([d[0] for d in function.domain], dtype=F64)
    high = torch.tensor([d[1] for d in function.domain], dtype=F64)
    points = low + (high - low) * torch.rand(4, 5, 2, generator=g, dtype=F64)  # any leading shape
    x, y = points[..., 0], points[..., 1]
    torch.testing.assert_close(function(points), value(x, y), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(function.gradient(points), torch.stack(gradient(x, y), dim=-1), rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.floats(-3.0, 3.5))
def test_basins_derivative_is_the_product_of_its_roots(x):
    f = optim.basins_1d()
    point = torch.tensor([[x]], dtype=F64)
    assert float(f.gradient(point)) == pytest.approx(_basins_derivative(x), rel=1e-9, abs=1e-9)


def test_basins_values_and_basins_of_attraction():
    f = optim.basins_1d()
    minima = [m[0] for m in f.minima]
    assert minima == [-2.0, 0.5, 2.5] and [m[0] for m in f.maxima] == [-1.0, 1.5]
    values = f(torch.tensor([[-2.0], [0.5], [2.5], [0.0]], dtype=F64))
    # f(c) = integral of the derivative from 0 to c, by Simpson's rule on a fine grid (exact for degree <= 3 pieces)
    for c, v in zip([-2.0, 0.5, 2.5], values[:3]):
        s = torch.linspace(0, c, 20001, dtype=F64)
        d = _basins_derivative(s)
        h = c / 20000
        integral = h / 3 * (d[0] + d[-1] + 4 * d[1:-1:2].sum() + 2 * d[2:-1:2].sum())
        assert float(v) == pytest.approx(float(integral), abs=1e-10)
    assert float(values[3]) == 0.0
    assert float(values[2]) < float(values[1]) < float(values[0])  # 2.5 is the global minimum
    # gradient descent from each basin ends in that basin's minimum
    starts = [-2.4, -1.1, -0.9, 1.4, 1.6, 2.9]
    ends = [optim.trajectory(f, functools.partial(torch.optim.SGD, lr=0.01), (s,), 2000).final.item() for s in starts]
    assert ends == pytest.approx([-2.0, -2.0, 0.5, 0.5, 2.5, 2.5], abs=1e-6)


def _hessian(function, point):
    x = torch.tensor(point, dtype=F64)
    return torch.autograd.functional.hessian(lambda p: function(p), x)


@pytest.mark.parametrize("name", list(optim.FUNCTIONS))
def test_critical_points_are_what_they_claim(name):
    f = optim.FUNCTIONS[name]
    assert f.name == name and f.dim == len(f.domain) and (f.minima or f.saddles)
    for kind, points in (("minimum", f.minima), ("saddle", f.saddles), ("maximum", f.maxima)):
        for point in points:
            assert all(low <= c <= high for c, (low, high) in zip(point, f.domain)), (kind, point)
            gradient = f.gradient(torch.tensor(point, dtype=F64))
            assert float(gradient.abs().max()) < 1e-12, (kind, point)
            eigenvalues = torch.linalg.eigvalsh(_hessian(f, point))
            if kind == "minimum":
                assert float(eigenvalues.min()) > 0
            elif kind == "maximum":
                assert float(eigenvalues.max()) < 0
            elif name == "saddle":
                assert eigenvalues.tolist() == [-2.0, 2.0]
            else:  # the monkey saddle is degenerate: its Hessian vanishes
                assert float(eigenvalues.abs().max()) == 0.0


def test_ravine_condition_number_and_plateau_flatness():
    for kappa in (2.0, 50.0, 1000.0):
        eigenvalues = torch.linalg.eigvalsh(_hessian(optim.ravine(kappa), (0.3, -0.2)))
        assert float(eigenvalues.max() / eigenvalues.min()) == pytest.approx(kappa, rel=1e-12)
    f = optim.plateau()
    floor = torch.stack([torch.linspace(-3.0, -1.0, 201, dtype=F64), torch.zeros(201, dtype=F64)], dim=-1)
    assert float(f.gradient(floor).abs().max()) < 6e-3  # |x - 1| >= 2: nearly flat...
    assert float(f(floor).min()) > 0.999  # ...at height ~1, far above the minimum's 0
    assert float(f.gradient(torch.tensor([-1.5, 0.0], dtype=F64))[0].abs()) < 2e-4


def test_points_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        optim.ravine()(torch.zeros(4, 3))
    with pytest.raises(TypeError, match="floating"):
        optim.saddle()(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="kappa"):
        optim.ravine(kappa=0.0)
    with pytest.raises(ValueError, match="kappa"):
        optim.ravine(kappa=math.nan)


def test_trajectory_of_gradient_descent_on_the_ravine_is_the_closed_form():
    """x_t = (1 - lr)^t x_0, y_t = (1 - lr kappa)^t y_0: the shallow direction is the slow one."""
    lr, steps = 0.03, 40
    path = optim.trajectory(optim.ravine(), functools.partial(optim.SGD, lr=lr), (-2.5, 1.0), steps)
    t = torch.arange(steps + 1, dtype=F64)
    expected = torch.stack([-2.5 * (1 - lr) ** t, (1 - 50 * lr) ** t], dim=-1)
    assert path.points.dtype == F64 and path.points.shape == (steps + 1, 2) and path.values.shape == (steps + 1,)
    torch.testing.assert_close(path.points, expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(path.values, optim.ravine()(expected), rtol=1e-12, atol=1e-15)
    reference = optim.trajectory(optim.ravine(), functools.partial(torch.optim.SGD, lr=lr), (-2.5, 1.0), steps)
    assert torch.equal(path.points, reference.points)


def test_saddle_stays_put_or_escapes_at_the_negative_eigenvalue_rate():
    lr, eps, steps = 0.05, 1e-8, 100
    stays = optim.trajectory(optim.saddle(), functools.partial(optim.SGD, lr=lr), (0.0, 0.0), steps)
    assert torch.equal(stays.points, torch.zeros(steps + 1, 2, dtype=F64))
    escapes = optim.trajectory(optim.saddle(), functools.partial(optim.SGD, lr=lr), (0.0, eps), steps)
    t = torch.arange(steps + 1, dtype=F64)
    torch.testing.assert_close(escapes.points[:, 1], eps * (1 + 2 * lr) ** t, rtol=1e-12, atol=0)


def test_trajectory_takes_a_plain_callable_and_zero_steps():
    path = optim.trajectory(lambda p: (p ** 2).sum(), functools.partial(optim.Adam, lr=0.1), [1.0, 2.0, 3.0], 0)
    assert path.points.tolist() == [[1.0, 2.0, 3.0]] and path.values.tolist() == [14.0]
    path = optim.trajectory(optim.basins_1d(), functools.partial(optim.SGD, lr=0.01), torch.tensor([0.0]), 3)
    assert path.points.shape == (4, 1) and path.values[0].item() == 0.0 and path.final.shape == (1,)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(steps=-1), ValueError, "steps"),
    (dict(steps=2.0), TypeError, "steps"),
    (dict(start=(1.0,)), ValueError, "2 coordinates"),
    (dict(start=(math.nan, 0.0)), ValueError, "finite"),
    (dict(start=("a", 0.0)), TypeError, "numbers"),
    (dict(start=1.0), TypeError, "start"),
    (dict(make_optimizer=lambda params: None), TypeError, "torch.optim.Optimizer"),
    (dict(make_optimizer=3), TypeError, "make_optimizer"),
    (dict(function=lambda p: p * 2), ValueError, "scalar"),
])
def test_trajectory_refuses_bad_arguments(kwargs, error, match):
    arguments = dict(function=optim.ravine(), make_optimizer=functools.partial(optim.SGD, lr=0.1), start=(1.0, 1.0),
                     steps=3)
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        optim.trajectory(arguments["function"], arguments["make_optimizer"], arguments["start"], arguments["steps"])


def test_describe_names_the_function():
    assert optim.rosenbrock().describe()["minima"] == [[1.0, 1.0]]
    assert optim.ravine(kappa=10.0).describe()["description"] != optim.ravine().describe()["description"]
