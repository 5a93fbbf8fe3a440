import pytest
import torch
import torch.nn.functional as F

from lecturelib import models
from lecturelib.models import MLP


def test_lecture_network_has_78_parameters():
    net = MLP([1, 5, 5, 5, 1, 1], activation="leaky_relu")
    assert models.count_parameters(net) == 78
    assert [tuple(p.shape) for p in net.parameters()][:2] == [(5, 1), (5,)]


@pytest.mark.parametrize("k, expected", [(3, 78), (5, 138), (10, 288), (15, 438), (45, 1338)])
def test_residual_depth_series_parameter_counts(k, expected):
    assert models.count_parameters(MLP([1] + [5] * k + [1, 1], "leaky_relu", residual=True)) == expected


def test_forward_matches_the_formula():
    torch.manual_seed(0)
    net = MLP([3, 4, 2], activation="tanh").double()
    x = torch.randn(5, 3, dtype=torch.float64)
    W1, b1, W2, b2 = (p.detach() for p in net.parameters())
    torch.testing.assert_close(net(x), torch.tanh(x @ W1.T + b1) @ W2.T + b2, rtol=0, atol=1e-12)


def test_residual_layers_add_their_input_where_shapes_agree():
    torch.manual_seed(0)
    net = MLP([2, 3, 3, 1], activation="relu", residual=True).double()
    assert net.residual_mask == [False, True]
    x = torch.randn(4, 2, dtype=torch.float64)
    L = net.layers
    z2 = torch.relu(L[0](x))
    z3 = z2 + torch.relu(L[1](z2))
    torch.testing.assert_close(net(x), L[2](z3), rtol=0, atol=1e-12)


def test_zero_residual_blocks_are_the_identity():
    torch.manual_seed(0)
    net = MLP([1, 5, 5, 5, 1], activation="leaky_relu", residual=True)
    shallow_out = net.layers[3](net.activations[0](net.layers[0](torch.ones(1, 1))))
    with torch.no_grad():
        for j in (1, 2):
            net.layers[j].weight.zero_()
            net.layers[j].bias.zero_()
    torch.testing.assert_close(net(torch.ones(1, 1)), shallow_out)


@pytest.mark.parametrize("name", models.activation_names())
def test_every_activation_builds_and_runs(name):
    net = MLP([4, 6, 6, 3], activation=name)
    assert net(torch.randn(7, 4)).shape == (7, 3)


@pytest.mark.parametrize("name", [n for n, s in models.ACTIVATIONS.items() if s.function is not None])
def test_elementwise_function_and_derivative_agree_with_the_module_and_autograd(name):
    spec = models.ACTIVATIONS[name]
    u = torch.linspace(-3, 3, 61, dtype=torch.float64).requires_grad_(True)
    u = u[u.abs() > 1e-3].detach().requires_grad_(True)  # avoid the kink at 0
    module = spec.module(len(u)).double()
    torch.testing.assert_close(module(u[None])[0], spec.function(u), rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(spec.function(u).sum(), u)
    torch.testing.assert_close(spec.derivative(u.detach()), grad, rtol=0, atol=1e-12)


def test_maxout_takes_the_max_over_pieces():
    net = MLP([2, 3, 1], activation="maxout")
    assert net.layers[0].out_features == 6
    v = torch.tensor([[1.0, -2.0, 0.5, 4.0, -1.0, -3.0]])
    assert models.Maxout(2)(v).tolist() == [[1.0, 4.0, -1.0]]


def test_states_and_features():
    net = MLP([2, 4, 3, 1], activation="relu")
    states = net.forward_with_states(torch.randn(5, 2))
    assert [tuple(v.shape) for v in states["pre"]] == [(5, 4), (5, 3)]
    torch.testing.assert_close(states["post"][-1], F.relu(states["pre"][-1]))
    torch.testing.assert_close(net.features(torch.ones(1, 2)), net.forward_with_states(torch.ones(1, 2))["post"][-1])


def test_norm_and_dropout_options():
    net = MLP([4, 8, 8, 2], norm="batch", dropout=0.5)
    assert isinstance(net.norms[0], torch.nn.BatchNorm1d)
    net.eval()
    x = torch.randn(3, 4)
    torch.testing.assert_close(net(x), net(x))  # no dropout noise in evaluation
    assert isinstance(MLP([4, 8, 2], norm="layer").norms[0], torch.nn.LayerNorm)
    assert isinstance(MLP([4, 8, 2], norm=torch.nn.LayerNorm).norms[0], torch.nn.LayerNorm)


def test_images_are_flattened():
    assert MLP([64, 10]).forward(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*relu"):
        MLP([1, 2, 1], activation="swish")
    with pytest.raises(ValueError, match="widths"):
        MLP([3])
    with pytest.raises(ValueError, match="widths must be positive ints"):
        MLP([3, 0, 1])
    with pytest.raises(ValueError, match="norm"):
        MLP([3, 4, 1], norm="group")
    with pytest.raises(ValueError, match="dropout"):
        MLP([3, 4, 1], dropout=1.0)
    with pytest.raises(TypeError, match="residual"):
        MLP([3, 4, 1], residual="yes")
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 3\)"):
        MLP([3, 4, 1])(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="activation must be a string"):
        models.get_activation(3)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        models.count_parameters("net")


def test_image_inputs_are_flattened_row_major_as_channels_rows_columns():
    # The first layer sees pixel (c, r, k) at input index c*H*W + r*W + k, like reshape(N, -1);
    # a transposed or permuted flattening gives other outputs.
    torch.manual_seed(0)
    net = MLP([2 * 3 * 4, 5, 2])
    images = torch.randn(6, 2, 3, 4)
    torch.testing.assert_close(net(images), net(images.reshape(6, -1)), rtol=0, atol=0)
    assert not torch.allclose(net(images), net(images.transpose(2, 3).reshape(6, -1)))


def test_dropout_zeroes_hidden_units_in_training_and_rescales_the_rest():
    # Inverted dropout (Srivastava et al. 2014): a hidden unit is zeroed with probability p and the
    # kept ones are divided by 1 - p, so the expected state equals the state without dropout.
    torch.manual_seed(0)
    net = MLP([4, 400, 400, 1], dropout=0.5).train()
    x = torch.randn(64, 4)
    states = net.forward_with_states(x)["post"]
    torch.manual_seed(1)
    plain = MLP([4, 400, 400, 1]).train()
    plain.load_state_dict(net.state_dict())
    expected_first = plain.forward_with_states(x)["post"][0]
    zero_fraction = float((states[0] == 0).float().mean())
    relu_zero_fraction = float((expected_first == 0).float().mean())
    # about half of the units ReLU keeps alive are dropped as well
    assert zero_fraction == pytest.approx(relu_zero_fraction + 0.5 * (1 - relu_zero_fraction), abs=0.03)
    kept = states[0] != 0
    torch.testing.assert_close(states[0][kept], 2.0 * expected_first[kept])
    # different masks on two calls in training mode, none in evaluation mode
    assert not torch.equal(net(x), net(x))
    net.eval()
    torch.testing.assert_close(net(x), plain.eval()(x), rtol=0, atol=0)


# ------------------------------------------------------------------ bad input gets a clear error

@pytest.mark.parametrize("widths", [[2, 4, 3], [3, 2], [1, 5, 1, 1]])
def test_residual_without_a_square_hidden_layer_is_refused(widths):
    with pytest.raises(ValueError, match=r"residual=True.*widths.*equal") as info:
        MLP(widths, residual=True)
    assert str(widths) in str(info.value)
    assert MLP(widths, residual=False).residual_mask == [False] * (len(widths) - 2)
    assert models.square_hidden_layers([2, 4, 4, 3]) == [False, True]
    assert MLP([2, 4, 4, 3], residual=True).residual_mask == [False, True]


def test_dropout_and_maxout_arguments_are_checked():
    with pytest.raises(ValueError, match="dropout"):
        MLP([3, 4, 1], dropout=float("nan"))
    with pytest.raises(TypeError, match="dropout"):
        MLP([3, 4, 1], dropout="0.5")
    with pytest.raises(TypeError, match="pieces"):
        models.Maxout(2.0)
    with pytest.raises(ValueError, match="pieces"):
        models.Maxout(1)


# ------------------------------------------------------------------------- mutation-guided tests

def test_maxout_defaults_to_two_pieces():
    # catches a wrong default piece count
    v = torch.tensor([[1.0, -2.0, 0.5, 4.0]])
    assert models.Maxout()(v).tolist() == [[1.0, 4.0]]
    assert models.Maxout().pieces == 2


def test_maxout_on_a_3d_input_takes_the_max_over_the_last_axis():
    # catches unflattening or measuring an axis other than the last one
    torch.manual_seed(0)
    v = torch.randn(2, 3, 6, dtype=torch.float64)
    expected = v.reshape(2, 3, 3, 2).max(dim=-1).values
    torch.testing.assert_close(models.Maxout(2)(v), expected, rtol=0, atol=0)
    w = torch.randn(4, 3, 6)
    assert models.Maxout(3)(w).shape == (4, 3, 2)


def test_maxout_width_errors_name_the_width_and_pieces():
    # catches checking or reporting the wrong axis, and a message without the numbers
    with pytest.raises(ValueError, match=r"^Maxout input width 5 is not divisible by pieces=2$"):
        models.Maxout(2)(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match=r"^pieces must be an int >= 2, got 1$"):
        models.Maxout(1)


@pytest.mark.parametrize("name, at_zero", [("relu", 0.0), ("leaky_relu", 0.01), ("prelu", 0.25)])
def test_piecewise_derivatives_at_the_kink_follow_autograd(name, at_zero):
    # catches u >= 0 for u > 0 in the derivatives: autograd gives the left slope at exactly 0
    spec = models.ACTIVATIONS[name]
    u = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(spec.function(u).sum(), u)
    assert grad.tolist() == [at_zero] * 3
    assert spec.derivative(u.detach()).tolist() == [at_zero] * 3


def test_activation_names_lists_the_registry_in_order():
    # catches a broken list of names
    assert models.activation_names() == ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "maxout"]


def test_features_of_a_network_without_hidden_layers_are_its_flattened_input():
    # catches indexing an empty list of hidden states, or losing the input
    net = MLP([12, 2])
    x = torch.randn(3, 3, 2, 2)
    torch.testing.assert_close(net.features(x), x.reshape(3, 12), rtol=0, atol=0)


def test_features_are_the_last_hidden_state_not_an_earlier_one():
    # catches taking post[1] (or another state) in place of post[-1]
    torch.manual_seed(0)
    net = MLP([2, 4, 5, 3, 1], activation="tanh")
    x = torch.randn(6, 2)
    z = x
    for linear in net.layers[:-1]:
        z = torch.tanh(linear(z))
    assert net.features(x).shape == (6, 3)
    torch.testing.assert_close(net.features(x), z)


def test_count_parameters_skips_frozen_parameters_unless_asked():
    # catches a wrong default for trainable_only and an inverted test of it
    net = MLP([2, 3, 1])  # 9 + 4 = 13 parameters
    net.layers[0].weight.requires_grad_(False)  # 6 frozen
    assert models.count_parameters(net) == 7
    assert models.count_parameters(net, trainable_only=True) == 7
    assert models.count_parameters(net, trainable_only=False) == 13


def test_count_parameters_names_its_argument():
    # catches a message that does not name the argument
    with pytest.raises(TypeError, match=r"^model must be a torch.nn.Module, got str$"):
        models.count_parameters("net")


@pytest.mark.parametrize("norm", models.MLP_NORMS)
def test_every_named_norm_builds_and_runs(norm):
    model = MLP([3, 4, 4, 2], norm=norm)
    assert model.norm == norm
    assert model(torch.randn(5, 3)).shape == (5, 2)
