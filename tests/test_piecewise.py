"""lecturelib.piecewise against the networks themselves: pieces that reproduce the forward pass,
kinks at -b/w, vanishing second differences, and autograd for dead units."""

import pytest
import torch

from lecturelib import models, piecewise


def _net(widths, activation, seed=0, scale=3.0, **kwargs):
    torch.manual_seed(seed)
    net = models.MLP(widths, activation=activation, **kwargs).double()
    with torch.no_grad():  # larger weights put many switches inside the interval
        for layer in net.layers:
            layer.weight.mul_(scale)
            layer.bias.mul_(scale)
    return net.eval()


def _values(net, x):
    with torch.no_grad():
        return net(x[:, None])


@pytest.mark.parametrize("activation", ["leaky_relu", "relu", "prelu", "maxout"])
@pytest.mark.parametrize("residual", [False, True])
def test_pieces_reproduce_the_network(activation, residual):
    net = _net([1, 5, 5, 5, 1, 1], activation, residual=residual)
    pieces = piecewise.affine_pieces(net, -2.0, 2.0)
    x = torch.linspace(-2.0, 2.0, 4001, dtype=torch.float64)
    assert torch.allclose(pieces(x), _values(net, x), rtol=0, atol=1e-10)
    assert pieces.n_pieces <= piecewise.max_pieces_1d([5, 5, 5, 1], pieces=2 if activation == "maxout" else 1)


def test_one_hidden_layer_kinks_are_minus_b_over_w():
    net = _net([1, 7, 1], "leaky_relu", seed=3, scale=1.0)
    w, b = net.layers[0].weight[:, 0].detach(), net.layers[0].bias.detach()
    expected = torch.sort(-b / w).values
    expected = expected[(expected > -4) & (expected < 4)]
    found = piecewise.locate_kinks(net, -4.0, 4.0)
    assert torch.allclose(found, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["leaky_relu", "maxout"])
def test_second_difference_vanishes_exactly_off_the_kinks(activation):
    net = _net([1, 6, 6, 1], activation, seed=1)
    kinks = piecewise.locate_kinks(net, -3.0, 3.0)
    assert len(kinks) > 5
    x = torch.linspace(-3.0, 3.0, 30001, dtype=torch.float64)
    y = _values(net, x)[:, 0]
    second = y[2:] - 2 * y[1:-1] + y[:-2]
    straddles = ((kinks[None] > x[:-2, None]) & (kinks[None] < x[2:, None])).any(1)
    assert second[~straddles].abs().max() < 1e-11  # no kink missed
    for kink in kinks:  # no kink invented: the slope really changes
        window = (kink > x[:-2]) & (kink < x[2:])
        assert second[window].abs().max() > 1e-9


def test_identity_network_has_no_kinks_and_collapses():
    net = _net([1, 5, 5, 5, 1, 1], "identity")
    assert len(piecewise.locate_kinks(net, -3.0, 3.0)) == 0
    for widths, residual in (([1, 5, 5, 5, 1, 1], False), ([3, 4, 4, 2], True), ([4, 6, 2], False)):
        net = _net(widths, "identity", residual=residual, scale=1.0)
        W, b = piecewise.collapse_identity_network(net)
        assert W.shape == (widths[-1], widths[0]) and b.shape == (widths[-1],)
        x = torch.randn(9, widths[0], dtype=torch.float64)
        with torch.no_grad():
            assert torch.allclose(x @ W.T + b, net(x), rtol=0, atol=1e-12)


def test_max_pieces_bound_values():
    assert piecewise.max_pieces_1d([5]) == 6
    assert piecewise.max_pieces_1d([5, 5, 5, 1]) == 432
    assert piecewise.max_pieces_1d([3, 2], pieces=3) == 7 * 5


def test_dead_units_match_the_definition_and_get_no_gradient():
    torch.manual_seed(0)
    net = models.MLP([3, 6, 6, 2], activation="relu").double()
    with torch.no_grad():
        net.layers[0].bias[[1, 4]] = -100.0  # two first-layer units switched off for every input
    X = torch.randn(50, 3, dtype=torch.float64)
    dead = piecewise.dead_units(net, X)
    with torch.no_grad():
        pre = net.forward_with_states(X)["pre"]
    for mask, v in zip(dead, pre):
        assert torch.equal(mask, (v <= 0).all(dim=0))
    assert dead[0][[1, 4]].all()
    net.zero_grad()
    net(X).square().sum().backward()  # autograd: dead units' incoming weights get exactly zero gradient
    assert net.layers[0].weight.grad[dead[0]].abs().max() == 0
    assert piecewise.dead_unit_fraction(net, X) == pytest.approx(sum(int(d.sum()) for d in dead) / 12)
    assert piecewise.dead_unit_fraction(net, X, per_layer=True) == [int(d.sum()) / len(d) for d in dead]


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "tanh", "maxout", "prelu"])
def test_units_with_a_slope_never_die(activation):
    net = _net([2, 5, 5, 1], activation, scale=1.0)
    with torch.no_grad():
        net.layers[0].bias.fill_(-10.0)  # far on the flat side (tanh at -100 underflows to slope 0)
    assert piecewise.dead_unit_fraction(net, torch.randn(20, 2, dtype=torch.float64)) == 0.0


def test_bad_inputs():
    net = _net([1, 3, 1], "leaky_relu")
    with pytest.raises(TypeError, match="model"):
        piecewise.affine_pieces(torch.nn.Linear(1, 1), 0.0, 1.0)
    with pytest.raises(ValueError, match="not piecewise affine"):
        piecewise.locate_kinks(_net([1, 3, 1], "tanh"), 0.0, 1.0)
    with pytest.raises(ValueError, match="scalar input"):
        piecewise.locate_kinks(_net([2, 3, 1], "relu"), 0.0, 1.0)
    with pytest.raises(ValueError, match="lo < hi"):
        piecewise.locate_kinks(net, 1.0, 0.0)
    with pytest.raises(TypeError, match="lo"):
        piecewise.locate_kinks(net, "a", 1.0)
    with pytest.raises(ValueError, match="norm"):
        piecewise.locate_kinks(models.MLP([1, 3, 1], norm="batch"), 0.0, 1.0)
    with pytest.raises(ValueError, match="slope_tol"):
        piecewise.affine_pieces(net, 0.0, 1.0, slope_tol=-1)
    with pytest.raises(ValueError, match="identity"):
        piecewise.collapse_identity_network(net)
    with pytest.raises(ValueError, match="empty"):
        piecewise.dead_units(net, torch.empty(0, 1, dtype=torch.float64))
    with pytest.raises(TypeError, match="X"):
        piecewise.dead_units(net, [[1.0]])
    with pytest.raises(ValueError, match="no hidden layer"):
        piecewise.dead_units(models.MLP([1, 1]), torch.ones(2, 1))
    with pytest.raises(TypeError, match="per_layer"):
        piecewise.dead_unit_fraction(net, torch.ones(2, 1, dtype=torch.float64), per_layer="yes")
    with pytest.raises(ValueError, match="hidden_widths"):
        piecewise.max_pieces_1d([])
    with pytest.raises(ValueError, match="pieces"):
        piecewise.max_pieces_1d([3], pieces=0)
    with pytest.raises(TypeError, match="x must be"):
        piecewise.affine_pieces(net, 0.0, 1.0)([0.5])


@pytest.mark.parametrize("call, error, name", [
    (lambda net: piecewise.affine_pieces(net, 0.0, 1.0, slope_tol=float("inf")), ValueError, "slope_tol"),
    (lambda net: piecewise.affine_pieces(net, 0.0, 1.0, slope_tol=float("nan")), ValueError, "slope_tol"),
    (lambda net: piecewise.locate_kinks(net, float("nan"), 1.0), ValueError, "lo"),
    (lambda net: piecewise.max_pieces_1d([3, 2.0]), TypeError, "hidden_widths"),
    (lambda net: piecewise.max_pieces_1d([3], pieces=1.0), TypeError, "pieces"),
    (lambda net: piecewise.dead_units(net, torch.full((3, 1), float("nan"), dtype=torch.float64)), ValueError, "X"),
])
def test_numbers_are_checked_nan_safely(call, error, name):
    with pytest.raises(error, match=name):
        call(_net([1, 3, 1], "leaky_relu"))
