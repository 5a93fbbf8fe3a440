"""Tests of the topology chapter's checker and path runs.

The checker is compared with scipy.ndimage.label (an independent labelling) and each planted
mistake must fail with its own hint.
"""

import numpy as np
import pytest
from scipy import ndimage

from lecturelib.exercises import topology as ex


def _right(values, level):
    return int(ndimage.label(values <= level)[1])


def test_reference_agrees_with_scipy_on_random_fields():
    rng = np.random.default_rng(0)
    for _ in range(30):
        values = rng.standard_normal(tuple(rng.integers(1, 14, size=2)))
        level = float(rng.normal())
        assert ex._reference(values, level) == _right(values, level)


def test_right_answer_passes():
    result = ex.check_component_count(_right)
    assert result.passed and repr(result).startswith("Correct")


@pytest.mark.parametrize("mistake, hint", [
    (lambda v, l: int(ndimage.label(v <= l, structure=np.ones((3, 3)))[1]), "diagonal"),
    (lambda v, l: int(ndimage.label(v < l)[1]), "strict"),
    (lambda v, l: int(ndimage.label(v >= l)[1]), "superlevel"),
    (lambda v, l: int(np.count_nonzero(v <= l)), "cells of the sublevel set"),
])
def test_planted_mistakes_fail_with_their_hint(mistake, hint):
    result = ex.check_component_count(mistake)
    assert not result.passed
    assert hint in result.message, result.message


def test_unrecognised_wrong_answers_and_bad_returns_fail_without_raising():
    assert not ex.check_component_count(lambda v, l: _right(v, l) + 1).passed
    assert "integer" in ex.check_component_count(lambda v, l: "two").message
    assert "integer" in ex.check_component_count(lambda v, l: 1.5).message
    assert "raised ZeroDivisionError" in ex.check_component_count(lambda v, l: 1 / 0).message
    assert ex.check_component_count(lambda v, l: np.int64(_right(v, l))).passed


def test_misuse_raises_type_error():
    with pytest.raises(TypeError, match="count_fn"):
        ex.check_component_count(3)


# ------------------------------------------------------------------ experiments.topology.paths

import math  # noqa: E402

import torch  # noqa: E402

from lecturelib import data  # noqa: E402
from lecturelib.experiments.topology import paths  # noqa: E402


def test_quadratic_stack_is_the_written_out_sum_and_masks_padding():
    model = paths.QuadraticStack([1, 3, 2], n_inputs=4, seed=3)
    X = torch.randn(6, 4, dtype=torch.float64)
    out = model(X)
    assert out.shape == (6, 3)
    for k, n in enumerate((1, 3, 2)):
        with torch.no_grad():
            expected = sum(float(model.a[k, j]) * (X @ model.W[k, j]) ** 2 for j in range(n))
        torch.testing.assert_close(out[:, k], expected, rtol=1e-12, atol=1e-12)
    y = torch.randn(6, 1, dtype=torch.float64)
    paths.summed_member_mse(model(X), y).backward()
    assert torch.all(model.W.grad[0, 1:] == 0) and torch.all(model.a.grad[0, 1:] == 0)  # padded units are inert
    assert torch.all(model.W.grad[2, 2:] == 0)


def test_summed_member_mse_gives_every_member_its_own_gradient():
    model = paths.QuadraticStack([2, 2], n_inputs=3, seed=0)
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 1, dtype=torch.float64)
    paths.summed_member_mse(model(X), y).backward()
    for k in range(2):
        W, a = model.W[k].detach().clone().requires_grad_(), model.a[k].detach().clone().requires_grad_()
        loss = ((((X @ W.T) ** 2) @ a - y[:, 0]) ** 2).mean()
        loss.backward()
        torch.testing.assert_close(model.W.grad[k], W.grad, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model.a.grad[k], a.grad, rtol=1e-12, atol=1e-12)


def test_quadratic_starts_take_gradient_descent_steps_with_momentum():
    split = paths.quadratic_data(6, 3, seed=1)
    got = paths.quadratic_starts(split, widths=(2, 3), starts=2, steps=2, lr=0.01, seed=4)
    model = paths.QuadraticStack([2, 2, 3, 3], 3, seed=4)  # the members quadratic_starts builds
    velocity = [torch.zeros_like(p) for p in (model.W, model.a)]
    for _ in range(2):  # heavy-ball: v <- 0.9 v + g, p <- p - lr v (torch.optim.SGD's convention)
        model.zero_grad()
        paths.summed_member_mse(model(split.X_train), split.y_train).backward()
        with torch.no_grad():
            for p, v in zip((model.W, model.a), velocity):
                v.mul_(0.9).add_(p.grad)
                p.sub_(0.01 * v)
    expected = paths.member_losses(model, split.X_train, split.y_train).reshape(2, 2)
    np.testing.assert_allclose(got.loss, expected, rtol=1e-10)
    assert got.widths == (2, 3) and got.n_points == 6


def test_quadratic_data_lies_on_the_sphere_and_is_seeded():
    a, b = paths.quadratic_data(8, 5, seed=2), paths.quadratic_data(8, 5, seed=2)
    torch.testing.assert_close(a.X_train.norm(dim=1), torch.ones(8, dtype=torch.float64))
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_train, b.y_train)
    assert a.y_train.shape == (8, 1)
    assert not torch.equal(a.X_train, paths.quadratic_data(8, 5, seed=3).X_train)


def test_failed_fraction_counts_diverged_runs():
    starts = paths.QuadraticStarts((1, 2), 4, np.array([[1e-3, 1e-12, np.nan], [0.0, 1e-9, 1e-7]]))
    np.testing.assert_allclose(starts.failed(1e-8), [2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="tol"):
        starts.failed(-1.0)


def test_loglog_slope_recovers_a_power_law():
    m = np.array([4.0, 8, 16, 32, 64])
    assert math.isclose(paths.loglog_slope(m, 3.0 * m ** -0.75), -0.75, rel_tol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        paths.loglog_slope(m, m - 4)
    with pytest.raises(ValueError, match="same length"):
        paths.loglog_slope(m, m[:3])


def test_width_barriers_are_heights_above_the_worse_end(tmp_path, monkeypatch):
    monkeypatch.setenv("LECTURELIB_CACHE", str(tmp_path))
    split = data.regression_1d(n_train=12, n_test=12)
    result = paths.width_barriers(split, widths=(2, 6), seeds=(0, 1), steps=40, curve_epochs=3)
    assert result.line.shape == result.curve.shape == (2, 2) and result.end_loss.shape == (2, 2, 2)
    worse = result.end_loss.max(axis=2)
    np.testing.assert_allclose(result.line_max - result.line, worse, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result.curve_max - result.curve, worse, rtol=1e-6, atol=1e-7)
    assert np.all(result.end_loss[:, 0, 0] != result.end_loss[:, 1, 0])  # seeds give different minima
    assert result.string_found.dtype == bool and np.all(result.string_max >= worse - 1e-6)
    found = result.string_found
    assert np.all(result.string_max[found] <= worse[found] + result.string_delta + 1e-9)  # below its level
    assert np.all(result.string_length >= 1 - 1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda: paths.width_barriers("data"), "split"),
    (lambda: paths.width_barriers(data.regression_1d(), widths=()), "widths"),
    (lambda: paths.width_barriers(data.regression_1d(), steps=0), "steps"),
    (lambda: paths.width_barriers(data.regression_1d(), string_delta=0.0), "string_delta"),
    (lambda: paths.quadratic_starts(paths.quadratic_data(), starts=0), "starts"),
    (lambda: paths.quadratic_data(n_points=0), "n_points"),
    (lambda: paths.digit_barriers(data.regression_1d(), seeds=(1,)), "seeds"),
    (lambda: paths.QuadraticStack([2, 0], 3), "widths"),
])
def test_bad_arguments_are_refused(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
