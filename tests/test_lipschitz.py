"""lecturelib.lipschitz: upper bounds against dense SVDs, lower bounds against autograd and the bound."""

import math

import pytest
import torch

from lecturelib import backprop, lipschitz, models


def make_model(widths, activation="relu", residual=False, seed=0):
    torch.manual_seed(seed)
    return models.MLP(widths, activation=activation, residual=residual).double()


def test_spectral_norms_are_largest_singular_values():
    model = make_model([3, 7, 5, 2])
    expected = torch.stack([torch.linalg.svdvals(layer.weight.detach())[0] for layer in model.layers])
    assert torch.allclose(lipschitz.spectral_norms(model), expected, rtol=1e-12, atol=0)


def test_upper_bound_is_lecture_product_plain_and_residual():
    plain = make_model([2, 6, 6, 6, 1], "leaky_relu", residual=False)
    norms = [torch.linalg.svdvals(layer.weight.detach())[0].item() for layer in plain.layers]
    assert lipschitz.lipschitz_upper_bound(plain) == pytest.approx(math.prod(norms), rel=1e-12)
    residual = make_model([2, 6, 6, 6, 1], "leaky_relu", residual=True)
    norms = [torch.linalg.svdvals(layer.weight.detach())[0].item() for layer in residual.layers]
    # layer 0 changes the width (2 -> 6), so only hidden layers 1 and 2 are residual
    expected = norms[0] * (1 + norms[1]) * (1 + norms[2]) * norms[3]
    assert lipschitz.lipschitz_upper_bound(residual) == pytest.approx(expected, rel=1e-12)


def test_sigmoid_and_scaled_activation_constants():
    model = make_model([2, 4, 4, 1], "sigmoid")
    norms = lipschitz.spectral_norms(model)
    assert lipschitz.lipschitz_upper_bound(model) == pytest.approx(
        (0.25 * norms[0] * 0.25 * norms[1] * norms[2]).item(), rel=1e-12)
    assert lipschitz.lipschitz_upper_bound(model, activation_lipschitz=1.0) == pytest.approx(
        norms.prod().item(), rel=1e-12)
    net = models.random_network([3, 5, 5, 2], models.scaled_activation("tanh", 0.5), residual=True)
    factors = lipschitz.layer_lipschitz_factors(net)
    norms = lipschitz.spectral_norms(net)
    assert torch.allclose(factors, torch.stack([0.5 * norms[0], 1 + 0.5 * norms[1], norms[2]]))


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "elu"])
@pytest.mark.parametrize("residual", [False, True])
def test_lower_bounds_never_exceed_upper_bound(activation, residual):
    model = make_model([2, 8, 8, 8, 2], activation, residual, seed=1)
    X = torch.randn(100, 2, dtype=torch.float64)
    upper = lipschitz.lipschitz_upper_bound(model)
    by_gradient = lipschitz.lipschitz_lower_bound_gradient(model, X)
    by_pairs = lipschitz.lipschitz_lower_bound_pairs(model, X, n_pairs=32, steps=20)
    assert 0 < by_gradient <= upper * (1 + 1e-9)
    assert 0 < by_pairs.ratio <= upper * (1 + 1e-9)
    # the reported pair really attains the reported ratio
    with torch.no_grad():
        ratio = (model(by_pairs.x1[None]) - model(by_pairs.x2[None])).norm() / (by_pairs.x1 - by_pairs.x2).norm()
    assert ratio.item() == pytest.approx(by_pairs.ratio, rel=1e-9)


def test_bound_is_tight_for_a_linear_network():
    model = make_model([3, 4, 2], "identity")
    with torch.no_grad():  # make W_2 W_1 have the product norm: W_2 = u v^T aligned with W_1's top left singular vector
        U, S, Vh = torch.linalg.svd(model.layers[0].weight)
        model.layers[1].weight.copy_(torch.outer(torch.tensor([1.0, 0.0], dtype=torch.float64), U[:, 0]) * 2.0)
    X = torch.randn(10, 3, dtype=torch.float64)
    upper = lipschitz.lipschitz_upper_bound(model)
    assert lipschitz.lipschitz_lower_bound_gradient(model, X) == pytest.approx(upper, rel=1e-10)


def test_jacobian_norms_match_autograd_jacobian():
    model = make_model([3, 5, 5, 2], "tanh", residual=True, seed=2)
    X = torch.randn(4, 3, dtype=torch.float64)
    ours = lipschitz.jacobian_norms(model, X)
    for i in range(len(X)):
        jac = torch.autograd.functional.jacobian(lambda x: model(x[None])[0], X[i])
        assert ours[i].item() == pytest.approx(torch.linalg.svdvals(jac)[0].item(), rel=1e-12)
    net = models.network_from_mlp(model)
    assert torch.allclose(lipschitz.jacobian_norms(net, X), ours, rtol=1e-12, atol=0)


def test_gradient_ascent_does_not_decrease_the_bound():
    model = make_model([2, 8, 8, 1], "tanh", seed=3)
    X = torch.randn(20, 2, dtype=torch.float64)
    start = lipschitz.lipschitz_lower_bound_gradient(model, X)
    climbed = lipschitz.lipschitz_lower_bound_gradient(model, X, steps=10, lr=0.05)
    assert climbed >= start * 0.999
    assert climbed <= lipschitz.lipschitz_upper_bound(model)


def test_bad_inputs_give_clear_errors():
    model = make_model([2, 3, 1])
    with pytest.raises(TypeError, match="MLP"):
        lipschitz.spectral_norms(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="activation_lipschitz"):
        lipschitz.lipschitz_upper_bound(model, activation_lipschitz=-1.0)
    with pytest.raises(ValueError, match="X must be a"):
        lipschitz.lipschitz_lower_bound_gradient(model, torch.randn(3))
    with pytest.raises(ValueError, match="steps"):
        lipschitz.lipschitz_lower_bound_gradient(model, torch.randn(3, 2, dtype=torch.float64), steps=-1)
    with pytest.raises(ValueError, match="n_pairs"):
        lipschitz.lipschitz_lower_bound_pairs(model, torch.randn(3, 2, dtype=torch.float64), n_pairs=0)
    with pytest.raises(TypeError, match="Module"):
        lipschitz.lipschitz_lower_bound_pairs("net", torch.randn(3, 2))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("residual", [False, True])
def test_delta_norm_bounds_hold_per_sample(activation, residual):
    net = models.random_network([4] + [6] * 8 + [3], activation, residual=residual, weight_scale=1.5, seed=5)
    X, y = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 3, dtype=torch.float64)
    _, _, back = backprop.network_gradients(net, X, y)
    output_norms = back.deltas[-1].norm(dim=1)  # (30,)
    bounds = lipschitz.delta_norm_bounds(net)  # (10,), for a unit output delta
    assert bounds.shape == (10,) and bounds[-1] == 1.0
    for k, delta in enumerate(back.deltas):
        assert torch.all(delta.norm(dim=1) <= bounds[k] * output_norms * (1 + 1e-12)), k
    factors = lipschitz.layer_lipschitz_factors(net)
    assert bounds[0].item() == pytest.approx(factors.prod().item(), rel=1e-12)
    with pytest.raises(ValueError, match="output_delta_norm"):
        lipschitz.delta_norm_bounds(net, output_delta_norm=-1.0)


def test_lower_bounds_accept_a_backprop_network():
    net = models.random_network([3, 6, 6, 2], models.scaled_activation("tanh", 0.5), residual=True, seed=6)
    X = torch.randn(20, 3, dtype=torch.float64)
    upper = lipschitz.lipschitz_upper_bound(net)
    climbed = lipschitz.lipschitz_lower_bound_gradient(net, X, steps=5)
    pair = lipschitz.lipschitz_lower_bound_pairs(net, X, n_pairs=16, steps=10)
    assert lipschitz.lipschitz_lower_bound_gradient(net, X) * 0.999 <= climbed <= upper
    assert 0 < pair.ratio <= upper


def test_pair_ascent_climbs_to_the_spectral_norm_of_a_linear_map():
    # For m(x) = A x + b the pair ratio depends only on d = x1 - x2 and is largest, ||A||_2, when
    # d is A's top right singular vector: the ascent must get there from a few random pairs.
    model = make_model([6, 4, 3], "identity", seed=1)
    A = model.layers[1].weight @ model.layers[0].weight
    true_constant = float(torch.linalg.matrix_norm(A, ord=2))
    X = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    start = lipschitz.lipschitz_lower_bound_pairs(model, X, n_pairs=2, steps=0).ratio
    climbed = lipschitz.lipschitz_lower_bound_pairs(model, X, n_pairs=2, steps=300, lr=0.05).ratio
    assert start < 0.95 * true_constant
    assert climbed == pytest.approx(true_constant, rel=1e-3)
    assert climbed <= true_constant * (1 + 1e-12)


def test_gradient_ascent_climbs_towards_the_steepest_point_of_a_smooth_net():
    # 1-D tanh net: |m'(x)| is largest at some x*; starting from one point, the ascent on |m'|^2
    # must climb well above the start and stay at or below the maximum found on a dense grid.
    model = make_model([1, 8, 1], "tanh", seed=0)
    grid = torch.linspace(-4, 4, 20001, dtype=torch.float64).reshape(-1, 1)
    slopes = lipschitz.jacobian_norms(model, grid)
    steepest, where = float(slopes.max()), float(grid[slopes.argmax()])
    X = torch.tensor([[where + 1.0]], dtype=torch.float64)  # one unit away from the steepest point
    start = lipschitz.lipschitz_lower_bound_gradient(model, X)
    climbed = lipschitz.lipschitz_lower_bound_gradient(model, X, steps=300, lr=0.01)
    assert start < 0.9 * steepest
    assert 0.999 * steepest <= climbed <= steepest * (1 + 1e-6)  # the grid misses the peak by < 1e-6


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("call, name", [
    (lambda m, X: lipschitz.lipschitz_upper_bound(m, activation_lipschitz=float("nan")), "activation_lipschitz"),
    (lambda m, X: lipschitz.lipschitz_upper_bound(m, activation_lipschitz=float("inf")), "activation_lipschitz"),
    (lambda m, X: lipschitz.delta_norm_bounds(m, output_delta_norm=float("nan")), "output_delta_norm"),
    (lambda m, X: lipschitz.lipschitz_lower_bound_pairs(m, X, lr=float("nan")), "lr"),
    (lambda m, X: lipschitz.lipschitz_lower_bound_pairs(m, X, lr=0.0), "lr"),
    (lambda m, X: lipschitz.lipschitz_lower_bound_gradient(m, X, steps=1, lr=-1.0), "lr"),
    (lambda m, X: lipschitz.lipschitz_lower_bound_gradient(m, X, lr=float("inf")), "lr"),
    (lambda m, X: lipschitz.jacobian_norms(m, torch.full_like(X, float("nan"))), "X"),
    (lambda m, X: lipschitz.lipschitz_lower_bound_pairs(m, X, seed=-1), "seed"),
])
def test_nan_infinite_and_out_of_range_numbers_are_refused(call, name):
    model = make_model([2, 3, 1], "tanh")
    with pytest.raises(ValueError, match=name):
        call(model, torch.randn(5, 2, dtype=torch.float64))


def test_wrong_kinds_are_type_errors():
    model = make_model([2, 3, 1], "tanh")
    X = torch.randn(5, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match="n_pairs"):
        lipschitz.lipschitz_lower_bound_pairs(model, X, n_pairs=2.0)
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        lipschitz.jacobian_norms(model, [[0.0, 1.0]])
    with pytest.raises(TypeError, match="activation_lipschitz"):
        lipschitz.lipschitz_upper_bound(model, activation_lipschitz="1")


def test_inputs_are_moved_to_the_model_dtype():
    """The device rule: inputs go to the model, so float32 points give the float64 model's answers."""
    model = make_model([2, 6, 6, 1], activation="tanh", seed=8)
    X = torch.randn(12, 2, dtype=torch.float64)
    X32 = X.float()
    exact = lipschitz.jacobian_norms(model, X32.double())
    assert torch.equal(lipschitz.jacobian_norms(model, X32), exact)
    assert lipschitz.lipschitz_lower_bound_gradient(model, X32, steps=3) == \
        lipschitz.lipschitz_lower_bound_gradient(model, X32.double(), steps=3)
    assert lipschitz.lipschitz_lower_bound_pairs(model, X32, n_pairs=8, steps=5).ratio == \
        lipschitz.lipschitz_lower_bound_pairs(model, X32.double(), n_pairs=8, steps=5).ratio


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_analysis_runs_where_the_model_is():
    model = make_model([3, 5, 5, 2], activation="tanh", residual=True, seed=9)
    X = torch.randn(10, 3, dtype=torch.float64)
    on_cpu = (lipschitz.jacobian_norms(model, X), lipschitz.delta_norm_bounds(model),
              lipschitz.lipschitz_lower_bound_pairs(model, X, n_pairs=8, steps=5).ratio)
    model.cuda()
    on_gpu = (lipschitz.jacobian_norms(model, X), lipschitz.delta_norm_bounds(model),
              lipschitz.lipschitz_lower_bound_pairs(model, X, n_pairs=8, steps=5).ratio)
    assert on_gpu[0].device.type == "cuda" and on_gpu[1].device.type == "cuda"
    assert torch.allclose(on_gpu[0].cpu(), on_cpu[0], rtol=1e-10, atol=0)
    assert torch.allclose(on_gpu[1].cpu(), on_cpu[1], rtol=1e-10, atol=0)
    assert on_gpu[2] == pytest.approx(on_cpu[2], rel=1e-8)
