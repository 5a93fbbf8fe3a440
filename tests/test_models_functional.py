"""lecturelib.models.functional: the Network view against the MLP module's own forward pass (float64)."""

import pytest
import torch

from lecturelib import models


def make_mlp(widths, activation="tanh", residual=False, bias=True, seed=0):
    torch.manual_seed(seed)
    model = models.MLP(widths, activation=activation, residual=residual, bias=bias).double()
    if bias:
        with torch.no_grad():  # non-zero biases, so that they are exercised
            for layer in model.layers:
                layer.bias.normal_(0.0, 0.3)
    return model


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu"])
@pytest.mark.parametrize("residual", [False, True])
def test_network_view_computes_what_the_mlp_computes(activation, residual):
    model = make_mlp([3, 5, 5, 5, 2], activation, residual)
    network = models.network_from_mlp(model)
    X = torch.randn(7, 3, dtype=torch.float64)
    assert network.residual == tuple(model.residual_mask)
    assert torch.allclose(network(X), model(X), rtol=1e-13, atol=1e-15)


def test_network_view_shares_the_mlp_tensors_and_handles_missing_biases():
    model = make_mlp([3, 4, 4, 2], "relu", residual=True, bias=False)
    network = models.as_network(model)
    assert all(W is layer.weight for W, layer in zip(network.weights, model.layers))
    assert network.biases == (None, None, None)
    X = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(network(X), model(X), rtol=1e-13, atol=1e-15)
    assert models.as_network(network) is network
    assert network.widths == [3, 4, 4, 2] and network.depth == 3


def test_call_is_differentiable_in_the_input_and_detach_stops_parameter_gradients():
    model = make_mlp([2, 4, 4, 1], "tanh", residual=True)
    X = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    reference, = torch.autograd.grad(model(X).sum(), X)
    detached = models.network_from_mlp(model).detach()
    output = detached(X)
    ours, = torch.autograd.grad(output.sum(), X)
    assert torch.allclose(ours, reference, rtol=1e-13, atol=0)
    assert not any(W.requires_grad for W in detached.weights)
    assert models.network_from_mlp(model)(X).grad_fn is not None


def test_scaled_activation_and_random_network():
    spec = models.scaled_activation("tanh", 0.5)
    u = torch.linspace(-2, 2, 9, dtype=torch.float64)
    assert torch.allclose(spec.function(u), 0.5 * torch.tanh(u))
    assert torch.allclose(spec.derivative(u), 0.5 * (1 - torch.tanh(u) ** 2))
    assert spec.name == "0.5*tanh"
    net = models.random_network([4, 6, 6, 3], spec, residual=True, weight_scale=2.0, seed=1)
    assert net.widths == [4, 6, 6, 3] and net.residual == (False, True)
    with pytest.raises(ValueError, match="alpha"):
        models.scaled_activation("relu", -1.0)
    with pytest.raises(ValueError, match="not element-wise"):
        models.scaled_activation("maxout", 0.5)


def test_random_network_draws_lecun_scaled_gaussians_from_its_seed():
    net = models.random_network([400, 300, 2], "relu", weight_scale=2.0, seed=3)
    generator = torch.Generator().manual_seed(3)
    first = torch.randn(300, 400, generator=generator, dtype=torch.float64) * (2.0 / 400 ** 0.5)
    assert torch.equal(net.weights[0], first)
    assert abs(net.weights[0].std().item() / (2.0 / 400 ** 0.5) - 1) < 0.02  # std weight_scale / sqrt(n_j)
    assert all(torch.equal(b, torch.zeros_like(b)) for b in net.biases)
    again = models.random_network([400, 300, 2], "relu", weight_scale=2.0, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.weights, again.weights))


def test_residual_random_network_adds_its_input_like_a_residual_mlp():
    net = models.random_network([3, 5, 5, 5, 2], "tanh", residual=True, seed=2)
    assert net.residual == (False, True, True)
    model = models.MLP([3, 5, 5, 5, 2], "tanh", residual=True).double()
    with torch.no_grad():
        for layer, W, b in zip(model.layers, net.weights, net.biases):
            layer.weight.copy_(W)
            layer.bias.copy_(b)
    X = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(net(X), model(X), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("widths", [[3, 4, 2], [3, 2], [2, 3, 4, 1]])
def test_residual_without_a_square_hidden_layer_is_refused(widths):
    with pytest.raises(ValueError, match="no hidden layer"):
        models.random_network(widths, "relu", residual=True)


def test_bad_networks_give_clear_errors():
    with pytest.raises(ValueError, match="consecutive widths must agree"):
        models.Network((torch.randn(4, 3), torch.randn(2, 5)), (None, None),
                       (models.ACTIVATIONS["relu"],), (False,))
    with pytest.raises(ValueError, match="residual layer must be square"):
        models.Network((torch.randn(4, 3), torch.randn(2, 4)), (None, None),
                       (models.ACTIVATIONS["relu"],), (True,))
    with pytest.raises(ValueError, match="one entry per hidden layer"):
        models.Network((torch.randn(4, 3), torch.randn(2, 4)), (None, None), (), ())
    with pytest.raises(ValueError, match="element-wise ActivationSpec"):
        models.Network((torch.randn(4, 3), torch.randn(2, 4)), (None, None),
                       (models.ACTIVATIONS["maxout"],), (False,))
    with pytest.raises(ValueError, match=r"biases\[0\] must have shape \(4,\)"):
        models.Network((torch.randn(4, 3), torch.randn(2, 4)), (torch.zeros(3), None),
                       (models.ACTIVATIONS["relu"],), (False,))
    with pytest.raises(ValueError, match="widths"):
        models.random_network([3], "relu")
    with pytest.raises(TypeError, match="models.Network"):
        models.as_network(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="norm"):
        models.network_from_mlp(models.MLP([2, 3, 1], norm="batch"))
    with pytest.raises(TypeError, match="X"):
        models.random_network([3, 4, 2])([[1.0, 2.0, 3.0]])


@pytest.mark.parametrize("call, name", [
    (lambda: models.random_network([3, 4, 2], weight_scale=float("nan")), "weight_scale"),
    (lambda: models.random_network([3, 4, 2], weight_scale=float("inf")), "weight_scale"),
    (lambda: models.scaled_activation("relu", float("inf")), "alpha"),
    (lambda: models.scaled_activation("relu", float("nan")), "alpha"),
])
def test_nan_and_infinite_numbers_are_refused(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: models.random_network([3, 4, 2], seed="x"), "seed"),
    (lambda: models.random_network([3, 4, 2], weight_scale="1"), "weight_scale"),
    (lambda: models.random_network([3, 4, 4, 2], residual=1), "residual"),
    (lambda: models.scaled_activation("relu", "2"), "alpha"),
])
def test_wrong_kinds_are_type_errors(call, name):
    with pytest.raises(TypeError, match=name):
        call()
