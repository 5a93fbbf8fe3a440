"""lecturelib.hessian against dense float64 Hessians of small networks (torch.autograd.functional.hessian)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lecturelib import hessian, params
from lecturelib.models import MLP


def _unflatten(model, theta):
    out, offset = {}, 0
    for name, p in model.named_parameters():
        out[name] = theta[offset:offset + p.numel()].view(p.shape)
        offset += p.numel()
    return out


def dense_hessian(model, X, y, loss_fn):
    """The reference: autograd's dense Hessian of the mean loss in the flat parameters."""
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return torch.autograd.functional.hessian(
        lambda t: loss_fn(functional_call(model, _unflatten(model, t), (X,)), y), theta)


def by_magnitude(values):
    return values[torch.argsort(values.abs(), descending=True)]


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(0)
    model = MLP([3, 6, 5, 3], "tanh").double()
    X = torch.randn(40, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    return model, X, y, dense_hessian(model, X, y, F.cross_entropy)


@pytest.fixture(scope="module")
def regressor():
    torch.manual_seed(1)
    model = MLP([1, 5, 5, 1], "leaky_relu").double()
    X = torch.linspace(-1.5, 1.5, 25, dtype=torch.float64)[:, None]
    y = torch.sin(3 * X)
    return model, X, y, dense_hessian(model, X, y, F.mse_loss)


class Quadratic(nn.Module):
    """f(w) = 1/2 w^T A w whatever the data: a model whose Hessian is exactly A."""

    def __init__(self, A, w):
        super().__init__()
        self.register_buffer("A", A)
        self.w = nn.Parameter(w.clone())

    def forward(self, x):  # (batch, 1): the same value for every sample
        return (0.5 * self.w @ self.A @ self.w).expand(len(x), 1)


def mean_output(output, target):
    return output.mean()


QUAD_DATA = (torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))


# ------------------------------------------------------------------------------- products

@pytest.mark.parametrize("case", ["classifier", "regressor"])
def test_hvp_matches_dense_hessian(case, request):
    model, X, y, H = request.getfixturevalue(case)
    generator = torch.Generator().manual_seed(0)
    V = torch.randn(3, H.shape[0], generator=generator, dtype=torch.float64)
    got = hessian.hessian_vector_product(model, X, y, V)
    torch.testing.assert_close(got, V @ H, rtol=1e-10, atol=1e-12)
    single = hessian.hessian_vector_product(model, X, y, V[0])
    torch.testing.assert_close(single, H @ V[0], rtol=1e-10, atol=1e-12)


def test_chunked_data_and_dense_operator_agree(classifier):
    model, X, y, H = classifier
    chunked = hessian.HessianOperator(model, X, y, batch_size=7)  # 40 = 5 x 7 + 5: unequal chunks
    torch.testing.assert_close(chunked.dense(), H, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(chunked.gradient(), hessian.HessianOperator(model, X, y).gradient(),
                               rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------- eigenvalues

@pytest.mark.parametrize("case", ["classifier", "regressor"])
def test_lanczos_top_eigenvalues_match_dense(case, request):
    model, X, y, H = request.getfixturevalue(case)
    expected = by_magnitude(torch.linalg.eigvalsh(H))[:4]
    values, vectors = hessian.top_eigenvalues(model, X, y, k=4, return_eigenvectors=True, tol=1e-10)
    torch.testing.assert_close(values, expected, rtol=1e-7, atol=1e-10)
    residual = (vectors @ H - values[:, None] * vectors).norm(dim=1)
    assert torch.all(residual <= 1e-5 * values.abs()), residual


def test_an_operator_built_once_gives_the_same_eigenvalues(classifier):
    model, X, y, H = classifier
    operator = hessian.HessianOperator(model, X, y)
    operator.loss()  # using the operator first changes nothing
    for method in ("lanczos", "power"):
        from_operator = hessian.operator_top_eigenvalues(operator, k=2, method=method, tol=1e-8, seed=3)
        assert torch.equal(from_operator, hessian.top_eigenvalues(model, X, y, k=2, method=method, tol=1e-8, seed=3))
    torch.testing.assert_close(from_operator, by_magnitude(torch.linalg.eigvalsh(H))[:2], rtol=1e-6, atol=1e-10)


def test_power_iteration_with_deflation_matches_dense(classifier):
    model, X, y, H = classifier
    expected = by_magnitude(torch.linalg.eigvalsh(H))[:2]
    values = hessian.top_eigenvalues(model, X, y, k=2, method="power", max_iterations=5000, tol=1e-12)
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=0.0)


def test_largest_magnitude_can_be_negative():
    A = torch.diag(torch.tensor([1.0, -5.0, 3.0, 0.5], dtype=torch.float64))
    model = Quadratic(A, torch.ones(4, dtype=torch.float64))
    for method in ("lanczos", "power"):
        values = hessian.top_eigenvalues(model, *QUAD_DATA, k=3, loss_fn=mean_output, method=method,
                                         max_iterations=2000, tol=1e-12)
        torch.testing.assert_close(values, torch.tensor([-5.0, 3.0, 1.0], dtype=torch.float64), rtol=1e-6, atol=0.0)


def test_lanczos_basis_tridiagonalises(regressor):
    model, X, y, H = regressor
    start = torch.randn(2, H.shape[0], generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    alphas, betas, Q = hessian.lanczos(lambda V: V @ H, start, 12)
    for run in range(2):
        T = torch.diag(alphas[run]) + torch.diag(betas[run], 1) + torch.diag(betas[run], -1)
        torch.testing.assert_close(Q[run] @ Q[run].T, torch.eye(12, dtype=torch.float64), rtol=0, atol=1e-10)
        torch.testing.assert_close(Q[run] @ H @ Q[run].T, T, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------- trace

def test_hutchinson_is_exact_on_a_diagonal_hessian():
    A = torch.diag(torch.tensor([2.0, -1.0, 7.0, 0.25, 3.0], dtype=torch.float64))
    model = Quadratic(A, torch.randn(5, dtype=torch.float64))
    estimate = hessian.hessian_trace(model, *QUAD_DATA, probes=3, loss_fn=mean_output)
    assert estimate.value == pytest.approx(11.25, abs=1e-12)
    assert estimate.standard_error == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(classifier, distribution):
    model, X, y, H = classifier
    estimate = hessian.hessian_trace(model, X, y, probes=1000, distribution=distribution, seed=1)
    exact = float(torch.trace(H))
    # 4 standard errors: fails by chance with probability ~6e-5
    assert abs(estimate.value - exact) < 4 * estimate.standard_error, (estimate.value, exact)
    # the standard error is right too: Rademacher variance is 2 sum_{i != j} H_ij^2
    if distribution == "rademacher":
        variance = 2 * float((H ** 2).sum() - (torch.diag(H) ** 2).sum())
        assert estimate.standard_error == pytest.approx(math.sqrt(variance / 1000), rel=0.15)


def test_trace_is_seeded_and_chunking_does_not_change_it(classifier):
    model, X, y, _ = classifier
    a = hessian.hessian_trace(model, X, y, probes=30, seed=5, chunk=30)
    b = hessian.hessian_trace(model, X, y, probes=30, seed=5, chunk=7)
    torch.testing.assert_close(a.samples, b.samples, rtol=1e-12, atol=1e-12)
    c = hessian.hessian_trace(model, X, y, probes=30, seed=6)
    assert not torch.allclose(a.samples, c.samples)


def test_hutch_plus_plus_is_exact_once_its_sketch_spans_every_direction(classifier):
    model, X, y, H = classifier
    size = H.shape[0]
    estimate = hessian.hessian_trace(model, X, y, probes=3 * size, method="hutch++", seed=2)
    exact = float(torch.trace(H))
    # Q is a basis of the whole space: tr(Q^T H Q) = tr H, and the projected probes are zero
    assert estimate.value == pytest.approx(exact, rel=1e-9)
    assert estimate.standard_error == pytest.approx(0.0, abs=1e-9 * abs(exact))
    assert len(estimate.samples) == size


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutch_plus_plus_is_unbiased(classifier, distribution):
    model, X, y, H = classifier
    values = torch.tensor([hessian.hessian_trace(model, X, y, probes=9, method="hutch++", seed=seed,
                                                 distribution=distribution).value for seed in range(120)])
    exact = float(torch.trace(H))
    spread = float(values.std() / math.sqrt(len(values)))
    assert abs(float(values.mean()) - exact) < 4 * spread, (float(values.mean()), exact, spread)


def test_hutch_plus_plus_removes_the_outliers_variance():
    """Three large eigenvalues in a random basis: Hutchinson's variance is mostly theirs, Hutch++
    with a sketch of 10 directions takes them exactly, so its error is many times smaller."""
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(40, 40, generator=generator, dtype=torch.float64))
    eigenvalues = torch.cat([torch.tensor([100.0, 60.0, 30.0], dtype=torch.float64),
                             0.1 * torch.rand(37, generator=generator, dtype=torch.float64)])
    A = basis @ torch.diag(eigenvalues) @ basis.T
    model = Quadratic(A, torch.randn(40, dtype=torch.float64))
    exact = float(eigenvalues.sum())
    errors = {method: torch.tensor([hessian.hessian_trace(model, *QUAD_DATA, probes=30, loss_fn=mean_output,
                                                          method=method, seed=seed).value - exact
                                    for seed in range(20)]) for method in ("hutchinson", "hutch++")}
    rms = {method: float(error.pow(2).mean().sqrt()) for method, error in errors.items()}
    assert rms["hutch++"] < rms["hutchinson"] / 20, rms
    single = hessian.hessian_trace(model, *QUAD_DATA, probes=30, loss_fn=mean_output, method="hutch++", seed=0)
    assert single.standard_error < 1e-2 * exact and abs(single.value - exact) < 5 * single.standard_error


def test_trace_rejects_a_method_it_does_not_know_and_too_few_probes_for_hutch_plus_plus(classifier):
    model, X, y, _ = classifier
    with pytest.raises(ValueError, match="method"):
        hessian.hessian_trace(model, X, y, method="hutch")
    with pytest.raises(ValueError, match="probes must be at least 3"):
        hessian.hessian_trace(model, X, y, probes=2, method="hutch++")


# ------------------------------------------------------------------------------- density

def test_full_lanczos_quadrature_recovers_the_spectrum(regressor):
    model, X, y, H = regressor
    size = H.shape[0]
    result = hessian.spectral_density(model, X, y, steps=size, runs=2, seed=0)
    eigenvalues = torch.linalg.eigvalsh(H)
    torch.testing.assert_close(result.weights.sum(dim=1), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    # every node with visible weight is an eigenvalue of H
    for nodes, weights in zip(result.nodes, result.weights):
        gap = (nodes[:, None] - eigenvalues[None]).abs().min(dim=1).values
        assert torch.all(gap[weights > 1e-8] < 1e-6 * eigenvalues.abs().max())


def test_quadrature_moments_are_exact_for_low_degrees(classifier):
    model, X, y, H = classifier
    steps, runs = 6, 3
    result = hessian.spectral_density(model, X, y, steps=steps, runs=runs, seed=4)
    # the start vectors, drawn as spectral_density draws them: normalised Rademacher from the seed
    V = torch.randint(0, 2, (runs, H.shape[0]), generator=torch.Generator().manual_seed(4),
                      dtype=torch.float64) * 2 - 1
    V = V / V.norm(dim=1, keepdim=True)
    for power in range(2 * steps):  # Gauss quadrature with m nodes is exact up to degree 2m - 1
        expected = float(torch.einsum("rp,pq,rq->r", V, torch.linalg.matrix_power(H, power), V).mean())
        assert result.moment(power) == pytest.approx(expected, rel=1e-8, abs=1e-14), power


def test_density_moments_estimate_normalised_traces(classifier):
    model, X, y, H = classifier
    result = hessian.spectral_density(model, X, y, steps=8, runs=150, seed=0)
    size = H.shape[0]
    assert result.trace() == pytest.approx(float(torch.trace(H)), rel=0.1)
    assert result.moment(2) == pytest.approx(float(torch.trace(H @ H)) / size, rel=0.1)
    grid = torch.linspace(-5, 5, 4001, dtype=torch.float64)
    mass = torch.trapezoid(result.density(grid, sigma=0.05), grid)
    assert float(mass) == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------------------- sharpness

def test_keskar_sharpness_of_a_quadratic_has_its_closed_form():
    A = torch.diag(torch.tensor([4.0, 1.0, 0.5], dtype=torch.float64))
    w = torch.tensor([0.3, -2.0, 1.0], dtype=torch.float64)
    model = Quadratic(A, w)
    epsilon = 1e-2
    result = hessian.keskar_sharpness(model, *QUAD_DATA, epsilon=epsilon, steps=10, loss_fn=mean_output)
    corner = w + torch.sign(w) * epsilon * (w.abs() + 1)  # convex: the maximum is the outward corner
    f0, f_max = float(0.5 * w @ A @ w), float(0.5 * corner @ A @ corner)
    assert result.base_loss == pytest.approx(f0, rel=1e-12)
    assert result.max_loss == pytest.approx(f_max, rel=1e-12)
    assert result.value == pytest.approx(100 * (f_max - f0) / (1 + f0), rel=1e-10)


def test_keskar_perturbation_stays_in_the_box(classifier):
    model, X, y, _ = classifier
    epsilon = 5e-3
    for random_start in (False, True):
        result = hessian.keskar_sharpness(model, X, y, epsilon=epsilon, steps=5, random_start=random_start)
        theta = params.vector(model)
        assert torch.all(result.perturbation.abs() <= epsilon * (theta.abs() + 1) + 1e-15)
        perturbed = hessian.HessianOperator(model, X, y).loss(theta + result.perturbation)
        assert result.max_loss == pytest.approx(perturbed, rel=1e-12)
        assert result.value > 0


# ------------------------------------------------------------------------------- per sample

@pytest.mark.parametrize("case", ["classifier", "regressor"])
def test_per_sample_gradients_match_an_autograd_loop(case, request):
    model, X, y, _ = request.getfixturevalue(case)
    loss_fn = F.mse_loss if torch.is_floating_point(y) else F.cross_entropy
    rows = []
    for i in range(len(X)):
        model.zero_grad()
        loss_fn(model(X[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    expected = torch.stack(rows)
    got = hessian.per_sample_gradients(model, X, y, chunk=9)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hessian.per_sample_gradient_norms(model, X, y, chunk=16), expected.norm(dim=1),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got.mean(dim=0), hessian.HessianOperator(model, X, y).gradient(),
                               rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------- bad inputs

def test_bad_inputs_raise_with_names(classifier):
    model, X, y, _ = classifier
    with pytest.raises(TypeError, match="model"):
        hessian.top_eigenvalues("net", X, y)
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        hessian.top_eigenvalues(model, X.numpy(), y)
    with pytest.raises(ValueError, match="y must have one target"):
        hessian.hessian_trace(model, X, y[:-1])
    with pytest.raises(ValueError, match="k must be an int"):
        hessian.top_eigenvalues(model, X, y, k=0)
    with pytest.raises(ValueError, match="k=1000 exceeds"):
        hessian.top_eigenvalues(model, X, y, k=1000)
    with pytest.raises(ValueError, match="method"):
        hessian.top_eigenvalues(model, X, y, method="arnoldi")
    with pytest.raises(ValueError, match="tol"):
        hessian.top_eigenvalues(model, X, y, tol=-1.0)
    with pytest.raises(ValueError, match="probes"):
        hessian.hessian_trace(model, X, y, probes=0)
    with pytest.raises(ValueError, match="distribution"):
        hessian.hessian_trace(model, X, y, distribution="uniform")
    with pytest.raises(ValueError, match="steps"):
        hessian.spectral_density(model, X, y, steps=0)
    with pytest.raises(ValueError, match="sigma"):
        hessian.spectral_density(model, X, y, steps=3).density(torch.linspace(0, 1, 5), sigma=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        hessian.keskar_sharpness(model, X, y, epsilon=0)
    with pytest.raises(ValueError, match="vectors must have shape"):
        hessian.HessianOperator(model, X, y).matvec(torch.ones(3))
    with pytest.raises(TypeError, match="loss_fn"):
        hessian.HessianOperator(model, X, y, loss_fn="mse")
    with pytest.raises(TypeError, match="operator must be"):
        hessian.operator_top_eigenvalues(model)
    frozen = MLP([2, 3, 1]).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        hessian.HessianOperator(frozen, torch.zeros(4, 2), torch.zeros(4, 1))


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("entry", ["hessian_trace", "top_eigenvalues", "spectral_density", "keskar_sharpness",
                                   "per_sample_gradient_norms", "HessianOperator"])
@pytest.mark.parametrize("bad", [3, -1])
def test_labels_out_of_range_are_named_by_every_entry_point(classifier, entry, bad):
    model, X, y, _ = classifier
    y = y.clone()
    y[5] = bad
    with pytest.raises(ValueError, match=r"y holds labels in .*3 outputs.*\[0, 2\]"):
        getattr(hessian, entry)(model, X, y)


@pytest.mark.parametrize("entry", ["top_eigenvalues", "hessian_trace", "HessianOperator"])
def test_nan_data_is_refused(classifier, regressor, entry):
    model, X, y, _ = classifier
    X = X.clone()
    X[0, 0] = float("nan")
    with pytest.raises(ValueError, match="X holds 1 NaN"):
        getattr(hessian, entry)(model, X, y)
    model, X, y, _ = regressor
    with pytest.raises(ValueError, match="y holds"):
        getattr(hessian, entry)(model, X, torch.full_like(y, float("inf")))


def test_regression_targets_must_match_the_outputs(regressor):
    model, X, y, _ = regressor
    with pytest.raises(ValueError, match=r"y has shape .*y\.reshape\(-1, 1\)"):
        hessian.top_eigenvalues(model, X, y.reshape(-1))


@pytest.mark.parametrize("call, error, name", [
    (lambda m, X, y: hessian.top_eigenvalues(m, X, y, tol=float("nan")), ValueError, "tol"),
    (lambda m, X, y: hessian.top_eigenvalues(m, X, y, tol=float("inf")), ValueError, "tol"),
    (lambda m, X, y: hessian.top_eigenvalues(m, X, y, k=1.0), TypeError, "k"),
    (lambda m, X, y: hessian.top_eigenvalues(m, X, y, seed="x"), TypeError, "seed"),
    (lambda m, X, y: hessian.keskar_sharpness(m, X, y, epsilon=float("inf")), ValueError, "epsilon"),
    (lambda m, X, y: hessian.hessian_trace(m, X, y, probes=True), TypeError, "probes"),
    (lambda m, X, y: hessian.HessianOperator(m, X, y, batch_size=0), ValueError, "batch_size"),
    (lambda m, X, y: hessian.spectral_density(m, X, y, steps=3).density([0.0, 1.0], float("inf")), ValueError,
     "sigma"),
])
def test_numbers_are_checked_nan_safely(classifier, call, error, name):
    model, X, y, _ = classifier
    with pytest.raises(error, match=name):
        call(model, X, y)
