"""lecturelib.conditioning against autograd Hessians, numpy's condition number and explicit GD loops."""

import numpy as np
import pytest
import torch

from lecturelib import conditioning as C


def _problem(seed=0, n=80, d=4, scales=(5.0, 1.0, 0.2, 0.05), offset=3.0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator, dtype=torch.float64) * torch.tensor(scales, dtype=torch.float64)
    X = X + offset
    Y = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return X, Y


def _loss(w, X, Y):
    Xt = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    return ((Xt @ w - Y) ** 2).sum() / (2 * len(X))


def test_hessian_matches_autograd():
    X, Y = _problem()
    w = torch.zeros(5, 1, dtype=torch.float64)
    dense = torch.autograd.functional.hessian(lambda v: _loss(v, X, Y[:, :1]), w).reshape(5, 5)
    torch.testing.assert_close(C.least_squares_hessian(X), dense, rtol=1e-12, atol=1e-12)
    no_bias = C.least_squares_hessian(X, fit_bias=False)
    torch.testing.assert_close(no_bias, X.T @ X / len(X), rtol=1e-12, atol=1e-12)


def test_condition_number_matches_numpy_and_skips_null_directions():
    X, _ = _problem()
    H = C.least_squares_hessian(X)
    assert C.condition_number(H) == pytest.approx(np.linalg.cond(H.numpy()), rel=1e-8)
    constant_feature = torch.cat([X, torch.zeros(len(X), 1, dtype=X.dtype)], dim=1)
    H0 = C.least_squares_hessian(constant_feature)
    assert C.condition_number(H0) == pytest.approx(C.condition_number(H), rel=1e-8)
    assert C.condition_number(torch.eye(3)) == 1.0


def test_solution_is_the_minimiser():
    X, Y = _problem()
    w = C.least_squares_solution(X, Y).requires_grad_(True)
    _loss(w, X, Y).backward()
    assert float(w.grad.abs().max()) < 1e-10


def test_gradient_descent_matches_a_plain_loop_and_the_spectral_count():
    X, Y = _problem(scales=(2.0, 1.0, 0.7, 0.5), offset=0.5)
    run = C.gradient_descent_steps(X, Y, tol=1e-5)
    assert run.converged
    # the same iteration written with autograd
    w = torch.zeros(5, 2, dtype=torch.float64, requires_grad=True)
    w_star = C.least_squares_solution(X, Y)
    loss_star = float(_loss(w_star, X, Y))
    initial = float(_loss(w.detach(), X, Y)) - loss_star
    steps = 0
    while (float(_loss(w.detach(), X, Y)) - loss_star) / initial > 1e-5:
        grad, = torch.autograd.grad(_loss(w, X, Y), w)
        with torch.no_grad():
            w -= run.lr * grad
        steps += 1
    assert run.steps == steps
    assert C.exact_steps(X, Y, tol=1e-5) == steps
    assert run.relative_excess[0] == 1.0 and run.relative_excess[-1] <= 1e-5
    assert np.all(np.diff(run.relative_excess) <= 1e-15)  # monotone for lr = 1/lambda_max


def test_preprocessing_drops_the_step_count():
    X, Y = _problem()
    Xc = X - X.mean(0)
    Xs = Xc / Xc.std(0, unbiased=False)
    kappas = [C.condition_number(C.least_squares_hessian(Z)) for Z in (X, Xc, Xs)]
    steps = [C.exact_steps(Z, Y, tol=1e-6) for Z in (X, Xc, Xs)]
    assert kappas[0] > kappas[1] > kappas[2]
    assert steps[0] > steps[1] > steps[2]
    assert steps[2] <= C.predicted_steps(C.least_squares_hessian(Xs), 1e-6)


def test_max_steps_and_cloud():
    X, Y = _problem()
    run = C.gradient_descent_steps(X, Y, tol=1e-6, max_steps=10)
    assert run.steps == 10 and not run.converged
    assert C.exact_steps(X, Y, tol=1e-6, max_steps=10) == 11
    X2, y2 = C.gaussian_cloud(n=1000, mean=(1.0, -1.0), stds=(2.0, 0.5), angle_degrees=0.0, noise=0.0)
    assert X2.shape == (1000, 2) and y2.shape == (1000,)
    assert X2.mean(0).tolist() == pytest.approx([1.0, -1.0], abs=0.15)
    assert X2.std(0).tolist() == pytest.approx([2.0, 0.5], rel=0.1)
    torch.testing.assert_close(y2, 1.5 * X2[:, 0] - 2 * X2[:, 1] + 0.5)


def test_bad_inputs():
    X, Y = _problem()
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        C.least_squares_hessian(X.numpy())
    with pytest.raises(ValueError, match=r"X must be a \(samples, features\) matrix"):
        C.least_squares_hessian(X[0])
    with pytest.raises(ValueError, match=r"Y must have shape \(80,\)"):
        C.gradient_descent_steps(X, Y[:5])
    with pytest.raises(ValueError, match="tol must be a float in"):
        C.gradient_descent_steps(X, Y, tol=2.0)
    with pytest.raises(ValueError, match="lr must be a number in"):
        C.gradient_descent_steps(X, Y, lr=1e6)
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        C.exact_steps(X, Y, max_steps=0)
    with pytest.raises(ValueError, match="H must be a square"):
        C.condition_number(torch.ones(2, 3))
    with pytest.raises(ValueError, match="symmetric"):
        C.condition_number(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="positive semi-definite"):
        C.condition_number(torch.diag(torch.tensor([1.0, -1.0])))
    with pytest.raises(TypeError, match="fit_bias"):
        C.design_matrix(X, fit_bias=1)
    with pytest.raises(ValueError, match="stds must be positive"):
        C.gaussian_cloud(stds=(1.0, 0.0))


# ------------------------------------------------------------------ bad input gets a clear error

def test_nan_in_a_hessian_is_named():
    H = torch.eye(3)
    H[1, 1] = float("nan")
    with pytest.raises(ValueError, match="H holds 1 NaN"):
        C.condition_number(H)
    with pytest.raises(ValueError, match="H holds"):
        C.predicted_steps(torch.full((2, 2), float("inf")))


@pytest.mark.parametrize("call, error, name", [
    (lambda X, Y: C.gradient_descent_steps(X, Y, tol=float("nan")), ValueError, "tol"),
    (lambda X, Y: C.gradient_descent_steps(X, Y, tol="small"), TypeError, "tol"),
    (lambda X, Y: C.gradient_descent_steps(X, Y, lr=float("nan")), ValueError, "lr"),
    (lambda X, Y: C.exact_steps(X, Y, lr="0.1"), TypeError, "lr"),
    (lambda X, Y: C.exact_steps(X, Y, max_steps=2.0), TypeError, "max_steps"),
    (lambda X, Y: C.condition_number(torch.eye(2), rtol=float("nan")), ValueError, "rtol"),
    (lambda X, Y: C.gaussian_cloud(noise=float("nan")), ValueError, "noise"),
    (lambda X, Y: C.gaussian_cloud(seed="x"), TypeError, "seed"),
    (lambda X, Y: C.gaussian_cloud(n=10.0), TypeError, "n"),
    (lambda X, Y: C.gaussian_cloud(stds=(1.0, float("nan"))), ValueError, "stds"),
])
def test_numbers_are_checked_nan_safely(call, error, name):
    X, Y = _problem()
    with pytest.raises(error, match=name):
        call(X, Y)
