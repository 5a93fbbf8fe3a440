"""lecturelib.models.surgery against its formulas: the rescaled network computes the same outputs
(float64), its parameters are the scaled ones, and its dense Hessian (torch.autograd.functional.hessian)
has the blocks scaled by 1/c^2 and c^2 (Dinh et al. 2017)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lecturelib import params
from lecturelib.models import MLP, embed_residual, rescale_layers


def _net(widths=(1, 5, 5, 5, 1), activation="leaky_relu", seed=1):
    torch.manual_seed(seed)
    return MLP(list(widths), activation).double()


def _dense_hessian(model, X, y):
    like = params.state(model)
    theta = params.flatten(like)
    return torch.autograd.functional.hessian(
        lambda t: F.mse_loss(functional_call(model, params.unflatten(t, like), (X,)), y), theta)


def test_one_factor_per_hidden_layer_keeps_the_function_and_scales_each_layer():
    model = _net()
    X = torch.linspace(-2, 2, 30, dtype=torch.float64)[:, None]
    factors = [4.0, 0.25, 2.0]
    scaled = rescale_layers(model, factors)
    torch.testing.assert_close(scaled(X), model(X), rtol=1e-12, atol=1e-12)
    old, new = model.layers, scaled.layers
    torch.testing.assert_close(new[0].weight, 4.0 * old[0].weight)
    torch.testing.assert_close(new[0].bias, 4.0 * old[0].bias)
    torch.testing.assert_close(new[1].weight, 0.25 * old[1].weight / 4.0)
    torch.testing.assert_close(new[1].bias, 0.25 * old[1].bias)
    torch.testing.assert_close(new[3].weight, old[3].weight / 2.0)
    torch.testing.assert_close(new[3].bias, old[3].bias)
    assert params.norm(scaled) > params.norm(model)
    for p, q in zip(model.parameters(), _net().parameters()):  # the model itself is untouched
        assert torch.equal(p, q)


def test_one_factor_at_a_layer_scales_the_hessian_blocks_by_inverse_squares():
    model = _net((1, 5, 5, 1))
    X = torch.linspace(-1.5, 1.5, 25, dtype=torch.float64)[:, None]
    y = torch.sin(3 * X)
    alpha = 3.0
    scaled = rescale_layers(model, alpha, layer=0)
    torch.testing.assert_close(scaled(X), model(X), rtol=1e-12, atol=1e-12)
    H, H_scaled = _dense_hessian(model, X, y), _dense_hessian(scaled, X, y)
    first = model.layers[0].weight.numel() + model.layers[0].bias.numel()  # layer 0's parameters
    second = slice(first, first + model.layers[1].weight.numel())  # layer 1's weight
    torch.testing.assert_close(H_scaled[:first, :first], H[:first, :first] / alpha ** 2, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(H_scaled[second, second], H[second, second] * alpha ** 2, rtol=1e-9, atol=1e-12)
    # the second hidden layer alone: layer 0 is left as it was
    later = rescale_layers(model, alpha, layer=1)
    assert torch.equal(later.layers[0].weight, model.layers[0].weight)
    torch.testing.assert_close(later.layers[2].weight, model.layers[2].weight / alpha)


def test_a_model_with_linear_layers_and_no_mlp_attributes_is_rescaled():
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 4), nn.Linear(4, 1)])

        def forward(self, x):
            return self.layers[1](torch.relu(self.layers[0](x)))

    torch.manual_seed(0)
    model = Plain().double()
    X = torch.randn(10, 2, dtype=torch.float64)
    torch.testing.assert_close(rescale_layers(model, 7.0)(X), model(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda: rescale_layers(MLP([2, 3, 1], "relu"), -1.0), ValueError, "factors"),
    (lambda: rescale_layers(MLP([2, 3, 1], "relu"), float("nan")), ValueError, "factors"),
    (lambda: rescale_layers(MLP([2, 3, 1], "relu"), [float("inf")]), ValueError, "factors"),
    (lambda: rescale_layers(MLP([1, 3, 1], "relu"), [1.0, 2.0]), ValueError, "factors"),
    (lambda: rescale_layers(MLP([1, 3, 1], "relu"), True), ValueError, "factors"),
    (lambda: rescale_layers(MLP([2, 3, 1], "tanh"), 2.0), ValueError, "activation='tanh'"),
    (lambda: rescale_layers(MLP([2, 3, 1], "relu", norm="batch"), 2.0), ValueError, "norm='batch'"),
    (lambda: rescale_layers(MLP([2, 3, 3, 1], "relu", residual=True), 2.0), ValueError, "residual"),
    (lambda: rescale_layers(MLP([2, 3, 1], "relu"), 2.0, layer=1), ValueError, "layer"),
    (lambda: rescale_layers(MLP([2, 3, 1], "relu"), 2.0, layer=-1), ValueError, "layer"),
    (lambda: rescale_layers(nn.Linear(2, 2), 2.0), TypeError, "layers"),
    (lambda: rescale_layers("net", 2.0), TypeError, "model"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _residual_mlp(hidden, activation="leaky_relu", seed=4):
    torch.manual_seed(seed)
    return MLP([1] + [5] * hidden + [1, 1], activation=activation, residual=True).double()


def test_embed_residual_is_exact_and_checks_its_arguments():
    shallow = _residual_mlp(3)
    deep = embed_residual(shallow, 12)
    X = torch.randn(50, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert deep.widths == [1] + [5] * 12 + [1, 1] and deep.residual and not deep.training
    assert torch.equal(deep(X), shallow(X))
    assert sum(float(p.detach().abs().sum()) for layer in deep.layers[3:12] for p in layer.parameters()) == 0
    with pytest.raises(TypeError, match="residual"):
        embed_residual(MLP([1, 5, 5, 1], "leaky_relu"), 12)
    with pytest.raises(ValueError, match="hidden must be an int >= the 3"):
        embed_residual(shallow, 2)
    with pytest.raises(ValueError, match="sigma"):
        embed_residual(_residual_mlp(2, activation="sigmoid"), 4)
